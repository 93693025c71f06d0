"""APC (0x051d): Back-UPS, Smart-UPS and their 5G successors."""

from __future__ import annotations

from ....common.log import log
from ..hidparser import ReportDescriptor
from ..mapping import Lookup, _c_long, table
from . import Subdriver

APC = 0x051D


def _apc_date_read(value: float, ctx) -> str:
    """APC's hex-as-decimal date 0xMMDDYY, e.g. 0x102202 = 2002/10/22."""
    v = _c_long(value)
    if v == 0:
        return "not set"
    year = (v & 0xF) + 10 * ((v >> 4) & 0xF)
    month = ((v >> 16) & 0xF) + 10 * ((v >> 20) & 0xF)
    day = ((v >> 8) & 0xF) + 10 * ((v >> 12) & 0xF)
    year += 1900 if year >= 70 else 2000
    return f"{year:04d}/{month:02d}/{day:02d}"


def _apc_date_write(text: str | None, ctx) -> float:
    from ..mapping import scan_date

    year, month, day = scan_date(text)
    if year >= 2070 or month > 12 or day > 31:
        return 0.0
    year %= 100
    date = ((year // 10 & 0x0F) << 4) + year % 10
    date += ((month // 10 & 0x0F) << 20) + ((month % 10) << 16)
    date += ((day // 10 & 0x0F) << 12) + ((day % 10) << 8)
    return float(date)


class Apc(Subdriver):
    name = "APC HID 0.101"
    vendor_label = "APC"
    default_mfr = "APC"
    ids = {(APC, 0x0000): None, (APC, 0x0002): "general_check", (APC, 0x0003): "no_interrupts",
           (APC, 0x0004): "no_interrupts", (APC, 0x0005): None}
    # Back-UPS models whose firmware sends reports longer than their descriptor says
    MAX_REPORT_PRODUCTS = ("Back-UPS ES 525", "Back-UPS CS")
    usages = [
        ("APCGeneralCollection", 0xFF860005), ("APCEnvironment", 0xFF860006),
        ("APCProbe1", 0xFF860007), ("APCProbe2", 0xFF860008),
        ("APCBattReplaceDate", 0xFF860016), ("APCBattCapBeforeStartup", 0xFF860019),
        ("APC_UPS_FirmwareRevision", 0xFF860042), ("APCLineFailCause", 0xFF860052),
        ("APCStatusFlag", 0xFF860060), ("APCSensitivity", 0xFF860061),
        ("APCPanelTest", 0xFF860072), ("APCShutdownAfterDelay", 0xFF860076),
        ("APC_USB_FirmwareRevision", 0xFF860079), ("APCDelayBeforeReboot", 0xFF86007C),
        ("APCDelayBeforeShutdown", 0xFF86007D), ("APCDelayBeforeStartup", 0xFF86007E),
        ("BUPHibernate", 0x00850058), ("BUPBattCapBeforeStartup", 0x00860012),
        ("BUPDelayBeforeStartup", 0x00860076), ("BUPSelfTest", 0x00860010),
    ]
    TABLE = """
    battery.charge            UPS.PowerSummary.RemainingCapacity              %.0f
    battery.charge.low        UPS.PowerSummary.RemainingCapacityLimit         %.0f  rw str=10 semi
    battery.charge.warning    UPS.PowerSummary.WarningCapacityLimit           %.0f
    battery.runtime           UPS.Battery.RunTimeToEmpty                      %.0f
    battery.runtime           UPS.PowerSummary.RunTimeToEmpty                 %.0f
    battery.runtime.low       UPS.Battery.RemainingTimeLimit                  %.0f  rw str=10 semi
    battery.runtime.low       UPS.PowerSummary.RemainingTimeLimit             %.0f  rw str=10 semi
    battery.voltage           UPS.Battery.Voltage                             %.1f
    battery.voltage           UPS.PowerSummary.Voltage                        %.1f
    battery.voltage.nominal   UPS.Battery.ConfigVoltage                       %.1f
    battery.voltage.nominal   UPS.PowerSummary.ConfigVoltage                  %.1f
    battery.temperature       UPS.Battery.Temperature                         %s    @kelvin_celsius
    battery.type              UPS.PowerSummary.iDeviceChemistry               %s    @stringid
    battery.mfr.date          UPS.Battery.ManufacturerDate                    %s    rw str=10 semi @date
    battery.mfr.date          UPS.PowerSummary.APCBattReplaceDate             %s    @apc_date
    battery.date              UPS.Battery.APCBattReplaceDate                  %s    @apc_date
    ups.load                  UPS.Output.PercentLoad                          %.1f
    ups.load                  UPS.PowerConverter.PercentLoad                  %.0f
    ups.delay.start           UPS.PowerSummary.DelayBeforeStartup             30    rw str=10 absent
    ups.delay.shutdown        UPS.PowerSummary.DelayBeforeShutdown            20    rw str=10 absent
    ups.timer.start           UPS.PowerSummary.DelayBeforeStartup             %.0f  quick
    ups.timer.shutdown        UPS.PowerSummary.DelayBeforeShutdown            %.0f  quick
    ups.timer.reboot          UPS.PowerSummary.DelayBeforeReboot              %.0f  quick
    ups.delay.start           UPS.Output.DelayBeforeStartup                   30    rw str=10 absent
    ups.delay.shutdown        UPS.Output.DelayBeforeShutdown                  20    rw str=10 absent
    ups.timer.start           UPS.Output.DelayBeforeStartup                   %.0f  quick
    ups.timer.shutdown        UPS.Output.DelayBeforeShutdown                  %.0f  quick
    ups.timer.reboot          UPS.Output.DelayBeforeReboot                    %.0f  quick
    ups.delay.start           UPS.APCGeneralCollection.APCDelayBeforeStartup  30    rw str=10 absent
    ups.delay.shutdown        UPS.APCGeneralCollection.APCDelayBeforeShutdown 20    rw str=10 absent
    ups.timer.start           UPS.APCGeneralCollection.APCDelayBeforeStartup  %.0f  quick
    ups.timer.shutdown        UPS.APCGeneralCollection.APCDelayBeforeShutdown %.0f  quick
    ups.timer.reboot          UPS.APCGeneralCollection.APCDelayBeforeReboot   %.0f  quick
    ups.test.result           UPS.Battery.Test                                %s    @test_read
    ups.beeper.status         UPS.PowerSummary.AudibleAlarmControl            %s    @beeper
    ups.mfr.date              UPS.ManufacturerDate                            %s    @date
    ups.mfr.date              UPS.PowerSummary.ManufacturerDate               %s    @date
    ups.realpower.nominal     UPS.PowerConverter.ConfigActivePower            %.0f
    ups.realpower.nominal     UPS.Output.ConfigActivePower                    %.0f

    BOOL  UPS.PowerSummary.PresentStatus.ACPresent                    -  quick @online
    BOOL  UPS.PowerSummary.PresentStatus.Discharging                  -  quick @discharging
    BOOL  UPS.PowerSummary.PresentStatus.Charging                     -  quick @charging
    BOOL  UPS.PowerSummary.PresentStatus.ShutdownImminent             -  @shutdownimm
    BOOL  UPS.PowerSummary.PresentStatus.BelowRemainingCapacityLimit  -  quick @lowbatt
    BOOL  UPS.PowerSummary.PresentStatus.Overload                     -  @overload
    BOOL  UPS.PowerSummary.PresentStatus.NeedReplacement              -  @replacebatt
    BOOL  UPS.PowerSummary.PresentStatus.RemainingTimeLimitExpired    -  @timelimitexpired
    BOOL  UPS.PowerSummary.PresentStatus.BatteryPresent               -  @nobattery
    # Back-UPS 500 style: the flags straight under PowerSummary
    BOOL  UPS.PowerSummary.Charging                                   -  quick @charging
    BOOL  UPS.PowerSummary.Discharging                                -  quick @discharging
    BOOL  UPS.PowerSummary.ACPresent                                  -  quick @online
    BOOL  UPS.PowerSummary.BelowRemainingCapacityLimit                -  quick @lowbatt
    BOOL  UPS.PowerSummary.ShutdownImminent                           -  @shutdownimm
    BOOL  UPS.PowerSummary.APCStatusFlag                              -  quick @apc_status_flag
    # mapped twice to clear both reasons
    BOOL  UPS.Input.APCLineFailCause                                  -  @apc_vrange
    BOOL  UPS.Input.APCLineFailCause                                  -  @apc_frange

    input.voltage             UPS.Input.Voltage                    %.1f
    input.voltage.nominal     UPS.Input.ConfigVoltage              %.0f
    input.transfer.low        UPS.Output.LowVoltageTransfer        %.0f  rw str=10 semi
    input.transfer.high       UPS.Output.HighVoltageTransfer       %.0f  rw str=10 semi
    input.transfer.low        UPS.Input.LowVoltageTransfer         %.0f  rw str=10 semi
    input.transfer.high       UPS.Input.HighVoltageTransfer        %.0f  rw str=10 semi
    input.sensitivity         UPS.Input.APCSensitivity             %s    rw str=10 semi @apc_sensitivity
    output.voltage            UPS.Output.Voltage                   %.1f
    output.voltage.nominal    UPS.Output.ConfigVoltage             %.1f
    output.current            UPS.Output.Current                   %.2f
    output.frequency          UPS.Output.Frequency                 %.1f
    ambient.temperature       UPS.APCEnvironment.APCProbe1.Temperature  %s  @kelvin_celsius
    ambient.humidity          UPS.APCEnvironment.APCProbe1.Humidity     %.1f

    test.battery.start.quick  UPS.BatterySystem.Battery.Test                   1   cmd
    test.battery.start.quick  UPS.Battery.Test                                 1   cmd
    test.battery.start.deep   UPS.BatterySystem.Battery.Test                   2   cmd
    test.battery.start.deep   UPS.Battery.Test                                 2   cmd
    test.battery.stop         UPS.BatterySystem.Battery.Test                   3   cmd
    test.battery.stop         UPS.Battery.Test                                 3   cmd
    test.panel.start          UPS.APCPanelTest                                 1   cmd
    test.panel.stop           UPS.APCPanelTest                                 0   cmd
    test.panel.start          UPS.PowerSummary.APCPanelTest                    1   cmd
    test.panel.stop           UPS.PowerSummary.APCPanelTest                    0   cmd
    load.off.delay            UPS.PowerSummary.DelayBeforeShutdown             20  cmd
    load.on.delay             UPS.PowerSummary.DelayBeforeStartup              30  cmd
    shutdown.stop             UPS.PowerSummary.DelayBeforeShutdown             -1  cmd
    shutdown.reboot           UPS.PowerSummary.DelayBeforeReboot               10  cmd
    load.off.delay            UPS.Output.DelayBeforeShutdown                   20  cmd
    load.on.delay             UPS.Output.DelayBeforeStartup                    30  cmd
    shutdown.stop             UPS.Output.DelayBeforeShutdown                   -1  cmd
    shutdown.reboot           UPS.Output.DelayBeforeReboot                     10  cmd
    load.off.delay            UPS.APCGeneralCollection.APCDelayBeforeShutdown  20  cmd
    load.on.delay             UPS.APCGeneralCollection.APCDelayBeforeStartup   30  cmd
    shutdown.stop             UPS.APCGeneralCollection.APCDelayBeforeShutdown  -1  cmd
    shutdown.reboot           UPS.APCGeneralCollection.APCDelayBeforeReboot    10  cmd
    shutdown.return           UPS.Output.APCDelayBeforeReboot                  1   cmd
    beeper.on                 UPS.PowerSummary.AudibleAlarmControl             2   cmd
    beeper.off                UPS.PowerSummary.AudibleAlarmControl             3   cmd
    beeper.enable             UPS.PowerSummary.AudibleAlarmControl             2   cmd
    beeper.disable            UPS.PowerSummary.AudibleAlarmControl             1   cmd
    beeper.mute               UPS.PowerSummary.AudibleAlarmControl             3   cmd
    """

    def make_lookups(self):
        return {
            "apc_date": Lookup(read_fn=_apc_date_read, write_fn=_apc_date_write),
            # seen on a Back-UPS LS 500: 8 in normal operation, 16 briefly at power-on
            "apc_status_flag": table((8, "!off"), (16, "!off"), (0, "off")),
            # why the last transfer to battery happened (as apcupsd reads it)
            "apc_vrange": table((1, "vrange"), (2, "vrange"), (4, "vrange"), (8, "vrange"),
                                (9, "vrange"), (0, "!vrange")),
            "apc_frange": table((7, "frange"), (0, "!frange")),
            "apc_sensitivity": table((0, "low"), (1, "medium"), (2, "high")),
        }

    # tweaks of known products
    def no_interrupts(self, info) -> None:
        if not self.pollonly:
            log.info("interrupt pipe disabled (add 'pollonly' flag to 'ups.conf' to get rid "
                     "of this message)")
            self.pollonly = True

    def general_check(self, info) -> None:
        if info.product is None:
            log.warning("device->Product is NULL so it is not possible to determine whether "
                        "to activate max_report_size workaround")
            return
        if any(info.product.startswith(p) for p in self.MAX_REPORT_PRODUCTS):
            self.max_report_size = True

    def format_model(self, info, engine) -> str | None:
        """"Back-UPS 500 FW: 6.5.I USB FW: c1" -> model "Back-UPS 500", the rest into
        ups.firmware and ups.firmware.aux."""
        model = (info.product or "unknown")[:63]
        at = model.find("FW:")
        if at < 0:
            return model
        firmware = model[at + 3:]
        usb_at = firmware.find("USB FW:")
        if usb_at >= 0:
            engine.setinfo("ups.firmware.aux", firmware[usb_at + 7:])
            firmware = firmware[:max(usb_at - 1, 0)]
        engine.setinfo("ups.firmware", firmware)
        return model[:max(at - 1, 0)]

    def fix_report_desc(self, info, desc: ReportDescriptor, engine) -> bool:
        """Back-UPS XS 1400U in 230 V regions: input voltage limits smaller than the high
        transfer voltage; widen them."""
        if info.vendor_id != APC or info.product_id != 0x0002:
            return False
        if self.options.testvar("disable_fix_report_desc"):
            log.debug(3, "NOT Attempting Report Descriptor fix for UPS: Vendor: 051d, Product: "
                         "0002 (got disable_fix_report_desc in config)")
            return False
        log.debug(3, "Attempting Report Descriptor fix for UPS: Vendor: 051d, Product: 0002")
        fixed = False
        hvt = desc.find_by_id_node(0x33, 0x840054)
        if hvt is None:
            return False
        voltage = desc.find_by_id_node(0x31, 0x840030)
        if voltage is not None and hvt.log_max > voltage.log_max:
            voltage.log_min = 0
            voltage.log_max = hvt.log_max * 2
            log.debug(3, f"Fixing Report Descriptor. Set voltage LogMin = 0, LogMax = "
                         f"{voltage.log_max}")
            fixed = True
        config = desc.find_by_id_node(0x30, 0x840040)
        if config is not None and hvt.log_max > config.log_max:
            config.log_max = 255
            log.debug(3, f"Fixing Report Descriptor. Set configVoltage LogMin = "
                         f"{config.log_min}, LogMax = 255")
            fixed = True
        return fixed
