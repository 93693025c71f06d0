"""cypress: a Q1 UPS behind a Cypress-style USB HID bridge (C's ``cypress_command``). The
command goes out as class SET_REPORT requests (wValue 0x0200) of 8 bytes each, NUL-padded;
the reply comes back on interrupt endpoint 0x81 in 8-byte packets until one holds the CR.

``send_reports`` and ``read_packets`` are shared with the bridges that frame the same way
(phoenix, ippon, gtec); ``blazer`` selects blazer_usb's variant of the same code."""

from __future__ import annotations

from .link import (
    CLASS_OUT,
    ERROR_TIMEOUT,
    SET_REPORT,
    SMALLBUF,
    Link,
    LinkError,
    Options,
    Reply,
    hexdump,
    line,
    result_text,
)

NAME = "cypress"
INTERRUPT_IN = 0x81


def send_reports(link: Link, opts: Options, cmd: bytes, value: int, timeout_ms: int,
                 blazer: bool = False, timeout_text: bool = False) -> bool:
    """The command in 8-byte SET_REPORTs from a NUL-filled buffer (the last one padded).
    False when the device took nothing (C then returns 0: an empty reply)."""
    tmp = bytes(cmd[:SMALLBUF]) + bytes(SMALLBUF + 8 - min(len(cmd), SMALLBUF))
    count = len(cmd[:SMALLBUF]) if not blazer else len(cmd.split(b"\0", 1)[0][:SMALLBUF - 1])
    i = 0
    while i < count:
        try:
            ret = link.control(CLASS_OUT, SET_REPORT, value, 0, tmp[i:i + 8], timeout_ms)
        except LinkError as e:
            _send_failed(opts, e.code, blazer, timeout_text)
            raise
        if ret <= 0:
            _send_failed(opts, ret, blazer, timeout_text)
            return False
        i += ret
    opts.log.debug(3, f"send: {line(tmp)}")
    return True


def _send_failed(opts: Options, code: int, blazer: bool, timeout_text: bool) -> None:
    if timeout_text:  # ippon's wording
        what = "Connection timed out" if code == ERROR_TIMEOUT else result_text(code)
    else:
        what = result_text(code)
    opts.log.debug(3, f"send: {what}" if blazer else f"send: {what} ({code})")


def read_packets(link: Link, opts: Options, buflen: int, size: int = 8,
                 endpoint: int = INTERRUPT_IN, blazer: bool = False,
                 label: str = "read [{: 3d}]") -> Reply:
    """Interrupt reads of ``size`` bytes until the buffer holds a CR (or is full); an error
    or an empty packet ends the exchange (C returns it, whatever came before)."""
    buf = bytearray()
    i = 0
    while i <= buflen - size and not _has_cr(buf, blazer):
        try:
            data = link.interrupt_read(endpoint, size, 1000)
        except LinkError as e:
            opts.log.debug(3, f"read: {result_text(e.code)}" if blazer
                           else f"read: {result_text(e.code)} ({e.code})")
            raise
        if not data:
            opts.log.debug(3, "read: timeout" if blazer else "read: timeout (0)")
            return Reply(bytes(buf), 0)
        buf += data
        if not blazer:
            hexdump(opts, 5, label.format(i), data)
        i += len(data)
    opts.log.debug(3, f"read: {line(bytes(buf))}")
    return Reply(bytes(buf[:buflen]), i)


def _has_cr(buf: bytearray, blazer: bool) -> bool:
    # nutdrv_qx looks through the whole buffer (memchr), blazer_usb up to a NUL (strchr)
    return b"\r" in (buf.split(b"\0", 1)[0] if blazer else buf)


class Cypress:
    name = NAME
    send_value = 0x0200
    send_timeout_ms = 5000

    def __init__(self, opts: Options, blazer: bool = False) -> None:
        self.opts = opts
        self.blazer = blazer

    def command(self, link: Link, cmd: bytes, buflen: int) -> Reply:
        if not send_reports(link, self.opts, cmd, self.send_value, self.send_timeout_ms,
                            self.blazer):
            return Reply()
        return read_packets(link, self.opts, buflen, blazer=self.blazer)
