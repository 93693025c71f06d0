"""The suite's short stand-in for the soak (python -m bench.soak, docs/reliability.md):
rounds of many clients polling, hanging up and reconnecting while the driver keeps
changing state. After the first round has warmed everything up, further rounds must leave
upsd and the driver with the same open descriptors and (within a generous margin) the
same resident memory. Rounds are counted in requests, never timed."""

from __future__ import annotations

import asyncio
import os
import threading
import time

from support.harness import NutEnv, our_prog, wait_for

CLIENTS = 200
REQUESTS = 15  # per client per round


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def _round(port: int) -> int:
    errors = 0

    async def client(i: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
        try:
            for n in range(REQUESTS):
                if (i + n) % 7 == 0:
                    writer.write(b"LIST VAR u\n")
                    while True:
                        line = await asyncio.wait_for(reader.readline(), 30)
                        if not line or line.startswith((b"END LIST", b"ERR")):
                            break
                else:
                    writer.write(b"GET VAR u ups.status\n")
                    line = await asyncio.wait_for(reader.readline(), 30)
                if not line or line.startswith(b"ERR"):
                    errors += 1
                if n == REQUESTS // 2 and i % 3 == 0:  # some hang up and come back
                    writer.close()
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection("127.0.0.1", port), 30)
        finally:
            writer.close()
    await asyncio.gather(*(client(i) for i in range(CLIENTS)))
    return errors


def _serving(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET VAR u ups.status\n")
            return s.recv(100).startswith(b"VAR ")
    except OSError:
        return False


def test_rounds_of_clients_leave_no_descriptors_or_memory_behind(nutenv: NutEnv):
    nutenv.write("u.dev", "ups.status: OL\nbattery.charge: 100\n")
    nutenv.write("ups.conf", "[u]\n  driver = dummy-ups\n  port = u.dev\n")
    nutenv.write("upsd.conf", f"LISTEN 127.0.0.1 {nutenv.port}\nMAXCONN 1000\n")
    nutenv.write("upsd.users", "")
    r = nutenv.run([our_prog("dummy-ups"), "-a", "u", "-u", "root"])
    assert r.returncode == 0, r.stdout + r.stderr
    driver_pid = nutenv.pid_of("dummy-ups-u")
    upsd = nutenv.start([our_prog("upsd"), "-u", "root", "-F"])
    nutenv.wait_port()
    stop = threading.Event()

    def change_state() -> None:
        i = 0
        while not stop.wait(0.3):
            i += 1
            tmp = nutenv.etc / "u.dev.new"
            tmp.write_text(f"ups.status: {'OB' if i % 2 else 'OL'}\nbattery.charge: {i % 100}\n")
            os.replace(tmp, nutenv.etc / "u.dev")

    wait_for(lambda: fds(upsd.pid) >= 1 and _serving(nutenv.port), 15, 0.05, "upsd to serve")
    base = fds(upsd.pid)  # listener, driver link, event loop, std streams
    changer = threading.Thread(target=change_state, daemon=True)
    changer.start()
    try:
        after = []
        for _ in range(3):
            assert asyncio.run(_round(nutenv.port)) == 0
            # every client is gone once upsd has seen the last hang-ups
            wait_for(lambda: fds(upsd.pid) <= base, 30, 0.05, "upsd to close connections")
            time.sleep(0.3)
            after.append((fds(upsd.pid), rss_kb(upsd.pid), fds(driver_pid), rss_kb(driver_pid)))
    finally:
        stop.set()
        changer.join(5)
        nutenv.kill_pidfile("dummy-ups-u")
    (u_fd1, u_rss1, d_fd1, d_rss1), _, (u_fd3, u_rss3, d_fd3, d_rss3) = after
    assert (u_fd3, d_fd3) == (u_fd1, d_fd1), after
    assert u_rss3 - u_rss1 < 4096, after  # kB: two more rounds of 200 clients
    assert d_rss3 - d_rss1 < 2048, after
