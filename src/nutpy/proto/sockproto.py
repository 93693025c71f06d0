"""The driver <-> upsd Unix socket protocol: one codec for both sides.

Lines are parseconf-tokenized (see ``parseconf.Tokenizer``); this module builds the lines
each side sends and reads the tokenized lines each side receives (``parse_driver_message``
on upsd's side and in the driver's own socket clients, ``parse_request`` in the driver's
socket server). Values are always escaped and quoted; C 2.8.0 drivers send live updates
unescaped (a value with ``"`` or ``#`` is corrupted), we deliberately do not.
"""

from __future__ import annotations

from typing import NamedTuple

from ..common.parseconf import encode, quote, split_line

# TRACKING results (driver -> upsd), as C's STAT_INSTCMD_* / STAT_SET_* values.
HANDLED, UNKNOWN, INVALID, FAILED, CONVERSION_FAILED = 0, 1, 2, 3, 4
TRACKING_TEXT = {
    HANDLED: "SUCCESS", UNKNOWN: "ERR UNKNOWN", INVALID: "ERR INVALID-ARGUMENT",
    FAILED: "ERR FAILED", CONVERSION_FAILED: "ERR INVALID-ARGUMENT",
}


def line(*words: str) -> bytes:
    return (" ".join(words) + "\n").encode("latin-1", "replace")


def is_wire_name(name: str) -> bool:
    """Whether a variable name travels unquoted as exactly one word (names are never quoted
    on either socket): not empty, no spaces, no ``#``, ``=``, ``\\``, leading ``"`` or
    bytes the tokenizer drops. C dummy-ups creates any name a SET gives it, and an empty or
    spaced one then reaches upsd as a different message (``SETINFO  "x"`` is ignored,
    ``SETINFO a b "x"`` sets ``a``)."""
    return split_line(name) == [name]


# driver -> upsd

def setinfo(var: str, value: str) -> bytes:
    return line("SETINFO", var, quote(value))


def delinfo(var: str) -> bytes:
    return line("DELINFO", var)


def addenum(var: str, value: str) -> bytes:
    return line("ADDENUM", var, quote(value))


def delenum(var: str, value: str) -> bytes:
    return line("DELENUM", var, quote(value))


def addrange(var: str, lo: int, hi: int) -> bytes:
    return line("ADDRANGE", var, str(lo), str(hi))


def delrange(var: str, lo: int, hi: int) -> bytes:
    return line("DELRANGE", var, str(lo), str(hi))


def setaux(var: str, aux: int) -> bytes:
    return line("SETAUX", var, str(aux))


# SETFLAGS words as bits (both sides keep flags as an int)
FLAG_RW, FLAG_STRING, FLAG_NUMBER = 1, 2, 4
_FLAG_WORDS = ((FLAG_RW, "RW"), (FLAG_STRING, "STRING"), (FLAG_NUMBER, "NUMBER"))
_FLAG_BY_NAME = {word: bit for bit, word in _FLAG_WORDS}


def flag_words(flags: int) -> list[str]:
    return [word for bit, word in _FLAG_WORDS if flags & bit]


def parse_flags(words: list[str]) -> int:
    """SETFLAGS words to bits; unknown words are ignored, case does not matter."""
    flags = 0
    for w in words:
        flags |= _FLAG_BY_NAME.get(w.upper(), 0)
    return flags


def setflags(var: str, flags: list[str]) -> bytes:
    return line("SETFLAGS", var, *flags)


def addcmd(cmd: str) -> bytes:
    return line("ADDCMD", cmd)


def delcmd(cmd: str) -> bytes:
    return line("DELCMD", cmd)


def tracking(ident: str, result: int) -> bytes:
    return line("TRACKING", ident, str(result))


DATAOK = b"DATAOK\n"
DATASTALE = b"DATASTALE\n"
DUMPDONE = b"DUMPDONE\n"
PONG = b"PONG\n"

# upsd -> driver

PING = b"PING\n"
DUMPALL = b"DUMPALL\n"


def set_var(var: str, value: str, tracking_id: str | None = None) -> bytes:
    if tracking_id:
        return line("SET", var, quote(value), "TRACKING", tracking_id)
    return line("SET", var, quote(value))


def instcmd(cmd: str, param: str | None = None, tracking_id: str | None = None) -> bytes:
    """The parameter is escaped but not quoted, as C upsd sends it (so one with spaces
    reaches the driver as several words, exactly as with C)."""
    words = ["INSTCMD", cmd]
    if param is not None:
        words.append(encode(param))
    if tracking_id:
        words += ["TRACKING", tracking_id]
    return line(*words)


# ---- reading: driver -> upsd

class DriverMessage(NamedTuple):
    """A line a driver sends. ``kind`` is the upper-cased command; ``name`` the variable,
    command or tracking id it is about; ``args`` the words after it."""
    kind: str
    name: str = ""
    args: tuple[str, ...] = ()


# The fewest words each message needs (C ignores a shorter line); extra words are ignored.
_DRIVER_MESSAGE_WORDS = {
    "PONG": 1, "DUMPDONE": 1, "DATASTALE": 1, "DATAOK": 1,
    "ADDCMD": 2, "DELCMD": 2, "DELINFO": 2,
    "SETINFO": 3, "TRACKING": 3, "SETFLAGS": 3, "ADDENUM": 3, "DELENUM": 3, "SETAUX": 3,
    "ADDRANGE": 4, "DELRANGE": 4,
}


def parse_driver_message(words: list[str]) -> DriverMessage | None:
    """One tokenized driver line, or None if it is not a message upsd knows (unknown
    command or too few words)."""
    if not words:
        return None
    kind = words[0].upper()
    need = _DRIVER_MESSAGE_WORDS.get(kind)
    if need is None or len(words) < need:
        return None
    if need == 1:
        return DriverMessage(kind)
    return DriverMessage(kind, words[1], tuple(words[2:]))


# ---- reading: upsd (or another socket client) -> driver

class Request(NamedTuple):
    """A request to a driver. ``name``: the variable (SET, DUMPVALUE) or command
    (INSTCMD); ``value``: SET's value, INSTCMD's parameter, BROADCAST's argument;
    ``tracking``: the id the result must be reported under, if any."""
    kind: str
    name: str = ""
    value: str | None = None
    tracking: str | None = None


class BadRequest(NamedTuple):
    """A known request in a shape C refuses; ``reason`` is what C logs (None: silent)."""
    reason: str | None


_NO_ARGUMENT = frozenset(("PING", "DUMPALL", "NOBROADCAST", "GETPID", "LOGOUT", "DUMPSTATUS"))


def parse_request(words: list[str]) -> Request | BadRequest | None:
    """One tokenized request line; None for a command drivers do not know."""
    if not words:
        return None
    kind = words[0].upper()
    n = len(words)
    if kind in _NO_ARGUMENT:
        return Request(kind) if n == 1 else None
    if kind == "BROADCAST":
        return Request(kind, value=words[1] if n == 2 else None) if n <= 2 else None
    if kind == "DUMPVALUE":
        return Request(kind, words[1]) if n == 2 else None
    if kind == "SET":
        if n == 3:
            return Request(kind, words[1], words[2])
        if n == 5:
            if words[3].upper() != "TRACKING":
                return BadRequest(f"Got SET <var> with unsupported parameters "
                                  f"({words[3]}/{words[4]})")
            return Request(kind, words[1], words[2], words[4])
        return BadRequest(None)
    if kind == "INSTCMD":
        if n == 2:
            return Request(kind, words[1])
        if n == 3:
            return Request(kind, words[1], words[2])
        if n == 4 and words[2].upper() == "TRACKING":
            return Request(kind, words[1], None, words[3])
        if n == 5 and words[3].upper() == "TRACKING":
            return Request(kind, words[1], words[2], words[4])
        return BadRequest("Malformed INSTCMD request")
    return None
