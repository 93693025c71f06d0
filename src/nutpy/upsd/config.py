"""upsd.conf and upsd.users as C upsd reads them: same directives, same messages.

Pure: both loaders take ``parseconf.Line`` objects and return a model plus the log
messages C would print, as ``(level, text)`` pairs with level ``"error"``, ``"warning"``,
``"notice"`` or ``"info"``, so the daemon prints them and tests compare them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from ..common import parseconf
from ..common.cnum import atoi
from ..proto.netproto import PORT

Message = tuple[str, str]

DEFAULT_PORT = str(PORT)  # LISTEN without a port
DEFAULT_MAXAGE = 15
DEFAULT_TRACKINGDELAY = 3600
# nutpy's failed-login throttle (docs/security.md): the longest a wrong password's answer
# waits, and how many such answers may wait at once per client address
DEFAULT_LOGIN_FAILURE_DELAY = 4.0
DEFAULT_LOGIN_FAILURE_MAXCONN = 4

_TRUE = ("true", "on", "yes", "1")
_FALSE = ("false", "off", "no", "0")


def parse_boolean(text: str) -> bool | None:
    low = text.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    return None


def env_boolean(text: str) -> bool | None:
    """C's test of ALLOW_NO_DEVICE / ALLOW_NOT_ALL_LISTENERS in the environment: the value
    must start with one of the words (any case)."""
    low = text.lower()
    if low.startswith(("true", "yes", "on", "1")):
        return True
    if low.startswith(("false", "no", "off", "0")):
        return False
    return None


@dataclass
class UpsdConf:
    path: str = "upsd.conf"
    listen: list[tuple[str, str]] = field(default_factory=list)
    maxage: int = DEFAULT_MAXAGE
    trackingdelay: int = DEFAULT_TRACKINGDELAY
    allow_no_device: bool = False
    allow_not_all_listeners: bool = False
    maxconn: int | None = None
    statepath: str | None = None
    datapath: str | None = None
    debug_min: int | None = None
    # TLS (used by nutpy.security.tls.server_context)
    certfile: str | None = None
    certpath: str | None = None
    certident: tuple[str, str] | None = None
    certrequest: int = 0
    disable_weak_ssl: bool = False
    # nutpy only (C upsd logs "invalid directive" for these and goes on)
    login_failure_delay: float = DEFAULT_LOGIN_FAILURE_DELAY
    login_failure_maxconn: int = DEFAULT_LOGIN_FAILURE_MAXCONN
    errors: int = 0

    @property
    def tls_configured(self) -> bool:
        return bool(self.certfile or self.certpath)


_CERTREQUEST_NAMES = {"NO": 0, "REQUEST": 1, "REQUIRE": 2}


def _directive(conf: UpsdConf, words: list[str], msgs: list[Message]) -> bool:
    """Apply one directive; False means "invalid directive" (C's return 0)."""
    if len(words) < 2:
        return False
    key, arg = words[0], words[1]
    if key.upper() == "DEBUG_MIN":
        if arg.isdigit() and arg.isascii():
            conf.debug_min = int(arg)
        else:
            msgs.append(("info", "DEBUG_MIN has non numeric or negative value in upsd.conf"))
        return True
    numeric = {"MAXAGE": "maxage", "TRACKINGDELAY": "trackingdelay", "MAXCONN": "maxconn",
               "CERTREQUEST": "certrequest"}
    if key in numeric:
        if arg[:1].isdigit() and arg[:1].isascii():
            setattr(conf, numeric[key], atoi(arg))
            return True
        if key == "CERTREQUEST" and arg.upper() in _CERTREQUEST_NAMES:
            conf.certrequest = _CERTREQUEST_NAMES[arg.upper()]
            return True
        msgs.append(("error", f"{key} has non numeric value ({arg})!"))
        return False
    if key == "LOGIN_FAILURE_DELAY":  # seconds, a decimal number; 0 turns the throttle off
        whole, dot, frac = arg.partition(".")
        if (whole or frac) and (whole + frac).isdigit() and (whole + frac).isascii():
            conf.login_failure_delay = float(arg)
            return True
        msgs.append(("error", f"{key} has non numeric value ({arg})!"))
        return False
    if key == "LOGIN_FAILURE_MAXCONN":
        if arg.isdigit() and arg.isascii() and int(arg) > 0:
            conf.login_failure_maxconn = int(arg)
            return True
        msgs.append(("error", f"{key} must be a positive number ({arg})!"))
        return False
    if key in ("ALLOW_NO_DEVICE", "ALLOW_NOT_ALL_LISTENERS"):
        attr = key.lower()
        if arg[:1].isdigit() and arg[:1].isascii():
            setattr(conf, attr, atoi(arg) != 0)
            return True
        value = parse_boolean(arg)
        if value is not None:
            setattr(conf, attr, value)
            return True
        msgs.append(("error", f"{key} has non numeric and non boolean value ({arg})!"))
        return False
    if key in ("STATEPATH", "DATAPATH", "CERTFILE", "CERTPATH"):
        setattr(conf, key.lower(), arg)
        return True
    if key == "DISABLE_WEAK_SSL":
        value = parse_boolean(arg)
        if value is None:
            msgs.append(("error", f"DISABLE_WEAK_SSL has non boolean value ({arg})!"))
            return False
        conf.disable_weak_ssl = value
        return True
    if key in ("ACCEPT", "REJECT"):
        msgs.append(("warning", f"{key} in upsd.conf is no longer supported - switch to LISTEN"))
        return True
    if key == "LISTEN":
        conf.listen.append((arg, words[2] if len(words) >= 3 else DEFAULT_PORT))
        return True
    if len(words) < 3:
        return False
    if key == "ACL":
        msgs.append(("warning", "ACL in upsd.conf is no longer supported - switch to LISTEN"))
        return True
    if key == "CERTIDENT":
        conf.certident = (arg, words[2])
        return True
    return False


def parse_upsd_conf(lines: Iterable[parseconf.Line], path: str) -> tuple[UpsdConf, list[Message]]:
    conf = UpsdConf(path)
    msgs: list[Message] = []
    for line in lines:
        if line.error:
            msgs.append(("error", f"Parse error: {path}:{line.lineno}: {line.error}"))
            continue
        if not line.words:
            continue
        if not _directive(conf, line.words, msgs):
            conf.errors += 1
            msgs.append(("warning", "upsd.conf: invalid directive " + " ".join(line.words)))
    if conf.errors:
        msgs.append(("warning", f"Encountered {conf.errors} config errors, "
                                "those entries were ignored"))
    return conf, msgs


# -- upsd.users ---------------------------------------------------------------------


@dataclass
class User:
    name: str
    password: str | None = None
    actions: list[str] = field(default_factory=list)  # lower-cased
    instcmds: list[str] = field(default_factory=list)  # lower-cased


@dataclass
class Users:
    users: dict[str, User] = field(default_factory=dict)  # file order, case-sensitive names

    def _check(self, username: str | None, password: str | None) -> User | None:
        if username is None or password is None:
            return None
        user = self.users.get(username)
        if user is None or user.password is None:
            return None
        if not password_matches(user.password, password):
            return None
        return user

    def check_action(self, username: str | None, password: str | None, action: str) -> bool:
        user = self._check(username, password)
        return user is not None and action.lower() in user.actions

    def check_instcmd(self, username: str | None, password: str | None, cmd: str) -> bool:
        user = self._check(username, password)
        if user is None:
            return False
        return cmd.lower() in user.instcmds or "all" in user.instcmds


def password_matches(stored: str, given: str) -> bool:
    """``nutpy.security.passwords.verify``: constant time, hashed entries."""
    from ..security.passwords import verify

    return verify(stored, given)


def password_check_is_quick(stored: str, given: str | None) -> bool:
    """Can ``password_matches(stored, given)`` run on the event loop (no key derivation:
    plaintext entry, or a hashed one whose success is remembered)?"""
    from ..security.passwords import verify_is_quick

    return verify_is_quick(stored, given)


def parse_users(lines: Iterable[parseconf.Line], path: str) -> tuple[Users, list[Message]]:
    users = Users()
    msgs: list[Message] = []
    current: User | None = None

    def upsmon_type(kind: str) -> None:
        low = kind.lower()
        if low in ("master", "primary"):
            add_action("login"), add_action("master"), add_action("fsd")
        elif low in ("slave", "secondary"):
            add_action("login")
        else:
            msgs.append(("warning", f"Unknown upsmon type {kind}"))

    def add_action(action: str) -> None:
        if current is None:
            msgs.append(("warning", "Ignoring action definition outside user section"))
            return
        current.actions.append(action.lower())

    def setting(key: str, value: str) -> None:
        low = key.lower()
        if low == "password":
            if current is None:
                msgs.append(("warning", "Ignoring password definition outside user section"))
            elif current.password is not None:
                msgs.append(("stderr", f"Ignoring duplicate password for {current.name}"))
            else:
                current.password = value
        elif low == "instcmds":
            if current is None:
                msgs.append(("warning", "Ignoring instcmd definition outside user section"))
            elif value.lower() not in current.instcmds:
                current.instcmds.append(value.lower())
        elif low == "actions":
            add_action(value)
        elif low == "allowfrom":
            msgs.append(("warning", "allowfrom in upsd.users is no longer used"))
        elif low == "upsmon":
            upsmon_type(value)
        else:
            msgs.append(("notice", f"Unrecognized user setting {key}"))

    def rest(key: str, values: list[str]) -> None:
        if current is None:
            return
        for value in values:
            setting(key, value)

    for line in lines:
        if line.error:
            msgs.append(("error", f"Parse error: {path}:{line.lineno}: {line.error}"))
            continue
        words = line.words
        if not words or words[0].lower() == "user":
            continue
        first = words[0]
        if "=" in first:
            key, _, value = first.partition("=")
            rest(key, [value] + words[1:])
            continue
        if len(first) >= 1 and first[0] == "[" and first[-1] == "]" and len(first) >= 2:
            name = first[1:-1]
            if name in users.users:
                msgs.append(("stderr", f"Ignoring duplicate user {name}"))
            else:
                current = users.users[name] = User(name)
            continue
        if len(words) < 2:
            continue
        if first.lower() == "upsmon":
            upsmon_type(words[1])
        if len(words) < 3:
            continue
        if words[1] == "=":
            rest(first, words[2:])
    return users, msgs
