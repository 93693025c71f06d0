"""`nutpy check-config` and the sample configurations in etc/: the samples pass our parsers
as they are; broken copies are reported file by file and line by line; ownership and
permission problems (NUT's security notes) are found."""

import grp
import os
import pwd
import shutil
import subprocess

import pytest

from nutpy.common import parseconf, upsconf
from nutpy.ops import checkconfig as cc
from nutpy.upsd import config
from support.harness import REPO, our_prog, require_root

ETC = REPO / "etc"


def test_samples_load_with_our_parsers():
    names = sorted(p.name for p in ETC.iterdir())
    assert {"nut.conf", "ups.conf", "upsd.conf", "upsd.users", "upsmon.conf",
            "upssched.conf"} <= set(names)
    ups = upsconf.load(str(ETC / "ups.conf"))
    assert ups.errors == []
    upsd, msgs = config.parse_upsd_conf(parseconf.read_file(str(ETC / "upsd.conf")), "upsd.conf")
    assert msgs == [] and upsd.errors == 0
    users, msgs = config.parse_users(parseconf.read_file(str(ETC / "upsd.users")), "upsd.users")
    assert msgs == []
    assert cc.check_nut_conf((ETC / "nut.conf").read_text(), "nut.conf") == []
    assert cc.check_upsmon_conf((ETC / "upsmon.conf").read_text(), "upsmon.conf") == []
    assert cc.check_upssched_conf((ETC / "upssched.conf").read_text(), "upssched.conf") == []


def test_samples_document_every_directive_uncommented_correctly(tmp_path):
    """Each commented-out example line, once uncommented, is accepted too."""
    for name, check in (("upsd.conf", cc.check_upsd_conf), ("nut.conf", cc.check_nut_conf)):
        lines = [line[1:] for line in (ETC / name).read_text().splitlines()
                 if line.startswith("#") and len(line) > 1 and line[1] not in " #-"]
        assert lines, name
        assert check("\n".join(lines) + "\n", name) == [], name
    # ups.conf: the example section and the global settings
    lines = [line[1:] for line in (ETC / "ups.conf").read_text().splitlines()
             if line.startswith("#") and len(line) > 1 and line[1] not in " #-"]
    findings = cc.check_ups_conf("\n".join(lines) + "\n", "ups.conf", lambda d, p: True)
    assert findings == []
    assert upsconf.parse(parseconf.parse_text(("\n".join(lines) + "\n").encode()),
                         "ups.conf").sections["myups"].get("driver") == "dummy-ups"
    # upsmon.conf and upssched.conf: the examples are a secondary's settings and a script
    # the admin has yet to write, so only errors count
    for name, check in (("upsmon.conf", cc.check_upsmon_conf),
                        ("upssched.conf", cc.check_upssched_conf)):
        lines = [line[1:] for line in (ETC / name).read_text().splitlines()
                 if line.startswith("#") and len(line) > 1 and line[1] not in " #-"]
        assert lines, name
        findings = check("\n".join(lines) + "\n", name)
        assert [f for f in findings if f.level == cc.ERROR] == [], name


def test_samples_report_nothing():
    assert cc.check_dir(str(ETC), content_only=True) == []


BROKEN = {
    "nut.conf": "MODE=sometimes\nUPSD_OPTIONS=-D -D\n",
    "ups.conf": ("[good]\n driver = dummy-ups\n port = x.dev\n[nodriver]\n port = y\n"
                 "[bad]\n driver = no-such-driver\n port = z\n sdorder = first\n"),
    "upsd.conf": "MAXAGE 20\nMAXAGE soon\nBOGUS 1 2\n",
    "upsd.users": "[mon]\n password = x\n upsmon boss\n[nopass]\n actions = SET\n",
    "upsmon.conf": ("MONITOR ups@localhost 1 mon pw primary\nMINSUPPLIES 3\n"
                    "POWERDOWNFLAG /etc/killpower\nSHUTDOWNCMD /nonexistent/halt\nBOGUS 1\n"),
    "upssched.conf": "CMDSCRIPT /bin/true\nAT ONBATT * START-TIMER onbatt 30\n",
}


def test_broken_copies_name_file_and_line(tmp_path):
    for name in cc.FILES:
        if (ETC / name).exists():
            shutil.copy(ETC / name, tmp_path / name)
    offsets = {}
    for name, extra in BROKEN.items():
        text = (tmp_path / name).read_text() if (tmp_path / name).exists() else ""
        offsets[name] = text.count("\n")
        (tmp_path / name).write_text(text + extra)
    (tmp_path / "nut.conf").write_text((tmp_path / "nut.conf").read_text() + "MODE=standalone\n")
    found = [(os.path.basename(f.path),
              f.lineno - offsets[os.path.basename(f.path)] if f.lineno else None, f.level, f.message)
             for f in cc.check_dir(str(tmp_path), content_only=True)]
    assert found == [
        ("nut.conf", 1, "error", "MODE=sometimes: not one of none, standalone, netserver, "
                                 "netclient (nothing will start)"),
        ("nut.conf", 2, "error", "UPSD_OPTIONS: a value with spaces needs quotes"),
        ("ups.conf", 4, "error", "UPS [nodriver] has no driver: upsd and upsdrvctl will skip it"),
        ("ups.conf", 7, "error", "UPS [bad]: no driver program 'no-such-driver' "
                                 "(looked in nutpy and C NUT)"),
        ("ups.conf", 9, "warning", "sdorder = first: not a number (read as 0)"),
        # upsd's own messages, located
        ("upsd.conf", 2, "error", "MAXAGE has non numeric value (soon)!"),
        ("upsd.conf", 2, "warning", "upsd.conf: invalid directive MAXAGE soon"),
        ("upsd.conf", 3, "warning", "upsd.conf: invalid directive BOGUS 1 2"),
        ("upsd.users", 3, "warning", "Unknown upsmon type boss"),
        ("upsd.users", 4, "warning", "user nopass has no password: it can never log in"),
        # upsmon's reader's messages, located, then what would stop upsmon at start-up
        ("upsmon.conf", None, "error", "insufficient power configured: the MONITOR lines' "
                                       "power values add up to 2, MINSUPPLIES is 3 (upsmon "
                                       "will not start)"),
        ("upsmon.conf", None, "warning", "SHUTDOWNCMD: /nonexistent/halt is not an executable"),
        ("upsmon.conf", 5, "warning", "invalid directive BOGUS 1"),
        ("upssched.conf", 2, "error", "PIPEFN must be set before any ATs in the config file!"),
    ]


def test_tokenizer_errors_are_located(tmp_path):
    (tmp_path / "ups.conf").write_text('[u]\n driver = dummy-ups\n port = x\n desc = "a # b"\n')
    (tmp_path / "upsmon.conf").write_text('MONITOR u@localhost 1 mon "pa#ss" primary\n')
    found = [(os.path.basename(f.path), f.lineno, f.message)
             for f in cc.check_dir(str(tmp_path), content_only=True) if f.lineno]
    # after the error C's tokenizer goes on behind the '#', as a line of its own
    assert found == [("ups.conf", 4, parseconf.HASH_IN_QUOTES),
                     ("upsmon.conf", 1, parseconf.HASH_IN_QUOTES),
                     ("upsmon.conf", 2, 'invalid directive ss" primary')]


def nut_ids():
    try:
        return pwd.getpwnam("nut").pw_uid, grp.getgrnam("nut").gr_gid
    except KeyError:
        pytest.skip("no nut user/group on this machine")


@pytest.fixture
def installed(tmp_path):
    """etc/ installed as the security notes say: root:nut 0640, state path root:nut 0770."""
    require_root()
    _, gid = nut_ids()
    conf = tmp_path / "etc"
    conf.mkdir()
    for name in ("nut.conf", "ups.conf", "upsd.conf", "upsd.users"):
        shutil.copy(ETC / name, conf / name)
        os.chown(conf / name, 0, gid)
        os.chmod(conf / name, 0o640)
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, 0, gid)
    os.chmod(state, 0o770)
    return conf, state


@pytest.mark.root
def test_installed_samples_report_nothing(installed):
    conf, state = installed
    r = subprocess.run([our_prog("nutpy"), "check-config", str(conf), "--statepath", str(state)],
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


@pytest.mark.root
def test_permission_problems(installed):
    conf, state = installed
    os.chmod(conf / "upsd.users", 0o644)       # passwords for everyone
    os.chown(conf / "ups.conf", 0, 0)          # upsd (as nut) cannot read it
    os.chmod(conf / "upsd.conf", 0o660)        # the daemons may rewrite it
    os.chown(state, 0, 0)
    os.chmod(state, 0o755)                     # drivers (as nut) cannot make sockets
    found = [(os.path.basename(f.path), f.level, f.message.split(" (fix")[0])
             for f in cc.check_dir(str(conf), statepath=str(state))]
    assert found == [
        ("ups.conf", "error", "the nut user cannot read it, and the daemons read it after "
                              "giving up root"),
        ("upsd.conf", "warning", "a daemon that gives up root (or anyone else) may change it; "
                                 "only root should"),
        ("upsd.users", "error", "anyone can read it, and it holds passwords"),
        ("state", "error", "the nut user cannot create sockets and PID files here"),
        ("state", "warning", "others can enter the state path and reach the drivers' sockets, "
                             "which take commands without a password"),
    ]
    os.rmdir(state)
    missing = cc.check_statepath(str(state), cc.nut_account())
    assert [f.level for f in missing] == ["error"]
    assert f"install -d -o root -g nut -m 0770 {state}" in missing[0].message
