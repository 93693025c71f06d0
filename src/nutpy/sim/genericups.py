"""A simulated contact-closure UPS on one of genericups' cables.

It has no serial protocol: it shows its state on the input lines (CTS, DCD, RI, DSR) the
cable wires them to, but only while the driver raises the output lines that power the
cable, and it reacts to the shutdown signal of the cable (an output-line pattern held for
``hold`` seconds, or a break). A pseudo-terminal has no modem lines, so the lines live in
a directory served to the driver by the preloaded shim (see ``nutpy.sim.modem``).

Control: ``power fail|ok``, ``battery low|ok``, ``replace on|off``, ``bypass on|off``,
``set upstype <n>``, ``set hold <seconds>``.
"""

from __future__ import annotations

from ..drivers.genericups.cables import NO_SHUTDOWN, ST, UPS_TYPES, input_lines
from .base import SimDevice, on_off
from .modem import ModemLines


class ContactClosureUps(SimDevice):
    kind = "genericups"

    def __init__(self, upstype: int = 0, lines: ModemLines | None = None, seed: int = 1) -> None:
        super().__init__(seed)
        self.upstype = upstype
        self.lines = lines or ModemLines()
        self.online = True
        self.low_battery = False
        self.replace_battery = False
        self.bypass = False
        self.hold = 0.5
        self.output_off = False
        self._sd_since: float | None = None
        self._breaks = 0
        self.last_outputs = 0
        self.publish()

    def plugged_into(self, port) -> None:
        self.lines.attach(port.slave_name)

    @property
    def cable(self):
        return UPS_TYPES[self.upstype]

    def feed(self, data: bytes, now: float) -> bytes:
        self.record(data, now)  # nothing is expected on the data lines
        return b""

    def publish(self) -> None:
        """Put the state on the input lines (the shim hides them while the cable is
        unpowered)."""
        cable = self.cable
        if self.fault == "silent" or self.output_off:
            self.lines.set_inputs(0)
        else:
            powered = input_lines(cable, cable.line_norm, self.online, self.low_battery,
                                  self.replace_battery, self.bypass)
            self.lines.set_inputs(powered, cable.line_norm)

    def control(self, line: str) -> str:
        answer = super().control(line)
        with self.lock:
            self.publish()
        return answer

    def tick(self, now: float) -> bytes:
        cable = self.cable
        outputs = self.lines.outputs()
        self.last_outputs = outputs
        self.publish()
        breaks = self.lines.breaks()
        if breaks != self._breaks:
            self._breaks = breaks
            if cable.line_sd == ST:
                self._shutdown(now, "break")
        if cable.line_sd not in (NO_SHUTDOWN, 0, ST) and outputs == cable.line_sd:
            if self._sd_since is None:
                self._sd_since = now
            elif now - self._sd_since >= self.hold:
                self._shutdown(now, "shutdown lines")
        else:
            self._sd_since = None
        return b""

    def _shutdown(self, now: float, how: str) -> None:
        if not self.output_off:
            self.events.append(f"shutdown ({how})")
            self.output_off = True

    def device_control(self, cmd: str, args: list[str]) -> str:
        if cmd == "power":
            self.online = args[0].lower() in ("ok", "on", "back", "restore", "up")
            if self.online and self.output_off:
                self.output_off = False
                self.events.append("output on")
            return f"OK power {'ok' if self.online else 'fail'}"
        attr = {"battery": "low_battery", "replace": "replace_battery", "bypass": "bypass"}.get(cmd)
        if attr is None:
            raise ValueError(f"unknown command {cmd!r} (try: help)")
        setattr(self, attr, on_off(args[0]))
        return f"OK {cmd} {args[0]}"

    def set(self, name: str, value: str) -> str:
        if name == "upstype":
            upstype = int(value)
            if not 0 <= upstype < len(UPS_TYPES):
                raise ValueError(f"upstype out of range 0..{len(UPS_TYPES) - 1}")
            self.upstype = upstype
        elif name == "hold":
            self.hold = float(value)
        else:
            raise KeyError(f"unknown field {name!r}")
        return f"OK {name} = {value}"

    def show(self) -> dict:
        return {"upstype": f"{self.upstype} ({self.cable.desc})", "online": self.online,
                "low_battery": self.low_battery, "replace_battery": self.replace_battery,
                "bypass": self.bypass, "output_off": self.output_off,
                "outputs": self.last_outputs, "inputs": (self.lines._in or (0, 0))[0],
                "hold": self.hold}

    def help(self) -> str:
        return (super().help() + "; power fail|ok; battery low|ok; replace on|off; "
                "bypass on|off; set upstype <n>|hold <s>")
