"""Slow checks in upsd run off its event loop: a hashed upsd.users password being derived,
or a tcp-wrappers rule waiting on a host name lookup, on one connection must not delay
any other client, and requests pipelined behind such a check are answered in order with
the same bytes as before. The core is driven directly; the asyncio layer runs in a thread
(real sockets on 127.0.0.1, no driver: the UPS state is set in the core)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import threading
import time

import pytest

from nutpy.common import parseconf
from nutpy.security import passwords, tcpwrappers
from nutpy.upsd import auth, config, main, protocol
from nutpy.upsd.auth import Deferred
from nutpy.upsd.protocol import Server, Session
from nutpy.upsd.server import CheckQueue, ClientConn, Daemon
from nutpy.upsd.state import Ups
from support.upsd_support import LineClient


def _iterations_for(seconds: float) -> int:
    """PBKDF2 iterations that take at least ``seconds`` on this machine: timed at its
    fastest of three runs, so a busy moment while measuring does not make it short."""
    n = 20_000
    fastest = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        hashlib.pbkdf2_hmac("sha256", b"x", b"salt" * 4, n, 32)
        fastest = min(fastest, time.perf_counter() - t0)
    return max(1_000, min(50_000_000, int(seconds * n / fastest)))


def _unguessable_entry(iterations: int) -> str:
    """A hashed entry no password matches: every check costs a full derivation, and
    building it costs none."""
    def b64(b: bytes) -> str:
        return base64.b64encode(b).decode().rstrip("=")
    return f"{passwords.PBKDF2_TAG}{iterations}${b64(os.urandom(16))}${b64(os.urandom(32))}"


SLOW_ITERATIONS = _iterations_for(0.6)
QUICK_HASH = passwords.hash_password("right", iterations=1_000)


def _users(slow_entry: str, hashed: str = QUICK_HASH) -> config.Users:
    text = (f"[slow]\n password = \"{slow_entry}\"\n upsmon secondary\n"
            f"[hashed]\n password = \"{hashed}\"\n upsmon secondary\n"
            "[plain]\n password = plainpw\n upsmon secondary\n")
    users, msgs = config.parse_users(parseconf.parse_text(text.encode()), "upsd.users")
    assert not [m for m in msgs if m.level in ("error", "fatal")], msgs
    return users


def _server(users: config.Users) -> Server:
    server = Server(users=users)
    ups = Ups("dummy", "dummy-ups-dummy")
    ups.connected = True
    ups.data.setinfo("ups.status", "OL")
    ups.data.setinfo("battery.charge", "100")
    server.add_ups(ups)
    return server


def _words(line: str) -> list[str]:
    return parseconf.split_line(line)


# -- core ------------------------------------------------------------------------------


def _run(server: Server, s: Session, line: str) -> tuple[bytes, int]:
    """Reply to ``line`` as the daemon would produce it; how many checks were deferred."""
    reply = server.handle(s, _words(line))
    deferred = 0
    while isinstance(reply, Deferred):
        deferred += 1
        reply = reply.resume(reply.work())
    return reply, deferred


def test_core_defers_only_slow_checks():
    slow = _unguessable_entry(1_000)
    server = _server(_users(slow))
    s = Session("127.0.0.1")
    server.open_session(s)
    for line in ("USERNAME plain", "PASSWORD plainpw"):
        assert server.handle(s, _words(line)) == b"OK\n"
    assert server.handle(s, _words("LOGIN dummy")) == b"OK\n"  # plaintext: synchronous

    h = Session("127.0.0.1")
    server.open_session(h)
    server.handle(h, _words("USERNAME hashed"))
    server.handle(h, _words("PASSWORD right"))
    first = server.handle(h, _words("PRIMARY dummy"))
    assert isinstance(first, Deferred)
    assert first.resume(first.work()) == protocol.E_ACCESS_DENIED  # secondary only
    # the success is remembered: the next check answers at once
    assert server.handle(h, _words("LOGIN dummy")) == b"OK\n"

    w = Session("127.0.0.1")
    server.open_session(w)
    server.handle(w, _words("USERNAME slow"))
    server.handle(w, _words("PASSWORD guess"))
    assert _run(server, w, "LOGIN dummy") == (protocol.E_ACCESS_DENIED, 1)
    assert _run(server, w, "LOGIN dummy") == (protocol.E_ACCESS_DENIED, 1)  # failures not cached
    assert w.loginups is None and w.answers is None


def test_core_deferred_replies_match_synchronous_ones():
    """Same bytes and the same side effects as running the check in place."""
    slow = _unguessable_entry(1_000)
    lines = ["USERNAME hashed", "PASSWORD right", "LOGIN nosuch", "LOGIN dummy",
             "LOGIN dummy", "FSD dummy", "SET VAR dummy ups.status x", "INSTCMD dummy x"]
    server = _server(_users(slow))
    s = Session("127.0.0.1")
    server.open_session(s)
    deferred_replies = [_run(server, s, ln)[0] for ln in lines]
    ref = _server(_users(slow))
    # the reference answers every check in place
    ref._password_ok = lambda s, stored, given: config.password_matches(stored, given)
    r = Session("127.0.0.1")
    ref.open_session(r)
    assert deferred_replies == [ref.handle(r, _words(ln)) for ln in lines]
    assert server.find("dummy").numlogins == ref.find("dummy").numlogins == 1


def test_core_throttle_counts_deferred_failures():
    """A wrong hashed password is checked off the loop, then held by the throttle like a
    plaintext one, counted once per request; a right one is never held."""
    server = _server(_users(_unguessable_entry(1_000)))
    server.auth.throttle = passwords.LoginThrottle(max_waiting=100)
    s = Session("192.0.2.7")
    server.open_session(s)
    server.handle(s, _words("USERNAME slow"))
    server.handle(s, _words("PASSWORD guess"))
    held = []
    for _ in range(3):
        reply = server.handle(s, _words("LOGIN dummy"))
        assert isinstance(reply, Deferred)
        held.append(reply.resume(reply.work()))
    assert all(isinstance(h, auth.Held) and h.reply == protocol.E_ACCESS_DENIED
               for h in held)
    assert [h.delay for h in held] == [0.25, 0.5, 1.0]
    assert server.auth.throttle.failures("192.0.2.7") == 3
    assert server.auth.throttle.failures("192.0.2.8") == 0
    r = Session("192.0.2.7")
    server.open_session(r)
    server.handle(r, _words("USERNAME hashed"))
    server.handle(r, _words("PASSWORD right"))
    assert _run(server, r, "LOGIN dummy")[0] == b"OK\n"


def test_core_chains_hosts_then_password():
    # a fresh entry: no success remembered yet
    fresh = passwords.hash_password("right", iterations=1_000)
    server = _server(_users(_unguessable_entry(1_000), fresh))
    asked = []

    def hosts_access(addr, user, local):
        def lookup():
            asked.append(user)
            return user != "plain"
        raise auth.Slow(lookup)

    server.auth.hosts_access = hosts_access
    s = Session("127.0.0.1")
    server.open_session(s)
    server.handle(s, _words("USERNAME hashed"))
    server.handle(s, _words("PASSWORD right"))
    assert _run(server, s, "LOGIN dummy") == (b"OK\n", 2)  # name lookup, then password
    p = Session("127.0.0.1")
    server.open_session(p)
    server.handle(p, _words("USERNAME plain"))
    server.handle(p, _words("PASSWORD plainpw"))
    assert _run(server, p, "LOGIN dummy") == (protocol.E_ACCESS_DENIED, 1)
    assert asked == ["hashed", "plain"]


# -- the asyncio layer -----------------------------------------------------------------


def test_check_queue_takes_turns_between_addresses():
    """One address with many connections waiting for slow checks cannot make a client
    from another address wait for the whole backlog (issue 11: nothing a third party
    does may be turned against a legitimate user); checks of connections that are gone
    by their turn are skipped."""
    from concurrent.futures import ThreadPoolExecutor

    ran = []
    pool = ThreadPoolExecutor(1)

    async def scenario():
        checks = CheckQueue(lambda: pool, 1)
        jobs = [checks.run("192.0.2.1", lambda i=i: ran.append(f"a{i}") or i, lambda: False)
                for i in range(10)]
        jobs += [checks.run("192.0.2.1", lambda: ran.append("gone"), lambda: True)]
        jobs.append(checks.run("2001:db8::1", lambda: ran.append("b") or "b", lambda: False))
        jobs.append(checks.run("2001:db8::2", lambda: ran.append("c") or "c", lambda: False))
        return await asyncio.gather(*jobs)

    results = asyncio.run(scenario())
    pool.shutdown()
    assert results == list(range(10)) + [None, "b", "c"]
    assert "gone" not in ran
    # b and c (one /64) come after at most one more turn of 192.0.2.1
    assert ran.index("b") <= 2 and ran.index("c") <= 4, ran



class LiveUpsd:
    """ClientConn/Daemon on a loop in a thread, listening on 127.0.0.1."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.daemon = Daemon(config.UpsdConf(), server.auth.users, server, [])
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        srv = self.loop.run_until_complete(
            self.loop.create_server(lambda: ClientConn(self.daemon), "127.0.0.1", 0))
        self.port = srv.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        srv.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if self.daemon._check_executor is not None:
            self.daemon._check_executor.shutdown(wait=True)


class Client(LineClient):
    """``LineClient`` reading one line at a time, with room for a slow check's reply."""

    def __init__(self, port: int) -> None:
        super().__init__(port, timeout=20)

    def line(self) -> bytes:
        return self.read_lines(1, timeout=20)[0]

    def ask(self, line: str) -> bytes:
        self.send(line + "\n")
        return self.line()


@pytest.fixture(scope="module")
def live():
    upsd = LiveUpsd(_server(_users(_unguessable_entry(SLOW_ITERATIONS))))
    yield upsd
    upsd.stop()


class Gate:
    """Holds a slow check (in whatever thread runs it) until the test opens the gate, so a
    test can tell "answered while the check ran" from "answered after it" without timing
    anything. Bounded: a gate nobody opens lets the check go after ``GATE_SECONDS``."""

    GATE_SECONDS = 15.0

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.threads: list[str] = []

    def hold(self, fn):
        def held(*args):
            self.threads.append(threading.current_thread().name)
            self.entered.set()
            self.opened.wait(self.GATE_SECONDS)
            return fn(*args)
        return held


def _answered_while_check_runs(live: LiveUpsd, start_slow, gate: Gate) -> bytes:
    """Start a slow check with ``start_slow(port)`` (returns a function that waits for its
    reply); once the check is held in ``gate``, another client's GET VAR must be answered
    before the gate opens (on the event loop it could only be answered after). Returns the
    slow request's reply."""
    other = Client(live.port)
    assert other.ask("GET VAR dummy ups.status") == b'VAR dummy ups.status "OL"\n'
    wait_slow = start_slow(live.port)
    try:
        assert gate.entered.wait(Gate.GATE_SECONDS), "the slow check never started"
        reply = other.ask("GET VAR dummy battery.charge")
        assert not gate.opened.is_set()
        assert reply == b'VAR dummy battery.charge "100"\n'
    finally:
        gate.opened.set()
        other.close()
    return wait_slow()


def test_hashed_password_check_does_not_delay_other_clients(live, monkeypatch):
    gate = Gate()
    monkeypatch.setattr(auth, "password_matches", gate.hold(auth.password_matches))

    def start(port):
        c = Client(port)
        assert c.ask("USERNAME slow") == b"OK\n"
        assert c.ask("PASSWORD guess") == b"OK\n"
        c.send(b"LOGIN dummy\n")

        def wait():
            try:
                return c.line()
            finally:
                c.close()
        return wait

    assert _answered_while_check_runs(live, start, gate) == b"ERR ACCESS-DENIED\n"
    assert gate.threads and all(n.startswith("upsd-check") for n in gate.threads)


@pytest.mark.parametrize("comment", [False, True], ids=["lines", "chunked"])
def test_pipelined_requests_behind_deferred_ones_answered_in_order(live, comment):
    """Two deferred checks in one read (the second from the requests held behind the
    first): the same bytes as the same pipeline answered without deferring (plaintext
    user, same wrong password)."""
    def pipeline(user: str) -> list[bytes]:
        reqs = (f"USERNAME {user}\nPASSWORD guess\nLOGIN dummy\n".encode()
                + b"GET VAR dummy ups.status\n"
                + (b"# a comment: C's 512-byte read semantics\n" if comment else b"")
                + b"LOGIN dummy\nVER\nGET NUMLOGINS dummy\nGET VAR dummy battery.charge\n")
        c = Client(live.port)
        c.send(reqs)
        got = [c.line() for _ in range(reqs.count(b"\n"))]
        c.send(b"LOGOUT\n")
        got.append(c.line())
        c.close()
        return got

    deferred = pipeline("slow")
    assert deferred == pipeline("plain")
    assert deferred[2] == deferred[-5] == b"ERR ACCESS-DENIED\n"
    assert deferred[3] == b'VAR dummy ups.status "OL"\n'
    assert deferred[-3:] == [b"NUMLOGINS dummy 0\n", b'VAR dummy battery.charge "100"\n',
                             b"OK Goodbye\n"]


def test_pipelined_right_hashed_password_then_logout(live):
    h = Client(live.port)
    h.send(b"USERNAME hashed\nPASSWORD right\nLOGIN dummy\nGET NUMLOGINS dummy\nLOGOUT\n")
    assert [h.line() for _ in range(5)] == [b"OK\n", b"OK\n", b"OK\n",
                                             b"NUMLOGINS dummy 1\n", b"OK Goodbye\n"]
    assert h.sock.recv(10) == b""  # closed after LOGOUT
    h.close()


def test_client_gone_during_check_is_harmless(live):
    c = Client(live.port)
    c.send(b"USERNAME slow\nPASSWORD guess\nLOGIN dummy\n")
    assert c.line() == b"OK\n" and c.line() == b"OK\n"
    c.close()  # while the derivation runs
    time.sleep(0.05)
    other = Client(live.port)
    assert other.ask("GET VAR dummy ups.status") == b'VAR dummy ups.status "OL"\n'
    other.close()


def test_tcp_wrappers_host_name_lookup_off_the_loop(tmp_path, monkeypatch):
    allow, deny = tmp_path / "hosts.allow", tmp_path / "hosts.deny"
    allow.write_text("upsd: trusted.example.test\n")
    deny.write_text("upsd: ALL\n")
    monkeypatch.setenv("NUTPY_HOSTS_ALLOW", str(allow))
    monkeypatch.setenv("NUTPY_HOSTS_DENY", str(deny))
    names = {"127.0.0.1": "trusted.example.test"}
    gate = Gate()  # a DNS server that answers only when the test says so
    lookups = gate.threads
    monkeypatch.setattr(tcpwrappers, "resolve_hostname", gate.hold(
        lambda addr: names.get(addr, tcpwrappers.UNKNOWN)))
    server = _server(_users(_unguessable_entry(1_000)))
    server.auth.hosts_access = main._hosts_access_hook()
    assert server.auth.hosts_access is not None
    upsd = LiveUpsd(server)
    try:
        def start(port):
            c = Client(port)
            c.send(b"USERNAME plain\nPASSWORD plainpw\nLOGIN dummy\nGET NUMLOGINS dummy\n")

            def wait():
                try:
                    return b"".join(c.line() for _ in range(4))
                finally:
                    c.close()
            return wait

        assert _answered_while_check_runs(upsd, start, gate) == \
            b"OK\nOK\nOK\nNUMLOGINS dummy 1\n"
        assert lookups and all(n.startswith("upsd-check") for n in lookups)

        names["127.0.0.1"] = "stranger.example.test"
        c = Client(upsd.port)
        c.send(b"USERNAME plain\nPASSWORD plainpw\nLOGIN dummy\n")
        assert [c.line() for _ in range(3)] == [b"OK\n", b"OK\n", b"ERR ACCESS-DENIED\n"]
        c.close()

        # a rule without names is answered on the loop, no lookup
        allow.write_text("upsd: 127.0.0.1\n")
        del lookups[:]
        c = Client(upsd.port)
        c.send(b"USERNAME plain\nPASSWORD plainpw\nLOGIN dummy\n")
        assert [c.line() for _ in range(3)] == [b"OK\n", b"OK\n", b"OK\n"]
        c.close()
        assert lookups == []
    finally:
        upsd.stop()
