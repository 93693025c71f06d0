"""Our upsmon and "logind" on a private D-Bus: the sleep delay lock and PrepareForSleep as C
upsmon 2.8.5 uses them, with real processes (dbus-daemon, tests/support/fake_logind.py,
our dummy-ups and upsd, upsmon with a NOTIFYCMD that records). And no bus, or a bus
without logind: upsmon runs as before, quietly."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support.harness import wait_for
from support.upsmon_stack import Stack, Upsmon

FAKE_LOGIND = Path(__file__).resolve().parent.parent / "support" / "fake_logind.py"

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


class PrivateBus:
    """A dbus-daemon of our own, reachable by the unprivileged monitor."""

    def __init__(self, root: Path) -> None:
        exe = shutil.which("dbus-daemon")
        if exe is None:
            pytest.skip("dbus-daemon is not installed (apt-get install dbus-daemon)")
        self.dir = root / "dbus"
        self.dir.mkdir()
        os.chmod(self.dir, 0o755)
        self.socket = self.dir / "bus"
        self.address = f"unix:path={self.socket}"
        conf = self.dir / "bus.conf"
        conf.write_text(BUS_CONFIG.format(socket=self.socket))
        self.proc = subprocess.Popen([exe, "--nofork", "--nopidfile", f"--config-file={conf}"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(self.socket.exists, 10, 0.02, "dbus-daemon's socket")
        self.logind: subprocess.Popen | None = None
        self.events = self.dir / "logind.log"

    def start_logind(self) -> None:
        self.logind = subprocess.Popen([sys.executable, str(FAKE_LOGIND), self.address,
                                        str(self.events), "--delay", "30"],
                                       stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        self.wait_event("ready")

    def tell(self, command: str) -> None:
        self.logind.stdin.write(command.encode() + b"\n")
        self.logind.stdin.flush()

    def lines(self) -> list[str]:
        try:
            return self.events.read_text().splitlines()
        except FileNotFoundError:
            return []

    def wait_event(self, line: str, timeout: float = 20) -> int:
        """Index of ``line`` in the event log, once it is there."""
        wait_for(lambda: line in self.lines(), timeout, 0.02,
                 f"logind event {line!r} (has {self.lines()})")
        return self.lines().index(line)

    def inhibit(self, n: int) -> list[str]:
        for line in self.lines():
            words = line.split()
            if words[:2] == ["inhibit", str(n)]:
                return words[2:]
        return []

    def close(self) -> None:
        for proc in (self.logind, self.proc):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        if self.logind is not None:
            self.logind.stdin.close()


class BusUpsmon(Upsmon):
    def __init__(self, *args, bus_address: str, **kw) -> None:
        super().__init__(*args, **kw)
        self.bus_address = bus_address

    def env(self) -> dict[str, str]:
        env = super().env()
        env["DBUS_SYSTEM_BUS_ADDRESS"] = self.bus_address
        return env


def holders(pids: list[int], inode: str) -> list[int]:
    """Which of ``pids`` hold the pipe ``inode`` open; each such descriptor must be
    close-on-exec (a NOTIFYCMD must not inherit the lock and keep the OS awake)."""
    found = []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") != f"pipe:[{inode}]":
                    continue
                info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
            except OSError:
                continue
            flags = int(next(line.split()[1] for line in info.splitlines()
                             if line.startswith("flags:")), 8)
            assert flags & os.O_CLOEXEC, f"lock fd {fd} of {pid} is inherited by children"
            found.append(pid)
            break
    return found


@pytest.fixture
def stack():
    s = Stack(upses=("zeta",), upsd="ours")
    yield s
    s.close()


@pytest.fixture
def bus(stack):
    b = PrivateBus(stack.root)
    yield b
    b.close()


BAD = {"COMMBAD", "NOCOMM", "SHUTDOWN", "LOWBATT", "FSD", "NOPARENT"}


def test_sleep_and_wake_through_logind(stack, bus):
    bus.start_logind()
    m = BusUpsmon(stack, "sleepy", "ours", ["zeta@PORT 1 mon monpw primary"],
                  bus_address=bus.address).start()
    try:
        wait_for(lambda: bus.inhibit(1) and stack.numlogins("zeta") == 1, 20, 0.05,
                 "the lock taken and zeta watched")
        what, who, mode, inode = bus.inhibit(1)
        assert (what, who, mode) == ("sleep", "upsmon", "delay")
        # root parent, monitor (RUN_AS_USER), notifier: only the monitor holds the lock
        wait_for(lambda: len(m.processes()) == 3, 10, 0.05, "three processes")
        processes = m.processes()
        assert holders(processes, inode) == [processes[1]]

        bus.tell("sleep")
        released = bus.wait_event("released 1")
        assert bus.wait_event("suspend 0") > released    # logind did not have to wait
        m.wait_types("SUSPEND_STARTING")
        assert bus.lines().index("signal true") < released
        assert holders(m.processes(), inode) == []
        assert "Processing OS going to sleep" in m.stderr()

        bus.tell("wake")
        m.wait_types("SUSPEND_FINISHED")
        wait_for(lambda: bus.inhibit(2), 20, 0.05, "the lock taken again")
        inode2 = bus.inhibit(2)[3]
        assert holders(m.processes(), inode2) == [m.processes()[1]]
        # polling goes on after the wake-up: a power failure is still seen
        stack.set_status("zeta", "OB")
        m.wait_types("ONBATT")
        stack.set_status("zeta", "OL")
        m.wait_types("ONLINE")
    finally:
        m.stop()
    bus.wait_event("released 2")   # the monitor's exit let go of the lock
    types = m.types()
    assert types.count("SUSPEND_STARTING") == 1
    assert types.count("SUSPEND_FINISHED") == 1
    assert types.index("SUSPEND_STARTING") < types.index("SUSPEND_FINISHED")
    assert not BAD & set(types), types
    assert stack.shutdowns() == []
    assert "Traceback" not in m.stderr()
    assert m.stderr().count("initialized OS integration for sleep inhibitor") == 2


@pytest.mark.parametrize("where", ["no bus", "no logind"])
def test_without_logind_upsmon_runs_as_before(stack, bus, where):
    address = f"unix:path={stack.root}/nothing-here" if where == "no bus" else bus.address
    m = BusUpsmon(stack, "plain", "ours", ["zeta@PORT 1 mon monpw primary"],
                  bus_address=address).start()
    try:
        wait_for(lambda: stack.numlogins("zeta") == 1, 20, 0.05, "zeta watched")
        stack.set_status("zeta", "OB")
        m.wait_types("ONBATT")
        stack.set_status("zeta", "OL")
        m.wait_types("ONLINE")
    finally:
        m.stop()
    err = m.stderr()
    assert "Traceback" not in err
    assert err.count("failed to initialize OS integration for sleep inhibitor") == 1
    assert m.types() == ["ONBATT", "ONLINE"]
    assert stack.shutdowns() == []
