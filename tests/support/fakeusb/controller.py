"""The emulated bus: a Unix-socket server answering fakelibusb.c's requests from the device
models, with plug/unplug/replug, open handles, interface claims, blocking interrupt reads
and injected faults. Every transfer is recorded on its device."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

from . import errors
from .build import build_library
from .devices import ControlRequest, Event, Transfer, UsbDevice
from .errors import UsbError

SOCKET_ENV = "NUTPY_FAKEUSB_SOCKET"

OP_LIST, OP_OPEN, OP_CLOSE, OP_CONTROL, OP_INTERRUPT, OP_BULK = 1, 2, 3, 4, 5, 6
OP_CLAIM, OP_RELEASE, OP_SET_ALT, OP_CLEAR_HALT, OP_RESET = 7, 8, 9, 10, 11
OP_SET_CONFIG, OP_GET_CONFIG, OP_KERNEL_ACTIVE, OP_DETACH, OP_ATTACH = 12, 13, 14, 15, 16

HANDLE_OPS = {
    OP_CLAIM: "claim", OP_RELEASE: "release", OP_SET_ALT: "set_alt",
    OP_CLEAR_HALT: "clear_halt", OP_RESET: "reset", OP_SET_CONFIG: "set_config",
    OP_GET_CONFIG: "get_config", OP_KERNEL_ACTIVE: "kernel_driver_active",
    OP_DETACH: "detach", OP_ATTACH: "attach",
}

FAULT_KINDS = {"control", "interrupt", "bulk", "any", "open", "claim", "reset"}


@dataclass
class DataRequest:
    """An interrupt or bulk transfer as a Fault's `match` sees it."""
    kind: str
    endpoint: int
    length: int
    data: bytes = b""


@dataclass
class Fault:
    """Makes matching operations on a device fail with `error`, `count` times (None: until
    cleared). `kind` is "control", "interrupt", "bulk", "any" (any transfer), "open",
    "claim" or "reset"; `match(request)` narrows it (a ControlRequest or a DataRequest).
    The failure comes after `delay` seconds; a TIMEOUT fault waits for the transfer's own
    timeout unless `delay` is given, as a device that does not answer does. An unplug ends
    the wait with LIBUSB_ERROR_NO_DEVICE."""
    kind: str
    error: int
    count: int | None = 1
    delay: float | None = None
    match: Callable[[object], bool] | None = None
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")


@dataclass
class Attachment:
    """One plug-in of a device: what enumeration shows until it is unplugged."""
    id: int
    bus_number: int
    address: int
    ports: tuple[int, ...]


@dataclass
class Handle:
    id: int
    device: UsbDevice
    attachment: Attachment
    pid: int
    claimed: set[int] = field(default_factory=set)
    auto_detached: set[int] = field(default_factory=set)
    closed: bool = False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


class FakeUsbBus:
    """The emulated USB buses of one test: start it (a context manager), plug devices in,
    and start programs with ``env()``."""

    def __init__(self, *, library_dir: str | os.PathLike | None = None) -> None:
        self._library_dir = library_dir
        self._cv = threading.Condition()
        self._closing = False
        self._server: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._dir: str | None = None
        self._token = int.from_bytes(os.urandom(3), "little") << 32
        self._next_id = 1
        self._next_address: dict[int, int] = {}
        self.devices: list[UsbDevice] = []          # plugged in now, in plug order
        self.handles: dict[int, Handle] = {}
        self.model_errors: list[str] = []           # exceptions raised by device models
        self.list_calls = 0

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> "FakeUsbBus":
        if self._library_dir is None:
            self._library_dir = build_library()
        # Not under pytest's tmp_path (mode 0700): a driver that drops root privileges
        # must still reach the socket.
        self._dir = tempfile.mkdtemp(prefix="nutpy-fakeusb-")
        os.chmod(self._dir, 0o711)
        self.socket_path = os.path.join(self._dir, "bus.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(self.socket_path)
        os.chmod(self.socket_path, 0o666)
        srv.listen(64)
        self._server = srv
        t = threading.Thread(target=self._accept_loop, name="fakeusb-accept", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def close(self) -> None:
        with self._cv:
            if self._closing:
                return
            self._closing = True
            self._cv.notify_all()
        if self._server is not None:
            try:
                self._server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._server.close()
        with self._cv:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(5)
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "FakeUsbBus":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
        if exc_type is None:
            self.check()

    def check(self) -> None:
        """Raises if a device model raised while answering (a bug in the test's model)."""
        if self.model_errors:
            raise AssertionError("device model raised:\n" + "\n".join(self.model_errors))

    @property
    def library_dir(self) -> str:
        return str(self._library_dir)

    def activate(self):
        """For libusb calls made by this process (inprocess.py): points
        $NUTPY_FAKEUSB_SOCKET at this bus until the returned context ends."""
        import contextlib

        @contextlib.contextmanager
        def active():
            old = os.environ.get(SOCKET_ENV)
            os.environ[SOCKET_ENV] = self.socket_path
            try:
                yield self
            finally:
                if old is None:
                    os.environ.pop(SOCKET_ENV, None)
                else:
                    os.environ[SOCKET_ENV] = old
        return active()

    def env(self, base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
        """An environment in which programs load the stand-in libusb-1.0 and talk to this
        bus: LD_LIBRARY_PATH starts with the library directory, NUTPY_FAKEUSB_SOCKET names
        the socket."""
        env = dict(os.environ if base is None else base)
        old = env.get("LD_LIBRARY_PATH")
        env["LD_LIBRARY_PATH"] = self.library_dir + (":" + old if old else "")
        env[SOCKET_ENV] = self.socket_path
        env.update(extra)
        return env

    # -- plugging -------------------------------------------------------------------------

    def plug(self, device: UsbDevice, *, bus_number: int = 1, address: int | None = None,
             ports: tuple[int, ...] | None = None) -> UsbDevice:
        """Attaches `device`: enumeration lists it from now on. The address defaults to the
        bus's next free device number, as the kernel gives one at each plug-in."""
        with self._cv:
            if device.attachment is not None:
                raise RuntimeError(f"{device} is already plugged in")
            if device.bus is not None and device.bus is not self:
                raise RuntimeError(f"{device} belongs to another bus")
            used = {dev.attachment.address for dev in self.devices
                    if dev.attachment.bus_number == bus_number}
            if address is None:
                address = self._next_address.get(bus_number, 2)
                for _ in range(127):
                    if address not in used:
                        break
                    address = address % 127 + 1 if address < 127 else 2
                self._next_address[bus_number] = address % 127 + 1 if address < 127 else 2
            elif address in used:
                raise RuntimeError(f"address {bus_number:03d}/{address:03d} is taken")
            else:
                self._next_address[bus_number] = address % 127 + 1 if address < 127 else 2
            if ports is None:
                ports = (len(self.devices) + 1,)
            device.attachment = Attachment(self._new_id(), bus_number, address, tuple(ports))
            device.bus = self
            self.devices.append(device)
            self._cv.notify_all()
        return device

    add_device = plug

    def unplug(self, device: UsbDevice) -> None:
        """Detaches `device`: its open handles fail with LIBUSB_ERROR_NO_DEVICE from now on
        (a blocked interrupt read at once), and enumeration no longer lists it. Data queued
        for its IN endpoints is lost, as it would be on a real device."""
        with self._cv:
            if device.attachment is None:
                return
            device.last_attachment = device.attachment
            device.attachment = None
            self.devices.remove(device)
            device.queues.clear()
            device.halted.clear()
            device.alt_settings.clear()
            self._cv.notify_all()

    def replug(self, device: UsbDevice, *, bus_number: int | None = None,
               address: int | None = None, ports: tuple[int, ...] | None = None,
               same_address: bool = False) -> UsbDevice:
        """Unplugs (if needed) and plugs `device` back: on the same bus and port unless told,
        with a new device number unless `address` or `same_address` say otherwise."""
        with self._cv:
            old = device.attachment or device.last_attachment
            self.unplug(device)
            if old is not None:
                bus_number = old.bus_number if bus_number is None else bus_number
                ports = old.ports if ports is None else ports
                if same_address and address is None:
                    address = old.address
            return self.plug(device, bus_number=bus_number or 1, address=address, ports=ports)

    def _new_id(self) -> int:
        i = self._token | self._next_id
        self._next_id += 1
        return i

    # -- faults and waiting ---------------------------------------------------------------

    def inject(self, device: UsbDevice, fault: Fault) -> Fault:
        with self._cv:
            device.faults.append(fault)
        return fault

    def clear_faults(self, device: UsbDevice) -> None:
        with self._cv:
            device.faults.clear()
            self._cv.notify_all()

    def wait_for(self, predicate: Callable[[], object], timeout: float = 10.0,
                 what: str = "condition"):
        """Waits until predicate() is true (re-checked at every transfer), at most
        `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                result = predicate()
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"timed out waiting for {what}")
                self._cv.wait(min(left, 0.1))

    def open_handles(self, device: UsbDevice) -> list[Handle]:
        with self._cv:
            return [h for h in self.handles.values() if h.device is device and not h.closed
                    and h.attachment is device.attachment and _pid_alive(h.pid)]

    def _queue(self, device: UsbDevice, endpoint: int, data: bytes) -> None:
        with self._cv:
            device.queues[endpoint].append(data)
            self._cv.notify_all()

    # -- serving --------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with self._cv:
                if self._closing:
                    conn.close()
                    return
                self._conns.add(conn)
            t = threading.Thread(target=self._serve, args=(conn,), name="fakeusb-conn",
                                 daemon=True)
            t.start()
            with self._cv:
                self._threads = [x for x in self._threads if x.is_alive()] + [t]

    def _serve(self, conn: socket.socket) -> None:
        try:
            while True:
                head = _recv_exact(conn, 4)
                if head is None:
                    return
                (n,) = struct.unpack("<I", head)
                body = _recv_exact(conn, n)
                if body is None or n < 8:
                    return
                reply = self._dispatch(body)
                conn.sendall(struct.pack("<I", len(reply)) + reply)
        except OSError:
            pass
        finally:
            with self._cv:
                self._conns.discard(conn)
            conn.close()

    def _dispatch(self, body: bytes) -> bytes:
        op, pid = struct.unpack_from("<B3xI", body)
        args = body[8:]
        try:
            with self._cv:
                if op == OP_LIST:
                    return self._op_list()
                if op == OP_OPEN:
                    return self._op_open(pid, *struct.unpack_from("<Q", args))
                if op == OP_CLOSE:
                    return self._op_close(pid, *struct.unpack_from("<Q", args))
                if op == OP_CONTROL:
                    return self._op_control(pid, args)
                if op in (OP_INTERRUPT, OP_BULK):
                    return self._op_data(pid, "interrupt" if op == OP_INTERRUPT else "bulk",
                                         args)
                if op in HANDLE_OPS:
                    hid, a, b = struct.unpack_from("<Qii", args)
                    return self._op_handle(pid, op, hid, a, b)
        except Exception:
            self.model_errors.append(traceback.format_exc())
            if op in (OP_INTERRUPT, OP_BULK):
                return struct.pack("<iI", errors.IO, 0)
            return struct.pack("<ii", errors.IO, 0)
        return struct.pack("<ii", errors.NOT_SUPPORTED, 0)

    def _op_list(self) -> bytes:
        self.list_calls += 1
        devs = sorted(self.devices, key=lambda d: (d.attachment.bus_number,
                                                   d.attachment.address))
        out = [struct.pack("<i", len(devs))]
        for dev in devs:
            a = dev.attachment
            ports = bytes(a.ports[:7]).ljust(7, b"\0")
            configs = dev.config_descriptors()
            out.append(struct.pack("<QBBBB", a.id, a.bus_number, a.address, dev.speed,
                                   min(len(a.ports), 7)) + ports + dev.device_descriptor()
                       + bytes([len(configs)]))
            for c in configs:
                out.append(struct.pack("<H", len(c)) + c)
        return b"".join(out)

    def _attached(self, attachment_id: int) -> UsbDevice | None:
        for dev in self.devices:
            if dev.attachment.id == attachment_id:
                return dev
        return None

    def _live_handle(self, handle_id: int) -> Handle | None:
        h = self.handles.get(handle_id)
        if h is None or h.closed or h.device.attachment is not h.attachment:
            return None
        return h

    def _take_fault(self, device: UsbDevice, kinds: tuple[str, ...], request,
                    timeout_ms: int, handle: Handle | None) -> int | None:
        """The error of the first fault matching this operation (after its delay), or
        None. Called with the lock held; the delay releases it."""
        for fault in device.faults:
            if fault.kind not in kinds or (fault.count is not None and fault.count <= 0):
                continue
            if fault.match is not None and not fault.match(request):
                continue
            if fault.count is not None:
                fault.count -= 1
            fault.fired += 1
            delay = fault.delay
            if delay is None and fault.error == errors.TIMEOUT:
                delay = timeout_ms / 1000 if timeout_ms else 3600.0
            if delay:
                deadline = time.monotonic() + delay
                while not self._closing:
                    if handle is not None and self._live_handle(handle.id) is None:
                        return errors.NO_DEVICE
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cv.wait(left)
            return fault.error
        return None

    def _op_open(self, pid: int, attachment_id: int) -> bytes:
        dev = self._attached(attachment_id)
        if dev is None:
            return struct.pack("<iQ", errors.NO_DEVICE, 0)
        err = self._take_fault(dev, ("open",), None, 0, None)
        if err is None and dev.attachment is None:
            err = errors.NO_DEVICE
        hid = 0
        if err is None:
            hid = self._new_id()
            self.handles[hid] = Handle(hid, dev, dev.attachment, pid)
        dev.events.append(Event("open", pid, hid, (), err or 0))
        self._cv.notify_all()
        return struct.pack("<iQ", err or 0, hid)

    def _op_close(self, pid: int, handle_id: int) -> bytes:
        h = self.handles.pop(handle_id, None)
        if h is not None and not h.closed:
            h.closed = True
            for iface in h.auto_detached:
                h.device.kernel_driver[iface] = True
            h.device.events.append(Event("close", pid, handle_id))
            self._cv.notify_all()
        return struct.pack("<ii", 0, 0)

    def _op_control(self, pid: int, args: bytes) -> bytes:
        hid, rtype, req, value, index, length, timeout = struct.unpack_from("<QBBHHHI", args)
        data = args[struct.calcsize("<QBBHHHI"):] if not rtype & 0x80 else b""
        setup = ControlRequest(rtype, req, value, index, length, bytes(data[:length]))
        h = self._live_handle(hid)
        if h is None:
            return struct.pack("<i", errors.NO_DEVICE)
        dev = h.device
        status = self._take_fault(dev, ("control", "any"), setup, timeout, h)
        answer = b""
        if status is None:
            try:
                answer = dev.control(setup)
                if setup.is_in:
                    answer = answer[:length]
                    status = len(answer)
                else:
                    answer = b""
                    status = len(setup.data)
            except UsbError as e:
                status, answer = e.code, b""
        if dev.recording:
            dev.transfers.append(Transfer("control", pid, hid, setup, 0, length, timeout,
                                          setup.data, answer, status))
        self._cv.notify_all()
        return struct.pack("<i", status) + answer

    def _op_data(self, pid: int, kind: str, args: bytes) -> bytes:
        hid, endpoint, length, timeout = struct.unpack_from("<QB3xII", args)
        data = bytes(args[struct.calcsize("<QB3xII"):]) if not endpoint & 0x80 else b""
        h = self._live_handle(hid)
        if h is None:
            return struct.pack("<iI", errors.NO_DEVICE, 0)
        dev = h.device
        request = DataRequest(kind, endpoint, length, data)
        status = self._take_fault(dev, (kind, "any"), request, timeout, h)
        answer = b""
        if status is None:
            if not dev.endpoint_exists(endpoint):
                status = errors.IO
            elif endpoint in dev.halted:
                status = errors.PIPE
            elif endpoint & 0x80:
                status, answer = self._read_in(h, endpoint, length, timeout)
            else:
                try:
                    dev.handle_data_out(kind, endpoint, data)
                    status = 0
                except UsbError as e:
                    status = e.code
        if dev.recording:
            dev.transfers.append(Transfer(kind, pid, hid, None, endpoint, length, timeout,
                                          data, answer, status))
        self._cv.notify_all()
        done = len(data) if status == 0 and not endpoint & 0x80 else len(answer)
        return struct.pack("<iI", status, done) + answer

    def _read_in(self, h: Handle, endpoint: int, length: int, timeout: int):
        """Waits for queued data on an IN endpoint for at most the transfer's timeout."""
        dev = h.device
        deadline = time.monotonic() + timeout / 1000 if timeout else None
        queue = dev.queues[endpoint]
        while not queue:
            if self._closing or self._live_handle(h.id) is None:
                return errors.NO_DEVICE, b""
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return errors.TIMEOUT, b""
            self._cv.wait(left)
        if self._live_handle(h.id) is None:
            return errors.NO_DEVICE, b""
        data = queue[0]
        if len(data) <= length:
            queue.popleft()
            return 0, data
        # More than asked for: a transfer ends on a packet boundary, so a length that is
        # a whole number of packets takes the first packets and leaves the rest queued;
        # any other length ends mid-packet, which the host reports as an overflow.
        mps = _max_packet(dev, endpoint)
        if mps and length % mps == 0 and length:
            queue[0] = data[length:]
            return 0, data[:length]
        queue.popleft()
        return errors.OVERFLOW, data[:length]

    def _op_handle(self, pid: int, op: int, handle_id: int, a: int, b: int) -> bytes:
        name = HANDLE_OPS[op]
        h = self._live_handle(handle_id)
        if h is None:
            return struct.pack("<ii", errors.NO_DEVICE, 0)
        dev = h.device
        status, value = 0, 0
        interfaces = {i.number for i in dev.interfaces}
        if op == OP_CLAIM:
            status = self._take_fault(dev, ("claim",), None, 0, h) or 0
            if status:
                pass
            elif a not in interfaces:
                status = errors.NOT_FOUND
            elif any(a in o.claimed for o in self.handles.values() if o is not h
                     and not o.closed and o.attachment is h.attachment and _pid_alive(o.pid)):
                status = errors.BUSY
            elif dev.kernel_driver.get(a):
                if b:  # auto-detach
                    dev.kernel_driver[a] = False
                    h.auto_detached.add(a)
                    h.claimed.add(a)
                else:
                    status = errors.BUSY
            else:
                h.claimed.add(a)
        elif op == OP_RELEASE:
            if a not in h.claimed:
                status = errors.NOT_FOUND
            else:
                h.claimed.discard(a)
                if a in h.auto_detached:
                    h.auto_detached.discard(a)
                    dev.kernel_driver[a] = True
        elif op == OP_SET_ALT:
            alts = {i.alternate for i in dev.interfaces if i.number == a}
            if a not in h.claimed or b not in alts:
                status = errors.NOT_FOUND
            else:
                dev.alt_settings[a] = b
        elif op == OP_CLEAR_HALT:
            if not dev.endpoint_exists(a):
                status = errors.NOT_FOUND
            else:
                dev.halted.discard(a)
        elif op == OP_RESET:
            status = self._take_fault(dev, ("reset",), None, 0, h) or 0
            if not status:
                dev.halted.clear()
                dev.alt_settings.clear()
        elif op == OP_SET_CONFIG:
            if a not in (-1, 0, 1):
                status = errors.NOT_FOUND
            elif h.claimed and a != dev.configuration:
                status = errors.BUSY
            else:
                dev.configuration = max(a, 0)
        elif op == OP_GET_CONFIG:
            value = dev.configuration
        elif op == OP_KERNEL_ACTIVE:
            if a not in interfaces:
                status = errors.NOT_FOUND
            else:
                status = 1 if dev.kernel_driver.get(a) else 0
        elif op == OP_DETACH:
            if a not in interfaces or not dev.kernel_driver.get(a):
                status = errors.NOT_FOUND
            else:
                dev.kernel_driver[a] = False
        elif op == OP_ATTACH:
            if a not in interfaces:
                status = errors.NOT_FOUND
            elif dev.kernel_driver.get(a) or a in h.claimed:
                status = errors.BUSY
            else:
                dev.kernel_driver[a] = True
        dev.events.append(Event(name, pid, handle_id, (a, b), status))
        self._cv.notify_all()
        return struct.pack("<ii", status, value)


def _max_packet(dev: UsbDevice, endpoint: int) -> int:
    for i in dev.interfaces:
        for e in i.endpoints:
            if e.address == endpoint:
                return e.max_packet_size
    return 0


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)
