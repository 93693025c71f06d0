"""fabula: a bridge that takes Megatec commands as USB string descriptor requests (C's
``fabula_command``; Fideltronik/MEC LUPUS): Q1 index 3, F 13, I 12, Q 7, C 10, and the
shutdowns ``Sn[Rm]`` coded into the index (0x10 steps per delay from .5 to 10 minutes,
+8 to restart; the restart delay itself is fixed by the unit). The reply is the string
(a CR added when missing); "UPS No Ack", the unit's answer to every command it carries
out, reads as an empty reply. Other commands are echoed without reaching the device."""

from __future__ import annotations

import math

from .link import (
    Fatal,
    Link,
    LinkError,
    Options,
    Reply,
    add_missing_cr,
    echo,
    get_string_ascii,
    hexdump,
    line,
    no_ack,
    result_text,
    scan_shutdown,
    strncmp_equal,
)

NAME = "fabula"
COMMANDS = ((b"Q1\r", 0x03), (b"F\r", 0x0D), (b"I\r", 0x0C), (b"Q\r", 0x07), (b"C\r", 0x0A))


def command_index(cmd: bytes, commands=COMMANDS) -> int:
    """The string index of a command, 0 for one the unit does not know."""
    for known, index in commands:
        if strncmp_equal(cmd, known, len(cmd)):
            return index
    count, val1, val2 = scan_shutdown(cmd)  # val2 stays -1 without "R<m>"
    if not count:
        return 0
    delay = 0.5 if val1 < 0.5 else 10.0 if val1 > 10 else val1
    if math.isnan(delay):
        return -2**31  # C's conversion of NaN; the range check then stops the driver
    if delay < 1:
        index = 16 + int(math.floor((delay - 0.5) * 10 + 0.5)) * 16
    else:
        index = int(96 + (delay - 1) * 16)
    if val2:
        index += 8
    return index


def check_index(index: int) -> None:
    if not 0 <= index <= 0xFF:
        raise Fatal("usb_get_string_simple() args out of range for "
                    "libusb_get_string_descriptor_ascii() implementation")


class Fabula:
    name = NAME

    def __init__(self, opts: Options, blazer: bool = False) -> None:
        self.opts = opts

    def command(self, link: Link, cmd: bytes, buflen: int) -> Reply:
        opts = self.opts
        opts.log.debug(3, f"send: {line(cmd)}")
        index = command_index(cmd)
        if not index:
            return echo(opts, cmd, buflen)
        opts.log.debug(4, f"command index: 0x{index & 0xFFFFFFFF:02x}")
        check_index(index)
        try:
            data = get_string_ascii(link, index, buflen)
        except LinkError as e:
            opts.log.debug(3, f"read: {result_text(e.code)} ({e.code})")
            raise
        if not data:
            opts.log.debug(3, "read: timeout (0)")
            return Reply()
        data = add_missing_cr(opts, "fabula_command", data, buflen)
        hexdump(opts, 5, "read", data)
        opts.log.debug(3, f"read: {line(data)}")
        if no_ack(data):
            return Reply()
        return Reply(data)
