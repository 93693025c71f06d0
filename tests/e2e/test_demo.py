"""The README's demo command starts a working stack (driver + upsd + our upsmon), upsc can
read it, its files stay in its directory, and it leaves nothing running however it is
stopped."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.harness import REPO, alive, wait_for

NUTPY = Path(sys.executable).parent / "nutpy"


def test_demo_check(tmp_path):
    r = subprocess.run([str(NUTPY), "demo", "--check", "--dir", str(tmp_path / "demo")],
                       capture_output=True, text=True, timeout=90, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "OL"


def descendants(pid: int) -> list[int]:
    found, i = [pid], 0
    while i < len(found):
        try:
            with open(f"/proc/{found[i]}/task/{found[i]}/children") as f:
                found += [int(x) for x in f.read().split()]
        except OSError:
            pass
        i += 1
    return found[1:]


def run_dir_listing(path: str = "/run/nut") -> set[str]:
    try:
        return set(os.listdir(path))
    except OSError:
        return set()


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "Ctrl-C"])
def test_demo_leaves_nothing_running(tmp_path, how):
    demo_dir = tmp_path / "demo"
    before = run_dir_listing()
    errlog = open(tmp_path / "demo.err", "wb")
    demo = subprocess.Popen([str(NUTPY), "demo", "--dir", str(demo_dir)], cwd=REPO,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errlog,
                            start_new_session=True, text=True)
    try:
        deadline = time.monotonic() + 60
        for line in demo.stdout:
            if line.startswith("nutpy demo running") or time.monotonic() > deadline:
                break
        pidfile = demo_dir / "state" / "upsmon.pid"
        # driver, upsd, and upsmon's three processes
        wait_for(lambda: pidfile.exists() and len(descendants(demo.pid)) >= 5, 30, 0.05,
                 "the demo's processes")
        procs = descendants(demo.pid)
        assert int(pidfile.read_text()) in procs
        if how == "SIGTERM":
            demo.send_signal(signal.SIGTERM)
        elif how == "SIGINT":
            demo.send_signal(signal.SIGINT)
        else:  # what a terminal does: SIGINT to the foreground process group
            os.killpg(demo.pid, signal.SIGINT)
        assert demo.wait(40) == 0
        wait_for(lambda: not any(alive(p) for p in procs), 10, 0.05, "every demo process gone")
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        for p in descendants(demo.pid):
            os.kill(p, signal.SIGKILL)
        errlog.close()
    # its files stayed in its directory
    assert run_dir_listing() == before
    assert sorted(p.name for p in (demo_dir / "state").iterdir() if p.suffix == ".pid") == \
        ["upsmon.pid"]
