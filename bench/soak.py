"""Soak: many clients polling upsd for a long time while the driver keeps changing state;
the resident memory and open file descriptors of upsd and the driver must stay flat.

    .venv/bin/python -m bench.soak                 # 1,000 clients, 10 minutes, ours
    .venv/bin/python -m bench.soak 60              # the 1-minute variant
    .venv/bin/python -m bench.soak 600 1000 C,ours # C NUT 2.8.0 too, one after the other

Each client (one asyncio loop in this process drives them all) sends GET VAR ups.status
once a second (every tenth time a LIST VAR), on its own connection; 1 % of the clients
hang up and come back each second, so connections come and go all the time. The driver
(dummy-ups) re-reads its .dev file, rewritten every 2 s: OL/OB and the battery charge
alternate. RSS and fd counts are sampled every 10 s (every 5 s in runs under two minutes);
"flat" means the last minute's average is within 2 MB (RSS) and 2 descriptors of the
second minute's (the first minute is warm-up; in runs under three minutes, thirds of the
run take the place of minutes), and the clients saw no errors. The exit status is 1 when
anything was not flat or a client saw an error. The test suite runs the 1-minute variant
(tests/e2e/test_soak_minute.py).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from bench._faults.stack import Stack, close_all, fd_count, rss_kb



async def _client(port: int, stop: asyncio.Event, stats: dict, rnd: random.Random) -> None:
    await asyncio.sleep(rnd.random())
    n = 0
    while not stop.is_set():
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), 10)
        except (OSError, asyncio.TimeoutError):
            stats["connect errors"] += 1
            await asyncio.sleep(1)
            continue
        try:
            while not stop.is_set():
                n += 1
                if n % 10 == 0:
                    writer.write(b"LIST VAR u\n")
                    while True:
                        line = await asyncio.wait_for(reader.readline(), 10)
                        if not line or line.startswith((b"END LIST", b"ERR")):
                            break
                else:
                    writer.write(b"GET VAR u ups.status\n")
                    line = await asyncio.wait_for(reader.readline(), 10)
                if not line or line.startswith(b"ERR"):
                    stats["error replies"] += 1
                stats["requests"] += 1
                if rnd.random() < 0.01:  # hang up now and then
                    break
                await asyncio.sleep(1.0)
        except (OSError, asyncio.TimeoutError):
            stats["dropped"] += 1
        finally:
            writer.close()


def sample_period(seconds: float) -> float:
    return 10.0 if seconds >= 120 else 5.0


def windows(seconds: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The warm (after warm-up) and last windows of a run, compared for flatness."""
    w = min(60.0, seconds / 3)
    return (w, 2 * w), (seconds - w, seconds)


async def _load(port: int, clients: int, seconds: float, sample) -> dict:
    stop = asyncio.Event()
    stats = {"requests": 0, "error replies": 0, "connect errors": 0, "dropped": 0}
    rnd = random.Random(1)
    tasks = [asyncio.create_task(_client(port, stop, stats, random.Random(rnd.random())))
             for _ in range(clients)]
    t0 = time.monotonic()
    next_sample = t0
    while time.monotonic() - t0 < seconds:
        if time.monotonic() >= next_sample:
            sample(time.monotonic() - t0)
            next_sample += sample_period(seconds)
        await asyncio.sleep(0.5)
    sample(time.monotonic() - t0)
    stop.set()
    await asyncio.wait(tasks, timeout=30)
    return stats


def _changer(stack: Stack, stop_at: float) -> None:
    i = 0
    while time.monotonic() < stop_at:
        i += 1
        status = "OB DISCHRG" if i % 2 else "OL"
        tmp = stack.etc / "u.dev.new"
        tmp.write_text(f"ups.status: {status}\nbattery.charge: {100 - i % 50}\nups.id: s{i}\n")
        os.replace(tmp, stack.etc / "u.dev")
        time.sleep(2.0)


def soak(kind: str, seconds: float, clients: int) -> bool:
    import resource
    import threading

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < clients + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, clients * 2 + 100), hard))
    root = Path(tempfile.mkdtemp(prefix=f"nutpy-soak-{kind}-"))
    stack = Stack(kind, root, upsmon=False,
                  upsd_conf=f"MAXCONN {clients + 200}\n").start()
    samples: list[tuple[float, int, int, int, int]] = []

    def sample(t: float) -> None:
        u, d = stack.pid("upsd"), stack.pid("driver")
        samples.append((t, rss_kb(u) if u else 0, fd_count(u) if u else 0,
                        rss_kb(d) if d else 0, fd_count(d) if d else 0))
        print(f"  {t:6.0f} s  upsd RSS {samples[-1][1] / 1024:6.1f} MB, {samples[-1][2]:5d} fds"
              f" | driver RSS {samples[-1][3] / 1024:5.1f} MB, {samples[-1][4]:3d} fds",
              flush=True)

    try:
        threading.Thread(target=_changer, args=(stack, time.monotonic() + seconds),
                         daemon=True).start()
        stats = asyncio.run(_load(stack.port, clients, seconds, sample))
        alive = stack.pid("upsd") is not None and stack.pid("driver") is not None
    finally:
        stack.close()
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    print(f"  clients: {stats}")

    def avg(rows, col):
        return sum(r[col] for r in rows) / len(rows) if rows else 0.0

    (w0, w1), (l0, _) = windows(seconds)
    warm = [s for s in samples if w0 <= s[0] < w1]
    last = [s for s in samples if s[0] >= l0 - 0.5]
    flat = True
    for col, name, unit, limit in ((1, "upsd RSS", 1024, 2.0), (2, "upsd fds", 1, 2),
                                   (3, "driver RSS", 1024, 2.0), (4, "driver fds", 1, 2)):
        a, b = avg(warm, col) / unit, avg(last, col) / unit
        ok = b - a <= limit
        flat &= ok
        print(f"  {name}: {a:.1f} -> {b:.1f} ({'flat' if ok else 'GROWING'})")
    clean = stats["error replies"] == 0 and stats["dropped"] == 0 and alive
    print(f"  {kind}: {'flat' if flat else 'NOT FLAT'}, "
          f"{'no client errors' if clean else 'client errors or a process died'}")
    return flat and clean


def main() -> None:
    import atexit
    import signal

    signal.signal(signal.SIGTERM, lambda *a: sys.exit("bench.soak: terminated"))
    atexit.register(close_all)
    args = sys.argv[1:]
    seconds = float(args[0]) if args else 600.0
    clients = int(args[1]) if len(args) > 1 else 1000
    kinds = args[2].split(",") if len(args) > 2 else ["ours"]
    print(f"reproduce: python -m bench.soak {seconds:g} {clients} {','.join(kinds)}"
          f"  (load average {' '.join(open('/proc/loadavg').read().split()[:3])})")
    results = []
    for kind in kinds:
        print(f"== {kind}: {clients} clients for {seconds:g} s")
        results.append(soak(kind, seconds, clients))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
