"""ippon: a bridge that takes the command in 8-byte SET_REPORTs with wValue 0x0002 and
answers every command with one 64-byte report: the reply up to its CR, or NUL + CR when
there is none (C's ``ippon_command``). The rest of the report is filler the driver cuts
off; a reply without CR falls back to the string length, read through a buffer that still
holds the command (as C's)."""

from __future__ import annotations

from .cypress import INTERRUPT_IN, send_reports
from .link import (
    ERROR_TIMEOUT,
    Link,
    LinkError,
    Options,
    Reply,
    add_missing_cr,
    hexdump,
    line,
    result_text,
)

NAME = "ippon"
REPORT = 64


class Ippon:
    name = NAME

    def __init__(self, opts: Options, blazer: bool = False) -> None:
        self.opts = opts
        self.blazer = blazer

    def command(self, link: Link, cmd: bytes, buflen: int) -> Reply:
        opts = self.opts
        if self.blazer:
            # snprintf(tmp, 64, "%s", cmd): the string and its NUL
            tmp = bytearray(cmd.split(b"\0", 1)[0][:REPORT - 1] + b"\0")
            sent = bytes(tmp[:-1])
        else:
            tmp = bytearray(cmd[:REPORT])
            sent = bytes(tmp)
        tmp += bytes(REPORT + 8 - len(tmp))
        if not send_reports(link, opts, sent, 0x0002, 1000, self.blazer, timeout_text=True):
            return Reply()
        try:
            data = link.interrupt_read(INTERRUPT_IN, REPORT, 1000)
        except LinkError as e:
            what = "Connection timed out" if e.code == ERROR_TIMEOUT else result_text(e.code)
            opts.log.debug(3, f"read: {what}" if self.blazer else f"read: {what} ({e.code})")
            raise
        if not data:
            opts.log.debug(3, "read: timeout" if self.blazer else "read: timeout (0)")
            return Reply()
        tmp[:len(data)] = data
        tmp = bytes(tmp[:REPORT])
        if self.blazer:
            return self._blazer_reply(tmp, buflen)
        cr = tmp.find(b"\r", 0, len(data))
        length = cr + 1 if cr >= 0 else len(tmp.split(b"\0", 1)[0])
        hexdump(opts, 5, "read", tmp[:length])
        opts.log.debug(3, f"read: {line(tmp)}")
        length = min(length, buflen - 1)
        reply = add_missing_cr(opts, "ippon_command", tmp[:length], buflen)
        return Reply(reply)

    def _blazer_reply(self, tmp: bytes, buflen: int) -> Reply:
        # blazer_usb: the length up to the CR or the first NUL, plus the CR
        length = len(line(tmp))
        self.opts.log.debug(3, f"read: {tmp[:length].decode('latin-1')}")
        if length > 0:
            length += 1
        text = tmp[:length].split(b"\0", 1)[0][:buflen - 1]
        return Reply(text, length)
