"""One NUT installation per fault: a driver, upsd and upsmon, all C NUT 2.8.0's or all ours,
in a throw-away directory, each process started by us (foreground, ``-F``) so that it can be
killed, stopped, restarted and watched by PID.

upsmon is a primary for the UPS with a SHUTDOWNCMD and a NOTIFYCMD that only record what
they are given: any line in ``shutdowns.log`` is a false shutdown (the UPS is never on
battery with a low battery in these runs). C upsmon 2.8.0 keeps its PID file in /run/nut:
it gets a private one (a mount namespace), as in tests/support/upsmon_stack.py.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

C_DIR = Path("/lib/nut")
OUR_BIN = Path(sys.executable).parent

USERS = """[admin]
  password = adminpw
  actions = SET FSD
  instcmds = all
[mon]
  password = monpw
  upsmon primary
"""
NOTIFY_TYPES = ("ONLINE", "ONBATT", "LOWBATT", "FSD", "COMMOK", "COMMBAD", "SHUTDOWN",
                "REPLBATT", "NOCOMM", "NOPARENT")
DEV = "ups.status: OL\nbattery.charge: 100\nups.id: w0\nups.mfr: nutpy faults\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def wait_until(predicate, timeout: float, interval: float = 0.01):
    """The predicate's first true value, or None once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def get_status(port: int, ups: str = "u", timeout: float = 1.0) -> str | None:
    """``ups.status`` as upsd serves it now (None: error, WAIT, no answer)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET VAR {ups} ups.status\n".encode())
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    return None
                data += chunk
    except OSError:
        return None
    text = data.decode("latin-1")
    if not text.startswith("VAR ") or '"WAIT"' in text:
        return None
    return text.split('"')[1]


def ping_driver(path: Path, timeout: float = 1.0) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall(b"PING\n")
            return s.recv(64).startswith(b"PONG")
    except OSError:
        return False


LIVE: set["Stack"] = set()  # closed at exit, however the run ends (see bench.faults)


def close_all() -> None:
    for stack in list(LIVE):
        stack.close()


class Stack:
    """``kind``: "C" or "ours". ``driver``: the driver program name; ``port``: its port
    (a .dev file name in the config directory by default)."""

    def __init__(self, kind: str, root: Path, *, upsd_conf: str = "", ups_conf: str = "",
                 driver: str = "dummy-ups", port: str = "u.dev", driver_env: dict | None = None,
                 dev_text: str = DEV, upsmon: bool = True, upsmon_env: dict | None = None,
                 state: Path | None = None, deadtime: int = 4) -> None:
        self.kind = kind
        self.root = root
        self.etc = root / "etc"
        self.state = state or root / "state"
        self.logs = root / "log"
        for d in (self.etc, self.state, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o755)
        os.chmod(self.state, 0o770)
        os.chmod(self.logs, 0o777)  # the unprivileged upsmon notifier writes here
        self.port = free_port()
        self.driver_name = driver
        self.driver_env = driver_env or {}
        self.upsmon_env = upsmon_env or {}
        (self.etc / "u.dev").write_text(dev_text)
        self._write("ups.conf", f"[u]\n  driver = {driver}\n  port = {port}\n{ups_conf}")
        self._write("upsd.conf", f"LISTEN 127.0.0.1 {self.port}\n{upsd_conf}")
        self._write("upsd.users", USERS)
        self.procs: dict[str, subprocess.Popen] = {}
        self._logfiles = []
        LIVE.add(self)
        self.shutdown_log = root / "shutdowns.log"
        self.notify_log = self.logs / "notify.log"
        self.with_upsmon = upsmon
        self.deadtime = deadtime

    # ---- files and environment

    def _write(self, name: str, text: str) -> None:
        p = self.etc / name
        p.write_text(text)
        os.chmod(p, 0o640)

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(NUT_CONFPATH=str(self.etc), NUT_STATEPATH=str(self.state),
                   NUT_ALTPIDPATH=str(self.state), NUT_PIDPATH=str(self.state))
        for key in ("NUT_DEBUG_LEVEL", "PYTHONDONTWRITEBYTECODE"):
            env.pop(key, None)
        env.update(extra)
        return env

    def prog(self, name: str) -> str:
        return str(C_DIR / name) if self.kind == "C" else str(OUR_BIN / name)

    @property
    def socket_path(self) -> Path:
        return self.state / f"{self.driver_name}-u"

    def _start(self, key: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.logs / f"{key}.log", "ab")
        self._logfiles.append(log)
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True)
        self.procs[key] = p
        return p

    # ---- processes

    def socket_id(self) -> tuple | None:
        try:
            st = os.stat(self.socket_path)
        except OSError:
            return None
        return st.st_ino, st.st_ctime_ns

    def start_driver(self, wait: float = 30) -> bool:
        """Start the driver in the foreground; with ``wait``, True once it has made its
        socket. (Not by connecting to it: C 2.8.0 drivers keep a client that hung up and
        die on their next broadcast, so a connect-and-close probe would kill them.)"""
        old = self.socket_id()
        self._start("driver", [self.prog(self.driver_name), "-a", "u", "-u", "root", "-F"],
                    self.env(**self.driver_env))
        if not wait:
            return True
        return self.wait_new_socket(old, wait) is not None

    def wait_new_socket(self, old: tuple | None, timeout: float) -> float | None:
        """Monotonic time at which a socket other than ``old`` showed up (None: it did not,
        or the driver died first)."""
        p = self.procs.get("driver")

        def made():
            sid = self.socket_id()
            if sid is not None and sid != old:
                return time.monotonic()
            if p is not None and p.poll() is not None:
                return -1.0
            return None
        t = wait_until(made, timeout, 0.002)
        return t if t is not None and t > 0 else None

    def start_upsd(self, wait: float = 30) -> bool:
        self._start("upsd", [self.prog("upsd"), "-u", "root", "-F"], self.env())
        return bool(wait_until(lambda: get_status(self.port), wait, 0.01)) if wait else True

    def start_upsmon(self) -> None:
        bindir = self.root / "bin"
        bindir.mkdir(exist_ok=True)
        scripts = {
            "notify": ('#!/bin/sh\necho "$(date +%s.%N)|$NOTIFYTYPE|$UPSNAME|$1" >> '
                       f"{self.notify_log}\n"),
            "shutdown": f'#!/bin/sh\necho "$(date +%s.%N) shutdown" >> {self.shutdown_log}\n',
            "wall": "#!/bin/sh\ncat > /dev/null\n",
        }
        for name, text in scripts.items():
            (bindir / name).write_text(text)
            os.chmod(bindir / name, 0o755)
        lines = [f"MONITOR u@127.0.0.1:{self.port} 1 mon monpw primary",
                 f"SHUTDOWNCMD {bindir}/shutdown", f"NOTIFYCMD {bindir}/notify",
                 f"POWERDOWNFLAG {self.root}/killpower", "POLLFREQ 1", "POLLFREQALERT 1",
                 "FINALDELAY 0", f"DEADTIME {self.deadtime}", "HOSTSYNC 15"]
        lines += [f"NOTIFYFLAG {t} EXEC" for t in NOTIFY_TYPES]
        conf = self.root / "upsmon.conf"
        conf.write_text("\n".join(lines) + "\n")
        os.chmod(conf, 0o644)
        env = self.env(**self.upsmon_env)
        env["PATH"] = f"{bindir}:{env.get('PATH', '/usr/bin:/bin')}"
        argv = [self.prog("upsmon"), "-F", "-f", str(conf)]
        if self.kind == "C" and os.geteuid() == 0 and shutil.which("unshare"):
            inner = " ".join(shlex.quote(a) for a in argv)
            argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                    f"mount -t tmpfs none /run/nut && exec {inner}"]
        self._start("upsmon", argv, env)

    def start(self) -> "Stack":
        if not self.start_driver():
            raise RuntimeError(f"{self.kind} {self.driver_name} did not start: "
                               f"{self.log('driver')[-500:]}")
        if not self.start_upsd():
            raise RuntimeError(f"{self.kind} upsd did not serve: {self.log('upsd')[-500:]}")
        if self.with_upsmon:
            self.start_upsmon()
            wait_until(lambda: self.numlogins() >= 1, 15, 0.05)
        return self

    def pid(self, key: str) -> int | None:
        p = self.procs.get(key)
        return p.pid if p is not None and p.poll() is None else None

    def send(self, key: str, sig: int) -> None:
        pid = self.pid(key)
        if pid is not None:
            os.kill(pid, sig)

    def kill(self, key: str, sig: int = signal.SIGKILL, wait: float = 10) -> None:
        p = self.procs.get(key)
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGCONT)
            os.killpg(p.pid, sig)
        except OSError:
            pass
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)

    def numlogins(self) -> int:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"GET NUMLOGINS u\n")
                words = s.recv(256).split()
            return int(words[2]) if len(words) == 3 and words[0] == b"NUMLOGINS" else 0
        except (OSError, ValueError):
            return 0

    def log(self, key: str) -> str:
        try:
            return (self.logs / f"{key}.log").read_text(errors="replace")
        except OSError:
            return ""

    def shutdowns(self) -> list[str]:
        try:
            return self.shutdown_log.read_text().splitlines()
        except OSError:
            return []

    def notifications(self, since: float = 0.0) -> list[str]:
        """NOTIFYTYPEs upsmon sent since the wall-clock time ``since``, in order."""
        out = []
        try:
            for line in self.notify_log.read_text().splitlines():
                stamp, ntype = line.split("|")[:2]
                if float(stamp) >= since:
                    out.append(ntype)
        except (OSError, ValueError):
            pass
        return out

    def close(self) -> None:
        for key in ("upsmon", "upsd", "driver"):
            p = self.procs.get(key)
            if p is not None and p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGCONT)
                    os.killpg(p.pid, signal.SIGTERM)
                except OSError:
                    pass
        for key, p in self.procs.items():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait(5)
        for f in self._logfiles:
            f.close()
        LIVE.discard(self)
