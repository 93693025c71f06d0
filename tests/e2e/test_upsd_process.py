"""upsd as a process: start-up messages and exit codes next to C upsd's, -h/-V, -c
reload/stop, PID files, duplicate-instance check, background mode, SIGHUP reload without
dropping clients, ALLOW_NO_DEVICE, world-readable warnings, listeners."""

from __future__ import annotations

import os
import signal
import socket

import pytest

from support.harness import (
    NutEnv,
    c_prog,
    help_shape,
    our_prog,
    port_open,
    require_c_nut,
    run_as_c,
    wait_for,
)
from support.upsd_support import FakeDriver, LineClient

USERS = "[admin]\n password = secret\n actions = SET FSD\n upsmon primary\n"


def setup(env: NutEnv, ups_conf: str | None = "[fake]\n driver = fake\n port = none\n",
          upsd_conf: str | None = None, users: str | None = USERS) -> None:
    if ups_conf is not None:
        env.write("ups.conf", ups_conf)
    if upsd_conf is None:
        upsd_conf = f"LISTEN 127.0.0.1 {env.port}\n"
    env.write("upsd.conf", upsd_conf)
    if users is not None:
        env.write("upsd.users", users)


def run_both(env: NutEnv, args: list[str], timeout: float = 10, **extra):
    out = {}
    for kind, prog in (("c", c_prog("upsd")), ("ours", our_prog("upsd"))):
        r = run_as_c(env.run, [prog] + args, timeout=timeout, **extra)
        out[kind] = (r.returncode, r.stdout, r.stderr)
    return out


@pytest.mark.interop
def test_help_and_version_like_c(nutenv):
    require_c_nut()
    setup(nutenv)
    for args in (["-h"], ["-V"], ["-c", "bogus"], ["extra-arg"]):
        out = run_both(nutenv, args)
        assert out["ours"][0] == out["c"][0] == 0
        # help texts are our own words; their interface (usage line, options) is C's
        assert help_shape(out["ours"][1]) == help_shape(out["c"][1]), args


@pytest.mark.interop
@pytest.mark.parametrize("scenario", ["no-upsd-conf", "no-ups-conf", "no-users", "no-ups",
                                      "bad-directives", "deprecated-p"])
def test_startup_errors_like_c(nutenv, scenario):
    require_c_nut()
    setup(nutenv)
    args = ["-F", "-u", "root"]
    expect = []
    if scenario == "no-upsd-conf":
        (nutenv.etc / "upsd.conf").unlink()
        expect = [f"stat {nutenv.etc}/upsd.conf: No such file or directory"]
    elif scenario == "no-ups-conf":
        (nutenv.etc / "ups.conf").unlink()
        p = f"{nutenv.etc}/ups.conf"
        expect = [f"Can't open {p}: Can't open {p}: No such file or directory"]
    elif scenario == "no-users":
        (nutenv.etc / "upsd.users").unlink()
        expect = [f"stat {nutenv.etc}/upsd.users: No such file or directory"]
    elif scenario == "no-ups":
        nutenv.write("ups.conf", "# nothing\n")
        expect = ["Fatal error: at least one UPS must be defined in ups.conf"]
    elif scenario == "bad-directives":
        nutenv.write("upsd.conf", f"LISTEN 127.0.0.1 {nutenv.port}\nmaxage 3\nMAXAGE x\n"
                                  "ACL a b\nACCEPT x\nMAXCONN\n")
        nutenv.write("ups.conf", "# nothing\n")
        expect = ["upsd.conf: invalid directive maxage 3", "MAXAGE has non numeric value (x)!",
                  "upsd.conf: invalid directive MAXAGE x",
                  "ACL in upsd.conf is no longer supported - switch to LISTEN",
                  "ACCEPT in upsd.conf is no longer supported - switch to LISTEN",
                  "upsd.conf: invalid directive MAXCONN"]
    elif scenario == "deprecated-p":
        args = ["-p", "3493"]
        expect = ["Specifying a listening addresses with '-i <address>' and '-p <port>'"]
    out = run_both(nutenv, args)
    assert out["ours"][0] == out["c"][0] == 1
    for kind in ("c", "ours"):
        text = out[kind][1] + out[kind][2]
        for line in expect:
            assert line in text, (kind, line, text)


def test_world_readable_warning(nutenv):
    setup(nutenv, ups_conf="# none\n")
    os.chmod(nutenv.etc / "upsd.conf", 0o644)
    r = nutenv.run([our_prog("upsd"), "-F", "-u", "root"])
    assert r.returncode == 1
    assert (f"WARNING: {nutenv.etc}/upsd.conf is world readable (hope you don't have "
            "passwords there)") in r.stderr


def _wait_serving(port: int) -> None:
    wait_for(lambda: port_open(port), 10, what="upsd port")


def test_sigterm_as_soon_as_pidfile_appears(nutenv):
    setup(nutenv)
    p = nutenv.start([our_prog("upsd"), "-FF", "-u", "root"])
    pidfile = nutenv.state / "upsd.pid"
    wait_for(pidfile.exists, 10, interval=0.0005, what="PID file")
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0
    assert not pidfile.exists()


def test_foreground_ff_pidfile_reload_and_stop(nutenv):
    fake = FakeDriver(str(nutenv.state / "fake-fake"))
    try:
        setup(nutenv)
        p = nutenv.start([our_prog("upsd"), "-FF", "-u", "root"])
        _wait_serving(nutenv.port)
        assert wait_for(lambda: nutenv.pid_of("upsd"), 5, what="PID file") == p.pid
        # duplicate instance refused
        r = nutenv.run([our_prog("upsd"), "-F", "-u", "root"])
        assert r.returncode == 1
        assert "Fatal error: A previous upsd instance is already running!" in r.stdout
        # -c reload: a logged-in client survives, the new UPS appears in front
        c = LineClient(nutenv.port)
        assert c.request("USERNAME admin") == [b"OK\n"]
        c.send("PASSWORD secret\nLOGIN fake\n")
        assert c.read_lines(2) == [b"OK\n", b"OK\n"]
        nutenv.write("ups.conf", "[fake]\n driver = fake\n port = none\n desc = \"new\"\n"
                                 "[b]\n driver = x\n port = y\n[a]\n driver = x\n port = y\n")
        nutenv.write("upsd.users", USERS + "[other]\n password = o\n actions = SET\n")
        assert nutenv.run([our_prog("upsd"), "-c", "reload"]).returncode == 0

        def reloaded():
            c2 = LineClient(nutenv.port)
            try:
                c2.send("LIST UPS\n")
                return c2.read_quiet(0.2)
            finally:
                c2.close()
        wait_for(lambda: b"UPS b " in reloaded(), 5, what="reload")
        assert reloaded() == (b'BEGIN LIST UPS\nUPS b "Description unavailable"\n'
                              b'UPS a "Description unavailable"\nUPS fake "new"\n'
                              b"END LIST UPS\n")
        assert c.request("GET NUMLOGINS fake") == [b"NUMLOGINS fake 1\n"]
        c3 = LineClient(nutenv.port)
        c3.send("USERNAME other\nPASSWORD o\nSET VAR fake ups.status OB\n")
        assert c3.read_lines(3) == [b"OK\n", b"OK\n", b"OK\n"]
        c3.close()
        # removing the UPS kicks its logged-in clients
        nutenv.write("ups.conf", "[b]\n driver = x\n port = y\n")
        assert nutenv.run([our_prog("upsd"), "-c", "reload"]).returncode == 0
        c.sock.settimeout(5)
        wait_for(lambda: c.sock.recv(100) == b"", 5, what="kick")
        c.close()
        r = nutenv.run([our_prog("upsd"), "-c", "stop"])
        assert r.returncode == 0
        p.wait(10)
        assert p.returncode == 0
        assert not (nutenv.state / "upsd.pid").exists()
        err = p.stderr.read().decode()
        assert "SIGHUP: reloading configuration" in err
        assert "Deleting UPS [fake]" in err
        assert "Kicking client 127.0.0.1 (was on UPS [fake])" in err
        assert "Signal 15: exiting" in err
    finally:
        fake.close()


def test_signal_without_pidfile_fails_like_c(nutenv):
    setup(nutenv)
    r = nutenv.run([our_prog("upsd"), "-c", "stop"])
    assert r.returncode == 1
    assert f"fopen {nutenv.state}/upsd.pid: No such file or directory" in r.stderr


def test_background_mode(nutenv):
    fake = FakeDriver(str(nutenv.state / "fake-fake"))
    try:
        setup(nutenv)
        r = nutenv.run([our_prog("upsd"), "-u", "root"])
        assert r.returncode == 0
        _wait_serving(nutenv.port)
        wait_for(lambda: nutenv.pid_of("upsd"), 5, what="PID file")
        c = LineClient(nutenv.port)
        assert c.request("NETVER") == [b"1.3\n"]
        c.close()
    finally:
        nutenv.kill_pidfile("upsd")
        fake.close()


def test_allow_no_device(nutenv):
    setup(nutenv, ups_conf="# none yet\n", upsd_conf=f"LISTEN 127.0.0.1 {nutenv.port}\n"
                                                     "ALLOW_NO_DEVICE true\n")
    p = nutenv.start([our_prog("upsd"), "-F", "-u", "root"])
    _wait_serving(nutenv.port)
    c = LineClient(nutenv.port)
    c.send("LIST UPS\n")
    assert c.read_lines(2) == [b"BEGIN LIST UPS\n", b"END LIST UPS\n"]
    c.close()
    nutenv.stop(p)
    assert b"Normally at least one UPS must be defined" in p.stderr.read()


def test_default_listeners_and_family_flags(nutenv):
    setup(nutenv, upsd_conf="")
    # default port 3493 may be taken by another test run: only check when free
    if port_open(3493) or port_open(3493, "::1"):
        pytest.skip("port 3493 in use")
    p = nutenv.start([our_prog("upsd"), "-F", "-u", "root", "-4"])
    wait_for(lambda: port_open(3493), 10, what="3493")
    assert not port_open(3493, "::1")
    nutenv.stop(p)


def test_listen_star_and_several(nutenv):
    from support.harness import free_port

    other = free_port()
    while other == nutenv.port:
        other = free_port()
    setup(nutenv, upsd_conf=f"LISTEN * {nutenv.port}\nLISTEN 127.0.0.1 {other}\n")
    p = nutenv.start([our_prog("upsd"), "-F", "-u", "root"])
    wait_for(lambda: port_open(other), 10, what="second listener")
    assert port_open(nutenv.port)
    nutenv.stop(p)
    err = p.stderr.read().decode()
    assert f"listening on 0.0.0.0 port {nutenv.port}" in err


def test_unavailable_listener_is_fatal_unless_allowed(nutenv):
    setup(nutenv, upsd_conf=f"LISTEN 127.0.0.1 {nutenv.port}\nLISTEN 192.0.2.1 {nutenv.port}\n")
    r = nutenv.run([our_prog("upsd"), "-F", "-u", "root"], timeout=10)
    assert r.returncode == 1
    assert f"not listening on 192.0.2.1 port {nutenv.port}" in r.stderr
    assert "Fatal error: some listening interfaces were not available" in r.stderr
    p = nutenv.start([our_prog("upsd"), "-F", "-u", "root"], ALLOW_NOT_ALL_LISTENERS="yes")
    _wait_serving(nutenv.port)
    nutenv.stop(p)


def test_starttls_discards_pipelined_bytes(nutenv):
    """Bytes sent after STARTTLS in the same packet are never executed: the clear-text
    side sees only OK STARTTLS, and the first TLS reply answers the first TLS request."""
    import ssl

    from support import certs
    pytest.importorskip("nutpy.security.tls")
    ca = certs.make_ca()
    server_cert = certs.issue(ca, "localhost", dns=["localhost"], ips=["127.0.0.1"])
    pem = server_cert.write_pem(nutenv.etc / "upsd.pem")
    os.chmod(pem, 0o600)
    fake = FakeDriver(str(nutenv.state / "fake-fake"))
    try:
        setup(nutenv, upsd_conf=f"LISTEN 127.0.0.1 {nutenv.port}\nCERTFILE {pem}\n")
        p = nutenv.start([our_prog("upsd"), "-F", "-u", "root"])
        _wait_serving(nutenv.port)
        ctx = ssl.create_default_context(cadata=ca.cert_pem.decode())
        s = socket.create_connection(("127.0.0.1", nutenv.port), timeout=5)
        s.sendall(b"STARTTLS\nUSERNAME admin\nNETVER\n")
        got = b""
        while not got.endswith(b"\n"):
            got += s.recv(1)
        assert got == b"OK STARTTLS\n"
        t = ctx.wrap_socket(s, server_hostname="localhost")
        t.sendall(b"USERNAME admin\nSTARTTLS\n")
        data = b""
        while data.count(b"\n") < 2:
            data += t.recv(4096)
        # USERNAME was not set by the discarded clear-text line; TLS is already on
        assert data == b"OK\nERR ALREADY-SSL-MODE\n"
        t.close()
        nutenv.stop(p)
    finally:
        fake.close()


def test_privilege_drop_with_u():
    """Listeners opened as root, then the process runs as the -u user and still serves."""
    import pwd

    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    if os.geteuid() != 0:
        pytest.skip("needs root")
    import shutil
    import tempfile
    from pathlib import Path

    # pytest's tmp dirs sit under a root-only directory the dropped user cannot enter
    root = Path(tempfile.mkdtemp(prefix="nutpy-upsd-priv-"))
    nutenv = NutEnv(root)
    fake = FakeDriver(str(nutenv.state / "fake-fake"))
    try:
        setup(nutenv)
        for f in nutenv.etc.iterdir():
            os.chown(f, nobody.pw_uid, nobody.pw_gid)
        os.chown(nutenv.state, 0, nobody.pw_gid)
        os.chown(nutenv.state / "fake-fake", nobody.pw_uid, nobody.pw_gid)  # driver's user
        os.chmod(nutenv.root, 0o755)
        os.chmod(nutenv.etc, 0o755)
        p = nutenv.start([our_prog("upsd"), "-F", "-u", "nobody"])
        _wait_serving(nutenv.port)
        c = LineClient(nutenv.port)
        wait_for(lambda: c.request("GET VAR fake ups.status") == [b'VAR fake ups.status "OL"\n'],
                 10, what="data")
        c.close()
        status = open(f"/proc/{p.pid}/status").read()
        uid_line = next(x for x in status.splitlines() if x.startswith("Uid:"))
        assert uid_line.split()[1:] == [str(nobody.pw_uid)] * 4
        nutenv.stop(p)
    finally:
        fake.close()
        nutenv.close()
        shutil.rmtree(root, ignore_errors=True)


def test_chroot_with_r(tmp_path):
    """-r: upsd.conf, ups.conf, upsd.users and the driver socket are found inside the
    chroot, at the configured paths."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    jail = tmp_path / "jail"
    (jail / "nutetc").mkdir(parents=True)
    (jail / "nutstate").mkdir(mode=0o770)
    env = NutEnv(tmp_path / "outside")
    port = env.port
    fake = FakeDriver(str(jail / "nutstate" / "fake-fake"))
    try:
        for name, text in (("ups.conf", "[fake]\n driver = fake\n port = none\n"),
                           ("upsd.conf", f"LISTEN 127.0.0.1 {port}\n"), ("upsd.users", USERS)):
            (jail / "nutetc" / name).write_text(text)
            os.chmod(jail / "nutetc" / name, 0o640)
        p = env.start([our_prog("upsd"), "-F", "-u", "root", "-r", str(jail)],
                      NUT_CONFPATH="/nutetc", NUT_STATEPATH="/nutstate",
                      NUT_ALTPIDPATH="/nutstate")
        wait_for(lambda: port_open(port) or p.poll() is not None, 10, what="port")
        assert p.poll() is None, p.stderr.read()
        c = LineClient(port)
        wait_for(lambda: c.request("GET VAR fake ups.status") == [b'VAR fake ups.status "OL"\n'],
                 10, what="data")
        c.send("USERNAME admin\nPASSWORD secret\nSET VAR fake ups.status OB\n")
        assert c.read_lines(3) == [b"OK\n", b"OK\n", b"OK\n"]
        c.close()
        env.stop(p)
        assert p.returncode == 0
    finally:
        fake.close()
        env.close()
