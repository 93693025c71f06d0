"""hunnox: fabula's string-index framing with the Hunnox tweaks (C's ``hunnox_command``;
Hunnox HNX 850 and relatives): BL (battery level) is index 0xF3; before each command the
unit wants a lock-step of other string requests (the first time strings 0, 0 and 1 with
long buffers, then in turn 13, 3 and 12 unless that is the one asked for, 12 not with
``novendor``); requests never ask for more than 102 bytes (more locks the unit up); with
``langid_fix`` the strings are read raw in that language and converted here. No CR is
added to a reply; "UPS No Ack" reads as an empty reply."""

from __future__ import annotations

from .fabula import COMMANDS as FABULA_COMMANDS
from .fabula import check_index, command_index
from .link import (
    Link,
    LinkError,
    Options,
    Reply,
    echo,
    get_string,
    get_string_ascii,
    hexdump,
    line,
    no_ack,
    result_text,
    signed_char,
    unicode_to_ascii,
)

NAME = "hunnox"
COMMANDS = FABULA_COMMANDS + ((b"BL\r", 0xF3),)
MAX_REQUEST = 102


class Hunnox:
    name = NAME

    def __init__(self, opts: Options, blazer: bool = False) -> None:
        self.opts = opts
        self.step = 0   # C's hunnox_step: where the lock-step is

    def _lock_step(self, link: Link, asking_for: int) -> None:
        """C's ``hunnox_protocol``: the unit's answers to these are not used."""
        opts = self.opts
        langid = opts.langid_fix if opts.langid_fix != -1 else 0x0409
        requests: list[tuple[int, int]] = []
        if self.step == 0:
            opts.log.debug(3, "asking for: 00")
            requests = [(0x00, 1026), (0x00, 1026), (0x01, 1026)]
        elif self.step == 1 and asking_for != 0x0D:
            opts.log.debug(3, "asking for: 0D")
            requests = [(0x0D, MAX_REQUEST)]
        elif self.step == 2 and asking_for != 0x03:
            opts.log.debug(3, "asking for: 03")
            requests = [(0x03, MAX_REQUEST)]
        elif self.step == 3 and asking_for != 0x0C and not opts.novendor:
            opts.log.debug(3, "asking for: 0C")
            requests = [(0x0C, MAX_REQUEST)]
        for index, length in requests:
            try:
                get_string(link, index, langid, length)
            except LinkError:
                pass
        if self.step == 0:
            opts.sleep(0.01)
        self.step = self.step + 1 if self.step < 3 else 1

    def command(self, link: Link, cmd: bytes, buflen: int) -> Reply:
        opts = self.opts
        opts.log.debug(3, f"send: {line(cmd)}")
        index = command_index(cmd, COMMANDS)
        if not index:
            return echo(opts, cmd, buflen)
        opts.log.debug(4, f"command index: 0x{index & 0xFFFFFFFF:02x}")
        self._lock_step(link, index)
        buflen = min(buflen, MAX_REQUEST)
        langid = opts.langid_fix
        try:
            if langid != -1:
                data = get_string(link, index, langid, buflen)
            else:
                check_index(index)
                data = get_string_ascii(link, index, buflen)
        except LinkError as e:
            opts.log.debug(3, f"read: {result_text(e.code)} ({e.code})")
            raise
        if not data:
            opts.log.debug(3, "read: timeout (0)")
            return Reply()
        if langid != -1:
            first = signed_char(data[0])
            if len(data) != first:
                opts.log.debug(1, f"size mismatch: {len(data)} / {first}")
                return Reply()
            data = unicode_to_ascii(data, buflen)
        hexdump(opts, 5, "read", data)
        opts.log.debug(3, f"read: {line(data)}")
        if no_ack(data):
            return Reply()
        return Reply(data)
