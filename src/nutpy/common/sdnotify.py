"""Tell systemd how a daemon is doing (sd_notify(3)) without libsystemd.

The protocol is one datagram per report, ``KEY=value`` lines, sent to the Unix socket named
by ``NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace). When the variable is
unset (not started by systemd, or the unit is not ``Type=notify``) every call is a no-op, so
daemons call these unconditionally.

What the daemons send, in the order C NUT 2.8.5 sends it:

* ``READY=1`` (with ``MAINPID=`` from a process that forked away from the one systemd
  started, as drivers under ``upsdrvctl`` and upsmon's child do) once serving;
* ``RELOADING=1`` + ``MONOTONIC_USEC=`` when a reload begins (systemd 253+ requires the
  timestamp for ``Type=notify-reload``), then ``READY=1`` again when it is done;
* ``WATCHDOG=1`` at least every half ``WATCHDOG_USEC`` when the unit sets ``WatchdogSec=``;
* ``STOPPING=1`` when exiting; ``STATUS=`` text with any of them.

Errors are swallowed: a daemon never fails because systemd went away.
"""

from __future__ import annotations

import os
import socket
import time

_DEFAULT_EXTEND_USEC = 600 * 1_000_000  # C's upsnotify_extend_timeout_usec_default


def _monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def socket_address(value: str | None) -> str | bytes | None:
    """The address ``NOTIFY_SOCKET`` names, or None when it names nothing we can use
    (unset, empty, relative; ``vsock:`` addresses of VMs are not supported)."""
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


class Notifier:
    """Reports to the service manager of this process. ``environ`` is read once, at
    construction (default: the process environment)."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = socket_address(env.get("NOTIFY_SOCKET"))
        self._watchdog_usec = _positive(env.get("WATCHDOG_USEC"))
        self._watchdog_pid = _positive(env.get("WATCHDOG_PID"))
        self._sock: socket.socket | None = None
        self._connected = False
        self._stopping = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    # -- the messages ----------------------------------------------------------------
    def connect(self) -> None:
        """Open the socket to the service manager now: a daemon about to chroot does, so its
        reports still reach systemd from inside the jail (and after a fork)."""
        if self.address is None or self._sock is not None:
            return
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            sock.connect(self.address)
        except OSError:
            return
        self._sock, self._connected = sock, True

    def send(self, *fields: str) -> bool:
        """Send one report made of ``fields`` (``KEY=value`` each); True if it left."""
        if self.address is None or not fields:
            return False
        data = "\n".join(fields).encode("utf-8", "replace")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            if self._connected:
                self._sock.send(data)
            else:
                self._sock.sendto(data, self.address)
        except OSError:
            return False
        return True

    def ready(self, status: str | None = None, mainpid: int | None = None) -> bool:
        """Serving. ``mainpid``: the PID systemd should watch from now on, when it is not the
        one it started (and the watchdog pings come from that process too)."""
        fields = _status(status) + ["READY=1"]
        if mainpid is not None:
            fields.append(f"MAINPID={mainpid}")
            self._watchdog_pid = mainpid
        fields.append(f"MONOTONIC_USEC={_monotonic_usec()}")
        return self.send(*fields)

    def reloading(self, status: str | None = None) -> bool:
        return self.send(*_status(status), "RELOADING=1", f"MONOTONIC_USEC={_monotonic_usec()}")

    def stopping(self, status: str | None = None) -> bool:
        self._stopping = True  # no more watchdog pings: the main loop is winding down
        return self.send(*_status(status), "STOPPING=1")

    def status(self, text: str) -> bool:
        return self.send(*_status(text))

    def extend_timeout(self, usec: int | None = None, status: str | None = None) -> bool:
        """Ask for more time to start or stop (a long shutdown command, a slow device)."""
        usec = usec or self._watchdog_usec or _DEFAULT_EXTEND_USEC
        return self.send(*_status(status), f"EXTEND_TIMEOUT_USEC={usec}")

    # -- the watchdog ------------------------------------------------------------------
    def watchdog_interval(self) -> float | None:
        """Seconds between ``WATCHDOG=1`` pings (half of ``WATCHDOG_USEC``, as sd_watchdog_enabled
        advises), or None when the unit has no watchdog for this process."""
        if self.address is None or self._watchdog_usec is None:
            return None
        if self._watchdog_pid is not None and self._watchdog_pid != os.getpid():
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def watchdog(self) -> bool:
        if self.watchdog_interval() is None or self._stopping:
            return False
        return self.send("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock, self._connected = None, False


def _status(text: str | None) -> list[str]:
    # systemd reads one STATUS= line: a newline would end it early
    return [] if text is None else ["STATUS=" + text.replace("\n", " ")]


def _positive(text: str | None) -> int | None:
    if not text or not text.isdigit():
        return None
    value = int(text)
    return value if value > 0 else None


_notifier: Notifier | None = None


def notifier() -> Notifier:
    """The process's notifier, made on first use from the environment at that time; a forked
    child shares it (and its socket, which may have been connected before a chroot)."""
    global _notifier
    if _notifier is None:
        _notifier = Notifier()
    return _notifier
