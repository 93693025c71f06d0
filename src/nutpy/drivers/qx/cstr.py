"""The few C library behaviours the Q* tables rely on: ``strtod``/``strtol`` with an end
position, ``strspn``, ``printf``-style formatting of one value, and NUT's ``str_trim_m``.
Device replies are handled as latin-1 text so that every byte maps to one character."""

from __future__ import annotations

import re

_BLANKS = " \t\n\v\f\r"
_FLOAT = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)",
                    re.IGNORECASE)
_FORMAT = re.compile(r"%([-+ #0]*)(\d*)(?:\.(\d+))?(hh|h|ll|l|L|z)?([diouxXeEfgGcs%])")


def strtod(text: str | None) -> tuple[float, str]:
    """``strtod``: the value and what follows it (0.0 and the whole text if none)."""
    if not text:
        return 0.0, text or ""
    s = text.lstrip(_BLANKS)
    m = _FLOAT.match(s)
    if not m:
        return 0.0, text
    return float(m.group(0)), s[m.end():]


def atof(text: str | None) -> float:
    return strtod(text)[0]


def strtol(text: str | None, base: int = 10) -> tuple[int, str]:
    """``strtol`` for base 10 or 16 (a ``0x`` prefix is accepted in base 16)."""
    if not text:
        return 0, text or ""
    s = text.lstrip(_BLANKS)
    i = 0
    sign = 1
    if s[:1] in "+-" and s[:1]:
        sign = -1 if s[0] == "-" else 1
        i = 1
    if base == 16 and s[i:i + 2].lower() == "0x" and len(s) > i + 2 and \
            s[i + 2] in "0123456789abcdefABCDEF":
        i += 2
    digits = "0123456789abcdef"[:base]
    start = i
    while i < len(s) and s[i].lower() in digits:
        i += 1
    if i == start:
        return 0, text
    value = sign * int(s[start:i], base)
    return max(-(2**63), min(2**63 - 1, value)), s[i:]


def atol(text: str | None, base: int = 10) -> int:
    return strtol(text, base)[0]


def strspn(text: str, accept: str) -> int:
    n = 0
    for ch in text:
        if ch not in accept:
            break
        n += 1
    return n


def all_in(text: str, accept: str) -> bool:
    """``strspn(text, accept) == strlen(text)``."""
    return strspn(text, accept) == len(text)


def trim_m(text: str, chars: str) -> str:
    """NUT ``str_trim_m``: strip any of ``chars`` from both ends."""
    return text.strip(chars)


def cformat(fmt: str, value) -> str:
    """``snprintf(fmt, value)`` for a format with at most one conversion. Integer
    conversions given a float truncate it as C's implicit conversion would."""
    out = []
    pos = 0
    used = False
    for m in _FORMAT.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        flags, width, prec, _, conv = m.groups()
        if conv == "%":
            out.append("%")
            continue
        if used:
            raise ValueError(f"more than one conversion in {fmt!r}")
        used = True
        spec = "%" + flags + width + ("." + prec if prec is not None else "")
        if conv in "diouxXc" and isinstance(value, float):
            value = int(value)
        if conv in "eEfgG" and not isinstance(value, (int, float)):
            value = atof(str(value))
        if conv == "s":
            value = str(value)
        out.append((spec + ("d" if conv == "u" else conv)) % value)
    out.append(fmt[pos:])
    return "".join(out)


def has_conversion(fmt: str, conv: str) -> bool:
    """True if ``fmt`` holds exactly one conversion and it is of type ``conv``
    (NUT's ``validate_formatting_string``, as far as the tables use it)."""
    convs = [m.group(5) for m in _FORMAT.finditer(fmt) if m.group(5) != "%"]
    if conv == "":
        return not convs
    return convs == [conv]


def c_string(data: bytes) -> bytes:
    """What C sees of a buffer used as a string: up to the first NUL."""
    end = data.find(b"\0")
    return data if end < 0 else data[:end]


def text(data: bytes) -> str:
    return data.decode("latin-1")
