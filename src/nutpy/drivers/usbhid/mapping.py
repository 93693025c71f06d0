"""HID-to-NUT mapping tables: how a subdriver names the device's values for NUT.

A subdriver's table is text, one entry per line (``#`` starts a comment)::

    <nut name>  <HID path>  <format or default>  [options...]

* ``<nut name>`` is a NUT variable or instant command; ``BOOL`` feeds ``ups.status`` (the
  value goes through a lookup that yields a status flag such as ``online`` / ``!online``);
  ``ups.alarm`` adds the looked-up text to the alarms.
* ``<format or default>`` is a printf format for the number (``%.0f``), the default value
  of a variable kept by the driver (option ``absent``) or the argument of a command
  (``cmd``); ``-`` for none; quote it if it has blanks.
* options: ``rw`` writable, ``str=N`` string of at most N characters, ``static`` read
  only at start-up (with the interrupt pipe), ``semi`` re-read only after a SET or command,
  ``absent`` the value lives in the driver (default from the third column), ``quick`` also
  read on quick polls, ``enum`` publish the lookup's values as the allowed ones,
  ``cmd`` an instant command, ``needparam`` a SET/command needs a value, ``@name`` the
  lookup that converts values both ways.

The entries are tried in order; for a variable the first entry whose path exists in the
device wins (as in C's table walk).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Callable, Protocol

from ..state import RW, STRING

# hidflags (names as in C's usbhid-ups.h, values irrelevant outside this package)
STATIC, SEMI_STATIC, ABSENT, QUICK_POLL, ENUM, CMD, PARAM_REQUIRED = (
    1, 2, 4, 8, 16, 32, 64)

_OPTION_FLAGS = {"static": STATIC, "semi": SEMI_STATIC, "absent": ABSENT,
                 "quick": QUICK_POLL, "enum": ENUM, "cmd": CMD, "needparam": PARAM_REQUIRED}


class Context(Protocol):
    """What conversion functions may consult: the published data, the device and the
    subdriver's own state (``sub``). Implemented by the engine."""

    sub: object
    status_bits: int

    def getinfo(self, name: str) -> str | None: ...
    def setinfo(self, name: str, value: str) -> None: ...
    def delinfo(self, name: str) -> None: ...
    def get_string(self, index: int, buflen: int = 20) -> str: ...
    def getval(self, name: str) -> str | None: ...
    def testvar(self, name: str) -> bool: ...
    def buzzmode_set(self, word: str) -> None: ...


class InvalidValue(Exception):
    """A NUT value has no HID equivalent (C: -1 with errno EINVAL)."""


class Lookup:
    """Converts HID numbers to NUT text (``read``) and back (``write``).

    ``pairs`` is an ordered table of (hid number, NUT text); ``read_fn``/``write_fn``
    replace the table in their direction (C's fun/nuf on the first table line). A
    ``read`` returning None means "publish nothing"."""

    def __init__(self, pairs: list[tuple[int, str]] | None = None,
                 read_fn: Callable[[float, Context], str | None] | None = None,
                 write_fn: Callable[[str | None, Context], float] | None = None) -> None:
        self.pairs = list(pairs or [])
        self.read_fn = read_fn
        self.write_fn = write_fn

    def read(self, value: float, ctx: Context) -> str | None:
        if self.read_fn is not None:
            return self.read_fn(value, ctx)
        key = _c_long(value)
        for hid, text in self.pairs:
            if hid == key:
                return text
        return None

    def write(self, text: str | None, ctx: Context) -> float:
        if self.write_fn is not None:
            return self.write_fn(text, ctx)
        for hid, nut in self.pairs:
            if nut == text:
                return float(hid)
        raise InvalidValue(text)

    def enum_values(self, ctx: Context) -> list[str]:
        """Values a writable ``enum`` variable may take: each table text whose number the
        read direction accepts."""
        return [text for hid, text in self.pairs if self.read(float(hid), ctx) is not None]


def _c_long(x: float) -> int:
    return int(x) if x == x and abs(x) < 2 ** 63 else 0


def table(*pairs: tuple[int, str]) -> Lookup:
    return Lookup(list(pairs))


def flag(name: str, when_one: bool = True) -> Lookup:
    """A status flag: 1 sets it, 0 clears it (or the reverse)."""
    on, off = name, "!" + name
    return table((1, on), (0, off)) if when_one else table((1, off), (0, on))


def bitflag(name: str, mask: int, set_when_bit: bool = True) -> Lookup:
    """A status flag taken from one bit of a vendor status word."""
    def read(value: float, ctx: Context) -> str:
        on = bool(_c_long(value) & mask)
        return name if on == set_when_bit else "!" + name
    return Lookup(read_fn=read)


# ---- entries

@dataclass
class Entry:
    name: str
    path: str
    dfl: str | None
    info_flags: int = 0
    info_len: int = 0
    hidflags: int = 0
    lookup: str | None = None  # name in the subdriver's lookup registry

    @property
    def is_bool(self) -> bool:
        return self.name.startswith("BOOL")

    @property
    def is_alarm(self) -> bool:
        return self.name.startswith("ups.alarm")


def parse_table(text: str) -> list[Entry]:
    entries = []
    for lineno, line in enumerate(text.split("\n"), 1):
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if len(words) < 3:
            raise ValueError(f"mapping line {lineno}: {line!r}")
        name, path, dfl = words[0], words[1], words[2]
        entry = Entry(name, path, None if dfl == "-" else dfl)
        for opt in words[3:]:
            if opt == "rw":
                entry.info_flags |= RW
            elif opt.startswith("str="):
                entry.info_flags |= STRING
                entry.info_len = int(opt[4:])
            elif opt.startswith("@"):
                entry.lookup = opt[1:]
            elif opt in _OPTION_FLAGS:
                entry.hidflags |= _OPTION_FLAGS[opt]
            else:
                raise ValueError(f"mapping line {lineno}: unknown option {opt!r}")
        entries.append(entry)
    return entries


# ---- printf of a mapping's format

_CONVERSION = re.compile(r"%(?!%)[-+ #0]*\d*(?:\.\d*)?[a-zA-Z]")
_FLOAT_CONVERSION = re.compile(r"%[-+ #0]*\d*(?:\.\d*)?[fF]$")


def format_value(fmt: str | None, value: float) -> str | None:
    """``fmt`` applied to a double as C's dstate_setinfo_dynamic(..., "%f", value) would:
    one floating conversion, or none at all (the text is published as is); any other
    format publishes nothing."""
    if fmt is None:
        return None
    convs = _CONVERSION.findall(fmt)
    if not convs:
        return fmt.replace("%%", "%")
    if len(convs) != 1 or not _FLOAT_CONVERSION.match(convs[0]):
        return None
    return fmt % value


# ---- status bits (C's status_bit_t order)

STATUS_NAMES = ["online", "offline", "dischrg", "chrg", "lowbatt", "overload", "replacebatt",
                "shutdownimm", "trim", "boost", "bypassauto", "bypassman", "ecomode",
                "essmode", "off", "cal", "overheat", "commfault", "depleted", "timelimitexp",
                "fullycharged", "notfullycharged", "awaitingpower", "fanfail", "nobattery",
                "battvoltlo", "battvolthi", "chargerfail", "vrange", "frange"]
STATUS_BIT = {name: 1 << i for i, name in enumerate(STATUS_NAMES)}


def apply_flag(bits: int, word: str) -> int:
    """C's process_boolean_info: ``name`` sets a status bit, ``!name`` clears it; online and
    offline (fullycharged and notfullycharged) clear each other."""
    if word == "online":
        bits = apply_flag(bits, "!offline")
    elif word == "offline":
        bits = apply_flag(bits, "!online")
    if word == "fullycharged":
        bits = apply_flag(bits, "!notfullycharged")
    elif word == "notfullycharged":
        bits = apply_flag(bits, "!fullycharged")
    clear = word.startswith("!")
    mask = STATUS_BIT.get((word[1:] if clear else word).lower(), 0)
    return bits & ~mask if clear else bits | mask


# ---- lookups shared by all subdrivers (C's usbhid-ups.c tables)

def _date_read(value: float, ctx: Context) -> str:
    """HID PDC packed date: (year - 1980) * 512 + month * 32 + day."""
    v = _c_long(value)
    if v == 0:
        return "not set"
    return f"{1980 + (v >> 9):04d}/{(v >> 5) & 0x0F:02d}/{v & 0x1F:02d}"


def scan_date(text: str | None) -> tuple[int, int, int]:
    """sscanf("%d/%d/%d") of a date, missing parts as 0."""
    parts = (text or "").split("/")
    nums = []
    for part in parts[:3]:
        m = re.match(r"\s*[-+]?\d+", part)
        if not m:
            break
        nums.append(int(m.group()))
        if m.end() != len(part) and len(nums) < 3:
            break
    return tuple(nums + [0] * (3 - len(nums)))  # type: ignore[return-value]


def _date_write(text: str | None, ctx: Context) -> float:
    year, month, day = scan_date(text)
    if year - 1980 > 127 or month > 12 or day > 31:
        return 0.0
    return float(((year - 1980) << 9) + (month << 5) + day)


def _stringid_read(value: float, ctx: Context) -> str:
    return ctx.get_string(_c_long(value), 20)


def _kelvin_read(value: float, ctx: Context) -> str:
    # some firmwares report Celsius here; a value in the Kelvin range is converted
    if 273 <= value <= 373:
        return "%.1f" % (value - 273.15)
    return "%.1f" % value


COMMON: dict[str, Lookup] = {
    "online": table((1, "online"), (0, "offline")),
    "discharging": flag("dischrg"),
    "charging": flag("chrg"),
    "lowbatt": flag("lowbatt"),
    "overload": flag("overload"),
    "replacebatt": flag("replacebatt"),
    "trim": flag("trim"),
    "boost": flag("boost"),
    "bypass_auto": flag("bypassauto"),
    "bypass_manual": flag("bypassman"),
    "eco_mode": table((0, "normal"), (1, "ecomode"), (2, "essmode")),
    "off": table((0, "off"), (1, "!off")),
    "calibration": flag("cal"),
    "nobattery": table((1, "!nobattery"), (0, "nobattery")),
    "fanfail": flag("fanfail"),
    "shutdownimm": flag("shutdownimm"),
    "overheat": flag("overheat"),
    "awaitingpower": flag("awaitingpower"),
    "commfault": flag("commfault"),
    "timelimitexpired": flag("timelimitexp"),
    "battvoltlo": flag("battvoltlo"),
    "battvolthi": flag("battvolthi"),
    "chargerfail": flag("chargerfail"),
    "fullycharged": table((1, "fullycharged"), (0, "notfullycharged")),
    "depleted": flag("depleted"),
    "vrange": table((0, "!vrange"), (1, "vrange")),
    "frange": table((0, "!frange"), (1, "frange")),
    "test_write": table((0, "No test"), (1, "Quick test"), (2, "Deep test"), (3, "Abort test")),
    "test_read": table((1, "Done and passed"), (2, "Done and warning"), (3, "Done and error"),
                       (4, "Aborted"), (5, "In progress"), (6, "No test initiated"),
                       (7, "Test scheduled")),
    "beeper": table((1, "disabled"), (2, "enabled"), (3, "muted")),
    "yes_no": table((0, "no"), (1, "yes")),
    "on_off": table((0, "off"), (1, "on")),
    "date": Lookup(read_fn=_date_read, write_fn=_date_write),
    "hex": Lookup(read_fn=lambda v, ctx: "%08x" % (_c_long(v) & 0xFFFFFFFFFFFFFFFF)),
    "stringid": Lookup(read_fn=_stringid_read),
    "divide_by_10": Lookup(read_fn=lambda v, ctx: "%0.1f" % (v * 0.1)),
    "divide_by_100": Lookup(read_fn=lambda v, ctx: "%0.1f" % (v * 0.01)),
    "kelvin_celsius": Lookup(read_fn=_kelvin_read),
}
