"""PowerCOM (0x0d9f). Their firmwares encode the shutdown and startup delays in their own
ways (minutes and seconds in separate bytes, or an index into a table of delays), and put
some values under a vendor application collection ``PowercomUPS``."""

from __future__ import annotations

import time

from ....common.log import log
from ..mapping import Lookup, _c_long, bitflag, table
from . import Subdriver, possibly_supported

POWERCOM = 0x0D9F

# the Raptor / Smart KING Pro series take a delay as an index into this table (seconds)
DISCRETE_DELAYS = [12, 18, 24, 30, 36, 42, 48, 54, 60, 120, 180, 240, 300, 360, 420, 480, 540]


def _atoi(text: str | None) -> int:
    text = (text or "").strip()
    i = 1 if text[:1] in "+-" else 0
    j = i
    while j < len(text) and text[j].isdigit():
        j += 1
    return int(text[:j]) if j > i else 0


def _seconds(value: str | None, ctx, setting: str, variable: str, default: int) -> int:
    """Which delay to send: the command's own, else the setting, else the variable."""
    for candidate in (value, ctx.getval(setting), ctx.getinfo(variable)):
        if candidate:
            return _atoi(candidate)
    return default


class Powercom(Subdriver):
    name = "PowerCOM HID 0.74"
    vendor_label = "PowerCOM"
    default_mfr = "PowerCOM"
    ids = {(POWERCOM, pid): None for pid in (0x00A2, 0x00A3, 0x00A4, 0x00A5, 0x00A6, 0x0004,
                                             0x0001)}
    usages = [
        ("PowercomUPS", 0x00020004), ("PowercomBatterySystem", 0x00020010),
        ("PowercomPowerConverter", 0x00020016), ("PowercomInput", 0x0002001A),
        ("PowercomOutput", 0x0002001C), ("PowercomVoltage", 0x00020030),
        ("PowercomFrequency", 0x00020032), ("PowercomPercentLoad", 0x00020035),
        ("PowercomTemperature", 0x00020036), ("PowercomDelayBeforeStartup", 0x00020056),
        ("PowercomDelayBeforeShutdown", 0x00020057), ("PowercomTest", 0x00020058),
        ("PowercomShutdownRequested", 0x00020068),
        ("PowercomInternalChargeController", 0x00020081),
        ("PowercomPrimaryBatterySupport", 0x00020082), ("PowercomDesignCapacity", 0x00020083),
        ("PowercomSpecificationInfo", 0x00020084), ("PowercomManufacturerDate", 0x00020085),
        ("PowercomSerialNumber", 0x00020086), ("PowercomManufacturerName", 0x00020087),
        ("POWERCOM1", 0x0084002F), ("POWERCOM2", 0xFF860060), ("POWERCOM3", 0xFF860080),
        ("PCMDelayBeforeStartup", 0x00FF0056), ("PCMDelayBeforeShutdown", 0x00FF0057),
    ]
    TABLE = """
    BOOL  UPS.PowerSummary.PresentStatus.ACPresent                    -  @online
    BOOL  UPS.PowerSummary.PresentStatus.BatteryPresent               -  @nobattery
    BOOL  UPS.PowerSummary.PresentStatus.BelowRemainingCapacityLimit  -  @lowbatt
    BOOL  UPS.PowerSummary.PresentStatus.Charging                     -  @charging
    BOOL  UPS.PowerSummary.PresentStatus.CommunicationLost            -  @commfault
    BOOL  UPS.PowerSummary.PresentStatus.Discharging                  -  @discharging
    BOOL  UPS.PowerSummary.PresentStatus.NeedReplacement              -  @replacebatt
    BOOL  UPS.PowerSummary.PresentStatus.Overload                     -  @overload
    BOOL  UPS.PowerSummary.PresentStatus.RemainingTimeLimitExpired    -  @timelimitexpired
    BOOL  UPS.PowerSummary.PresentStatus.ShutdownImminent             -  @shutdownimm
    BOOL  UPS.PresentStatus.ACPresent                                 -  @online
    BOOL  UPS.PresentStatus.BatteryPresent                            -  @nobattery
    BOOL  UPS.PresentStatus.BelowRemainingCapacityLimit               -  @lowbatt
    BOOL  UPS.PresentStatus.Boost                                     -  @boost
    BOOL  UPS.PresentStatus.Buck                                      -  @trim
    BOOL  UPS.PresentStatus.Charging                                  -  @charging
    BOOL  UPS.PresentStatus.CommunicationLost                         -  @commfault
    BOOL  UPS.PresentStatus.Discharging                               -  @discharging
    BOOL  UPS.PresentStatus.NeedReplacement                           -  @replacebatt
    BOOL  UPS.PresentStatus.Overload                                  -  @overload
    BOOL  UPS.PresentStatus.RemainingTimeLimitExpired                 -  @timelimitexpired
    BOOL  UPS.PresentStatus.ShutdownImminent                          -  @shutdownimm

    # PowerCOM repeats the output voltage as the battery's: the battery voltage is read
    # from report 0xa4 as text, hooked on an item every unit has
    battery.voltage           UPS.PowerSummary.PresentStatus.ACPresent  %s  @powercom_battery_voltage
    battery.charge            UPS.PowerSummary.RemainingCapacity        %.0f
    battery.charge            UPS.Battery.RemainingCapacity             %.0f
    battery.charge.low        UPS.PowerSummary.RemainingCapacityLimit   %.0f
    battery.charge.warning    UPS.PowerSummary.WarningCapacityLimit     %.0f
    battery.runtime           UPS.PowerSummary.RunTimeToEmpty           %.0f
    battery.mfr.date          UPS.Battery.ManufacturerDate              %s    static @date
    battery.type              UPS.PowerSummary.iDeviceChemistry         %s    static @stringid
    ups.beeper.status         UPS.PowerSummary.AudibleAlarmControl      %s    @powercom_beeper
    ups.beeper.status         UPS.AudibleAlarmControl                   %s    @powercom_beeper
    ups.load                  UPS.Output.PercentLoad                    %.0f
    ups.date                  UPS.PowerSummary.ManufacturerDate         %s    static @date
    ups.test.result           UPS.Battery.Test                          %s    @test_read
    ups.delay.start           UPS.PowerSummary.DelayBeforeStartup       60    rw str=8 absent
    ups.timer.start           UPS.PowerSummary.DelayBeforeStartup       %.0f  @powercom_startup
    ups.delay.shutdown        UPS.PowerSummary.DelayBeforeShutdown      20    rw str=8 absent
    ups.timer.shutdown        UPS.PowerSummary.DelayBeforeShutdown      %.0f  quick @powercom_shutdown
    ups.delay.shutdown        UPS.PowerSummary.PCMDelayBeforeShutdown   20    rw str=8 absent
    ups.timer.shutdown        UPS.PowerSummary.PCMDelayBeforeShutdown   %.0f  quick @powercom_shutdown
    input.voltage             UPS.Input.Voltage                         %.1f
    input.voltage.nominal     UPS.Input.ConfigVoltage                   %.0f  static
    input.frequency           UPS.Input.Frequency                       %.1f
    output.voltage            UPS.Output.Voltage                        %.1f
    output.voltage.nominal    UPS.Output.ConfigVoltage                  %.0f  static
    output.frequency          UPS.Output.Frequency                      %.1f

    beeper.toggle             UPS.PowerSummary.AudibleAlarmControl      1  cmd
    beeper.enable             UPS.PowerSummary.AudibleAlarmControl      1  cmd
    beeper.disable            UPS.PowerSummary.AudibleAlarmControl      0  cmd
    test.battery.start.quick  UPS.Battery.Test                          1  cmd
    load.on.delay             UPS.PowerSummary.DelayBeforeStartup       -  cmd @powercom_startup
    shutdown.return           UPS.PowerSummary.DelayBeforeShutdown      -  cmd @powercom_shutdown
    shutdown.stayoff          UPS.PowerSummary.DelayBeforeShutdown      -  cmd @powercom_stayoff
    load.on                   UPS.PowerSummary.PCMDelayBeforeStartup    0  cmd @powercom_startup
    load.off                  UPS.PowerSummary.PCMDelayBeforeShutdown   0  cmd @powercom_stayoff
    shutdown.return           UPS.PowerSummary.PCMDelayBeforeShutdown   -  cmd @powercom_shutdown
    shutdown.stayoff          UPS.PowerSummary.PCMDelayBeforeShutdown   -  cmd @powercom_stayoff

    ups.serial                PowercomUPS.PowercomSerialNumber          %s    @stringid
    ups.mfr                   PowercomUPS.PowercomManufacturerName      %s    @stringid
    ups.mfr.date              PowercomUPS.PowercomManufacturerDate      %s    @date
    battery.temperature       PowercomUPS.PowercomBatterySystem.PowercomTemperature  %.0f
    battery.temperature       UPS.Battery.Temperature                   %.1f
    battery.charge            PowercomUPS.PowercomBatterySystem.PowercomVoltage  %.0f
    input.frequency           PowercomUPS.PowercomPowerConverter.PowercomInput.PowercomFrequency  %.0f
    input.voltage             PowercomUPS.PowercomPowerConverter.PowercomInput.PowercomVoltage    %.0f  @powercom_voltage
    output.voltage            PowercomUPS.PowercomPowerConverter.PowercomOutput.PowercomVoltage   %.0f  @powercom_voltage
    ups.load                  PowercomUPS.PowercomPowerConverter.PowercomOutput.PowercomPercentLoad  %.0f
    # bit 0 UPS fault, 1 battery bad, 2 test mode, 4 shutdown count-down active
    BOOL  PowercomUPS.PowercomPowerConverter.PowercomOutput.PowercomInternalChargeController  -  quick @powercom_upsfail
    BOOL  PowercomUPS.PowercomPowerConverter.PowercomOutput.PowercomInternalChargeController  -  quick @powercom_replacebatt
    BOOL  PowercomUPS.PowercomPowerConverter.PowercomOutput.PowercomInternalChargeController  -  quick @powercom_test
    BOOL  PowercomUPS.PowercomPowerConverter.PowercomOutput.PowercomInternalChargeController  -  quick @powercom_shutdownimm
    # bit 0 on inverter, 1 battery low, 3 AVR active, 4 AVR boosting, 5 overload
    BOOL  PowercomUPS.PowercomPowerConverter.PowercomOutput.PowercomPrimaryBatterySupport  -  quick @powercom_online
    BOOL  PowercomUPS.PowercomPowerConverter.PowercomOutput.PowercomPrimaryBatterySupport  -  quick @powercom_lowbatt
    BOOL  PowercomUPS.PowercomPowerConverter.PowercomOutput.PowercomPrimaryBatterySupport  -  quick @powercom_trim
    BOOL  PowercomUPS.PowercomPowerConverter.PowercomOutput.PowercomPrimaryBatterySupport  -  quick @powercom_boost
    BOOL  PowercomUPS.PowercomPowerConverter.PowercomOutput.PowercomPrimaryBatterySupport  -  quick @powercom_overload
    output.frequency          PowercomUPS.PowercomPowerConverter.PowercomOutput.PowercomFrequency  %.0f
    ups.test.result           PowercomUPS.PowercomPowerConverter.PowercomTest  %s  @test_read
    ups.delay.shutdown        PowercomUPS.PowercomPowerConverter.PowercomDelayBeforeShutdown  %.0f
    ups.delay.start           PowercomUPS.PowercomPowerConverter.PowercomDelayBeforeStartup   %.0f
    load.off                  PowercomUPS.PowercomPowerConverter.PowercomDelayBeforeShutdown  0  cmd
    """

    def __init__(self, options) -> None:
        super().__init__(options)
        self.legacy_byte_order = False
        self.discrete_delay = False
        self.last_battery_voltage = "0.0"

    def make_lookups(self):
        return {
            "powercom_startup": Lookup(read_fn=self._startup_read, write_fn=self._startup_write),
            "powercom_shutdown": Lookup(read_fn=self._shutdown_read, write_fn=self._shutdown_write),
            "powercom_stayoff": Lookup(write_fn=self._stayoff_write),
            "powercom_beeper": table((1, "enabled"), (2, "disabled")),
            "powercom_voltage": Lookup(read_fn=lambda v, ctx: "%0.0f" % (v * 4)),
            "powercom_upsfail": bitflag("fanfail", 0x0001),
            "powercom_replacebatt": bitflag("replacebatt", 0x0002),
            "powercom_test": bitflag("cal", 0x0004),
            "powercom_shutdownimm": bitflag("shutdownimm", 0x0010),
            # bit 0 says the inverter runs (line failed): on battery, explicitly (C says
            # "!online", which since 2.8.3 leaves the status without OB)
            "powercom_online": Lookup(read_fn=lambda v, ctx: "offline" if _c_long(v) & 1
                                      else "online"),
            "powercom_lowbatt": bitflag("lowbatt", 0x0002),
            "powercom_trim": Lookup(read_fn=lambda v, ctx: "trim" if _c_long(v) & 0x18 == 0x08
                                    else "!trim"),
            "powercom_boost": Lookup(read_fn=lambda v, ctx: "boost" if _c_long(v) & 0x18 == 0x18
                                     else "!boost"),
            "powercom_overload": bitflag("overload", 0x0020),
            "powercom_battery_voltage": Lookup(read_fn=self._battery_voltage),
        }

    def claim(self, info) -> bool:
        status = self.support(info)
        if status == 2:
            if info.product_id == 0x0001:
                self.interrupt_only = True
                self.interrupt_size = 8
        elif status == 1:
            if info.product_id == 0x0002:
                log.debug(0, f"This Powercom device ({info.vendor_id:04x}/{info.product_id:04x}) "
                             "is not supported by usbhid-ups.\nPlease use the 'powercom' driver "
                             "instead.\n")
                return False
            if not self.options.getval("productid"):
                possibly_supported("PowerCOM", info)
                return False
        else:
            return False
        self.legacy_byte_order = self.options.testvar("powercom_sdcmd_byte_order_fallback")
        self.discrete_delay = self.options.testvar("powercom_sdcmd_discrete_delay")
        return True

    # delays: the device swaps the bytes of a 16-bit count of minutes
    def _startup_read(self, value: float, ctx) -> str:
        i = _c_long(value) & 0xFFFF
        return str(60 * (((i & 0x00FF) << 8) + (i >> 8)))

    def _startup_write(self, value: str | None, ctx) -> float:
        minutes = int(_seconds(value, ctx, "ondelay", "ups.delay.start", 120) / 60)
        if minutes < 0 or minutes > 0xFFFFFFFF:
            log.debug(0, f"powercom_startup_nuf: value = {minutes} is not in uint32_t range")
            return 0.0
        if self.discrete_delay:
            return float(minutes)
        val = minutes & 0xFFFF
        return float(((val << 8) & 0xFFFF) + (val >> 8))

    def _shutdown_read(self, value: float, ctx) -> str:
        i = _c_long(value) & 0xFFFF
        if self.legacy_byte_order:
            return str(60 * (i & 0x00FF) + (i >> 8))
        return str(60 * (i >> 8) + (i & 0x00FF))

    def _shutdown_write(self, value: str | None, ctx) -> float:
        seconds = _seconds(value, ctx, "offdelay", "ups.delay.shutdown", 60)
        if seconds < 0 or seconds > 0xFFFF:
            log.debug(0, f"powercom_shutdown_nuf: value = {seconds} is not in uint16_t range")
            return 0.0
        if self.discrete_delay:
            for index, limit in enumerate(DISCRETE_DELAYS, 1):
                if seconds <= limit:
                    return float(index)
            return 18.0
        return float(self._minutes_seconds(seconds, 0x4000 if self.legacy_byte_order else 0x0040))

    def _stayoff_write(self, value: str | None, ctx) -> float:
        seconds = _seconds(value, ctx, "offdelay", "ups.delay.shutdown", 60)
        if seconds < 0 or seconds > 0xFFFF:
            log.debug(0, f"powercom_stayoff_nuf: value = {seconds} is not in uint16_t range")
            return 0.0
        return float(self._minutes_seconds(seconds, 0x8000 if self.legacy_byte_order else 0x0080))

    def _minutes_seconds(self, seconds: int, restart_flag: int) -> int:
        """Minutes and seconds in the two bytes (0 seconds means the longest delay, so at
        least 1), plus the flag telling whether the load returns with the mains."""
        val = seconds or 1
        if self.legacy_byte_order:
            command = (((val % 60) << 8) & 0xFFFF) + val // 60
        else:
            command = (((val // 60) << 8) & 0xFFFF) + val % 60
        return (command | restart_flag) & 0xFFFF

    def _battery_voltage(self, value: float, ctx) -> str:
        """Report 0xa4 holds the battery voltage as text, e.g. " 13.7 2"."""
        tries = 5 if self.last_battery_voltage == "0.0" else 1
        for attempt in range(tries):
            data = ctx.raw_feature_report(0xA4, 8)
            if data:
                text = "".join(chr(b) for b in data[1:8]).split("\0", 1)[0]
                start = 0
                while start < len(text) and not text[start].isdigit() and text[start] != ".":
                    start += 1
                end = start
                while end < len(text) and (text[end].isdigit() or text[end] == "."):
                    end += 1
                number = text[start:end]
                if number and "." in number:
                    self.last_battery_voltage = number
                    return number
            if tries > 1:
                time.sleep(0.1)
        return self.last_battery_voltage
