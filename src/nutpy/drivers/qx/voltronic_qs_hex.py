"""Voltronic Power's QS protocol in its binary form (C ``nutdrv_qx_voltronic-qs-hex.c``):
``M`` answers ``P`` or ``T``; ``QS`` answers raw bytes (with CR, XON, XOFF, LF and space
escaped as ``(`` + 0..4), which are first rewritten as hex digits and bit strings::

    #6C01 35 6C01 35 03 519A 1312D0 E6 1E 00001001[ 00000010]
"""

from __future__ import annotations

from . import blazer_common as bc
from .core import CMD, QUICK_POLL, SKIP, STATIC, InfoRW, Subdriver, claim_items, item
from .cstr import all_in, cformat, strtol

_ESCAPES = {0x00: 0x0D, 0x01: 0x11, 0x02: 0x13, 0x03: 0x0A, 0x04: 0x20}
_HEX = "0123456789ABCDEFabcdef"


def preprocess_qs_answer(engine, it, length: int) -> int:
    """The raw reply into its printable form; -1 if it is not a QS reply."""
    if length <= 0:
        return length
    raw = it.answer
    if raw[:1] != b"#":
        engine.log.debug(4, f"voltronic_qs_hex_preprocess_qs_answer: wrong leading character "
                            f"[{it.info_type}: 0x{raw[0]:x}]")
        return -1
    out = ["#"]
    token = 1
    i = 1
    while i < length:
        byte = raw[i] if i < len(raw) else 0
        if byte == 0x20:
            out.append(" ")
            token += 1
            i += 1
            continue
        if byte == 0x28:
            nxt = raw[i + 1] if i + 1 < len(raw) else 0
            if nxt in _ESCAPES:
                out.append(f"{_ESCAPES[nxt]:02x}")
                i += 2
                continue
            out.append(_render(byte, token))
            i += 1
            continue
        if byte == 0x0D:
            break
        out.append(_render(byte, token))
        i += 1
    refined = "".join(out)
    if token < 10 or token > 11 or (token == 10 and len(refined) != 46) or \
            (token == 11 and len(refined) != 55):
        engine.log.debug(2, f"noncompliant reply: {refined}")
        return -1
    engine.log.debug(4, f"read: {refined}")
    it.answer = (refined + "\r").encode("latin-1")[:511]
    return len(refined) + 1


def _render(byte: int, token: int) -> str:
    if token in (10, 11):
        return f"{int(format(byte, 'b')):08d}"
    return f"{byte:02x}"


def protocol(engine, it, value):
    if it.value.upper() not in ("P", "T"):
        engine.log.debug(2, f"voltronic_qs_hex_protocol: invalid protocol [{it.value}]")
        return None
    result = cformat(it.dfl, it.value)
    if it.value.upper() == "P":
        return result
    for name, flags in (("test.battery.start.quick", CMD), ("output.frequency.nominal", 0),
                        ("battery.voltage.nominal", 0), ("output.voltage.nominal", 0)):
        unskip = engine.find(name, flags, 0)
        if unskip is None:
            return None
        unskip.qxflags &= ~SKIP
    return result


def input_output_voltage(engine, it, value):
    if not all_in(it.value, _HEX + " "):
        engine.log.debug(2, f"voltronic_qs_hex_input_output_voltage: non numerical value "
                            f"[{it.info_type}: {it.value}]")
        return None
    first, rest = strtol(it.value, 16)
    second, _ = strtol(rest, 16)
    val = bc._cdiv(first * second, 51)
    return cformat(it.dfl, val / 256.0)


def load(engine, it, value):
    if not all_in(it.value, _HEX):
        engine.log.debug(2, f"voltronic_qs_hex_load: non numerical value "
                            f"[{it.info_type}: {it.value}]")
        return None
    return cformat(it.dfl, strtol(it.value, 16)[0])


def frequency(engine, it, value):
    if not all_in(it.value, _HEX + " "):
        engine.log.debug(2, f"voltronic_qs_hex_frequency: non numerical value "
                            f"[{it.info_type}: {it.value}]")
        return None
    first, rest = strtol(it.value, 16)
    second, _ = strtol(rest, 16)
    if first == 0:
        ret = float("inf") if second > 0 else (float("-inf") if second < 0 else float("nan"))
    else:
        ret = second / first
    ret = 99.9 if ret > 99.9 else ret
    return cformat(it.dfl, ret)


def battery_voltage(engine, it, value):
    if not all_in(it.value, _HEX + " "):
        engine.log.debug(2, f"voltronic_qs_hex_battery_voltage: non numerical value "
                            f"[{it.info_type}: {it.value}]")
        return None
    first, rest = strtol(it.value, 16)
    second, _ = strtol(rest, 16)
    return cformat(it.dfl, (first * second) / 510.0)


def ratings_bits(engine, it, value):
    if not all_in(it.value, "01"):
        engine.log.debug(3, f"voltronic_qs_hex_process_ratings_bits: unexpected value "
                            f"{it.info_type}@{it.from_}->{it.value}")
        return None
    val = strtol(it.value)[0]
    if it.from_ == 47:
        ret = 50 if val == 0 else 60
    elif it.from_ == 48:
        ret = {0: 12, 1: 24, 10: 36}.get(val, 48)
    elif it.from_ == 52:
        ret = {0: 110, 1: 120, 10: 220, 11: 230, 100: 240}.get(val)
        if ret is None:
            return None
    else:
        return None
    return cformat(it.dfl, float(ret))


def items() -> list:
    pa = preprocess_qs_answer
    bits = bc.process_status_bits
    q = "QS\r"
    rows = [
        item("ups.firmware.aux", 0, None, "M\r", 2, "", 0, 0, "PM-%s", STATIC, preprocess=protocol),
        item("input.voltage", 0, None, q, 47, "#", 1, 7, "%.1f", 0, None, pa, input_output_voltage),
        item("output.voltage", 0, None, q, 47, "#", 9, 15, "%.1f", 0, None, pa, input_output_voltage),
        item("ups.load", 0, None, q, 47, "#", 17, 18, "%d", 0, None, pa, load),
        item("output.frequency", 0, None, q, 47, "#", 20, 30, "%.1f", 0, None, pa, frequency),
        item("battery.voltage", 0, None, q, 47, "#", 32, 36, "%.2f", 0, None, pa, battery_voltage),
    ]
    for pos, name, dfl, flags in ((38, "ups.status", None, QUICK_POLL),
                                  (39, "ups.status", None, QUICK_POLL),
                                  (40, "ups.status", None, QUICK_POLL),
                                  (41, "ups.alarm", None, 0),
                                  (42, "ups.type", "%s", STATIC),
                                  (43, "ups.status", None, QUICK_POLL),
                                  (44, "ups.status", None, QUICK_POLL),
                                  (45, "ups.beeper.status", "%s", 0)):
        rows.append(item(name, 0, None, q, 47, "#", pos, pos, dfl, flags, None, pa, bits))
    rows += [
        item("output.frequency.nominal", 0, None, q, 56, "#", 47, 47, "%.1f", SKIP, None, pa,
             ratings_bits),
        item("battery.voltage.nominal", 0, None, q, 56, "#", 48, 49, "%.1f", SKIP, None, pa,
             ratings_bits),
        item("output.voltage.nominal", 0, None, q, 56, "#", 52, 54, "%.1f", SKIP, None, pa,
             ratings_bits),
        *bc.command_items(full=False),
        item("test.battery.start.quick", 0, None, "T\r", 0, "", 0, 0, None, CMD | SKIP),
        *bc.delay_items([InfoRW("60"), InfoRW("599940"), InfoRW("")],
                        [InfoRW("12"), InfoRW("540"), InfoRW("")]),
    ]
    return rows


def claim(engine) -> bool:
    return claim_items(engine, "ups.firmware.aux", "input.voltage", undo=("ups.firmware.aux",))


SUBDRIVER = Subdriver("Voltronic-QS-Hex 0.11", claim, items, bc.initups_light, None,
                      bc.makevartable_light, None, "N\r")
