"""dummy-ups: serves a ``.dev``/``.seq`` file (``upsc``-style ``name: value`` lines) as a
UPS, or repeats a UPS of another upsd (``port = ups@host[:port]``).

The file is read with NUT's parseconf tokenizer, exactly as C dummy-ups reads it (see
docs/drivers.md for the rules and for where we deliberately differ).
"""

from __future__ import annotations

import os
import time

from ..common import paths
from ..common.cnum import atoi
from ..common.log import log
from ..common.parseconf import Line, parse_text
from .base import HANDLED, UNKNOWN, Driver
from .main import run
from .state import RW, STRING

# Values are cut to what C's 128-byte buffer holds.
MAX_FILE_VALUE = 127
# How often dummy-once looks at the file's mtime (C: once per poll interval + 1 s).
WATCH_INTERVAL = 0.25
# Flags and string lengths C dummy-ups gives the standard names it knows; other names
# become RW STRING of length 32.
_S = STRING | RW
KNOWN_VARS: dict[str, tuple[int, int]] = {
    "ups.mfr": (_S, 32), "ups.model": (_S, 32), "ups.status": (_S, 32),
    "ups.serial": (_S, 32), "ups.load": (RW, 0), "ups.alarm": (_S, 32),
    "ups.time": (_S, 16), "ups.date": (_S, 16), "ups.mfr.date": (_S, 16),
    "ups.firmware": (_S, 16), "ups.firmware.aux": (_S, 16), "ups.temperature": (RW, 0),
    "ups.id": (_S, 16), "ups.delay.start": (RW, 0), "ups.delay.reboot": (RW, 0),
    "ups.delay.shutdown": (RW, 0), "ups.test.interval": (RW, 0), "ups.test.result": (_S, 16),
    "input.voltage": (RW, 0), "input.voltage.maximum": (RW, 0),
    "input.voltage.minimum": (RW, 0), "input.voltage.nominal": (RW, 0),
    "input.transfer.reason": (_S, 1), "input.transfer.low": (RW, 0),
    "input.transfer.high": (RW, 0), "input.sensitivity": (_S, 1), "input.quality": (_S, 6),
    "input.frequency": (RW, 0), "input.transfer.boost.low": (RW, 0),
    "input.transfer.boost.high": (RW, 0), "input.transfer.trim.low": (RW, 0),
    "input.transfer.trim.high": (RW, 0), "output.voltage": (RW, 0),
    "output.frequency": (RW, 0), "output.current": (RW, 0), "battery.charge": (RW, 0),
    "battery.charge.low": (RW, 0), "battery.voltage": (RW, 0), "battery.current": (RW, 0),
    "battery.runtime": (RW, 0), "battery.runtime.low": (RW, 0),
    "battery.charge.restart": (RW, 0), "battery.temperature": (RW, 0),
    "battery.voltage.nominal": (RW, 0), "ambient.temperature": (RW, 0),
    "ambient.temperature.alarm": (RW, 0), "ambient.temperature.high": (RW, 0),
    "ambient.temperature.low": (RW, 0), "ambient.humidity": (RW, 0),
    "ambient.humidity.alarm": (RW, 0), "ambient.humidity.high": (RW, 0),
    "ambient.humidity.low": (RW, 0),
}
INITIAL_VALUES = (("ups.mfr", "Dummy Manufacturer"), ("ups.model", "Dummy UPS"),
                  ("ups.status", "OL"))
UNKNOWN_VAR_LEN = 32


class DefinitionError(Exception):
    def __init__(self, path: str, lineno: int, message: str) -> None:
        super().__init__(f"{path}:{lineno}: {message}")
        self.path, self.lineno, self.message = path, lineno, message


class DefinitionFile:
    """Replays a definition file into a DriverState, pausing at ``TIMER`` lines.
    ``step()`` runs until the next TIMER or the end of the file."""

    def __init__(self, path: str, apply_var, status, alarm) -> None:
        self.path = path
        self.apply_var = apply_var  # (name, value) -> None
        self.status = status
        self.alarm = alarm
        self._lines: list[Line] | None = None
        self._pos = 0
        self.resume_at: float | None = None  # monotonic time a TIMER pause ends

    @property
    def in_pass(self) -> bool:
        return self._lines is not None

    def load(self) -> list[Line]:
        with open(self.path, "rb") as f:
            data = f.read()
        return list(parse_text(data))

    def check(self) -> None:
        """Raise DefinitionError for the first line C would skip as a parse error."""
        for line in self.load():
            if line.error:
                raise DefinitionError(self.path, line.lineno, line.error)

    def step(self, now: float) -> None:
        if self.resume_at is not None and now < self.resume_at:
            return
        self.resume_at = None
        if self._lines is None:
            self._lines = self.load()
            self._pos = 0
            self.alarm.init()
            self._status_seen = False
            self._alarm_lines = False
        alarm_was = self.alarm.active
        while self._pos < len(self._lines):
            line = self._lines[self._pos]
            self._pos += 1
            if line.error:
                log.debug(2, f"Parse error: {self.path}:{line.lineno}: {line.error}")
                continue
            words = line.words
            if not words:
                continue
            head = words[0]
            if head.startswith("TIMER"):
                delay = atoi(words[1]) if len(words) > 1 else 0
                log.debug(1, f"suspending execution for {delay} seconds...")
                self.resume_at = now + delay
                break
            if head.startswith("ALARM"):
                self._alarm_lines = True
                text = " ".join(words[1:])[:MAX_FILE_VALUE]
                if text:
                    self.alarm.set(text)
                else:
                    self.alarm.init()
                continue
            name = head.split(":", 1)[0]
            if name.startswith("driver."):
                continue
            if name.startswith("ups.status"):
                self.status.replace(words[1:])
                self._status_seen = True
                continue
            self.apply_var(name, " ".join(words[1:])[:MAX_FILE_VALUE])
        # A file without ALARM lines leaves ups.alarm to its own "ups.alarm:" lines.
        if self._alarm_lines or alarm_was:
            self.alarm.commit()
        if self.alarm.active != alarm_was or (self.alarm.active and self._status_seen):
            self.status.commit()
        if self.resume_at is None:
            self._lines = None  # end of file: the next pass starts from the top


class DummyUps(Driver):
    name = "dummy-ups"
    description = "Device simulation and repeater driver"
    version = "0.15"
    set_var_is_quick = True  # SET only edits the data tree (the repeater's is a coroutine)

    def __init__(self, core) -> None:
        super().__init__(core)
        self.mode = ""
        self.file: DefinitionFile | None = None
        self._mtime: int | None = None

    def make_vartable(self) -> None:
        self.core.addvar("mode", "Force a mode instead of deducing it from port: "
                                 "dummy-loop (or dummy), dummy-once, repeater")
        self.core.addvar("authconf", "Repeater: where credentials and TLS settings come "
                                     "from: default, none, or a nutauth.conf path")
        self.core.addvar("repeater_disable_strict_start",
                         "Repeater: keep running (data stale) while the remote upsd "
                         "cannot be reached at start-up", is_flag=True)

    def uses_tls(self) -> bool:  # the repeater tries STARTTLS
        mode = self.getval("mode")
        return mode == "repeater" or (mode is None and "@" in self.device_path)

    def preload(self) -> None:
        if self.uses_tls():
            from ..security import tls  # noqa: F401  (imported by the client at STARTTLS)
            from . import repeater  # noqa: F401

    # ---- set-up

    def _file_path(self) -> str:
        port = self.device_path
        if port.startswith("/") or port.startswith("."):
            return port
        return os.path.join(paths.confpath(), port)

    def init_device(self) -> None:
        mode = self.getval("mode")
        port = self.device_path
        if mode is not None and mode not in ("dummy-loop", "dummy-once", "dummy", "repeater"):
            log.fatal(f"Unsupported mode was specified: {mode}")
        if mode == "repeater" or (mode is None and "@" in port):
            self.mode = "repeater"
        elif mode is not None:
            self.mode = mode
        elif port.endswith(".seq"):
            self.mode = "dummy-loop"
        elif port.endswith(".dev"):
            self.mode = "dummy-once"
        else:
            self.mode = "dummy"
        self.state.setinfo("driver.parameter.mode", self.mode)
        if self.mode == "repeater":
            from .repeater import Repeater  # only repeaters pay for asyncio streams/client
            repeater = Repeater(self, port, self.getval("authconf"),
                                not self.testvar("repeater_disable_strict_start"))
            # The repeater's hooks are coroutines: the core runs them on the event loop.
            self.init_info = repeater.init_info
            self.update_info = repeater.update_info
            self.set_var = repeater.set_var
            self.instcmd = repeater.instcmd
            self.cleanup = repeater.cleanup
        else:
            path = self._file_path()
            self.file = DefinitionFile(path, self.set_local, self.state.status,
                                       self.state.alarm)
            try:
                self.file.check()
            except OSError as e:
                log.fatal(f"Can't open dummy-ups definition file {path}: {e.strerror}")
            except DefinitionError as e:
                log.fatal(f"Parse error: {e}")

    def init_info(self) -> None:
        for name, value in INITIAL_VALUES:
            self._publish(name, value)
        self._mtime = self._stat_mtime()
        self.file.step(time.monotonic())
        self.state.dataok()
        self.state.addcmd("load.off")

    # ---- polling

    def update_info(self) -> float | None:
        now = time.monotonic()
        if self.mode == "dummy-once":
            if not self.file.in_pass:
                mtime = self._stat_mtime()
                if mtime is None or mtime == self._mtime:
                    self.state.dataok()
                    return WATCH_INTERVAL
                log.debug(2, "input file was already read once to the end, but changed later - re-reading")
                self._mtime = mtime
            self._step(now)
            return self._hint(now, WATCH_INTERVAL)
        self._step(now)
        return self._hint(now, None)

    def _step(self, now: float) -> None:
        try:
            self.file.step(now)
        except OSError as e:
            log.error(f"Can't open dummy-ups definition file {self.file.path}: {e.strerror}")
            self.state.datastale()
            return
        self.state.dataok()

    def _hint(self, now: float, idle: float | None) -> float | None:
        if self.file.resume_at is not None:
            return max(0.0, self.file.resume_at - now)
        return idle

    def _stat_mtime(self) -> int | None:
        try:
            return os.stat(self.file.path).st_mtime_ns
        except OSError:
            return None

    # ---- variables

    def _publish(self, name: str, value: str) -> None:
        state = self.state
        state.setinfo(name, value)
        flags, length = KNOWN_VARS.get(name.lower(), (STRING | RW, UNKNOWN_VAR_LEN))
        state.setflags(name, flags)
        if flags & STRING:
            state.setaux(name, length)

    def set_var(self, name: str, value: str) -> int:
        return self.set_local(name, value)

    def set_local(self, name: str, value: str) -> int:
        """C dummy-ups setvar: the value goes into the local data tree only."""
        if name.startswith("ups.status"):
            self.state.status.replace([value])
            return HANDLED
        if value == "":
            self.state.delinfo(name)
        else:
            self._publish(name, value)
        return HANDLED

    def instcmd(self, name: str, param: str | None) -> int:
        return self.instcmd_local(name, param)

    def instcmd_local(self, name: str, param: str | None) -> int:
        log.notice(f"instcmd: unknown command [{name}] [{param}]")
        return UNKNOWN


def main() -> int:
    return run(DummyUps)


if __name__ == "__main__":
    raise SystemExit(main())
