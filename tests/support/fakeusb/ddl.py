"""HID devices rebuilt from NUT DDL dumps (`.dev` files) that embed a usbhid-ups debug log:
the device identity, the HID and report descriptors and the raw reports the driver read are
all in the log, so a dump becomes an emulated device that answers as the real one did.

The dumps belong to another project (GPL data): tests read them from the shared fixtures
directory and skip when it is absent; nothing here copies them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from support.harness import FIXTURES

from .devices import FEATURE, INPUT, OUTPUT, HidDevice

APC_BACK_UPS_CS_500 = FIXTURES / "ddl" / "APC" / \
    "APC__Back-UPS_CS_500__usbhid-ups__2.8.0__01.dev"

_TYPES = {"Input": INPUT, "Output": OUTPUT, "Feature": FEATURE}
_LOG = re.compile(r"^#\s*\[D\d+\]\s?(.*)$")
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2}\s*)+$")
_PATH = re.compile(r"Path: (\S+), Type: (\w+), ReportID: 0x([0-9a-fA-F]+), "
                   r"Offset: (\d+), Size: (\d+)")
_STRING_USAGES = {"iManufacturer": "manufacturer", "iProduct": "product",
                  "iSerialNumber": "serial"}


@dataclass
class DdlDump:
    path: Path
    values: dict[str, str] = field(default_factory=dict)   # the published variables
    commands: list[str] = field(default_factory=list)      # #CMD: lines
    vendor_id: int = 0
    product_id: int = 0
    bcd_device: int = 0x0100
    manufacturer: str | None = None
    product: str | None = None
    serial: str | None = None
    bus_number: int = 1
    address: int | None = None
    hid_descriptor: bytes = b""
    report_descriptor: bytes = b""
    reports: dict[tuple[int, int], bytes] = field(default_factory=dict)
    string_usages: dict[str, int] = field(default_factory=dict)  # iProduct -> index


def _hexbytes(text: str) -> bytes:
    return bytes.fromhex(text.strip())


def parse_ddl(path: str | Path) -> DdlDump:
    """Reads a .dev file: the variables it lists and what its embedded debug log shows."""
    path = Path(path)
    dump = DdlDump(path)
    lines = path.read_text(errors="replace").splitlines()
    log: list[str] = []
    for line in lines:
        m = _LOG.match(line)
        if m:
            log.append(m.group(1))
            continue
        if line.startswith("#CMD:"):
            dump.commands.append(line[5:].strip())
        elif line and not line.startswith("#") and ": " in line:
            name, value = line.split(": ", 1)
            dump.values[name.strip()] = value

    i = 0
    last_report = b""
    while i < len(log):
        entry = log[i]
        key, _, rest = entry.partition(": ")
        rest = rest.rstrip("\n")
        if key == "- VendorID":
            dump.vendor_id = int(rest, 16)
        elif key == "- ProductID":
            dump.product_id = int(rest, 16)
        elif key == "- Manufacturer":
            dump.manufacturer = rest
        elif key == "- Product":
            dump.product = rest
        elif key == "- Serial Number":
            dump.serial = rest
        elif key == "- Bus":
            dump.bus_number = int(rest, 10)
        elif key == "- Device":
            dump.address = int(rest, 10)
        elif key == "- Device release number":
            dump.bcd_device = int(rest, 16)
        elif entry.startswith("HID descriptor, method 2:") or (
                entry.startswith("HID descriptor, method 1:") and not dump.hid_descriptor):
            dump.hid_descriptor = _hexbytes(entry.split("=>", 1)[1])
        elif entry.startswith("Report Descriptor:"):
            size = int(re.search(r"\((\d+) bytes\)", entry).group(1))
            data = bytearray(_hexbytes(entry.split("=>", 1)[1]))
            while len(data) < size and i + 1 < len(log) and _HEX.match(log[i + 1].strip()):
                i += 1
                data += _hexbytes(log[i])
            dump.report_descriptor = bytes(data)
        elif entry.startswith(("Report[get]:", "Report[buf]:")):
            last_report = _hexbytes(entry.split("=>", 1)[1])
            if entry.startswith("Report[get]:") and last_report:
                # usbhid-ups reads every report as a feature report
                dump.reports[(FEATURE, last_report[0])] = last_report
        elif entry.startswith("Path:") and last_report:
            m = _PATH.search(entry)
            if m:
                usage_path, rtype, rid = m.group(1), _TYPES.get(m.group(2)), int(m.group(3), 16)
                offset, size = int(m.group(4)), int(m.group(5))
                if rtype in (INPUT, OUTPUT) and last_report[0] == rid:
                    dump.reports.setdefault((rtype, rid), last_report)
                usage = usage_path.rsplit(".", 1)[-1]
                if usage.startswith("i") and size <= 8 and last_report[0] == rid:
                    raw = int.from_bytes(last_report[1:], "little") >> offset
                    dump.string_usages.setdefault(usage, raw & ((1 << size) - 1))
        i += 1
    return dump


def hid_device_from_ddl(path: str | Path, **kwargs) -> HidDevice:
    """A HidDevice answering as the dumped device did. Its ``ddl`` attribute holds the
    parsed dump (published values, commands, bus position), to compare a driver's output
    with. Strings are placed at the indexes the device's own reports name (iProduct,
    iSerialNumber, iManufacturer...); the device descriptor points at the same ones."""
    dump = parse_ddl(path)
    if not dump.report_descriptor or not dump.vendor_id:
        raise ValueError(f"{path}: no usbhid-ups debug log with a report descriptor")
    strings: dict[int, str] = {}
    named = {"manufacturer": dump.manufacturer, "product": dump.product,
             "serial": dump.serial}
    indexes = {}
    for usage, what in _STRING_USAGES.items():
        idx = dump.string_usages.get(usage)
        if idx and named[what] is not None:
            indexes[what] = idx
    free = (n for n in range(1, 256) if n not in indexes.values())
    for what in ("manufacturer", "product", "serial"):
        if named[what] is not None and what not in indexes:
            indexes[what] = next(free)
    # Other string usages (iDeviceChemistry, iOEMInformation...): the value the driver
    # published from them where the dump shows one.
    chemistry = dump.string_usages.get("iDeviceChemistry")
    if chemistry and chemistry not in indexes.values() and "battery.type" in dump.values:
        strings[chemistry] = dump.values["battery.type"]
    hid = dump.hid_descriptor
    kwargs.setdefault("bcd_device", dump.bcd_device)
    if len(hid) >= 9:
        kwargs.setdefault("bcd_hid", hid[2] | hid[3] << 8)
        kwargs.setdefault("country", hid[4])
        kwargs.setdefault("hid_descriptor_length", hid[7] | hid[8] << 8)
    dev = HidDevice(
        dump.vendor_id, dump.product_id, dump.report_descriptor,
        manufacturer=dump.manufacturer, product=dump.product, serial=dump.serial,
        string_indexes=(indexes.get("manufacturer", 0), indexes.get("product", 0),
                        indexes.get("serial", 0)),
        strings=strings, reports=dump.reports, name=path and Path(path).stem, **kwargs)
    dev.ddl = dump
    return dev


def apc_back_ups_cs_500(**kwargs) -> HidDevice:
    """The APC Back-UPS CS 500 of the shared DDL fixtures; skips the test when absent."""
    if not APC_BACK_UPS_CS_500.exists():
        import pytest
        pytest.skip(f"fixtures not present: {APC_BACK_UPS_CS_500}")
    return hid_device_from_ddl(APC_BACK_UPS_CS_500, **kwargs)
