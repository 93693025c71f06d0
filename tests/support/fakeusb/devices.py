"""Emulated USB devices: what a device answers on its control pipe and its other endpoints.

A model only decides answers; the bus (controller.py) owns attachment, handles, blocking
and faults, and records every transfer on the device. Models run under the bus lock, from
the controller's threads: keep handlers quick and never block in them.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Callable

from . import descriptors as d
from . import errors
from .errors import UsbError

# bmRequestType pieces
DIR_IN = 0x80
TYPE_STANDARD, TYPE_CLASS, TYPE_VENDOR = 0x00, 0x20, 0x40
RECIP_DEVICE, RECIP_INTERFACE, RECIP_ENDPOINT = 0, 1, 2

# standard requests
GET_STATUS, CLEAR_FEATURE, SET_FEATURE = 0x00, 0x01, 0x03
GET_DESCRIPTOR, SET_DESCRIPTOR = 0x06, 0x07
GET_CONFIGURATION, SET_CONFIGURATION = 0x08, 0x09
GET_INTERFACE, SET_INTERFACE = 0x0A, 0x0B

# HID class requests and report types
HID_GET_REPORT, HID_GET_IDLE, HID_GET_PROTOCOL = 0x01, 0x02, 0x03
HID_SET_REPORT, HID_SET_IDLE, HID_SET_PROTOCOL = 0x09, 0x0A, 0x0B
INPUT, OUTPUT, FEATURE = 1, 2, 3
REPORT_TYPE_NAMES = {INPUT: "input", OUTPUT: "output", FEATURE: "feature"}

PASS = NotImplemented  # what an `on_control` hook returns to leave a request to the model


@dataclass(frozen=True)
class ControlRequest:
    request_type: int
    request: int
    value: int
    index: int
    length: int
    data: bytes = b""          # the data stage of an OUT request

    @property
    def is_in(self) -> bool:
        return bool(self.request_type & DIR_IN)

    @property
    def kind(self) -> int:
        return self.request_type & 0x60

    @property
    def recipient(self) -> int:
        return self.request_type & 0x1F

    def __str__(self) -> str:
        return (f"{self.request_type:02x} {self.request:02x} {self.value:04x} "
                f"{self.index:04x} {self.length}")


@dataclass
class Transfer:
    """One transfer as the host made it and as the device answered it."""
    kind: str                          # "control", "interrupt" or "bulk"
    pid: int                           # the process that made it
    handle: int
    setup: ControlRequest | None = None
    endpoint: int = 0
    length: int = 0                    # bytes the host asked for (IN) or sent (OUT)
    timeout_ms: int = 0
    data_out: bytes = b""
    data_in: bytes = b""
    status: int = 0                    # libusb return: bytes (control), 0 or an error code
    time: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.status >= 0


@dataclass
class Event:
    """A non-transfer operation on the device (open, close, claim, reset...)."""
    op: str
    pid: int
    handle: int
    args: tuple = ()
    status: int = 0
    time: float = field(default_factory=time.monotonic)


class UsbDevice:
    """A USB device with one configuration: descriptors, strings and the standard requests.

    Subclass and override ``handle_control`` (or set ``on_control``, a callable that gets
    each ControlRequest first and returns PASS to leave it to the model) for class or vendor
    protocols; ``handle_data_out`` for interrupt/bulk OUT; feed IN endpoints with
    ``queue_interrupt``/``queue_bulk``.
    """

    def __init__(self, vendor_id: int, product_id: int, *, bcd_device: int = 0x0100,
                 bcd_usb: int = 0x0110, device_class: int = 0, device_subclass: int = 0,
                 device_protocol: int = 0, max_packet_size0: int = 8,
                 manufacturer: str | None = None, product: str | None = None,
                 serial: str | None = None, string_indexes: tuple[int, int, int] = (1, 2, 3),
                 strings: dict[int, str] | None = None, langids: tuple[int, ...] = (0x0409,),
                 interfaces: list[d.Interface] | None = None, config_attributes: int = 0xA0,
                 max_power_ma: int = 100, speed: int = d.SPEED_LOW,
                 name: str | None = None) -> None:
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.bcd_device = bcd_device
        self.bcd_usb = bcd_usb
        self.device_class = (device_class, device_subclass, device_protocol)
        self.max_packet_size0 = max_packet_size0
        self.speed = speed
        self.langids = langids
        self.strings: dict[int, str] = dict(strings or {})
        i_mfr, i_prod, i_ser = string_indexes
        self.i_manufacturer = self._add_string(i_mfr, manufacturer)
        self.i_product = self._add_string(i_prod, product)
        self.i_serial = self._add_string(i_ser, serial)
        self.interfaces: list[d.Interface] = interfaces if interfaces is not None else []
        self.config_attributes = config_attributes
        self.max_power_ma = max_power_ma
        self.name = name or f"{vendor_id:04x}:{product_id:04x}"
        self.on_control: Callable[[ControlRequest], object] | None = None

        # State the bus reads and changes under its lock.
        self.recording = True          # False: keep no transfer log (long benchmark runs)
        self.transfers: list[Transfer] = []
        self.events: list[Event] = []
        self.queues: dict[int, collections.deque[bytes]] = collections.defaultdict(
            collections.deque)
        self.kernel_driver: dict[int, bool] = {}   # interface -> a kernel driver is bound
        self.configuration = 1
        self.alt_settings: dict[int, int] = {}
        self.halted: set[int] = set()
        self.faults: list = []                      # controller.Fault, in match order
        self.attachment = None                      # set by the bus while plugged in
        self.last_attachment = None
        self.bus = None

    def _add_string(self, index: int, text: str | None) -> int:
        if text is None:
            return 0
        self.strings[index] = text
        return index

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    # -- descriptors ----------------------------------------------------------------------

    def device_descriptor(self) -> bytes:
        cls, sub, proto = self.device_class
        return d.device_descriptor(
            bcd_usb=self.bcd_usb, device_class=cls, subclass=sub, protocol=proto,
            max_packet_size0=self.max_packet_size0, vendor_id=self.vendor_id,
            product_id=self.product_id, bcd_device=self.bcd_device,
            i_manufacturer=self.i_manufacturer, i_product=self.i_product,
            i_serial=self.i_serial, num_configurations=1)

    def config_descriptors(self) -> list[bytes]:
        return [d.config_descriptor(self.interfaces, attributes=self.config_attributes,
                                    max_power_ma=self.max_power_ma)]

    def string(self, index: int, langid: int) -> bytes:
        if index == 0:
            return d.langid_descriptor(self.langids)
        if index not in self.strings:
            raise UsbError(errors.PIPE)
        return d.string_descriptor(self.strings[index])

    # -- the control pipe -----------------------------------------------------------------

    def control(self, req: ControlRequest) -> bytes:
        """The answer to a control request (IN data; b"" for OUT), or UsbError."""
        if self.on_control is not None:
            answer = self.on_control(req)
            if answer is not PASS:
                return bytes(answer or b"")
        return bytes(self.handle_control(req) or b"")

    def handle_control(self, req: ControlRequest) -> bytes | None:
        if req.kind == TYPE_STANDARD:
            return self.standard_request(req)
        raise UsbError(errors.PIPE)

    def standard_request(self, req: ControlRequest) -> bytes | None:
        dtype, index = req.value >> 8, req.value & 0xFF
        if req.request == GET_DESCRIPTOR and req.is_in and req.recipient == RECIP_DEVICE:
            if dtype == d.DT_DEVICE:
                return self.device_descriptor()
            if dtype == d.DT_CONFIG:
                configs = self.config_descriptors()
                if index < len(configs):
                    return configs[index]
            if dtype == d.DT_STRING:
                return self.string(index, req.index)
            raise UsbError(errors.PIPE)
        if req.request == GET_STATUS and req.is_in:
            return b"\x00\x00"
        if req.request == GET_CONFIGURATION and req.is_in:
            return bytes([self.configuration])
        if req.request == GET_INTERFACE and req.is_in:
            return bytes([self.alt_settings.get(req.index, 0)])
        if req.request == SET_CONFIGURATION and not req.is_in:
            self.configuration = req.value & 0xFF
            return None
        if req.request == SET_INTERFACE and not req.is_in:
            self.alt_settings[req.index] = req.value
            return None
        if req.request in (CLEAR_FEATURE, SET_FEATURE) and not req.is_in:
            return None
        raise UsbError(errors.PIPE)

    # -- interrupt and bulk endpoints -----------------------------------------------------

    def queue_interrupt(self, data: bytes, endpoint: int = 0x81) -> None:
        """Data the device sends on its next interrupt IN transfer(s) from `endpoint`."""
        self._queue(endpoint, data)

    def queue_bulk(self, data: bytes, endpoint: int = 0x82) -> None:
        self._queue(endpoint, data)

    def _queue(self, endpoint: int, data: bytes) -> None:
        if self.bus is not None:
            self.bus._queue(self, endpoint, bytes(data))
        else:
            self.queues[endpoint].append(bytes(data))

    def handle_data_out(self, kind: str, endpoint: int, data: bytes) -> None:
        """Interrupt or bulk OUT data from the host; the default accepts it."""

    def endpoint_exists(self, endpoint: int) -> bool:
        return any(e.address == endpoint for i in self.interfaces for e in i.endpoints)

    # -- what the host did ----------------------------------------------------------------

    def control_transfers(self, request_type: int | None = None,
                          request: int | None = None) -> list[Transfer]:
        return [t for t in list(self.transfers) if t.kind == "control"
                and (request_type is None or t.setup.request_type == request_type)
                and (request is None or t.setup.request == request)]


class HidDevice(UsbDevice):
    """A HID device (such as a HID Power Device Class UPS): the HID descriptor, the report
    descriptor, GET_REPORT/SET_REPORT on stored reports, the idle rate, and the interrupt IN
    endpoint fed from a queue.

    Reports are stored as they travel on the wire: with the report ID as first byte when the
    ID is not 0. A SET_REPORT stores what the host sent (so the next GET_REPORT of that
    report returns it) unless ``on_set_report(report_type, report_id, data)`` returns False.
    A GET_REPORT of a report never set stalls (LIBUSB_ERROR_PIPE) unless
    ``unknown_report_size`` is set, then it returns that many zero bytes after the ID.
    """

    def __init__(self, vendor_id: int, product_id: int, report_descriptor: bytes, *,
                 interface_number: int = 0, in_endpoint: int = 0x81,
                 out_endpoint: int | None = None, max_packet_size: int = 8,
                 interval: int = 10, bcd_hid: int = 0x0100, country: int = 0,
                 hid_descriptor_length: int | None = None,
                 reports: dict[tuple[int, int], bytes] | None = None, **kwargs) -> None:
        self.report_descriptor = bytes(report_descriptor)
        self.interface_number = interface_number
        self.in_endpoint = in_endpoint
        length = len(self.report_descriptor) if hid_descriptor_length is None \
            else hid_descriptor_length
        self.hid_descriptor = d.hid_descriptor(length, bcd_hid=bcd_hid, country=country)
        endpoints = [d.Endpoint(in_endpoint, d.TRANSFER_INTERRUPT, max_packet_size, interval)]
        if out_endpoint is not None:
            endpoints.append(d.Endpoint(out_endpoint, d.TRANSFER_INTERRUPT, max_packet_size,
                                        interval))
        kwargs.setdefault("interfaces", [d.Interface(
            number=interface_number, interface_class=d.CLASS_HID, endpoints=endpoints,
            extra=self.hid_descriptor)])
        super().__init__(vendor_id, product_id, **kwargs)
        self.reports: dict[tuple[int, int], bytes] = dict(reports or {})
        self.idle_rate: dict[int, int] = {}
        self.protocol = 1
        self.on_set_report: Callable[[int, int, bytes], bool | None] | None = None
        self.unknown_report_size: int | None = None

    # -- reports as a test sets them -------------------------------------------------------

    def set_report(self, report_type: int, report_id: int, data: bytes) -> None:
        data = bytes(data)
        if report_id and (not data or data[0] != report_id):
            raise ValueError(f"report 0x{report_id:02x} must start with its ID: {data.hex()}")
        if self.bus is not None:
            with self.bus._cv:
                self.reports[(report_type, report_id)] = data
        else:
            self.reports[(report_type, report_id)] = data

    def set_feature(self, report_id: int, data: bytes) -> None:
        self.set_report(FEATURE, report_id, data)

    def set_input(self, report_id: int, data: bytes, *, interrupt: bool = False) -> None:
        """Sets what GET_REPORT(input) returns; with interrupt=True the device also sends it
        on the interrupt pipe, as a device does when an input changes."""
        self.set_report(INPUT, report_id, data)
        if interrupt:
            self.queue_interrupt(data, self.in_endpoint)

    def get_report(self, report_type: int, report_id: int) -> bytes | None:
        return self.reports.get((report_type, report_id))

    # -- what the host sent ----------------------------------------------------------------

    def set_reports(self) -> list[tuple[int, int, bytes]]:
        """Every SET_REPORT the host sent, in order: (report type, report ID, data)."""
        return [(t.setup.value >> 8, t.setup.value & 0xFF, t.data_out)
                for t in self.control_transfers(0x21, HID_SET_REPORT)]

    def get_reports(self) -> list[tuple[int, int]]:
        """Every GET_REPORT the host made, in order: (report type, report ID)."""
        return [(t.setup.value >> 8, t.setup.value & 0xFF)
                for t in self.control_transfers(0xA1, HID_GET_REPORT)]

    # -- the HID class on the control pipe --------------------------------------------------

    def handle_control(self, req: ControlRequest) -> bytes | None:
        if (req.kind == TYPE_STANDARD and req.recipient == RECIP_INTERFACE
                and req.request == GET_DESCRIPTOR and req.is_in
                and req.index == self.interface_number):
            dtype = req.value >> 8
            if dtype == d.DT_HID:
                return self.hid_descriptor
            if dtype == d.DT_REPORT:
                return self.report_descriptor
            raise UsbError(errors.PIPE)
        if req.kind == TYPE_CLASS and req.recipient == RECIP_INTERFACE:
            if req.index != self.interface_number:
                raise UsbError(errors.PIPE)
            return self.class_request(req)
        return super().handle_control(req)

    def class_request(self, req: ControlRequest) -> bytes | None:
        rtype, rid = req.value >> 8, req.value & 0xFF
        if req.request == HID_GET_REPORT and req.is_in:
            data = self.reports.get((rtype, rid))
            if data is None:
                if self.unknown_report_size is None:
                    raise UsbError(errors.PIPE)
                data = (bytes([rid]) if rid else b"") + bytes(self.unknown_report_size)
            return data
        if req.request == HID_SET_REPORT and not req.is_in:
            store = True
            if self.on_set_report is not None:
                store = self.on_set_report(rtype, rid, req.data) is not False
            if store:
                self.reports[(rtype, rid)] = req.data
            return None
        if req.request == HID_SET_IDLE and not req.is_in:
            self.idle_rate[rid] = req.value >> 8
            return None
        if req.request == HID_GET_IDLE and req.is_in:
            return bytes([self.idle_rate.get(rid, 0)])
        if req.request == HID_SET_PROTOCOL and not req.is_in:
            self.protocol = req.value & 1
            return None
        if req.request == HID_GET_PROTOCOL and req.is_in:
            return bytes([self.protocol])
        raise UsbError(errors.PIPE)
