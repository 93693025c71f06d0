"""apcsmart: APC Smart-UPS units (and compatibles) on a serial port, as C NUT's apcsmart
3.39 drives them. The protocol is in ``nutpy.drivers.apcsmart.protocol``; this module
sets the line up (2400 baud, canonical input with CR ignored and ``*`` as a second line
end, or ``ttymode=raw``; DTR on/RTS off for the 940-0095B cable) and plugs the protocol
into the driver life cycle."""

from __future__ import annotations

import time

from ...common.log import log
from ..base import Driver
from ..main import run

ALT_CABLE_1 = "940-0095B"


class Link:
    """What the protocol reads and writes through; a port that went away is closed and
    reads/writes report nothing (as C's calls on an invalid descriptor)."""

    def __init__(self, port) -> None:
        self.port = port
        self.gone = False

    def _guard(self, fn, *args):
        from ..serialport import is_gone

        try:
            return fn(*args)
        except OSError as e:
            if is_gone(e):
                self.gone = True
                self.port.close()
            raise

    def read(self, size: int, timeout: float) -> bytes:
        if not self.port.is_open:
            return b""
        return self._guard(self.port.read, size, timeout)

    def write(self, data: bytes, pace: float = 0.0) -> int:
        if not self.port.is_open:
            return 0
        return self._guard(self.port.write, data, pace)

    def flush_input(self) -> None:
        if self.port.is_open:
            self._guard(self.port.flush_input)

    # C also drops the unsent output here (TCOFLUSH/TCIOFLUSH), which can cut off the
    # end of the previous command (the second byte of a repeated one) when the next poll
    # follows at once; we only ever drop what came in.
    def flush_output(self) -> None:
        pass

    def flush_io(self) -> None:
        self.flush_input()


class ApcSmartDriver(Driver):
    name = "apcsmart"
    description = "APC Smart protocol driver"
    version = "3.39"

    def __init__(self, core) -> None:
        super().__init__(core)
        self.port = None
        self.link = None
        self.apc = None

    def make_vartable(self) -> None:
        add = self.core.addvar
        add("ttymode", "Line discipline: canonical (default) or raw")
        add("cable", "Cable: 940-0095B (DTR raised, RTS low)")
        add("awd", "Extra wake-up delay of the @ shutdown, in 6-minute units")
        add("sdtype", "Shutdown method 0-5 (S/@ by power state, S+@, Z, K, CS, @)")
        add("advorder", "Shutdown methods to try in turn, digits 0-4, or no")
        add("cshdelay", "Seconds between U and S of the CS shutdown")

    def preload(self) -> None:
        import serial  # noqa: F401

        from . import protocol, tables  # noqa: F401

    def _open(self) -> None:
        """``ser_open`` + ``apc_ser_set``."""
        from ..serialport import SerialPort, open_port

        nolock = self.state.get("driver.flag.nolock") is not None
        self.port = SerialPort(self.device_path, 2400, lock=not nolock)
        cable = self.getval("cable")
        alt = cable is not None and cable.lower() == ALT_CABLE_1.lower()
        open_port(self.port, log)
        if alt:
            if not self.port.set_dtr(True):
                log.fatal(f"apc_ser_set: ser_set_dtr({self.device_path}) failed")
            if not self.port.set_rts(False):
                log.fatal(f"apc_ser_set: ser_set_rts({self.device_path}) failed")
        if self.getval("ttymode") == "raw":
            return
        try:
            self.port.set_canonical(b"*", igncr=True, no_signals=True,
                                    disable=("VERASE", "VKILL", "VEOF", "VEOL2"), flush=True)
        except OSError as e:
            log.fatal(f"apc_ser_set: tcsetattr({self.device_path}): {e.strerror}")
        self.link = None

    def init_device(self) -> None:
        from ..serialport import DriverLog
        from .protocol import ApcSmart, Fatal

        checker = ApcSmart(self.state, None, self.getval, self.testvar, DriverLog(log))
        try:
            checker.check_options()
        except Fatal as e:
            log.fatal(str(e))
        self._open()
        self.link = Link(self.port)
        self.apc = ApcSmart(self.state, self.link, self.getval, self.testvar, DriverLog(log),
                            device_path=self.device_path, upsname=self.core.upsname or "",
                            reconnect=self._reconnect)

    def init_info(self) -> None:
        from .protocol import Fatal

        try:
            self.apc.init_info()
        except Fatal as e:
            log.fatal(str(e))

    def _reconnect(self) -> None:
        """C: upsdrv_cleanup, 5 s, upsdrv_initups, upsdrv_initinfo (exiting if the UPS
        does not answer). Here a UPS still silent leaves the data stale for the next try."""
        from .protocol import Fatal

        log.debug(1, "upsdrv_updateinfo: call upsdrv_cleanup")
        self.cleanup()
        log.debug(1, "upsdrv_updateinfo: sleep 5 sec")
        time.sleep(5)
        log.debug(1, "upsdrv_updateinfo: call upsdrv_initups")
        try:
            self._reopen()
            log.debug(1, "upsdrv_updateinfo: call upsdrv_initinfo")
            self.apc.init_info()
        except (Fatal, OSError, SystemExit) as e:
            log.error(f"reconnect failed: {e}")

    def _reopen(self) -> None:
        from ..serialport import PortOpenError

        try:
            self.port.open()
        except PortOpenError as e:
            raise OSError(e.errno, e.strerror) from None
        self.link.gone = False
        if self.getval("ttymode") != "raw":
            self.port.set_canonical(b"*", igncr=True, no_signals=True,
                                    disable=("VERASE", "VKILL", "VEOF", "VEOL2"), flush=True)

    def update_info(self) -> float | None:
        from .protocol import Fatal

        if self.link.gone and self.state.stale:
            # The device went away (EIO) and may be back: reopen and examine it again at
            # once, rather than after C's 60 nudges
            try:
                self._reopen()
            except OSError:
                pass
            else:
                try:
                    self.apc.init_info()
                    self.apc.last_worked = 0
                    log.info(f"{self.device_path}: the UPS is back")
                except (Fatal, OSError) as e:
                    log.debug(1, f"{self.device_path} reopened, no UPS yet: {e}")
        self.apc.poll_device()
        return None

    def set_var(self, name: str, value: str) -> int:
        return self.apc.setvar(name, value)

    def instcmd(self, name: str, param: str | None) -> int:
        return self.apc.instcmd(name, param)

    def shutdown(self) -> int:
        return self.apc.shutdown()

    def cleanup(self) -> None:
        if self.port is None or not self.port.is_open:
            return
        try:
            self.apc.cleanup()
        except OSError:
            pass
        self.port.close()


def main() -> int:
    return run(ApcSmartDriver)


if __name__ == "__main__":
    raise SystemExit(main())
