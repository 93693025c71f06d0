"""Where NUT programs find their files: compiled defaults (Debian's layout) and the
``NUT_*`` environment overrides, resolved the way C NUT resolves them."""

from __future__ import annotations

import os

CONFPATH = "/etc/nut"
STATEPATH = "/run/nut"
ALTPIDPATH = "/run/nut"
PIDPATH = "/run/nut"
DATADIR = "/usr/share/nut"
DRVPATH = "/lib/nut"
RUN_AS_USER = "nut"
RUN_AS_GROUP = "nut"


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


def confpath() -> str:
    return _env("NUT_CONFPATH") or CONFPATH


def conf_file(name: str) -> str:
    return os.path.join(confpath(), name)


def statepath() -> str:
    return _env("NUT_STATEPATH") or STATEPATH


def altpidpath() -> str:
    """PID directory for unprivileged daemons (drivers, upsd)."""
    return _env("NUT_ALTPIDPATH") or _env("NUT_STATEPATH") or ALTPIDPATH


def pidpath() -> str:
    """PID directory for root daemons (upsmon, upslog); NUT_PIDPATH as in later releases."""
    return _env("NUT_PIDPATH") or PIDPATH


def driver_socket_name(driver: str, upsname: str) -> str:
    return f"{driver}-{upsname}"
