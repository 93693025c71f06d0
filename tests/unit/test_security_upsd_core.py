"""The security hooks of upsd's sans-IO core (no sockets, fake clock): the failed-login
throttle (wrong passwords held back, right ones never) and the local address handed to
tcp-wrappers."""

from __future__ import annotations

from nutpy.common import parseconf
from nutpy.security.passwords import LoginThrottle
from nutpy.upsd.auth import Held
from nutpy.upsd.protocol import Session
from support.upsd_core import ask, make_server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttled_server(**kw):
    clock = Clock()
    server, ups, sent = make_server(clock=clock)
    server.auth.throttle = LoginThrottle(clock=clock, **kw)
    logged = []
    server.log = lambda level, msg: logged.append((level, msg))
    return server, clock, logged


def attempt(server, addr: str, password: str, command: str = "FSD fake"):
    """USERNAME admin, PASSWORD ..., then ``command`` on a fresh session: its answer as
    ``handle`` gives it (bytes, or a Held)."""
    s = Session(addr)
    ask(server, s, f"USERNAME admin\nPASSWORD {password}\n")
    return server.handle(s, parseconf.split_line(command))


def test_right_password_is_never_refused_or_held():
    """However many wrong passwords came from the address (and are still waiting), a
    right one is answered at once with C's reply: nobody can lock a user out."""
    server, clock, _ = throttled_server()
    for _ in range(50):
        assert attempt(server, "127.0.0.1", "bad").__class__ is Held
    for command, reply in (("FSD fake", b"OK FSD-SET\n"), ("SET VAR fake nope 1",
                           b"ERR VAR-NOT-SUPPORTED\n"), ("INSTCMD fake nope",
                           b"ERR CMD-NOT-SUPPORTED\n")):
        assert attempt(server, "127.0.0.1", "pw", command) == reply


def test_wrong_passwords_are_held_with_c_replies_then_dropped():
    """A wrong password's reply is exactly C's, only held back, longer and longer; when
    max_waiting answers to the address are waiting, the next failing connection is to be
    dropped (delay None). Other addresses are not affected."""
    server, clock, logged = throttled_server(max_waiting=3)
    plain, _, _ = make_server()
    commands = ["LOGIN fake", "FSD fake", "SET VAR fake ups.status x", "PRIMARY fake"]
    held = []
    for command in commands:
        held.append(attempt(server, "192.0.2.1", "bad", command))
    assert [h.__class__ for h in held[:3]] == [Held] * 3
    assert [h.delay for h in held] == [0.25, 0.5, 1.0, None]
    for command, h in zip(commands, held):
        assert h.reply == attempt(plain, "192.0.2.1", "bad", command), command
    other = attempt(server, "192.0.2.2", "bad")
    assert other.__class__ is Held and other.delay == 0.25
    clock.now += 1.0  # every answer has gone out
    assert attempt(server, "192.0.2.1", "bad").delay == 4.0
    assert any("Wrong password for admin@192.0.2.1: answer delayed 0.25 s" in m
               for _, m in logged)
    assert any("Wrong password for admin@192.0.2.1: dropping the connection" in m
               for _, m in logged)


def test_commands_that_check_no_password_are_not_held():
    server, _, _ = throttled_server()
    for _ in range(10):
        assert attempt(server, "192.0.2.3", "whatever", "SET TRACKING ON") == b"OK\n"
    assert attempt(server, "192.0.2.3", "whatever", "GET VAR fake ups.status") == \
        b'VAR fake ups.status "WAIT"\n'
    # C's earlier checks answer before any password check
    assert attempt(server, "192.0.2.3", "bad", "FSD nosuchups") == b"ERR UNKNOWN-UPS\n"
    assert server.auth.throttle.failures("192.0.2.3") == 0


def test_unknown_users_count_as_wrong_passwords():
    server, _, _ = throttled_server()
    s = Session("192.0.2.4")
    ask(server, s, "USERNAME nobody\nPASSWORD x\n")
    held = server.handle(s, ["FSD", "fake"])
    assert held.__class__ is Held and held.reply == b"ERR ACCESS-DENIED\n"
    assert server.auth.throttle.failures("192.0.2.4") == 1


def test_tcp_wrappers_hook_gets_the_local_address_when_known():
    server, _, _ = make_server()
    calls = []
    server.auth.hosts_access = lambda *args: calls.append(args) or True
    s = Session("192.0.2.5")
    s.local = "192.0.2.200"
    ask(server, s, "USERNAME admin\nPASSWORD pw\nSET TRACKING ON\n")
    assert calls == [("192.0.2.5", "admin", "192.0.2.200")]
