"""A stand-in for systemd-logind's Manager on a private bus, for upsmon's sleep tests.

    python fake_logind.py <bus address> <event log>

It owns ``org.freedesktop.login1`` and serves what upsmon uses, as logind does:

* ``Inhibit(what, who, why, mode)`` returns the write end of a pipe and keeps the read
  end: when every copy of the write end is closed, the read end sees EOF, which is how
  logind learns that a lock was released;
* the ``PreparingForSleep`` property (``org.freedesktop.DBus.Properties.Get``);
* on the line ``sleep`` on its stdin: PreparingForSleep becomes true, the signal
  ``PrepareForSleep(true)`` goes out, then it waits (up to ``--delay`` seconds, logind's
  InhibitDelayMaxSec) for the delay locks to be released before it logs ``suspend``;
  on ``wake``: PreparingForSleep false and ``PrepareForSleep(false)``.

Each event is one line in the event log (flushed at once): ``ready``, ``inhibit <n>
<what> <who> <mode> <pipe inode>``, ``released <n>``, ``signal true|false``, ``suspend
<n held>``. A test waits for lines, and finds the process holding lock n by the pipe's
inode in /proc/<pid>/fd."""

from __future__ import annotations

import argparse
import os
import select
import sys
import time

from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import Proxy, open_dbus_connection

NAME = "org.freedesktop.login1"
PATH = "/org/freedesktop/login1"
MANAGER = "org.freedesktop.login1.Manager"
PROPERTIES = "org.freedesktop.DBus.Properties"


class FakeLogind:
    def __init__(self, address: str, log_path: str, delay: float) -> None:
        self.conn = open_dbus_connection(bus=address, enable_fds=True)
        reply = Proxy(message_bus, self.conn).RequestName(NAME, 4)  # DO_NOT_QUEUE
        if reply != (1,):
            raise SystemExit(f"could not own {NAME}: {reply}")
        self.log_file = open(log_path, "a", buffering=1)
        self.delay = delay
        self.preparing = False
        self.locks: dict[int, int] = {}  # read end -> lock number (delay locks still held)
        self.count = 0
        self.emitter = DBusAddress(PATH, interface=MANAGER)
        self.stdin = b""

    def log(self, text: str) -> None:
        self.log_file.write(text + "\n")

    # -- the bus ---------------------------------------------------------------------------

    def handle(self, msg) -> None:
        if msg.header.message_type != MessageType.method_call:
            return
        fields = msg.header.fields
        iface, member = fields.get(HeaderFields.interface), fields.get(HeaderFields.member)
        if iface == MANAGER and member == "Inhibit":
            what, who, _why, mode = msg.body
            read_end, write_end = os.pipe()
            self.count += 1
            self.locks[read_end] = self.count
            self.log(f"inhibit {self.count} {what} {who} {mode} {os.fstat(read_end).st_ino}")
            self.conn.send(new_method_return(msg, "h", (write_end,)))
            os.close(write_end)  # the caller's copy is now the only one
        elif iface == PROPERTIES and member == "Get" and msg.body == (MANAGER,
                                                                       "PreparingForSleep"):
            self.conn.send(new_method_return(msg, "v", (("b", self.preparing),)))
        else:
            self.conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))

    def pump(self) -> None:
        """Handle every message the bus has for us now."""
        while True:
            try:
                msg = self.conn.receive(timeout=0)
            except TimeoutError:
                return
            self.handle(msg)

    def check_locks(self, ready) -> None:
        for fd in list(self.locks):
            if fd in ready and os.read(fd, 1) == b"":
                self.log(f"released {self.locks.pop(fd)}")
                os.close(fd)

    def signal(self, value: bool) -> None:
        self.preparing = value
        self.conn.send(new_signal(self.emitter, "PrepareForSleep", "b", (value,)))
        self.log(f"signal {str(value).lower()}")

    # -- the loop ---------------------------------------------------------------------------

    def wait(self, timeout: float | None, stdin: bool = True):
        watched = [self.conn.sock, *self.locks] + ([sys.stdin] if stdin else [])
        ready, _, _ = select.select(watched, [], [], timeout)
        if self.conn.sock in ready:
            self.pump()
        self.check_locks(ready)
        return ready

    def commands(self):
        """The test's lines, read unbuffered (select must see what is left)."""
        while True:
            while b"\n" not in self.stdin:
                ready = self.wait(None)
                if sys.stdin in ready:
                    data = os.read(sys.stdin.fileno(), 4096)
                    if not data:
                        return
                    self.stdin += data
            line, self.stdin = self.stdin.split(b"\n", 1)
            yield line.decode().strip()

    def run(self) -> None:
        self.log("ready")
        for command in self.commands():
            if command == "sleep":
                self.signal(True)
                deadline = time.monotonic() + self.delay
                while self.locks and time.monotonic() < deadline:
                    self.wait(max(deadline - time.monotonic(), 0), stdin=False)
                self.log(f"suspend {len(self.locks)}")
            elif command == "wake":
                self.signal(False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("log")
    parser.add_argument("--delay", type=float, default=5.0)
    args = parser.parse_args()
    FakeLogind(args.address, args.log, args.delay).run()


if __name__ == "__main__":
    main()
