"""The simulators answer as the devices do, faults included."""

from __future__ import annotations

from nutpy.drivers.qx import subdrivers
from nutpy.drivers.qx.core import QxEngine
from nutpy.drivers.state import DriverState
from nutpy.sim.apcsmart import ApcSmartUps
from nutpy.sim.q1 import Q1Ups


def ask(device, data: bytes, now: float = 0.0) -> bytes:
    return device.feed(data, now) + device.tick(now)


def test_q1_replies_and_unknown_commands():
    ups = Q1Ups("megatec")
    assert ask(ups, b"Q1\r") == b"(230.0 230.0 230.0 014 50.0 27.2 30.0 00001001\r"
    assert ask(ups, b"F\r") == b"#230.0 004 024.0 50.0\r"
    assert ask(ups, b"I\r") == b"#NUTPY           SIM-Q1     V1.00     \r"
    assert ask(ups, b"QGS\r") == b"QGS\r"           # echoed
    assert ask(ups, b"Q") == b""                     # no CR yet
    assert ask(ups, b"\r") == b"" and not ups.beeper
    ups.control("power fail")
    assert ask(ups, b"Q1\r").startswith(b"(000.0 230.0 230.0 014 50.0 27.2 30.0 10001000")
    assert [c for c in ups.commands()] == [b"Q1\r", b"F\r", b"I\r", b"QGS\r", b"Q\r", b"Q1\r"]


def test_q1_shutdown_and_test_timers():
    ups = Q1Ups("megatec")
    ask(ups, b"S.5R0001\r", 0.0)
    assert ups.shutdown_active
    ask(ups, b"", 29.0)
    assert b"00001011" in ask(ups, b"Q1\r", 29.0)
    ask(ups, b"", 30.0)
    assert ask(ups, b"Q1\r", 30.0)[13:18] == b"000.0"   # output off
    ask(ups, b"", 91.0)
    assert not ups.shutdown_active and ups.events[-1] == "output on"
    ask(ups, b"T\r", 100.0)
    assert ups.testing
    ask(ups, b"", 111.0)
    assert not ups.testing


def test_q1_faults():
    ups = Q1Ups("megatec")
    status = ask(ups, b"Q1\r")
    for fault, check in (("silent", lambda r: r == b""), ("echo", lambda r: r == b"Q1\r"),
                         ("nak", lambda r: r == b"(NAK\r"),
                         ("partial", lambda r: r == status[:23]),
                         ("short", lambda r: r == status[:23] + b"\r"),
                         ("garbage", lambda r: r.endswith(b"\r") and r != status)):
        ups.control(f"fault {fault}")
        assert check(ask(ups, b"Q1\r")), fault


def test_qs_hex_simulator_decodes_with_the_driver_codec():
    for letter, expect in (("P", {}), ("T", {"output.voltage.nominal": "230.0",
                                               "battery.voltage.nominal": "24.0",
                                               "output.frequency.nominal": "50.0"})):
        ups = Q1Ups("voltronic-qs-hex")
        ups.protocol_letter = letter
        ups.input_voltage, ups.battery_voltage, ups.load = 231.4, 26.8, 32

        class Link:
            def command(self, cmd):
                return ask(ups, cmd)
        state = DriverState()
        engine = QxEngine(state, Link(), {}.get, lambda k: False, subdrivers())
        assert engine.match_subdriver() and engine.sub.protocol == "Voltronic-QS-Hex"
        engine.init_ups()
        engine.init_info(0)
        engine.update_info(1)
        assert state.get("input.voltage") == "231.4"
        assert state.get("battery.voltage") == "26.80"
        assert state.get("ups.load") == "32"
        assert state.get("output.frequency") == "50.0"
        for name, value in expect.items():
            assert state.get(name) == value


def test_apc_smart_mode_and_alerts():
    ups = ApcSmartUps()
    assert ask(ups, b"Q") == b""                # dumb until Y
    assert ask(ups, b"Y") == b"SM\r\n"
    assert ask(ups, b"Q") == b"08\r\n"
    ups.control("power fail")
    assert ask(ups, b"") == b"!"
    assert ask(ups, b"Q") == b"10\r\n"
    assert ask(ups, b"\x7f") == b"NA\r\n"
    assert ask(ups, b"R") == b"BYE\r\n" and ask(ups, b"Q") == b""
