"""Serial drivers against simulated UPSes on pseudo-terminals: a simulator running in the
test process, drivers (ours or C NUT's) as real processes, and a client of the driver's
Unix socket to read its data and send instant commands."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

from nutpy.common.parseconf import Tokenizer
from nutpy.sim.pty import PtyPort, Runner

from .harness import c_prog, have_c_nut, our_prog, require, unix_socket_listening, wait_for

C_DRIVERS = ("nutdrv_qx", "blazer_ser", "apcsmart", "genericups")

# NUT 2.8.1+ core variables our drivers publish and C 2.8.0 does not, and build details
CORE_ONLY_OURS = {"driver.debug", "driver.flag.allow_killpower", "driver.state"}
BUILD_DETAILS = {"driver.version", "driver.version.internal", "driver.version.data",
                 "driver.version.usb", "driver.parameter.port"}


def require_c_driver(name: str) -> str:
    path = Path(c_prog(name))
    require(have_c_nut() and path.exists(), f"C NUT driver {name} not installed "
                                            "(apt-get install -y nut-server)")
    return str(path)


class Rig:
    """A simulated device on a pty (reachable through a stable symlink that follows
    unplug/replug), run by a background thread."""

    def __init__(self, device, tmp: Path) -> None:
        self.device = device
        self.tmp = tmp
        self.state = tmp / "state"
        self.state.mkdir(exist_ok=True)
        os.chmod(self.state, 0o770)
        self.port = PtyPort(str(tmp / "ttyUPS"))
        self.runner = Runner(device, self.port)
        self.procs: list[subprocess.Popen] = []

    @property
    def path(self) -> str:
        return self.port.path

    def __enter__(self) -> "Rig":
        self.runner.start()
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            for stream in (p.stdout, p.stderr):
                if stream:
                    stream.close()
        self.runner.stop()

    def control(self, line: str) -> str:
        answer = self.device.control(line)
        assert not answer.startswith("ERR"), answer
        return answer

    def env(self, **extra) -> dict[str, str]:
        env = dict(os.environ, NUT_STATEPATH=str(self.state), NUT_ALTPIDPATH=str(self.state),
                   NUT_CONFPATH=str(self.tmp))
        env.pop("NUT_DEBUG_LEVEL", None)
        lines = getattr(self.device, "lines", None)
        if lines is not None:
            env.update(lines.env())
        env.update(extra)
        return env

    def argv(self, prog: str, ups: str, options: dict[str, str | None], *flags: str) -> list[str]:
        argv = [prog, "-s", ups, "-u", "root", "-x", f"port={self.path}"]
        for key, value in options.items():
            argv += ["-x", key if value is None else f"{key}={value}"]
        return argv + list(flags)

    def dump(self, prog: str, options: dict[str, str | None] | None = None, ups: str = "sim",
             timeout: float = 60, interval: int = 1
             ) -> tuple[dict[str, str], subprocess.CompletedProcess]:
        """The driver's ``-d 1`` output as a dict."""
        proc = subprocess.run(self.argv(prog, ups, options or {}, "-d", "1", "-i", str(interval)),
                              env=self.env(),
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        return parse_dump(proc.stdout), proc

    def start(self, prog: str, options: dict[str, str | None] | None = None, ups: str = "sim",
              interval: int = 1) -> "DriverProcess":
        name = os.path.basename(prog)
        argv = self.argv(prog, ups, options or {}, "-F", "-i", str(interval))
        proc = subprocess.Popen(argv, env=self.env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(proc)
        driver = DriverProcess(proc, self.state / f"{name}-{ups}")
        try:
            driver.wait_listening(60)
        except TimeoutError:
            proc.kill()
            raise
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited {proc.returncode}: {proc.stderr.read().decode()}")
        return driver

    def settle(self, timeout: float = 10) -> None:
        """Wait until the simulator has taken in everything the driver wrote."""
        import fcntl
        import struct
        import termios

        def unread() -> int:
            master = self.port.master
            if master is None:
                return 0
            try:
                return struct.unpack("i", fcntl.ioctl(master, termios.FIONREAD, b"\0" * 4))[0]
            except OSError:
                return 0
        wait_for(lambda: unread() == 0, timeout, what="the simulator to read its input")
        # ... and has handled what it read: a round that took the last bytes may still be
        # between reading them and logging them; two more rounds leave no such round
        rounds = self.runner.rounds
        wait_for(lambda: self.runner.rounds >= rounds + 2, timeout,
                 what="the simulator to handle its input")
        with self.device.lock:  # a chunk being fed when the line emptied is done now
            pass

    def polls_after(self, command: bytes, count: int, timeout: float = 30) -> None:
        """Wait until the device has seen ``command`` ``count`` more times."""
        start = self.device.commands().count(command)
        wait_for(lambda: self.device.commands().count(command) >= start + count, timeout,
                 what=f"{count} more {command!r}")


def parse_dump(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        name, sep, value = line.partition(": ")
        if sep and " " not in name:
            out[name] = value
    return out


class DriverProcess:
    """A running driver, reached through its Unix socket."""

    def __init__(self, proc: subprocess.Popen, sock_path: Path) -> None:
        self.proc = proc
        self.sock_path = sock_path

    def wait_listening(self, timeout: float) -> None:
        """Until the driver listens on its socket (or has exited)."""
        wait_for(lambda: unix_socket_listening(self.sock_path) or self.proc.poll() is not None,
                 timeout, what=f"{self.sock_path.name} socket")

    def _session(self, request: bytes, until, timeout: float = 30) -> list[list[str]]:
        tok = Tokenizer()
        lines: list[list[str]] = []
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(self.sock_path))
            s.sendall(request)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                data = s.recv(65536)
                if not data:
                    break
                for line in tok.feed(data):
                    lines.append(line.words)
                    if until(line.words):
                        return lines
        raise TimeoutError(f"no end of reply to {request!r}")

    def dump(self) -> tuple[dict[str, str], bool]:
        """(variables, stale) from DUMPALL."""
        words = self._session(b"DUMPALL\n", lambda w: w[:1] == ["DUMPDONE"])
        values = {w[1]: w[2] for w in words if w[:1] == ["SETINFO"] and len(w) == 3}
        stale = any(w[:1] == ["DATASTALE"] for w in words)
        return values, stale

    def instcmd(self, cmd: str, arg: str | None = None, timeout: float = 60) -> int:
        ident = str(uuid.uuid4()).upper()
        req = f"INSTCMD {cmd}" + (f" {arg}" if arg is not None else "") + f" TRACKING {ident}\n"
        words = self._session(req.encode(),
                              lambda w: w[:2] == ["TRACKING", ident], timeout)
        return int(words[-1][2])

    def set_var(self, name: str, value: str, timeout: float = 60) -> int:
        ident = str(uuid.uuid4()).upper()
        req = f'SET {name} "{value}" TRACKING {ident}\n'
        words = self._session(req.encode(), lambda w: w[:2] == ["TRACKING", ident], timeout)
        return int(words[-1][2])

    def wait_value(self, name: str, value: str, timeout: float = 30) -> dict[str, str]:
        return self.wait_values({name: value}, timeout)

    def wait_values(self, expected: dict[str, str | None], timeout: float = 30) -> dict[str, str]:
        """Wait until the published data show ``expected`` (None: variable absent)."""
        last: list[dict] = [{}]

        def check():
            values, stale = self.dump()
            last[0] = {k: values.get(k) for k in expected}
            return values if last[0] == expected and not stale else None
        try:
            return wait_for(check, timeout, interval=0.1, what=f"{expected}")
        except TimeoutError:
            raise AssertionError(f"expected {expected}, last seen {last[0]}") from None

    def watch(self, line: str, device, timeout: float = 120):
        """Start watching the driver's broadcasts; the returned thread's ``result`` is the
        device's command count at the moment ``line`` (e.g. DATASTALE) came."""
        import threading

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(str(self.sock_path))

        def run():
            tok = Tokenizer()
            with sock:
                try:
                    while True:
                        data = sock.recv(65536)
                        if not data:
                            return
                        if any(ln.words == [line] for ln in tok.feed(data)):
                            watcher.result = len(device.commands())
                            return
                except OSError:
                    return
        watcher = threading.Thread(target=run, daemon=True)
        watcher.result = None
        watcher.start()
        return watcher

    def wait_stale(self, stale: bool = True, timeout: float = 60) -> None:
        wait_for(lambda: self.dump()[1] == stale, timeout, interval=0.2,
                 what="DATASTALE" if stale else "DATAOK")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.stderr.read().decode(errors="replace")


def ours(name: str) -> str:
    return our_prog(name)


def comparable(values: dict[str, str]) -> dict[str, str]:
    """Variables without build details and the newer core's own."""
    return {k: v for k, v in values.items() if k not in CORE_ONLY_OURS | BUILD_DETAILS}
