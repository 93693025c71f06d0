"""The APC Smart protocol against the simulated Smart-UPS, in memory: a link that behaves
like the canonical-mode tty the driver sets up (one read returns one line, ending at LF or
``*``, CR dropped) and a fake clock."""

from __future__ import annotations

import pytest

from nutpy.drivers.apcsmart.protocol import FAILED, HANDLED, INVALID, UNKNOWN, ApcSmart, Fatal
from nutpy.drivers.state import RW, STRING, DriverState
from nutpy.sim.apcsmart import ApcSmartUps


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class CanonicalLink:
    def __init__(self, device: ApcSmartUps, clock: Clock) -> None:
        self.device = device
        self.clock = clock
        self.pending = b""
        self.written = b""

    def _pump(self) -> None:
        self.pending += self.device.tick(self.clock.now)

    def write(self, data: bytes, pace: float = 0.0) -> int:
        for byte in data:
            self.written += bytes([byte])
            self.pending += self.device.feed(bytes([byte]), self.clock.now)
            self.clock.now += pace
        return len(data)

    def read(self, size: int, timeout: float) -> bytes:
        self._pump()
        data = self.pending.replace(b"\r", b"")
        ends = [i for i in (data.find(b"\n"), data.find(b"*")) if i >= 0]
        if not ends:
            self.clock.now += timeout
            return b""
        end = min(ends) + 1
        self.pending = data[end:]
        return data[:end]

    def flush_input(self) -> None:
        self.pending = b""

    def flush_output(self) -> None:
        pass

    def flush_io(self) -> None:
        self.pending = b""


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __getattr__(self, level):
        return lambda *args: self.lines.append((level, str(args[-1])))

    def texts(self, level=None):
        return [t for lv, t in self.lines if level in (None, lv)]


def make(conf=None, smart=False):
    conf = conf or {}
    clock = Clock()
    device = ApcSmartUps(smart=smart)
    link = CanonicalLink(device, clock)
    state = DriverState()
    log = Log()
    apc = ApcSmart(state, link, conf.get, lambda k: k in conf, log, device_path="/dev/ttyS0",
                   upsname="sim", clock=clock, sleep=clock.sleep)
    return apc, state, device, link, clock, log


def test_handshake_discovery_and_first_poll():
    apc, state, device, link, clock, log = make()
    apc.init_info()
    apc.poll_device()
    get = state.get
    assert link.written.startswith(b"YVba")            # smart mode, firmware, command set
    assert get("ups.mfr") == "APC" and get("ups.model") == "Smart-UPS 1500"
    assert get("ups.firmware") == "601.3.I" and get("ups.serial") == "AS0123456789"
    assert get("ups.status") == "OL"
    assert get("battery.runtime") == "3240"            # "0054:" minutes -> seconds
    assert get("ups.test.interval") == "1209600"       # 336 h
    assert get("input.transfer.reason") == "no transfers yet since turnon"
    assert get("device.uptime") == "43200"             # T "012.5" hours: whole hours
    assert get("ambient.0.temperature") is None        # ... so not an ambient sensor
    assert "ambient.0.temperature [T] - variable combination invalid" in log.texts("warning")
    # ^Z: enumerable settings become RW enums, ^A...c/x strings RW STRING of 8
    high = state.var("input.transfer.high")
    assert high.flags == RW and high.enums == ["253", "264", "271", "280"]
    assert state.var("ups.test.interval").enums == ["1209600", "604800", "0"]  # "ON"/"OFF"
    assert state.var("ups.id").flags == RW | STRING and state.var("ups.id").aux == 8
    assert "shutdown.return" in state.commands() and "load.off" in state.commands()
    assert not state.stale


def test_dumb_unit_is_fatal():
    apc, state, device, link, clock, log = make()
    device.vars.clear()
    device.control("fault silent")
    with pytest.raises(Fatal, match="unable to detect an APC Smart protocol UPS on port"):
        apc.init_info()
    assert link.written == b"Y\x1b" * 5


def test_alerts_change_status_at_once():
    apc, state, device, link, clock, log = make()
    apc.init_info()
    apc.poll_device()
    device.control("power fail")
    apc.poll_device()
    assert state.get("ups.status") == "OB"
    device.control("battery low")
    device.control("replace on")
    # canonical input: the alert characters come in front of the next reply line
    log.lines.clear()
    apc.poll_device()
    assert state.get("ups.status") == "OB LB RB"
    assert ["alert_handler: LB", "alert_handler: RB"] == \
        [t for t in log.texts("debug") if t.startswith("alert_handler")]
    device.control("power ok")
    device.control("battery ok")
    apc.poll_device()
    assert state.get("ups.status") == "OL RB"


def test_enum_set_rotates_until_the_value_comes_round():
    apc, state, device, link, clock, log = make()
    apc.init_info()
    link.written = b""
    assert apc.setvar("input.transfer.high", "271") == HANDLED
    assert link.written == b"u-u-uu"   # read, rotate twice, final poll
    assert device.vars["u"] == "271" and state.get("input.transfer.high") == "271"
    link.written = b""
    assert apc.setvar("input.transfer.high", "271") == HANDLED  # unchanged: not rewritten
    assert link.written == b"u"
    assert apc.setvar("input.transfer.high", "999") == FAILED    # wraps round
    assert "setvar_enum: variable input.transfer.high wrapped" in log.texts("error")
    assert apc.setvar("battery.charge", "50") == UNKNOWN         # read-only
    assert apc.setvar("no.such.var", "1") == UNKNOWN


def test_string_set_pads_with_cr():
    apc, state, device, link, clock, log = make()
    apc.init_info()
    link.written = b""
    assert apc.setvar("ups.id", "RACK2") == HANDLED
    assert link.written == b"c-RACK2\r\r\rc"
    assert device.vars["c"] == "RACK2" and state.get("ups.id") == "RACK2"
    assert apc.setvar("ups.id", "TOO-LONG-ID") == FAILED


def test_nasty_commands_need_two_calls_3_to_15_s_apart():
    apc, state, device, link, clock, log = make()
    apc.init_info()
    link.written = b""
    assert apc.instcmd("shutdown.stayoff", None) == HANDLED   # first: nothing sent
    assert link.written == b""
    clock.now += 5
    assert apc.instcmd("shutdown.stayoff", None) == HANDLED
    assert link.written == b"KK"
    assert "shutdown K" in device.events
    clock.now += 20
    link.written = b""
    assert apc.instcmd("load.off", None) == HANDLED           # outside the window again
    clock.now += 1
    assert apc.instcmd("load.off", None) == HANDLED           # too soon
    assert link.written == b""


def test_plain_commands_and_arguments():
    apc, state, device, link, clock, log = make()
    apc.init_info()
    for cmd, wire in (("test.panel.start", b"A"), ("test.failure.start", b"U"),
                      ("test.battery.start", b"W")):
        link.written = b""
        assert apc.instcmd(cmd, None) == HANDLED
        assert link.written == wire
    link.written = b""
    assert apc.instcmd("calibrate.start", None) == HANDLED
    assert link.written == b"QD" and device.calibrating
    assert apc.instcmd("test.battery.start", "now") == UNKNOWN    # no argument taken
    assert apc.instcmd("shutdown.return", "at:5") == HANDLED      # first call of a nasty one
    device.vars.pop("\x0e", None)
    fresh, *_ = make()
    assert fresh.instcmd("load.on", None) == INVALID              # not seen on this unit


@pytest.mark.parametrize("conf, online, wire", [
    # C takes the status reply only if it is one character long, so a two-digit status
    # always reads as "on battery, low battery": sdtype 0 then soft-shuts down with S
    ({}, True, b"YQS"),
    ({}, False, b"YQS"),
    ({"sdtype": "1"}, True, b"YQS@000"),            # S refused on line (NA): then @
    ({"sdtype": "3"}, True, b"YQKK"),
    ({"sdtype": "2"}, True, b"YQZZ"),
    ({"sdtype": "5"}, True, b"YQ@000"),
    ({"sdtype": "5", "awd": "12"}, True, b"YQ@12Y"),  # two digits refused: abort with Y
    ({"advorder": "30"}, True, b"YQZZ"),               # 3 = Z, which needs no answer
    ({"advorder": "24"}, True, b"YQKK"),
])
def test_shutdown_methods(conf, online, wire):
    apc, state, device, link, clock, log = make(conf)
    if not online:
        device.control("power fail")
    apc.shutdown()
    assert link.written.replace(b"\x1b", b"") == wire
    assert "upsdrv_shutdown: status read failed, assuming LB+OB" in log.texts("warning")


def test_silence_makes_data_stale_with_c_messages_and_recovers():
    apc, state, device, link, clock, log = make()
    apc.init_info()
    apc.poll_device()
    device.control("fault silent")
    apc.poll_device()
    assert state.stale
    assert "Communications with UPS lost: serial port read timeout: 866(update_status)" in \
        log.texts("warning")
    device.control("fault none")
    for _ in range(12):
        apc.poll_device()
    assert not state.stale
    assert "Communications with UPS re-established" in log.texts("notice")


@pytest.mark.parametrize("fault", ["garbage", "partial", "short", "echo", "nak"])
def test_faulty_replies_never_crash(fault):
    apc, state, device, link, clock, log = make()
    apc.init_info()
    device.control(f"fault {fault}")
    for _ in range(3):
        apc.poll_device()
        apc.instcmd("test.panel.start", None)
        apc.setvar("ups.id", "X")
    device.control("fault none")
    for _ in range(12):
        apc.poll_device()
    assert not state.stale and state.get("ups.status") == "OL"


def test_bad_options_are_fatal():
    for option, value in (("awd", "1234"), ("sdtype", "6"), ("advorder", "5"),
                          ("cshdelay", "x")):
        apc, *_ = make({option: value})
        with pytest.raises(Fatal, match=f"invalid value \\({value}\\) for option '{option}'"):
            apc.check_options()
