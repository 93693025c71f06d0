"""Every daemon tells systemd how it is doing: the sd_notify datagrams our daemons send to a
test NOTIFY_SOCKET, in order, across start, watchdog pings, a reload and a stop."""

import os
import signal
import socket
import time

import pytest

from support.harness import free_port, our_prog, wait_for

WATCHDOG_USEC = "400000"  # a ping at least every 0.2 s


class Notifications:
    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.got: list[dict[str, str]] = []

    def env(self, **extra: str) -> dict[str, str]:
        return dict(NOTIFY_SOCKET=self.path, WATCHDOG_USEC=WATCHDOG_USEC, **extra)

    def collect(self) -> list[dict[str, str]]:
        while True:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                return self.got
            self.got.append(dict(f.split("=", 1) for f in data.decode().split("\n") if f))

    def wait(self, key: str, count: int = 1, timeout: float = 15) -> None:
        wait_for(lambda: sum(key in m for m in self.collect()) >= count, timeout,
                 interval=0.05, what=f"{count} x {key}")

    def states(self) -> list[str]:
        """The state messages in order, with runs of watchdog pings counted as one."""
        out: list[str] = []
        for m in self.collect():
            for key in ("READY", "RELOADING", "STOPPING", "WATCHDOG"):
                if key in m and not (key == "WATCHDOG" and out and out[-1] == "WATCHDOG"):
                    out.append(key)
        return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify(tmp_path):
    n = Notifications(str(tmp_path / "notify"))
    yield n
    n.close()


def check_life_cycle(notify: Notifications, pid: int, stop_status: str) -> None:
    ready = next(m for m in notify.collect() if "READY" in m)
    assert ready["MAINPID"] == str(pid)
    assert int(ready["MONOTONIC_USEC"]) <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    reload = next(m for m in notify.got if "RELOADING" in m)
    assert "MONOTONIC_USEC" in reload
    states = notify.states()
    assert [x for x in states if x != "WATCHDOG"] == ["READY", "RELOADING", "READY", "STOPPING"]
    # pings while running, before and after the reload (and maybe during it), none once stopping
    assert states[:2] == ["READY", "WATCHDOG"] and states[-2:] == ["WATCHDOG", "STOPPING"]
    assert next(m for m in notify.got if "STOPPING" in m).get("STATUS") == stop_status


def life_cycle(notify: Notifications, p, target: int | None = None, rc: int = 0) -> None:
    """Wait for readiness and pings, reload, more pings, stop (signals to ``target``, by
    default the process started)."""
    target = target or p.pid
    notify.wait("READY")
    notify.wait("WATCHDOG", 2)
    os.kill(target, signal.SIGHUP)
    notify.wait("RELOADING")
    notify.wait("READY", 2)
    pings = sum("WATCHDOG" in m for m in notify.got)
    notify.wait("WATCHDOG", pings + 2)
    os.kill(target, signal.SIGTERM)
    assert p.wait(15) == rc
    notify.collect()


def test_upslog(nutenv, notify):
    log = nutenv.root / "ups.log"
    # no upsd there: upslog warns and logs NA lines, it still runs
    p = nutenv.start([our_prog("upslog"), "-s", f"ups@127.0.0.1:{free_port()}", "-l", str(log),
                      "-i", "1", "-F", "-u", "root"], **notify.env())
    life_cycle(notify, p)
    check_life_cycle(notify, p.pid, "Signal 15: exiting")


def test_no_socket_no_messages(nutenv, notify):
    """Without NOTIFY_SOCKET (not under systemd) a daemon sends nothing and runs as before."""
    log = nutenv.root / "ups.log"
    p = nutenv.start([our_prog("upslog"), "-s", f"ups@127.0.0.1:{free_port()}", "-l", str(log),
                      "-i", "1", "-F", "-u", "root"])
    wait_for(lambda: log.exists() and log.read_text(), 10, what="a log line")
    p.send_signal(signal.SIGTERM)
    assert p.wait(15) == 0
    assert notify.collect() == []


def driver_env(nutenv):
    (nutenv.etc / "u1.dev").write_text("ups.status: OL\nbattery.charge: 90\n")
    nutenv.write("ups.conf", f"driverpath = {our_prog('dummy-ups').rsplit('/', 1)[0]}\n"
                             "[u1]\n driver = dummy-ups\n port = u1.dev\n")


def test_driver_as_its_service_runs_it(nutenv, notify):
    """nut-driver@.service: `upsdrvctl -FF start <ups>` becomes the driver, which reports."""
    driver_env(nutenv)
    p = nutenv.start([our_prog("upsdrvctl"), "-u", "root", "-FF", "start", "u1"], **notify.env())
    life_cycle(notify, p)
    check_life_cycle(notify, p.pid, "Signal 15: exiting")
    assert not (nutenv.state / "dummy-ups-u1.pid").exists()


def test_backgrounded_driver_names_its_pid(nutenv, notify):
    """A driver that forks (Type=forking habits, or upsdrvctl without -F) reports READY=1
    from the daemon, with the daemon's PID as MAINPID."""
    driver_env(nutenv)
    r = nutenv.run([our_prog("dummy-ups"), "-a", "u1", "-u", "root"], **notify.env())
    assert r.returncode == 0, r.stderr
    pid = nutenv.pid_of("dummy-ups-u1")
    try:
        notify.wait("READY")
        ready = next(m for m in notify.got if "READY" in m)
        assert ready["MAINPID"] == str(pid) and "u1" in ready["STATUS"]
        notify.wait("WATCHDOG", 2)  # the watchdog belongs to the daemon now
    finally:
        nutenv.kill_pidfile("dummy-ups-u1")
    notify.wait("STOPPING")


def test_upsd(nutenv, notify):
    nutenv.write("ups.conf", "")
    nutenv.write("upsd.conf", f"LISTEN 127.0.0.1 {nutenv.port}\nALLOW_NO_DEVICE true\n")
    nutenv.write("upsd.users", "[admin]\n  password = x\n")
    p = nutenv.start([our_prog("upsd"), "-FF", "-u", "root"], **notify.env())
    life_cycle(notify, p)
    check_life_cycle(notify, p.pid, "Signal 15: exiting")


def test_upsdrvctl_supervising_several_drivers(nutenv, notify):
    """`upsdrvctl -FF start` with several drivers stays and speaks for the bundle; the
    drivers keep quiet, or systemd would follow one of them."""
    for name in ("u1", "u2"):
        (nutenv.etc / f"{name}.dev").write_text("ups.status: OL\n")
    nutenv.write("ups.conf", f"driverpath = {our_prog('dummy-ups').rsplit('/', 1)[0]}\n"
                             "[u1]\n driver = dummy-ups\n port = u1.dev\n"
                             "[u2]\n driver = dummy-ups\n port = u2.dev\n")
    p = nutenv.start([our_prog("upsdrvctl"), "-u", "root", "-FF", "start"], **notify.env())
    notify.wait("READY")
    pids = [wait_for(lambda n=n: nutenv.pid_of(f"dummy-ups-{n}"), what=n) for n in ("u1", "u2")]
    for n in ("u1", "u2"):
        nutenv.wait_socket("dummy-ups", n)
    p.send_signal(signal.SIGHUP)  # passed on to the drivers
    notify.wait("READY", 2)
    p.send_signal(signal.SIGTERM)
    assert p.wait(20) == 0
    states = [s for s in notify.states() if s != "WATCHDOG"]
    assert states == ["READY", "RELOADING", "READY", "STOPPING"]
    assert all("MAINPID" not in m for m in notify.got)
    for pid in pids:
        wait_for(lambda pid=pid: not os.path.exists(f"/proc/{pid}") or
                 open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] == "Z", 10,
                 what="drivers stopped with upsdrvctl")


def test_upsmon(nutenv, notify):
    """upsmon's monitoring process (the root parent's child) reports, as C's does; a server
    that is not there changes nothing about that."""
    nutenv.write("upsmon.conf", f"MONITOR ups@127.0.0.1:{free_port()} 1 mon pw secondary\n"
                                "MINSUPPLIES 0\nPOLLFREQ 1\n"
                                f"POWERDOWNFLAG {nutenv.root}/killpower\n"
                                "SHUTDOWNCMD /bin/true\n")
    p = nutenv.start([our_prog("upsmon"), "-F", "-u", "root"], **notify.env())
    notify.wait("READY")
    child = int(next(m for m in notify.got if "READY" in m)["MAINPID"])
    assert child != p.pid  # the child of the root parent
    assert child == nutenv.pid_of("upsmon")
    # upsmon -c reload|stop signal the child, as here; its root parent then exits 1, as C's
    life_cycle(notify, p, child, rc=1)
    check_life_cycle(notify, child, "Signal 15: exiting")
