"""upslog: log UPS status lines at intervals (C ``clients/upslog.c``).

Single target output, messages and timing are C 2.8.0's; several targets (``-m
ups,file``, repeatable), ``-s '*'``/``*@host`` (every UPS of a server), ``-N`` (prefix
``%UPSHOST%<TAB>``) and ``-d <count>`` come from the latest release. Where 2.8.0 crashes
(``%TIME%`` without a format) we print the default time format instead."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

from ..client.blocking import Client
from ..client.core import DEFAULT_PORT, NutError, split_name
from ..common import paths
from ..common.cnum import atoi
from ..common.daemon import background, become_user, get_user, pidfile_path, write_pidfile
from ..common.log import log, report_build
from . import _cli

DEFAULT_LOGFORMAT = ("%TIME @Y@m@d @H@M@S% %VAR battery.charge% "
                     "%VAR input.voltage% %VAR ups.load% [%VAR ups.status%] "
                     "%VAR ups.temperature% %VAR input.frequency%")
DEFAULT_TIME_FORMAT = "@Y@m@d @H@M@S"
RUN_AS_USER = "nut"
LARGEBUF = 1024  # C's log line buffer (common.h)
# C fills it with snprintfcat, which keeps one byte more free than it needs: 1022 characters
MAX_LOG_TEXT = LARGEBUF - 2


def help_text(prog: str) -> str:
    return (
        "Write the state of UPSes to a log, one line per interval.\n"
        f"\nusage: {prog} [OPTIONS]\n"
        "\n"
        "  -f <format>\t- how each line looks (escapes below); quote it so\n"
        "\t\t  the shell passes it as one argument\n"
        "  -i <interval>\t- seconds between two lines\n"
        "  -l <logfile>\t- the log file; - writes to stdout (and stays in the foreground)\n"
        "  -F\t\t- stay in the foreground when logging to a file\n"
        "  -B\t\t- go to the background when logging to stdout\n"
        f"  -p <pidbase>  - PID file base name (default \"{prog}\")\n"
        "  -s <ups>\t- the UPS to log, as <upsname>@<host>[:<port>]\n"
        "        \t  e.g. -s myups@server\n"
        "  -u <user>\t- run as <user> when started as root\n"
        "\n"
        "Format escapes:\n"
        "\t%% a percent sign\n"
        "\t%TIME format% the time, formatted as strftime does\n"
        "\t%HOST% this host's name\n"
        "\t%UPSHOST% the UPS as given to -s\n"
        "\t%PID% upslog's process ID\n"
        "\t%VAR varname% the value of a UPS variable\n\n"
        "The default format is:\n"
        f"{DEFAULT_LOGFORMAT}\n"
        "\n"
        "upslog(8) describes it all.\n")


# ---------------------------------------------------------------------------------------
# Format compilation (pure): the format becomes a list of (kind, argument) steps.

_KEYWORDS = ("HOST", "UPSHOST", "PID", "TIME", "VAR", "ETIME")


def compile_format(fmt: str) -> list[tuple[str, str | None]]:
    """C ``compile_format``: literals, ``%%``, and ``%KEYWORD[ arg]%`` where the keyword
    is matched case-insensitively by prefix in C's table order (so ``%UPSHOSTX%`` is
    UPSHOST and ``%HOSTNAME%`` is HOST); unknown or unterminated ⇒ ``INVALID``."""
    steps: list[tuple[str, str | None]] = []
    i = 0
    n = len(fmt)
    while i < n:
        ch = fmt[i]
        if ch != "%":
            steps.append(("literal", ch))
            i += 1
            continue
        if i + 1 < n and fmt[i + 1] == "%":
            steps.append(("literal", "%"))
            i += 2
            continue
        end = fmt.find("%", i + 1)
        if end < 0:
            steps.append(("literal", "INVALID"))
            i += 1
            continue
        body = fmt[i + 1:end]
        cmd, sep, arg = body.partition(" ")
        found = None
        for keyword in _KEYWORDS:
            if cmd[:len(keyword)].upper() == keyword:
                found = keyword
                break
        steps.append((found, arg if sep else None) if found else ("literal", "INVALID"))
        i = end + 1
    # Merge literal runs: one string append per run instead of one per character.
    merged: list[tuple[str, str | None]] = []
    for kind, arg in steps:
        if kind == "literal" and merged and merged[-1][0] == "literal":
            merged[-1] = ("literal", merged[-1][1] + arg)
        else:
            merged.append((kind, arg))
    return merged


class Target:
    """One monitored UPS and where its lines go."""

    def __init__(self, monhost: str, logfn: str) -> None:
        self.monhost = monhost
        self.logfn = logfn
        self.upsname: str | None = None
        self.host = "localhost"
        self.port = DEFAULT_PORT
        self.client: Client | None = None
        self.file = None


def render(steps, target: Target, getvar, now: float | None = None) -> str:
    """One log line (without LF). ``getvar(target, name)`` returns the value or None."""
    now = time.time() if now is None else now
    parts: list[str] = []
    for kind, arg in steps:
        if kind == "literal":
            parts.append(arg)
        elif kind == "VAR":
            if not arg or "." not in arg or not target.upsname:
                parts.append("INVALID")
            else:
                value = getvar(target, arg)
                parts.append("NA" if value is None else value)
        elif kind == "TIME":
            fmt = (arg if arg is not None else DEFAULT_TIME_FORMAT).replace("@", "%")
            try:
                parts.append(time.strftime(fmt, time.localtime(now))[:511])
            except ValueError:
                parts.append("")
        elif kind == "ETIME":
            parts.append(str(int(now)))
        elif kind == "HOST":
            parts.append(socket.gethostname())
        elif kind == "UPSHOST":
            parts.append(target.monhost)
        elif kind == "PID":
            parts.append(str(os.getpid()))
    return "".join(parts)[:MAX_LOG_TEXT]


# ---------------------------------------------------------------------------------------
# The program


class Upslog:
    def __init__(self) -> None:
        self.targets: list[Target] = []
        self.files: dict[str, object] = {}
        self.reopen_flag = 0
        self.exit_flag = 0
        self._wake_r, self._wake_w = os.pipe()
        self.notify = None  # nutpy.common.sdnotify.Notifier, once running
        os.set_blocking(self._wake_w, False)

    # -- signals: the handlers only set flags and wake the sleep, as C's sleep() returns
    def _on_signal(self, signum, _frame) -> None:
        if signum == signal.SIGHUP:
            self.reopen_flag = signum
        elif signum != signal.SIGUSR1:
            self.exit_flag = signum
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def setup_signals(self) -> None:
        for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM,
                    signal.SIGUSR1):
            signal.signal(sig, self._on_signal)

    def sleep(self, seconds: float) -> None:
        """Sleep until a signal wakes us, pinging systemd's watchdog meanwhile."""
        import select
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            step = self.notify.watchdog_interval() if self.notify else None
            ready, _, _ = select.select([self._wake_r], [], [], min(left, step or left))
            if ready:
                os.read(self._wake_r, 512)
                return
            if self.notify:
                self.notify.watchdog()

    def open_file(self, logfn: str):
        if logfn == "-":
            return sys.stdout
        try:
            return open(logfn, "a", encoding="latin-1", errors="replace")
        except OSError as e:
            log.fatal(f"could not open logfile {logfn}: {e.strerror}")

    def reopen(self) -> None:
        for logfn, f in list(self.files.items()):
            if f is sys.stdout:
                log.info("logging to stdout")
                continue
            f.close()
            try:
                self.files[logfn] = open(logfn, "a", encoding="latin-1", errors="replace")
            except OSError as e:
                log.fatal(f"could not reopen logfile {logfn}: {e.strerror}")
            for t in self.targets:
                if t.logfn == logfn:
                    t.file = self.files[logfn]

    @staticmethod
    def connect(target: Target) -> None:
        try:
            target.client = Client(target.host, target.port, tls="try",
                                   connect_timeout=_cli.connect_timeout())
        except NutError:
            target.client = None

    @staticmethod
    def getvar(target: Target, var: str) -> str | None:
        if target.client is None or target.client.sock is None:
            return None
        try:
            words = target.client.get("VAR", target.upsname, var)
        except NutError:
            return None
        return words[3] if len(words) > 3 else None

    def expand_all(self, target: Target) -> list[Target]:
        """``*@host``: every UPS the server lists, in its order."""
        log.info(f"Querying {target.host}:{target.port} for currently served devices")
        try:
            client = Client(target.host, target.port, tls="try",
                            connect_timeout=_cli.connect_timeout())
            items = client.list("UPS", lenient=True)
        except NutError as e:
            log.fatal(f"Error: {e.message}")
        _cli.disconnect(client)
        found = []
        for words in items:
            if len(words) < 3:
                log.fatal(f"Error: insufficient data (got {len(words)} args, need at least 3)")
            t = Target(f"{words[1]}@{target.host}:{target.port}", target.logfn)
            t.upsname, t.host, t.port = words[1], target.host, target.port
            found.append(t)
        if not found:
            log.warning(f"Data server at {target.host}:{target.port} does not currently "
                        "serve any devices")
        return found


def main(argv: list[str]) -> int:
    prog = _cli.prog_name(argv, "upslog")
    interval = 30
    foreground = -1
    user = RUN_AS_USER
    pidbase = prog
    logformat = DEFAULT_LOGFORMAT
    monhost = logfn = None
    prefix_upshost = False
    max_loops = 0
    tuples: list[Target] = []
    log.setup(prog, 0)
    sys.stdout.write(f"Network UPS Tools {prog} {_cli.VERSION_TEXT}\n")
    options = _cli.getopt(argv, "hs:l:i:f:u:Vp:FBm:Nd:DW:")
    for opt, arg in options:
        if opt == "h":
            sys.stdout.write(help_text(prog))
            return 0
        elif opt == "s":
            monhost = arg
        elif opt == "l":
            logfn = arg
        elif opt == "i":
            interval = atoi(arg)
        elif opt == "f":
            logformat = arg
        elif opt == "u":
            user = arg
        elif opt == "V":
            return 0
        elif opt == "p":
            pidbase = arg
        elif opt == "F":
            foreground = 1
        elif opt == "B":
            foreground = 0
        elif opt == "m":
            spec, comma, file_part = arg.partition(",")
            if not comma or "," in file_part:
                log.fatal("Argument '-m upsspec,logfile' requires exactly 2 components "
                          "in the tuple")
            tuples.append(Target(spec, file_part))
        elif opt == "N":
            prefix_upshost = True
        elif opt == "d":
            max_loops = int(arg) if arg.isdigit() else 0
            if not arg.isdigit():
                log.error("Invalid max loops")
        elif opt == "D":
            log.debug_level += 1
        elif opt == "W":
            os.environ["NUT_DEFAULT_CONNECT_TIMEOUT"] = arg
        # 2.8.0 ignores unknown options after getopt's own message
    report_build()
    args = options.operands
    if len(args) in (1, 2):
        sys.stdout.write(help_text(prog))
        return 0
    if len(args) >= 3:
        monhost, logfn, interval = args[0], args[1], atoi(args[2])
    if len(args) >= 4:
        logformat = "".join(a + " " for a in args[3:])[:MAX_LOG_TEXT]
    targets = list(tuples)
    if monhost or logfn or not targets:
        if not monhost:
            log.fatal("No UPS defined for monitoring - use -s <system>")
        if not logfn:
            log.fatal("No filename defined for logging - use -l <file>")
        targets.append(Target(monhost, logfn))
    if prefix_upshost:
        logformat = "%UPSHOST%\t" + logformat

    app = Upslog()
    resolved: list[Target] = []
    for t in targets:
        try:
            parts = split_name(t.monhost)
        except ValueError:
            parts = None  # reported below, after the "logging status" line as in C
        if parts and parts[0] == "*":
            t.upsname, t.host, t.port = parts
            resolved.extend(app.expand_all(t))
        else:
            resolved.append(t)
    if not resolved:
        log.fatal("Queries failed to find anything")
    app.targets = resolved
    for t in app.targets:
        sys.stdout.write(f"logging status of {t.monhost} to {t.logfn} ({interval}s intervals)\n")
        if t.upsname is None:
            try:
                t.upsname, t.host, t.port = split_name(t.monhost)
            except ValueError as e:
                sys.stdout.flush()
                if e.args and e.args[0]:
                    _cli.err(e.args[0])
                log.fatal("Error: invalid UPS definition.  Required format: "
                          "upsname[@hostname[:port]]\n")
        try:
            t.client = Client(t.host, t.port, tls="try", connect_timeout=_cli.connect_timeout())
        except NutError as e:
            sys.stdout.flush()
            sys.stderr.write(f"Warning: initial connect failed: {e.message}\n")
            sys.stderr.flush()
        if t.logfn not in app.files:
            app.files[t.logfn] = app.open_file(t.logfn)
        elif "%UPSHOST%" not in logformat:
            log.info("NOTE: Consider adding %UPSHOST% to the log formatting string, "
                     "e.g. pass -N on CLI")
        t.file = app.files[t.logfn]
    sys.stdout.flush()

    pw = get_user(user)
    if foreground < 0:
        foreground = 1 if ("-" in app.files or log.debug_level > 0) else 0
    if not foreground:
        background()
    else:
        log.to_syslog = True  # C logs to syslog as well once open_syslog() ran
        try:
            import syslog
            syslog.openlog(prog, syslog.LOG_PID, syslog.LOG_DAEMON)
        except ImportError:
            log.to_syslog = False
    app.setup_signals()
    write_pidfile(pidfile_path(paths.pidpath(), pidbase))
    become_user(pw)
    steps = compile_format(logformat)
    from ..common.sdnotify import notifier

    app.notify = notifier()
    app.notify.ready(mainpid=os.getpid())

    nextpoll = 0.0
    loops = 0
    while not app.exit_flag:
        now = int(time.time())
        if nextpoll > now:
            app.sleep(nextpoll - now)
            nextpoll += interval
        else:
            nextpoll = now + interval
        app.notify.watchdog()
        if app.reopen_flag:
            app.notify.reloading()
            log.info(f"Signal {app.reopen_flag}: reopening log file")
            app.reopen()
            app.reopen_flag = 0
            app.notify.ready()
        for t in app.targets:
            if t.client is None or t.client.sock is None:
                app.connect(t)
            line = render(steps, t, app.getvar)
            try:
                t.file.write(line + "\n")
                t.file.flush()
            except (OSError, ValueError):
                pass
            if interval > 30:
                _cli.disconnect(t.client)
                t.client = None
        if max_loops:
            loops += 1
            if loops >= max_loops:
                log.info(f"{max_loops} loops have elapsed")
                app.exit_flag = 1
    log.info(f"Signal {app.exit_flag}: exiting")
    app.notify.stopping(f"Signal {app.exit_flag}: exiting")
    for t in app.targets:
        _cli.disconnect(t.client)
    for f in app.files.values():
        if f is not sys.stdout:
            f.close()
    return 0


def entry() -> int:
    try:
        status = main(sys.argv)
    except _cli.Exit as e:
        status = e.status
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    sys.exit(status)
