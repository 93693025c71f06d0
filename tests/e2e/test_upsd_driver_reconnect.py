"""upsd gets a restarted driver's data again promptly (issue 11): after a driver's link is
lost, its socket is tried again after 0.05 s, then at growing intervals that never exceed
0.25 s, so a driver that comes back is connected at most 0.25 s after its socket appears
(C upsd, and ours before, tried once a second).

The schedule is checked in the daemon itself (the delays it sets, not how long anything
took); the process test only checks that the data comes back, with a generous bound, and
prints the time it took (``python -m bench.upsd reconnect`` measures C and ours)."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from nutpy.upsd.config import UpsdConf, Users
from nutpy.upsd.protocol import Server
from nutpy.upsd.server import Daemon
from nutpy.upsd.state import Ups
from support.harness import NutEnv, c_prog, our_prog, require_c_nut, wait_for
from support.upsd_support import FakeDriver, LineClient

DUMP = ['SETINFO ups.status "OL"', 'SETINFO battery.charge "100"', "DATAOK", "DUMPDONE"]


def test_schedule_of_tries_after_a_link_is_lost():
    ups = Ups("u", "drv-u")
    assert ups.link_lost(60.0) == 0.05
    assert [ups.link_failed() for _ in range(5)] == [0.1, 0.2, 0.25, 0.25, 0.25]
    assert ups.link_lost(60.0) == 0.05              # a new loss starts small again
    fresh = Ups("v", "drv-v")                       # never connected: same steps
    assert [fresh.link_failed() for _ in range(4)] == [0.05, 0.1, 0.2, 0.25]


def test_a_driver_that_hangs_up_at_once_is_tried_less_and_less_often():
    ups = Ups("u", "drv-u")
    assert [ups.link_lost(0.01) for _ in range(9)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2,
                                                       5.0, 5.0]
    assert ups.link_failed() == 0.25               # its socket gone: tried often again
    assert ups.link_lost(30.0) == 0.05             # a link that lasted: back to the start


async def _until(predicate, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def test_daemon_retries_a_lost_driver_soon_and_often(tmp_path):
    """The daemon's own tries: the first 0.05 s after the link dropped, none further
    apart than 0.25 s while the socket is missing, and the driver's data is served
    again once its socket is back."""
    path = str(tmp_path / "fake-u")

    async def scenario() -> list[float]:
        server = Server()
        ups = Ups("u", path)
        server.add_ups(ups)
        daemon = Daemon(UpsdConf(), Users(), server, [])
        delays: list[float] = []
        retry_later = daemon._retry_later

        def record(u, delay):
            delays.append(delay)
            retry_later(u, delay)

        daemon._retry_later = record
        driver = FakeDriver(path, DUMP)
        try:
            daemon.tick()
            await _until(lambda: ups.connected and ups.data.dumpdone, what="first link")
            assert delays == []
            driver.close()                                 # the driver is killed
            await _until(lambda: len(delays) >= 6, what="six tries")
            assert not ups.connected
            driver = FakeDriver(path, DUMP)                # ... and started again
            await _until(lambda: ups.connected and ups.data.dumpdone, what="new link")
            assert server.handle(_session(server), ["GET", "VAR", "u", "ups.status"]) == \
                b'VAR u ups.status "OL"\n'
            return list(delays)
        finally:
            driver.close()
            for conn in list(daemon.drivers.values()):
                conn.close()

    delays = asyncio.run(scenario())
    assert delays[:6] == [0.05, 0.1, 0.2, 0.25, 0.25, 0.25]
    assert max(delays) == 0.25


def _session(server: Server):
    from nutpy.upsd.protocol import Session

    s = Session("127.0.0.1")
    server.open_session(s)
    return s


@pytest.mark.parametrize("kind", [pytest.param("c", marks=pytest.mark.interop), "ours"])
def test_killed_driver_is_served_again(tmp_path, kind):
    """dummy-ups killed (SIGKILL) and started again behind our upsd: its data comes
    back (bound: 10 s; the time taken is printed)."""
    if kind == "c":
        require_c_nut()
    env = NutEnv(tmp_path)
    (env.etc / "ups.dev").write_text("ups.status: OL\nbattery.charge: 100\n")
    env.write("ups.conf", "[ups]\n  driver = dummy-ups\n  port = ups.dev\n")
    env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\n")
    env.write("upsd.users", "")
    prog = c_prog("dummy-ups") if kind == "c" else our_prog("dummy-ups")
    sock = env.socket_path("dummy-ups", "ups")
    try:
        driver = env.start([prog, "-a", "ups", "-u", "root", "-F"])
        env.wait_socket("dummy-ups", "ups")
        env.start([our_prog("upsd"), "-F", "-u", "root"])
        env.wait_port()
        c = LineClient(env.port)

        def status() -> bytes:
            c.send("GET VAR ups ups.status\n")
            return c.read_lines(1)[0]

        wait_for(lambda: status() == b'VAR ups ups.status "OL"\n', 15, what="first data")
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
        wait_for(lambda: status() == b"ERR DRIVER-NOT-CONNECTED\n", 10,
                 what="upsd to notice the driver is gone")
        sock.unlink(missing_ok=True)  # a killed driver leaves its socket behind
        time.sleep(1.5)  # upsd keeps trying meanwhile
        env.start([prog, "-a", "ups", "-u", "root", "-F"])
        wait_for(sock.exists, 15, interval=0.001, what="the new driver's socket")
        t0 = time.monotonic()
        wait_for(lambda: status() == b'VAR ups ups.status "OL"\n', 10, interval=0.005,
                 what="the restarted driver's data")
        print(f"{kind} dummy-ups: data served again {time.monotonic() - t0:.3f} s after "
              "its socket appeared")
        c.close()
    finally:
        env.close()
