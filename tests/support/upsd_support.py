"""Helpers for the upsd tests: a scripted fake driver (Unix socket, driver side of the
protocol) and a tiny line client. Shared by the tests/test_upsd*.py files."""

from __future__ import annotations

import os
import socket
import threading
import time

FAKE_DUMP = [
    'SETINFO device.model "Fake \\"UPS\\" \\# 1"',
    'SETINFO ups.status "OL"',
    "SETAUX ups.status 32",
    "SETFLAGS ups.status RW STRING",
    'SETINFO battery.charge "100"',
    'SETINFO Alpha.Var "a"',
    'SETINFO input.transfer.low "95"',
    'ADDENUM input.transfer.low "95"',
    'ADDENUM input.transfer.low "100"',
    'ADDENUM input.transfer.low "1\\#0\\"5"',
    "SETFLAGS input.transfer.low RW NUMBER",
    'SETINFO ups.delay.shutdown "20"',
    "ADDRANGE ups.delay.shutdown 0 120",
    "ADDRANGE ups.delay.shutdown 200 300",
    "ADDRANGE ups.delay.shutdown 10 300",
    "SETFLAGS ups.delay.shutdown RW NUMBER",
    'SETINFO both "abc"',
    'ADDENUM both "abc"',
    'ADDENUM both "5"',
    "ADDRANGE both 1 10",
    "SETAUX both 3",
    "SETFLAGS both RW STRING",
    'SETINFO zero.aux "x"',
    "SETFLAGS zero.aux RW STRING",
    'SETINFO ups.id "myups"',
    "SETAUX ups.id 8",
    "SETFLAGS ups.id RW STRING",
    "ADDCMD test.battery.start",
    "ADDCMD Beeper.Toggle",
    "ADDCMD load.off",
    "DATAOK",
    "DUMPDONE",
]


class FakeDriver:
    """Driver side of ``<statepath>/<driver>-<ups>``: answers DUMPALL with ``dump``, PING
    with PONG, SET/INSTCMD ... TRACKING <id> with ``TRACKING <id> <result>``; records
    every line received. ``broadcast`` sends a line to every connected upsd."""

    def __init__(self, path: str, dump: list[str] | None = None, tracking_result: int = 0):
        self.path = path
        self.dump = list(dump if dump is not None else FAKE_DUMP)
        self.tracking_result = tracking_result
        self.received: list[str] = []
        self.conns: list[socket.socket] = []
        self.answer_ping = True
        self.paused = threading.Event()  # set: stop reading (a driver busy with its device)
        self.lock = threading.Lock()
        try:
            os.unlink(path)
        except OSError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _send(self, conn: socket.socket, text: str) -> None:
        try:
            conn.sendall(text.encode())
        except OSError:
            pass

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        while not self.stopped:
            while self.paused.is_set() and not self.stopped:
                time.sleep(0.01)
            try:
                data = conn.recv(65536)
            except OSError:
                break
            if not data:
                break
            buf += data
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                text = raw.decode("latin-1")
                with self.lock:
                    self.received.append(text)
                words = text.split()
                if not words:
                    continue
                if words[0] == "DUMPALL":
                    self._send(conn, "".join(x + "\n" for x in self.dump))
                elif words[0] == "PING" and self.answer_ping:
                    self._send(conn, "PONG\n")
                elif words[0] in ("SET", "INSTCMD") and "TRACKING" in words:
                    ident = words[words.index("TRACKING") + 1]
                    self._send(conn, f"TRACKING {ident} {self.tracking_result}\n")
        with self.lock:
            if conn in self.conns:
                self.conns.remove(conn)
        conn.close()

    def broadcast(self, text: str) -> None:
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            self._send(c, text)

    def close(self) -> None:
        self.stopped = True
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


class LineClient:
    """A raw TCP client: send bytes, read until a predicate holds or quiet."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode("latin-1") if isinstance(data, str) else data)

    def read_lines(self, n: int, timeout: float = 5.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while self.buf.count(b"\n") < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"got {self.buf!r}, wanted {n} lines")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError(f"closed; got {self.buf!r}")
            self.buf += data
        lines = self.buf.split(b"\n")
        out = [x + b"\n" for x in lines[:n]]
        self.buf = b"\n".join(lines[n:])
        return out

    def read_quiet(self, quiet: float = 0.3, limit: float = 5.0) -> bytes:
        """Everything that arrives until nothing came for ``quiet`` seconds."""
        end = time.monotonic() + limit
        out = self.buf
        self.buf = b""
        while time.monotonic() < end:
            self.sock.settimeout(quiet)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            out += data
        return out

    def request(self, line: str, nlines: int = 1) -> list[bytes]:
        self.send(line + "\n")
        return self.read_lines(nlines)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
