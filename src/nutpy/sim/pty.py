"""A simulated serial port: a pseudo-terminal pair whose slave side is the "serial
device" a driver opens, while the simulated UPS talks on the master side.

The simulator keeps its own descriptor of the slave open, so a driver may close and reopen
the port as it likes (without it, the master would see a hang-up). ``unplug()`` closes the
pair, as pulling a USB-serial adapter does (the driver's writes then fail with EIO, reads
see end of file); ``replug()`` makes a new pair. Give a ``link`` path to get a stable name
(a symlink that follows the pair, like a udev alias) so a driver can reopen it.

Baud rate, parity and modem lines mean nothing on a pty, but the line discipline is real:
the driver's termios settings (canonical mode, its end-of-line characters) apply to what
the simulator sends, exactly as on a real port.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty


class PtyPort:
    def __init__(self, link: str | None = None) -> None:
        self.link = link
        self.master: int | None = None
        self.slave: int | None = None
        self.slave_name = ""
        self.lock = threading.Lock()
        self.plugged = False
        self.replug()

    @property
    def path(self) -> str:
        """The name a driver should open."""
        return self.link or self.slave_name

    def replug(self) -> None:
        with self.lock:
            if self.plugged:
                return
            master, slave = os.openpty()
            # until a driver sets its own modes: no echo, no line editing
            tty.setraw(slave)
            os.set_blocking(master, False)
            self.master, self.slave = master, slave
            self.slave_name = os.ttyname(slave)
            if self.link:
                tmp = f"{self.link}.new"
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
                os.symlink(self.slave_name, tmp)
                os.replace(tmp, self.link)
            self.plugged = True

    def unplug(self) -> None:
        with self.lock:
            if not self.plugged:
                return
            self.plugged = False
            if self.link:
                try:
                    os.unlink(self.link)
                except FileNotFoundError:
                    pass
            for fd in (self.master, self.slave):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.master = self.slave = None

    close = unplug

    def read(self, timeout: float) -> bytes:
        """What the driver wrote, waiting up to ``timeout`` s; b"" if nothing."""
        master = self.master
        if master is None:
            time.sleep(timeout)
            return b""
        try:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                return b""
            return os.read(master, 4096)
        except (OSError, ValueError):
            return b""

    def write(self, data: bytes) -> None:
        master = self.master
        if master is None or not data:
            return
        view = memoryview(data)
        deadline = time.monotonic() + 2.0
        while view and time.monotonic() < deadline:
            try:
                n = os.write(master, view)
                view = view[n:]
            except BlockingIOError:
                select.select([], [master], [], 0.05)
            except OSError:
                return

    def flush_pending(self) -> None:
        """Drop what the driver wrote and nobody read (the line was dead)."""
        while self.read(0):
            pass


class Runner:
    """Drives a simulated device on a port in a background thread: bytes from the driver
    go to ``device.feed()``, what it returns goes back, and ``device.tick()`` runs between
    reads for spontaneous output (alerts, timers)."""

    def __init__(self, device, port: PtyPort, tick: float = 0.02) -> None:
        self.device = device
        self.port = port
        self.tick_interval = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lock = device.lock
        # Rounds of the loop completed: bytes read in one round are fed to the device before
        # the count moves, so "the count moved twice" means "whatever was read is handled".
        self.rounds = 0

    def start(self) -> "Runner":
        self.device.plugged_into(self.port)
        self._thread = threading.Thread(target=self._loop, name="ups-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.port.unplug()

    def __enter__(self) -> "Runner":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            data = self.port.read(self.tick_interval)
            now = time.monotonic()
            with self.lock:
                out = self.device.feed(data, now) if data else b""
                out += self.device.tick(now)
                events, self.device.plug_events = self.device.plug_events, []
            for plugged in events:
                if plugged and not self.port.plugged:
                    self.port.replug()
                    with self.lock:
                        self.device.plugged_into(self.port)
                elif not plugged and self.port.plugged:
                    self.port.unplug()
            if out and self.port.plugged:
                self.port.write(out)
            self.rounds += 1
