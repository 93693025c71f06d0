"""blazer_usb: the older Megatec/Q1 USB driver (C ``blazer_usb.c`` + ``blazer.c``), kept for
the setups that name it; nutdrv_qx is its successor. The protocol handling is
``nutpy.drivers.qx.blazer`` (shared with blazer_ser), the USB bridges are
``nutpy.drivers.qx.usb`` in their blazer_usb variants (cypress, phoenix, ippon, krauler).

Device loss goes as in nutdrv_qx (docs/drivers-usb.md): stale at once, the same device
looked for on every poll, data served again after a successful status poll."""

from __future__ import annotations

import time

from ..common.log import log
from . import usbdev
from .base import FAILED, Driver
from .main import run
from .nutdrv_qx import FIRST_RETRY


class BlazerUsb(Driver):
    name = "blazer_usb"
    description = "Megatec/Q1 protocol USB driver"
    version = "0.24"

    def __init__(self, core) -> None:
        super().__init__(core)
        self.usb = None
        self.transport = None
        self.blazer = None

    def make_vartable(self) -> None:
        add = self.core.addvar
        add("subdriver", "USB bridge of the UPS (see below; needs vendorid and productid)")
        usbdev.add_usb_settings(add)
        add("langid_fix", "Read the bridge's strings in this language (0x409 or 0x4095; "
                          "krauler)")
        add("ondelay", "Minutes before the UPS powers the load again")
        add("offdelay", "Seconds before the UPS cuts the load")
        add("runtimecal", "Runtime calibration: runtime,load,runtime,load (s, %)")
        add("chargetime", "Seconds to charge the battery from empty")
        add("idleload", "Smallest load (%) the runtime estimate assumes")
        add("norating", "Do not ask the UPS for its ratings", is_flag=True)
        add("novendor", "Do not ask the UPS for vendor data", is_flag=True)
        add("protocol", "Protocol to use, without autodetection")

    def help_text(self) -> str:
        from .qx.usb import BLAZER_SUBDRIVERS

        width = max(len(n) for n in BLAZER_SUBDRIVERS)
        return ("Acceptable values for 'subdriver' via -x or ups.conf in this driver:\n" +
                "\n".join(f"  {n:>{width}}" for n in BLAZER_SUBDRIVERS) + "\n")

    def preload(self) -> None:
        import usb.backend.libusb1  # noqa: F401  (before chroot: dlopen needs the library)
        import usb.core  # noqa: F401
        import usb.util  # noqa: F401

        from . import usbdev
        from .qx import blazer  # noqa: F401
        from .qx.usb import transport  # noqa: F401
        usbdev.backend()

    def init_device(self) -> None:
        from .qx.blazer import Blazer
        from .qx.core import FatalError
        from .qx.usb.transport import UsbConnection
        from .serialport import DriverLog

        self.usb = UsbConnection(self, log, blazer=True)
        self.transport = self.usb.open()
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
        from .qx.core import MAXTRIES

        state, transport = self.state, self.transport
        if transport.link is None:
            state.setinfo("driver.state", "reconnect.trying")
            if not self.usb.reconnect():
                state.datastale()
                return None
            state.setinfo("driver.state", "reconnect.updateinfo")
        transport.lost = False
        self.blazer.update_info(int(time.monotonic()))
        if transport.lost:
            transport.lost = False
            log.debug(1, "Communications with UPS lost: the USB device is gone")
            state.setinfo("driver.state", "reconnect.trying")
            state.datastale()
            self.blazer.retry = MAXTRIES + 1  # stale until a poll succeeds
            return FIRST_RETRY
        if not self.blazer.retry:
            state.setinfo("driver.state", "quiet")
        return None

    def instcmd(self, name: str, param: str | None) -> int:
        if self.transport.link is None:
            log.notice(f"instcmd: FAILED command [{name}] "
                       f"[{param if param is not None else '(null)'}] "
                       "(the device is not connected)")
            return FAILED
        subdriver = self.transport.subdriver
        aliased = hasattr(subdriver, "reply_in_command_buffer")
        if aliased:
            subdriver.reply_in_command_buffer = True  # as C's blazer_instcmd calls it
        try:
            return self.blazer.instcmd(name, param)
        finally:
            if aliased:
                subdriver.reply_in_command_buffer = False

    def shutdown(self) -> int:
        return self.blazer.shutdown()

    def cleanup(self) -> None:
        if self.usb is not None:
            self.usb.close()


def main() -> int:
    return run(BlazerUsb)


if __name__ == "__main__":
    raise SystemExit(main())
