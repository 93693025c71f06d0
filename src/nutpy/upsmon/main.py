"""upsmon: command line, start-up and the asyncio shell around ``monitor.Monitor``.

Start-up follows C upsmon 2.8.5: options, ``-c`` signalling or the check for a running
instance, upsmon.conf, ``-K``, the start-up warnings, removal of an old POWERDOWNFLAG,
the power sanity check, backgrounding, the process split (``privsep``), then the loop.
``-c test`` (not in C) sends each notification once and says what a shutdown would run.
"""

from __future__ import annotations

import os
import signal
import socket
import sys

from .. import VERSION_TEXT
from ..common import daemon, paths
from ..common.cliopt import GetOpt
from ..common.log import log
from ..common.parseconf import read_file
from . import config as cfg
from . import notify, privsep

OPTSTRING = "+DFBhic:P:f:pu:VK46W:r:"
DEFAULT_CONNECT_TIMEOUT = 10.0

HELP = """NUT client which monitors UPS servers and may initiate shutdown if necessary.

usage: {prog} [OPTIONS]

  -c <cmd>	send command to running process
		commands:
		 - fsd: shutdown all primary-mode UPSes (use with caution)
		 - reload: reread configuration
		 - stop: stop monitoring and exit
		 - test: send each configured notification once and show what
		   a shutdown would run, without shutting down (nutpy)
  -P <pid>	send the signal above to specified PID (bypassing PID file)
  -D		raise debugging level (and stay foreground by default)
  -F		stay foregrounded even if no debugging is enabled
  -B		stay backgrounded even if debugging is bumped
  -K		checks POWERDOWNFLAG ({pdflag}), sets exit code to 0 if set
  -p		always run privileged (disable privileged parent)
  -u <user>	run child as user <user> (ignored when using -p)
  -r <dir>	chroot the network-facing process to <dir> (nutpy)
  -4		IPv4 only
  -6		IPv6 only

Common arguments:
  -V         - display the version of this software
  -W <secs>  - network timeout for initial connections (default: 10)
  -h         - display this help text

See the upsmon(8) and upsmon.conf(5) manual pages.
"""

COMMANDS = (("fsd", signal.SIGUSR1), ("stop", signal.SIGTERM), ("reload", signal.SIGHUP),
            ("test", None))


class Options:
    def __init__(self) -> None:
        self.command: str | None = None
        self.pid: int | None = None
        self.debug = 0
        self.foreground = -1
        self.configfile = paths.conf_file("upsmon.conf")
        self.check_flag = False
        self.split = True
        self.user = paths.RUN_AS_USER
        self.family = socket.AF_UNSPEC
        self.connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT
        self.chroot: str | None = None


class Usage(Exception):
    pass


def emit(level: str, text: str, debug: int = 0) -> None:
    """Print a ``(level, text)`` message of the cores."""
    if level == "debug":
        log.debug(debug, text)
    elif level == "alert":
        log._write(1, text)
    elif level == "crit":
        log._write(2, text)
    else:
        getattr(log, level)(text)


def help_text(prog: str, configfile: str) -> str:
    pdflag = None
    try:
        conf, _ = cfg.load(read_file(configfile), configfile, quiet=True)
        pdflag = conf.powerdownflag
    except (OSError, cfg.ConfigFatal):
        pass
    return HELP.format(prog=prog, pdflag=pdflag or "***NOT CONFIGURED***")


def parse_args(argv: list[str], prog: str) -> Options:
    opts = Options()
    parser = GetOpt([prog, *argv], OPTSTRING)
    for opt, arg in parser:
        if opt == "c":
            opts.command = None
            for name, _ in COMMANDS:
                if name.startswith(arg):
                    opts.command = name
                    break
            if opts.command is None:
                raise Usage()
        elif opt == "P":
            pid = int(arg) if arg.isdigit() else -1
            if pid < 2:
                log.error(f"Ignoring invalid pid number {arg}")
                raise Usage()
            opts.pid = pid
        elif opt == "D":
            opts.debug += 1
        elif opt == "F":
            opts.foreground = 1
        elif opt == "B":
            opts.foreground = 0
        elif opt == "f":
            opts.configfile = arg
        elif opt == "K":
            opts.check_flag = True
        elif opt == "p":
            opts.split = False
        elif opt == "u":
            opts.user = arg
        elif opt == "V":
            raise SystemExit(0)
        elif opt == "4":
            opts.family = socket.AF_INET
        elif opt == "6":
            opts.family = socket.AF_INET6
        elif opt == "W":
            try:
                value = float(arg)
            except ValueError:
                value = -1.0
            if value < 0:
                log.fatal(f"Error: invalid network timeout: {arg}")
            opts.connect_timeout = value or None
        elif opt == "r":
            opts.chroot = arg
        else:  # -h, -i (in C's option string, never handled) and unknown options
            raise Usage()
    if opts.foreground < 0:
        opts.foreground = 1 if opts.debug > 0 else 0
    return opts


def upsmon_running(pidfile: str, pid: int | None = None) -> bool:
    """A live process whose command line is upsmon's (a stale PID file may name another
    program by now)."""
    try:
        if pid is None:
            pid = daemon.read_pidfile(pidfile)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except (OSError, ValueError, IndexError):
        return False
    return b"upsmon" in cmdline


def load_config(path: str, quiet: bool = False, split: bool = True) -> cfg.UpsmonConfig:
    try:
        lines = read_file(path)
    except OSError as e:
        log.fatal(f"Can't open {path}: {e.strerror}")
    try:
        conf, msgs = cfg.load(lines, path, split_mode=split, quiet=quiet)
    except cfg.ConfigFatal as e:
        for level, text in e.messages:
            emit(level, text)
        log.fatal(str(e))
    for level, text in msgs:
        emit(level, text)
    return conf


def check_pdflag(conf: cfg.UpsmonConfig) -> int:
    status = privsep.pdflag_status(conf.powerdownflag)
    if status == -1:
        log.error(f"POWERDOWNFLAG ({conf.powerdownflag}) does not contain the upsmon magic "
                  "string")
        return 1
    if status == 0:
        log.error("Power down flag is not set")
        return 1
    log.info("Power down flag is set")
    return 0


def clear_pdflag(conf: cfg.UpsmonConfig) -> None:
    status = privsep.pdflag_status(conf.powerdownflag)
    if status == -1:
        log.error(f"POWERDOWNFLAG ({conf.powerdownflag}) does not contain the upsmon magic "
                  "string (not a NUT file) - disabling!")
        conf.powerdownflag = None
    elif status == 1:
        try:
            os.unlink(conf.powerdownflag)
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "upsmon"
    log.setup("upsmon")
    print(f"Network UPS Tools upsmon {VERSION_TEXT}", flush=True)
    try:
        opts = parse_args(argv, prog)
    except Usage:
        opts = Options()
        for i, arg in enumerate(argv):  # the help shows the POWERDOWNFLAG of -f's file
            if arg == "-f" and i + 1 < len(argv):
                opts.configfile = argv[i + 1]
        sys.stdout.write(help_text(prog, opts.configfile))
        sys.stdout.flush()
        return 0
    log.setup("upsmon", opts.debug if opts.debug else None)
    cli_debug = log.debug_level
    pidfile = daemon.pidfile_path(paths.pidpath(), "upsmon")

    if opts.command == "test":
        return run_test(opts)
    if opts.command is not None:
        sig = dict(COMMANDS)[opts.command]
        return daemon.signal_running(pidfile, sig, opts.pid)

    if opts.pid is None and not os.path.exists(pidfile):
        log.warning("Could not find PID file to see if previous upsmon instance is already "
                    "running!" + (" This is okay during OS shutdown, which is when checking "
                                  "POWERDOWNFLAG makes most sense." if opts.check_flag else ""))
    elif upsmon_running(pidfile, opts.pid):
        if opts.check_flag:
            print("Note: A previous upsmon instance is already running!")
            print("Usually it should not be running during OS shutdown,")
            print("which is when checking POWERDOWNFLAG makes most sense.")
        else:
            print("Fatal error: A previous upsmon instance is already running!")
            print("Either stop the previous instance first, or use the 'reload' command.")
            return 1

    conf = load_config(opts.configfile, quiet=opts.check_flag, split=opts.split)
    if conf.debug_min is not None and conf.debug_min > log.debug_level:
        log.debug_level = conf.debug_min
    log.debug(1, f"debug level is '{log.debug_level}'")
    if opts.check_flag:
        return check_pdflag(conf)

    if conf.shutdowncmd is None:
        print("Warning: no shutdown command defined"
              + (", but that is OK for a monitoring-only client." if conf.minsupplies < 1
                 else "!"), flush=True)
    if conf.notifycmd is None:
        print("Warning: no custom notification command defined, just so you know", flush=True)
    if conf.powerdownflag is not None:
        clear_pdflag(conf)
    if conf.total_power < conf.minsupplies:
        print("\nFatal error: insufficient power configured!\n")
        print(f"Sum of power values........: {conf.total_power}")
        print(f"Minimum value (MINSUPPLIES): {conf.minsupplies}")
        print("\nEdit your upsmon.conf and change the values.", flush=True)
        return 1

    daemon.ignore_sigpipe()
    user = conf.run_as_user or opts.user
    pw = daemon.get_user(user) if opts.split else None
    if opts.chroot and not opts.split:
        log.fatal("Fatal error: -r needs the privilege split (not -p)")
    if not opts.foreground:
        daemon.background()

    from .shell import Shell

    shell = Shell(conf, opts, cli_debug)
    if opts.split:
        role = shell.split(pw, pidfile)
        if role is not None:  # the root parent, when its child is done
            return role
    else:
        log.info("Warning: running as one big root process by request (upsmon -p)")
        shell.catch_early_signals()
        daemon.write_pidfile(pidfile)
    return shell.run()


def run_test(opts: Options) -> int:
    """``upsmon -c test``: every notification once, as upsmon would send it now; what a
    shutdown would run. Nothing is shut down, no daemon is involved."""
    import subprocess

    conf = load_config(opts.configfile, quiet=True, split=opts.split)
    sample = conf.monitors[0].system if conf.monitors else "ups@localhost"
    print(f"upsmon -c test: each notification once, as upsmon would send it for {sample};"
          " nothing is shut down")
    pw = None
    if os.geteuid() == 0 and opts.split:
        pw = daemon.get_user(conf.run_as_user or opts.user)
    failures = 0
    for ntype in notify.TYPES:
        ups = None if ntype in ("SHUTDOWN", "SHUTDOWN_HOSTSYNC", "NOPARENT",
                                "SUSPEND_STARTING", "SUSPEND_FINISHED") else sample
        extra = {"ALARM": "test alarm", "OTHER": "TEST"}.get(ntype)
        n = conf.notification(ntype, ups, extra)
        print(f"{ntype:<19} {notify.flags_text(n.flags):<22} {n.message}", flush=True)
        if n.flags & notify.IGNORE:
            continue
        if n.flags & notify.SYSLOG:
            log.notice(n.message)
        plan = privsep.delivery(n, conf.notifycmd)
        if plan is None:
            continue
        argv, env_add = plan
        env = dict(os.environ, NUTPY_UPSMON_TEST="1", **env_add)
        status = subprocess.call(argv, env=env, stdin=subprocess.DEVNULL,
                                 preexec_fn=(lambda: daemon.become_user(pw)) if pw else None)
        if status != 0:
            failures += 1
            print(f"{'':<19} {'':<22} (delivery exited with status {status})", flush=True)
    if conf.notifycmd is None:
        print("NOTIFYCMD is not set: EXEC flags run nothing")
    if conf.shutdowncmd is None:
        print("SHUTDOWNCMD is not set: a shutdown would run nothing")
    else:
        who = "the root parent" if opts.split else "upsmon (one process, -p)"
        print(f"A shutdown would run, as root by {who}: {conf.shutdowncmd}")
    if conf.powerdownflag:
        print(f"and first create POWERDOWNFLAG {conf.powerdownflag} (not created now)")
    else:
        print("POWERDOWNFLAG is not set: the UPS would not be told to power off")
    return 1 if failures else 0


def entry() -> None:
    try:
        status = main()
    except KeyboardInterrupt:
        status = 0
    sys.exit(status)


if __name__ == "__main__":
    entry()
