"""The monitor's ears for the OS going to sleep: systemd-logind on the D-Bus system bus.

As C upsmon 2.8.5 built with libsystemd does, we hold a "delay" inhibitor lock for
"sleep" (``org.freedesktop.login1.Manager.Inhibit`` gives a file descriptor; logind waits
for it to close, up to its InhibitDelayMaxSec, before suspending) and listen for the
Manager's ``PrepareForSleep(bool)``. What to do about it is ``monitor.Monitor``'s
decision (``os_sleep_starting``, ``os_sleep_finished``, the ``SleepLock`` outputs); this
module only does the talking, on the monitor's asyncio loop.

jeepney (pure Python) encodes the messages; its own asyncio connection cannot receive file
descriptors, so the socket is read here with ``recvmsg``. jeepney is imported only when
the watch starts, in the monitoring process: no client ever loads it.

Where there is no system bus, no logind, or no jeepney, nothing happens but one log line
and upsmon tells a suspend by its clocks alone (``clocks``). The bus is tried again every
``RETRY`` seconds, quietly, and so is a lock that could not be taken for another reason
than logind's refusal.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from typing import Callable

from ..common.log import log

DEFAULT_SYSTEM_BUS = "unix:path=/run/dbus/system_bus_socket"  # libsystemd's default
LOGIND = "org.freedesktop.login1"
LOGIND_PATH = "/org/freedesktop/login1"
MANAGER = "org.freedesktop.login1.Manager"
WHY = "Careful handling of OS sleep with regard to power device monitoring"
RETRY = 60.0
CALL_TIMEOUT = 10.0
CMSG_CLOEXEC = getattr(socket, "MSG_CMSG_CLOEXEC", 0)


def system_bus_address() -> str:
    """The system bus as libsystemd finds it: $DBUS_SYSTEM_BUS_ADDRESS, else the standard
    socket."""
    return os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or DEFAULT_SYSTEM_BUS


class BusError(Exception):
    """The bus could not be reached or spoke nonsense."""


class RemoteError(Exception):
    """An error reply (``name`` like ``org.freedesktop.DBus.Error.AccessDenied``)."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(f"{name}: {text}" if text else name)
        self.name = name


class BusConnection:
    """One D-Bus connection read with ``recvmsg`` on the running loop, so that replies
    may carry file descriptors. Signals go to ``on_signal``; ``on_lost`` is called once
    when the bus hangs up."""

    def __init__(self, on_signal: Callable, on_lost: Callable[[], None]) -> None:
        self.on_signal = on_signal
        self.on_lost = on_lost
        self.sock: socket.socket | None = None
        self.pending: dict[int, asyncio.Future] = {}
        self.serial = 0
        self.closed = False

    async def open(self, address: str) -> None:
        from jeepney.auth import BEGIN, Authenticator
        from jeepney.bus import get_connectable_addresses
        from jeepney.bus_messages import message_bus
        from jeepney.low_level import Parser

        try:
            path = next(get_connectable_addresses(address))
        except (RuntimeError, ValueError, StopIteration) as e:
            raise BusError(f"unusable bus address {address!r}: {e}") from None
        loop = asyncio.get_running_loop()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(self.sock, path), CALL_TIMEOUT)
            auth = Authenticator(enable_fds=True)
            for line in auth:
                await loop.sock_sendall(self.sock, line)
                data = await asyncio.wait_for(loop.sock_recv(self.sock, 1024), CALL_TIMEOUT)
                if not data:
                    raise BusError("the bus hung up while authenticating")
                auth.feed(data)
            await loop.sock_sendall(self.sock, BEGIN)
        except BaseException:
            self.sock.close()
            self.sock = None
            raise
        self.parser = Parser()
        loop.add_reader(self.sock.fileno(), self._readable)
        await self.call(message_bus.Hello())

    async def call(self, message):
        """Send a method call; its reply's body, or ``RemoteError``."""
        from jeepney import HeaderFields, MessageType

        if self.closed or self.sock is None:
            raise BusError("not connected")
        self.serial += 1
        serial = self.serial
        future = asyncio.get_running_loop().create_future()
        self.pending[serial] = future
        try:
            await asyncio.get_running_loop().sock_sendall(self.sock,
                                                          message.serialise(serial=serial))
            reply = await asyncio.wait_for(future, CALL_TIMEOUT)
        finally:
            self.pending.pop(serial, None)
        if reply.header.message_type == MessageType.error:
            name = reply.header.fields.get(HeaderFields.error_name, "")
            text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            raise RemoteError(name, text)
        return reply.body

    def _readable(self) -> None:
        from jeepney.fds import FileDescriptor, fds_buf_size

        while True:
            try:
                # close-on-exec from the start: a NOTIFYCMD spawned meanwhile must not
                # inherit the lock (and keep the OS from sleeping)
                data, ancdata, flags, _ = self.sock.recvmsg(self.parser.bytes_desired(),
                                                            fds_buf_size(), CMSG_CLOEXEC)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data, ancdata = b"", []
            if not data:
                self._lost()
                return
            self.parser.add_data(data, FileDescriptor.from_ancdata(ancdata))
            while (msg := self.parser.get_next_message()) is not None:
                self._dispatch(msg)

    def _dispatch(self, msg) -> None:
        from jeepney import HeaderFields, MessageType

        kind = msg.header.message_type
        if kind in (MessageType.method_return, MessageType.error):
            future = self.pending.get(msg.header.fields.get(HeaderFields.reply_serial))
            if future is not None and not future.done():
                future.set_result(msg)
                return
        elif kind == MessageType.signal:
            self.on_signal(msg)
        _close_fds(msg)

    def _lost(self) -> None:
        if not self.closed:
            self.close()
            self.on_lost()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.sock is not None:
            try:
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            except RuntimeError:
                pass
            self.sock.close()
        for future in self.pending.values():
            if not future.done():
                future.set_exception(BusError("the bus hung up"))


def _close_fds(msg) -> None:
    """File descriptors nobody asked for (in a signal, say) are closed at once."""
    from jeepney.fds import FileDescriptor

    for value in msg.body:
        if isinstance(value, FileDescriptor):
            value.close()


class SleepWatch:
    """The inhibitor lock and PrepareForSleep, for one monitor.

    ``on_starting`` / ``on_finished`` are PrepareForSleep(true) / (false) (and the
    ``PreparingForSleep`` property read when we connect); ``on_lost`` means we can no
    longer hear about sleep. ``hold`` / ``release`` take and let go of the lock."""

    def __init__(self, prog: str, on_starting: Callable[[], None],
                 on_finished: Callable[[], None], on_lost: Callable[[], None],
                 address: str | None = None) -> None:
        self.prog = prog
        self.on_starting = on_starting
        self.on_finished = on_finished
        self.on_lost = on_lost
        self.address = address or system_bus_address()
        self.bus: BusConnection | None = None
        self.lock_fd: int | None = None
        self.want_lock = True
        self.inhibit_refused = False
        self.failure_reported = False
        self.watch_reported = False
        self.task: asyncio.Task | None = None
        self.lock_task: asyncio.Task | None = None
        self.stopped = False

    @property
    def watching(self) -> bool:
        return self.bus is not None and not self.bus.closed

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._keep_connected())

    async def _keep_connected(self) -> None:
        while not self.stopped:
            if not self.watching:
                await self._connect()
            elif self.want_lock and self.lock_fd is None:
                self.hold()  # an Inhibit that failed (not refused) is asked again, as C
            await asyncio.sleep(RETRY)

    async def _connect(self) -> None:
        try:
            import jeepney  # noqa: F401
        except ImportError:
            self._report_failure("the jeepney module is not installed")
            self.stopped = True
            return
        from jeepney import DBusAddress, MatchRule, Properties
        from jeepney.bus_messages import message_bus

        bus = BusConnection(self._signal, self._bus_lost)
        try:
            await bus.open(self.address)
        except (OSError, asyncio.TimeoutError, BusError, RemoteError, ValueError) as e:
            bus.close()
            self._report_failure(f"no system bus at {self.address}: {_reason(e)}")
            return
        self.bus = bus
        try:
            rule = MatchRule(type="signal", sender=LOGIND, interface=MANAGER,
                             member="PrepareForSleep", path=LOGIND_PATH)
            await bus.call(message_bus.AddMatch(rule))
            self.inhibit_refused = False
            if self.want_lock:
                await self._take_lock()
            manager = DBusAddress(LOGIND_PATH, bus_name=LOGIND, interface=MANAGER)
            (_sig, preparing), = await bus.call(Properties(manager).get("PreparingForSleep"))
        except (OSError, asyncio.TimeoutError, BusError, RemoteError, ValueError) as e:
            self._disconnect()
            self._report_failure(f"logind is not reachable on {self.address}: {_reason(e)}")
            return
        if not self.watch_reported:
            log.info(f"{self.prog}: initialized OS integration for sleep/wake monitoring")
            self.watch_reported = True
        self.failure_reported = False
        if preparing:
            self.on_starting()

    def _report_failure(self, reason: str) -> None:
        if not self.failure_reported:
            # one line, not C's warning: upsmon carries on with its clocks
            log.info(f"{self.prog}: failed to initialize OS integration for sleep inhibitor")
            log.debug(1, f"logind: {reason}; telling a suspend by the clocks alone")
            self.failure_reported = True

    def _signal(self, msg) -> None:
        from jeepney import HeaderFields

        fields = msg.header.fields
        if (fields.get(HeaderFields.interface) != MANAGER
                or fields.get(HeaderFields.member) != "PrepareForSleep"
                or not msg.body or not isinstance(msg.body[0], bool)):
            return
        log.debug(2, f"logind: PrepareForSleep({str(msg.body[0]).lower()})")
        if msg.body[0]:
            self.on_starting()
        else:
            self.on_finished()

    def _bus_lost(self) -> None:
        self.bus = None
        self._close_lock()
        log.info(f"{self.prog}: lost the system bus; telling a suspend by the clocks alone")
        self.on_lost()

    def _disconnect(self) -> None:
        if self.bus is not None:
            self.bus.close()
            self.bus = None
        self._close_lock()

    # -- the lock --------------------------------------------------------------------------

    async def _take_lock(self) -> None:
        if self.lock_fd is not None or self.inhibit_refused or not self.watching:
            return
        from jeepney import DBusAddress, new_method_call
        from jeepney.fds import FileDescriptor

        manager = DBusAddress(LOGIND_PATH, bus_name=LOGIND, interface=MANAGER)
        try:
            body = await self.bus.call(new_method_call(manager, "Inhibit", "ssss",
                                                       ("sleep", self.prog, WHY, "delay")))
        except RemoteError as e:
            if e.name == "org.freedesktop.DBus.Error.ServiceUnknown":
                raise
            self.inhibit_refused = True  # as C: not asked again (until the bus comes back)
            log.info(f"{self.prog}: failed to initialize OS integration for sleep inhibitor")
            log.debug(1, f"logind: Inhibit refused: {e}")
            return
        if not body or not isinstance(body[0], FileDescriptor):
            raise BusError("Inhibit gave no file descriptor")
        fd = body[0].to_raw_fd()
        os.set_inheritable(fd, False)
        if not self.want_lock:  # released while we asked
            os.close(fd)
            return
        self.lock_fd = fd
        log.info(f"{self.prog}: initialized OS integration for sleep inhibitor")

    def hold(self) -> None:
        """Take the lock (again), in the background."""
        self.want_lock = True
        if self.lock_fd is not None or not self.watching:
            return
        if self.lock_task is not None and not self.lock_task.done():
            return
        self.lock_task = asyncio.get_running_loop().create_task(self._hold())

    async def _hold(self) -> None:
        try:
            await self._take_lock()
        except (OSError, asyncio.TimeoutError, BusError, RemoteError, ValueError) as e:
            log.debug(1, f"logind: Inhibit failed: {_reason(e)}")

    def release(self) -> None:
        """Let the OS go to sleep: close our end of the lock."""
        self.want_lock = False
        self._close_lock()

    def _close_lock(self) -> None:
        if self.lock_fd is not None:
            fd, self.lock_fd = self.lock_fd, None
            os.close(fd)
            log.debug(1, "logind: sleep inhibitor released")

    async def check(self) -> None:
        """Read PreparingForSleep again (while dozing: a lost PrepareForSleep(false) must
        not keep us asleep for ever)."""
        if not self.watching:
            return
        from jeepney import DBusAddress, Properties

        manager = DBusAddress(LOGIND_PATH, bus_name=LOGIND, interface=MANAGER)
        try:
            (_sig, preparing), = await self.bus.call(
                Properties(manager).get("PreparingForSleep"))
        except (OSError, asyncio.TimeoutError, BusError, RemoteError, ValueError) as e:
            log.debug(1, f"logind: reading PreparingForSleep failed: {_reason(e)}")
            return
        if not preparing:
            self.on_finished()

    def close(self) -> None:
        self.stopped = True
        for task in (self.task, self.lock_task):
            if task is not None:
                task.cancel()
        self._disconnect()


def _reason(e: BaseException) -> str:
    if isinstance(e, asyncio.TimeoutError):
        return "no answer"
    if isinstance(e, OSError) and e.errno is not None:
        return f"{e.strerror or errno.errorcode.get(e.errno, e.errno)}"
    return str(e) or type(e).__name__
