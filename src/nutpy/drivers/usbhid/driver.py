"""usbhid-ups: the driver for UPSes of the USB HID Power Device Class (C's usbhid-ups.c).

Device loss is where this driver departs from C on purpose (docs/drivers-usb.md): the data
goes stale as soon as a USB error says the device is gone, the driver looks for the same
device again (same IDs and strings; at the same place on the bus first) on every poll
however often it comes and goes, and data is served again only once a complete read of
the device after the replug has succeeded, its status rebuilt from that read alone.
"""

from __future__ import annotations

import dataclasses
import time

from ...common.log import log
from ...proto.sockproto import FAILED, HANDLED, UNKNOWN
from .. import usbdev
from ..base import Driver
from ..main import run
from . import hidparser as hp
from .engine import HidEngine, Outcome, Walk
from .mapping import ABSENT
from .status import StatusOptions

DEFAULT_POLLFREQ, DEFAULT_POLLFREQ_CPS = 30, 12
DEFAULT_LOWBATT, DEFAULT_ONDELAY, DEFAULT_OFFDELAY = "30", "30", "20"
DEFAULT_ONDELAY_CPS, DEFAULT_OFFDELAY_CPS = "120", "60"
SHUTDOWN_SEQUENCE = ["shutdown.return", "shutdown.reboot", "load.off.delay", "shutdown.stayoff"]
FIRST_RETRY = 0.5  # seconds: the first reconnection attempt comes quickly, later ones per poll


def _atoi(text: str | None) -> int:
    text = (text or "").strip()
    i = 1 if text[:1] in "+-" else 0
    j = i
    while j < len(text) and text[j].isdigit():
        j += 1
    return int(text[:j]) if j > i else 0


def _strict_int(text: str | None) -> int | None:
    try:
        return int((text or "").strip(), 10)
    except ValueError:
        return None


class UsbhidUps(Driver):
    name = "usbhid-ups"
    description = "Generic HID driver"
    version = "0.71"
    banner_extra = "USB communication driver (libusb 1.0) 0.53"

    def __init__(self, core) -> None:
        super().__init__(core)
        self.engine = HidEngine(self.state, self, core.upsname or "")
        self.handle: usbdev.UsbHandle | None = None
        self.identity: usbdev.DeviceInfo | None = None  # what the device said it was
        self.regex: usbdev.RegexMatcher | None = None
        self.subdrivers = None
        self.subdriver = None
        self.claimed_by = None  # subdriver instance that claimed the device being matched
        self.pollfreq = DEFAULT_POLLFREQ
        self.lastpoll = 0.0
        self.no_events = 0
        self.no_events_tolerance = -1
        self.reconnecting = False  # the device came back: read it all before serving it
        self.attempts = 0
        self.initialized = False

    # ---- settings (C's upsdrv_makevartable)

    def make_vartable(self) -> None:
        add = self.core.addvar
        add("lowbatt", f"Low battery level to set on the UPS, in % (default={DEFAULT_LOWBATT})")
        add("offdelay", f"Delay before the UPS cuts the load, in seconds (default="
                        f"{DEFAULT_OFFDELAY}, or {DEFAULT_OFFDELAY_CPS} for CPS devices)")
        add("ondelay", f"Delay before the load comes back after power returns, in seconds "
                       f"(default={DEFAULT_ONDELAY}, or {DEFAULT_ONDELAY_CPS} for CPS devices)")
        add("pollfreq", f"Seconds between two full reads of the device (default="
                        f"{DEFAULT_POLLFREQ}, or {DEFAULT_POLLFREQ_CPS} for CPS devices)")
        add("pollonly", "Ignore the interrupt pipe and only poll (advised for CPS devices)",
            is_flag=True)
        add("interrupt_pipe_no_events_tolerance",
            "Reconnect after this many polls in a row without interrupt events")
        add("onlinedischarge", "Deprecated name of onlinedischarge_onbattery", is_flag=True)
        add("onlinedischarge_onbattery", "Take online and discharging at once as on battery",
            is_flag=True)
        add("onlinedischarge_calibration", "Take online and discharging at once as calibrating",
            is_flag=True)
        add("onlinedischarge_log_throttle_sec",
            "Repeat the 'online and discharging' warning at most this often")
        add("onlinedischarge_log_throttle_hovercharge",
            "Warn about 'online and discharging' only below this battery charge")
        add("lbrb_log_delay_sec", "Hold back LB and RB for this many seconds while calibrating")
        add("lbrb_log_delay_without_calibrating",
            "Hold back LB and RB (lbrb_log_delay_sec) even when not calibrating", is_flag=True)
        add("disable_fix_report_desc",
            "Use the device's report descriptor as is, without the known fixes", is_flag=True)
        add("powercom_sdcmd_byte_order_fallback",
            "PowerCOM: send shutdown delays in the byte order of old firmwares", is_flag=True)
        add("powercom_sdcmd_discrete_delay",
            "PowerCOM: shutdown delays from the Raptor / Smart KING Pro table", is_flag=True)
        add("subdriver", "Use this subdriver (name or regular expression)")
        add("winhid", "Windows HID backend (Windows builds only; ignored)", is_flag=True)
        usbdev.add_usb_settings(add)
        add("explore", "Diagnose an unsupported device (needs vendorid)", is_flag=True)
        add("maxreport", "Ask for longer reports (some APC Back-UPS firmwares)", is_flag=True)
        add("interruptonly", "Use only the interrupt pipe, no polling", is_flag=True)
        add("interruptsize", "Bytes to read from the interrupt pipe")
        add("waitbeforereconnect", "Seconds to wait before looking for a lost device")

    def help_text(self) -> str:
        from .subdrivers import all_classes

        names = "\n".join(f'\t"{cls.name}"' for cls in all_classes())
        return ("Subdrivers (-x subdriver=<name>: a name below, or a case-insensitive regular "
                "expression matching one, e.g. apc or cyberpower):\n" + names)

    def preload(self) -> None:
        import usb.backend.libusb1  # noqa: F401  (before chroot: dlopen needs the library)
        import usb.core  # noqa: F401
        import usb.util  # noqa: F401

        from . import subdrivers  # noqa: F401
        from .subdrivers import all_classes

        all_classes()
        usbdev.backend()

    # ---- start-up (C's upsdrv_initups)

    def init_device(self) -> None:
        from .subdrivers import all_classes, by_name

        self.engine.upsname = self.engine.assembler.upsname = self.core.upsname or ""
        version = usbdev.libusb_version()
        if version:
            self.state.setinfo("driver.version.usb", version)
            log.debug(1, f"Using USB implementation: {version}")
        port = self.device_path
        if port != "auto":
            log.warning(f"WARNING: warn_if_bad_usb_port_filename(): port argument specified to\n"
                        f"  the driver is \"{port}\" but USB drivers do not use it and rely on\n"
                        "  libusb walking all devices and matching their identification "
                        "metadata.\n  NUT documentation recommends port=\"auto\" for USB "
                        "devices to avoid confusion.")
        if self.testvar("winhid"):
            log.warning("winhid is only supported on WIN32 builds; ignoring option")
        if self.testvar("explore") and self.getval("vendorid") is None:
            log.fatal('must specify "vendorid" when using "explore"')
        self.engine.max_report_size = self.testvar("maxreport")
        try:
            self.regex = usbdev.RegexMatcher({k: self.getval(k) for k in usbdev.MATCH_KEYS})
        except usbdev.BadRegex as e:
            log.fatal(f"invalid regular expression: {e.pattern}")
        self.subdrivers = [cls(self) for cls in all_classes()]
        wanted = self.getval("subdriver")
        if wanted is not None:
            cls = by_name(wanted)
            if cls is None:
                log.fatal(f"Configuration requested subdriver '{wanted}' but none matched")
            if self.getval("vendorid") is None or self.getval("productid") is None:
                log.fatal("When specifying a subdriver, 'vendorid' and 'productid' are mandatory.")
        if self.testvar("interruptonly"):
            self.engine.interrupt_only = True
        size = self.getval("interruptsize")
        if size is not None:
            n = _atoi(size)
            if n <= 0:
                log.fatal(f"Error: invalid interruptsize: {n}")
            self.engine.interrupt_size = n
        self._usb_numbers()
        try:
            found = self._open(reconnect=False)
        except usbdev.ClaimFailed as e:
            log.fatal(str(e))
        if not found:
            log.fatal("No matching HID UPS found")
        info = self.handle.info
        log.debug(1, f"Detected a UPS: {info.vendor or 'unknown'}/{info.product or 'unknown'}")
        self._status_options()

    def _usb_numbers(self) -> None:
        self.usb_params = {}
        for key, param, limit in (("usb_config_index", "config_index", 0xFF),
                                  ("usb_hid_rep_index", "interface", 0xFF),
                                  ("usb_hid_desc_index", "desc_index", 0xFF),
                                  ("usb_hid_ep_in", "ep_in", 0x7F),
                                  ("usb_hid_ep_out", "ep_out", 0x7F)):
            text = self.getval(key)
            if text is None:
                continue
            try:
                value = int(text, 16)
            except ValueError:
                value = -1
            if not 0 <= value <= limit:
                log.fatal(f"nut_libusb_open: could not parse {key}")
            self.usb_params[param] = value

    def _status_options(self) -> None:
        opt = StatusOptions()
        opt.onlinedischarge_onbattery = self.testvar("onlinedischarge") or \
            self.testvar("onlinedischarge_onbattery")
        opt.onlinedischarge_calibration = self.testvar("onlinedischarge_calibration")
        val = self.getval("onlinedischarge_log_throttle_sec")
        if val is not None:
            n = _atoi(val)
            if n == 0 and val != "0":
                opt.log_throttle_sec = 30
                log.warning(f"Warning: invalid value for onlinedischarge_log_throttle_sec: {val}, "
                            f"defaulting to {opt.log_throttle_sec}")
            else:
                opt.log_throttle_sec = -1 if n < 0 else n
        val = self.getval("onlinedischarge_log_throttle_hovercharge")
        if val is not None:
            n = _atoi(val)
            if n < 1 or n > 100:
                opt.log_throttle_hovercharge = 100
                log.warning(f"Warning: invalid value for onlinedischarge_log_throttle_hovercharge: "
                            f"{val}, defaulting to 100")
            else:
                opt.log_throttle_hovercharge = n
        val = self.getval("lbrb_log_delay_sec")
        if val is not None:
            n = _atoi(val)
            if (n == 0 and val != "0") or n < 0:
                opt.lbrb_log_delay_sec = 3
                log.warning(f"Warning: invalid value for lbrb_log_delay_sec: {val}, defaulting to 3")
            else:
                opt.lbrb_log_delay_sec = n
        elif self._apc_lbrb_model():
            opt.lbrb_log_delay_sec = 3
            info = self.handle.info
            missing = [name for name in ("lbrb_log_delay_without_calibrating",
                                         "onlinedischarge_calibration",
                                         "onlinedischarge_log_throttle_sec")
                       if not self.testvar(name)]
            hint = ""
            if missing:
                hint = ("; consider also setting the " + " and/or ".join(missing) + " flag"
                        + ("(s)" if len(missing) > 1 else "") + " in your configuration")
            log.info(f"Defaulting lbrb_log_delay_sec=3 for {info.vendor} model {info.product}"
                     f"{hint}")
        opt.lbrb_log_delay_without_calibrating = self.testvar("lbrb_log_delay_without_calibrating")
        self.engine.assembler.opt = opt

    def _apc_lbrb_model(self) -> bool:
        """APC BX...MI, BVK...M2 and BK...M2-CH models flap LB/RB while calibrating."""
        info = self.handle.info
        product, vendor = info.product or "", info.vendor
        if vendor not in ("APC", "American Power Conversion") or not product:
            return False
        n = len(product)

        def family(prefix: str) -> bool:
            return f" {prefix}" in product or product.startswith(prefix)

        return ((n > 6 and family("BX") and product.endswith("MI"))
                or (n > 7 and family("BVK") and product.endswith("M2"))
                or (n > 9 and family("BK") and product[-5:-3] == "M2"
                    and product[-3] in "-_" and product.endswith("CH")))

    # ---- finding and opening the device (C's nut_libusb_open + callback)

    def _match_subdriver(self, info: usbdev.DeviceInfo) -> bool:
        from .subdrivers import by_name

        self.claimed_by = None
        wanted = self.getval("subdriver")
        if wanted is not None:
            cls = by_name(wanted)
            self.claimed_by = next(s for s in self.subdrivers if type(s) is cls)
            return True
        log.debug(2, "match_function_subdriver (non-SHUT mode): matching a device...")
        for sub in self.subdrivers:
            if sub.claim(info):
                self.claimed_by = sub
                return True
        log.debug(2, "match_function_subdriver (non-SHUT mode): failed to match a subdriver "
                     "to vendor and/or product ID")
        return False

    def _interface(self, info) -> int:
        if "interface" in self.usb_params:
            return self.usb_params["interface"]
        sub = self.claimed_by
        return sub.interface if sub is not None and sub.interface is not None else 0

    def _open(self, reconnect: bool) -> bool:
        matchers = [self._match_subdriver, self.regex]
        prefer = None
        if reconnect:
            matchers.append(usbdev.ExactMatcher(self.identity))
            prefer = lambda info: info.port_path == self.identity.port_path  # noqa: E731
        params = {k: v for k, v in self.usb_params.items() if k != "interface"}
        handle = usbdev.open_device(
            matchers, self._accept_again if reconnect else self._accept_new,
            interface=self._interface, allow_duplicates=self.testvar("allow_duplicates"),
            prefer=prefer, quiet=reconnect and self.attempts > 1, **params)
        if handle is None:
            return False
        self.handle = handle
        return True

    def _set_altinterface(self, handle: usbdev.UsbHandle) -> None:
        if not self.testvar("usb_set_altinterface"):
            log.debug(3, f"nut_usb_set_altinterface: skipped libusb_set_interface_alt_setting"
                         f"(udev, {handle.interface}, 0)")
            return
        alt = _atoi(self.getval("usb_set_altinterface") or "0")
        try:
            handle.dev.set_interface_altsetting(handle.interface, alt)
        except Exception as e:  # noqa: BLE001 - logged, as C does
            log.warning(f"nut_usb_set_altinterface: libusb_set_interface_alt_setting(udev, "
                        f"{handle.interface}, {alt}) failed: {e}")
        log.notice("nut_usb_set_altinterface: libusb_set_interface_alt_setting() should not be "
                   "necessary - please email the nut-upsdev list with information about your UPS.")

    def _accept_new(self, handle: usbdev.UsbHandle) -> bool:
        self._set_altinterface(handle)
        for data in usbdev.report_descriptors(handle):
            if self._attach(handle, data):
                log.debug(2, f"Report descriptor retrieved (Reportlen = {len(data)})")
                log.debug(2, "Found HID device")
                return True
            log.debug(2, "Caller doesn't like this device")
        return False

    def _attach(self, handle: usbdev.UsbHandle, data: bytes) -> bool:
        from .subdrivers import by_name

        log.debug(2, f"Report Descriptor size = {len(data)}")
        if log.effective_debug >= 3:
            log.debug(3, usbdev._hex("Report Descriptor", data))
        try:
            desc = hp.parse(data)
        except hp.DescriptorError:
            log.debug(1, "Failed to parse report descriptor!")
            return False
        for warning in desc.warnings:
            log.warning(warning)
        info = handle.info
        sub = None
        wanted = self.getval("subdriver")
        if wanted is not None:
            cls = by_name(wanted)
            sub = next((s for s in self.subdrivers if type(s) is cls), None)
        if sub is None:
            sub = next((s for s in self.subdrivers if s.claim(info)), None)
        if sub is None:
            log.debug(1, "Manufacturer or model not supported!")
            return False
        log.info(f"Using subdriver: {sub.name}")
        self.subdriver = sub
        engine = self.engine
        engine.max_report_size = engine.max_report_size or sub.max_report_size
        engine.interrupt_only = engine.interrupt_only or sub.interrupt_only
        if sub.interrupt_size and not engine.interrupt_size:
            engine.interrupt_size = sub.interrupt_size
        if sub.fix_report_desc(info, desc, engine):
            log.debug(2, "Report Descriptor Fixed")
        engine.attach(handle, info, data, desc, sub)
        engine.dump_tree()
        self.identity = dataclasses.replace(info)
        shown = dataclasses.replace(info)
        for name, value in (("ups.mfr", sub.format_mfr(shown, engine)),
                            ("ups.model", sub.format_model(shown, engine)),
                            ("ups.serial", sub.format_serial(shown, engine))):
            if value is not None:
                self.state.setinfo(name, value)
            else:
                self.state.delinfo(name)
        self.state.setinfo("ups.vendorid", f"{info.vendor_id:04x}")
        self.state.setinfo("ups.productid", f"{info.product_id:04x}")
        return True

    def _accept_again(self, handle: usbdev.UsbHandle) -> bool:
        """The lost device found again: if its report descriptor is what it was, the
        mapping stands; otherwise (new firmware?) it is built anew."""
        for data in usbdev.report_descriptors(handle):
            if bytes(data) == self.engine.descriptor_bytes:
                self.engine.reattach(handle)
                return True
            log.warning("The device came back with another report descriptor: mapping it anew")
            self.engine.forget_mapping()
            if self._attach(handle, data):
                return True
        return False

    # ---- initial data (C's upsdrv_initinfo)

    def init_info(self) -> None:
        engine, state = self.engine, self.state
        state.setinfo("driver.version.data", self.subdriver.name)
        log.debug(1, f"upsdrv_initinfo: Performing an initial UPS data walk with subdriver "
                     f"{self.subdriver.name}...")
        self._sync_engine_flags()
        if engine.walk(Walk.INIT) is Outcome.LOST:
            log.fatal("Can't initialize data from HID UPS")
        if not engine.status_bits:
            log.warning("upsdrv_initinfo: No flag bits for 'ups.status' were explicitly "
                        "reported; it is possible a wrong 'subdriver' option was requested or "
                        "detected (in case of problems with device data, consider testing with "
                        "other explicit driver option 'subdriver' values)")
        is_cps = type(self.subdriver).__name__ == "Cps"
        if state.get("battery.charge.low") is not None:
            val = self.getval("lowbatt")
            if val is not None:
                state.setinfo("battery.charge.low", str(_atoi(val)))
        if state.get("ups.delay.start") is not None:
            val = self.getval("ondelay")
            if val is not None:
                n = _atoi(val)
                if is_cps and (n < 60 or n % 60):
                    log.warning("CPS devices tend to round delays by 60 sec down (ondelay=120 is "
                                "the suggested minimum; see more in the man page)")
                state.setinfo("ups.delay.start", str(n))
        if state.get("ups.delay.shutdown") is not None:
            val = self.getval("offdelay")
            if val is not None:
                n = _atoi(val)
                if is_cps and n > 0 and (n < 60 or n % 60):
                    log.warning("CPS devices tend to round delays by 60 sec down (offdelay=60 is "
                                "the suggested minimum; see more in the man page)")
                state.setinfo("ups.delay.shutdown", str(n))
        off, on = engine.find_entry("load.off.delay"), engine.find_entry("load.on.delay")
        if off is not None:
            state.addcmd("load.off")
        if on is not None:
            state.addcmd("load.on")
        if off is not None and on is not None:
            state.addcmd("shutdown.return")
            state.addcmd("shutdown.stayoff")
        val = self.getval("pollfreq")
        if val is not None:
            self.pollfreq = _atoi(val)
        elif is_cps:
            log.info(f"Defaulting 'pollfreq' to {DEFAULT_POLLFREQ_CPS} for CPS devices")
            self.pollfreq = DEFAULT_POLLFREQ_CPS
        state.setinfo("driver.parameter.pollfreq", str(self.pollfreq))
        if self.testvar("pollonly"):
            engine.use_interrupt_pipe = False
        elif is_cps:
            log.warning("You may want to set 'pollonly' flag on CPS devices")
        val = self.getval("interrupt_pipe_no_events_tolerance")
        n = _strict_int(val) if val is not None else None
        if n is None:
            if val is not None:
                log.warning(f"Invalid setting for interrupt_pipe_no_events_tolerance: '{val}', "
                            "defaulting to -1")
            n = -1
        self.no_events_tolerance = n
        state.setinfo("driver.parameter.interrupt_pipe_no_events_tolerance", str(n))
        self.lastpoll = time.monotonic()
        self.initialized = True

    def _sync_engine_flags(self) -> None:
        if self.subdriver.pollonly:
            self.engine.use_interrupt_pipe = False

    # ---- polling (C's upsdrv_updateinfo)

    def update_info(self) -> float | None:
        log.debug(1, "upsdrv_updateinfo...")
        try:
            return self._update()
        except usbdev.UsbError as e:  # from a conversion that reads the device itself
            return self._lose(e)
        except Exception as e:  # noqa: BLE001 - whatever the device sent, keep running
            log.error(f"upsdrv_updateinfo: unexpected {e!r}; data marked stale")
            return self._lose(None)

    def _update(self) -> float | None:
        now = time.monotonic()
        engine = self.engine
        if self.handle is None:
            self.state.setinfo("driver.state", "reconnect.trying")
            if not self._reconnect():
                self.state.datastale()
                self.state.setinfo("driver.state", "quiet")
                return None
            self.reconnecting = True
        engine.cache.expire()
        if engine.use_interrupt_pipe:
            try:
                events = engine.read_events()
            except usbdev.UsbError as e:
                if e.code == usbdev.ERROR_BUSY:
                    log.error("Got disconnected by another driver")
                if e.lost or e.code == usbdev.ERROR_IO:
                    if e.code == usbdev.ERROR_IO:
                        engine.eio_count += 1
                    return self._lose(e)
                log.debug(1, f"Got unhandled result from HIDGetEvents(): {e.code}")
                events = -1
            if events == 0:
                self.no_events += 1
                log.debug(1, f"Got 0 HID objects ({self.no_events} times in a row, tolerance "
                             f"is {self.no_events_tolerance})...")
                if 0 <= self.no_events_tolerance < self.no_events:
                    return self._lose(None)
            elif events > 0:
                log.debug(1, f"Got {events} HID objects...")
                self.no_events = 0
        else:
            log.debug(1, "Not using interrupt pipe...")
        if self.reconnecting:
            outcome = engine.walk(Walk.INIT)
            full = True
        elif now > self.lastpoll + self.pollfreq or engine.data_has_changed:
            log.debug(1, "Full update...")
            engine.alarm_texts = []
            outcome = engine.walk(Walk.FULL)
            full = True
        else:
            log.debug(1, "Quick update...")
            outcome = engine.walk(Walk.QUICK)
            full = False
        if outcome is Outcome.LOST:
            return self._lose(None)
        if self.reconnecting and outcome is Outcome.PARTIAL:
            log.debug(1, "The device is back but did not answer every status read yet: "
                         "data stays stale")
            return None
        if full:
            self.lastpoll = now
            engine.data_has_changed = False
        engine.publish_status(full)
        if self.reconnecting:
            log.info("Device reconnected: data is current again")
            self.reconnecting = False
            self.attempts = 0
            self.state.setinfo("driver.state", "quiet")
        self.state.dataok()
        return None

    def _lose(self, error: usbdev.UsbError | None) -> float:
        """The device is gone (or answers nothing): serve nothing until it is back."""
        if error is not None:
            log.debug(1, f"USB error: {error}")
        self.state.setinfo("driver.state", "reconnect.trying")
        self.state.datastale()
        if self.handle is not None:
            self.handle.close()
        self.handle = None
        self.engine.device = None
        self.reconnecting = False
        return FIRST_RETRY

    def _reconnect(self) -> bool:
        log.debug(1, "Got to reconnect!")
        if self.engine.use_interrupt_pipe and self.engine.eio_count > 0 and self.attempts == 0:
            log.debug(0, 'Reconnecting. If you saw "nut_libusb_get_interrupt: Input/Output Error" '
                         'or similar message in the log above, try setting "pollonly" flag in '
                         '"ups.conf" options section for this driver!')
        self.attempts += 1
        wait = _atoi(self.getval("waitbeforereconnect"))
        if wait > 0:
            log.debug(4, f" device has been disconnected, trying to reconnect in {wait} seconds")
            time.sleep(wait)
        try:
            found = self._open(reconnect=True)
        except usbdev.ClaimFailed as e:
            log.debug(1, f"{e}; will try again")
            return False
        except usbdev.UsbError as e:
            log.debug(1, f"reconnect: {e}")
            return False
        if not found:
            return False
        self.engine.eio_count = 0
        self.no_events = 0
        return True

    # ---- commands and settings

    def instcmd(self, name: str, param: str | None) -> int:
        if self.handle is None:
            log.notice(f"instcmd: FAILED command [{name}] [{param if param is not None else '(null)'}]"
                       " (the device is not connected)")
            return FAILED
        try:
            return self.engine.instcmd(name, param)
        except usbdev.UsbError as e:
            self._lose(e)
            return FAILED

    def set_var(self, name: str, value: str) -> int:
        if self.handle is None:
            entry = self.engine.find_entry(name)
            if entry is not None and entry.entry.hidflags & ABSENT:  # a driver-side value
                return self.engine.setvar(name, value)
            return UNKNOWN
        try:
            return self.engine.setvar(name, value)
        except usbdev.UsbError as e:
            self._lose(e)
            return UNKNOWN

    def shutdown(self) -> int:
        """C 2.8.5 runs -k after the initial data walk, which the commands need."""
        if not self.initialized:
            self.init_info()
        log.debug(1, "upsdrv_shutdown...")
        log.debug(1, f"Starting do_loop_shutdown_commands({','.join(SHUTDOWN_SEQUENCE)}), "
                     "call depth 1...")
        for cmd in SHUTDOWN_SEQUENCE:
            if self.instcmd(cmd, None) == HANDLED:
                log.info(f"Shutdown successful with '{cmd}'")
                return HANDLED
        log.error("Shutdown failed!")
        return FAILED

    def cleanup(self) -> None:
        log.debug(1, "upsdrv_cleanup...")
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def main() -> int:
    return run(UsbhidUps)


if __name__ == "__main__":
    raise SystemExit(main())
