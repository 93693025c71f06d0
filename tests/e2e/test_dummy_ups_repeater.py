"""dummy-ups repeater mode on nutpy.client.aio: nutauth.conf (``authconf``), STARTTLS
(FORCESSL/CERTVERIFY against our upsd's PEM certificate), SET forwarding when
credentials are configured, start-up errors as C 2.8.0. Run against C upsd 2.8.0 and
against our upsd."""

from __future__ import annotations

import os
import sys

import pytest

from nutpy.security import credentials
from support import certs
from support.harness import (
    NutEnv,
    as_dict,
    c_prog,
    free_port,
    our_prog,
    require_c_nut,
    start_all,
    stop_by_pidfiles,
    upsc,
    upsc_ready,
    wait_for,
)

USERS = "[admin]\n  password = pw\n  actions = SET\n  instcmds = ALL\n"
SRC_DEV = "ups.status: OL\nbattery.charge: 81\nups.mfr: Src\nups.id: before\n"


# ---- nutauth.conf (pure)

def test_section_titles_normalize_like_nutauth_conf():
    n = credentials.normalize_title
    assert n("@host") == n("host") == n("@host:3493") == n("host:3493") == "@host:3493"
    assert n(":4000") == n("@:4000") == "@localhost:4000"
    assert n("admin@host") == "admin@host:3493"
    assert n("[::1]:4000") == "@::1:4000"


def test_settings_merge_section_over_globals_and_includes(tmp_path):
    (tmp_path / "inc.conf").write_text("PASS = from-include\n[@other]\n  PASS = nope\n")
    path = tmp_path / "nutauth.conf"
    path.write_text(
        "CERTVERIFY = on\nFORCESSL = yes\nUSER = globaluser\n"
        "[@ups.example:4000]\n  user = mon\n  INCLUDE inc.conf\n"
        "[admin@ups.example:4000]\n  USER = ignored\n  password = adminpw\n"
        "INCLUDE missing-is-fine.conf\n")
    conf = credentials.load(str(path))
    s = conf.settings_for("ups.example", 4000)
    assert (s.user, s.password, s.certverify, s.forcessl) == ("mon", "from-include", True, True)
    assert s.has_credentials
    other = conf.settings_for("elsewhere", 3493)
    assert (other.user, other.password, other.forcessl) == ("globaluser", None, True)
    assert not other.has_credentials
    assert conf.sections["admin@ups.example:4000"] == {"pass": "adminpw"}
    (tmp_path / "bad.conf").write_text('PASS = "unterminated # x\n')
    with pytest.raises(credentials.AuthConfError, match=r"bad\.conf:1"):
        credentials.load(str(tmp_path / "bad.conf"))


def test_authconf_default_requires_a_file_and_finds_the_usual_ones(nutenv, tmp_path):
    argv = [our_prog("dummy-ups"), "-s", "r", "-x", f"port=r@127.0.0.1:{free_port()}",
            "-x", "authconf=default", "-u", "root", "-d", "1"]
    home = tmp_path / "home"
    home.mkdir()
    r = nutenv.run(argv, HOME=str(home))
    assert r.returncode == 1
    assert "Can't open a user/site-provided default nutauth.conf file" in r.stderr
    (home / ".nutauth.conf").write_text('PASS = "bad # quote\n')  # found, then refused
    r = nutenv.run(argv, HOME=str(home))
    assert r.returncode == 1 and f"{home}/.nutauth.conf:1" in r.stderr
    (home / ".nutauth.conf").write_text("USER = u\n")  # found and fine: on to connecting
    r = nutenv.run(argv, HOME=str(home))
    assert r.returncode == 1 and "Connection failure: Connection refused" in r.stderr


# ---- daemons

# A remote UPS whose driver really handles a command (dummy-ups handles none).
CMD_DRIVER = """#!{python}
import os
from nutpy.drivers.base import Driver, HANDLED, UNKNOWN
from nutpy.drivers.main import run

class CmdDriver(Driver):
    name = "cmd-drv"
    description = "test driver with one command"
    def init_info(self):
        self.state.setinfo("ups.status", "OL")
        self.state.addcmd("test.battery.start")
        self.state.dataok()
    def instcmd(self, name, param):
        if name != "test.battery.start":
            return UNKNOWN
        with open(os.environ["CMD_MARK"], "a") as f:
            f.write(name + "\\n")
        return HANDLED

raise SystemExit(run(CmdDriver))
"""

def _stack(tmp_path_factory, upsd_kind: str):
    require_c_nut()
    env = NutEnv(tmp_path_factory.mktemp(f"repeater-{upsd_kind}"))
    env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\n")
    env.write("upsd.users", USERS, mode=0o600)
    (env.etc / "src.dev").write_text(SRC_DEV)
    target = f"src@127.0.0.1:{env.port}"
    creds = env.write("fwd.auth", f"[@127.0.0.1:{env.port}]\n  USER = admin\n  PASS = pw\n",
                      mode=0o600)
    env.write("ups.conf",
              "[src]\n  driver = dummy-ups\n  port = src.dev\n"
              f"[fwd]\n  driver = dummy-ups\n  port = {target}\n  authconf = {creds}\n"
              f"  pollinterval = 1\n"
              f"[plain]\n  driver = dummy-ups\n  port = {target}\n  authconf = none\n"
              f"  pollinterval = 1\n"
              "[real]\n  driver = cmd-drv\n  port = none\n"
              f"[fwdcmd]\n  driver = dummy-ups\n  port = real@127.0.0.1:{env.port}\n"
              f"  authconf = {creds}\n")
    cmd_drv = env.root / "cmd-drv"
    cmd_drv.write_text(CMD_DRIVER.format(python=sys.executable))
    cmd_drv.chmod(0o755)
    env.cmd_mark = env.root / "cmd-mark"
    start_all(env, [[our_prog("dummy-ups"), "-a", "src", "-u", "root"]])
    env.start([str(cmd_drv), "-a", "real", "-u", "root", "-F"], CMD_MARK=str(env.cmd_mark))
    env.wait_socket("cmd-drv", "real")
    upsd = c_prog("upsd") if upsd_kind == "c" else our_prog("upsd")
    env.start([upsd, "-u", "root", "-F"])
    env.wait_port()
    upsc_ready(env, "src")
    start_all(env, [[our_prog("dummy-ups"), "-a", n, "-u", "root"]
                    for n in ("fwd", "plain", "fwdcmd")])
    return env


@pytest.fixture(scope="module", params=["c", "ours"])
def stack(request, tmp_path_factory):
    if request.param == "ours" and not os.path.exists(our_prog("upsd")):
        pytest.skip("our upsd is not installed")
    env = _stack(tmp_path_factory, request.param)
    env.kind = request.param
    yield env
    stop_by_pidfiles(env, ["dummy-ups-src", "dummy-ups-fwd", "dummy-ups-plain",
                           "dummy-ups-fwdcmd"])
    env.close()


def _without_driver(d: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in d.items() if not k.startswith("driver.")}


@pytest.mark.interop
def test_copies_remote_data(stack):
    src = _without_driver(as_dict(upsc_ready(stack, "src")))
    for rep in ("fwd", "plain"):
        assert _without_driver(as_dict(upsc_ready(stack, rep))) == src


@pytest.mark.interop
def test_set_is_forwarded_only_with_credentials(stack):
    def upsrw(ups: str, value: str) -> str:
        r = stack.run([c_prog("upsrw"), "-s", f"ups.id={value}", "-u", "admin", "-p", "pw",
                       "-w", "-t", "5", f"{ups}@127.0.0.1:{stack.port}"])
        return r.stdout + r.stderr

    assert "SUCCESS" in upsrw("fwd", "forwarded")
    # the real UPS (src) changed, and the repeater shows it at once
    assert upsc(stack, "src", "ups.id").stdout.strip() == "forwarded"
    assert upsc(stack, "fwd", "ups.id").stdout.strip() == "forwarded"
    out = upsrw("plain", "local-only")
    assert "SUCCESS" not in out
    assert upsc(stack, "src", "ups.id").stdout.strip() == "forwarded"
    # remote commands are listed on the forwarding repeater
    cmds = stack.run([c_prog("upscmd"), "-l", f"fwd@127.0.0.1:{stack.port}"]).stdout
    assert "load.off" in cmds


@pytest.mark.interop
def test_instcmd_is_forwarded_to_the_real_driver(stack):
    target = f"fwdcmd@127.0.0.1:{stack.port}"
    upsc_ready(stack, "fwdcmd")
    cmds = stack.run([c_prog("upscmd"), "-l", target]).stdout
    assert "test.battery.start" in cmds
    r = stack.run([c_prog("upscmd"), "-u", "admin", "-p", "pw", "-w", "-t", "5", target,
                   "test.battery.start"])
    assert "SUCCESS" in r.stdout + r.stderr, r.stdout + r.stderr
    assert stack.cmd_mark.read_text().split() == ["test.battery.start"]


@pytest.mark.interop
def test_tls_forced_and_verified_against_our_upsd(nutenv, tmp_path):
    """FORCESSL + CERTVERIFY from nutauth.conf: the right CA gives the data, another CA
    is refused (C 2.8.0's upsd is an NSS build without PEM CERTFILE, so ours serves)."""
    if not os.path.exists(our_prog("upsd")):
        pytest.skip("our upsd is not installed")
    env = nutenv
    ca, other_ca = certs.make_ca(), certs.make_ca("someone else")
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "other.pem").write_bytes(other_ca.cert_pem)
    pem = certs.issue(ca, "127.0.0.1", [], ["127.0.0.1"]).write_pem(tmp_path / "upsd.pem")
    env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\nCERTFILE {pem}\n")
    env.write("upsd.users", USERS, mode=0o600)
    (env.etc / "src.dev").write_text(SRC_DEV)
    section = (f"[@127.0.0.1:{env.port}]\n  FORCESSL = on\n  CERTVERIFY = on\n"
               f"  CERTPATH = {tmp_path / 'ca.pem'}\n")
    good = env.write("good.auth", section, mode=0o600)
    bad = env.write("bad.auth", section.replace("ca.pem", "other.pem"), mode=0o600)
    env.write("ups.conf", "[src]\n  driver = dummy-ups\n  port = src.dev\n")
    start_all(env, [[our_prog("dummy-ups"), "-a", "src", "-u", "root"]])
    try:
        env.start([our_prog("upsd"), "-u", "root", "-F"])
        env.wait_port()
        upsc_ready(env, "src")
        dump = ["-s", "rep", "-x", f"port=src@127.0.0.1:{env.port}", "-u", "root", "-d", "1"]
        r = env.run([our_prog("dummy-ups"), *dump, "-x", f"authconf={bad}"])
        assert r.returncode == 1 and "Error: SSL error" in r.stdout + r.stderr
        r = env.run([our_prog("dummy-ups"), *dump, "-x", f"authconf={good}"])
        if "WRONG_VERSION_NUMBER" in r.stderr or "Read error" in r.stdout + r.stderr:
            # Known bug in nutpy upsd (reported): a request arriving right after the
            # handshake can be answered in clear text on the old transport.
            pytest.xfail("nutpy upsd STARTTLS race")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "battery.charge: 81" in r.stdout and "ups.mfr: Src" in r.stdout
    finally:
        stop_by_pidfiles(env, ["dummy-ups-src"])


@pytest.mark.interop
def test_start_errors_match_c(nutenv):
    require_c_nut()
    port = free_port()
    nutenv.write("ups.conf", f"[late]\n  driver = dummy-ups\n  port = src@127.0.0.1:{port}\n"
                             "[bad]\n  driver = dummy-ups\n  port = src@127.0.0.1:0\n")
    for section in ("late", "bad"):
        argv = ["-a", section, "-u", "root"]
        c = nutenv.run([c_prog("dummy-ups"), *argv])
        ours = nutenv.run([our_prog("dummy-ups"), *argv])
        assert ours.returncode == c.returncode == 1
        assert ours.stderr.splitlines() == c.stderr.splitlines()
    # with the flag the driver starts (stale) and keeps trying with backoff
    r = nutenv.run([our_prog("dummy-ups"), "-a", "late", "-u", "root",
                    "-x", "repeater_disable_strict_start"])
    assert r.returncode == 0, r.stdout + r.stderr
    pid = nutenv.pid_of("dummy-ups-late")
    try:
        assert pid and os.path.exists(nutenv.socket_path("dummy-ups", "late"))
    finally:
        nutenv.kill_pidfile("dummy-ups-late")
    wait_for(lambda: not nutenv.socket_path("dummy-ups", "late").exists(), 5,
             what="socket removed")


def test_unreachable_upsd_is_retried_with_backoff(monkeypatch):
    """Each failed attempt doubles the pause (from the poll interval, capped); polls in
    between do not touch the network; the data stays stale."""
    import asyncio

    from nutpy.drivers import repeater as rep_mod
    from nutpy.drivers.dummy_ups import DummyUps
    from nutpy.drivers.main import DriverCore

    core = DriverCore(DummyUps, prog="dummy-ups")
    core.poll_interval = 2
    rep = rep_mod.Repeater(core.driver, f"x@127.0.0.1:{free_port()}", "none",
                           strict_start=False)
    attempts = []
    real_connect = rep._connect

    async def counting_connect():
        attempts.append(1)
        await real_connect()

    monkeypatch.setattr(rep, "_connect", counting_connect)

    async def scenario():
        loop = asyncio.get_running_loop()
        await rep.init_info()
        assert core.state.stale and len(attempts) == 1
        waits = []
        for _ in range(4):
            hint = await rep.update_info()  # inside the pause: no attempt
            assert len(attempts) == len(waits) + 1 and 0 < hint <= rep_mod.MAX_BACKOFF
            rep.retry_at = loop.time()  # the pause is over
            await rep.update_info()
            waits.append(round(rep.retry_at - loop.time()))
        return waits

    assert asyncio.run(scenario()) == [4, 8, 16, 32]
    assert core.state.stale
