"""dummy-ups definition files read in-process (no daemon): the tokenisation rules C
dummy-ups applies, TIMER pauses, modes, SET semantics and flags."""

import os
import time

import pytest

from nutpy.drivers.base import HANDLED
from nutpy.drivers.dummy_ups import DummyUps
from nutpy.drivers.main import DriverCore
from nutpy.drivers.state import RW, STRING


def make_driver(tmp_path, text: bytes, name="u.dev", mode=None):
    path = tmp_path / name
    path.write_bytes(text)
    core = DriverCore(DummyUps, prog="dummy-ups")
    core.device_path = str(path)
    if mode:
        core._store("mode", mode)
    drv = core.driver
    drv.init_device()
    drv.init_info()
    return core, drv, path


def values(core):
    return {n: core.state.get(n) for n in core.state.names()}


def test_file_rules(tmp_path):
    text = (
        b"battery.runtime: 0\t#COMMENT: not part of it\n"
        b"ups.mfr:   Dummy   \"Quote\" Corp  \n"
        b"ups.id: ID=1007\n"
        b"ups.firmware: \xc2\xa0 X\n"
        b"ups.status:OL\n"                       # name cut at ':' -> status with no tokens
        b"ups.status: OB  LB OB\n"
        b"driver.name: spoofed\n"
        b"driver.parameter.port: spoofed\n"
        b"x.long: " + b"z" * 200 + b"\n"
        b"x.back: back\\slash # x\n"
        b"x.cont: a\\\n b\n"
    )
    core, _, _ = make_driver(tmp_path, text)
    v = values(core)
    assert v["battery.runtime"] == "0"
    assert v["ups.mfr"] == "Dummy Quote Corp"
    assert v["ups.id"] == "ID = 1007"
    assert v["ups.firmware"] == " X"
    assert v["ups.status"] == "OB LB"  # tokens kept once
    assert v["x.long"] == "z" * 127
    assert v["x.back"] == "backslash"
    assert v["x.cont"] == "a b"
    assert "driver.name" not in v and "driver.parameter.port" not in v
    assert core.state.stale is False


def test_defaults_and_flags(tmp_path):
    core, drv, _ = make_driver(tmp_path, b"battery.charge: 80\nmy.thing: a\n")
    s = core.state
    assert s.get("ups.mfr") == "Dummy Manufacturer"
    assert s.get("ups.model") == "Dummy UPS"
    assert s.get("ups.status") == "OL"
    assert s.var("battery.charge").flags == RW and s.var("battery.charge").aux == 0
    assert s.var("my.thing").flags == RW | STRING and s.var("my.thing").aux == 32
    assert s.var("ups.id") is None
    assert drv.set_var("ups.id", "abc") == HANDLED
    assert s.var("ups.id").aux == 16
    assert s.has_command("load.off")
    assert drv.instcmd("load.off", None) == 1  # unknown, as C


def test_set_semantics(tmp_path):
    core, drv, _ = make_driver(tmp_path, b"ups.serial: 42\n")
    s = core.state
    drv.set_var("ups.status", "OB LB")
    assert s.get("ups.status") == "OB LB"
    drv.set_var("ups.serial", "")
    assert s.get("ups.serial") is None  # empty value deletes
    drv.set_var("brand.new", "v")
    assert s.get("brand.new") == "v"


def test_empty_value_line_deletes_instead_of_reusing_previous(tmp_path):
    core, _, _ = make_driver(tmp_path, b"ups.realpower.nominal: 360\nups.serial:\n")
    assert core.state.get("ups.serial") is None  # C 2.8.0 publishes 360 here


def test_timer_and_loop(tmp_path):
    text = b"ups.status: OL\nTIMER 1\nups.status: OB\nTIMER 1\n"
    core, drv, _ = make_driver(tmp_path, text, name="u.seq")
    assert core.state.get("driver.parameter.mode") == "dummy-loop"
    assert core.state.get("ups.status") == "OL"
    hint = drv.update_info()
    assert 0 < hint <= 1  # asks to be woken when the TIMER ends
    assert core.state.get("ups.status") == "OL"
    time.sleep(hint + 0.05)
    drv.update_info()
    assert core.state.get("ups.status") == "OB"
    time.sleep(drv.update_info() + 0.05)
    assert drv.update_info() is None  # end of file: next poll starts from the top
    drv.update_info()
    assert core.state.get("ups.status") == "OL"


def test_once_mode_rereads_on_mtime_change(tmp_path):
    core, drv, path = make_driver(tmp_path, b"battery.charge: 10\n")
    assert core.state.get("driver.parameter.mode") == "dummy-once"
    drv.set_var("battery.charge", "55")
    drv.update_info()
    assert core.state.get("battery.charge") == "55"  # SET survives until the file changes
    path.write_bytes(b"battery.charge: 20\n")
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    drv.update_info()
    assert core.state.get("battery.charge") == "20"


@pytest.mark.parametrize("port,mode,expect", [
    ("a.dev", None, "dummy-once"), ("a.seq", None, "dummy-loop"), ("a.txt", None, "dummy"),
    ("a.dev", "dummy-loop", "dummy-loop"), ("a.seq", "dummy-once", "dummy-once"),
])
def test_mode_selection(tmp_path, port, mode, expect):
    core, _, _ = make_driver(tmp_path, b"", name=port, mode=mode)
    assert core.state.get("driver.parameter.mode") == expect


def test_alarm_lines(tmp_path):
    core, drv, _ = make_driver(tmp_path, b"ups.status: OL\nALARM Replace battery\n")
    assert core.state.get("ups.alarm") == "Replace battery"
    assert core.state.get("ups.status") == "ALARM OL"


def test_parse_error_names_file_and_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        make_driver(tmp_path, b"ups.mfr: x\nups.model: \"a#b\"\n")
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert f"{tmp_path}/u.dev:2:" in err and "unescaped # in quotes" in err


def test_missing_file_is_fatal(tmp_path, capsys):
    core = DriverCore(DummyUps, prog="dummy-ups")
    core.device_path = str(tmp_path / "nope.dev")
    with pytest.raises(SystemExit) as e:
        core.driver.init_device()
    assert e.value.code == 1
    assert "Can't open dummy-ups definition file" in capsys.readouterr().err
