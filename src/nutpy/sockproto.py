"""The driver <-> upsd Unix socket protocol: one codec for both sides.

Lines are parseconf-tokenized (see ``parseconf.Tokenizer``); this module builds the lines
each side sends. Values are always escaped and quoted; C 2.8.0 drivers send live updates
unescaped (a value with ``"`` or ``#`` is corrupted), we deliberately do not.
"""

from __future__ import annotations

from .parseconf import encode, quote

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
