"""A simulated UPS of the Megatec Q1 family, in the dialects nutdrv_qx and blazer_ser
detect: ``megatec`` (Q1, F, I), ``mustek`` (QS), ``megatec/old`` (D), ``zinto`` (FW? for
the vendor data), ``q1`` (status only), ``voltronic-qs`` (M answers V, QS) and
``voltronic-qs-hex`` (M answers P or T, QS answers binary fields).

It behaves as the units do: commands end with CR, replies too; a command the unit does not
know comes back as sent (or, set ``unknown silent|nak``, gets nothing or ``(NAK``);
accepted commands get no reply (``ack ACK`` or ``ack (ACK`` for the units that answer).
``T``/``TL``/``Tnn`` run a battery test (status bit 5), ``Q`` toggles the beeper,
``S<n>[R<m>]`` shuts the output off after n (``.2``-``.9`` tenths of a minute, or
minutes) with the shutdown bit set meanwhile, and restarts after m minutes (``R0000``:
stays off) or, without ``R``, when the mains are back; ``C`` cancels a pending shutdown and
``CT`` a test.

Control (besides the common ones): ``power fail|ok``, ``battery low|ok``,
``set <field> <value>`` for the fields ``show`` lists, ``drain <V per minute at full
load>`` to let the battery run down on battery power.
"""

from __future__ import annotations

import re

from .base import SimDevice, on_off

DIALECTS = ("megatec", "mustek", "megatec/old", "zinto", "q1", "voltronic-qs",
            "voltronic-qs-hex", "voltronic")
_STATUS_COMMAND = {"megatec": b"Q1", "zinto": b"Q1", "q1": b"Q1", "mustek": b"QS",
                   "megatec/old": b"D", "voltronic-qs": b"QS", "voltronic-qs-hex": b"QS",
                   "voltronic": b"QGS"}
# Voltronic Power replies that do not follow the simulated state (a P01 line-interactive
# 1 kVA unit); QGS, QMOD, QBV and QWS are built from the state
VOLTRONIC_REPLIES = {
    b"QPI": b"(PI01\r", b"QRI": b"(230.0 004 024.0 50.0\r",
    b"QMD": b"(#######OLHVT1K0 ###1000 80 1/1 230 230 02 12.0\r",
    b"QMF": b"(#####VOLTRONIC\r", b"QVFW": b"(VERFW:00322.02\r", b"QID": b"(685653211455\r",
    b"QFLAG": b"(EpashcjDbroegfl\r", b"QBYV": b"(264 170\r", b"QBYF": b"(53.0 47.0\r",
    b"QHE": b"(242 218\r", b"QFRE": b"(53.0 47.0\r",
    b"F": b"#230.0 004 024.0 50.0\r", b"I": b"#VOLTRONIC       OLHVT1K0   00322.02  \r",
}
VOLTRONIC_COMMANDS = re.compile(rb"^(SOFF|SON|CS|CT|TL?|T\.[2-9]|T\d\d|BZO(N|FF)|S(\.[2-9]|\d\d)"
                                rb"(R\d{4})?|P[ED][A-Z]|HE[HL]\d{3}|FRE[HL]\d\d\.\d|PHV\d{3}|"
                                rb"PLV\d{3}|PGF\d\d\.\d|PSF\d\d\.\d|BATG?N\d+)$")
_SHUTDOWN = re.compile(rb"^S(\.[2-9]|0[1-9]|10)(?:R(\d{4}))?$")
_TEST = re.compile(rb"^T(\d\d)$")

_FIELDS = {
    # name: (attribute, type)
    "input.voltage": ("input_voltage", float), "input.voltage.fault": ("fault_voltage", float),
    "output.voltage": ("output_voltage", float), "ups.load": ("load", int),
    "input.frequency": ("frequency", float), "battery.voltage": ("battery_voltage", float),
    "ups.temperature": ("temperature", float),
    "utility_fail": ("utility_fail", on_off), "battery_low": ("battery_low", on_off),
    "bypass_boost_buck": ("boost", on_off), "ups_failed": ("failed", on_off),
    "standby": ("standby", on_off), "test": ("testing", on_off),
    "shutdown_active": ("shutdown_active", on_off), "beeper": ("beeper", on_off),
    "rating.voltage": ("rating_voltage", float), "rating.current": ("rating_current", int),
    "rating.battery": ("rating_battery", float), "rating.frequency": ("rating_frequency", float),
    "mfr": ("mfr", str), "model": ("model", str), "firmware": ("firmware", str),
    "serial": ("serial", str), "runtime": ("runtime", str), "vendor_layout": ("vendor_layout", str),
    "battery_format": ("battery_format", str), "protocol_letter": ("protocol_letter", str),
    "unknown": ("unknown", str), "ack": ("ack", str), "dialect": ("dialect", str),
    "battery.charge": ("battery_charge", int), "battery.runtime": ("battery_runtime", int),
    "warnings": ("warnings", str),
}


class Q1Ups(SimDevice):
    kind = "q1"
    eol = b"\r"
    nak = b"(NAK\r"

    def __init__(self, dialect: str = "megatec", seed: int = 1) -> None:
        super().__init__(seed)
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r} (one of {', '.join(DIALECTS)})")
        self.dialect = dialect
        self.input_voltage = 230.0
        self.nominal_input = 230.0
        self.fault_voltage = 230.0
        self.output_voltage = 230.0
        self.load = 14
        self.frequency = 50.0
        self.battery_voltage = 27.2
        self.temperature = 30.0
        self.utility_fail = False
        self.battery_low = False
        self.boost = False
        self.failed = False
        self.standby = True
        self.testing = False
        self.shutdown_active = False
        self.beeper = True
        self.rating_voltage = 230.0
        self.rating_current = 4
        self.rating_battery = 24.0
        self.rating_frequency = 50.0
        self.mfr, self.model, self.firmware = "NUTPY", "SIM-Q1", "V1.00"
        self.serial, self.runtime = "00000001", "12345"
        self.vendor_layout = "classic"   # or "ic" (Megatec IC: mfr+serial, model+runtime)
        self.battery_format = "%04.1f"   # "%4.2f" for units giving the voltage per cell
        self.protocol_letter = "V" if dialect == "voltronic-qs" else "P"
        self.battery_charge = 100             # voltronic QBV
        self.battery_runtime = 255            # voltronic QBV, minutes
        self.warnings = "0" * 64              # voltronic QWS bits
        self.unknown = "nak" if dialect.startswith("voltronic") else "echo"
        self.ack = ""                    # reply to accepted commands: "", "ACK" or "(ACK"
        self.drain = 0.0                 # V per minute at full load while on battery
        self.low_voltage = 21.0          # battery_low follows the voltage while draining
        self._buf = b""
        self._test_until: float | None = None
        self._shutdown_at: float | None = None
        self._restart_after: float | None = None  # s after shutdown; None: when mains back
        self._off_since: float | None = None
        self._last_tick: float | None = None

    # ---- replies

    def status_line(self) -> bytes:
        output = self.output_voltage if self._off_since is None else 0.0
        load = self.load if self._off_since is None else 0
        bits = "".join("1" if b else "0" for b in (
            self.utility_fail, self.battery_low, self.boost, self.failed, self.standby,
            self.testing, self.shutdown_active, self.beeper))
        battery = (self.battery_format % self.battery_voltage)[:4]
        if self.dialect == "voltronic-qs-hex":
            return self._hex_status(output, load, bits)
        return (f"({self.input_voltage:05.1f} {self.fault_voltage:05.1f} {output:05.1f} "
                f"{load:03d} {self.frequency:04.1f} {battery} {self.temperature:04.1f} "
                f"{bits}\r").encode("latin-1")

    def _hex_status(self, output: float, load: int, bits: str) -> bytes:
        """The binary QS reply: ten fields (eleven with the T protocol's ratings) split by
        spaces, with CR, XON, XOFF, LF and space inside a field escaped as ``(`` + 0..4."""
        mult = 0x35

        def volts(v: float) -> list[bytes]:
            return [max(0, min(0xFFFF, round(v * 256 * 51 / mult))).to_bytes(2, "big"),
                    bytes([mult])]
        period = 20000
        # battery volts = value * multiplier / 510: the pair closest to the voltage
        target = self.battery_voltage * 510
        bmult = min(range(1, 256), key=lambda m: (abs(min(255, round(target / m)) * m - target), m))
        parts = [*volts(self.input_voltage), *volts(output), bytes([load & 0xFF]),
                 period.to_bytes(2, "big"), round(self.frequency * period).to_bytes(3, "big"),
                 bytes([max(1, min(255, round(self.battery_voltage * 510 / bmult)))]),
                 bytes([bmult]), bytes([int(bits, 2)])]
        if self.protocol_letter.upper() == "T":
            rating = {50: "0", 60: "1"}.get(int(self.rating_frequency), "0")
            rating += {12: "00", 24: "01", 36: "10", 48: "11"}.get(int(self.rating_battery), "01")
            rating += "00" + {110: "000", 120: "001", 220: "010", 230: "011",
                              240: "100"}.get(int(self.rating_voltage), "011")
            parts.append(bytes([int(rating, 2)]))
        escapes = {0x0D: 0, 0x11: 1, 0x13: 2, 0x0A: 3, 0x20: 4}
        return b"#" + b" ".join(bytes(b for byte in part for b in
                                      ((0x28, escapes[byte]) if byte in escapes else (byte,)))
                                for part in parts) + b"\r"

    def rating_line(self) -> bytes:
        if self.dialect == "voltronic-qs":
            return (f"#{self.rating_voltage:05.1f} {self.rating_current:03d} "
                    f"{self.rating_battery:05.2f} {self.rating_frequency:04.1f}\r").encode()
        return (f"#{self.rating_voltage:05.1f} {self.rating_current:03d} "
                f"{self.rating_battery:05.1f} {self.rating_frequency:04.1f}\r").encode()

    def vendor_line(self) -> bytes:
        if self.vendor_layout == "ic":
            return (f"#{self.mfr[:7]:<7}{self.serial[:8]:<8} {self.model[:5]:<5}"
                    f"{self.runtime[:5]:>5} {self.firmware}\r").encode("latin-1")
        return (f"#{self.mfr[:15]:<15} {self.model[:10]:<10} {self.firmware[:10]:<10}\r"
                ).encode("latin-1")

    # ---- traffic

    def feed(self, data: bytes, now: float) -> bytes:
        self._buf += data
        out = b""
        while b"\r" in self._buf:
            line, self._buf = self._buf.split(b"\r", 1)
            self.record(line + b"\r", now)
            out += self.reply(line + b"\r", self.handle(line, now))
        if len(self._buf) > 512:  # no CR in sight: a real unit drops it
            self._buf = b""
        return out

    def unknown_reply(self, line: bytes) -> bytes:
        if self.unknown == "silent":
            return b""
        if self.unknown == "nak":
            return self.nak
        return line + b"\r"

    def accepted(self) -> bytes:
        return (self.ack + "\r").encode() if self.ack else b""

    def voltronic_status(self) -> bytes:
        output = self.output_voltage if self._off_since is None else 0.0
        load = self.load if self._off_since is None else 0
        bits = "".join("1" if b else "0" for b in (
            self.utility_fail, self.battery_low, self.boost, self.failed, False, self.testing,
            self.shutdown_active, not self.beeper, False, False))
        kind = "01" if self.standby else "10"
        return (f"({self.input_voltage:05.1f} {self.frequency:04.1f} {output:05.1f} "
                f"{self.frequency:04.1f} {load * 0.04:05.1f} {load:03d} 369.1 ---.- "
                f"{self.battery_voltage:05.1f} ---.- {self.temperature:05.1f} {kind}{bits}\r"
                ).encode()

    def voltronic(self, cmd: bytes, line: bytes) -> bytes:
        if cmd == b"QGS":
            return self.voltronic_status()
        if cmd == b"QMOD":
            mode = "D" if self.shutdown_active else "T" if self.testing else \
                "B" if self.utility_fail else "L"
            return f"({mode}\r".encode()
        if cmd == b"QBV":
            return (f"({self.battery_voltage:05.1f} 02 01 {self.battery_charge:03d} "
                    f"{self.battery_runtime:03d}\r").encode()
        if cmd == b"QWS":
            return f"({self.warnings}\r".encode()
        if cmd in VOLTRONIC_REPLIES:
            return VOLTRONIC_REPLIES[cmd]
        if VOLTRONIC_COMMANDS.match(cmd):
            self.events.append(f"command {line.decode()}")
            if cmd.startswith(b"BZ"):
                self.beeper = cmd == b"BZON"
            if cmd.startswith(b"T") and cmd != b"TL":
                self.testing = True
            if cmd == b"CT":
                self.testing = False
            return b"(ACK\r"
        return self.nak

    def handle(self, line: bytes, now: float) -> bytes:
        cmd = line.upper()
        d = self.dialect
        if d == "voltronic":
            return self.voltronic(cmd, line)
        if cmd == _STATUS_COMMAND[d]:
            return self.status_line()
        if cmd == b"F" and d not in ("q1", "voltronic-qs-hex"):
            return self.rating_line()
        if (cmd == b"I" and d in ("megatec", "mustek", "megatec/old")) or \
                (cmd == b"FW?" and d == "zinto"):
            return self.vendor_line()
        if cmd == b"M" and d.startswith("voltronic"):
            return (self.protocol_letter + "\r").encode()
        if cmd == b"Q":
            self.beeper = not self.beeper
            self.events.append(f"beeper {'on' if self.beeper else 'off'}")
            return self.accepted()
        if cmd in (b"T", b"TL") or _TEST.match(cmd):
            if cmd == b"T":
                seconds = 10.0
            elif cmd == b"TL":
                seconds = 120.0
            else:
                minutes = int(cmd[1:])
                if not minutes:
                    return self.unknown_reply(line)
                seconds = minutes * 60.0
            self.testing = True
            self._test_until = now + seconds
            self.events.append(f"test {cmd.decode()} for {seconds:.0f}s")
            return self.accepted()
        if cmd == b"CT":
            if self.testing:
                self.events.append("test cancelled")
            self.testing = False
            self._test_until = None
            return self.accepted()
        if cmd == b"C":
            if self._shutdown_at is not None or self._off_since is not None:
                self.events.append("shutdown cancelled")
            self._shutdown_at = None
            self.shutdown_active = False
            if self._off_since is not None:
                self._off_since = None
            return self.accepted()
        m = _SHUTDOWN.match(cmd)
        if m:
            delay, restart = m.group(1), m.group(2)
            seconds = int(delay[1:]) * 6.0 if delay.startswith(b".") else int(delay) * 60.0
            self._shutdown_at = now + seconds
            self._restart_after = None if restart is None else int(restart) * 60.0
            self.shutdown_active = True
            self.events.append(f"shutdown {line.decode()} in {seconds:.0f}s" +
                               ("" if restart is None else f", restart after {int(restart)}min"))
            return self.accepted()
        return self.unknown_reply(line)

    def tick(self, now: float) -> bytes:
        last, self._last_tick = self._last_tick, now
        if self._test_until is not None and now >= self._test_until:
            self.testing = False
            self._test_until = None
            self.events.append("test done")
        if self._shutdown_at is not None and now >= self._shutdown_at:
            self._shutdown_at = None
            self._off_since = now
            self.events.append("output off")
        if self._off_since is not None and self.shutdown_active:
            back = (self._restart_after is None and not self.utility_fail) or \
                (self._restart_after and now >= self._off_since + self._restart_after)
            if back:
                self._off_since = None
                self.shutdown_active = False
                self.events.append("output on")
        if last is not None and self.drain and self.utility_fail and self._off_since is None:
            self.battery_voltage = max(0.0, self.battery_voltage -
                                       self.drain * (now - last) / 60 * max(self.load, 10) / 100)
            self.battery_low = self.battery_voltage < self.low_voltage
        return b""

    # ---- control

    def device_control(self, cmd: str, args: list[str]) -> str:
        if cmd == "power":
            fail = args[0].lower() in ("fail", "off", "lost", "down")
            self.utility_fail = fail
            if fail:
                self.fault_voltage = self.input_voltage
                self.input_voltage = 0.0
            else:
                self.input_voltage = self.nominal_input
            return f"OK power {'fail' if fail else 'ok'}"
        if cmd == "battery":
            self.battery_low = on_off(args[0])
            return f"OK battery {'low' if self.battery_low else 'ok'}"
        if cmd == "drain":
            self.drain = float(args[0])
            return f"OK drain {self.drain}"
        raise ValueError(f"unknown command {cmd!r} (try: help)")

    def set(self, name: str, value: str) -> str:
        if name not in _FIELDS:
            raise KeyError(f"unknown field {name!r}")
        attr, conv = _FIELDS[name]
        setattr(self, attr, conv(value))
        if attr == "input_voltage" and not self.utility_fail:
            self.nominal_input = self.input_voltage
        return f"OK {name} = {getattr(self, attr)}"

    def show(self) -> dict:
        return {name: getattr(self, attr) for name, (attr, _) in _FIELDS.items()}

    def help(self) -> str:
        return (super().help() + "; power fail|ok; battery low|ok; drain <V/min>; fields: " +
                ", ".join(_FIELDS))
