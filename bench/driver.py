"""Driver benchmark: our dummy-ups against C dummy-ups 2.8.0, both behind one C upsd.

* RSS of each driver process serving the standard bench device.
* SET VAR latency: from sending ``SET VAR`` to upsd until ``GET VAR`` (another
  connection, polled back to back) returns the new value.
* File-change latency: from rewriting the ``.dev`` file until the value is visible.
* Start-up: CPU time to bring one driver up (launcher + daemon until ready, the way
  upsdrvctl starts it), and wall time for many drivers started at once.

Run: python -m bench.driver [set_rounds] [file_rounds] [start_rounds] [parallel]
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import BENCH_DEV as DEV
from bench._common import cpu_seconds, free_port

C_DRIVER = "/lib/nut/dummy-ups"
C_UPSD = "/lib/nut/upsd"
OUR_DRIVER = str(Path(sys.executable).parent / "dummy-ups")


class Conn:
    def __init__(self, port: int) -> None:
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def ask(self, line: str) -> str:
        self.s.sendall(line.encode() + b"\n")
        while b"\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                raise ConnectionError("upsd closed the connection")
            self.buf += data
        out, self.buf = self.buf.split(b"\n", 1)
        return out.decode()


def daemon_pid(path: Path, timeout: float = 10) -> int:
    """C rewrites its PID file after forking, so wait for a PID that is alive."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid = int(path.read_text())
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] != "Z":
                    return pid
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no live PID in {path}")
        time.sleep(0.02)


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def wait_value(getter: Conn, ups: str, var: str, want: str, timeout: float = 15) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if getter.ask(f"GET VAR {ups} {var}") == f'VAR {ups} {var} "{want}"':
            return time.perf_counter()
    raise TimeoutError(f"{ups}: {var} never became {want}")


def _wait_gone(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return
        except OSError:
            return
        time.sleep(0.01)


def start_cpu(argv: list[str], env: dict, pidfile: Path, rounds: int) -> float:
    """Mean CPU seconds from exec to ready: the launcher (which does all the work
    before the fork) plus the daemon up to the moment the launcher returns."""
    total = 0.0
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        pid = daemon_pid(pidfile)
        total += (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                  + cpu_seconds(pid))
        os.kill(pid, signal.SIGTERM)
        _wait_gone(pid)
    return total / rounds


def parallel_start(prog: list[str], env: dict, state: Path, names: list[str]) -> float:
    """Wall seconds until every launcher of ``names`` (started at once) has returned."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen([*prog, "-a", n, "-u", "root"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for n in names]
    for p in procs:
        p.wait(120)
    elapsed = time.perf_counter() - t0
    for n in names:
        try:
            pid = daemon_pid(state / f"dummy-ups-{n}.pid")
            os.kill(pid, signal.SIGTERM)
            _wait_gone(pid)
        except (OSError, TimeoutError):
            pass
    return elapsed


def bench_startup(start_rounds: int, parallel: int, our_cmd: list[str] | None = None) -> None:
    our_cmd = our_cmd or [OUR_DRIVER]
    root = Path(tempfile.mkdtemp(prefix="nutpy-bench-start-"))
    etc, state = root / "etc", root / "state"
    etc.mkdir(), state.mkdir()
    names = [f"s{i}" for i in range(parallel)]
    for n in names:
        shutil.copy(DEV, etc / f"{n}.dev")
    (etc / "ups.conf").write_text("".join(
        f"[{n}]\n  driver = dummy-ups\n  port = {n}.dev\n" for n in names))
    env = dict(os.environ, NUT_CONFPATH=str(etc), NUT_STATEPATH=str(state),
               NUT_ALTPIDPATH=str(state))
    env.pop("NUT_DEBUG_LEVEL", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: byte code cached
    try:
        cpu = {label: start_cpu([*cmd, "-a", "s0", "-u", "root"], env,
                                state / "dummy-ups-s0.pid", start_rounds)
               for label, cmd in (("c", [C_DRIVER]), ("py", our_cmd))}
        wall = {label: parallel_start(cmd, env, state, names)
                for label, cmd in (("c", [C_DRIVER]), ("py", our_cmd))}
        print(f"start-up CPU per driver, exec -> ready ({start_rounds} rounds): "
              f"C {cpu['c'] * 1000:.0f} ms, ours {cpu['py'] * 1000:.0f} ms "
              f"(ratio {cpu['py'] / max(cpu['c'], 1e-3):.0f}x)")
        print(f"{parallel} drivers started at once, wall until all ready ({os.cpu_count()} "
              f"cores): C {wall['c']:.2f} s, ours {wall['py']:.2f} s "
              f"(ratio {wall['py'] / wall['c']:.1f}x)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    set_rounds = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 300
    file_rounds = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 8
    start_rounds = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3].isdigit() else 10
    parallel = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4].isdigit() else 20
    print(f"reproduce: python -m bench.driver {set_rounds} {file_rounds} {start_rounds} "
          f"{parallel}")
    if not (os.path.exists(C_DRIVER) and os.path.exists(C_UPSD) and DEV.exists()):
        print("skipped: needs C NUT (nut-server) and the shared bench fixture")
        return
    bench_startup(start_rounds, parallel)
    root = Path(tempfile.mkdtemp(prefix="nutpy-bench-driver-"))
    etc, state = root / "etc", root / "state"
    etc.mkdir(), state.mkdir()
    port = free_port()
    for name in ("c", "py"):
        shutil.copy(DEV, etc / f"{name}.dev")
    (etc / "ups.conf").write_text("".join(
        f"[{n}]\n  driver = dummy-ups\n  port = {n}.dev\n" for n in ("c", "py")))
    (etc / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\n")
    (etc / "upsd.users").write_text("[b]\n  password = b\n  actions = SET\n")
    os.chmod(etc / "upsd.users", 0o600)
    env = dict(os.environ, NUT_CONFPATH=str(etc), NUT_STATEPATH=str(state),
               NUT_ALTPIDPATH=str(state))
    env.pop("NUT_DEBUG_LEVEL", None)
    pids: list[int] = []
    upsd = None
    try:
        for prog, name in ((C_DRIVER, "c"), (OUR_DRIVER, "py")):
            subprocess.run([prog, "-a", name, "-u", "root"], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            pids.append(daemon_pid(state / f"dummy-ups-{name}.pid"))
        upsd = subprocess.Popen([C_UPSD, "-u", "root", "-F"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                getter = Conn(port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        for name in ("c", "py"):
            while getter.ask(f"GET VAR {name} ups.status") in (
                    f'VAR {name} ups.status "WAIT"', "ERR DATA-STALE", "ERR DRIVER-NOT-CONNECTED"):
                time.sleep(0.05)
        time.sleep(0.5)
        rss = {name: rss_kb(pid) for name, pid in zip(("c", "py"), pids)}
        setter = Conn(port)
        setter.ask("USERNAME b")
        setter.ask("PASSWORD b")

        set_lat: dict[str, list[float]] = {"c": [], "py": []}
        for i in range(set_rounds):
            for name in ("c", "py"):
                value = str(100 + i)
                t0 = time.perf_counter()
                reply = setter.ask(f'SET VAR {name} ups.delay.start "{value}"')
                assert reply.startswith("OK"), reply
                set_lat[name].append(wait_value(getter, name, "ups.delay.start", value) - t0)

        file_lat: dict[str, list[float]] = {"c": [], "py": []}
        text = DEV.read_text()
        for i in range(file_rounds):
            for name in ("c", "py"):
                value = str(10 + i)
                path = etc / f"{name}.dev"
                path.write_text(text + f"ups.temperature: {value}\n")
                st = path.stat()
                # make sure even C (which compares whole seconds) sees a new mtime
                os.utime(path, (st.st_atime, int(st.st_mtime) + 10 + i))
                t0 = time.perf_counter()
                file_lat[name].append(wait_value(getter, name, "ups.temperature", value, 30) - t0)

        def ms(v: float) -> str:
            return f"{v * 1000:8.2f} ms"

        print(f"driver RSS: C {rss['c'] / 1024:.1f} MB, ours {rss['py'] / 1024:.1f} MB "
              f"(ratio {rss['py'] / max(1, rss['c']):.1f}x; target <= 20 MB)")
        for label, lat in (("SET VAR -> visible via upsd", set_lat),
                           ("file change -> visible via upsd", file_lat)):
            c50, c99 = statistics.median(lat["c"]), pct(lat["c"], 0.99)
            p50, p99 = statistics.median(lat["py"]), pct(lat["py"], 0.99)
            print(f"{label} ({len(lat['py'])} rounds):")
            print(f"  C    p50 {ms(c50)}  p99 {ms(c99)}")
            print(f"  ours p50 {ms(p50)}  p99 {ms(p99)}  "
                  f"(ratio p50 {p50 / c50:.2f}, p99 {p99 / c99:.2f})")
    finally:
        if upsd is not None:
            upsd.terminate()
            upsd.wait(10)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        time.sleep(1.5)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
