"""What every NUT driver shares (C ``drivers/main.c``): the command line, the ups.conf
section, ``driver.*`` variables, privileges, PID file, backgrounding, signals, the main
loop and the Unix socket for upsd.

A driver subclasses ``Driver`` and implements the device hooks. Hooks run in one worker
thread (device I/O blocks; the event loop never does), one at a time and in order, so a
driver needs no locking of its own. Start with ``run(MyDriver)`` from a console script.
"""

from __future__ import annotations

import grp
import os
import signal
import socket
import sys
import syslog  # noqa: F401  (log.use_syslog imports it after the privilege drop)
import time
from dataclasses import dataclass

from .. import NUT_VERSION
from ..common import daemon, parseconf, paths, upsconf
from ..proto import sockproto
from ..common.log import log
from .state import NUMBER, RW, DriverState
from ..common.cnum import atoi

# Start-up cost: asyncio (and the socket server built on it) is imported only once the
# command line says the driver will run (not for -h/-L/-V/-c), and without ssl unless the driver speaks TLS (see _import_asyncio).
# getopt (gettext, locale) and uuid (platform) are not used.

HANDLED, UNKNOWN, INVALID, FAILED = (sockproto.HANDLED, sockproto.UNKNOWN,
                                     sockproto.INVALID, sockproto.FAILED)


class ShutdownNotSupported(Exception):
    pass


@dataclass
class VarSpec:
    name: str
    desc: str
    is_flag: bool = False
    sensitive: bool = False
    reloadable: bool = False
    value: str | None = None  # set from ups.conf / -x
    found: bool = False


class Driver:
    """Base class of a driver. Override the hooks; use ``self.state`` to publish data and
    ``self.getval``/``self.testvar`` to read the driver's own ups.conf settings."""

    name = "driver"  # program name, e.g. "dummy-ups"
    description = "Generic driver"
    version = "0.00"
    experimental = False
    # True if set_var never touches the device (only self.state): it then runs on the
    # event loop, saving two thread hops on the SET path.
    set_var_is_quick = False

    def __init__(self, core: "DriverCore") -> None:
        self.core = core
        self.state = core.state

    # -- configuration
    def make_vartable(self) -> None:
        """Declare the driver's own ``-x``/ups.conf names with ``self.core.addvar``."""

    def getval(self, name: str) -> str | None:
        spec = self.core.vartab.get(name.lower())
        return spec.value if spec and spec.found else None

    def testvar(self, name: str) -> bool:
        spec = self.core.vartab.get(name.lower())
        return bool(spec and spec.found)

    @property
    def device_path(self) -> str:
        return self.core.device_path or ""

    # -- device hooks (worker thread)
    def init_device(self) -> None:
        """Open the device (``upsdrv_initups``). Raise SystemExit / log.fatal on failure."""

    def init_info(self) -> None:
        """Publish the initial data and commands (``upsdrv_initinfo``)."""

    def update_info(self) -> float | None:
        """Poll the device (``upsdrv_updateinfo``). May return how many seconds until it
        wants to run again, if sooner than the poll interval."""
        return None

    def set_var(self, name: str, value: str) -> int:
        return UNKNOWN

    def instcmd(self, name: str, param: str | None) -> int:
        return UNKNOWN

    def shutdown(self) -> int:
        """Kill the load (``-k``); return HANDLED on success."""
        raise ShutdownNotSupported()

    def cleanup(self) -> None:
        """Close the device at exit (``upsdrv_cleanup``)."""

    def help_text(self) -> str:
        return ""

    def uses_tls(self) -> bool:
        """True if this run will need TLS through asyncio (called after the command
        line and ups.conf are read); otherwise ssl is not loaded at start-up."""
        return False

    def preload(self) -> None:
        """Import what the hooks will import lazily: this runs before chroot and the
        privilege drop, after the command line and ups.conf are read."""


# -c <cmd>: an argument selects the first of these it is a prefix of (as later C releases;
# so "-c reload" means reload-or-error).
CONTROL_COMMANDS = ["reload-or-error", "exit", "reload", "reload-or-restart", "reload-or-exit"]
CONTROL_SIGNALS = {"reload": signal.SIGHUP, "reload-or-restart": signal.SIGUSR2,
                   "reload-or-exit": signal.SIGUSR1}

BUILTIN_COMMANDS = ["driver.exit", "driver.killpower", "driver.reload",
                    "driver.reload-or-error", "driver.reload-or-exit", "shutdown.default"]


class DriverCore:
    def __init__(self, driver_cls: type[Driver], prog: str | None = None) -> None:
        self.prog = prog or os.path.basename(sys.argv[0]) or driver_cls.name
        if self.prog.startswith("lt-"):
            self.prog = self.prog[3:]
        self.state = DriverState()
        self.vartab: dict[str, VarSpec] = {}
        self.upsname: str | None = None
        self.device_path: str | None = None
        self.poll_interval = 2
        self.synchronous = "auto"
        self.user = paths.RUN_AS_USER
        self.group = paths.RUN_AS_GROUP
        self.user_from_cmdline = self.group_from_cmdline = False
        self.chroot: str | None = None
        self.debug = 0
        self.debug_min_global: int | None = None
        self.debug_min_driver: int | None = None
        self.background: bool | None = None
        self.foreground_count = 0
        self.dump_count = 0
        self.forceshutdown = False
        self.control: str | None = None
        self.control_pid: int | None = None
        self.ignorelb = False
        self.allow_killpower = False
        self.sdcommands: list[str] | None = None
        self.pidfile: str | None = None
        self.conf_values: dict[str, str | None] = {}  # what the section said, for reload
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

    # ---- variable table (C addvar / storeval)

    def addvar(self, name: str, desc: str, is_flag: bool = False, sensitive: bool = False,
               reloadable: bool = False) -> None:
        self.vartab[name.lower()] = VarSpec(name, desc, is_flag, sensitive, reloadable)

    def _store(self, var: str, val: str | None) -> None:
        low = var.lower()
        # Both are also published as driver.parameter.* (2.8.1+; 2.8.0 did not).
        if val is not None and low.startswith("override."):
            self.state.setinfo(var[9:], val)
            self.state.make_immutable(var[9:])
            self.state.setinfo(f"driver.parameter.{var}", val)
            return
        if val is not None and low.startswith("default."):
            self.state.setinfo(var[8:], val)
            self.state.setinfo(f"driver.parameter.{var}", val)
            return
        spec = self.vartab.get(low)
        if spec is None:
            kind = "variable name" if val is not None else "flag"
            print(f"\nFatal error: '{var}' is not a valid {kind} for this driver.\n")
            print("Look in the man page or call this driver with -h for a list of\n"
                  "valid variable names and flags.")
            sys.stdout.flush()
            # C exits 0 here, so upsdrvctl reports a driver that never started as started.
            raise SystemExit(1)
        spec.value = val
        spec.found = True
        if not spec.sensitive:
            if val is None:
                self.state.setinfo(f"driver.flag.{var}", "enabled")
            else:
                self.state.setinfo(f"driver.parameter.{var}", val)

    def _core_arg(self, var: str, val: str | None, where: str) -> bool:
        """Keys the core handles itself (C main_arg); True if handled."""
        if val is None:
            if var == "nolock":
                self.state.setinfo("driver.flag.nolock", "enabled")
                return True
            if var == "ignorelb":
                self.ignorelb = True
                self.state.setinfo("driver.flag.ignorelb", "enabled")
                return True
            if var == "allow_killpower":
                self.allow_killpower = True
                return True
            return False
        if var == "port":
            self.device_path = val
            self.state.setinfo("driver.parameter.port", val)
        elif var == "user":
            if not self.user_from_cmdline:
                self.user = val
        elif var == "group":
            if not self.group_from_cmdline:
                self.group = val
        elif var == "sddelay":
            log.info("Obsolete value sddelay found in ups.conf")
        elif var == "synchronous":
            self.synchronous = val if val in ("yes", "auto") else "no"
        elif var == "debug_min":
            level = _int_or_none(val)
            if level is not None and level >= 0:
                self.debug_min_driver = level
            else:
                log.info("WARNING : Invalid debug_min value found in ups.conf for the driver")
        elif var == "pollinterval":
            self._set_pollinterval(val, where)
        elif var == "sdcommands":
            self.sdcommands = [c.strip() for c in val.split(",") if c.strip()]
            self.state.setinfo("driver.parameter.sdcommands", val)
        elif var in ("sdorder", "desc", "maxstartdelay", "maxretry", "retrydelay",
                     "reconnect_max_tries", "reconnect_report_freq", "LIBUSB_DEBUG"):
            pass
        else:
            return False
        return True

    def _apply(self, var: str, val: str | None, where: str = "") -> None:
        if self._core_arg(var, val, where):
            return
        if var == "driver":
            if val != self.prog:
                log.fatal(f"Error: UPS [{self.upsname}] is for driver {val}, but I'm {self.prog}!\n")
            return
        self._store(var, val)

    def _set_pollinterval(self, val: str, where: str = "") -> None:
        interval = atoi(val)
        if interval <= 0:
            log.fatal(f"Error: {where}invalid pollinterval: {interval}")
        self.poll_interval = interval

    def _global_arg(self, var: str, val: str) -> None:
        if var == "pollinterval":
            self._set_pollinterval(val)
        elif var == "chroot":
            self.chroot = val
        elif var == "user" and not self.user_from_cmdline:
            self.user = val
        elif var == "group" and not self.group_from_cmdline:
            self.group = val
        elif var == "synchronous":
            self.synchronous = val if val in ("yes", "auto") else "no"
        elif var.lower() == "debug_min":
            level = _int_or_none(val)
            if level is not None and level >= 0:
                self.debug_min_global = level
            else:
                log.info("WARNING : Invalid debug_min value found in ups.conf global settings")

    def read_upsconf(self, name: str) -> upsconf.Section:
        path = paths.conf_file("ups.conf")
        try:
            conf = upsconf.load(path)
        except OSError as e:
            log.fatal(f"Can't open {path}: {e.strerror}")
        if conf.errors:
            for err in conf.errors:
                log.error(str(err))
            # C carries on after a parse error and then trips on the tail of the broken
            # line; we stop at the real error.
            log.fatal(f"Fatal error: {path} has errors, refusing to start")
        section = conf.sections.get(name)
        if section is None:
            log.fatal(f"Error: Section {name} not found in ups.conf")
        for key, val in conf.globals.values.items():
            self._global_arg(key, val)
        return section

    def _apply_section(self, section: upsconf.Section) -> None:
        for key, val in section.values.items():
            self.conf_values[key] = val
            self._apply(key, val, f"UPS [{section.name}]: ")
        for flag in section.flags:
            self.conf_values[flag] = None
            self._apply(flag, None)

    # ---- command line

    def banner(self) -> str:
        return f"Network UPS Tools - {self.driver.description} {self.driver.version} ({NUT_VERSION})"

    def help(self) -> str:
        # The option set, its order and the usage line follow C; the prose is ours.
        lines = [
            "",
            f"usage: {self.prog} (-a <id>|-s <id>) [OPTIONS]",
            "  -a <id>        - take the settings of section [<id>] of ups.conf",
            "                 - -x options placed after -a win over ups.conf",
            "",
            "  -s <id>        - run as UPS <id> with no ups.conf section",
            "                 - every setting then comes from -x options",
            "                 - 'port' is the one setting that is always needed",
            "                 - tip: an ordinary user who can reach the device may read",
            "                   its current values with '-d 1' after pointing",
            "                   NUT_STATEPATH at a writable directory such as /tmp",
            "",
            "  -V             - show the version and exit",
            "  -L             - list the settings this driver accepts, machine-readable",
            "  -D             - more debug output, one level per -D (implies -F)",
            "  -d <count>     - print all data after <count> update rounds, then exit",
            "  -F             - do not detach into the background",
            "  -FF            - do not detach, but write the PID file anyway",
            "  -B             - detach even when debugging",
            "  -q             - log less, one level per -q",
            "  -h             - show this help",
            "  -k             - cut the UPS's power to the load, then exit",
            "  -c <command>   - ask the driver already running for <id> to act:",
            "                   reload, reload-or-error, reload-or-exit, exit",
            "  -P <pid>       - with -c: the process to signal (default: from the PID file)",
            "  -i <int>       - seconds between two device polls",
            "  -r <dir>       - chroot into <dir> once started",
            "  -u <user>      - run as <user> (when started by root)",
            "  -g <group>     - let <group> use the driver's socket (when started by root)",
            "  -x <var>=<val> - give setting <var> the value <val>",
            "                 - e.g. -x port=/dev/ttyS0",
            "",
        ]
        specs = list(self.vartab.values())
        if specs:
            lines.append("Settings of this driver (as -x or in ups.conf):")
            lines.append("")
            for spec in specs:
                suffix = "" if spec.is_flag else "=<value>"
                lines.append(f"{spec.desc:<50} : -x {spec.name}{suffix}")
        extra = self.driver.help_text()
        if extra:
            lines += ["", extra]
        return "\n".join(lines)

    def list_vars(self) -> str:
        return "".join(f'{"FLAG" if s.is_flag else "VALUE"} {s.name} "{s.desc}"\n'
                       for s in self.vartab.values())

    def parse_args(self, argv: list[str]) -> None:
        upsname_found = False
        from ..common.cliopt import GetOpt

        parser = GetOpt.for_args(argv, "a:s:kFBDd:hx:Lqr:u:g:Vi:c:P:", self.prog)
        for opt, arg in parser:  # one at a time: each acts before the next is read
            if opt == "?":
                log.fatal(f"Error: unknown option -{arg}. Try -h for help.")
            opt = "-" + opt
            if opt == "-a":
                self.upsname = arg
                section = self.read_upsconf(arg)
                self._apply_section(section)
                upsname_found = True
            elif opt == "-s":
                self.upsname = arg
                upsname_found = True
            elif opt == "-F":
                self.background = False
                self.foreground_count += 1
            elif opt == "-B":
                self.background = True
            elif opt == "-D":
                self.debug += 1
            elif opt == "-d":
                self.dump_count = atoi(arg)
            elif opt == "-i":
                self._set_pollinterval(arg, "command-line: ")
            elif opt == "-k":
                self.forceshutdown = True
            elif opt == "-L":
                sys.stdout.write(self.list_vars())
                raise SystemExit(0)
            elif opt == "-q":
                log.quiet += 1
            elif opt == "-r":
                self.chroot = arg
            elif opt == "-u":
                self.user = arg
                self.user_from_cmdline = True
            elif opt == "-g":
                self.group = arg
                self.group_from_cmdline = True
            elif opt == "-V":
                raise SystemExit(0)
            elif opt == "-x":
                key, sep, val = arg.partition("=")
                self._apply(key, val if sep else None, "command-line: ")
            elif opt == "-h":
                print(self.help())
                raise SystemExit(0)
            elif opt == "-c":
                self.control = self._match_control(arg)
            elif opt == "-P":
                self.control_pid = atoi(arg)
        rest = parser.operands
        if rest:
            log.fatal("Error: too many non-option arguments. Try -h for help.")
        if not upsname_found:
            log.fatal("Error: specifying '-a id' or '-s id' is now mandatory. Try -h for help.")
        if not self.device_path and not self.control:
            log.fatal("Error: you must specify a port name in ups.conf or in '-x port=...' "
                      "argument.\nTry -h for help.")

    def _match_control(self, arg: str) -> str:
        for name in CONTROL_COMMANDS:
            if name.startswith(arg):
                return name
        print(self.help())
        raise SystemExit(1)

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

        daemon.ignore_sigpipe()
        pw = daemon.get_user(self.user)
        # looked up / opened before chroot: the jail may have neither /etc/group nor /dev
        try:
            self.socket_gid = grp.getgrnam(self.group).gr_gid
        except KeyError:
            self.socket_gid = None
        self.devnull = os.open(os.devnull, os.O_RDWR)
        if self.chroot:
            daemon.chroot_start(self.chroot)
        daemon.become_user(pw)
        statepath = paths.statepath()
        if not self.forceshutdown and not self.dump_count:
            try:
                os.chdir(statepath)
            except OSError as e:
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
            first_hint = await self.call(self.driver.update_info)
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
                _announce_ready(ready_fd, self.devnull)
            return await self._main_loop(first_hint)
        finally:
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
            hint = await self.call(self.driver.update_info)
            if self.dump_count:
                if updates == self.dump_count:
                    sys.stdout.write(self.state.tree_text())
                    sys.stdout.flush()
                    return 0
                updates += 1
            wait = float(self.poll_interval)
            if hint is not None:
                wait = min(wait, max(0.0, hint))
            wait -= self._loop.time() - started if hint is None else 0.0
            if wait > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except asyncio.TimeoutError:
                    pass
            self._wake.clear()
        return self.exit_status

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
            level = _int_or_none(value)
            if level is None:
                return INVALID
            log.debug_level = self.debug if level < 0 else level
            self.state.setinfo("driver.debug", str(log.effective_debug))
            return HANDLED
        if low == "driver.flag.allow_killpower":
            text = value.strip().lower()
            num = _int_or_none(text)
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
        self.request_exit(0)

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
        """Re-read our ups.conf section. Settings that need a restart are reported; with
        ``reload-or-exit`` we then exit, with ``reload-or-error`` the result is INVALID."""
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
                self.debug_min_driver = _int_or_none(new_val)
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


def _announce_ready(fd: int, null: int) -> None:
    """Tell the waiting parent we are up, then leave the terminal (``null`` is an open
    /dev/null)."""
    sys.stdout.flush()
    sys.stderr.flush()
    for target in (0, 1, 2):
        os.dup2(null, target)
    log.use_syslog()
    log.info("Startup successful")
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
        if daemon.wait_gone(pid, 5):
            return


def query_socket(path: str, request, timeout: float | None = 15.0,
                 quiet: bool = False) -> int:
    """Send one tracked request to a running driver and return its result, or -1 when
    the socket cannot be used or no result came in time. ``request`` builds the line
    from a tracking id (e.g. ``lambda i: sockproto.instcmd(cmd, tracking_id=i)``);
    ``timeout`` None waits as long as the driver keeps the connection open."""
    ident = _uuid4()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(b"NOBROADCAST\n" + request(ident))
            tok = parseconf.Tokenizer()
            deadline = None if timeout is None else time.monotonic() + timeout
            while deadline is None or time.monotonic() < deadline:
                data = s.recv(4096)
                if not data:
                    break
                for line in tok.feed(data):
                    w = line.words
                    if len(w) == 3 and w[0] == "TRACKING" and w[1] == ident:
                        return atoi(w[2])
    except OSError as e:
        if not quiet:
            print(f"Socket {path}: {e.strerror or e}", file=sys.stderr)
        else:
            log.debug(1, f"Socket dialog with the other driver instance: {e.strerror or e}")
    return -1


def query_socket_instcmd(path: str, cmd: str, timeout: float = 15.0) -> int:
    """``-c exit|reload-or-error``: the running driver's result, 255 if unreachable."""
    result = query_socket(path, lambda i: sockproto.instcmd(cmd, tracking_id=i), timeout)
    return 255 if result < 0 else result


def killpower_via_running_driver(path: str) -> bool:
    """``-k`` as NUT 2.8.1+: let a running instance cut the power (it holds the device);
    True if it reported success."""
    log.info("Checking if an already running driver instance can handle the shutdown "
             "command for us")
    log.debug(1, "Make sure the other driver instance is allowed to kill power")
    if query_socket(path, lambda i: sockproto.set_var("driver.flag.allow_killpower", "1",
                                                      tracking_id=i), 15.0, quiet=True) < 0:
        return False
    log.debug(1, "Send the actual command to the other driver instance")
    result = query_socket(path, lambda i: sockproto.instcmd("driver.killpower", tracking_id=i),
                          None, quiet=True)
    if result < 0:
        return False
    log.info(f"Request to killpower via running driver instance returned code {result}")
    return result == 0


def _is_coroutine_function(fn) -> bool:
    import inspect  # already loaded by asyncio when hooks run

    return inspect.iscoroutinefunction(fn)


def _uuid4() -> str:
    """A random (version 4) UUID in upper case, as C's tracking ids."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex().upper()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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


def _int_or_none(text: str) -> int | None:
    try:
        return int(text.strip())
    except (ValueError, AttributeError):
        return None


def run(driver_cls: type[Driver], argv: list[str] | None = None) -> int:
    core = DriverCore(driver_cls)
    try:
        return core.main(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        return 0
