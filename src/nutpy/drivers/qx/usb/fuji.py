"""fuji: Fuji UPSes' bridge (C's ``fuji_command``; "ATCL FOR UPS"): each command is one
8-byte interrupt OUT packet on endpoint 0x02 - 0x80 0x06, the command length + 1, 0x03,
at most three command characters NUL-padded, and the length of the expected answer (Q1 47,
F 22, I 39, 0 for commands) - and the reply comes in NUL-padded 8-byte packets on 0x81.
Longer commands cannot be sent: ``SnRm`` with m > 0 is cut to ``Sn`` (the unit then
restarts when the power comes back), anything else is echoed without reaching the unit."""

from __future__ import annotations

from .cypress import read_packets
from .link import Link, LinkError, Options, Reply, hexdump, line, result_text, scan_shutdown

NAME = "fuji"
OUT_ENDPOINT = 0x02
ANSWER_LENGTHS = {b"Q1": 47, b"F": 22, b"I": 39}


class Fuji:
    name = NAME

    def __init__(self, opts: Options, blazer: bool = False) -> None:
        self.opts = opts

    def command(self, link: Link, cmd: bytes, buflen: int) -> Reply:
        opts = self.opts
        command = line(cmd).encode("latin-1")
        count, _, val2 = scan_shutdown(cmd)
        if count == 2 and val2:
            opts.log.debug(4, f"fuji_command: trimming '{command.decode('latin-1')}' to "
                              f"'{command[:3].decode('latin-1')}'")
            command = command[:3]
        if len(command) > 3:
            opts.log.debug(3, f"fuji_command: unsupported command {command.decode('latin-1')}")
            text = cmd[:len(cmd)].split(b"\0", 1)[0]
            return Reply(text[:buflen - 1], len(text))
        packet = bytes([0x80, 0x06, len(command) + 1, 0x03]) + command.ljust(3, b"\0") + \
            bytes([ANSWER_LENGTHS.get(command, 0)])
        hexdump(opts, 4, "command", packet)
        try:
            ret = link.interrupt_write(OUT_ENDPOINT, packet, 5000)
        except LinkError as e:
            opts.log.debug(3, f"send: {result_text(e.code)} ({e.code})")
            raise
        if ret <= 0:
            opts.log.debug(3, f"send: {result_text(ret)} ({ret})")
            return Reply()
        opts.log.debug(3, f"send: {command.decode('latin-1')}")
        reply = read_packets(link, opts, buflen, label="read [{:3d}]")
        if not reply.length:
            return reply
        # the packets are NUL-padded: the reply is the string
        text = reply.split(b"\0", 1)[0]
        return Reply(text, len(text))
