"""phoenixtec: Phoenixtec's "USB Cable (V2.00)" (C's ``phoenixtec_command``; Masterguard A
series): the whole command in one vendor control request (0x0d, to the endpoint
recipient); commands that get no answer (T, TL, S..., C, CT, M, N, O, SRC, FCLR, SS, TUD,
SSN - not when a capital letter follows, so M is not MSO) end there; otherwise interrupt
reads on 0x81 gather the reply up to its CR."""

from __future__ import annotations

from .cypress import INTERRUPT_IN
from .link import VENDOR_OUT_ENDPOINT, Link, LinkError, Options, Reply, result_text

NAME = "phoenixtec"
NO_ANSWER = (b"T", b"TL", b"S", b"C", b"CT", b"M", b"N", b"O", b"SRC", b"FCLR", b"SS", b"TUD",
             b"SSN")


def expects_no_answer(cmd: bytes) -> bytes | None:
    for word in NO_ANSWER:
        if cmd.startswith(word):
            after = cmd[len(word):len(word) + 1]
            if not (after and 0x41 <= after[0] <= 0x5A):
                return word
    return None


class Phoenixtec:
    name = NAME

    def __init__(self, opts: Options, blazer: bool = False) -> None:
        self.opts = opts

    def command(self, link: Link, cmd: bytes, buflen: int) -> Reply:
        opts = self.opts
        try:
            ret = link.control(VENDOR_OUT_ENDPOINT, 0x0D, 0, 0, cmd, 1000)
        except LinkError as e:
            opts.log.debug(3, f"send: {result_text(e.code)} ({e.code})")
            raise
        if ret <= 0:
            opts.log.debug(3, f"send: {result_text(ret)} ({ret})")
            return Reply()
        word = expects_no_answer(cmd.split(b"\0", 1)[0])
        if word is not None:
            opts.log.debug(4, f"command {word.decode()} returns no answer")
            return Reply()
        buf = bytearray()
        while len(buf) < buflen:
            try:
                data = link.interrupt_read(INTERRUPT_IN, buflen - len(buf), 1000)
            except LinkError as e:
                opts.log.debug(3, f"read: {result_text(e.code)} ({e.code})")
                raise
            if not data:
                opts.log.debug(3, "read: timeout (0)")
                return Reply()
            buf += data
            cr = data.find(b"\r")
            if cr >= 0:
                end = len(buf) - len(data) + cr + 1
                if end < buflen:
                    return Reply(bytes(buf[:end]))
                break
        opts.log.debug(3, f"read: buflen {buflen} too small")
        return Reply()
