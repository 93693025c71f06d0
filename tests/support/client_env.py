"""Shared set-up for the client tests (no tests here): a NUT installation with C dummy-ups
drivers behind C upsd (or ours), and a scripted fake upsd for replies a real driver
cannot produce (ENUM/RANGE lists, old-upsd errors, odd replies)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from support.harness import (
    MANY_VARS_DEV,
    NutEnv,
    as_c,
    c_prog,
    free_port,
    help_shape,
    our_prog,
    require_c_nut,
    wait_for,
)

SSL_NOISE = "Init SSL without certificate database\n"

DEV = """\
battery.charge: 100
battery.runtime: 1200
device.mfr: Dummy "Quote" Corp
device.model: Test UPS 1000
input.voltage: 230.0
ups.status: OL
ups.load: 23
ups.mfr: Dummy
"""

UPS_CONF = """\
[dummy]
  driver = dummy-ups
  port = dummy.dev
  desc = "Test \\"dummy\\" UPS"
[bench]
  driver = dummy-ups
  port = bench.dev
[stale]
  driver = dummy-ups
  port = stale.dev
[down]
  driver = dummy-ups
  port = down.dev
[killed]
  driver = dummy-ups
  port = killed.dev
"""

USERS = """\
[admin]
  password = secret
  actions = SET FSD
  instcmds = all
  upsmon primary
[weak]
  password = weakpw
"""

UPSD_NAMES = ["c"]


def upsd_kinds() -> list:
    """``c`` always; ``ours`` when our upsd is installed in the venv (skipped if not)."""
    ours_present = os.path.exists(our_prog("upsd"))
    # both serve C's dummy-ups drivers, so that C and our upsd are compared on one footing
    return [pytest.param("c", marks=pytest.mark.interop),
            pytest.param("ours", marks=[pytest.mark.interop, pytest.mark.skipif(
                not ours_present, reason="our upsd (.venv/bin/upsd) not installed yet")])]


class NutServer:
    """dummy-ups drivers (C) for dummy/bench/stale, none for down, upsd on 127.0.0.1 and
    ::1 at one port. ``stale``'s driver is SIGSTOPped so upsd declares its data stale."""

    def __init__(self, root: Path, kind: str = "c") -> None:
        require_c_nut()
        self.env = NutEnv(root)
        self.kind = kind
        self.port = self.env.port
        env = self.env
        env.write("dummy.dev", DEV)
        env.write("stale.dev", DEV)
        env.write("down.dev", DEV)
        env.write("killed.dev", DEV)
        shutil.copy(MANY_VARS_DEV, env.etc / "bench.dev")
        env.write("ups.conf", UPS_CONF)
        self.ipv6 = _have_ipv6()
        listen = f"LISTEN 127.0.0.1 {self.port}\n"
        if self.ipv6:
            listen += f"LISTEN ::1 {self.port}\n"
        env.write("upsd.conf", listen + "MAXAGE 3\n")
        env.write("upsd.users", USERS)
        self.drivers = {}
        for ups in ("dummy", "bench", "stale", "killed"):
            self.drivers[ups] = env.start([c_prog("dummy-ups"), "-a", ups, "-u", "root", "-F"])
        for ups in ("dummy", "bench", "stale", "killed"):
            env.wait_socket("dummy-ups", ups)
        upsd = c_prog("upsd") if kind == "c" else our_prog("upsd")
        self.upsd = env.start([upsd, "-u", "root", "-F"])
        env.wait_port(self.port)
        wait_for(lambda: self.c_upsc("dummy", "ups.status").stdout.strip() == "OL", 15,
                 what="dummy data in upsd")
        os.kill(self.drivers["stale"].pid, signal.SIGSTOP)
        self.stale_since = time.monotonic()

    def kill_driver(self, ups: str) -> None:
        """SIGKILL a driver (once) and wait until upsd has noticed."""
        proc = self.drivers[ups]
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        wait_for(lambda: "Driver not connected" in self.c_upsc(ups).stderr, 20, interval=0.3,
                 what="upsd to notice the dead driver")

    def wait_stale(self) -> None:
        wait_for(lambda: "Data stale" in self.c_upsc("stale").stderr, 20, interval=0.3,
                 what="stale data")

    def c_upsc(self, *args: str) -> subprocess.CompletedProcess:
        argv = list(args)
        if argv and not argv[0].startswith("-"):
            argv[0] = f"{argv[0]}@127.0.0.1:{self.port}"
        return self.env.run([c_prog("upsc"), *argv], timeout=20)

    def run(self, argv: list[str], input: str | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess:
        return self.env.run(argv, input=input, timeout=timeout)

    def close(self) -> None:
        proc = self.drivers.get("stale")
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
        self.env.close()


def _have_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def norm(result: subprocess.CompletedProcess, prog_paths: tuple[str, ...] = ()) -> tuple:
    """(stdout, stderr, rc) with C's SSL start-up line dropped and program paths unified."""
    out, err = as_c(result.stdout), as_c(result.stderr).replace(SSL_NOISE, "")
    for path in prog_paths:
        out = out.replace(path, "PROG")
        err = err.replace(path, "PROG")
    return help_shape(out), help_shape(err), result.returncode


HANGUP = b"\0HANGUP"  # end of a FakeUpsd reply: close the connection after it


class FakeUpsd:
    """A scripted upsd on loopback: ``replies`` maps a request line (without LF) to the
    reply bytes; unknown requests get ``ERR UNKNOWN-COMMAND``. Records requests."""

    def __init__(self, replies: dict[str, bytes], default: bytes = b"ERR UNKNOWN-COMMAND\n") -> None:
        self.replies = replies
        self.default = default
        self.requests: list[str] = []
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        buf = b""
        conn.settimeout(10)
        with conn:
            while not self._stop:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    text = line.decode("latin-1")
                    self.requests.append(text)
                    reply = self.replies.get(text, self.default)
                    if reply is None:
                        return  # hang up
                    reply, hangup = reply.removesuffix(HANGUP), reply.endswith(HANGUP)
                    try:
                        conn.sendall(reply)
                    except OSError:  # the client already hung up (error paths)
                        return
                    if hangup:
                        return

    def close(self) -> None:
        self._stop = True
        self.sock.close()
        self.thread.join(2)


_servers: dict[str, NutServer] = {}


def shared_server(kind: str, tmp_path_factory, request) -> NutServer:
    """One server of each kind for the whole session, whichever test module asks first
    (C upsd start-up and the stale-data wait are paid once)."""
    if kind not in _servers:
        if kind == "ours" and not os.path.exists(our_prog("upsd")):
            pytest.skip("our upsd (.venv/bin/upsd) not installed yet")
        try:
            server = NutServer(tmp_path_factory.mktemp(f"nut-{kind}"), kind)
        except (TimeoutError, OSError) as e:
            if kind == "ours":
                pytest.skip(f"our upsd does not start: {e}")
            raise
        _servers[kind] = server
        request.addfinalizer(lambda: _servers.pop(kind).close())
    return _servers[kind]


def at(server: NutServer, ups: str, v6: bool = False) -> str:
    """``ups@host:port`` naming ``server`` over IPv4, or over IPv6 with ``v6``."""
    return f"{ups}@[::1]:{server.port}" if v6 else f"{ups}@127.0.0.1:{server.port}"


def compare(server: NutServer, prog: str, args: list[str], input: str | None = None,
            timeout: float = 30) -> tuple:
    """Run C ``prog`` and ours with the same arguments; both normalised results."""
    c_path, our_path = c_prog(prog), our_prog(prog)
    c = norm(server.run([c_path, *args], input=input, timeout=timeout), (c_path, our_path))
    ours = norm(server.run([our_path, *args], input=input, timeout=timeout), (c_path, our_path))
    return c, ours
