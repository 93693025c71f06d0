"""The upssched timer daemon's state and protocol, after C upssched 2.8.5, without I/O.

The daemon reads parseconf lines from its Unix socket:

* ``START <name> <seconds> [<NOTIFYTYPE> <UPSNAME> <NOTIFYMSG>]`` adds a timer (timers
  with the same name are independent);
* ``START-SHARED ...`` joins the event to the first timer of that name, else starts one;
* ``CANCEL <name> [<cmd> [<NOTIFYTYPE> <UPSNAME> <NOTIFYMSG>]]`` removes every timer of
  that name, or runs CMDSCRIPT ``<cmd>`` when there was none;
* ``CANCEL-MATCHED ...`` the same, only for timers that ``<UPSNAME>`` took part in;
* ``LIST-TIMERS`` lists them.

Replies are ``OK`` or ``ERR UNKNOWN``. C 2.8.0 clients send START and CANCEL without the
event fields; 2.8.5's daemon refuses such a START, this one takes it (no event, so no
environment for the command).

Times are monotonic seconds the caller passes in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..common.cnum import strtol

EMPTY_WAIT = 15  # seconds with no timer before the daemon leaves


@dataclass
class Command:
    """Run CMDSCRIPT with ``arg``, with ``env`` added to (or, for None values, removed from)
    the daemon's environment."""

    arg: str
    env: dict[str, str | None]


@dataclass
class Timer:
    name: str
    due: float
    notifytypes: list[str] = field(default_factory=list)
    upsnames: list[str] = field(default_factory=list)
    notifymsgs: list[str] = field(default_factory=list)

    def join(self, ntype: str | None, ups: str | None, msg: str | None) -> None:
        for value, values in ((ntype, self.notifytypes), (ups, self.upsnames),
                              (msg, self.notifymsgs)):
            if value and value not in values:
                values.append(value)

    def env(self) -> dict[str, str | None]:
        """C 2.8.5 sets these from the events that started or joined the timer (a timer
        without them gets none: the daemon dropped the ones it was started with)."""
        return {"UPSNAME": ",".join(self.upsnames) or None,
                "NOTIFYTYPE": ",".join(self.notifytypes) or None,
                "NOTIFYMSG": ".\t".join(self.notifymsgs) or None}


class TimerTable:
    def __init__(self) -> None:
        self.timers: list[Timer] = []
        self.empty_since: float | None = None

    # -- the daemon protocol ------------------------------------------------------------------

    def handle(self, words: list[str], now: float, wall: float = 0.0
               ) -> tuple[list[str], list[Command], list[tuple[str, str]]]:
        """One request line: (reply lines, commands to run, log messages)."""
        logs: list[tuple[str, str]] = []
        commands: list[Command] = []
        if not words:
            return ["ERR UNKNOWN"], commands, self._unknown(words)
        cmd = words[0]
        if cmd == "LIST-TIMERS":
            return self.list_lines(now, wall) + ["OK"], commands, logs
        if cmd in ("CANCEL", "CANCEL-MATCHED") and len(words) >= 2:
            event = (words + [None] * 6)[3:6] if len(words) >= 6 else (None, None, None)
            command = self.cancel(words[1], words[2] if len(words) >= 3 else None, *event,
                                  matched=cmd == "CANCEL-MATCHED", now=now)
            if command is not None:
                commands.append(command)
            return ["OK"], commands, logs
        if cmd in ("START", "START-SHARED") and len(words) >= 3:
            event = words[3:6] + [None] * (6 - max(len(words), 3))
            logs += self.start(words[1], words[2], *event[:3], shared=cmd == "START-SHARED",
                               now=now)
            return ["OK"], commands, logs
        return ["ERR UNKNOWN"], commands, self._unknown(words)

    @staticmethod
    def _unknown(words: list[str]) -> list[tuple[str, str]]:
        return [("info", "Unknown command on socket: ")] + [
            ("info", f"arg {i}: {w}") for i, w in enumerate(words)]

    # -- timers ---------------------------------------------------------------------------

    def start(self, name: str, offset: str, ntype: str | None, ups: str | None,
              msg: str | None, *, shared: bool, now: float) -> list[tuple[str, str]]:
        seconds = strtol(offset)
        if seconds < 0:
            return [("info", "bogus offset for timer, ignoring")]
        if shared:
            for timer in self.timers:
                if timer.name == name:
                    timer.join(ntype, ups, msg)
                    return []
        timer = Timer(name, now + seconds)
        timer.join(ntype, ups, msg)
        self.timers.append(timer)
        self.empty_since = None
        return []

    def cancel(self, name: str, cmd: str | None, ntype: str | None, ups: str | None,
               msg: str | None, *, matched: bool, now: float) -> Command | None:
        """Remove the timers called ``name`` (with ``matched``: those ``ups`` is part of;
        the documented CANCEL-TIMER-MATCHED). No timer removed and a ``cmd``: run it."""
        keep, removed = [], 0
        for timer in self.timers:
            hit = timer.name == name and (not matched or not ups or ups in timer.upsnames)
            if hit:
                removed += 1
            else:
                keep.append(timer)
        self.timers = keep
        if not self.timers and removed and self.empty_since is None:
            self.empty_since = now
        if removed or not cmd:
            return None
        return Command(cmd, {"UPSNAME": ups or None, "NOTIFYTYPE": ntype or None,
                             "NOTIFYMSG": msg or None})

    def fire(self, now: float) -> list[Command]:
        """The timers that are due, in the order they were started, removed from the
        table."""
        due = [t for t in self.timers if now >= t.due]
        if due:
            self.timers = [t for t in self.timers if now < t.due]
            if not self.timers:
                self.empty_since = now
        return [Command(t.name, t.env()) for t in due]

    def next_due(self) -> float | None:
        return min((t.due for t in self.timers), default=None)

    def idle_done(self, now: float) -> bool:
        """True once the table has been empty for EMPTY_WAIT seconds: time to leave."""
        if self.timers:
            self.empty_since = None
            return False
        if self.empty_since is None:
            self.empty_since = now
        return now - self.empty_since >= EMPTY_WAIT

    def list_lines(self, now: float, wall: float) -> list[str]:
        """C's LIST-TIMERS listing; ``wall`` is the wall-clock time matching ``now``."""
        lines = ["BEGIN LIST TIMERS"]
        for t in self.timers:
            left = t.due - now
            lines.append("\t".join([
                t.name, str(int(math.floor(wall + left))), f"{left:g}",
                ",".join(t.notifytypes) or '""', ",".join(t.upsnames) or '""',
                ".\t".join(t.notifymsgs) or '""']))
        lines.append("END LIST TIMERS")
        return lines
