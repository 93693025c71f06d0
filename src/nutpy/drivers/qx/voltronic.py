"""Voltronic Power's protocol (C ``nutdrv_qx_voltronic.c``, "Voltronic 0.14"): ``QPI``
names the protocol (PI00..PI99), ``QGS`` the status, ``QRI``/``QMD``/``F`` the ratings,
``QMOD`` the working mode, ``QWS``/``QFS`` warnings and faults, ``QBV`` the battery,
``QFLAG`` the capability switches (``(E<enabled letters>D<disabled letters>``), and a
family of queries and settings (ECO and bypass limits, outlets, phases, battery type) that
depend on the protocol number. Errors are answered ``(NAK``, success ``(ACK``.

Module state that C keeps in file statics (the capability settings, limits last read)
lives in the engine's ``private`` dict, so several engines never share it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..state import RW
from . import blazer_common as bc
from .core import (
    ABSENT,
    CMD,
    DEFAULT_OFFDELAY,
    DEFAULT_ONDELAY,
    ENUM,
    NONUT,
    OFF,
    QUICK_POLL,
    RANGE,
    SEMI_STATIC,
    SETVAR,
    SKIP,
    STATIC,
    TRIM,
    InfoRW,
    Subdriver,
    item,
)
from .cstr import all_in, atof, atol, cformat, strspn

NAME = "Voltronic 0.14"
P02_14 = (2, 3, 10, 13, 14)


@dataclass
class Caps:
    """C's file statics."""
    bypass_alarm: str | None = None
    battery_alarm: str | None = None
    bypass_when_off: str | None = None
    alarm_control: str | None = None
    converter_mode: str | None = None
    eco_mode: str | None = None
    battery_open_status_check: str | None = None
    bypass_forbidding: str | None = None
    site_fault_detection: str | None = None
    advanced_eco_mode: str | None = None
    constant_phase_angle: str | None = None
    limited_runtime_on_battery: str | None = None
    max_bypass_volt: float = 0
    min_bypass_volt: float = 0
    battery_number: float = 0
    output_phase_angle: int = 0
    work_range_type: int = 0
    max_bypass_freq: float = 0.0
    min_bypass_freq: float = 0.0


def caps(engine) -> Caps:
    return engine.private.setdefault("voltronic", Caps())


def protocol_number(engine) -> int:
    aux = engine.getinfo("ups.firmware.aux") or ""
    return atol(aux[1:])


def _unskip(engine, name: str, flag: int = 0) -> bool:
    it = engine.find(name, flag, 0)
    if it is None:
        return False
    it.qxflags &= ~SKIP
    return True


# ---- range/enum checks (info_rw preprocess): True if the value applies to this UPS

def _ivn(engine):
    nominal = engine.getinfo("input.voltage.nominal")
    if nominal is None:
        engine.log.debug(2, "voltronic: unable to get input.voltage.nominal")
        return None
    return atol(nominal)


def _ofn(engine):
    nominal = engine.getinfo("output.frequency.nominal")
    if nominal is None:
        engine.log.debug(2, "voltronic: unable to get output.frequency.nominal")
        return None
    return atof(nominal)


def batt_low(engine, value: str) -> bool:
    ovn, ocn = engine.getinfo("output.voltage.nominal"), engine.getinfo("output.current.nominal")
    if ovn is None or ocn is None:
        return False
    return atol(value) == (24 if atol(ovn) * atol(ocn) < 1000 else 28)


# value -> (protocols, condition on the nominal input voltage: "<", ">=" or None)
_BYPASS_VOLT_MAX = {60: [((9,), None)], 115: [((*P02_14, 99), "<")], 120: [((1,), "<")],
                    132: [((99,), "<")], 138: [(P02_14, "<")],
                    140: [((9,), None), ((1,), "<")], 230: [((1,), ">=")],
                    231: [((*P02_14, 99), ">=")], 261: [((99,), ">=")], 264: [((1,), ">=")],
                    276: [(P02_14, ">=")]}
_BYPASS_VOLT_MIN = {50: [((99,), "<")], 55: [(P02_14, "<")], 60: [((9,), None)],
                    85: [((1, 99), "<")], 104: [(P02_14, "<")], 110: [(P02_14, ">=")],
                    115: [((1,), "<")], 140: [((9,), None)], 149: [((99,), ">=")],
                    170: [((1,), ">=")], 209: [((*P02_14, 99), ">=")], 220: [((1,), ">=")]}


def _volt_check(table):
    def check(engine, value: str) -> bool:
        protocol, val = protocol_number(engine), atol(value)
        ivn = _ivn(engine)
        if ivn is None:
            return False
        for protocols, cond in table.get(val, ()):
            if cond == "<" and ivn >= 200:
                return False
            if cond == ">=" and ivn < 200:
                return False
            if protocol in protocols:
                return True
        if val not in table:
            engine.log.debug(2, f"voltronic: unknown value ({value})")
        return False
    return check


_ALL = (1, 2, 3, 9, 10, 13, 14, 99)
_P0199 = (*P02_14, 99)
# value -> (protocols, nominal output frequency)
_BYPASS_FREQ_MAX = {51: (_ALL, 50.0), 54: (_P0199, 50.0), 60: ((1, 9), 50.0),
                    61: (_ALL, 60.0), 64: (_P0199, 60.0), 70: ((1, 9), 60.0)}
_BYPASS_FREQ_MIN = {40: ((1, 9), 50.0), 46: (_P0199, 50.0), 49: (_ALL, 50.0),
                    50: ((1, 9), 60.0), 56: (_P0199, 60.0), 59: (_ALL, 60.0)}
_ECO_FREQ_MIN = {40: ((1, 9), 50.0), 46: (_P0199, 50.0), 47: ((1, 9), 50.0), 48: (_P0199, 50.0),
                 50: ((1, 9), 60.0), 56: (_P0199, 60.0), 57: ((1, 9), 60.0), 58: (_P0199, 60.0)}
_ECO_FREQ_MAX = {52: (_P0199, 50.0), 53: ((1, 9), 50.0), 54: (_P0199, 50.0), 60: ((1, 9), 50.0),
                 62: (_P0199, 60.0), 63: ((1, 9), 60.0), 64: (_P0199, 60.0), 70: ((1, 9), 60.0)}


def _freq_check(table):
    def check(engine, value: str) -> bool:
        protocol, val = protocol_number(engine), atol(value)
        ofn = _ofn(engine)
        if ofn is None:
            return False
        if val not in table:
            engine.log.debug(2, f"voltronic: unknown value ({value})")
            return False
        protocols, nominal = table[val]
        return ofn == nominal and protocol in protocols
    return check


def _rw(*values, check=None):
    return [InfoRW(v, check) for v in values] + [InfoRW("")]


# ---- preprocess functions

def process_setvar(engine, it, value: str):
    if not value:
        engine.log.debug(2, f"voltronic_process_setvar: value not given for {it.info_type}")
        return None
    val = atof(value)
    name, c = it.info_type.lower(), caps(engine)
    if name == "ups.delay.start":
        return "%.0f" % (val - bc._cmod(int(val), 60))
    if name == "ups.delay.shutdown":
        return "%.0f" % (val - bc._cmod(int(val), 6 if val < 60 else 60))
    current = {"max_bypass_freq": (c.max_bypass_freq, "%.1f"),
               "min_bypass_freq": (c.min_bypass_freq, "%.1f"),
               "max_bypass_volt": (c.max_bypass_volt, "%.0f"),
               "min_bypass_volt": (c.min_bypass_volt, "%.0f"),
               "battery_number": (c.battery_number, "%.0f")}.get(name)
    if current is not None and val == current[0]:
        engine.log.info(f"{it.info_type} is already set to {current[1] % val}")
        return None
    return cformat(it.command, val)


def process_command(engine, it, value: str):
    name = it.info_type.lower()
    if name in ("shutdown.return", "shutdown.stayoff"):
        offdelay = atol(engine.getinfo("ups.delay.shutdown"))
        code = f".{bc._cdiv(offdelay, 6)}" if offdelay < 60 else f"{bc._cdiv(offdelay, 60):02d}"
        if name == "shutdown.return":
            ondelay = bc._cdiv(atol(engine.getinfo("ups.delay.start")), 60)
            if ondelay:
                code += f"R{ondelay:04d}"
    elif name == "test.battery.start":
        if not all_in(value, "0123456789"):
            engine.log.error(f"{it.info_type}: non numerical value [{value}]")
            return None
        delay = atol(value) if value else 600
        if delay < 12 or delay > 5940:
            engine.log.error(f"{it.info_type}: battery test time '{delay}' out of range "
                             "[12..5940] seconds")
            return None
        code = f".{delay // 6}" if delay < 60 else f"{delay // 60:02d}"
    elif name == "beeper.toggle":
        beeper = engine.getinfo("ups.beeper.status")
        code = ""
        if caps(engine).alarm_control:
            if beeper == "enabled":
                code = "OFF"
            elif beeper == "muted":
                code = "ON"
            else:
                engine.log.info("The beeper is already disabled")
                return None
        elif beeper == "enabled":
            code = "OFF"
        elif beeper == "disabled":
            code = "ON"
    else:
        return None
    return cformat(it.command, code)


_NONUT_LETTERS = {"bypass_alarm": "p", "battery_alarm": "b", "bypass_when_off": "o",
                  "converter_mode": "v", "battery_open_status_check": "d",
                  "bypass_forbidding": "f", "site_fault_detection": "l",
                  "advanced_eco_mode": "n", "constant_phase_angle": "q",
                  "limited_runtime_on_battery": "w"}
_NUT_LETTERS = {"ups.start.auto": "r", "battery.protection": "s", "battery.energysave": "g",
                "ups.start.battery": "c"}


def _strtok_flags(text: str) -> tuple[str | None, str | None]:
    """C's ``strtok(value + 1, "D")`` then ``strtok(NULL, "")``: the enabled letters
    (leading Ds skipped) and the rest after the next D."""
    s = text[1:]
    i = 0
    while i < len(s) and s[i] == "D":
        i += 1
    if i >= len(s):
        return None, None
    end = s.find("D", i)
    if end < 0:
        return s[i:], None
    return s[i:end], (s[end + 1:] or None)


def capability(engine, it, value: str):
    enabled, disabled = _strtok_flags(it.value)
    if enabled is None and disabled is None:
        engine.log.debug(2, "voltronic_capability: parsing failed")
        return None
    enabled, disabled = enabled or "", disabled or ""
    c = caps(engine)
    name = it.info_type.lower()
    val = None
    if name in _NONUT_LETTERS:
        letter = _NONUT_LETTERS[name]
        if letter in enabled:
            val = "enabled"
        elif letter in disabled:
            val = "disabled"
        if val:
            setattr(c, name, val)
    elif name == "alarm_control":
        if "a" in it.value:
            if "a" in enabled:
                val = c.alarm_control = "enabled"
                beeper = engine.getinfo("ups.beeper.status")
                if beeper != "muted":
                    engine.state.setinfo("ups.beeper.status", "enabled")
            elif "a" in disabled:
                val = c.alarm_control = "disabled"
                engine.state.setinfo("ups.beeper.status", "disabled")
            if not (_unskip(engine, "beeper.enable", CMD) and _unskip(engine, "beeper.disable", CMD)):
                return None
    elif name == "eco_mode":
        if "e" in it.value:
            if "e" in enabled:
                val = c.eco_mode = "enabled"
            elif "e" in disabled:
                val = c.eco_mode = "disabled"
            for unskip, flag in (("bypass.start", CMD), ("bypass.stop", CMD),
                                 ("input.transfer.high", SEMI_STATIC),
                                 ("input.transfer.low", SEMI_STATIC),
                                 ("input.frequency.high", SEMI_STATIC),
                                 ("input.frequency.low", SEMI_STATIC)):
                if not _unskip(engine, unskip, flag):
                    return None
    elif name in _NUT_LETTERS:
        letter = _NUT_LETTERS[name]
        if letter in enabled:
            val = "yes"
        elif letter in disabled:
            val = "no"
    elif name == "outlet.0.switchable":
        if "j" in enabled:
            val = "yes"
            for n in range(1, 5):
                if not (_unskip(engine, f"outlet.{n}.switchable") and
                        _unskip(engine, f"outlet.{n}.status")):
                    return None
        elif "j" in disabled:
            val = "no"
    if not val:
        return None
    result = cformat(it.dfl, val)
    if it.qxflags & NONUT and engine.getval(it.info_type) is None:
        return result
    if not _unskip(engine, it.info_type, SETVAR):
        return None
    return result


def capability_set(engine, it, value: str):
    if value.lower() == "yes":
        return cformat(it.command, "E")
    if value.lower() == "no":
        return cformat(it.command, "D")
    engine.log.error(f"{it.info_type}: given value [{value}] is not acceptable. "
                     "Enter either 'yes' or 'no'.")
    return None


def capability_set_nonut(engine, it, value: str):
    name = it.info_type.lower()
    if name not in _NONUT_LETTERS and name not in ("alarm_control", "eco_mode"):
        return None
    match = getattr(caps(engine), name)
    if not match:
        return None
    if value.lower() == match.lower():
        engine.log.info(f"{it.info_type} is already {match}")
        return None
    if value.lower() == "disabled":
        return cformat(it.command, "D")
    if value.lower() == "enabled":
        return cformat(it.command, "E")
    engine.log.error(f"{it.info_type}: [{value}] is not within acceptable values "
                     "[enabled/disabled]")
    return None


def capability_reset(engine, it, value: str):
    if not engine.testvar("reset_to_default"):
        return None
    if not engine.ups_status & OFF:
        engine.log.error(f"{it.info_type}: UPS capability options can be reset only when the "
                         "UPS is in Standby Mode (i.e. ups.status = 'OFF').")
        return None
    return it.command


def eco_volt(engine, it, value: str):
    if not all_in(it.value, "0123456789 ."):
        engine.log.debug(2, f"voltronic_eco_volt: non numerical value [{it.info_type}: {it.value}]")
        return None
    result = cformat(it.dfl, atof(it.value))
    nominal = engine.getinfo("output.voltage.nominal")
    if nominal is None:
        engine.log.debug(2, "voltronic_eco_volt: unable to get output voltage nominal")
        return result
    ovn = atol(nominal)
    if ovn > 2**31 - 1 or ovn < 0:
        return result
    protocol = protocol_number(engine)
    if protocol in (1, 9):
        near, far = (7, 24) if ovn >= 200 else (3, 12)
    elif protocol in (*P02_14, 99):
        near, far = (11, 24) if ovn >= 200 else (5, 12)
    else:
        engine.log.debug(2, "voltronic_eco_volt: the UPS doesn't seem to support ECO Mode")
        return result
    if it.info_type.lower() == "input.transfer.high":
        it.info_rw[0].value, it.info_rw[1].value = str(ovn + near), str(ovn + far)
    elif it.info_type.lower() == "input.transfer.low":
        it.info_rw[0].value, it.info_rw[1].value = str(ovn - far), str(ovn - near)
    if not (_unskip(engine, f"{it.info_type}.min", SEMI_STATIC) and
            _unskip(engine, f"{it.info_type}.max", SEMI_STATIC) and
            _unskip(engine, it.info_type, SETVAR)):
        return None
    return result


def eco_volt_range(engine, it, value: str):
    name = it.info_type.lower()
    base, index = {"input.transfer.low.min": ("input.transfer.low", 0),
                   "input.transfer.low.max": ("input.transfer.low", 1),
                   "input.transfer.high.min": ("input.transfer.high", 0),
                   "input.transfer.high.max": ("input.transfer.high", 1)}.get(name, (None, 0))
    if base is None:
        return None
    source = engine.find(base, SEMI_STATIC, 0)
    if source is None or not source.info_rw[index].value:
        return None
    return source.info_rw[index].value


def eco_freq(engine, it, value: str):
    if not all_in(it.value, "0123456789 ."):
        engine.log.debug(2, f"voltronic_eco_freq: non numerical value [{it.info_type}: {it.value}]")
        return None
    result = cformat(it.dfl, atof(it.value))
    if not _unskip(engine, it.info_type, SETVAR):
        return None
    return result


def bypass(engine, it, value: str):
    if not all_in(it.value, "0123456789 ."):
        engine.log.debug(2, f"voltronic_bypass: non numerical value [{it.info_type}: {it.value}]")
        return None
    c, name = caps(engine), it.info_type.lower()
    if name in ("max_bypass_volt", "min_bypass_volt"):
        val = float(atol(it.value))
    elif name in ("max_bypass_freq", "min_bypass_freq"):
        val = atof(it.value)
    else:
        return None
    setattr(c, name, val)
    result = cformat(it.dfl, val)
    if engine.getval(it.info_type) is None:
        return result
    if not _unskip(engine, it.info_type, SETVAR):
        return None
    return result


def batt_numb(engine, it, value: str):
    if not all_in(it.value, "0123456789 ."):
        engine.log.debug(2, f"voltronic_batt_numb: non numerical value [{it.info_type}: {it.value}]")
        return None
    c = caps(engine)
    c.battery_number = atol(it.value)
    if c.battery_number > 2**31 - 1:
        return None
    result = cformat(it.dfl, int(c.battery_number))
    if engine.getval(it.info_type) is None:
        return result
    if not _unskip(engine, "battery_number", SETVAR):
        return None
    return result


def batt_runtime(engine, it, value: str):
    if not all_in(it.value, "0123456789 ."):
        engine.log.debug(2, f"voltronic_batt_runtime: non numerical value "
                            f"[{it.info_type}: {it.value}]")
        return None
    return cformat(it.dfl, atof(it.value) * 60)


def protocol(engine, it, value: str):
    if it.value[:2].upper() != "PI":
        engine.log.debug(2, f"voltronic_protocol: invalid start characters [{it.value[:2]}]")
        return None
    if not all_in(it.value[2:], "0123489"):
        engine.log.error(f"Protocol [{it.value}] is not supported by this driver")
        return None
    number = atol(it.value[2:])
    if number not in (0, 1, 2, 3, 8, 9, 10, 13, 14, 31, 99):
        engine.log.error(f"Protocol [PI{number:02d}] is not supported by this driver")
        return None
    _massive_unskip(engine, number)
    return f"P{number:02d}"


def _massive_unskip(engine, p: int) -> None:
    testvar = engine.testvar
    for it in engine.table:
        if not it.command:
            continue
        n = it.info_type.lower()
        setvar = bool(it.qxflags & SETVAR)
        unskip = (
            (p == 9 and n in ("output.bypass.l1-n.voltage", "output.bypass.l2-n.voltage")
             and it.answer_len == 19) or
            (p == 10 and (n == "output.l3-n.voltage" or
                          (n == "output.l2-l3.voltage" and it.from_ == 25) or
                          (n == "output.l1-l3.voltage" and it.from_ == 31) or
                          (n in ("output.bypass.l1-n.voltage", "output.bypass.l2-n.voltage",
                                 "output.bypass.l3-n.voltage") and it.answer_len == 37) or
                          n in ("output.bypass.l1-l2.voltage", "output.bypass.l2-l3.voltage",
                                "output.bypass.l1-l3.voltage", "output.l3.current",
                                "output.l3.power.percent"))) or
            (p in (9, 10) and n in ("output.l1-n.voltage", "output.l2-n.voltage",
                                    "output.l1-l2.voltage", "output.l1.current",
                                    "output.l2.current", "output.l1.power.percent",
                                    "output.l2.power.percent")) or
            (p in (3, 9, 10) and n in ("input.l1-n.voltage", "input.l2-n.voltage",
                                       "input.l1-l2.voltage", "input.l1.current",
                                       "input.l2.current")) or
            (p in (3, 10) and (n == "input.l3-n.voltage" or
                               (n == "input.l2-l3.voltage" and it.from_ == 25) or
                               (n == "input.l1-l3.voltage" and it.from_ == 31) or
                               n == "input.l3.current")) or
            (p == 31 and (n == "battery.type" or (n == "work_range_type" and not setvar) or
                          (n == "work_range_type" and setvar and
                           engine.getval(it.info_type) is not None))) or
            (p not in (0, 8, 31) and not setvar and
             n in ("max_bypass_volt", "min_bypass_volt", "max_bypass_freq", "min_bypass_freq")) or
            (n == "reset_to_default" and testvar("reset_to_default")) or
            (n == "unknown.7" and testvar("testing")))
        if unskip:
            it.qxflags &= ~SKIP


_FAULTS_P31 = {1: "Fan failure.", 2: "Over temperature fault.",
               3: "Battery voltage is too high.", 4: "Battery voltage too low.",
               5: "Inverter relay short-circuited.", 6: "Inverter voltage over maximum value.",
               7: "Overload fault.", 8: "Bus voltage exceeds its upper limit.",
               9: "Bus soft start fail.", 10: "Unknown fault [Fault code: 10]",
               51: "Over current fault.", 52: "Bus voltage below its under limit.",
               53: "Inverter soft start fail.", 54: "Self test fail.",
               55: "Output DC voltage exceeds its upper limit.", 56: "Battery open fault.",
               57: "Current sensor fault.", 58: "Battery short.",
               59: "Inverter voltage below its lower limit."}
_FAULTS = {2: "Bus voltage over maximum value.", 3: "Bus voltage below minimum value.",
           4: "Bus voltage differences out of acceptable range.",
           5: "Bus voltage of slope rate drops too fast.", 6: "Over current in PFC input inductor.",
           11: "Inverter voltage not within default setting.",
           12: "Inverter voltage over maximum value.", 13: "Inverter voltage below minimum value.",
           14: "Inverter short-circuited.", 15: "L2 phase inverter short-circuited.",
           16: "L3 phase inverter short-circuited.", 17: "L1L2 inverter short-circuited.",
           18: "L2L3 inverter short-circuited.", 19: "L3L1 inverter short-circuited.",
           21: "Battery SCR short-circuited.", 22: "Line SCR short-circuited.",
           23: "Inverter relay open fault.", 24: "Inverter relay short-circuited.",
           25: "Input and output wires oppositely connected.",
           26: "Battery oppositely connected.", 27: "Battery voltage is too high.",
           28: "Battery voltage too low.", 29: "Failure for battery fuse being open-circuited.",
           31: "CAN-bus communication fault.", 32: "Host signal circuit fault.",
           33: "Synchronous signal circuit fault.",
           34: "Synchronous pulse signal circuit fault.", 35: "Parallel cable disconnected.",
           36: "Load unbalanced.", 41: "Over temperature fault.",
           42: "Communication failure between CPUs in control board.", 43: "Overload fault.",
           44: "Fan failure.", 45: "Charger failure.", 46: "Model fault.",
           47: "MCU communication fault."}


def fault(engine, it, value: str):
    p = protocol_number(engine)
    engine.log.info("Checking for faults..")
    v = it.value
    if v.upper() == "OK":
        result = cformat(it.dfl, "No fault found")
        engine.log.info(result)
        it.qxflags |= SKIP
        return result
    unknown = f"Unknown fault [{v}]"
    if strspn(v, "0123456789ABC") != 2 or (v[:1] != "1" and strspn(v[1:], "0123456789") != 1):
        alarm = unknown
    elif p == 31:
        if any(ch in "ABC" for ch in v[1:]):
            alarm = unknown
        else:
            code = atol(v)
            alarm = _FAULTS_P31.get(code, unknown)
            if code == 7:
                engine.update_status("OVER")
    else:
        code = atol(v)
        if code == 1:
            alarm = {"A": "L1 inverter negative power out of acceptable range.",
                     "B": "L2 inverter negative power out of acceptable range.",
                     "C": "L3 inverter negative power out of acceptable range."}.get(
                         v[1:2], "Bus voltage not within default setting.")
        else:
            alarm = _FAULTS.get(code, unknown)
            if code == 43:
                engine.update_status("OVER")
    engine.log.info(f"Fault found: {alarm}")
    it.qxflags |= SKIP
    return cformat(it.dfl, alarm)


_WARNINGS = ["Battery disconnected.", "Neutral not connected.", "Site fault.",
             "Phase sequence incorrect.", "Phase sequence incorrect in bypass.",
             "Input frequency unstable in bypass.", "Battery overcharged.", "Low battery.",
             "Overload alarm.", "Fan alarm.", "EPO enabled.", "Unable to turn on UPS.",
             "Over temperature alarm.", "Charger alarm.", "Remote auto shutdown.",
             "L1 input fuse not working.", "L2 input fuse not working.",
             "L3 input fuse not working.", "Positive PFC abnormal in L1.",
             "Negative PFC abnormal in L1.", "Positive PFC abnormal in L2.",
             "Negative PFC abnormal in L2.", "Positive PFC abnormal in L3.",
             "Negative PFC abnormal in L3.", "Abnormal in CAN-bus communication.",
             "Abnormal in synchronous signal circuit.",
             "Abnormal in synchronous pulse signal circuit.", "Abnormal in host signal circuit.",
             "Male connector of parallel cable not connected well.",
             "Female connector of parallel cable not connected well.",
             "Parallel cable not connected well.",
             "Battery connection not consistent in parallel systems.",
             "AC connection not consistent in parallel systems.",
             "Bypass connection not consistent in parallel systems.",
             "UPS model types not consistent in parallel systems.",
             "Capacity of UPSes not consistent in parallel systems.",
             "Auto restart setting not consistent in parallel systems.",
             "Battery cell over charge.",
             "Battery protection setting not consistent in parallel systems.",
             "Battery detection setting not consistent in parallel systems.",
             "Bypass not allowed setting not consistent in parallel systems.",
             "Converter setting not consistent in parallel systems.",
             "High loss point for frequency in bypass mode not consistent in parallel systems.",
             "Low loss point for frequency in bypass mode not consistent in parallel systems.",
             "High loss point for voltage in bypass mode not consistent in parallel systems.",
             "Low loss point for voltage in bypass mode not consistent in parallel systems.",
             "High loss point for frequency in AC mode not consistent in parallel systems.",
             "Low loss point for frequency in AC mode not consistent in parallel systems.",
             "High loss point for voltage in AC mode not consistent in parallel systems.",
             "Low loss point for voltage in AC mode not consistent in parallel systems.",
             "Warning for locking in bypass mode after 3 consecutive overloads within 30 min.",
             "Warning for three-phase AC input current unbalance.",
             "Warning for a three-phase input current unbalance detected in battery mode.",
             "Warning for Inverter inter-current unbalance.",
             "Programmable outlets cut off pre-alarm.", "Warning for Battery replace.",
             "Abnormal warning on input phase angle.",
             "Warning!! Cover of maintain switch is open."]
_WARNING_61 = "EEPROM operation error."
_WARNING_STATUS = {7: "LB", 8: "OVER", 55: "RB"}
ST_MAX_VALUE_LEN = 256


def warning(engine, it, value: str):
    v = it.value
    if not all_in(v, "01"):
        engine.log.debug(2, f"voltronic_warning: invalid reply from the UPS [{v}]")
        return None
    if all_in(v, "0"):
        return ""
    known, unknown, bits = [], [], []
    for i, ch in enumerate(v):
        if ch != "1":
            continue
        if i < len(_WARNINGS):
            warn = _WARNINGS[i]
        elif i == 61:
            warn = _WARNING_61
        else:
            warn = None
        if i in _WARNING_STATUS:
            engine.update_status(_WARNING_STATUS[i])
        if warn is None:
            warn = f"Unknown warning from UPS [bit: #{i + 1:02d}]"
            engine.log.info(f"Warning from UPS: {warn}")
            unknown.append(f"#{i + 1:02d}")
        else:
            engine.log.info(f"Warning from UPS: {warn}")
            known.append(warn)
            bits.append(f"#{i + 1:02d}")
    unk = ", ".join(unknown)
    if known:
        warns = " ".join(known)
        bitwarns = "Known (see log or manual) [bit: " + ", ".join(bits)
        if unknown:
            warns += f" Unknown warnings [bit: {unk}]"
            bitwarns += f"]; Unknown warnings [bit: {unk}]"
        else:
            bitwarns += "]"
    else:
        warns = bitwarns = f"Unknown warnings [bit: {unk}]"
    return "UPS warnings: " + (warns if ST_MAX_VALUE_LEN - 32 > len(warns) else bitwarns)


def mode(engine, it, value: str):
    status = alarm = buzz = None
    ch = it.value[:1]
    if ch == "P":
        alarm = "UPS is going ON."
    elif ch == "S":
        status = "OFF"
    elif ch == "Y":
        status = "BYPASS"
    elif ch == "L":
        status = "OL"
    elif ch == "B":
        status = "!OL"
    elif ch == "T":
        status = "CAL"
    elif ch == "F":
        alarm = "Fault reported by UPS."
    elif ch == "E":
        buzz = "vendor:voltronic:ECO-inverter-on"
        engine.log.debug(2, "voltronic_mode: UPS is in ECO Mode")
    elif ch == "C":
        buzz = "vendor:voltronic:freq-converter-on"
        engine.log.debug(2, "voltronic_mode: UPS is in Converter Mode")
    elif ch == "D":
        alarm, status = "UPS is shutting down!", "FSD"
    else:
        engine.log.debug(2, f"voltronic_mode: invalid reply from the UPS [{it.value}]")
        return None
    result = ""
    if alarm and it.info_type.lower() == "ups.alarm":
        result = cformat(it.dfl, alarm)
    elif status and it.info_type.lower() == "ups.status":
        result = cformat(it.dfl, status)
    if buzz:
        engine.buzzmode_set(buzz)
    return result


def status(engine, it, value: str):
    v = it.value
    if not all_in(v, "01"):
        engine.log.debug(3, f"voltronic_status: unexpected value {v}@{it.from_}->{v}")
        return None
    pos, on = it.from_, v[:1] == "1"
    if pos == 63:
        kind = {0: "offline", 1: "line-interactive", 10: "online"}.get(atol(v))
        if kind is None:
            engine.log.debug(2, f"voltronic_status: invalid type [{it.info_type}: {v}]")
        return kind
    if pos == 65:
        return "!OL" if on else "OL"
    if pos == 66:
        return "LB" if on else "!LB"
    if pos == 67:
        if not on:
            return ""
        vi, vo = atof(engine.getinfo("input.voltage")), atof(engine.getinfo("output.voltage"))
        if vo < 0.5 * vi:
            engine.log.debug(2, "voltronic_status: output voltage too low")
            return None
        if vo < 0.95 * vi:
            return "TRIM"
        if vo < 1.05 * vi:
            p = protocol_number(engine)
            if not p or p == 8:
                return "UPS is in AVR Mode." if it.info_type.lower() == "ups.alarm" else ""
            return "BYPASS" if it.info_type.lower() == "ups.status" else ""
        if vo < 1.5 * vi:
            return "BOOST"
        engine.log.debug(2, "voltronic_status: output voltage too high")
        return None
    if pos == 68:
        # C compares the character with the number 1, which never matches: no fault here
        return ""
    if pos == 70:
        return "CAL" if on else "!CAL"
    if pos == 71:
        return "FSD" if on else "!FSD"
    if pos == 72:
        if caps(engine).alarm_control:
            beeper = engine.getinfo("ups.beeper.status")
            if beeper is None or beeper.lower() != "disabled":
                return "muted" if on else "enabled"
            return ""
        return "disabled" if on else "enabled"
    return None


def output_powerfactor(engine, it, value: str):
    if not all_in(it.value, "0123456789 ."):
        engine.log.debug(2, f"voltronic_output_powerfactor: non numerical value "
                            f"[{it.info_type}: {it.value}]")
        return None
    return cformat(it.dfl, atof(it.value) * 0.01)


def serial_numb(engine, it, value: str):
    if all_in(it.value, "0"):
        engine.log.info(f"{it.info_type}: UPS reported a non-significant serial [{it.value}]")
        return None
    return cformat(it.dfl, it.value)


def outlet(engine, it, value: str):
    number = it.info_type[7]
    ch = it.value[:1]
    if ch not in ("0", "1"):
        engine.log.debug(2, f"voltronic_outlet: invalid reply from the UPS "
                            f"[{it.info_type}: {it.value}]")
        return None
    if "switchable" in it.info_type:
        result = cformat(it.dfl, "yes")
    elif "status" in it.info_type:
        result = cformat(it.dfl, "on" if ch == "1" else "off")
    else:
        return None
    if not (_unskip(engine, f"outlet.{number}.delay.shutdown", SEMI_STATIC) and
            _unskip(engine, f"outlet.{number}.load.on", CMD) and
            _unskip(engine, f"outlet.{number}.load.off", CMD)):
        return None
    return result


def outlet_delay(engine, it, value: str):
    if not all_in(it.value, "0123456789 ."):
        engine.log.debug(2, f"voltronic_outlet_delay: non numerical value "
                            f"[{it.info_type}: {it.value}]")
        return None
    result = cformat(it.dfl, atof(it.value) * 60)
    if not _unskip(engine, f"outlet.{it.info_type[7]}.delay.shutdown", SETVAR):
        return None
    return result


def outlet_delay_set(engine, it, value: str):
    return cformat(it.command, bc._cdiv(atol(value), 60))


def _enum_index(it, value: str) -> int | None:
    for index, rw in enumerate(it.info_rw or []):
        if not rw.value:
            break
        if rw.value.lower() == value.lower():
            return index
    return None


def p31b(engine, it, value: str):
    v = it.value
    if v[:1] != "0" or strspn(v[1:], "012") != 1:
        engine.log.debug(2, f"voltronic_p31b: invalid battery type reported by the UPS [{v}]")
        return None
    return cformat(it.dfl, it.info_rw[atol(v)].value)


def p31b_set(engine, it, value: str):
    index = _enum_index(it, value)
    if index is None:
        engine.log.error(f"{it.info_type}: value [{value}] out of range")
        return None
    return process_setvar(engine, it, str(index))


def p31g(engine, it, value: str):
    v = it.value
    if v[:1] != "0" or strspn(v[1:], "01") != 1:
        engine.log.debug(2, f"voltronic_p31g: invalid device grid working range reported by "
                            f"the UPS [{v}]")
        return None
    caps(engine).work_range_type = atol(v)
    return cformat(it.dfl, it.info_rw[atol(v)].value)


def p31g_set(engine, it, value: str):
    index = _enum_index(it, value)
    if index is None:
        engine.log.error(f"{it.info_type}: value [{value}] out of range")
        return None
    if index == caps(engine).work_range_type:
        engine.log.info(f"{it.info_type} is already set to {it.info_rw[index].value}")
        return None
    return process_setvar(engine, it, str(index))


def phase(engine, it, value: str):
    if not all_in(it.value, "0123456789 ."):
        engine.log.debug(2, f"voltronic_phase: non numerical value [{it.info_type}: {it.value}]")
        return None
    angle = atol(it.value)
    if it.info_type.lower() == "output_phase_angle":
        caps(engine).output_phase_angle = angle
        if engine.getval(it.info_type) is not None and not _unskip(engine, it.info_type, SETVAR):
            return None
    if angle < 0 or angle > 2**31 - 1:
        return None
    return cformat(it.dfl, angle)


def phase_set(engine, it, value: str):
    index = _enum_index(it, value)
    if index is None:
        engine.log.error(f"{it.info_type}: value [{value}] out of range")
        return None
    if atol(it.info_rw[index].value) == caps(engine).output_phase_angle:
        engine.log.info(f"{it.info_type} is already set to {it.info_rw[index].value}")
        return None
    return process_setvar(engine, it, str(index))


def parallel(engine, it, value: str):
    if not all_in(it.value, "0123456789"):
        engine.log.debug(2, f"voltronic_parallel: non numerical value [{it.info_type}: {it.value}]")
        return None
    kind = {1: "master", 2: "slave", 3: "slave"}.get(atol(it.value))
    if kind is None:
        engine.log.debug(2, f"voltronic_parallel: invalid reply from the UPS [{it.value}]")
        return None
    return f"This UPS is *{kind}* in a system of UPSes in parallel"


# ---- the table

def items() -> list:
    bits = status
    e_cap = lambda: _rw("no", "yes")  # noqa: E731
    e_cap_nonut = lambda: _rw("enabled", "disabled")  # noqa: E731
    r_outlet = lambda: _rw("0", "59940")  # noqa: E731
    SS, SSR, SSE = SEMI_STATIC, SEMI_STATIC | RANGE, SEMI_STATIC | ENUM
    ST = STATIC | TRIM
    rows = [
        item("ups.firmware.aux", 0, None, "QPI\r", 6, "(", 1, 4, "%s", STATIC, preprocess=protocol),
        item("output.voltage.nominal", 0, None, "QRI\r", 22, "(", 1, 5, "%.1f", STATIC),
        item("output.current.nominal", 0, None, "QRI\r", 22, "(", 7, 9, "%.0f", STATIC),
        item("battery.voltage.nominal", 0, None, "QRI\r", 22, "(", 11, 15, "%.1f", SS),
        item("output.frequency.nominal", 0, None, "QRI\r", 22, "(", 17, 20, "%.1f", STATIC),
        item("device.model", 0, None, "QMD\r", 48, "(", 1, 15, "%s", ST),
        item("ups.power.nominal", 0, None, "QMD\r", 48, "(", 17, 23, "%s", ST),
        item("output.powerfactor", 0, None, "QMD\r", 48, "(", 25, 26, "%.1f", STATIC,
             preprocess=output_powerfactor),
        item("input.phases", 0, None, "QMD\r", 48, "(", 28, 28, "%.0f", STATIC),
        item("output.phases", 0, None, "QMD\r", 48, "(", 30, 30, "%.0f", STATIC),
        item("input.voltage.nominal", 0, None, "QMD\r", 48, "(", 32, 34, "%.1f", STATIC),
        item("output.voltage.nominal", 0, None, "QMD\r", 48, "(", 36, 38, "%.1f", STATIC),
        item("input.voltage.nominal", 0, None, "F\r", 22, "#", 1, 5, "%.1f", STATIC),
        item("input.current.nominal", 0, None, "F\r", 22, "#", 7, 9, "%.1f", STATIC),
        item("battery.voltage.nominal", 0, None, "F\r", 22, "#", 11, 15, "%.1f", STATIC),
        item("input.frequency.nominal", 0, None, "F\r", 22, "#", 17, 20, "%.1f", STATIC),
        item("device.mfr", 0, None, "QMF\r", 2, "(", 1, 0, "%s", ST),
        item("ups.firmware", 0, None, "QVFW\r", 16, "(", 7, 14, "%s", STATIC),
        item("device.serial", 0, None, "QID\r", 2, "(", 1, 0, "%s", STATIC, preprocess=serial_numb),
        item("device.mfr", 0, None, "I\r", 39, "#", 1, 15, "%s", ST),
        item("device.model", 0, None, "I\r", 39, "#", 17, 26, "%s", ST),
        item("ups.firmware", 0, None, "I\r", 39, "#", 28, 37, "%s", ST),
        item("input.voltage", 0, None, "QGS\r", 76, "(", 1, 5, "%.1f", 0),
        item("input.frequency", 0, None, "QGS\r", 76, "(", 7, 10, "%.1f", 0),
        item("output.voltage", 0, None, "QGS\r", 76, "(", 12, 16, "%.1f", 0),
        item("output.frequency", 0, None, "QGS\r", 76, "(", 18, 21, "%.1f", 0),
        item("output.current", 0, None, "QGS\r", 76, "(", 23, 27, "%.1f", 0),
        item("ups.load", 0, None, "QGS\r", 76, "(", 29, 31, "%.0f", 0),
        item("battery.voltage", 0, None, "QGS\r", 76, "(", 45, 49, "%.2f", 0,
             preprocess=bc.multiply_battvolt),
        item("ups.temperature", 0, None, "QGS\r", 76, "(", 57, 61, "%.1f", 0),
        item("ups.type", 0, None, "QGS\r", 76, "(", 63, 64, "%s", SS, preprocess=bits),
        item("ups.status", 0, None, "QGS\r", 76, "(", 65, 65, "%s", QUICK_POLL, preprocess=bits),
        item("ups.status", 0, None, "QGS\r", 76, "(", 66, 66, "%s", QUICK_POLL, preprocess=bits),
        item("ups.status", 0, None, "QGS\r", 76, "(", 67, 67, "%s", QUICK_POLL, preprocess=bits),
        item("ups.alarm", 0, None, "QGS\r", 76, "(", 67, 67, "%s", 0, preprocess=bits),
        item("ups.alarm", 0, None, "QGS\r", 76, "(", 68, 68, "%s", 0, preprocess=bits),
        item("ups.status", 0, None, "QGS\r", 76, "(", 70, 70, "%s", QUICK_POLL, preprocess=bits),
        item("ups.status", 0, None, "QGS\r", 76, "(", 71, 71, "%s", QUICK_POLL, preprocess=bits),
        item("ups.beeper.status", 0, None, "QGS\r", 76, "(", 72, 72, "%s", 0, preprocess=bits),
        item("ups.alarm", 0, None, "QMOD\r", 3, "(", 1, 1, "%s", 0, preprocess=mode),
        item("ups.status", 0, None, "QMOD\r", 3, "(", 1, 1, "%s", 0, preprocess=mode),
        item("ups.alarm", 0, None, "QFS\r", 4, "(", 1, 2, "%s", SKIP, preprocess=fault),
        item("ups.alarm", 0, None, "QWS\r", 66, "(", 1, 64, "%s", 0, preprocess=warning),
        item("battery.voltage", 0, None, "QBV\r", 21, "(", 1, 5, "%.2f", 0,
             preprocess=bc.multiply_battvolt),
        item("battery_number", RW, _rw("1", "9"), "QBV\r", 21, "(", 7, 9, "%d",
             SSR | NONUT, preprocess=batt_numb),
        item("battery.packs", RW, _rw("1", "99"), "QBV\r", 21, "(", 10, 11, "%.0f", SSR),
        item("battery.charge", 0, None, "QBV\r", 21, "(", 13, 15, "%.0f", 0),
        item("battery.runtime", 0, None, "QBV\r", 21, "(", 17, 0, "%.0f", 0,
             preprocess=batt_runtime),
        item("output.power.minimum.percent", 0, None, "QLDL\r", 9, "(", 1, 3, "%.0f", 0),
        item("output.power.maximum.percent", 0, None, "QLDL\r", 9, "(", 5, 7, "%.0f", 0),
    ]
    for cmd, size, prefix, names in (
            ("Q3PV\r", 37, "input", ("L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L1-L3")),
            ("Q3PC\r", 13, "input", ("L1", "L2", "L3")),
            ("Q3OV\r", 37, "output", ("L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L1-L3")),
            ("Q3OC\r", 13, "output", ("L1", "L2", "L3")),
            ("Q3LD\r", 13, "output", ("L1", "L2", "L3"))):
        width = 6 if size == 37 else 4
        for index, phase_name in enumerate(names):
            start = 1 + index * width
            if size == 37:
                var, dfl, end = f"{prefix}.{phase_name}.voltage", "%.1f", start + 4
            elif cmd == "Q3LD\r":
                var, dfl, end = f"{prefix}.{phase_name}.power.percent", "%.0f", start + 2
            else:
                var, dfl, end = f"{prefix}.{phase_name}.current", "%.0f", start + 2
            rows.append(item(var, 0, None, cmd, size, "(", start, end, dfl, SKIP))
    rows += [
        item("output.bypass.L1-N.voltage", 0, None, "Q3YV\r", 37, "(", 1, 5, "%.1f", SKIP),
        item("output.bypass.L2-N.voltage", 0, None, "Q3YV\r", 37, "(", 7, 11, "%.1f", SKIP),
        item("output.bypass.L3-N.voltage", 0, None, "Q3YV\r", 37, "(", 13, 17, "%.1f", SKIP),
        item("output.bypass.L1-N.voltage", 0, None, "Q3YV\r", 19, "(", 1, 5, "%.1f", SKIP),
        item("output.bypass.L2-N.voltage", 0, None, "Q3YV\r", 19, "(", 7, 11, "%.1f", SKIP),
        item("output.bypass.L1-L2.voltage", 0, None, "Q3YV\r", 37, "(", 19, 23, "%.1f", SKIP),
        item("output.bypass.L2-L3.voltage", 0, None, "Q3YV\r", 37, "(", 25, 29, "%.1f", SKIP),
        item("output.bypass.L1-L3.voltage", 0, None, "Q3YV\r", 37, "(", 31, 35, "%.1f", SKIP),
    ]
    for name in ("ups.start.auto", "battery.protection", "battery.energysave",
                 "ups.start.battery", "outlet.0.switchable"):
        rows.append(item(name, RW, e_cap(), "QFLAG\r", 4, "(", 1, 0, "%s", SSE,
                         preprocess=capability))
    for name in ("bypass_alarm", "battery_alarm", "bypass_when_off", "alarm_control",
                 "converter_mode", "eco_mode", "battery_open_status_check", "bypass_forbidding",
                 "site_fault_detection", "advanced_eco_mode", "constant_phase_angle",
                 "limited_runtime_on_battery"):
        rows.append(item(name, 0, None, "QFLAG\r", 4, "(", 1, 0, "%s", SS | NONUT,
                         preprocess=capability))
    SV = SETVAR | SKIP
    for name, letter in (("ups.start.auto", "R"), ("battery.protection", "S"),
                         ("battery.energysave", "G"), ("ups.start.battery", "C"),
                         ("outlet.0.switchable", "J")):
        rows.append(item(name, 0, e_cap(), f"P%s{letter}\r", 5, "(", 1, 3, None, SV | ENUM,
                         preprocess=capability_set))
    rows.append(item("reset_to_default", 0, None, "PF\r", 5, "(", 1, 3, None, SV | NONUT,
                     preprocess=capability_reset))
    for name, letter in (("bypass_alarm", "P"), ("battery_alarm", "B"), ("bypass_when_off", "O"),
                         ("alarm_control", "A"), ("converter_mode", "V"), ("eco_mode", "E"),
                         ("battery_open_status_check", "D"), ("bypass_forbidding", "F"),
                         ("site_fault_detection", "L"), ("advanced_eco_mode", "N"),
                         ("constant_phase_angle", "Q"), ("limited_runtime_on_battery", "W")):
        rows.append(item(name, 0, e_cap_nonut(), f"P%s{letter}\r", 5, "(", 1, 3, None,
                         SV | ENUM | NONUT, preprocess=capability_set_nonut))
    for n in range(1, 5):
        rows += [item(f"outlet.{n}.switchable", 0, None, f"QSK{n}\r", 3, "(", 1, 1, "%s",
                      SS | SKIP, preprocess=outlet),
                 item(f"outlet.{n}.status", 0, None, f"QSK{n}\r", 3, "(", 1, 1, "%s",
                      SS | SKIP, preprocess=outlet)]
    for n in range(1, 5):
        rows.append(item(f"outlet.{n}.delay.shutdown", RW, r_outlet(), f"QSKT{n}\r", 5, "(",
                         1, 3, "%.0f", SSR | SKIP, preprocess=outlet_delay))
    for n in range(1, 5):
        rows.append(item(f"outlet.{n}.delay.shutdown", 0, r_outlet(), f"PSK{n}%03d\r", 5, "(",
                         1, 3, None, SETVAR | RANGE | SKIP, preprocess=outlet_delay_set))
    eco_max, eco_min = _rw("", ""), _rw("", "")
    freq_max = lambda: _rw("52.0", "53.0", "54.0", "60.0", "62.0", "63.0", "64.0", "70.0",  # noqa: E731
                           check=_freq_check(_ECO_FREQ_MAX))
    freq_min = lambda: _rw("40.0", "46.0", "47.0", "48.0", "50.0", "56.0", "57.0", "58.0",  # noqa: E731
                           check=_freq_check(_ECO_FREQ_MIN))
    bvmax = lambda: _rw("60", "115", "120", "132", "138", "140", "230", "231", "261", "264",  # noqa: E731
                        "276", check=_volt_check(_BYPASS_VOLT_MAX))
    bvmin = lambda: _rw("50", "55", "60", "85", "104", "110", "115", "140", "149", "170",  # noqa: E731
                        "209", "220", check=_volt_check(_BYPASS_VOLT_MIN))
    bfmax = lambda: _rw("51.0", "54.0", "60.0", "61.0", "64.0", "70.0",  # noqa: E731
                        check=_freq_check(_BYPASS_FREQ_MAX))
    bfmin = lambda: _rw("40.0", "46.0", "49.0", "50.0", "56.0", "59.0",  # noqa: E731
                        check=_freq_check(_BYPASS_FREQ_MIN))
    rows += [
        item("input.transfer.high", RW, eco_max, "QHE\r", 9, "(", 1, 3, "%.0f", SSR | SKIP,
             preprocess=eco_volt),
        item("input.transfer.low", RW, eco_min, "QHE\r", 9, "(", 5, 7, "%.0f", SSR | SKIP,
             preprocess=eco_volt),
        item("input.transfer.low.min", 0, None, "QHE\r", 9, "(", 5, 7, "%.0f", SS | SKIP,
             preprocess=eco_volt_range),
        item("input.transfer.low.max", 0, None, "QHE\r", 9, "(", 5, 7, "%.0f", SS | SKIP,
             preprocess=eco_volt_range),
        item("input.transfer.high.min", 0, None, "QHE\r", 9, "(", 1, 3, "%.0f", SS | SKIP,
             preprocess=eco_volt_range),
        item("input.transfer.high.max", 0, None, "QHE\r", 9, "(", 1, 3, "%.0f", SS | SKIP,
             preprocess=eco_volt_range),
        item("input.transfer.high", 0, eco_max, "HEH%03.0f\r", 5, "(", 1, 3, None,
             SETVAR | RANGE | SKIP, preprocess=process_setvar),
        item("input.transfer.low", 0, eco_min, "HEL%03.0f\r", 5, "(", 1, 3, None,
             SETVAR | RANGE | SKIP, preprocess=process_setvar),
        item("input.frequency.high", RW, freq_max(), "QFRE\r", 11, "(", 1, 4, "%.1f",
             SSR | SKIP, preprocess=eco_freq),
        item("input.frequency.low", RW, freq_min(), "QFRE\r", 11, "(", 6, 9, "%.1f",
             SSR | SKIP, preprocess=eco_freq),
        item("input.frequency.high", 0, freq_max(), "FREH%04.1f\r", 5, "(", 1, 3, None,
             SETVAR | RANGE | SKIP, preprocess=process_setvar),
        item("input.frequency.low", 0, freq_min(), "FREL%04.1f\r", 5, "(", 1, 3, None,
             SETVAR | RANGE | SKIP, preprocess=process_setvar),
        item("max_bypass_volt", RW, bvmax(), "QBYV\r", 9, "(", 1, 3, "%.0f",
             SSR | NONUT | SKIP, preprocess=bypass),
        item("min_bypass_volt", RW, bvmin(), "QBYV\r", 9, "(", 5, 7, "%.0f",
             SSR | NONUT | SKIP, preprocess=bypass),
        item("max_bypass_volt", 0, bvmax(), "PHV%03.0f\r", 5, "(", 1, 3, None,
             SETVAR | RANGE | NONUT | SKIP, preprocess=process_setvar),
        item("min_bypass_volt", 0, bvmin(), "PLV%03.0f\r", 5, "(", 1, 3, None,
             SETVAR | RANGE | NONUT | SKIP, preprocess=process_setvar),
        item("max_bypass_freq", RW, bfmax(), "QBYF\r", 11, "(", 1, 4, "%.1f",
             SSR | NONUT | SKIP, preprocess=bypass),
        item("min_bypass_freq", RW, bfmin(), "QBYF\r", 11, "(", 6, 9, "%.1f",
             SSR | NONUT | SKIP, preprocess=bypass),
        item("max_bypass_freq", 0, bfmax(), "PGF%04.1f\r", 5, "(", 1, 3, None,
             SETVAR | RANGE | NONUT | SKIP, preprocess=process_setvar),
        item("min_bypass_freq", 0, bfmin(), "PSF%04.1f\r", 5, "(", 1, 3, None,
             SETVAR | RANGE | NONUT | SKIP, preprocess=process_setvar),
        item("battery_number", 0, _rw("1", "9"), "BATN%1.0f\r", 5, "(", 1, 3, None,
             SETVAR | RANGE | NONUT, preprocess=process_setvar),
        item("battery.packs", 0, _rw("1", "99"), "BATGN%02.0f\r", 5, "(", 1, 3, None,
             SETVAR | RANGE, preprocess=process_setvar),
        item("battery.type", RW, _rw("Li", "Flooded", "AGM"), "QBT\r", 4, "(", 1, 2, "%s",
             SSE | SKIP, preprocess=p31b),
        item("battery.type", 0, _rw("Li", "Flooded", "AGM"), "PBT%02.0f\r", 5, "(", 1, 3, None,
             SETVAR | ENUM | SKIP, preprocess=p31b_set),
        item("work_range_type", RW, _rw("Appliance", "UPS"), "QGR\r", 4, "(", 1, 2, "%s",
             SSE | NONUT | SKIP, preprocess=p31g),
        item("work_range_type", 0, _rw("Appliance", "UPS"), "PGR%02.0f\r", 5, "(", 1, 3, None,
             SETVAR | ENUM | NONUT | SKIP, preprocess=p31g_set),
        item("battery.voltage.low", RW, _rw("20", "24", "28", check=None), "RE0\r", 3, "#", 1, 2,
             "%.1f", SSR),
        item("battery.voltage.low", 0, _rw("20", "24", "28"), "W0E%02.0f\r", 5, "(", 1, 3, None,
             SETVAR | RANGE, preprocess=process_setvar),
        item("input_phase_angle", 0, None, "QPD\r", 9, "(", 1, 3, "%03d", SS | NONUT,
             preprocess=phase),
        item("output_phase_angle", RW, _rw("000", "120", "180", "240"), "QPD\r", 9, "(", 5, 7,
             "%03d", SSE | NONUT, preprocess=phase),
        item("output_phase_angle", 0, _rw("000", "120", "180", "240"), "PPD%03.0f\r", 5, "(", 1,
             3, None, SETVAR | ENUM | NONUT | SKIP, preprocess=phase_set),
        item("voltronic_parallel", 0, None, "QPAR\r", 5, "(", 1, 3, "%s", STATIC | NONUT,
             preprocess=parallel),
        item("unknown.7", 0, None, "QBDR\r", 5, "(", 1, 0, "%s", STATIC | NONUT | SKIP),
        item("load.off", 0, None, "SOFF\r", 5, "(", 1, 3, None, CMD),
        item("load.on", 0, None, "SON\r", 5, "(", 1, 3, None, CMD),
        item("shutdown.return", 0, None, "S%s\r", 5, "(", 1, 3, None, CMD,
             preprocess=process_command),
        item("shutdown.stayoff", 0, None, "S%sR0000\r", 5, "(", 1, 3, None, CMD,
             preprocess=process_command),
        item("shutdown.stop", 0, None, "CS\r", 5, "(", 1, 3, None, CMD),
        item("test.battery.start", 0, None, "T%s\r", 5, "(", 1, 3, None, CMD,
             preprocess=process_command),
        item("test.battery.start.deep", 0, None, "TL\r", 5, "(", 1, 3, None, CMD),
        item("test.battery.start.quick", 0, None, "T\r", 5, "(", 1, 3, None, CMD),
        item("test.battery.stop", 0, None, "CT\r", 5, "(", 1, 3, None, CMD),
        item("beeper.toggle", 0, None, "BZ%s\r", 5, "(", 1, 3, None, CMD,
             preprocess=process_command),
        item("beeper.enable", 0, None, "PEA\r", 5, "(", 1, 3, None, CMD | SKIP),
        item("beeper.disable", 0, None, "PDA\r", 5, "(", 1, 3, None, CMD | SKIP),
    ]
    for n in range(1, 5):
        rows += [item(f"outlet.{n}.load.off", 0, None, f"SKOFF{n}\r", 5, "(", 1, 3, None,
                      CMD | SKIP),
                 item(f"outlet.{n}.load.on", 0, None, f"SKON{n}\r", 5, "(", 1, 3, None,
                      CMD | SKIP)]
    rows += [
        item("bypass.start", 0, None, "PEE\r", 5, "(", 1, 3, None, CMD | SKIP),
        item("bypass.stop", 0, None, "PDE\r", 5, "(", 1, 3, None, CMD | SKIP),
        item("ups.delay.start", RW, _rw("0", "599940"), None, 0, "", 0, 0, DEFAULT_ONDELAY,
             ABSENT | SETVAR | RANGE, preprocess=process_setvar),
        item("ups.delay.shutdown", RW, _rw("12", "5940"), None, 0, "", 0, 0, DEFAULT_OFFDELAY,
             ABSENT | SETVAR | RANGE, preprocess=process_setvar),
    ]
    # the battery low-voltage range depends on the model's power
    low = next(r for r in rows if r.info_type == "battery.voltage.low" and r.info_flags)
    low.info_rw[1].preprocess = batt_low
    low.info_rw[2].preprocess = batt_low
    for r in rows:
        if r.info_type == "battery.voltage.low" and not r.info_flags:
            r.info_rw[1].preprocess = batt_low
            r.info_rw[2].preprocess = batt_low
    return rows


def claim(engine) -> bool:
    it = engine.find("input.voltage")
    if it is None:
        return False
    if engine.process(it):
        import errno

        if engine.errno != errno.ETIMEDOUT:
            return False
        engine.log.debug(2, "voltronic_claim: Sometimes the device is laggy, and we could have "
                            "posted many queries and the buffer is full of replies to them (or "
                            "it is still producing the answers); try to sleep, flush it and ask "
                            "again")
        engine.sleep(5.0)
        engine.log.debug(2, "voltronic_claim: Retry the query now, buffers will be flushed then")
        if engine.process(it):
            return False
    if engine.infoval_set(it) != 1:
        return False
    it = engine.find("ups.firmware.aux")
    if it is None or engine.process(it) or engine.infoval_set(it) != 1:
        engine.state.delinfo("input.voltage")
        return False
    return True


def makevartable(addvar) -> None:
    addvar("reset_to_default", "Put the capability options and their limits back to the "
                               "safe defaults", True)
    for name, what in (("bypass_alarm", "beep while in bypass mode"),
                       ("battery_alarm", "beep while on battery"),
                       ("bypass_when_off", "bypass while the UPS is off"),
                       ("alarm_control", "beeper control"),
                       ("converter_mode", "frequency converter mode"),
                       ("eco_mode", "ECO mode"),
                       ("battery_open_status_check", "check for an open battery circuit"),
                       ("bypass_forbidding", "forbid bypass"),
                       ("site_fault_detection", "site fault detection"),
                       ("advanced_eco_mode", "advanced ECO mode"),
                       ("constant_phase_angle", "constant phase angle (output differing "
                                                "from input)"),
                       ("limited_runtime_on_battery", "limited runtime on battery")):
        addvar(name, f"{what[0].upper()}{what[1:]}: enabled or disabled")
    addvar("max_bypass_volt", "Highest input voltage for bypass mode")
    addvar("min_bypass_volt", "Lowest input voltage for bypass mode")
    addvar("max_bypass_freq", "Highest input frequency for bypass mode")
    addvar("min_bypass_freq", "Lowest input frequency for bypass mode")
    addvar("work_range_type", "Grid working range of P31 units: Appliance or UPS")
    addvar("output_phase_angle", "Output phase angle: 000, 120, 180 or 240")
    addvar("battery_number", "Batteries in a pack, 1 to 9")
    addvar("testing", "Also run the commands that are still being tested", True)


SUBDRIVER = Subdriver(NAME, claim, items, None, None, makevartable, "ACK", "(NAK\r")
