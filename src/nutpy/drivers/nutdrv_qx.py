"""nutdrv_qx: UPSes speaking a Q* protocol (Megatec Q1 and its relatives), on a serial port
or through a USB-to-serial bridge.

The protocols are in ``nutpy.drivers.qx``, the USB bridges ("subdrivers") in
``nutpy.drivers.qx.usb``; this module wires the port or the USB device to the engine and
the engine to the driver life cycle. As C's USB/serial build it talks USB when ``port`` is
``auto`` or a USB setting is given (subdriver, vendorid, productid, vendor, product, serial,
bus, busport, langid_fix), serial otherwise. Options, published variables and log lines
follow C NUT 2.8.5's nutdrv_qx. Deliberate differences are listed in docs/drivers-serial.md
and docs/drivers-usb.md (device loss over USB).
"""

from __future__ import annotations

import time

from ..common.log import log
from . import usbdev
from .base import FAILED, HANDLED, Driver
from .main import run

DEFAULT_POLLFREQ = 30
# what makes C's USB/serial build take the USB path besides port=auto ("device" does not)
USB_SETTINGS = ("subdriver", "vendorid", "productid", "vendor", "product", "serial", "bus",
                "langid_fix", "busport")
FIRST_RETRY = 0.5  # seconds: after losing the USB device, look for it again this soon


class NutdrvQx(Driver):
    name = "nutdrv_qx"
    description = "Generic Q* USB/Serial driver"
    version = "0.49"
    banner_extra = "USB communication driver (libusb 1.0) 0.53"

    def __init__(self, core) -> None:
        super().__init__(core)
        self.port = None
        self.transport = None
        self.engine = None
        self.usb = None            # qx.usb.transport.UsbConnection in USB mode
        self.reconnecting = False  # the USB device is back: a full poll must succeed first

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
        add("subdriver", "USB bridge of the UPS (see below; needs vendorid and productid)")
        usbdev.add_usb_settings(add)
        add("langid_fix", "Read the bridge's strings in this language (0x409 or 0x4095; "
                          "krauler, hunnox, snr)")
        add("noscanlangid", "With langid_fix: do not ask the device for its languages",
            is_flag=True)
        add("cablepower", "Modem lines powering the cable: normal, reverse, both, none")
        from .qx import subdrivers

        for sub in subdrivers():
            if sub.makevartable is not None:
                sub.makevartable(lambda name, desc, flag=False: add(name, desc, is_flag=flag))

    def help_text(self) -> str:
        from .qx import subdrivers
        from .qx.usb import QX_SUBDRIVERS

        names = []
        for sub in subdrivers():
            if sub.protocol.lower() not in names:
                names.append(sub.protocol.lower())
        usb_width = max(len(n) for n in QX_SUBDRIVERS)
        width = max(len(n) for n in names)
        return ("Acceptable values for USB 'subdriver' via -x or ups.conf in this driver:\n" +
                "\n".join(f"  {n:>{usb_width}}" for n in QX_SUBDRIVERS) + "\n\n" +
                "Acceptable values for 'protocol' via -x or ups.conf in this driver:\n" +
                "\n".join(f"  {n:>{width}}" for n in names))

    @property
    def is_usb(self) -> bool:
        return self.device_path.lower() == "auto" or any(
            self.getval(name) is not None for name in USB_SETTINGS)

    def preload(self) -> None:
        from .qx import core, subdrivers  # noqa: F401
        subdrivers()
        if self.is_usb:
            import usb.backend.libusb1  # noqa: F401  (before chroot: dlopen needs the library)
            import usb.core  # noqa: F401
            import usb.util  # noqa: F401

            from . import usbdev
            from .qx.usb import transport  # noqa: F401
            usbdev.backend()
        else:
            import serial  # noqa: F401  (pyserial, before chroot)

            from .qx import serial as qxserial  # noqa: F401

    # ---- hooks

    def _engine_log(self):
        from .serialport import DriverLog

        return DriverLog(log)

    def init_device(self) -> None:
        from .qx import subdrivers
        from .qx.core import FatalError, QxEngine

        if self.is_usb:
            self.transport = self._open_usb()
        else:
            self.transport = self._open_serial()
        log.debug(1, "upsdrv_initups: trying to match the handler for "
                     f"{'USB' if self.usb else 'Serial'} device")
        self.engine = QxEngine(self.state, self.transport, self.getval, self.testvar,
                               subdrivers(), log=self._engine_log(),
                               upsname=self.core.upsname or "",
                               debug_level=lambda: log.effective_debug, sleep=time.sleep)
        try:
            if not self.engine.match_subdriver():
                log.fatal("Device not supported!")
            self.engine.init_ups()
        except FatalError as e:
            log.fatal(str(e))

    def _open_serial(self):
        from .qx.serial import CABLEPOWER, SerialTransport
        from .serialport import SerialPort, open_port

        nolock = self.state.get("driver.flag.nolock") is not None
        self.port = SerialPort(self.device_path, 2400, lock=not nolock)
        open_port(self.port, log)
        cablepower = self.getval("cablepower")
        lines = CABLEPOWER.get((cablepower or "normal").lower())
        if lines is None:
            log.fatal(f"Value '{cablepower}' not valid for 'cablepower'")
        transport = SerialTransport(self.port, *lines, timeout=1.0, settle=1.1, log=log)
        transport.setup()
        return transport

    def _open_usb(self):
        from .qx.usb.transport import UsbConnection

        if self.device_path.lower() != "auto":
            log.warning(f"WARNING: port='{self.device_path}' would be ignored, since other "
                        "options indicate USB mode")
        self.usb = UsbConnection(self, log)
        return self.usb.open()

    def init_info(self) -> None:
        from .qx.core import FatalError

        try:
            self.engine.init_info(_now())
        except FatalError as e:
            log.fatal(str(e))

    def update_info(self) -> float | None:
        if self.usb is not None:
            return self._update_usb()
        engine = self.engine
        if self.transport.reopened:
            self.transport.reopened = False
            self._redetect()
        engine.update_info(_now())
        return None

    def _update_usb(self) -> float | None:
        """A poll over USB: a lost device makes the data stale at once; it is looked for
        on every poll, and once back its data count only after a full poll succeeded
        (the status of before forgotten)."""
        from .qx.core import MAXTRIES

        engine, state, transport = self.engine, self.state, self.transport
        if transport.link is None:
            state.setinfo("driver.state", "reconnect.trying")
            if not self.usb.reconnect():
                state.datastale()
                return None
            state.setinfo("driver.state", "reconnect.updateinfo")
            self.reconnecting = True
        if self.reconnecting:
            engine.data_has_changed = True  # a full walk, semi-static items included
        transport.lost = False
        engine.update_info(_now())
        if transport.lost:
            transport.lost = False
            log.debug(1, "Communications with the UPS lost: the USB device is gone")
            state.setinfo("driver.state", "reconnect.trying")
            state.datastale()
            engine.retry = MAXTRIES + 1  # stale until a poll succeeds, then "re-established"
            self.reconnecting = False
            return FIRST_RETRY
        if self.reconnecting and not engine.retry:
            self.reconnecting = False
            state.setinfo("driver.state", "quiet")
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
        if self.usb is not None and self.transport.link is None:
            log.notice(f"instcmd: FAILED command [{name}] "
                       f"[{param if param is not None else '(null)'}] "
                       "(the device is not connected)")
            return FAILED
        return self.engine.instcmd(name, param)

    def shutdown(self) -> int:
        result = self.engine.shutdown()
        return HANDLED if result == HANDLED else FAILED

    def cleanup(self) -> None:
        if self.usb is not None:
            self.usb.close()
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
