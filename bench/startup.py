"""Start-up of the command-line clients: C NUT 2.8.0's upsc, upscmd and upsrw, ours, and the
bare interpreter (``python -c pass`` of the same venv), in one run against one C upsd with
C dummy-ups serving the standard device.

Beside them, "python _socket upsc" is the least any Python client can do for upsc's
request: the same exchange written straight on ``_socket`` in six lines. Its distance to
``python -c pass`` is the network exchange itself (resolving, connecting, STARTTLS, the
request: two round trips to upsd), which every client pays.

Each command is started ``RUNS`` times (at most ``SECONDS`` in all), the commands taking
turns so that a change in the machine's load falls on all alike. Reported per command: the
median wall time, the median CPU time of the process (user + system, from wait4) and, where
valgrind is installed, the instructions one run executes (callgrind; the same on a busy
machine as on an idle one). Ratios are against ``python -c pass``; the target is <= 1.15x.

Besides the development install (``./dev``: editable, ``editable_mode=compat``), the same
programs are measured from a real install (``pip install --no-deps .`` into a fresh venv,
with this venv's pip), whose wrapper scripts and import paths are what users get.

Reproduce: ``.venv/bin/python -m bench.startup`` (root, Debian's nut packages); set
``NUTPY_BENCH_NO_INSTALL=1`` to skip the real install (it needs the build backend, fetched
by pip on first use).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import BENCH_DEV_NOTE, REPO, VENV_BIN
from bench._load import ADMIN, Stack, have_c_nut, machine_load

RUNS = 40
SECONDS = 120.0
TARGET = 1.15


def commands(py_bin: Path, port: int) -> dict[str, list[str]]:
    """name -> argv: the bare interpreter, then each program as C and as ours."""
    ups = f"ups@localhost:{port}"
    user, password = ADMIN
    programs = {
        "upsc ups var": ["upsc", ups, "battery.charge"],
        "upscmd -l": ["upscmd", "-l", ups],
        "upscmd cmd": ["upscmd", "-u", user, "-p", password, ups, "load.off"],
        "upsrw -s": ["upsrw", "-s", "battery.charge.low=20", "-u", user, "-p", password, ups],
    }
    # The least any Python client can do for upsc's request: the same exchange (resolve,
    # connect, STARTTLS refused, GET, LOGOUT) written straight on _socket. What ours costs
    # beyond this is ours; what this costs beyond ``pass`` is the network exchange itself.
    floor = ("import _socket as s\n"
             f"a=s.getaddrinfo(b'localhost',{port},0,s.SOCK_STREAM,s.IPPROTO_TCP)[0]\n"
             "c=s.socket(a[0],a[1],a[2]);c.connect(a[4])\n"
             "c.sendall(b'STARTTLS\\n');c.recv(512)\n"
             "c.sendall(b'GET VAR ups battery.charge\\n');c.recv(512)\n"
             "c.sendall(b'LOGOUT\\n');c.close()\n")
    cmds = {"python -c pass": [str(py_bin / "python"), "-c", "pass"],
            "python _socket upsc": [str(py_bin / "python"), "-c", floor]}
    for name, argv in programs.items():
        cmds[f"C    {name}"] = [f"/usr/bin/{argv[0]}", *argv[1:]]
        cmds[f"ours {name}"] = [str(py_bin / argv[0]), *argv[1:]]
    return cmds


def spawn(argv: list[str], env: dict) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, exit status) of one run, output discarded."""
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
               (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    return wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def time_commands(cmds: dict[str, list[str]], env: dict) -> dict[str, tuple[float, float]]:
    """name -> (median wall, median CPU), commands interleaved, bounded in runs and time."""
    walls: dict[str, list[float]] = {name: [] for name in cmds}
    cpus: dict[str, list[float]] = {name: [] for name in cmds}
    deadline = time.monotonic() + SECONDS
    for _ in range(RUNS):
        for name, argv in cmds.items():
            wall, cpu, rc = spawn(argv, env)
            if rc != 0:
                raise RuntimeError(f"{name} exited {rc}: {argv}")
            walls[name].append(wall)
            cpus[name].append(cpu)
        if time.monotonic() > deadline:
            break
    return {name: (statistics.median(walls[name]), statistics.median(cpus[name]))
            for name in cmds}


def instructions(argv: list[str], env: dict) -> int | None:
    """Instructions executed by one run, counted by callgrind (None without valgrind)."""
    if not shutil.which("valgrind"):
        return None
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                        *argv], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    for line in r.stderr.splitlines():
        if "Collected :" in line:
            return int(line.split(":")[-1])
    return None


def check_outputs(cmds: dict[str, list[str]], env: dict) -> None:
    """Ours print what C prints (stdout and exit status) for every measured command."""
    for name, argv in cmds.items():
        if not name.startswith("ours "):
            continue
        c_argv = cmds["C    " + name[5:]]
        ours = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
        c = subprocess.run(c_argv, env=env, capture_output=True, text=True, timeout=30)
        if (ours.stdout, ours.returncode) != (c.stdout, c.returncode):
            raise RuntimeError(f"{name}: ours {ours.stdout!r} rc {ours.returncode}, "
                               f"C {c.stdout!r} rc {c.returncode}")


def real_install(tmp: Path) -> Path | None:
    """A fresh venv with nutpy installed the ordinary way (not editable); its bin dir."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    r = subprocess.run([str(VENV_BIN / "python"), "-m", "pip", "--python",
                        str(venv / "bin" / "python"), "install", "-q", "--no-deps",
                        str(REPO)], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"  (real install failed, skipped: {r.stderr.strip().splitlines()[-1:]})")
        return None
    return venv / "bin"


def report(title: str, cmds, times, counts) -> list[str]:
    base_wall, base_cpu = times["python -c pass"]
    base_ir = counts.get("python -c pass")
    print(f"{title}, median of up to {RUNS} runs, {machine_load()}:")
    print(f"  {'command':24s} {'wall ms':>8s} {'x pass':>7s} {'CPU ms':>8s} {'x pass':>7s}"
          f" {'instructions':>13s} {'x pass':>7s}")
    over = []
    for name in cmds:
        wall, cpu = times[name]
        ir = counts.get(name)
        ir_text = f"{ir:13,d} {ir / base_ir:6.2f}x" if ir and base_ir else ""
        print(f"  {name:24s} {wall * 1e3:8.2f} {wall / base_wall:6.2f}x {cpu * 1e3:8.2f}"
              f" {cpu / base_cpu:6.2f}x {ir_text}")
        if name.startswith("ours ") and (cpu / base_cpu > TARGET or
                                         (ir and base_ir and ir / base_ir > TARGET)):
            over.append(name)
    for name in cmds:
        if name.startswith("ours "):
            c = times["C    " + name[5:]]
            print(f"  ours/C {name[5:]:17s} wall {times[name][0] / c[0]:5.2f}x"
                  f"  CPU {times[name][1] / c[1]:5.2f}x")
    return over


def main() -> None:
    if not have_c_nut():
        print("bench.startup: needs root and C NUT (/lib/nut/upsd, dummy-ups); skipped")
        return
    if BENCH_DEV_NOTE:
        print(BENCH_DEV_NOTE)
    import compileall
    compileall.compile_dir(str(REPO / "src" / "nutpy"), quiet=1)  # as an installed package
    stack = Stack(servers=("C",))
    tmp = Path(tempfile.mkdtemp(prefix="nutpy-bench-startup-"))
    try:
        env = dict(stack.envs["C"])
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        variants = [("development install (editable, compat)", VENV_BIN)]
        if not os.environ.get("NUTPY_BENCH_NO_INSTALL"):
            installed = real_install(tmp)
            if installed is not None:
                variants.append(("real install (pip install --no-deps .)", installed))
        over = []
        for title, bin_dir in variants:
            cmds = commands(bin_dir, stack.ports["C"])
            check_outputs(cmds, env)
            counts = {name: instructions(argv, env) for name, argv in cmds.items()}
            times = time_commands(cmds, env)
            over += report(title, cmds, times, counts)
        print(f"target: ours <= {TARGET}x python -c pass in CPU time and instructions"
              + (f"; over it: {', '.join(over)}" if over else "; met"))
        print("reproduce: .venv/bin/python -m bench.startup")
    finally:
        stack.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
