"""upsdrvctl: start, stop and shut down the drivers named in ups.conf.

Same command line, argv built for the drivers, messages and exit codes as C upsdrvctl
2.8.x. Deliberate differences (docs/upsdrvctl.md): ``stop`` waits for the driver to exit
(SIGKILL after 5 s) as later releases do, so ``stop`` then ``start`` cannot race; the
default driver directory is the one holding our own drivers.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass

from .. import NUT_VERSION
from ..common import daemon, paths, upsconf
from ..common.cnum import atoi
from ..common.log import log

DEFAULT_MAXSTARTDELAY = 75
STOP_WAIT = 5.0


@dataclass
class Driver:
    upsname: str
    driver: str | None
    port: str | None
    sdorder: int = 0
    maxstartdelay: int | None = None


@dataclass
class Options:
    testmode: bool = False
    pt_root: str | None = None
    pt_user: str | None = None
    debug: int = 0
    debug_passthrough: bool = False
    foreground: int = 0
    background: bool = False


class Controller:
    def __init__(self, conf: upsconf.UpsConf, opts: Options) -> None:
        self.opts = opts
        g = conf.globals.values
        self.driverpath = g.get("driverpath") or default_driverpath()
        self.maxstartdelay = _number(g.get("maxstartdelay"), DEFAULT_MAXSTARTDELAY)
        self.maxretry = _number(g.get("maxretry"), 1)
        self.retrydelay = _number(g.get("retrydelay"), 5)
        self.wait = "nowait" not in conf.globals.flags or os.environ.get("NUT_IGNORE_NOWAIT") == "true"
        self.drivers = [
            Driver(s.name, s.get("driver"), s.get("port"), _number(s.get("sdorder"), 0),
                   _number(s.get("maxstartdelay"), None) if "maxstartdelay" in s.values else None)
            for s in conf.sections.values()
        ]
        self.errors = 0

    # -- argv --------------------------------------------------------------------
    def _driver_file(self, d: Driver) -> str:
        path = os.path.join(self.driverpath, d.driver or "")
        if not os.path.exists(path):
            log.fatal(f"Can't start {path}: No such file or directory")
        return path

    def _pass_through(self) -> list[str]:
        args = []
        if self.opts.pt_root:
            args += ["-r", self.opts.pt_root]
        if self.opts.pt_user:
            args += ["-u", self.opts.pt_user]
        return args

    def start_argv(self, d: Driver) -> list[str]:
        argv = [self._driver_file(d)]
        if self.opts.debug_passthrough and self.opts.debug > 0:
            argv.append("-" + "D" * self.opts.debug)
        if self.opts.background:
            argv.append("-B")
        if self.opts.foreground:
            argv.append("-" + "F" * self.opts.foreground)
        return argv + ["-a", d.upsname] + self._pass_through()

    def shutdown_argv(self, d: Driver) -> list[str]:
        return [self._driver_file(d), "-a", d.upsname, "-k"] + self._pass_through()

    # -- actions -------------------------------------------------------------------
    def _run(self, argv: list[str], d: Driver) -> bool:
        """Fork/exec one driver and wait for its launcher to exit; True on success."""
        log.debug(2, "exec:  " + " ".join(argv))
        if self.opts.testmode:
            return True
        pid = os.fork()
        if pid == 0:
            try:
                os.execv(argv[0], argv)
            except OSError as e:
                log.error(f"execv: {e.strerror}")
            os._exit(1)
        if not self.wait:
            log.debug(2, "'nowait' set, continuing...")
            return True
        delay = d.maxstartdelay if d.maxstartdelay is not None else self.maxstartdelay
        status = _wait_child(pid, delay if delay >= 0 else None)
        if status is None:
            log.warning("Startup timer elapsed, continuing...")
            return False
        if os.WIFSIGNALED(status):
            log.warning(f"Driver died after signal {os.WTERMSIG(status)}")
            return False
        if not os.WIFEXITED(status):
            log.warning("Driver exited abnormally")
            return False
        if os.WEXITSTATUS(status) != 0:
            log.warning(f"Driver failed to start (exit status={os.WEXITSTATUS(status)})")
            return False
        return True

    def start(self, d: Driver) -> None:
        log.debug(1, f"Starting UPS: {d.upsname}")
        argv = self.start_argv(d)
        tries = self.maxretry
        while tries > 0:
            log.debug(2, f"{tries} remaining attempts")
            tries -= 1
            if self._run(argv, d):
                return
            if tries > 0 and self.retrydelay >= 0:
                time.sleep(self.retrydelay)
        self.errors += 1

    def shutdown(self, d: Driver) -> None:
        log.debug(1, f"Shutdown UPS: {d.upsname}")
        if not self._run(self.shutdown_argv(d), d):
            self.errors += 1

    def stop(self, d: Driver) -> None:
        log.debug(1, f"Stopping UPS: {d.upsname}")
        pidfile = daemon.pidfile_path(paths.altpidpath(), f"{d.driver}-{d.upsname}")
        if not os.path.exists(pidfile) and d.port is not None:
            log.error(f"Can't open {pidfile}: No such file or directory")
            pidfile = daemon.pidfile_path(paths.altpidpath(),
                                          f"{d.driver}-{os.path.basename(d.port)}")
        if not os.path.exists(pidfile):
            log.error(f"Can't open {pidfile} either: No such file or directory")
            self.errors += 1
            return
        log.debug(2, f"Sending signal to {pidfile}")
        if self.opts.testmode:
            return
        try:
            pid = daemon.read_pidfile(pidfile)
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError, IndexError) as e:
            reason = getattr(e, "strerror", None) or "Invalid PID file"
            log.error(f"Stopping {pidfile} failed: {reason}")
            self.errors += 1
            return
        if not daemon.wait_gone(pid, STOP_WAIT):
            log.warning(f"Driver for UPS {d.upsname} did not stop in {STOP_WAIT:g} s, sending SIGKILL")
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            if not daemon.wait_gone(pid, STOP_WAIT):
                self.errors += 1
                return
            try:
                os.unlink(pidfile)
            except OSError:
                pass

    def for_all(self, command: str) -> None:
        if not self.drivers:
            log.fatal("Error: no UPS definitions found in ups.conf")
        if command != "shutdown":
            for d in self.drivers:
                getattr(self, command)(d)
            return
        # shutdown goes by sdorder groups 0, 1, ...; negative sdorder is never shut down
        top = max((d.sdorder for d in self.drivers), default=0)
        for order in range(0, top + 1):
            for d in self.drivers:
                if d.sdorder == order:
                    self.shutdown(d)

    def for_one(self, command: str, upsname: str) -> None:
        if not self.drivers:
            log.fatal("Error: no UPS definitions found in ups.conf!\n")
        for d in self.drivers:
            if d.upsname == upsname:
                getattr(self, command)(d)
                return
        log.fatal(f"UPS {upsname} not found in ups.conf")


def default_driverpath() -> str:
    """Our drivers live beside this program (the virtual environment's bin directory)."""
    return os.path.dirname(os.path.abspath(sys.argv[0])) if sys.argv and sys.argv[0] else paths.DRVPATH


def driver_program(driver: str, driverpath: str | None = None) -> str | None:
    """The program to run for ``driver=``: in ``driverpath`` when ups.conf sets one, else ours,
    else C NUT's (a driver nutpy does not have yet: a mixed fleet). None if none exists."""
    if not driver or "/" in driver:
        return None
    dirs = [driverpath] if driverpath else [default_driverpath(), paths.DRVPATH]
    for directory in dirs:
        path = os.path.join(directory, driver)
        if os.access(path, os.X_OK):
            return path
    return None


def _number(text: str | None, default):
    return default if text is None else atoi(text)


def _wait_child(pid: int, timeout: float | None) -> int | None:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


HELP = """\
Start, stop and shut down the UPS drivers configured in ups.conf.

usage: {prog} [OPTIONS] (start | stop | shutdown) [<ups>]
usage: {prog} [OPTIONS] (list | -l) [<ups>]

  -h			show this help
  -r <path>		drivers chroot to <path>
  -t			test mode: show what would run, run nothing
  -u <user>		drivers drop root privileges to <user>
  -D			more debugging output
  -d			give drivers the same debugging level
  -F			drivers stay in the foreground (-FF: and write PID files)
  -B			drivers go to the background even with debugging
  start			start every driver in ups.conf
  start	<ups>		start the driver of UPS <ups>
  stop			stop every driver in ups.conf
  stop <ups>		stop the driver of UPS <ups>
  shutdown		power off every UPS (by sdorder)
  shutdown <ups>	power off UPS <ups>
  list			list the UPS sections of ups.conf
"""

DEBUG_HINT = """
This is upsdrvctl, which only launches drivers; its debug output is not the driver's.
Each 'exec:' line below is the exact driver command line: run it yourself with -D
flags added, or give upsdrvctl -d to pass its own debug level to the drivers.
"""


def main(argv: list[str] | None = None) -> int:
    from ..common.cliopt import GetOpt

    argv = sys.argv[1:] if argv is None else argv
    prog = "upsdrvctl"
    log.setup(prog)
    print(f"Network UPS Tools - UPS driver controller {NUT_VERSION}", flush=True)
    opts = Options()
    parser = GetOpt.for_args(argv, "htu:r:DdFBVl", prog)
    listing: list[str] = []
    for opt, val in parser:  # one at a time, acting on each as C does
        opt = "-" + opt
        if opt == "-r":
            opts.pt_root = val
        elif opt == "-t":
            opts.testmode = True
        elif opt == "-u":
            opts.pt_user = val
        elif opt == "-V":
            return 0
        elif opt == "-D":
            opts.debug += 1
        elif opt == "-d":
            opts.debug_passthrough = True
        elif opt == "-F":
            opts.foreground += 1
        elif opt == "-B":
            opts.background = True
        elif opt == "-l":
            listing.append("list")
        else:
            print(HELP.format(prog=prog), end="")
            return 0
    args = listing + parser.operands
    if not args:
        print(HELP.format(prog=prog), end="")
        return 0
    if opts.testmode:
        print("*** Testing mode: not calling exec/kill", flush=True)
        opts.debug = max(opts.debug, 2)
    log.debug_level = opts.debug
    if not opts.debug_passthrough:
        log.debug(2, DEBUG_HINT)
    command = args[0]
    if command not in ("start", "stop", "shutdown", "list"):
        log.fatal(f"Error: unrecognized command [{command}]")
    path = paths.conf_file("ups.conf")
    try:
        conf = upsconf.load(path)
    except OSError as e:
        log.fatal(f"Can't open {path}: {e.strerror}")
    for error in conf.errors:
        log.error(str(error))
    ctl = Controller(conf, opts)
    if command == "list":
        names = [d.upsname for d in ctl.drivers]
        if len(args) > 1:
            if args[1] not in names:
                log.fatal(f"UPS {args[1]} not found in ups.conf")
            names = [args[1]]
        for name in names:
            print(name)
        return 0
    if len(args) == 1:
        ctl.for_all(command)
    else:
        ctl.for_one(command, args[1])
    return 1 if ctl.errors else 0


if __name__ == "__main__":
    sys.exit(main())
