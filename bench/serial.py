"""Serial driver benchmark: CPU and memory while polling, ours next to C NUT 2.8.0's, each
on its own simulated UPS (pseudo-terminal) at the default poll interval of 2 s.

For each driver: start it in the foreground, let it settle, then measure its CPU time over
a window (share of one core) and its resident memory at the end. The simulators run in
this process and are not counted. Targets: at most 1 % of a core and 20 MB.

Run: python -m bench.serial [seconds]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import VENV_BIN, cpu_seconds, stop_processes, wait

SRC = Path(__file__).resolve().parent.parent / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def devices():
    from nutpy.sim.apcsmart import ApcSmartUps
    from nutpy.sim.q1 import Q1Ups

    yield "nutdrv_qx", lambda: Q1Ups("megatec"), {}
    yield "blazer_ser", lambda: Q1Ups("megatec"), {}
    yield "apcsmart", ApcSmartUps, {}
    try:
        from nutpy.sim.genericups import ContactClosureUps
        from nutpy.sim.modem import shim_path

        shim_path()
        yield "genericups", lambda: ContactClosureUps(1), {"upstype": "1"}
    except Exception as e:  # no C compiler for the modem-line shim
        print(f"genericups skipped: {e}")


def start(prog: str, device, options: dict, root: Path):
    from nutpy.sim.pty import PtyPort, Runner

    root.mkdir(parents=True)
    port = PtyPort(str(root / "tty"))
    runner = Runner(device, port).start()
    env = dict(os.environ, NUT_STATEPATH=str(root), NUT_ALTPIDPATH=str(root))
    env.pop("NUT_DEBUG_LEVEL", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if hasattr(device, "lines"):
        env.update(device.lines.env())
    argv = [prog, "-s", "b", "-u", "root", "-F", "-x", f"port={port.path}"]
    for key, value in options.items():
        argv += ["-x", f"{key}={value}"]
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    name = os.path.basename(prog)
    wait(lambda: (root / f"{name}-b").exists() or proc.poll() is not None, 60)
    return proc, runner


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].replace(".", "").isdigit() \
        else 60.0
    print(f"reproduce: python -m bench.serial {seconds:g}")
    root = Path(tempfile.mkdtemp(prefix="nutpy-bench-serial-"))
    procs, runners = [], []
    try:
        running = []
        for name, make, options in devices():
            for side, prog in (("c", f"/lib/nut/{name}"), ("py", str(VENV_BIN / name))):
                if not os.path.exists(prog):
                    print(f"{name} ({side}) skipped: {prog} not installed")
                    continue
                proc, runner = start(prog, make(), options, root / f"{name}-{side}")
                procs.append(proc)
                runners.append(runner)
                running.append((name, side, proc))
        time.sleep(5)  # detection done, a few polls behind us
        before = {proc.pid: cpu_seconds(proc.pid) for _, _, proc in running}
        t0 = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        results: dict[str, dict[str, tuple[float, int]]] = {}
        for name, side, proc in running:
            if proc.poll() is not None:
                print(f"{name} ({side}) exited early ({proc.returncode})")
                continue
            share = (cpu_seconds(proc.pid) - before[proc.pid]) / elapsed * 100
            results.setdefault(name, {})[side] = (share, rss_kb(proc.pid))
        print(f"polling every 2 s, {elapsed:.0f} s window "
              f"(targets for ours: <= 1 % of a core, <= 20 MB):")
        for name, sides in results.items():
            c_cpu, c_rss = sides.get("c", (float("nan"), 0))
            py_cpu, py_rss = sides.get("py", (float("nan"), 0))
            print(f"  {name:11s} CPU C {c_cpu:.3f} %, ours {py_cpu:.3f} % "
                  f"(ratio {py_cpu / c_cpu if c_cpu else float('nan'):.0f}x); "
                  f"RSS C {c_rss / 1024:.1f} MB, ours {py_rss / 1024:.1f} MB "
                  f"(ratio {py_rss / c_rss if c_rss else float('nan'):.1f}x)")
    finally:
        stop_processes(procs)
        for runner in runners:
            runner.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
