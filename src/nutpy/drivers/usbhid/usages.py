"""Usage names and the dotted HID paths built from them (``UPS.PowerSummary.Voltage``).

The standard names are those of the USB HID Power Device Class tables (pages 0x84 and
0x85), spelled as NUT spells them, since NUT's mapping tables, ``-DDD`` logs and device
dumps use these spellings. Subdrivers put their vendor names in front: a name or code is
looked up in the vendor table first, then in the standard one; names match without regard
to case; the first entry wins either way.
"""

from __future__ import annotations

from .hidparser import INDEX_NODE


def _table(page: int, text: str) -> list[tuple[str, int]]:
    out = []
    for line in text.split("\n"):
        for entry in line.split(","):
            entry = entry.strip()
            if entry:
                num, name = entry.split()
                out.append((name, (page << 16) | int(num, 16)))
    return out


POWER_DEVICE = _table(0x84, """
    00 Undefined, 01 iName, 02 PresentStatus, 03 ChangedStatus, 04 UPS, 05 PowerSupply
    10 BatterySystem, 11 BatterySystemID, 12 Battery, 13 BatteryID, 14 Charger, 15 ChargerID
    16 PowerConverter, 17 PowerConverterID, 18 OutletSystem, 19 OutletSystemID
    1a Input, 1b InputID, 1c Output, 1d OutputID, 1e Flow, 1f FlowID, 20 Outlet, 21 OutletID
    22 Gang, 23 GangID, 24 PowerSummary, 25 PowerSummaryID
    30 Voltage, 31 Current, 32 Frequency, 33 ApparentPower, 34 ActivePower, 35 PercentLoad
    36 Temperature, 37 Humidity, 38 BadCount
    40 ConfigVoltage, 41 ConfigCurrent, 42 ConfigFrequency, 43 ConfigApparentPower
    44 ConfigActivePower, 45 ConfigPercentLoad, 46 ConfigTemperature, 47 ConfigHumidity
    50 SwitchOnControl, 51 SwitchOffControl, 52 ToggleControl, 53 LowVoltageTransfer
    54 HighVoltageTransfer, 55 DelayBeforeReboot, 56 DelayBeforeStartup
    57 DelayBeforeShutdown, 58 Test, 59 ModuleReset, 5a AudibleAlarmControl
    60 Present, 61 Good, 62 InternalFailure, 63 VoltageOutOfRange, 64 FrequencyOutOfRange
    65 Overload, 66 OverCharged, 67 OverTemperature, 68 ShutdownRequested
    69 ShutdownImminent, 6b SwitchOn/Off, 6c Switchable, 6d Used, 6e Boost, 6f Buck
    70 Initialized, 71 Tested, 72 AwaitingPower, 73 CommunicationLost
    fd iManufacturer, fe iProduct, ff iSerialNumber
""")

BATTERY_SYSTEM = _table(0x85, """
    00 Undefined, 01 SMBBatteryMode, 02 SMBBatteryStatus, 03 SMBAlarmWarning
    04 SMBChargerMode, 05 SMBChargerStatus, 06 SMBChargerSpecInfo, 07 SMBSelectorState
    08 SMBSelectorPresets, 09 SMBSelectorInfo
    10 OptionalMfgFunction1, 11 OptionalMfgFunction2, 12 OptionalMfgFunction3
    13 OptionalMfgFunction4, 14 OptionalMfgFunction5, 15 ConnectionToSMBus
    16 OutputConnection, 17 ChargerConnection, 18 BatteryInsertion, 19 Usenext, 1a OKToUse
    1b BatterySupported, 1c SelectorRevision, 1d ChargingIndicator
    28 ManufacturerAccess, 29 RemainingCapacityLimit, 2a RemainingTimeLimit, 2b AtRate
    2c CapacityMode, 2d BroadcastToCharger, 2e PrimaryBattery, 2f ChargeController
    40 TerminateCharge, 41 TerminateDischarge, 42 BelowRemainingCapacityLimit
    43 RemainingTimeLimitExpired, 44 Charging, 45 Discharging, 46 FullyCharged
    47 FullyDischarged, 48 ConditioningFlag, 49 AtRateOK, 4a SMBErrorCode, 4b NeedReplacement
    60 AtRateTimeToFull, 61 AtRateTimeToEmpty, 62 AverageCurrent, 63 Maxerror
    64 RelativeStateOfCharge, 65 AbsoluteStateOfCharge, 66 RemainingCapacity
    67 FullChargeCapacity, 68 RunTimeToEmpty, 69 AverageTimeToEmpty, 6a AverageTimeToFull
    6b CycleCount
    80 BattPackModelLevel, 81 InternalChargeController, 82 PrimaryBatterySupport
    83 DesignCapacity, 84 SpecificationInfo, 85 ManufacturerDate, 86 SerialNumber
    87 iManufacturerName, 88 iDevicename, 89 iDeviceChemistry, 8a ManufacturerData
    8b Rechargeable, 8c WarningCapacityLimit, 8d CapacityGranularity1
    8e CapacityGranularity2, 8f iOEMInformation
    c0 InhibitCharge, c1 EnablePolling, c2 ResetToZero
    d0 ACPresent, d1 BatteryPresent, d2 PowerFail, d3 AlarmInhibited
    d4 ThermistorUnderRange, d5 ThermistorHot, d6 ThermistorCold, d7 ThermistorOverRange
    d8 VoltageOutOfRange, d9 CurrentOutOfRange, da CurrentNotRegulated
    db VoltageNotRegulated, dc MasterMode
    f0 ChargerSelectorSupport, f1 ChargerSpec, f2 Level2, f3 Level3
""")

STANDARD = POWER_DEVICE + BATTERY_SYSTEM

_HEX = frozenset("0123456789abcdefABCDEF")
_INDEXED = frozenset("[0123456789]")


class UsageTable:
    """Name <-> code lookups over a vendor table followed by the standard one."""

    def __init__(self, vendor: list[tuple[str, int]] | None = None,
                 standard: list[tuple[str, int]] = STANDARD) -> None:
        entries = list(vendor or []) + list(standard)
        self._by_name: dict[str, int] = {}
        self._by_code: dict[int, str] = {}
        for name, code in entries:
            self._by_name.setdefault(name.lower(), code)
            self._by_code.setdefault(code, name)

    def code(self, name: str) -> int | None:
        return self._by_name.get(name.lower())

    def name(self, code: int) -> str | None:
        return self._by_code.get(code)

    def path_to_string(self, path: tuple[int, ...]) -> str:
        parts = []
        for node in path:
            name = self._by_code.get(node)
            if name is not None:
                parts.append(name)
            elif node & 0xFFFF0000 == INDEX_NODE:
                parts.append(f"[{node & 0xFFFF}]")
            else:
                parts.append(f"{node:08x}")
        return ".".join(parts)

    def string_to_path(self, text: str) -> tuple[int, ...]:
        """A dotted path as C's string_to_path reads it: names first, then 8-hex-digit
        codes, then ``[n]`` indexes; a component that is none of these is skipped (C logs
        it at debug level 1), so the path gets shorter."""
        nodes = []
        for token in text.split("."):
            if not token:
                continue
            code = self._by_name.get(token.lower())
            if code is not None:
                nodes.append(code)
            elif set(token) <= _HEX:
                value = int(token, 16)
                if value <= 0xFFFFFFFF:
                    nodes.append(value)
            elif set(token) <= _INDEXED:
                rest = token[1:]  # C: atoi() after the first character
                n = len(rest) - len(rest.lstrip("0123456789"))
                nodes.append(INDEX_NODE + (int(rest[:n]) if n else 0))
        return tuple(nodes)


STANDARD_TABLE = UsageTable()
