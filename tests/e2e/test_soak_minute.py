"""The soak's 1-minute variant (``python -m bench.soak 60``, docs/reliability.md): 1,000
clients poll upsd for a minute, hanging up and coming back, while dummy-ups keeps
changing state. upsd's and the driver's descriptors and resident memory must be as flat at
the end as after the warm-up, and no client may see an error or a dropped connection.
What is judged is counted (descriptors, kB, errors), not timed: a slow machine serves
fewer requests in the minute, with the same verdict."""

from __future__ import annotations

import subprocess
import sys

import pytest

from support.harness import REPO, require_root

pytestmark = pytest.mark.root


def test_one_minute_soak_stays_flat():
    require_root()  # the bench's stack runs its daemons with -u root
    r = subprocess.run([sys.executable, "-m", "bench.soak", "60", "1000", "ours"], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "ours: flat, no client errors" in r.stdout, r.stdout[-3000:]
