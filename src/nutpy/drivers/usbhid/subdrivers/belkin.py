"""Belkin (0x050d) and the Liebert units sold under vendor ID 0x10af (C's belkin-hid.c).
Belkin put its values on page 0x86 under its own names; some Liebert firmwares report
voltages with exponents off by 10^5 or 10^7, which the conversions below correct."""

from __future__ import annotations

from ....common.log import log
from ..mapping import Lookup, _c_long, bitflag, table
from . import Subdriver, possibly_supported

BELKIN, LIEBERT = 0x050D, 0x10AF


def _buf10(text: str) -> str:
    return text[:9]


def _belkin_upstype(value: float, ctx) -> str:
    return {1: "offline", 2: "line-interactive", 3: "simple online", 4: "simple offline",
            5: "simple line-interactive"}.get(_c_long(value) & 0x0F, "online")


def _plain_flag(name: str) -> Lookup:
    return Lookup(read_fn=lambda v, ctx: name if v else "!" + name)


def _power_flag() -> Lookup:
    """ACPresent: the device says it, so 0 is "offline" (C says "!online", which since
    2.8.3 leaves the status without OB: docs/drivers-usb.md)."""
    return Lookup(read_fn=lambda v, ctx: "online" if v else "offline")


class Belkin(Subdriver):
    name = "Belkin/Liebert HID 0.23"
    vendor_label = "Belkin"
    ids = {(BELKIN, pid): None for pid in (0x0980, 0x0900, 0x0910, 0x0912, 0x0551, 0x0750,
                                           0x0751, 0x0375, 0x0F51, 0x1100)}
    ids.update({(LIEBERT, pid): None for pid in (0x0000, 0x0001, 0x0002, 0x0004, 0x0008)})
    usages = [
        ("BELKINConfig", 0x00860026), ("BELKINConfigVoltage", 0x00860040),
        ("BELKINConfigFrequency", 0x00860042), ("BELKINConfigApparentPower", 0x00860043),
        ("BELKINConfigBatteryVoltage", 0x00860044), ("BELKINConfigOverloadTransfer", 0x00860045),
        ("BELKINLowVoltageTransfer", 0x00860053), ("BELKINHighVoltageTransfer", 0x00860054),
        ("BELKINLowVoltageTransferMax", 0x0086005B), ("BELKINLowVoltageTransferMin", 0x0086005C),
        ("BELKINHighVoltageTransferMax", 0x0086005D), ("BELKINHighVoltageTransferMin", 0x0086005E),
        ("BELKINControls", 0x00860027), ("BELKINLoadOn", 0x00860050),
        ("BELKINLoadOff", 0x00860051), ("BELKINLoadToggle", 0x00860052),
        ("BELKINDelayBeforeReboot", 0x00860055), ("BELKINDelayBeforeStartup", 0x00860056),
        ("BELKINDelayBeforeShutdown", 0x00860057), ("BELKINTest", 0x00860058),
        ("BELKINAudibleAlarmControl", 0x0086005A), ("BELKINDevice", 0x00860029),
        ("BELKINVoltageSensitivity", 0x00860074), ("BELKINModelString", 0x00860075),
        ("BELKINModelStringOffset", 0x00860076), ("BELKINUPSType", 0x0086007C),
        ("BELKINPowerState", 0x0086002A), ("BELKINInput", 0x0086001A),
        ("BELKINOutput", 0x0086001C), ("BELKINBatterySystem", 0x00860010),
        ("BELKINVoltage", 0x00860030), ("BELKINFrequency", 0x00860032),
        ("BELKINPower", 0x00860034), ("BELKINPercentLoad", 0x00860035),
        ("BELKINTemperature", 0x00860036), ("BELKINCharge", 0x00860039),
        ("BELKINRunTimeToEmpty", 0x0086006C), ("BELKINStatus", 0x00860028),
        ("BELKINBatteryStatus", 0x00860022), ("BELKINPowerStatus", 0x00860021),
    ]
    TABLE = """
    battery.charge           UPS.BELKINBatterySystem.BELKINCharge               %.0f
    battery.charge.low       UPS.PowerSummary.RemainingCapacityLimit            %.0f
    battery.charge.warning   UPS.PowerSummary.WarningCapacityLimit              %.0f
    battery.runtime          UPS.PowerSummary.RunTimeToEmpty                    %.0f
    battery.type             UPS.PowerSummary.iDeviceChemistry                  %s    @stringid
    battery.voltage          UPS.BELKINBatterySystem.BELKINVoltage              %s    @divide_by_10
    battery.voltage.nominal  UPS.BELKINConfig.BELKINConfigBatteryVoltage        %.0f
    input.frequency          UPS.BELKINPowerState.BELKINInput.BELKINFrequency   %s    @divide_by_10
    input.frequency.nominal  UPS.BELKINConfig.BELKINConfigFrequency             %.0f
    input.sensitivity        UPS.BELKINDevice.BELKINVoltageSensitivity          %s    rw str=10 @belkin_sensitivity
    input.transfer.high      UPS.BELKINConfig.BELKINHighVoltageTransfer         %.0f  rw str=10
    input.transfer.high.max  UPS.BELKINConfig.BELKINHighVoltageTransferMax      %.0f
    input.transfer.high.min  UPS.BELKINConfig.BELKINHighVoltageTransferMin      %.0f
    input.transfer.low       UPS.BELKINConfig.BELKINLowVoltageTransfer          %.0f  rw str=10
    input.transfer.low.max   UPS.BELKINConfig.BELKINLowVoltageTransferMax       %.0f
    input.transfer.low.min   UPS.BELKINConfig.BELKINLowVoltageTransferMin       %.0f
    input.voltage            UPS.BELKINPowerState.BELKINInput.BELKINVoltage     %s    @divide_by_10
    input.voltage.nominal    UPS.BELKINConfig.BELKINConfigVoltage               %.0f
    output.frequency         UPS.BELKINPowerState.BELKINOutput.BELKINFrequency  %s    @divide_by_10
    output.voltage           UPS.BELKINPowerState.BELKINOutput.BELKINVoltage    %s    @divide_by_10
    ups.beeper.status        UPS.BELKINControls.BELKINAudibleAlarmControl       %s    @beeper
    ups.delay.start          UPS.BELKINControls.BELKINDelayBeforeStartup        30    rw str=10 absent
    ups.delay.shutdown       UPS.BELKINControls.BELKINDelayBeforeShutdown       20    rw str=10 absent
    ups.timer.start          UPS.BELKINControls.BELKINDelayBeforeStartup        %.0f  quick
    ups.timer.shutdown       UPS.BELKINControls.BELKINDelayBeforeShutdown       %.0f  quick
    ups.timer.reboot         UPS.BELKINControls.BELKINDelayBeforeReboot         %.0f  quick
    ups.firmware             UPS.BELKINDevice.BELKINUPSType                     %s    @belkin_firmware
    ups.load                 UPS.BELKINPowerState.BELKINOutput.BELKINPercentLoad  %.0f
    ups.load.high            UPS.BELKINConfig.BELKINConfigOverloadTransfer      %.0f
    ups.mfr.date             UPS.PowerSummary.ManufacturerDate                  %s    @date
    ups.power.nominal        UPS.BELKINConfig.BELKINConfigApparentPower         %.0f
    ups.serial               UPS.PowerSummary.iSerialNumber                     %s    @stringid
    ups.test.result          UPS.BELKINControls.BELKINTest                      %s    @belkin_test
    ups.type                 UPS.BELKINDevice.BELKINUPSType                     %s    @belkin_upstype
    # Liebert PSA
    battery.charge           UPS.PowerSummary.RemainingCapacity                 %.0f  quick
    input.frequency          UPS.Input.Frequency                                %s    @divide_by_10
    input.voltage            UPS.Input.Voltage                                  %s    @liebert_line_voltage
    output.voltage           UPS.Output.Voltage                                 %s    @liebert_line_voltage
    battery.voltage          UPS.PowerSummary.Voltage                           %s    @liebert_line_voltage
    battery.voltage.nominal  UPS.PowerSummary.ConfigVoltage                     %s    static @liebert_config_voltage
    ups.load                 UPS.Output.PercentLoad                             %.0f
    # Liebert PSI5
    input.voltage.nominal    UPS.Flow.ConfigVoltage                             %.0f
    input.frequency          UPS.PowerConverter.Input.Frequency                 %s    @divide_by_100
    input.voltage            UPS.PowerConverter.Input.Voltage                   %s    @liebert_line_voltage
    output.voltage.nominal   UPS.Flow.ConfigVoltage                             %.0f
    output.frequency         UPS.PowerConverter.Output.Frequency                %s    @divide_by_100
    output.voltage           UPS.PowerConverter.Output.Voltage                  %s    @liebert_line_voltage
    ups.load                 UPS.OutletSystem.Outlet.PercentLoad                %.0f
    battery.voltage          UPS.BatterySystem.Battery.Voltage                  %s    @liebert_line_voltage
    battery.voltage.nominal  UPS.BatterySystem.Battery.ConfigVoltage            %.0f
    battery.capacity         UPS.Flow.ConfigApparentPower                       %.0f

    BOOL  UPS.PowerSummary.Discharging                                -  quick @liebert_discharging
    BOOL  UPS.PowerSummary.Charging                                   -  quick @liebert_charging
    BOOL  UPS.PowerSummary.ShutdownImminent                           -  @liebert_shutdownimm
    BOOL  UPS.PowerSummary.ACPresent                                  -  quick @liebert_online
    BOOL  UPS.PowerSummary.PresentStatus.Discharging                  -  quick @liebert_discharging
    BOOL  UPS.PowerSummary.PresentStatus.Charging                     -  quick @liebert_charging
    BOOL  UPS.PowerSummary.PresentStatus.ShutdownImminent             -  @liebert_shutdownimm
    BOOL  UPS.PowerSummary.PresentStatus.ACPresent                    -  quick @liebert_online
    BOOL  UPS.PowerSummary.PresentStatus.NeedReplacement              -  quick @liebert_replacebatt
    BOOL  UPS.PowerSummary.PresentStatus.BelowRemainingCapacityLimit  -  quick @liebert_lowbatt
    # two status words with one flag per bit
    BOOL  UPS.BELKINStatus.BELKINPowerStatus    -  @belkin_overload
    BOOL  UPS.BELKINStatus.BELKINPowerStatus    -  @belkin_overheat
    BOOL  UPS.BELKINStatus.BELKINPowerStatus    -  @belkin_commfault
    BOOL  UPS.BELKINStatus.BELKINPowerStatus    -  @belkin_awaitingpower
    BOOL  UPS.BELKINStatus.BELKINPowerStatus    -  quick @belkin_online
    BOOL  UPS.BELKINStatus.BELKINBatteryStatus  -  quick @belkin_depleted
    BOOL  UPS.BELKINStatus.BELKINBatteryStatus  -  @belkin_replacebatt
    BOOL  UPS.BELKINStatus.BELKINBatteryStatus  -  quick @belkin_lowbatt

    test.battery.start.quick  UPS.BELKINControls.BELKINTest                 1   cmd
    test.battery.start.deep   UPS.BELKINControls.BELKINTest                 2   cmd
    test.battery.stop         UPS.BELKINControls.BELKINTest                 3   cmd
    beeper.on                 UPS.BELKINControls.BELKINAudibleAlarmControl  2   cmd
    beeper.off                UPS.BELKINControls.BELKINAudibleAlarmControl  3   cmd
    beeper.disable            UPS.BELKINControls.BELKINAudibleAlarmControl  1   cmd
    beeper.enable             UPS.BELKINControls.BELKINAudibleAlarmControl  2   cmd
    beeper.mute               UPS.BELKINControls.BELKINAudibleAlarmControl  3   cmd
    load.off                  UPS.BELKINControls.BELKINDelayBeforeShutdown  1   cmd
    load.on                   UPS.BELKINControls.BELKINDelayBeforeStartup   1   cmd
    load.off.delay            UPS.BELKINControls.BELKINDelayBeforeShutdown  20  cmd
    load.on.delay             UPS.BELKINControls.BELKINDelayBeforeStartup   30  cmd
    shutdown.stop             UPS.BELKINControls.BELKINDelayBeforeShutdown  -1  cmd
    shutdown.reboot           UPS.BELKINControls.BELKINDelayBeforeReboot    10  cmd
    """

    def __init__(self, options) -> None:
        super().__init__(options)
        self.config_voltage_mult = 1.0
        self.line_voltage_mult = 1.0

    def make_lookups(self):
        return {
            "liebert_online": _power_flag(),
            "liebert_discharging": _plain_flag("dischrg"),
            "liebert_charging": _plain_flag("chrg"),
            "liebert_lowbatt": _plain_flag("lowbatt"),
            "liebert_replacebatt": _plain_flag("replacebatt"),
            "liebert_shutdownimm": _plain_flag("shutdownimm"),
            "liebert_config_voltage": Lookup(read_fn=self._config_voltage),
            "liebert_line_voltage": Lookup(read_fn=self._line_voltage),
            "belkin_firmware": Lookup(read_fn=lambda v, ctx: str(_c_long(v) >> 4)),
            "belkin_upstype": Lookup(read_fn=_belkin_upstype),
            "belkin_sensitivity": Lookup(read_fn=lambda v, ctx: {1: "reduced", 2: "low"}.get(
                _c_long(v), "normal")),
            "belkin_test": table((0, "No test initiated"), (1, "Done and passed"),
                                 (2, "Done and warning"), (3, "Done and error"), (4, "Aborted"),
                                 (5, "In progress")),
            "belkin_overload": bitflag("overload", 0x0010),
            "belkin_overheat": bitflag("overheat", 0x0040),
            "belkin_commfault": bitflag("commfault", 0x0080),
            "belkin_awaitingpower": bitflag("awaitingpower", 0x2000),
            # bit 0 is "AC failure": explicit, so on battery (C: "!online", see _power_flag)
            "belkin_online": Lookup(read_fn=lambda v, ctx: "offline" if _c_long(v) & 1
                                    else "online"),
            "belkin_lowbatt": bitflag("lowbatt", 0x0004),
            "belkin_depleted": bitflag("depleted", 0x0040),
            "belkin_replacebatt": bitflag("replacebatt", 0x0080),
        }

    def _config_voltage(self, value: float, ctx) -> str:
        # ConfigVoltage comes after the line voltages: a 1e-7 here fixes them all
        if value < 1:
            if abs(value - 1e-7) < 1e-9:
                self.config_voltage_mult = 1e8
                self.line_voltage_mult = 1e7
                log.debug(2, f"ConfigVoltage = {value:g} -> assuming correction factor = "
                             f"{self.config_voltage_mult:g}")
            else:
                log.notice("ConfigVoltage exponent looks wrong, but not correcting.")
        return _buf10("%.1f" % (value * self.config_voltage_mult))

    def _line_voltage(self, value: float, ctx) -> str:
        if value < 1:
            picked = False
            if abs(value - 1e-5) < 4 * 1e-5:
                self.line_voltage_mult = 1e7
                picked = True
            elif abs(value - 1e-3) < 4 * 1e-3:
                self.line_voltage_mult = 1e5
                picked = True
            if picked:
                log.debug(2, f"Input/OutputVoltage = {value:g} -> assuming correction factor = "
                             f"{self.line_voltage_mult:g}")
            else:
                log.notice("LineVoltage exponent looks wrong, but not correcting.")
        return _buf10("%.1f" % (value * self.line_voltage_mult))

    def claim(self, info) -> bool:
        status = self.support(info)
        if status == 2:
            self._interface_for(info)
            return True
        if status != 1:
            return False
        if info.vendor_id == BELKIN:
            if info.product_id == 0x0218:  # a USB hub, not a UPS
                return False
            if self.options.getval("productid"):
                return True
            possibly_supported("Belkin", info)
            return False
        if info.vendor_id == LIEBERT:
            if self.options.getval("productid"):
                self._interface_for(info)
                return True
            possibly_supported("Liebert", info)
        return False

    def _interface_for(self, info) -> None:
        # PSI5 / PowerSure PST (10af:0002): the power device is on interface 1
        if info.vendor_id == LIEBERT and info.product_id == 0x0002 \
                and not self.options.getval("usb_hid_rep_index"):
            log.debug(1, "belkin_claim: defaulting usb_hid_rep_index=1 for this model")
            self.interface = 1

    def format_model(self, info, engine) -> str | None:
        return info.product if info.product else "unknown"

    def format_mfr(self, info, engine) -> str | None:
        mfr = (info.vendor if info.vendor is not None else "Belkin").lstrip(" ")
        return mfr or "Belkin"

    def format_serial(self, info, engine) -> str | None:
        if info.serial:
            return info.serial
        serial = engine.get_item_string("UPS.PowerSummary.iSerialNumber", 64)
        if not serial:
            return None
        info.serial = serial
        return serial
