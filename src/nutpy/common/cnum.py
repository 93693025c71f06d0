"""C's number parsing, as NUT's programs observably do it: ``atoi``/``strtol`` in base 10
(leading blanks, a sign, ASCII digits; whatever follows is ignored; no digits gives 0)."""


_BLANKS = " \t\n\v\f\r"
LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)


def strtol(text: str | None) -> int:
    """``strtol(text, NULL, 10)`` on a 64-bit system: out-of-range values clamp."""
    if not text:
        return 0
    s = text.lstrip(_BLANKS)
    end = 1 if s[:1] in ("+", "-") else 0
    start = end
    while end < len(s) and "0" <= s[end] <= "9":
        end += 1
    if end == start:
        return 0
    return max(LONG_MIN, min(LONG_MAX, int(s[:end])))


def atoi(text: str | None) -> int:
    """glibc ``atoi``: ``(int) strtol(...)``, so large values wrap to 32 bits."""
    value = strtol(text) & 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value
