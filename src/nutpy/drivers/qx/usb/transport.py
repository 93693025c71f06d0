"""The Q* engine's ``Transport`` over USB, and finding the device (nutdrv_qx's USB half and
blazer_usb: C's ``upsdrv_initups`` USB part and the reconnection in ``qx_command`` /
``blazer_command``).

``UsbTransport.command`` runs the chosen subdriver on the claimed device and reacts to
libusb errors as C does (a stall is cleared; a device gone, an I/O error, an access error
or a stall that cannot be cleared drop the handle). Unlike C it never reopens the device
in the middle of a poll: it records that the device was lost (``lost``), the engine's walk
stops there, and the driver marks the data stale and looks for the same device again at
its next polls (``UsbConnection.reconnect``), serving data only after a complete poll.

All calls block: drivers make them from their hooks (the worker thread).
"""

from __future__ import annotations

import time

from ... import usbdev
from . import (
    BLAZER_DEVICES,
    BLAZER_SUBDRIVERS,
    QX_DEVICES,
    QX_SUBDRIVERS,
    SUPPORTED,
    framing,
    lookup,
)
from .link import (
    BLAZER_BUFLEN,
    ERROR_ACCESS,
    ERROR_BUSY,
    ERROR_IO,
    ERROR_NO_DEVICE,
    ERROR_NOT_FOUND,
    ERROR_PIPE,
    QX_BUFLEN,
    Endpoint,
    InterfaceLayout,
    LinkError,
    Options,
    Reply,
    get_string,
)

INTERRUPT_IN = 0x81
# C's "got to reconnect" codes (a stall that cannot be cleared joins them)
RECONNECT_CODES = frozenset({ERROR_NO_DEVICE, ERROR_ACCESS, ERROR_IO, ERROR_NOT_FOUND})


class PyusbLink:
    """``Link`` over a device opened with nutpy.drivers.usbdev (pyusb, libusb-1.0)."""

    def __init__(self, handle: usbdev.UsbHandle) -> None:
        self.handle = handle
        self.dev = handle.dev

    def control(self, request_type, request, value, index, data_or_length, timeout_ms):
        try:
            return self.handle.control(request_type, request, value, index, data_or_length,
                                       timeout_ms)
        except usbdev.UsbError as e:
            raise LinkError(e.code) from None

    def interrupt_read(self, endpoint: int, length: int, timeout_ms: int) -> bytes:
        try:
            return bytes(self.dev.read(endpoint, length, timeout_ms))
        except ValueError:  # pyusb: no such endpoint on the interface
            raise LinkError(ERROR_IO) from None
        except Exception as e:  # noqa: BLE001 - pyusb's USBError family
            raise LinkError(usbdev.usb_error(e, "interrupt read").code) from None

    def interrupt_write(self, endpoint: int, data: bytes, timeout_ms: int) -> int:
        try:
            return int(self.dev.write(endpoint, data, timeout_ms))
        except ValueError:
            raise LinkError(ERROR_IO) from None
        except Exception as e:  # noqa: BLE001
            raise LinkError(usbdev.usb_error(e, "interrupt write").code) from None

    def clear_halt(self, endpoint: int) -> None:
        try:
            self.dev.clear_halt(endpoint)
        except Exception as e:  # noqa: BLE001
            raise LinkError(usbdev.usb_error(e, "clear halt").code) from None

    def reset(self) -> None:
        try:
            self.dev.reset()
        except Exception as e:  # noqa: BLE001
            raise LinkError(usbdev.usb_error(e, "reset").code) from None

    def layout(self) -> InterfaceLayout | None:
        try:
            cfg = self.dev[self.handle.config_index]
            interfaces = list(cfg)
            numbers = {i.bInterfaceNumber for i in interfaces}
            first = [i for i in interfaces if i.bInterfaceNumber == interfaces[0].bInterfaceNumber]
            endpoints = [Endpoint(e.bEndpointAddress, e.bmAttributes, e.wMaxPacketSize)
                         for e in first[0]]
            return InterfaceLayout(len(numbers), len(first), endpoints)
        except Exception:  # noqa: BLE001 - C then keeps to the control-request framing
            return None


class UsbTransport:
    """The engine's device: ``command(bytes) -> bytes`` through the subdriver."""

    def __init__(self, subdriver, buflen: int, log) -> None:
        self.subdriver = subdriver
        self.buflen = buflen
        self.log = log
        self.link: PyusbLink | None = None
        self.lost = False   # an exchange lost the device (cleared by the driver)

    def attach(self, handle: usbdev.UsbHandle) -> None:
        self.link = PyusbLink(handle)
        self.lost = False

    def close(self) -> None:
        if self.link is not None:
            self.link.handle.close()
            self.link = None

    def command(self, cmd: bytes) -> Reply:
        link = self.link
        if link is None:
            self.lost = True
            raise LinkError(ERROR_NO_DEVICE)
        try:
            return self.subdriver.command(link, cmd, self.buflen)
        except LinkError as e:
            self._failed(link, e.code)
            raise

    def _failed(self, link: PyusbLink, code: int) -> None:
        log = self.log
        if code == ERROR_BUSY:
            # C exits here; we let go and find the device again once it is free
            log.error("Got disconnected by another driver")
        elif code == ERROR_PIPE:
            try:
                link.clear_halt(INTERRUPT_IN)
                log.debug(1, "Stall condition cleared")
                return
            except LinkError:
                pass
            try:
                link.reset()
                log.debug(1, "Device reset handled")
            except LinkError:
                pass
        elif code not in RECONNECT_CODES:
            return  # a timeout or an overflow: the exchange failed, the device is there
        self.close()
        self.lost = True


# ---- finding the device

class UsbConnection:
    """The USB part of a Q* driver's start-up and its reconnections. ``blazer`` selects
    blazer_usb's table, subdrivers and messages."""

    def __init__(self, driver, log, blazer: bool = False) -> None:
        self.driver = driver
        self.log = log
        self.blazer = blazer
        self.prog = "blazer_usb" if blazer else "nutdrv_qx"
        self.table = BLAZER_DEVICES if blazer else QX_DEVICES
        self.names = BLAZER_SUBDRIVERS if blazer else QX_SUBDRIVERS
        self.subdriver_name: str | None = None
        self.regex: usbdev.RegexMatcher | None = None
        self.identity: usbdev.DeviceInfo | None = None
        self.params: dict[str, int] = {}
        self.attempts = 0
        self.opts = Options(log=log, debug_level=lambda: log.effective_debug)
        self.transport: UsbTransport | None = None

    # C's upsdrv_initups, up to the subdriver detection

    def open(self) -> UsbTransport:
        log, getval = self.log, self.driver.getval
        self.opts.sleep = time.sleep
        self.opts.novendor = self.driver.testvar("novendor")
        version = usbdev.libusb_version()
        if version:
            self.driver.state.setinfo("driver.version.usb", version)
            log.debug(1, f"Using USB implementation: {version}")
        warn_if_bad_port(log, self.driver.device_path)
        self._langid_fix(getval("langid_fix"))
        wanted = getval("subdriver")
        if wanted is not None:
            if getval("vendorid") is None or getval("productid") is None:
                log.fatal("When specifying a subdriver, 'vendorid' and 'productid' are "
                          "mandatory." if self.blazer else
                          "When specifying a USB 'subdriver', 'vendorid' and 'productid' "
                          "are mandatory.")
            name = next((n for n in self.names if n.lower() == wanted.lower()), None)
            if name is None:
                log.fatal(f'Subdriver "{wanted}" not found!' if self.blazer
                          else f"Subdriver '{wanted}' not found!")
            self.subdriver_name = name
        try:
            self.regex = usbdev.RegexMatcher({k: getval(k) for k in usbdev.MATCH_KEYS})
        except usbdev.BadRegex as e:
            log.fatal(f"{'invalid' if self.blazer else 'Invalid'} regular expression: "
                      f"{e.pattern}")
        self._usb_numbers()
        try:
            handle = self._find(reconnect=False)
        except usbdev.ClaimFailed as e:
            log.fatal(str(e))
        if handle is None:
            log.fatal("No supported devices found. Please check your device availability "
                      "with 'lsusb'\nand make sure you have an up-to-date version of NUT. If "
                      "this does not help,\ntry running the driver with at least 'subdriver', "
                      "'vendorid' and 'productid'\noptions specified. Please refer to the man "
                      f"page for details about these options\n(man 8 {self.prog}).\n")
        if self.subdriver_name is None:
            handle.close()
            log.fatal("No subdriver selected")
        info = handle.info
        self.identity = info
        state = self.driver.state
        state.setinfo("ups.vendorid", f"{info.vendor_id:04x}")
        state.setinfo("ups.productid", f"{info.product_id:04x}")
        self.transport = UsbTransport(framing(self.subdriver_name, self.opts, self.blazer),
                                      BLAZER_BUFLEN if self.blazer else QX_BUFLEN, log)
        self.transport.attach(handle)
        if self.opts.langid_fix != -1 and (self.blazer or
                                           not self.driver.testvar("noscanlangid")):
            self._scan_langid()
        return self.transport

    def _langid_fix(self, text: str | None) -> None:
        if text is None:
            return
        from ..cstr import strtol

        rest = text[2:]
        value, after = strtol(rest, 16)
        value &= 0xFFFFFFFF
        if after == rest or value > 0x7FFFFFFF:
            self.log.notice("Error enabling language ID workaround")
            return
        self.opts.langid_fix = value
        self.log.debug(2, f"{'language' if self.blazer else 'Language'} ID workaround "
                          f"enabled (using '0x{value:x}')")

    def _scan_langid(self) -> None:
        try:
            table = get_string(self.transport.link, 0, 0, 255)
        except LinkError:
            return
        if len(table) >= 4:
            self.log.debug(1, f"First supported language ID: 0x{table[2] | table[3] << 8:x} "
                              "(please report to the NUT maintainer!)")

    def _usb_numbers(self) -> None:
        for key, param, limit in (("usb_config_index", "config_index", 0xFF),
                                  ("usb_hid_rep_index", "interface", 0xFF),
                                  ("usb_hid_desc_index", "desc_index", 0xFF),
                                  ("usb_hid_ep_in", "ep_in", 0x7F),
                                  ("usb_hid_ep_out", "ep_out", 0x7F)):
            text = self.driver.getval(key)
            if text is None:
                continue
            try:
                value = int(text, 16)
            except ValueError:
                value = -1
            if not 0 <= value <= limit:
                self.log.fatal(f"nut_libusb_open: could not parse {key}")
            self.params[param] = value

    # matching (C's device_match_func)

    def _match_device(self, info: usbdev.DeviceInfo) -> bool:
        if self.subdriver_name is not None:
            return True
        status, entry = lookup(self.table, info.vendor_id, info.product_id, info.vendor,
                               info.product)
        if status != SUPPORTED:
            return False
        self.subdriver_name = entry.subdriver
        return True

    def _find(self, reconnect: bool) -> usbdev.UsbHandle | None:
        matchers = [self.regex, self._match_device]
        prefer = None
        if reconnect:
            matchers.insert(0, usbdev.ExactMatcher(self.identity))
            prefer = lambda info: info.port_path == self.identity.port_path  # noqa: E731
        params = dict(self.params)
        interface = params.pop("interface", 0)
        return usbdev.open_device(matchers, self._accept, interface=interface,
                                  allow_duplicates=self.driver.testvar("allow_duplicates"),
                                  prefer=prefer, quiet=reconnect and self.attempts > 1,
                                  **params)

    def _accept(self, handle: usbdev.UsbHandle) -> bool:
        getval = self.driver.getval
        if not self.driver.testvar("usb_set_altinterface"):
            self.log.debug(3, "nut_usb_set_altinterface: skipped "
                              f"libusb_set_interface_alt_setting(udev, {handle.interface}, 0)")
            return True
        from ..cstr import atol

        alt = atol(getval("usb_set_altinterface") or "0")
        try:
            handle.dev.set_interface_altsetting(handle.interface, alt)
        except Exception as e:  # noqa: BLE001 - logged, as C does
            self.log.warning(f"nut_usb_set_altinterface: libusb_set_interface_alt_setting("
                             f"udev, {handle.interface}, {alt}) failed: {e}")
        self.log.notice("nut_usb_set_altinterface: libusb_set_interface_alt_setting() should "
                        "not be necessary - please email the nut-upsdev list with information "
                        "about your UPS.")
        return True

    # after a loss

    def reconnect(self) -> bool:
        """Look for the device that was lost (same IDs and strings, at the same place on
        the bus first); True once it is open again."""
        self.attempts += 1
        try:
            handle = self._find(reconnect=True)
        except usbdev.ClaimFailed as e:
            self.log.debug(1, f"{e}; will try again")
            return False
        except usbdev.UsbError as e:
            self.log.debug(1, f"reconnect: {e}")
            return False
        if handle is None:
            return False
        self.attempts = 0
        self.transport.attach(handle)
        return True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def warn_if_bad_port(log, port: str | None) -> None:
    """C's ``warn_if_bad_usb_port_filename``: USB drivers do not use ``port``."""
    if port is None:
        log.warning("WARNING: warn_if_bad_usb_port_filename(): port argument was not "
                    "specified to the driver")
    elif port != "auto":
        log.warning(f"WARNING: warn_if_bad_usb_port_filename(): port argument specified to\n"
                    f"  the driver is \"{port}\" but USB drivers do not use it and rely on\n"
                    "  libusb walking all devices and matching their identification "
                    "metadata.\n  NUT documentation recommends port=\"auto\" for USB "
                    "devices to avoid confusion.")
