"""upsd: C upsd 2.8.0 and ours side by side on the same C dummy-ups (the standard
65-variable Eaton device), reported as ratios ours/C:

* server CPU per GET VAR (pipelined, and one request at a time in interleaved rounds)
  and per LIST VAR (pipelined), CPU read from /proc/<pid>/task/*/schedstat;
* LIST VAR wall p50 with a stock socket client (no TCP_NODELAY, one request at a time);
* GET VAR throughput with 4,000 idle connections open vs none (rounds alternating);
* 50 concurrent connects (connect + NETVER) p99;
* RSS idle and with 4,000 idle clients.

Targets (ours): CPU/GET <= 1.5x C, CPU/LIST <= 0.5x C, LIST p50 <= 1 ms, throughput with
4,000 idle >= 0.9x without, connect p99 <= 50 ms, RSS <= 25 MB idle / 45 MB with 4,000.

Reproduce: ``.venv/bin/python -m bench.upsd`` (root, Debian's nut packages, fixtures).
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench._common import BENCH_DEV, VENV_BIN, cpu_seconds, free_port, stop_processes, wait

IDLE = 4000
GETS = 20000
SEQ_GETS = 50000
LISTS = 2000


def exchange(s: socket.socket, request: bytes, end: bytes) -> bytes:
    """Send ``request`` and read until the reply ends with ``end``."""
    s.sendall(request)
    data = b""
    while not data.endswith(end):
        chunk = s.recv(1 << 16)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def ask(port: int, data: bytes, end: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
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
        shutil.copy(BENCH_DEV, self.dir / "bench.dev")
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
        env = dict(base, NUT_CONFPATH=str(etcs["C"]))
        self.procs.append(subprocess.Popen(["/lib/nut/dummy-ups", "-a", "ups", "-u", "root",
                                            "-F"], env=env, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        wait(lambda: (state / "dummy-ups-ups").exists())
        for kind, prog in (("C", "/lib/nut/upsd"), ("ours", str(VENV_BIN / "upsd"))):
            env = dict(base, NUT_CONFPATH=str(etcs[kind]))
            p = subprocess.Popen([prog, "-u", "root", "-F"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.procs.append(p)
            self.pids[kind] = p.pid
        for kind, port in self.ports.items():
            wait(lambda: self.serving(port))

    @staticmethod
    def serving(port: int) -> bool:
        try:
            return ask(port, b"LIST VAR ups\n", b"END LIST VAR ups\n").count(b"\n") > 60
        except OSError:
            return False

    def close(self) -> None:
        stop_processes(self.procs)
        shutil.rmtree(self.dir, ignore_errors=True)


def pipelined(port: int, request: bytes, count: int, end: bytes, batch: int) -> float:
    """Send ``count`` requests in batches, reading every reply; returns wall seconds."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = time.perf_counter()
        done = 0
        while done < count:
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
                    batch: int) -> float:
    before = cpu_seconds(pid)
    pipelined(port, request, count, end, batch)
    return (cpu_seconds(pid) - before) / count


def sequential(port: int, request: bytes, count: int, end: bytes) -> None:
    """One request at a time, waiting for each reply (what upsc/upsmon do)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(count):
            exchange(s, request, end)


def cpu_per_sequential_request(pids: dict[str, int], ports: dict[str, int], request: bytes,
                               count: int, end: bytes, rounds: int = 5) -> dict[str, float]:
    """Server CPU per request, one request at a time, for each server: ``rounds`` rounds
    taking turns, so that a change in the machine's load falls on both alike."""
    used = dict.fromkeys(pids, 0.0)
    per_round = count // rounds
    for _ in range(rounds):
        for kind, pid in pids.items():
            before = cpu_seconds(pid)
            sequential(ports[kind], request, per_round, end)
            used[kind] += cpu_seconds(pid) - before
    return {kind: cpu / (per_round * rounds) for kind, cpu in used.items()}


def stock_list_p50(port: int, runs: int = 50) -> float:
    """One LIST VAR at a time on one connection, no TCP_NODELAY: a plain client."""
    end = b"END LIST VAR ups\n"
    times = []
    with socket.create_connection(("127.0.0.1", port)) as s:
        for _ in range(runs):
            t0 = time.perf_counter()
            exchange(s, b"LIST VAR ups\n", end)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def throughput(port: int, seconds: float = 1.0) -> float:
    """Pipelined GET VARs (batches of 50) for about ``seconds``."""
    done, wall = 0, 0.0
    while wall < seconds:
        wall += pipelined(port, b"GET VAR ups ups.status\n", 1000, b"\n", 50)
        done += 1000
    return done / wall


def throughput_with_idle(pid: int, port: int, rounds: int = 3) -> tuple[float, float, float]:
    """(GET/s with no idle client, GET/s with IDLE idle clients, RSS with them): best of
    ``rounds`` rounds, each measuring both, so a change in load falls on both alike."""
    best_none = best_idle = rss = 0.0
    for _ in range(rounds):
        best_none = max(best_none, throughput(port))
        idle = open_idle(port, IDLE)
        try:
            best_idle = max(best_idle, throughput(port))
            rss = max(rss, rss_mb(pid))
        finally:
            for s in idle:
                s.close()
        time.sleep(0.5)  # let the server see them go before the next idle-free run
    return best_none, best_idle, rss


def open_idle(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.connect(("127.0.0.1", port))
        socks.append(s)
    # make sure the server has accepted them all
    time.sleep(0.5)
    return socks


def connect_p99(port: int, n: int = 50) -> float:
    times = [0.0] * n
    barrier = threading.Barrier(n)

    def one(i: int) -> None:
        barrier.wait()
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"NETVER\n")
            s.recv(100)
        times[i] = time.perf_counter() - t0

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times.sort()
    return times[min(n - 1, int(n * 0.99))]


def main() -> None:
    if os.geteuid() != 0 or not Path("/lib/nut/upsd").exists() or not BENCH_DEV.exists():
        print("bench.upsd: needs root, C NUT (/lib/nut/upsd) and the bench device; skipped")
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 3 * IDLE + 1000) if hard != resource.RLIM_INFINITY else 3 * IDLE + 1000
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    setup = Setup()
    results: dict[str, dict[str, float]] = {"C": {}, "ours": {}}
    try:
        for kind, pid in setup.pids.items():
            results[kind]["rss_idle"] = rss_mb(pid)
        seq = cpu_per_sequential_request(setup.pids, setup.ports, b"GET VAR ups ups.status\n",
                                         SEQ_GETS, b"\n")
        for kind, value in seq.items():
            results[kind]["cpu_get_seq"] = value
        for kind in ("C", "ours"):
            pid, port = setup.pids[kind], setup.ports[kind]
            r = results[kind]
            r["cpu_get"] = cpu_per_request(pid, port, b"GET VAR ups ups.status\n", GETS,
                                           b"\n", 50)
            r["cpu_list"] = cpu_per_request(pid, port, b"LIST VAR ups\n", LISTS,
                                            b"END LIST VAR ups\n", 10)
            r["list_p50"] = stock_list_p50(port)
            r["connect_p99"] = connect_p99(port)
            r["tput_0"], r["tput_idle"], r["rss_idle_clients"] = throughput_with_idle(pid, port)
    finally:
        setup.close()
    c, o = results["C"], results["ours"]
    print("upsd, C 2.8.0 vs ours, same C dummy-ups (65 variables):")
    print(f"  CPU per GET VAR, pipelined      C {c['cpu_get'] * 1e6:6.1f} us  ours "
          f"{o['cpu_get'] * 1e6:6.1f} us  ratio {o['cpu_get'] / c['cpu_get']:5.2f}x"
          "  (target <= 1.5x)")
    print(f"  CPU per GET VAR, one at a time  C {c['cpu_get_seq'] * 1e6:6.1f} us  ours "
          f"{o['cpu_get_seq'] * 1e6:6.1f} us  ratio {o['cpu_get_seq'] / c['cpu_get_seq']:5.2f}x"
          "  (target <= 1.5x)")
    print(f"  CPU per LIST VAR, pipelined     C {c['cpu_list'] * 1e6:8.1f} us  ours {o['cpu_list'] * 1e6:8.1f} us"
          f"  ratio {o['cpu_list'] / c['cpu_list']:5.2f}x  (target <= 0.5x)")
    print(f"  LIST VAR p50 stock client  C {c['list_p50'] * 1e3:7.2f} ms  ours "
          f"{o['list_p50'] * 1e3:7.2f} ms  ratio {o['list_p50'] / c['list_p50']:5.2f}x"
          "  (target ours <= 1 ms)")
    for kind, r in (("C", c), ("ours", o)):
        print(f"  {kind:4s} GET/s: no idle {r['tput_0']:8.0f}, {IDLE} idle {r['tput_idle']:8.0f}"
              f"  ratio {r['tput_idle'] / r['tput_0']:5.2f}x  (target >= 0.9x)")
    print(f"  50 concurrent connects p99  C {c['connect_p99'] * 1e3:6.2f} ms  ours "
          f"{o['connect_p99'] * 1e3:6.2f} ms  (target ours <= 50 ms)")
    print(f"  RSS idle          C {c['rss_idle']:6.1f} MB  ours {o['rss_idle']:6.1f} MB"
          "  (target ours <= 25 MB)")
    print(f"  RSS {IDLE} idle    C {c['rss_idle_clients']:6.1f} MB  ours "
          f"{o['rss_idle_clients']:6.1f} MB  (target ours <= 45 MB)")
    print("reproduce: .venv/bin/python -m bench.upsd")


if __name__ == "__main__":
    main()
