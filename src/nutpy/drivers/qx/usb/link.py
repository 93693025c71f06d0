"""What a Q* USB subdriver works with: the ``Link`` to the device (control and interrupt
transfers, as C's libusb wrappers make them), libusb's error codes as ``LinkError``, the
``Reply`` a subdriver hands the engine, and the helpers several subdrivers share (libusb's
ASCII string reading, the UTF-16 conversion of the string-descriptor bridges, C's hex dumps).

Subdrivers are written against ``Link`` only, so they run on pyusb in the drivers
(``PyusbLink``) and on scripted links in the unit tests.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Callable, Protocol

# libusb's error codes and libusb_strerror()'s texts, as C NUT logs them
from ...usbdev import (  # noqa: F401 (the subdrivers import them from here)
    ERROR_ACCESS,
    ERROR_BUSY,
    ERROR_INTERRUPTED,
    ERROR_INVALID_PARAM,
    ERROR_IO,
    ERROR_NO_DEVICE,
    ERROR_NO_MEM,
    ERROR_NOT_FOUND,
    ERROR_NOT_SUPPORTED,
    ERROR_OTHER,
    ERROR_OVERFLOW,
    ERROR_PIPE,
    ERROR_TIMEOUT,
    STRERROR,
)

_ERRNO = {ERROR_IO: errno.EIO, ERROR_INVALID_PARAM: errno.EINVAL, ERROR_ACCESS: errno.EACCES,
          ERROR_NO_DEVICE: errno.ENODEV, ERROR_NOT_FOUND: errno.ENOENT, ERROR_BUSY: errno.EBUSY,
          ERROR_TIMEOUT: errno.ETIMEDOUT, ERROR_OVERFLOW: errno.EOVERFLOW,
          ERROR_PIPE: errno.EPIPE, ERROR_INTERRUPTED: errno.EINTR, ERROR_NO_MEM: errno.ENOMEM,
          ERROR_NOT_SUPPORTED: errno.ENOSYS}

# bmRequestType of the requests the bridges use
CLASS_OUT = 0x21        # host to interface, class request (HID SET_REPORT)
CLASS_IN = 0xA1         # interface to host, class request (HID GET_REPORT)
VENDOR_OUT_ENDPOINT = 0x42
STANDARD_IN = 0x80
SET_REPORT, GET_REPORT, GET_DESCRIPTOR = 0x09, 0x01, 0x06
DT_STRING = 0x03
STRING_TIMEOUT_MS = 1000  # libusb_get_string_descriptor's

SMALLBUF = 512
QX_BUFLEN = SMALLBUF - 1      # nutdrv_qx's reply buffer (qx_process)
BLAZER_BUFLEN = SMALLBUF      # blazer's


def strerror(code: int) -> str:
    """``libusb_strerror``: unknown codes (C also passes byte counts) give **UNKNOWN**."""
    return STRERROR.get(code, "**UNKNOWN**")


class LinkError(OSError):
    """A libusb error (C's negative return value); ``code`` is libusb's."""

    def __init__(self, code: int) -> None:
        super().__init__(_ERRNO.get(code, errno.EIO), strerror(code))
        self.code = code


from ..core import FatalError as Fatal  # noqa: E402  (C exits from inside the exchange)


class Reply(bytes):
    """A reply as C's subdriver leaves it: the buffer, and the count it returns (which C
    may give as 0 with bytes already in the buffer, after a zero-length packet)."""

    def __new__(cls, data: bytes = b"", length: int | None = None) -> "Reply":
        obj = super().__new__(cls, data)
        obj.length = len(data) if length is None else length
        return obj


@dataclass
class Endpoint:
    address: int
    attributes: int
    max_packet_size: int


@dataclass
class InterfaceLayout:
    """What C's armac subdriver looks at in the active configuration."""
    interfaces: int
    alt_settings: int
    endpoints: list[Endpoint]


class Link(Protocol):
    """One claimed device. Every method blocks; errors raise LinkError."""

    def control(self, request_type: int, request: int, value: int, index: int,
                data_or_length, timeout_ms: int):
        """Bytes read (IN) or the count written (OUT)."""

    def interrupt_read(self, endpoint: int, length: int, timeout_ms: int) -> bytes:
        """LinkError(ERROR_TIMEOUT) when nothing came in time, as libusb says."""

    def interrupt_write(self, endpoint: int, data: bytes, timeout_ms: int) -> int: ...

    def clear_halt(self, endpoint: int) -> None: ...

    def reset(self) -> None: ...

    def layout(self) -> InterfaceLayout | None: ...


class NullLog:
    def debug(self, level: int, msg: str) -> None:
        pass


@dataclass
class Options:
    """What the subdrivers take from the driver: the ``langid_fix`` setting (-1: none), the
    ``novendor`` flag (hunnox), a logger with ``debug(level, msg)``, the debug level (hex
    dumps are only built when they will show) and ``sleep``."""
    langid_fix: int = -1
    novendor: bool = False
    log: object = field(default_factory=NullLog)
    debug_level: Callable[[], int] = lambda: 0
    sleep: Callable[[float], None] = lambda seconds: None


# ---- helpers of several subdrivers

def line(data: bytes) -> str:
    """``%.*s`` with ``strcspn(buf, "\\r")``: up to the CR or the NUL."""
    end = len(data)
    for stop in (b"\r", b"\0"):
        i = data.find(stop)
        if 0 <= i < end:
            end = i
    return data[:end].decode("latin-1")


def hexdump(opts: Options, level: int, msg: str, data: bytes) -> None:
    """``upsdebug_hex``: lines cut after 72 characters, as C does."""
    if opts.debug_level() < level:
        return
    text = f"{msg}: ({len(data)} bytes) =>"
    for b in data:
        if len(text) > 72:
            opts.log.debug(level, text)
            text = ""
        text += f" {b:02x}"
    opts.log.debug(level, text)


def result_text(code: int) -> str:
    """What C logs for a failed call: the error, or "timeout" for a 0 return."""
    return strerror(code) if code else "timeout"


def signed_char(value: int) -> int:
    return value - 256 if value > 127 else value


def strncmp_equal(a: bytes, b: bytes, n: int) -> bool:
    """``strncmp(a, b, n) == 0``."""
    for i in range(n):
        ca = a[i] if i < len(a) else 0
        cb = b[i] if i < len(b) else 0
        if ca != cb:
            return False
        if ca == 0:
            return True
    return True


def get_string(link: Link, index: int, langid: int, length: int) -> bytes:
    """``libusb_get_string_descriptor``: the raw descriptor (length byte, type, UTF-16LE)."""
    if langid < 0 or langid > 0xFFFF or index < 0 or index > 0xFF:
        raise Fatal("usb_get_string() args out of range for "
                    "libusb_get_string_descriptor() implementation")
    return link.control(STANDARD_IN, GET_DESCRIPTOR, DT_STRING << 8 | index, langid, length,
                        STRING_TIMEOUT_MS)


def get_string_ascii(link: Link, index: int, length: int) -> bytes:
    """``libusb_get_string_descriptor_ascii``: the language table, then the string in its
    first language, non-ASCII characters as '?', at most ``length - 1`` of them."""
    if index == 0 or length <= 0:
        raise LinkError(ERROR_INVALID_PARAM)
    table = get_string(link, 0, 0, 4)
    if len(table) != 4 or table[0] < 4 or table[1] != DT_STRING:
        raise LinkError(ERROR_IO)
    raw = get_string(link, index, table[2] | table[3] << 8, 255)
    if len(raw) < 2 or raw[0] > len(raw) or raw[1] != DT_STRING:
        raise LinkError(ERROR_IO)
    out = bytearray()
    for si in range(2, raw[0], 2):
        if len(out) >= length - 1:
            break
        lo = raw[si]
        hi = raw[si + 1] if si + 1 < len(raw) else 0
        unit = lo | hi << 8
        out.append(unit if unit < 0x80 else 0x3F)
    return bytes(out)


def unicode_to_ascii(raw: bytes, buflen: int) -> bytes:
    """The UTF-16 to ASCII conversion the krauler family does itself after
    ``usb_get_string`` (with ``langid_fix``): low bytes, '?' where a high byte is set."""
    size = signed_char(raw[0]) if raw else 0
    out = bytearray()
    for si in range(2, size, 2):
        if len(out) >= buflen - 1:
            break
        hi = raw[si + 1] if si + 1 < len(raw) else 0
        out.append(0x3F if hi else (raw[si] if si < len(raw) else 0))
    return bytes(out)


def no_ack(data: bytes) -> bool:
    """The string bridges' "UPS No Ack": ``strcspn(buf, "\\r") == 10`` and the words."""
    return len(line(data).encode("latin-1")) == 10 and data[:10].lower() == b"ups no ack"


def add_missing_cr(opts: Options, func: str, data: bytes, buflen: int) -> bytes:
    """C's "If the reply lacks the expected terminating CR, add it (if there's enough
    space)"."""
    if data and b"\r" not in data:
        opts.log.debug(4, f"{func}: the reply lacks the expected terminating CR.")
        if len(data) < buflen - 1:
            opts.log.debug(4, f"{func}: adding missing terminating CR.")
            return data + b"\r"
    return data


def echo(opts: Options, cmd: bytes, buflen: int) -> Reply:
    """An unknown command comes back as sent (C: ``snprintf(buf, buflen, "%s", cmd)``,
    which returns the full length even when it had to cut)."""
    opts.log.debug(3, f"read: {line(cmd)}")
    text = cmd.split(b"\0", 1)[0]
    return Reply(text[:buflen - 1], len(text))


def scan_shutdown(cmd: bytes) -> tuple[int, float, int]:
    """``sscanf(cmd, "S%lfR%d\\r", &val1, &val2)``: (conversions, val1, val2)."""
    from ..cstr import strtod, strtol

    text = cmd.split(b"\0", 1)[0].decode("latin-1")
    if not text.startswith("S"):
        return 0, -1.0, -1
    rest = text[1:]
    val1, after = strtod(rest)
    if after == rest:
        return 0, -1.0, -1
    if not after.startswith("R"):
        return 1, val1, -1
    tail = after[1:]
    val2, end = strtol(tail)
    if end == tail:
        return 1, val1, -1
    return 2, val1, val2
