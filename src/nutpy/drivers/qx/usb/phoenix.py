"""phoenix: the cypress framing behind a bridge that keeps stale bytes in its output buffer
(C's ``phoenix_command``): before each command up to eight 8-byte interrupt reads drain it
(until one times out; a stalled endpoint is cleared), then the command goes out as
SET_REPORTs with a 1 s timeout and the reply is read as cypress reads it."""

from __future__ import annotations

from .cypress import INTERRUPT_IN, read_packets, send_reports
from .link import ERROR_PIPE, Link, LinkError, Options, Reply, hexdump, result_text

NAME = "phoenix"


def drain(link: Link, opts: Options, blazer: bool = False) -> None:
    for _ in range(8):
        try:
            data = link.interrupt_read(INTERRUPT_IN, 8, 1000)
        except LinkError as e:
            if e.code == ERROR_PIPE:
                try:
                    link.clear_halt(INTERRUPT_IN)
                except LinkError:
                    pass
            opts.log.debug(3, f"flush: {result_text(e.code)}" if blazer
                           else f"flush: {result_text(e.code)} ({e.code})")
            return
        hexdump(opts, 4, "dump", data)


class Phoenix:
    name = NAME

    def __init__(self, opts: Options, blazer: bool = False) -> None:
        self.opts = opts
        self.blazer = blazer

    def command(self, link: Link, cmd: bytes, buflen: int) -> Reply:
        drain(link, self.opts, self.blazer)
        if not send_reports(link, self.opts, cmd, 0x0200, 1000, self.blazer):
            return Reply()
        return read_packets(link, self.opts, buflen, blazer=self.blazer)
