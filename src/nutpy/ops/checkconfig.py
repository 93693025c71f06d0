"""``nutpy check-config [DIR]``: read every NUT configuration file the way the daemons will,
before they do, and say what they would complain about, with file and line.

Content: each file goes through the parser its daemon uses (nutpy.common.upsconf,
nutpy.upsd.config, nutpy.upsmon.config, nutpy.upsmon.schedconf), so a message here is the
message the daemon would log, located.
Ownership and permissions (skipped with ``--content-only``, e.g. for a staging directory):
the problems NUT's security notes warn about, and the ones behind the usual support
questions: files the unprivileged daemons cannot read, files others can read, a missing or
mis-owned state path.

Pure core: ``check_*`` functions take text or stat results and return findings.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat
from dataclasses import dataclass
from typing import Callable, Iterable

from ..common import parseconf, paths, upsconf

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    path: str
    lineno: int | None
    level: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.lineno}" if self.lineno else self.path
        return f"{where}: {self.level}: {self.message}"


# -- content ----------------------------------------------------------------------------------

_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)")
MODES = ("none", "standalone", "netserver", "netclient")


def check_nut_conf(text: str, path: str) -> list[Finding]:
    """nut.conf is read by /bin/sh (systemd's EnvironmentFile= too): NAME=value lines."""
    out = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _ASSIGN.fullmatch(line)
        if not m:
            out.append(Finding(path, lineno, ERROR, f"not a NAME=value line: {line}"))
            continue
        name, value = m.groups()
        quoted = re.fullmatch(r'"([^"]*)"|\'([^\']*)\'', value)
        if quoted:
            value = quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
        elif re.search(r"\s", value):
            out.append(Finding(path, lineno, ERROR, f"{name}: a value with spaces needs quotes"))
            continue
        if name == "MODE" and value not in MODES:
            out.append(Finding(path, lineno, ERROR,
                               f"MODE={value}: not one of {', '.join(MODES)} (nothing will start)"))
    return out


_NUMERIC_UPS_KEYS = ("maxstartdelay", "maxretry", "retrydelay", "sdorder", "pollinterval")


def check_ups_conf(text: str, path: str, driver_exists: Callable[[str, str | None], bool] | None = None
                   ) -> list[Finding]:
    conf = upsconf.parse(parseconf.parse_text(text.encode("latin-1", "replace")), path)
    out = [Finding(path, e.lineno, ERROR, e.message) for e in conf.errors]
    driverpath = conf.globals.get("driverpath")

    def numeric(section: upsconf.Section) -> None:
        for key in _NUMERIC_UPS_KEYS:
            v = section.get(key)
            if v is not None and not re.fullmatch(r"-?\d+", v):
                out.append(Finding(path, section.value_lines.get(key), WARNING,
                                   f"{key} = {v}: not a number (read as {_atoi(v)})"))

    numeric(conf.globals)
    for s in conf.sections.values():
        missing = [k for k in ("driver", "port") if not s.get(k)]
        if missing:
            out.append(Finding(path, s.lineno, ERROR,
                               f"UPS [{s.name}] has no {' and no '.join(missing)}: "
                               "upsd and upsdrvctl will skip it"))
        driver = s.get("driver")
        if driver and driver_exists and not driver_exists(driver, driverpath):
            out.append(Finding(path, s.value_lines.get("driver"), ERROR,
                               f"UPS [{s.name}]: no driver program '{driver}' "
                               f"(looked in {driverpath or 'nutpy and C NUT'})"))
        numeric(s)
    return out


def _atoi(text: str) -> int:
    from ..common.cnum import atoi

    return atoi(text)


def _located(lines: list[parseconf.Line], parse, path: str,
             skip: Callable[[str], bool] = lambda text: False) -> list[Finding]:
    """Run a whole-file parser that returns unlocated messages, attributing each message to
    the line that first makes it appear (the parsers read line by line, so the messages of a
    file's first n lines are the first messages of the whole file)."""
    out: list[Finding] = []
    seen = 0
    for i, line in enumerate(lines):
        _, msgs = parse(lines[:i + 1], path)
        msgs = [m for m in msgs if not skip(m[1])]
        for level, text in msgs[seen:]:
            out.append(Finding(path, line.lineno, _level(level), _strip_location(text, path)))
        seen = len(msgs)
    return out


def _level(level: str) -> str:
    return ERROR if level in ("error", "fatal") else WARNING


def _strip_location(text: str, path: str) -> str:
    m = re.match(re.escape(path) + r" line \d+: ", text)
    if m:
        return text[m.end():]
    for prefix in (f"Parse error: {path}:", f"{path}: "):
        if text.startswith(prefix):
            rest = text[len(prefix):]
            return rest.split(": ", 1)[1] if prefix.startswith("Parse") and ": " in rest else rest
    return text


def check_upsd_conf(text: str, path: str) -> list[Finding]:
    from ..upsd import config

    lines = list(parseconf.parse_text(text.encode("latin-1", "replace")))
    return _located(lines, config.parse_upsd_conf, path,
                    skip=lambda t: t.startswith("Encountered "))


def check_upsd_users(text: str, path: str) -> list[Finding]:
    from ..security.passwords import check_stored
    from ..upsd import config

    lines = list(parseconf.parse_text(text.encode("latin-1", "replace")))
    out = _located(lines, config.parse_users, path)
    users, _ = config.parse_users(lines, path)
    for user in users.users.values():
        if user.password is None:
            out.append(Finding(path, _section_line(lines, user.name), WARNING,
                               f"user {user.name} has no password: it can never log in"))
        else:
            problem = check_stored(user.password)
            if problem:
                out.append(Finding(path, _section_line(lines, user.name), ERROR,
                                   f"user {user.name}: unusable password entry ({problem})"))
    return out


def _section_line(lines: Iterable[parseconf.Line], name: str) -> int | None:
    return next((line.lineno for line in lines if line.words[:1] == [f"[{name}]"]), None)


# Messages the readers add after the last line (about the file as a whole)
_FILE_LEVEL = ("Encountered ", "No POWERDOWNFLAG", "POWERDOWNFLAG should be",
               "This upsmon instance is")


def _located_prefix(lines: list[parseconf.Line], parse, path: str,
                    fatal: type[Exception]) -> list[Finding]:
    """Like ``_located`` for readers that also report on the whole file at its end, and may
    raise ``fatal`` where C exits: file-level messages come from the whole file, unlocated;
    the first line at which the reader gives up carries its message."""
    out: list[Finding] = []
    seen = 0
    for i, line in enumerate(lines):
        try:
            msgs = [m for m in parse(lines[:i + 1]) if not m[1].startswith(_FILE_LEVEL)]
        except fatal as e:
            out.append(Finding(path, line.lineno, ERROR, _strip_location(str(e), path)))
            return out
        for level, text in msgs[seen:]:
            if level in ("error", "warning", "fatal"):
                out.append(Finding(path, line.lineno, _level(level), _strip_location(text, path)))
        seen = len(msgs)
    msgs = parse(lines)
    for level, text in msgs:
        if text.startswith(_FILE_LEVEL) and not text.startswith("Encountered ") \
                and level in ("error", "warning"):
            out.append(Finding(path, None, _level(level), text))
    return out


def check_upsmon_conf(text: str, path: str, mode: str | None = None) -> list[Finding]:
    """``mode``: nut.conf's MODE; with none, upsmon does not start, so what would stop it
    from starting is no error."""
    from ..upsmon import config

    lines = list(parseconf.parse_text(text.encode("latin-1", "replace")))
    out = _located_prefix(lines, lambda ls: config.load(ls, path)[1], path, config.ConfigFatal)
    try:
        conf, _ = config.load(lines, path)
    except config.ConfigFatal:
        return out
    if conf.total_power < conf.minsupplies and mode != "none":
        out.append(Finding(path, None, ERROR,
                           f"insufficient power configured: the MONITOR lines' power values add "
                           f"up to {conf.total_power}, MINSUPPLIES is {conf.minsupplies} "
                           "(upsmon will not start)"))
    for name, cmd in (("SHUTDOWNCMD", conf.shutdowncmd), ("NOTIFYCMD", conf.notifycmd)):
        program = cmd.split()[0] if cmd and cmd.split() else None
        if program and program.startswith("/") and not os.access(program, os.X_OK):
            out.append(Finding(path, None, WARNING, f"{name}: {program} is not an executable"))
    return out


def check_upssched_conf(text: str, path: str) -> list[Finding]:
    from ..upsmon import schedconf

    lines = list(parseconf.parse_text(text.encode("latin-1", "replace")))

    def parse(ls):
        _, items = schedconf.read(ls, path, "", "")
        return [i for i in items if isinstance(i, tuple)]

    out = _located_prefix(lines, parse, path, schedconf.SchedFatal)
    try:
        files, _ = schedconf.read(lines, path, "", "")
    except schedconf.SchedFatal:
        return out
    uses_timers = any(line.words[:1] == ["AT"] for line in lines)
    if uses_timers:
        for name in ("CMDSCRIPT", "PIPEFN", "LOCKFN"):
            if getattr(files, name.lower()) is None:
                out.append(Finding(path, None, ERROR, f"AT lines but no {name}: upssched "
                                                      "cannot act on them"))
    program = files.cmdscript.split()[0] if files.cmdscript and files.cmdscript.split() else None
    if program and program.startswith("/") and not os.access(program, os.X_OK):
        out.append(Finding(path, None, WARNING, f"CMDSCRIPT: {program} is not an executable"))
    return out


CONTENT_CHECKS: dict[str, Callable[[str, str], list[Finding]]] = {
    "nut.conf": check_nut_conf,
    "ups.conf": check_ups_conf,
    "upsd.conf": check_upsd_conf,
    "upsd.users": check_upsd_users,
    "upsmon.conf": check_upsmon_conf,
    "upssched.conf": check_upssched_conf,
}

# Files holding passwords or keys, and the files the daemons read after giving up root.
SECRET = ("upsd.users", "upsmon.conf")
READ_UNPRIVILEGED = ("ups.conf", "upsd.users", "upssched.conf")


# -- ownership and permissions --------------------------------------------------------------


@dataclass
class Account:
    uid: int
    gids: set[int]
    user: str
    group: str


def nut_account(user: str = paths.RUN_AS_USER) -> Account | None:
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return None
    gids = {pw.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    try:
        group = grp.getgrgid(pw.pw_gid).gr_name
    except KeyError:
        group = str(pw.pw_gid)
    return Account(pw.pw_uid, gids, user, group)


def _may(st: os.stat_result, who: Account, bits: int) -> bool:
    """Whether ``who`` has the permission ``bits`` (4 read, 2 write, 1 execute) by ``st``."""
    if who.uid == 0:
        return True
    if st.st_uid == who.uid:
        return bool(st.st_mode >> 6 & bits == bits)
    if st.st_gid in who.gids:
        return bool(st.st_mode >> 3 & bits == bits)
    return bool(st.st_mode & bits == bits)


def check_file_perms(path: str, st: os.stat_result, nut: Account | None) -> list[Finding]:
    name = os.path.basename(path)
    out = []
    fix = f"chown root:{nut.group if nut else paths.RUN_AS_GROUP} {path}; chmod 640 {path}"
    if st.st_mode & stat.S_IROTH:
        level = ERROR if name in SECRET else WARNING
        secret = ", and it holds passwords" if name in SECRET else ""
        out.append(Finding(path, None, level, f"anyone can read it{secret} (fix: {fix})"))
    if st.st_mode & stat.S_IWOTH or (st.st_mode & stat.S_IWGRP and st.st_gid != 0) \
            or (nut and st.st_uid == nut.uid and nut.uid != 0):
        out.append(Finding(path, None, WARNING,
                           "a daemon that gives up root (or anyone else) may change it; only root "
                           f"should (fix: {fix})"))
    if nut and name in READ_UNPRIVILEGED and not _may(st, nut, 4):
        out.append(Finding(path, None, ERROR,
                           f"the {nut.user} user cannot read it, and the daemons read it after "
                           f"giving up root (fix: {fix})"))
    return out


def check_statepath(path: str, nut: Account | None) -> list[Finding]:
    group = nut.group if nut else paths.RUN_AS_GROUP
    fix = f"install -d -o root -g {group} -m 0770 {path}, or systemd-tmpfiles --create"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return [Finding(path, None, ERROR, f"the state path does not exist; drivers cannot "
                                           f"make their sockets (fix: {fix})")]
    except OSError as e:
        return [Finding(path, None, ERROR, f"the state path cannot be examined: {e.strerror}")]
    if not stat.S_ISDIR(st.st_mode):
        return [Finding(path, None, ERROR, "the state path is not a directory")]
    out = []
    if nut and not _may(st, nut, 3):
        out.append(Finding(path, None, ERROR,
                           f"the {nut.user} user cannot create sockets and PID files here "
                           f"(fix: chown root:{group} {path}; chmod 0770 {path})"))
    if st.st_mode & 0o007:
        out.append(Finding(path, None, WARNING,
                           f"others can enter the state path and reach the drivers' sockets, which "
                           f"take commands without a password (fix: chmod 0770 {path})"))
    return out


# -- the whole directory ---------------------------------------------------------------------

FILES = ("nut.conf", "ups.conf", "upsd.conf", "upsd.users", "upsmon.conf", "upssched.conf")


def check_dir(confdir: str, content_only: bool = False,
              statepath: str | None = None) -> list[Finding]:
    from ..drivers.upsdrvctl import driver_program

    def driver_exists(driver: str, driverpath: str | None) -> bool:
        return driver_program(driver, driverpath) is not None

    nut = None if content_only else nut_account()
    out: list[Finding] = []
    if not content_only and nut is None:
        out.append(Finding(confdir, None, ERROR, f"there is no user {paths.RUN_AS_USER}: "
                                                 "the daemons cannot give up root"))
    upsd_statepath = None
    for name in FILES:
        path = os.path.join(confdir, name)
        try:
            with open(path, "rb") as f:
                text = f.read().decode("latin-1")
            st = os.stat(path)
        except FileNotFoundError:
            continue
        except OSError as e:
            out.append(Finding(path, None, ERROR, f"cannot read it: {e.strerror}"))
            continue
        if name == "ups.conf":
            found = check_ups_conf(text, path, driver_exists)
        elif name == "upsmon.conf":
            found = check_upsmon_conf(text, path, _mode(confdir))
        else:
            found = CONTENT_CHECKS[name](text, path)
        out += sorted(found, key=lambda f: f.lineno or 0)
        if name == "upsd.conf":
            from ..upsd import config

            conf, _ = config.parse_upsd_conf(parseconf.parse_text(text.encode("latin-1")), path)
            upsd_statepath = conf.statepath
            if conf.certfile and not content_only:
                out += _check_key_file(conf.certfile, nut)
        if not content_only:
            out += check_file_perms(path, st, nut)
    if not content_only:
        out += check_statepath(statepath or os.environ.get("NUT_STATEPATH") or upsd_statepath
                               or paths.STATEPATH, nut)
    return out


def _mode(confdir: str) -> str | None:
    """nut.conf's MODE, if it sets one."""
    mode = None
    try:
        with open(os.path.join(confdir, "nut.conf"), encoding="latin-1") as f:
            for line in f:  # as /bin/sh reads it: the last assignment wins
                m = _ASSIGN.fullmatch(line.strip())
                if m and m.group(1) == "MODE":
                    mode = m.group(2).strip("\"'")
    except OSError:
        pass
    return mode


def _check_key_file(path: str, nut: Account | None) -> list[Finding]:
    try:
        st = os.stat(path)
    except OSError as e:
        return [Finding(path, None, ERROR, f"CERTFILE cannot be read: {e.strerror}")]
    out = []
    if st.st_mode & stat.S_IROTH:
        out.append(Finding(path, None, ERROR, f"anyone can read upsd's private key "
                                              f"(fix: chmod 640 {path})"))
    if nut and not _may(st, nut, 4):
        out.append(Finding(path, None, ERROR, f"the {nut.user} user cannot read it: upsd loads it "
                                              f"after giving up root (fix: chgrp {nut.group} {path}; "
                                              f"chmod 640 {path})"))
    return out


import click  # noqa: E402  (the command below; the checks above need no click)


@click.command("check-config")
@click.argument("confdir", required=False, type=click.Path(file_okay=False))
@click.option("--content-only", is_flag=True,
              help="Check what the files say, not their ownership and permissions, nor the "
                   "state path.")
@click.option("--statepath", type=click.Path(file_okay=False),
              help="The state path to check (default: NUT_STATEPATH, upsd.conf STATEPATH, /run/nut).")
def command(confdir: str | None, content_only: bool, statepath: str | None) -> None:
    """Check the NUT configuration in CONFDIR (default: NUT_CONFPATH or /etc/nut): every file
    through the parser its daemon uses, plus ownership and permissions. Prints one line per
    problem (file:line: level: text); exits 1 if there is an error."""
    confdir = confdir or paths.confpath()
    findings = check_dir(confdir, content_only, statepath)
    for f in findings:
        click.echo(str(f))
    if any(f.level == ERROR for f in findings):
        raise SystemExit(1)
