"""upsdrvctl as C 2.8.x runs drivers: shutdown in sdorder, retries, start timer, nowait,
per-UPS settings, list/status/-c, stop over the socket, mixed fleets, readiness reported to
systemd for a C driver; as root, drivers running as the nut user and in a chroot.

Launch order and retries are observed through a stand-in driver (a shell script that logs how
it was called and fails as told); what a driver does itself, through our dummy-ups."""

import os
import pwd
import shutil
import signal
import socket
import stat
import tempfile
from pathlib import Path

import pytest

from support.harness import NutEnv, alive, c_prog, our_prog, require_c_nut, require_root, wait_for

FAKE = """#!/bin/sh
# a stand-in driver: "-a <ups> [-k]"; logs the call, then behaves as its UPS name says
ups="$2"
echo "$*" >> {log}
n=$(cat {dir}/count-$ups 2>/dev/null || echo 0); n=$((n+1)); echo $n > {dir}/count-$ups
case "$ups" in
  fail*) exit 3 ;;
  flaky) [ $n -le 2 ] && exit 2 ;;
  slow*) echo $$ > {dir}/pid-$ups; exec sleep 30 </dev/null >/dev/null 2>&1 ;;
esac
exit 0
"""


class Fake:
    def __init__(self, env: NutEnv) -> None:
        self.env = env
        self.dir = env.root / "fake"
        self.dir.mkdir()
        self.log = self.dir / "log"
        prog = self.dir / "fake"
        prog.write_text(FAKE.format(log=self.log, dir=self.dir))
        prog.chmod(0o755)

    def conf(self, body: str, extra_global: str = "") -> None:
        self.env.write("ups.conf", f"driverpath = {self.dir}\n{extra_global}{body}")

    def run(self, prog: str, *args: str, **env: str):
        for f in self.dir.glob("count-*"):
            f.unlink()
        if self.log.exists():
            self.log.unlink()
        r = self.env.run([prog, *args], **env)
        calls = self.log.read_text().splitlines() if self.log.exists() else []
        return r, calls

    def kill_slow(self) -> None:
        for f in self.dir.glob("pid-*"):
            try:
                os.kill(int(f.read_text()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            f.unlink()


def section(name: str, **settings) -> str:
    lines = [f"[{name}]", " driver = fake", " port = x"]
    lines += [f" {k} = {v}" for k, v in settings.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def fake(nutenv):
    f = Fake(nutenv)
    yield f
    f.kill_slow()


def messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.mark.interop
def test_shutdown_by_sdorder_as_c(fake):
    require_c_nut()
    fake.conf(section("a", sdorder=2) + section("b") + section("c", sdorder=1)
              + section("never", sdorder=-1) + section("fail1"))
    c, c_calls = fake.run(c_prog("upsdrvctl"), "shutdown")
    ours, our_calls = fake.run(our_prog("upsdrvctl"), "shutdown")
    # 0s first (file order), then 1s, then 2s; a negative sdorder is left alone
    assert our_calls == c_calls == ["-a b -k", "-a fail1 -k", "-a c -k", "-a a -k"]
    assert ours.returncode == c.returncode == 1
    assert messages(ours.stderr) == messages(c.stderr) == ["Driver failed to start (exit status=3)"]
    # shutdown <ups> ignores sdorder
    _, calls = fake.run(our_prog("upsdrvctl"), "shutdown", "never")
    assert calls == ["-a never -k"]


@pytest.mark.interop
def test_retries_as_c(fake):
    require_c_nut()
    fake.conf(section("ok") + section("fail1") + section("flaky"),
              "maxretry = 3\nretrydelay = 0\n")
    c, c_calls = fake.run(c_prog("upsdrvctl"), "start")
    ours, our_calls = fake.run(our_prog("upsdrvctl"), "start")
    assert our_calls == c_calls == ["-a ok"] + ["-a fail1"] * 3 + ["-a flaky"] * 3
    assert ours.returncode == c.returncode == 1
    assert messages(ours.stderr) == messages(c.stderr)
    # a driver that comes up at its third try is a success
    c, _ = fake.run(c_prog("upsdrvctl"), "start", "flaky")
    ours, _ = fake.run(our_prog("upsdrvctl"), "start", "flaky")
    assert ours.returncode == c.returncode == 0


def test_per_ups_retry_settings(fake):
    """NUT 2.8.3+: maxretry, retrydelay and maxstartdelay per UPS (2.8.0 refuses them)."""
    fake.conf(section("fail1", maxretry=2, retrydelay=0) + section("fail2", maxretry=0),
              "maxretry = 4\nretrydelay = 0\n")
    r, calls = fake.run(our_prog("upsdrvctl"), "start")
    assert calls == ["-a fail1"] * 2  # maxretry 0: never tried, and no error for it
    assert r.returncode == 1


@pytest.mark.interop
def test_start_timer_as_c(fake):
    require_c_nut()
    fake.conf(section("slow"), "maxstartdelay = 1\n")
    results = {}
    for name, prog in (("c", c_prog("upsdrvctl")), ("ours", our_prog("upsdrvctl"))):
        r, calls = fake.run(prog, "start")
        fake.kill_slow()
        results[name] = (r.returncode, calls, "Startup timer elapsed, continuing..." in r.stderr)
    assert results["ours"] == results["c"] == (1, ["-a slow"], True)


def test_nowait(fake):
    fake.conf(section("fail1"), "nowait\n")
    r, calls = fake.run(our_prog("upsdrvctl"), "start")
    assert (r.returncode, calls) == (0, ["-a fail1"])  # not waited for, so no failure seen
    # systemd's units set NUT_IGNORE_NOWAIT: every start is judged
    r, _ = fake.run(our_prog("upsdrvctl"), "start", NUT_IGNORE_NOWAIT="true")
    assert r.returncode == 1
    assert "NOTE: 'nowait' setting ignored due to NUT_IGNORE_NOWAIT envvar" in r.stderr


@pytest.mark.parametrize("args, rc, text", [
    (["start", "a", "b"], 1, "Error: extra arguments left on command line"),
    (["-c", "bogus"], 1, "Error: unknown argument to option -c. Try -h for help."),
    (["-c", "reload", "-c", "exit"], 1, "Error: only one command per run can be sent with option -c."),
    (["list", "nope"], 1, "UPS nope not found in ups.conf"),
])
def test_usage_errors(fake, args, rc, text):
    fake.conf(section("a") + section("b"))
    r, calls = fake.run(our_prog("upsdrvctl"), *args)
    assert (r.returncode, calls) == (rc, [])
    assert text in r.stderr


def test_list(fake):
    fake.conf(section("a") + "[empty]\n" + section("b"))
    for args in (["list"], ["-l"]):
        r, _ = fake.run(our_prog("upsdrvctl"), *args)
        # a section without a single setting is unknown to C's upsdrvctl too
        assert (r.returncode, r.stdout.splitlines()[1:]) == (0, ["a", "b"])
    r, _ = fake.run(our_prog("upsdrvctl"), "-l", "b")
    assert r.stdout.splitlines()[1:] == ["b"]


@pytest.mark.interop
def test_c_driver_for_a_driver_we_lack(nutenv):
    """Mixed fleets: no driverpath, a driver nutpy does not have: C's, from /lib/nut."""
    require_c_nut()
    lacking = next((n for n in ("blazer_ser", "apcsmart", "nutdrv_qx", "richcomm_usb")
                    if Path(c_prog(n)).exists() and not Path(our_prog(n)).exists()), None)
    if lacking is None:
        pytest.skip("no C driver that nutpy lacks")
    nutenv.write("ups.conf", f"[mine]\n driver = dummy-ups\n port = x\n"
                             f"[theirs]\n driver = {lacking}\n port = /dev/null\n")
    r = nutenv.run([our_prog("upsdrvctl"), "-t", "start"])
    assert r.returncode == 0, r.stderr
    assert f"exec:  {our_prog('dummy-ups')} -a mine" in r.stderr
    assert f"exec:  /lib/nut/{lacking} -a theirs" in r.stderr


# -- with real drivers -----------------------------------------------------------------------


@pytest.fixture
def dummy(nutenv):
    (nutenv.etc / "u1.dev").write_text("ups.status: OL\nbattery.charge: 90\n")
    nutenv.write("ups.conf", f"driverpath = {Path(our_prog('dummy-ups')).parent}\n"
                             "[u1]\n driver = dummy-ups\n port = u1.dev\n")
    yield nutenv
    pid = nutenv.pid_of("dummy-ups-u1")
    if pid and alive(pid):
        os.kill(pid, signal.SIGKILL)


def test_status_control_and_stop(dummy):
    ctl = our_prog("upsdrvctl")
    r = dummy.run([ctl, "status"])
    assert r.returncode == 0
    header, row = r.stdout.splitlines()[1:]
    assert header.split("\t") == ["UPSNAME    ", "     UPSDRV", "RUNNING", "PF_PID",
                                  "S_RESPONSIVE", "S_PID", "S_STATUS"]
    assert row.split("\t") == ["u1         ", "  dummy-ups", "N/A", "-1", "NOT_RESPONSIVE", "N/A", ""]
    assert dummy.run([ctl, "-u", "root", "start"]).returncode == 0
    pid = wait_for(lambda: dummy.pid_of("dummy-ups-u1"), what="driver PID file")
    dummy.wait_socket("dummy-ups", "u1")
    row = dummy.run([ctl, "status", "u1"]).stdout.splitlines()[-1].split("\t")
    assert row[2:] == ["RUNNING", str(pid), "RESPONSIVE", str(pid), '"OL"']
    # -c reload-or-error goes over the socket and reports the driver's answer
    r = dummy.run([ctl, "-c", "reload-or-error", "u1"])
    assert r.returncode == 0, r.stderr
    assert "Request for driver to reload-or-error returned code 0" in r.stderr
    # -c reload (matched by the prefix "reload" first as reload-or-error, as in C) and a
    # real signal through the PID file
    r = dummy.run([ctl, "-c", "data-dump", "u1"])
    assert r.returncode == 0, r.stderr
    assert alive(pid)
    r = dummy.run([ctl, "-c", "exit", "u1"])
    assert r.returncode == 0, r.stderr
    wait_for(lambda: not alive(pid), 10, what="driver to exit on -c exit")
    assert dummy.pid_of("dummy-ups-u1") is None


def test_stop_a_foreground_driver_over_its_socket(dummy):
    """A driver in the foreground has no PID file: stop tells it over the socket (2.8.3+)."""
    p = dummy.start([our_prog("dummy-ups"), "-a", "u1", "-u", "root", "-F"])
    dummy.wait_socket("dummy-ups", "u1")
    r = dummy.run([our_prog("upsdrvctl"), "stop", "u1"])
    assert r.returncode == 0, r.stderr
    assert "Succeeded to send the 'exit' command to the driver socket" in r.stderr
    assert p.wait(10) == 0


@pytest.mark.interop
def test_readiness_reported_for_a_c_driver(nutenv, tmp_path):
    """Under systemd (Type=notify) a C 2.8.0 driver cannot say it is ready: upsdrvctl -FF
    starts it in the background and reports READY=1 with the driver's PID as MAINPID."""
    require_c_nut()
    (nutenv.etc / "u1.dev").write_text("ups.status: OL\n")
    nutenv.write("ups.conf", "driverpath = /lib/nut\n[u1]\n driver = dummy-ups\n port = u1.dev\n")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.settimeout(20)
        r = nutenv.run([our_prog("upsdrvctl"), "-u", "root", "-FF", "start", "u1"],
                       NOTIFY_SOCKET=str(tmp_path / "notify"))
        try:
            assert r.returncode == 0, r.stderr
            pid = nutenv.pid_of("dummy-ups-u1")
            fields = sock.recv(4096).decode().split("\n")
            assert "READY=1" in fields and f"MAINPID={pid}" in fields
            assert alive(pid)
        finally:
            nutenv.kill_pidfile("dummy-ups-u1")


# -- as root: the nut user, a chroot ---------------------------------------------------------


def nut_user():
    try:
        return pwd.getpwnam("nut")
    except KeyError:
        pytest.skip("no nut user")


def ids(pid: int) -> dict[str, list[int]]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Uid", "Gid"):
                out[key] = [int(x) for x in rest.split()]
    return out


@pytest.fixture
def rootenv():
    """A NUT installation the nut user can reach (pytest's own temp dirs are root's only)."""
    require_root()
    root = Path(tempfile.mkdtemp(prefix="nutpy-ops-"))
    os.chmod(root, 0o755)
    env = NutEnv(root)
    yield env
    env.close()
    shutil.rmtree(root, ignore_errors=True)


def nut_owned(env: NutEnv, pw) -> None:
    """The installation NUT's notes describe: state path root:nut 0770, files root:nut 0640."""
    os.chown(env.state, 0, pw.pw_gid)
    os.chmod(env.state, 0o770)
    for f in env.etc.iterdir():
        os.chown(f, 0, pw.pw_gid)
        os.chmod(f, 0o640)
    os.chmod(env.etc, 0o755)


@pytest.mark.root
def test_start_as_nut_and_stop(rootenv):
    nutenv = rootenv
    pw = nut_user()
    for name in ("u1", "u2"):
        (nutenv.etc / f"{name}.dev").write_text("ups.status: OL\n")
    nutenv.write("ups.conf", f"driverpath = {Path(our_prog('dummy-ups')).parent}\n"
                             "[u1]\n driver = dummy-ups\n port = u1.dev\n"
                             "[u2]\n driver = dummy-ups\n port = u2.dev\n")
    nut_owned(nutenv, pw)
    pids = []
    try:
        r = nutenv.run([our_prog("upsdrvctl"), "-u", "nut", "start"])
        assert r.returncode == 0, r.stderr
        for name in ("u1", "u2"):
            pid = nutenv.pid_of(f"dummy-ups-{name}")
            pids.append(pid)
            assert ids(pid) == {"Uid": [pw.pw_uid] * 4, "Gid": [pw.pw_gid] * 4}
            st = os.stat(nutenv.socket_path("dummy-ups", name))
            assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (pw.pw_uid, 0o660)
        r = nutenv.run([our_prog("upsdrvctl"), "stop"])
        assert r.returncode == 0, r.stderr
        for pid, name in zip(pids, ("u1", "u2")):
            assert not alive(pid)
            assert not (nutenv.state / f"dummy-ups-{name}.pid").exists()
            assert not nutenv.socket_path("dummy-ups", name).exists()
    finally:
        for pid in pids:
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.root
def test_chrooted_driver(rootenv):
    nutenv = rootenv
    pw = nut_user()
    (nutenv.etc / "u1.dev").write_text("ups.status: OL\n")
    nutenv.write("ups.conf", f"driverpath = {Path(our_prog('dummy-ups')).parent}\n"
                             f"[u1]\n driver = dummy-ups\n port = {nutenv.etc}/u1.dev\n")
    nut_owned(nutenv, pw)
    jail = nutenv.root / "jail"
    inner_etc = jail / nutenv.etc.relative_to("/")
    inner_state = jail / nutenv.state.relative_to("/")
    shutil.copytree(nutenv.etc, inner_etc)
    for f in inner_etc.iterdir():
        os.chown(f, 0, pw.pw_gid)
    inner_state.mkdir(parents=True)
    os.chown(inner_state, 0, pw.pw_gid)
    os.chmod(inner_state, 0o770)
    (jail / "dev").mkdir()
    for d in [jail, *[p for p in inner_state.parents if jail in p.parents]]:
        os.chmod(d, 0o755)
    pid = None
    try:
        r = nutenv.run([our_prog("upsdrvctl"), "-r", str(jail), "-u", "nut", "start"])
        assert r.returncode == 0, r.stderr
        pid = int((inner_state / "dummy-ups-u1.pid").read_text())
        assert os.readlink(f"/proc/{pid}/root") == str(jail)
        assert ids(pid)["Uid"] == [pw.pw_uid] * 4
        assert stat.S_ISSOCK(os.stat(inner_state / "dummy-ups-u1").st_mode)
        assert not nutenv.socket_path("dummy-ups", "u1").exists()
        # upsdrvctl itself does not chroot: it finds the PID file where the driver put it
        r = nutenv.run([our_prog("upsdrvctl"), "stop"], NUT_STATEPATH=str(inner_state),
                       NUT_ALTPIDPATH=str(inner_state))
        assert r.returncode == 0, r.stderr
        wait_for(lambda: not alive(pid), 10, what="jailed driver to stop")
    finally:
        if pid and alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_version_names_nutpy_in_the_banner_and_the_build_line(nutenv):
    """-V prints C's banner with our name after the version; with -D, the build line C 2.8.3+
    adds there names nutpy too."""
    from nutpy import NUT_VERSION, VERSION_TEXT, __version__

    r = nutenv.run([our_prog("upsdrvctl"), "-V"])
    assert (r.returncode, r.stdout, r.stderr) == (
        0, f"Network UPS Tools - UPS driver controller {VERSION_TEXT}\n", "")
    r = nutenv.run([our_prog("upsdrvctl"), "-D", "-V"])
    assert r.stdout == f"Network UPS Tools - UPS driver controller {VERSION_TEXT}\n"
    line = r.stderr.strip().split("\t", 1)[1]
    assert line.startswith(f"[D1] Network UPS Tools version {NUT_VERSION} (nutpy {__version__}), ")


# -- support messages --------------------------------------------------------------------------


def test_missing_state_path_says_how_to_make_it(dummy):
    r = dummy.run([our_prog("dummy-ups"), "-a", "u1", "-u", "root"],
                  NUT_STATEPATH=str(dummy.root / "nowhere"))
    assert r.returncode == 1
    assert f"Can't chdir to {dummy.root}/nowhere: No such file or directory" in r.stderr
    assert f"install -d -o root -g nut -m 0770 {dummy.root}/nowhere" in r.stderr


@pytest.mark.root
def test_socket_permission_denied_is_explained(rootenv):
    """upsd running as another user than the driver, without its group: C says only
    'Permission denied'; we also say whose socket it is and what to change."""
    env = rootenv
    nobody = pwd.getpwnam("nobody")
    env.write("ups.conf", "[x]\n driver = fake\n port = x\n", mode=0o644)
    env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\n", mode=0o644)
    env.write("upsd.users", "[admin]\n password = x\n", mode=0o644)
    os.chmod(env.etc, 0o755)
    os.chmod(env.state, 0o777)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(env.state / "fake-x"))  # a driver's socket: root's, mode 0660
        os.chmod(env.state / "fake-x", 0o660)
        s.listen(1)
        p = env.start([our_prog("upsd"), "-F", "-u", "nobody"])
        os.set_blocking(p.stderr.fileno(), False)
        out = []

        def hinted():
            try:
                out.append(os.read(p.stderr.fileno(), 65536).decode())
            except BlockingIOError:
                pass
            return "run the drivers and upsd as the same user" in "".join(out)
        try:
            wait_for(hinted, 15, interval=0.1, what="the permission hint")
        finally:
            env.stop(p)
    text = "".join(out)
    assert "Can't connect to UPS [x] (fake-x): Permission denied" in text
    assert f"fake-x belongs to root:root, mode 0660, and this process runs as {nobody.pw_name}:" in text
