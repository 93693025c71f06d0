"""APC Smart protocol tables (C ``apcsmart_tabs.c``, table version 3.2): which command
character reads which NUT variable and how its value is written, the instant commands and
their wire characters, and the command sets of old firmware that cannot list their own."""

from __future__ import annotations

from dataclasses import dataclass

TABLE_VERSION = "version 3.2"

# flags
PRESENT, NASTY, REPEAT = 0x1, 0x2, 0x4
POLL, RW, ENUM, STRING, MULTI, PACK = 0x100, 0x200, 0x400, 0x800, 0x1000, 0x2000
PACK_MAX = 4
# value formats
F_MASK = 0xFF000000
F_LEAVE, F_PERCENT, F_VOLT, F_AMP, F_CELSIUS, F_HEX, F_DEC = (0, 0x01000000, 0x02000000,
                                                             0x03000000, 0x04000000,
                                                             0x05000000, 0x06000000)
F_SECONDS, F_MINUTES, F_HOURS, F_REASON = 0x07000000, 0x08000000, 0x09000000, 0x0A000000

# instant command characters
CMD_OFF, CMD_ON, CMD_FPTEST, CMD_SIMPWF, CMD_BTESTTOGGLE = "Z", "\x0e", "A", "U", "W"
CMD_GRACEDOWN, CMD_SOFTDOWN, CMD_SHUTDOWN, CMD_CALTOGGLE, CMD_BYPTOGGLE = "@", "S", "K", "D", "^"


@dataclass
class Var:
    name: str
    cmd: str
    flags: int
    regex: str | None = None
    cnt: int = 0  # fields of a packed variable seen last time


@dataclass
class DualVar:
    name: str
    prefix: int
    sub: int
    flags: int
    regex: str | None = None


@dataclass
class Cmd:
    name: str
    ext: str | None
    cmd: str
    flags: int


def vartab() -> list[Var]:
    """A fresh copy: flags change while a UPS is examined. MULTI entries are listed in
    order of preference."""
    return [Var(*row) for row in (
        ("ups.temperature", "C", POLL | F_CELSIUS),
        ("ups.load", "P", POLL | F_PERCENT),
        ("ups.test.interval", "E", F_HOURS),
        ("ups.test.result", "X", POLL),
        ("ups.delay.start", "r", F_SECONDS),
        ("ups.delay.shutdown", "p", F_SECONDS),
        ("ups.id", "c", STRING),
        ("ups.contacts", "i", POLL | F_HEX),
        ("ups.display.language", "\x0c", 0),
        ("input.voltage", "L", POLL | F_VOLT),
        ("input.frequency", "F", POLL | F_DEC),
        ("input.sensitivity", "s", 0),
        ("input.quality", "9", POLL | F_HEX),
        ("input.transfer.low", "l", F_VOLT),
        ("input.transfer.high", "u", F_VOLT),
        ("input.transfer.reason", "G", POLL | F_REASON),
        ("input.voltage.maximum", "M", POLL | F_VOLT),
        ("input.voltage.minimum", "N", POLL | F_VOLT),
        ("output.current", "/", POLL | F_AMP),
        ("output.voltage", "O", POLL | F_VOLT),
        ("output.voltage.nominal", "o", F_VOLT),
        ("ambient.humidity", "h", POLL | F_PERCENT),
        ("ambient.0.humidity", "H", POLL | PACK | F_PERCENT),
        ("ambient.0.humidity.high", "{", POLL | PACK | F_PERCENT),
        ("ambient.0.humidity.low", "}", POLL | PACK | F_PERCENT),
        ("ambient.temperature", "t", POLL | F_CELSIUS),
        ("ambient.0.temperature", "T", MULTI | POLL | PACK | F_CELSIUS, r"^[0-9]{2}\.[0-9]{2}$"),
        ("ambient.0.temperature.high", "[", POLL | PACK | F_CELSIUS),
        ("ambient.0.temperature.low", "]", POLL | PACK | F_CELSIUS),
        ("battery.date", "x", STRING),
        ("battery.charge", "f", POLL | F_PERCENT),
        ("battery.charge.restart", "e", F_PERCENT),
        ("battery.voltage", "B", POLL | F_VOLT),
        ("battery.voltage.nominal", "g", 0),
        ("battery.runtime", "j", POLL | F_MINUTES),
        ("battery.runtime.low", "q", F_MINUTES),
        ("battery.packs", ">", F_DEC),
        ("battery.packs.bad", "<", F_DEC),
        ("battery.alarm.threshold", "k", 0),
        ("device.uptime", "T", MULTI | POLL | F_HOURS, r"^[0-9]{3}\.[0-9]{1}$"),
        ("ups.serial", "n", 0),
        ("ups.mfr.date", "m", 0),
        ("ups.model", "\x01", 0),
        ("ups.firmware.aux", "v", 0),
        ("ups.firmware", "b", MULTI, r"^[A-Za-z0-9]+\.[A-Za-z0-9]+\.[A-Za-z0-9]+$"),
        ("ups.firmware", "V", MULTI),
    )]


def vartab_dual() -> list[DualVar]:
    """Two-byte commands of the SPM series (2.8.5)."""
    return [DualVar("input.frequency", 0x9F, 0xD3, POLL | F_DEC),
            DualVar("battery.current", 0x9F, 0xD4, POLL | F_AMP)]


def cmdtab() -> list[Cmd]:
    return [Cmd(*row) for row in (
        ("shutdown.return", r"^[Aa][Tt]:[0-9]{1,3}$", CMD_GRACEDOWN, NASTY),
        ("shutdown.return", r"^([Cc][Ss]|)$", CMD_SOFTDOWN, NASTY),
        ("shutdown.stayoff", None, CMD_SHUTDOWN, NASTY | REPEAT),
        ("load.off", None, CMD_OFF, NASTY | REPEAT),
        ("load.on", None, CMD_ON, REPEAT),
        ("calibrate.start", None, CMD_CALTOGGLE, 0),
        ("calibrate.stop", None, CMD_CALTOGGLE, 0),
        ("test.panel.start", None, CMD_FPTEST, 0),
        ("test.failure.start", None, CMD_SIMPWF, 0),
        ("test.battery.start", None, CMD_BTESTTOGGLE, 0),
        ("test.battery.stop", None, CMD_BTESTTOGGLE, 0),
        ("bypass.start", None, CMD_BYPTOGGLE, 0),
        ("bypass.stop", None, CMD_BYPTOGGLE, 0),
    )]


_MATRIX = "@789ABCDEFGKLMNOPQRSTUVWXYZcefgjklmnopqrsuwxz/<>\\^\x0c\x16"
_MATRIX5 = "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz/<>"
_SU = "@79ABCDEFGKLMNOPQRSUVWXYZcefgjklmnopqrsuxz"
_SUI = "@79ABCEFGKLMNOPQRSUVWXYZcfg"

# firmware (reply to V, or b) -> supported command characters, for units without 'a'
COMPAT = {
    "0XI": _MATRIX, "0XM": _MATRIX, "0ZI": _MATRIX5, "5UI": _MATRIX5, "5ZM": _MATRIX5,
    "6QD": _SU, "6QI": _SU, "6TD": _SU, "6TI": _SU,
    "7QD": _SU, "7QI": _SU, "7TD": _SU, "7TI": _SU,
    "6JI": "@789ABCFGKLMNOPQSTUVWXYZfg",
    "7II": _SUI, "9II": _SUI, "9GI": _SUI, "8II": _SUI,
    "8GI": "@79ABCEFGKLMNOPQRSUVWXYZfg",
    "8QD": _SU, "8QI": _SU, "8TD": _SU, "8TI": _SU,
    "5.4.D": "@\x01ABPQRSUYbdfgjmnx9",
    "set\x01": "@789ABCFGKLMNOPQRSUVWXYZ",
}
