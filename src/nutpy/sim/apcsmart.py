"""A simulated APC Smart-UPS speaking the APC Smart protocol.

Like the real units it stays silent until ``Y`` puts it in smart mode (answer ``SM``) and
leaves it on ``R`` (``BYE``); every command is one character and every answer a line ending
CR LF; unknown commands answer ``NA``. State changes send the alert characters at once
(``!`` on battery, ``$`` back on line, ``%``/``+`` low battery on/off, ``#`` replace
battery, ``?``/``=`` overload on/off). ``a`` lists the protocol, alerts and command
characters, ``^Z`` the enumerable settings, which ``-`` rotates (answer ``OK``) after
they were read; after ``c`` or ``x``, ``-`` and eight characters (short values padded with
CR) replace the string. Shutdowns: ``S`` (only on battery, else ``NA``), ``@nnn``, ``K``
twice and ``Z`` twice (1 to 5 s apart), ``^N`` twice turns the output back on; ``U``, ``A``,
``W``, ``D`` answer ``OK``.

Control (besides the common ones): ``power fail|ok``, ``battery low|ok``,
``replace on|off``, ``overload on|off``, ``set <char> <value>`` (e.g. ``set L 229.6``),
``set model <name>``, ``mode dumb|smart``.
"""

from __future__ import annotations

from .base import SimDevice, on_off

CR_LF = b"\r\n"

# command char -> (value, enumerable values or None)
DEFAULT_VARS: dict[str, tuple[str, list[str] | None]] = {
    "\x01": ("Smart-UPS 1500", None),
    "b": ("601.3.I", None),
    "V": ("NA", None),
    "n": ("AS0123456789", None),
    "m": ("01/15/20", None),
    "x": ("01/15/20", None),
    "c": ("UPS_IDEN", None),
    "C": ("029.7", None),
    "P": ("014.3", None),
    "E": ("336", ["336", "168", "ON ", "OFF"]),
    "X": ("OK", None),
    "r": ("000", ["000", "060", "180", "300"]),
    "p": ("020", ["020", "180", "300", "600"]),
    "L": ("230.4", None),
    "F": ("50.00", None),
    "s": ("H", ["H", "M", "L", "L"]),
    "9": ("FF", None),
    "l": ("196", ["196", "188", "208", "204"]),
    "u": ("253", ["253", "264", "271", "280"]),
    "G": ("O", None),
    "M": ("231.8", None),
    "N": ("229.4", None),
    "O": ("230.4", None),
    "o": ("230", ["230", "240", "220", "225"]),
    "f": ("100.0", None),
    "e": ("00", ["00", "15", "25", "90"]),
    "B": ("27.54", None),
    "g": ("024", None),
    "j": ("0054:", None),
    "q": ("02", ["02", "05", "07", "10"]),
    "k": ("0", ["0", "T", "L", "N"]),
    "T": ("012.5", None),
}
COMMAND_CHARS = "\x0e\x1a@AKSUWDZYRQa-"
ALERTS = "!$%+?=#|"


class ApcSmartUps(SimDevice):
    kind = "apcsmart"
    eol = CR_LF
    nak = b"NA\r\n"

    def __init__(self, seed: int = 1, smart: bool = False) -> None:
        super().__init__(seed)
        self.vars = {k: v for k, (v, _) in DEFAULT_VARS.items()}
        self.enums = {k: list(e) for k, (_, e) in DEFAULT_VARS.items() if e}
        self.smart = smart
        self.online = True
        self.low_battery = False
        self.replace_battery = False
        self.overload = False
        self.calibrating = False
        self.trim = self.boost = False
        self.output_off = False
        self.bypass = False
        self.protocol_version = "3"
        self.last_var: str | None = None
        self._string_edit: tuple[str, bytearray] | None = None  # (var, chars so far)
        self._at: bytearray | None = None
        self._repeat: tuple[str, float] | None = None
        self._pending_alerts = b""
        self._shutdown_at: float | None = None

    # ---- state

    def status_byte(self) -> int:
        if self.output_off:
            return 0
        s = 0
        s |= 0x01 if self.calibrating else 0
        s |= 0x02 if self.trim else 0
        s |= 0x04 if self.boost else 0
        s |= 0x08 if self.online else 0x10
        s |= 0x20 if self.overload else 0
        s |= 0x40 if self.low_battery else 0
        s |= 0x80 if self.replace_battery else 0
        return s

    def alert(self, ch: str) -> None:
        self._pending_alerts += ch.encode()

    def protocol_string(self) -> str:
        cmds = "".join(sorted(set(self.vars) | set(COMMAND_CHARS), key=ord))
        return f"{self.protocol_version}.{ALERTS}.{cmds}"

    def caps_string(self) -> str:
        out = "#"
        for ch, values in self.enums.items():
            width = max(len(v) for v in values)
            out += ch + "4" + chr(48 + len(values)) + chr(48 + width) + \
                "".join(v.ljust(width) for v in values)
        return out

    # ---- traffic

    def line(self, value: str | bytes) -> bytes:
        data = value if isinstance(value, bytes) else value.encode("latin-1")
        return data + CR_LF

    def feed(self, data: bytes, now: float) -> bytes:
        out = b""
        for byte in data:
            ch = chr(byte)
            answer = self.handle(ch, now)
            if answer is None:
                continue
            out += self.reply(bytes([byte]), answer)
        return out

    def handle(self, ch: str, now: float) -> bytes | None:
        """One byte from the driver; the answer, b"" for none, None while collecting."""
        if self._string_edit is not None:
            var, chars = self._string_edit
            chars += ch.encode("latin-1")
            if len(chars) < 8:
                return None
            self._string_edit = None
            self.record(b"-" + bytes(chars), now)
            self.vars[var] = chars.decode("latin-1").rstrip("\r")
            self.events.append(f"set {var!r} {self.vars[var]}")
            return self.line("OK")
        if self._at is not None:
            if ch.isdigit():
                self._at += ch.encode()
                if len(self._at) < 3:
                    return None
                digits, self._at = self._at.decode(), None
                self.record(b"@" + digits.encode(), now)
                self.events.append(f"hibernate @{digits}")
                self._shutdown_at = now + int(self.vars["p"])
                return self.line("OK")
            self._at = None
        if not self.smart:
            if ch == "Y":
                self.record(b"Y", now)
                self.smart = True
                return self.line("SM")
            return b""
        if ch == "-":
            self.record(b"-", now)
            var = self.last_var
            if var in ("c", "x"):
                self._string_edit = (var, bytearray())
                return b""
            if var in self.enums:
                values = self.enums[var]
                index = (values.index(self.vars[var]) + 1) % len(values) \
                    if self.vars[var] in values else 0
                self.vars[var] = values[index]
                self.events.append(f"rotate {var!r} {self.vars[var]}")
                return self.line("OK")
            return self.line("NO")
        if ch == "@":
            self._at = bytearray()
            return b""
        self.record(ch.encode("latin-1"), now)
        self.last_var = ch if ch in self.vars else None
        if ch == "Y":
            return self.line("SM")
        if ch == "R":
            self.smart = False
            return self.line("BYE")
        if ch == "\x1b":
            return self.line("NA")
        if ch == "Q":
            return self.line(f"{self.status_byte():02X}")
        if ch == "a":
            return self.line(self.protocol_string())
        if ch == "\x1a":
            return self.line(self.caps_string())
        if ch in ("K", "Z", "\x0e"):
            return self._repeated(ch, now)
        if ch == "S":
            if self.online:
                return self.line("NA")
            self._shutdown_at = now + int(self.vars["p"])
            self.events.append("soft shutdown")
            return self.line("OK")
        if ch == "U":
            self.events.append("simulated power failure")
            return self.line("OK")
        if ch == "A":
            self.events.append("panel test")
            return self.line("OK")
        if ch == "W":
            self.events.append("battery test")
            return self.line("OK")
        if ch == "D":
            self.calibrating = not self.calibrating
            self.events.append(f"calibration {'on' if self.calibrating else 'off'}")
            return self.line("OK")
        if ch == "^":
            self.bypass = not self.bypass
            return self.line("BYP" if self.bypass else "INV")
        if ch in self.vars:
            return self.line(self.vars[ch])
        return self.line("NA")

    def _repeated(self, ch: str, now: float) -> bytes:
        first = self._repeat
        if first and first[0] == ch and 1.0 <= now - first[1] <= 5.0:
            self._repeat = None
            if ch == "K":
                self.events.append("shutdown K")
                self._shutdown_at = now + int(self.vars["p"])
                return self.line("OK")
            if ch == "Z":
                self.events.append("off Z")
                self.output_off = True
                return b""
            self.events.append("on ^N")
            self.output_off = False
            return b""
        self._repeat = (ch, now)
        return b""

    def tick(self, now: float) -> bytes:
        if self._shutdown_at is not None and now >= self._shutdown_at:
            self._shutdown_at = None
            self.output_off = True
            self.events.append("output off")
        alerts, self._pending_alerts = self._pending_alerts, b""
        if self.fault in ("silent", "nak", "echo") or not self.smart:
            return b""
        return alerts

    # ---- control

    def device_control(self, cmd: str, args: list[str]) -> str:
        if cmd == "power":
            online = args[0].lower() in ("ok", "on", "back", "restore", "up")
            if online != self.online:
                self.online = online
                self.vars["L"] = "230.4" if online else "000.0"
                self.vars["G"] = "L" if not online else self.vars["G"]
                self.alert("$" if online else "!")
            return f"OK power {'ok' if online else 'fail'}"
        if cmd in ("battery", "replace", "overload"):
            on = on_off(args[0])
            attr, alerts = {"battery": ("low_battery", "%+"), "replace": ("replace_battery", "#"),
                            "overload": ("overload", "?=")}[cmd]
            if on != getattr(self, attr):
                setattr(self, attr, on)
                if on:
                    self.alert(alerts[0])
                elif len(alerts) > 1:
                    self.alert(alerts[1])
            return f"OK {cmd} {'on' if on else 'off'}"
        if cmd == "mode":
            self.smart = args[0].lower() == "smart"
            return f"OK mode {args[0]}"
        raise ValueError(f"unknown command {cmd!r} (try: help)")

    def set(self, name: str, value: str) -> str:
        if name == "model":
            name = "\x01"
        if name == "protocol":
            self.protocol_version = value
            return f"OK protocol {value}"
        if len(name) != 1:
            raise KeyError(f"unknown field {name!r} (a command character, or model)")
        if value.upper() == "NONE":
            self.vars.pop(name, None)
            self.enums.pop(name, None)
            return f"OK {name!r} removed"
        self.vars[name] = value
        return f"OK {name!r} = {value}"

    def show(self) -> dict:
        state = {"smart": self.smart, "online": self.online, "status": f"{self.status_byte():02X}",
                 "low_battery": self.low_battery, "replace_battery": self.replace_battery,
                 "overload": self.overload, "output_off": self.output_off}
        state.update({repr(k): v for k, v in self.vars.items()})
        return state

    def help(self) -> str:
        return (super().help() + "; power fail|ok; battery low|ok; replace on|off; "
                "overload on|off; set <char>|model <value>; mode dumb|smart")

