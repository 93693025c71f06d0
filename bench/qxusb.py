"""USB Q1 drivers benchmark: our nutdrv_qx and blazer_usb next to Debian's C drivers, in
the same run, each serving its own emulated Megatec UPS behind a Cypress bridge
(tests/support/fakeusb: the stand-in libusb-1.0 all of them load) at the default
pollinterval (2 s) and pollfreq (30 s), as installed.

* CPU time of each driver process over the measuring window, per poll and as a share of
  one core (the emulated bus serves all drivers from this process: its own cost is not
  counted for any);
* resident memory (RSS) of each at the end of the window;
* start-up CPU: exec until the driver socket is up.

Run: python -m bench.qxusb [seconds]   (default 60)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import REPO, cpu_seconds, wait

DRIVERS = ("nutdrv_qx", "blazer_usb")
C_DIR = "/lib/nut"
OUR_DIR = Path(sys.executable).parent


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 60
    print(f"reproduce: python -m bench.qxusb {seconds}")
    if not all(os.path.exists(f"{C_DIR}/{d}") for d in DRIVERS):
        print("skipped: needs C NUT's nutdrv_qx and blazer_usb (nut-server)")
        return
    sys.path.insert(0, str(REPO / "tests"))
    from nutpy.sim.q1 import Q1Ups
    from support.fakeusb import FakeUsbBus, compiler
    from support.fakeusb.megatec import CypressQ1Device

    if compiler() is None:
        print("skipped: needs gcc to build the stand-in libusb-1.0")
        return
    root = Path(tempfile.mkdtemp(prefix="nutpy-bench-qxusb-"))
    etc, state = root / "etc", root / "state"
    etc.mkdir(), state.mkdir()
    runs = [(driver, side, prog) for driver in DRIVERS
            for side, prog in (("c", f"{C_DIR}/{driver}"), ("py", str(OUR_DIR / driver)))]
    (etc / "ups.conf").write_text("".join(
        f"[{side}{driver[:2]}]\n  driver = {driver}\n  port = auto\n"
        f"  serial = BENCH{side.upper()}{driver[:2].upper()}\n" for driver, side, _ in runs))
    procs: dict[tuple[str, str], subprocess.Popen] = {}
    with FakeUsbBus() as bus:
        for i, (driver, side, _) in enumerate(runs):
            dev = CypressQ1Device(ups=Q1Ups("megatec"),
                                  serial=f"BENCH{side.upper()}{driver[:2].upper()}")
            dev.recording = False
            bus.plug(dev, bus_number=1, ports=(i + 1,))
        env = bus.env(base=dict(os.environ), NUT_CONFPATH=str(etc), NUT_STATEPATH=str(state),
                      NUT_ALTPIDPATH=str(state))
        env.pop("NUT_DEBUG_LEVEL", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        start_cpu = {}
        try:
            for driver, side, prog in runs:
                name = f"{side}{driver[:2]}"
                procs[driver, side] = p = subprocess.Popen(
                    [prog, "-a", name, "-u", "root", "-F"], env=env,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                wait((state / f"{driver}-{name}").exists, 60)
                start_cpu[driver, side] = cpu_seconds(p.pid)
            time.sleep(4)  # past the start-up polls
            before = {k: cpu_seconds(p.pid) for k, p in procs.items()}
            t0 = time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - t0
            used = {k: cpu_seconds(p.pid) - before[k] for k, p in procs.items()}
            rss = {k: rss_kb(p.pid) for k, p in procs.items()}
        finally:
            for p in procs.values():
                p.send_signal(signal.SIGTERM)
            for p in procs.values():
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    polls = elapsed / 2
    for driver in DRIVERS:
        for side, label in (("c", "C"), ("py", "ours")):
            k = driver, side
            print(f"{driver:>10} {label:>4}: start-up CPU {start_cpu[k] * 1000:.0f} ms, "
                  f"{used[k] / polls * 1000:.2f} ms CPU per poll "
                  f"({used[k] / elapsed * 100:.3f}% of a core), RSS {rss[k] / 1024:.1f} MiB")
        c, py = (driver, "c"), (driver, "py")
        print(f"{driver:>10} ratios ours/C: start-up CPU "
              f"{start_cpu[py] / max(start_cpu[c], 1e-6):.1f}x, "
              f"CPU per poll {used[py] / max(used[c], 1e-6):.1f}x, "
              f"RSS {rss[py] / max(rss[c], 1):.1f}x  ({seconds} s window, pollinterval 2 s)")


if __name__ == "__main__":
    main()
