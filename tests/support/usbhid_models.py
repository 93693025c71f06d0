"""Emulated HID UPSes, one per usbhid-ups subdriver family: report descriptors of our own
making (in the style each vendor uses: its IDs, its collections, its vendor usages and
quirks), with power states a test can switch between.

``model.device()`` gives a fakeusb HidDevice holding the reports; ``model.state(name)``
changes the values (``online``, ``on_battery``, ``low_battery``, ``replace_battery``,
``overload``) and, with a device, pushes them to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .hidbuild import HERTZ, SECOND, VA, VOLT, F, HidModel


@dataclass
class UpsModel:
    key: str
    vendor_id: int
    product_id: int
    manufacturer: str | None
    product: str | None
    serial: str | None
    fields: list[F]
    names: dict[str, int] = field(default_factory=dict)
    strings: dict[int, str] = field(default_factory=dict)  # string index -> text
    states: dict[str, dict[str, int]] = field(default_factory=dict)
    extra_reports: dict[int, bytes] = field(default_factory=dict)  # feature reports outside the descriptor

    def __post_init__(self) -> None:
        self.hid = HidModel(self.fields, self.names)
        self.dev = None

    @property
    def descriptor(self) -> bytes:
        return self.hid.descriptor

    def device(self, **kwargs):
        from support.fakeusb import HidDevice

        dev = HidDevice(self.vendor_id, self.product_id, self.descriptor,
                        manufacturer=self.manufacturer, product=self.product,
                        serial=self.serial, strings=dict(self.strings), **kwargs)
        self.hid.push(dev)
        for rid, data in self.extra_reports.items():
            dev.set_feature(rid, data)
        self.dev = dev
        return dev

    def state(self, name: str, push: bool = True) -> None:
        """The device in state ``name``: the "online" values, then that state's changes."""
        for path, value in self.states["online"].items():
            self.hid.set(path, value)
        for path, value in self.states[name].items():
            self.hid.set(path, value)
        if push and self.dev is not None:
            self.hid.push(self.dev)

    def set(self, path: str, value: int) -> None:
        self.hid.set(path, value)
        if self.dev is not None:
            self.hid.push(self.dev)

    def report(self, report_id: int) -> bytes:
        return self.hid.report(report_id)


def _status(prefix: str, **flags: int) -> dict[str, int]:
    return {f"{prefix}.{name}": value for name, value in flags.items()}


def apc_back_ups_rs() -> UpsModel:
    """A Back-UPS RS / XS style APC (051d:0002): PresentStatus flags, transfer points in
    Input, the APC line-fail cause, an Output collection with the load."""
    ps = "UPS.PowerSummary"
    st = f"{ps}.PresentStatus"
    m = UpsModel(
        "apc", 0x051D, 0x0002, "American Power Conversion",
        "Back-UPS RS 1500G FW:865.L6 .D USB FW:L6", "4B1234P56789",
        [
            F(f"{ps}.iDeviceChemistry", 0x03, value=4),
            F(f"{ps}.ConfigVoltage", 0x08, size=16, max=65535, unit=VOLT, exp=7, value=24),
            F(f"{ps}.Voltage", 0x09, size=16, max=65535, unit=VOLT, exp=5, value=2730),
            F(f"{ps}.RemainingCapacity", 0x0C, max=100, kinds="IF", value=97),
            F(f"{ps}.RunTimeToEmpty", 0x0D, size=16, max=65535, unit=SECOND, kinds="IF",
              value=3720),
            F(f"{ps}.RemainingCapacityLimit", 0x0E, max=100, value=10),
            F(f"{ps}.WarningCapacityLimit", 0x0F, max=100, value=50),
            F(f"{ps}.RemainingTimeLimit", 0x10, size=16, max=65535, unit=SECOND, value=120),
            F(f"{st}.ACPresent", 0x16, size=1, max=1, kinds="IF", value=1),
            F(f"{st}.Charging", 0x16, size=1, max=1, kinds="IF", value=1),
            F(f"{st}.Discharging", 0x16, size=1, max=1, kinds="IF", value=0),
            F(f"{st}.BelowRemainingCapacityLimit", 0x16, size=1, max=1, kinds="IF"),
            F(f"{st}.ShutdownImminent", 0x16, size=1, max=1, kinds="IF"),
            F(f"{st}.NeedReplacement", 0x16, size=1, max=1, kinds="IF"),
            F(f"{st}.Overload", 0x16, size=1, max=1, kinds="IF"),
            F(f"{st}.BatteryPresent", 0x16, size=1, max=1, kinds="IF", value=1),
            F(f"{ps}.AudibleAlarmControl", 0x18, min=1, max=3, value=2),
            F(f"{ps}.DelayBeforeShutdown", 0x15, size=16, min=-1, max=32767, unit=SECOND,
              value=0xFFFF),
            F(f"{ps}.DelayBeforeStartup", 0x17, size=16, min=-1, max=32767, unit=SECOND,
              value=0xFFFF),
            F("UPS.Input.Voltage", 0x31, size=16, max=65535, unit=VOLT, exp=7, value=230),
            F("UPS.Input.ConfigVoltage", 0x30, size=16, max=65535, unit=VOLT, exp=7, value=230),
            F("UPS.Input.LowVoltageTransfer", 0x32, size=16, max=65535, unit=VOLT, exp=7,
              value=176),
            F("UPS.Input.HighVoltageTransfer", 0x33, size=16, max=300, unit=VOLT, exp=7,
              value=282),
            F("UPS.Input.APCLineFailCause", 0x34, value=0),
            F("UPS.Output.PercentLoad", 0x50, max=100, value=23),
            F("UPS.Battery.Test", 0x52, max=7, value=1),
        ],
        names={"APCLineFailCause": 0xFF860052},
        strings={4: "PbAc"},
    )
    m.states = {
        "online": _status(st, ACPresent=1, Charging=1, Discharging=0,
                          BelowRemainingCapacityLimit=0, ShutdownImminent=0,
                          NeedReplacement=0, Overload=0),
        "on_battery": _status(st, ACPresent=0, Charging=0, Discharging=1,
                              BelowRemainingCapacityLimit=0, ShutdownImminent=0),
        "low_battery": _status(st, ACPresent=0, Charging=0, Discharging=1,
                               BelowRemainingCapacityLimit=1, ShutdownImminent=1),
        "replace_battery": _status(st, ACPresent=1, Charging=0, Discharging=0,
                                   NeedReplacement=1),
        "overload": _status(st, ACPresent=1, Charging=0, Discharging=0, Overload=1),
    }
    m.states["on_battery"].update({f"{ps}.RemainingCapacity": 63, f"{ps}.RunTimeToEmpty": 1450,
                                   "UPS.Input.Voltage": 0, "UPS.Input.APCLineFailCause": 2})
    m.states["low_battery"].update({f"{ps}.RemainingCapacity": 8, f"{ps}.RunTimeToEmpty": 95})
    m.states["online"].update({f"{ps}.RemainingCapacity": 97, f"{ps}.RunTimeToEmpty": 3720,
                               "UPS.Input.Voltage": 230, "UPS.Input.APCLineFailCause": 0})
    return m


def cyberpower() -> UpsModel:
    """A CyberPower CP1500PFCLCD style unit (0764:0501): its battery voltage read from the
    power summary, transfer points in Input, Output holding tests, delays and the
    Boost/Overload flags, a nominal power whose LogMax is too small (fixed by the driver)."""
    ps = "UPS.PowerSummary"
    st = f"{ps}.PresentStatus"
    m = UpsModel(
        "cps", 0x0764, 0x0501, "CPS", "CP1500PFCLCD", "CTHGP2000123",
        [
            F(f"{ps}.iDeviceChemistry", 0x02, value=4),
            F(f"{ps}.iOEMInformation", 0x04, value=5),
            F(f"{ps}.RemainingCapacity", 0x08, max=100, kinds="IF", value=100),
            F(f"{ps}.RunTimeToEmpty", 0x08, size=16, max=65535, unit=SECOND, kinds="IF",
              value=2325),
            F(f"{ps}.RemainingCapacityLimit", 0x09, max=100, value=10),
            F(f"{ps}.WarningCapacityLimit", 0x09, max=100, value=20),
            F(f"{ps}.RemainingTimeLimit", 0x0A, size=16, max=65535, unit=SECOND, value=300),
            F(f"{ps}.Voltage", 0x0B, size=8, max=255, unit=VOLT, exp=7, value=27),
            F(f"{ps}.ConfigVoltage", 0x0B, size=8, max=255, unit=VOLT, exp=7, value=24),
            F(f"{st}.ACPresent", 0x0C, size=1, max=1, kinds="IF", value=1),
            F(f"{st}.Charging", 0x0C, size=1, max=1, kinds="IF", value=0),
            F(f"{st}.Discharging", 0x0C, size=1, max=1, kinds="IF", value=0),
            F(f"{st}.BelowRemainingCapacityLimit", 0x0C, size=1, max=1, kinds="IF"),
            F(f"{st}.FullyCharged", 0x0C, size=1, max=1, kinds="IF", value=1),
            F(f"{st}.NeedReplacement", 0x0C, size=1, max=1, kinds="IF"),
            F(f"{ps}.AudibleAlarmControl", 0x0D, min=1, max=3, value=2),
            F("UPS.Input.ConfigVoltage", 0x0E, size=16, max=65535, unit=VOLT, exp=7, value=120),
            F("UPS.Input.Voltage", 0x0F, size=16, max=65535, unit=VOLT, exp=7, value=121),
            F("UPS.Input.HighVoltageTransfer", 0x10, size=16, max=255, unit=VOLT, exp=7,
              value=140),
            F("UPS.Input.LowVoltageTransfer", 0x11, size=16, max=255, unit=VOLT, exp=7,
              value=90),
            F("UPS.Output.Voltage", 0x12, size=16, max=65535, unit=VOLT, exp=7, value=120),
            F("UPS.Output.PercentLoad", 0x13, max=100, value=17),
            F("UPS.Output.Test", 0x14, max=7, value=6),
            F("UPS.Output.DelayBeforeShutdown", 0x15, size=16, min=-1, max=32767,
              unit=SECOND, value=0xFFFF),
            F("UPS.Output.DelayBeforeStartup", 0x16, size=16, min=-1, max=32767,
              unit=SECOND, value=0xFFFF),
            F("UPS.Output.Boost", 0x17, size=1, max=1),
            F("UPS.Output.Overload", 0x17, size=1, max=1),
            F("UPS.Output.ConfigActivePower", 0x18, size=16, max=900, unit=VA, exp=7,
              value=1000),
            F("UPS.Output.Frequency", 0x19, size=16, max=65535, unit=HERTZ, exp=-1, value=600),
        ],
        strings={4: "PbAcid", 5: "CPS"},
    )
    m.states = {
        "online": _status(st, ACPresent=1, Charging=0, Discharging=0, FullyCharged=1,
                          BelowRemainingCapacityLimit=0, NeedReplacement=0),
        "on_battery": _status(st, ACPresent=0, Charging=0, Discharging=1, FullyCharged=0),
        "low_battery": _status(st, ACPresent=0, Charging=0, Discharging=1, FullyCharged=0,
                               BelowRemainingCapacityLimit=1),
        "replace_battery": _status(st, ACPresent=1, NeedReplacement=1),
        "overload": {"UPS.Output.Overload": 1},
    }
    m.states["on_battery"].update({f"{ps}.RemainingCapacity": 71, "UPS.Input.Voltage": 0})
    m.states["low_battery"].update({f"{ps}.RemainingCapacity": 9})
    return m


def eaton() -> UpsModel:
    """An Eaton 5P 650 (0463:ffff): the MGE layout with indexed collections
    (PowerConverter.Input.[1], Flow.[4]), vendor usages on page 0xffff, the model name from
    iModel, and Advanced Battery Monitoring."""
    ps = "UPS.PowerSummary"
    st = f"{ps}.PresentStatus"
    m = UpsModel(
        "mge", 0x0463, 0xFFFF, "EATON", "Eaton 5P", "G123A45678",
        [
            F(f"{ps}.iModel", 0x01, value=6),
            F(f"{ps}.iVersion", 0x01, value=7),
            F(f"{ps}.RemainingCapacity", 0x06, max=100, kinds="IF", value=96),
            F(f"{ps}.RunTimeToEmpty", 0x06, size=32, max=2147483647, unit=SECOND, kinds="IF",
              value=2860),
            F(f"{ps}.RemainingCapacityLimitSetting", 0x07, max=100, value=20),
            F(f"{ps}.RemainingCapacityLimit", 0x07, max=100, value=20),
            F(f"{ps}.Voltage", 0x08, size=16, max=65535, unit=VOLT, exp=5, value=1370),
            F(f"{ps}.ConfigVoltage", 0x08, size=16, max=65535, unit=VOLT, exp=7, value=12),
            F(f"{ps}.PercentLoad", 0x09, max=100, value=31),
            F(f"{st}.ACPresent", 0x0A, size=1, max=1, kinds="IF", value=1),
            F(f"{st}.Charging", 0x0A, size=1, max=1, kinds="IF", value=1),
            F(f"{st}.Discharging", 0x0A, size=1, max=1, kinds="IF", value=0),
            F(f"{st}.BelowRemainingCapacityLimit", 0x0A, size=1, max=1, kinds="IF"),
            F(f"{st}.ShutdownImminent", 0x0A, size=1, max=1, kinds="IF"),
            F(f"{st}.NeedReplacement", 0x0A, size=1, max=1, kinds="IF"),
            F(f"{st}.Overload", 0x0A, size=1, max=1, kinds="IF"),
            F(f"{st}.Good", 0x0A, size=1, max=1, kinds="IF", value=1),
            F(f"{ps}.AudibleAlarmControl", 0x0B, min=1, max=3, value=2),
            F(f"{ps}.DelayBeforeShutdown", 0x0C, size=16, min=-1, max=32767, unit=SECOND,
              value=0xFFFF),
            F(f"{ps}.DelayBeforeStartup", 0x0D, size=32, min=-1, max=2147483647,
              unit=SECOND, value=0xFFFFFFFF),
            F("UPS.PowerConverter.Input.[1].Voltage", 0x10, size=16, max=65535, unit=VOLT,
              exp=7, value=232),
            F("UPS.PowerConverter.Input.[1].Frequency", 0x10, size=16, max=65535, unit=HERTZ,
              exp=-1, value=500),
            F("UPS.PowerConverter.Input.[1].PresentStatus.Boost", 0x11, size=1, max=1),
            F("UPS.PowerConverter.Input.[1].PresentStatus.Buck", 0x11, size=1, max=1),
            F("UPS.PowerConverter.Input.[1].PresentStatus.Used", 0x11, size=1, max=1, value=1),
            F("UPS.PowerConverter.Output.Voltage", 0x12, size=16, max=65535, unit=VOLT, exp=7,
              value=230),
            F("UPS.PowerConverter.Output.Frequency", 0x12, size=16, max=65535, unit=HERTZ,
              exp=-1, value=500),
            F("UPS.Flow.[4].ConfigApparentPower", 0x13, size=16, max=65535, unit=VA, exp=7,
              value=650),
            F("UPS.Flow.[4].ConfigActivePower", 0x13, size=16, max=65535, unit=VA, exp=7,
              value=420),
            F("UPS.Flow.[4].ConfigVoltage", 0x14, size=16, max=65535, unit=VOLT, exp=7,
              value=230),
            F("UPS.Flow.[4].ConfigFrequency", 0x14, max=255, unit=HERTZ, value=50),
            F("UPS.BatterySystem.Battery.Test", 0x15, max=7, value=1),
            F("UPS.BatterySystem.Charger.ABMEnable", 0x16, max=1, value=1),
            F("UPS.BatterySystem.Charger.Mode", 0x16, max=7, value=3),
            F("UPS.PowerConverter.Input.[1].AutomaticRestart", 0x17, max=1, value=1),
        ],
        names={"iModel": 0xFFFF00F0, "iVersion": 0xFFFF00F1,
               "RemainingCapacityLimitSetting": 0xFFFF004D, "ABMEnable": 0xFFFF0087,
               "Mode": 0xFFFF0094, "AutomaticRestart": 0xFFFF0043},
        strings={6: "650", 7: "02.14.0026"},
    )
    m.states = {
        "online": _status(st, ACPresent=1, Charging=1, Discharging=0, Good=1,
                          BelowRemainingCapacityLimit=0, ShutdownImminent=0,
                          NeedReplacement=0, Overload=0),
        "on_battery": _status(st, ACPresent=0, Charging=0, Discharging=1),
        "low_battery": _status(st, ACPresent=0, Charging=0, Discharging=1,
                               BelowRemainingCapacityLimit=1, ShutdownImminent=1),
        "replace_battery": _status(st, ACPresent=1, NeedReplacement=1),
        "overload": _status(st, ACPresent=1, Overload=1),
    }
    m.states["online"].update({"UPS.BatterySystem.Charger.Mode": 3, f"{ps}.RemainingCapacity": 96,
                               "UPS.PowerConverter.Input.[1].PresentStatus.Used": 1})
    for name in ("on_battery", "low_battery"):
        m.states[name].update({"UPS.BatterySystem.Charger.Mode": 2,
                               "UPS.PowerConverter.Input.[1].PresentStatus.Used": 0,
                               "UPS.PowerConverter.Input.[1].Voltage": 0})
    m.states["low_battery"].update({f"{ps}.RemainingCapacity": 12})
    m.states["on_battery"].update({f"{ps}.RemainingCapacity": 80})
    return m


def tripplite() -> UpsModel:
    """A Tripp Lite SMART1000LCD (09ae:2009): battery voltage in tenths (scaled by the
    driver), outlet delays, TLCustom vendor collection."""
    ps = "UPS.PowerSummary"
    st = f"{ps}.PresentStatus"
    m = UpsModel(
        "tripplite", 0x09AE, 0x2009, "Tripp Lite", "TRIPP LITE SMART1000LCD", "2104ALSSM123",
        [
            F(f"{ps}.RemainingCapacity", 0x35, max=100, kinds="IF", value=100),
            F(f"{ps}.RunTimeToEmpty", 0x35, size=16, max=65535, unit=SECOND, kinds="IF",
              value=1800),
            F(f"{ps}.RemainingCapacityLimit", 0x36, max=100, value=10),
            F(f"{ps}.WarningCapacityLimit", 0x36, max=100, value=25),
            F(f"{st}.ACPresent", 0x32, size=1, max=1, kinds="IF", value=1),
            F(f"{st}.Charging", 0x32, size=1, max=1, kinds="IF"),
            F(f"{st}.Discharging", 0x32, size=1, max=1, kinds="IF"),
            F(f"{st}.FullyCharged", 0x32, size=1, max=1, kinds="IF", value=1),
            F(f"{st}.BelowRemainingCapacityLimit", 0x32, size=1, max=1, kinds="IF"),
            F(f"{st}.ShutdownImminent", 0x32, size=1, max=1, kinds="IF"),
            F(f"{st}.NeedReplacement", 0x32, size=1, max=1, kinds="IF"),
            F(f"{ps}.AudibleAlarmControl", 0x2F, min=1, max=3, value=2),
            F("UPS.BatterySystem.Battery.Voltage", 0x21, size=16, max=65535, unit=VOLT, exp=7,
              value=138),
            F("UPS.BatterySystem.Battery.ConfigVoltage", 0x22, size=16, max=65535, unit=VOLT,
              exp=7, value=12),
            F("UPS.BatterySystem.Test", 0x23, max=7, value=1),
            F("UPS.PowerConverter.Input.Voltage", 0x18, size=16, max=65535, unit=VOLT, exp=7,
              value=119),
            F("UPS.PowerConverter.Input.Frequency", 0x19, size=16, max=65535, unit=HERTZ,
              exp=-1, value=600),
            F("UPS.PowerConverter.Output.Voltage", 0x1B, size=16, max=65535, unit=VOLT, exp=7,
              value=120),
            F("UPS.PowerConverter.PresentStatus.Boost", 0x1D, size=1, max=1),
            F("UPS.PowerConverter.PresentStatus.Buck", 0x1D, size=1, max=1),
            F("UPS.PowerConverter.PresentStatus.Overload", 0x1D, size=1, max=1),
            F("UPS.OutletSystem.Outlet.PercentLoad", 0x1E, max=100, value=14),
            F("UPS.OutletSystem.Outlet.DelayBeforeShutdown", 0x15, size=16, min=-1, max=32767,
              unit=SECOND, value=0xFFFF),
            F("UPS.OutletSystem.Outlet.DelayBeforeStartup", 0x16, size=16, min=-1, max=32767,
              unit=SECOND, value=0xFFFF),
            F("UPS.Flow.ConfigApparentPower", 0x27, size=16, max=65535, unit=VA, exp=7,
              value=1000),
            F("UPS.TLCustom.[1].UPSFirmwareVersion", 0x2A, size=16, max=65535, value=262),
        ],
        names={"TLCustom": 0xFFFF0010, "UPSFirmwareVersion": 0xFFFF007C},
    )
    m.states = {
        "online": _status(st, ACPresent=1, Charging=0, Discharging=0, FullyCharged=1,
                          BelowRemainingCapacityLimit=0, ShutdownImminent=0, NeedReplacement=0),
        "on_battery": _status(st, ACPresent=0, Discharging=1, FullyCharged=0),
        "low_battery": _status(st, ACPresent=0, Discharging=1, FullyCharged=0,
                               BelowRemainingCapacityLimit=1),
        "replace_battery": _status(st, ACPresent=1, NeedReplacement=1),
        "overload": {"UPS.PowerConverter.PresentStatus.Overload": 1},
    }
    return m


BELKIN_NAMES = {
    "BELKINConfig": 0x00860026, "BELKINConfigVoltage": 0x00860040,
    "BELKINConfigBatteryVoltage": 0x00860044, "BELKINControls": 0x00860027,
    "BELKINDelayBeforeShutdown": 0x00860057, "BELKINDelayBeforeStartup": 0x00860056,
    "BELKINTest": 0x00860058, "BELKINAudibleAlarmControl": 0x0086005A,
    "BELKINDevice": 0x00860029, "BELKINUPSType": 0x0086007C, "BELKINPowerState": 0x0086002A,
    "BELKINInput": 0x0086001A, "BELKINOutput": 0x0086001C, "BELKINBatterySystem": 0x00860010,
    "BELKINVoltage": 0x00860030, "BELKINFrequency": 0x00860032, "BELKINPercentLoad": 0x00860035,
    "BELKINCharge": 0x00860039, "BELKINStatus": 0x00860028, "BELKINBatteryStatus": 0x00860022,
    "BELKINPowerStatus": 0x00860021,
}


def belkin() -> UpsModel:
    """A Belkin F6C800-UNV (050d:0980): everything on page 0x86 under Belkin's names, two
    status words with one flag per bit, values in tenths."""
    m = UpsModel(
        "belkin", 0x050D, 0x0980, "Belkin", "Belkin UPS", "BK0800123",
        [
            F("UPS.BELKINBatterySystem.BELKINCharge", 0x22, max=100, value=100),
            F("UPS.BELKINBatterySystem.BELKINVoltage", 0x23, size=16, max=65535, value=136),
            F("UPS.BELKINConfig.BELKINConfigBatteryVoltage", 0x24, max=255, value=12),
            F("UPS.BELKINConfig.BELKINConfigVoltage", 0x25, size=16, max=65535, value=230),
            F("UPS.BELKINPowerState.BELKINInput.BELKINVoltage", 0x26, size=16, max=65535,
              value=2301),
            F("UPS.BELKINPowerState.BELKINInput.BELKINFrequency", 0x27, size=16, max=65535,
              value=500),
            F("UPS.BELKINPowerState.BELKINOutput.BELKINVoltage", 0x28, size=16, max=65535,
              value=2299),
            F("UPS.BELKINPowerState.BELKINOutput.BELKINPercentLoad", 0x29, max=100, value=28),
            F("UPS.BELKINStatus.BELKINPowerStatus", 0x2A, size=16, max=65535, value=0),
            F("UPS.BELKINStatus.BELKINBatteryStatus", 0x2B, max=255, value=0x10),
            F("UPS.BELKINControls.BELKINAudibleAlarmControl", 0x2C, min=1, max=3, value=2),
            F("UPS.BELKINControls.BELKINDelayBeforeShutdown", 0x2D, size=16, min=-1,
              max=32767, value=0xFFFF),
            F("UPS.BELKINControls.BELKINDelayBeforeStartup", 0x2E, size=16, min=-1,
              max=32767, value=0xFFFF),
            F("UPS.BELKINControls.BELKINTest", 0x2F, max=5, value=1),
            F("UPS.BELKINDevice.BELKINUPSType", 0x30, max=255, value=0x32),
            F("UPS.PowerSummary.RunTimeToEmpty", 0x31, size=16, max=65535, unit=SECOND,
              value=1500),
            F("UPS.PowerSummary.RemainingCapacityLimit", 0x32, max=100, value=20),
        ],
        names=BELKIN_NAMES,
    )
    status = "UPS.BELKINStatus.BELKINPowerStatus"
    battery = "UPS.BELKINStatus.BELKINBatteryStatus"
    m.states = {
        "online": {status: 0x0000, battery: 0x10},
        "on_battery": {status: 0x0001, battery: 0x20},
        "low_battery": {status: 0x0001, battery: 0x24},
        "replace_battery": {status: 0x0000, battery: 0x80},
        "overload": {status: 0x0010, battery: 0x10},
    }
    return m


def phoenixtec() -> UpsModel:
    """A Phoenixtec-made unit (06da:ffff) as the Liebert subdriver knows it: the battery in
    the power summary, the converter's input as Input.[1], nominal values in Flow.[4]."""
    ps = "UPS.PowerSummary"
    st = f"{ps}.PresentStatus"
    m = UpsModel(
        "liebert", 0x06DA, 0xFFFF, "PPC", "Offline UPS", "ZTCKK2000001",
        [
            F(f"{ps}.Voltage", 0x01, size=16, max=65535, unit=VOLT, exp=5, value=1362),
            F(f"{ps}.RemainingCapacity", 0x02, max=100, kinds="IF", value=98),
            F(f"{ps}.RunTimeToEmpty", 0x02, size=16, max=65535, unit=SECOND, kinds="IF",
              value=900),
            F(f"{ps}.PercentLoad", 0x03, max=100, value=12),
            F(f"{st}.ACPresent", 0x04, size=1, max=1, kinds="IF", value=1),
            F(f"{st}.Charging", 0x04, size=1, max=1, kinds="IF", value=1),
            F(f"{st}.Discharging", 0x04, size=1, max=1, kinds="IF"),
            F(f"{st}.BelowRemainingCapacityLimit", 0x04, size=1, max=1, kinds="IF"),
            F(f"{st}.Overload", 0x04, size=1, max=1, kinds="IF"),
            F(f"{st}.Good", 0x04, size=1, max=1, kinds="IF", value=1),
            F(f"{st}.ShutdownImminent", 0x04, size=1, max=1, kinds="IF"),
            F(f"{ps}.AudibleAlarmControl", 0x05, min=1, max=3, value=2),
            F(f"{ps}.DelayBeforeShutdown", 0x06, size=16, min=-1, max=32767, unit=SECOND,
              value=0xFFFF),
            F(f"{ps}.DelayBeforeStartup", 0x07, size=16, min=-1, max=32767, unit=SECOND,
              value=0xFFFF),
            F("UPS.PowerConverter.Input.[1].Voltage", 0x08, size=16, max=65535, unit=VOLT,
              exp=7, value=229),
            F("UPS.PowerConverter.Input.[1].Frequency", 0x08, size=16, max=65535, unit=HERTZ,
              exp=-2, value=5003),
            F("UPS.PowerConverter.Output.Voltage", 0x09, size=16, max=65535, unit=VOLT, exp=7,
              value=229),
            F("UPS.PowerConverter.Output.Frequency", 0x09, size=16, max=65535, unit=HERTZ,
              exp=-2, value=5003),
            F("UPS.BatterySystem.Battery.Test", 0x0A, max=7, value=1),
            F("UPS.Flow.[4].ConfigVoltage", 0x0B, size=16, max=65535, unit=VOLT, exp=7,
              value=230),
        ],
    )
    m.states = {
        "online": _status(st, ACPresent=1, Charging=1, Discharging=0,
                          BelowRemainingCapacityLimit=0, Overload=0, ShutdownImminent=0),
        "on_battery": _status(st, ACPresent=0, Charging=0, Discharging=1),
        "low_battery": _status(st, ACPresent=0, Charging=0, Discharging=1,
                               BelowRemainingCapacityLimit=1),
        "replace_battery": {},
        "overload": _status(st, ACPresent=1, Overload=1),
    }
    return m


def powercom() -> UpsModel:
    """A PowerCOM Vanguard (0d9f:00a4): delays in PowerCOM's byte layout, the battery
    voltage as text in feature report 0xa4."""
    ps = "UPS.PowerSummary"
    st = f"{ps}.PresentStatus"
    m = UpsModel(
        "powercom", 0x0D9F, 0x00A4, "POWERCOM Co.,LTD", "VGD-2000", "ABCD1234",
        [
            F(f"{ps}.RemainingCapacity", 0x01, max=100, kinds="IF", value=100),
            F(f"{ps}.RunTimeToEmpty", 0x01, size=16, max=65535, unit=SECOND, kinds="IF",
              value=2520),
            F(f"{ps}.RemainingCapacityLimit", 0x02, max=100, value=10),
            F(f"{st}.ACPresent", 0x03, size=1, max=1, kinds="IF", value=1),
            F(f"{st}.Charging", 0x03, size=1, max=1, kinds="IF"),
            F(f"{st}.Discharging", 0x03, size=1, max=1, kinds="IF"),
            F(f"{st}.BelowRemainingCapacityLimit", 0x03, size=1, max=1, kinds="IF"),
            F(f"{st}.BatteryPresent", 0x03, size=1, max=1, kinds="IF", value=1),
            F(f"{st}.Overload", 0x03, size=1, max=1, kinds="IF"),
            F(f"{ps}.AudibleAlarmControl", 0x04, max=2, value=1),
            F(f"{ps}.DelayBeforeShutdown", 0x05, size=16, max=65535, value=0),
            F(f"{ps}.DelayBeforeStartup", 0x06, size=16, max=65535, value=0),
            F("UPS.Input.Voltage", 0x07, size=16, max=65535, unit=VOLT, exp=7, value=228),
            F("UPS.Input.Frequency", 0x08, size=16, max=65535, unit=HERTZ, exp=-1, value=500),
            F("UPS.Output.Voltage", 0x09, size=16, max=65535, unit=VOLT, exp=7, value=228),
            F("UPS.Output.PercentLoad", 0x0A, max=100, value=19),
            F("UPS.Battery.Test", 0x0B, max=7, value=1),
        ],
        extra_reports={0xA4: b"\xa4 27.3 2"},
    )
    m.states = {
        "online": _status(st, ACPresent=1, Charging=0, Discharging=0,
                          BelowRemainingCapacityLimit=0, Overload=0),
        "on_battery": _status(st, ACPresent=0, Discharging=1),
        "low_battery": _status(st, ACPresent=0, Discharging=1, BelowRemainingCapacityLimit=1),
        "replace_battery": {},
        "overload": _status(st, ACPresent=1, Overload=1),
    }
    return m


MODELS = {"apc": apc_back_ups_rs, "cps": cyberpower, "mge": eaton, "tripplite": tripplite,
          "belkin": belkin, "liebert": phoenixtec, "powercom": powercom}
