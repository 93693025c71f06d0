"""blazer_ser's protocol handling (C blazer.c) without a port."""

from __future__ import annotations

import pytest

from nutpy.drivers.qx.blazer import Blazer
from nutpy.drivers.qx.core import FAILED, HANDLED, UNKNOWN, FatalError
from nutpy.drivers.state import DriverState

Q1 = b"(215.0 195.0 230.0 014 49.0 2.27 30.0 00101000\r"
F = b"#230.0 000 024.0 50.0\r"
I = b"#NOT_A_LIVE_UPS  TESTING    TESTING   \r"


class Device:
    def __init__(self, answers):
        self.answers = dict(answers)
        self.sent = []
        self.reply_to_commands = b""

    def command(self, cmd):
        self.sent.append(cmd)
        return self.answers.get(cmd, self.reply_to_commands)


class Log:
    def __init__(self):
        self.lines = []

    def __getattr__(self, level):
        return lambda *a: self.lines.append((level, str(a[-1])))


def blazer(answers, conf=None, now=1000):
    conf = conf or {}
    state = DriverState()
    device = Device(answers)
    log = Log()
    b = Blazer(state, device, conf.get, lambda k: k in conf, log, "sim")
    b.init_ups()
    b.init_info(now)
    b.update_info(now + 2)
    return b, state, device, log


def test_c_test_vector():
    """blazer_ser's own testing answers: a per-cell battery voltage (2.27) is multiplied by
    the pack count guessed from the 24 V rating (12 cells)."""
    b, state, device, log = blazer({b"Q1\r": Q1, b"F\r": F, b"I\r": I})
    get = state.get
    assert (get("input.voltage"), get("output.voltage"), get("ups.load")) == ("215.0", "230.0", "14")
    assert get("battery.voltage") == "27.24"    # 12 x 2.27
    assert get("ups.status") == "OL BOOST"      # bit 2 with output 7 % above input
    assert (get("ups.mfr"), get("ups.model"), get("ups.firmware")) == \
        ("NOT_A_LIVE_UPS", "TESTING", "TESTING")
    assert (get("battery.voltage.low"), get("battery.voltage.high")) == ("20.80", "26.00")
    assert get("battery.charge") == "100"
    assert (get("ups.delay.start"), get("ups.delay.shutdown")) == ("180", "30")
    assert device.sent[:3] == [b"Q1\r", b"F\r", b"I\r"]


def test_detection_falls_through_the_protocols():
    b, state, device, log = blazer({b"D\r": Q1, b"F\r": F, b"I\r": I})
    assert device.sent[:10] == [b"Q1\r"] * 3 + [b"QS\r"] * 3 + [b"D\r", b"F\r", b"I\r", b"D\r"]
    with pytest.raises(FatalError, match="No supported UPS detected"):
        blazer({})


@pytest.mark.parametrize("cmd, extra, wire", [
    ("beeper.toggle", None, b"Q\r"), ("load.off", None, b"S00R0000\r"),
    ("shutdown.return", None, b"S.5R0003\r"), ("shutdown.stayoff", None, b"S.5R0000\r"),
    ("test.battery.start", None, b"T10\r"), ("test.battery.start", "5", b"T05\r"),
    ("test.battery.start.quick", None, b"T\r"), ("test.battery.stop", None, b"CT\r"),
])
def test_instcmd_wire(cmd, extra, wire):
    b, state, device, log = blazer({b"Q1\r": Q1, b"F\r": F, b"I\r": I})
    device.sent.clear()
    assert b.instcmd(cmd, extra) == HANDLED
    assert device.sent == [wire]


def test_instcmd_answers():
    b, state, device, log = blazer({b"Q1\r": Q1, b"F\r": F, b"I\r": I})
    device.reply_to_commands = b"(ACK\r"
    assert b.instcmd("beeper.toggle", None) == HANDLED
    device.reply_to_commands = b"Q\r"          # echoed: not supported
    assert b.instcmd("beeper.toggle", None) == FAILED
    assert b.instcmd("test.battery.start", "100") == FAILED
    assert b.instcmd("bypass.start", None) == UNKNOWN


@pytest.mark.parametrize("conf, message", [
    ({"ondelay": "10000"}, "Start delay '10000' out of range [0..9999]"),
    ({"offdelay": "11"}, "Shutdown delay '11' out of range [12..600]"),
])
def test_bad_delays(conf, message):
    with pytest.raises(FatalError, match=message.replace("[", r"\[").replace("]", r"\]")):
        blazer({b"Q1\r": Q1}, conf)


def test_stale_after_four_failures_and_warning():
    b, state, device, log = blazer({b"Q1\r": Q1, b"F\r": F, b"I\r": I})
    device.answers.clear()
    for n in range(4):
        b.update_info(2000 + n)
        assert not state.stale
    assert ("warning", "Communications with UPS lost: status read failed!") in log.lines
    b.update_info(2010)
    assert state.stale
    device.answers[b"Q1\r"] = Q1
    b.update_info(2011)
    assert not state.stale
    assert ("notice", "Communications with UPS re-established") in log.lines
