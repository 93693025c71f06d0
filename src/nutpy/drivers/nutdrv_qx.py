"""nutdrv_qx: UPSes speaking a Q* protocol (Megatec Q1 and its relatives) on a serial port.

The protocols are in ``nutpy.drivers.qx``; this module wires the serial port to the
engine and the engine to the driver life cycle. Options, published variables and log
lines follow C NUT 2.8.5's nutdrv_qx (serial build). Deliberate differences are listed in
docs/drivers-serial.md.
"""

from __future__ import annotations

import time

from ..common.log import log
from .base import FAILED, HANDLED, Driver
from .main import run

DEFAULT_POLLFREQ = 30


class NutdrvQx(Driver):
    name = "nutdrv_qx"
    description = "Generic Q* Serial driver"
    version = "0.49"

    def __init__(self, core) -> None:
        super().__init__(core)
        self.port = None
        self.transport = None
        self.engine = None

    def make_vartable(self) -> None:
        add = self.core.addvar
        add("offdelay", "Seconds before the UPS cuts the load (default=30)")
        add("ondelay", "Seconds before the UPS powers the load again (default=180)")
        add("stayoff", "Keep the output off after a shutdown (no return with the mains)",
            is_flag=True)
        add("pollfreq", "Seconds between full polls; quick status polls in between "
                        f"(default={DEFAULT_POLLFREQ})")
        add("protocol", "Protocol to use, without autodetection")
        add("runtimecal", "Runtime calibration: runtime,load,runtime,load (s, %)")
        add("chargetime", "Seconds to charge the battery from empty")
        add("idleload", "Smallest load (%) the runtime estimate assumes")
        add("battery_voltage_reports_one_pack",
            "The device reports the voltage of one battery pack: multiply it by "
            "battery.packs (see override.battery.packs)", is_flag=True)
        add("cablepower", "Modem lines powering the cable: normal, reverse, both, none")
        from .qx import subdrivers

        for sub in subdrivers():
            if sub.makevartable is not None:
                sub.makevartable(lambda name, desc, flag=False: add(name, desc, is_flag=flag))

    def help_text(self) -> str:
        from .qx import subdrivers

        names = []
        for sub in subdrivers():
            if sub.protocol.lower() not in names:
                names.append(sub.protocol.lower())
        width = max(len(n) for n in names)
        return ("Acceptable values for 'protocol' via -x or ups.conf in this driver:\n" +
                "\n".join(f"  {n:>{width}}" for n in names))

    def preload(self) -> None:
        import serial  # noqa: F401  (pyserial, before chroot)

        from .qx import core, serial as qxserial, subdrivers  # noqa: F401
        subdrivers()

    # ---- hooks

    def _engine_log(self):
        from .serialport import DriverLog

        return DriverLog(log)

    def init_device(self) -> None:
        from .qx import subdrivers
        from .qx.core import QxEngine
        from .qx.serial import CABLEPOWER, SerialTransport
        from .serialport import SerialPort, open_port

        nolock = self.state.get("driver.flag.nolock") is not None
        self.port = SerialPort(self.device_path, 2400, lock=not nolock)
        open_port(self.port, log)
        cablepower = self.getval("cablepower")
        lines = CABLEPOWER.get((cablepower or "normal").lower())
        if lines is None:
            log.fatal(f"Value '{cablepower}' not valid for 'cablepower'")
        self.transport = SerialTransport(self.port, *lines, timeout=1.0, settle=1.1,
                                         log=log)
        self.transport.setup()
        self.engine = QxEngine(self.state, self.transport, self.getval, self.testvar,
                               subdrivers(), log=self._engine_log(),
                               upsname=self.core.upsname or "",
                               debug_level=lambda: log.effective_debug, sleep=time.sleep)
        if not self.engine.match_subdriver():
            log.fatal("Device not supported!")
        self.engine.init_ups()

    def init_info(self) -> None:
        from .qx.core import FatalError

        try:
            self.engine.init_info(_now())
        except FatalError as e:
            log.fatal(str(e))

    def update_info(self) -> float | None:
        engine = self.engine
        if self.transport.reopened:
            self.transport.reopened = False
            self._redetect()
        engine.update_info(_now())
        return None

    def _redetect(self) -> None:
        """The port came back: make sure the same kind of UPS answers before polling."""
        state = self.state
        state.setinfo("driver.state", "reconnect.updateinfo")
        sub = self.engine.sub
        ok = False
        for _ in range(3):
            if sub.claim(self.engine):
                ok = True
                break
        if ok:
            log.info(f"Using protocol: {sub.name}")
        else:
            log.warning(f"Device on {self.device_path} does not answer as {sub.name} "
                        "any more; will try again")
            self.port.close()
        state.setinfo("driver.state", "quiet")

    def set_var(self, name: str, value: str) -> int:
        return self.engine.setvar(name, value)

    def instcmd(self, name: str, param: str | None) -> int:
        return self.engine.instcmd(name, param)

    def shutdown(self) -> int:
        result = self.engine.shutdown()
        return HANDLED if result == HANDLED else FAILED

    def cleanup(self) -> None:
        if self.port is not None and self.port.is_open:
            self.port.set_dtr(False)
            self.port.close()


def _now() -> int:
    # C reads time(); a monotonic clock keeps the runtime estimate right across clock changes
    return int(time.monotonic())


def main() -> int:
    return run(NutdrvQx)


if __name__ == "__main__":
    raise SystemExit(main())
