"""Standard USB descriptors as bytes (USB 2.0 chapter 9, HID 1.11 section 6.2.1)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

DT_DEVICE = 0x01
DT_CONFIG = 0x02
DT_STRING = 0x03
DT_INTERFACE = 0x04
DT_ENDPOINT = 0x05
DT_HID = 0x21
DT_REPORT = 0x22

CLASS_HID = 0x03
CLASS_VENDOR = 0xFF

TRANSFER_CONTROL = 0
TRANSFER_ISOCHRONOUS = 1
TRANSFER_BULK = 2
TRANSFER_INTERRUPT = 3

# libusb_speed
SPEED_UNKNOWN, SPEED_LOW, SPEED_FULL, SPEED_HIGH, SPEED_SUPER = range(5)


@dataclass
class Endpoint:
    address: int                       # bit 7 set: IN
    attributes: int = TRANSFER_INTERRUPT
    max_packet_size: int = 8
    interval: int = 10
    extra: bytes = b""                 # class/vendor descriptors following it

    def descriptor(self) -> bytes:
        return struct.pack("<BBBBHB", 7, DT_ENDPOINT, self.address, self.attributes,
                           self.max_packet_size, self.interval) + self.extra


@dataclass
class Interface:
    number: int = 0
    alternate: int = 0
    interface_class: int = CLASS_VENDOR
    subclass: int = 0
    protocol: int = 0
    string_index: int = 0
    endpoints: list[Endpoint] = field(default_factory=list)
    extra: bytes = b""                 # class descriptors (the HID descriptor goes here)

    def descriptor(self) -> bytes:
        head = struct.pack("<BBBBBBBBB", 9, DT_INTERFACE, self.number, self.alternate,
                           len(self.endpoints), self.interface_class, self.subclass,
                           self.protocol, self.string_index)
        return head + self.extra + b"".join(e.descriptor() for e in self.endpoints)


def device_descriptor(*, bcd_usb: int, device_class: int, subclass: int, protocol: int,
                      max_packet_size0: int, vendor_id: int, product_id: int, bcd_device: int,
                      i_manufacturer: int, i_product: int, i_serial: int,
                      num_configurations: int) -> bytes:
    return struct.pack("<BBHBBBBHHHBBBB", 18, DT_DEVICE, bcd_usb, device_class, subclass,
                       protocol, max_packet_size0, vendor_id, product_id, bcd_device,
                       i_manufacturer, i_product, i_serial, num_configurations)


def config_descriptor(interfaces: list[Interface], *, value: int = 1, string_index: int = 0,
                      attributes: int = 0xA0, max_power_ma: int = 100) -> bytes:
    body = b"".join(i.descriptor() for i in interfaces)
    numbers = {i.number for i in interfaces}
    head = struct.pack("<BBHBBBBB", 9, DT_CONFIG, 9 + len(body), len(numbers), value,
                       string_index, attributes, max_power_ma // 2)
    return head + body


def hid_descriptor(report_descriptor_length: int, *, bcd_hid: int = 0x0100,
                   country: int = 0) -> bytes:
    return struct.pack("<BBHBBBH", 9, DT_HID, bcd_hid, country, 1, DT_REPORT,
                       report_descriptor_length)


def string_descriptor(text: str) -> bytes:
    data = text.encode("utf-16-le")
    if len(data) > 253:
        raise ValueError(f"string descriptor too long: {text!r}")
    return bytes([2 + len(data), DT_STRING]) + data


def langid_descriptor(langids: tuple[int, ...]) -> bytes:
    return bytes([2 + 2 * len(langids), DT_STRING]) + b"".join(
        struct.pack("<H", l) for l in langids)
