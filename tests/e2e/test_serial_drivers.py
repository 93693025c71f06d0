"""Our serial drivers as real processes on simulated UPSes (pseudo-terminals): scenario
tables (simulator state -> published status and variables), instant commands reaching the
device, faults (silence, garbage, partial replies, unplugging) and -k."""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from nutpy.sim.apcsmart import ApcSmartUps
from nutpy.sim.q1 import Q1Ups
from support.serial_sim import Rig, ours

Q1_DIALECTS = ["megatec", "mustek", "megatec/old", "zinto", "q1", "voltronic-qs",
               "voltronic-qs-hex", "voltronic"]
STATUS = {"megatec": b"Q1\r", "mustek": b"QS\r", "megatec/old": b"D\r", "zinto": b"Q1\r",
          "q1": b"Q1\r", "voltronic-qs": b"QS\r", "voltronic-qs-hex": b"QS\r",
          "voltronic": b"QGS\r"}

# (control commands, expected ups.status, other expected values)
Q1_SCENARIOS = [
    ([], "OL", {"input.voltage": "230.0", "ups.load": "14"}),
    (["power fail"], "OB", {"input.voltage": "0.0"}),
    (["battery low"], "OB LB", {}),
    (["power ok", "battery ok", "set test on"], "OL CAL", {}),
    (["set test off", "set shutdown_active on"], "ALARM OL FSD", {"ups.alarm": "Shutdown imminent!"}),
    (["set shutdown_active off", "set ups_failed on"], "ALARM OL", {"ups.alarm": "UPS selftest failed!"}),
    (["set ups_failed off", "set bypass_boost_buck on", "set output.voltage 200"], "OL TRIM", {}),
    (["set bypass_boost_buck off", "set output.voltage 230", "set ups.load 77"], "OL",
     {"ups.load": "77"}),
]
DIALECT_SCENARIOS = [([], "OL", {}), (["power fail", "battery low"], "OB LB", {}), (["power ok", "battery ok"], "OL", {})]


def run_scenarios(dialect, scenarios, tmp_path, prog="nutdrv_qx"):
    device = Q1Ups(dialect)
    root = tmp_path / f"{prog[0]}{Q1_DIALECTS.index(dialect)}"  # socket paths are short
    root.mkdir()
    with Rig(device, root) as rig:
        drv = rig.start(ours(prog), {"pollfreq": "0"} if prog == "nutdrv_qx" else {})
        for controls, status, values in scenarios:
            for line in controls:
                rig.control(line)
            expected = {"ups.status": status, **values}
            if "ALARM" not in status:
                expected["ups.alarm"] = None
            drv.wait_values(expected)
        return drv.stop()


def test_megatec_scenarios(tmp_path):
    log = run_scenarios("megatec", Q1_SCENARIOS, tmp_path)
    assert "Using protocol: Megatec 0.09" in log


def test_other_dialects_and_blazer_ser(tmp_path):
    """Each dialect detected and followed through power failure and return; blazer_ser
    through the status bits. Run side by side (they mostly wait for their devices)."""
    jobs = [(d, DIALECT_SCENARIOS, "nutdrv_qx") for d in
            ("mustek", "megatec/old", "zinto", "q1", "voltronic-qs", "voltronic-qs-hex",
             "voltronic")]
    jobs.append(("megatec", Q1_SCENARIOS[:6], "blazer_ser"))
    # four at a time: eight drivers probing eight simulated devices at once can starve a
    # 2-CPU machine enough that a device answers after the driver's read timeout
    with ThreadPoolExecutor(4) as pool:
        logs = list(pool.map(lambda job: run_scenarios(*job[:2], tmp_path, prog=job[2]), jobs))
    for (dialect, _, prog), log in zip(jobs, logs):
        if prog == "blazer_ser":
            assert "Supported UPS detected with megatec protocol" in log
        else:
            assert "Using protocol: " in log, dialect


def test_q1_instant_commands_reach_the_ups(tmp_path):
    device = Q1Ups("megatec")
    device.ack = "ACK"   # a unit that confirms (the others are waited for 1 s, as by C)
    with Rig(device, tmp_path) as rig:
        drv = rig.start(ours("nutdrv_qx"), {"pollfreq": "300", "offdelay": "120"})
        polls = {b"Q1\r", b"I\r", b"F\r"}
        for cmd, arg, wire in (("shutdown.return", None, b"S02R0003\r"),
                               ("shutdown.stop", None, b"C\r"),
                               ("test.battery.start", "180", b"T03\r"),
                               ("test.battery.stop", None, b"CT\r"),
                               ("beeper.toggle", None, b"Q\r")):
            device.clear_log()
            assert drv.instcmd(cmd, arg) == 0
            rig.settle()
            assert [c for c in device.commands() if c not in polls] == [wire]
        assert device.events[-1] == "beeper off"
        assert drv.set_var("ups.delay.shutdown", "30") == 0
        device.clear_log()
        assert drv.instcmd("shutdown.stayoff") == 0
        assert [c for c in device.commands() if c not in polls] == [b"S.5R0000\r"]
        device.unknown = "silent"
        device.control("set ack (ACK")
        assert drv.instcmd("load.on") == 3        # "(ACK" is not nutdrv_qx's "ACK"


def test_q1_faults_stale_recovery_and_replug(tmp_path):
    """Silence: stale, then recovered without a restart; bad replies: no crash, data
    kept; unplugged: stale, and (unlike C) back when the device is."""
    device = Q1Ups("megatec")
    with Rig(device, tmp_path) as rig:
        drv = rig.start(ours("nutdrv_qx"), {"pollfreq": "300"})
        drv.wait_stale(False)
        rig.control("fault silent")
        drv.wait_stale(True, timeout=60)
        rig.control("fault none")
        drv.wait_stale(False, timeout=30)
        for fault in ("garbage", "partial", "nak"):
            rig.control(f"fault {fault}")
            rig.polls_after(b"Q1\r", 2)
            assert drv.proc.poll() is None, fault
        rig.control("fault none")
        beeper = device.beeper
        assert drv.instcmd("beeper.toggle") == 0
        assert device.beeper is not beeper
        rig.control("power fail")
        drv.wait_value("ups.status", "OB")
        rig.control("unplug")
        drv.wait_stale(True, timeout=60)
        rig.control("replug")
        rig.control("power ok")
        drv.wait_value("ups.status", "OL", timeout=30)
        log = drv.stop()
    assert "Communications with the UPS re-established" in log


def test_q1_forced_shutdown(tmp_path):
    device = Q1Ups("megatec")
    with Rig(device, tmp_path) as rig:
        proc = subprocess.run(rig.argv(ours("nutdrv_qx"), "sim", {"ondelay": "0"}, "-k"),
                              env=rig.env(), capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert device.commands()[-2:] == [b"C\r", b"S.5\r"]
        assert "Shutting down in 30 seconds" in proc.stderr
        assert device.shutdown_active


APC_SCENARIOS = [
    ([], "OL", {"input.voltage": "230.4", "battery.runtime": "3240"}),
    (["power fail"], "OB", {"input.voltage": "000.0"}),
    (["battery low"], "OB LB", {}),
    (["replace on", "overload on"], "OB OVER LB RB", {}),
    (["power ok", "battery ok", "replace off", "overload off"], "OL", {}),
]


def test_apcsmart_scenarios_sets_and_commands(tmp_path):
    device = ApcSmartUps()
    with Rig(device, tmp_path) as rig:
        drv = rig.start(ours("apcsmart"))
        for controls, status, values in APC_SCENARIOS:
            for line in controls:
                rig.control(line)
            rig.polls_after(b"Q", 2)
            got, stale = drv.dump()
            assert not stale and got["ups.status"] == status, controls
            assert {k: got[k] for k in values} == values
        assert drv.set_var("input.transfer.low", "208") == 0
        assert device.vars["l"] == "208"
        assert drv.set_var("ups.id", "RACK7") == 0
        assert device.vars["c"] == "RACK7"
        device.clear_log()
        assert drv.instcmd("test.panel.start") == 0
        assert b"A" in device.commands() and "panel test" in device.events


def test_apcsmart_silence_and_replug(tmp_path):
    """Stale at the first unanswered poll, with C's message (the recovery, after ten stale
    cycles as C's, is timed against C in tests/diff); unplugged and plugged back: found
    again at once (C: after 60 cycles, or never)."""
    device = ApcSmartUps()
    with Rig(device, tmp_path) as rig:
        drv = rig.start(ours("apcsmart"))
        rig.control("fault silent")
        drv.wait_stale(True, timeout=60)
        rig.control("fault none")
        rig.control("unplug")
        rig.control("replug")
        rig.control("power fail")
        drv.wait_value("ups.status", "OB", timeout=30)
        log = drv.stop()
    # C's call site: the status query or a variable's, whichever the silence hit
    assert re.search(r"Communications with UPS lost: serial port read timeout: "
                     r"(866\(update_status\)|842\(poll_data\))", log), log
    assert "the UPS is back" in log


def shim_or_skip():
    from nutpy.sim.modem import ShimUnavailable, shim_path

    try:
        return shim_path()
    except ShimUnavailable as e:
        pytest.skip(str(e))


GENERICUPS_SCENARIOS = {
    1: [([], "OL"), (["power fail"], "OB"), (["battery low"], "LB OB"),
        (["power ok", "battery ok"], "OL")],
    13: [(["battery low"], "LB OL")],                      # DCD = on line, CTS low = LB
    23: [(["replace on", "bypass on"], "OL RB BYPASS")],    # RI and DSR low
}


def test_genericups_scenarios(tmp_path):
    from nutpy.sim.genericups import ContactClosureUps

    shim_or_skip()

    def run(upstype):
        root = tmp_path / f"g{upstype}"
        root.mkdir()
        device = ContactClosureUps(upstype)
        with Rig(device, root) as rig:
            drv = rig.start(ours("genericups"), {"upstype": str(upstype)})
            for controls, status in GENERICUPS_SCENARIOS[upstype]:
                for line in controls:
                    rig.control(line)
                drv.wait_value("ups.status", status)
            assert drv.dump()[0]["ups.mfr"] == device.cable.mfr

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(run, GENERICUPS_SCENARIOS))


def test_genericups_cable_pulled_and_shutdown(tmp_path):
    from nutpy.sim.genericups import ContactClosureUps

    shim_or_skip()
    device = ContactClosureUps(4)  # Generic RUPS: CTS raised = on line, CD low = low battery
    with Rig(device, tmp_path) as rig:
        drv = rig.start(ours("genericups"), {"upstype": "4"})
        drv.wait_value("ups.status", "OL")
        rig.control("fault silent")              # every input line low
        drv.wait_value("ups.status", "LB OB")
        rig.control("fault none")
        rig.control("unplug")                    # the ioctls fail: stale
        drv.wait_stale(True)
        rig.control("replug")                    # reopened, the cable powered again
        drv.wait_value("ups.status", "OL")
        drv.stop()
        device.control("set upstype 2")          # APC 940-0020B: shutdown = DTR + RTS
        device.control("fault none")
        proc = subprocess.run(rig.argv(ours("genericups"), "sim", {"upstype": "2"}, "-k"),
                              env=rig.env(), capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        from support.harness import wait_for
        wait_for(lambda: device.output_off, 10, what="the UPS to see DTR+RTS")
        assert device.events == ["shutdown (shutdown lines)"]
