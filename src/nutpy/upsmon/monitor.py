"""The upsmon state machine, after C upsmon 2.8.5 (``clients/upsmon.c``), without I/O.

``Monitor.run()`` is a generator holding C's main loop: it yields *requests* the shell
carries out (poll these UPSes, set FSD, count logins, sleep, read the configuration,
ask the root parent to shut down...) and is sent each request's result. Before every
``send`` the shell sets ``Monitor.now`` to a monotonic clock reading; nothing here reads
a clock. Fire-and-forget outputs (notifications, log lines, connection drops, wall
messages) pile up in ``Monitor.out`` in the order C produces them; the shell takes them
with ``take_outputs()`` before carrying out the next request. Signals are methods
(``request_fsd``, ``request_reload``, ``request_exit``) that set flags the loop reads at
the points where C reads its signal flags.

Where the behaviour deliberately differs from C (docs/upsmon.md has the list):

* time is monotonic: a changed wall clock never looks like a dead UPS or a wake-up;
* a UPS that stops answering is "assumed dead" because of its last known ALARM, CAL,
  BYPASS, OFF or OVER state only once it has been silent for DEADTIME, as an OB UPS is
  (C 2.8.5 does it at the first failed poll: NUT #2794);
* after a suspend (logind's PrepareForSleep(false), or where nobody told us, the shell
  comparing CLOCK_BOOTTIME with CLOCK_MONOTONIC) connections are re-made quietly and
  readings from before the sleep count for nothing until a fresh poll or DEADTIME; one
  wake-up gives one SUSPEND_FINISHED whichever way it was seen;
* the poll interval is worked out after each cycle from every UPS's state (C keeps one
  global that the last handled event sets, so a UPS going back on line shortened the
  interval while another was still on battery);
* the alarm text seen last is kept per UPS (C keeps one for all);
* ECO from ``ups.mode.buzzwords`` needs one of the ECO words in it (C 2.8.5's test is
  inverted: any buzzword meant ECO).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Generator

from . import config as cfg
from .notify import Notification

NEVER = None

# What the OS told us about sleeping (logind's PrepareForSleep); C's sleep_inhibitor_status
AWAKE, SLEEP_STARTING, ASLEEP = "awake", "starting", "asleep"

# Status flags (C's ST_*), as words.
ONLINE, ONBATT, LOWBATT, FSD, CAL, OFF, BYPASS, ECO, ALARM, OVER, TRIM, BOOST = (
    "OL", "OB", "LB", "FSD", "CAL", "OFF", "BYPASS", "ECO", "ALARM", "OVER", "TRIM", "BOOST")

ECO_BUZZWORDS = (":ECO", ":ESS", ":HE", ":SMART")
IGNORED_TOKENS = ("HB", "CHRG", "DISCHRG")
NOPARENT_INTERVAL = 120
HOSTSYNC_POLL = 0.25

# libupsclient's error numbers (UPSCLI_ERR_*), which C prints in the poll-failure
# throttling messages; keyed by the message text our client library gives.
UPSCLI_ERR_NONE = -1
_UPSCLI_ERRORS = {
    "Unknown error": 0, "Variable not supported by UPS": 1, "No such host": 2,
    "Invalid response from server": 3, "Unknown UPS": 4, "Invalid list type": 5,
    "Access denied": 6, "Password required": 7, "Password incorrect": 8,
    "Missing argument": 9, "Data stale": 10, "Variable unknown": 11, "Already logged in": 12,
    "Already set password": 13, "Unknown variable type": 14, "Unknown variable": 15,
    "Read-only variable": 16, "New value is too long": 17, "Invalid value for variable": 18,
    "Set command failed": 19, "Unknown instant command": 20, "Instant command failed": 21,
    "Instant command not supported": 22, "Invalid username": 23, "Already set username": 24,
    "Unknown command": 25, "Invalid argument": 26, "Send failure": 27, "Receive failure": 28,
    "socket failure": 29, "bind failure": 30, "Connection failure": 31, "Write error": 32,
    "Read error": 33, "Invalid password": 34, "Username required": 35,
    "SSL is not available": 36, "SSL error": 37, "Server disconnected": 38,
    "Driver not connected": 39, "Memory allocation failure": 40, "Parse error": 41,
    "Protocol error": 42,
}
UPSCLI_ERR_UNKNOWNUPS = 4


def upscli_error_code(message: str) -> int:
    """libupsclient's error number for one of its messages (``Write error: ...`` -> 32)."""
    code = _UPSCLI_ERRORS.get(message)
    if code is None:
        code = _UPSCLI_ERRORS.get(message.split(":", 1)[0], 0)
    return code


# -- requests (yielded; the shell answers) ----------------------------------------------


@dataclass
class Poll:
    """Poll each UPS (connect and log in first where needed); answer: one outcome per
    system, in order (``Polled``, ``PollFailed``, ``ConnectFailed``, ``NotLoggedIn``)."""
    systems: list[str]


@dataclass
class SetFSD:
    """``FSD <ups>`` on the UPS's connection; answer: the reply line, or ``NetError``."""
    system: str


@dataclass
class NumLogins:
    """``GET NUMLOGINS`` for each UPS; answer: a list of int (None where it failed)."""
    systems: list[str]


@dataclass
class Sleep:
    """Wait ``seconds`` unless a signal comes first; answer: ``Slept``."""
    seconds: float


@dataclass
class Doze:
    """The OS is going to sleep: wait until it has woken up (``os_sleep_finished``) or a
    signal comes; answer: ``Slept`` (what the clocks measured during the wait)."""


@dataclass
class ReadConfig:
    """Read upsmon.conf again; answer: a list of ``parseconf.Line`` or an ``OSError``."""


@dataclass
class RequestShutdown:
    """Have SHUTDOWNCMD run and POWERDOWNFLAG written (by the root parent); answer: None."""


@dataclass
class CheckParent:
    """Is the root parent still there? Answer: bool."""


# -- outputs (fire and forget, in order) --------------------------------------------------


@dataclass
class Log:
    level: str  # alert, crit, error, warning, notice, info, debug
    text: str
    debug: int = 0


@dataclass
class Notify:
    notification: Notification


@dataclass
class Wall:
    text: str


@dataclass
class Drop:
    """Close the UPS's connection (``quiet``: not a communication loss)."""
    system: str
    quiet: bool = False


@dataclass
class DebugLevel:
    level: int


@dataclass
class SleepLock:
    """Take (``hold``) or release the OS's sleep delay lock (logind's inhibitor); a no-op
    where there is none."""
    hold: bool


# -- answers --------------------------------------------------------------------------


@dataclass
class Polled:
    status: str
    buzzwords: str | None = None
    alarm: str | None = None  # ups.alarm when the status says ALARM; None: not available
    logged_in: bool = True


@dataclass
class PollFailed:
    message: str  # libupsclient's text: "Data stale", "Server disconnected", ...
    dropped: bool = False  # the connection is gone (the shell closed it)
    logged_in: bool = True


@dataclass
class ConnectFailed:
    message: str
    config_error: bool = False  # CERTVERIFY without CERTPATH: C refuses to connect


@dataclass
class NotLoggedIn:
    """Connected, but USERNAME/PASSWORD/LOGIN/PRIMARY failed (the shell said why)."""


@dataclass
class NetError:
    message: str


@dataclass
class Slept:
    suspended: float = 0.0  # seconds the machine was suspended during the wait


# -- per-UPS state ----------------------------------------------------------------------


def _age(now: float, then: float | None) -> float:
    return math.inf if then is None else now - then


def _secs(value: float) -> int:
    return int(value) if math.isfinite(value) else int(2**31 - 1)


@dataclass
class UpsState:
    entry: cfg.MonitorEntry
    flags: set[str] = field(default_factory=set)
    logged_in: bool = False
    # -1: never seen (so the first observation does not notify), 0, 1
    commstate: int = -1
    linestate: int = -1
    offstate: int = -1
    bypassstate: int = -1
    ecostate: int = -1
    alarmstate: int = -1
    overstate: int = -1
    pollfail_state: int = UPSCLI_ERR_NONE
    pollfail_count: int = -1
    lastpoll: float | None = NEVER
    lastnoncrit: float | None = NEVER
    lastrbwarn: float | None = NEVER
    lastncwarn: float | None = NEVER
    fsd_notified: bool = False
    offsince: float | None = None
    oblbsince: float | None = None
    oversince: float | None = None
    other_tokens: dict[str, None] = field(default_factory=dict)
    alarms_prev: str = ""
    # after a suspend: readings from before it do not count until a poll or DEADTIME
    stale_readings: bool = False

    @property
    def system(self) -> str:
        return self.entry.system

    @property
    def primary(self) -> bool:
        return self.entry.primary


Request = Any
Gen = Generator[Request, Any, int]


class Monitor:
    def __init__(self, conf: cfg.UpsmonConfig, *, split_mode: bool = True,
                 cli_debug: int = 0) -> None:
        self.conf = conf
        self.split_mode = split_mode
        self.cli_debug = cli_debug
        self.upses: list[UpsState] = [UpsState(m) for m in conf.monitors]
        self.now = 0.0
        self.out: list = []
        self.sleepval = conf.pollfreq
        self.fsd_requested = False
        self.reload_requested = False
        self.exit_signal: int | None = None
        self.last_parent_warning: float | None = None
        self.shutting_down = False
        self.os_sleep = AWAKE
        self.os_woke = False  # PrepareForSleep(false) came and is not handled yet

    # -- signals (called by the shell between steps) ------------------------------------

    def request_fsd(self) -> None:
        self.fsd_requested = True

    def request_reload(self) -> None:
        self.reload_requested = True

    def request_exit(self, sig: int) -> None:
        self.exit_signal = sig

    def os_sleep_starting(self) -> None:
        """The OS is about to sleep (logind: PrepareForSleep(true))."""
        if self.os_sleep == AWAKE:
            self.os_sleep = SLEEP_STARTING

    def os_sleep_finished(self) -> None:
        """The OS has woken up (PrepareForSleep(false)). Ignored when we are not waiting
        for it: the clocks may have reported this wake-up already."""
        if self.os_sleep != AWAKE:
            self.os_woke = True

    def os_sleep_unwatched(self) -> None:
        """We can no longer hear about sleep (the bus went away): stop waiting for a wake-up
        message; the clocks tell a suspend from here on."""
        self.os_sleep = AWAKE
        self.os_woke = False

    @property
    def wants_wakeup(self) -> bool:
        """True when a pending signal or OS sleep event should cut the current Sleep (or
        Doze) short."""
        if self.exit_signal is not None or self.fsd_requested or self.reload_requested:
            return True
        # once shutting down, the OS's sleep is no reason to hurry (nor to spin)
        return not self.shutting_down and (self.os_sleep == SLEEP_STARTING or self.os_woke)

    # -- outputs --------------------------------------------------------------------------

    def take_outputs(self) -> list:
        out, self.out = self.out, []
        return out

    def log(self, level: str, text: str) -> None:
        self.out.append(Log(level, text))

    def debug(self, level: int, text: str) -> None:
        self.out.append(Log("debug", text, level))

    def notify(self, ntype: str, ups: UpsState | None, extra: str | None = None) -> None:
        self.debug(2, f"do_notify: ntype {ntype}")
        self.out.append(Notify(self.conf.notification(ntype, ups.system if ups else None,
                                                      extra)))

    def ups(self, system: str) -> UpsState | None:
        for u in self.upses:
            if u.system == system:
                return u
        return None

    # -- the main loop ---------------------------------------------------------------------

    def run(self) -> Gen:
        """C's main loop; returns the exit status."""
        while self.exit_signal is None:
            if self.fsd_requested:
                self.log("warning", "Got an FSD signal, initiating forced shutdown")
                return (yield from self.forceshutdown())
            if self.reload_requested:
                status = yield from self.reload()
                if status is not None:
                    return status
            if self.os_sleep == SLEEP_STARTING:
                suspended = yield from self.doze()
                if self.exit_signal is not None:
                    self.log("warning", "OS was last known to be preparing for sleep, and we "
                                        "have the exit_flag raised now")
                    break
                self.after_wait(suspended)
                if self.os_sleep == ASLEEP and self.reload_requested:
                    self.log("warning", "OS was last known to be preparing for sleep, and we "
                                        "were interrupted by a reload signal. If the sleep "
                                        "does happen later, the system might shut down after "
                                        "wake-up if UPS info is stale after a known critical "
                                        "power state!")
                continue
            if self.os_woke:
                self.after_wait(0.0)
            sleep_state = self.os_sleep
            outcomes = yield Poll([u.system for u in self.upses])
            if self.os_sleep != sleep_state or self.os_woke:
                # the OS began to sleep (or woke) while we polled: what the poll saw (a
                # network going down for the night) is not about the UPSes
                self.debug(2, "Aborting UPS polling sub-loop because OS is preparing for "
                              "sleep or just woke up")
                continue
            for u, outcome in zip(list(self.upses), outcomes):
                self.handle_outcome(u, outcome)
            if self.recalc():
                return (yield from self.forceshutdown())
            if self.split_mode:
                alive = yield CheckParent()
                if not alive:
                    self.parent_gone()
            if self.fsd_requested or self.exit_signal is not None:
                continue
            self.sleepval = self.poll_interval()
            self.debug(4, f"Beginning {self.sleepval}-sec delay between main loop cycles")
            slept = yield Sleep(self.sleepval)
            self.after_wait(slept.suspended if slept is not None else 0.0)
        self.log("info", f"Signal {self.exit_signal}: exiting")
        for u in self.upses:
            self.out.append(Drop(u.system, quiet=True))
        return 0

    # -- polling results -------------------------------------------------------------------

    def handle_outcome(self, u: UpsState, outcome) -> None:
        if isinstance(outcome, Polled):
            u.logged_in = outcome.logged_in
            self.pollfail_recovered(u)
            self.parse_status(u, outcome.status, outcome.buzzwords, outcome.alarm)
        elif isinstance(outcome, PollFailed):
            u.logged_in = outcome.logged_in
            self.poll_failed(u, outcome)
        elif isinstance(outcome, ConnectFailed):
            if outcome.config_error:
                self.log("error", "Configuration error: CERTVERIFY is set, but CERTPATH isn't")
                self.log("error", f"UPS [{u.system}]: Connection impossible, dropping link")
                self.ups_is_gone(u)
                self.drop_connection(u)
            else:
                self.log("error", f"UPS [{u.system}]: connect failed: {outcome.message}")
                self.ups_is_gone(u)
        elif isinstance(outcome, NotLoggedIn):
            u.logged_in = False

    def pollfail_recovered(self, u: UpsState) -> None:
        if (self.conf.pollfail_log_throttle_max >= 0
                and u.pollfail_state != UPSCLI_ERR_NONE):
            self.log("error", f"Poll UPS [{u.system}] recovered from failure state code "
                              f"{u.pollfail_state} - now {UPSCLI_ERR_NONE}")
        u.pollfail_state = UPSCLI_ERR_NONE
        u.pollfail_count = -1

    def poll_failed(self, u: UpsState, failure: PollFailed) -> None:
        code = upscli_error_code(failure.message)
        limit = self.conf.pollfail_log_throttle_max
        self.debug(3, f"pollups: Poll UPS [{u.system}] after getvar(status) failed: "
                      f"upserror={code}")
        if limit < 0:
            loud = True
        elif u.pollfail_state == code:
            if limit == 0:
                loud = False
            else:
                loud = u.pollfail_count >= limit - 1
                u.pollfail_count = 0 if loud else u.pollfail_count + 1
        else:
            if limit == 0:
                self.log("error", f"Poll UPS [{u.system}] failure state code changed from "
                                  f"{u.pollfail_state} to {code}; report below will not be "
                                  "repeated to syslog:")
            else:
                self.log("error", f"Poll UPS [{u.system}] failure state code changed from "
                                  f"{u.pollfail_state} to {code}; report below will only be "
                                  f"repeated to syslog every {limit} polling loop cycles "
                                  f"({limit * self.conf.pollfreq} sec):")
            u.pollfail_state = code
            u.pollfail_count = 0
            loud = True
        if code == UPSCLI_ERR_UNKNOWNUPS:
            text = (f"Poll UPS [{u.system}] failed - [{u.entry.upsname}] does not exist on "
                    f"server {u.entry.host}")
        else:
            text = f"Poll UPS [{u.system}] failed - {failure.message}"
        if loud:
            self.log("error", text)
        else:
            self.debug(1, text)
        self.ups_is_gone(u)
        if failure.dropped:
            self.drop_connection(u, closed=True)

    def drop_connection(self, u: UpsState, closed: bool = False) -> None:
        """C ``drop_connection``: the next good poll is a recovery (COMMOK)."""
        self.debug(2, f"Dropping connection to UPS [{u.system}]")
        u.commstate = 0
        u.pollfail_count = -1
        u.pollfail_state = UPSCLI_ERR_NONE
        u.logged_in = False
        if not closed:
            self.out.append(Drop(u.system))

    def ups_is_alive(self, u: UpsState) -> None:
        u.lastpoll = self.now
        u.stale_readings = False
        if u.commstate == 1:
            return
        if u.commstate == 0:
            self.notify("COMMOK", u)
        u.commstate = 1

    def ups_is_gone(self, u: UpsState) -> None:
        if u.commstate != 0:
            u.commstate = 0
            self.notify("COMMBAD", u)
            return
        nocomm = self.conf.nocommwarntime
        if _age(self.now, u.lastpoll) < nocomm:
            return
        if _age(self.now, u.lastncwarn) > nocomm:
            self.notify("NOCOMM", u)
            u.lastncwarn = self.now

    # -- status words ----------------------------------------------------------------------

    def parse_status(self, u: UpsState, status: str, buzzwords: str | None = None,
                     alarm: str | None = None) -> None:
        self.debug(2, f"parse_status: [{status}]")
        if not status:
            self.ups_is_gone(u)
            return
        self.ups_is_alive(u)
        # C looks for these as substrings of the whole status, before the word loop
        if "LB" not in status:
            u.flags.discard(LOWBATT)
        if "FSD" not in status:
            u.flags.discard(FSD)
            u.fsd_notified = False
        if "CAL" not in status:
            self.leave(u, CAL, "NOTCAL")
        if "OFF" not in status:
            u.offsince = None
            u.offstate = 0
            self.leave(u, OFF, "NOTOFF")
        if "BYPASS" not in status:
            u.bypassstate = 0
            self.leave(u, BYPASS, "NOTBYPASS")
        if "ALARM" not in status:
            u.alarmstate = 0
            self.leave(u, ALARM, "NOTALARM")
        if "OVER" not in status:
            u.oversince = None
            u.overstate = 0
            self.leave(u, OVER, "NOTOVER")
        if "TRIM" not in status:
            self.leave(u, TRIM, "NOTTRIM")
        if "BOOST" not in status:
            self.leave(u, BOOST, "NOTBOOST")
        eco_buzzword = bool(buzzwords) and any(w in buzzwords for w in ECO_BUZZWORDS)
        if "ECO" not in status and not eco_buzzword:
            u.ecostate = 0
            self.leave(u, ECO, "NOTECO")
        elif eco_buzzword:
            self.enter_eco(u)

        other: list[str] = []
        seen_other: set[str] = set()
        changed = 0
        for word in status.split(" "):
            if not word:
                continue
            self.debug(3, f"parsing: [{word}]")
            key = word.upper()
            if key == "OL":
                self.on_line(u)
            elif key == "OB":
                self.on_batt(u)
            elif key == "LB":
                if LOWBATT not in u.flags:
                    self.notify("LOWBATT", u)
                    u.flags.add(LOWBATT)
            elif key == "RB":
                if _age(self.now, u.lastrbwarn) > self.conf.rbwarntime:
                    self.notify("REPLBATT", u)
                    u.lastrbwarn = self.now
            elif key == "CAL":
                self.enter(u, CAL, "CAL")
            elif key == "OFF":
                self.is_off(u)
            elif key == "BYPASS":
                if BYPASS not in u.flags:
                    u.bypassstate = 1
                    self.enter(u, BYPASS, "BYPASS")
            elif key == "ECO":
                self.enter_eco(u)
            elif key == "ALARM":
                self.is_alarm(u, alarm)
            elif key == "OVER":
                if OVER in u.flags:
                    if u.oversince is None:
                        u.oversince = self.now
                else:
                    u.oversince = self.now
                    u.overstate = 1
                    self.enter(u, OVER, "OVER")
            elif key == "TRIM":
                self.enter(u, TRIM, "TRIM")
            elif key == "BOOST":
                self.enter(u, BOOST, "BOOST")
            elif key == "FSD":
                if FSD not in u.flags:
                    if not u.fsd_notified:
                        u.fsd_notified = True
                        self.notify("FSD", u)
                    u.flags.add(FSD)
            elif key in IGNORED_TOKENS:
                self.debug(4, f"Known and ignored status token: [{word}]")
            else:
                self.debug(4, f"Unexpected status token: [{word}]")
                other.append(word)
                if word not in u.other_tokens:
                    changed += 1
                    u.other_tokens[word] = None
                seen_other.add(word)
            self.update_crittimer(u)
        for word in list(u.other_tokens):
            if word not in seen_other:
                del u.other_tokens[word]
                changed += 1
        if changed:
            if other:
                self.notify("OTHER", u, " ".join(other))
            else:
                self.notify("NOTOTHER", u)

    def enter(self, u: UpsState, flag: str, ntype: str) -> None:
        if flag in u.flags:
            return
        self.notify(ntype, u)
        u.flags.add(flag)

    def leave(self, u: UpsState, flag: str, ntype: str) -> None:
        if flag in u.flags:
            self.notify(ntype, u)
            u.flags.discard(flag)

    def enter_eco(self, u: UpsState) -> None:
        if ECO not in u.flags:
            u.ecostate = 1
            self.enter(u, ECO, "ECO")

    def on_line(self, u: UpsState) -> None:
        if ONLINE in u.flags:
            return
        if u.linestate != -1:
            self.notify("ONLINE", u)
        u.linestate = 1
        u.flags.add(ONLINE)
        u.flags.discard(ONBATT)

    def on_batt(self, u: UpsState) -> None:
        if ONBATT in u.flags:
            return
        u.linestate = 0
        self.notify("ONBATT", u)
        u.flags.add(ONBATT)
        u.flags.discard(ONLINE)

    def is_off(self, u: UpsState) -> None:
        limit = self.conf.offduration
        if OFF in u.flags:
            if u.offsince is None:
                u.offsince = self.now
            elif limit > 0 and self.now - u.offsince > limit:
                self.log("warning", f"ups_is_off: {u.system} is in state OFF for "
                                    f"{_secs(self.now - u.offsince)} sec, assuming the line is "
                                    "not fed (if it is calibrating etc., check the upsmon "
                                    "'OFFDURATION' option)")
                u.offstate = 1
            return
        u.offsince = self.now
        if limit == 0:
            self.log("warning", f"ups_is_off: {u.system} is in state OFF, assuming the line "
                                "is not fed (if it is calibrating etc., check the upsmon "
                                "'OFFDURATION' option)")
            u.offstate = 1
        elif limit < 0:
            self.debug(1, f"ups_is_off: {u.system} is in state OFF, but we are not assuming "
                          "the line is not fed (due to upsmon 'OFFDURATION' option)")
        self.notify("OFF", u)
        u.flags.add(OFF)

    def is_alarm(self, u: UpsState, alarm: str | None) -> None:
        if ALARM in u.flags:
            if alarm is not None and alarm != u.alarms_prev:
                u.alarms_prev = alarm
                self.notify("ALARM", u, alarm)
            return
        u.alarmstate = 1
        self.notify("ALARM", u, alarm if alarm is not None else "n/a")
        u.alarms_prev = alarm or ""
        u.flags.add(ALARM)

    def update_crittimer(self, u: UpsState) -> None:
        if ONBATT not in u.flags or LOWBATT not in u.flags or CAL in u.flags:
            u.lastnoncrit = self.now

    # -- how urgent things are -------------------------------------------------------------

    def poll_interval(self) -> float:
        conf = self.conf
        alert = False
        for u in self.upses:
            if u.flags & {ONBATT, OFF, BYPASS, ALARM}:
                alert = True
            if OVER in u.flags and conf.overduration >= 0:
                alert = True
        interval = conf.pollfreqalert if alert else conf.pollfreq
        if conf.oblbduration > 0 and any(u.oblbsince is not None for u in self.upses):
            interval = min(interval, math.gcd(conf.pollfreqalert or 1, conf.oblbduration))
        return interval

    def is_critical(self, u: UpsState) -> bool:
        conf, now = self.conf, self.now
        if FSD in u.flags:
            return True
        silent = _age(now, u.lastpoll)
        if u.stale_readings and silent <= conf.deadtime:
            return False
        if u.commstate == 0:
            dead = silent > conf.deadtime
            if TRIM in u.flags:
                self.log("warning", f"UPS [{u.system}] was last known to be trimming incoming "
                                    "voltage and currently is not communicating, but we make "
                                    "no assumptions if it is dead now")
            if BOOST in u.flags:
                self.log("warning", f"UPS [{u.system}] was last known to be boosting incoming "
                                    "voltage and currently is not communicating, but we make "
                                    "no assumptions if it is dead now")
            if not dead:
                self.debug(1, f"UPS [{u.system}] is not communicating for {_secs(silent)} sec;"
                              f" waiting for DEADTIME ({conf.deadtime} sec) before assuming "
                              "anything from its last known state")
            elif self._critical_when_dead(u):
                return True
        if OFF in u.flags and conf.offduration >= 0 and u.offstate == 1:
            self.log("warning", f"UPS [{u.system}] is reported as (administratively) OFF")
            return True
        if ONBATT not in u.flags or LOWBATT not in u.flags:
            if u.oblbsince is not None:
                self.log("warning", f"is_ups_critical: seems that UPS [{u.entry.upsname}] "
                                    "returned from OB+LB state now after spending "
                                    f"{_secs(now - u.oblbsince)} seconds in it")
                u.oblbsince = None
            return False
        if CAL in u.flags:
            self.log("warning", f"is_ups_critical: seems that UPS [{u.entry.upsname}] is OB+LB "
                                "now, but it is also calibrating - not declaring a critical "
                                "state")
            return False
        if conf.oblbduration > 0:
            if u.oblbsince is None:
                u.oblbsince = now
                interval = math.gcd(conf.pollfreqalert or 1, conf.oblbduration)
                self.log("warning", f"is_ups_critical: seems that UPS [{u.entry.upsname}] is "
                                    f"OB+LB now, but OBLBDURATION={conf.oblbduration} - not "
                                    "declaring a critical state just now, but will bump the "
                                    f"polling rate to {interval} (from POLLFREQALERT="
                                    f"{conf.pollfreqalert}) and wait to see if this situation "
                                    "dissipates soon")
                if not u.primary and conf.hostsync > conf.oblbduration:
                    self.log("warning", f"is_ups_critical: HOSTSYNC={conf.hostsync} exceeds "
                                        "OBLBDURATION and would be effectively ignored on this "
                                        "secondary upsmon client system")
                return False
            spent = now - u.oblbsince
            if spent < conf.oblbduration:
                self.log("warning", f"is_ups_critical: seems that UPS [{u.entry.upsname}] is "
                                    f"still OB+LB for {_secs(spent)} sec out of "
                                    f"{conf.oblbduration} delay")
                return False
            self.log("warning", f"is_ups_critical: seems that UPS [{u.entry.upsname}] is still "
                                f"OB+LB for {_secs(spent)} sec out of {conf.oblbduration} delay "
                                "- proceeding with shutdown alerts")
        if u.primary:
            return True
        waited = _age(now, u.lastnoncrit)
        if waited > conf.hostsync:
            self.log("warning", f"Giving up on the primary for UPS [{u.system}] after "
                                f"{_secs(waited)} sec since last comms")
            return True
        return False

    def _critical_when_dead(self, u: UpsState) -> bool:
        conf, now = self.conf, self.now
        if u.overstate == 1 or OVER in u.flags:
            if conf.overduration >= 0:
                over_for = _age(now, u.oversince)
                if over_for < conf.overduration:
                    self.log("warning", f"UPS [{u.system}] was last known to be overloaded for "
                                        f"{_secs(over_for)} sec out of {conf.overduration} sec "
                                        "threshold and currently is not communicating, just so "
                                        "you know (waiting for OVERDURATION to elapse)")
                else:
                    self.log("warning", f"UPS [{u.system}] was last known to be overloaded for "
                                        "longer than the set threshold of "
                                        f"{conf.overduration} sec and is still not "
                                        "communicating, assuming dead")
                    return True
            else:
                self.log("warning", f"UPS [{u.system}] was last known to be overloaded and "
                                    "currently is not communicating, but we make no "
                                    "assumptions if it is dead now")
        if u.alarmstate == 1 or ALARM in u.flags:
            if conf.alarmcritical == 1:
                self.log("warning", f"UPS [{u.system}] was last known to be in an ALARM state "
                                    "and currently is not communicating, assuming dead. If this "
                                    "is in error and causes unwanted shutdowns, consider "
                                    "disabling the upsmon ALARMCRITICAL option.")
                return True
            self.debug(1, f"UPS [{u.system}] was last known to be in an ALARM state and "
                          "currently is not communicating. It is not assumed dead as the "
                          "upsmon ALARMCRITICAL option was disabled.")
        if CAL in u.flags:
            self.log("warning", f"UPS [{u.system}] was last known to be calibrating and "
                                "currently is not communicating, assuming dead")
            return True
        if u.bypassstate == 1 or BYPASS in u.flags:
            self.log("warning", f"UPS [{u.system}] was last known to be on BYPASS and "
                                "currently is not communicating, assuming dead")
            return True
        if u.offstate == 1 or (conf.offduration >= 0 and OFF in u.flags):
            self.log("warning", f"UPS [{u.system}] was last known to be (administratively) OFF "
                                "and currently is not communicating, assuming dead")
            return True
        if u.linestate == 0:
            self.debug(1, f"UPS [{u.system}] was last known to be not fully online and "
                          "currently is not communicating, just so you know (waiting for "
                          "DEADTIME to elapse)")
        return False

    def recalc(self) -> bool:
        """C ``recalc``: True when too few supplies are healthy (forced shutdown)."""
        power = 0
        for u in self.upses:
            if _age(self.now, u.lastpoll) > self.conf.deadtime and ONBATT in u.flags:
                self.debug(1, f"Promoting dead UPS: {u.system}")
                u.flags.add(LOWBATT)
            if self.is_critical(u):
                self.debug(1, f"Critical UPS: {u.system}")
            else:
                power += u.entry.power_value
        self.debug(3, f"Current power value: {power}")
        self.debug(3, f"Minimum power value: {self.conf.minsupplies}")
        if power < self.conf.minsupplies:
            self.log("warning", f"Too few UPS(es) are healthy ({power}<{self.conf.minsupplies}),"
                                " initiating forced shutdown")
            return True
        return False

    def parent_gone(self) -> None:
        if _age(self.now, self.last_parent_warning) < NOPARENT_INTERVAL:
            return
        self.last_parent_warning = self.now
        self.notify("NOPARENT", None)
        self.log("alert", "Parent died - shutdown impossible")

    def doze(self) -> Generator[Request, Any, float]:
        """The OS is going to sleep: say so, let it (release the delay lock) and wait for
        the wake-up or a signal; returns the seconds the clocks saw suspended."""
        self.os_sleep = ASLEEP
        self.notify("SUSPEND_STARTING", None)
        self.log("info", "Processing OS going to sleep")
        self.out.append(SleepLock(hold=False))
        self.debug(1, "Dozing off until system tells us otherwise; send a SIGHUP or SIGTERM "
                      "to break the loop manually")
        suspended = 0.0
        while self.os_sleep == ASLEEP and not self.wants_wakeup:
            slept = yield Doze()
            suspended += slept.suspended if slept is not None else 0.0
        self.debug(1, f"Dozing off finished: os_sleep={self.os_sleep} woke={self.os_woke}")
        return suspended

    def after_wait(self, suspended: float) -> None:
        """After a Sleep or Doze: one wake-up from the OS's word or, where it said nothing
        (no logind, or its message is not here yet), from the clocks; never both."""
        if self.os_woke:
            self.os_woke = False
            self.os_sleep = AWAKE
            self.woke_up(suspended)
        elif suspended > 0 and self.os_sleep != ASLEEP:
            # slept without a word, or told too late to matter: the word that may still
            # come about this sleep is then ignored (os_sleep_finished when AWAKE)
            self.os_sleep = AWAKE
            self.woke_up(suspended)

    def woke_up(self, suspended: float) -> None:
        """The machine was suspended for ``suspended`` seconds: connections are likely dead
        and readings old; judge nothing on them until fresh ones come (or DEADTIME)."""
        self.notify("SUSPEND_FINISHED", None)
        self.log("info", f"Processing OS wake-up after sleep; suspended for "
                         f"{suspended:.06f} seconds")
        for u in self.upses:
            u.lastpoll = self.now
            u.lastnoncrit = self.now
            u.oblbsince = None
            if u.offsince is not None:
                u.offsince = self.now
            if u.oversince is not None:
                u.oversince = self.now
            u.stale_readings = True
            u.logged_in = False
            self.out.append(Drop(u.system, quiet=True))
        self.out.append(SleepLock(hold=True))

    # -- forced shutdown ---------------------------------------------------------------------

    def forceshutdown(self) -> Gen:
        self.shutting_down = True
        conf = self.conf
        self.debug(1, "Shutting down any UPSes in PRIMARY mode...")
        self.debug(2, f"forceshutdown: For this system, timing options: SHUTDOWNEXIT="
                      f"{conf.shutdownexit} HOSTSYNC={conf.hostsync} FINALDELAY="
                      f"{conf.finaldelay} DEADTIME={conf.deadtime}")
        primaries = [u for u in self.upses if u.primary]
        for u in primaries:
            reply = yield SetFSD(u.system)
            self.fsd_reply(u, reply)
        if not primaries:
            self.debug(1, "This system is not a primary for any device, shutting down now...")
        else:
            self.debug(1, "This system is a primary for some device(s); waiting (up to "
                          f"HOSTSYNC={conf.hostsync} seconds) for secondaries to logout...")
            yield from self.sync_secondaries(primaries)
        return (yield from self.doshutdown())

    def fsd_reply(self, u: UpsState, reply) -> None:
        if isinstance(reply, NetError):
            self.log("error", f"FSD set on UPS {u.system} failed: {reply.message}")
        elif reply.startswith("OK"):
            self.debug(1, f"setfsd: data server confirmed setting FSD for UPS [{u.system}]")
            if not u.fsd_notified:
                u.fsd_notified = True
                self.notify("FSD", u)
        else:
            self.log("error", f"FSD set on UPS {u.system} failed: {reply}")

    def sync_secondaries(self, primaries: list[UpsState]) -> Gen:
        start = self.now
        count = 0
        while True:
            count += 1
            logins = yield NumLogins([u.system for u in primaries])
            maxlogins = max((n for n in logins if n is not None), default=0)
            self.debug(3, "sync_secondaries: Max data server logins per UPS still active: "
                          f"{maxlogins}")
            if maxlogins <= 1:
                return
            if self.now - start > self.conf.hostsync:
                self.log("info", "Host sync timer expired, forcing shutdown")
                return
            if count == 1:
                self.notify("SHUTDOWN_HOSTSYNC", None)
            yield Sleep(HOSTSYNC_POLL)

    def doshutdown(self) -> Gen:
        conf = self.conf
        self.log("crit", "Executing automatic power-fail shutdown")
        self.out.append(Wall("Executing automatic power-fail shutdown\n"))
        self.notify("SHUTDOWN", None)
        if conf.finaldelay > 0:
            self.debug(1, f"doshutdown: waiting for FINALDELAY={conf.finaldelay} (to let "
                          "notification handling complete)...")
            end = self.now + conf.finaldelay
            while self.now < end:
                yield Sleep(end - self.now)
        start = self.now
        yield RequestShutdown()
        if conf.shutdownexit == 0:
            self.debug(1, "Exiting upsmon immediately after initiating shutdown, by default")
        else:
            if conf.shutdownexit < 0:
                self.log("warning", "Configured to not exit upsmon after initiating shutdown")
            else:
                self.log("warning", "Configured to only exit upsmon SHUTDOWNEXIT="
                                    f"{conf.shutdownexit} sec after initiating shutdown")
            if self.exit_signal is not None:
                self.log("warning", "Note that 'exit_flag' was raised by a signal, so this "
                                    "process will not in fact wait that long")
            while self.exit_signal is None:
                # keep the sessions alive so that upsd does not count us gone
                yield NumLogins([u.system for u in self.upses])
                if conf.shutdownexit > 0 and self.now - start > conf.shutdownexit:
                    self.debug(3, "doshutdown: SHUTDOWNEXIT timeout expired")
                    break
                yield Sleep(1)
        self.log("warning", "Exiting upsmon program after initiating shutdown")
        return 0

    # -- reload ---------------------------------------------------------------------------

    def reload(self) -> Generator[Request, Any, int | None]:
        """C ``reload_conf``; returns an exit status when the new configuration is fatal."""
        self.reload_requested = False
        self.log("info", "Reloading configuration")
        lines = yield ReadConfig()
        if isinstance(lines, OSError):
            self.log("error", f"Reload failed: can't open {self.conf.path}: {lines.strerror}")
            return None
        try:
            new, msgs = cfg.load(lines, self.conf.path, self.conf, split_mode=self.split_mode)
        except cfg.ConfigFatal as e:
            for level, text in e.messages:
                self.log(level, text)
            self.log("error", str(e))
            return 1
        for level, text in msgs:
            self.log(level, text)
        if new.debug_min is not None:
            self.log("info", f"Applying DEBUG_MIN {new.debug_min} from upsmon.conf")
            self.out.append(DebugLevel(new.debug_min))
        else:
            self.log("info", f"Applying debug level {self.cli_debug} from original command "
                             "line arguments")
            self.out.append(DebugLevel(self.cli_debug))
        old = {u.system: u for u in self.upses}
        upses = []
        for entry in new.monitors:
            u = old.pop(entry.system, None)
            if u is None:
                u = UpsState(entry)
                self.log("info", f"UPS: {entry.system} "
                                 + (f"({'primary' if entry.primary else 'secondary'}) "
                                    f"(power value {entry.power_value})" if entry.power_value
                                    else "(monitoring only)"))
            else:
                self.redefine(u, entry)
            upses.append(u)
        for u in old.values():
            self.log("notice", f"No longer monitoring UPS [{u.system}]")
            self.drop_connection(u)
        if new.pollfail_log_throttle_max != self.conf.pollfail_log_throttle_max:
            for u in upses:
                u.pollfail_count = -1
                u.pollfail_state = UPSCLI_ERR_NONE
        self.upses = upses
        self.conf = new
        total = new.total_power
        if total < new.minsupplies:
            self.log("crit", f"Fatal error: total power value ({total}) less than MINSUPPLIES "
                             f"({new.minsupplies})")
            self.log("error", "Impossible power configuration, unable to continue")
            return 1
        return None

    def redefine(self, u: UpsState, entry: cfg.MonitorEntry) -> None:
        old = u.entry
        if old.power_value != entry.power_value:
            self.log("info", f"UPS [{u.system}]: redefined power value to "
                             f"{entry.power_value}")
        if old.username != entry.username:
            self.log("info", f"UPS [{u.system}]: redefined username")
            self._retry_if_not_logged_in(u)
        if old.password != entry.password:
            self.log("info", f"UPS [{u.system}]: redefined password")
            self._retry_if_not_logged_in(u)
        was_primary = old.primary
        u.entry = entry
        if entry.primary and not was_primary:
            self.log("info", f"UPS [{u.system}]: redefined as a primary")
            self.drop_connection(u)
        elif was_primary and not entry.primary:
            self.log("info", f"UPS [{u.system}]: redefined as a secondary")

    def _retry_if_not_logged_in(self, u: UpsState) -> None:
        if not u.logged_in:
            self.log("info", f"UPS [{u.system}]: retrying connection")
            self.drop_connection(u)
