"""USB devices for the drivers: finding the device the configuration names, opening and
claiming it, control and interrupt transfers, string descriptors (C NUT's libusb1.c and
usb-common.c), on pyusb's libusb-1.0 backend.

The backend is loaded the standard way (``usb.backend.libusb1.get_backend()``, which
dlopen()s ``libusb-1.0.so.0``), so ``LD_LIBRARY_PATH`` can point a driver at another
libusb-1.0 build. Every call here blocks: drivers call them from their device hooks,
which the driver core runs in its worker thread, never on the event loop.

Errors come out as ``UsbError`` carrying libusb's error code; ``lost`` tells whether the
device is gone (or taken) and must be found again.

The layer knows nothing about HID beyond fetching the HID and report descriptors, so the
USB Megatec (Q1) drivers use it too: ``open_device`` with their own acceptance callback,
then ``control``/``interrupt_read``/``interrupt_write`` on the handle.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from ..common.log import log

# libusb error codes
(ERROR_IO, ERROR_INVALID_PARAM, ERROR_ACCESS, ERROR_NO_DEVICE, ERROR_NOT_FOUND, ERROR_BUSY,
 ERROR_TIMEOUT, ERROR_OVERFLOW, ERROR_PIPE, ERROR_INTERRUPTED, ERROR_NO_MEM,
 ERROR_NOT_SUPPORTED) = range(-1, -13, -1)
ERROR_OTHER = -99

STRERROR = {
    ERROR_IO: "Input/Output Error", ERROR_INVALID_PARAM: "Invalid parameter",
    ERROR_ACCESS: "Access denied (insufficient permissions)",
    ERROR_NO_DEVICE: "No such device (it may have been disconnected)",
    ERROR_NOT_FOUND: "Entity not found", ERROR_BUSY: "Resource busy",
    ERROR_TIMEOUT: "Operation timed out", ERROR_OVERFLOW: "Overflow",
    ERROR_PIPE: "Pipe error", ERROR_INTERRUPTED: "System call interrupted (perhaps due to signal)",
    ERROR_NO_MEM: "Insufficient memory",
    ERROR_NOT_SUPPORTED: "Operation not supported or unimplemented on this platform",
    ERROR_OTHER: "Other error",
}

# What means "the device went away or someone else has it": drop the handle and find the
# device again (C's usbhid-ups reconnects on these).
LOST_CODES = frozenset({ERROR_NO_DEVICE, ERROR_ACCESS, ERROR_NOT_FOUND, ERROR_BUSY,
                        ERROR_NO_MEM})

USB_TIMEOUT_MS = 5000
MAX_REPORT_DESCRIPTOR = 0x1800
STRING_TRIES = 3  # string descriptor requests are retried (some Tripp Lite units need it)
STRING_RETRY_DELAY = 0.05


class UsbError(Exception):
    def __init__(self, code: int, what: str = "") -> None:
        self.code = code
        super().__init__(f"{what}: {STRERROR.get(code, 'Other error')}" if what
                         else STRERROR.get(code, "Other error"))

    @property
    def lost(self) -> bool:
        return self.code in LOST_CODES


def usb_error(exc: Exception, what: str) -> UsbError:
    """A pyusb exception as the libusb error it stands for (what C's code sees)."""
    import usb.core

    if isinstance(exc, usb.core.USBTimeoutError):
        return UsbError(ERROR_TIMEOUT, what)
    code = getattr(exc, "backend_error_code", None)
    if code is None or not isinstance(code, int):
        code = ERROR_NO_DEVICE if getattr(exc, "errno", None) == 19 else ERROR_OTHER
    return UsbError(code, what)


@dataclass
class DeviceInfo:
    """What identifies a USB device (C's USBDevice_t), plus its place on the bus."""
    vendor_id: int
    product_id: int
    vendor: str | None = None
    product: str | None = None
    serial: str | None = None
    bus: str | None = None  # "%03d"
    device: str | None = None  # "%03d"
    bus_port: str | None = None  # "%03d" of the port on the parent hub
    bcd_device: int = 0
    port_path: tuple[int, ...] = ()  # bus number and every port down to the device

    def describe(self) -> str:
        return f"{self.vendor_id:04x}:{self.product_id:04x}"


# ---- matching the configured device (C's regex and exact matchers)

_POSIX_CLASSES = {"alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z",
                  "lower": "a-z", "space": r" \t\n\r\f\v", "xdigit": "0-9A-Fa-f",
                  "punct": r"!-/:-@\[-`{-~", "blank": r" \t"}

MATCH_KEYS = ("vendorid", "productid", "vendor", "product", "serial", "bus", "device",
              "busport")


class BadRegex(ValueError):
    def __init__(self, key: str, pattern: str) -> None:
        super().__init__(pattern)
        self.key, self.pattern = key, pattern


def _compile(pattern: str) -> re.Pattern:
    text = re.sub(r"\[:(\w+):\]", lambda m: _POSIX_CLASSES.get(m.group(1), m.group(0)),
                  pattern)
    return re.compile(text, re.IGNORECASE)


def _full_match(rx: re.Pattern | None, text: str | None) -> bool:
    """C's match_regex: the whole value, blanks trimmed at both ends, must match."""
    if rx is None:
        return True
    value = (text or "").strip(" \t\n")
    return rx.fullmatch(value) is not None


class RegexMatcher:
    """The ``vendorid``, ``productid``, ``vendor``, ``product``, ``serial``, ``bus``,
    ``device`` and ``busport`` settings: case-insensitive regular expressions that must
    match the whole value (IDs as 4 hex digits)."""

    def __init__(self, patterns: dict[str, str | None]) -> None:
        self.patterns = {k: v for k, v in patterns.items() if v is not None}
        self._rx: dict[str, re.Pattern | None] = {}
        for key in MATCH_KEYS:
            pattern = patterns.get(key)
            if pattern is None:
                self._rx[key] = None
                continue
            try:
                self._rx[key] = _compile(pattern)
            except re.error:
                raise BadRegex(key, pattern) from None

    def __call__(self, info: DeviceInfo) -> bool:
        checks = (("vendorid", f"{info.vendor_id:04x}", "VendorID"),
                  ("productid", f"{info.product_id:04x}", "ProductID"),
                  ("vendor", info.vendor, "Vendor"), ("product", info.product, "Product"),
                  ("serial", info.serial, "Serial"), ("bus", info.bus, "Bus"),
                  ("device", info.device, "Device"), ("busport", info.bus_port, "Bus Port"))
        for key, value, label in checks:
            if not _full_match(self._rx[key], value):
                log.debug(2, f"match_function_regex: failed match of {label}: {value}")
                return False
        return True


class ExactMatcher:
    """The device found before: same IDs and same manufacturer, product and serial
    strings (C's exact matcher, used to find it again after it went away)."""

    def __init__(self, info: DeviceInfo) -> None:
        self.info = info

    def __call__(self, other: DeviceInfo) -> bool:
        me = self.info
        for label, a, b in (("VendorID", other.vendor_id, me.vendor_id),
                            ("ProductID", other.product_id, me.product_id),
                            ("Vendor", other.vendor, me.vendor),
                            ("Product", other.product, me.product),
                            ("Serial", other.serial, me.serial)):
            if a != b:
                log.debug(2, f"match_function_exact: failed match of {label}: {a} != {b}")
                return False
        return True


# ---- the libusb backend

_backend = None


def backend():
    """pyusb's libusb-1.0 backend, or None when no libusb-1.0 can be loaded."""
    global _backend
    if _backend is None:
        import usb.backend.libusb1

        _backend = usb.backend.libusb1.get_backend()
    return _backend


def libusb_version() -> str | None:
    """"libusb-X.Y.Z" of the loaded library (C publishes it as driver.version.usb)."""
    import ctypes

    be = backend()
    if be is None:
        return None
    try:
        fn = be.lib.libusb_get_version
    except AttributeError:
        return None

    class Version(ctypes.Structure):
        _fields_ = [("major", ctypes.c_uint16), ("minor", ctypes.c_uint16),
                    ("micro", ctypes.c_uint16), ("nano", ctypes.c_uint16)]

    fn.restype = ctypes.POINTER(Version)
    fn.argtypes = []
    v = fn().contents
    return f"libusb-{v.major}.{v.minor}.{v.micro}"


# ---- an open device

class UsbHandle:
    """A device opened and claimed by this driver. All methods block."""

    def __init__(self, dev, info: DeviceInfo, interface: int = 0, ep_in: int = 1,
                 ep_out: int = 1, config_index: int = 0, desc_index: int = 0) -> None:
        self.dev = dev
        self.info = info
        self.interface = interface
        self.ep_in = ep_in
        self.ep_out = ep_out
        self.config_index = config_index
        self.desc_index = desc_index
        self.closed = False

    # generic transfers (the Q1 drivers need only these)

    def control(self, request_type: int, request: int, value: int, index: int,
                data_or_length, timeout_ms: int = USB_TIMEOUT_MS):
        """A control transfer: bytes read (IN) or the count written (OUT)."""
        if self.closed:
            raise UsbError(ERROR_NO_DEVICE, "control transfer")
        try:
            result = self.dev.ctrl_transfer(request_type, request, value, index,
                                            data_or_length, timeout_ms)
        except Exception as e:  # pyusb raises USBError and its subclasses
            raise usb_error(e, "control transfer") from None
        return bytes(result) if request_type & 0x80 else int(result)

    def interrupt_read(self, size: int, timeout_ms: int, endpoint: int | None = None) -> bytes:
        """Bytes from the interrupt IN endpoint; b"" when nothing came in time."""
        ep = 0x80 | (self.ep_in if endpoint is None else endpoint)
        if self.closed:
            raise UsbError(ERROR_NO_DEVICE, "interrupt read")
        try:
            return bytes(self.dev.read(ep, size, timeout_ms))
        except Exception as e:
            err = usb_error(e, "interrupt read")
        if err.code == ERROR_TIMEOUT:
            return b""
        if err.code == ERROR_PIPE:
            try:
                self.dev.clear_halt(0x81)
            except Exception as e:
                err = usb_error(e, "interrupt read")
        raise err

    def interrupt_write(self, data: bytes, timeout_ms: int, endpoint: int | None = None) -> int:
        ep = self.ep_out if endpoint is None else endpoint
        try:
            return int(self.dev.write(ep & 0x7F, data, timeout_ms))
        except Exception as e:
            raise usb_error(e, "interrupt write") from None

    def get_string(self, index: int) -> str | None:
        """String descriptor ``index`` as C reads it: the language from descriptor 0 (en_US
        if that is broken), UTF-16 units above 0xFF as '?'; None on failure."""
        if index < 1 or index > 255:
            return None
        raw = self._string_descriptor(0, 0, 4)
        if len(raw) == 4 and raw[0] >= 4 and raw[1] == 3:
            langid = raw[2] | raw[3] << 8
        else:
            log.debug(1, "nut_usb_get_string: Broken language identifier, assuming en_US")
            langid = 0x0409
        raw = self._string_descriptor(index, langid, 255)
        units = len(raw) // 2 - 1
        chars = []
        for i in range(max(units, 0)):
            lo, hi = raw[2 + 2 * i], raw[3 + 2 * i]
            chars.append(chr(lo) if hi == 0 else "?")
        return "".join(chars)

    def _string_descriptor(self, index: int, langid: int, length: int) -> bytes:
        err = None
        for attempt in range(STRING_TRIES):
            try:
                return self.control(0x80, 6, 0x0300 | index, langid, length)
            except UsbError as e:
                err = e
                if e.lost:
                    break
                if attempt + 1 < STRING_TRIES:
                    log.debug(1, f"nut_usb_get_string_descriptor: string descriptor {index} "
                                 "request failed, retrying...")
                    time.sleep(STRING_RETRY_DELAY)
        raise err

    # HID class requests (usbhid-ups)

    def get_report(self, report_id: int, length: int) -> bytes:
        """GET_REPORT (Feature); b"" when the device stalls or answers nothing."""
        log.debug(4, "Entering libusb_get_report")
        try:
            return self.control(0xA1, 0x01, 0x0300 | report_id, self.interface, length)
        except UsbError as e:
            if e.code in (ERROR_PIPE, ERROR_TIMEOUT, ERROR_OVERFLOW, ERROR_OTHER,
                          ERROR_INTERRUPTED, ERROR_INVALID_PARAM):
                log.debug(2, f"nut_libusb_get_report: {STRERROR.get(e.code)}")
                return b""
            raise

    def set_report(self, report_id: int, data: bytes) -> int:
        """SET_REPORT (Feature); the bytes sent, 0 when the device refused them."""
        try:
            return self.control(0x21, 0x09, 0x0300 | report_id, self.interface, data)
        except UsbError as e:
            if e.code in (ERROR_PIPE, ERROR_TIMEOUT, ERROR_OVERFLOW, ERROR_OTHER,
                          ERROR_INTERRUPTED, ERROR_INVALID_PARAM):
                return 0
            raise

    def get_interrupt(self, size: int, timeout_ms: int) -> bytes:
        return self.interrupt_read(size, timeout_ms)

    def hid_descriptor_lengths(self) -> tuple[int, int]:
        """The report descriptor length from the HID descriptor asked directly (method 1)
        and from the interface descriptor's extra bytes (method 2); -1 when unknown."""
        len1 = len2 = -1
        try:
            buf = self.control(0x81, 6, 0x2100 + self.desc_index, self.interface, 9)
            if len(buf) >= 9:
                log.debug(3, _hex("HID descriptor, method 1", buf[:9]))
                len1 = buf[7] | buf[8] << 8
            else:
                log.debug(2, f"HID descriptor too short (expected 9, got {len(buf)})")
        except UsbError as e:
            log.debug(2, f"Unable to get HID descriptor ({e})")
        log.debug(3, f"HID descriptor length (method 1) {len1}")
        extra = b""
        try:
            cfg = self.dev.configurations()[self.config_index]
            intf = cfg[(self.interface, 0)]
            extra = bytes(getattr(intf, "extra_descriptors", b"") or b"")
        except Exception:  # noqa: BLE001 - any failure means "no extra bytes"
            extra = b""
        i = 0
        while i < len(extra):
            if i + 9 <= len(extra) and extra[i] >= 9 and extra[i + 1] == 0x21:
                log.debug(3, _hex("HID descriptor, method 2", extra[i:i + 9]))
                len2 = extra[i + 7] | extra[i + 8] << 8
                break
            if extra[i] == 0:
                break
            i += extra[i]
        log.debug(3, f"HID descriptor length (method 2) {len2}")
        return len1, len2

    def report_descriptor(self, length: int) -> bytes:
        return self.control(0x81, 6, 0x2200 + self.desc_index, self.interface, length)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            import usb.util

            usb.util.dispose_resources(self.dev)
        except Exception:  # noqa: BLE001 - closing a device that is gone
            pass


# ---- enumeration and opening

def _info_for(dev, index: int) -> DeviceInfo:
    ports = ()
    try:
        ports = tuple(dev.port_numbers or ())
    except Exception:  # noqa: BLE001
        ports = ()
    port = getattr(dev, "port_number", 0) or 0
    address = getattr(dev, "address", 0) or 0
    return DeviceInfo(
        vendor_id=dev.idVendor, product_id=dev.idProduct, bcd_device=dev.bcdDevice,
        bus=f"{dev.bus:03d}" if dev.bus is not None else None,
        device=f"{address:03d}" if address > 0 else (f"{index:03d}" if index <= 999 else None),
        bus_port=f"{port:03d}" if port > 0 else None,
        port_path=((dev.bus or 0),) + ports)


def _read_strings(handle: UsbHandle, info: DeviceInfo) -> None:
    dev = handle.dev
    for attr, index, what in (("vendor", dev.iManufacturer, "Manufacturer"),
                              ("product", dev.iProduct, "Product"),
                              ("serial", dev.iSerialNumber, "Serial Number")):
        if not index:
            continue
        try:
            text = handle.get_string(index)
        except UsbError:
            text = None
        if text:
            setattr(info, attr, text)
        else:
            log.debug(1, f"nut_libusb_open: get {what} string failed")


class ClaimFailed(Exception):
    def __init__(self, info: DeviceInfo, error: UsbError, interface: int) -> None:
        super().__init__(f"Can't claim USB device [{info.vendor_id:04x}:{info.product_id:04x}]"
                         f"@0/{interface}/0: {STRERROR.get(error.code, 'Other error')}")
        self.code = error.code


def open_device(matchers, accept=None, interface=0, ep_in: int = 1, ep_out: int = 1,
                config_index: int = 0, desc_index: int = 0, allow_duplicates: bool = False,
                prefer=None, quiet: bool = False) -> UsbHandle | None:
    """Open the first device every matcher accepts (C's nut_libusb_open).

    ``matchers`` are callables on DeviceInfo; ``accept(handle)`` is asked once the
    device is claimed and may reject it (returns falsy). ``interface`` may be a callable
    giving the interface to claim for a matched device (a matcher may have decided it). ``prefer(info)`` ranks
    candidates: those it returns True for are tried first (used to find a device again
    at the same place on the bus). ``quiet`` keeps the warnings about finding nothing at
    debug level (while looking for a lost device again and again). Raises ClaimFailed when a matching device cannot be
    claimed (C then exits), unless allow_duplicates lets us try the next one."""
    import usb.core

    be = backend()
    if be is None:
        log.error("libusb1: could not load libusb-1.0")
        return None
    devices = list(usb.core.find(find_all=True, backend=be))
    count = len(devices)
    order = list(range(count))
    if prefer is not None:
        ranked = []
        for i, dev in enumerate(devices):
            try:
                ranked.append((not prefer(_info_for(dev, i)), i))
            except Exception:  # noqa: BLE001 - a device gone while we look at it
                ranked.append((True, i))
        order = [i for _, i in sorted(ranked)]
    open_errors = access_errors = 0
    for i in order:
        dev = devices[i]
        try:
            log.debug(2, f"Checking device {i + 1} of {count} "
                         f"({dev.idVendor:04X}/{dev.idProduct:04X})")
            info = _info_for(dev, i)
        except Exception:  # noqa: BLE001
            continue
        handle = UsbHandle(dev, info, 0, ep_in, ep_out, config_index, desc_index)
        try:
            _read_strings(handle, info)
        except Exception as e:  # noqa: BLE001 - e.g. access denied opening the device
            err = e if isinstance(e, UsbError) else usb_error(e, "open")
            log.debug(1, f"Failed to open device ({info.vendor_id:04X}/{info.product_id:04X}), "
                         f"skipping: {STRERROR.get(err.code, 'Other error')}")
            open_errors += 1
            access_errors += err.code == ERROR_ACCESS
            handle.close()
            continue
        log.debug(2, f"- VendorID: {info.vendor_id:04x}")
        log.debug(2, f"- ProductID: {info.product_id:04x}")
        log.debug(2, f"- Manufacturer: {info.vendor or 'unknown'}")
        log.debug(2, f"- Product: {info.product or 'unknown'}")
        log.debug(2, f"- Serial Number: {info.serial or 'unknown'}")
        log.debug(2, f"- Bus: {info.bus or 'unknown'}")
        log.debug(2, f"- Bus Port: {info.bus_port or 'unknown'}")
        log.debug(2, f"- Device: {info.device or 'unknown'}")
        log.debug(2, f"- Device release number: {info.bcd_device:04x}")
        log.debug(2, "Trying to match device")
        if not all(m(info) for m in matchers):
            log.debug(2, "Device does not match - skipping")
            handle.close()
            continue
        log.debug(2, "Device matches")
        handle.interface = interface(info) if callable(interface) else interface
        try:
            _claim(handle)
        except UsbError as e:
            handle.close()
            if e.code == ERROR_BUSY and allow_duplicates:
                log.debug(2, "Configured to allow_duplicates so looking for another similar device")
                continue
            raise ClaimFailed(info, e, handle.interface) from None
        if accept is not None and not accept(handle):
            handle.close()
            continue
        return handle
    log.debug(2, "libusb1: No appropriate HID device found")
    if quiet:
        pass
    elif count < 1:
        log.warning("libusb1: Could not open any HID devices: no USB buses (or devices) found")
    elif open_errors and open_errors == access_errors:
        log.warning("libusb1: Could not open any HID devices: insufficient permissions on everything")
    return None


def _claim(handle: UsbHandle) -> None:
    dev, intf = handle.dev, handle.interface
    try:
        if dev.is_kernel_driver_active(intf):
            log.debug(3, "libusb_kernel_driver_active() returned 1 (driver active)")
            dev.detach_kernel_driver(intf)
            log.debug(2, "detached kernel driver from USB device...")
    except Exception as e:  # noqa: BLE001 - NOT_SUPPORTED etc.: claim decides
        log.debug(3, f"libusb_kernel_driver_active() failed: {e}")
    import usb.util

    last = None
    for _ in range(4):
        try:
            usb.util.claim_interface(dev, intf)
            log.debug(2, f"Claimed interface {intf} successfully")
            return
        except Exception as e:  # noqa: BLE001
            last = usb_error(e, "claim")
            log.debug(2, f"failed to claim USB device: {STRERROR.get(last.code)}")
            if last.code == ERROR_NO_DEVICE:
                break
            try:
                dev.detach_kernel_driver(intf)
            except Exception:  # noqa: BLE001
                pass
    raise last


def report_descriptors(handle: UsbHandle):
    """The HID report descriptor, for each length the HID descriptors give (the
    interface's copy first, except on Eaton 0463 with bcdDevice 0202), as C tries them
    until the driver accepts one."""
    len1, len2 = handle.hid_descriptor_lengths()
    info = handle.info
    if info.vendor_id == 0x0463 and info.bcd_device == 0x0202:
        log.debug(1, "Eaton device v2.02. Using full report descriptor")
        lengths = [len1, len2]
    else:
        lengths = [len2 if len2 >= 0 else len1, len1 if len2 >= 0 else len2]
    if len1 < 0 and len2 < 0:
        log.debug(2, "Unable to retrieve any HID descriptor")
        return
    if len1 >= 0 and len2 >= 0 and len1 != len2:
        log.debug(2, f"Warning: two different HID descriptors retrieved (Reportlen = {len1} "
                     f"vs. {len2})")
    elif len1 == len2:
        lengths[1] = -1
    for length in lengths:
        if length < 0:
            continue
        log.debug(2, f"Trying HID descriptor length {length}")
        if length > MAX_REPORT_DESCRIPTOR:
            log.debug(2, f"HID descriptor too long {length} (max {MAX_REPORT_DESCRIPTOR})")
            continue
        try:
            data = handle.report_descriptor(length)
        except UsbError as e:
            if e.lost:
                raise
            log.debug(2, f"Unable to get Report descriptor: {e}")
            continue
        if len(data) < length:
            log.debug(2, f"Warning: report descriptor too short (expected {length}, "
                         f"got {len(data)})")
        if not data:
            continue
        yield data


def _hex(label: str, data: bytes) -> str:
    return f"{label}: ({len(data)} bytes) => " + " ".join(f"{b:02x}" for b in data)


def add_usb_settings(add) -> None:
    """The matching and tuning settings of C's USB drivers (``nut_usb_addvars``)."""
    add("vendor", "Regular expression for the manufacturer string")
    add("product", "Regular expression for the product string")
    add("serial", "Regular expression for the serial number")
    add("vendorid", "Regular expression for the vendor ID (4 hex digits)")
    add("productid", "Regular expression for the product ID (4 hex digits)")
    add("bus", "Regular expression for the USB bus name")
    add("device", "Regular expression for the USB device name")
    add("busport", "Regular expression for the USB bus port")
    add("allow_duplicates", "Take the next matching device when the first is in use",
        is_flag=True)
    add("usb_set_altinterface", "Select this alternate setting of the interface")
    for name in ("usb_config_index", "usb_hid_rep_index", "usb_hid_desc_index",
                 "usb_hid_ep_in", "usb_hid_ep_out"):
        add(name, "USB tuning for complex devices (hexadecimal)")
