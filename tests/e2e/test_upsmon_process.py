"""Our upsmon as real processes: the privilege split seen from /proc, -p, -r (chroot),
-c stop/reload/fsd/test against a running instance, the duplicate check, a reload that
changes what is watched, TLS, a whole nutpy stack, and the edge cases NUT users reported
(NUT issue numbers in the names)."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess

import pytest

from support.harness import our_prog, require_c_nut, require_root, wait_for
from support.upsmon_stack import Stack, Upsmon, proc_status

pytestmark = pytest.mark.interop  # the server in these tests is C upsd


@pytest.fixture
def stack():
    require_c_nut()
    s = Stack(upses=("zeta", "eta"))
    yield s
    s.close()


def uid_of(pid: int) -> int:
    return int(proc_status(pid)["Uid"].split()[0])


@pytest.mark.root
def test_three_processes_seen_from_proc(stack):
    """Root parent; monitor as RUN_AS_USER in a chroot, named by the PID file; notifier
    as RUN_AS_USER outside it. NOTIFYCMD runs unprivileged, SHUTDOWNCMD as root."""
    require_root()
    nut = pwd.getpwnam("nut")
    jail = stack.root / "jail"
    jail.mkdir()
    m = Upsmon(stack, "split", "ours", ["zeta@PORT 1 mon monpw primary"],
               args=("-F", "-r", str(jail))).start()
    try:
        # logged in: the monitor has dropped its privileges and chrooted by then
        wait_for(lambda: len(m.processes()) == 3 and stack.numlogins("zeta") == 1, 15, 0.05,
                 "three processes, logged in")
        parent, monitor, notifier = m.processes()
        assert int(proc_status(monitor)["PPid"]) == parent
        assert int(proc_status(notifier)["PPid"]) == monitor
        assert uid_of(parent) == 0
        assert uid_of(monitor) == uid_of(notifier) == nut.pw_uid
        assert os.readlink(f"/proc/{monitor}/root") == str(jail)
        assert os.readlink(f"/proc/{notifier}/root") == "/"
        assert os.readlink(f"/proc/{parent}/root") == "/"
        assert int((m.state / "upsmon.pid").read_text()) == monitor
        stack.set_status("zeta", "OB")
        m.wait_types("ONBATT")
        stack.set_status("zeta", "OB LB")
        assert m.wait_exit() == 0
    finally:
        m.stop()
    assert {r[4] for r in m.notify_records()} == {str(nut.pw_uid)}
    assert stack.shutdowns() == ["split 0"]
    assert m.pdflag.read_bytes() == b"upsmon-shutdown-file"


@pytest.mark.root
def test_single_root_process_with_p(stack):
    require_root()
    m = Upsmon(stack, "mono", "ours", ["zeta@PORT 1 mon monpw primary"],
               args=("-F", "-p")).start()
    try:
        stack.set_status("zeta", "OB")
        m.wait_types("ONBATT")
        wait_for(lambda: m.processes() == [m.proc.pid], 10, 0.05, "the notification over")
        assert uid_of(m.proc.pid) == 0
        assert int((m.state / "upsmon.pid").read_text()) == m.proc.pid
        stack.set_status("zeta", "OB LB")
        assert m.wait_exit() == 0
    finally:
        m.stop()
    assert "Warning: running as one big root process by request (upsmon -p)" in m.stderr()
    assert {r[4] for r in m.notify_records()} == {"0"}
    assert stack.shutdowns() == ["mono 0"]


def test_signals_through_c_and_the_pid_file(stack):
    m = Upsmon(stack, "ctl", "ours", ["zeta@PORT 1 mon monpw primary"]).start()
    try:
        wait_for(lambda: (m.state / "upsmon.pid").exists() and stack.numlogins("zeta") == 1,
                 15, 0.05, "upsmon up")
        second = m.run("-F", timeout=20)
        assert second.returncode == 1
        assert second.stdout.splitlines()[1:] == [
            "Fatal error: A previous upsmon instance is already running!",
            "Either stop the previous instance first, or use the 'reload' command."]
        # reload: a second MONITOR line appears, and another NOTIFYCMD
        other = m.bin / "notify2"
        other.write_text(f"#!/bin/sh\necho \"$NOTIFYTYPE $UPSNAME\" >> {m.log}/notify2.log\n")
        other.chmod(0o755)
        m.conf.write_text(m.conf.read_text().replace(f"NOTIFYCMD {m.bin}/notify\n",
                                                     f"NOTIFYCMD {other}\n")
                          + f"MONITOR eta@127.0.0.1:{stack.port} 0 mon monpw secondary\n")
        assert m.run("-c", "reload").returncode == 0
        wait_for(lambda: stack.numlogins("eta") == 1, 15, 0.05, "eta watched after reload")
        assert "Signal 1: User requested RELOAD" in m.stderr()
        assert "Reloading configuration" in m.stderr()
        stack.set_status("eta", "OB")
        wait_for(lambda: (m.log / "notify2.log").exists(), 15, 0.05, "the new NOTIFYCMD")
        assert (m.log / "notify2.log").read_text() == f"ONBATT {m.system('eta')}\n"
        assert "ONBATT" not in m.types()
        # fsd: a forced shutdown now
        assert m.run("-c", "f").returncode == 0  # any prefix of the command word
        assert m.wait_exit() == 0
    finally:
        m.stop()
    assert "Got an FSD signal, initiating forced shutdown" in m.stderr()
    assert stack.status("zeta").startswith("FSD")
    assert stack.shutdowns() == ["ctl 0" if os.geteuid() == 0 else f"ctl {os.geteuid()}"]


def test_stop_command_ends_all_processes(stack):
    m = Upsmon(stack, "stopme", "ours", ["zeta@PORT 1 mon monpw primary"]).start()
    try:
        wait_for(lambda: stack.numlogins("zeta") == 1, 15, 0.05, "logged in")
        pids = m.processes()
        assert m.run("-c", "stop").returncode == 0
        m.wait_exit(10)
        wait_for(lambda: not any(os.path.exists(f"/proc/{p}") and
                                 proc_status(p)["State"][0] != "Z" for p in pids),
                 10, 0.05, "all processes gone")
    finally:
        m.stop()
    err = m.stderr()
    assert "Signal 15: User requested EXIT" in err and "Signal 15: exiting" in err
    assert "upsmon parent: exiting (child exited)" in err
    assert m.proc.returncode == 1  # C's parent exits 1 when its child is gone
    assert stack.shutdowns() == []
    assert (m.state / "upsmon.pid").exists()  # left behind, as C leaves it
    # a PID file naming a process that is gone: -c fails as C's does
    gone = subprocess.Popen(["true"])
    gone.wait()
    (m.state / "upsmon.pid").write_text(f"{gone.pid}\n")
    stale = m.run("-c", "stop")
    assert stale.returncode == 1 and "kill: No such process" in stale.stderr


def test_c_test_sends_each_notification_once(stack):
    m = Upsmon(stack, "tester", "ours", ["zeta@PORT 1 mon monpw primary"],
               extra="NOTIFYFLAG ONLINE IGNORE\nNOTIFYMSG ONBATT \"test: %s on battery\"\n")
    r = m.run("-c", "test")
    assert r.returncode == 0, r.stderr
    sent = m.notify_records()
    types = [rec[0] for rec in sent]
    assert "ONLINE" not in types
    assert sorted(types) == sorted(set(types))
    assert len(types) == 30                      # every type once but the ignored one
    assert ["ONBATT", m.system("zeta"), f"test: {m.system('zeta')} on battery"] == \
        next(rec[:3] for rec in sent if rec[0] == "ONBATT")
    assert next(rec for rec in sent if rec[0] == "SHUTDOWN")[1] == ""
    if os.geteuid() == 0:
        assert {rec[4] for rec in sent} == {str(pwd.getpwnam("nut").pw_uid)}
    assert f"A shutdown would run, as root by the root parent: {m.bin}/shutdown" in r.stdout
    assert stack.shutdowns() == [] and not m.pdflag.exists()
    assert stack.numlogins("zeta") == 0  # it does not talk to upsd at all


# -- edge cases C users reported ---------------------------------------------------------


def test_cal_then_driver_error_is_not_a_dead_ups_nut_2794(stack):
    """'OL CAL' and then the driver's data goes stale for a moment: C 2.8.5 'assumes
    dead' and shuts down at once. We wait DEADTIME for the UPS to come back."""
    m = Upsmon(stack, "cal", "ours", ["zeta@PORT 1 mon monpw primary"],
               extra="DEADTIME 8\n").start()
    try:
        stack.set_status("zeta", "OL CAL")
        m.wait_types("CAL")
        stack.freeze_driver("zeta")
        m.wait_types("COMMBAD")
        stack.thaw_driver("zeta")
        m.wait_types("COMMOK")
        stack.set_status("zeta", "OL")
        m.wait_types("NOTCAL")
        assert m.proc.poll() is None and stack.shutdowns() == []
    finally:
        m.stop()
    assert "assuming dead" not in m.stderr()


def test_off_on_one_ups_does_not_affect_another_nut_2822(stack):
    """zeta is OFF past OFFDURATION (its power no longer counts); eta's data goes stale
    for a moment; with MINSUPPLIES 1 of 2 the machine stays up."""
    m = Upsmon(stack, "two", "ours", ["zeta@PORT 1 mon monpw primary",
                                      "eta@PORT 1 mon monpw primary"],
               extra="OFFDURATION 1\nMINSUPPLIES 1\nDEADTIME 8\n").start()
    try:
        wait_for(lambda: stack.numlogins("eta") == 1, 15, 0.05, "logged in")
        stack.set_status("zeta", "OL OFF")
        wait_for(lambda: "is reported as (administratively) OFF" in m.stderr(), 15, 0.05,
                 "zeta counted out")
        stack.freeze_driver("eta")
        m.wait_types("COMMBAD")
        stack.thaw_driver("eta")
        m.wait_types("COMMOK")
        assert m.proc.poll() is None and stack.shutdowns() == []
    finally:
        m.stop()
    assert f"UPS [{m.system('eta')}] was last known" not in m.stderr()


@pytest.mark.parametrize("upsd", ["ours"])
def test_whole_nutpy_stack_power_failure(upsd):
    """Our driver, our upsd, our upsmon: OL, OB, OB LB, shutdown."""
    s = Stack(upses=("zeta",), upsd=upsd)
    try:
        m = Upsmon(s, "nutpy", "ours", ["zeta@PORT 1 mon monpw primary"]).start()
        try:
            wait_for(lambda: s.numlogins("zeta") == 1, 15, 0.05, "logged in")
            s.set_status("zeta", "OB")
            m.wait_types("ONBATT")
            s.set_status("zeta", "OB LB")
            assert m.wait_exit() == 0
        finally:
            m.stop()
        assert sorted(m.types()) == ["FSD", "LOWBATT", "ONBATT", "SHUTDOWN"]
        assert len(s.shutdowns()) == 1
    finally:
        s.close()


def test_connect_failure_at_start_then_recovery(stack):
    """upsd down at start: COMMBAD on the first poll, NOCOMM on the second (C counts the
    silence from 'never'), COMMOK once it is there."""
    stack.stop_upsd()
    m = Upsmon(stack, "early", "ours", ["zeta@PORT 1 sec secpw secondary"]).start()
    try:
        m.wait_types("COMMBAD", "NOCOMM")
        stack.start_upsd()
        m.wait_types("COMMOK")
    finally:
        m.stop()
    assert m.types()[:3] == ["COMMBAD", "NOCOMM", "COMMOK"]
    assert f"UPS [{m.system('zeta')}]: connect failed: Connection failure: Connection " \
           "refused" in m.stderr()


def test_certverify_without_certpath_refuses_to_connect(stack):
    m = Upsmon(stack, "tls", "ours", ["zeta@PORT 1 sec secpw secondary"],
               extra="CERTVERIFY 1\n").start()
    try:
        m.wait_types("COMMBAD")
    finally:
        m.stop()
    assert "Configuration error: CERTVERIFY is set, but CERTPATH isn't" in m.stderr()
    assert stack.numlogins("zeta") == 0


def test_forcessl_against_a_server_without_tls(stack):
    m = Upsmon(stack, "force", "ours", ["zeta@PORT 1 sec secpw secondary"],
               extra="FORCESSL 1\n").start()
    try:
        m.wait_types("COMMBAD")
    finally:
        m.stop()
    assert f"UPS [{m.system('zeta')}]: connect failed: SSL is not available" in m.stderr()
    assert stack.numlogins("zeta") == 0


def test_signal_to_the_background_daemon(stack):
    """Without -F: the command returns, the daemon runs on, -c stop ends it."""
    m = Upsmon(stack, "bg", "ours", ["zeta@PORT 1 sec secpw secondary"], args=())
    r = m.run(timeout=20)
    assert r.returncode == 0
    try:
        wait_for(lambda: (m.state / "upsmon.pid").exists() and stack.numlogins("zeta") == 1,
                 15, 0.05, "daemon up")
        pid = int((m.state / "upsmon.pid").read_text())
        assert m.run("-c", "stop").returncode == 0
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, 0.05, "daemon gone")
    finally:
        pid_text = (m.state / "upsmon.pid").read_text() if (m.state / "upsmon.pid").exists() \
            else ""
        if pid_text.strip().isdigit() and os.path.exists(f"/proc/{pid_text.strip()}"):
            os.kill(int(pid_text), signal.SIGTERM)
    wait_for(lambda: stack.numlogins("zeta") == 0, 10, 0.05, "logged out")


def test_help_and_version():
    r = subprocess.run([our_prog("upsmon"), "-h"], capture_output=True, text=True, timeout=20,
                       env=dict(os.environ, NUT_CONFPATH="/nonexistent"))
    assert r.returncode == 0
    assert r.stdout.startswith("Network UPS Tools upsmon ")
    assert "-K\t\tchecks POWERDOWNFLAG (***NOT CONFIGURED***)" in r.stdout
    r = subprocess.run([our_prog("upsmon"), "-V"], capture_output=True, text=True, timeout=20)
    assert (r.returncode, r.stdout) == (0, r.stdout.splitlines()[0] + "\n")


def test_parent_death_is_announced(stack):
    """The root parent killed: the monitor says so (NOPARENT), every two minutes, and
    carries on watching."""
    m = Upsmon(stack, "orphan", "ours", ["zeta@PORT 1 sec secpw secondary"]).start()
    try:
        wait_for(lambda: len(m.processes()) == 3 and stack.numlogins("zeta") == 1, 15, 0.05,
                 "up")
        parent, monitor, _ = m.processes()
        os.kill(parent, signal.SIGKILL)
        m.proc.wait(10)
        wait_for(lambda: "NOPARENT" in [r[0] for r in m.notify_records()], 15, 0.05,
                 "NOPARENT")
        assert os.path.exists(f"/proc/{monitor}")
        stack.set_status("zeta", "OB")
        wait_for(lambda: "ONBATT" in [r[0] for r in m.notify_records()], 15, 0.05, "ONBATT")
    finally:
        m.stop()
        pid = int((m.state / "upsmon.pid").read_text())
        if os.path.exists(f"/proc/{pid}"):
            os.kill(pid, signal.SIGTERM)
    assert "Parent died - shutdown impossible" in m.stderr()
    assert m.notify_records()[0][:3] == ["NOPARENT", "",
                                         "upsmon parent process died - shutdown impossible"]
