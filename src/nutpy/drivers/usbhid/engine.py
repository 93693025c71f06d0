"""The HID side of usbhid-ups: reading a device's reports through a subdriver's mapping
table into the driver's data tree, and writing values and commands back (C's libhid.c and
the walk/instcmd/setvar parts of usbhid-ups.c).

The engine does no USB of its own: it talks to a ``device`` object with four blocking
calls (``get_report``, ``set_report``, ``get_interrupt``, ``get_string``) that raise
``UsbError`` (nutpy.drivers.usbdev) on failure. The driver runs it in its worker thread.

Unlike C, a walk never leaves half-read data behind for the caller to publish: it tells the
caller whether the device is gone (``LOST``) and the caller decides what to publish.
"""

from __future__ import annotations

import time
from enum import Enum

from ...common.log import log
from ...proto.sockproto import CONVERSION_FAILED, FAILED, HANDLED, INVALID, UNKNOWN
from .. import usbdev
from ..state import RW, STRING, DriverState
from ..usbdev import DeviceInfo
from . import hidparser as hp
from .mapping import (
    ABSENT,
    CMD,
    COMMON,
    ENUM,
    PARAM_REQUIRED,
    QUICK_POLL,
    SEMI_STATIC,
    STATIC,
    Entry,
    InvalidValue,
    Lookup,
    apply_flag,
    format_value,
)
from .status import StatusAssembler, StatusOptions, alarms
from .usages import UsageTable

INTERRUPT_TIMEOUT_MS = 750
INTERRUPT_BUFSIZE = 512
MAX_EVENTS = 32


class Walk(Enum):
    INIT = 0
    QUICK = 1
    FULL = 2


class Outcome(Enum):
    OK = "ok"
    LOST = "lost"  # the device is gone or taken: reconnect
    PARTIAL = "partial"  # some values could not be read this time


class Bound:
    """A mapping entry and the field it resolved to in this device's descriptor."""
    __slots__ = ("entry", "field", "lookup", "handled")

    def __init__(self, entry: Entry, lookup: Lookup | None) -> None:
        self.entry = entry
        self.field: hp.Field | None = None
        self.lookup = lookup
        self.handled = False


class ReportCache:
    """The last bytes of each report (byte 0 = report ID) and which are fresh: a report
    is read from the device at most once per update cycle, and a write sends the cached
    bytes with one field replaced, as C does."""

    def __init__(self, desc: hp.ReportDescriptor) -> None:
        self.data: dict[int, bytearray] = {}
        for f in desc.fields:
            rid = f.report_id
            if rid not in self.data:
                buf = bytearray(desc.report_length(rid))
                buf[0] = rid
                self.data[rid] = buf
        self.fresh: set[int] = set()

    def expire(self) -> None:
        self.fresh.clear()

    def file(self, report: bytes) -> None:
        """A report that came in unasked (interrupt pipe)."""
        buf = self.data.get(report[0])
        if buf is None:
            return
        n = min(len(report), len(buf))
        buf[:n] = report[:n]
        self.fresh.add(report[0])


class HidEngine:
    def __init__(self, state: DriverState, options, upsname: str = "",
                 clock=time.monotonic, sleep=time.sleep) -> None:
        self.state = state
        self.options = options  # getval(name) / testvar(name)
        self.clock = clock
        self.sleep = sleep
        self.device = None
        self.info: DeviceInfo | None = None
        self.desc: hp.ReportDescriptor | None = None
        self.descriptor_bytes = b""
        self.subdriver = None
        self.usages: UsageTable | None = None
        self.bound: list[Bound] = []
        self.cache: ReportCache | None = None
        self.status_bits = 0
        self.status_seen = False  # any status flag reported at all
        self.use_interrupt_pipe = True
        self.interrupt_only = False
        self.interrupt_size = 0
        self.max_report_size = False
        self.data_has_changed = False
        self.mapped = False  # the INIT walk has run once
        self.buzz: list[str] = []
        self.upsname = upsname
        self.assembler = StatusAssembler(StatusOptions(), upsname, log)
        self.alarm_texts: list[str] = []
        self.eio_count = 0
        self.published: set[str] = set()  # variables and commands the mapping created

    # ---- Context for conversion functions

    @property
    def sub(self):
        return self.subdriver

    def getinfo(self, name: str) -> str | None:
        return self.state.get(name)

    def setinfo(self, name: str, value: str) -> None:
        self.state.setinfo(name, value)

    def delinfo(self, name: str) -> None:
        self.state.delinfo(name)

    def getval(self, name: str) -> str | None:
        return self.options.getval(name)

    def testvar(self, name: str) -> bool:
        return self.options.testvar(name)

    def buzzmode_set(self, word: str) -> None:
        if word not in self.buzz:
            self.buzz.append(word)

    def get_string(self, index: int, buflen: int = 20) -> str:
        """A string descriptor, cut as C cuts it into a ``buflen`` buffer; "" on failure."""
        if index < 1 or index > 255 or self.device is None:
            return ""
        try:
            text = self.device.get_string(index) or ""
        except usbdev.UsbError:
            return ""
        return text[:buflen - 1].rstrip("\n")

    def raw_feature_report(self, report_id: int, length: int) -> bytes:
        """A feature report read outside the descriptor's view (PowerCOM's 0xa4)."""
        try:
            return self.device.get_report(report_id, length)
        except usbdev.UsbError:
            return b""

    # ---- binding a device

    def attach(self, device, info: DeviceInfo, descriptor: bytes, desc: hp.ReportDescriptor,
               subdriver) -> None:
        self.device = device
        self.info = info
        self.descriptor_bytes = bytes(descriptor)
        self.desc = desc
        self.subdriver = subdriver
        self.usages = UsageTable(subdriver.usages)
        self.cache = ReportCache(desc)
        self.bound = [Bound(e, self._lookup(e.lookup)) for e in subdriver.mapping]
        self.mapped = False

    def forget_mapping(self) -> None:
        """Before mapping another descriptor: withdraw what the old mapping published
        (driver-side settings stay)."""
        absent = {b.entry.name for b in self.bound if b.entry.hidflags & ABSENT}
        for name in self.published - absent:
            self.state.delinfo(name)
            self.state.delcmd(name)
        self.published = set()
        self.status_bits = 0

    def reattach(self, device) -> None:
        """Same device back after a loss (same descriptor): keep the mapping, drop the
        cached reports and the status flags, so that only what is read now counts."""
        self.device = device
        self.cache = ReportCache(self.desc)
        self.status_bits = 0

    def _lookup(self, name: str | None) -> Lookup | None:
        if name is None:
            return None
        own = getattr(self.subdriver, "lookups", {})
        if name in own:
            return own[name]
        return COMMON[name]

    def path_string(self, f: hp.Field) -> str:
        return self.usages.path_to_string(f.path)

    def find_field(self, path: str) -> hp.Field | None:
        nodes = self.usages.string_to_path(path)
        if not nodes:
            return None
        kind = hp.INPUT if self.interrupt_only else hp.FEATURE
        return self.desc.find(nodes, kind)

    # ---- reading values

    def read_field(self, f: hp.Field) -> float:
        """The value of a field as NUT sees it (physical, exponent applied). Raises UsbError
        for a USB failure and ``NoData`` if the device answered with nothing."""
        rid = f.report_id
        buf = self.cache.data[rid]
        if not self.interrupt_only and rid not in self.cache.fresh:
            length = len(buf)
            if self.max_report_size:
                length = max(length, 8)
            if log.effective_debug >= 5:
                log.debug(5, f"refresh_report_buffer: investigating path: "
                             f"{self.usages.path_to_string(f.path)}")
            data = self.device.get_report(rid, length)
            if not data:
                raise NoData()
            n = min(len(data), len(buf))
            buf[:n] = data[:n]
            if len(data) != len(buf):
                log.debug(2, f"refresh_report_buffer: expected {len(buf)} bytes, but got "
                             f"{len(data)} instead")
            if log.effective_debug >= 3:
                log.debug(3, _hex("Report[get]", bytes(buf)))
            self.cache.fresh.add(rid)
        logical = hp.get_logical(buf, f)
        return hp.logical_to_value(f, logical)

    def get_item_value(self, path: str) -> float | None:
        f = self.find_field(path)
        if f is None:
            return None
        try:
            return self.read_field(f)
        except (usbdev.UsbError, NoData):
            return None

    def get_item_string(self, path: str, buflen: int = 512) -> str:
        value = self.get_item_value(path)
        if value is None:
            return ""
        return self.get_string(int(value), buflen)

    def write_field(self, f: hp.Field, value: float) -> bool:
        """C's HIDSetDataValue: the report is sent with this field replaced."""
        if f.attribute == hp.ATTR_CONSTANT:
            return False
        logical = hp.value_to_logical(f, value)
        buf = self.cache.data[f.report_id]
        hp.set_logical(buf, f, logical)
        try:
            sent = self.device.set_report(f.report_id, bytes(buf))
        except usbdev.UsbError as e:
            log.debug(1, f"Can't set Report {f.report_id:02x}: {e}")
            if e.lost:
                raise
            return False
        if sent <= 0:
            return False
        if log.effective_debug >= 3:
            log.debug(3, _hex("Report[set]", bytes(buf)))
        self.cache.expire()
        log.debug(4, "Set report succeeded")
        return True

    # ---- the table walk (C's hid_ups_walk)

    def walk(self, mode: Walk) -> Outcome:
        polled = succeeded = 0
        failed_status = False
        tl_quirk = self.info and self.info.vendor_id == 0x09AE and self.info.product_id == 0x1330
        for b in self.bound:
            e = b.entry
            if mode is Walk.INIT:
                if b.field is None:
                    b.field = self.find_field(e.path)
                    if b.field is None:
                        continue
                    if e.hidflags & ABSENT:
                        if self.state.get(e.name) is None:
                            self.state.setinfo(e.name, e.dfl or "")
                            self.state.setflags(e.name, e.info_flags)
                            if e.info_flags & STRING:
                                self.state.setaux(e.name, e.info_len)
                        continue
                    if not e.is_alarm and self.state.get(e.name) is not None:
                        b.field = None
                        continue
                elif e.hidflags & ABSENT:
                    continue  # a server-side value keeps what the user set
            elif mode is Walk.QUICK:
                if not e.hidflags & QUICK_POLL:
                    continue
            else:
                if e.hidflags & (ABSENT | CMD):
                    continue
                if e.hidflags & STATIC and self.use_interrupt_pipe:
                    continue
                if e.hidflags & SEMI_STATIC and not self.data_has_changed \
                        and self.use_interrupt_pipe:
                    continue
            f = b.field
            if f is None:
                continue
            if tl_quirk and f.report_id == 0x54:
                continue
            polled += 1
            try:
                value = self.read_field(f)
            except NoData:
                if e.is_bool:
                    failed_status = True
                continue
            except usbdev.UsbError as err:
                if err.code == usbdev.ERROR_BUSY:
                    log.error("Got disconnected by another driver")
                if err.lost:
                    return Outcome.LOST
                if err.code == usbdev.ERROR_IO:
                    log.debug(3, f"Got LIBUSB_ERROR_IO on item '{e.name}' "
                                 f"ReportID=0x{f.report_id:02x} - skipping")
                    self.eio_count += 1
                else:
                    log.debug(1, f"HIDGetDataValue unknown retcode '{err.code}'")
                if e.is_bool:
                    failed_status = True
                continue
            succeeded += 1
            if log.effective_debug >= 2:
                log.debug(2, f"Path: {e.path}, Type: {f.kind_name}, ReportID: "
                             f"0x{f.report_id:02x}, Offset: {f.offset}, Size: {f.size}, "
                             f"Value: {value:g}")
            if e.hidflags & CMD:
                self.state.addcmd(e.name)
                self.published.add(e.name)
                continue
            if self.set_value(b, value) != 1:
                continue
            if mode is Walk.INIT or not self.use_interrupt_pipe:
                self.state.setflags(e.name, e.info_flags)
                if e.info_flags & STRING:
                    self.state.setaux(e.name, e.info_len)
                if e.hidflags & ENUM and e.info_flags & RW and b.lookup is not None:
                    for text in b.lookup.enum_values(self):
                        self.state.addenum(e.name, text)
        if mode is Walk.INIT:
            self.mapped = True
        elif polled and not succeeded:
            log.debug(1, "Got zero successful data polls - device may be disconnected")
            return Outcome.LOST
        return Outcome.PARTIAL if failed_status else Outcome.OK

    def set_value(self, b: Bound, value: float) -> int:
        """C's ups_infoval_set: -1 if the lookup has no text for the value, 0 for a status
        flag or alarm, 1 for a published variable."""
        e = b.entry
        text = None
        if b.lookup is not None:
            text = b.lookup.read(value, self)
            if text is None:
                log.debug(5, f"ups_infoval_set: Lookup [{value:g}] failed for [{e.name}]")
                return -1
        b.handled = True
        if text is not None:
            if e.is_bool:
                self.status_bits = apply_flag(self.status_bits, text)
                self.status_seen = True
                return 0
            if e.is_alarm:
                self.alarm_texts.append(text)
                return 0
            self.state.setinfo(e.name, text)
            self.published.add(e.name)
        else:
            formatted = format_value(e.dfl, value)
            if formatted is not None:
                self.state.setinfo(e.name, formatted)
                self.published.add(e.name)
        return 1

    # ---- interrupt pipe (C's HIDGetEvents + the event loop of upsdrv_updateinfo)

    def read_events(self) -> int:
        """Apply pending interrupt reports; the number of values they carried. Raises
        UsbError as the device does."""
        size = self.interrupt_size if 0 < self.interrupt_size < INTERRUPT_BUFSIZE \
            else INTERRUPT_BUFSIZE
        data = self.device.get_interrupt(size, INTERRUPT_TIMEOUT_MS)
        if not data:
            return 0
        if log.effective_debug >= 3:
            log.debug(3, _hex("Report[int]", data))
        self.cache.file(data)
        events = [f for f in self.desc.fields if f.report_id == data[0] and f.kind == hp.INPUT]
        if len(events) > MAX_EVENTS:
            log.debug(1, "HIDGetEvents: too many events (truncated)")
            events = events[:MAX_EVENTS]
        if not events:
            log.debug(1, "HIDGetEvents: unexpected input report (ignored)")
            return 0
        for f in events:
            buf = self.cache.data[f.report_id]
            value = hp.logical_to_value(f, hp.get_logical(buf, f))
            if log.effective_debug >= 2:
                log.debug(2, f"Path: {self.path_string(f)}, Type: {f.kind_name}, ReportID: "
                             f"0x{f.report_id:02x}, Offset: {f.offset}, Size: {f.size}, "
                             f"Value: {value:g}")
            target = self.desc.find(f.path, hp.INPUT if self.interrupt_only else hp.FEATURE)
            if target is None and not self.interrupt_only:
                target = self.desc.find(f.path, hp.INPUT)
            if target is None:
                log.debug(2, "Could not find event as either ITEM_INPUT or ITEM_FEATURE?")
                continue
            matched = False
            for b in self.bound:
                if b.field is target and not b.entry.hidflags & ABSENT:
                    matched = True
                    self.set_value(b, value)
            if not matched:
                log.debug(3, "NUT doesn't use this HID object")
        return len(events)

    # ---- status

    def publish_status(self, full: bool) -> None:
        """Turn the collected flags into ups.status (and, after a full walk, ups.alarm)."""
        state = self.state
        with state.lock:
            if full:
                state.alarm.init()
                for text in self.alarm_texts:
                    state.alarm.set(text)
                for text in alarms(self.status_bits):
                    state.alarm.set(text)
                state.alarm.commit()
                self.alarm_texts = []
            result = self.assembler.assemble(self.status_bits, state.get("battery.charge"),
                                             self.clock())
            if result.transfer_reason is None:
                state.delinfo("input.transfer.reason")
            else:
                state.setinfo("input.transfer.reason", result.transfer_reason)
            words = self.buzz + [w for w in result.buzzwords if w not in self.buzz]
            if words:
                state.setinfo("experimental.ups.mode.buzzwords", " ".join(words))
            else:
                state.delinfo("experimental.ups.mode.buzzwords")
            self.buzz = []
            state.status.init()
            for token in result.tokens:
                state.status.set(token)
            state.status.commit()

    # ---- commands and settings (C's instcmd / setvar)

    def find_entry(self, name: str) -> Bound | None:
        low = name.lower()
        for b in self.bound:
            if b.entry.name.lower() == low and b.field is not None:
                return b
        return None

    def instcmd(self, name: str, param: str | None) -> int:
        low = name.lower()
        if low == "beeper.off":
            log.warning("The 'beeper.off' command has been renamed to 'beeper.disable'")
            return self.instcmd("beeper.disable", None)
        if low == "beeper.on":
            log.warning("The 'beeper.on' command has been renamed to 'beeper.enable'")
            return self.instcmd("beeper.enable", None)
        log.debug(1, f"Starting usbhid-ups.c::instcmd('{name}', '{_strarg(param)}')")
        b = self.find_entry(name)
        if b is None:
            log.debug(3, f"instcmd: cmdname '{name}' not found; checking for alternatives")
            if low == "load.on":
                return self.instcmd("load.on.delay", "0")
            if low == "load.off":
                return self.instcmd("load.off.delay", "0")
            if low in ("shutdown.return", "shutdown.stayoff"):
                if self.state.get("ups.start.auto") is not None:
                    self.setvar("ups.start.auto", "yes" if low == "shutdown.return" else "no")
                start = self.state.get("ups.delay.start") if low == "shutdown.return" else "-1"
                result = self.instcmd("load.on.delay", start)
                if result != HANDLED:
                    return result
                # some units (Tripp Lite AVR750U) drop commands that come too fast
                self.sleep(0.125)
                return self.instcmd("load.off.delay", self.state.get("ups.delay.shutdown"))
            log.debug(2, f"instcmd: info element unavailable {name}")
            log.notice(f"instcmd: parameter [{_strarg(param)}] is invalid for command [{name}]")
            return INVALID
        e = b.entry
        if not e.hidflags & CMD:
            log.debug(2, f"instcmd: {name} is not an instant command")
            return INVALID
        val = param if param is not None else e.dfl
        value = self._nut_to_hid(b, val)
        if value is None:
            return CONVERSION_FAILED
        self._log_power_state(name, f"{_strarg(param)} ({value:f})")
        if self.write_field(b.field, value):
            log.debug(3, "instcmd: SUCCEED")
            self.data_has_changed = True
            return HANDLED
        log.notice(f"instcmd: FAILED command [{name}] [{_strarg(param)}]")
        return FAILED

    def _log_power_state(self, name: str, extra: str) -> None:
        if name.startswith(("shutdown.stop", "load.on", "test.battery.st", "test.failure.st",
                            "test.system.st", "calibrate.st", "bypass.st")):
            what = "an operation"
            tail = " which may impact power state"
        elif name.startswith(("shutdown.", "load.off", "load.cycle")) or (
                name.startswith("outlet.") and ("shutdown." in name or "load" in name)):
            what = "a power state change operation"
            tail = ""
        else:
            return
        log.notice(f"instcmd: attempting {what} [{name}] [{extra}]{tail} on [{self.upsname}]")

    def setvar(self, name: str, value: str) -> int:
        log.debug(1, f"Starting usbhid-ups.c::setvar('{name}', '{value}')")
        b = self.find_entry(name)
        if b is None:
            log.debug(2, f"setvar: info element unavailable {name}")
            log.notice(f"setvar: unknown variable [{name}] [{value}]")
            return UNKNOWN
        e = b.entry
        if not e.info_flags & RW:
            log.debug(2, f"setvar: not writable {name}")
            return UNKNOWN
        if e.hidflags & ABSENT:
            log.debug(2, f"setvar: setting server side variable {name}")
            self.state.setinfo(e.name, value)
            return HANDLED
        number = self._nut_to_hid(b, value)
        if number is None:
            return CONVERSION_FAILED
        if self.write_field(b.field, number):
            log.debug(5, "setvar: SUCCEED")
            self.data_has_changed = True
            return HANDLED
        log.notice(f"setvar: FAILED to set variable [{name}] to value [{value}]")
        return UNKNOWN

    def _nut_to_hid(self, b: Bound, val: str | None) -> float | None:
        e = b.entry
        if val is None and e.hidflags & PARAM_REQUIRED:
            log.debug(2, f"{e.name} requires an explicit or default parameter")
            return None
        if b.lookup is not None:
            try:
                return b.lookup.write(val, self)
            except InvalidValue:
                log.debug(2, f"{e.name} does not support parameter {val}")
                return None
        if val is None:
            return 0.0
        return float(_atol(val))

    # ---- debug dump of every field (C's HIDDumpTree)

    def dump_tree(self) -> None:
        if log.effective_debug < 1:
            return
        log.debug(1, f"{len(self.desc.fields)} HID objects found")
        vid = self.info.vendor_id
        pid = self.info.product_id
        for f in self.desc.fields:
            if vid in (0x0463, 0x047C) and f.report_id in (254, 255):
                continue
            if vid == 0x09AE and pid == 0x1330 and f.report_id == 0x54:
                continue
            head = (f"Path: {self.path_string(f)}, Type: {f.kind_name}, ReportID: "
                    f"0x{f.report_id:02x}, Offset: {f.offset}, Size: {f.size}")
            try:
                value = self.read_field(f)
            except (usbdev.UsbError, NoData):
                log.debug(1, head)
                continue
            log.debug(1, f"{head}, Value: {value:g}")


class NoData(Exception):
    """The device answered a GET_REPORT with nothing (C: a 0 return, skip the value)."""


def _strarg(text: str | None) -> str:
    return "(null)" if text is None else text


def _atol(text: str) -> int:
    text = text.strip()
    i = 1 if text[:1] in "+-" else 0
    j = i
    while j < len(text) and text[j].isdigit():
        j += 1
    return int(text[:j]) if j > i else 0


def _hex(label: str, data: bytes) -> str:
    return f"{label}: ({len(data)} bytes) => " + " ".join(f"{b:02x}" for b in data)
