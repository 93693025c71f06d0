"""Privilege drop and chroot, seen from outside as the kernel reports them: our upsd and
our dummy-ups (directly and through our upsdrvctl) started as root with ``-u <user>``
and ``-r <jail>`` must run with that user's uid/gid/groups and inside the jail
(``/proc/<pid>/status`` and ``/proc/<pid>/root``), and still serve data. Also C's file
mode rules: the driver socket is 0660 like C's, upsd warns about world-readable
upsd.conf/upsd.users/state path like C."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from support import certs
from support.harness import (
    NutEnv,
    c_prog,
    dump_complete,
    our_prog,
    require_c_nut,
    require_root,
    wait_for,
)

HOST = "ups.example.com"
DUMMY = "ups.status: OL\nbattery.charge: 77\n"
TEST_USER = "nutpytest"


@pytest.fixture(scope="module")
def user():
    """An unprivileged account: ``nobody`` where it exists, else one made for the test
    (and removed afterwards)."""
    require_root()
    try:
        yield pwd.getpwnam("nobody")
        return
    except KeyError:
        pass
    if not shutil.which("useradd"):
        pytest.skip("no 'nobody' account and no useradd")
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                    "/usr/sbin/nologin", TEST_USER], check=True)
    try:
        yield pwd.getpwnam(TEST_USER)
    finally:
        subprocess.run(["userdel", TEST_USER], check=False)


def proc_ids(pid: int) -> dict[str, list[int]]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                out[key] = [int(x) for x in rest.split()]
    return out


def expected_groups(pw) -> list[int]:
    return sorted(set(os.getgrouplist(pw.pw_name, pw.pw_gid)))


def assert_dropped(pid: int, pw, jail: Path | None) -> None:
    ids = proc_ids(pid)
    assert ids["Uid"] == [pw.pw_uid] * 4, ids       # real, effective, saved, fs
    assert ids["Gid"] == [pw.pw_gid] * 4, ids
    assert sorted(ids["Groups"]) == expected_groups(pw), ids
    if jail is not None:
        assert os.readlink(f"/proc/{pid}/root") == str(jail)


def ask(port: int, line: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(line.encode() + b"\n")
        return s.makefile("rb").readline().decode().rstrip("\n")


def make_jail(env: NutEnv, pw) -> Path:
    """The layout C's docs describe: the jail holds confpath and state path at the same
    absolute paths as outside; the state path is the NUT group's (here the user's
    group), mode 0770."""
    jail = env.root / "jail"
    inner_etc = jail / env.etc.relative_to("/")
    inner_state = jail / env.state.relative_to("/")
    inner_etc.mkdir(parents=True)
    inner_state.mkdir(parents=True)
    for d in [jail, *[p for p in inner_etc.parents if jail in p.parents], inner_etc]:
        os.chmod(d, 0o755)
    os.chown(inner_state, 0, pw.pw_gid)
    os.chmod(inner_state, 0o770)
    (jail / "dev").mkdir()
    for f in env.etc.iterdir():
        shutil.copy2(f, inner_etc / f.name)
        os.chown(inner_etc / f.name, 0, pw.pw_gid)
        os.chmod(inner_etc / f.name, 0o640)
    return jail


@pytest.fixture(scope="module")
def jailed(tmp_path_factory, user):
    require_root()
    env = NutEnv(tmp_path_factory.mktemp("privileges"))
    (env.etc / "eaton.dev").write_text(DUMMY)
    env.write("ups.conf", f"driverpath = {Path(our_prog('dummy-ups')).parent}\n"
                          f"[eaton]\n  driver = dummy-ups\n  port = {env.etc}/eaton.dev\n"
                          f"[second]\n  driver = dummy-ups\n  port = {env.etc}/eaton.dev\n")
    ca = certs.make_ca()
    certs.issue(ca, HOST, [HOST]).write_pem(env.etc / "upsd.pem")
    (env.root / "ca.pem").write_bytes(ca.cert_pem)
    env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\nCERTFILE {env.etc}/upsd.pem\n")
    env.write("upsd.users", "[admin]\n  password = x\n")
    jail = make_jail(env, user)
    inner_state = jail / env.state.relative_to("/")
    name = user.pw_name
    driver = env.start([our_prog("dummy-ups"), "-a", "eaton", "-F", "-u", name,
                        "-r", str(jail)])
    wait_for((inner_state / "dummy-ups-eaton").exists, 15, what="jailed driver socket")
    yield type("Jailed", (), dict(env=env, jail=jail, state=inner_state, user=user,
                                  driver=driver))
    env.close()


@pytest.fixture(scope="module")
def jailed_upsd(jailed):
    env, jail, name = jailed.env, jailed.jail, jailed.user.pw_name
    upsd = env.start([our_prog("upsd"), "-F", "-u", name, "-r", str(jail)])
    try:
        env.wait_port(timeout=8)
    except TimeoutError:
        env.stop(upsd)
        pytest.fail("jailed upsd did not start: " + upsd.stderr.read().decode()[-2000:])
    wait_for(lambda: dump_complete(ask(env.port, "GET VAR eaton ups.status")), 15,
             what="jailed upsd serving eaton")
    yield upsd
    env.stop(upsd)


@pytest.mark.root
def test_upsd_runs_as_user_inside_the_jail(jailed, jailed_upsd):
    assert_dropped(jailed_upsd.pid, jailed.user, jailed.jail)
    assert ask(jailed.env.port, "GET VAR eaton battery.charge") == \
        'VAR eaton battery.charge "77"'


def test_jailed_upsd_still_speaks_tls(jailed, jailed_upsd):
    """TLS support is loaded before entering the jail; it must not vanish there."""
    from nutpy.client.blocking import Client

    with Client("127.0.0.1", jailed.env.port, tls="force", certverify=True,
                certpath=str(jailed.env.root / "ca.pem"), certname=HOST) as c:
        assert c.tls_active
        assert c.get_var("eaton", "battery.charge") == "77"


def test_driver_runs_as_user_inside_the_jail(jailed):
    assert_dropped(jailed.driver.pid, jailed.user, jailed.jail)


def test_driver_socket_mode_and_owner(jailed):
    st = os.stat(jailed.state / "dummy-ups-eaton")
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_uid == jailed.user.pw_uid


def test_upsdrvctl_passes_user_and_chroot(jailed):
    env = jailed.env
    r = env.run([our_prog("upsdrvctl"), "-u", jailed.user.pw_name, "-r", str(jailed.jail),
                 "start", "second"], timeout=30)
    pidfile = jailed.state / "dummy-ups-second.pid"
    try:
        assert r.returncode == 0, r.stderr
        wait_for(pidfile.exists, 10, what="second driver's PID file inside the jail")
        pid = int(pidfile.read_text().split()[0])
        assert_dropped(pid, jailed.user, jailed.jail)
        st = os.stat(jailed.state / "dummy-ups-second")
        assert stat.S_IMODE(st.st_mode) == 0o660
    finally:
        if pidfile.exists():
            pid = int(pidfile.read_text().split()[0])
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


@pytest.mark.interop
def test_driver_socket_mode_as_c(tmp_path):
    """Run as root (no -u) both C's and our dummy-ups make a 0660 socket."""
    require_c_nut()
    env = NutEnv(tmp_path)
    (env.etc / "d.dev").write_text(DUMMY)
    env.write("ups.conf", f"[c]\n  driver = dummy-ups\n  port = {env.etc}/d.dev\n"
                          f"[ours]\n  driver = dummy-ups\n  port = {env.etc}/d.dev\n")
    try:
        env.start([c_prog("dummy-ups"), "-a", "c", "-u", "root", "-F"])
        env.start([our_prog("dummy-ups"), "-a", "ours", "-u", "root", "-F"])
        env.wait_socket("dummy-ups", "c")
        env.wait_socket("dummy-ups", "ours")
        modes = {n: stat.S_IMODE(os.stat(env.socket_path("dummy-ups", n)).st_mode)
                 for n in ("c", "ours")}
        assert modes == {"c": 0o660, "ours": 0o660}
    finally:
        env.close()


def upsd_warnings(prog: str, env: NutEnv) -> list[str]:
    """Start upsd, let it get through start-up, and return its world-readable lines."""
    p = env.start([prog, "-F", "-u", "root"])
    try:
        env.wait_port()
        ask(env.port, "VER")  # answered once start-up (users file included) is over
    finally:
        env.stop(p)
    err = p.stderr.read().decode(errors="replace") + p.stdout.read().decode(errors="replace")
    return sorted(line.split("\t")[-1].strip() for line in err.splitlines()
                  if "world readable" in line)


@pytest.mark.interop
def test_world_readable_warnings_as_c(tmp_path):
    require_c_nut()
    results = {}
    for name, prog in (("c", c_prog("upsd")), ("ours", our_prog("upsd"))):
        env = NutEnv(tmp_path / name)
        env.write("ups.conf", "")
        env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\nALLOW_NO_DEVICE true\n",
                  mode=0o644)
        env.write("upsd.users", "[admin]\n  password = x\n", mode=0o604)
        os.chmod(env.state, 0o775)
        try:
            warned = upsd_warnings(prog, env)
        finally:
            env.close()
        paths = {"upsd.conf": env.etc / "upsd.conf", "upsd.users": env.etc / "upsd.users",
                 "state": env.state}
        results[name] = sorted(k for k, p in paths.items()
                               if any(w.startswith((f"{p} ", f"WARNING: {p} "))
                                      for w in warned))
    assert results["c"] == results["ours"]
    assert len(results["ours"]) == 3, results


def test_private_files_give_no_warning(tmp_path):
    env = NutEnv(tmp_path)
    env.write("ups.conf", "")
    env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\nALLOW_NO_DEVICE true\n")
    env.write("upsd.users", "[admin]\n  password = x\n")
    try:
        assert upsd_warnings(our_prog("upsd"), env) == []
    finally:
        env.close()
