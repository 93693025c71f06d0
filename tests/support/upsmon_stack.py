"""A NUT server for upsmon tests (our dummy-ups drivers behind C's upsd or ours) and
upsmon instances around it, C's or ours, each with its own upsmon.conf and scripts that
record every notification, wall message and shutdown command they are given.

UPS states change through the driver socket (``SET ups.status``), instantly; the server,
a driver or the network between upsmon and upsd can be stopped and started again.

C upsmon 2.8.0 keeps its PID file at the compiled /run/nut: run as root, each C instance
gets a private /run/nut (a mount namespace from ``unshare``) so that several can run at
once; as another user it cannot write there and runs without one, as C does."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from support.harness import NutEnv, alive, c_prog, free_port, our_prog, port_open, wait_for

ALL_TYPES = ("ONLINE", "ONBATT", "LOWBATT", "FSD", "COMMOK", "COMMBAD", "SHUTDOWN",
             "REPLBATT", "NOCOMM", "NOPARENT", "CAL")
NEW_TYPES = ("NOTCAL", "OFF", "NOTOFF", "BYPASS", "NOTBYPASS", "ECO", "NOTECO", "ALARM",
             "NOTALARM", "OVER", "NOTOVER", "TRIM", "NOTTRIM", "BOOST", "NOTBOOST", "OTHER",
             "NOTOTHER", "SHUTDOWN_HOSTSYNC", "SUSPEND_STARTING", "SUSPEND_FINISHED")

USERS = """[admin]
  password = adminpw
  actions = SET FSD
  instcmds = all
[mon]
  password = monpw
  upsmon primary
[sec]
  password = secpw
  upsmon secondary
"""

NOTIFY_SCRIPT = """#!/bin/sh
echo "$NOTIFYTYPE|$UPSNAME|$1|$#|$(id -u)" >> {log}/notify.log
"""
WALL_SCRIPT = """#!/bin/sh
cat >> {log}/wall.log
"""
SHUTDOWN_SCRIPT = """#!/bin/sh
echo "{name} $(id -u)" >> {shared}
"""


def can_unshare() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None


class Stack:
    """Drivers (our dummy-ups) for ``upses``, upsd (``upsd``: "c" or "ours") on a free
    port, MAXAGE 2 so that a stopped driver goes stale in seconds.

    Everything lives in a directory of its own that the unprivileged upsmon processes
    can reach (pytest's are private to their owner); ``close`` removes it."""

    def __init__(self, upses=("zeta",), upsd: str = "c", upsd_conf: str = "",
                 before_upsd=None) -> None:
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="nutpy-upsmon-"))
        os.chmod(root, 0o755)
        self.env = NutEnv(root / "server")
        self.root = root
        self.upses = list(upses)
        self.upsd_kind = upsd
        self.port = self.env.port
        conf = ""
        for ups in self.upses:
            self.env.write(f"{ups}.dev", "ups.status: OL\nbattery.charge: 100\n"
                                         "ups.mfr: nutpy\n")
            conf += f"[{ups}]\n  driver = dummy-ups\n  port = {ups}.dev\n"
        self.env.write("ups.conf", conf)
        if before_upsd is not None:  # e.g. certificates that upsd.conf names
            upsd_conf += before_upsd(root)
        self.env.write("upsd.conf", f"LISTEN 127.0.0.1 {self.port}\nMAXAGE 2\n" + upsd_conf)
        self.env.write("upsd.users", USERS)
        self.drivers: dict[str, subprocess.Popen] = {}
        for ups in self.upses:
            self.drivers[ups] = self.env.start([our_prog("dummy-ups"), "-a", ups, "-u",
                                                _user(), "-F"])
        for ups in self.upses:
            self.env.wait_socket("dummy-ups", ups)
        self.upsd: subprocess.Popen | None = None
        self.start_upsd()
        self.shutdown_log = root / "shutdowns.log"

    # -- the server -----------------------------------------------------------------------

    def start_upsd(self) -> None:
        prog = c_prog("upsd") if self.upsd_kind == "c" else our_prog("upsd")
        self.upsd = self.env.start([prog, "-u", _user(), "-F"])
        self.env.wait_port(self.port)
        for ups in self.upses:
            wait_for(lambda: self.status(ups) is not None, 15, 0.05, f"{ups} in upsd")

    def stop_upsd(self) -> None:
        if self.upsd is not None:
            self.env.stop(self.upsd)
            self.upsd = None
            wait_for(lambda: not port_open(self.port), 10, what="upsd to close its port")

    def status(self, ups: str) -> str | None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(f"GET VAR {ups} ups.status\n".encode())
                reply = s.makefile().readline()
        except OSError:
            return None
        if reply.startswith("VAR "):
            return reply.split('"')[1]
        return None

    def set_status(self, ups: str, status: str, wait: bool = True) -> None:
        """Set ``ups.status`` in the driver and wait until upsd serves it."""
        path = str(self.env.socket_path("dummy-ups", ups))
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(path)
            s.sendall(f'SET ups.status "{status}"\n'.encode())
        if wait:
            wait_for(lambda: (self.status(ups) or "").split() and
                     set(status.split()) <= set(self.status(ups).split()), 10, 0.02,
                     f"{ups} to be {status}")

    def set_var(self, ups: str, var: str, value: str) -> None:
        path = str(self.env.socket_path("dummy-ups", ups))
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(path)
            s.sendall(f'SET {var} "{value}"\n'.encode())

    def freeze_driver(self, ups: str) -> None:
        os.kill(self.drivers[ups].pid, signal.SIGSTOP)

    def thaw_driver(self, ups: str) -> None:
        os.kill(self.drivers[ups].pid, signal.SIGCONT)

    def numlogins(self, ups: str) -> int | None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(f"GET NUMLOGINS {ups}\n".encode())
                reply = s.makefile().readline()
        except OSError:
            return None
        words = reply.split()
        return int(words[2]) if len(words) == 3 and words[0] == "NUMLOGINS" else None

    def shutdowns(self) -> list[str]:
        try:
            return self.shutdown_log.read_text().splitlines()
        except FileNotFoundError:
            return []

    def close(self) -> None:
        for ups, proc in self.drivers.items():
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGCONT)
                except OSError:
                    pass
        self.env.close()
        shutil.rmtree(self.root, ignore_errors=True)


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


class Proxy:
    """A TCP relay between upsmon and upsd whose "network" can be cut: while cut, bytes
    are held back in both directions (like a dead link, not a refused connection)."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.port = free_port()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.flowing = threading.Event()
        self.flowing.set()
        self.stopped = False
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self.flowing.clear()

    def restore(self) -> None:
        self.flowing.set()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._relay_new, args=(conn,), daemon=True).start()

    def _relay_new(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
        except OSError:
            conn.close()
            return
        self.conns += [conn, upstream]
        for a, b in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(0.2)
        while not self.stopped:
            if not self.flowing.wait(0.2):
                continue
            try:
                data = src.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            self.flowing.wait()
            try:
                dst.sendall(data)
            except OSError:
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.stopped = True
        self.flowing.set()
        self.listener.close()
        for s in self.conns:
            try:
                s.close()
            except OSError:
                pass


class Upsmon:
    """One upsmon (``impl``: "c" or "ours") in its own directory: upsmon.conf with every
    notification sent to SYSLOG+WALL+EXEC, a NOTIFYCMD, a ``wall`` first in PATH and a
    SHUTDOWNCMD that record what they are given."""

    def __init__(self, stack: Stack, name: str, impl: str, monitors: list[str],
                 extra: str = "", args: tuple[str, ...] = ("-F",), port: int | None = None,
                 types: tuple[str, ...] | None = None) -> None:
        self.stack = stack
        self.name = name
        self.impl = impl
        self.dir = stack.root / name
        if self.dir.exists():
            raise ValueError(f"upsmon {name!r} already made in this stack")
        self.bin = self.dir / "bin"
        self.log = self.dir / "log"
        self.state = self.dir / "state"
        for d in (self.bin, self.log, self.state):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        os.chmod(self.log, 0o777)  # the unprivileged notifier writes here
        self.pdflag = self.dir / "killpower"
        self.port = port = port or stack.port
        scripts = {"notify": NOTIFY_SCRIPT.format(log=self.log),
                   "wall": WALL_SCRIPT.format(log=self.log),
                   "shutdown": SHUTDOWN_SCRIPT.format(name=name, shared=stack.shutdown_log)}
        for script, text in scripts.items():
            (self.bin / script).write_text(text)
            os.chmod(self.bin / script, 0o755)
        if types is None:
            types = ALL_TYPES + (NEW_TYPES if impl == "ours" else ())
        lines = [f"MONITOR {m.replace('@PORT', f'@127.0.0.1:{port}')}" for m in monitors]
        lines += [f"SHUTDOWNCMD {self.bin}/shutdown", f"NOTIFYCMD {self.bin}/notify",
                  f"POWERDOWNFLAG {self.pdflag}", "POLLFREQ 1", "POLLFREQALERT 1",
                  "FINALDELAY 0", "DEADTIME 4", "HOSTSYNC 15"]
        lines += [f"NOTIFYFLAG {t} SYSLOG+WALL+EXEC" for t in types]
        self.conf = self.dir / "upsmon.conf"
        self.conf.write_text("\n".join(lines) + "\n" + extra)
        os.chmod(self.conf, 0o640)
        if os.geteuid() == 0:  # as Debian installs it: the monitor re-reads it as nut
            import grp

            os.chown(self.conf, 0, grp.getgrnam("nut").gr_gid)
        self.args = args
        self.proc: subprocess.Popen | None = None
        self.err = self.dir / "stderr.log"

    def env(self) -> dict[str, str]:
        env = self.stack.env.env(NUT_PIDPATH=str(self.state))
        env["PATH"] = f"{self.bin}:{env.get('PATH', '/usr/bin:/bin')}"
        return env

    def argv(self, *args: str) -> list[str]:
        if self.impl == "ours":
            return [our_prog("upsmon"), "-f", str(self.conf), *args]
        prog = [c_prog("upsmon"), "-f", str(self.conf), *args]
        if can_unshare():
            inner = " ".join(_shquote(a) for a in prog)
            return ["unshare", "-m", "--propagation", "private", "sh", "-c",
                    f"mount -t tmpfs none /run/nut && exec {inner}"]
        return prog

    def start(self) -> "Upsmon":
        self.errfile = open(self.err, "wb")
        self.proc = subprocess.Popen(self.argv(*self.args), env=self.env(),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.errfile)
        return self

    def run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), env=self.env(), capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    # -- what it did -----------------------------------------------------------------------

    def notifications(self) -> list[tuple[str, str, str]]:
        """(type, UPSNAME, message) of each NOTIFYCMD run, in file order."""
        try:
            lines = (self.log / "notify.log").read_text().splitlines()
        except FileNotFoundError:
            return []
        return [tuple(line.split("|")[:3]) for line in lines]

    def notify_records(self) -> list[list[str]]:
        try:
            return [line.split("|") for line in
                    (self.log / "notify.log").read_text().splitlines()]
        except FileNotFoundError:
            return []

    def walls(self) -> str:
        try:
            return (self.log / "wall.log").read_text()
        except FileNotFoundError:
            return ""

    def stderr(self) -> str:
        try:
            return self.err.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def system(self, ups: str) -> str:
        return f"{ups}@127.0.0.1:{self.port}"

    def logged(self, messages) -> list[str]:
        """The lines of its log that are among ``messages``, in order."""
        wanted = set(messages)
        return [line for line in self.stderr().splitlines() if line in wanted]

    def types(self) -> list[str]:
        return [n[0] for n in self.notifications()]

    def wait_types(self, *types: str, timeout: float = 20) -> None:
        wait_for(lambda: all(t in self.types() for t in types), timeout, 0.05,
                 f"{self.name} to notify {types} (has {self.types()})")

    def processes(self) -> list[int]:
        """PIDs of this upsmon's process tree (the first is the one we started)."""
        if self.proc is None:
            return []
        pids = [self.proc.pid]
        i = 0
        while i < len(pids):
            pids += children(pids[i])
            i += 1
        return [p for p in pids if alive(p)]

    def wait_exit(self, timeout: float = 20) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """SIGTERM its monitoring process (as ``upsmon -c stop`` does), then whatever is
        left, newest first; SIGKILL after 5 s."""
        if self.proc is None:
            return
        pids = self.processes()
        for pid in reversed(pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            for pid in reversed(self.processes()):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            self.proc.wait(5)
        deadline = time.monotonic() + 5
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.errfile.close()


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _shquote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out
