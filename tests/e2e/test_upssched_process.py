"""upssched as real processes, beside C upssched 2.8.0 where they should agree: EXECUTE,
timers started, cancelled, shared, fired with the event's environment (2.8.5), exactly
one timer daemon under concurrent calls, C's client with our daemon and the reverse, and
the daemon leaving when idle."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from support.harness import c_prog, our_prog, require_c_nut, wait_for

CMD = """#!/bin/sh
echo "$#|$*|${UPSNAME-unset}|${NOTIFYTYPE-unset}|${NOTIFYMSG-unset}" >> "$(dirname "$0")/out.log"
"""


class Sched:
    """A directory with upssched.conf, a CMDSCRIPT that records its calls, PIPEFN and
    LOCKFN; runs C's upssched or ours there."""

    def __init__(self, at_lines: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="nutpy-upssched-"))
        (self.dir / "cmd").write_text(CMD)
        os.chmod(self.dir / "cmd", 0o755)
        self.write(at_lines)

    def write(self, at_lines: str, head: str | None = None) -> None:
        if head is None:
            head = (f"CMDSCRIPT {self.dir}/cmd\nPIPEFN {self.dir}/upssched.pipe\n"
                    f"LOCKFN {self.dir}/upssched.lock\n")
        (self.dir / "upssched.conf").write_text(head + at_lines)

    def run(self, impl: str, ntype: str | None, ups: str | None = "ups@localhost",
            *args: str, wait: bool = True):
        env = dict(os.environ, NUT_CONFPATH=str(self.dir), NUT_PIDPATH=str(self.dir))
        for key, value in (("UPSNAME", ups), ("NOTIFYTYPE", ntype)):
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        prog = our_prog("upssched") if impl == "ours" else c_prog("upssched")
        argv = [prog, *args]
        if not wait:
            return subprocess.Popen(argv, env=env, cwd=self.dir, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        return subprocess.run(argv, env=env, cwd=self.dir, capture_output=True, text=True,
                              timeout=30)

    def calls(self) -> list[str]:
        try:
            return (self.dir / "out.log").read_text().splitlines()
        except FileNotFoundError:
            return []

    def daemons(self) -> list[int]:
        """Timer daemons started here (their working directory is this one)."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{entry}/cwd") != str(self.dir):
                    continue
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read()
                with open(f"/proc/{entry}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if b"upssched" in cmdline and state != "Z":
                found.append(int(entry))
        return found

    def close(self) -> None:
        for pid in self.daemons():
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def sched():
    made = []

    def make(at_lines: str) -> Sched:
        s = Sched(at_lines)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.mark.interop
def test_execute_like_c(sched):
    """EXECUTE runs ``<CMDSCRIPT> <arg>`` through the shell, unquoted, in the calling
    process, with upsmon's UPSNAME and NOTIFYTYPE."""
    require_c_nut()
    at = ('AT ONBATT * EXECUTE "two words"\nAT onbatt ups@localhost EXECUTE one\n'
          "AT ONBATT other@host EXECUTE never\nAT ONLINE * EXECUTE never\n")
    outputs = {}
    for impl in ("c", "ours"):
        s = sched(at)
        r = s.run(impl, "ONBATT", "ups@localhost", "UPS ups@localhost on battery")
        assert r.returncode == 0, r.stderr
        outputs[impl] = s.calls()
    assert outputs["ours"] == outputs["c"] == [
        "2|two words|ups@localhost|ONBATT|unset", "1|one|ups@localhost|ONBATT|unset"]


@pytest.mark.interop
@pytest.mark.parametrize("head,message", [
    ("PIPEFN /p\nLOCKFN /l\n", "CMDSCRIPT must be set before any ATs in the config file!"),
    ("CMDSCRIPT /c\nLOCKFN /l\n", "PIPEFN must be set before any ATs in the config file!"),
    ("CMDSCRIPT /c\nPIPEFN /p\n", "LOCKFN must be set before any ATs in the config file!"),
])
def test_missing_settings_like_c(sched, head, message):
    require_c_nut()
    for impl in ("c", "ours"):
        s = sched("")
        s.write("AT ONBATT * EXECUTE x\n", head=head)
        r = s.run(impl, "ONBATT")
        assert r.returncode == 1
        assert r.stdout.splitlines()[-1] == message
        assert message in r.stderr


def test_needs_upsmon_environment(sched):
    s = sched("")
    r = s.run("ours", None)
    assert r.returncode == 1
    assert r.stdout == ("Error: environment variables UPSNAME and NOTIFYTYPE must be set.\n"
                        "This program should only be run from upsmon(8).\n")


def test_invalid_command_is_logged_and_ignored(sched):
    s = sched("AT ONBATT * FROB x\nAT ONBATT * EXECUTE after\n")
    r = s.run("ours", "ONBATT", "u@h", "msg")
    assert r.returncode == 0
    assert "Invalid command: FROB\t[x]\t[(null)]\t[ONBATT]\t[u@h]\t[msg]" in r.stderr
    assert s.calls() == ["1|after|u@h|ONBATT|unset"]


def test_timers_fire_cancel_and_share(sched):
    s = sched("AT ONBATT * START-TIMER warn 1\n"
              "AT ONBATT * START-TIMER-SHARED shared 1\n"
              "AT LOWBATT * START-TIMER-SHARED shared 1\n"
              "AT ONLINE * CANCEL-TIMER warn backonline\n"
              "AT ONLINE * CANCEL-TIMER-MATCHED shared\n")
    assert s.run("ours", "ONBATT", "a@h", "on battery a").returncode == 0
    assert s.run("ours", "LOWBATT", "b@h", "low b").returncode == 0
    assert s.run("ours", "ONBATT", "c@h", "on battery c").returncode == 0
    wait_for(lambda: len(s.calls()) == 3, 10, 0.05, "the timers to fire")
    calls = s.calls()
    # each START-TIMER is a timer of its own; the shared one gathered the events
    assert sorted(calls) == sorted([
        "1|warn|a@h|ONBATT|on battery a", "1|warn|c@h|ONBATT|on battery c",
        "1|shared|a@h,b@h,c@h|ONBATT,LOWBATT|on battery a.\tlow b.\ton battery c"])
    # no timer left: CANCEL-TIMER's command runs instead, with the caller's event
    assert s.run("ours", "ONLINE", "a@h", "back").returncode == 0
    wait_for(lambda: len(s.calls()) == 4, 10, 0.05, "the cancel command")
    assert s.calls()[-1] == "1|backonline|a@h|ONLINE|back"


def test_cancel_before_it_fires(sched):
    s = sched("AT ONBATT * START-TIMER warn 2\nAT ONLINE * CANCEL-TIMER warn\n"
              "AT ONBATT * START-TIMER other 2\nAT ONLINE * EXECUTE cancelled\n")
    s.run("ours", "ONBATT")
    listed = s.run("ours", None, None, "-l")
    assert listed.returncode == 0
    assert sorted(line.split("\t")[0] for line in listed.stdout.splitlines()) == \
        ["other", "warn"]
    s.run("ours", "ONLINE")
    wait_for(lambda: len(s.calls()) == 2, 10, 0.05, "the other timer")
    assert sorted(c.split("|")[1] for c in s.calls()) == ["cancelled", "other"]


def test_cancel_without_a_daemon_starts_none(sched):
    s = sched("AT ONLINE * CANCEL-TIMER warn\n")
    assert s.run("ours", "ONLINE").returncode == 0
    assert s.daemons() == [] and not (s.dir / "upssched.pipe").exists()


def test_exactly_one_daemon_under_concurrent_calls(sched):
    s = sched("AT ONBATT * START-TIMER warn 2\n")
    procs = [s.run("ours", "ONBATT", f"u{i}@h", f"m{i}", wait=False) for i in range(16)]
    for p in procs:
        p.wait(30)
        assert p.returncode == 0, p.stderr.read()
    assert len(s.daemons()) == 1
    wait_for(lambda: len(s.calls()) == 16, 15, 0.05, "all 16 timers")
    assert sorted(int(c.split("|")[2][1:-2]) for c in s.calls()) == list(range(16))
    assert len(s.daemons()) == 1


@pytest.mark.interop
def test_c_client_with_our_daemon_and_ours_with_c_daemon(sched):
    """A C 2.8.0 upssched and ours may share PIPEFN: whoever starts the daemon, the other's
    requests work (2.8.0 sends START without the event fields)."""
    require_c_nut()
    s = sched("AT ONBATT * START-TIMER warn 1\n")
    assert s.run("ours", "ONBATT", "a@h").returncode == 0
    assert s.run("c", "ONBATT", "b@h").returncode == 0
    wait_for(lambda: len(s.calls()) == 2, 10, 0.05, "both timers (our daemon)")
    assert sorted(c.split("|")[1] for c in s.calls()) == ["warn", "warn"]
    s2 = sched("AT ONBATT * START-TIMER warn 1\n")
    assert s2.run("c", "ONBATT", "a@h").returncode == 0
    assert s2.run("ours", "ONBATT", "b@h").returncode == 0
    wait_for(lambda: len(s2.calls()) == 2, 10, 0.05, "both timers (C's daemon)")


def test_daemon_leaves_when_idle(sched):
    s = sched("AT ONBATT * START-TIMER warn 1\n")
    start = time.monotonic()
    assert s.run("ours", "ONBATT").returncode == 0
    daemon = s.daemons()
    assert len(daemon) == 1
    assert int((s.dir / "upssched.pid").read_text()) == daemon[0]
    wait_for(lambda: not s.daemons(), 40, 0.2, "the idle daemon to leave")
    assert time.monotonic() - start >= 15  # 15 s with no timer
    assert not (s.dir / "upssched.pipe").exists()
    # and the next call starts a new one
    assert s.run("ours", "ONBATT").returncode == 0
    assert len(s.daemons()) == 1


