"""Build HID report descriptors and their reports for emulated UPSes, from a list of fields.

Written independently of nutpy's parser (it is the parser's test oracle): it emits the
items itself, keeps its own bit offsets per report, and packs report bytes itself.

    model = HidModel([
        F("UPS.PowerSummary.RemainingCapacity", 0x0c, size=8, max=100, kinds="IF"),
        F("UPS.PowerSummary.Voltage", 0x09, size=16, max=65535, unit=VOLT, exp=5),
    ], pages={"UPS": 0x840004, ...})
    model.descriptor            # bytes
    model.set("UPS.PowerSummary.RemainingCapacity", 87)
    model.report(0x0c)          # b"\x0c\x57"
"""

from __future__ import annotations

from dataclasses import dataclass, field

# units of the Power Device class
VOLT, AMPERE, VA, SECOND, KELVIN, HERTZ = 0x00F0D121, 0x00100001, 0x0000D121, 0x00001001, \
    0x00010001, 0x0000F001

# standard usages used by the models (page 0x84 Power Device, 0x85 Battery System)
USAGES = {
    "UPS": 0x840004, "PowerSummary": 0x840024, "PresentStatus": 0x840002,
    "Battery": 0x840012, "BatterySystem": 0x840010, "Charger": 0x840014,
    "PowerConverter": 0x840016, "OutletSystem": 0x840018, "Outlet": 0x840020,
    "Input": 0x84001A, "Output": 0x84001C, "Flow": 0x84001E,
    "Voltage": 0x840030, "Current": 0x840031, "Frequency": 0x840032,
    "ApparentPower": 0x840033, "ActivePower": 0x840034, "PercentLoad": 0x840035,
    "Temperature": 0x840036, "ConfigVoltage": 0x840040, "ConfigFrequency": 0x840042,
    "ConfigApparentPower": 0x840043, "ConfigActivePower": 0x840044,
    "LowVoltageTransfer": 0x840053, "HighVoltageTransfer": 0x840054,
    "DelayBeforeReboot": 0x840055, "DelayBeforeStartup": 0x840056,
    "DelayBeforeShutdown": 0x840057, "Test": 0x840058, "AudibleAlarmControl": 0x84005A,
    "Good": 0x840061, "InternalFailure": 0x840062, "VoltageOutOfRange": 0x840063,
    "Overload": 0x840065, "OverTemperature": 0x840067, "ShutdownImminent": 0x840069,
    "Switchable": 0x84006C, "Used": 0x84006D, "Boost": 0x84006E, "Buck": 0x84006F,
    "AwaitingPower": 0x840072, "CommunicationLost": 0x840073,
    "iManufacturer": 0x8400FD, "iProduct": 0x8400FE, "iSerialNumber": 0x8400FF,
    "RemainingCapacityLimit": 0x850029, "RemainingTimeLimit": 0x85002A,
    "BelowRemainingCapacityLimit": 0x850042, "RemainingTimeLimitExpired": 0x850043,
    "Charging": 0x850044, "Discharging": 0x850045, "FullyCharged": 0x850046,
    "FullyDischarged": 0x850047, "NeedReplacement": 0x85004B,
    "RemainingCapacity": 0x850066, "FullChargeCapacity": 0x850067,
    "RunTimeToEmpty": 0x850068, "DesignCapacity": 0x850083, "ManufacturerDate": 0x850085,
    "iDeviceChemistry": 0x850089, "WarningCapacityLimit": 0x85008C,
    "iOEMInformation": 0x85008F, "ACPresent": 0x8500D0, "BatteryPresent": 0x8500D1,
}

FEATURE, INPUT = 0xB0, 0x80


@dataclass
class F:
    """One value: its path (names from USAGES or the model's own, ``[n]`` for an indexed
    collection, or 8 hex digits), report ID, size in bits, logical range, unit and unit
    exponent, and the report types it appears in ("F" feature, "I" input)."""
    path: str
    report_id: int
    size: int = 8
    min: int = 0
    max: int = 255
    unit: int = 0
    exp: int = 0
    kinds: str = "F"
    phys: tuple[int, int] | None = None
    value: int = 0  # logical, as it goes on the wire


def _item(tag: int, value: int, signed: bool = True) -> bytes:
    """A short item with the smallest data size that holds ``value``."""
    if value == 0 and tag not in (0x08,):
        return bytes([tag])
    for size, code in ((1, 1), (2, 2), (4, 3)):
        lo, hi = (-(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1) if signed else \
            (0, (1 << (8 * size)) - 1)
        if lo <= value <= hi:
            return bytes([tag | code]) + (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    raise ValueError(value)


@dataclass
class HidModel:
    fields: list[F]
    names: dict[str, int] = field(default_factory=dict)  # the vendor's own usages

    def __post_init__(self) -> None:
        self.by_path = {f.path: f for f in self.fields}
        self.layout: dict[tuple[int, int], list[tuple[F, int]]] = {}  # (id, kind) -> (F, offset)
        self.descriptor = self._build()

    def _usage(self, name: str) -> int:
        if name in self.names:
            return self.names[name]
        if name in USAGES:
            return USAGES[name]
        return int(name, 16)

    def _build(self) -> bytes:
        out = bytearray()
        page = None
        offsets: dict[tuple[int, int], int] = {}

        def usage(code: int) -> None:
            nonlocal page
            if code >> 16 != page:
                page = code >> 16
                out.extend(_item(0x04, page, signed=False))
            out.extend(_item(0x08, code & 0xFFFF, signed=False) if code & 0xFFFF
                       else bytes([0x09, 0x00]))

        for f in self.fields:
            parts = f.path.split(".")
            depth = 0
            for i, name in enumerate(parts[:-1]):
                if name.startswith("["):
                    continue  # consumed with the collection before it
                usage(self._usage(name))
                ctype = 0x01 if i == 0 else 0x00
                if i + 1 < len(parts) - 1 and parts[i + 1].startswith("["):
                    ctype = 0x80 | int(parts[i + 1][1:-1])
                out.extend(bytes([0xA1, ctype]))
                depth += 1
            out.extend(_item(0x84, f.report_id, signed=False))
            out.extend(_item(0x74, f.size, signed=False))
            out.extend(_item(0x94, 1, signed=False))
            out.extend(_item(0x14, f.min))
            out.extend(_item(0x24, f.max))
            if f.phys:
                out.extend(_item(0x34, f.phys[0]))
                out.extend(_item(0x44, f.phys[1]))
            out.extend(_item(0x64, f.unit, signed=False) if f.unit else bytes([0x65, 0x00]))
            out.extend(bytes([0x55, f.exp & 0x0F]))
            for kind_letter in f.kinds:
                kind = FEATURE if kind_letter == "F" else INPUT
                usage(self._usage(parts[-1]))
                out.extend(bytes([kind | 0x01, 0x02]))  # Data, Variable, Absolute
                key = (f.report_id, kind)
                offset = offsets.get(key, 0)
                offsets[key] = offset + f.size
                self.layout.setdefault(key, []).append((f, offset))
            out.extend(b"\xC0" * depth)
            if f.phys:  # later fields have no physical range
                out.extend(b"\x34\x44")
        return bytes(out)

    def set(self, path: str, value: int) -> None:
        self.by_path[path].value = value

    def get(self, path: str) -> int:
        return self.by_path[path].value

    def report(self, report_id: int, kind: int = FEATURE) -> bytes:
        entries = self.layout.get((report_id, kind), [])
        nbits = max((off + f.size for f, off in entries), default=0)
        bits = 0
        for f, off in entries:
            bits |= (f.value & ((1 << f.size) - 1)) << off
        return bytes([report_id]) + bits.to_bytes((nbits + 7) // 8, "little")

    def report_ids(self, kind: int = FEATURE) -> list[int]:
        return sorted({rid for rid, k in self.layout if k == kind})

    def reports(self) -> dict[tuple[int, int], bytes]:
        """Every report as the device would answer GET_REPORT: {(type, id): bytes} with
        types 1 (input) and 3 (feature)."""
        out = {}
        for (rid, kind) in self.layout:
            out[(3 if kind == FEATURE else 1, rid)] = self.report(rid, kind)
        return out

    def push(self, device) -> None:
        """Store every report in an emulated HidDevice."""
        for (rtype, rid), data in self.reports().items():
            device.set_report(rtype, rid, data)
