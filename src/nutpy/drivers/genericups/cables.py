"""Contact-closure UPSes (C ``genericups.h`` and the signal logic of ``genericups.c``):
each UPS type is a cable that draws its power from some output lines (DTR, RTS), reports
on-line / low battery / replace battery / bypass on input lines (CTS, DCD, RNG, DSR) and
is told to shut down by raising a pattern of output lines or sending a break (ST).

Pure: lines are the TIOCM_* bit masks; the port itself is the driver's business."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..serialport import (
    TIOCM_CD,
    TIOCM_CTS,
    TIOCM_DSR,
    TIOCM_DTR,
    TIOCM_RI,
    TIOCM_RNG,
    TIOCM_RTS,
    TIOCM_ST,
)

DTR, RTS, ST, CTS, CD, RNG, DSR = TIOCM_DTR, TIOCM_RTS, TIOCM_ST, TIOCM_CTS, TIOCM_CD, TIOCM_RNG, TIOCM_DSR
NO_SHUTDOWN = -1  # "shutdown: unknown" in C's table


@dataclass(frozen=True)
class Cable:
    mfr: str
    model: str
    desc: str
    line_norm: int                       # output lines that power the cable
    line_ol: int = 0
    val_ol: int = 0
    line_bl: int = 0
    val_bl: int = 0
    line_rb: int = 0
    val_rb: int = 0
    line_bypass: int = 0
    val_bypass: int = 0
    line_sd: int = 0                     # output lines meaning "shut down"; ST: a break


UPS_TYPES: tuple[Cable, ...] = (
    Cable("UPSONIC", "LAN Saver 600", "UPSONIC LAN Saver 600",
          DTR | RTS, CTS, 0, CD, CD, line_sd=RTS),
    Cable("APC", "Back-UPS", "APC Back-UPS (940-0095A/C cable)",
          DTR, RNG, 0, CD, CD, line_sd=RTS),
    Cable("APC", "Back-UPS", "APC Back-UPS (940-0020B/C cable)",
          RTS, CTS, 0, CD, CD, line_sd=DTR | RTS),
    Cable("PowerTech", "Comp1000", "PowerTech Comp1000 with DTR as cable power",
          DTR, CTS, 0, CD, CD, line_sd=DTR | RTS),
    Cable("Generic", "Generic RUPS model", "Generic RUPS model",
          RTS, CTS, CTS, CD, 0, line_sd=0),
    Cable("TrippLite", "Internet Office Series",
          "Tripp Lite UPS with Lan2.2 interface (black 73-0844 cable)",
          DTR, CTS, CTS, CD, 0, line_sd=DTR | RTS),
    Cable("Best", "Patriot", "Best Patriot (INT51 cable)",
          DTR, CTS, CTS, CD, 0, line_sd=RTS),
    Cable("CyberPower", "Power99", "CyberPower Power99",
          RTS, CTS, CTS, CD, 0, line_sd=DTR),
    Cable("Nitram", "Elite UPS", "Nitram Elite 500",
          DTR, CTS, CTS, CD, 0, line_sd=NO_SHUTDOWN),
    Cable("APC", "Back-UPS", "APC Back-UPS (940-0023A cable)",
          0, CD, 0, CTS, CTS, line_sd=RTS),
    Cable("Victron", "Lite", "Victron Lite (crack cable)",
          RTS, CTS, CTS, CD, 0, line_sd=DTR),
    Cable("Powerware", "3115", "Powerware 3115",
          DTR, CTS, 0, CD, 0, line_sd=ST),
    Cable("APC", "Back-UPS Office", "APC Back-UPS Office (940-0119A cable)",
          RTS, CTS, 0, CD, CD, line_sd=DTR),
    Cable("RPT", "Repoteck", "Repoteck RPT-800A, RPT-162A",
          DTR | RTS, CD, CD, CTS, 0, line_sd=ST),
    Cable("Online", "P250, P500, P750, P1250", "Online P-series",
          DTR, CD, CD, CTS, 0, line_sd=RTS),
    Cable("Powerware", "5119", "Powerware 5119",
          DTR, CTS, CTS, CD, 0, line_sd=ST),
    Cable("Nitram", "Elite UPS", "Nitram Elite 2002",
          DTR | RTS, CTS, CTS, CD, 0, line_sd=NO_SHUTDOWN),
    Cable("PowerKinetics", "9001", "PowerKinetics 9001",
          DTR, CTS, CTS, CD, 0, line_sd=NO_SHUTDOWN),
    Cable("TrippLite", "Omni 450LAN", "TrippLite UPS with Martin's cabling",
          DTR, CTS, CTS, CD, CD, line_sd=NO_SHUTDOWN),
    Cable("Fideltronik", "Ares Series", "Fideltronik Ares Series",
          DTR, CTS, CTS, CD, 0, line_sd=RTS),
    Cable("Powerware", "5119 RM", "Powerware 5119 RM",
          DTR, CTS, 0, CD, CD, line_sd=ST),
    Cable("Generic", "Generic RUPS 2000", "Generic RUPS 2000 (Megatec M2501 cable)",
          RTS, CTS, CTS, CD, 0, line_sd=RTS | DTR),
    Cable("Gamatronic Electronic Industries", "Generic Alarm UPS",
          "Gamatronic UPSs with alarm interface",
          RTS, CTS, CTS, CD, 0, line_sd=DTR),
    Cable("Generic", "Generic FTTx Battery Backup",
          "FTTx (Fiber to the x) battery backup with 4-wire telemetry interface",
          RTS, CTS, CTS, CD, 0, TIOCM_RI, 0, DSR, 0, line_sd=0),
)


class SignalError(ValueError):
    """An override names a line of the wrong direction (C: fatal)."""


def parse_output_signals(value: str, line: int) -> tuple[int, bool]:
    """``CP``/``SD`` overrides: the output lines named in ``value`` (``-DTR`` excludes,
    ``NULL``/``none`` clears). Returns (lines, changed). Substring tests as C's, so a
    misspelt name may pass unnoticed (as there)."""
    new = 0
    if "DTR" in value and "-DTR" not in value:
        new |= DTR
    if "RTS" in value and "-RTS" not in value:
        new |= RTS
    if "ST" in value:
        new |= ST
    for name in ("CTS", "DCD", "RNG", "DSR"):
        if name in value:
            raise SignalError(f"Can't override output with {name} (not an output)")
    if "NULL" in value or "none" in value:
        new = 0
    return new, new != line


def parse_input_signals(value: str, line: int, val: int) -> tuple[int, int, bool]:
    """``OL``/``LB``/``RB``/``BYPASS`` overrides: the lines to test and the values that mean
    "true" (a name alone: line raised; ``-NAME``: line low). Returns (lines, values,
    changed)."""
    new_line = new_val = 0
    for name, bit in (("CTS", CTS), ("DCD", CD), ("RNG", RNG), ("DSR", DSR)):
        if name in value:
            new_line |= bit
            if f"-{name}" not in value:
                new_val |= bit
    for name in ("DTR", "RTS", "ST"):
        if name in value:
            raise SignalError(f"Can't override input with {name} (not an input)")
    if "NULL" in value or "none" in value:
        new_line = new_val = 0
    return new_line, new_val, (new_line, new_val) != (line, val)


def with_overrides(cable: Cable, overrides: dict[str, str], notice=None) -> Cable:
    """The cable with the ``CP``/``SD``/``OL``/``LB``/``RB``/``BYPASS`` settings applied;
    ``notice(text)`` hears about overrides that change nothing."""
    changes = {}
    for key, field_ in (("CP", "line_norm"), ("SD", "line_sd")):
        if key in overrides:
            lines, changed = parse_output_signals(overrides[key], getattr(cable, field_))
            changes[field_] = lines
            if not changed and notice:
                notice("parse_output_signals: output overrides specified, but no effective "
                       "difference - check for typos?")
    for key, lf, vf in (("OL", "line_ol", "val_ol"), ("LB", "line_bl", "val_bl"),
                        ("RB", "line_rb", "val_rb"), ("BYPASS", "line_bypass", "val_bypass")):
        if key in overrides:
            line, val, changed = parse_input_signals(overrides[key], getattr(cable, lf),
                                                     getattr(cable, vf))
            changes[lf], changes[vf] = line, val
            if not changed and notice:
                notice("parse_input_signals: input overrides specified, but no effective "
                       "difference - check for typos?")
    return replace(cable, **changes)


def status_tokens(flags: int, cable: Cable) -> list[str]:
    """``ups.status`` from the modem lines, in C's order (LB before OL/OB)."""
    ol = (flags & cable.line_ol) == cable.val_ol
    bl = cable.line_bl != 0 and (flags & cable.line_bl) == cable.val_bl
    rb = cable.line_rb != 0 and (flags & cable.line_rb) == cable.val_rb
    bypass = cable.line_bypass != 0 and (flags & cable.line_bypass) == cable.val_bypass
    tokens = ["LB"] if bl else []
    tokens.append("OL" if ol else "OB")
    if rb:
        tokens.append("RB")
    if bypass:
        tokens.append("BYPASS")
    return tokens


def input_lines(cable: Cable, outputs: int, online: bool, low: bool, replace_battery: bool,
                bypass: bool) -> int:
    """What a UPS on this cable shows on the input lines (for simulators): nothing while
    the lines that power the cable are not raised."""
    if outputs & cable.line_norm != cable.line_norm:
        return 0
    bits = 0
    for cond, line, val in ((online, cable.line_ol, cable.val_ol), (low, cable.line_bl, cable.val_bl),
                            (replace_battery, cable.line_rb, cable.val_rb),
                            (bypass, cable.line_bypass, cable.val_bypass)):
        if line:
            bits |= (val if cond else val ^ line) & line
    return bits
