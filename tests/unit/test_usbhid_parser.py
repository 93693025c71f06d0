"""The HID report descriptor parser and report codec of usbhid-ups, on a real descriptor
(the APC Back-UPS CS 500 dump, whose debug log holds the descriptor, the raw reports and
the values C read from them), on descriptors of our own making, and on random input."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nutpy.drivers.usbhid import hidparser as hp
from nutpy.drivers.usbhid.usages import STANDARD_TABLE, UsageTable
from support.fakeusb.ddl import APC_BACK_UPS_CS_500 as APC_DUMP
from support.harness import require_fixtures
from support.hidbuild import VOLT, F, HidModel


def _apc_log() -> list[str]:
    require_fixtures(APC_DUMP)
    return [m.group(1) for m in re.finditer(r"^# \[D\d\] (.*)$", APC_DUMP.read_text(), re.M)]


def _apc_descriptor(log: list[str]) -> bytes:
    for i, line in enumerate(log):
        if line.startswith("Report Descriptor: ("):
            size = int(re.search(r"\((\d+) bytes\)", line).group(1))
            data = bytes.fromhex(line.split("=>")[1])
            j = i + 1
            while len(data) < size:
                data += bytes.fromhex(log[j])
                j += 1
            return data
    raise AssertionError("no report descriptor in the dump")


def _apc_objects(log: list[str]) -> list[tuple[str, str, int, int, int, str, bytes]]:
    """Each "Path:" line of the dump with the raw report read just before it."""
    out, report = [], b""
    for line in log:
        m = re.match(r"Report\[(?:get|buf)\]: \(\d+ bytes\) => (.*)", line)
        if m:
            report = bytes.fromhex(m.group(1))
        m = re.match(r"Path: (\S+), Type: (\w+), ReportID: 0x(\w+), Offset: (\d+), Size: (\d+),"
                     r" Value: (\S+)", line)
        if m:
            path, kind, rid, off, size, value = m.groups()
            out.append((path, kind, int(rid, 16), int(off), int(size), value, report))
    return out


def test_apc_dump_descriptor_gives_the_objects_and_values_c_read():
    log = _apc_log()
    desc = hp.parse(_apc_descriptor(log))
    objects = _apc_objects(log)
    assert len(desc.fields) == len(objects) == 35
    for f, (path, kind, rid, off, size, value, report) in zip(desc.fields, objects):
        assert STANDARD_TABLE.path_to_string(f.path) == path
        assert (f.kind_name, f.report_id, f.offset, f.size) == (kind, rid, off, size)
        assert desc.report_length(rid) == len(report)
        # C prints the value with %g; globals such as the volt unit and exponent 5 set for
        # ConfigVoltage stay in force for later items (iManufacturer reads 0.03)
        assert "%g" % hp.logical_to_value(f, hp.get_logical(report, f)) == value, path
    assert desc.warnings == []


def test_apc_dump_lengths_and_lookup():
    desc = hp.parse(_apc_descriptor(_apc_log()))
    assert desc.report_length(0x0C) == 6  # 24 + 16 bits after the ID
    path = STANDARD_TABLE.string_to_path("UPS.PowerSummary.RemainingCapacity")
    assert desc.find(path, hp.FEATURE).report_id == 0x0C
    assert desc.find(path, hp.INPUT).kind == hp.INPUT
    # C matches on the requested depth only: a prefix finds the first field under it
    assert desc.find(STANDARD_TABLE.string_to_path("UPS.PowerSummary"), hp.FEATURE).path[-1] \
        == 0x8400FE
    vendor = UsageTable([("APCDelayBeforeReboot", 0xFF86007C), ("APCGeneralCollection", 0xFF860005)])
    f = desc.find(vendor.string_to_path("UPS.APCGeneralCollection.APCDelayBeforeReboot"),
                  hp.FEATURE)
    assert (f.report_id, f.size) == (0x40, 8)


# GetValue vectors of NUT's own unit test of its parser (buffer, offset, size, min, max)
GET_VALUE_VECTORS = [
    ("00 ff ff ff ff", 0, 32, -1, 2147483647, -1),
    ("00 ff", 0, 8, -1, 127, -1),
    ("00 ff", 0, 8, 0, 127, 127),
    ("00 ff", 0, 8, 0, 255, 255),
    ("33 00 0a 08 80", 0, 32, 0, 65535, 2560),
    ("00 00 08 00 00", 0, 32, 0, 65535, 2048),
    ("06 00 00 08", 16, 8, 0, 255, 8),
]


@pytest.mark.parametrize("buf,offset,size,lo,hi,expected", GET_VALUE_VECTORS)
def test_get_value_masks_sign_extends_and_clamps(buf, offset, size, lo, hi, expected):
    f = hp.Field((1,), 0, hp.FEATURE, offset, size, log_min=lo, log_max=hi)
    assert hp.get_logical(bytes.fromhex(buf), f) == expected


def test_get_value_single_bits():
    report = bytes.fromhex("16 0c 00 00 00")
    bits = [hp.get_logical(report, hp.Field((1,), 0x16, hp.FEATURE, i, 1, log_max=1))
            for i in range(11)]
    assert bits == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0]


def test_set_then_get_round_trips_and_keeps_neighbours():
    report = bytearray(b"\x05\xff\xff\xff")
    f = hp.Field((1,), 5, hp.FEATURE, 4, 12, log_min=-1, log_max=2047)
    hp.set_logical(report, f, -1)
    assert hp.get_logical(report, f) == -1
    hp.set_logical(report, f, 300)
    assert hp.get_logical(report, f) == 300
    assert report == bytearray(b"\x05\xcf\x12\xff")  # bits 0-3 and 16-23 untouched


def _items(*data: str) -> bytes:
    return bytes.fromhex(" ".join(data))


def test_logmax_minus_one_is_read_as_unsigned():
    # Logical Maximum encoded in 1 and 2 bytes as all ones: C warns and takes 255 / 65535
    desc = hp.parse(_items(
        "05 84 09 04 a1 01 85 01 75 08 95 01 15 00 25 ff 09 30 b1 02",
        "85 02 75 10 26 ff ff 09 31 b1 02 c0"))
    a, b = desc.fields
    assert (a.log_min, a.log_max, a.assumed_log_max) == (0, 255, True)
    assert (b.log_max, b.assumed_log_max) == (65535, True)
    assert desc.warnings[0] == ("HIDParse: LogMax is less than LogMin. Vendor HID report "
                                "descriptor may be incorrect; interpreting LogMax -1 as 255 in "
                                "ReportID: 0x01")
    assert hp.get_logical(b"\x01\xf0", a) == 240


def test_a_negative_range_stays_signed():
    desc = hp.parse(_items("05 84 09 04 a1 01 85 01 75 10 95 01 15 ff 26 ff 7f 09 57 b1 02 c0"))
    f = desc.fields[0]
    assert (f.log_min, f.log_max, f.assumed_log_max) == (-1, 32767, False)
    assert hp.get_logical(b"\x01\xff\xff", f) == -1


@pytest.mark.parametrize("nibble,exp", [(0x05, 5), (0x07, 7), (0x08, -8), (0x0E, -2),
                                        (0x0F, -1), (0x10, -16), (0xFE, -2)])
def test_unit_exponent_is_a_signed_nibble(nibble, exp):
    desc = hp.parse(_items(f"05 84 09 04 a1 01 85 01 75 08 95 01 55 {nibble:02x} 09 30 b1 02 c0"))
    assert desc.fields[0].unit_exp == exp


def test_volts_count_from_ten_to_the_minus_seven():
    f = hp.Field((1,), 9, hp.FEATURE, 0, 16, unit=VOLT, unit_exp=5, log_max=65535)
    # a reading of 2730 with exponent 5 is 27.30 V (as C publishes it)
    assert "%.1f" % hp.logical_to_value(f, 2730) == "27.3"
    assert hp.value_to_logical(f, 27.3) == 2729  # C truncates 2729.99...
    plain = hp.Field((1,), 9, hp.FEATURE, 0, 8, unit_exp=-1, log_max=255)
    assert hp.logical_to_value(plain, 500) == pytest.approx(50.0)


def test_physical_range_maps_linearly_and_clamps():
    f = hp.Field((1,), 1, hp.FEATURE, 0, 8, log_min=0, log_max=255, phy_min=0, phy_max=510,
                 have_phy_min=True, have_phy_max=True)
    assert hp.to_physical(f, 100) == 200.0
    assert hp.to_logical(f, 200.0) == 100
    assert hp.to_logical(f, 9999.0) == 255
    zero = hp.Field((1,), 1, hp.FEATURE, 0, 8, log_max=255, have_phy_min=True, have_phy_max=True)
    assert hp.to_physical(zero, 42) == 42.0  # PhyMin = PhyMax = 0: no physical range


def test_indexed_collections_padding_and_vendor_usages():
    model = HidModel([
        F("UPS.PowerConverter.Input.[3].Voltage", 0x10, size=16, max=65535),
        F("UPS.PowerConverter.Input.[3].PresentStatus.Used", 0x11, size=1, max=1),
        F("UPS.ffff0010.[1].ffff007c", 0x2A, size=16, max=65535),
        F("UPS.PowerSummary.Voltage", 0x12, size=16, max=65535),
    ])
    desc = hp.parse(model.descriptor)
    names = [STANDARD_TABLE.path_to_string(f.path) for f in desc.fields]
    assert names == ["UPS.PowerConverter.Input.[3].Voltage",
                     "UPS.PowerConverter.Input.[3].PresentStatus.Used",
                     "UPS.ffff0010.[1].ffff007c", "UPS.PowerSummary.Voltage"]
    # a value without usage is padding: counted in the report, not a field
    desc = hp.parse(_items("05 84 09 04 a1 01 85 07 75 04 95 02 09 30 b1 02 75 08 95 01 09 31",
                           "b1 02 c0"))
    assert [(f.offset, f.path[-1]) for f in desc.fields] == [(0, 0x840030), (8, 0x840031)]
    assert desc.report_length(7) == 3


def test_report_id_zero_keeps_its_offsets():
    # C's offset table cannot track report 0 and puts every field at offset 0; we do not
    desc = hp.parse(_items("05 84 09 04 a1 01 75 08 95 01 09 30 b1 02 09 31 b1 02 c0"))
    assert [f.offset for f in desc.fields] == [0, 8]


def test_string_paths_as_c_reads_them():
    table = UsageTable([("Vendor", 0xFFFF0001)])
    assert table.string_to_path("UPS.vendor.[12].ffff0002") == (
        0x840004, 0xFFFF0001, 0x00FF000C, 0xFFFF0002)
    # an unknown name is dropped, so the path gets shorter (C logs it and goes on)
    assert table.string_to_path("UPS.NoSuchThing.Voltage") == (0x840004, 0x840030)
    assert table.path_to_string((0x840004, 0x00FF0001, 0xFF860052)) == "UPS.[1].ff860052"
    # the first table wins both ways; names match without case
    assert UsageTable([("Voltage", 0x12345678)]).code("VOLTAGE") == 0x12345678


def test_no_field_is_an_error():
    with pytest.raises(hp.DescriptorError):
        hp.parse(b"")
    with pytest.raises(hp.DescriptorError):
        hp.parse(_items("05 84 09 04 a1 01 c0"))


def test_count_zero_and_truncated_items_do_not_confuse():
    desc = hp.parse(_items("05 84 09 04 a1 01 85 01 75 08 95 00 09 30 b1 02 95 01 09 31 b1 02",
                           "27 ff"))  # ends inside an item
    assert [f.path[-1] for f in desc.fields] == [0x840031]
    assert desc.fields[0].offset == 0


def test_field_limit_as_c():
    one = "09 30 b1 02 "
    desc = hp.parse(_items("05 84 09 04 a1 01 85 01 75 08 95 01", one * 510, "c0"))
    assert len(desc.fields) == hp.MAX_FIELDS
    assert any("Too many HID objects" in w for w in desc.warnings)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_crash_the_parser(data):
    try:
        desc = hp.parse(data)
    except hp.DescriptorError:
        return
    for f in desc.fields:
        report = bytes(desc.report_length(f.report_id))
        hp.get_logical(report, f)
        STANDARD_TABLE.path_to_string(f.path)


_ITEM_TAGS = [0x04, 0x08, 0x14, 0x24, 0x34, 0x44, 0x54, 0x64, 0x74, 0x84, 0x94, 0x80, 0x90,
              0xB0, 0xA0, 0xC0, 0xFC, 0x18, 0x28, 0xA4, 0xB4]


@st.composite
def _item_streams(draw):
    out = bytearray()
    for _ in range(draw(st.integers(0, 80))):
        tag = draw(st.sampled_from(_ITEM_TAGS))
        size = draw(st.sampled_from([0, 1, 2, 3]))
        nbytes = (0, 1, 2, 4)[size]
        out.append(tag | size)
        out.extend(draw(st.binary(min_size=nbytes, max_size=nbytes)))
    return bytes(out)


@settings(max_examples=300, deadline=None)
@given(_item_streams(), st.binary(min_size=0, max_size=64))
def test_random_item_streams_parse_and_decode_any_report(data, report):
    try:
        desc = hp.parse(data)
    except hp.DescriptorError:
        return
    for f in desc.fields:
        value = hp.get_logical(report, f)
        assert f.log_min <= value <= f.log_max or f.log_min > f.log_max
        hp.logical_to_value(f, value)
        buf = bytearray(report)
        hp.set_logical(buf, f, value)
