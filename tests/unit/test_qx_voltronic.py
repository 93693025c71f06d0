"""The Voltronic Power subdriver, fed the replies of C's own testing table (so the expected
values are read off those replies by hand)."""

from __future__ import annotations

import pytest

from nutpy.drivers.qx import subdrivers
from nutpy.drivers.qx.core import FAILED, HANDLED, QxEngine
from nutpy.drivers.qx.voltronic import warning
from nutpy.drivers.state import DriverState

REPLIES = {
    b"QGS\r": b"(234.9 50.0 229.8 50.0 000.0 00A 369.1 ---.- 026.5 ---.- 018.8 100000000001\r",
    b"QPI\r": b"(PI01\r", b"QRI\r": b"(230.0 004 024.0 50.0\r",
    b"QMF\r": b"(#####VOLTRONIC\r", b"I\r": b"#-------------   ------     VT12046Q  \r",
    b"F\r": b"#220.0 000 024.0 50.0\r",
    b"QMD\r": b"(#######OLHVT1K0 ###1000 80 2/2 230 230 02 12.0\r",
    b"QMOD\r": b"(S\r", b"QVFW\r": b"(VERFW:00322.02\r", b"QID\r": b"(685653211455\r",
    b"QBV\r": b"(026.5 02 01 068 255\r", b"QFLAG\r": b"(EpashcjDbroegfl\r",
    b"QWS\r": b"(0000000000000000000000000000000000000000000000000000000001000001\r",
    b"QHE\r": b"(242 218\r", b"QBYV\r": b"(264 170\r", b"QBYF\r": b"(53.0 47.0\r",
    b"QSK1\r": b"(1\r", b"QSK2\r": b"(0\r", b"QSK3\r": b"(1\r", b"QSK4\r": b"(NAK\r",
    b"QSKT1\r": b"(008\r", b"QSKT2\r": b"(012\r", b"QSKT3\r": b"(NAK\r", b"QSKT4\r": b"(007\r",
    b"RE0\r": b"#20\r",
}


class Device:
    def __init__(self):
        self.sent = []

    def command(self, cmd):
        self.sent.append(cmd)
        return REPLIES.get(cmd, b"(ACK\r" if not cmd.startswith(b"Q") else b"(NAK\r")


@pytest.fixture
def ups():
    state = DriverState()
    device = Device()
    engine = QxEngine(state, device, {}.get, lambda k: False, subdrivers())
    assert engine.match_subdriver() and engine.sub.name == "Voltronic 0.14"
    assert device.sent[:2] == [b"QGS\r", b"QPI\r"]
    engine.init_ups()
    engine.init_info(1000)
    engine.update_info(1001)
    return engine, state, device


def test_published_values(ups):
    engine, state, device = ups
    get = state.get
    assert get("ups.firmware.aux") == "P01"
    assert (get("input.voltage"), get("input.frequency"), get("output.voltage")) == \
        ("234.9", "50.0", "229.8")
    assert get("ups.load") is None                       # "00A": not a number
    assert get("battery.voltage") == "026.5"             # as sent (2.8.3+)
    assert get("ups.temperature") == "18.8"
    assert get("ups.type") == "online"                   # type bits "10"
    assert get("ups.status") == "OL OFF"                 # QGS bits: on line; QMOD S: standby
    assert get("ups.beeper.status") == "enabled"
    assert (get("device.model"), get("ups.power.nominal"), get("output.powerfactor")) == \
        ("OLHVT1K0", "1000", "0.8")
    assert (get("input.phases"), get("output.phases")) == ("2", "2")
    assert get("device.mfr") == "VOLTRONIC" and get("device.serial") == "685653211455"
    assert get("ups.firmware") == "00322.02"
    assert (get("battery.packs"), get("battery.charge"), get("battery.runtime")) == \
        ("1", "68", "15300")
    assert (get("ups.start.auto"), get("battery.protection"), get("battery.energysave"),
            get("ups.start.battery"), get("outlet.0.switchable")) == ("no", "yes", "no", "yes", "yes")
    assert (get("outlet.1.status"), get("outlet.2.status"), get("outlet.3.status")) == \
        ("on", "off", "on")
    assert get("outlet.4.status") is None                # (NAK
    assert (get("outlet.1.delay.shutdown"), get("outlet.2.delay.shutdown")) == ("480", "720")
    # P01 at 230 V: ECO limits 7..24 V around the nominal output voltage
    assert (get("input.transfer.high"), get("input.transfer.low")) == ("242", "218")
    assert state.var("input.transfer.high").ranges == [(237, 254)]
    assert state.var("input.transfer.low").ranges == [(206, 223)]
    # RE0 said 20.0, but without a high mark 2.8.5 guesses both from the 24 V nominal
    assert (get("battery.voltage.low"), get("battery.voltage.high")) == ("20.80", "26.00")
    assert state.var("battery.voltage.low").ranges == [(20, 24)]   # 230 V x 4 A < 1 kVA
    assert get("ups.alarm") is None                      # alarms come with full polls
    engine.update_info(1040)
    assert get("ups.alarm") == ("UPS warnings: Warning!! Cover of maintain switch is open. "
                                "Unknown warnings [bit: #64]")
    assert get("ups.status") == "ALARM OL OFF"
    assert "outlet.1.load.off" in state.commands() and "outlet.4.load.off" not in state.commands()
    assert "beeper.enable" in state.commands()            # the flags list 'a'
    assert "bypass.start" in state.commands()              # ... and 'e'


@pytest.mark.parametrize("cmd, arg, wire", [
    ("shutdown.return", None, b"S.5R0003\r"), ("shutdown.stayoff", None, b"S.5R0000\r"),
    ("test.battery.start", None, b"T10\r"), ("test.battery.start", "30", b"T.5\r"),
    ("beeper.toggle", None, b"BZOFF\r"), ("load.off", None, b"SOFF\r"),
    ("shutdown.stop", None, b"CS\r"), ("outlet.1.load.off", None, b"SKOFF1\r"),
])
def test_commands(ups, cmd, arg, wire):
    engine, state, device = ups
    device.sent.clear()
    assert engine.instcmd(cmd, arg) == HANDLED
    assert device.sent == [wire]


def test_refusals_and_settings(ups):
    engine, state, device = ups
    device.sent.clear()
    assert engine.instcmd("test.battery.start", "6") == FAILED
    assert device.sent == []
    assert engine.setvar("ups.start.auto", "yes") == HANDLED
    assert engine.setvar("outlet.1.delay.shutdown", "600") == HANDLED
    assert engine.setvar("input.transfer.high", "250") == HANDLED
    assert device.sent == [b"PER\r", b"PSK1010\r", b"HEH250\r"]


@pytest.mark.parametrize("bits, text", [
    ("0" * 64, ""),
    ("0000000100000000000000000000000000000000000000000000000000000000",
     "UPS warnings: Low battery."),
    ("1" + "0" * 58 + "1" + "0" * 4,
     "UPS warnings: Battery disconnected. Unknown warnings [bit: #60]"),
])
def test_warnings(ups, bits, text):
    engine, _, _ = ups

    class It:
        value = bits
        info_type = "ups.alarm"
    assert warning(engine, It, "") == text
