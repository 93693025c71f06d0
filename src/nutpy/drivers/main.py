"""A driver's life cycle (C ``drivers/main.c``): start-up order (privileges, chroot, PID
file, backgrounding), the main loop that polls the device, the Unix socket for upsd, signals,
reload, ``-c`` control of a running instance and ``-k``.

A driver subclasses ``nutpy.drivers.base.Driver``; its console script calls ``run(MyDriver)``.
"""

from __future__ import annotations

import grp
import os
import signal
import sys
import syslog  # noqa: F401  (log.use_syslog imports it after the privilege drop)

from .. import NUT_VERSION
from ..common import daemon, paths, sdnotify, upsconf
from ..common.cnum import atoi
from ..common.log import log, report_build
from ..common.ratelimit import Throttle
from .base import FAILED, HANDLED, INVALID, Driver, ShutdownNotSupported
from .control import killpower_via_running_driver, query_socket_instcmd
from .options import DriverOptions, int_or_none
from .state import NUMBER, RW

# Start-up cost: asyncio (and the socket server built on it) is imported only once the
# command line says the driver will run (not for -h/-L/-V/-c), and without ssl unless the
# driver speaks TLS (see _import_asyncio). getopt (gettext, locale) and uuid (platform) are
# not used.

CONTROL_SIGNALS = {"reload": signal.SIGHUP, "reload-or-restart": signal.SIGUSR2,
                   "reload-or-exit": signal.SIGUSR1}

BUILTIN_COMMANDS = ["driver.exit", "driver.killpower", "driver.reload",
                    "driver.reload-or-error", "driver.reload-or-exit", "shutdown.default"]


class DriverCore(DriverOptions):
    def __init__(self, driver_cls: type[Driver], prog: str | None = None) -> None:
        super().__init__(driver_cls, prog)
        self.pidfile: str | None = None
        self.exit_status = 0
        self.driver = driver_cls(self)
        self.driver.make_vartable()
        self._loop = None  # asyncio loop, executor and events, made in _run
        self._executor = None
        self._stop = None
        self._wake = None
        self.server = None  # sockserver.DriverSocketServer
        self.early_signals: list[int] = []  # from daemon.catch_early_signals
        self.socket_gid: int | None = None
        self.devnull: int | None = None
        self._update_errors = Throttle(burst=5, period=60.0)
        self.notify = sdnotify.Notifier({})  # the real one once running
        self._stopping_sent = False

    # ---- signalling a running instance (-c)

    def send_control(self) -> int:
        cmd = self.control
        if cmd in CONTROL_SIGNALS:
            return daemon.signal_running(self._pidfile_name(), CONTROL_SIGNALS[cmd],
                                         self.control_pid)
        return query_socket_instcmd(self.socket_path(), f"driver.{cmd}")

    # ---- paths

    def socket_path(self) -> str:
        return os.path.join(paths.statepath(),
                            paths.driver_socket_name(self.prog, self.upsname or ""))

    def _pidfile_name(self) -> str:
        return daemon.pidfile_path(paths.altpidpath(), f"{self.prog}-{self.upsname}")

    # ---- start-up

    def main(self, argv: list[str]) -> int:
        print(self.banner())
        sys.stdout.flush()
        if self.driver.experimental:
            print("Warning: This is an experimental driver.\nSome features may not function correctly.\n")
        log.setup(self.prog, 0)
        self.parse_args(argv)
        if self.background is None:
            self.background = not (self.debug > 0 or self.dump_count)
        env = os.environ.get("NUT_DEBUG_LEVEL", "")
        if not self.debug and env.isdigit():
            self.debug = int(env)  # a level from the environment keeps the daemon backgrounded
        log.debug_level = self.debug
        report_build()
        if self.control:
            return self.send_control()
        levels = [v for v in (self.debug_min_driver, self.debug_min_global) if v is not None]
        if levels:
            log.debug_min = levels[0]
        log.debug(1, f"debug level is '{log.effective_debug}'")

        # Everything the run needs is imported now: after chroot or the privilege drop
        # the modules may be out of reach.
        asyncio = _import_asyncio(self.driver.uses_tls())
        from concurrent.futures import ThreadPoolExecutor  # noqa: F401  (lazy in the package)

        from . import sockserver  # noqa: F401

        self.driver.preload()
        daemon.preload()

        daemon.ignore_sigpipe()
        pw = daemon.get_user(self.user)
        # looked up / opened before chroot: the jail may have neither /etc/group nor /dev
        try:
            self.socket_gid = grp.getgrnam(self.group).gr_gid
        except KeyError:
            self.socket_gid = None
        self.devnull = daemon.open_devnull()
        self.notify = sdnotify.notifier()
        self.notify.connect()  # systemd's socket may be outside the jail
        if self.chroot:
            daemon.chroot_start(self.chroot)
        daemon.become_user(pw)
        statepath = paths.statepath()
        if not self.forceshutdown and not self.dump_count:
            try:
                os.chdir(statepath)
            except OSError as e:
                log.error(daemon.statepath_hint(statepath))
                log.fatal(f"Can't chdir to {statepath}: {e.strerror}")

        if self.forceshutdown and killpower_via_running_driver(self.socket_path()):
            return 0

        write_pid = (self.background or self.foreground_count >= 2) \
            and not self.forceshutdown and not self.dump_count
        if write_pid:
            self.pidfile = self._pidfile_name()
            _terminate_previous(self.pidfile)

        ready_fd = None
        if self.background and not self.forceshutdown and not self.dump_count:
            ready_fd = fork_until_ready()
        # only here: the parent waiting for our readiness keeps the default actions, so
        # Ctrl-C still stops a start that hangs; we have created nothing before this point
        self.early_signals = daemon.catch_early_signals()
        if write_pid:
            daemon.write_pidfile(self.pidfile)
        try:
            return asyncio.run(self._run(ready_fd))
        finally:
            daemon.remove_pidfile(self.pidfile)

    async def call(self, fn, *args):
        """Run a driver hook: in the worker thread, or on the loop if it is a coroutine
        function (a hook doing network I/O with asyncio, such as the repeater's)."""
        if _is_coroutine_function(fn):
            return await fn(*args)
        return await self._loop.run_in_executor(self._executor, fn, *args)

    async def _run(self, ready_fd: int | None) -> int:
        import asyncio
        from concurrent.futures import ThreadPoolExecutor  # loaded by asyncio

        from .sockserver import DriverSocketServer

        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="device")
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._install_signals()
        if self.early_signals:
            self._signal_exit(self.early_signals[0])
        state = self.state
        state.status.ignorelb = self.ignorelb
        try:
            state.setinfo("device.type", "ups")
            state.setinfo("driver.state", "init.device")
            await self.call(self.driver.init_device)
            if self.forceshutdown:
                return await self._forceshutdown()
            state.setinfo("driver.version", NUT_VERSION)
            state.setinfo("driver.version.internal", self.driver.version)
            state.setinfo("driver.name", self.prog)
            state.setinfo("driver.state", "init.info")
            await self.call(self.driver.init_info)
            state.addcmd("shutdown.default")
            state.setinfo("driver.state", "init.updateinfo")
            first_hint = await self._update()
            if self.ignorelb:
                self._check_ignorelb()
            if not self.dump_count:
                self.server = DriverSocketServer(state, self._on_set, self._on_instcmd,
                                                 self._loop)
                self.server.attach()
                await self.server.listen(self.socket_path())
                self._fix_socket_group()
            state.setinfo("driver.parameter.pollinterval", str(self.poll_interval))
            state.setinfo("driver.parameter.synchronous", self.synchronous)
            for item in ("mfr", "model", "serial"):
                value = state.get(f"ups.{item}")
                if value is not None:
                    state.setinfo(f"device.{item}", value)
            state.setinfo("driver.debug", str(log.effective_debug))
            state.setflags("driver.debug", RW | NUMBER)
            state.setinfo("driver.flag.allow_killpower", "1" if self.allow_killpower else "0")
            state.setflags("driver.flag.allow_killpower", RW | NUMBER)
            for cmd in BUILTIN_COMMANDS:
                state.addcmd(cmd)
            state.setinfo("driver.state", "quiet")
            if ready_fd is not None:
                _announce_ready(ready_fd)
            self.notify.ready(status=f"{self.prog} serving [{self.upsname}]", mainpid=os.getpid())
            return await self._main_loop(first_hint)
        finally:
            self._notify_stopping(None)
            state.setinfo("driver.state", "cleanup.upsdrv")
            if self.server is not None:
                self.server.close()
            try:
                await self.call(self.driver.cleanup)
            except Exception as e:  # cleanup must not mask the exit status
                log.error(f"cleanup: {e!r}")
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def _main_loop(self, hint: float | None) -> int:
        import asyncio

        updates = 0
        while not self._stop.is_set():
            started = self._loop.time()
            hint = await self._update()
            if self.dump_count:
                # C polls the rounds of a dump back to back, then prints the tree
                updates += 1
                if updates >= self.dump_count:
                    sys.stdout.write(self.state.tree_text())
                    sys.stdout.flush()
                    return 0
                continue
            wait = float(self.poll_interval)
            if hint is not None:
                wait = min(wait, max(0.0, hint))
            wait -= self._loop.time() - started if hint is None else 0.0
            # systemd's watchdog hears from us after every poll, and during long waits
            self.notify.watchdog()
            ping = self.notify.watchdog_interval()
            deadline = self._loop.time() + wait
            while wait > 0 and not self._wake.is_set():
                try:
                    await asyncio.wait_for(self._wake.wait(), min(wait, ping or wait))
                except asyncio.TimeoutError:
                    self.notify.watchdog()
                wait = deadline - self._loop.time()
            self._wake.clear()
        return self.exit_status

    async def _update(self) -> float | None:
        """One poll. A driver bug (an exception out of ``update_info``) must not end the
        driver: the data it could not read goes stale, the error is logged (with its
        traceback at debug level 1), and the next poll tries again."""
        try:
            return await self.call(self.driver.update_info)
        except Exception as e:
            allowed, suppressed = self._update_errors.allow()
            if allowed:
                more = f" ({suppressed} more not logged)" if suppressed else ""
                log.error(f"Driver error while polling the device: {e!r}{more}")
                if log.effective_debug >= 1:
                    import traceback
                    log.debug(1, "".join(traceback.format_exception(e)).rstrip())
            self.state.datastale()
            return None

    def _check_ignorelb(self) -> None:
        s = self.state
        methods = 0
        if s.get("battery.charge") is not None and s.get("battery.charge.low") is not None:
            log.info("using 'battery.charge' to set battery low state")
            methods += 1
        if s.get("battery.runtime") is not None and s.get("battery.runtime.low") is not None:
            log.info("using 'battery.runtime' to set battery low state")
            methods += 1
        if not methods:
            log.fatal("The 'ignorelb' flag is set, but there is no way to determine the\n"
                      "battery state of charge.\n\n"
                      "Only set this flag if both 'battery.charge' and 'battery.charge.low'\n"
                      "and/or 'battery.runtime' and 'battery.runtime.low' are available.\n")

    def _fix_socket_group(self) -> None:
        if self.group == paths.RUN_AS_GROUP and self.user == paths.RUN_AS_USER:
            return
        path = self.server.path
        try:
            if self.socket_gid is None:
                raise KeyError(f"group {self.group} not found")
            os.chown(path, -1, self.socket_gid)
            os.chmod(path, 0o660)
        except (KeyError, OSError) as e:
            log.debug(0, f"WARNING: Needed to fix group access to filesystem socket of this "
                         f"driver, but failed ({e}): {path}")

    async def _forceshutdown(self) -> int:
        log.notice("Initiating UPS shutdown")
        result = await self._run_shutdown()
        return 0 if result == HANDLED else 1

    async def _run_shutdown(self) -> int:
        """``sdcommands`` in order until one is handled, else the driver's default."""
        for cmd in self.sdcommands or ["shutdown.default"]:
            if cmd == "shutdown.default":
                result = await self._default_shutdown()
            else:
                result = await self.call(self.driver.instcmd, cmd, None)
            if result == HANDLED:
                return HANDLED
        return FAILED

    async def _default_shutdown(self) -> int:
        try:
            return await self.call(self.driver.shutdown)
        except ShutdownNotSupported:
            log.error("shutdown not supported")
            return FAILED

    # ---- socket requests

    async def _on_set(self, name: str, value: str) -> int:
        low = name.lower()
        if low == "driver.debug":
            level = int_or_none(value)
            if level is None:
                return INVALID
            log.debug_level = self.debug if level < 0 else level
            self.state.setinfo("driver.debug", str(log.effective_debug))
            return HANDLED
        if low == "driver.flag.allow_killpower":
            text = value.strip().lower()
            num = int_or_none(text)
            self.allow_killpower = (num is not None and num > 0) or \
                text.startswith(("enable", "true", "yes", "on"))
            self.state.setinfo("driver.flag.allow_killpower", "1" if self.allow_killpower else "0")
            return HANDLED
        log.debug(2, f"SET {name} {value}")
        set_var = self.driver.set_var
        if self.driver.set_var_is_quick and not _is_coroutine_function(set_var):
            return set_var(name, value)
        return await self.call(set_var, name, value)

    async def _on_instcmd(self, name: str, param: str | None) -> int:
        low = name.lower()
        if low == "driver.exit":
            log.info("Got INSTCMD driver.exit: exiting")
            self.request_exit(0)
            return HANDLED
        if low == "driver.reload":
            self.reload("reload")
            return HANDLED
        if low == "driver.reload-or-exit":
            self.reload("reload-or-exit")
            return HANDLED
        if low == "driver.reload-or-error":
            return self.reload("reload-or-error")
        if low == "shutdown.default":
            return await self._default_shutdown()
        if low == "driver.killpower":
            if not self.allow_killpower:
                log.warning("driver.killpower is not allowed (driver.flag.allow_killpower is 0)")
                return INVALID
            self.state.setinfo("driver.state", "fsd.killpower")
            result = await self._run_shutdown()
            self.state.setinfo("driver.state", "quiet")
            return result
        if not self.state.has_command(name):
            # the driver's own handler reports it (C's core only says so at debug 2)
            log.debug(2, f"shared instcmd() does not handle command {name}, "
                         "proceeding to driver-specific handler")
        return await self.call(self.driver.instcmd, name, param)

    # ---- signals, reload, exit

    def _install_signals(self) -> None:
        loop = self._loop
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(sig, self._signal_exit, sig)
        loop.add_signal_handler(signal.SIGHUP, self.reload, "reload")
        loop.add_signal_handler(signal.SIGUSR1, self.reload, "reload-or-exit")
        loop.add_signal_handler(signal.SIGUSR2, self.reload, "reload")
        loop.add_signal_handler(signal.SIGURG, self._dump_to_stdout)

    def _signal_exit(self, sig: int) -> None:
        log.info(f"Signal {sig}: exiting")
        self._notify_stopping(f"Signal {sig}: exiting")
        self.request_exit(0)

    def _notify_stopping(self, status: str | None) -> None:
        if not self._stopping_sent:
            self._stopping_sent = True
            self.notify.stopping(status)

    def request_exit(self, status: int) -> None:
        self.exit_status = status
        self._stop.set()
        self._wake.set()

    def _dump_to_stdout(self) -> None:
        try:
            sys.stdout.write(self.state.tree_text())
            sys.stdout.flush()
        except (OSError, ValueError):
            pass

    def reload(self, how: str) -> int:
        """Re-read our ups.conf section (systemd hears RELOADING=1, then READY=1)."""
        self.notify.reloading()
        try:
            return self._reload(how)
        finally:
            self.notify.ready()

    def _reload(self, how: str) -> int:
        """Settings that need a restart are reported; with ``reload-or-exit`` we then exit,
        with ``reload-or-error`` the result is INVALID."""
        if not self.upsname or self.device_path is None:
            return INVALID
        self.state.setinfo("driver.state", "reloading")
        try:
            conf = upsconf.load(paths.conf_file("ups.conf"))
        except OSError as e:
            log.error(f"reload: can't open ups.conf: {e.strerror}")
            self.state.setinfo("driver.state", "quiet")
            return FAILED
        section = conf.sections.get(self.upsname)
        if section is None or conf.errors:
            for err in conf.errors:
                log.error(str(err))
            log.error(f"reload: section {self.upsname} missing or ups.conf broken; keeping settings")
            self.state.setinfo("driver.state", "quiet")
            return FAILED
        new: dict[str, str | None] = dict(section.values)
        new.update({f: None for f in section.flags})
        needs_restart = []
        for key in set(new) | set(self.conf_values):
            old_val, new_val = self.conf_values.get(key, ...), new.get(key, ...)
            if old_val == new_val:
                continue
            spec = self.vartab.get(key.lower())
            if key == "pollinterval" and new_val not in (..., None) and atoi(new_val) > 0:
                self.poll_interval = atoi(new_val)
                self.state.setinfo("driver.parameter.pollinterval", str(self.poll_interval))
            elif key == "synchronous" and new_val not in (..., None):
                self.synchronous = new_val if new_val in ("yes", "auto") else "no"
                self.state.setinfo("driver.parameter.synchronous", self.synchronous)
            elif key == "debug_min" and new_val not in (..., None):
                self.debug_min_driver = int_or_none(new_val)
                log.debug_min = self.debug_min_driver or 0
            elif key in ("desc", "sdorder", "maxstartdelay", "maxretry", "retrydelay"):
                pass
            elif spec is not None and spec.reloadable and new_val is not ...:
                spec.value = new_val
                self.state.setinfo(f"driver.parameter.{spec.name}", new_val or "")
            else:
                needs_restart.append(key)
        self.conf_values = new
        self.state.setinfo("driver.state", "quiet")
        if needs_restart:
            log.warning(f"reload: changed settings need a driver restart: {', '.join(sorted(needs_restart))}")
            if how == "reload-or-exit":
                self.request_exit(0)
            if how == "reload-or-error":
                return INVALID
        self._wake.set()
        return HANDLED


# ---- process helpers

def fork_until_ready() -> int:
    """Fork; the parent stays until the child reports readiness (exit 0) or dies before
    that (exit 1), so whoever started the driver learns whether it came up. Returns the
    child's end of the pipe."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid > 0:
        os.close(wfd)
        data = b""
        try:
            data = os.read(rfd, 1)
        except OSError:
            pass
        os._exit(0 if data == b"1" else 1)
    os.close(rfd)
    os.setsid()
    return wfd


def _announce_ready(fd: int) -> None:
    """Leave the terminal (python-daemon's context, at the moment C detaches), then tell the
    waiting parent we are up."""
    daemon.release_terminal()
    try:
        os.write(fd, b"1")
    except OSError:  # the launcher was stopped while it waited: we are up all the same
        pass
    finally:
        os.close(fd)


def _terminate_previous(pidfile: str) -> None:
    """An instance already running for this UPS is told to exit (SIGTERM, up to 3 times);
    unlike C we wait for it to go rather than sleeping 5 s blindly."""
    for _ in range(3):
        try:
            pid = daemon.read_pidfile(pidfile)
        except (OSError, ValueError, IndexError):
            return
        if pid == os.getpid():
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            return
        log.warning(f"Duplicate driver instance detected (PID file {pidfile} exists)! "
                    "Terminating other driver!")
        _explain_fight(pid)
        if daemon.wait_gone(pid, 5):
            return


def _explain_fight(other: int) -> None:
    """Two instances for one UPS, one of them a systemd service: they will keep replacing
    each other. Say which and what to do."""
    theirs, ours = daemon.service_of(other), daemon.service_of(os.getpid())
    if theirs and theirs != ours:
        log.warning(f"The other instance is systemd's {theirs}, which will start it again: run "
                    f"'systemctl stop {theirs}' before starting this driver by hand, or "
                    f"'systemctl restart {theirs}' instead")
    elif ours and not theirs:
        log.warning(f"The other instance was started outside {ours} (by hand or by "
                    "upsdrvctl): leave this UPS to the service (upsdrvctl stop, then "
                    f"systemctl restart {ours})")


def _is_coroutine_function(fn) -> bool:
    import inspect  # already loaded by asyncio when hooks run

    return inspect.iscoroutinefunction(fn)


def _import_asyncio(need_ssl: bool):
    """asyncio imports ssl only to offer TLS streams, a fifth of its import time; a
    driver that speaks no TLS hides ssl while asyncio loads (ssl stays importable)."""
    if need_ssl or "asyncio" in sys.modules or "ssl" in sys.modules:
        import asyncio
        return asyncio
    sys.modules["ssl"] = None  # makes "import ssl" fail, which asyncio tolerates
    try:
        import asyncio
    finally:
        del sys.modules["ssl"]
    return asyncio


def run(driver_cls: type[Driver], argv: list[str] | None = None) -> int:
    core = DriverCore(driver_cls)
    try:
        return core.main(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        return 0
