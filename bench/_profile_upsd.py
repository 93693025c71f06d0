"""Where our upsd spends its time under the integration clients' requests: py-spy samples
our upsd (on C dummy-ups, the standard device) while 25 clients send GET TYPE/GET DESC for
every variable (or another workload of bench.mix), and the hottest functions are printed,
by own time and by time including callees.

Not a benchmark (``python -m bench`` skips it): a tool to find causes. Needs root and py-spy
(``.venv/bin/pip install py-spy``; not a dependency of the project).

Reproduce: ``.venv/bin/python -m bench._profile_upsd [seconds] [--native] [--workload mix]``
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench._common import VENV_BIN
from bench._load import Load, Stack, integration_script, upsmon_script

CLIENTS = 25


def workload(name: str, stack: Stack) -> list:
    ups, names = stack.names[0], stack.var_names
    if name == "mix":
        return [integration_script(ups, names)] * 20 + [upsmon_script(ups)] * 5
    if name == "get":
        return [upsmon_script(ups)] * CLIENTS
    return [integration_script(ups, names)[1:]] * CLIENTS


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    seconds = float(args[0]) if args else 10.0
    native = "--native" in sys.argv
    name = sys.argv[sys.argv.index("--workload") + 1] if "--workload" in sys.argv else "desc"
    pyspy = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
    if not Path(pyspy).exists():
        print("bench._profile_upsd: needs py-spy (.venv/bin/pip install py-spy)")
        return
    stack = Stack(servers=("ours",))
    out = Path(tempfile.mkdtemp(prefix="nutpy-profile-")) / "stacks.txt"
    try:
        load = Load(stack.ports["ours"], workload(name, stack), CLIENTS)
        stop = threading.Event()

        def drive() -> None:
            while not stop.is_set():
                load.run(20_000, 1.0)

        t = threading.Thread(target=drive)
        t.start()
        try:
            cmd = [pyspy, "record", "-p", str(stack.pids["ours"]), "-d", str(int(seconds)),
                   "-r", "500", "-f", "raw", "-o", str(out)]
            if native:
                cmd.append("--native")
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            stop.set()
            t.join()
            load.close()
    finally:
        stack.close()
    own: collections.Counter = collections.Counter()
    total: collections.Counter = collections.Counter()
    samples = 0
    for line in out.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        count = int(count_text)
        # "func (file:line)" -> "func (file)": time per function, not per line
        frames = [f.rsplit(":", 1)[0] + ")" if f.endswith(")") and ":" in f else f
                  for f in stack_text.split(";")]
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    print(f"our upsd under workload {name!r}, {samples} samples:")
    print("  own time:")
    for frame, count in own.most_common(25):
        print(f"    {count / samples * 100:5.1f}%  {frame}")
    print("  including callees:")
    for frame, count in total.most_common(30):
        print(f"    {count / samples * 100:5.1f}%  {frame}")
    shutil.rmtree(out.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
