"""upsmon's notification vocabulary: the event types with NUT 2.8.5's stock messages, the
NOTIFYFLAG flags, and how a message is built from its format (C ``do_notify``).

Pure: no logging, no processes."""

from __future__ import annotations

from dataclasses import dataclass

IGNORE = 1
SYSLOG = 2
WALL = 4
EXEC = 8
DEFAULT_FLAGS = SYSLOG | WALL

FLAG_NAMES = {"SYSLOG": SYSLOG, "WALL": WALL, "EXEC": EXEC, "IGNORE": IGNORE}

# Content of POWERDOWNFLAG (no newline); -K checks that the file starts with it.
SDMAGIC = "upsmon-shutdown-file"

# C's SMALLBUF: a message longer than this is cut (511 characters and the NUL).
MESSAGE_MAX = 511

# Type name -> stock message, in C 2.8.5's table order (``upsmon -c test`` follows it).
STOCK_MESSAGES: dict[str, str] = {
    "ONLINE": "UPS %s on line power",
    "ONBATT": "UPS %s on battery",
    "LOWBATT": "UPS %s battery is low",
    "FSD": "UPS %s: forced shutdown in progress",
    "COMMOK": "Communications with UPS %s established",
    "COMMBAD": "Communications with UPS %s lost",
    "SHUTDOWN": "Auto logout and shutdown proceeding",
    "SHUTDOWN_HOSTSYNC": "Shutdown initiated; primary system is waiting for secondaries to "
                         "log out or time out",
    "REPLBATT": "UPS %s battery needs to be replaced",
    "NOCOMM": "UPS %s is unavailable",
    "NOPARENT": "upsmon parent process died - shutdown impossible",
    "CAL": "UPS %s: calibration in progress",
    "NOTCAL": "UPS %s: calibration finished",
    "OFF": "UPS %s: administratively OFF or asleep",
    "NOTOFF": "UPS %s: no longer administratively OFF or asleep",
    "BYPASS": "UPS %s: on bypass (powered, not protecting)",
    "NOTBYPASS": "UPS %s: no longer on bypass",
    "ECO": "UPS %s: in ECO mode (as defined by vendor)",
    "NOTECO": "UPS %s: no longer in ECO mode",
    "ALARM": "UPS %s: one or more active alarms: [%s]",
    "NOTALARM": "UPS %s is no longer in an alarm state (no active alarms)",
    "OVER": "UPS %s: overloaded",
    "NOTOVER": "UPS %s: no longer overloaded",
    "TRIM": "UPS %s: trimming incoming voltage",
    "NOTTRIM": "UPS %s: no longer trimming incoming voltage",
    "BOOST": "UPS %s: boosting incoming voltage",
    "NOTBOOST": "UPS %s: no longer boosting incoming voltage",
    "OTHER": "UPS %s: has at least one unclassified status token: [%s]",
    "NOTOTHER": "UPS %s has no unclassified status tokens anymore",
    "SUSPEND_STARTING": "OS is entering sleep/suspend/hibernate mode",
    "SUSPEND_FINISHED": "OS just finished sleep/suspend/hibernate mode, de-activating "
                        "obsolete UPS readings to avoid an unfortunate shutdown",
}

TYPES = tuple(STOCK_MESSAGES)


def lookup_type(name: str) -> str | None:
    """The canonical type name for ``name`` (C compares case-insensitively)."""
    upper = name.upper()
    return upper if upper in STOCK_MESSAGES else None


def parse_flags(text: str) -> tuple[int, list[str]]:
    """``SYSLOG+EXEC`` -> (flags, words C rejects with ``Invalid notify flag``). Flag
    words are case-sensitive, as in C."""
    flags = 0
    invalid = []
    for word in text.split("+"):
        bit = FLAG_NAMES.get(word)
        if bit is None:
            invalid.append(word)
        else:
            flags |= bit
    return flags, invalid


def flags_text(flags: int) -> str:
    return "+".join(name for name, bit in FLAG_NAMES.items() if flags & bit) or "(none)"


def format_message(fmt: str, ups: str | None, extra: str | None = None) -> str:
    """The text C's ``do_notify`` builds: without ``%s`` the format is the message as is;
    otherwise printf rules, the first ``%s`` being the UPS (``ups@host``, empty for events
    without a UPS) and a second one ``extra`` (the alarm text, the unknown tokens).

    Where C hands a user format with other conversions (``%d``...) to printf, which
    reads garbage (2.8.0) or leaves the buffer unset (2.8.5), those stay literal here."""
    if "%s" not in fmt:
        return fmt[:MESSAGE_MAX]
    args = [ups or "", extra or ""]
    out = []
    i = 0
    n = len(fmt)
    while i < n:
        ch = fmt[i]
        if ch == "%" and i + 1 < n:
            nxt = fmt[i + 1]
            if nxt == "%":
                out.append("%")
                i += 2
                continue
            if nxt == "s" and args:
                out.append(args.pop(0))
                i += 2
                continue
        out.append(ch)
        i += 1
    return "".join(out)[:MESSAGE_MAX]


@dataclass(frozen=True)
class Notification:
    """One event as upsmon delivers it: ``ups`` is the MONITOR system string (None for
    events about upsmon itself: SHUTDOWN, NOPARENT, ...), ``message`` the final text."""

    type: str
    ups: str | None
    message: str
    flags: int

    @property
    def ignored(self) -> bool:
        return bool(self.flags & IGNORE)

    def env(self) -> dict[str, str]:
        """What NOTIFYCMD gets in its environment."""
        return {"UPSNAME": self.ups or "", "NOTIFYTYPE": self.type}
