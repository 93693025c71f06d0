"""krauler: a bridge that answers Megatec commands as USB string descriptors (C's
``krauler_command``): each known command is a string index (Q1 3, F 13, I 12, T 4, TL 5,
Q 7, C and CT 11); the reply's first character is junk and replaced with the one the
protocol expects ('(', '#', or CR for the commands); "UPS No Ack" means "ask again" (ten
tries). Other commands are echoed without reaching the device.

Strings are read with libusb's ASCII helper, or, with ``langid_fix``, raw in that language
and converted here (a reply whose length byte disagrees with its size is read again) - the
workaround for units with a broken language table."""

from __future__ import annotations

from ..core import CommandNotSent
from .link import (
    Link,
    LinkError,
    Options,
    Reply,
    add_missing_cr,
    echo,
    get_string,
    get_string_ascii,
    hexdump,
    line,
    no_ack,
    result_text,
    signed_char,
    strncmp_equal,
    unicode_to_ascii,
)

NAME = "krauler"
COMMANDS = ((b"Q1\r", 0x03, b"("), (b"F\r", 0x0D, b"#"), (b"I\r", 0x0C, b"#"),
            (b"T\r", 0x04, b"\r"), (b"TL\r", 0x05, b"\r"), (b"Q\r", 0x07, b"\r"),
            (b"C\r", 0x0B, b"\r"), (b"CT\r", 0x0B, b"\r"))
TRIES = 10


class Krauler:
    name = NAME

    def __init__(self, opts: Options, blazer: bool = False) -> None:
        self.opts = opts
        self.blazer = blazer
        # blazer_usb's instant commands pass the command buffer as the reply buffer: the
        # echo then copies a string onto itself, which glibc's snprintf turns into "" (0)
        self.reply_in_command_buffer = False

    def _matches(self, cmd: bytes, known: bytes) -> bool:
        if self.blazer:  # strcmp
            return cmd.split(b"\0", 1)[0] == known
        return strncmp_equal(cmd, known, len(cmd))

    def command(self, link: Link, cmd: bytes, buflen: int) -> Reply:
        opts = self.opts
        opts.log.debug(3, f"send: {line(cmd)}")
        for known, index, prefix in COMMANDS:
            if self._matches(cmd, known):
                return self._ask(link, index, prefix, buflen)
        if self.reply_in_command_buffer:
            # C's blazer_usb echoes the command onto itself and counts it sent; nothing was
            opts.log.debug(3, f"read: {line(cmd)}")
            raise CommandNotSent(f"krauler has no string for {line(cmd)}")
        return echo(opts, cmd, buflen)

    def _ask(self, link: Link, index: int, prefix: bytes, buflen: int) -> Reply:
        opts, blazer = self.opts, self.blazer
        langid = opts.langid_fix
        for _ in range(TRIES):
            try:
                if langid != -1:
                    data = get_string(link, index, langid, buflen)
                else:
                    data = get_string_ascii(link, index, buflen)
            except LinkError as e:
                opts.log.debug(3, f"read: {result_text(e.code)}" if blazer
                               else f"read: {result_text(e.code)} ({e.code})")
                raise
            if not data:
                opts.log.debug(3, "read: timeout" if blazer else "read: timeout (0)")
                return Reply()
            first = signed_char(data[0])
            opts.log.debug(1, f"received {len(data)} ({first})")
            if langid != -1:
                if len(data) != first:
                    opts.log.debug(1, f"size mismatch: {len(data)} / {first}")
                    continue
                data = unicode_to_ascii(data, buflen)
            if blazer:
                if data.split(b"\0", 1)[0].lower() == b"ups no ack":
                    opts.log.debug(3, f"read: {line(data)}")
                    continue
            else:
                data = add_missing_cr(opts, "krauler_command", data, buflen)
                if no_ack(data):
                    opts.log.debug(3, f"read: {line(data)}")
                    continue
            length = len(data)
            data = prefix + data[1:]
            if not blazer:
                hexdump(opts, 5, "read", data[:length])
            opts.log.debug(3, f"read: {line(data)}")
            return Reply(data, length)
        return Reply()
