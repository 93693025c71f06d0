"""The Q* engine and the Megatec-family subdrivers, without a port: a scripted device
answers the commands, the engine publishes into a driver state. Expected values follow
C nutdrv_qx 2.8.5 (hand-derived from its tables; the pty tests compare with C itself)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nutpy.drivers.qx import subdrivers
from nutpy.drivers.qx.core import FAILED, HANDLED, INVALID, UNKNOWN, FatalError, QxEngine
from nutpy.drivers.qx.voltronic_qs_hex import preprocess_qs_answer
from nutpy.drivers.state import DriverState

Q1 = b"(226.0 195.0 226.0 014 49.0 27.5 30.0 00001000\r"
F = b"#220.0 000 024.0 50.0\r"
I_CLASSIC = b"#NOT_A_LIVE_UPS  TESTING    TESTING   \r"
I_IC = b"#MegaTecabcedfhi k130v12345 v3.400000\r"


class Device:
    """Answers from a table; anything else is echoed (as Megatec units do)."""

    def __init__(self, answers: dict[bytes, bytes], unknown=lambda cmd: cmd) -> None:
        self.answers = dict(answers)
        self.unknown = unknown
        self.sent: list[bytes] = []
        self.dead = False

    def command(self, cmd: bytes) -> bytes:
        self.sent.append(cmd)
        if self.dead:
            return b""
        return self.answers.get(cmd, self.unknown(cmd))


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __getattr__(self, level):
        def emit(*args):
            self.lines.append((level, str(args[-1])))
        return emit

    def texts(self, level: str | None = None) -> list[str]:
        return [t for lv, t in self.lines if level is None or lv == level]


def engine_for(device: Device, conf: dict | None = None, state: DriverState | None = None):
    conf = conf or {}
    state = state or DriverState()
    log = Log()
    engine = QxEngine(state, device, conf.get, lambda k: k in conf, subdrivers(), log=log,
                      upsname="sim")
    return engine, state, log


def started(answers, conf=None, now=1000):
    device = Device(answers)
    engine, state, log = engine_for(device, conf)
    assert engine.match_subdriver()
    engine.init_ups()
    engine.init_info(now)
    engine.update_info(now + 1)
    return engine, state, log, device


# ---- detection

@pytest.mark.parametrize("answers, protocol, probes", [
    ({b"Q1\r": Q1, b"F\r": F, b"I\r": I_CLASSIC}, "Megatec 0.09",
     [b"M\r"] * 6 + [b"QS\r"] * 3 + [b"D\r"] * 3 + [b"Q1\r", b"I\r"]),
    ({b"QS\r": Q1, b"F\r": F, b"I\r": I_CLASSIC}, "Mustek 0.08",
     [b"M\r"] * 6 + [b"QS\r"]),
    ({b"D\r": Q1}, "Megatec/old 0.08", [b"M\r"] * 6 + [b"QS\r"] * 3 + [b"D\r"]),
    ({b"Q1\r": Q1, b"FW?\r": I_CLASSIC}, "Zinto 0.07",
     [b"M\r"] * 6 + [b"QS\r"] * 3 + [b"D\r"] * 3 + [b"Q1\r", b"I\r"] * 3 + [b"Q1\r", b"FW?\r"]),
    ({b"Q1\r": Q1}, "Q1 0.08",
     [b"M\r"] * 6 + [b"QS\r"] * 3 + [b"D\r"] * 3 + [b"Q1\r", b"I\r"] * 3 +
     [b"Q1\r", b"FW?\r"] * 3 + [b"Q1\r"]),
    ({b"M\r": b"V\r", b"QS\r": Q1}, "Voltronic-QS 0.10", [b"M\r", b"QS\r"]),
])
def test_detection_order_and_probes(answers, protocol, probes):
    device = Device(answers)
    engine, state, log = engine_for(device)
    assert engine.match_subdriver()
    assert engine.sub.name == protocol
    assert device.sent == [b"QGS\r"] * 3 + probes  # voltronic first: the echo is too short
    assert f"Using protocol: {protocol}" in log.texts("info")


def test_protocol_option_skips_detection_and_unknown_device_is_refused():
    device = Device({b"Q1\r": Q1, b"F\r": F, b"I\r": I_CLASSIC})
    engine, _, _ = engine_for(device, {"protocol": "megatec"})
    assert engine.match_subdriver() and device.sent == [b"Q1\r", b"I\r"]
    device = Device({}, unknown=lambda c: b"")
    engine, _, log = engine_for(device)
    assert not engine.match_subdriver()
    assert "Device not supported!" in log.texts("error")
    # voltronic gives a silent device a second chance (after 5 s, here not waited)
    assert device.sent[:6] == [b"QGS\r"] * 6


def test_novendor_claims_on_status_alone():
    device = Device({b"Q1\r": Q1})
    engine, _, _ = engine_for(device, {"novendor": None, "protocol": "megatec"})
    assert engine.match_subdriver() and device.sent == [b"Q1\r"]


# ---- published data

def test_megatec_variables_2_8_5_layout():
    _, state, log, _ = started({b"Q1\r": Q1, b"F\r": F, b"I\r": I_IC})
    get = state.get
    assert (get("input.voltage"), get("input.voltage.fault"), get("output.voltage")) == \
        ("226.0", "195.0", "226.0")
    assert (get("ups.load"), get("input.frequency"), get("ups.temperature")) == ("14", "49.0", "30.0")
    # 2.8.3+: the raw field (qx_multiply_battvolt), no longer "%.2f"
    assert get("battery.voltage") == "27.5"
    assert (get("input.voltage.nominal"), get("input.current.nominal"),
            get("battery.voltage.nominal"), get("input.frequency.nominal")) == ("220", "0.0", "24.0", "50")
    # the Megatec IC reply, read as 2.8.5 reads every I reply
    assert (get("device.mfr"), get("ups.serial"), get("device.model"), get("battery.runtime"),
            get("ups.firmware")) == ("MegaTec", "abcedfhi", "k130v", "12345", "v3.400000")
    assert get("ups.type") == "offline / line interactive"
    assert get("ups.beeper.status") == "disabled"
    assert get("ups.status") == "OL"
    # 24 V nominal: low 104/120, high 130/120 of it
    assert (get("battery.voltage.low"), get("battery.voltage.high")) == ("20.80", "26.00")
    assert get("battery.charge") == "100"
    assert (get("ups.delay.start"), get("ups.delay.shutdown")) == ("180", "30")
    assert state.var("ups.delay.start").ranges == [(0, 599940)]
    assert state.var("ups.delay.shutdown").ranges == [(12, 600)]
    assert "Autodetected 1 as number of battery packs [24/27.50]" in log.texts("info")
    assert state.commands() == sorted(["beeper.toggle", "load.off", "load.on", "shutdown.return",
                                       "shutdown.stayoff", "shutdown.stop", "test.battery.start",
                                       "test.battery.start.deep", "test.battery.start.quick",
                                       "test.battery.stop"])


def q1(bits: str, vin="226.0", vout="226.0", batt="27.5") -> bytes:
    return f"({vin} 195.0 {vout} 014 49.0 {batt} 30.0 {bits}\r".encode()


@pytest.mark.parametrize("bits, vout, status, alarm", [
    ("00001000", "226.0", "OL", None),
    ("10001000", "226.0", "OB", None),
    ("11001000", "226.0", "OB LB", None),
    ("00101000", "200.0", "OL TRIM", None),         # out < 0.95 in
    ("00101000", "226.0", "OL BYPASS", None),       # within 5 %
    ("00101000", "250.0", "OL BOOST", None),        # < 1.5 in
    ("00101000", "100.0", None, None),              # below half: the poll fails (C)
    ("00001100", "226.0", "OL CAL", None),
    ("00011000", "226.0", "ALARM OL", "UPS selftest failed!"),
    ("00001010", "226.0", "ALARM OL FSD", "Shutdown imminent!"),
    ("10011010", "226.0", "ALARM OB FSD", "UPS selftest failed! Shutdown imminent!"),
])
def test_status_bits(bits, vout, status, alarm):
    device = Device({b"Q1\r": q1("00001000"), b"F\r": F, b"I\r": I_CLASSIC})
    engine, state, _ = engine_for(device, {"pollfreq": "0"})
    assert engine.match_subdriver()
    engine.init_info(1000)
    device.answers[b"Q1\r"] = q1(bits, vout=vout)
    engine.update_info(1002)  # pollfreq 0: every update is a full one
    assert state.get("ups.status") == status
    assert state.get("ups.alarm") == alarm
    assert engine.failing == (status is None)


def test_quick_polls_keep_trim_until_the_next_full_poll():
    """Bit 40 only sets TRIM/BOOST/BYPASS; clearing waits for the full poll's reset (C)."""
    device = Device({b"Q1\r": q1("00101000", vout="200.0"), b"F\r": F, b"I\r": I_CLASSIC})
    engine, state, _ = engine_for(device, {"pollfreq": "30"})
    assert engine.match_subdriver()
    engine.init_info(1000)
    engine.update_info(1001)
    assert state.get("ups.status") == "OL TRIM"
    device.answers[b"Q1\r"] = q1("00001000")
    engine.update_info(1003)
    assert state.get("ups.status") == "OL TRIM"
    engine.update_info(1031)
    assert state.get("ups.status") == "OL"


def test_ignoresab_drops_the_shutdown_active_bit():
    device = Device({b"Q1\r": q1("00001010"), b"F\r": F, b"I\r": I_CLASSIC})
    engine, state, _ = engine_for(device, {"ignoresab": None, "protocol": "megatec"})
    assert engine.match_subdriver()
    engine.init_ups()
    engine.init_info(1000)
    engine.update_info(1001)
    assert state.get("ups.status") == "OL"


def test_quick_and_full_polls_send_what_c_sends():
    engine, state, _, device = started({b"Q1\r": Q1, b"F\r": F, b"I\r": I_CLASSIC},
                                       {"protocol": "megatec"})
    device.sent.clear()
    engine.update_info(1010)
    assert device.sent == [b"Q1\r"]            # quick: the status items share one reply
    device.sent.clear()
    engine.update_info(1040)
    assert device.sent == [b"Q1\r", b"I\r"]    # full: 2.8.5 also re-reads serial/runtime


# ---- communication failures

def test_stale_on_the_fifth_failed_poll_and_recovery():
    engine, state, log, device = started({b"Q1\r": Q1, b"F\r": F, b"I\r": I_CLASSIC},
                                         {"protocol": "megatec", "pollfreq": "300"})
    assert not state.stale
    device.dead = True
    for n in range(4):
        device.sent.clear()
        engine.update_info(1010 + n)
        assert device.sent == [b"Q1\r"] and not state.stale
    engine.update_info(1020)
    assert state.stale
    device.dead = False
    engine.update_info(1021)
    assert not state.stale
    assert "Communications with the UPS re-established" in log.texts("notice")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=80), min_size=1, max_size=12))
def test_garbage_replies_never_break_the_engine(replies):
    engine, state, _, device = started({b"Q1\r": Q1, b"F\r": F, b"I\r": I_CLASSIC},
                                       {"protocol": "megatec", "pollfreq": "0"})
    queue = list(replies)
    device.command = lambda cmd: queue.pop(0) if queue else b""
    for n in range(len(replies)):
        engine.update_info(2000 + n)
        assert state.get("ups.status") in ("OL", "OB", "OL LB", "OB LB") or \
            state.get("ups.status", ) is not None
    for cmd in ("shutdown.return", "test.battery.start", "beeper.toggle", "load.off"):
        assert engine.instcmd(cmd, None) in (HANDLED, FAILED, INVALID, 4)


@pytest.mark.parametrize("reply", [
    b"(226.0 195.0 226.0 014 49.0 27.5 30.0 0000",   # cut short
    b"(226.0 195.0 226.0 014 49.0 27.5 30.0 00001000",  # no CR: one byte short
    b"(22X.0 195.0 226.0 014 49.0 27.5 30.0 00001000\r",  # bad digit: item skipped
    b"#226.0 195.0 226.0 014 49.0 27.5 30.0 00001000\r",  # wrong start character
    b"(226.0 195.0 226.0 014 49.0 27.5 30.0 X0001000\r",  # bad status bit: poll fails
    b"(226.0 195.0 226.0 014 49.0 27.5 30.0 0000X000\r",  # bad type bit: static, unread
])
def test_malformed_status_replies(reply):
    engine, state, _, device = started({b"Q1\r": Q1, b"F\r": F, b"I\r": I_CLASSIC},
                                       {"protocol": "megatec", "pollfreq": "0"})
    device.answers[b"Q1\r"] = reply
    engine.update_info(2000)
    if reply.startswith(b"(22X"):
        assert state.get("input.voltage") == "226.0" and not engine.failing
    elif b"0000X000" in reply:
        assert not engine.failing
    else:
        assert engine.failing


# ---- instant commands and delays

@pytest.mark.parametrize("ondelay, offdelay, ret, stayoff", [
    ("180", "30", b"S.5R0003\r", b"S.5R0000\r"),
    ("0", "30", b"S.5\r", b"S.5R0000\r"),
    ("0", "120", b"S02\r", b"S02R0000\r"),
    ("600", "600", b"S10R0010\r", b"S10R0000\r"),
    ("59", "12", b"S.2\r", b"S.2R0000\r"),      # 59 s start delay: 0 whole minutes
    ("3600", "59", b"S.9R0060\r", b"S.9R0000\r"),  # 59 truncated to 54 = .9
])
def test_shutdown_encoding(ondelay, offdelay, ret, stayoff):
    engine, state, _, device = started({b"Q1\r": Q1, b"F\r": F, b"I\r": I_CLASSIC},
                                       {"protocol": "megatec", "ondelay": ondelay,
                                        "offdelay": offdelay})
    device.unknown = lambda cmd: b""   # accepted commands get no reply
    device.sent.clear()
    assert engine.instcmd("shutdown.return", None) == HANDLED
    assert engine.instcmd("shutdown.stayoff", None) == HANDLED
    assert device.sent == [ret, stayoff]


@pytest.mark.parametrize("cmd, arg, wire", [
    ("beeper.toggle", None, b"Q\r"), ("load.off", None, b"S00R0000\r"), ("load.on", None, b"C\r"),
    ("shutdown.stop", None, b"C\r"), ("test.battery.start", None, b"T10\r"),
    ("test.battery.start", "60", b"T01\r"), ("test.battery.start", "5940", b"T99\r"),
    ("test.battery.start.quick", None, b"T\r"), ("test.battery.start.deep", None, b"TL\r"),
    ("test.battery.stop", None, b"CT\r"),
])
def test_instcmd_wire(cmd, arg, wire):
    engine, _, log, device = started({b"Q1\r": Q1, b"F\r": F, b"I\r": I_CLASSIC},
                                     {"protocol": "megatec"})
    device.unknown = lambda c: b""
    device.sent.clear()
    assert engine.instcmd(cmd, arg) == HANDLED
    assert device.sent == [wire]
    assert "instcmd: SUCCEED" in log.texts("info")


def test_instcmd_replies_echo_ack_and_bad_arguments():
    engine, _, log, device = started({b"Q1\r": Q1, b"F\r": F, b"I\r": I_CLASSIC},
                                     {"protocol": "megatec"})
    assert engine.instcmd("beeper.toggle", None) == FAILED      # echoed: refused
    device.unknown = lambda c: b"ACK\r"
    assert engine.instcmd("beeper.toggle", None) == HANDLED
    device.unknown = lambda c: b"(ACK\r"
    assert engine.instcmd("beeper.toggle", None) == FAILED      # nutdrv_qx wants "ACK"
    device.sent.clear()
    assert engine.instcmd("test.battery.start", "30") == FAILED  # below 60 s
    assert engine.instcmd("no.such.command", None) == INVALID
    assert device.sent == []
    assert "test.battery.start: battery test time '30' out of range [60..5940] seconds" in \
        log.texts("error")


@pytest.mark.parametrize("name, value, ret, published", [
    ("ups.delay.start", "200", HANDLED, "180"),      # whole minutes
    ("ups.delay.start", "599999", UNKNOWN, "180"),   # out of range
    ("ups.delay.shutdown", "45", HANDLED, "42"),     # 6 s steps below a minute
    ("ups.delay.shutdown", "125", HANDLED, "120"),
    ("ups.delay.shutdown", "6", UNKNOWN, "30"),
    ("ups.delay.shutdown", "-5", UNKNOWN, "30"),      # not a number for C's check
    ("ups.delay.shutdown", "", UNKNOWN, "30"),
    ("ups.load", "5", UNKNOWN, "14"),
])
def test_setvar(name, value, ret, published):
    engine, state, _, device = started({b"Q1\r": Q1, b"F\r": F, b"I\r": I_CLASSIC},
                                       {"protocol": "megatec"})
    device.sent.clear()
    assert engine.setvar(name, value) == ret
    assert state.get(name) == published
    assert device.sent == []  # server-side variables


def test_bad_delay_settings_are_fatal():
    device = Device({b"Q1\r": Q1, b"F\r": F, b"I\r": I_CLASSIC})
    engine, _, _ = engine_for(device, {"protocol": "megatec", "offdelay": "700"})
    assert engine.match_subdriver()
    with pytest.raises(FatalError, match="Shutdown delay '700' out of range"):
        engine.init_info(1000)


def test_shutdown_sequence():
    engine, state, log, device = started({b"Q1\r": Q1, b"F\r": F, b"I\r": I_CLASSIC},
                                         {"protocol": "megatec", "offdelay": "60"})
    device.unknown = lambda c: b""
    device.sent.clear()
    assert engine.shutdown() == HANDLED
    assert device.sent == [b"C\r", b"S01R0003\r"]
    assert "Shutting down in 60 seconds" in log.texts("error")
    engine, state, log, device = started({b"Q1\r": Q1, b"F\r": F, b"I\r": I_CLASSIC},
                                         {"protocol": "megatec", "stayoff": None})
    device.unknown = lambda c: b""
    device.sent.clear()
    assert engine.shutdown() == HANDLED
    assert device.sent == [b"C\r", b"S.5R0000\r"]


# ---- battery estimation

def test_runtime_calibration_over_time():
    """runtimecal=rh,lh,rl,ll: exp = ln(rl/rh)/ln(lh/ll), nominal = rh*(lh/100)^exp; the
    estimate grows with nominal*dt/chargetime on line and shrinks with load_eff*dt on
    battery (load_eff = max((load/100)^exp, idleload/100))."""
    answers = {b"Q1\r": q1("00001000", batt="27.5"), b"F\r": F, b"I\r": I_CLASSIC}
    # novendor: 2.8.5 reads battery.runtime from columns 22-26 of the I reply
    conf = {"protocol": "megatec", "pollfreq": "0", "runtimecal": "240,100,720,50",
            "chargetime": "3600", "idleload": "10", "novendor": None}
    device = Device(answers)
    engine, state, log = engine_for(device, conf)
    assert engine.match_subdriver()
    engine.init_ups()
    engine.init_info(1000)
    exp = math.log(720 / 240) / math.log(100 / 50)
    nominal = 240 * (100 / 100) ** exp
    # the charge guessed from the voltage (20.8..26 V) comes first: 27.5 V is full
    charge0 = min(100.0, 100 * (27.5 - 20.8) / (26 - 20.8))
    assert engine.batt.runt_est == pytest.approx(nominal * charge0 / 100)
    assert engine.batt.runt_est == pytest.approx(nominal)
    device.answers[b"Q1\r"] = q1("10001000", batt="27.5")
    # first full poll, 1 s on battery: the load is not known yet, C counts it as 100 %
    engine.update_info(1001)
    est = nominal - 1.0 * 1
    load_eff = max((14 / 100) ** exp, 0.1)
    assert state.get("battery.charge") == "%.0f" % (100 * est / nominal)
    assert state.get("battery.runtime") == "%.0f" % (est / load_eff)
    engine.update_info(1101)   # 100 s more at 14 % load: the idle-load floor applies
    est -= load_eff * 100
    assert state.get("battery.charge") == "%.0f" % (100 * est / nominal)
    assert state.get("battery.runtime") == "%.0f" % (est / load_eff)
    device.answers[b"Q1\r"] = q1("00001000", batt="27.5")
    engine.update_info(1151)   # back on line for 50 s
    est = min(nominal, est + nominal * 50 / 3600)
    assert state.get("battery.charge") == "%.0f" % (100 * est / nominal)
    assert state.get("battery.runtime") == "%.0f" % (est / load_eff)


def test_runtimecal_errors():
    device = Device({b"Q1\r": Q1, b"F\r": F, b"I\r": I_CLASSIC})
    for value, message in (("240,100", "Insufficient parameters for runtimecal"),
                           ("240,100,100,50", "Parameter out of range (runtime)"),
                           ("240,150,720,50", "Parameter out of range (load)")):
        engine, _, _ = engine_for(Device(device.answers), {"protocol": "megatec",
                                                           "runtimecal": value})
        assert engine.match_subdriver()
        with pytest.raises(FatalError, match=message.replace("(", r"\(").replace(")", r"\)")):
            engine.init_info(1000)


# ---- voltronic-qs-hex

def test_qs_hex_reply_decoding():
    """C's own test vector: P protocol, escaped XOFF (0x28 0x02) inside a field."""
    raw = b"#\x6C\x01 \x35 \x6C\x01 \x35 \x03 \x51\x9A \x28\x02\x12\xD0 \xE6 \x1E \x09\r"
    device = Device({b"M\r": b"P\r", b"QS\r": raw})
    engine, state, _ = engine_for(device, {"protocol": "voltronic-qs-hex"})
    assert engine.match_subdriver()
    engine.init_info(1000)
    engine.update_info(1001)
    volts = int(0x6C01 * 0x35 / 51) / 256
    assert state.get("input.voltage") == "%.1f" % volts
    assert state.get("ups.load") == "3"
    assert state.get("output.frequency") == "%.1f" % min(99.9, 0x1312D0 / 0x519A)
    assert state.get("battery.voltage") == "%.2f" % (0xE6 * 0x1E / 510)
    assert state.get("ups.firmware.aux") == "PM-P"
    assert state.get("ups.status") == "OL"   # bits 00001001: beeper on, standby type
    assert state.get("ups.beeper.status") == "enabled"


def test_qs_hex_rejects_noncompliant_replies():
    class It:
        info_type = "input.voltage"
        answer = b"#\x01 \x02\r"
    assert preprocess_qs_answer(engine_for(Device({}))[0], It, len(It.answer)) == -1
