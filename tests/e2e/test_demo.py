"""The README's demo command starts a working stack (driver + upsd) and upsc can read it."""

import subprocess
import sys
from pathlib import Path

from support.harness import REPO


def test_demo_check(tmp_path):
    nutpy = Path(sys.executable).parent / "nutpy"
    r = subprocess.run([str(nutpy), "demo", "--check", "--dir", str(tmp_path / "demo")],
                       capture_output=True, text=True, timeout=90, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "OL"
