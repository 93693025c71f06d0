"""ablerex: Ablerex units (C's ``ablerex_command``): the command goes out as HID feature
report 5 (SET_REPORT wValue 0x0305, 47 bytes: 0x05, 0, the command length + 1, the command
with its CR), and half a second later the reply is read back as the same feature report
(GET_REPORT, 47 bytes). Replies to Q1, I and F of the wrong length are asked for again
(three tries); a Q5 that fails reads as "(" and zeros."""

from __future__ import annotations

from .link import (
    CLASS_IN,
    CLASS_OUT,
    GET_REPORT,
    SET_REPORT,
    Link,
    LinkError,
    Options,
    Reply,
    line,
    signed_char,
    strerror,
)

NAME = "ablerex"
REPORT = 47
EXPECTED = {b"q1\r": 47, b"i\r": 39, b"f\r": 22}


class Ablerex:
    name = NAME

    def __init__(self, opts: Options, blazer: bool = False) -> None:
        self.opts = opts

    def command(self, link: Link, cmd: bytes, buflen: int) -> Reply:
        opts = self.opts
        opts.log.debug(3, f"send: {line(cmd)}")
        body = line(cmd).encode("latin-1")
        count = min(len(body) + 1, len(cmd), 64 - 3)
        report = (bytes([0x05, 0, (len(body) + 1) & 0xFF]) + cmd[:count]).ljust(REPORT, b"\0")
        wanted = cmd.split(b"\0", 1)[0].lower()
        for _ in range(3):
            try:
                ret = link.control(CLASS_OUT, SET_REPORT, 0x0305, 0, report[:REPORT], 1000)
            except LinkError as e:
                ret = e.code
            opts.log.debug(3, f"R11 read: {strerror(ret) if ret else 'timeout'}")
            opts.sleep(0.5)
            try:
                answer = link.control(CLASS_IN, GET_REPORT, 0x0305, 0, REPORT, 1000)
                ret = len(answer)
            except LinkError as e:
                answer, ret = b"", e.code
            # C reads into a buffer whose first byte it set to the report ID
            tmp = (answer or b"\x05")[:REPORT].ljust(REPORT, b"\0")
            opts.log.debug(3, f"R2 read{ret}: {line(tmp[:max(ret, 0)])}")
            cr = tmp.find(b"\r")
            length = cr if cr >= 0 else 0
            opts.log.debug(3, f"R3 read{length}: {tmp[:length].decode('latin-1')}")
            buf = tmp[:cr + 1] if cr >= 0 else tmp
            if length > 0:
                length += 1
            if ret <= 0:
                opts.log.debug(3, f"read: {strerror(ret) if ret else 'timeout'}")
                if ret < 0:
                    raise LinkError(ret)
                return Reply(buf, 0)
            opts.log.debug(1, f"received {ret} ({signed_char(buf[0])})")
            if wanted in EXPECTED and length != EXPECTED[wanted]:
                continue
            if wanted == b"q5\r" and length != 22:
                opts.log.debug(3, "read Q5 Fail...")
                return Reply(b"(" + bytes(REPORT - 1), 22)
            opts.log.debug(3, f"read: {line(buf)}")
            return Reply(buf, length)
        return Reply()
