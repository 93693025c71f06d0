"""usbhid-ups' pure parts around the parser: the mapping-table language, value conversions,
status assembly, subdriver choice, and every subdriver's table against a descriptor of
that vendor's style."""

from __future__ import annotations

import pytest

from nutpy.drivers.state import RW, STRING
from nutpy.drivers.usbdev import DeviceInfo
from nutpy.drivers.usbhid import hidparser as hp
from nutpy.drivers.usbhid import mapping as mp
from nutpy.drivers.usbhid.mapping import STATUS_BIT as B
from nutpy.drivers.usbhid.status import StatusAssembler, StatusOptions, alarms
from nutpy.drivers.usbhid.subdrivers import all_classes, by_name
from nutpy.drivers.usbhid.usages import UsageTable
from support.usbhid_models import MODELS


class Options:
    def __init__(self, **values) -> None:
        self.values = values

    def getval(self, name):
        value = self.values.get(name)
        return None if value is True else value

    def testvar(self, name):
        return name in self.values


class Ctx:
    """What conversions may consult (the engine in the driver)."""

    def __init__(self, **info) -> None:
        self.info = dict(info)
        self.status_bits = 0
        self.sub = None
        self.strings = {4: "PbAc"}

    def getinfo(self, name):
        return self.info.get(name)

    def setinfo(self, name, value):
        self.info[name] = value

    def delinfo(self, name):
        self.info.pop(name, None)

    def get_string(self, index, buflen=20):
        return self.strings.get(index, "")[:buflen - 1]

    def buzzmode_set(self, word):
        pass

    def getval(self, name):
        return None

    def testvar(self, name):
        return False


def test_table_language():
    entries = mp.parse_table("""
        # a comment
        battery.charge.low  UPS.PowerSummary.RemainingCapacityLimit  %.0f  rw str=10 semi
        outlet.desc         UPS.OutletSystem.Outlet.[1].OutletID     "Main Outlet" rw str=20 absent
        BOOL                UPS.PowerSummary.PresentStatus.ACPresent  -  quick @online
        load.off.delay      UPS.PowerSummary.DelayBeforeShutdown     20  cmd
    """)
    low, desc, flag, cmd = entries
    assert (low.info_flags, low.info_len, low.hidflags) == (RW | STRING, 10, mp.SEMI_STATIC)
    assert (desc.dfl, desc.hidflags) == ("Main Outlet", mp.ABSENT)
    assert (flag.is_bool, flag.dfl, flag.lookup, flag.hidflags) == (True, None, "online",
                                                                      mp.QUICK_POLL)
    assert (cmd.dfl, cmd.hidflags) == ("20", mp.CMD)
    with pytest.raises(ValueError):
        mp.parse_table("x UPS.Voltage %.1f bogus")


def test_formats_as_c_does():
    assert mp.format_value("%.1f", 13.58) == "13.6"
    assert mp.format_value("%.0f", 2580.0) == "2580"
    assert mp.format_value("%.0f%%", 99.6) == "100%"
    assert mp.format_value("-1", 7.0) == "-1"  # no conversion: the text as is
    assert mp.format_value("%s", 7.0) is None  # C refuses a format that is not %f
    assert mp.format_value(None, 7.0) is None


def test_dates():
    date = mp.COMMON["date"]
    ctx = Ctx()
    assert date.read(12515, ctx) == "2004/07/03"  # (2004-1980)*512 + 7*32 + 3
    assert date.read(0, ctx) == "not set"
    assert date.write("2004/07/03", ctx) == 12515
    assert date.write("2200/01/01", ctx) == 0  # out of the packed range
    apc = [c for c in all_classes() if c.name.startswith("APC")][0](Options())
    assert apc.lookups["apc_date"].read(0x070304, ctx) == "2004/07/03"
    assert apc.lookups["apc_date"].read(0x102298, ctx) == "1998/10/22"
    assert apc.lookups["apc_date"].write("2004/07/03", ctx) == 0x070304


def test_conversions():
    ctx = Ctx()
    assert mp.COMMON["kelvin_celsius"].read(300.0, ctx) == "26.9"
    assert mp.COMMON["kelvin_celsius"].read(31.0, ctx) == "31.0"  # already Celsius
    assert mp.COMMON["divide_by_10"].read(2301, ctx) == "230.1"
    assert mp.COMMON["hex"].read(0xABC, ctx) == "00000abc"
    assert mp.COMMON["stringid"].read(4, ctx) == "PbAc"
    assert mp.COMMON["beeper"].read(2, ctx) == "enabled"
    assert mp.COMMON["beeper"].write("muted", ctx) == 3
    with pytest.raises(mp.InvalidValue):
        mp.COMMON["beeper"].write("loud", ctx)
    assert mp.COMMON["online"].read(0, ctx) == "offline"
    assert mp.COMMON["nobattery"].read(0, ctx) == "nobattery"
    assert mp.COMMON["test_read"].read(6, ctx) == "No test initiated"


def test_status_flags_neuter_their_opposites():
    bits = mp.apply_flag(0, "offline")
    bits = mp.apply_flag(bits, "online")
    assert bits == B["online"]
    bits = mp.apply_flag(bits, "fullycharged")
    bits = mp.apply_flag(bits, "notfullycharged")
    assert bits == B["online"] | B["notfullycharged"]
    assert mp.apply_flag(bits, "!online") == B["notfullycharged"]


class Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, msg):
        self.warnings.append(msg)

    def debug(self, level, msg):
        pass


def assemble(bits, charge=None, now=100.0, **opts):
    return StatusAssembler(StatusOptions(**opts), "ups", Log()).assemble(bits, charge, now)


def flags(*names):
    out = 0
    for name in names:
        out |= B[name]
    return out


@pytest.mark.parametrize("names,charge,tokens", [
    (("online",), "100", ["OL"]),
    (("online", "chrg"), "87", ["OL", "CHRG"]),
    (("online", "chrg"), "100", ["OL"]),  # 2.8.1+: charging at 100% is not CHRG
    (("online", "chrg", "notfullycharged"), "100", ["OL", "CHRG"]),
    (("offline", "dischrg"), "63", ["OB", "DISCHRG"]),
    (("offline", "dischrg", "lowbatt"), "8", ["OB", "DISCHRG", "LB"]),
    (("dischrg",), None, ["OB", "DISCHRG"]),  # no power flag at all but discharging
    (("online", "replacebatt", "overload", "trim"), None, ["OL", "OVER", "RB", "TRIM"]),
    (("online", "off", "bypassauto"), None, ["OL", "BYPASS", "OFF"]),
    (("online", "cal", "dischrg"), "90", ["CAL", "OL", "DISCHRG"]),
    (("offline", "dischrg", "depleted", "timelimitexp"), None, ["OB", "LB"]),
])
def test_status_tokens(names, charge, tokens):
    assert assemble(flags(*names), charge).tokens == tokens


def test_online_and_discharging_options():
    bits = flags("online", "dischrg")
    assert assemble(bits, "80").tokens == ["OL", "DISCHRG"]
    assert assemble(bits, "80", onlinedischarge_onbattery=True).tokens == ["OB", "DISCHRG"]
    assert assemble(bits, "80", onlinedischarge_calibration=True).tokens == \
        ["CAL", "DISCHRG"]
    log = Log()
    a = StatusAssembler(StatusOptions(), "ups", log)
    a.assemble(bits, "80", 10)
    a.assemble(bits, "80", 11)  # same charge: not repeated
    a.assemble(bits, "79", 12)
    assert len(log.warnings) == 2 and "from 80 to 79" in log.warnings[1]


def test_lb_held_back_while_calibrating():
    opts = dict(lbrb_log_delay_sec=3)
    a = StatusAssembler(StatusOptions(**opts), "ups", Log())
    bits = flags("online", "cal", "lowbatt")
    assert "LB" not in a.assemble(bits, "50", 100).tokens
    assert "LB" not in a.assemble(bits, "50", 102).tokens
    assert "LB" in a.assemble(bits, "50", 104).tokens
    # on battery there is no waiting
    assert "LB" in assemble(flags("offline", "cal", "lowbatt"), "50", **opts).tokens


def test_alarms_and_transfer_reason():
    assert alarms(flags("replacebatt", "overheat", "bypassman")) == [
        "Replace battery!", "Temperature too high!", "Manual bypass mode!"]
    assert assemble(flags("online", "vrange")).transfer_reason == "input voltage out of range"
    assert assemble(flags("online", "frange")).transfer_reason == "input frequency out of range"
    assert assemble(flags("online")).transfer_reason is None


def test_subdriver_by_name():
    assert by_name("APC HID 0.101").__name__ == "Apc"
    assert by_name("apc").__name__ == "Apc"
    assert by_name("cyberpower").__name__ == "Cps"
    assert by_name("phoenixtec.*").__name__ == "Liebert"
    assert by_name("MGE") .__name__ == "Mge"
    assert by_name("nope") is None


def _claimant(info, **opts):
    for cls in all_classes():
        sub = cls(Options(**opts))
        if sub.claim(info):
            return sub
    return None


def test_claims_as_c_order_decides():
    assert _claimant(DeviceInfo(0x051D, 0x0002, product="Back-UPS CS 650")).max_report_size
    sub = _claimant(DeviceInfo(0x051D, 0x0003))
    assert type(sub).__name__ == "Apc" and sub.pollonly
    assert _claimant(DeviceInfo(0x051D, 0x0099)) is None  # known vendor, unknown product
    assert type(_claimant(DeviceInfo(0x051D, 0x0099), productid="0099")).__name__ == "Apc"
    # Phoenixtec IDs go to the Liebert subdriver, unless the strings say AEG (MGE)
    assert type(_claimant(DeviceInfo(0x06DA, 0xFFFF))).__name__ == "Liebert"
    assert type(_claimant(DeviceInfo(0x06DA, 0xFFFF, vendor="AEG"))).__name__ == "Mge"
    assert type(_claimant(DeviceInfo(0x0764, 0x0501))).__name__ == "Cps"
    assert _claimant(DeviceInfo(0x09AE, 0x0001)) is None  # tripplite_usb's serial devices
    liebert = _claimant(DeviceInfo(0x10AF, 0x0002))
    assert type(liebert).__name__ == "Belkin" and liebert.interface == 1
    powercom = _claimant(DeviceInfo(0x0D9F, 0x0001))
    assert powercom.interrupt_only and powercom.interrupt_size == 8
    assert _claimant(DeviceInfo(0x1234, 0x5678)) is None
    assert type(_claimant(DeviceInfo(0x1234, 0x5678), explore=True)).__name__ == "Explore"


@pytest.mark.parametrize("key", sorted(MODELS))
def test_our_vendor_descriptors_map_through_their_subdriver(key):
    """Every field of our vendor-style descriptor is named by the subdriver's usage table,
    and the core variables resolve to a field."""
    model = MODELS[key]()
    desc = hp.parse(model.descriptor)
    info = DeviceInfo(model.vendor_id, model.product_id, model.manufacturer, model.product)
    sub = _claimant(info)
    assert sub is not None
    table = UsageTable(sub.usages)
    for f in desc.fields:
        text = table.path_to_string(f.path)
        assert text == model.hid.fields[[x.path for x in model.hid.fields].index(text)].path
    mapped = {e.name for e in sub.mapping
              if desc.find(table.string_to_path(e.path), hp.FEATURE) is not None}
    assert {"BOOL", "ups.load"} <= mapped
    assert "battery.charge" in mapped or key == "belkin"


def test_fixes_of_broken_descriptors():
    model = MODELS["cps"]()
    desc = hp.parse(model.descriptor)
    sub = [c for c in all_classes() if c.__name__ == "Cps"][0](Options())
    power = desc.find_by_id_node(0x18, 0x840044)
    assert power.log_max == 900
    info = DeviceInfo(0x0764, 0x0501)
    assert sub.fix_report_desc(info, desc, None)
    assert power.log_max == 2048  # nominal power is no longer clipped at 900
    off = [c for c in all_classes() if c.__name__ == "Cps"][0](
        Options(disable_fix_report_desc=True))
    desc = hp.parse(model.descriptor)
    assert not off.fix_report_desc(info, desc, None)


def test_powercom_delays():
    sub = [c for c in all_classes() if c.__name__ == "Powercom"][0](Options())
    ctx = Ctx(**{"ups.delay.shutdown": "20", "ups.delay.start": "60"})
    shutdown = sub.lookups["powercom_shutdown"]
    # 90 s: 1 minute in the high byte, 30 s in the low, plus "restart with the mains"
    assert shutdown.write("90", ctx) == 0x015E
    assert shutdown.read(0x011E, ctx) == "90"
    assert sub.lookups["powercom_stayoff"].write(None, ctx) == 0x0094  # 20 s, stay off
    assert sub.lookups["powercom_startup"].write("120", ctx) == 0x0200  # 2 min, bytes swapped
    assert sub.lookups["powercom_startup"].read(0x0200, ctx) == "120"
    sub.discrete_delay = True
    assert shutdown.write("25", ctx) == 4  # the 30 s step of the table


class ReportStore:
    """The four calls the engine makes of a device, answered from report bytes."""

    def __init__(self, reports: dict[int, bytes], strings: dict[int, str]) -> None:
        self.reports, self.strings, self.sent = reports, strings, []

    def get_report(self, report_id, length):
        return self.reports.get(report_id, b"")

    def set_report(self, report_id, data):
        self.sent.append(bytes(data))
        return len(data)

    def get_interrupt(self, size, timeout_ms):
        return b""

    def get_string(self, index):
        return self.strings.get(index)


@pytest.mark.parametrize("key", sorted(MODELS))
def test_any_report_contents_are_published_without_error(key):
    """Whatever a device puts in its reports, every subdriver conversion copes."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from nutpy.drivers.state import DriverState
    from nutpy.drivers.usbhid.engine import HidEngine, Walk

    model = MODELS[key]()
    desc_bytes = model.descriptor
    ids = sorted({rid for rid, _ in model.hid.layout})
    info = DeviceInfo(model.vendor_id, model.product_id, model.manufacturer, model.product,
                      model.serial)

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.binary(min_size=0, max_size=9), min_size=len(ids), max_size=len(ids)))
    def check(contents):
        reports = {rid: bytes([rid]) + data for rid, data in zip(ids, contents)}
        reports.update(model.extra_reports)
        state = DriverState()
        engine = HidEngine(state, Options(), "ups")
        sub = _claimant(info)
        desc = hp.parse(desc_bytes)
        sub.fix_report_desc(info, desc, engine)
        engine.attach(ReportStore(reports, {4: "PbAc"}), info, desc_bytes, desc, sub)
        sub.format_model(info, engine)
        engine.walk(Walk.INIT)
        engine.walk(Walk.FULL)
        engine.publish_status(True)
        assert state.get("ups.status") is not None

    check()
