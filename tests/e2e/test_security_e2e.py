"""Security end to end through real processes: what crosses the wire (a recording TCP
proxy between client and upsd), C upsmon 2.8.0 (an NSS build) over STARTTLS to our upsd,
our programs and library, STARTTLS with pipelined commands, and certificate checks.

One of our upsd (TLS, PEM CERTFILE) behind C dummy-ups is shared by the module; a second
upsd without TLS plays the plaintext-only server."""

from __future__ import annotations

import os
import select
import socket
import ssl
import subprocess
import threading
import time

import pytest

from nutpy.client.blocking import Client
from nutpy.client.core import NutError
from nutpy.security import tls
from support import certs
from support.harness import NutEnv, c_prog, dump_complete, our_prog, wait_for

HOST = "ups.example.com"
SECRET = "mon-very-secret"
ADMIN_SECRET = "admin-very-secret"
DUMMY = "ups.status: OL\nbattery.charge: 91\nups.mfr: nutpy\n"


class RecordingProxy:
    """Forwards 127.0.0.1:<port> to a target and keeps every byte each way, so a test
    can say what an eavesdropper on the link would have seen."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.to_server = bytearray()
        self.to_client = bytearray()
        self.connections = 0
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopping:
            r, _, _ = select.select([self.listener], [], [], 0.2)
            if not r:
                continue
            try:
                c, _ = self.listener.accept()
                s = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                continue
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._pump, args=(c, s), daemon=True).start()

    def _pump(self, c: socket.socket, s: socket.socket) -> None:
        pairs = {c: (s, self.to_server), s: (c, self.to_client)}
        try:
            while not self.stopping:
                r, _, _ = select.select(list(pairs), [], [], 0.2)
                for src in r:
                    data = src.recv(65536)
                    if not data:
                        return
                    dst, record = pairs[src]
                    with self.lock:
                        record += data
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            c.close()
            s.close()

    def seen(self) -> bytes:
        with self.lock:
            return bytes(self.to_server)

    def close(self) -> None:
        self.stopping = True
        self.thread.join(2)
        self.listener.close()


def ask(port: int, *lines: str) -> list[str]:
    """Plain-text questions straight to upsd (not through a proxy)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        f = s.makefile("rb")
        out = []
        for line in lines:
            s.sendall(line.encode() + b"\n")
            out.append(f.readline().decode().rstrip("\n"))
            if out[-1].startswith("BEGIN LIST"):
                while not (row := f.readline().decode().rstrip("\n")).startswith("END"):
                    out.append(row)
        return out


def start_logged(env: NutEnv, argv: list[str], log_name: str, **extra) -> subprocess.Popen:
    """Like env.start but output goes to a file (upsmon -D talks a lot; a pipe fills)."""
    log = open(env.root / log_name, "wb")
    p = subprocess.Popen(argv, env=env.env(**extra), stdin=subprocess.DEVNULL, stdout=log,
                         stderr=subprocess.STDOUT)
    log.close()
    env.procs.append(p)
    return p


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("security-e2e")
    env = NutEnv(root)
    ca = certs.make_ca()
    server = certs.issue(ca, HOST, [HOST, "localhost"], ["127.0.0.1"])
    (root / "ca.pem").write_bytes(ca.cert_pem)
    pem = server.write_pem(root / "upsd.pem")
    (env.etc / "eaton.dev").write_text(DUMMY)
    env.write("ups.conf", f"[eaton]\n  driver = dummy-ups\n  port = {env.etc}/eaton.dev\n")
    env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\nCERTFILE {pem}\n")
    env.write("upsd.users", f"[mon]\n  password = {SECRET}\n  upsmon secondary\n"
                            f"[admin]\n  password = {ADMIN_SECRET}\n  actions = SET\n"
                            f"  instcmds = all\n")
    env.start([our_prog("dummy-ups"), "-a", "eaton", "-u", "root", "-F"])
    env.wait_socket("dummy-ups", "eaton")
    allow, deny = root / "hosts.allow", root / "hosts.deny"
    allow.write_text("")
    deny.write_text("")
    start_logged(env, [our_prog("upsd"), "-F", "-u", "root"], "upsd.log",
                 NUTPY_HOSTS_ALLOW=str(allow), NUTPY_HOSTS_DENY=str(deny))
    env.wait_port()
    wait_for(lambda: dump_complete(ask(env.port, "GET VAR eaton ups.status")[0]), 15,
             what="upsd serving eaton")

    # the plaintext-only server: same data, no certificate
    plain = NutEnv(root / "plain")
    plain.write("ups.conf", f"[eaton]\n  driver = dummy-ups\n  port = {env.etc}/eaton.dev\n")
    plain.write("upsd.conf", f"LISTEN 127.0.0.1 {plain.port}\n")
    plain.write("upsd.users", f"[mon]\n  password = {SECRET}\n  upsmon secondary\n")
    plain.start([our_prog("upsd"), "-F", "-u", "root"], NUT_STATEPATH=str(env.state))
    plain.wait_port()

    nssdb = None
    if certs.have_nss_tools():
        nssdb = certs.make_nss_db(root / "upsmon-nssdb", cas={"test CA": (ca, "CT,,")})
    yield type("Stack", (), dict(env=env, port=env.port, plain_port=plain.port, ca=ca,
                                 ca_pem=root / "ca.pem", root=root, nssdb=nssdb,
                                 server=server, allow=allow, deny=deny))
    plain.close()
    env.close()


@pytest.fixture
def proxy(stack):
    made = []

    def make(port=None):
        p = RecordingProxy(port or stack.port)
        made.append(p)
        return p
    yield make
    for p in made:
        p.close()


def assert_no_credentials(wire: bytes, *secrets: str) -> None:
    for word in (b"USERNAME", b"PASSWORD", *(s.encode() for s in secrets)):
        assert word not in wire, f"{word!r} crossed the link in clear: {wire[:300]!r}"


# -- C upsmon ---------------------------------------------------------------------------

def upsmon_conf(stack, port: int, name: str, **directives: str) -> str:
    d = stack.root / f"upsmon-{name}"
    d.mkdir()
    lines = [f"MONITOR eaton@127.0.0.1:{port} 1 mon {SECRET} secondary",
             "MINSUPPLIES 1", 'SHUTDOWNCMD "/bin/true"', f"POWERDOWNFLAG {d}/killpower",
             "POLLFREQ 2", "POLLFREQALERT 2", "DEADTIME 30"]
    lines += [f"{k} {v}" for k, v in directives.items()]
    (d / "upsmon.conf").write_text("\n".join(lines) + "\n")
    os.chmod(d / "upsmon.conf", 0o600)
    return str(d)


def start_upsmon(stack, confdir: str, name: str) -> subprocess.Popen:
    # -p: one privileged process (no child to chase at teardown); -D: stay in front
    env = stack.env
    log = open(stack.root / f"{name}.log", "wb")
    # C 2.8.0 upsmon ignores NUT_PIDPATH and insists on one instance per
    # /run/nut/upsmon.pid: give each its own empty /run/nut in a private mount namespace
    p = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                          'mount -t tmpfs nutpy-test /run/nut && exec "$0" -p -D',
                          c_prog("upsmon")],
                         env=env.env(NUT_CONFPATH=confdir, NUT_STATEPATH=confdir,
                                     NUT_ALTPIDPATH=confdir, NUT_PIDPATH=confdir),
                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    env.procs.append(p)
    return p


def require_private_run_nut() -> None:
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        "mount -t tmpfs nutpy-test /run/nut"], capture_output=True)
    if r.returncode != 0 or not os.path.isdir("/run/nut"):
        pytest.skip("needs root with mount namespaces (unshare) and /run/nut for C upsmon")


def numlogins(stack) -> int:
    return int(ask(stack.port, "GET NUMLOGINS eaton")[0].split()[-1])


@pytest.mark.interop
def test_c_upsmon_logs_in_over_verified_tls_and_nothing_leaks(stack, proxy):
    """The issue's first 'must show', plus the refusals that go with it: several C
    upsmon instances run at once (one wait for all); only the well-configured one may
    log in, and none may show USERNAME/PASSWORD to the proxy."""
    if stack.nssdb is None:
        certs.require_nss_tools()
    require_private_run_nut()
    good = proxy()
    plain = proxy(stack.plain_port)
    wrong_name = proxy()
    untrusted = proxy()
    other_db = certs.make_nss_db(stack.root / "untrusted-nssdb",
                                 cas={"other CA": (certs.make_ca("other CA"), "CT,,")})
    strict = dict(CERTPATH=str(stack.nssdb), CERTVERIFY="1", FORCESSL="1")
    runs = {
        "good": (good, upsmon_conf(stack, good.port, "good", **strict)),
        "plain": (plain, upsmon_conf(stack, plain.port, "plain", **strict)),
        "wrong-name": (wrong_name, upsmon_conf(
            stack, wrong_name.port, "wrong-name",
            CERTHOST=f"127.0.0.1 not-{HOST} 1 1", **strict)),
        "untrusted": (untrusted, upsmon_conf(
            stack, untrusted.port, "untrusted", CERTPATH=str(other_db), CERTVERIFY="1",
            FORCESSL="1")),
    }
    procs = {name: start_upsmon(stack, d, name) for name, (_, d) in runs.items()}
    try:
        check_upsmon_runs(stack, runs, procs, good, plain)
    finally:
        for p in procs.values():
            stack.env.stop(p)


def check_upsmon_runs(stack, runs, procs, good, plain) -> None:
    wait_for(lambda: numlogins(stack) >= 1, 20, interval=0.2,
             what="C upsmon to log in over TLS")
    # the refused ones retry (every 5 s): wait for a second attempt from each
    wait_for(lambda: all(p.connections >= 2 for n, (p, _) in runs.items() if n != "good"),
             15, interval=0.2, what="every refused upsmon to try twice")
    clients = ask(stack.port, "LIST CLIENT eaton")
    assert clients[0] == "BEGIN LIST CLIENT eaton"
    assert clients[1:] == ["CLIENT eaton 127.0.0.1"], clients
    assert numlogins(stack) == 1
    for name, (p, _) in runs.items():
        wire = p.seen()
        assert wire.startswith(b"STARTTLS\n"), (name, wire[:100])
        assert_no_credentials(wire, SECRET)
        assert procs[name].poll() is None, f"upsmon {name} died"
    # the good one really speaks TLS after STARTTLS: a TLS record follows
    assert good.seen()[len(b"STARTTLS\n")] == 0x16
    assert good.to_client.startswith(b"OK STARTTLS\n")
    assert plain.to_client.startswith(b"ERR FEATURE-NOT-CONFIGURED\n")
    assert good.connections == 1  # stayed logged in
    logs = {n: (stack.root / f"{n}.log").read_text(errors="replace") for n in runs}
    assert "Logged into UPS eaton@" in logs["good"], logs["good"]
    assert "Intend to authenticate server 127.0.0.1 : SUCCESS" in logs["good"]
    for name in ("wrong-name", "untrusted"):
        assert "Certificate validation failed for 127.0.0.1" in logs[name], logs[name]
        assert "Logged into UPS" not in logs[name]
    assert "connect failed: SSL is not available" in logs["plain"], logs["plain"]


# -- our programs and library -------------------------------------------------------------

def test_our_programs_send_credentials_only_inside_tls(stack, proxy):
    p = proxy()
    env = stack.env
    target = f"eaton@127.0.0.1:{p.port}"
    r = env.run([our_prog("upsrw"), "-s", "ups.mfr=x", "-u", "admin", "-p", ADMIN_SECRET,
                 target])
    assert "Unexpected response" not in r.stderr  # got an answer through TLS
    r2 = env.run([our_prog("upscmd"), "-u", "admin", "-p", ADMIN_SECRET, target,
                  "test.battery.start"])
    r3 = env.run([our_prog("upsc"), target, "battery.charge"])
    assert r3.returncode == 0 and r3.stdout.strip() == "91", r3
    wire = p.seen()
    assert wire.count(b"STARTTLS\n") == 3, wire
    assert_no_credentials(wire, ADMIN_SECRET)
    assert b"battery.charge" not in wire
    assert p.connections == 3, (r.stderr, r2.stderr)


def test_library_forced_tls_verifies_and_hides_credentials(stack, proxy):
    p = proxy()
    with Client("127.0.0.1", p.port, tls="force", certverify=True,
                certpath=str(stack.ca_pem), certname=HOST) as c:
        assert c.tls_active
        c.authenticate("mon", SECRET)
        c.login("eaton")
        assert c.num_logins("eaton") >= 1
    assert_no_credentials(p.seen(), SECRET)


def test_library_refuses_plaintext_server_before_credentials(stack, proxy):
    p = proxy(stack.plain_port)
    with pytest.raises(NutError):
        with Client("127.0.0.1", p.port, tls="force") as c:
            c.authenticate("mon", SECRET)
    wait_for(lambda: p.connections == 1, 5)
    time.sleep(0.1)
    assert p.seen() == b"STARTTLS\n"


@pytest.mark.parametrize("case", ["wrong-name", "untrusted-ca"])
def test_library_certverify_refusals(stack, proxy, case):
    p = proxy()
    certpath, name = str(stack.ca_pem), HOST
    if case == "wrong-name":
        name = "other.example.com"
    else:
        other = stack.root / "other-ca.pem"
        other.write_bytes(certs.make_ca("other CA").cert_pem)
        certpath = str(other)
    with pytest.raises(NutError):
        with Client("127.0.0.1", p.port, tls="force", certverify=True,
                    certpath=certpath, certname=name) as c:
            c.authenticate("mon", SECRET)
    assert_no_credentials(p.seen(), SECRET)


# -- upsd side ------------------------------------------------------------------------------

def test_starttls_with_pipelined_command_never_answers_in_clear(stack):
    """``STARTTLS\\nLIST UPS\\n`` in one write: the bytes after STARTTLS must not be
    run as a clear-text command (a man in the middle could inject them; see
    CVE-2011-0411 for the class). Our upsd drops them; the handshake that follows is
    then spoiled by nothing, and the TLS session starts clean."""
    ctx = tls.client_context(str(stack.ca_pem), True)
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as s:
        s.sendall(b"STARTTLS\nLIST UPS\n")
        reply = b""
        deadline = time.monotonic() + 3
        s.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                data = s.recv(4096)
            except socket.timeout:
                break
            if not data:
                break
            reply += data
        assert reply == b"OK STARTTLS\n", reply
        t = ctx.wrap_socket(s, server_hostname=HOST)
        t.sendall(b"VER\n")
        answer = t.recv(4096)
        assert answer.startswith(b"Network UPS Tools upsd"), answer
        t.sendall(b"LIST UPS\n")
        first = t.recv(4096)
        assert first.startswith(b"BEGIN LIST UPS"), first


def test_starttls_handshake_does_not_block_other_clients(stack):
    """A client that asks for STARTTLS and then goes silent holds only its own
    connection."""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as s:
        s.sendall(b"STARTTLS\n")
        assert s.recv(100) == b"OK STARTTLS\n"
        t0 = time.monotonic()
        assert ask(stack.port, "GET VAR eaton battery.charge") == ['VAR eaton battery.charge "91"']
        assert time.monotonic() - t0 < 2


def test_certrequest_require_refuses_client_without_valid_certificate(stack, tmp_path):
    env = NutEnv(tmp_path / "certreq")
    client = certs.issue(stack.ca, "upsmon client", client=True)
    stranger = certs.issue(certs.make_ca("stranger CA"), "stranger", client=True)
    pem = stack.server.write_pem(tmp_path / "upsd.pem")
    env.write("ups.conf", "")
    env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\nCERTFILE {pem}\n"
                           f"CERTPATH {stack.ca_pem}\nCERTREQUEST REQUIRE\n"
                           f"ALLOW_NO_DEVICE true\n")
    env.write("upsd.users", "[admin]\n  password = x\n")
    try:
        env.start([our_prog("upsd"), "-F", "-u", "root"])
        env.wait_port()

        def attempt(identity) -> str:
            certfile = str(identity.write_pem(tmp_path / "client.pem")) if identity else None
            with Client("127.0.0.1", env.port, tls="force", certverify=True,
                        certpath=str(stack.ca_pem), certname=HOST,
                        certfile=certfile) as c:
                return c.ver()

        assert attempt(client).startswith("Network UPS Tools upsd")
        for identity in (None, stranger):
            with pytest.raises((NutError, OSError)):
                attempt(identity)
    finally:
        env.close()


def test_first_command_sent_with_the_handshake_is_answered_inside_tls(stack):
    """A TLS 1.3 client may send its Finished message and its first command in one
    segment (a proxy or a busy network coalesces them). upsd must answer that command
    through TLS, never with clear text on the raw socket."""
    ctx = tls.client_context(str(stack.ca_pem), True)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls_obj = ctx.wrap_bio(incoming, outgoing, server_hostname=HOST)
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as s:
        s.sendall(b"STARTTLS\n")
        got = b""
        while not got.endswith(b"\n"):
            got += s.recv(1)
        assert got == b"OK STARTTLS\n"
        while True:
            try:
                tls_obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                if outgoing.pending:
                    s.sendall(outgoing.read())
                data = s.recv(65536)
                assert data, "upsd closed during the handshake"
                incoming.write(data)
        tls_obj.write(b"USERNAME mon\n")
        s.sendall(outgoing.read())  # client Finished + the command, one write
        raw = b""
        plain = b""
        deadline = time.monotonic() + 5
        while b"\n" not in plain and time.monotonic() < deadline:
            data = s.recv(65536)
            if not data:
                break
            raw += data
            incoming.write(data)
            try:
                plain += tls_obj.read(65536)
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as e:
                pytest.fail(f"upsd answered outside TLS: {raw[:60]!r} ({e})")
        assert not raw.startswith(b"OK"), raw[:60]
        assert plain == b"OK\n", (plain, raw[:60])


@pytest.mark.interop
def test_c_upsd_starttls_with_pipelined_command(tmp_path, stack):
    """What C 2.8.0 (NSS build) does with ``STARTTLS\\nLIST UPS\\n`` in one write, for
    docs/security.md: it answers ``OK STARTTLS`` only; the pipelined bytes are never
    run in clear (NSS then reads them as a broken handshake)."""
    certs.require_nss_tools()
    env = NutEnv(tmp_path / "c-upsd")
    db = certs.make_nss_db(tmp_path / "nssdb", {"ups1": stack.server},
                           {"CA": (stack.ca, "CT,,")}, password="pw", issuer=stack.ca)
    env.write("ups.conf", "")
    env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\nCERTPATH {db}\n"
                           f"CERTIDENT ups1 pw\nALLOW_NO_DEVICE true\n")
    env.write("upsd.users", "[admin]\n  password = x\n")
    try:
        env.start([c_prog("upsd"), "-F", "-u", "root"])
        env.wait_port()
        with socket.create_connection(("127.0.0.1", env.port), timeout=5) as s:
            s.sendall(b"STARTTLS\nLIST UPS\n")
            s.settimeout(1.0)
            got = b""
            try:
                while data := s.recv(4096):
                    got += data
            except socket.timeout:
                pass
        assert got == b"OK STARTTLS\n", got
    finally:
        env.close()


def auth_reply(port: int, password: str, source: str = "127.0.0.1",
               command: str = "LOGIN eaton") -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5,
                                  source_address=(source, 0)) as s:
        f = s.makefile("rb")
        for line in ("USERNAME mon", f"PASSWORD {password}", command):
            s.sendall(line.encode() + b"\n")
            reply = f.readline().decode().rstrip("\n")
        return reply


@pytest.mark.parametrize("rules, expected", [
    ("upsd@127.0.0.1: ALL\n", "ERR ACCESS-DENIED"),     # the address the client reached
    ("upsd@10.9.8.7: ALL\n", "OK"),
    ("upsd: mon@127.0.0.1\n", "ERR ACCESS-DENIED"),
    ("upsd: ALL EXCEPT mon@127.0.0.0/8\n", "OK"),
])
def test_tcp_wrappers_server_and_user_patterns_through_upsd(stack, rules, expected):
    try:
        stack.deny.write_text(rules)
        assert auth_reply(stack.port, SECRET, command="SET TRACKING ON") == expected
    finally:
        stack.deny.write_text("")


def test_failed_logins_are_slowed_never_refused(stack):
    """Wrong passwords from 127.0.0.2 are answered late (C's reply), and the right one
    from there still gets in at once: the throttle slows failures down and never locks a
    user out (nutpy only, docs/security.md section 2)."""
    for _ in range(3):
        assert auth_reply(stack.port, "wrong", "127.0.0.2") == "ERR ACCESS-DENIED"
    assert auth_reply(stack.port, SECRET, "127.0.0.2") == "OK"
    assert auth_reply(stack.port, SECRET, "127.0.0.3") == "OK"


def test_unusable_hashed_entry_is_reported_at_load(tmp_path):
    env = NutEnv(tmp_path / "badhash")
    env.write("ups.conf", "")
    env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\nALLOW_NO_DEVICE true\n")
    env.write("upsd.users", "[mon]\n  password = {PBKDF2-SHA256}12$abc$def\n"
                            "[ok]\n  password = plain\n")
    try:
        p = env.start([our_prog("upsd"), "-F", "-u", "root"])
        env.wait_port()
        ask(env.port, "VER")
        env.stop(p)
        err = p.stderr.read().decode()
    finally:
        env.close()
    assert f"{env.etc}/upsd.users: user mon: unusable password entry (" in err, err
    assert "user ok" not in err


def test_silent_client_after_starttls_is_dropped_at_the_handshake_timeout(stack, tmp_path):
    """The handshake after ``OK STARTTLS`` has a deadline (10 s; shortened here through
    NUTPY_UPSD_TLS_HANDSHAKE_TIMEOUT), well before the 60 s idle timeout."""
    env = NutEnv(tmp_path / "hs")
    pem = stack.server.write_pem(tmp_path / "upsd.pem")
    env.write("ups.conf", "")
    env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\nCERTFILE {pem}\n"
                           f"ALLOW_NO_DEVICE true\n")
    env.write("upsd.users", "[admin]\n  password = x\n")
    try:
        env.start([our_prog("upsd"), "-F", "-u", "root"],
                  NUTPY_UPSD_TLS_HANDSHAKE_TIMEOUT="1")
        env.wait_port()
        with socket.create_connection(("127.0.0.1", env.port), timeout=8) as s:
            s.sendall(b"STARTTLS\n")
            assert s.recv(100) == b"OK STARTTLS\n"
            t0 = time.monotonic()
            try:
                assert s.recv(100) == b""      # closed by upsd, nothing sent
            except ConnectionResetError:
                pass
            assert 0.8 < time.monotonic() - t0 < 5
    finally:
        env.close()
