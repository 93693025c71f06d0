"""Tripp Lite (0x09ae), with the HP (0x03f0) and Delta/Minuteman (0x05dd) models built on
the same firmware."""

from __future__ import annotations

from ....common.log import log
from ..mapping import Lookup, _c_long
from . import Subdriver

TRIPPLITE, HP, DELTA = 0x09AE, 0x03F0, 0x05DD

_TENTH = ("scale_0dot1", [0x1003, 0x1007, 0x1008, 0x1009, 0x1010, 0x2005, 0x2007, 0x2008,
                          0x2009, 0x2010, 0x2011, 0x2012, 0x2013, 0x2014])
_ONE = ("scale_1dot0", [0x1330, 0x3008, 0x3009, 0x3010, 0x3011, 0x3012, 0x3013, 0x3014,
                        0x3015, 0x4001, 0x4002, 0x4003, 0x4004, 0x4005, 0x4006, 0x4007,
                        0x4008])
_IDS: dict[tuple[int, int], str | None] = {}
for _tweak, _pids in (_TENTH, _ONE):
    for _pid in _pids:
        _IDS[(TRIPPLITE, _pid)] = _tweak
_IDS[(TRIPPLITE, 0x3016)] = _IDS[(TRIPPLITE, 0x3024)] = "scale_smart1500lcdt"
for _pid in (0x0001, 0x1FE0, 0x1FE1, 0x1FE2, 0x1FE3, 0x1F06, 0x1F08, 0x1F09, 0x1F0A):
    _IDS[(HP, _pid)] = "scale_1dot0"
for _pid in (0xA011, 0xA0A0):
    _IDS[(DELTA, _pid)] = "scale_1dot0"


def _buf8(text: str) -> str:
    return text[:7]


class TrippLite(Subdriver):
    name = "TrippLite HID 0.85"
    vendor_label = "TrippLite"
    ids = _IDS
    usages = [
        ("TLCustom", 0xFFFF0010), ("TLDelayBeforeStartup", 0xFFFF0056),
        ("TLLowVoltageTransferMax", 0xFFFF0057), ("TLLowVoltageTransferMin", 0xFFFF0058),
        ("TLHighVoltageTransferMax", 0xFFFF0059), ("TLHighVoltageTransferMin", 0xFFFF005A),
        ("OutletState", 0xFFFF007A), ("OutletCount", 0xFFFF007B),
        ("UPSFirmwareVersion", 0xFFFF007C), ("CommunicationProtocolVersion", 0xFFFF007D),
        ("CommunicationVersion", 0xFFFF007E), ("iUPSPartNumber", 0xFFFF007F),
        ("AutoOnDelay", 0xFFFF0080), ("TLWatchdog", 0xFFFF0092),
        ("TLOutletsAvailableMask", 0xFFFF0095), ("TLOutletsStatusMask", 0xFFFF0096),
        # some OMNI1000LCD put these on page 0x84 instead of 0x85
        ("TLCharging", 0x00840044), ("TLDischarging", 0x00840045),
        ("TLNeedReplacement", 0x0084004B), ("TLACPresent", 0x008400D0),
    ]
    TABLE = """
    device.part               UPS.TLCustom.[1].iUPSPartNumber              %s    static @stringid
    battery.charge            UPS.PowerSummary.RemainingCapacity           %.0f
    battery.charge            UPS.BatterySystem.Battery.RemainingCapacity  %.0f
    battery.charge.low        UPS.PowerSummary.RemainingCapacityLimit      %.0f  rw str=5 semi
    battery.charge.warning    UPS.PowerSummary.WarningCapacityLimit        %.0f
    battery.runtime           UPS.PowerSummary.RunTimeToEmpty              %.0f
    battery.voltage.nominal   UPS.BatterySystem.Battery.ConfigVoltage      %.1f  static
    battery.voltage           UPS.BatterySystem.Battery.Voltage            %s    @tl_battery_voltage
    battery.type              UPS.PowerSummary.iDeviceChemistry            %s    static @tl_chemistry
    battery.temperature       UPS.BatterySystem.Temperature                %s    @kelvin_celsius
    ups.delay.start           UPS.OutletSystem.Outlet.DelayBeforeStartup   30    rw str=10 absent
    ups.delay.start           UPS.OutletSystem.Outlet.TLDelayBeforeStartup 30    rw str=10 absent
    ups.delay.shutdown        UPS.OutletSystem.Outlet.DelayBeforeShutdown  20    rw str=10 absent
    ups.timer.start           UPS.OutletSystem.Outlet.DelayBeforeStartup   %.0f  quick
    ups.timer.start           UPS.OutletSystem.Outlet.TLDelayBeforeStartup %.0f  quick
    ups.timer.shutdown        UPS.OutletSystem.Outlet.DelayBeforeShutdown  %.0f  quick
    ups.timer.reboot          UPS.OutletSystem.Outlet.DelayBeforeReboot    %.0f  quick
    ups.test.result           UPS.BatterySystem.Test                       %s    @test_read
    ups.beeper.status         UPS.PowerSummary.AudibleAlarmControl         %s    @beeper
    ups.power.nominal         UPS.Flow.ConfigApparentPower                 %.0f  static
    ups.power                 UPS.OutletSystem.Outlet.ActivePower          %.1f
    ups.power                 UPS.PowerConverter.Output.ActivePower        %.1f
    ups.load                  UPS.OutletSystem.Outlet.PercentLoad          %.0f
    ups.firmware              UPS.TLCustom.[1].UPSFirmwareVersion          %.0f  static
    ups.watchdog.status       UPS.OutletSystem.Outlet.TLWatchdog           %.0f

    BOOL  UPS.PowerSummary.PresentStatus.InternalFailure              -  @commfault
    BOOL  UPS.PowerSummary.PresentStatus.ShutdownImminent             -  @shutdownimm
    BOOL  UPS.PowerSummary.PresentStatus.ACPresent                    -  quick @online
    BOOL  UPS.PowerSummary.PresentStatus.BelowRemainingCapacityLimit  -  quick @lowbatt
    BOOL  UPS.PowerSummary.PresentStatus.FullyCharged                 -  quick @fullycharged
    BOOL  UPS.PowerSummary.PresentStatus.Charging                     -  quick @charging
    BOOL  UPS.PowerSummary.PresentStatus.Discharging                  -  quick @discharging
    BOOL  UPS.PowerSummary.PresentStatus.FullyDischarged              -  quick @depleted
    BOOL  UPS.PowerSummary.PresentStatus.NeedReplacement              -  @replacebatt
    BOOL  UPS.PowerSummary.PresentStatus.TLACPresent                  -  quick @online
    BOOL  UPS.PowerSummary.PresentStatus.TLDischarging                -  quick @discharging
    # HP uses 0x840045 as the standard ConfigPercentLoad
    ups.load.nominal          UPS.Flow.ConfigPercentLoad                   %.0f
    BOOL  UPS.PowerSummary.PresentStatus.TLCharging                   -  quick @charging
    BOOL  UPS.PowerSummary.PresentStatus.TLNeedReplacement            -  @replacebatt
    BOOL  UPS.PowerConverter.PresentStatus.VoltageOutOfRange          -  @vrange
    BOOL  UPS.PowerConverter.PresentStatus.Buck                       -  @trim
    BOOL  UPS.PowerConverter.PresentStatus.Boost                      -  @boost
    BOOL  UPS.PowerConverter.PresentStatus.Overload                   -  @overload
    BOOL  UPS.PowerConverter.PresentStatus.OverTemperature            -  @overheat
    BOOL  UPS.PowerConverter.PresentStatus.InternalFailure            -  @commfault
    BOOL  UPS.PowerConverter.PresentStatus.AwaitingPower              -  @awaitingpower

    input.voltage.nominal     UPS.PowerSummary.Input.ConfigVoltage             %.0f  static
    input.voltage             UPS.PowerSummary.Input.Voltage                   %s    @tl_io_voltage
    input.voltage             UPS.PowerConverter.Input.Voltage                 %s    @tl_io_voltage
    input.frequency           UPS.PowerConverter.Input.Frequency               %s    @tl_io_frequency
    input.transfer.low        UPS.PowerConverter.Output.LowVoltageTransfer     %.1f  rw str=5 semi
    input.transfer.low.max    UPS.PowerConverter.Output.TLLowVoltageTransferMax  %.0f  static
    input.transfer.low.min    UPS.PowerConverter.Output.TLLowVoltageTransferMin  %.0f  static
    input.transfer.high       UPS.PowerConverter.Output.HighVoltageTransfer    %.1f  rw str=5 semi
    input.transfer.high.max   UPS.PowerConverter.Output.TLHighVoltageTransferMax %.0f  static
    input.transfer.high.min   UPS.PowerConverter.Output.TLHighVoltageTransferMin %.0f  static
    output.voltage.nominal    UPS.Flow.ConfigVoltage                           %.0f  static
    output.voltage            UPS.PowerConverter.Output.Voltage                %s    @tl_io_voltage
    output.voltage            UPS.PowerSummary.Voltage                         %s    @tl_io_voltage
    output.current            UPS.PowerConverter.Output.Current                %s    @tl_io_current
    output.frequency.nominal  UPS.Flow.ConfigFrequency                         %.0f  static
    output.frequency          UPS.PowerConverter.Output.Frequency              %s    @tl_io_frequency

    test.battery.start.quick  UPS.BatterySystem.Test                        1   cmd
    test.battery.start.deep   UPS.BatterySystem.Test                        2   cmd
    test.battery.stop         UPS.BatterySystem.Test                        3   cmd
    load.off.delay            UPS.OutletSystem.Outlet.DelayBeforeShutdown   20  cmd
    load.on.delay             UPS.OutletSystem.Outlet.DelayBeforeStartup    30  cmd
    load.on.delay             UPS.OutletSystem.Outlet.TLDelayBeforeStartup  30  cmd
    shutdown.stop             UPS.OutletSystem.Outlet.DelayBeforeShutdown   -1  cmd
    shutdown.reboot           UPS.OutletSystem.Outlet.DelayBeforeReboot     10  cmd
    # the ECO550UPS has no DelayBeforeStartup: its watchdog reboots it
    shutdown.reboot           UPS.OutletSystem.Outlet.TLWatchdog            10  cmd
    reset.watchdog            UPS.OutletSystem.Outlet.TLWatchdog            60  cmd
    beeper.on                 UPS.PowerSummary.AudibleAlarmControl          2   cmd
    beeper.off                UPS.PowerSummary.AudibleAlarmControl          3   cmd
    beeper.disable            UPS.PowerSummary.AudibleAlarmControl          1   cmd
    beeper.enable             UPS.PowerSummary.AudibleAlarmControl          2   cmd
    beeper.mute               UPS.PowerSummary.AudibleAlarmControl          3   cmd
    """

    def __init__(self, options) -> None:
        super().__init__(options)
        self.battery_scale = 1.0
        self.voltage_scale = 1.0
        self.frequency_scale = 1.0
        self.current_scale = 1.0

    def scale_1dot0(self, info) -> None:
        self.battery_scale = 1.0

    def scale_0dot1(self, info) -> None:
        self.battery_scale = 0.1

    def scale_smart1500lcdt(self, info) -> None:
        self.battery_scale = 100000.0
        self.voltage_scale = 100000.0
        self.frequency_scale = 0.01
        self.current_scale = 0.01

    def make_lookups(self):
        return {
            "tl_battery_voltage": Lookup(read_fn=lambda v, c: _buf8("%.1f" % (self.battery_scale * v))),
            "tl_io_voltage": Lookup(read_fn=lambda v, c: _buf8("%.1f" % (self.voltage_scale * v))),
            "tl_io_frequency": Lookup(read_fn=lambda v, c: _buf8("%.1f" % (self.frequency_scale * v))),
            "tl_io_current": Lookup(read_fn=lambda v, c: _buf8("%.1f" % (self.current_scale * v))),
            "tl_chemistry": Lookup(read_fn=self._chemistry),
        }

    def _chemistry(self, value: float, ctx) -> str:
        # AVR550U (1003) and OMNI1000LCD (2005) firmwares give a bad string index here
        if ctx.getinfo("ups.productid") in ("1003", "2005"):
            return "unknown"
        return ctx.get_string(_c_long(value), 20)

    def claim(self, info) -> bool:
        status = self.support(info)
        if status == 2:
            return True
        if status != 1:
            return False
        if info.vendor_id == HP:
            # HP makes many USB devices that are no UPS: no "possibly supported" noise
            return bool(self.options.getval("productid"))
        if info.vendor_id == TRIPPLITE:
            if info.product_id == 0x0001:
                log.debug(0, f"This Tripp Lite device ({info.vendor_id:04x}/{info.product_id:04x}) "
                             "is not supported by usbhid-ups.\nPlease use the tripplite_usb "
                             "driver instead.\n")
                return False
            if self.options.getval("productid"):
                return True
            from . import possibly_supported
            possibly_supported("TrippLite", info)
        return False
