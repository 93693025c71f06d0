"""The common driver command line and life cycle, compared with C dummy-ups 2.8.0 where
C is the reference: banner, -h/-L/-V, errors and exit codes, -d dumps, PID file, socket,
backgrounding, signals, reload, -c, privilege drop."""

from __future__ import annotations

import os
import pwd
import re
import signal
import subprocess
import time

import pytest

from support.harness import alive, c_prog, our_prog, require_c_nut, require_root, run_as_c, wait_for

CONF = "[u]\n  driver = dummy-ups\n  port = u.dev\n"
DEV = "ups.status: OL\nbattery.charge: 90\nups.mfr: Acme\n"
OUR_EXTRA_VARS = ("driver.state", "driver.debug", "driver.flag.allow_killpower")


@pytest.fixture
def env(nutenv):
    nutenv.write("ups.conf", CONF)
    (nutenv.etc / "u.dev").write_text(DEV)
    return nutenv


def both(env, args, **kw):
    require_c_nut()
    return (env.run([c_prog("dummy-ups"), *args], **kw),
            run_as_c(env.run, [our_prog("dummy-ups"), *args], **kw))


def strip_prog(text: str) -> str:
    text = re.sub(r"^\S*dummy-ups: ", "dummy-ups: ", text, flags=re.M)
    # C 2.8.0 prints "-?" for the bad option letter; later releases (and we) print it
    return re.sub(r"unknown option -\S\.", "unknown option -X.", text)


def help_options(text: str) -> list[str]:
    """Option words of a -h text (``-a``, ``-FF``, ...), in order."""
    return re.findall(r"^  (-[A-Za-z]+)\b", text, flags=re.M)


def list_entries(text: str) -> list[tuple[str, str]]:
    """(kind, name) of each -L line; the descriptions are prose (ours differ from C's)."""
    return [(m[1], m[2]) for m in re.finditer(r'^(VALUE|FLAG) (\S+) "[^"\n]*"$', text, re.M)]


@pytest.mark.interop
def test_banner_version_and_list(env):
    c, ours = both(env, ["-V"])
    assert ours.stdout == c.stdout and ours.returncode == c.returncode == 0
    c, ours = both(env, ["-L"])
    assert ours.returncode == 0
    assert ours.stdout.splitlines()[0] == c.stdout.splitlines()[0]  # banner
    assert len(list_entries(ours.stdout)) == len(ours.stdout.splitlines()) - 1
    # C 2.8.0 knows only "mode"; later releases add authconf and the strict-start flag
    assert list_entries(ours.stdout) == [("VALUE", "mode"), ("VALUE", "authconf"),
                                         ("FLAG", "repeater_disable_strict_start")]
    c_entries = list_entries(c.stdout)
    assert c_entries and set(c_entries) <= set(list_entries(ours.stdout))
    c, ours = both(env, ["-h"])
    assert ours.returncode == c.returncode == 0
    assert ours.stdout.splitlines()[:3] == c.stdout.splitlines()[:3]  # banner, blank, usage:
    # same options in the same order; -FF, -c and -P are later releases' additions
    later = {"-FF", "-c", "-P"}
    assert [o for o in help_options(ours.stdout) if o not in later] == help_options(c.stdout)
    assert later <= set(help_options(ours.stdout))
    for _, name in list_entries(env.run([our_prog("dummy-ups"), "-L"]).stdout):
        assert f"-x {name}" in ours.stdout


@pytest.mark.parametrize("args", [
    ["-a", "nope", "-u", "root"],
    ["-u", "root"],
    ["-s", "x", "-u", "root"],
    ["-a", "u", "-z"],
    ["-a", "u", "-i", "0"],
    ["-a", "u", "extra"],
    ["-a", "u", "-u", "root", "-k"],  # dummy-ups cannot shut down: "shutdown not supported"
])
@pytest.mark.interop
def test_errors_match_c(env, args):
    c, ours = both(env, args)
    assert ours.returncode == c.returncode == 1
    assert strip_prog(ours.stdout) == strip_prog(c.stdout)
    assert strip_prog(drop_killpower_check(ours.stderr)) == strip_prog(c.stderr)


def drop_killpower_check(text: str) -> str:
    """-k first asks a running instance (2.8.1+), which 2.8.0 does not say."""
    return text.replace("Checking if an already running driver instance can handle the "
                        "shutdown command for us\n", "")


KILL_DRIVER = """#!{python}
import os
from nutpy.drivers.base import Driver, HANDLED
from nutpy.drivers.main import run

class KillDriver(Driver):
    name = "kill-drv"
    description = "test driver whose shutdown leaves a mark"
    def init_info(self):
        self.state.setinfo("ups.status", "OL")
        self.state.dataok()
    def shutdown(self):
        with open(os.environ["KILL_MARK"], "a") as f:
            f.write(f"{{os.getpid()}}\\n")
        return HANDLED

raise SystemExit(run(KillDriver))
"""


GATED_DRIVER = """#!{python}
import os, time
from nutpy.drivers.base import Driver
from nutpy.drivers.main import run

class GatedDriver(Driver):
    name = "gated-drv"
    description = "test driver whose device answers once a gate file exists"
    def init_device(self):
        deadline = time.monotonic() + 20
        while not os.path.exists(os.environ["GATE"]) and time.monotonic() < deadline:
            time.sleep(0.02)
    def init_info(self):
        self.state.setinfo("ups.status", "OL")
        self.state.dataok()

raise SystemExit(run(GatedDriver))
"""


def test_background_start_survives_its_launcher_being_stopped(env):
    """-B: the launcher waits for the driver to come up. Stopping it while the device is
    slow stops only the launcher (default signal action), and the driver still comes up."""
    import sys

    prog = env.root / "gated-drv"
    prog.write_text(GATED_DRIVER.format(python=sys.executable))
    prog.chmod(0o755)
    gate = env.root / "gate"
    env.write("ups.conf", "[u]\n  driver = gated-drv\n  port = none\n")
    launcher = env.start([str(prog), "-a", "u", "-u", "root", "-B"], GATE=str(gate))
    pidfile = env.state / "gated-drv-u.pid"
    wait_for(pidfile.exists, 10, what="PID file of the forked driver")
    driver_pid = int(pidfile.read_text().split()[0])
    assert driver_pid != launcher.pid
    launcher.send_signal(signal.SIGTERM)
    assert launcher.wait(5) == -signal.SIGTERM
    gate.touch()
    env.wait_socket("gated-drv", "u")
    assert query(env, b"PING\n", b"PONG\n", name="gated-drv") == b"PONG\n"
    assert alive(driver_pid)
    os.kill(driver_pid, signal.SIGTERM)
    wait_for(lambda: not alive(driver_pid), 10, what="driver exit")
    assert not pidfile.exists()


FLAKY_DRIVER = """#!{python}
import os
from nutpy.drivers.base import Driver
from nutpy.drivers.main import run

class FlakyDriver(Driver):
    name = "flaky-drv"
    description = "test driver whose poll raises while a file exists"
    def init_info(self):
        self.state.setinfo("ups.status", "OL")
    def update_info(self):
        if os.path.exists(os.environ["BROKEN"]):
            raise RuntimeError("the device answered nonsense")
        self.state.dataok()

raise SystemExit(run(FlakyDriver))
"""


def test_an_exception_in_a_poll_marks_data_stale_and_the_driver_goes_on(env):
    """A bug in a driver's poll (an exception) must not end the daemon: the data goes stale,
    the error is logged, and the next good poll brings the data back."""
    import sys

    prog = env.root / "flaky-drv"
    prog.write_text(FLAKY_DRIVER.format(python=sys.executable))
    prog.chmod(0o755)
    broken = env.root / "broken"
    env.write("ups.conf", "[u]\n  driver = flaky-drv\n  port = none\n  pollinterval = 1\n")
    driver = env.start([str(prog), "-a", "u", "-u", "root", "-F"], BROKEN=str(broken))

    def dump() -> bytes:
        return query(env, b"DUMPALL\n", b"DUMPDONE\n", name="flaky-drv")

    env.wait_socket("flaky-drv", "u")
    wait_for(lambda: b"DATAOK" in dump(), 10, what="data ok")
    broken.touch()
    wait_for(lambda: b"DATASTALE" in dump(), 10, what="data stale after the failing poll")
    assert driver.poll() is None
    broken.unlink()
    wait_for(lambda: b"DATAOK" in dump(), 10, what="data ok again")
    assert driver.poll() is None
    env.stop(driver)
    assert "Driver error while polling the device: RuntimeError('the device answered " \
           "nonsense')" in driver.stderr.read().decode()


def test_killpower_goes_to_the_running_instance_first(env):
    """-k as NUT 2.8.1+: a running instance is told (SET driver.flag.allow_killpower 1,
    INSTCMD driver.killpower) and does the shutdown; without one, -k does it itself."""
    import sys

    prog = env.root / "kill-drv"
    prog.write_text(KILL_DRIVER.format(python=sys.executable))
    prog.chmod(0o755)
    mark = env.root / "killed"
    env.write("ups.conf", "[u]\n  driver = kill-drv\n  port = none\n")
    running = env.start([str(prog), "-a", "u", "-u", "root", "-F"], KILL_MARK=str(mark))
    env.wait_socket("kill-drv", "u")
    r = env.run([str(prog), "-a", "u", "-u", "root", "-k"], KILL_MARK=str(mark))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Request to killpower via running driver instance returned code 0" in r.stderr
    assert mark.read_text().split() == [str(running.pid)]
    assert "Initiating UPS shutdown" not in r.stdout + r.stderr
    running.send_signal(signal.SIGTERM)
    assert running.wait(10) == 0
    r = env.run([str(prog), "-a", "u", "-u", "root", "-k"], KILL_MARK=str(mark))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Initiating UPS shutdown" in r.stderr
    pids = mark.read_text().split()
    assert len(pids) == 2 and pids[1] != str(running.pid)


def test_killpower_falls_back_when_the_running_instance_fails(env):
    """dummy-ups cannot shut down: the running instance answers FAILED, then the local
    attempt says so too (exit 1)."""
    p = env.start([our_prog("dummy-ups"), "-a", "u", "-u", "root", "-F"])
    env.wait_socket("dummy-ups", "u")
    r = env.run([our_prog("dummy-ups"), "-a", "u", "-u", "root", "-k"])
    assert r.returncode == 1
    assert "returned code 3" in r.stderr and r.stderr.rstrip().endswith("shutdown not supported")
    assert p.poll() is None  # the running driver carries on


@pytest.mark.interop
def test_unknown_variable_is_an_error(env):
    c, ours = both(env, ["-a", "u", "-u", "root", "-x", "bogus=1", "-x", "nolock"])
    assert ours.stdout == c.stdout
    assert "Fatal error: 'bogus' is not a valid variable name for this driver." in ours.stdout
    assert c.returncode == 0  # C: success, though nothing runs
    assert ours.returncode == 1  # ours: deliberate (docs/drivers.md)


@pytest.mark.interop
def test_wrong_driver_name(env):
    env.write("ups.conf", "[u]\n  driver = usbhid-ups\n  port = u.dev\n")
    c, ours = both(env, ["-a", "u", "-u", "root"])
    assert ours.returncode == c.returncode == 1
    assert "Error: UPS [u] is for driver usbhid-ups, but I'm dummy-ups!" in ours.stderr


def test_broken_upsconf_names_file_and_line(env):
    env.write("ups.conf", '[u]\n  driver = dummy-ups\n  desc = "Zeta # desc"\n  port = u.dev\n')
    r = env.run([our_prog("dummy-ups"), "-a", "u", "-u", "root"])
    assert r.returncode == 1
    assert f"Parse error: {env.etc}/ups.conf:3: Unbalanced word due to unescaped # in quotes" \
        in r.stderr


def test_broken_dev_fails_the_launcher(env):
    (env.etc / "u.dev").write_text('ups.mfr: ok\nups.model: "a # b"\n')
    t0 = time.monotonic()
    r = env.run([our_prog("dummy-ups"), "-a", "u", "-u", "root"])
    assert r.returncode == 1
    assert f"{env.etc}/u.dev:2:" in r.stderr
    assert time.monotonic() - t0 < 10
    assert not env.socket_path("dummy-ups", "u").exists()
    assert not (env.state / "dummy-ups-u.pid").exists()


def test_override_and_default_are_published_as_parameters(env):
    r = env.run([our_prog("dummy-ups"), "-a", "u", "-u", "root", "-d", "1",
                 "-x", "override.ups.mfr=Forced", "-x", "default.battery.charge=10",
                 "-x", "default.ups.serial=S1"])
    assert r.returncode == 0, r.stdout + r.stderr
    dump = dict(line.split(": ", 1) for line in r.stdout.splitlines() if ": " in line)
    assert dump["ups.mfr"] == "Forced"  # the .dev file's "Acme" cannot replace it
    assert dump["battery.charge"] == "90"  # a default yields to the device
    assert dump["ups.serial"] == "S1"
    assert dump["driver.parameter.override.ups.mfr"] == "Forced"
    assert dump["driver.parameter.default.battery.charge"] == "10"
    assert dump["driver.parameter.default.ups.serial"] == "S1"


def imported_modules(env, argv: list[str]) -> set[str]:
    r = env.run([our_prog("dummy-ups"), *argv], PYTHONPROFILEIMPORTTIME="1")
    return {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def test_start_up_skips_modules_it_does_not_need(env):
    """A file-backed driver loads no ssl (asyncio's TLS), uuid or getopt/gettext; -h does
    not even load asyncio; a repeater gets ssl (before any privilege drop)."""
    run_mods = imported_modules(env, ["-a", "u", "-u", "root", "-d", "1"])
    assert "asyncio" in run_mods and "nutpy.drivers.sockserver" in run_mods
    # ("ssl" itself shows up: asyncio's refused attempt; "_ssl" is the real module)
    assert not run_mods & {"_ssl", "uuid", "getopt", "gettext", "nutpy.drivers.repeater"}
    assert "asyncio" not in imported_modules(env, ["-h"])
    rep_mods = imported_modules(env, ["-s", "r", "-x", "port=r@127.0.0.1:1", "-u", "root",
                                      "-d", "1"])
    assert {"_ssl", "nutpy.drivers.repeater", "nutpy.security.tls"} <= rep_mods


@pytest.mark.interop
def test_dump_matches_c(env):
    require_c_nut()
    argv = ["-a", "u", "-u", "root", "-d", "1", "-i", "1"]
    pc = subprocess.Popen([c_prog("dummy-ups"), *argv], env=env.env(), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ours = run_as_c(env.run, [our_prog("dummy-ups"), *argv])
    c_out, _ = pc.communicate(timeout=30)
    assert ours.returncode == pc.returncode == 0
    mine = [l for l in ours.stdout.splitlines() if not l.startswith(OUR_EXTRA_VARS)]
    assert mine == c_out.splitlines()
    assert not env.socket_path("dummy-ups", "u").exists()  # -d: no socket, no PID file
    assert not (env.state / "dummy-ups-u.pid").exists()


def start_bg(env, *extra):
    r = env.run([our_prog("dummy-ups"), "-a", "u", "-u", "root", *extra])
    assert r.returncode == 0, r.stdout + r.stderr
    # the launcher returned: the daemon must be fully up already
    assert env.socket_path("dummy-ups", "u").exists()
    pid = env.pid_of("dummy-ups-u")
    assert pid and os.path.exists(f"/proc/{pid}")
    return pid


def gone(pid):
    return not alive(pid)


def test_background_lifecycle_and_duplicate(env):
    pid = start_bg(env)
    pid2 = start_bg(env)  # a second start replaces the first instance
    assert pid2 != pid
    wait_for(lambda: gone(pid), 10, what="old instance to exit")
    os.kill(pid2, signal.SIGTERM)
    wait_for(lambda: gone(pid2), 10, what="driver exit")
    assert not env.socket_path("dummy-ups", "u").exists()
    assert not (env.state / "dummy-ups-u.pid").exists()


def test_foreground_sigterm_cleans_up(env):
    p = env.start([our_prog("dummy-ups"), "-a", "u", "-u", "root", "-F"])
    env.wait_socket("dummy-ups", "u")
    assert not (env.state / "dummy-ups-u.pid").exists()  # -F: no PID file (-FF writes one)
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0
    assert not env.socket_path("dummy-ups", "u").exists()  # C 2.8.0 leaves it behind


def test_sigterm_as_soon_as_pidfile_appears(env):
    # a supervisor may signal the moment the PID file exists, before the socket is up
    p = env.start([our_prog("dummy-ups"), "-a", "u", "-u", "root", "-FF"])
    pidfile = env.state / "dummy-ups-u.pid"
    wait_for(pidfile.exists, 10, interval=0.0005, what="PID file")
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0
    assert not pidfile.exists()
    assert not env.socket_path("dummy-ups", "u").exists()


def test_control_commands_and_reload(env):
    pid = start_bg(env)
    dumpall = lambda: query(env, b"DUMPALL\n", b"DUMPDONE\n")
    assert b'"2"' in [l for l in dumpall().splitlines() if b"pollinterval" in l][0]
    env.write("ups.conf", CONF + "  pollinterval = 7\n")
    os.kill(pid, signal.SIGHUP)
    wait_for(lambda: b'SETINFO driver.parameter.pollinterval "7"' in dumpall(), 5,
             what="reload")
    # -c reload selects reload-or-error (prefix rule of later releases): handled = 0
    r = env.run([our_prog("dummy-ups"), "-a", "u", "-c", "reload"])
    assert r.returncode == 0, r.stderr
    # a change needing a restart makes reload-or-error fail
    env.write("ups.conf", CONF.replace("u.dev", "other.dev"))
    r = env.run([our_prog("dummy-ups"), "-a", "u", "-c", "reload-or-error"])
    assert r.returncode == 2
    r = env.run([our_prog("dummy-ups"), "-a", "u", "-c", "exit"])
    assert r.returncode == 0
    wait_for(lambda: gone(pid), 10, what="exit by -c exit")
    r = env.run([our_prog("dummy-ups"), "-a", "u", "-c", "exit"])
    assert r.returncode == 255


def query(env, request: bytes, last: bytes, name: str = "dummy-ups") -> bytes:
    import socket

    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(env.socket_path(name, "u")))
        s.sendall(request)
        buf = b""
        while not buf.endswith(last):
            data = s.recv(65536)
            if not data:
                break
            buf += data
        return buf


@pytest.mark.root
def test_privileges_dropped_before_device(env):
    """The device (here the .dev file) is opened as the run-as user; socket and PID file
    belong to that user too."""
    require_root()
    import shutil
    import tempfile

    nobody = pwd.getpwnam("nobody")
    world = tempfile.mkdtemp(prefix="nutpy-priv-")  # pytest's tmp dirs are root-only
    try:
        os.chmod(world, 0o755)
        state = os.path.join(world, "state")
        os.mkdir(state, 0o770)
        os.chown(state, nobody.pw_uid, nobody.pw_gid)
        dev = os.path.join(world, "u.dev")
        with open(dev, "w") as f:
            f.write(DEV)
        os.chmod(dev, 0o600)  # root-only first: opening it as nobody must fail
        env.write("ups.conf", CONF.replace("u.dev", dev))
        argv = [our_prog("dummy-ups"), "-a", "u", "-u", "nobody"]
        paths = dict(NUT_STATEPATH=state, NUT_ALTPIDPATH=state)
        r = env.run(argv, **paths)
        assert r.returncode == 1 and "Permission denied" in r.stderr
        os.chmod(dev, 0o644)
        r = env.run(argv, **paths)
        assert r.returncode == 0, r.stderr
        pid = int(open(os.path.join(state, "dummy-ups-u.pid")).read())
        with open(f"/proc/{pid}/status") as f:
            uids = [l for l in f.read().splitlines() if l.startswith("Uid:")][0].split()[1:]
        assert uids == [str(nobody.pw_uid)] * 4
        assert os.stat(os.path.join(state, "dummy-ups-u")).st_uid == nobody.pw_uid
        assert os.stat(os.path.join(state, "dummy-ups-u.pid")).st_uid == nobody.pw_uid
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: gone(pid), 10, what="driver exit")
    finally:
        shutil.rmtree(world, ignore_errors=True)


@pytest.mark.interop
def test_c_available_for_ci():
    # the absence of the oracle shows as one clear skip here, and fails under .ci/run
    require_c_nut()


@pytest.mark.root
def test_chroot(env):
    """-r: the device path and the state directory are inside the jail, which has no
    /dev or /etc; the driver still comes up and serves its socket."""
    require_root()
    jail = env.root / "jail"
    (jail / "state").mkdir(parents=True)
    (jail / "data").mkdir()
    (jail / "data" / "u.dev").write_text(DEV)
    env.write("ups.conf", "[u]\n  driver = dummy-ups\n  port = /data/u.dev\n")
    r = env.run([our_prog("dummy-ups"), "-a", "u", "-u", "root", "-r", str(jail)],
                NUT_STATEPATH="/state", NUT_ALTPIDPATH="/state")
    assert r.returncode == 0, r.stdout + r.stderr
    pid = int((jail / "state" / "dummy-ups-u.pid").read_text())
    try:
        assert os.readlink(f"/proc/{pid}/root") == str(jail)
        import socket

        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(jail / "state" / "dummy-ups-u"))
            s.sendall(b"DUMPVALUE battery.charge\n")
            buf = b""
            while not buf.endswith(b"DUMPDONE\n"):
                buf += s.recv(4096)
        assert b'SETINFO battery.charge "90"' in buf
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: gone(pid), 10, what="driver exit")
    assert not (jail / "state" / "dummy-ups-u").exists()


@pytest.mark.interop
@pytest.mark.parametrize("where", ["global", "section"])
def test_invalid_debug_min_is_reported_like_c(env, where):
    conf = "debug_min = -3\n" + CONF if where == "global" else CONF + "  debug_min = -3\n"
    env.write("ups.conf", conf)
    c, ours = both(env, ["-a", "u", "-u", "root", "-d", "1"])
    assert ours.returncode == c.returncode == 0
    kind = "global settings" if where == "global" else "for the driver"
    line = f"WARNING : Invalid debug_min value found in ups.conf {kind}"
    assert line in c.stderr
    assert line in ours.stderr
