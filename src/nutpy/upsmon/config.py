"""upsmon.conf as C upsmon 2.8.5 reads it: the same directives, defaults and messages.

Pure: ``load`` takes ``parseconf.Line`` objects and returns the settings plus the log
messages C would print, as ``(level, text)`` pairs (level ``error``, ``warning``,
``notice`` or ``info``). A reload starts from the previous settings, as C's globals do:
a NOTIFYMSG or POLLFREQ line deleted from the file keeps its old value until restart.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Iterable

from ..common.cnum import atoi, strtol
from . import notify

Message = tuple[str, str]

UINT_MAX = 2**32 - 1
INT_MAX = 2**31 - 1
SMALLBUF_TEXT = 511


class ConfigFatal(Exception):
    """A configuration C refuses to run with (``fatalx``): ``messages`` were logged
    first, ``str(e)`` is the last line."""

    def __init__(self, text: str, messages: list[Message]) -> None:
        super().__init__(text)
        self.messages = messages


@dataclass
class MonitorEntry:
    """One MONITOR line. ``system`` is the ``ups@host[:port]`` text as written (the name
    every message uses); ``upsname`` is None when it cannot be split."""

    system: str
    power_value: int
    username: str
    password: str
    primary: bool
    upsname: str | None = None
    host: str | None = None
    port: int = 3493


def split_system(system: str) -> tuple[str | None, str | None, int]:
    from ..client.core import split_name

    try:
        ups, host, port = split_name(system)
    except ValueError:
        return None, None, 3493
    return ups or None, host, port


@dataclass
class UpsmonConfig:
    path: str = "upsmon.conf"
    monitors: list[MonitorEntry] = field(default_factory=list)
    minsupplies: int = 1
    shutdowncmd: str | None = None
    notifycmd: str | None = None
    powerdownflag: str | None = None
    pollfreq: int = 5
    pollfreqalert: int = 5
    deadtime: int = 15
    hostsync: int = 15
    rbwarntime: int = 43200
    nocommwarntime: int = 300
    finaldelay: int = 5
    offduration: int = 30
    overduration: int = -1
    oblbduration: int = 0
    alarmcritical: int = 1
    shutdownexit: int = 0  # 0: exit after starting the shutdown; -1: never; >0: seconds
    pollfail_log_throttle_max: int = -1
    run_as_user: str | None = None
    certpath: str | None = None
    certident: tuple[str, str] | None = None
    certhosts: list[tuple[str, str, int, int]] = field(default_factory=list)
    certverify: int = 0
    forcessl: int = 0
    certfile: str | None = None  # HEAD's directive (OpenSSL builds); 2.8.5 rejects it
    debug_min: int | None = None
    notify_messages: dict[str, str] = field(default_factory=dict)
    notify_flags: dict[str, int] = field(
        default_factory=lambda: {t: notify.DEFAULT_FLAGS for t in notify.TYPES})
    errors: int = 0

    @property
    def total_power(self) -> int:
        return sum(m.power_value for m in self.monitors)

    @property
    def is_primary(self) -> bool:
        return any(m.primary for m in self.monitors)

    def message_format(self, ntype: str) -> str:
        return self.notify_messages.get(ntype, notify.STOCK_MESSAGES[ntype])

    def notification(self, ntype: str, ups: str | None, extra: str | None = None
                     ) -> notify.Notification:
        text = notify.format_message(self.message_format(ntype), ups, extra)
        return notify.Notification(ntype, ups, text, self.notify_flags[ntype])


def _str_to_int(text: str) -> int | None:
    """NUT ``str_to_int``: the whole word must be a base-10 number."""
    body = text.strip(" \t\n\v\f\r")
    digits = body[1:] if body[:1] in "+-" else body
    if not body or body != text.lstrip(" \t\n\v\f\r") or not digits.isascii() \
            or not digits.isdigit():
        return None
    value = int(body)
    return value if -2**31 <= value <= INT_MAX else None


class _Loader:
    def __init__(self, conf: UpsmonConfig, reloading: bool, split_mode: bool,
                 quiet: bool) -> None:
        self.conf = conf
        self.reloading = reloading
        self.split_mode = split_mode
        self.quiet = quiet
        self.msgs: list[Message] = []
        self.seen: set[str] = set()

    def say(self, level: str, text: str) -> None:
        self.msgs.append((level, text))

    def checkmode(self, key: str, old: str | None, new: str) -> None:
        """The root parent keeps SHUTDOWNCMD and POWERDOWNFLAG from start-up."""
        if not self.split_mode or not self.reloading:
            return
        if old is not None and old == new:
            return
        self.say("warning", f"Warning: {key} redefined in split-process mode!")
        self.say("warning", "You must restart upsmon for this change to work")

    def directive(self, words: list[str]) -> bool:
        """Apply one line; False is C's "invalid directive"."""
        conf = self.conf
        n = len(words)
        if n < 2:
            return False
        key, arg = words[0], words[1]
        if key == "SHUTDOWNCMD":
            self.checkmode(key, conf.shutdowncmd, arg)
            conf.shutdowncmd = arg
        elif key == "SHUTDOWNEXIT":
            low = arg.lower()
            if low in ("on", "yes", "true"):
                conf.shutdownexit = 0
            elif low in ("off", "no", "false"):
                conf.shutdownexit = -1
            else:
                value = _str_to_int(arg)
                if value is None:
                    self.say("warning", "SHUTDOWNEXIT value not recognized, defaulting to 'yes'")
                    value = 0
                conf.shutdownexit = value
        elif key == "POWERDOWNFLAG":
            self.checkmode(key, conf.powerdownflag, arg)
            conf.powerdownflag = arg
            if not self.reloading:
                self.say("info", f"Using power down flag file {arg}")
        elif key == "NOTIFYCMD":
            conf.notifycmd = arg
        elif key in ("POLLFREQ", "POLLFREQALERT", "MINSUPPLIES", "FINALDELAY"):
            value = atoi(arg)
            if value < 0:
                self.say("notice", f"Ignoring invalid {key} value: {value}")
            else:
                setattr(conf, key.lower(), value)
        elif key == "POLLFAIL_LOG_THROTTLE_MAX":
            value = atoi(arg)
            if value < 0 or value == INT_MAX:
                self.say("notice", f"Ignoring invalid POLLFAIL_LOG_THROTTLE_MAX value: {value}")
            else:
                conf.pollfail_log_throttle_max = value
        elif key in ("OFFDURATION", "OVERDURATION", "HOSTSYNC", "DEADTIME", "RBWARNTIME",
                     "NOCOMMWARNTIME", "CERTVERIFY", "FORCESSL", "ALARMCRITICAL"):
            setattr(conf, {"OFFDURATION": "offduration", "OVERDURATION": "overduration"}
                    .get(key, key.lower()), atoi(arg))
        elif key == "OBLBDURATION":
            value = atoi(arg)
            conf.oblbduration = value if value >= 1 else 0
        elif key == "RUN_AS_USER":
            conf.run_as_user = arg
        elif key == "CERTPATH":
            conf.certpath = arg
        elif key == "CERTFILE":
            conf.certfile = arg
        elif key.upper() == "DEBUG_MIN":
            value = _str_to_int(arg)
            if value is not None and value >= 0:
                conf.debug_min = value
            else:
                self.say("info", "WARNING : Invalid DEBUG_MIN value found in upsmon.conf "
                                 "global settings")
        elif n < 3:
            return False
        elif key == "NOTIFYMSG":
            ntype = notify.lookup_type(arg)
            if ntype is None:
                self.say("warning", f"'{arg}' is not a valid notify event name")
            else:
                conf.notify_messages[ntype] = words[2]
        elif key == "NOTIFYFLAG":
            ntype = notify.lookup_type(arg)
            if ntype is None:
                self.say("warning", f"Warning: invalid notify type [{arg}]")
            else:
                flags, invalid = notify.parse_flags(words[2])
                for word in invalid:
                    self.say("warning", f"Invalid notify flag: [{word}]")
                conf.notify_flags[ntype] = flags
        elif key == "CERTIDENT":
            conf.certident = (arg, words[2])
        elif n < 5:
            return False
        elif key == "CERTHOST":
            conf.certhosts.append((arg, words[2], atoi(words[3]), atoi(words[4])))
        elif key == "MONITOR":
            if n == 5:
                self.say("error", "Unable to use old-style MONITOR line without a username")
                self.say("error", "Convert it and add a username to upsd.users - see the "
                                  "documentation")
                raise ConfigFatal("Fatal error: unusable configuration", self.msgs)
            self.add_monitor(words[1], words[2], words[3], words[4], words[5])
        else:
            return False
        return True

    def add_monitor(self, system: str, pvs: str, user: str, password: str, kind: str) -> None:
        pv = strtol(pvs)
        if pv < 0 or pv > UINT_MAX:
            self.say("warning", f"UPS [{system}]: ignoring invalid power value [{pvs}]")
            return
        if system in self.seen:
            self.say("warning", f"Warning: ignoring duplicate UPS [{system}]")
            return
        self.seen.add(system)
        primary = kind.lower() in ("primary", "master")
        upsname, host, port = split_system(system)
        entry = MonitorEntry(system, pv, user, password, primary, upsname, host, port)
        self.conf.monitors.append(entry)
        if self.quiet or self.reloading:
            return
        if pv:
            role = "primary" if primary else "secondary"
            self.say("info", f"UPS: {system} ({role}) (power value {pv})")
        else:
            self.say("info", f"UPS: {system} (monitoring only)")
        if host is None:
            self.say("error", f"Error: unable to split UPS name [{system}]")
        if upsname is None:
            self.say("warning", f"Warning: UPS [{system}]: no upsname set!")


def load(lines: Iterable, path: str, previous: UpsmonConfig | None = None, *,
         split_mode: bool = True, quiet: bool = False) -> tuple[UpsmonConfig, list[Message]]:
    """Read upsmon.conf from tokenized ``lines``. ``previous``: the settings in force, for
    a reload. ``split_mode``: a root parent holds SHUTDOWNCMD/POWERDOWNFLAG (warn when a
    reload changes them). ``quiet``: no per-UPS lines (``upsmon -K``).
    Raises ``ConfigFatal`` for a configuration C exits on."""
    reloading = previous is not None
    if reloading:
        conf = copy.deepcopy(previous)
        conf.monitors = []
        conf.debug_min = None
        conf.errors = 0
    else:
        conf = UpsmonConfig()
    conf.path = path
    loader = _Loader(conf, reloading, split_mode, quiet)
    if reloading and previous.pollfail_log_throttle_max >= 0:
        loader.say("info", f"Forgetting POLLFAIL_LOG_THROTTLE_MAX="
                           f"{previous.pollfail_log_throttle_max} and resetting UPS error-state "
                           "counters before a configuration reload")
        conf.pollfail_log_throttle_max = -1
    for line in lines:
        if line.error:
            loader.say("error", f"Parse error: {path}:{line.lineno}: {line.error}")
            conf.errors += 1
            continue
        if not line.words:
            continue
        if not loader.directive(list(line.words)):
            conf.errors += 1
            text = f"{path} line {line.lineno}: invalid directive"
            for word in line.words:
                text += " " + word
            loader.say("warning", text[:SMALLBUF_TEXT])
    if reloading and conf.pollfail_log_throttle_max >= 0:
        loader.say("info", f"Applying POLLFAIL_LOG_THROTTLE_MAX "
                           f"{conf.pollfail_log_throttle_max} from upsmon.conf")
    if conf.errors:
        loader.say("error", f"Encountered {conf.errors} config errors, those entries were "
                            "ignored")
    if conf.powerdownflag is None:
        _no_powerdownflag(loader)
    return conf, loader.msgs


def _no_powerdownflag(loader: _Loader) -> None:
    conf = loader.conf
    primary = [m for m in conf.monitors if m.primary]
    fed = any(m.power_value > 0 for m in primary)
    loader.say("warning", f"No POWERDOWNFLAG value was configured in {conf.path}!")
    loader.say("info", "POWERDOWNFLAG should be a path to file that is normally writeable "
                       "for root user, and remains at least readable late in shutdown after "
                       "all unmounting completes.")
    if primary:
        loader.say("warning", "This upsmon instance is PRIMARY for at least one device"
                              f"{' that feeds it' if fed else ''}, but would not be able to "
                              "arrange its power-cycling when needed, in the end of handling a "
                              "power outage.\nIn case of a power-race condition, this can "
                              "leave your computer(s) indefinitely halted.")
    else:
        loader.say("warning", "This upsmon instance is not a PRIMARY for any device, so this "
                              "can be of little concern unless other shutdown routines on "
                              "your system also consult it to act fast during an outage.")
