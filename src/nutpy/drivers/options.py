"""A driver's settings: its variable table (C ``addvar``), the ups.conf section and the
``-x`` options that fill it, the keys the core handles itself, and the command line.

``DriverOptions`` holds what the command line and ups.conf said; ``nutpy.drivers.main``'s
``DriverCore`` builds the process life cycle on it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from .. import VERSION_TEXT
from ..common import paths, upsconf
from ..common.cnum import atoi
from ..common.log import log
from .base import Driver
from .state import DriverState

# -c <cmd>: an argument selects the first of these it is a prefix of (as later C releases;
# so "-c reload" means reload-or-error).
CONTROL_COMMANDS = ["reload-or-error", "exit", "reload", "reload-or-restart", "reload-or-exit"]

@dataclass
class VarSpec:
    name: str
    desc: str
    is_flag: bool = False
    sensitive: bool = False
    reloadable: bool = False
    value: str | None = None  # set from ups.conf / -x
    found: bool = False


class DriverOptions:
    driver: Driver  # made by DriverCore once the settings exist

    def __init__(self, driver_cls: type, prog: str | None = None) -> None:
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
        self.conf_values: dict[str, str | None] = {}  # what the section said, for reload


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
            level = int_or_none(val)
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
            level = int_or_none(val)
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
        line = f"Network UPS Tools - {self.driver.description} {self.driver.version} ({VERSION_TEXT})"
        extra = self.driver.banner_extra
        return f"{line}\n{extra}" if extra else line

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


def int_or_none(text: str) -> int | None:
    try:
        return int(text.strip())
    except (ValueError, AttributeError):
        return None
