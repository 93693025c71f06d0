"""upsmon's command line beside C upsmon 2.8.0: -K and its exit codes, the start-up checks
(insufficient power, no SHUTDOWNCMD), upsmon.conf messages, -c without a daemon."""

from __future__ import annotations

import pytest

from support.harness import require_c_nut
from support.upsmon_stack import ALL_TYPES, Stack, Upsmon

pytestmark = pytest.mark.interop

# C 2.8.0's PID file and NSS start-up lines; 2.8.5 words the first two differently
PIDFILE_NOISE = ("fopen ", "Could not find PID file", "Init SSL without")


@pytest.fixture(scope="module")
def stack():
    require_c_nut()
    s = Stack(upses=("zeta",))
    yield s
    s.close()


def pair(stack, name: str, extra: str = "", monitors=("zeta@PORT 1 mon monpw primary",)):
    c = Upsmon(stack, f"c-{name}", "c", list(monitors), extra=extra, types=ALL_TYPES)
    ours = Upsmon(stack, f"our-{name}", "ours", list(monitors), extra=extra, types=ALL_TYPES)
    return c, ours


def lines(text: str, m: Upsmon, blank: bool = False) -> list[str]:
    """The lines of ``text`` but the banner and the noise above (and blank lines, unless
    ``blank``), with the instance's directory named ``<dir>``."""
    out = []
    for line in text.replace(str(m.dir), "<dir>").splitlines():
        if line.startswith(PIDFILE_NOISE) or line.startswith("Network UPS Tools upsmon"):
            continue
        if line or blank:
            out.append(line)
    return out


@pytest.mark.parametrize("content,status", [
    (None, 1),                       # no flag file: not a power-fail shutdown
    (b"upsmon-shutdown-file", 0),    # the magic text: the UPS is to be powered off
    (b"upsmon-shutdown-file\nmore", 0),
    (b"something else", 1),          # not ours: refuse
])
def test_dash_k(stack, content, status):
    c, ours = pair(stack, f"k{status}{len(content or b'')}")
    for m in (c, ours):
        if content is not None:
            m.pdflag.write_bytes(content)
    rc, ro = c.run("-K"), ours.run("-K")
    assert rc.returncode == ro.returncode == status
    c_msgs = [l for l in lines(rc.stderr, c) if "flag" in l.lower()]
    our_msgs = [l for l in lines(ro.stderr, ours) if "flag" in l.lower()]
    assert our_msgs == c_msgs
    assert our_msgs[-1] in ("Power down flag is set", "Power down flag is not set",
                            "POWERDOWNFLAG (<dir>/killpower) does not contain the upsmon "
                            "magic string")


def test_dash_k_without_powerdownflag(stack):
    c, ours = pair(stack, "knone")
    for m in (c, ours):
        m.conf.write_text(m.conf.read_text().replace("POWERDOWNFLAG", "#POWERDOWNFLAG"))
    rc, ro = c.run("-K"), ours.run("-K")
    assert rc.returncode == ro.returncode == 1
    assert "Power down flag is not set" in rc.stderr and "Power down flag is not set" in ro.stderr


def test_insufficient_power(stack):
    c, ours = pair(stack, "power", extra="MINSUPPLIES 3\n")
    rc, ro = c.run("-F"), ours.run("-F")
    assert rc.returncode == ro.returncode == 1
    expect = ["", "Fatal error: insufficient power configured!", "",
              "Sum of power values........: 1", "Minimum value (MINSUPPLIES): 3", "",
              "Edit your upsmon.conf and change the values."]
    assert lines(rc.stdout, c, blank=True)[-7:] == expect
    assert lines(ro.stdout, ours, blank=True)[-7:] == expect


def test_start_up_warnings(stack):
    c, ours = pair(stack, "warn", extra="MINSUPPLIES 5\n")
    for m in (c, ours):
        text = m.conf.read_text()
        m.conf.write_text("\n".join(l for l in text.splitlines()
                                    if not l.startswith(("SHUTDOWNCMD", "NOTIFYCMD"))) + "\n")
    rc, ro = c.run("-F"), ours.run("-F")
    assert "Warning: no shutdown command defined!" in lines(rc.stdout, c)
    assert "Warning: no shutdown command defined!" in lines(ro.stdout, ours)
    # 2.8.5 also says this
    assert "Warning: no custom notification command defined, just so you know" in ro.stdout


def test_config_messages(stack):
    messy = ("NOTIFYFLAG ONBATT syslog+EXEC\nNOTIFYFLAG BOGUS SYSLOG\nNOTIFYMSG BOGUS \"x\"\n"
             "POLLFREQ -3\nFOO bar\nMONITOR x@localhost 1 mon\nMONITOR zeta@localhost -1 a b "
             "primary\nk = \"a#b\"\n")
    c, ours = pair(stack, "messy", extra=messy)
    rc, ro = c.run("-K"), ours.run("-K")
    c_lines = [l for l in lines(rc.stderr, c) if not l.startswith("UPS: ")]
    our_lines = lines(ro.stderr, ours)
    # 2.8.5 adds a count of the bad lines at the end
    assert our_lines[-1] == "Power down flag is not set"
    assert our_lines[:-2] == c_lines[:-1]
    assert our_lines[-2] == "Encountered 4 config errors, those entries were ignored"


def test_commands_without_a_daemon(stack):
    c, ours = pair(stack, "nodaemon")
    for cmd in ("stop", "reload", "fsd"):
        rc, ro = c.run("-c", cmd), ours.run("-c", cmd)
        assert rc.returncode == ro.returncode == 1
        assert rc.stderr.splitlines()[0].startswith("fopen ") and \
            rc.stderr.splitlines()[0].endswith("/upsmon.pid: No such file or directory")
        assert ro.stderr == f"fopen {ours.state}/upsmon.pid: No such file or directory\n"


@pytest.mark.parametrize("args", [["-c", "bogus"], ["-c"], ["-x"], ["-i"], ["-h"]])
def test_usage(stack, args):
    c, ours = pair(stack, "usage" + "".join(args).replace("-", "_"))
    rc, ro = c.run(*args), ours.run(*args)
    assert rc.returncode == ro.returncode == 0
    assert "usage: " in rc.stdout and "usage: " in ro.stdout
    if args in (["-c"], ["-x"]):
        # glibc's complaint names the program as run
        assert ro.stderr.split(":", 1)[1] == rc.stderr.split(":", 1)[1]
