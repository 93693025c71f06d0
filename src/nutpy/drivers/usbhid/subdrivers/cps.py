"""CyberPower (0x0764) and Cyber Energy (ST Micro 0x0483:0xa430)."""

from __future__ import annotations

from ....common.log import log
from ..hidparser import ReportDescriptor
from ..mapping import Lookup, table
from . import Subdriver

CPS, STMICRO = 0x0764, 0x0483

VOLTAGE_LOGMIN, VOLTAGE_LOGMAX = 0, 511  # sane limits for the broken voltage items
NOMINAL_POWER_LOGMAX = 2048
BATTERY_SANITY_RATIO = 1.4  # above this x nominal, the battery voltage is read x 2/3


def _buf8(text: str) -> str:
    """C formats these into 8-byte buffers."""
    return text[:7]


def _strtod(text: str | None) -> float:
    import re

    m = re.match(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text or "")
    return float(m.group()) if m else 0.0


class Cps(Subdriver):
    name = "CyberPower HID 0.85"
    vendor_label = "CyberPower"
    default_mfr = "CPS"
    ids = {(CPS, 0x0005): None, (CPS, 0x0501): "may_need_scaling", (CPS, 0x0601): None,
           (STMICRO, 0xA430): None}
    usages = [("CPSFirmwareVersion", 0xFF0100D0), ("CPSInputSensitivity", 0xFF010043)]
    TABLE = """
    battery.type              UPS.PowerSummary.iDeviceChemistry        %s    @stringid
    battery.mfr.date          UPS.Battery.ManufacturerDate             %s    rw str=10 semi @date
    battery.mfr.date          UPS.PowerSummary.iOEMInformation         %s    @stringid
    battery.charge.warning    UPS.PowerSummary.WarningCapacityLimit    %.0f
    battery.charge.low        UPS.PowerSummary.RemainingCapacityLimit  %.0f  rw str=10 semi
    battery.charge            UPS.PowerSummary.RemainingCapacity       %s    @cps_charge
    battery.runtime           UPS.PowerSummary.RunTimeToEmpty          %.0f
    battery.runtime.low       UPS.PowerSummary.RemainingTimeLimit      %.0f  rw str=10 semi
    battery.voltage.nominal   UPS.PowerSummary.ConfigVoltage           %.0f
    battery.voltage           UPS.PowerSummary.Voltage                 %s    @cps_battery_voltage
    battery.status            UPS.PowerSummary.FullChargeCapacity      %s    @cps_battery_status
    ups.load                  UPS.Output.PercentLoad                   %.0f
    ups.beeper.status         UPS.PowerSummary.AudibleAlarmControl     %s    @beeper
    ups.test.result           UPS.Output.Test                          %s    @test_read
    ups.power                 UPS.Output.ApparentPower                 %.0f
    ups.power.nominal         UPS.Output.ConfigApparentPower           %.0f
    ups.realpower             UPS.Output.ActivePower                   %.0f
    ups.realpower.nominal     UPS.Output.ConfigActivePower             %.0f
    ups.delay.start           UPS.Output.DelayBeforeStartup            120   rw str=10 absent
    ups.delay.shutdown        UPS.Output.DelayBeforeShutdown           60    rw str=10 absent
    ups.timer.start           UPS.Output.DelayBeforeStartup            %.0f  quick
    ups.timer.shutdown        UPS.Output.DelayBeforeShutdown           %.0f  quick
    ups.timer.reboot          UPS.Output.DelayBeforeReboot             %.0f  quick
    ups.firmware              UPS.PowerSummary.CPSFirmwareVersion      %s    static @stringid
    ups.temperature           UPS.PowerSummary.Temperature             %s    @kelvin_celsius

    BOOL  UPS.PowerSummary.PresentStatus.ACPresent                    -  quick @online
    BOOL  UPS.PowerSummary.PresentStatus.Charging                     -  quick @charging
    BOOL  UPS.PowerSummary.PresentStatus.Discharging                  -  quick @discharging
    BOOL  UPS.PowerSummary.PresentStatus.BelowRemainingCapacityLimit  -  quick @lowbatt
    BOOL  UPS.PowerSummary.PresentStatus.FullyCharged                 -  @fullycharged
    BOOL  UPS.PowerSummary.PresentStatus.RemainingTimeLimitExpired    -  @timelimitexpired
    BOOL  UPS.PowerSummary.PresentStatus.NeedReplacement              -  @replacebatt
    BOOL  UPS.Output.Boost                                            -  @boost
    BOOL  UPS.Output.Overload                                         -  @overload

    input.frequency           UPS.Input.Frequency                      %.1f  @cps_input_frequency
    input.voltage.nominal     UPS.Input.ConfigVoltage                  %.0f
    input.voltage             UPS.Input.Voltage                        %.1f
    input.transfer.low        UPS.Input.LowVoltageTransfer             %.0f  rw str=10 semi
    input.transfer.high       UPS.Input.HighVoltageTransfer            %.0f  rw str=10 semi
    # the CP1350EPFCLCD keeps its transfer points under Output
    input.transfer.low        UPS.Output.LowVoltageTransfer            %.0f  rw str=10 semi
    input.transfer.high       UPS.Output.HighVoltageTransfer           %.0f  rw str=10 semi
    input.sensitivity         UPS.Output.CPSInputSensitivity           %s    rw str=0 semi enum @cps_sensitivity
    output.frequency          UPS.Output.Frequency                     %.1f  @cps_output_frequency
    output.voltage            UPS.Output.Voltage                       %.1f
    output.voltage.nominal    UPS.Output.ConfigVoltage                 %.0f

    test.battery.start.quick  UPS.Output.Test                          1    cmd
    test.battery.start.deep   UPS.Output.Test                          2    cmd
    test.battery.stop         UPS.Output.Test                          3    cmd
    load.off.delay            UPS.Output.DelayBeforeShutdown           60   cmd
    load.on.delay             UPS.Output.DelayBeforeStartup            120  cmd
    shutdown.stop             UPS.Output.DelayBeforeShutdown           -1   cmd
    shutdown.reboot           UPS.Output.DelayBeforeReboot             10   cmd
    beeper.on                 UPS.PowerSummary.AudibleAlarmControl     2    cmd
    beeper.off                UPS.PowerSummary.AudibleAlarmControl     3    cmd
    beeper.enable             UPS.PowerSummary.AudibleAlarmControl     2    cmd
    beeper.disable            UPS.PowerSummary.AudibleAlarmControl     1    cmd
    beeper.mute               UPS.PowerSummary.AudibleAlarmControl     3    cmd
    """

    def __init__(self, options) -> None:
        super().__init__(options)
        self.battery_scale = 1.0
        self.freq_scale = {True: 1.0, False: 1.0}  # input?, scale
        self.freq_checked = {True: False, False: False}
        self.might_need_battery_scale = False
        self.might_need_freq_scale = False
        self.battery_scale_checked = False

    def may_need_scaling(self, info) -> None:
        self.might_need_battery_scale = True
        self.might_need_freq_scale = True

    def make_lookups(self):
        return {
            "cps_charge": Lookup(read_fn=lambda v, ctx: _buf8("%.0f" % (v if v < 100.0 else 100.0))),
            "cps_battery_voltage": Lookup(read_fn=self._battery_voltage),
            "cps_battery_status": Lookup(read_fn=lambda v, ctx: _buf8("%.0f%%" % v)),
            "cps_input_frequency": Lookup(read_fn=lambda v, ctx: self._frequency(v, ctx, True)),
            "cps_output_frequency": Lookup(read_fn=lambda v, ctx: self._frequency(v, ctx, False)),
            "cps_sensitivity": table((0, "low"), (1, "normal"), (2, "high")),
        }

    def _battery_voltage(self, value: float, ctx) -> str:
        if self.might_need_battery_scale and not self.battery_scale_checked:
            nominal_text = ctx.getinfo("battery.voltage.nominal")
            if nominal_text is None:
                log.debug(2, "cps_adjust_battery_scale: 'battery.voltage.nominal' not available "
                             "yet; skipping scale determination")
            else:
                nominal = _strtod(nominal_text)
                if nominal == 0:
                    log.debug(3, f"cps_adjust_battery_scale: 'battery.voltage.nominal' is "
                                 f"{nominal_text}")
                else:
                    if value / nominal > BATTERY_SANITY_RATIO:
                        log.info("cps_adjust_battery_scale: battery readings will be scaled by 2/3")
                        self.battery_scale = 2.0 / 3
                    self.battery_scale_checked = True
        return _buf8("%.1f" % (self.battery_scale * value))

    def _frequency(self, value: float, ctx, is_input: bool) -> str:
        if self.might_need_freq_scale and not self.freq_checked[is_input]:
            self._adjust_frequency_scale(value, ctx, is_input)
        return _buf8("%.1f" % (self.freq_scale[is_input] * value))

    def _adjust_frequency_scale(self, report: float, ctx, is_input: bool) -> None:
        side = "input" if is_input else "output"
        nominal = _strtod(ctx.getinfo(f"{side}.frequency.nominal"))
        low = _strtod(ctx.getinfo(f"{side}.frequency.low"))
        high = _strtod(ctx.getinfo(f"{side}.frequency.high"))
        if nominal == 0:
            if 45 < low <= 50 or 50 <= high <= 55 or 45 < report <= 55 or 450 < report <= 550:
                nominal = 50
            elif 55 < low <= 60 or 60 <= high <= 65 or 55 < report <= 65 or 550 < report <= 650:
                nominal = 60
        if low == 0:
            low = 45.0 if nominal == 0 else nominal * 0.95
        if high == 0:
            high = 65.0 if nominal == 0 else nominal * 1.05
        if low <= report <= high:
            scale = 1.0
        elif low <= report / 10.0 <= high:
            scale = 0.1
        else:
            log.debug(2, f"cps_adjust_frequency_scale: Could not determine scaling factor "
                         f"needed for '{side}.frequency', will report it as is (and might "
                         "detect better later)")
            return
        self.freq_scale[is_input] = scale
        self.freq_checked[is_input] = True
        log.debug(1, f"cps_adjust_frequency_scale: Determined scaling factor needed for "
                     f"'{side}.frequency': {scale:.1f}")

    def fix_report_desc(self, info, desc: ReportDescriptor, engine) -> bool:
        """Some models describe output (and input) voltage with the high transfer point's
        limits, or with a 0..-1 range; nominal power may be clipped by a small LogMax."""
        vid, pid = info.vendor_id, info.product_id
        if vid != CPS or pid not in (0x0501, 0x0601):
            log.debug(3, f"NOT Attempting Report Descriptor fix for UPS: Vendor: {vid:04x}, "
                         f"Product: {pid:04x} (vendor/product not matched)")
            return False
        if self.options.testvar("disable_fix_report_desc"):
            log.debug(3, f"NOT Attempting Report Descriptor fix for UPS: Vendor: {vid:04x}, "
                         f"Product: {pid:04x} (got disable_fix_report_desc in config)")
            return False
        log.debug(3, f"Attempting Report Descriptor fix for UPS: Vendor: {vid:04x}, "
                     f"Product: {pid:04x}")
        fixed = False
        hvt = desc.find_by_id_node(0x10, 0x840054)
        if hvt is not None:
            output = desc.find_by_id_node(0x12, 0x840030)
            if output is not None and (hvt.log_min, hvt.log_max) == (output.log_min, output.log_max):
                output.log_min, output.log_max = VOLTAGE_LOGMIN, VOLTAGE_LOGMAX
                log.debug(3, f"Fixing Report Descriptor: set Output Voltage LogMin = "
                             f"{VOLTAGE_LOGMIN}, LogMax = {VOLTAGE_LOGMAX}")
                inp = desc.find_by_id_node(0x0F, 0x840030)
                if inp is not None and (hvt.log_min, hvt.log_max) == (inp.log_min, inp.log_max):
                    inp.log_min, inp.log_max = VOLTAGE_LOGMIN, VOLTAGE_LOGMAX
                    log.debug(3, f"Fixing Report Descriptor: set Input Voltage LogMin = "
                                 f"{VOLTAGE_LOGMIN}, LogMax = {VOLTAGE_LOGMAX}")
                fixed = True
        output = desc.find_by_id_node(0x12, 0x840030)
        inp = desc.find_by_id_node(0x0F, 0x840030) if output is not None else None
        if output is not None and inp is not None and (output.assumed_log_max or inp.assumed_log_max):
            out_max, in_max = output.log_max, inp.log_max
            if output.assumed_log_max and out_max < VOLTAGE_LOGMAX:
                out_max = VOLTAGE_LOGMAX
            if inp.assumed_log_max and in_max < VOLTAGE_LOGMAX:
                in_max = VOLTAGE_LOGMAX
            if output.assumed_log_max and out_max < in_max:
                out_max = in_max
            elif inp.assumed_log_max and in_max < out_max:
                in_max = out_max
            if inp.assumed_log_max and 1 < inp.size <= 64:
                in_max = min(in_max, (1 << inp.size) - 1)
            if output.assumed_log_max and 1 < output.size <= 64:
                out_max = min(out_max, (1 << output.size) - 1)
            if in_max != inp.log_max:
                log.debug(3, f"Fixing Report Descriptor: set Input Voltage LogMax = {in_max}")
                inp.log_max = in_max
                fixed = True
            if out_max != output.log_max:
                log.debug(3, f"Fixing Report Descriptor: set Output Voltage LogMax = {out_max}")
                output.log_max = out_max
                fixed = True
        power = desc.find_by_id_node(0x18, 0x840044)
        if power is not None and power.log_max < NOMINAL_POWER_LOGMAX:
            power.log_max = NOMINAL_POWER_LOGMAX
            log.debug(3, f"Fixing Report Descriptor: set ConfigActivePower LogMax = "
                         f"{NOMINAL_POWER_LOGMAX}")
            fixed = True
        if not fixed:
            log.debug(3, f"SKIPPED Report Descriptor fix for UPS: Vendor: {vid:04x}, Product: "
                         f"{pid:04x} (problematic conditions not matched)")
        return fixed
