"""What the upsd benchmarks share: a NUT stack (C dummy-ups drivers behind C upsd and ours) and
a load generator that plays many clients from one thread.

The load generator keeps a fixed number of requests in flight over many connections: a
connection sends its next request only once the reply to the previous one has arrived (as
upsc, upsmon and the Home Assistant integration do), and connections take turns, so with
more connections than the window most of them sit idle between their requests, the way a
large fleet of pollers does.
"""

from __future__ import annotations

import os
import selectors
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bench._common import BENCH_DEV, VENV_BIN, cpu_seconds, stop_processes, wait

C_DRIVER = "/lib/nut/dummy-ups"
C_UPSD = "/lib/nut/upsd"
OUR_UPSD = str(VENV_BIN / "upsd")
SERVERS = {"C": C_UPSD, "ours": OUR_UPSD}

ADMIN = ("admin", "secret")


def have_c_nut() -> bool:
    return os.geteuid() == 0 and Path(C_UPSD).exists() and Path(C_DRIVER).exists()


def raise_fd_limit(want: int) -> None:
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def machine_load() -> str:
    """The 1-minute load average and the CPU count, for the line printed beside a figure."""
    return f"load {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


def recv_until(s: socket.socket, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        chunk = s.recv(1 << 16)
        if not chunk:
            raise ConnectionError("upsd closed the connection")
        data += chunk
    return data


class Stack:
    """``upses`` C dummy-ups drivers (named ups1, ups2, ...; with one UPS just ``ups``), all
    serving the same device file, behind C upsd and our upsd: each upsd has its own
    configuration directory and port, both read the drivers' sockets in one state directory.
    upsd.users holds ``admin``/``secret`` with every action and command."""

    def __init__(self, upses: int = 1, maxconn: int = 4096, servers=("C", "ours"),
                 dev: Path = BENCH_DEV) -> None:
        self.procs: list[subprocess.Popen] = []
        self.dir = Path(tempfile.mkdtemp(prefix="nutpy-bench-"))
        self.names = ["ups"] if upses == 1 else [f"ups{i}" for i in range(1, upses + 1)]
        self.ports: dict[str, int] = {}
        self.pids: dict[str, int] = {}
        self.envs: dict[str, dict] = {}
        try:
            self._start(servers, maxconn, dev)
        except BaseException:
            self.close()
            raise

    def _start(self, servers, maxconn: int, dev: Path) -> None:
        from bench._common import free_port
        state = self.dir / "state"
        state.mkdir(mode=0o770)
        shutil.copy(dev, self.dir / "bench.dev")
        ups_conf = "".join(f"[{name}]\n  driver = dummy-ups\n  port = {self.dir}/bench.dev\n"
                           f"  desc = \"bench unit {name}\"\n" for name in self.names)
        users = (f"[{ADMIN[0]}]\n  password = {ADMIN[1]}\n  actions = SET FSD\n"
                 "  instcmds = ALL\n  upsmon primary\n")
        base = dict(os.environ, NUT_STATEPATH=str(state), NUT_ALTPIDPATH=str(state),
                    NUT_PIDPATH=str(state))
        for kind in servers:
            etc = self.dir / f"etc-{kind}"
            etc.mkdir()
            port = free_port()
            (etc / "ups.conf").write_text(ups_conf)
            (etc / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\nMAXCONN {maxconn}\n")
            (etc / "upsd.users").write_text(users)
            for p in etc.iterdir():
                p.chmod(0o640)
            self.ports[kind] = port
            self.envs[kind] = dict(base, NUT_CONFPATH=str(etc))
        driver_env = self.envs[servers[0]]
        for name in self.names:
            self.procs.append(subprocess.Popen(
                [C_DRIVER, "-a", name, "-u", "root", "-F"], env=driver_env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for name in self.names:
            wait(lambda: (state / f"dummy-ups-{name}").exists(), 60)
        for kind in servers:
            p = subprocess.Popen([SERVERS[kind], "-u", "root", "-F"], env=self.envs[kind],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            self.procs.append(p)
            self.pids[kind] = p.pid
        for kind in servers:
            wait(lambda: self.port_answers(kind), 60)
        # The drivers' dumps arrive in pieces: wait until every UPS shows as many variables
        # as the first one, and that number holds for a moment.
        deadline = time.monotonic() + 120
        counts: list[int] = []
        while len(counts) < 3 or len(set(counts[-3:])) > 1:
            if time.monotonic() > deadline:
                raise TimeoutError("bench set-up: the drivers' data did not settle")
            counts.append(min(len(self.list_var_names(kind, name))
                              for kind in servers for name in self.names))
            time.sleep(0.3)
        self.var_names = self.list_var_names(servers[0], self.names[0])

    def ask(self, kind: str, request: bytes, end: bytes = b"\n") -> bytes:
        with socket.create_connection(("127.0.0.1", self.ports[kind]), timeout=5) as s:
            s.sendall(request)
            return recv_until(s, end)

    def port_answers(self, kind: str) -> bool:
        try:
            return self.ask(kind, b"VER\n").startswith(b"Network UPS Tools")
        except OSError:
            return False

    def list_var_names(self, kind: str, name: str) -> list[str]:
        """The variable names upsd lists for ``name`` (none while the driver is not in)."""
        end = f"END LIST VAR {name}\n".encode()
        with socket.create_connection(("127.0.0.1", self.ports[kind]), timeout=5) as s:
            s.sendall(f"LIST VAR {name}\n".encode())
            reply = b""
            while not reply.endswith(end):
                if reply.startswith(b"ERR") and reply.endswith(b"\n"):
                    return []
                chunk = s.recv(1 << 16)
                if not chunk:
                    raise ConnectionError("upsd closed the connection")
                reply += chunk
        return [line.split()[2] for line in reply.decode().splitlines()
                if line.startswith("VAR ")]

    def close(self) -> None:
        stop_processes(self.procs)
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# Load generator

def get(what: str, ups: str, name: str) -> tuple[bytes, bytes]:
    """``GET <what> <ups> <name>`` and what ends its reply (one line)."""
    return f"GET {what} {ups} {name}\n".encode(), b"\n"


def list_var(ups: str) -> tuple[bytes, bytes]:
    return f"LIST VAR {ups}\n".encode(), f"END LIST VAR {ups}\n".encode()


def integration_script(ups: str, var_names: list[str]) -> list[tuple[bytes, bytes]]:
    """What Home Assistant's NUT integration, exporters and web UIs send: LIST VAR, then
    GET TYPE and GET DESC for every variable."""
    script = [list_var(ups)]
    for var in var_names:
        script.append(get("TYPE", ups, var))
        script.append(get("DESC", ups, var))
    return script


def upsmon_script(ups: str) -> list[tuple[bytes, bytes]]:
    """upsmon's poll: the status, and the variables it reads for its messages."""
    return [get("VAR", ups, "ups.status"), get("VAR", ups, "battery.charge"),
            get("VAR", ups, "battery.runtime")]


class Load:
    """Connections to one port, each replaying its script in a loop, one request at a time;
    at most ``window`` requests in flight over all connections, connections taking turns."""

    def __init__(self, port: int, scripts: list[list[tuple[bytes, bytes]]],
                 window: int, active: int | None = None) -> None:
        self.scripts = scripts
        # connections taking turns; the others stay connected and quiet (see touch_quiet)
        self.active = len(scripts) if active is None else active
        self.window = min(window, self.active)
        self.sel = selectors.DefaultSelector()
        self.socks: list[socket.socket] = []
        try:
            for i in range(len(scripts)):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                # Wait until upsd has accepted and served this one before opening the next:
                # C upsd listens with a backlog of 16, and connections beyond it wait for
                # SYN retries (seconds each), long enough for the first ones to hit upsd's
                # 60 s idle timeout.
                s.sendall(b"VER\n")
                recv_until(s, b"\n")
                s.setblocking(False)
                self.socks.append(s)
                self.sel.register(s, selectors.EVENT_READ, i)
        except BaseException:
            self.close()
            raise
        self.pos = [0] * len(scripts)
        self.next_conn = 0

    def run(self, requests: int, seconds: float) -> tuple[int, float]:
        """Send about ``requests`` requests (stopping early after ``seconds``); returns
        (requests answered, wall seconds)."""
        sel = self.sel
        pending: dict[int, bytes] = {}  # conn -> expected end of reply
        tails: dict[int, bytes] = {}
        done = sent = 0
        t0 = time.perf_counter()
        deadline = t0 + seconds

        def send_next() -> None:
            nonlocal sent
            i = self.next_conn
            self.next_conn = (i + 1) % self.active
            script = self.scripts[i]
            request, end = script[self.pos[i]]
            self.pos[i] = (self.pos[i] + 1) % len(script)
            self.socks[i].send(request)
            pending[i] = end
            tails[i] = b""
            sent += 1

        while len(pending) < self.window:
            send_next()
        while pending:
            for key, _ in sel.select(10):
                i = key.data
                s = self.socks[i]
                chunk = s.recv(1 << 17)
                if not chunk:
                    raise ConnectionError("upsd closed a connection")
                end = pending[i]
                data = tails[i] + chunk
                if not data.endswith(end):
                    tails[i] = data[-len(end):]
                    continue
                del pending[i]
                done += 1
                if sent < requests and time.perf_counter() < deadline:
                    # the next connection in turn (this one gets its turn again later)
                    while self.next_conn in pending:
                        self.next_conn = (self.next_conn + 1) % self.active
                    send_next()
        return done, time.perf_counter() - t0

    def touch_quiet(self) -> None:
        """One VER on each quiet connection, so that none reaches upsd's 60 s idle timeout
        (C's and ours) while the others are measured."""
        for s in self.socks[self.active:]:
            s.setblocking(True)
            s.settimeout(10)
            s.sendall(b"VER\n")
            recv_until(s, b"\n")
            s.setblocking(False)

    def close(self) -> None:
        for s in self.socks:
            s.close()
        self.sel.close()


def server_cpu_per_request(pid: int, load: Load, requests: int,
                           seconds: float) -> tuple[float, int]:
    """(server CPU seconds per answered request, requests answered)."""
    before = cpu_seconds(pid)
    done, _ = load.run(requests, seconds)
    return (cpu_seconds(pid) - before) / done, done


def alternate(targets: dict, window: int, requests: int, rounds: int,
              seconds: float) -> dict[str, dict]:
    """Server CPU per request for each target ``{label: (pid, port, scripts[, active])}``
    (``active``: how many of the connections take turns, the others staying quiet),
    measured in ``rounds`` rounds in which the targets take turns, so that a change in the
    machine's load (other jobs on it) falls on all alike. Returns {label: {"cpu":
    s/request, "requests": n, "rounds": [s/request of each round]}}."""
    loads = {label: Load(t[1], t[2], window, *t[3:]) for label, t in targets.items()}
    try:
        for load in loads.values():  # warm-up: caches, first-request paths, TCP windows
            load.run(min(requests // 10, 2000), seconds / 10)
        used = dict.fromkeys(targets, 0.0)
        count = dict.fromkeys(targets, 0)
        per_round: dict[str, list[float]] = {label: [] for label in targets}
        for _ in range(rounds):
            for label, load in loads.items():
                load.touch_quiet()
                cpu, done = server_cpu_per_request(targets[label][0], load,
                                                   requests // rounds, seconds / rounds)
                used[label] += cpu * done
                count[label] += done
                per_round[label].append(cpu)
    finally:
        for load in loads.values():
            load.close()
    return {label: {"cpu": used[label] / count[label], "requests": count[label],
                    "rounds": per_round[label]} for label in targets}
