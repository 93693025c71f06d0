"""The driver socket of our dummy-ups, spoken to directly: every request, broadcasts,
and bad input (garbage, binary, overlong and half lines, EOF, silent readers) that must
neither crash the driver nor disturb other clients. One driver serves the module."""

from __future__ import annotations

import os
import socket
import stat
import time

import pytest

from support.harness import NutEnv, our_prog

DEV = "ups.status: OL\nbattery.charge: 100\nups.mfr: Acme\n"


class Client:
    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(path)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self, timeout: float = 5) -> str:
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def until(self, last: str) -> list[str]:
        out = []
        while True:
            out.append(self.line())
            if out[-1] == last:
                return out

    def request(self, data: bytes, last: str) -> list[str]:
        self.send(data)
        return self.until(last)

    def expect_silence(self, wait: float = 0.2) -> None:
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        raise AssertionError(f"unexpected data: {data!r}")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    env = NutEnv(tmp_path_factory.mktemp("sock"))
    (env.etc / "u.dev").write_text(DEV)
    env.write("ups.conf", "[u]\n  driver = dummy-ups\n  port = u.dev\n")
    r = env.run([our_prog("dummy-ups"), "-a", "u", "-u", "root"])
    assert r.returncode == 0, r.stdout + r.stderr
    pid = env.pid_of("dummy-ups-u")
    yield env, str(env.socket_path("dummy-ups", "u")), pid
    env.kill_pidfile("dummy-ups-u")
    env.close()


def alive(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] in "RS"


def test_socket_and_pidfile(driver):
    env, path, pid = driver
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert (env.state / "dummy-ups-u.pid").read_text() == f"{pid}\n"


def test_dumpall(driver):
    _, path, _ = driver
    c = Client(path)
    dump = c.request(b"DUMPALL\n", "DUMPDONE")
    assert dump[-2:] == ["DATAOK", "DUMPDONE"]
    setinfo = [l for l in dump if l.startswith("SETINFO ")]
    names = [l.split()[1] for l in setinfo]
    assert names == sorted(names, key=str.lower)
    assert 'SETINFO battery.charge "100"' in dump
    assert "SETFLAGS battery.charge RW" in dump
    i = dump.index('SETINFO ups.mfr "Acme"')
    assert dump[i + 1:i + 3] == ["SETAUX ups.mfr 32", "SETFLAGS ups.mfr RW STRING"]
    cmds = [l for l in dump if l.startswith("ADDCMD ")]
    assert "ADDCMD load.off" in cmds and "ADDCMD driver.exit" in cmds
    assert dump.index(cmds[0]) > dump.index(setinfo[-1])
    c.close()


def test_small_requests(driver):
    _, path, pid = driver
    c = Client(path)
    assert c.request(b"PING\n", "PONG") == ["PONG"]
    assert c.request(b"GETPID\n", f"PID {pid}") == [f"PID {pid}"]
    assert c.request(b"DUMPSTATUS\n", "DUMPDONE") == [
        'SETINFO ups.status "OL"', "SETAUX ups.status 32", "SETFLAGS ups.status RW STRING",
        "DATAOK", "DUMPDONE"]
    assert c.request(b"DUMPVALUE no.such\n", "DUMPDONE") == ["DATAOK", "DUMPDONE"]
    # unknown and malformed requests get no reply at all
    c.send(b"FROB x\nINSTCMD a b c d e f\nSET x\nPING extra\n")
    c.expect_silence()
    assert c.request(b"LOGOUT\n", "OK Goodbye") == ["OK Goodbye"]
    with pytest.raises(EOFError):
        c.line(2)
    c.close()


def test_set_tracking_and_broadcast(driver):
    _, path, _ = driver
    setter, watcher, quiet = Client(path), Client(path), Client(path)
    quiet.request(b"NOBROADCAST\nPING\n", "PONG")
    watcher.request(b"PING\n", "PONG")
    value = 'a "quoted" #hash \\ value'
    setter.send(b'SET ups.id "a \\"quoted\\" \\#hash \\\\ value" TRACKING abc-1\n')
    got = setter.until("TRACKING abc-1 0")
    assert got[-1] == "TRACKING abc-1 0"
    seen = watcher.until("SETAUX ups.id 16")
    # live updates are escaped (C 2.8.0 sends them raw and upsd mangles them)
    assert seen[0] == 'SETINFO ups.id "a \\"quoted\\" \\#hash \\\\ value"'
    quiet.expect_silence()
    quiet.request(b"BROADCAST 1\nSET ups.id x\nPING\n", "PONG")
    assert quiet.until('SETINFO ups.id "x"')
    # INSTCMD: dummy-ups has no real commands
    assert setter.request(b"INSTCMD load.off TRACKING t2\n", "TRACKING t2 1")[-1] == "TRACKING t2 1"
    setter.send(b"SET ups.id y TRACKING\n")  # 4 words: ignored silently
    setter.expect_silence()
    for c in (setter, watcher, quiet):
        c.close()
    assert value


def test_bad_input_does_not_hurt_others(driver):
    _, path, pid = driver
    good = Client(path)
    good.request(b"PING\n", "PONG")
    bad = [Client(path) for _ in range(5)]
    bad[0].send(os.urandom(256 * 1024))
    bad[1].send(b"PING " + b"x" * 300_000)  # overlong, no newline
    bad[1].send(b"\n")
    bad[2].send(b'SET ups.id "unterminated # in quotes"\nPI')  # parse error, then half line
    bad[3].send(b"\x00\xff\xfe\n" * 1000 + b"DUMPALL\n")
    bad[4].send(b"SET " + b"w " * 5000 + b"\n")  # too many words
    for c in bad[:3]:
        c.close()  # half-sent and gone
    assert good.request(b"PING\n", "PONG") == ["PONG"]
    assert bad[3].until("DUMPDONE")[-1] == "DUMPDONE"
    assert alive(pid)
    good.request(b"SET ups.id ok TRACKING z\n", "TRACKING z 0")
    for c in bad[3:] + [good]:
        c.close()


def test_eof_does_not_spin(driver):
    """C 2.8.0 keeps closed clients and spins at high CPU, then crashes on the next write."""
    _, path, pid = driver
    for _ in range(30):
        c = Client(path)
        c.send(b"PING\n")
        c.close()
    ticks = lambda: sum(int(x) for x in open(f"/proc/{pid}/stat").read().split(")")[-1].split()[11:13])
    before = ticks()
    time.sleep(1.0)
    assert ticks() - before < 30  # < 0.3 s of CPU in 1 s
    w = Client(path)
    w.request(b"SET ups.id again TRACKING e\n", "TRACKING e 0")
    assert alive(pid)
    w.close()


def test_slow_reader_is_dropped_not_blocking(driver):
    _, path, pid = driver
    sleeper = Client(path)
    sleeper.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sleeper.send(b"DUMPALL\n" * 5000)  # megabytes of replies it never reads
    other = Client(path)
    t0 = time.monotonic()
    assert other.request(b"PING\n", "PONG") == ["PONG"]
    assert time.monotonic() - t0 < 2
    time.sleep(1)
    assert _closed(sleeper)
    assert alive(pid)
    other.close()


def _closed(c: Client) -> bool:
    c.sock.settimeout(2)
    try:
        while True:
            data = c.sock.recv(1 << 20)
            if not data:
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


def test_builtin_driver_variables_and_commands(driver):
    _, path, pid = driver
    c = Client(path)
    c.send(b"NOBROADCAST\n")
    # killpower refused until allowed, then dummy-ups' shutdown fails (not supported)
    assert c.request(b"INSTCMD driver.killpower TRACKING k1\n", "TRACKING k1 2")
    assert c.request(b"SET driver.flag.allow_killpower yes TRACKING k2\n", "TRACKING k2 0")
    assert c.request(b"DUMPVALUE driver.flag.allow_killpower\n", "DUMPDONE")[0] == \
        'SETINFO driver.flag.allow_killpower "1"'
    assert c.request(b"INSTCMD driver.killpower TRACKING k3\n", "TRACKING k3 3")
    assert c.request(b"INSTCMD shutdown.default TRACKING k4\n", "TRACKING k4 3")
    assert c.request(b"SET driver.flag.allow_killpower 0 TRACKING k5\n", "TRACKING k5 0")
    assert c.request(b"SET driver.debug notanumber TRACKING d1\n", "TRACKING d1 2")
    assert c.request(b"SET driver.debug 0 TRACKING d2\n", "TRACKING d2 0")
    assert c.request(b"INSTCMD no.such.cmd TRACKING u1\n", "TRACKING u1 1")
    assert alive(pid)
    c.close()
