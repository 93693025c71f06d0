"""blazer_ser: the older Megatec/Q1 serial driver (C ``blazer_ser.c`` + ``blazer.c``),
kept for the setups that name it; nutdrv_qx is its successor. The protocol handling is in
``nutpy.drivers.qx.blazer``."""

from __future__ import annotations

import time

from ..common.log import log
from .base import Driver
from .main import run


class BlazerSer(Driver):
    name = "blazer_ser"
    description = "Megatec/Q1 protocol serial driver"
    version = "1.65"

    def __init__(self, core) -> None:
        super().__init__(core)
        self.port = None
        self.transport = None
        self.blazer = None

    def make_vartable(self) -> None:
        add = self.core.addvar
        add("cablepower", "Modem lines powering the cable: normal, reverse, both, none")
        add("ondelay", "Minutes before the UPS powers the load again")
        add("offdelay", "Seconds before the UPS cuts the load")
        add("runtimecal", "Runtime calibration: runtime,load,runtime,load (s, %)")
        add("chargetime", "Seconds to charge the battery from empty")
        add("idleload", "Smallest load (%) the runtime estimate assumes")
        add("norating", "Do not ask the UPS for its ratings", is_flag=True)
        add("novendor", "Do not ask the UPS for vendor data", is_flag=True)
        add("protocol", "Protocol to use, without autodetection")

    def preload(self) -> None:
        import serial  # noqa: F401

        from .qx import blazer  # noqa: F401

    def init_device(self) -> None:
        from .qx.blazer import Blazer
        from .qx.core import FatalError
        from .qx.serial import CABLEPOWER, SerialTransport
        from .serialport import DriverLog, SerialPort, open_port

        nolock = self.state.get("driver.flag.nolock") is not None
        self.port = SerialPort(self.device_path, 2400, lock=not nolock)
        open_port(self.port, log)
        cablepower = self.getval("cablepower")
        lines = CABLEPOWER.get((cablepower or "normal").lower())
        if lines is None:
            log.fatal(f"Value '{cablepower}' not valid for 'cablepower'")
        self.transport = SerialTransport(self.port, *lines, timeout=1.0, settle=0.1, log=log)
        self.transport.setup()
        self.blazer = Blazer(self.state, self.transport, self.getval, self.testvar,
                             DriverLog(log), self.core.upsname or "")
        try:
            self.blazer.init_ups()
        except FatalError as e:
            log.fatal(str(e))

    def init_info(self) -> None:
        from .qx.core import FatalError

        try:
            self.blazer.init_info(int(time.monotonic()))
        except FatalError as e:
            log.fatal(str(e))

    def update_info(self) -> float | None:
        self.transport.reopened = False  # the status reply itself tells whether it is a Q1 UPS
        self.blazer.update_info(int(time.monotonic()))
        return None

    def instcmd(self, name: str, param: str | None) -> int:
        return self.blazer.instcmd(name, param)

    def shutdown(self) -> int:
        return self.blazer.shutdown()

    def cleanup(self) -> None:
        if self.port is not None and self.port.is_open:
            self.port.set_dtr(False)
            self.port.close()


def main() -> int:
    return run(BlazerSer)


if __name__ == "__main__":
    raise SystemExit(main())
