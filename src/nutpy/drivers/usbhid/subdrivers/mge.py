"""Eaton / MGE (0x0463) and the OEM units built on the same firmware: Dell, Powerware, HP,
AEG, IBM, KSTAR. Model names are looked up to classify the unit (offline, line-interactive,
Evolution, 5P, 9E...), which decides what some values mean. Advanced Battery Monitoring
(ABM) replaces the charging/discharging flags when enabled."""

from __future__ import annotations

import math
import struct
import time

from ....common.log import log
from ..mapping import Lookup, _c_long, table
from . import Subdriver, possibly_supported

MGE, DELL, POWERWARE, HP, AEG, PHOENIXTEC, IBM, KSTAR = (
    0x0463, 0x047C, 0x0592, 0x03F0, 0x2B2D, 0x06DA, 0x04B3, 0x09D6)

# model families (the high byte matters; offline models are below DEFAULT)
OFFLINE, PEGASUS, S3, DEFAULT, EVOLUTION, PULSAR_M, EATON_5P, EATON_9E = (
    0x000, 0x100, 0x110, 0x200, 0x300, 0x400, 0x500, 0x900)
EVOLUTION_650 = EVOLUTION + 1
(EVOLUTION_850, EVOLUTION_1150, EVOLUTION_S_1250, EVOLUTION_1550, EVOLUTION_S_1750,
 EVOLUTION_2000, EVOLUTION_S_2500, EVOLUTION_S_3000) = range(EVOLUTION + 2, EVOLUTION + 10)
PULSAR_M_2200, PULSAR_M_3000, PULSAR_M_3000_XL = PULSAR_M + 1, PULSAR_M + 2, PULSAR_M + 3

COUNTRY_UNKNOWN, COUNTRY_EUROPE, COUNTRY_US, COUNTRY_EUROPE_208 = -1, 0, 1, 2

ABM_UNKNOWN, ABM_DISABLED, ABM_ENABLED = -1, 0, 1
ABM_PATH_UNKNOWN, ABM_PATH_STATUS, ABM_PATH_MODE = -1, 0, 1


def _models() -> list[tuple[str, str, int, str | None]]:
    """(iProduct, iModel, family, published name or None for "iProduct iModel")."""
    out: list[tuple[str, str, int, str | None]] = []

    def add(product, family, models, name=None):
        for model in models.split():
            out.append((product, model.replace("_", " "), family,
                        name(model.replace("_", " ")) if name else None))

    add("ELLIPSE", OFFLINE, "300 500 650 800 1200", lambda m: f"ellipse {m}")
    add("ellipse", OFFLINE, "PR500 PR650 PR800 PR1200", lambda m: f"ellipse premium {m[2:]}")
    add("ELLIPSE", OFFLINE, "600 750 1000 1500", lambda m: f"Ellipse {m}")
    add("Ellipse MAX", OFFLINE, "600 850 1100 1500")
    add("PROTECTIONCENTER", OFFLINE, "420 500 675", lambda m: f"Protection Center {m}")
    add("Protection Station", PEGASUS, "500 650 800")
    add("Ellipse ECO", PEGASUS, "650 800 1200 1600")
    add("3S", OFFLINE, "450 550")
    add("3S", S3, "700 750")
    add("Evolution", DEFAULT, "500 800 1100 1500 2200 3000", lambda m: f"Pulsar Evolution {m}")
    out.append(("Evolution", "3000XL", DEFAULT, "Pulsar Evolution 3000 XL"))
    for model, family in (("650", EVOLUTION_650), ("850", EVOLUTION_850),
                          ("1150", EVOLUTION_1150), ("S 1250", EVOLUTION_S_1250),
                          ("1550", EVOLUTION_1550), ("S 1750", EVOLUTION_S_1750),
                          ("2000", EVOLUTION_2000), ("S 2500", EVOLUTION_S_2500),
                          ("S 3000", EVOLUTION_S_3000)):
        out.append(("Evolution", model, family, None))
    add("Eaton 5P", EATON_5P, "650 850 1150 1550", lambda m: f"5P {m}")
    add("Eaton 5PX", EATON_5P, "1500 2200 3000")
    add("Eaton 5SC", EATON_5P, "500 750 1000 1500 2200 3000")
    for size in ("1200", "1500", "1600"):  # a 5S self-identifies so, trailing blank included
        out.append(("Ellipse PRO", size + " ", EATON_5P, f"Eaton 5S{size}"))
    add("Eaton 9E", EATON_9E, "1000 1000i 1000iau 1000ir 2000 2000i 2000iau 2000ir 3000 "
        "3000i 3000iau 3000ir 3000ixl 3000ixlau", lambda m: f"9E{m}")
    add("unknown", EATON_9E, "1000 2000 3000", lambda m: f"9E{m}i (presumed)")
    add("Eaton 9SX", EATON_9E, "700i 1000i 1000im 1500i 2000i 3000i 3000im 1000ir 1500ir "
        "2000ir 3000ir", lambda m: f"9SX{m}")
    add("Eaton 9PX", EATON_9E, "1000irt2u 1500irt2u 1500irtm 2200irt2u 2200irt3u 3000irt2u "
        "3000irt3u 3000irtm", lambda m: f"9px{m}")
    for product in ("PULSAR M", "EX"):
        out += [(product, "2200", PULSAR_M_2200, None), (product, "3000", PULSAR_M_3000, None)]
    out += [("PULSAR M", "3000 XL", PULSAR_M_3000_XL, None),
            ("EX", "3000 XL", PULSAR_M_3000, None),
            ("PULSAR", "MX4000", DEFAULT, "Pulsar MX 4000 RT"),
            ("PULSAR", "MX5000", DEFAULT, "Pulsar MX 5000 RT")]
    add("NOVA AVR", DEFAULT, "500 600 625 1100 1250", lambda m: f"Nova {m} AVR")
    add("EXtreme", DEFAULT, "700C 1000C 1500C 2200C 3200C", lambda m: f"Pulsar EXtreme {m}")
    out.insert(len(out) - 2, ("EXtreme", "1500CCLA", DEFAULT, "Pulsar EXtreme 1500C CLA"))
    add("EX", DEFAULT, "700RT 1000RT 1500RT 2200RT 3200RT",
        lambda m: f"Pulsar EX {m[:-2]} RT")
    add("EX", DEFAULT, "5RT31 7RT31 11RT31", lambda m: f"EX {m[:-4]} RT 3:1")
    add("EX", DEFAULT, "5RT 7RT 11RT", lambda m: f"EX {m[:-2]} RT")
    out += [("GALAXY", f"3000_{k}", DEFAULT, f"Galaxy 3000 {k} kVA") for k in (10, 15, 20, 30)]
    return out


MODELS = _models()


def _strtod(text: str | None) -> float:
    import re

    m = re.match(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text or "")
    return float(m.group()) if m else 0.0


def _atoi(text: str | None) -> int:
    import re

    m = re.match(r"\s*[-+]?\d+", text or "")
    return int(m.group()) if m else 0


def _float32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def _c_round(x: float) -> float:
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


class Mge(Subdriver):
    name = "MGE HID 1.58"
    vendor_label = "Eaton / MGE"
    default_mfr = "Eaton"
    ids = {(MGE, 0x0001): None, (MGE, 0xFFFF): None, (DELL, 0xFFFF): None,
           (POWERWARE, 0x0004): None, (HP, 0x1FE5): None, (HP, 0x1FE6): None,
           (HP, 0x1FE7): None, (HP, 0x1FE8): None, (AEG, 0xFFFF): None,
           (PHOENIXTEC, 0xFFFF): None, (IBM, 0x0001): None, (KSTAR, 0x0001): None}
    usages = [
        ("Undefined", 0xFFFF0000), ("STS", 0xFFFF0001), ("Environment", 0xFFFF0002),
        ("Statistic", 0xFFFF0003), ("StatisticSystem", 0xFFFF0004), ("USB", 0xFFFF0005),
        ("Phase", 0xFFFF0010), ("PhaseID", 0xFFFF0011), ("Chopper", 0xFFFF0012),
        ("ChopperID", 0xFFFF0013), ("Inverter", 0xFFFF0014), ("InverterID", 0xFFFF0015),
        ("Rectifier", 0xFFFF0016), ("RectifierID", 0xFFFF0017), ("LCMSystem", 0xFFFF0018),
        ("LCMSystemID", 0xFFFF0019), ("LCMAlarm", 0xFFFF001A), ("LCMAlarmID", 0xFFFF001B),
        ("HistorySystem", 0xFFFF001C), ("HistorySystemID", 0xFFFF001D), ("Event", 0xFFFF001E),
        ("EventID", 0xFFFF001F), ("CircuitBreaker", 0xFFFF0020),
        ("TransferForbidden", 0xFFFF0021), ("OverallAlarm", 0xFFFF0022),
        ("Dephasing", 0xFFFF0023), ("BypassBreaker", 0xFFFF0024), ("PowerModule", 0xFFFF0025),
        ("PowerRate", 0xFFFF0026), ("PowerSource", 0xFFFF0027),
        ("CurrentPowerSource", 0xFFFF0028), ("RedundancyLevel", 0xFFFF0029),
        ("RedundancyLost", 0xFFFF002A), ("NotificationStatus", 0xFFFF002B),
        ("ProtectionLost", 0xFFFF002C), ("ConfigurationFailure", 0xFFFF002D),
        ("CompatibilityFailure", 0xFFFF002E), ("SwitchType", 0xFFFF0040),
        ("ConverterType", 0xFFFF0041), ("FrequencyConverterMode", 0xFFFF0042),
        ("AutomaticRestart", 0xFFFF0043), ("ForcedReboot", 0xFFFF0044),
        ("TestPeriod", 0xFFFF0045), ("EnergySaving", 0xFFFF0046),
        ("StartOnBattery", 0xFFFF0047), ("Schedule", 0xFFFF0048),
        ("DeepDischargeProtection", 0xFFFF0049), ("ShortCircuit", 0xFFFF004A),
        ("ExtendedVoltageMode", 0xFFFF004B), ("SensitivityMode", 0xFFFF004C),
        ("RemainingCapacityLimitSetting", 0xFFFF004D), ("ExtendedFrequencyMode", 0xFFFF004E),
        ("FrequencyConverterModeSetting", 0xFFFF004F), ("LowVoltageBoostTransfer", 0xFFFF0050),
        ("HighVoltageBoostTransfer", 0xFFFF0051), ("LowVoltageBuckTransfer", 0xFFFF0052),
        ("HighVoltageBuckTransfer", 0xFFFF0053), ("OverloadTransferEnable", 0xFFFF0054),
        ("OutOfToleranceTransferEnable", 0xFFFF0055), ("ForcedTransferEnable", 0xFFFF0056),
        ("LowVoltageBypassTransfer", 0xFFFF0057), ("HighVoltageBypassTransfer", 0xFFFF0058),
        ("FrequencyRangeBypassTransfer", 0xFFFF0059), ("LowVoltageEcoTransfer", 0xFFFF005A),
        ("HighVoltageEcoTransfer", 0xFFFF005B), ("FrequencyRangeEcoTransfer", 0xFFFF005C),
        ("ShutdownTimer", 0xFFFF005D), ("StartupTimer", 0xFFFF005E),
        ("RestartLevel", 0xFFFF005F), ("PhaseOutOfRange", 0xFFFF0060),
        ("CurrentLimitation", 0xFFFF0061), ("ThermalOverload", 0xFFFF0062),
        ("SynchroSource", 0xFFFF0063), ("FuseFault", 0xFFFF0064),
        ("ExternalProtectedTransfert", 0xFFFF0065), ("ExternalForcedTransfert", 0xFFFF0066),
        ("Compensation", 0xFFFF0067), ("EmergencyStop", 0xFFFF0068),
        ("PowerFactor", 0xFFFF0069), ("PeakFactor", 0xFFFF006A), ("ChargerType", 0xFFFF006B),
        ("HighPositiveDCBusVoltage", 0xFFFF006C), ("LowPositiveDCBusVoltage", 0xFFFF006D),
        ("HighNegativeDCBusVoltage", 0xFFFF006E), ("LowNegativeDCBusVoltage", 0xFFFF006F),
        ("FrequencyRangeTransfer", 0xFFFF0070), ("WiringFaultDetection", 0xFFFF0071),
        ("ControlStandby", 0xFFFF0072), ("ShortCircuitTolerance", 0xFFFF0073),
        ("VoltageTooHigh", 0xFFFF0074), ("VoltageTooLow", 0xFFFF0075),
        ("DCBusUnbalanced", 0xFFFF0076), ("FanFailure", 0xFFFF0077),
        ("WiringFault", 0xFFFF0078), ("Floating", 0xFFFF0079), ("OverCurrent", 0xFFFF007A),
        ("RemainingActivePower", 0xFFFF007B), ("Energy", 0xFFFF007C), ("Threshold", 0xFFFF007D),
        ("OverThreshold", 0xFFFF007E), ("Sensor", 0xFFFF0080), ("LowHumidity", 0xFFFF0081),
        ("HighHumidity", 0xFFFF0082), ("LowTemperature", 0xFFFF0083),
        ("HighTemperature", 0xFFFF0084), ("ECOControl", 0xFFFF0085), ("Efficiency", 0xFFFF0086),
        ("ABMEnable", 0xFFFF0087), ("NegativeCurrent", 0xFFFF0088),
        ("AutomaticStart", 0xFFFF0089), ("Count", 0xFFFF0090), ("Timer", 0xFFFF0091),
        ("Interval", 0xFFFF0092), ("TimerExpired", 0xFFFF0093), ("Mode", 0xFFFF0094),
        ("Country", 0xFFFF0095), ("State", 0xFFFF0096), ("Time", 0xFFFF0097),
        ("Code", 0xFFFF0098), ("DataValid", 0xFFFF0099), ("ToggleTimer", 0xFFFF009A),
        ("BypassTransferDelay", 0xFFFF009B), ("HysteresisVoltageTransfer", 0xFFFF009C),
        ("SlewRate", 0xFFFF009D), ("PDU", 0xFFFF00A0), ("Breaker", 0xFFFF00A1),
        ("BreakerID", 0xFFFF00A2), ("OverVoltage", 0xFFFF00A3), ("Tripped", 0xFFFF00A4),
        ("OverEnergy", 0xFFFF00A5), ("OverHumidity", 0xFFFF00A6),
        ("ConfigurationReset", 0xFFFF00A7), ("Level", 0xFFFF00A8), ("PDUType", 0xFFFF00A9),
        ("ReactivePower", 0xFFFF00AA), ("Pole", 0xFFFF00AB), ("PoleID", 0xFFFF00AC),
        ("Reset", 0xFFFF00AD), ("WatchdogReset", 0xFFFF00AE), ("iDesignator", 0xFFFF00BA),
        ("COPIBridge", 0xFFFF00E0), ("Gateway", 0xFFFF00E1), ("System", 0xFFFF00E5),
        ("Status", 0xFFFF00E9), ("iModel", 0xFFFF00F0), ("iVersion", 0xFFFF00F1),
        ("iTechnicalLevel", 0xFFFF00F2), ("iPartNumber", 0xFFFF00F3),
        ("iReferenceNumber", 0xFFFF00F4), ("iGang", 0xFFFF00F5),
    ]
    TABLE = """
    device.country                         UPS.PowerSummary.Country                                            Europe str=20 static @eaton_check_country
    device.usb.version                     UPS.System.USB.iVersion                                             -      str=20 static @stringid
    battery.charge                         UPS.PowerSummary.RemainingCapacity                                  %.0f
    battery.charge.low                     UPS.PowerSummary.RemainingCapacityLimitSetting                      %.0f   rw str=5 semi
    battery.charge.low                     UPS.PowerSummary.RemainingCapacityLimit                             %.0f   static
    battery.charge.restart                 UPS.PowerSummary.RestartLevel                                       %.0f   rw str=3 semi
    battery.capacity                       UPS.BatterySystem.Battery.DesignCapacity                            %s     static @mge_battery_capacity
    battery.runtime                        UPS.PowerSummary.RunTimeToEmpty                                     %.0f
    battery.runtime.low                    UPS.PowerSummary.RemainingTimeLimit                                 %.0f   rw str=10
    battery.runtime.elapsed                UPS.StatisticSystem.Input.[1].Statistic.[1].Time                    %.0f   quick
    battery.runtime.low                    UPS.PowerSummary.RemainingTimeLimit                                 %.0f   rw str=10
    battery.temperature                    UPS.BatterySystem.Battery.Temperature                               %s     @kelvin_celsius
    battery.type                           UPS.PowerSummary.iDeviceChemistry                                   %s     static @stringid
    battery.voltage                        UPS.BatterySystem.Voltage                                           %.1f
    battery.voltage                        UPS.PowerSummary.Voltage                                            %s     @mge_battery_voltage
    battery.voltage.nominal                UPS.BatterySystem.ConfigVoltage                                     %.0f   static
    battery.voltage.nominal                UPS.PowerSummary.ConfigVoltage                                      %s     static @mge_battery_voltage_nominal
    battery.protection                     UPS.BatterySystem.Battery.DeepDischargeProtection                   %s     rw str=5 semi @yes_no
    battery.energysave                     UPS.PowerConverter.Input.[3].EnergySaving                           %s     rw str=5 semi @yes_no
    battery.energysave.load                UPS.PowerConverter.Input.[3].ConfigPercentLoad                      %.0f   rw str=5 semi
    battery.energysave.delay               UPS.PowerConverter.Input.[3].EnergySaving.ShutdownTimer             %.0f   rw str=5 semi
    battery.energysave.delay               UPS.PowerConverter.Input.[3].ShutdownTimer                          %.0f   rw str=5 semi
    battery.energysave.realpower           UPS.PowerConverter.Input.[3].ConfigActivePower                      %.0f   rw str=5 semi
    battery.charger.abm.status             UPS.BatterySystem.Charger.ABMEnable                                 %.0f   quick @eaton_abm_enabled
    battery.charger.mode.status            UPS.BatterySystem.Charger.Mode                                      %.0f   quick @eaton_abm_path_mode
    battery.charger.type.status            UPS.BatterySystem.Charger.Status                                    %.0f   quick @eaton_abm_path_status
    battery.charger.status                 UPS.BatterySystem.Charger.Mode                                      %.0f   quick @eaton_abm_status
    battery.charger.status                 UPS.BatterySystem.Charger.Status                                    %.0f   quick @eaton_abm_status
    battery.charger.type                   UPS.BatterySystem.Charger.ChargerType                               %.0f   quick @eaton_charger_type
    ups.efficiency                         UPS.PowerConverter.Output.Efficiency                                %.0f
    ups.firmware                           UPS.PowerSummary.iVersion                                           %s     static @stringid
    ups.load                               UPS.PowerSummary.PercentLoad                                        %.0f
    ups.load.high                          UPS.Flow.[4].ConfigPercentLoad                                      %.0f   rw str=5 semi
    ups.delay.start                        UPS.PowerSummary.DelayBeforeStartup                                 30     rw str=10 absent
    ups.delay.shutdown                     UPS.PowerSummary.DelayBeforeShutdown                                20     rw str=10 absent
    ups.timer.start                        UPS.PowerSummary.DelayBeforeStartup                                 %.0f   quick
    ups.timer.shutdown                     UPS.PowerSummary.DelayBeforeShutdown                                %.0f   quick
    ups.timer.reboot                       UPS.PowerSummary.DelayBeforeReboot                                  %.0f   quick
    ups.test.result                        UPS.BatterySystem.Battery.Test                                      %s     @test_read
    ups.test.interval                      UPS.BatterySystem.Battery.TestPeriod                                %.0f   rw str=8 semi
    ups.beeper.status                      UPS.BatterySystem.Battery.AudibleAlarmControl                       %s     semi @beeper
    ups.beeper.status                      UPS.PowerSummary.AudibleAlarmControl                                %s     semi @beeper
    ups.beeper.status                      UPS.AudibleAlarmControl                                             %s     semi @beeper
    ups.temperature                        UPS.PowerSummary.Temperature                                        %s     @kelvin_celsius
    ups.power                              UPS.PowerConverter.Output.ApparentPower                             %.0f
    ups.L1.power                           UPS.PowerConverter.Output.Phase.[1].ApparentPower                   %.0f
    ups.L2.power                           UPS.PowerConverter.Output.Phase.[2].ApparentPower                   %.0f
    ups.L3.power                           UPS.PowerConverter.Output.Phase.[3].ApparentPower                   %.0f
    ups.power.nominal                      UPS.Flow.[4].ConfigApparentPower                                    %.0f   static
    ups.realpower                          UPS.PowerConverter.Output.ActivePower                               %.0f
    ups.realpower                          UPS.Flow.[4].ConfigApparentPower                                    -1     @eaton_compute_realpower
    ups.L1.realpower                       UPS.PowerConverter.Output.Phase.[1].ActivePower                     %.0f
    ups.L2.realpower                       UPS.PowerConverter.Output.Phase.[2].ActivePower                     %.0f
    ups.L3.realpower                       UPS.PowerConverter.Output.Phase.[3].ActivePower                     %.0f
    ups.realpower.nominal                  UPS.Flow.[4].ConfigActivePower                                      %.0f   static
    ups.start.auto                         UPS.PowerConverter.Input.[1].AutomaticRestart                       %s     rw str=5 semi @yes_no
    ups.start.battery                      UPS.PowerConverter.Input.[3].StartOnBattery                         %s     rw str=5 semi @yes_no
    ups.start.reboot                       UPS.PowerConverter.Output.ForcedReboot                              %s     rw str=5 semi @yes_no
    ups.shutdown                           UPS.PowerSummary.PresentStatus.Switchable                           %s     rw str=10 semi enum @eaton_enable_disable
    ups.date                               UPS.PowerSummary.Time                                               %s     rw str=10 @mge_date
    ups.time                               UPS.PowerSummary.Time                                               %s     rw str=10 @mge_time
    ups.type                               UPS.PowerConverter.ConverterType                                    %s     static @mge_upstype
    BOOL                                   UPS.PowerSummary.PresentStatus.ACPresent                            -      quick @online
    BOOL                                   UPS.PowerConverter.Input.[3].PresentStatus.Used                     -      @mge_onbatt
    BOOL                                   UPS.PowerSummary.PresentStatus.Discharging                          -      quick @eaton_discharging
    BOOL                                   UPS.PowerSummary.PresentStatus.Charging                             -      quick @eaton_charging
    BOOL                                   UPS.BatterySystem.Charger.Mode                                      %.0f   quick @eaton_abm_chrg_dischrg
    BOOL                                   UPS.BatterySystem.Charger.Status                                    %.0f   quick @eaton_abm_chrg_dischrg
    BOOL                                   UPS.PowerSummary.PresentStatus.BelowRemainingCapacityLimit          -      quick @lowbatt
    BOOL                                   UPS.PowerConverter.Output.Overload.[1].PresentStatus.OverThreshold  -      @overload
    BOOL                                   UPS.PowerConverter.Output.Overload.[2].PresentStatus.OverThreshold  -      @overload
    BOOL                                   UPS.PowerSummary.PresentStatus.Overload                             -      @overload
    BOOL                                   UPS.PowerSummary.PresentStatus.NeedReplacement                      -      @replacebatt
    BOOL                                   UPS.LCMSystem.LCMAlarm.[2].PresentStatus.TimerExpired               -      @replacebatt
    BOOL                                   UPS.PowerConverter.Input.[1].PresentStatus.Buck                     -      @trim
    BOOL                                   UPS.PowerConverter.Input.[1].PresentStatus.Boost                    -      @boost
    BOOL                                   UPS.PowerConverter.Input.[1].PresentStatus.VoltageOutOfRange        -      @vrange
    BOOL                                   UPS.PowerConverter.Input.[1].PresentStatus.FrequencyOutOfRange      -      @frange
    BOOL                                   UPS.PowerSummary.PresentStatus.Good                                 -      @off
    BOOL                                   UPS.PowerConverter.Input.[1].PresentStatus.Used                     -      @eaton_converter_online
    BOOL                                   UPS.PowerConverter.Input.[2].PresentStatus.Used                     -      @bypass_auto
    BOOL                                   UPS.PowerConverter.Input.[4].PresentStatus.Used                     -      @bypass_manual
    BOOL                                   UPS.PowerConverter.Input.[5].PresentStatus.Used                     -      @eco_mode
    BOOL                                   UPS.PowerSummary.PresentStatus.FanFailure                           -      @fanfail
    BOOL                                   UPS.BatterySystem.Battery.PresentStatus.Present                     -      @nobattery
    BOOL                                   UPS.BatterySystem.Charger.PresentStatus.InternalFailure             -      @chargerfail
    BOOL                                   UPS.BatterySystem.Charger.PresentStatus.VoltageTooHigh              -      @battvolthi
    BOOL                                   UPS.PowerConverter.Input.[1].PresentStatus.VoltageTooHigh           -      @battvolthi
    BOOL                                   UPS.BatterySystem.Battery.PresentStatus.VoltageTooHigh              -      @battvolthi
    BOOL                                   UPS.BatterySystem.Charger.PresentStatus.VoltageTooLow               -      @battvoltlo
    BOOL                                   UPS.PowerConverter.Input.[1].PresentStatus.VoltageTooLow            -      @mge_onbatt
    BOOL                                   UPS.PowerSummary.PresentStatus.InternalFailure                      -      @commfault
    BOOL                                   UPS.PowerSummary.PresentStatus.OverTemperature                      -      @overheat
    BOOL                                   UPS.PowerSummary.PresentStatus.ShutdownImminent                     -      @shutdownimm
    ups.alarm                              UPS.PowerSummary.PresentStatus.EmergencyStop                        -      @mge_emergency_stop
    ups.alarm                              UPS.PowerConverter.Input.[1].PresentStatus.WiringFault              -      @mge_wiring_fault
    ups.alarm                              UPS.PowerSummary.PresentStatus.ConfigurationFailure                 -      @mge_config_failure
    ups.alarm                              UPS.PowerConverter.Inverter.PresentStatus.VoltageTooHigh            -      @mge_inverter_volthi
    ups.alarm                              UPS.PowerConverter.Inverter.PresentStatus.VoltageTooLow             -      @mge_inverter_voltlo
    ups.alarm                              UPS.PowerConverter.Output.PresentStatus.ShortCircuit                -      @mge_short_circuit
    input.voltage                          UPS.PowerConverter.Input.[1].Voltage                                %.1f
    input.L1-N.voltage                     UPS.PowerConverter.Input.[1].Phase.[1].Voltage                      %.1f
    input.L2-N.voltage                     UPS.PowerConverter.Input.[1].Phase.[2].Voltage                      %.1f
    input.L3-N.voltage                     UPS.PowerConverter.Input.[1].Phase.[3].Voltage                      %.1f
    input.L1-L2.voltage                    UPS.PowerConverter.Input.[1].Phase.[12].Voltage                     %.1f
    input.L2-L3.voltage                    UPS.PowerConverter.Input.[1].Phase.[23].Voltage                     %.1f
    input.L3-L1.voltage                    UPS.PowerConverter.Input.[1].Phase.[31].Voltage                     %.1f
    input.voltage.nominal                  UPS.Flow.[1].ConfigVoltage                                          %.0f   static
    input.current                          UPS.PowerConverter.Input.[1].Current                                %.2f
    input.L1.current                       UPS.PowerConverter.Input.[1].Phase.[1].Current                      %.1f
    input.L2.current                       UPS.PowerConverter.Input.[1].Phase.[2].Current                      %.1f
    input.L3.current                       UPS.PowerConverter.Input.[1].Phase.[3].Current                      %.1f
    input.current.nominal                  UPS.Flow.[1].ConfigCurrent                                          %.2f   static
    input.frequency                        UPS.PowerConverter.Input.[1].Frequency                              %.1f
    input.frequency.nominal                UPS.Flow.[1].ConfigFrequency                                        %.0f   static
    input.transfer.low                     UPS.PowerConverter.Output.LowVoltageTransfer                        %.0f   rw str=5 semi
    input.transfer.eco.low                 UPS.PowerConverter.Output.LowVoltageEcoTransfer                     %.0f   rw str=5 semi
    input.transfer.bypass.low              UPS.PowerConverter.Output.LowVoltageBypassTransfer                  %.0f   rw str=5 semi
    input.transfer.boost.low               UPS.PowerConverter.Output.LowVoltageBoostTransfer                   %.0f   rw str=5 semi
    input.transfer.boost.high              UPS.PowerConverter.Output.HighVoltageBoostTransfer                  %.0f   rw str=5 semi
    input.transfer.trim.low                UPS.PowerConverter.Output.LowVoltageBuckTransfer                    %.0f   rw str=5 semi
    input.transfer.high                    UPS.PowerConverter.Output.HighVoltageTransfer                       %.0f   rw str=5 semi
    input.transfer.eco.high                UPS.PowerConverter.Output.HighVoltageEcoTransfer                    %.0f   rw str=5 semi
    input.transfer.bypass.high             UPS.PowerConverter.Output.HighVoltageBypassTransfer                 %.0f   rw str=5 semi
    input.transfer.frequency.bypass.range  UPS.PowerConverter.Output.FrequencyRangeBypassTransfer              %.0f   rw str=5 semi
    input.transfer.frequency.eco.range     UPS.PowerConverter.Output.FrequencyRangeEcoTransfer                 %.0f   rw str=5 semi
    input.transfer.hysteresis              UPS.PowerConverter.Output.HysteresisVoltageTransfer                 %.0f   rw str=5 semi
    input.transfer.bypass.forced           UPS.PowerConverter.Input.[2].ForcedTransferEnable                   %.0f   rw str=8 semi @eaton_enable_disable
    input.transfer.bypass.overload         UPS.PowerConverter.Input.[2].OverloadTransferEnable                 %.0f   rw str=8 semi @eaton_enable_disable
    input.transfer.bypass.outlimits        UPS.PowerConverter.Input.[2].OutOfToleranceTransferEnable           %.0f   rw str=8 semi @eaton_enable_disable
    input.transfer.trim.high               UPS.PowerConverter.Output.HighVoltageBuckTransfer                   %.0f   rw str=5 semi
    input.sensitivity                      UPS.PowerConverter.Output.SensitivityMode                           %s     rw str=10 semi @mge_sensitivity
    input.voltage.extended                 UPS.PowerConverter.Output.ExtendedVoltageMode                       %s     rw str=5 semi @yes_no
    input.frequency.extended               UPS.PowerConverter.Output.ExtendedFrequencyMode                     %s     rw str=5 semi @yes_no
    input.bypass.voltage                   UPS.PowerConverter.Input.[2].Voltage                                %.1f   quick
    input.bypass.L1-N.voltage              UPS.PowerConverter.Input.[2].Phase.[1].Voltage                      %.1f
    input.bypass.L2-N.voltage              UPS.PowerConverter.Input.[2].Phase.[2].Voltage                      %.1f
    input.bypass.L3-N.voltage              UPS.PowerConverter.Input.[2].Phase.[3].Voltage                      %.1f
    input.bypass.L1-L2.voltage             UPS.PowerConverter.Input.[2].Phase.[12].Voltage                     %.1f
    input.bypass.L2-L3.voltage             UPS.PowerConverter.Input.[2].Phase.[23].Voltage                     %.1f
    input.bypass.L3-L1.voltage             UPS.PowerConverter.Input.[2].Phase.[31].Voltage                     %.1f
    input.bypass.voltage.nominal           UPS.Flow.[2].ConfigVoltage                                          %.0f   static
    input.bypass.current                   UPS.PowerConverter.Input.[2].Current                                %.2f
    input.bypass.L1.current                UPS.PowerConverter.Input.[2].Phase.[1].Current                      %.1f
    input.bypass.L2.current                UPS.PowerConverter.Input.[2].Phase.[2].Current                      %.1f
    input.bypass.L3.current                UPS.PowerConverter.Input.[2].Phase.[3].Current                      %.1f
    input.bypass.current.nominal           UPS.Flow.[2].ConfigCurrent                                          %.2f   static
    input.bypass.frequency                 UPS.PowerConverter.Input.[2].Frequency                              %.1f   quick
    input.bypass.frequency.nominal         UPS.Flow.[2].ConfigFrequency                                        %.0f   static
    input.bypass.switch.on                 UPS.PowerConverter.Input.[2].SwitchOnControl                        %.0f   rw str=8 quick @eaton_input_bypass_mode_on
    input.bypass.switch.off                UPS.PowerConverter.Input.[2].SwitchOffControl                       %.0f   rw str=12 quick @eaton_input_bypass_mode_off
    input.bypass.switchable                UPS.PowerConverter.Input.[2].Switchable                             %.0f   rw str=8 semi @eaton_enable_disable
    output.voltage                         UPS.PowerConverter.Output.Voltage                                   %.1f
    output.L1-N.voltage                    UPS.PowerConverter.Output.Phase.[1].Voltage                         %.1f
    output.L2-N.voltage                    UPS.PowerConverter.Output.Phase.[2].Voltage                         %.1f
    output.L3-N.voltage                    UPS.PowerConverter.Output.Phase.[3].Voltage                         %.1f
    output.L1-L2.voltage                   UPS.PowerConverter.Output.Phase.[12].Voltage                        %.1f
    output.L2-L3.voltage                   UPS.PowerConverter.Output.Phase.[23].Voltage                        %.1f
    output.L3-L1.voltage                   UPS.PowerConverter.Output.Phase.[31].Voltage                        %.1f
    output.voltage.nominal                 UPS.Flow.[4].ConfigVoltage                                          %.0f   rw str=3 semi enum @nominal_output_voltage
    output.current                         UPS.PowerConverter.Output.Current                                   %.2f
    output.L1.current                      UPS.PowerConverter.Output.Phase.[1].Current                         %.1f
    output.L2.current                      UPS.PowerConverter.Output.Phase.[2].Current                         %.1f
    output.L3.current                      UPS.PowerConverter.Output.Phase.[3].Current                         %.1f
    output.current.nominal                 UPS.Flow.[4].ConfigCurrent                                          %.2f
    output.frequency                       UPS.PowerConverter.Output.Frequency                                 %.1f
    output.frequency.nominal               UPS.Flow.[4].ConfigFrequency                                        %.0f   static
    output.powerfactor                     UPS.PowerConverter.Output.PowerFactor                               %s     @mge_powerfactor
    outlet.id                              UPS.OutletSystem.Outlet.[1].OutletID                                %.0f   static
    outlet.desc                            UPS.OutletSystem.Outlet.[1].OutletID                                "Main Outlet" rw str=20 absent
    outlet.switchable                      UPS.OutletSystem.Outlet.[1].PresentStatus.Switchable                %s     static @yes_no
    outlet.power                           UPS.OutletSystem.Outlet.[1].ConfigApparentPower                     %s     rw str=6 semi enum @pegasus_threshold
    outlet.power                           UPS.OutletSystem.Outlet.[1].ApparentPower                           %.0f
    outlet.realpower                       UPS.OutletSystem.Outlet.[1].ActivePower                             %.0f
    outlet.current                         UPS.OutletSystem.Outlet.[1].Current                                 %.2f
    outlet.powerfactor                     UPS.OutletSystem.Outlet.[1].PowerFactor                             %.2f
    outlet.1.id                            UPS.OutletSystem.Outlet.[2].OutletID                                %.0f   static
    outlet.1.desc                          UPS.OutletSystem.Outlet.[2].OutletID                                "PowerShare Outlet 1" rw str=20 absent
    outlet.1.switchable                    UPS.OutletSystem.Outlet.[2].PresentStatus.Switchable                %s     static @yes_no
    outlet.1.status                        UPS.OutletSystem.Outlet.[2].PresentStatus.SwitchOn/Off              %s     @on_off
    outlet.1.protect.status                UPS.OutletSystem.Outlet.[2].Status                                  %s     @eaton_outlet_protection_status
    outlet.1.designator                    UPS.OutletSystem.Outlet.[2].iDesignator                             -      static @stringid
    outlet.1.status                        UPS.PowerSummary.PresentStatus.ACPresent                            %s     @on_off
    outlet.1.autoswitch.charge.low         UPS.OutletSystem.Outlet.[2].RemainingCapacityLimit                  %.0f   rw str=3 semi
    outlet.1.delay.shutdown                UPS.OutletSystem.Outlet.[2].ShutdownTimer                           %.0f   rw str=5 semi
    outlet.1.delay.start                   UPS.OutletSystem.Outlet.[2].StartupTimer                            %.0f   rw str=5 semi
    outlet.1.power                         UPS.OutletSystem.Outlet.[2].ApparentPower                           %.0f
    outlet.1.realpower                     UPS.OutletSystem.Outlet.[2].ActivePower                             %.0f
    outlet.1.current                       UPS.OutletSystem.Outlet.[2].Current                                 %.2f
    outlet.1.powerfactor                   UPS.OutletSystem.Outlet.[2].PowerFactor                             %.2f
    outlet.1.ecocontrol                    UPS.OutletSystem.Outlet.[2].ECOControl                              %s     semi @outlet_eco_yes_no
    outlet.2.id                            UPS.OutletSystem.Outlet.[3].OutletID                                %.0f   static
    outlet.2.desc                          UPS.OutletSystem.Outlet.[3].OutletID                                "PowerShare Outlet 2" rw str=20 absent
    outlet.2.switchable                    UPS.OutletSystem.Outlet.[3].PresentStatus.Switchable                %s     rw str=3 semi @pegasus_yes_no
    outlet.2.switchable                    UPS.OutletSystem.Outlet.[3].PresentStatus.Switchable                %s     @yes_no
    outlet.2.status                        UPS.OutletSystem.Outlet.[3].PresentStatus.SwitchOn/Off              %s     @on_off
    outlet.2.protect.status                UPS.OutletSystem.Outlet.[3].Status                                  %s     @eaton_outlet_protection_status
    outlet.2.autoswitch.charge.low         UPS.OutletSystem.Outlet.[3].RemainingCapacityLimit                  %.0f   rw str=3 semi
    outlet.2.delay.shutdown                UPS.OutletSystem.Outlet.[3].ShutdownTimer                           %.0f   rw str=5 semi
    outlet.2.delay.start                   UPS.OutletSystem.Outlet.[3].StartupTimer                            %.0f   rw str=5 semi
    outlet.2.power                         UPS.OutletSystem.Outlet.[3].ApparentPower                           %.0f
    outlet.2.realpower                     UPS.OutletSystem.Outlet.[3].ActivePower                             %.0f
    outlet.2.current                       UPS.OutletSystem.Outlet.[3].Current                                 %.2f
    outlet.2.powerfactor                   UPS.OutletSystem.Outlet.[3].PowerFactor                             %.2f
    outlet.2.ecocontrol                    UPS.OutletSystem.Outlet.[3].ECOControl                              %s     semi @outlet_eco_yes_no
    outlet.3.id                            UPS.OutletSystem.Outlet.[4].OutletID                                %.0f   static
    outlet.3.desc                          UPS.OutletSystem.Outlet.[4].OutletID                                "PowerShare Outlet 2" rw str=20 absent
    outlet.3.switchable                    UPS.OutletSystem.Outlet.[4].PresentStatus.Switchable                %s     rw str=3 semi @pegasus_yes_no
    outlet.3.switchable                    UPS.OutletSystem.Outlet.[4].PresentStatus.Switchable                %s     @yes_no
    outlet.3.status                        UPS.OutletSystem.Outlet.[4].PresentStatus.SwitchOn/Off              %s     @on_off
    outlet.3.protect.status                UPS.OutletSystem.Outlet.[4].Status                                  %s     @eaton_outlet_protection_status
    outlet.3.autoswitch.charge.low         UPS.OutletSystem.Outlet.[4].RemainingCapacityLimit                  %.0f   rw str=3 semi
    outlet.3.delay.shutdown                UPS.OutletSystem.Outlet.[4].ShutdownTimer                           %.0f   rw str=5 semi
    outlet.3.delay.start                   UPS.OutletSystem.Outlet.[4].StartupTimer                            %.0f   rw str=5 semi
    outlet.3.power                         UPS.OutletSystem.Outlet.[4].ApparentPower                           %.0f
    outlet.3.realpower                     UPS.OutletSystem.Outlet.[4].ActivePower                             %.0f
    outlet.3.current                       UPS.OutletSystem.Outlet.[4].Current                                 %.2f
    outlet.3.powerfactor                   UPS.OutletSystem.Outlet.[4].PowerFactor                             %.2f
    outlet.3.ecocontrol                    UPS.OutletSystem.Outlet.[4].ECOControl                              %s     semi @outlet_eco_yes_no
    test.battery.start.quick               UPS.BatterySystem.Battery.Test                                      1      cmd
    test.battery.start.deep                UPS.BatterySystem.Battery.Test                                      2      cmd
    test.battery.stop                      UPS.BatterySystem.Battery.Test                                      3      cmd
    load.off.delay                         UPS.PowerSummary.DelayBeforeShutdown                                20     cmd
    load.on.delay                          UPS.PowerSummary.DelayBeforeStartup                                 30     cmd
    shutdown.stop                          UPS.PowerSummary.DelayBeforeShutdown                                -1     cmd
    shutdown.reboot                        UPS.PowerSummary.DelayBeforeReboot                                  10     cmd
    beeper.off                             UPS.PowerSummary.AudibleAlarmControl                                1      cmd
    beeper.on                              UPS.PowerSummary.AudibleAlarmControl                                2      cmd
    beeper.mute                            UPS.BatterySystem.Battery.AudibleAlarmControl                       3      cmd
    beeper.mute                            UPS.PowerSummary.AudibleAlarmControl                                3      cmd
    beeper.disable                         UPS.BatterySystem.Battery.AudibleAlarmControl                       1      cmd
    beeper.disable                         UPS.PowerSummary.AudibleAlarmControl                                1      cmd
    beeper.enable                          UPS.BatterySystem.Battery.AudibleAlarmControl                       2      cmd
    beeper.enable                          UPS.PowerSummary.AudibleAlarmControl                                2      cmd
    beeper.disable                         UPS.AudibleAlarmControl                                             1      cmd
    beeper.enable                          UPS.AudibleAlarmControl                                             2      cmd
    outlet.1.load.off                      UPS.OutletSystem.Outlet.[2].DelayBeforeShutdown                     0      cmd
    outlet.1.load.on                       UPS.OutletSystem.Outlet.[2].DelayBeforeStartup                      0      cmd
    outlet.2.load.off                      UPS.OutletSystem.Outlet.[3].DelayBeforeShutdown                     0      cmd
    outlet.2.load.on                       UPS.OutletSystem.Outlet.[3].DelayBeforeStartup                      0      cmd
    outlet.3.load.off                      UPS.OutletSystem.Outlet.[4].DelayBeforeShutdown                     0      cmd
    outlet.3.load.on                       UPS.OutletSystem.Outlet.[4].DelayBeforeStartup                      0      cmd
    experimental.ecomode.stop              UPS.PowerConverter.Input.[5].Switchable                             0      cmd
    experimental.ecomode.start             UPS.PowerConverter.Input.[5].Switchable                             1      cmd
    experimental.essmode.start             UPS.PowerConverter.Input.[5].Switchable                             2      cmd
    experimental.essmode.stop              UPS.PowerConverter.Input.[5].Switchable                             0      cmd
    experimental.bypass.ecomode.start      UPS.PowerConverter.Input.[5].Switchable                             1      cmd @eaton_input_eco_mode_auto_on_off
    experimental.bypass.ecomode.stop       UPS.PowerConverter.Input.[5].Switchable                             0      cmd @eaton_input_eco_mode_auto_on_off
    bypass.start                           UPS.PowerConverter.Input.[2].SwitchOnControl                        1      cmd
    bypass.stop                            UPS.PowerConverter.Input.[2].SwitchOffControl                       1      cmd
    input.eco.switchable                   UPS.PowerConverter.Input.[5].Switchable                             %.0f   rw str=8 quick @eaton_input_eco_mode_on_off
    """

    def __init__(self, options) -> None:
        super().__init__(options)
        self.mge_type = DEFAULT
        self.country = COUNTRY_UNKNOWN
        self.abm = ABM_UNKNOWN
        self.abm_path = ABM_PATH_UNKNOWN
        self.nominal_output = -1

    def make_lookups(self):
        alarm = lambda text: table((1, text))  # noqa: E731
        return {
            "eaton_check_country": Lookup([(0, "dummy")], read_fn=self._country),
            "eaton_abm_enabled": Lookup([(0, "dummy")], read_fn=self._abm_enabled),
            "eaton_abm_path_mode": Lookup([(0, "dummy")],
                                          read_fn=lambda v, c: self._abm_path(ABM_PATH_MODE)),
            "eaton_abm_path_status": Lookup([(0, "dummy")],
                                            read_fn=lambda v, c: self._abm_path(ABM_PATH_STATUS)),
            "eaton_abm_status": Lookup([(1, "dummy")], read_fn=self._abm_status),
            "eaton_abm_chrg_dischrg": Lookup([(1, "dummy")], read_fn=self._abm_chrg_dischrg),
            "eaton_discharging": Lookup([(1, "dummy")], read_fn=lambda v, c: self._legacy_flag(v, "dischrg")),
            "eaton_charging": Lookup([(1, "dummy")], read_fn=lambda v, c: self._legacy_flag(v, "chrg")),
            "eaton_charger_type": table((0, "None"), (1, "Extended (CLA)"), (2, "Large extension"),
                                        (3, "Extra large extension (XL)"), (4, "ABM"),
                                        (5, "Constant Charge (CC)")),
            "mge_date": Lookup(read_fn=lambda v, c: self._strftime(v, "%Y/%m/%d", 10),
                               write_fn=lambda t, c: self._mktime(f"{t} {c.getinfo('ups.time')}")),
            "mge_time": Lookup(read_fn=lambda v, c: self._strftime(v, "%H:%M:%S", 8),
                               write_fn=lambda t, c: self._mktime(f"{c.getinfo('ups.date')} {t}")),
            "mge_battery_voltage_nominal": Lookup(read_fn=self._battery_voltage_nominal),
            "mge_battery_voltage": Lookup(read_fn=self._battery_voltage),
            "mge_powerfactor": Lookup(read_fn=lambda v, c: "%.2f" % (v / 100)),
            "mge_battery_capacity": Lookup(read_fn=lambda v, c: "%.2f" % (v / 3600)),
            "eaton_enable_disable": table((0, "disabled"), (1, "enabled")),
            "mge_upstype": table((1, "offline / line interactive"), (2, "online"),
                                 (3, "online - unitary/parallel"),
                                 (4, "online - parallel with hot standy"),
                                 (5, "online - hot standby redundancy")),
            "mge_sensitivity": table((0, "normal"), (1, "high"), (2, "low")),
            "mge_emergency_stop": alarm("Emergency stop!"),
            "mge_wiring_fault": alarm("Wiring fault!"),
            "mge_config_failure": alarm("Fatal EEPROM fault!"),
            "mge_inverter_volthi": alarm("Inverter AC voltage too high!"),
            "mge_inverter_voltlo": alarm("Inverter AC voltage too low!"),
            "mge_short_circuit": alarm("Output short circuit!"),
            "mge_onbatt": table((1, "!online"), (0, "online")),
            "pegasus_threshold": Lookup([(10, "10"), (25, "25"), (60, "60")],
                                        read_fn=self._pegasus_threshold),
            "pegasus_yes_no": Lookup([(0, "dummy")], read_fn=self._pegasus_yes_no,
                                     write_fn=self._pegasus_yes_no_write),
            "outlet_eco_yes_no": table((0, "The outlet is not ECO controlled"),
                                       (1, "The outlet is ECO controlled")),
            "nominal_output_voltage": Lookup(
                [(200, "200"), (208, "208"), (220, "220"), (230, "230"), (240, "240"),
                 (100, "100"), (110, "110"), (120, "120"), (127, "127")],
                read_fn=self._nominal_output_voltage),
            "eaton_converter_online": Lookup([(0, "dummy")], read_fn=self._converter_online),
            "eaton_outlet_protection_status": table((0, "not powered"), (1, "not protected"),
                                                    (2, "protected")),
            "eaton_compute_realpower": Lookup([(0, "dummy")], read_fn=self._compute_realpower),
            "eaton_input_eco_mode_on_off": Lookup([(0, "dummy")], read_fn=self._buzzword_mode,
                                                  write_fn=self._buzzword_mode_write),
            "eaton_input_bypass_mode_on": Lookup([(0, "disabled"), (1, "on")],
                                                 read_fn=self._bypass_check_range),
            "eaton_input_bypass_mode_off": table((0, "disabled"), (1, "off")),
            "eaton_input_eco_mode_auto_on_off": Lookup([(0, "dummy")],
                                                       read_fn=self._eco_auto_read,
                                                       write_fn=self._eco_auto_write),
        }

    # -- ABM: which flags say charging/discharging

    def _abm_enabled(self, value: float, ctx) -> None:
        v = int(value)
        self.abm = {0: ABM_DISABLED, 1: ABM_ENABLED}.get(v, ABM_UNKNOWN)
        word = {ABM_DISABLED: "disabled", ABM_ENABLED: "enabled"}.get(self.abm, "unknown")
        log.debug(2, f"ABM status is: {word} ({v})")
        return None

    def _abm_path(self, path: int) -> None:
        if self.abm in (ABM_UNKNOWN, ABM_DISABLED):
            self.abm_path = ABM_PATH_UNKNOWN
            return None
        if self.abm_path == ABM_PATH_UNKNOWN:
            self.abm_path = path
            log.debug(2, "Set ABM path to: "
                         + ("ABM_PATH_MODE" if path == ABM_PATH_MODE else "ABM_PATH_STATUS"))
        return None

    def _abm_status(self, value: float, ctx) -> str | None:
        if self.abm in (ABM_UNKNOWN, ABM_DISABLED):
            ctx.delinfo("battery.charger.status")
            return None
        v = int(value)
        if self.abm_path == ABM_PATH_STATUS:
            text = {1: "charging", 2: "floating", 3: "resting", 4: "discharging", 6: "off"}.get(v)
        else:
            text = {1: "charging", 2: "discharging", 3: "floating", 4: "resting", 6: "off"}.get(v)
        if text is not None:
            log.debug(2, f"ABM charger status is: {text} ({v})")
        return text

    def _abm_chrg_dischrg(self, value: float, ctx) -> str | None:
        if self.abm in (ABM_UNKNOWN, ABM_DISABLED):
            return None
        v = int(value)
        if self.abm_path == ABM_PATH_STATUS:
            text = {1: "chrg", 2: "chrg", 4: "dischrg"}.get(v)
        else:
            text = {1: "chrg", 3: "chrg", 2: "dischrg"}.get(v)
        if text is not None:
            log.debug(2, f"ABM charger flag is: {text} ({v})")
        return text

    def _legacy_flag(self, value: float, name: str) -> str:
        """Charging/Discharging count only without ABM (and are cleared with it)."""
        if self.abm in (ABM_UNKNOWN, ABM_DISABLED):
            return name if value == 1 else "!" + name
        return "!" + name

    # -- dates, times, model-dependent values

    def _strftime(self, value: float, fmt: str, length: int) -> str | None:
        try:
            text = time.strftime(fmt, time.localtime(int(value)))
        except (OverflowError, OSError, ValueError):
            text = ""
        if len(text) == length:
            return text
        log.debug(3, f"mge_date_conversion_fun: can't compute date {value:g}")
        return None

    def _mktime(self, text: str) -> float:
        try:
            return float(time.mktime(time.strptime(text, "%Y/%m/%d %H:%M:%S")))
        except (ValueError, OverflowError):
            log.debug(3, f"mge_date_conversion_nuf: can't compute date {text}")
            return 0.0

    def _family(self) -> int:
        return self.mge_type & 0xFF00

    def _battery_voltage_nominal(self, value: float, ctx) -> str | None:
        family = self._family()
        if family == EVOLUTION:
            if self.mge_type == EVOLUTION_650:
                value = 12.0
        elif family not in (PULSAR_M, EATON_5P, EATON_9E):
            return None
        return "%.0f" % value

    def _battery_voltage(self, value: float, ctx) -> str | None:
        if self._family() not in (EVOLUTION, PULSAR_M, EATON_5P, EATON_9E):
            return None
        return "%.1f" % value

    def _eco_capable(self) -> bool:
        """Protection Station, Ellipse ECO, and the 3S outside Europe."""
        family = self._family()
        return family == PEGASUS or (family == S3 and self.country != COUNTRY_EUROPE)

    def _pegasus_threshold(self, value: float, ctx) -> str | None:
        return "%.0f" % value if self._eco_capable() else None

    def _pegasus_yes_no(self, value: float, ctx) -> str | None:
        if not self._eco_capable():
            return None
        return "no" if value == 0 else "yes"

    def _pegasus_yes_no_write(self, text: str | None, ctx) -> float:
        if not self._eco_capable():
            return 0.0
        return 1.0 if (text or "").startswith("yes") else 0.0

    def _country(self, value: float, ctx) -> None:
        self.country = _c_long(value)
        return None

    def _nominal_output_voltage(self, value: float, ctx) -> str | None:
        """Only the voltages a model of this nominal voltage can be set to."""
        if self.nominal_output < 0:
            self.nominal_output = _c_long(value)
        nominal, v = self.nominal_output, _c_long(value)
        online = self._family() >= DEFAULT
        if nominal in (100, 110, 120, 127):
            if v not in (100, 110, 120, 127):
                return None
        elif nominal in (200, 208):
            if v in (200, 208):
                pass
            elif v in (220, 230, 240):
                if not online:
                    return None
            else:
                return None
        elif nominal in (220, 230, 240):
            if v in (200, 208):
                if not online:
                    return None
            elif v not in (220, 230, 240):
                return None
        else:
            log.debug(3, f"nominal_output_voltage_fun: can't autodetect settable voltages from "
                         f"{value:g}")
        return "%.0f" % value

    def _converter_online(self, value: float, ctx) -> str | None:
        from ..mapping import STATUS_BIT
        if ctx.status_bits & STATUS_BIT["off"]:
            return None
        return "!online" if value == 0 else "online"

    def _compute_realpower(self, value: float, ctx) -> str | None:
        load, nominal = ctx.getinfo("ups.load"), ctx.getinfo("ups.power.nominal")
        if load is None or nominal is None:
            return None
        factor_text = ctx.getinfo("output.powerfactor")
        factor = _float32(_strtod(factor_text)) if factor_text else _float32(0.80)
        realpower = _c_round(_atoi(load) * 0.01 * _atoi(nominal) * factor)
        text = "%.0f" % realpower
        log.debug(1, f"eaton_compute_realpower_fun({text})")
        return text

    # -- ECO / bypass modes of the 9SX/93PM families

    def _limits(self, ctx, low_var: str, high_var: str, range_var: str, volt_margin, freq_pct):
        bypass_v = _strtod(ctx.getinfo("input.bypass.voltage"))
        bypass_f = _strtod(ctx.getinfo("input.bypass.frequency"))
        out_v = _strtod(ctx.getinfo("output.voltage.nominal"))
        out_f = _strtod(ctx.getinfo("output.frequency.nominal"))
        low, high = _strtod(ctx.getinfo(low_var)), _strtod(ctx.getinfo(high_var))
        pct = _strtod(ctx.getinfo(range_var))
        if pct <= 0:
            pct = freq_pct
        f_low, f_high = out_f - out_f / 100 * pct, out_f + out_f / 100 * pct
        if not (low > 0 and high > 0):
            low, high = out_v * volt_margin[0], out_v * volt_margin[1]
        return (low <= bypass_v <= high and f_low <= bypass_f <= f_high), bypass_v, bypass_f

    def _have_mode_inputs(self, ctx) -> bool:
        return all(ctx.getinfo(n) is not None for n in (
            "input.bypass.voltage", "input.bypass.frequency", "output.voltage.nominal",
            "output.frequency.nominal"))

    def _eco_check_range(self, value: float, ctx) -> str | None:
        if int(value) != 1:
            log.debug(1, f"eaton_input_eco_mode_check_range: wrong 'value' parameter "
                         f"'{value:f}' for this method, should be '1'")
            return None
        if not self._have_mode_inputs(ctx):
            ctx.setinfo("input.eco.switchable", "normal")
            log.debug(1, "eaton_input_eco_mode_check_range: Disable ECO mode due to missing "
                         "input/output variables.")
            return None
        inside, volts, hertz = self._limits(ctx, "input.transfer.eco.low", "input.transfer.eco.high",
                                            "input.transfer.frequency.eco.range", (0.95, 1.05), 5)
        if inside:
            ctx.buzzmode_set("vendor:mge-hid:ECO")
            return "ECO"
        ctx.setinfo("input.eco.switchable", "normal")
        ctx.buzzmode_set("vendor:mge-hid:normal")
        return None

    def _buzzword_mode(self, value: float, ctx) -> str | None:
        v = _c_long(value)
        if v == 0:
            return "normal"
        if v == 1:
            return self._eco_check_range(value, ctx)
        if v == 2:
            ctx.buzzmode_set("vendor:mge-hid:ESS")
            return "ESS"
        return None

    def _buzzword_mode_write(self, text: str | None, ctx) -> float:
        from ..mapping import InvalidValue
        for number, words in ((0, ("normal", "vendor:mge-hid:normal")),
                              (1, ("ECO", "vendor:mge-hid:ECO")),
                              (2, ("ESS", "vendor:mge-hid:ESS"))):
            if text in words:
                return float(number)
        raise InvalidValue(text)

    def _bypass_check_range(self, value: float, ctx) -> str | None:
        if value == 0:
            return "disabled"
        if value != 1:
            return None
        if not self._have_mode_inputs(ctx):
            ctx.setinfo("input.bypass.switch.off", "off")
            log.debug(1, "eaton_input_bypass_check_range: Disable Bypass mode due to missing "
                         "input/output variables.")
            return None
        inside, volts, hertz = self._limits(ctx, "input.transfer.bypass.low",
                                            "input.transfer.bypass.high",
                                            "input.transfer.frequency.bypass.range", (0.8, 1.15), 10)
        if inside:
            log.debug(1, "eaton_input_bypass_check_range: Entering Bypass mode due to input "
                         "conditions being within the transfer limits.")
            return "on"
        ctx.setinfo("input.bypass.switch.off", "off")
        log.debug(1, "eaton_input_bypass_check_range: Disable Bypass mode due to input "
                     "conditions being outside the transfer limits.")
        return None

    def _eco_auto_read(self, value: float, ctx) -> str | None:
        if int(value) == 1:
            if ctx.getinfo("input.bypass.switch.on") != "disabled":
                return None
            self._bypass_check_range(value, ctx)
            if ctx.getinfo("input.eco.switchable") != "normal":
                return None
            self._eco_check_range(value, ctx)
            return "on"
        if ctx.getinfo("input.bypass.switch.off") != "disabled":
            return None
        ctx.setvar("input.bypass.switch.off", "off")
        if ctx.getinfo("input.eco.switchable") != "ECO":
            return None
        ctx.setvar("input.eco.switchable", "normal")
        ctx.buzzmode_set("vendor:mge-hid:normal")
        return "off"

    def _eco_auto_write(self, text: str | None, ctx) -> float:
        if text == "1":
            if ctx.getinfo("input.bypass.switch.on") != "disabled":
                return 0.0
            self._bypass_check_range(1, ctx)
            if ctx.getinfo("input.eco.switchable") != "normal":
                return 0.0
            self._eco_check_range(1, ctx)
            return 1.0
        if ctx.getinfo("input.bypass.switch.off") != "disabled":
            return 1.0
        ctx.setvar("input.bypass.switch.off", "off")
        if ctx.getinfo("input.eco.switchable") != "ECO":
            return 1.0
        ctx.setvar("input.eco.switchable", "normal")
        ctx.buzzmode_set("vendor:mge-hid:normal")
        return 0.0

    # -- identity

    def format_model(self, info, engine) -> str | None:
        if info.vendor_id == DELL:
            return info.product  # Dell's iProduct is the full name
        product = info.product or "unknown"
        model = engine.get_item_string("UPS.PowerSummary.iModel", 512)
        if not model:
            power = engine.get_item_value("UPS.Flow.[4].ConfigApparentPower")
            if power is not None:
                model = str(int(power))
        if model:
            info.product = self._model_name(product, model)
        return info.product

    def _model_name(self, product: str, model: str) -> str:
        log.debug(2, f"get_model_name({product}, {model})\n")
        for i_product, i_model, family, name in MODELS:
            if i_product == product and i_model == model:
                self.mge_type = family
                if name is not None:
                    return name
                break
        return f"{product} {model}"[:511]

    def claim(self, info) -> bool:
        status = self.support(info)
        vendor, product = info.vendor or "", info.product or ""
        if status == 1:
            if info.vendor_id in (HP, DELL):
                return bool(self.options.getval("productid"))
            if info.vendor_id == PHOENIXTEC:
                return "AEG" in vendor or "AEG" in product
            if info.vendor_id == KSTAR:
                return "KSTAR" in vendor
            if self.options.getval("productid"):
                return True
            possibly_supported("Eaton / MGE", info)
            return False
        if status == 2:
            if info.vendor_id == PHOENIXTEC:
                return "AEG" in vendor or "AEG" in product
            if info.vendor_id == KSTAR:
                return "KSTAR" in vendor
            return True
        return False
