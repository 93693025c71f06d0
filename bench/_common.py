"""What every benchmark needs: where things are, free ports, waiting, process CPU time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _shared_fixtures() -> Path:
    """``shared/fixtures`` beside the checkout or any folder above it (a git worktree sits
    deeper than the main checkout); ``$NUTPY_FIXTURES`` overrides (as in the tests)."""
    if os.environ.get("NUTPY_FIXTURES"):
        return Path(os.environ["NUTPY_FIXTURES"])
    for parent in REPO.parents:
        if (parent / "shared" / "fixtures").is_dir():
            return parent / "shared" / "fixtures"
    return REPO.parent / "shared" / "fixtures"


# The standard device: a real 65-variable Eaton dump (GPL data of another project, never
# copied into the repository). Where it is absent, the project's own made-up device with about
# as many variables stands in, and ``BENCH_DEV_NOTE`` says so in each benchmark's output.
_REAL_DEV = _shared_fixtures() / "bench" / "Eaton__5SC_750__usbhid-ups__2.7.2__01.dev"
_OWN_DEV = REPO / "tests" / "fixtures" / "devices" / "many-vars.dev"
BENCH_DEV = _REAL_DEV if _REAL_DEV.exists() else _OWN_DEV
BENCH_DEV_NOTE = ("" if BENCH_DEV == _REAL_DEV else
                  f"note: {_REAL_DEV} is absent; using {_OWN_DEV.relative_to(REPO)} instead")
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("bench set-up timed out")
        time.sleep(0.05)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process so far, in nanosecond resolution: the
    scheduler's run time of each of its threads (/proc/<pid>/task/*/schedstat). The
    user/system split in /proc/<pid>/stat comes in 10 ms ticks, too coarse to compare
    tens of microseconds per request. Threads that already exited are not counted;
    falls back to /proc/<pid>/stat where schedstat is missing."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        pass
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_processes(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each process this benchmark started, newest first; SIGKILL after 5 s."""
    for p in reversed(procs):
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
