"""A running dummy-ups' Unix socket fuzzed like upsd's port (tests/e2e/test_upsd_robust.py):
thousands of random lines from several clients, some of them hanging up mid-line, then
the driver must still answer, and what it publishes must still be well formed (the
in-process target is ``driver_request`` in tests/support/fuzz_targets.py)."""

from __future__ import annotations

import random
import socket
import time

from nutpy.proto import sockproto
from support.fuzz_targets import _tokenized
from support.harness import NutEnv, alive, our_prog

WORDS = [b"SET", b"INSTCMD", b"DUMPALL", b"PING", b"TRACKING", b"ups.status", b"ups.id",
         b'""', b'"a b"', b'"x=y"', b"BROADCAST", b"NOBROADCAST", b"DUMPVALUE", b"DUMPSTATUS",
         b"GETPID", b"x", b"#", b'"#"', b"\\", b"=", b"driver.debug", b"load.off", b"0", b"1",
         b"driver.flag.allow_killpower", b"LOGOUT"]


def random_line(rnd: random.Random) -> bytes:
    words = [rnd.choice(WORDS) if rnd.random() < 0.75 else rnd.randbytes(rnd.randint(1, 6))
             for _ in range(rnd.randint(0, 7))]
    return b" ".join(words).replace(b"\n", b"") + b"\n"


def send(s: socket.socket, data: bytes) -> bool:
    """False when the driver has hung up on this client (as it does after LOGOUT)."""
    try:
        s.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        s.close()
        return False


def drain(s: socket.socket) -> None:
    try:
        while s.recv(65536, socket.MSG_DONTWAIT):
            pass
    except (BlockingIOError, InterruptedError, ConnectionError):
        pass


def read_dump(path: str) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall(b"NOBROADCAST\nDUMPALL\n")
        data = b""
        while not data.endswith(b"DUMPDONE\n"):
            chunk = s.recv(65536)
            assert chunk, "driver hung up"
            data += chunk
        return data


def start_dummy_ups(nutenv: NutEnv) -> tuple[int, str]:
    """Our dummy-ups in the background: its PID and socket path."""
    nutenv.write("u.dev", "ups.status: OL\nbattery.charge: 100\n")
    nutenv.write("ups.conf", "[u]\n  driver = dummy-ups\n  port = u.dev\n")
    r = nutenv.run([our_prog("dummy-ups"), "-a", "u", "-u", "root"])
    assert r.returncode == 0, r.stdout + r.stderr
    pid = nutenv.pid_of("dummy-ups-u")
    path = str(nutenv.socket_path("dummy-ups", "u"))
    return pid, path


def test_random_lines_on_a_running_driver_socket(nutenv: NutEnv):
    pid, path = start_dummy_ups(nutenv)
    rnd = random.Random(16)
    try:
        clients = []
        for round_ in range(30):
            while len(clients) < 6:
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                clients.append(s)
            for s in list(clients):
                if not send(s, b"".join(random_line(rnd) for _ in range(40))):
                    clients.remove(s)  # a LOGOUT among its lines: the driver hung up
                    continue
                drain(s)
            # some hang up, one of them in the middle of a line
            if clients:
                victim = clients.pop(rnd.randrange(len(clients)))
                send(victim, b"SET ups.id \"half")
                victim.close()
        for s in clients:
            drain(s)
            s.close()
        assert alive(pid)
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(path)
            s.sendall(b"NOBROADCAST\nPING\n")
            deadline = time.monotonic() + 5
            reply = b""
            while b"PONG\n" not in reply and time.monotonic() < deadline:
                reply += s.recv(4096)
            assert b"PONG\n" in reply
        dump = read_dump(path)
        for line in _tokenized(dump):
            msg = sockproto.parse_driver_message(line.words)
            assert line.error is None and msg is not None, line
            if msg.kind in ("SETINFO", "ADDENUM", "SETAUX"):
                assert len(line.words) == 3, line
                assert sockproto.is_wire_name(line.words[1]), line
    finally:
        nutenv.kill_pidfile("dummy-ups-u")


def test_clients_that_hang_up_at_once_do_not_break_the_next_broadcast(nutenv: NutEnv):
    """C 2.8.0's drivers abort on the broadcast after a client that connected and hung up
    without a word (the write to the dead descriptor fails, then fd_set overflows): ours
    drops such clients and goes on broadcasting to the others."""
    pid, path = start_dummy_ups(nutenv)
    try:
        with socket.socket(socket.AF_UNIX) as listener:
            listener.settimeout(5)
            listener.connect(path)
            for _ in range(20):
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(path)
            for value in range(90, 80, -1):  # each SET is broadcast to every client
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(5)
                    s.connect(path)
                    s.sendall(f'NOBROADCAST\nSET battery.charge "{value}" TRACKING t{value}\n'
                              .encode())
                    reply = b""
                    while f"TRACKING t{value} ".encode() not in reply:
                        chunk = s.recv(4096)
                        assert chunk, "driver hung up"
                        reply += chunk
            seen = b""
            deadline = time.monotonic() + 5
            while b'SETINFO battery.charge "81"' not in seen and time.monotonic() < deadline:
                seen += listener.recv(4096)
            assert b'SETINFO battery.charge "81"' in seen
        assert alive(pid)
        assert b'SETINFO battery.charge "81"' in read_dump(path)
    finally:
        nutenv.kill_pidfile("dummy-ups-u")
