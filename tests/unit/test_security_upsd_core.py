"""The security hooks of upsd's sans-IO core (no sockets, fake clock): the login throttle
and the local address handed to tcp-wrappers."""

from __future__ import annotations

from nutpy.security.passwords import LoginThrottle
from nutpy.upsd.protocol import Session
from support.upsd_core import ask, make_server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttled_server():
    clock = Clock()
    server, ups, sent = make_server(clock=clock)
    server.auth.throttle = LoginThrottle(clock=clock)
    logged = []
    server.log = lambda level, msg: logged.append((level, msg))
    return server, clock, logged


def login(server, addr: str, password: str, command: str = "FSD fake") -> bytes:
    s = Session(addr)
    return ask(server, s, f"USERNAME admin\nPASSWORD {password}\n{command}\n").split(
        b"\n")[2] + b"\n"


def test_lockout_after_five_wrong_passwords_then_expiry():
    server, clock, logged = throttled_server()
    right = login(server, "192.0.2.1", "pw")
    assert right != b"ERR ACCESS-DENIED\n"
    for _ in range(5):
        assert login(server, "192.0.2.1", "bad") == b"ERR ACCESS-DENIED\n"
    assert login(server, "192.0.2.1", "pw") == b"ERR ACCESS-DENIED\n"
    assert login(server, "192.0.2.2", "pw") == right          # other addresses unaffected
    assert any("Refusing admin@192.0.2.1" in m for _, m in logged)
    clock.now += 31
    assert login(server, "192.0.2.1", "pw") == right           # lockout over


def test_locked_out_replies_are_those_of_a_wrong_password():
    """While locked out every command answers exactly as C does for a wrong password,
    so the throttle cannot be told from a bad password by its replies."""
    server, clock, _ = throttled_server()
    plain, _, _ = make_server()
    for _ in range(5):
        login(server, "192.0.2.9", "bad")
    for command in ("LOGIN nosuchups", "SET VAR fake ups.status x", "INSTCMD nosuchups x",
                    "FSD fake", "LOGIN"):
        expected = login(plain, "192.0.2.9", "bad", command)
        assert login(server, "192.0.2.9", "pw", command) == expected, command


def test_set_tracking_is_not_a_password_check():
    server, _, _ = throttled_server()
    for _ in range(10):
        assert login(server, "192.0.2.3", "whatever", "SET TRACKING ON") == b"OK\n"
    assert login(server, "192.0.2.3", "pw") != b"ERR ACCESS-DENIED\n"


def test_unknown_users_count_as_failures():
    server, _, _ = throttled_server()
    for _ in range(5):
        s = Session("192.0.2.4")
        ask(server, s, "USERNAME nobody\nPASSWORD x\nFSD fake\n")
    assert login(server, "192.0.2.4", "pw") == b"ERR ACCESS-DENIED\n"


def test_tcp_wrappers_hook_gets_the_local_address_when_known():
    server, _, _ = make_server()
    calls = []
    server.auth.hosts_access = lambda *args: calls.append(args) or True
    s = Session("192.0.2.5")
    s.local = "192.0.2.200"
    ask(server, s, "USERNAME admin\nPASSWORD pw\nSET TRACKING ON\n")
    assert calls == [("192.0.2.5", "admin", "192.0.2.200")]
