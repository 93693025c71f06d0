"""The driver <-> upsd Unix socket protocol: one codec for both sides.

Lines are parseconf-tokenized (see ``parseconf.Tokenizer``); this module builds the lines
each side sends. Values are always escaped and quoted; C 2.8.0 drivers send live updates
unescaped (a value with ``"`` or ``#`` is corrupted), we deliberately do not.
"""

from __future__ import annotations

from ..common.parseconf import encode, quote

# TRACKING results (driver -> upsd), as C's STAT_INSTCMD_* / STAT_SET_* values.
HANDLED, UNKNOWN, INVALID, FAILED, CONVERSION_FAILED = 0, 1, 2, 3, 4
TRACKING_TEXT = {
    HANDLED: "SUCCESS", UNKNOWN: "ERR UNKNOWN", INVALID: "ERR INVALID-ARGUMENT",
    FAILED: "ERR FAILED", CONVERSION_FAILED: "ERR INVALID-ARGUMENT",
}

def line(*words: str) -> bytes:
    return (" ".join(words) + "\n").encode("latin-1", "replace")


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
