"""Phoenixtec (0x06da), sold as Liebert and others (C's liebert-hid.c)."""

from __future__ import annotations

from . import Subdriver


class Liebert(Subdriver):
    name = "Phoenixtec/Liebert HID 0.41"
    vendor_label = "Liebert"
    default_mfr = "Liebert"
    ids = {(0x06DA, 0xFFFF): None}
    TABLE = """
    battery.voltage                        UPS.PowerSummary.Voltage               %.2f
    battery.charge                         UPS.PowerSummary.RemainingCapacity     %.0f
    experimental.battery.capacity          UPS.PowerSummary.FullChargeCapacity    %.0f
    experimental.battery.capacity.nominal  UPS.PowerSummary.DesignCapacity        %.0f
    battery.runtime                        UPS.PowerSummary.RunTimeToEmpty        %.0f
    battery.type                           UPS.PowerSummary.iDeviceChemistry      %s    @stringid
    ups.load                               UPS.PowerSummary.PercentLoad           %.0f
    ups.power.nominal                      UPS.Flow.[4].ConfigApparentPower       %.0f  semi
    ups.test.result                        UPS.BatterySystem.Battery.Test         %s    @test_read
    ups.beeper.status                      UPS.PowerSummary.AudibleAlarmControl   %s    semi @beeper
    output.voltage                         UPS.PowerConverter.Output.Voltage      %.1f
    output.voltage.nominal                 UPS.Flow.[4].ConfigVoltage             %.0f  semi
    output.frequency                       UPS.PowerConverter.Output.Frequency    %.2f
    output.frequency.nominal               UPS.Flow.[4].ConfigFrequency           %.0f  semi
    output.transfer.high                   UPS.PowerConverter.Output.HighVoltageTransfer  %.1f  semi
    output.transfer.low                    UPS.PowerConverter.Output.LowVoltageTransfer   %.1f  semi
    input.voltage                          UPS.PowerConverter.Input.[1].Voltage   %.1f
    input.frequency                        UPS.PowerConverter.Input.[1].Frequency %.2f
    input.transfer.low                     UPS.PowerConverter.Output.ffff0057     %.0f  semi
    input.transfer.high                    UPS.PowerConverter.Output.ffff0058     %.0f  semi
    input.frequency.transfer.low           UPS.PowerConverter.Output.ffff00f9     %.0f  semi
    input.frequency.transfer.high          UPS.PowerConverter.Output.ffff00f8     %.0f  semi

    BOOL  UPS.PowerSummary.PresentStatus.ACPresent                    %.0f  quick @online
    BOOL  UPS.PowerSummary.PresentStatus.BelowRemainingCapacityLimit  %.0f  quick @lowbatt
    BOOL  UPS.PowerSummary.PresentStatus.Charging                     %.0f  quick @charging
    BOOL  UPS.PowerSummary.PresentStatus.Discharging                  %.0f  quick @discharging
    BOOL  UPS.PowerSummary.PresentStatus.Overload                     %.0f  quick @overload
    BOOL  UPS.PowerSummary.PresentStatus.Good                         -     quick @off
    BOOL  UPS.PowerSummary.PresentStatus.InternalFailure              -     quick @commfault
    BOOL  UPS.PowerSummary.PresentStatus.ShutdownImminent             %.0f  quick @shutdownimm
    BOOL  UPS.PowerConverter.Input.[1].PresentStatus.Buck             -     @trim
    BOOL  UPS.PowerConverter.Input.[1].PresentStatus.Boost            -     @boost

    ups.delay.start     UPS.PowerSummary.DelayBeforeStartup   30  rw str=10 absent
    ups.delay.shutdown  UPS.PowerSummary.DelayBeforeShutdown  20  rw str=10 absent

    test.battery.start  UPS.BatterySystem.Battery.Test        1   cmd
    load.off.delay      UPS.PowerSummary.DelayBeforeShutdown  20  cmd
    load.on.delay       UPS.PowerSummary.DelayBeforeStartup   30  cmd
    shutdown.stop       UPS.PowerSummary.DelayBeforeShutdown  -1  cmd
    beeper.toggle       UPS.PowerSummary.AudibleAlarmControl  1   cmd
    """
