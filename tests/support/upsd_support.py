"""Helpers for the upsd tests: a scripted fake driver (Unix socket, driver side of the
protocol), a tiny line client, and ``Stack``: C upsd 2.8.0 and ours side by side, serving the
same drivers, with ``normalize`` for the deliberate differences of their replies."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from support.harness import MANY_VARS_DEV, NutEnv, c_prog, dump_complete, our_prog, wait_for

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


SENTINEL = b"GET VAR sentinel-x server.version\n"
SENTINEL_REPLY = b'VAR sentinel-x server.version "2.8.0"\n'
ID_RE = re.compile(rb"[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}")
C_HELP = b"Commands: HELP VER GET LIST SET INSTCMD LOGIN LOGOUT USERNAME PASSWORD STARTTLS\n"
OUR_HELP = (b"Commands: HELP VER PROTVER GET LIST SET INSTCMD LOGIN LOGOUT USERNAME "
            b"PASSWORD STARTTLS\n")

USERS = """
[admin]
  password = secret
  actions = SET FSD
  instcmds = all
[mon]
  password = mpw
  upsmon secondary
[prim]
  password = ppw
  upsmon primary
[limited]
  password = lpw
  instcmds = test.battery.start
"""

UPS_CONF = """
[fake]
  driver = fake
  port = none
  desc = "Fake \\"quoted\\" \\# desc"
[zeta]
  driver = dummy-ups
  port = {dev}
[nodrv]
  driver = nodriver
  port = none
[fsdups]
  driver = fake
  port = none
{ours_section}"""


class Stack:
    def __init__(self, root):
        self.env = NutEnv(root)
        env = self.env
        shutil.copy(MANY_VARS_DEV, env.etc / "zeta.dev")
        # our dummy-ups (when installed) as a third driver, behind both upsds
        self.have_ours = Path(our_prog("dummy-ups")).exists()
        ours_section = (f"[zours]\n  driver = dummy-ups\n  port = {env.etc / 'zeta.dev'}\n"
                        if self.have_ours else "")
        env.write("ups.conf", UPS_CONF.format(dev=env.etc / "zeta.dev",
                                              ours_section=ours_section))
        env.write("upsd.users", USERS)
        self.fake = FakeDriver(str(env.state / "fake-fake"))
        self.fsd_fake = FakeDriver(str(env.state / "fake-fsdups"))
        env.start([c_prog("dummy-ups"), "-a", "zeta", "-u", "root", "-F"])
        env.wait_socket("dummy-ups", "zeta")
        if self.have_ours:
            env.start([our_prog("dummy-ups"), "-a", "zours", "-u", "root", "-F"])
            env.wait_socket("dummy-ups", "zours")
        self.c_port = env.port
        self.our_port = self._free_other()
        env.write("upsd.conf", f"LISTEN 127.0.0.1 {self.c_port}\nLISTEN 127.0.0.1 {self.our_port}\n")
        # one upsd.conf per daemon: C reads NUT_CONFPATH, so give each its own dir
        self.our_etc = root / "our-etc"
        self.our_etc.mkdir()
        for name in ("ups.conf", "upsd.users"):
            shutil.copy(env.etc / name, self.our_etc / name)
        (env.etc / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {self.c_port}\n")
        (self.our_etc / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {self.our_port}\n")
        for p in list(env.etc.iterdir()) + list(self.our_etc.iterdir()):
            p.chmod(0o640)
        # daemons log every SET, LOGIN, ...: their stderr goes to files, never to an
        # undrained pipe that would block them
        self.c_log = root / "c-upsd.log"
        self.our_log = root / "our-upsd.log"
        self.c_upsd = self._start([c_prog("upsd"), "-F", "-u", "root"], self.c_log)
        self.our_upsd = self._start([our_prog("upsd"), "-F", "-u", "root"], self.our_log,
                                    NUTPY_UPSD_LOGIN_THROTTLE="0",
                                    NUT_CONFPATH=str(self.our_etc),
                                    NUT_ALTPIDPATH=str(root / "our-etc"))
        env.wait_port(self.c_port)
        env.wait_port(self.our_port)
        for port in (self.c_port, self.our_port):
            wait_for(lambda: self.ready(port), 15, what=f"upsd on {port} to serve data")

    def _start(self, argv, logpath, **extra):
        with open(logpath, "wb") as f:
            p = subprocess.Popen(argv, env=self.env.env(**extra), stdin=subprocess.DEVNULL,
                                 stdout=f, stderr=f)
        self.env.procs.append(p)
        return p

    def _free_other(self) -> int:
        from support.harness import free_port

        while True:
            p = free_port()
            if p != self.c_port:
                return p

    def ready(self, port: int) -> bool:
        c = LineClient(port)
        try:
            names = ["fake", "zeta"] + (["zours"] if self.have_ours else [])
            c.send("".join(f"GET VAR {n} ups.status\n" for n in names))
            lines = c.read_lines(len(names))
            return all(dump_complete(x) for x in lines)
        except (OSError, TimeoutError, ConnectionError):
            return False
        finally:
            c.close()

    def close(self):
        self.env.close()
        self.fake.close()
        self.fsd_fake.close()


def normalize(data: bytes) -> bytes:
    data = ID_RE.sub(b"<ID>", data)
    data = data.replace(OUR_HELP, C_HELP)
    data = re.sub(rb"Network UPS Tools upsd [^\"\n]*", b"<VER>", data)
    return data
