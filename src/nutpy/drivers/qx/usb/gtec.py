"""gtec: cypress-like framing (C's ``gtec_command``, NUT 2.8.3+): the command up to its NUL
in 8-byte SET_REPORTs with wValue 0x0002, the reply in reads of up to 128 bytes."""

from __future__ import annotations

from .cypress import read_packets, send_reports
from .link import SMALLBUF, Link, Options, Reply

NAME = "gtec"


class Gtec:
    name = NAME

    def __init__(self, opts: Options, blazer: bool = False) -> None:
        self.opts = opts

    def command(self, link: Link, cmd: bytes, buflen: int) -> Reply:
        text = cmd.split(b"\0", 1)[0][:SMALLBUF - 1]
        if not send_reports(link, self.opts, text, 0x0002, 5000):
            return Reply()
        return read_packets(link, self.opts, buflen, size=128)
