"""sgs: TS Shara's bridge (C's ``sgs_command``): the command goes out in 8-byte
SET_REPORTs (wValue 0x0200) that each carry a length byte and up to 7 characters; the reply
comes in 8-byte interrupt packets of the same form and ends when the unit has nothing more
to send (a read times out). A CR is added when the reply lacks one."""

from __future__ import annotations

from .cypress import INTERRUPT_IN
from .link import (
    CLASS_OUT,
    ERROR_TIMEOUT,
    SET_REPORT,
    Link,
    LinkError,
    Options,
    Reply,
    add_missing_cr,
    hexdump,
    line,
    result_text,
    signed_char,
)

NAME = "sgs"


class Sgs:
    name = NAME

    def __init__(self, opts: Options, blazer: bool = False) -> None:
        self.opts = opts

    def command(self, link: Link, cmd: bytes, buflen: int) -> Reply:
        opts = self.opts
        i = 0
        while i < len(cmd):
            n = min(len(cmd) - i, 7)
            packet = (bytes([n]) + cmd[i:i + n]).ljust(8, b"\0")
            try:
                ret = link.control(CLASS_OUT, SET_REPORT, 0x0200, 0, packet, 5000)
            except LinkError as e:
                opts.log.debug(3, f"send: {result_text(e.code)} ({e.code})")
                raise
            if ret <= 0:
                opts.log.debug(3, f"send: {result_text(ret)} ({ret})")
                return Reply()
            i += ret - 1
        opts.log.debug(3, f"send: {line(cmd)}")
        buf = bytearray(buflen + 8)
        i = 0
        while i <= buflen - 8:
            try:
                data = link.interrupt_read(INTERRUPT_IN, 8, 1000)
            except LinkError as e:
                if e.code == ERROR_TIMEOUT:  # the unit has said all it had to say
                    break
                opts.log.debug(3, f"read: {result_text(e.code)} ({e.code})")
                raise
            if not data:
                opts.log.debug(3, "read: timeout (0)")
                return Reply(bytes(buf[:i]).split(b"\0", 1)[0], 0)
            packet = data.ljust(8, b"\0")
            count = min(signed_char(packet[0]), 7)
            if count > 0:
                buf[i:i + count] = packet[1:1 + count]
            hexdump(opts, 5, f"read [{i: 3d}]", bytes(buf[i:i + max(count, 0)]))
            i = max(i + count, 0)
        reply = add_missing_cr(opts, "sgs_command", bytes(buf[:i]), buflen) if i else b""
        opts.log.debug(3, f"read: {line(reply)}")
        return Reply(reply)
