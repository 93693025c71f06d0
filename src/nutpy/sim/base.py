"""What every simulated UPS shares: a record of what the driver sent, the line faults a
real device or cable shows (silence, garbage, partial replies, echo, NAK), being unplugged,
and a small text control language for changing the state while it runs.

Faults (``fault <name>``):

* ``none``     - normal replies
* ``silent``   - no reply at all (cable pulled on the UPS side, UPS hung)
* ``garbage``  - a line of random bytes instead of the reply (line noise, wrong speed)
* ``partial``  - the first half of the reply and no line end (the rest lost)
* ``short``    - the first half of the reply, with its line end
* ``echo``     - the command comes back instead of the reply
* ``nak``      - the device's refusal (Q1: ``(NAK``, APC: ``NA``)

Devices implement ``feed(data, now) -> bytes`` and ``tick(now) -> bytes`` and their own
``set``/``show`` of state fields.
"""

from __future__ import annotations

import random
import threading
import time

FAULTS = ("none", "silent", "garbage", "partial", "short", "echo", "nak")


class SimDevice:
    kind = "device"
    eol = b"\r"  # what ends a reply line
    nak = b""

    def __init__(self, seed: int = 1) -> None:
        self.lock = threading.RLock()
        self.fault = "none"
        self.received: list[tuple[float, bytes]] = []  # (monotonic time, command)
        self.plug_events: list[bool] = []  # unplug (False) / replug (True), in order
        self.rng = random.Random(seed)
        self.events: list[str] = []  # what the device did (shutdowns, tests, ...)

    # ---- driver traffic

    def record(self, command: bytes, now: float | None = None) -> None:
        self.received.append((time.monotonic() if now is None else now, command))
        if len(self.received) > 10000:
            del self.received[:5000]

    def commands(self) -> list[bytes]:
        with self.lock:
            return [c for _, c in self.received]

    def clear_log(self) -> None:
        with self.lock:
            self.received.clear()
            self.events.clear()

    def reply(self, command: bytes, answer: bytes) -> bytes:
        """``answer`` as the current fault lets it through (``answer`` includes its line
        end; b"" means the device sends nothing for this command)."""
        fault = self.fault
        if fault == "none":
            return answer
        if fault == "silent":
            return b""
        if fault == "echo":
            return command
        if fault == "nak":
            return self.nak
        if not answer:
            return b""
        body = answer[:-len(self.eol)] if answer.endswith(self.eol) else answer
        if fault == "garbage":
            junk = bytes(self.rng.choice(b"0123456789.()# ABCXYZ\x7f\x1b") for _ in
                         range(max(3, len(body))))
            return junk + self.eol
        half = body[:max(1, len(body) // 2)]
        if fault == "partial":
            return half
        if fault == "short":
            return half + self.eol
        return answer

    def plugged_into(self, port) -> None:
        """Called when the device is (re)connected to ``port``."""

    def feed(self, data: bytes, now: float) -> bytes:
        raise NotImplementedError

    def tick(self, now: float) -> bytes:
        return b""

    # ---- control

    def set(self, name: str, value: str) -> str:
        raise KeyError(name)

    def show(self) -> dict:
        return {}

    def control(self, line: str) -> str:
        """Apply one control command; returns the answer text (errors start with ``ERR``)."""
        words = line.split()
        if not words:
            return ""
        cmd, args = words[0].lower(), words[1:]
        with self.lock:
            try:
                return self._control(cmd, args)
            except (KeyError, ValueError, IndexError) as e:
                return f"ERR {e}"

    def _control(self, cmd: str, args: list[str]) -> str:
        if cmd == "fault":
            name = args[0].lower() if args else "none"
            if name not in FAULTS:
                raise ValueError(f"unknown fault {name!r} (one of {', '.join(FAULTS)})")
            self.fault = name
            return f"OK fault {name}"
        if cmd == "unplug":
            self.plug_events.append(False)
            return "OK unplugged"
        if cmd == "replug":
            self.plug_events.append(True)
            return "OK replugged"
        if cmd == "set":
            if len(args) < 2:
                raise ValueError("usage: set <name> <value>")
            return self.set(args[0], " ".join(args[1:]))
        if cmd in ("show", "status"):
            state = self.show()
            state["fault"] = self.fault
            return "\n".join(f"{k}: {v}" for k, v in state.items())
        if cmd == "log":
            return "\n".join(f"{t:.3f} {c!r}" for t, c in self.received[-50:])
        if cmd == "events":
            return "\n".join(self.events)
        if cmd == "help":
            return self.help()
        return self.device_control(cmd, args)

    def device_control(self, cmd: str, args: list[str]) -> str:
        raise ValueError(f"unknown command {cmd!r} (try: help)")

    def help(self) -> str:
        return ("fault none|silent|garbage|partial|short|echo|nak; unplug; replug; "
                "set <name> <value>; show; log; events")


def on_off(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "on", "yes", "true", "enabled", "fail", "low"):
        return True
    if v in ("0", "off", "no", "false", "disabled", "ok", "normal"):
        return False
    raise ValueError(f"not a yes/no value: {value!r}")
