"""Descriptions for GET DESC / GET CMDDESC.

C upsd reads ``<DATAPATH>/cmdvartab`` (``VARDESC name "text"`` / ``CMDDESC name "text"``,
names matched case-insensitively) and answers "Description unavailable" for everything
when that file is missing. We read the same file when it exists; without it we fall back
to a short table of our own wording for the standard names (a deliberate difference,
docs/upsd.md), so a minimal install still answers something useful.
"""

from __future__ import annotations

import os

from ..common import parseconf

# Our own wording (not C's) for the most common standard names.
OWN_VARS = {
    "ups.status": "Status flags of the UPS (OL on line, OB on battery, LB low battery, ...)",
    "ups.alarm": "Active alarms reported by the UPS",
    "ups.model": "Model name of the UPS",
    "ups.mfr": "Maker of the UPS",
    "ups.serial": "Serial number of the UPS",
    "ups.firmware": "Firmware version of the UPS",
    "ups.load": "Output load, in percent of capacity",
    "ups.temperature": "Temperature inside the UPS, degrees Celsius",
    "ups.id": "Name given to this UPS",
    "ups.delay.shutdown": "Seconds between a shutdown command and output off",
    "ups.delay.start": "Seconds between power return and output on",
    "ups.timer.shutdown": "Seconds left before the output turns off",
    "ups.timer.start": "Seconds left before the output turns on",
    "ups.test.result": "Outcome of the last self test",
    "ups.beeper.status": "Whether the audible alarm is enabled",
    "ups.power": "Apparent output power, VA",
    "ups.power.nominal": "Rated apparent power, VA",
    "ups.realpower": "Real output power, W",
    "ups.realpower.nominal": "Rated real power, W",
    "ups.productid": "USB product id",
    "ups.vendorid": "USB vendor id",
    "input.voltage": "Voltage at the input, V",
    "input.voltage.nominal": "Rated input voltage, V",
    "input.frequency": "Frequency at the input, Hz",
    "input.transfer.low": "Input voltage below which the UPS goes to battery, V",
    "input.transfer.high": "Input voltage above which the UPS goes to battery, V",
    "input.sensitivity": "How sensitive the UPS is to input disturbances",
    "output.voltage": "Voltage at the output, V",
    "output.voltage.nominal": "Rated output voltage, V",
    "output.frequency": "Frequency at the output, Hz",
    "output.current": "Current at the output, A",
    "battery.charge": "Battery charge, percent",
    "battery.charge.low": "Charge below which the UPS reports low battery, percent",
    "battery.charge.warning": "Charge below which the UPS warns, percent",
    "battery.runtime": "Estimated time left on battery, seconds",
    "battery.runtime.low": "Runtime below which the UPS reports low battery, seconds",
    "battery.voltage": "Battery voltage, V",
    "battery.voltage.nominal": "Rated battery voltage, V",
    "battery.temperature": "Battery temperature, degrees Celsius",
    "battery.type": "Battery chemistry",
    "battery.date": "Date the battery was installed",
    "battery.mfr.date": "Date the battery was made",
    "device.model": "Model name of the device",
    "device.mfr": "Maker of the device",
    "device.serial": "Serial number of the device",
    "device.type": "Kind of device (ups, pdu, ...)",
    "driver.name": "Name of the driver serving this device",
    "driver.version": "Version of the driver",
    "driver.version.internal": "Internal version of the driver",
    "driver.parameter.pollinterval": "Seconds between two polls of the device",
    "driver.parameter.port": "Port the driver talks to",
    "driver.flag.ignorelb": "Ignore the device's own low-battery signal",
}
OWN_CMDS = {
    "load.off": "Turn the output off at once",
    "load.on": "Turn the output on at once",
    "load.off.delay": "Turn the output off after a delay",
    "load.on.delay": "Turn the output on after a delay",
    "shutdown.return": "Turn the output off, back on when power returns",
    "shutdown.stayoff": "Turn the output off and keep it off",
    "shutdown.stop": "Cancel a pending shutdown",
    "shutdown.reboot": "Turn the output off and back on",
    "test.battery.start": "Start a battery test",
    "test.battery.start.quick": "Start a short battery test",
    "test.battery.start.deep": "Start a long battery test",
    "test.battery.stop": "Stop a running battery test",
    "test.panel.start": "Start a front panel test",
    "test.panel.stop": "Stop a front panel test",
    "beeper.enable": "Turn the audible alarm on",
    "beeper.disable": "Turn the audible alarm off",
    "beeper.mute": "Silence the audible alarm for now",
    "beeper.toggle": "Switch the audible alarm on or off",
    "calibrate.start": "Start a runtime calibration",
    "calibrate.stop": "Stop a runtime calibration",
    "driver.reload": "Make the driver re-read its configuration",
}


class Descriptions:
    def __init__(self, variables: dict[str, str] | None = None,
                 commands: dict[str, str] | None = None) -> None:
        self.vars = {k.lower(): v for k, v in (variables or {}).items()}
        self.cmds = {k.lower(): v for k, v in (commands or {}).items()}

    @classmethod
    def load(cls, datapath: str) -> "Descriptions":
        """``cmdvartab`` from ``datapath`` when readable, else our own table."""
        path = os.path.join(datapath, "cmdvartab")
        try:
            lines = list(parseconf.read_file(path))
        except OSError:
            return cls(OWN_VARS, OWN_CMDS)
        variables: dict[str, str] = {}
        commands: dict[str, str] = {}
        for line in lines:
            words = line.words
            if len(words) < 3:
                continue
            # a name given twice: the later line wins, as in C's desc_add
            if words[0] == "VARDESC":
                variables[words[1].lower()] = words[2]
            elif words[0] == "CMDDESC":
                commands[words[1].lower()] = words[2]
        return cls(variables, commands)

    def var(self, name: str) -> str | None:
        if name.startswith("upstream."):
            name = name[9:]
        return self.vars.get(name.lower())

    def cmd(self, name: str) -> str | None:
        if name.startswith("upstream."):
            name = name[9:]
        return self.cmds.get(name.lower())
