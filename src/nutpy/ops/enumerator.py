"""nut-driver-enumerator: one ``nut-driver@<instance>`` systemd service per ups.conf section.

Same command line, outputs, exit codes, instance names and drop-in files as NUT's
``nut-driver-enumerator.sh`` (2.8.5), so the two can take turns on one machine: a system
set up by C NUT's script is taken over without re-registering anything, and C's
``nut-driver@.service`` finds its devices in the drop-ins we write.

What it reads of ups.conf is what C's script reads: its own line-normalized view of the file
(``normalize``), not the full NUT parser; the section checksums stored in the drop-ins are
MD5 sums of that view, exactly as C computes them (including how /bin/sh's ``read`` and
``echo`` treat backslashes), so they compare equal across the two.

Instance names: the section name when systemd accepts it as an instance as it is, else
``MD5_<md5 of the name>``. Deliberate differences from the C script (docs/operations.md):
names that systemd would escape (spaces, non-ASCII) get the MD5 form instead of a unit C
cannot find again; a section name containing ``@`` is found again; the ``drivers=``
dependencies of clone/failover/dummy-ups drivers name the instance the other section really
has. Exit codes: 0 in sync, 42 changed and now in sync (0 with REPORT_RESTART_42=no), 13 still
out of sync, 1 bad usage, 2 ups.conf unreadable.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from ..common import paths
from ..drivers.units import (
    SVCNAME,
    instance_name,
    instance_of,
    md5_instance,
    md5_of_text,
    shell_echo,
    unit_name,
)

WEBSITE = "https://www.networkupstools.org"
MAN_SECTION = "8"

# What a driver's service waits for, by the kind of link to its device (overridable in
# nut-driver-enumerator.conf, as in C).
DEFAULTS = {
    "DEPSVC_USB_SYSTEMD": "systemd-udevd.service nut-udev-settle.service",
    "DEPREQ_USB_SYSTEMD": "Wants",
    "DEPSVC_SERIAL_SYSTEMD": "systemd-udevd.service nut-udev-settle.service",
    "DEPREQ_SERIAL_SYSTEMD": "Wants",
    "DEPSVC_NET_FULL_SYSTEMD": "network-online.target systemd-resolved.service ifplugd.service",
    "DEPREQ_NET_FULL_SYSTEMD": "Wants",
    "DEPSVC_NET_LOCAL_SYSTEMD": "network.target",
    "DEPREQ_NET_LOCAL_SYSTEMD": "Wants",
    "DEPREQ_DRV_LOCAL_SYSTEMD": "Wants",
    "AUTO_START": "yes",
}

EXIT_CHANGED = 42
EXIT_OUT_OF_SYNC = 13
EXIT_NO_CONFIG = 2

# -- ups.conf as the C script sees it ---------------------------------------------------------
# Bracket expressions below keep the script's quirks: its "[\t\ ]" and "[^=\ \t]" classes
# also hold a backslash (POSIX brackets take it literally).
_STEPS = [
    (re.compile(r"^[\t\\ ]*"), ""),
    (re.compile(r"^#.*$"), ""),
    (re.compile(r"[\t\\ ]*$"), ""),
    (re.compile(r"^([^=\\ \t]*)[\t\\ ]*=[\t\\ ]*"), r"\1="),
    (re.compile(r'="([^\\ \t]*)"$'), r"=\1"),
    (re.compile(r"^(\[[^]\t\\ ]*\])[\t\\ ]*(#.*)*$"), r"\1"),
]
_KEEP = re.compile(r"([\\\[=]|^[^ \t]*$|^[^ \t]*[ \t]*#.*$)")
_SDP = re.compile(r"^(\[.*\]|driver=|port=)")
_DEVICE = re.compile(r"^\[[^\t ]*\]$")


def normalize(text: str) -> list[str]:
    """ups.conf reduced to ``key=value``, flag and ``[section]`` lines, as C's
    upslist_normalizeFile_filter reduces it."""
    out = []
    for line in text.split("\n"):
        if line == "" or line.startswith("#"):
            continue
        for pattern, repl in _STEPS:
            line = pattern.sub(repl, line, count=1)
        if line and _KEEP.search(line):
            out.append(line)
    return out


def sdp(data: list[str]) -> list[str]:
    """The section, driver= and port= lines only."""
    return [line for line in data if _SDP.search(line)]


def shell_read_lines(text: str) -> list[str]:
    """The lines ``while read LINE`` hands out (no -r): a backslash escapes the next
    character and joins lines; surrounding blanks are dropped."""
    lines, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            if text[i + 1] != "\n":
                cur.append(text[i + 1])
            i += 2
            continue
        if ch == "\n":
            lines.append("".join(cur).strip(" \t"))
            cur = []
        else:
            cur.append(ch)
        i += 1
    if cur:
        lines.append("".join(cur).strip(" \t"))
    return lines


def _numeric_key(name: str) -> Decimal:
    m = re.match(r"[ \t]*(-?)(\d*)(?:\.(\d*))?", name)
    sign, whole, frac = m.group(1), m.group(2), m.group(3) or ""
    if not whole and not frac:
        return Decimal(0)
    try:
        return Decimal(f"{sign}{whole or '0'}.{frac or '0'}")
    except InvalidOperation:
        return Decimal(0)


def sort_names(names: list[str]) -> list[str]:
    """``sort -k1n -k1`` in the C locale: by leading number, then byte order."""
    return sorted(names, key=lambda n: (_numeric_key(n), n.encode("utf-8", "surrogateescape")))


def devices(data: list[str]) -> list[str]:
    names = []
    for line in shell_echo("\n".join(sdp(data))).split("\n"):
        if _DEVICE.match(line):
            names.append(line[1:-1])
    return sort_names(names)


def section(data: list[str], name: str) -> list[str] | None:
    """The lines of section ``name`` (header included; ``""``: the global part), as C's
    upsconf_getSection_content prints them; None when there is no such section."""
    content: list[str] = []
    current = ""
    found = name == ""
    for line in shell_read_lines("\n".join(data) + "\n"):
        if line == f"[{name}]" and name:
            if found:
                break
            content = [line]
            current = name
            found = True
            continue
        if line.startswith("[") and line.endswith("]") and len(line) >= 2 \
                and not (" " in line or "\t" in line):
            if current == name:
                break
            current = "[]"  # a name no section can have
            continue
        if line == "":
            continue
        if current == name:
            content.append(line)
    return content if found else None


def section_text(data: list[str], name: str) -> str:
    """What ``echo "$SECTION_CONTENT"`` prints."""
    lines = section(data, name) or []
    return shell_echo("\n".join(lines)) if lines else ""


def section_md5(data: list[str], name: str) -> str:
    return md5_of_text(section_text(data, name).rstrip("\n"))


def value(data: list[str], name: str, key: str) -> str | None:
    """C's upsconf_getValue for one key (``driver``, ``port``, a flag): None if absent."""
    lines = section(data, name)
    if lines is None:
        return None
    text = shell_echo(section_text(data, name).rstrip("\n"))
    hits = [line for line in text.split("\n") if line.startswith(key + "=") or line == key]
    if not hits:
        return None
    values = []
    for line in shell_echo("\n".join(hits)).split("\n"):
        v = line[len(key) + 1:] if line.startswith(key + "=") else line
        m = re.fullmatch(r'"(.*)"', v) or re.fullmatch(r"'(.*)'", v)
        values.append(m.group(1) if m else v)
    return "\n".join(values)


# -- instance names --------------------------------------------------------------------------

def media(data: list[str], name: str) -> str:
    """What a driver's service must wait for, as C's upsconf_getDriverMedia classifies
    drivers: usb, serial, network, network-localhost, drivers=<other sections>, or ''."""
    drv = value(data, name, "driver") or ""
    port = value(data, name, "port") or ""

    def local(p: str) -> bool:
        return any(h in p for h in ("localhost", "127.0.0.1", "::1"))

    if any(k in drv for k in ("netxml", "snmp", "ipmi", "powerman", "-mib", "avahi")):
        return "network"
    if "apcupsd-ups" in drv:
        return "network-localhost" if local(port) else "network"
    if "apc_modbus" in drv:
        porttype = value(data, name, "porttype") or ""
        if "usb" in porttype:
            return "usb"
        if "serial" in porttype:
            return "serial"
        if "auto" in port:
            return "usb"
        if port.startswith("/"):
            return "serial"
        return "network-localhost" if local(port) else "network"
    if "usb" in drv:
        return "usb"
    if drv == "nutdrv_qx":
        if port == "auto" or re.match(r"/dev/.*(usb|hid)", port):
            return "usb"
        if port.startswith("/dev/"):
            usb_keys = ("subdriver", "vendorid", "productid", "vendor", "product", "serial",
                        "bus", "busport", "langid_fix")
            return "usb" if any(value(data, name, k) for k in usb_keys) else "serial"
        return ""
    if "dummy" in drv:
        host = port.rpartition("@")[2] if "@" in port else None
        upsname = port.partition("@")[0]
        if host is None:
            return ""
        if host in ("localhost", "", "127.0.0.1", "::1"):
            return f"network-localhost,drivers={upsname}"
        if host.startswith(_hostname()):
            return f"network,drivers={upsname}"
        return "network"
    if "clone" in drv or drv == "failover":
        return f"drivers={port}"
    return ""


def _hostname() -> str:
    return os.uname().nodename


# -- the service manager ---------------------------------------------------------------------


class Systemd:
    """The systemctl calls C's script makes, and its drop-in files."""

    name = "systemd"

    def __init__(self, env: dict[str, str]) -> None:
        self.systemctl = env.get("SYSTEMCTL") or shutil.which("systemctl") or "/bin/systemctl"
        self.confpath = env.get("SYSTEMD_CONFPATH") or "/etc/systemd/system"
        timeout = shutil.which("timeout")
        self.timeout = 90 if timeout else None

    def run(self, *args: str, quiet: bool = False, timeout: float | None = None) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([self.systemctl, *args], capture_output=True, text=True,
                                  timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as e:
            return subprocess.CompletedProcess(args, 1, "", str(e))

    def ok(self, *args: str, timeout: float | None = None) -> bool:
        r = self.run(*args, timeout=timeout)
        if r.stderr:
            sys.stderr.write(r.stderr)
        return r.returncode == 0

    # units
    def units(self) -> list[str]:
        out = self.run("show", "--all", f"{SVCNAME}@*", "-p", "Id").stdout
        return [line[3:] for line in out.splitlines() if "=" + SVCNAME in line and line.startswith("Id=")]

    def instances(self) -> list[str]:
        return sort_names([instance_of(u) for u in self.units()])

    def masked(self, unit: str) -> bool:
        out = self.run("list-unit-files").stdout
        return any(line.split()[:2] == [unit, "masked"] for line in out.splitlines() if line.split())

    def dropin_dir(self, instance: str) -> str:
        return os.path.join(self.confpath, f"{unit_name(instance)}.d")

    def _read_env(self, instance: str, what: str, prop: str) -> str | None:
        path = os.path.join(self.dropin_dir(instance), f"nut-driver-enumerator-generated-{what}.conf")
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            return None
        for line in text.splitlines():
            prefix = f"Environment='{prop}="
            if line.startswith(prefix):
                v = line[len(prefix):]
                v = v[:-1] if v.endswith("'") else v
                m = re.fullmatch(r'"(.*)"', v)
                return m.group(1) if m else v
        return None

    def _write(self, instance: str, what: str, text: str) -> bool:
        directory = self.dropin_dir(instance)
        try:
            os.makedirs(directory, exist_ok=True)
            with open(os.path.join(directory, f"nut-driver-enumerator-generated{what}.conf"), "w") as f:
                f.write(text)
        except OSError as e:
            log("ERROR", f"Could not write into {directory}: {e.strerror}")
            return False
        return True

    def saved_md5(self, instance: str) -> str | None:
        prop = "SECTION_CHECKSUM" if instance else "SECTION_CHECKSUM_GLOBAL"
        return self._read_env(instance, "checksum", prop)

    def save_md5(self, instance: str, md5: str) -> bool:
        prop = "SECTION_CHECKSUM" if instance else "SECTION_CHECKSUM_GLOBAL"
        return self._write(instance, "-checksum", f"[Service]\nEnvironment='{prop}={md5}'\n")

    def saved_device(self, instance: str) -> str | None:
        return self._read_env(instance, "devicename", "DEVICE") if instance else None

    def save_device(self, instance: str, device: str) -> bool:
        return self._write(instance, "-devicename", f"[Service]\nEnvironment='DEVICE=\"{device}\"'\n")

    def find_saved_device(self, device: str) -> str | None:
        """The unit whose drop-in records ``device``."""
        try:
            entries = sorted(os.listdir(self.confpath))
        except OSError:
            return None
        for entry in entries:
            if entry.startswith(SVCNAME + "@") and entry.endswith(".service.d"):
                inst = instance_of(entry[:-2])
                if inst and self.saved_device(inst) == device:
                    return unit_name(inst)
        return None

    def save_doclink(self, instance: str, driver: str) -> bool:
        return self._write(instance, "-doclink", f"[Unit]\nDocumentation=man:{driver}({MAN_SECTION})\n"
                                                 f"Documentation={WEBSITE}/docs/man/{driver}.html\n")

    def save_dependencies(self, instance: str, device: str, req: str, svcs: str) -> bool:
        stamp = time.strftime("%a %b %e %H:%M:%S UTC %Y", time.gmtime())
        return self._write(instance, "", f"# Written {stamp} by nut-driver-enumerator for NUT "
                                         f"device '{device}'\n# It rewrites or removes this file: "
                                         "make your own drop-in for changes\n"
                                         f"[Unit]\nDescription=Network UPS Tools - device driver "
                                         f"for NUT device '{device}'\n{req}={svcs}\nAfter={svcs}\n")

    def remove_dropins(self, instance: str) -> None:
        shutil.rmtree(self.dropin_dir(instance), ignore_errors=True)

    def daemon_reload(self) -> bool:
        return self.ok("daemon-reload")

    def is_active(self, unit: str) -> str:
        return self.run("is-active", unit).stdout.strip()


class SelfTest(Systemd):
    """SERVICE_FRAMEWORK=selftest: reads ups.conf, touches no service manager."""

    name = "selftest"

    def run(self, *args, **kwargs):
        log("WARNING", "NO-OP: Self-testing context does not do systems configuration")
        return subprocess.CompletedProcess(args, 0, "", "")

    def _write(self, instance, what, text):
        return True

    def _read_env(self, instance, what, prop):
        return None

    def find_saved_device(self, device):
        return None

    def remove_dropins(self, instance):
        pass


# -- logging ---------------------------------------------------------------------------------


def log(level: str, msg: str) -> None:
    """C's log lines, ``<date> [LEVEL] text`` on stderr; without the date when stderr is
    the journal (it stamps every line itself)."""
    from ..common.log import stderr_is_journal

    if level == "DEBUG" and not _debugging():
        return
    if stderr_is_journal():
        prio = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "FATAL": 2}[level]
        line = f"<{prio}>[{level}] {msg}"
    else:
        stamp = time.strftime("%a %b %e %H:%M:%S UTC %Y", time.gmtime())
        line = f"{stamp} [{level}] {msg}"
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _debugging() -> bool:
    level = os.environ.get("NUT_DEBUG_LEVEL", "")
    return bool(os.environ.get("DEBUG")) or (level.isdigit() and int(level) > 0)


# -- the enumerator --------------------------------------------------------------------------


@dataclass
class Enumerator:
    upsconf: str
    framework: Systemd
    settings: dict[str, str] = field(default_factory=lambda: dict(DEFAULTS))
    report_restart_42: bool = True
    driverpath: str | None = None
    _data: list[str] | None = None

    # ups.conf
    def read(self, reread: bool = False) -> tuple[int, list[str]]:
        """(status, normalized lines): status 2 when ups.conf cannot be read."""
        if self._data is not None and not reread:
            return 0, self._data
        if not (os.path.isfile(self.upsconf) and os.access(self.upsconf, os.R_OK)):
            log("ERROR", f"The '{self.upsconf}' file does not exist or is not readable")
            return EXIT_NO_CONFIG, []
        with open(self.upsconf, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
        if not text:
            log("WARNING", f"The '{self.upsconf}' file exists but is empty")
            self._data = []
            return 0, []
        self._data = normalize(text)
        if not self._data:
            log("ERROR", f"Could not read the '{self.upsconf}' file or it does not declare any "
                         "device configurations: nothing left after normalization")
        return 0, self._data

    def devices(self, reread: bool = False) -> tuple[int, list[str]]:
        status, data = self.read(reread)
        if status:
            return status, []
        names = devices(data)
        if data and not names:
            log("ERROR", f"Could not read the '{self.upsconf}' file or it does not declare any "
                         "device configurations: no section declarations in parsed normalized contents")
        return 0, names

    def file_md5(self) -> str | None:
        try:
            with open(self.upsconf, "rb") as f:
                return hashlib.md5(f.read()).hexdigest()
        except OSError:
            return None

    # mapping devices and services
    @staticmethod
    def filed(instance: str, devs: list[str]) -> bool:
        return any(instance == d or instance == md5_instance(d) or instance == instance_name(d)
                   for d in devs)

    @staticmethod
    def registered(device: str, instances: list[str]) -> bool:
        return any(i in (device, md5_instance(device), instance_name(device)) for i in instances)

    def in_sync(self, devs: list[str], insts: list[str]) -> bool:
        return len(insts) == len(devs) and all(self.registered(d, insts) for d in devs)

    def services_for_devices(self) -> tuple[int, list[tuple[str, str]]]:
        _, devs = self.devices()
        if not devs:
            log("WARNING", f"No devices detected in '{self.upsconf}'")
            return 1, []
        units = self.framework.units()
        if not units:
            log("WARNING", "No service instances detected")
            return 1, []
        rows, status = [], 0
        for dev in devs:
            for inst in (dev, instance_name(dev), md5_instance(dev)):
                if unit_name(inst) in units:
                    rows.append((unit_name(inst), dev))
                    break
            else:
                log("WARNING", f"No service instances detected that match device '{dev}'")
                status = 1
        return status, rows

    def service_for_device(self, device: str) -> str | None:
        saved = self.framework.find_saved_device(device)
        if saved:
            return saved
        units = self.framework.units()
        if not units:
            log("WARNING", "No service instances detected")
            return None
        for inst in (device, instance_name(device), md5_instance(device)):
            if unit_name(inst) in units:
                return unit_name(inst)
        log("WARNING", f"No service instances detected that match device '{device}'")
        return None

    def device_for_service(self, service: str) -> str | None:
        inst = instance_of(service)
        if not inst:
            log("ERROR", "Error getting SVC name from the inputs")
            return None
        saved = self.framework.saved_device(inst)
        if saved:
            return saved
        _, devs = self.devices()
        for dev in devs:
            if inst == dev or (inst.startswith("MD5_") and inst == md5_instance(dev)):
                return dev
        log("WARNING", f"No service instance '{service}' was detected that matches a NUT device")
        return None

    # changing the set of services
    def register(self, device: str, data: list[str]) -> bool:
        fw = self.framework
        inst = instance_name(device)
        if not fw.ok("enable", unit_name(inst)):
            if fw.masked(unit_name(inst)):
                log("WARNING", f"SKIP: Unit '{unit_name(inst)}' seems deliberately masked")
                return True
            if inst == md5_instance(device):
                return False
            log("WARNING", f"RETRY with validInstanceName of '{device}'")
            inst = md5_instance(device)
            if not fw.ok("enable", unit_name(inst)):
                if fw.masked(unit_name(inst)):
                    log("WARNING", f"SKIP: Unit '{unit_name(inst)}' seems deliberately masked")
                    return True
                return False
        log("INFO", f"Enabled instance: '{SVCNAME}@{inst}' for NUT configuration section '{device}'")
        req, svcs = self.dependencies(device, data)
        if svcs:
            log("INFO", f"Adding '{req}'+After dependency for '{inst}' on '{svcs}'...")
            fw.save_dependencies(inst, device, req, svcs)
        fw.save_md5(inst, section_md5(data, device))
        fw.save_device(inst, device)
        driver = value(data, device, "driver")
        if driver:
            fw.save_doclink(inst, driver)
        if self.settings.get("AUTO_START") == "yes":
            if not fw.daemon_reload():
                log("WARNING", "Somehow managed to fail systemd_refreshSupervizor()")
            if not fw.ok("start", "--no-block", unit_name(inst), timeout=fw.timeout):
                return False
            log("INFO", f"Started instance: '{SVCNAME}@{inst}' for NUT configuration section '{device}'")
        return True

    def dependencies(self, device: str, data: list[str]) -> tuple[str, str]:
        s = self.settings
        kind = media(data, device)
        base = kind.split(",")[0]
        req, svcs = "", ""
        if base == "usb":
            req, svcs = s["DEPREQ_USB_SYSTEMD"], s["DEPSVC_USB_SYSTEMD"]
        elif base == "network-localhost":
            req, svcs = s["DEPREQ_NET_LOCAL_SYSTEMD"], s["DEPSVC_NET_LOCAL_SYSTEMD"]
        elif base == "network":
            req, svcs = s["DEPREQ_NET_FULL_SYSTEMD"], s["DEPSVC_NET_FULL_SYSTEMD"]
        elif base == "serial":
            req, svcs = s["DEPREQ_SERIAL_SYSTEMD"], s["DEPSVC_SERIAL_SYSTEMD"]
        elif base and not base.startswith("drivers="):
            log("WARNING", f"Unexpected NUT media type ignored: '{kind}'")
        others = next((part[len("drivers="):] for part in kind.split(",")
                       if part.startswith("drivers=")), None)
        if others:
            devs = devices(data)
            for other in filter(None, others.split(",")):
                target = self._driver_section(other, devs, data)
                if target and target != device:
                    svcs = (svcs + " " + unit_name(instance_name(target))).strip()
                    req = req or s["DEPREQ_DRV_LOCAL_SYSTEMD"]
                else:
                    log("WARNING", f"Device {device} depends on another {other} but we did not "
                                   "find a config section for it")
        return req or "#Wants", svcs

    @staticmethod
    def _driver_section(name: str, devs: list[str], data: list[str]) -> str | None:
        """``name`` is a section, or a driver socket ``<driver>-<section>``."""
        if name in devs:
            return name
        for dev in devs:
            if name == f"{value(data, dev, 'driver')}-{dev}":
                return dev
        return None

    def unregister(self, instance: str) -> None:
        fw = self.framework
        log("INFO", f"Removing instance: '{SVCNAME}@{instance}' ...")
        for _ in range(3):
            if fw.ok("stop", unit_name(instance), timeout=fw.timeout):
                break
        fw.ok("disable", unit_name(instance))
        fw.remove_dropins(instance)
        fw.ok("reset-failed", unit_name(instance))

    def restart_driver(self, instance: str) -> None:
        if self.framework.is_active(f"{SVCNAME}@{instance}") not in ("active", "unknown"):
            return
        log("INFO", f"Reloading or restarting NUT driver instance '{instance}' to make sure it "
                    "knows new configuration...")
        fw = self.framework
        fw.ok("reload-or-restart", f"{SVCNAME}@{instance}", timeout=fw.timeout) or \
            fw.ok("restart", f"{SVCNAME}@{instance}", timeout=fw.timeout)

    def restart_upsd(self) -> None:
        state = self.framework.is_active("nut-server")
        if state == "failed":
            log("WARNING", "Note: nut-server unit was 'failed' - not disabled by user, so "
                           "(re)starting it (probably had no config initially)")
        elif state not in ("active", "unknown"):
            return
        log("INFO", "Reloading or restarting NUT data server to make sure it knows new configuration...")
        fw = self.framework
        fw.ok("reload-or-restart", "nut-server", timeout=fw.timeout) or \
            fw.ok("restart", "nut-server", timeout=fw.timeout)

    def live_reload(self, device: str, data: list[str]) -> bool:
        """A changed section: ask its running driver to take the change without a restart."""
        driver = value(data, device, "driver")
        if not driver:
            return False
        from ..drivers.upsdrvctl import driver_program

        program = driver_program(driver, self.driverpath or value(data, "", "driverpath"))
        if program is None:
            return False
        try:
            r = subprocess.run([program, "-a", device, "-c", "reload-or-error"],
                               capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return r.returncode == 0

    def fill_missing_device_names(self) -> None:
        """Services registered by an older enumerator (C 2.8.0) lack the drop-in naming
        their device: add it, so lookups need no scan."""
        fw = self.framework
        insts = fw.instances()
        missing = [i for i in insts if fw.saved_device(i) is None]
        if not missing:
            return
        _, rows = self.services_for_devices()
        by_instance = {instance_of(unit): dev for unit, dev in rows}
        for inst in missing:
            dev = by_instance.get(inst)
            if dev:
                log("WARNING", f"Service instance '{unit_name(inst)}' did not have a device "
                               f"recorded into properties, setting to '{dev}'")
                fw.save_device(inst, dev)

    def reconcile(self, full: bool = False) -> int:
        """Make the services match ups.conf (``full``: re-register every one)."""
        fw = self.framework
        start_md5 = self.file_md5()
        for _ in range(5):
            status, devs = self.devices(reread=True)
            if status:
                return status
            _, data = self.read()
            insts = fw.instances()
            restart_all = False
            if full:
                for inst in insts:
                    log("INFO", f"Dropping old {fw.name} service instance for power device "
                                f"[{inst}] to reconfigure the service unit...")
                    self.unregister(inst)
                insts = fw.instances()
            else:
                restart_all = fw.saved_md5("") != section_md5(data, "")
                if restart_all:
                    log("INFO", f"Detected changes in global section of '{self.upsconf}', will "
                                "restart all drivers")
                changed = [inst for dev in devs for inst in insts
                           if inst in (dev, md5_instance(dev), instance_name(dev))
                           and fw.saved_md5(inst) != section_md5(data, dev)]
                if (not devs and not insts) or (not changed and self.in_sync(devs, insts)):
                    log("INFO", f"OK: No changes to reconcile between {fw.name} service instances "
                                f"and device configurations in '{self.upsconf}'")
                    if not restart_all:
                        return 0
                for inst in changed:
                    dev = self.device_for_service(inst) or inst
                    if self.live_reload(dev, data):
                        log("INFO", f"Keeping {fw.name} service instance '{inst}' whose section "
                                    f"'{dev}' in config file has changed: live reload sufficed")
                        fw.save_md5(inst, section_md5(data, dev))
                    else:
                        log("INFO", f"Dropping old {fw.name} service instance '{inst}' whose "
                                    f"section '{dev}' in config file has changed...")
                        self.unregister(inst)
                if changed:
                    insts = fw.instances()
                for inst in insts:
                    if not self.filed(inst, devs):
                        log("INFO", f"Dropping old {fw.name} service instance for power device "
                                    f"[{inst}] which is no longer in config file...")
                        self.unregister(inst)
                    elif restart_all and self.settings.get("AUTO_START") == "yes":
                        self.restart_driver(inst)
            if full or restart_all:
                fw.save_md5("", section_md5(data, ""))
            if devs:
                insts = fw.instances()
                for dev in devs:
                    if not self.registered(dev, insts):
                        log("INFO", f"Adding new {fw.name} service instance for power device [{dev}]...")
                        self.register(dev, data)
                fw.daemon_reload()
            insts = fw.instances()
            if insts:
                log("INFO", "The currently defined service instances are:")
                _echo_err(insts)
            if devs:
                log("INFO", f"The currently defined configurations in '{self.upsconf}' are:")
                _echo_err(devs)
            if self.settings.get("AUTO_START") == "yes":
                self.restart_upsd()
            in_sync = self.in_sync(devs, insts)
            end_md5 = self.file_md5()
            if end_md5 != start_md5:
                log("INFO", f"'{self.upsconf}' changed while it was being processed; "
                            "going over it again")
                start_md5 = end_md5
                full = False
                continue
            if in_sync:
                log("INFO", f"OK: No more changes to reconcile between {fw.name} service "
                            f"instances and device configurations in '{self.upsconf}'")
                return EXIT_CHANGED if self.report_restart_42 else 0
            return EXIT_OUT_OF_SYNC
        return EXIT_OUT_OF_SYNC


def _echo_err(lines: list[str]) -> None:
    sys.stderr.write("".join(line + "\n" for line in lines))


# -- command line ----------------------------------------------------------------------------

USAGE = """\
{prog} (no args)
        Create, update or remove the nut-driver@ service instances so that there is
        one per device section of ups.conf
{prog} --daemon(=freq)
        Do that again every freq seconds (default 60), in the background
{prog} --daemon-after(=freq)
        Do it once now, then go on as with --daemon
{prog} --reconfigure
        Remove every service instance and register them all anew
{prog} --get-service-framework
        Print the service manager in use (systemd, or selftest)
{prog} --list-devices
        Print the device sections of ups.conf
{prog} --list-services
        Print the service units that wrap devices (full unit names)
{prog} --list-instances
        Print the instance names of those units
{prog} --get-service-for-device DEV
        Print the unit that wraps device DEV
{prog} --get-device-for-service SVC
        Print the device that unit or instance SVC wraps
{prog} --list-services-for-devices
        Print "unit<TAB>device" for every device
{prog} --show-configs|--show-all-configs
        Print ups.conf as this tool reads it
{prog} --show-config DEV
{prog} --show-device-config DEV
        Print the section of device DEV
{prog} --show-device-config-value DEV KEY [KEY...]
        Print the value of each KEY (or the flag's name) in section DEV, one per line;
        exit 1 if one is missing

Environment: NUT_CONFPATH, UPSCONF, SYSTEMD_CONFPATH, AUTO_START (yes|no),
REPORT_RESTART_42 (no: exit 0 instead of 42), SERVICE_FRAMEWORK (systemd|selftest),
NUT_DRIVER_ENUMERATOR_CONF (VAR=value settings, default <confpath>/nut-driver-enumerator.conf).
"""


def _read_settings(path: str, settings: dict[str, str]) -> None:
    """The VAR=value lines of nut-driver-enumerator.conf (C sources it as a shell script;
    we take plain assignments only)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return
    if not text.strip():
        return
    log("INFO", f"Sourcing config file: {path}")
    for line in text.splitlines():
        m = re.fullmatch(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*?)\s*", line)
        if not m:
            continue
        v = m.group(2)
        q = re.fullmatch(r'"(.*)"', v) or re.fullmatch(r"'(.*)'", v)
        settings[m.group(1)] = q.group(1) if q else v


def build(env: dict[str, str] | None = None) -> Enumerator | int:
    env = dict(os.environ if env is None else env)
    confpath = env.get("NUT_CONFPATH") or paths.CONFPATH
    settings = dict(DEFAULTS)
    _read_settings(env.get("NUT_DRIVER_ENUMERATOR_CONF") or f"{confpath}/nut-driver-enumerator.conf",
                   settings)
    for key in DEFAULTS:
        if env.get(key):
            settings[key] = env[key]
    upsconf = env.get("UPSCONF") or settings.get("UPSCONF") or f"{confpath}/ups.conf"
    framework = env.get("SERVICE_FRAMEWORK") or settings.get("SERVICE_FRAMEWORK")
    if not framework:
        have = env.get("SYSTEMCTL") or shutil.which("systemctl") or os.access("/bin/systemctl", os.X_OK)
        framework = "systemd" if have else ""
    if framework == "systemd":
        fw: Systemd = Systemd(env)
    elif framework == "selftest":
        fw = SelfTest(env)
    elif not framework:
        log("FATAL", "Error detecting the service-management framework on this OS")
        return 1
    else:
        log("FATAL", f"Error: User provided an unknown service-management framework '{framework}'")
        return 1
    return Enumerator(upsconf, fw, settings, env.get("REPORT_RESTART_42") != "no")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "nut-driver-enumerator"
    en = build()
    if isinstance(en, int):
        return en
    if not argv:
        en.fill_missing_device_names()
        return en.reconcile()
    if len(argv) == 1 and re.fullmatch(r"--daemon(-after)?(=.*)?", argv[0]):
        return _daemon(en, argv[0])
    cmd, args = argv[0], argv[1:]
    out = sys.stdout
    if cmd in ("--help", "-h", "-help"):
        out.write(USAGE.format(prog=prog))
        return 0
    if cmd == "--get-service-framework":
        print(en.framework.name)
        return 0
    if cmd == "--reconfigure":
        return en.reconcile(full=True)
    if cmd == "--list-devices":
        status, devs = en.devices()
        if not status and devs:
            log("INFO", f"The currently defined configurations in '{en.upsconf}' are:")
            print("\n".join(devs))
            return 0
        log("WARNING", f"No devices detected in '{en.upsconf}'")
        return 1
    if cmd == "--list-services":
        units = en.framework.units()
        if units:
            log("INFO", "The currently defined service units are:")
            print("\n".join(units))
            return 0
        log("WARNING", "No service units detected")
        return 1
    if cmd == "--list-instances":
        insts = en.framework.instances()
        if insts:
            log("INFO", "The currently defined service instances are:")
            print("\n".join(insts))
            return 0
        log("ERROR", f"Could not read the list of {en.framework.name} service instances for UPS "
                     "drivers, or none are defined - by user request")
        log("WARNING", "No service instances detected")
        return 1
    if cmd == "--get-service-for-device":
        if not args or not args[0]:
            log("ERROR", "Device name argument required")
            return 1
        unit = en.service_for_device(args[0])
        if unit is None:
            return 1
        print(unit)
        return 0
    if cmd == "--get-device-for-service":
        if not args or not args[0]:
            log("ERROR", "Service (instance) name argument required")
            return 1
        dev = en.device_for_service(args[0])
        if dev is None:
            return 1
        print(dev)
        return 0
    if cmd == "--list-services-for-devices":
        status, rows = en.services_for_devices()
        for unit, dev in rows:
            print(f"{unit}\t{dev}")
        return status
    if cmd in ("--show-configs", "--show-device-configs", "--show-all-configs",
               "--show-all-device-configs"):
        status, devs = en.devices()
        if status:
            log("FATAL", f"upslist_readFile_once() failed with code {status}")
            return status
        _, data = en.read()
        print("\n".join(data))
        if not devs:
            log("WARNING", f"No devices detected in '{en.upsconf}'")
            return 1
        return 0
    if cmd in ("--show-config", "--show-device-config"):
        dev = args[0] if args else ""
        if not dev:
            log("WARNING", "Device name argument empty, will show global config")
        status, data = en.read()
        if status:
            return status
        if section(data, dev) is None:
            log("ERROR", f"Section [{dev}] was not found in the '{en.upsconf}' file")
            return 1
        text = section_text(data, dev)
        if text:
            print(text)
        return 0
    if cmd in ("--show-config-value", "--show-device-config-value"):
        if len(args) < 2 or not args[1]:
            log("FATAL", "At least one configuration key name argument is required")
            return 1
        dev, keys = args[0], args[1:]
        if not dev:
            log("WARNING", "Device name argument empty, will show global config")
        status, data = en.read()
        if status:
            return status
        if section(data, dev) is None:
            log("ERROR", f"Section [{dev}] was not found in the '{en.upsconf}' file")
            return 1
        status = 0
        for key in keys:
            v = value(data, dev, key)
            if v is None:
                log("ERROR", f"Section [{dev}] or key '{key}' in it was not found in the "
                             f"'{en.upsconf}' file")
                status = 1
            print(v or "")
        if status:
            log("ERROR", f"ERROR: Section [{dev}] or key(s) '{' '.join(keys)}' in it was not "
                         f"found in the '{en.upsconf}' file")
        return status
    log("FATAL", f"Unrecognized argument: {cmd}")
    return 1


def _daemon(en: Enumerator, arg: str) -> int:
    """--daemon[=freq] / --daemon-after[=freq]: reconcile every freq seconds, in the
    background (a SIGHUP does it at once)."""
    _, _, freq = arg.partition("=")
    try:
        interval = float(freq) if freq else 60.0
    except ValueError:
        log("FATAL", f"Invalid re-evaluation frequency: {freq}")
        return 1
    en.report_restart_42 = en.report_restart_42 and not arg.startswith("--daemon-after")
    if arg.startswith("--daemon-after"):
        en.report_restart_42 = False
        status = en.reconcile()
        if status:
            return status
    if os.fork():
        return 0
    log("INFO", f"Daemonizing {sys.argv[0]} with config re-evaluation frequency {interval:g}")
    wake = {"now": False}

    def hup(_sig, _frame):
        wake["now"] = True

    signal.signal(signal.SIGHUP, hup)
    en.fill_missing_device_names()
    while en.reconcile() in (0, EXIT_CHANGED):
        deadline = time.monotonic() + interval
        while not wake["now"] and time.monotonic() < deadline:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        wake["now"] = False
    os._exit(EXIT_OUT_OF_SYNC)


if __name__ == "__main__":
    sys.exit(main())
