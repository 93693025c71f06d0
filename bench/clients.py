"""Client start-up and LIST VAR latency, C NUT 2.8.0 and nutpy side by side.

Behind one C upsd with C dummy-ups serving the standard 65-variable device:

* wall time of ``upsc ups@localhost battery.charge`` and ``upsc ups@localhost`` (C and
  ours), against a bare ``python -c pass`` of the same venv (the start-up target, 1.15x,
  is measured by bench.startup with upscmd and upsrw too);
* LIST VAR latency: our library in-process, a naive socket client (no TCP_NODELAY, no
  quick ACKs: shows the ~40 ms delayed-ACK stall), and what the LIST costs inside C upsc
  (its whole-list run minus its one-variable run).

Reproduce: ``.venv/bin/python -m bench.clients`` (needs root and Debian's nut packages).
"""

from __future__ import annotations

import asyncio
import compileall
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench._common import BENCH_DEV, REPO, VENV_BIN, free_port, port_open, stop_processes, wait

RUNS = 30


class Setup:
    """C dummy-ups (bench device) + C upsd on 127.0.0.1 and ::1."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="nutpy-bench-clients-"))
        etc, state = self.dir / "etc", self.dir / "state"
        etc.mkdir()
        state.mkdir(mode=0o770)
        self.port = free_port()
        shutil.copy(BENCH_DEV, etc / "bench.dev")
        (etc / "ups.conf").write_text("[ups]\n  driver = dummy-ups\n  port = bench.dev\n")
        (etc / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {self.port}\nLISTEN ::1 {self.port}\n")
        (etc / "upsd.users").write_text("")
        self.env = dict(os.environ, NUT_CONFPATH=str(etc), NUT_STATEPATH=str(state),
                        NUT_ALTPIDPATH=str(state), NUT_PIDPATH=str(state))
        self.procs = [subprocess.Popen(["/lib/nut/dummy-ups", "-a", "ups", "-u", "root", "-F"],
                                       env=self.env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)]
        wait(lambda: (state / "dummy-ups-ups").exists())
        self.procs.append(subprocess.Popen(["/lib/nut/upsd", "-u", "root", "-F"], env=self.env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait(lambda: port_open(self.port))
        # The driver's dump arrives in pieces: wait for the whole device.
        wait(lambda: len(self.run(["/usr/bin/upsc", self.target]).stdout.splitlines()) >= 60)

    @property
    def target(self) -> str:
        return f"ups@localhost:{self.port}"

    def run(self, argv: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(argv, env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)

    def close(self) -> None:
        stop_processes(self.procs)
        shutil.rmtree(self.dir, ignore_errors=True)


def time_commands(setup: Setup, commands: dict[str, list[str]]) -> dict[str, float]:
    """Median wall time per command, runs interleaved so drift hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(RUNS):
        for name, argv in commands.items():
            t0 = time.perf_counter()
            r = setup.run(argv)
            samples[name].append(time.perf_counter() - t0)
            if r.returncode != 0:
                raise RuntimeError(f"{name} failed: {argv}: {r.stderr!r} {r.returncode}")
    return {name: statistics.median(v) for name, v in samples.items()}


def naive_list_var(port: int, ups: str, runs: int) -> list[float]:
    """LIST VARs the way a simple client does them (no NODELAY, no quick ACK), on one
    connection: once the kernel leaves its start-of-connection quick-ACK mode, upsd's
    line-per-write() replies wait for the client's delayed ACK."""
    times = []
    end = f"END LIST VAR {ups}\n".encode()
    with socket.create_connection(("127.0.0.1", port)) as s:
        for _ in range(runs):
            t0 = time.perf_counter()
            s.sendall(f"LIST VAR {ups}\n".encode())
            data = b""
            while not data.endswith(end):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            times.append(time.perf_counter() - t0)
    return times


async def async_list_var(port: int, ups: str, runs: int) -> list[float]:
    from nutpy.client.aio import AsyncClient
    times = []
    async with await AsyncClient.open("127.0.0.1", port) as nut:
        for _ in range(runs):
            t0 = time.perf_counter()
            await nut.list_vars(ups)
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    if os.geteuid() != 0 or not Path("/lib/nut/upsd").exists() or not BENCH_DEV.exists():
        print("bench.clients: needs root, C NUT (/lib/nut/upsd) and the bench device; skipped")
        return
    compileall.compile_dir(str(REPO / "src" / "nutpy"), quiet=1)  # as an installed package
    from nutpy.client.blocking import Client

    setup = Setup()
    try:
        py = str(VENV_BIN / "python")
        ours, c = str(VENV_BIN / "upsc"), "/usr/bin/upsc"
        t = time_commands(setup, {
            "python -c pass": [py, "-c", "pass"],
            "C upsc one var": [c, setup.target, "battery.charge"],
            "our upsc one var": [ours, setup.target, "battery.charge"],
            "C upsc all vars": [c, setup.target],
            "our upsc all vars": [ours, setup.target],
        })
        base = t["python -c pass"]
        print(f"start-up, median of {RUNS} runs (interleaved):")
        for name, value in t.items():
            print(f"  {name:20s} {value * 1000:7.2f} ms   {value / base:5.2f}x python -c pass")
        for what in ("one var", "all vars"):
            print(f"  ours/C {what:9s} {t[f'our upsc {what}'] / t[f'C upsc {what}']:5.2f}x")

        nvars = 0
        lib = []
        with Client("127.0.0.1", setup.port) as nut:
            for _ in range(RUNS):
                t0 = time.perf_counter()
                nvars = len(nut.list_vars("ups"))
                lib.append(time.perf_counter() - t0)
        naive = naive_list_var(setup.port, "ups", 20)
        async_lib = asyncio.run(async_list_var(setup.port, "ups", RUNS))
        c_list = t["C upsc all vars"] - t["C upsc one var"]
        our_list = statistics.median(lib)
        print(f"LIST VAR of {nvars} variables (C upsd 2.8.0):")
        print(f"  our library, in-process      p50 {our_list * 1000:7.2f} ms")
        print(f"  our asyncio library          p50 {statistics.median(async_lib) * 1000:7.2f} ms")
        print(f"  naive socket client          p50 {statistics.median(naive) * 1000:7.2f} ms")
        print(f"  inside C upsc (all - one)        {c_list * 1000:7.2f} ms")
        print(f"  C upsc LIST / our library        {c_list / our_list:7.1f}x")
        print("reproduce: .venv/bin/python -m bench.clients")
    finally:
        setup.close()


if __name__ == "__main__":
    main()
