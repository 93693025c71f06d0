"""HID report descriptors and reports, as usbhid-ups reads them (pure: bytes in, fields out).

``parse(descriptor)`` walks the items of a report descriptor the way C NUT's parser does and
returns one ``Field`` per named value: its usage path (collection usages, then the value's
own usage), report ID and type, bit offset and size, logical and physical ranges, unit and
unit exponent. ``get_logical``/``set_logical`` read and write a field in a raw report whose
byte 0 is the report ID; ``to_physical``/``to_logical`` and ``scale`` turn logical values
into the physical numbers NUT publishes and back.

What C does and we do too: globals persist across main items (no push/pop); every usage
of a main item is used once and the remaining report counts are unnamed padding; a local
usage of 1 or 2 bytes takes the current usage page, a 4-byte one is a full usage; a
collection of type 0x80 or more adds an index node ``[n]``; a LogMax that reads below
LogMin is taken as its unsigned encoding ("LogMax -1 is 255"); at most 500 fields.

Where C's fixed-size bookkeeping goes wrong we do not follow it (docs/drivers-usb.md):
bit offsets do not wrap at 256, report ID 0 keeps its own offsets, a report count of 0
yields no fields, and malformed input (truncated items, unbalanced collections, deep
paths) never raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Main item types (the tag byte with the size bits cleared); C's HIDDataType names.
INPUT, OUTPUT, FEATURE = 0x80, 0x90, 0xB0
KIND_NAMES = {INPUT: "Input", OUTPUT: "Output", FEATURE: "Feature"}

COLLECTION, END_COLLECTION = 0xA0, 0xC0
USAGE_PAGE, LOGICAL_MIN, LOGICAL_MAX = 0x04, 0x14, 0x24
PHYSICAL_MIN, PHYSICAL_MAX, UNIT_EXPONENT, UNIT = 0x34, 0x44, 0x54, 0x64
REPORT_SIZE, REPORT_ID, REPORT_COUNT = 0x74, 0x84, 0x94
USAGE = 0x08
LONG_ITEM = 0xFC

ATTR_CONSTANT = 0x01  # a Data/Constant bit of 1: the field cannot be written

MAX_FIELDS = 500  # C's MAX_REPORT: later fields are dropped (with an error log)
INDEX_NODE = 0x00FF0000  # path node of an indexed collection: INDEX_NODE | n

_DATA_SIZE = (0, 1, 2, 4)


@dataclass(slots=True, eq=False)
class Field:
    path: tuple[int, ...]
    report_id: int
    kind: int  # INPUT, OUTPUT or FEATURE
    offset: int  # bit offset after the report ID byte
    size: int  # bits
    attribute: int = 0
    unit: int = 0
    unit_exp: int = 0
    log_min: int = 0
    log_max: int = 0
    phy_min: int = 0
    phy_max: int = 0
    have_phy_min: bool = False
    have_phy_max: bool = False
    assumed_log_max: bool = False  # LogMax was re-read as unsigned

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, "Unknown")


@dataclass
class ReportDescriptor:
    fields: list[Field]
    report_lengths: dict[int, int]  # report ID -> data bytes (without the ID byte)
    warnings: list[str] = field(default_factory=list)  # C logs these at LOG_WARNING/ERR

    def find(self, path: tuple[int, ...], kind: int) -> Field | None:
        """The first field of ``kind`` whose path starts with ``path`` (C compares only the
        requested depth)."""
        n = len(path)
        for f in self.fields:
            if f.kind == kind and f.path[:n] == path:
                return f
        return None

    def find_by_id_node(self, report_id: int, node: int) -> Field | None:
        """The first field of report ``report_id`` whose last path node is ``node`` (used by
        the subdrivers' descriptor fixes)."""
        for f in self.fields:
            if f.report_id == report_id and f.path and f.path[-1] == node:
                return f
        return None

    def report_length(self, report_id: int) -> int:
        """Bytes of a report including its ID byte, as C sizes its buffer."""
        return self.report_lengths.get(report_id, 0) + 1


class DescriptorError(ValueError):
    pass


def _signed(value: int, nbytes: int) -> int:
    """Item data read as a signed number of its own width (C's FormatValue)."""
    if nbytes == 0:
        return value
    bits = nbytes * 8
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def parse(data: bytes) -> ReportDescriptor:
    """Parse a report descriptor; DescriptorError if it names no field at all."""
    data = bytes(data)
    fields: list[Field] = []
    lengths: dict[int, int] = {}
    warnings: list[str] = []
    offsets: dict[tuple[int, int], int] = {}

    path: list[int] = []
    usages: list[int] = []
    page = 0
    report_id = report_size = report_count = 0
    unit = unit_exp = 0
    log_min = log_max = phy_min = phy_max = 0
    have_phy_min = have_phy_max = assumed = False

    pos, end = 0, len(data)
    truncated = too_many = False
    while pos < end and not truncated:
        tag = data[pos]
        nbytes = _DATA_SIZE[tag & 0x03]
        if pos + 1 + nbytes > end:
            truncated = True  # C would read past the buffer; we stop
            break
        value = int.from_bytes(data[pos + 1:pos + 1 + nbytes], "little")
        pos += 1 + nbytes
        item = tag & 0xFC

        if item == USAGE_PAGE:
            page = value & 0xFFFF
        elif item == USAGE:
            usages.append(value if nbytes == 4 else (page << 16) | (value & 0xFFFF))
        elif item == COLLECTION:
            path.append(usages.pop(0) if usages else 0)
            if value >= 0x80:
                path.append(INDEX_NODE | (value & 0x7F))
            usages = []
        elif item == END_COLLECTION:
            if path and (path.pop() & 0xFFFF0000) == INDEX_NODE and path:
                path.pop()  # the indexed collection's own node goes with its index
            usages = []
        elif item in (INPUT, OUTPUT, FEATURE):
            key = (report_id, item)
            for _ in range(report_count):
                usage = usages.pop(0) if usages else 0
                offset = offsets.get(key, 0)
                offsets[key] = offset + report_size
                nbytes_needed = (offset + report_size + 7) >> 3
                if nbytes_needed > lengths.get(report_id, 0):
                    lengths[report_id] = nbytes_needed
                if usage == 0:
                    continue  # padding or an unnamed continuation of the previous value
                if len(fields) >= MAX_FIELDS:
                    too_many = True
                    continue
                fields.append(Field(
                    path=tuple(path) + (usage,), report_id=report_id, kind=item,
                    offset=offset, size=report_size, attribute=value & 0xFF, unit=unit,
                    unit_exp=unit_exp, log_min=log_min, log_max=log_max, phy_min=phy_min,
                    phy_max=phy_max, have_phy_min=have_phy_min, have_phy_max=have_phy_max,
                    assumed_log_max=assumed))
            usages = []
        elif item == REPORT_ID:
            report_id = value & 0xFF
        elif item == REPORT_SIZE:
            report_size = value & 0xFF
        elif item == REPORT_COUNT:
            report_count = value & 0xFF
        elif item == UNIT_EXPONENT:
            exp = value & 0xFF
            if 7 < exp < 0x80:  # a 4-bit signed nibble: 8..15 mean -8..-1 (C ORs in 0xF0)
                exp |= 0xF0
            unit_exp = exp - 256 if exp >= 0x80 else exp
        elif item == UNIT:
            unit = value
        elif item == LOGICAL_MIN:
            log_min = _signed(value, nbytes)
        elif item == LOGICAL_MAX:
            log_max = _signed(value, nbytes)
            assumed = False
            if log_max < log_min:
                warnings.append(
                    "HIDParse: LogMax is less than LogMin. Vendor HID report descriptor may "
                    f"be incorrect; interpreting LogMax {log_max} as {value} in ReportID: "
                    f"0x{report_id:02x}")
                log_max = value
                assumed = True
        elif item == PHYSICAL_MIN:
            phy_min = _signed(value, nbytes)
            have_phy_min = True
        elif item == PHYSICAL_MAX:
            phy_max = _signed(value, nbytes)
            have_phy_max = True
        elif item == LONG_ITEM:
            pos += value & 0xFF
    if too_many:
        warnings.append("ERROR in Parse_ReportDesc: Too many HID objects")
    if not fields:
        raise DescriptorError("no HID objects in the report descriptor")
    return ReportDescriptor(fields, lengths, warnings)


# ---- values in reports

def get_logical(report: bytes, f: Field) -> int:
    """The logical value of ``f`` in ``report`` (byte 0 = report ID), read like C's GetValue:
    bits past the end of a short report read as 0; high bits beyond what LogMin/LogMax need
    are dropped, the value is sign-extended when LogMin < 0 and clamped to the range."""
    start = f.offset + 8
    first, last = start >> 3, (start + f.size + 7) >> 3
    chunk = bytes(report[first:last])
    raw = (int.from_bytes(chunk, "little") >> (start & 7)) & ((1 << f.size) - 1) if f.size else 0

    mag_max = f.log_max if f.log_max >= 0 else -(f.log_max + 1)
    mag_min = f.log_min if f.log_min >= 0 else -(f.log_min + 1)
    signbit = 1 << max(mag_max, mag_min).bit_length()
    mask = (signbit - 1) | (signbit if f.log_min < 0 else 0)
    value = raw & mask
    if f.log_min < 0 and value & signbit:
        value -= signbit << 1
    if value < f.log_min:
        return f.log_min
    if value > f.log_max:
        return f.log_max
    return value


def set_logical(report: bytearray, f: Field, value: int) -> None:
    """Write the low ``size`` bits of ``value`` into ``report`` at the field's place (C's
    SetValue); the report grows if it is too short."""
    start = f.offset + 8
    need = (start + f.size + 7) >> 3
    if len(report) < need:
        report.extend(b"\0" * (need - len(report)))
    for i in range(f.size):
        bit = start + i
        if value >> i & 1:
            report[bit >> 3] |= 1 << (bit & 7)
        else:
            report[bit >> 3] &= ~(1 << (bit & 7)) & 0xFF


# ---- logical <-> physical, units

# Units whose exponent HID PDC counts from a base other than 10^0 (C's HIDUnits): volts,
# volt-amperes and watts are given in 10^-7 of the SI unit.
_UNIT_BASE_EXP = {0x00F0D121: 7, 0x0000D121: 7}


def _has_physical(f: Field) -> bool:
    return f.have_phy_min and f.have_phy_max and not (f.phy_min == 0 and f.phy_max == 0)


def to_physical(f: Field, logical: int) -> float:
    if not _has_physical(f) or f.phy_max <= f.phy_min or f.log_max <= f.log_min:
        return float(logical)
    factor = (f.phy_max - f.phy_min) / (f.log_max - f.log_min)
    physical = (logical - f.log_min) * factor + f.phy_min
    if physical > f.phy_max:
        return float(f.phy_max)
    if physical < f.phy_min:
        return float(f.phy_min)
    return physical


def to_logical(f: Field, physical: float) -> int:
    if not _has_physical(f) or f.phy_max <= f.phy_min or f.log_max <= f.log_min:
        return _c_long(physical)
    factor = (f.log_max - f.log_min) / (f.phy_max - f.phy_min)
    logical = _c_long((physical - f.phy_min) * factor) + f.log_min
    return max(f.log_min, min(f.log_max, logical))


def _c_long(x: float) -> int:
    """C's (long) cast of a double: truncation toward zero."""
    return int(x) if x == x and abs(x) < 2 ** 63 else 0


def unit_exponent(f: Field) -> int:
    return f.unit_exp - _UNIT_BASE_EXP.get(f.unit, 0)


def power_of_ten(exp: int) -> float:
    """10**exp computed as C's exponent() does, one factor at a time, so that the doubles
    (and hence the printed values) match C's to the last bit."""
    result = 1.0
    if exp > 0:
        for _ in range(exp):
            result = 10.0 * result
    else:
        for _ in range(-exp):
            result = (1 / 10.0) * result
    return result


def logical_to_value(f: Field, logical: int) -> float:
    """What C's HIDGetDataValue reports: physical value times 10^(exponent)."""
    return to_physical(f, logical) * power_of_ten(unit_exponent(f))


def value_to_logical(f: Field, value: float) -> int:
    """The inverse used by HIDSetDataValue."""
    return to_logical(f, value / power_of_ten(unit_exponent(f)))
