"""usbhid-ups benchmark: our driver next to Debian's C usbhid-ups, in the same run, each
serving its own emulated APC Back-UPS RS (tests/support/fakeusb: the stand-in libusb-1.0
both load) at the default pollinterval (2 s) with the interrupt pipe on, as installed.

* CPU time of each driver process over the measuring window, per poll and as a share of
  one core (the emulated bus serves both drivers from this process: its own cost is not
  counted for either);
* resident memory (RSS) of each at the end of the window;
* start-up CPU: exec until the driver socket is up.

Run: python -m bench.usbhid [seconds]   (default 60)
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

C_DRIVER = "/lib/nut/usbhid-ups"
OUR_DRIVER = str(Path(sys.executable).parent / "usbhid-ups")


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 60
    print(f"reproduce: python -m bench.usbhid {seconds}")
    if not os.path.exists(C_DRIVER):
        print("skipped: needs C NUT's usbhid-ups (nut-server)")
        return
    sys.path.insert(0, str(REPO / "tests"))
    from support.fakeusb import FakeUsbBus, compiler
    from support.usbhid_models import apc_back_ups_rs

    if compiler() is None:
        print("skipped: needs gcc to build the stand-in libusb-1.0")
        return
    root = Path(tempfile.mkdtemp(prefix="nutpy-bench-usbhid-"))
    etc, state = root / "etc", root / "state"
    etc.mkdir(), state.mkdir()
    serials = {"c": "BENCHC000001", "py": "BENCHPY00001"}
    (etc / "ups.conf").write_text("".join(
        f"[{name}]\n  driver = usbhid-ups\n  port = auto\n  serial = {serial}\n"
        for name, serial in serials.items()))
    procs: dict[str, subprocess.Popen] = {}
    with FakeUsbBus() as bus:
        for i, serial in enumerate(serials.values()):
            model = apc_back_ups_rs()
            model.serial = serial
            bus.plug(model.device(), bus_number=1, ports=(i + 1,))
        env = bus.env(base=dict(os.environ), NUT_CONFPATH=str(etc), NUT_STATEPATH=str(state),
                      NUT_ALTPIDPATH=str(state))
        env.pop("NUT_DEBUG_LEVEL", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        start_cpu = {}
        try:
            for name, prog in (("c", C_DRIVER), ("py", OUR_DRIVER)):
                procs[name] = subprocess.Popen([prog, "-a", name, "-u", "root", "-F"], env=env,
                                               stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL)
                sock = state / f"usbhid-ups-{name}"
                wait(sock.exists, 30)
                start_cpu[name] = cpu_seconds(procs[name].pid)
            time.sleep(4)  # past the first full polls
            before = {n: cpu_seconds(p.pid) for n, p in procs.items()}
            t0 = time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - t0
            used = {n: cpu_seconds(p.pid) - before[n] for n, p in procs.items()}
            rss = {n: rss_kb(p.pid) for n, p in procs.items()}
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
    for name, label in (("c", "C"), ("py", "ours")):
        print(f"{label:>4}: start-up CPU {start_cpu[name] * 1000:.0f} ms, "
              f"{used[name] / polls * 1000:.2f} ms CPU per poll "
              f"({used[name] / elapsed * 100:.2f}% of a core), RSS {rss[name] / 1024:.1f} MiB")
    print(f"ratios ours/C: start-up CPU {start_cpu['py'] / max(start_cpu['c'], 1e-6):.1f}x, "
          f"CPU per poll {used['py'] / max(used['c'], 1e-6):.1f}x, "
          f"RSS {rss['py'] / max(rss['c'], 1):.1f}x  ({seconds} s window, pollinterval 2 s)")


if __name__ == "__main__":
    main()
