"""upsdrvctl: start, stop, shut down, signal, list and query the drivers named in ups.conf.

The command line, the argv built for the drivers, the messages and the exit codes of C
upsdrvctl 2.8.5 (``-c``, ``list``/``-l``, ``status``, per-UPS ``maxstartdelay``/``maxretry``/
``retrydelay``, ``nowait``, ``-F``/``-FF``/``-B``), with the debug lines of 2.8.0.

A section whose driver nutpy does not have runs C NUT's driver from /lib/nut (a mixed
fleet), unless ups.conf sets ``driverpath``. Under systemd (``NOTIFY_SOCKET``) a C driver
that cannot report readiness itself is started in the background and reported ready, with
its PID, by upsdrvctl.

Deliberate differences (docs/upsdrvctl.md): ``stop`` polls for the driver to go more often
than once a second and does not wait 5 s for a socket that does not exist; a driver that
outlived ``maxstartdelay`` counts as started only if it then exited 0.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import NoReturn

from .. import VERSION_TEXT
from ..common import daemon, paths, upsconf
from ..common.cnum import atoi
from ..common.log import log, report_build

DEFAULT_MAXSTARTDELAY = 75
STOP_POLLS = 5  # seconds of polling after SIGTERM, and again after SIGKILL
SOCKET_TIMEOUT = 15.0

# -c <command>: the first name the argument is a prefix of, in C's order
CONTROL_COMMANDS = ["reload-or-error", "exit", "dump", "data-dump", "reload",
                    "reload-or-restart", "reload-or-exit"]
CONTROL_SIGNALS = {"dump": signal.SIGURG, "data-dump": signal.SIGURG, "reload": signal.SIGHUP,
                   "reload-or-restart": signal.SIGUSR2, "reload-or-exit": signal.SIGUSR1}


@dataclass
class Ups:
    upsname: str
    driver: str | None = None
    port: str | None = None
    sdorder: int = 0
    maxstartdelay: int = -1  # -1: the global value
    maxretry: int = -1
    retrydelay: int = -1
    pid: int = -1  # a driver this run started and tracks (-F with several drivers)
    pid_started: int = -1  # the process this run last forked for it (kept once reaped)
    exceeded_timeout: bool = False


@dataclass
class Options:
    testmode: bool = False
    pt_root: str | None = None
    pt_user: str | None = None
    debug: int = 0
    debug_passthrough: bool = False
    foreground: int = -1  # -1: as the debug level says; 0: -B; 1: -F; 2: -FF
    control: str | None = None  # -c, resolved to a CONTROL_COMMANDS name


def note(msg: str) -> None:
    """C's upsdebugx(0, ...): shown at every debug level, timestamped, without a level tag."""
    log.debug(0, msg)


class Controller:
    def __init__(self, conf: upsconf.UpsConf, opts: Options) -> None:
        self.opts = opts
        self.maxstartdelay = DEFAULT_MAXSTARTDELAY
        self.maxretry = 1
        self.retrydelay = 5
        self.driverpath: str | None = None
        self.wait = True
        self.debug_min: int | None = None
        g = conf.globals
        for var, val in g.values.items():
            self._global(var, val)
        if "nowait" in g.flags:
            if os.environ.get("NUT_IGNORE_NOWAIT") == "true":
                note("NOTE: 'nowait' setting ignored due to NUT_IGNORE_NOWAIT envvar")
            else:
                self.wait = False
        self.upss: list[Ups] = []
        self.maxsdorder = 0
        for s in conf.sections.values():
            if not s.values and not s.flags:
                continue  # C hears of a section only through its settings
            self.upss.append(self._section(s))
        self.upscount = 0
        self.errors = 0
        self.timeouts = 0

    def _global(self, var: str, val: str) -> None:
        if var == "maxstartdelay":
            self.maxstartdelay = atoi(val)
        elif var == "driverpath":
            self.driverpath = val
        elif var == "maxretry":
            self.maxretry = atoi(val)
            if self.maxretry < 0:
                note(f"NOTE: invalid 'maxretry' setting ignored: {val}")
                self.maxretry = 1
        elif var == "retrydelay":
            self.retrydelay = atoi(val)
        elif var.lower() == "debug_min":
            if val.isdigit():
                self.debug_min = int(val)
            else:
                log.info("WARNING : Invalid debug_min value found in ups.conf global settings")

    def _section(self, s: upsconf.Section) -> Ups:
        ups = Ups(s.name, s.get("driver"), s.get("port"))
        if "maxstartdelay" in s.values:
            ups.maxstartdelay = atoi(s.values["maxstartdelay"])
        if "maxretry" in s.values:
            ups.maxretry = atoi(s.values["maxretry"])
            if ups.maxretry < 0:
                note(f"NOTE: invalid 'maxretry' setting ignored for {s.name}: {s.values['maxretry']}")
                ups.maxretry = -1
        if "retrydelay" in s.values:
            ups.retrydelay = atoi(s.values["retrydelay"])
        if "sdorder" in s.values:
            ups.sdorder = atoi(s.values["sdorder"])
            self.maxsdorder = max(self.maxsdorder, ups.sdorder)
        return ups

    # -- where things are ----------------------------------------------------------------
    def program(self, ups: Ups) -> str:
        """The driver program; when none exists, the path C would name in its error."""
        name = ups.driver if ups.driver is not None else "(null)"
        found = driver_program(name, self.driverpath)
        return found or os.path.join(self.driverpath or default_driverpath(), name)

    def pidfile(self, ups: Ups, name: str | None = None) -> str:
        return daemon.pidfile_path(paths.altpidpath(), f"{ups.driver}-{name or ups.upsname}")

    def socket_path(self, ups: Ups) -> str:
        return os.path.join(paths.statepath(), paths.driver_socket_name(ups.driver or "", ups.upsname))

    def find_pidfile(self, ups: Ups) -> str | None:
        """The PID file of the driver, also under the legacy name (port's basename)."""
        pidfile = self.pidfile(ups)
        if os.path.exists(pidfile):
            return pidfile
        if ups.port is not None:
            log.error(f"Can't open {pidfile}: No such file or directory")
            pidfile = self.pidfile(ups, os.path.basename(ups.port))
            if os.path.exists(pidfile):
                return pidfile
        log.error(f"Can't open {pidfile} either: No such file or directory")
        return None

    # -- argv ----------------------------------------------------------------------------
    def _pass_through(self) -> list[str]:
        args = []
        if self.opts.pt_root:
            args += ["-r", self.opts.pt_root]
        if self.opts.pt_user:
            args += ["-u", self.opts.pt_user]
        return args

    def start_argv(self, ups: Ups, foreground: int | None = None) -> list[str]:
        argv = [self.program(ups)]
        if self.opts.debug_passthrough and log.debug_level > 0:
            argv.append("-" + "D" * log.debug_level)
        fg = self.opts.foreground if foreground is None else foreground
        if fg == 0:
            argv.append("-B")
        elif fg > 0:
            argv.append("-" + "F" * fg)
        return argv + ["-a", ups.upsname] + self._pass_through()

    def shutdown_argv(self, ups: Ups) -> list[str]:
        return [self.program(ups), "-a", ups.upsname, "-k"] + self._pass_through()

    # -- running a driver ------------------------------------------------------------------
    def _forkexec(self, argv: list[str], ups: Ups) -> None:
        """Run one driver and judge its start (C's forkexec): counts errors and timeouts."""
        fg = self.opts.foreground
        if fg > 0 and self.upscount == 1:
            _exec(argv)  # the only driver, in the foreground: it becomes this process
        pid = os.fork()
        if pid == 0:
            if fg > 0 and self.upscount > 1:
                # upsdrvctl stays and reports to systemd for the bundle: a driver's own
                # READY=1 with its MAINPID would make systemd follow that one driver
                for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
                    os.environ.pop(name, None)
            _exec(argv)
        ups.pid = ups.pid_started = pid
        ups.exceeded_timeout = False
        if not self.wait:
            log.debug(2, "'nowait' set, continuing...")
            return
        if fg > 0 and self.upscount > 1:
            log.debug(1, "Starting driver with explicitly requested foregrounding mode: will "
                         "not wait for it to fork and detach, continuing...")
            return
        if fg != 0 and log.debug_level > 0 and self.opts.debug_passthrough:
            log.debug(2, "Starting driver with debug but without explicit backgrounding: "
                         "will not wait for it to fork and detach, continuing...")
            return
        delay = ups.maxstartdelay if ups.maxstartdelay != -1 else self.maxstartdelay
        status = _wait_child(pid, delay if delay >= 0 else None)
        if status is None:
            log.warning("Startup timer elapsed, continuing...")
            self.timeouts += 1
            ups.exceeded_timeout = True
            return
        ups.pid = -1  # reaped
        if not os.WIFEXITED(status):
            log.warning("Driver exited abnormally")
            self.errors += 1
        elif os.WEXITSTATUS(status) != 0:
            log.warning(f"Driver failed to start (exit status={os.WEXITSTATUS(status)})")
            self.errors += 1

    def start(self, ups: Ups) -> None:
        log.debug(1, f"Starting UPS: {ups.upsname}")
        retries = ups.maxretry if ups.maxretry >= 0 else self.maxretry
        delay = ups.retrydelay if ups.retrydelay >= 0 else self.retrydelay
        path = self.program(ups)
        if not os.path.exists(path):
            log.fatal(f"Can't start {path}: No such file or directory")
        systemd_c = self._needs_readiness_report(path)
        argv = self.start_argv(ups, foreground=-1 if systemd_c else None)
        errors0, timeouts0 = self.errors, self.timeouts
        while retries > 0:
            log.debug(2, f"{retries} remaining attempts")
            log.debug(2, "exec:  " + " ".join(argv))
            retries -= 1
            errors, timeouts = self.errors, self.timeouts
            if not self.opts.testmode:
                if systemd_c:
                    self._start_reporting_for(argv, ups)
                else:
                    self._forkexec(argv, ups)
            if (errors, timeouts) == (self.errors, self.timeouts):
                # a success forgives the failed attempts before it, as in C
                self.errors, self.timeouts = errors0, timeouts0
                return
            if retries > 0 and delay >= 0:
                time.sleep(delay)

    def _needs_readiness_report(self, path: str) -> bool:
        """Under systemd, the one driver of a nut-driver@ service must report READY=1; a C
        driver built without libsystemd cannot."""
        from ..common import sdnotify

        return (self.opts.foreground > 0 and self.upscount == 1 and not self.opts.testmode
                and sdnotify.notifier().enabled and not speaks_sd_notify(path))

    def _start_reporting_for(self, argv: list[str], ups: Ups) -> None:
        """Start a C driver in the background (it forks once ready), then tell systemd it is
        up and that its PID is the service's main PID."""
        from ..common import sdnotify

        self.opts.foreground = -1
        self._forkexec(argv, ups)
        launcher = ups.pid_started
        if ups.exceeded_timeout:
            return
        # C writes its PID file before it forks and again in the child: until the child has
        # rewritten it, the file names the launcher, which has exited
        deadline = time.monotonic() + 10
        while True:
            try:
                pid = daemon.read_pidfile(self.pidfile(ups))
            except (OSError, ValueError, IndexError):
                pid = None
            if pid is not None and pid != launcher or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if pid is None or pid == launcher:
            log.error(f"Driver for UPS {ups.upsname} started but left no PID file "
                      f"{self.pidfile(ups)} naming its daemon: systemd cannot follow it")
            self.errors += 1
            return
        sdnotify.notifier().ready(status=f"C driver {ups.driver} for {ups.upsname} started",
                                  mainpid=pid)

    def shutdown(self, ups: Ups) -> None:
        log.debug(1, f"Shutdown UPS: {ups.upsname}")
        argv = self.shutdown_argv(ups)
        log.debug(2, "exec:  " + " ".join(argv))
        if not self.opts.testmode:
            self._forkexec(argv, ups)

    def stop(self, ups: Ups) -> None:
        log.debug(1, f"Stopping UPS: {ups.upsname}")
        if ups.pid != -1:
            target, pidfile = ups.pid, None
            what = f"PID {ups.pid}"
        else:
            pidfile = self.find_pidfile(ups)
            if pidfile is None:
                self._stop_via_socket(ups)
                return
            what = pidfile
        log.debug(2, f"Sending signal to {what}")
        if self.opts.testmode:
            return
        if pidfile is not None:
            try:
                target = daemon.read_pidfile(pidfile)
            except (OSError, ValueError, IndexError) as e:
                log.error(f"Stopping {pidfile} failed: {getattr(e, 'strerror', None) or 'invalid PID file'}")
                self.errors += 1
                return
        if not _signal(target, signal.SIGTERM):
            log.debug(2, f"SIGTERM to {what} failed, retrying with SIGKILL")
            if not _signal(target, signal.SIGKILL):
                log.error(f"Stopping {what} failed: {os.strerror(3)}")
                self.errors += 1
                return
        if _wait_gone(target, STOP_POLLS, ups):
            return
        log.error(f"Stopping {what} failed, retrying harder")
        if _signal(target, signal.SIGKILL) and _wait_gone(target, STOP_POLLS, ups):
            # a TERMinated driver cleans up after itself; a KILLed one cannot
            daemon.remove_pidfile(pidfile)
            return
        log.error(f"Stopping {what} failed")
        self.errors += 1

    def _stop_via_socket(self, ups: Ups) -> None:
        """No PID file (a driver in the foreground): ask it over its socket to exit."""
        path = self.socket_path(ups)
        ok = False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(1.0)
                s.connect(path)
                log.error("At least could open the driver socket")
                if self.opts.testmode:
                    ok = True
                else:
                    s.sendall(b"INSTCMD driver.exit\n")
                    ok = True
                    _wait_socket_closed(s, SOCKET_TIMEOUT)
        except OSError:
            pass
        log.error(f"{'Succeeded' if ok else 'Failed'} to {'emulate' if self.opts.testmode else 'send'} "
                  "the 'exit' command to the driver socket")
        if not ok:
            log.error(f"Failed to stop the driver {ups.driver} for {ups.upsname}, it may be not "
                      "running or not fully started yet")
            self.errors += 1

    def control(self, ups: Ups) -> None:
        """-c <command> for one driver: a signal through its PID file, or for
        reload-or-error and exit an instant command over its socket."""
        cmd = self.opts.control
        if cmd in ("reload-or-error", "exit"):
            log.debug(1, f"Signalling UPS [{ups.upsname}]: driver.{cmd}")
            if self.opts.testmode:
                return
            from ..proto import sockproto
            from .control import query_socket

            ret = query_socket(self.socket_path(ups),
                               lambda i: sockproto.instcmd(f"driver.{cmd}", tracking_id=i),
                               SOCKET_TIMEOUT, quiet=True)
            if ret < 0:
                log.error("Socket dialog with the other driver instance: "
                          f"{_socket_error(self.socket_path(ups))}")
                self.errors += 1
                return
            log.info(f"Request for driver to {cmd} returned code {ret}")
            if ret != 0:
                self.errors += 1
            return
        sig = CONTROL_SIGNALS[cmd]
        log.debug(1, f"Signalling UPS [{ups.upsname}]: {int(sig)} ({signal.strsignal(sig)})")
        if ups.pid != -1:
            target, what = ups.pid, f"PID {ups.pid}"
        else:
            what = self.find_pidfile(ups)
            if what is None:
                self.errors += 1
                return
        log.debug(2, f"Sending signal to {what}")
        if self.opts.testmode:
            return
        try:
            if ups.pid == -1:
                target = daemon.read_pidfile(what)
            os.kill(target, sig)
        except (OSError, ValueError, IndexError) as e:
            log.error(f"Signalling {what} failed: {getattr(e, 'strerror', None) or 'invalid PID file'}")
            self.errors += 1

    def list(self, ups: Ups) -> None:
        print(ups.upsname)

    def status(self, ups: Ups) -> None:
        if not getattr(self, "_header_shown", False):
            print("%-11s\t%11s\t%s\t%s\t%s\t%s\t%s" % ("UPSNAME", "UPSDRV", "RUNNING", "PF_PID",
                                                      "S_RESPONSIVE", "S_PID", "S_STATUS"))
            self._header_shown = True
        st = driver_status(self.pidfile(ups), self.socket_path(ups), ups.driver or "")
        print("%-11s\t%11s\t%s\t%d\t%s\t%s\t%s" % (
            ups.upsname, ups.driver, st.running, st.pid_from_file,
            "RESPONSIVE" if st.responsive else "NOT_RESPONSIVE",
            st.pid_from_socket or "N/A", st.status or ""), flush=True)

    # -- all of them, or one -------------------------------------------------------------
    def for_all(self, command: str) -> None:
        if not self.upss:
            log.fatal("Error: no UPS definitions found in ups.conf")
        self.upscount = len(self.upss)
        fn = getattr(self, command)
        if command == "shutdown":
            # by sdorder groups 0, 1, ...; a negative sdorder is never shut down
            for order in range(0, self.maxsdorder + 1):
                for ups in self.upss:
                    if ups.sdorder == order:
                        fn(ups)
            return
        if command == "start" and len(self.upss) > 1 and (
                self.opts.foreground > 0 or (self.opts.foreground != 0 and log.debug_level > 0
                                             and self.opts.debug_passthrough)):
            fg = self.opts.foreground > 0
            log.warning('Starting "all" drivers but requested the '
                        f'{"foreground mode" if fg else "debug mode without backgrounding"}! '
                        "This request will not wait for driver(s) to complete their "
                        f'initialization{", but upsdrvctl tool will stay foregrounded" if fg else ""}.')
        for ups in self.upss:
            fn(ups)

    def for_one(self, command: str, upsname: str) -> None:
        if not self.upss:
            log.fatal("Error: no UPS definitions found in ups.conf!\n")
        self.upscount = 1
        for ups in self.upss:
            if ups.upsname == upsname:
                getattr(self, command)(ups)
                return
        log.fatal(f"UPS {upsname} not found in ups.conf")

    def revise_timeouts(self) -> None:
        """Drivers that outlived maxstartdelay: a late success counts, still starting or a
        late failure is an error."""
        for ups in self.upss:
            if not (ups.exceeded_timeout and ups.pid > 0):
                continue
            delay = ups.maxstartdelay if ups.maxstartdelay != -1 else self.maxstartdelay
            head = f"Driver [{ups.upsname}] PID {ups.pid} initially exceeded maxstartdelay {delay} sec"
            try:
                done, status = os.waitpid(ups.pid, os.WNOHANG)
            except ChildProcessError:
                log.warning(f"{head} and we got an error asking it again")
                self.errors += 1
                continue
            if done == 0:
                log.warning(f"{head} and is still starting")
                self.errors += 1
            elif not os.WIFEXITED(status):
                log.warning(f"{head} and has exited abnormally by now")
                self.errors += 1
            elif os.WEXITSTATUS(status) != 0:
                log.warning(f"{head} and has failed to start by now (exit status={os.WEXITSTATUS(status)})")
                self.errors += 1
            else:
                log.debug(1, f"{head} but has finished starting by now")
                ups.exceeded_timeout = False

    def supervise(self) -> int:
        """-F with several drivers: stay, pass SIGHUP/SIGUSR1/SIGUSR2/SIGURG on to them,
        and stop them all when told to exit or when one of them dies."""
        from ..common import sdnotify

        notify = sdnotify.notifier()
        flags: dict[str, int] = {"exit": 0, "signal": 0}
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            signal.signal(sig, lambda s, _f: flags.__setitem__("exit", s))
        for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGURG):
            signal.signal(sig, lambda s, _f: flags.__setitem__("signal", s))
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        notify.ready(status=f"{len([u for u in self.upss if u.pid > 0])} drivers started")
        last_dangerous = 0.0
        status = 0
        while not flags["exit"]:
            for ups in self.upss:
                if ups.pid <= 0:
                    continue
                done, wstat = os.waitpid(ups.pid, os.WNOHANG)
                if done != ups.pid:
                    continue
                ups.pid = -1
                code = os.waitstatus_to_exitcode(wstat)
                if time.monotonic() - last_dangerous < 60 or code - 128 in (signal.SIGUSR1, signal.SIGUSR2):
                    log.debug(1, f"Driver [{ups.driver}] for [{ups.upsname}] exited soon after "
                                 "reload-or-exit or similar signal, restarting it")
                    self.start(ups)
                else:
                    log.debug(1, f"Driver [{ups.driver}] for [{ups.upsname}] exited inexplicably "
                                 f"with code {code}, aborting")
                    flags["exit"] = -1
            if flags["exit"] == -1:
                log.error("At least one tracked driver running in foreground mode has exited, "
                          "stopping upsdrvctl (and other tracked drivers) so the bundle can be "
                          "restarted by system properly")
                status = 1
                break
            if flags["signal"]:
                sig = flags["signal"]
                flags["signal"] = 0
                if sig in (signal.SIGUSR1, signal.SIGUSR2):
                    last_dangerous = time.monotonic()
                if sig != signal.SIGURG:
                    notify.reloading()
                name = next(k for k, v in CONTROL_SIGNALS.items() if v == sig)
                self.opts.control = name
                for ups in self.upss:
                    if ups.pid > 0:
                        self.control(ups)
                if sig != signal.SIGURG:
                    notify.ready()
            time.sleep(0.2)
        notify.stopping(f"Signal {flags['exit']}: exiting" if flags["exit"] > 0 else None)
        for ups in self.upss:
            if ups.pid > 0:
                self.stop(ups)
        return status


# -- helpers -----------------------------------------------------------------------------------


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


def speaks_sd_notify(path: str) -> bool:
    """Whether a driver program reports its readiness to systemd itself: ours (Python entry
    points) do; a C driver only if it was linked with libsystemd."""
    try:
        with open(path, "rb") as f:
            data = f.read(4 << 20)
    except OSError:
        return False
    return not data.startswith(b"\x7fELF") or b"libsystemd.so" in data


def _exec(argv: list[str]) -> NoReturn:
    try:
        os.execv(argv[0], argv)
    except OSError as e:
        log.error(f"execv: {e.strerror}")
    os._exit(1)


def _wait_child(pid: int, timeout: float | None) -> int | None:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def _signal(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
    except OSError:
        return False
    return True


def _wait_gone(pid: int, seconds: float, ups: Ups) -> bool:
    """Poll until ``pid`` is gone (reaping it if it is our child)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ups.pid == pid:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    ups.pid = -1
                    return True
            except ChildProcessError:
                pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        time.sleep(0.05)
    return False


def _wait_socket_closed(s: socket.socket, timeout: float) -> None:
    """After INSTCMD driver.exit: PING until the driver stops answering."""
    deadline = time.monotonic() + timeout
    s.settimeout(1.0)
    try:
        s.sendall(b"NOBROADCAST\n")
        while time.monotonic() < deadline:
            s.sendall(b"PING\n")
            data = s.recv(4096)
            if not data:
                return
            time.sleep(0.1)
    except OSError:
        return


def _socket_error(path: str) -> str:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            s.connect(path)
    except OSError as e:
        return e.strerror or str(e)
    return "no reply"


@dataclass
class DriverStatus:
    running: str = "N/A"
    pid_from_file: int = -1
    responsive: bool = False
    pid_from_socket: str | None = None
    status: str | None = None
    extra: dict = field(default_factory=dict)


def driver_status(pidfile: str, sockpath: str, driver: str, timeout: float = 3.0) -> DriverStatus:
    """What ``upsdrvctl status`` shows for one driver: its PID file, and what it says on its
    socket (PING, GETPID, DUMPSTATUS; a C 2.8.0 driver answers only the first)."""
    st = DriverStatus()
    alive = -1
    try:
        st.pid_from_file = daemon.read_pidfile(pidfile)
    except (OSError, ValueError, IndexError):
        st.pid_from_file = -1
    if st.pid_from_file >= 0:
        try:
            os.kill(st.pid_from_file, 0)
            alive = 1
        except PermissionError:
            alive = 1
        except OSError:
            pass
    socket_pid = -1
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(sockpath)
            reader = _LineReader(s, timeout)
            s.sendall(b"NOBROADCAST\nPING\n")
            if reader.until(lambda w: w[:1] == ["PONG"]):
                st.responsive = True
                s.sendall(b"GETPID\n")
                reply = reader.until(lambda w: w[:1] == ["PID"])
                if reply and len(reply) > 1:
                    st.pid_from_socket = reply[1]
                    socket_pid = atoi(reply[1]) if reply[1].isdigit() else -1
                    s.sendall(b"DUMPSTATUS\n")
                    raw = reader.until_raw(lambda line: line.startswith("SETINFO ups.status ")
                                           or line == "DUMPDONE")
                    if raw and raw.startswith("SETINFO ups.status "):
                        st.status = raw[len("SETINFO ups.status "):]
    except OSError:
        pass
    if st.pid_from_file < 0 and socket_pid >= 0 or (alive < 0 and socket_pid >= 0
                                                    and socket_pid != st.pid_from_file):
        alive = _process_is(socket_pid, driver)
    if (st.pid_from_file < 0 and socket_pid < 0) or alive < 0:
        st.running = "N/A"
    else:
        st.running = "RUNNING" if alive > 0 else "STOPPED"
    return st


class _LineReader:
    def __init__(self, s: socket.socket, timeout: float) -> None:
        self.s, self.timeout, self.buf = s, timeout, b""

    def _lines(self):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                yield line.decode("latin-1")
            try:
                data = self.s.recv(4096)
            except (socket.timeout, OSError):
                return
            if not data:
                return
            self.buf += data

    def until(self, want):
        for line in self._lines():
            words = line.split()
            if want(words):
                return words
        return None

    def until_raw(self, want):
        for line in self._lines():
            if want(line):
                return line
        return None


def _process_is(pid: int, driver: str) -> int:
    """C's checkprocname: 1 if process ``pid`` runs ``driver``, 0 if it runs something else,
    -1 if it cannot be told."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
    except OSError:
        return -1
    return 1 if comm == driver[:15] else 0


# -- the manual driver fighting its service instance ----------------------------------------


def warn_about_services(upsnames: list[str]) -> None:
    """Starting or stopping by hand a driver that systemd runs as ``nut-driver@<ups>``: the
    two fight (each new instance kills the other, systemd restarts its own). Say so, and what
    to run instead. Quiet under systemd itself and with NUT_QUIET_INIT_NDE_WARNING."""
    if os.environ.get("NUT_QUIET_INIT_NDE_WARNING") or os.environ.get("INVOCATION_ID") \
            or not os.path.isdir("/run/systemd/system"):
        return
    import shutil
    import subprocess

    from .units import instance_name, unit_name

    systemctl = shutil.which("systemctl")
    if not systemctl or not upsnames:
        return
    units = [unit_name(instance_name(n)) for n in upsnames]
    try:
        out = subprocess.run([systemctl, "is-active", *units], capture_output=True, text=True,
                             timeout=10).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return
    active = [u for u, state in zip(units, out) if state in ("active", "activating", "reloading")]
    for unit in active:
        log.warning(f"WARNING: {unit} runs this driver under systemd; starting or stopping it "
                    f"by hand makes the two fight over the device. Use 'systemctl "
                    f"start|stop|restart {unit}' instead (or stop the service first).")


HELP = """\
Start, stop, shut down, signal and query the UPS drivers configured in ups.conf.

usage: {prog} [OPTIONS] (start | stop | shutdown | status) [<ups>]
usage: {prog} [OPTIONS] (list | -l) [<ups>]
usage: {prog} [OPTIONS] -c <command> [<ups>]

  -h			show this help
  -r <path>		drivers chroot to <path>
  -t			test mode: show what would run, run nothing
  -u <user>		drivers drop root privileges to <user>
  -D			more debugging output
  -d			give drivers the same debugging level
  -F			drivers stay in the foreground (-FF: and write PID files);
			with one driver, upsdrvctl becomes that driver
  -B			drivers go to the background even with debugging
  -l			same as list
  -c <command>		tell running drivers to: reload, reload-or-error,
			reload-or-exit, reload-or-restart, exit, data-dump
  start	[<ups>]		start every driver in ups.conf (or that of <ups>)
  stop [<ups>]		stop them
  shutdown [<ups>]	power off every UPS (by sdorder), or UPS <ups>
  status [<ups>]	show whether they run and answer: UPSNAME UPSDRV RUNNING
			PF_PID S_RESPONSIVE S_PID S_STATUS (PF_ = from the PID file,
			S_ = over the driver's socket)
  list [<ups>]		list the UPS sections of ups.conf
"""

DEBUG_HINT = """
This is upsdrvctl, which only launches drivers; its debug output is not the driver's.
Each 'exec:' line below is the exact driver command line: run it yourself with -D
flags added, or give upsdrvctl -d to pass its own debug level to the drivers (and -B
to keep them in the background).
"""


def main(argv: list[str] | None = None) -> int:
    from ..common.cliopt import GetOpt

    argv = sys.argv[1:] if argv is None else argv
    prog = "upsdrvctl"
    log.setup(prog, 0)
    print(f"Network UPS Tools - UPS driver controller {VERSION_TEXT}", flush=True)
    opts = Options()
    debug_args = 0
    command: str | None = None
    parser = GetOpt.for_args(argv, "htu:r:DdFBVc:l", prog)
    for opt, val in parser:  # one at a time, acting on each as C does
        if opt == "r":
            opts.pt_root = val
        elif opt == "t":
            opts.testmode = True
        elif opt == "u":
            opts.pt_user = val
        elif opt == "V":
            log.debug_level = debug_args
            report_build()
            return 0
        elif opt == "D":
            debug_args += 1
        elif opt == "d":
            opts.debug_passthrough = True
        elif opt == "F":
            opts.foreground = 2 if opts.foreground > 0 else 1
        elif opt == "B":
            opts.foreground = 0
        elif opt == "c":
            if command or opts.control:
                log.fatal("Error: only one command per run can be sent with option -c. "
                          "Try -h for help.")
            opts.control = next((c for c in CONTROL_COMMANDS if c.startswith(val)), None)
            if opts.control is None:
                log.fatal("Error: unknown argument to option -c. Try -h for help.")
            command = "control"
        elif opt == "l":
            command = "list"
        else:
            print(HELP.format(prog=prog), end="")
            return 0
    env = os.environ.get("NUT_DEBUG_LEVEL", "")
    if env.lstrip("-").isdigit() and int(env) > 0 and debug_args < 1:
        log.info(f"Defaulting debug verbosity to NUT_DEBUG_LEVEL={int(env)} since none was "
                 "requested by command-line options")
        debug_args = int(env)
    args = parser.operands
    if command is None and not args:
        print(HELP.format(prog=prog), end="")
        return 0
    log.debug_level = debug_args
    if opts.testmode:
        print("*** Testing mode: not calling exec/kill/signal", flush=True)
        log.debug_level = max(log.debug_level, 2)
    lastarg = 0
    if command is None:
        if args[0] in ("start", "stop", "shutdown", "list", "status"):
            command = args[0]
        lastarg = 1
    if command is None:
        log.fatal(f"Error: unrecognized command [{args[0]}]")
    path = paths.conf_file("ups.conf")
    try:
        conf = upsconf.load(path)
    except OSError as e:
        log.fatal(f"Can't open {path}: {e.strerror}")
    for error in conf.errors:
        log.error(str(error))
    ctl = Controller(conf, opts)
    if ctl.debug_min is not None:
        log.debug_min = ctl.debug_min
    if not opts.debug_passthrough and command in ("start", "shutdown"):
        log.debug(2, DEBUG_HINT)
    if len(args) == lastarg:
        targets = [u.upsname for u in ctl.upss]
        ctl.for_all(command)
    elif len(args) == lastarg + 1:
        targets = [args[lastarg]]
        ctl.for_one(command, args[lastarg])
    else:
        log.fatal("Error: extra arguments left on command line\n"
                  "(common options should be before a command and UPS name)")
    sys.stdout.flush()
    if command in ("start", "stop") and not opts.testmode:
        warn_about_services(targets)
    if ctl.timeouts:
        ctl.revise_timeouts()
    if ctl.errors:
        return 1
    if command == "start" and opts.foreground > 0 and ctl.upscount > 0 and not opts.testmode \
            and any(u.pid > 0 for u in ctl.upss):
        return ctl.supervise()
    return 0


if __name__ == "__main__":
    sys.exit(main())
