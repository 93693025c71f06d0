"""What the Megatec-family subdrivers share (C ``nutdrv_qx_blazer-common.c``): the claim,
the ``norating``/``novendor``/``ignoresab`` switches, the Q1 status bits, the shutdown and
battery-test command encodings and the delay settings, plus the item rows all of them use.

Reply layouts::

    Q1/QS/D  (226.0 195.0 226.0 014 49.0 27.5 30.0 00001000\\r
    F        #220.0 000 024.0 50.0\\r
    I/FW?    #<mfr, 15> <model, 10> <firmware, 10>\\r
"""

from __future__ import annotations

from ..state import RW
from .core import (
    ABSENT,
    CMD,
    DEFAULT_OFFDELAY,
    DEFAULT_ONDELAY,
    QUICK_POLL,
    RANGE,
    SETVAR,
    SKIP,
    STATIC,
    TRIM,
    InfoRW,
    QxEngine,
    item,
)
from .cstr import atol, cformat, has_conversion

R_ONDELAY = [InfoRW("0"), InfoRW("599940"), InfoRW("")]
R_OFFDELAY = [InfoRW("12"), InfoRW("600"), InfoRW("")]


# ---- claims and set-up

def claim(engine: QxEngine) -> bool:
    """Status (input.voltage) and, unless ``novendor``, the vendor reply (ups.firmware)."""
    it = engine.find("input.voltage")
    if it is None or engine.process(it) or engine.infoval_set(it) != 1:
        return False
    if engine.testvar("novendor"):
        return True
    it = engine.find("ups.firmware")
    if it is None or engine.process(it) or engine.infoval_set(it) != 1:
        engine.state.delinfo("input.voltage")
        return False
    return True


def claim_light(engine: QxEngine) -> bool:
    it = engine.find("input.voltage")
    return it is not None and not engine.process(it) and engine.infoval_set(it) == 1


def makevartable(addvar) -> None:
    addvar("norating", "Do not ask the UPS for its ratings", True)
    addvar("novendor", "Do not ask the UPS for vendor data", True)
    makevartable_light(addvar)


def makevartable_light(addvar) -> None:
    addvar("ignoresab", "Disregard the shutdown-active status bit", True)


def initups(engine: QxEngine) -> None:
    nr, nv, isb = (engine.testvar(f) for f in ("norating", "novendor", "ignoresab"))
    if not (nr or nv or isb):
        return
    for it in engine.table:
        if not it.command:
            continue
        cmd = it.command.lower()
        if nr and cmd == "f\r":
            engine.log.debug(2, f"blazer_initups: skipping {it.info_type}")
            it.qxflags |= SKIP
        if nv and cmd in ("i\r", "fw?\r"):
            engine.log.debug(2, f"blazer_initups: skipping {it.info_type}")
            it.qxflags |= SKIP
        if isb and it.info_type.lower() == "ups.status" and it.from_ == 44 and it.to == 44:
            engine.log.debug(2, f"blazer_initups: skipping {it.info_type} ('Shutdown Active' bit)")
            it.qxflags |= SKIP


def initups_light(engine: QxEngine) -> None:
    if not engine.testvar("ignoresab"):
        return
    for it in engine.table:
        if it.info_type.lower() == "ups.status" and it.from_ == 44 and it.to == 44:
            engine.log.debug(2, f"blazer_initups_light: skipping {it.info_type} "
                                "('Shutdown Active' bit)")
            it.qxflags |= SKIP
            break


# ---- preprocess functions

def process_setvar(engine: QxEngine, it, value: str) -> str | None:
    """Delays as the device can take them: whole minutes for the start delay, multiples
    of 6 s below a minute (else whole minutes) for the shutdown delay."""
    if not value:
        engine.log.debug(2, f"blazer_process_setvar: value not given for {it.info_type}")
        return None
    delay = atol(value)
    name = it.info_type.lower()
    if name == "ups.delay.start":
        if delay < 0:
            engine.log.error(f"{it.info_type}: ondelay '{delay}' should not be negative")
            return None
        return str(delay - _cmod(delay, 60))
    if name == "ups.delay.shutdown":
        if delay < 0:
            engine.log.error(f"{it.info_type}: offdelay '{delay}' should not be negative")
            return None
        return str(delay - _cmod(delay, 6 if delay < 60 else 60))
    return None


def offdelay_code(offdelay: int) -> str:
    """``.n`` (tenths of a minute, 6 s steps) below a minute, else two-digit minutes."""
    return f".{_cdiv(offdelay, 6)}" if offdelay < 60 else f"{_cdiv(offdelay, 60):02d}"


def process_command(engine: QxEngine, it, value: str) -> str | None:
    """``Sn[Rmmmm]`` for the shutdowns, ``Tnn`` (minutes) for the battery test."""
    name = it.info_type.lower()
    log = engine.log
    if name == "shutdown.return":
        offdelay = atol(engine.getinfo("ups.delay.shutdown"))
        ondelay = _cdiv(atol(engine.getinfo("ups.delay.start")), 60)
        if offdelay < 0:
            log.error(f"{it.info_type}: offdelay '{offdelay}' should not be negative")
            return None
        if ondelay <= 0:
            code = offdelay_code(offdelay)
        else:
            code = f"{offdelay_code(offdelay)}R{ondelay:04d}"
        return cformat(it.command, code)
    if name == "shutdown.stayoff":
        offdelay = atol(engine.getinfo("ups.delay.shutdown"))
        if offdelay < 0:
            log.error(f"{it.info_type}: offdelay '{offdelay}' should not be negative")
            return None
        return cformat(it.command, offdelay_code(offdelay))
    if name == "test.battery.start":
        delay = atol(value) if value else 600
        if delay < 60 or delay > 5940:
            log.error(f"{it.info_type}: battery test time '{delay}' out of range "
                      "[60..5940] seconds")
            return None
        minutes = _cdiv(delay, 60)
        if has_conversion(it.command, "d") or has_conversion(it.command, ""):
            return cformat(it.command, minutes) if "%" in it.command else it.command
        return cformat(it.command, minutes)
    return None


def process_status_bits(engine: QxEngine, it, value: str) -> str | None:
    """One status bit of the Q1 reply (its position says which) as a status change,
    alarm text or variable value."""
    bit = it.value
    if len(bit) != 1 or bit not in "01":
        engine.log.debug(3, f"blazer_process_status_bits: unexpected value "
                            f"{it.value}@{it.from_}->{it.value}")
        return None
    on = bit == "1"
    pos = it.from_
    if pos == 38:
        return "!OL" if on else "OL"
    if pos == 39:
        return "LB" if on else "!LB"
    if pos == 40:
        if not on:
            return ""
        vi = _atof_info(engine, "input.voltage")
        vo = _atof_info(engine, "output.voltage")
        if vo < 0.5 * vi:
            engine.log.debug(2, "blazer_process_status_bits: output voltage too low")
            return None
        if vo < 0.95 * vi:
            return "TRIM"
        if vo < 1.05 * vi:
            return "BYPASS"
        if vo < 1.5 * vi:
            return "BOOST"
        engine.log.debug(2, "blazer_process_status_bits: output voltage too high")
        return None
    if pos == 41:
        return "UPS selftest failed!" if on else ""
    if pos == 42:
        return "offline / line interactive" if on else "online"
    if pos == 43:
        return "CAL" if on else "!CAL"
    if pos == 44:
        return "FSD" if on else "!FSD"
    if pos == 45:
        return "enabled" if on else "disabled"
    return None


def multiply_battvolt(engine: QxEngine, it, value: str) -> str | None:
    """``qx_multiply_battvolt``: battery.voltage of one pack times battery.packs, with the
    ``battery_voltage_reports_one_pack`` flag (2.8.3+)."""
    engine.one_pack_considered = True
    if not engine.one_pack or engine.batt.packs < 2:
        return it.value
    from .cstr import strtod

    number, rest = strtod(it.value)
    if rest == it.value:
        engine.log.debug(2, f"unparsable ss.ss {it.value}")
        return None
    return "%.2f" % (_float32(number) * engine.batt.packs)


# ---- item rows

def status_items(cmd: str, leading: str = "(", freq: str = "input.frequency") -> list:
    """The Q1-style status reply: measurements then the eight status bits."""
    bits = process_status_bits
    rows = [
        item("input.voltage", 0, None, cmd, 47, leading, 1, 5, "%.1f", 0),
        item("input.voltage.fault", 0, None, cmd, 47, leading, 7, 11, "%.1f", 0),
        item("output.voltage", 0, None, cmd, 47, leading, 13, 17, "%.1f", 0),
        item("ups.load", 0, None, cmd, 47, leading, 19, 21, "%.0f", 0),
        item(freq, 0, None, cmd, 47, leading, 23, 26, "%.1f", 0),
        item("battery.voltage", 0, None, cmd, 47, leading, 28, 31, "%.2f", 0,
             preprocess=multiply_battvolt),
        item("ups.temperature", 0, None, cmd, 47, leading, 33, 36, "%.1f", 0),
        item("ups.status", 0, None, cmd, 47, leading, 38, 38, None, QUICK_POLL, preprocess=bits),
        item("ups.status", 0, None, cmd, 47, leading, 39, 39, None, QUICK_POLL, preprocess=bits),
        item("ups.status", 0, None, cmd, 47, leading, 40, 40, None, QUICK_POLL, preprocess=bits),
        item("ups.alarm", 0, None, cmd, 47, leading, 41, 41, None, 0, preprocess=bits),
        item("ups.type", 0, None, cmd, 47, leading, 42, 42, "%s", STATIC, preprocess=bits),
        item("ups.status", 0, None, cmd, 47, leading, 43, 43, None, QUICK_POLL, preprocess=bits),
        item("ups.status", 0, None, cmd, 47, leading, 44, 44, None, QUICK_POLL, preprocess=bits),
        item("ups.beeper.status", 0, None, cmd, 47, leading, 45, 45, "%s", 0, preprocess=bits),
    ]
    return rows


def rating_items(prefix: str = "input") -> list:
    return [
        item(f"{prefix}.voltage.nominal", 0, None, "F\r", 22, "#", 1, 5, "%.0f", STATIC),
        item(f"{prefix}.current.nominal", 0, None, "F\r", 22, "#", 7, 9, "%.1f", STATIC),
        item("battery.voltage.nominal", 0, None, "F\r", 22, "#", 11, 15, "%.1f", STATIC),
        item(f"{prefix}.frequency.nominal", 0, None, "F\r", 22, "#", 17, 20, "%.0f", STATIC),
    ]


def vendor_items(cmd: str = "I\r") -> list:
    st = STATIC | TRIM
    return [
        item("device.mfr", 0, None, cmd, 39, "#", 1, 15, "%s", st),
        item("device.model", 0, None, cmd, 39, "#", 17, 26, "%s", st),
        item("ups.firmware", 0, None, cmd, 39, "#", 28, 37, "%s", st),
    ]


def command_items(full: bool = True, value_from: int = 0, value_to: int = 0) -> list:
    """The Megatec instant commands; ``full`` False keeps only what the QS dialects have."""
    f, t = value_from, value_to
    pc = process_command
    rows = [
        item("beeper.toggle", 0, None, "Q\r", 0, "", f, t, None, CMD),
        item("load.off", 0, None, "S00R0000\r", 0, "", f, t, None, CMD),
        item("load.on", 0, None, "C\r", 0, "", f, t, None, CMD),
        item("shutdown.return", 0, None, "S%s\r", 0, "", f, t, None, CMD, preprocess=pc),
        item("shutdown.stayoff", 0, None, "S%sR0000\r", 0, "", f, t, None, CMD, preprocess=pc),
        item("shutdown.stop", 0, None, "C\r", 0, "", f, t, None, CMD),
    ]
    if full:
        rows += [
            item("test.battery.start", 0, None, "T%02d\r", 0, "", 0, 0, None, CMD, preprocess=pc),
            item("test.battery.start.deep", 0, None, "TL\r", 0, "", 0, 0, None, CMD),
            item("test.battery.start.quick", 0, None, "T\r", 0, "", 0, 0, None, CMD),
            item("test.battery.stop", 0, None, "CT\r", 0, "", 0, 0, None, CMD),
        ]
    return rows


def delay_items(r_on=None, r_off=None) -> list:
    flags = ABSENT | SETVAR | RANGE
    return [
        item("ups.delay.start", RW, [InfoRW(r.value) for r in (r_on or R_ONDELAY)], None, 0, "",
             0, 0, DEFAULT_ONDELAY, flags, preprocess=process_setvar),
        item("ups.delay.shutdown", RW, [InfoRW(r.value) for r in (r_off or R_OFFDELAY)], None,
             0, "", 0, 0, DEFAULT_OFFDELAY, flags, preprocess=process_setvar),
    ]


# ---- C arithmetic

def _cdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _cmod(a: int, b: int) -> int:
    return a - b * _cdiv(a, b)


def _atof_info(engine: QxEngine, name: str) -> float:
    from .cstr import atof

    return atof(engine.getinfo(name))


def _float32(x: float) -> float:
    import struct

    return struct.unpack("f", struct.pack("f", x))[0]
