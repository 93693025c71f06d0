"""upsd: C upsd 2.8.0 and ours side by side on the same C dummy-ups (the standard
65-variable Eaton device), reported as ratios ours/C:

* server CPU per GET VAR (pipelined, and one request at a time in interleaved rounds)
  and per LIST VAR (pipelined), CPU read from /proc/<pid>/task/*/schedstat;
* LIST VAR wall p50 with a stock socket client (no TCP_NODELAY, one request at a time);
* GET VAR throughput with 4,000 idle connections open vs none (rounds alternating);
* 50 concurrent connects (connect + NETVER) p99;
* RSS idle and with 4,000 idle clients;
* driver restart: dummy-ups killed and started again, time from its socket appearing
  (and from the driver itself answering a DUMPALL) to each upsd serving its data.

Targets (ours): CPU/GET <= 1.5x C, CPU/LIST <= 0.5x C, LIST p50 <= 1 ms, throughput with
4,000 idle >= 0.9x without, connect p99 <= 50 ms, RSS <= 25 MB idle / 45 MB with 4,000,
data again <= 0.5 s after the restarted driver answers.

Every loop is bounded in time: sockets have timeouts, and each phase has a budget
(``PHASE_SECONDS``) after which it stops with what it has (a phase that ran out says so).

Reproduce: ``.venv/bin/python -m bench.upsd`` (root, Debian's nut packages, fixtures);
``.venv/bin/python -m bench.upsd reconnect`` (or any of cpu, list, connect, idle) runs
only those phases.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench._common import BENCH_DEV, REPO, VENV_BIN, cpu_seconds, free_port, stop_processes, wait

IDLE = 4000
GETS = 20000
SEQ_GETS = 50000
LISTS = 2000
RECONNECT_ROUNDS = 5
IO_TIMEOUT = 10.0       # any single connect, send or receive
PHASE_SECONDS = 300.0   # any phase, for each server
IDLE_OPEN_SECONDS = 120.0  # opening the idle connections, for each server
PHASES = ("cpu", "list", "connect", "idle", "reconnect")


class OutOfTime(Exception):
    pass


class Budget:
    """A phase's time limit: ``check()`` raises OutOfTime once it is spent; ``left()``
    bounds socket timeouts so that no single wait outlives it."""

    def __init__(self, seconds: float, what: str) -> None:
        self.end = time.monotonic() + seconds
        self.what = what

    def left(self) -> float:
        return max(0.001, min(IO_TIMEOUT, self.end - time.monotonic()))

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise OutOfTime(f"{self.what}: out of time")


def bench_device() -> Path:
    """BENCH_DEV, also when running from a git worktree that sits deeper than the main
    checkout (the shared fixtures are beside the main checkout)."""
    if BENCH_DEV.exists():
        return BENCH_DEV
    rel = BENCH_DEV.relative_to(REPO.parent)
    for parent in REPO.parents:
        if (parent / rel).exists():
            return parent / rel
    return BENCH_DEV


def exchange(s: socket.socket, request: bytes, end: bytes) -> bytes:
    """Send ``request`` and read until the reply ends with ``end`` (the socket's timeout
    bounds each wait)."""
    s.sendall(request)
    data = b""
    while not data.endswith(end):
        chunk = s.recv(1 << 16)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def connect(port: int, budget: Budget | None = None) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port),
                                    timeout=budget.left() if budget else IO_TIMEOUT)


def ask(port: int, data: bytes, end: bytes) -> bytes:
    with connect(port) as s:
        return exchange(s, data, end)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Setup:
    """C dummy-ups + C upsd + our upsd, each upsd with its own config dir and port."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.dir = Path(tempfile.mkdtemp(prefix="nutpy-bench-upsd-"))
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        state = self.dir / "state"
        state.mkdir(mode=0o770)
        shutil.copy(bench_device(), self.dir / "bench.dev")
        base = dict(os.environ, NUT_STATEPATH=str(state), NUT_ALTPIDPATH=str(state))
        self.ports = {}
        self.pids = {}
        etcs = {}
        for kind in ("C", "ours"):
            etc = self.dir / f"etc-{kind}"
            etc.mkdir()
            port = free_port()
            (etc / "ups.conf").write_text(
                f"[ups]\n  driver = dummy-ups\n  port = {self.dir}/bench.dev\n")
            (etc / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\n")
            (etc / "upsd.users").write_text("")
            for p in etc.iterdir():
                p.chmod(0o640)
            etcs[kind] = etc
            self.ports[kind] = port
        self.driver_env = dict(base, NUT_CONFPATH=str(etcs["C"]))
        self.socket = state / "dummy-ups-ups"
        self.driver = self.start_driver()
        wait(self.socket.exists)
        for kind, prog in (("C", "/lib/nut/upsd"), ("ours", str(VENV_BIN / "upsd"))):
            env = dict(base, NUT_CONFPATH=str(etcs[kind]))
            p = subprocess.Popen([prog, "-u", "root", "-F"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.procs.append(p)
            self.pids[kind] = p.pid
        for kind, port in self.ports.items():
            wait(lambda: self.serving(port))

    def start_driver(self, prog: str = "/lib/nut/dummy-ups") -> subprocess.Popen:
        p = subprocess.Popen([prog, "-a", "ups", "-u", "root", "-F"],
                             env=self.driver_env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def kill_driver(self) -> None:
        self.driver.send_signal(signal.SIGKILL)
        self.driver.wait(IO_TIMEOUT)
        self.procs.remove(self.driver)
        self.socket.unlink(missing_ok=True)  # a killed driver leaves it behind

    @staticmethod
    def serving(port: int) -> bool:
        try:
            return ask(port, b"LIST VAR ups\n", b"END LIST VAR ups\n").count(b"\n") > 60
        except OSError:
            return False

    def close(self) -> None:
        stop_processes(self.procs)
        shutil.rmtree(self.dir, ignore_errors=True)


def pipelined(port: int, request: bytes, count: int, end: bytes, batch: int,
              budget: Budget) -> float:
    """Send ``count`` requests in batches, reading every reply; returns wall seconds."""
    with connect(port, budget) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = time.perf_counter()
        done = 0
        while done < count:
            budget.check()
            s.settimeout(budget.left())
            n = min(batch, count - done)
            s.sendall(request * n)
            seen = 0
            tail = b""  # the last len(end) - 1 bytes: an ``end`` split across two reads
            while seen < n:
                chunk = s.recv(1 << 18)
                if not chunk:
                    raise ConnectionError("closed")
                data = tail + chunk
                seen += data.count(end)
                tail = data[len(data) - len(end) + 1:] if len(end) > 1 else b""
            done += n
        return time.perf_counter() - t0


def cpu_per_request(pid: int, port: int, request: bytes, count: int, end: bytes,
                    batch: int, what: str) -> float:
    before = cpu_seconds(pid)
    pipelined(port, request, count, end, batch, Budget(PHASE_SECONDS, what))
    return (cpu_seconds(pid) - before) / count


def sequential(port: int, request: bytes, count: int, end: bytes, budget: Budget) -> None:
    """One request at a time, waiting for each reply (what upsc/upsmon do)."""
    with connect(port, budget) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(count):
            if i % 100 == 0:
                budget.check()
                s.settimeout(budget.left())
            exchange(s, request, end)


def cpu_per_sequential_request(pids: dict[str, int], ports: dict[str, int], request: bytes,
                               count: int, end: bytes, rounds: int = 5) -> dict[str, float]:
    """Server CPU per request, one request at a time, for each server: ``rounds`` rounds
    taking turns, so that a change in the machine's load falls on both alike."""
    used = dict.fromkeys(pids, 0.0)
    per_round = count // rounds
    budget = Budget(PHASE_SECONDS * len(pids), "one-at-a-time GET VAR")
    for _ in range(rounds):
        for kind, pid in pids.items():
            before = cpu_seconds(pid)
            sequential(ports[kind], request, per_round, end, budget)
            used[kind] += cpu_seconds(pid) - before
    return {kind: cpu / (per_round * rounds) for kind, cpu in used.items()}


def stock_list_p50(port: int, runs: int = 50) -> float:
    """One LIST VAR at a time on one connection, no TCP_NODELAY: a plain client."""
    end = b"END LIST VAR ups\n"
    times = []
    budget = Budget(PHASE_SECONDS, "stock LIST VAR")
    with connect(port, budget) as s:
        for _ in range(runs):
            budget.check()
            s.settimeout(budget.left())
            t0 = time.perf_counter()
            exchange(s, b"LIST VAR ups\n", end)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def throughput(port: int, seconds: float = 1.0) -> float:
    """Pipelined GET VARs (batches of 50) for about ``seconds``."""
    budget = Budget(PHASE_SECONDS, "GET VAR throughput")
    done, wall = 0, 0.0
    while wall < seconds:
        wall += pipelined(port, b"GET VAR ups ups.status\n", 1000, b"\n", 50, budget)
        done += 1000
    return done / wall


def throughput_with_idle(pid: int, port: int, rounds: int = 3
                         ) -> tuple[float, float, float, int]:
    """(GET/s with no idle client, GET/s with IDLE idle clients, RSS with them, the
    fewest idle connections a round managed to open): best of ``rounds`` rounds, each
    measuring both, so a change in load falls on both alike."""
    best_none = best_idle = rss = 0.0
    opened = IDLE
    for _ in range(rounds):
        best_none = max(best_none, throughput(port))
        idle = open_idle(port, IDLE)
        opened = min(opened, len(idle))
        try:
            best_idle = max(best_idle, throughput(port))
            rss = max(rss, rss_mb(pid))
        finally:
            for s in idle:
                s.close()
        time.sleep(0.5)  # let the server see them go before the next idle-free run
    return best_none, best_idle, rss, opened


def open_idle(port: int, n: int) -> list[socket.socket]:
    """Up to ``n`` idle connections, within IDLE_OPEN_SECONDS: a server that stops
    accepting (its listen backlog full) would otherwise block each connect for minutes.
    Returns those that opened."""
    socks = []
    budget = Budget(IDLE_OPEN_SECONDS, "opening idle connections")
    for _ in range(n):
        if time.monotonic() > budget.end:
            break
        s = socket.socket()
        s.settimeout(min(5.0, budget.left()))
        try:
            s.connect(("127.0.0.1", port))
        except OSError:  # timed out or refused: the server takes no more for now
            s.close()
            break
        socks.append(s)
    # make sure the server has accepted them all
    time.sleep(0.5)
    return socks


def connect_p99(port: int, n: int = 50) -> float:
    times = [0.0] * n
    barrier = threading.Barrier(n)

    def one(i: int) -> None:
        try:
            barrier.wait(IO_TIMEOUT)
            t0 = time.perf_counter()
            with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
                s.sendall(b"NETVER\n")
                s.recv(100)
            times[i] = time.perf_counter() - t0
        except (OSError, threading.BrokenBarrierError):
            times[i] = float("inf")

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    end = time.monotonic() + 3 * IO_TIMEOUT
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    if any(t.is_alive() for t in threads):
        raise OutOfTime("concurrent connects: out of time")
    times.sort()
    return times[min(n - 1, int(n * 0.99))]


def poll_status(port: int, done, budget: Budget, interval: float = 0.002) -> float:
    """Ask ``GET VAR ups ups.status`` until ``done(reply)``; the time it first held."""
    s = None
    try:
        while True:
            budget.check()
            try:
                if s is None:
                    s = connect(port, budget)
                s.settimeout(budget.left())
                reply = exchange(s, b"GET VAR ups ups.status\n", b"\n")
            except OSError:
                if s is not None:
                    s.close()
                s = None
                reply = b""
            if done(reply):
                return time.monotonic()
            time.sleep(interval)
    finally:
        if s is not None:
            s.close()


def driver_answers(path: Path, budget: Budget) -> tuple[float, float]:
    """(when the socket at ``path`` appears, when the driver behind it first completes
    a DUMPALL)."""
    while not path.exists():
        budget.check()
        time.sleep(0.001)
    appeared = time.monotonic()
    while True:
        budget.check()
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(budget.left())
                s.connect(str(path))
                exchange(s, b"DUMPALL\n", b"DUMPDONE\n")
                return appeared, time.monotonic()
        except OSError:
            time.sleep(0.001)


def reconnect_times(setup: "Setup", prog: str, rounds: int = RECONNECT_ROUNDS
                    ) -> dict[str, list[tuple[float, float]]]:
    """Kill the driver (SIGKILL), wait until both upsds have noticed, let them try to
    reconnect for 1.5 s, start ``prog`` (a dummy-ups) in its place. Per upsd and round:
    seconds from the driver's socket appearing, and from the driver first answering a
    DUMPALL, to that upsd serving the data again."""
    out: dict[str, list[tuple[float, float]]] = {kind: [] for kind in setup.ports}
    budget = Budget(PHASE_SECONDS, "driver restart")
    served = lambda r: r.startswith(b"VAR ") and b"WAIT" not in r  # noqa: E731
    for _ in range(rounds):
        setup.kill_driver()
        for port in setup.ports.values():
            poll_status(port, lambda r: r.startswith(b"ERR"), budget, 0.01)
        time.sleep(1.5)
        seen: dict[str, float] = {}
        errors: list[BaseException] = []

        def watch(kind: str, port: int) -> None:
            try:
                seen[kind] = poll_status(port, served, budget)
            except BaseException as e:  # reported below, not lost in the thread
                errors.append(e)

        threads = [threading.Thread(target=watch, args=item, daemon=True)
                   for item in setup.ports.items()]
        for t in threads:
            t.start()
        setup.driver = setup.start_driver(prog)
        appeared, answered = driver_answers(setup.socket, budget)
        for t in threads:
            t.join(max(0.0, budget.end - time.monotonic()) + 1)
        if errors or len(seen) < len(setup.ports):
            raise errors[0] if errors else OutOfTime("driver restart: out of time")
        for kind, t in seen.items():
            out[kind].append((t - appeared, t - answered))
    return out


def idle_reconnect_times(setup: "Setup", rounds: int = RECONNECT_ROUNDS
                         ) -> dict[str, list[float]]:
    """The same with no client asking anything while the driver is away (C upsd retries
    whenever its main loop wakes up: on any client request, at least every 2 s). The
    driver is a stand-in that notes when each upsd (told apart by SO_PEERCRED) connects
    after its socket appeared. Per upsd and round: seconds from the socket appearing to
    that upsd's connect."""
    import struct

    out: dict[str, list[float]] = {kind: [] for kind in setup.pids}
    by_pid = {pid: kind for kind, pid in setup.pids.items()}
    budget = Budget(PHASE_SECONDS, "driver restart, idle upsd")
    served = lambda r: r.startswith(b"VAR ") and b"WAIT" not in r  # noqa: E731
    dump = b'SETINFO ups.status "OL"\nDATAOK\nDUMPDONE\n'
    if setup.driver is not None:
        setup.kill_driver()
        setup.driver = None
    for _ in range(rounds):
        for port in setup.ports.values():
            poll_status(port, lambda r: r.startswith(b"ERR"), budget, 0.01)
        # no client traffic for longer than C's 2 s poll timeout, ending at a random
        # point of C's cycle
        time.sleep(2.5 + random.random() * 2)
        listener = socket.socket(socket.AF_UNIX)
        conns = []
        try:
            listener.bind(str(setup.socket))
            listener.listen(16)
            appeared = time.monotonic()
            connected: dict[str, float] = {}
            while len(connected) < len(by_pid):
                budget.check()
                listener.settimeout(budget.left())
                conn, _ = listener.accept()
                at = time.monotonic()
                conns.append(conn)
                pid = struct.unpack("3i", conn.getsockopt(
                    socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))[0]
                connected.setdefault(by_pid.get(pid, "?"), at)
                conn.settimeout(budget.left())
                exchange(conn, b"", b"DUMPALL\n")  # what upsd says first
                conn.sendall(dump)
            connected.pop("?", None)
            for kind, at in connected.items():
                out[kind].append(at - appeared)
            for port in setup.ports.values():  # both serve the stand-in's data
                poll_status(port, served, budget, 0.01)
        finally:
            for conn in conns:
                conn.close()
            listener.close()
            setup.socket.unlink(missing_ok=True)
    return out


def main(argv: list[str] | None = None) -> None:
    phases = list(sys.argv[1:] if argv is None else argv) or list(PHASES)
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        print(f"bench.upsd: unknown phase {unknown[0]!r} (phases: {', '.join(PHASES)})")
        return
    if os.geteuid() != 0 or not Path("/lib/nut/upsd").exists() or not bench_device().exists():
        print("bench.upsd: needs root, C NUT (/lib/nut/upsd) and the bench device; skipped")
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 3 * IDLE + 1000) if hard != resource.RLIM_INFINITY else 3 * IDLE + 1000
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    setup = Setup()
    results: dict[str, dict[str, float]] = {"C": {}, "ours": {}}
    restarts: dict[str, dict[str, list[tuple[float, float]]]] = {}
    idle_restarts: dict[str, list[float]] = {}
    failed: list[str] = []

    def phase(name: str, run) -> None:
        if name not in phases:
            return
        try:
            run()
        except OutOfTime as e:
            failed.append(str(e))

    def cpu() -> None:
        seq = cpu_per_sequential_request(setup.pids, setup.ports,
                                         b"GET VAR ups ups.status\n", SEQ_GETS, b"\n")
        for kind, value in seq.items():
            results[kind]["cpu_get_seq"] = value
        for kind in ("C", "ours"):
            pid, port = setup.pids[kind], setup.ports[kind]
            results[kind]["cpu_get"] = cpu_per_request(
                pid, port, b"GET VAR ups ups.status\n", GETS, b"\n", 50,
                f"{kind}: pipelined GET VAR")

    def lists() -> None:
        for kind in ("C", "ours"):
            pid, port = setup.pids[kind], setup.ports[kind]
            results[kind]["cpu_list"] = cpu_per_request(
                pid, port, b"LIST VAR ups\n", LISTS, b"END LIST VAR ups\n", 10,
                f"{kind}: pipelined LIST VAR")
            results[kind]["list_p50"] = stock_list_p50(port)

    def connects() -> None:
        for kind in ("C", "ours"):
            results[kind]["connect_p99"] = connect_p99(setup.ports[kind])

    def idle() -> None:
        for kind in ("C", "ours"):
            r = results[kind]
            (r["tput_0"], r["tput_idle"], r["rss_idle_clients"],
             r["idle_opened"]) = throughput_with_idle(setup.pids[kind], setup.ports[kind])

    def reconnect() -> None:
        # ours first answers at once; C's waits about a second after making its socket
        restarts["our dummy-ups"] = reconnect_times(setup, str(VENV_BIN / "dummy-ups"))
        restarts["C dummy-ups"] = reconnect_times(setup, "/lib/nut/dummy-ups")
        idle_restarts.update(idle_reconnect_times(setup))

    try:
        for kind, pid in setup.pids.items():
            results[kind]["rss_idle"] = rss_mb(pid)
        phase("cpu", cpu)
        phase("list", lists)
        phase("connect", connects)
        phase("idle", idle)
        phase("reconnect", reconnect)
    finally:
        setup.close()
    report(results, restarts, idle_restarts, failed, phases)


def report(results, restarts, idle_restarts, failed, phases) -> None:
    c, o = results["C"], results["ours"]
    print("upsd, C 2.8.0 vs ours, same C dummy-ups (65 variables):")
    if "cpu_get" in o:
        print(f"  CPU per GET VAR, pipelined      C {c['cpu_get'] * 1e6:6.1f} us  ours "
              f"{o['cpu_get'] * 1e6:6.1f} us  ratio {o['cpu_get'] / c['cpu_get']:5.2f}x"
              "  (target <= 1.5x)")
    if "cpu_get_seq" in o:
        print(f"  CPU per GET VAR, one at a time  C {c['cpu_get_seq'] * 1e6:6.1f} us  ours "
              f"{o['cpu_get_seq'] * 1e6:6.1f} us  ratio "
              f"{o['cpu_get_seq'] / c['cpu_get_seq']:5.2f}x  (target <= 1.5x)")
    if "cpu_list" in o:
        print(f"  CPU per LIST VAR, pipelined     C {c['cpu_list'] * 1e6:8.1f} us  ours "
              f"{o['cpu_list'] * 1e6:8.1f} us  ratio {o['cpu_list'] / c['cpu_list']:5.2f}x"
              "  (target <= 0.5x)")
        print(f"  LIST VAR p50 stock client  C {c['list_p50'] * 1e3:7.2f} ms  ours "
              f"{o['list_p50'] * 1e3:7.2f} ms  ratio {o['list_p50'] / c['list_p50']:5.2f}x"
              "  (target ours <= 1 ms)")
    for kind, r in (("C", c), ("ours", o)):
        if "tput_idle" in r:
            short = (f" (only {r['idle_opened']:.0f} idle connections opened)"
                     if r["idle_opened"] < IDLE else "")
            print(f"  {kind:4s} GET/s: no idle {r['tput_0']:8.0f}, {IDLE} idle "
                  f"{r['tput_idle']:8.0f}  ratio {r['tput_idle'] / r['tput_0']:5.2f}x"
                  f"  (target >= 0.9x){short}")
    if "connect_p99" in o:
        print(f"  50 concurrent connects p99  C {c['connect_p99'] * 1e3:6.2f} ms  ours "
              f"{o['connect_p99'] * 1e3:6.2f} ms  (target ours <= 50 ms)")
    print(f"  RSS idle          C {c['rss_idle']:6.1f} MB  ours {o['rss_idle']:6.1f} MB"
          "  (target ours <= 25 MB)")
    if "rss_idle_clients" in o:
        print(f"  RSS {IDLE} idle    C {c['rss_idle_clients']:6.1f} MB  ours "
              f"{o['rss_idle_clients']:6.1f} MB  (target ours <= 45 MB)")
    for driver, per_upsd in restarts.items():
        print(f"  {driver} killed and restarted ({RECONNECT_ROUNDS} rounds), data served "
              "again, median / max:")
        for kind, times in per_upsd.items():
            sock = [a for a, _ in times]
            drv = [b for _, b in times]
            print(f"    upsd {kind:4s} after its socket appeared {statistics.median(sock):6.3f} /"
                  f" {max(sock):6.3f} s; after the driver answered "
                  f"{statistics.median(drv):6.3f} / {max(drv):6.3f} s"
                  + ("  (target <= 0.5 s)" if kind == "ours" else ""))
    if idle_restarts:
        print(f"  driver back while no client asks anything ({RECONNECT_ROUNDS} rounds), "
              "upsd connects after its socket appeared, median / max:")
        for kind, times in idle_restarts.items():
            print(f"    upsd {kind:4s} {statistics.median(times):6.3f} / {max(times):6.3f} s"
                  + ("  (target <= 0.5 s)" if kind == "ours" else ""))
    for msg in failed:
        print(f"  incomplete: {msg}")
    args = "" if list(phases) == list(PHASES) else " " + " ".join(phases)
    print(f"reproduce: .venv/bin/python -m bench.upsd{args}")


if __name__ == "__main__":
    main()
