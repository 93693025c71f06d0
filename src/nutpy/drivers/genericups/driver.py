"""genericups: contact-closure UPSes whose state is read from the serial port's modem
lines (C ``genericups.c`` 1.42). The cable table and signal logic are in ``cables``."""

from __future__ import annotations

import time

from ...common.cnum import atoi
from ...common.log import log
from ..base import FAILED, HANDLED, Driver
from ..main import run


class GenericUps(Driver):
    name = "genericups"
    description = "Generic contact-closure UPS driver"
    version = "1.42"

    def __init__(self, core) -> None:
        super().__init__(core)
        self.port = None
        self.cable = None
        self.comm = None

    def make_vartable(self) -> None:
        add = self.core.addvar
        add("upstype", "Cable/UPS type number (required; see -h)")
        add("mfr", "Manufacturer to publish")
        add("model", "Model to publish")
        add("serial", "Serial number to publish")
        add("CP", "Output lines that power the cable (DTR, RTS)")
        add("OL", "Input line meaning on line (CTS, DCD, RNG, DSR; -X: low)")
        add("LB", "Input line meaning low battery")
        add("RB", "Input line meaning replace battery")
        add("BYPASS", "Input line meaning bypass")
        add("SD", "Output lines (or ST: a break) that shut the UPS down")
        add("sdtime", "Seconds to hold the shutdown lines before exiting")

    def help_text(self) -> str:
        from .cables import UPS_TYPES

        return "Valid UPS types:\n\n" + "\n".join(f"{i}: {c.desc}" for i, c in enumerate(UPS_TYPES))

    def preload(self) -> None:
        import serial  # noqa: F401

        from . import cables  # noqa: F401

    def init_device(self) -> None:
        from ..serialport import CommFailures, DriverLog, SerialPort, open_port
        from .cables import UPS_TYPES, SignalError, with_overrides

        self.comm = CommFailures(DriverLog(log))
        value = self.getval("upstype")
        if value is None:
            log.fatal("No upstype set - see help text / man page!")
        upstype = atoi(value)
        if not 0 <= upstype < len(UPS_TYPES):
            print(self.help_text())
            log.fatal("\nFatal error: unknown UPS type number")
        self.cable = UPS_TYPES[upstype]
        log.info(f"UPS type: {self.cable.desc}\n")
        nolock = self.state.get("driver.flag.nolock") is not None
        self.port = SerialPort(self.device_path, 2400, lock=not nolock)
        open_port(self.port, log)
        try:
            self.port.clear_hupcl()
        except OSError as e:
            log.fatal(f"tcsetattr: {e.strerror}")
        overrides = {k: self.getval(k) for k in ("CP", "SD") if self.getval(k) is not None}
        try:
            self.cable = with_overrides(self.cable, overrides, log.notice)
        except SignalError as e:
            log.fatal(str(e))
        try:
            self.port.set_modem_lines(self.cable.line_norm)
        except OSError as e:
            log.fatal(f"ioctl TIOCMSET: {e.strerror}")

    def init_info(self) -> None:
        from .cables import SignalError, with_overrides

        state = self.state
        state.setinfo("ups.mfr", self.getval("mfr") or self.cable.mfr)
        state.setinfo("ups.model", self.getval("model") or self.cable.model)
        if self.getval("serial") is not None:
            state.setinfo("ups.serial", self.getval("serial"))
        overrides = {k: self.getval(k) for k in ("OL", "LB", "RB", "BYPASS")
                     if self.getval(k) is not None}
        try:
            self.cable = with_overrides(self.cable, overrides, log.notice)
        except SignalError as e:
            log.fatal(str(e))

    def update_info(self) -> float | None:
        from ..serialport import is_gone
        from .cables import status_tokens

        state = self.state
        try:
            if not self.port.is_open:
                self._reopen()
            flags = self.port.modem_lines()
        except OSError as e:
            log.info(f"ioctl failed: {e.strerror}")
            if is_gone(e):
                self.port.close()
            self.comm.fail("Status read failed")
            state.datastale()
            return None
        state.status.replace(status_tokens(flags, self.cable))
        self.comm.good()
        state.dataok()
        return None

    def _reopen(self) -> None:
        """The device went away (EIO) and may be back: open it and power the cable again
        (C keeps the dead descriptor)."""
        from ..serialport import PortOpenError

        try:
            self.port.open()
        except PortOpenError as e:
            raise OSError(e.errno, e.strerror) from None
        self.port.clear_hupcl()
        self.port.set_modem_lines(self.cable.line_norm)

    def shutdown(self) -> int:
        from .cables import NO_SHUTDOWN, ST

        line_sd = self.cable.line_sd
        if line_sd == NO_SHUTDOWN:
            log.error("No shutdown command defined for this model!")
            return FAILED
        if line_sd == ST:
            try:
                self.port.send_break(4901)
            except OSError as e:
                log.error(f"tcsendbreak: {e.strerror}")
                return FAILED
            return HANDLED
        try:
            self.port.set_modem_lines(line_sd)
        except OSError as e:
            log.error(f"ioctl TIOCMSET: {e.strerror}")
            return FAILED
        value = self.getval("sdtime")
        if value is not None:
            from ..qx.cstr import atol

            sdtime = atol(value)
            log.info(f"Holding shutdown signal for {sdtime} seconds...\n")
            if sdtime > 0:
                time.sleep(sdtime)
        return HANDLED

    def cleanup(self) -> None:
        if self.port is not None:
            self.port.close()


def main() -> int:
    return run(GenericUps)


if __name__ == "__main__":
    raise SystemExit(main())
