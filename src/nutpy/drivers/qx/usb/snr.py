"""snr: SNR-UPS-LID units (C's ``snr_command``): krauler's string-descriptor framing for
Q1, F and I only, always read raw in the ``langid_fix`` language (NUT 2.8.5 stops the driver
when it is not set) with at most 102 bytes, after an interrupt read that wakes the unit up
(without it the unit answers zeros for a while). "UPS No Ack" means "ask again"."""

from __future__ import annotations

from .cypress import INTERRUPT_IN
from .link import (
    Link,
    LinkError,
    Options,
    Reply,
    echo,
    get_string,
    hexdump,
    line,
    no_ack,
    result_text,
    signed_char,
    strncmp_equal,
    unicode_to_ascii,
)

NAME = "snr"
COMMANDS = ((b"Q1\r", 0x03, b"("), (b"F\r", 0x0D, b"#"), (b"I\r", 0x0C, b"#"))
REQUEST = 102
TRIES = 10


class Snr:
    name = NAME

    def __init__(self, opts: Options, blazer: bool = False) -> None:
        self.opts = opts

    def command(self, link: Link, cmd: bytes, buflen: int) -> Reply:
        opts = self.opts
        opts.log.debug(3, f"send: {line(cmd)}")
        if buflen < REQUEST:
            opts.log.debug(4, "size of buf less than 102 byte!")
            return Reply()
        try:
            link.interrupt_read(INTERRUPT_IN, REQUEST, 1000)
        except LinkError:
            pass
        for known, index, prefix in COMMANDS:
            if not strncmp_equal(cmd, known, len(cmd)):
                continue
            for _ in range(TRIES):
                try:
                    data = get_string(link, index, opts.langid_fix, REQUEST)
                except LinkError as e:
                    opts.log.debug(3, f"read: {result_text(e.code)} ({e.code})")
                    raise
                if not data:
                    opts.log.debug(3, "read: timeout (0)")
                    return Reply()
                first = signed_char(data[0])
                opts.log.debug(1, f"received {len(data)} ({first})")
                if len(data) != first:
                    opts.log.debug(1, f"size mismatch: {len(data)} / {first}")
                    continue
                data = unicode_to_ascii(data, buflen)
                if no_ack(data):
                    opts.log.debug(3, f"read: {line(data)}")
                    continue
                length = len(data)
                data = prefix + data[1:]
                hexdump(opts, 5, "read", data[:length])
                opts.log.debug(3, f"read: {line(data)}")
                return Reply(data, length)
            return Reply()
        return echo(opts, cmd, buflen)
