"""The state machine's side of logind's sleep handling (C upsmon 2.8.5's sleep inhibitor):
PrepareForSleep(true) -> SUSPEND_STARTING, then the delay lock released and no polling
until PrepareForSleep(false) -> SUSPEND_FINISHED once, the lock taken again and the
connections re-made quietly; and the clocks as the fallback, never both for one wake-up."""

import subprocess
import sys

from nutpy.upsmon import monitor as mon
from support.upsmon_core import BASE_CONF as BASE
from support.upsmon_core import FakeShell

A = "ups@localhost"

STALE = mon.PollFailed("Data stale")
DOWN = mon.PollFailed("Write error: Broken pipe", dropped=True)


class SleepShell(FakeShell):
    """FakeShell that also answers Doze and records the lock: ``on_sleep`` / ``on_poll``
    / ``on_doze`` run (once each, then cleared) while the core waits in that request, as
    logind's messages arrive at any time; ``suspend_in_doze`` is how long the machine
    sleeps during the next Doze."""

    def __init__(self, conf_text: str, **kw) -> None:
        self.on_sleep = self.on_poll = self.on_doze = None
        self.suspend_in_doze = 0.0
        self.dozes = 0
        super().__init__(conf_text, **kw)

    def _flush(self) -> None:
        for out in self.mon.take_outputs():
            if isinstance(out, mon.SleepLock):
                self.events.append(("LOCK", out.hold))
            else:
                self.mon.out = [out]
                super()._flush()

    def _hook(self, name: str) -> None:
        hook = getattr(self, name)
        if hook is not None:
            setattr(self, name, None)
            hook()

    def _answer(self):
        if isinstance(self.req, mon.Doze):
            self.dozes += 1
            self.t += 1  # the monotonic clock moves a little around the suspend only
            suspended, self.suspend_in_doze = self.suspend_in_doze, 0.0
            self._hook("on_doze")
            return mon.Slept(suspended)
        if isinstance(self.req, mon.Poll):
            self._hook("on_poll")
        elif isinstance(self.req, mon.Sleep):
            self._hook("on_sleep")
        return super()._answer()

    def sequence(self, since: int = 0) -> list:
        """Notifications and lock moves, in order."""
        return [e[1] if e[0] == "NOTIFY" else ("LOCK", e[1]) for e in self.events[since:]
                if e[0] in ("NOTIFY", "LOCK")]


def primary(extra: str = "") -> SleepShell:
    return SleepShell(BASE + f"MONITOR {A} 1 mon pass primary\n" + extra)


def secondary(extra: str = "") -> SleepShell:
    return SleepShell(BASE + f"MONITOR {A} 1 mon pass secondary\n" + extra)


def feed(sh: SleepShell, *statuses) -> None:
    for status in statuses:
        sh.status[A] = status
        sh.cycle()


def go_to_sleep(sh: SleepShell, hours: float = 8) -> int:
    """logind says the OS is about to sleep while the core waits between polls; the
    machine then sleeps ``hours`` during the Doze and logind says it woke."""
    start = len(sh.events)
    sh.on_sleep = sh.mon.os_sleep_starting
    sh.suspend_in_doze = hours * 3600
    sh.on_doze = sh.mon.os_sleep_finished
    return start


def test_sleep_starting_then_finished_in_cs_order():
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL")
    start = go_to_sleep(sh)
    polls = sh.polls
    sh.cycle()
    assert sh.sequence(start) == ["SUSPEND_STARTING", ("LOCK", False),
                                  "SUSPEND_FINISHED", ("LOCK", True)]
    assert sh.dozes == 1
    assert sh.polls == polls + 1          # nothing polled while asleep; one poll after
    assert ("DROP", A, True) in sh.kinds("DROP", start)   # re-made quietly
    logs = sh.logs(start)
    assert "Processing OS going to sleep" in logs
    assert any(line.startswith("Processing OS wake-up after sleep; suspended for 28800")
               for line in logs)
    sh.run_for(60)
    assert sh.types(start).count("SUSPEND_FINISHED") == 1
    assert sh.types(start).count("SUSPEND_STARTING") == 1
    assert not {"COMMBAD", "COMMOK", "NOCOMM"} & set(sh.types(start))


def test_no_polling_while_dozing_even_for_long():
    """Doze answers come back (the shell re-reads PreparingForSleep now and then) while
    the OS is still preparing to sleep: the core keeps dozing, polls nothing."""
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL")
    sh.on_sleep = sh.mon.os_sleep_starting
    polls = sh.polls
    sh.step()
    for _ in range(20):
        assert isinstance(sh.req, mon.Doze)
        sh.step()
    assert sh.polls == polls
    assert sh.types().count("SUSPEND_STARTING") == 1
    sh.mon.os_sleep_finished()
    sh.step()
    sh.cycle()
    assert sh.types().count("SUSPEND_FINISHED") == 1


def test_a_poll_cut_by_the_sleep_counts_for_nothing():
    """The network goes down for the night while we poll: no COMMBAD from that poll."""
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL")
    start = len(sh.events)
    sh.status[A] = DOWN

    def sleeping():
        sh.mon.os_sleep_starting()
        sh.status[A] = "OL"   # answered after the abort: the poll after the wake-up
    sh.on_poll = sleeping
    sh.suspend_in_doze = 3600
    sh.on_doze = sh.mon.os_sleep_finished
    sh.cycle(2)
    assert sh.types(start) == ["SUSPEND_STARTING", "SUSPEND_FINISHED"]


def test_no_false_shutdown_across_the_sleep():
    """On battery when the machine slept; on waking the UPS is unreachable for a while
    (DEADTIME not yet over), then back on line: no shutdown. (That it was unreachable is
    news, COMMBAD; the sleep itself is not.)"""
    sh = secondary()
    feed(sh, "OL", "OB")
    start = go_to_sleep(sh)
    sh.status[A] = STALE
    sh.cycle()
    sh.run_for(12)
    assert not sh.shutdown_requested
    sh.status[A] = "OL"
    sh.run_for(60)
    assert not sh.shutdown_requested
    assert sh.types(start)[:2] == ["SUSPEND_STARTING", "SUSPEND_FINISHED"]
    assert not {"NOCOMM", "SHUTDOWN", "LOWBATT"} & set(sh.types(start))


def test_clocks_and_logind_seeing_one_wakeup_give_one_finished():
    """The Doze measured the suspend and logind said it woke: one SUSPEND_FINISHED."""
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL")
    start = go_to_sleep(sh, hours=1)
    sh.cycle(3)
    assert sh.types(start) == ["SUSPEND_STARTING", "SUSPEND_FINISHED"]


def test_told_too_late_the_clocks_speak_once():
    """No lock (logind refused it): the machine slept at once, and PrepareForSleep(true)
    and (false) both reach us after the wake-up, together with the clocks' word."""
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL")
    start = len(sh.events)

    def both():
        sh.mon.os_sleep_starting()
        sh.mon.os_sleep_finished()
    sh.on_sleep = both
    sh.suspend_next = 3600.0
    sh.cycle(3)
    assert sh.types(start) == ["SUSPEND_FINISHED"]
    assert sh.dozes == 0


def test_finished_arriving_after_the_clocks_is_ignored():
    """PrepareForSleep(true) seen with the wake-up the clocks measured; (false) comes one
    sleep later: it belongs to the wake-up already announced."""
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL")
    start = len(sh.events)
    sh.on_sleep = sh.mon.os_sleep_starting
    sh.suspend_next = 3600.0
    sh.cycle()
    sh.mon.os_sleep_finished()
    sh.cycle(3)
    assert sh.types(start) == ["SUSPEND_FINISHED"]
    assert sh.dozes == 0


def test_suspend_without_logind_word_still_detected_by_clocks():
    """A suspend that bypassed logind (echo mem > /sys/power/state): the clocks tell it;
    the lock we still hold is taken "again" (a no-op in the shell)."""
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL")
    start = len(sh.events)
    sh.suspend_next = 3600.0
    sh.cycle()
    assert sh.sequence(start) == ["SUSPEND_FINISHED", ("LOCK", True)]


def test_exit_signal_while_dozing():
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL")
    sh.on_sleep = sh.mon.os_sleep_starting
    sh.on_doze = lambda: sh.mon.request_exit(15)
    sh.run_to_end()
    assert sh.exit_status == 0
    assert "SUSPEND_FINISHED" not in sh.types()
    assert ("OS was last known to be preparing for sleep, and we have the exit_flag raised "
            "now") in sh.logs()


def test_reload_while_dozing_then_wakeup():
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL")
    start = len(sh.events)
    sh.on_sleep = sh.mon.os_sleep_starting
    sh.on_doze = sh.mon.request_reload
    sh.cycle()
    logs = sh.logs(start)
    assert any(line.startswith("OS was last known to be preparing for sleep, and we were "
                               "interrupted by a reload signal") for line in logs)
    assert "Reloading configuration" in logs
    sh.on_sleep = sh.mon.os_sleep_finished
    sh.cycle(2)
    assert sh.types(start) == ["SUSPEND_STARTING", "SUSPEND_FINISHED"]


def test_bus_lost_while_dozing_falls_back_to_the_clocks():
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL")
    start = len(sh.events)
    sh.on_sleep = sh.mon.os_sleep_starting
    sh.suspend_in_doze = 600.0
    sh.on_doze = sh.mon.os_sleep_unwatched
    sh.cycle(2)
    assert sh.types(start) == ["SUSPEND_STARTING", "SUSPEND_FINISHED"]
    sh.mon.os_sleep_finished()   # too late, and nobody waits for it
    sh.cycle(2)
    assert sh.types(start) == ["SUSPEND_STARTING", "SUSPEND_FINISHED"]


def test_wakeup_does_not_reload_the_configuration():
    """C re-reads upsmon.conf after every wake-up; we do not."""
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL")
    start = go_to_sleep(sh)
    sh.cycle(2)
    assert "SUSPEND_FINISHED" in sh.types(start)
    assert "Reloading configuration" not in sh.logs(start)


def test_fsd_signal_while_dozing_acts_at_once():
    sh = primary()
    feed(sh, "OL")
    sh.on_sleep = sh.mon.os_sleep_starting
    sh.on_doze = sh.mon.request_fsd
    sh.run_to_end()
    assert sh.shutdown_requested
    assert "Got an FSD signal, initiating forced shutdown" in sh.logs()
    assert sh.types() == ["SUSPEND_STARTING", "FSD", "SHUTDOWN"]


def test_sleep_news_does_not_hurry_a_shutdown():
    """During FINALDELAY the OS's sleep must not cut the Sleeps short (nor spin)."""
    sh = primary("FINALDELAY 5\n")
    feed(sh, "OL", "OB LB")
    assert isinstance(sh.req, mon.Sleep) and sh.mon.shutting_down
    sh.mon.os_sleep_starting()
    assert not sh.mon.wants_wakeup


def test_jeepney_stays_out_of_clients_and_start_up():
    """jeepney loads only when the monitoring process starts its watch."""
    code = ("import sys\n"
            "import nutpy.clients.upsc, nutpy.client.aio, nutpy.upsmon.main\n"
            "import nutpy.upsmon.shell, nutpy.upsmon.logind\n"
            "print(sorted(m for m in sys.modules if m.startswith('jeepney')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_system_bus_found_as_libsystemd_finds_it(monkeypatch):
    from nutpy.upsmon import logind

    monkeypatch.delenv("DBUS_SYSTEM_BUS_ADDRESS", raising=False)
    assert logind.system_bus_address() == "unix:path=/run/dbus/system_bus_socket"
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/tmp/x")
    assert logind.system_bus_address() == "unix:path=/tmp/x"
