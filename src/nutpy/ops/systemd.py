"""``nutpy install-systemd``: systemd units, tmpfiles.d and sysusers.d files for this installation.

The units carry the names of C NUT's (``nut.target``, ``nut-driver@.service``,
``nut-server.service``, ...) so that, written to ``/etc/systemd/system``, they take the place
of a distribution's NUT units one for one, and the habits around them (``systemctl restart
nut-server``, drop-ins under ``nut-driver@.service.d``) carry over. Their contents follow NUT
2.8.5's units built with systemd support: daemons run in the foreground as ``Type=notify``
and report through sd_notify (nutpy.common.sdnotify); one ``nut-driver@<instance>`` per
ups.conf section, kept in step with ups.conf by ``nut-driver-enumerator``.

Programs nutpy does not have yet are taken from C NUT when it is installed (a mixed fleet);
those run as C 2.8.0 runs them (``Type=simple``), since it does not talk sd_notify.

Pure apart from ``install``: ``render`` returns the files as text.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field

import click

from ..common import paths

# Where C NUT (Debian's layout) keeps the programs nutpy may not have yet.
C_PROGRAMS = ("/lib/nut", "/usr/lib/nut", "/sbin", "/usr/sbin", "/bin", "/usr/bin")

UNIT_DIR = "/etc/systemd/system"
TMPFILES_DIR = "/etc/tmpfiles.d"
SYSUSERS_DIR = "/etc/sysusers.d"
# systemd-shutdown runs only what is in /usr/lib (not /etc): the UPS power-off hook.
SHUTDOWN_DIR = "/usr/lib/systemd/system-shutdown"
TMPFILES_NAME = "nut-common-tmpfiles.conf"
SYSUSERS_NAME = "nut-common-sysusers.conf"
SHUTDOWN_NAME = "nutpy-shutdown"

# nut.conf MODE values under which a unit has nothing to do
_NOT_FOR = {
    "drivers": ("netclient", "none"),
    "server": ("netclient", "none"),
    "monitor": ("none",),
}


@dataclass
class Program:
    path: str
    ours: bool

    @property
    def notify(self) -> bool:
        """Talks sd_notify (ours do; C 2.8.0 as Debian builds it does not)."""
        return self.ours


@dataclass
class Layout:
    """What the generated files point at."""

    bindir: str
    confpath: str = paths.CONFPATH
    statepath: str = paths.STATEPATH
    pidpath: str = paths.PIDPATH
    altpidpath: str = paths.ALTPIDPATH
    user: str = paths.RUN_AS_USER
    group: str = paths.RUN_AS_GROUP
    tmpfiles_program: str = "/usr/bin/systemd-tmpfiles"
    notify_reload: bool = False  # systemd 253+: Type=notify-reload for the drivers
    programs: dict[str, Program] = field(default_factory=dict)

    def program(self, name: str) -> Program:
        if name not in self.programs:
            self.programs[name] = find_program(name, self.bindir)
        return self.programs[name]


def find_program(name: str, bindir: str) -> Program:
    ours = os.path.join(bindir, name)
    if os.access(ours, os.X_OK):
        return Program(ours, True)
    for directory in C_PROGRAMS:
        theirs = os.path.join(directory, name)
        # Debian's /sbin/upsd and /sbin/upsmon are wrappers gated by nut.conf MODE; the units
        # do that with ExecCondition, so take the program itself from /lib/nut first.
        if os.access(theirs, os.X_OK):
            return Program(theirs, False)
    return Program(ours, True)  # not installed yet: where it will be


def default_layout() -> Layout:
    return Layout(
        bindir=sysconfig.get_path("scripts") or os.path.dirname(sys.executable),
        confpath=paths.confpath(),
        statepath=paths.statepath(),
        pidpath=paths.pidpath(),
        altpidpath=paths.altpidpath(),
        tmpfiles_program=shutil.which("systemd-tmpfiles") or "/usr/bin/systemd-tmpfiles",
        notify_reload=systemd_version() >= 253,
    )


def systemd_version() -> int:
    try:
        out = subprocess.run(["systemctl", "--version"], capture_output=True, text=True,
                             timeout=10).stdout
        return int(out.split()[1])
    except (OSError, subprocess.SubprocessError, IndexError, ValueError):
        return 0


# -- the files ----------------------------------------------------------------------------

HEADER = "# Written by `nutpy install-systemd` for this installation; rerun it after moving nutpy.\n"


def _common_service_lines(lay: Layout, role: str) -> list[str]:
    modes = " -a ".join(f'x"${{MODE}}" != x"{m}"' for m in _NOT_FOR[role])
    return [
        f"EnvironmentFile=-{lay.confpath}/nut.conf",
        "SyslogIdentifier=%N",
        f"ExecCondition=/bin/sh -c '[ {modes} ]'",
        f"ExecStartPre=-{lay.tmpfiles_program} --create {TMPFILES_DIR}/{TMPFILES_NAME}",
    ]


def _device_shell(lay: Layout, action: str) -> str:
    # systemd substitutes ${VAR} but leaves $VAR inside a longer word alone: the shell gets it.
    enumerator = lay.program("nut-driver-enumerator").path
    upsdrvctl = lay.program("upsdrvctl").path
    flags = "-FF " if action == "start" else ""
    run = "exec " if action == "start" else ""
    return ("/bin/sh -c 'NUTDEV=\"`" + enumerator + " --get-device-for-service %i`\" "
            "&& [ -n \"$NUTDEV\" ] || { echo \"FATAL: no NUT device section in ups.conf "
            "for service unit %i\" >&2 ; exit 1 ; } ; "
            f"{run}{upsdrvctl} {flags}{action} \"$NUTDEV\"'")


def render(lay: Layout) -> dict[str, str]:
    """File name (relative to the install root) -> contents."""
    upsd = lay.program("upsd")
    upsmon = lay.program("upsmon")
    upslog = lay.program("upslog")
    enumerator = lay.program("nut-driver-enumerator")
    files: dict[str, str] = {}

    def unit(name: str, text: str) -> None:
        files[f"{UNIT_DIR}/{name}"] = HEADER + text

    unit("nut.target", """\
[Unit]
Description=Network UPS Tools - drivers, data server and monitor on this system
After=local-fs.target nut-driver.target nut-server.service nut-monitor.service nut-logger.service
Wants=local-fs.target nut-driver.target nut-server.service nut-monitor.service
Documentation=man:nut.conf(5) man:ups.conf(5)

[Install]
WantedBy=multi-user.target
""")
    unit("nut-driver.target", """\
[Unit]
Description=Network UPS Tools - the power device drivers on this system
After=local-fs.target
PartOf=nut.target

[Install]
WantedBy=nut.target
""")
    driver_type = "notify-reload" if lay.notify_reload else "notify"
    reload_line = ("ReloadSignal=SIGUSR1" if lay.notify_reload
                   else "ExecReload=/bin/kill -USR1 $MAINPID")
    unit("nut-driver@.service", f"""\
[Unit]
Description=Network UPS Tools - device driver for %I
After=local-fs.target
PartOf=nut-driver.target
# a driver that keeps failing is retried forever, 15 s apart (a UPS may come back)
StartLimitIntervalSec=0
Documentation=man:upsdrvctl(8) man:ups.conf(5)

[Service]
# upsdrvctl starts the one driver in the foreground; the driver (or, for a C driver,
# upsdrvctl on its behalf) reports READY=1 with its own MAINPID.
Type={driver_type}
NotifyAccess=all
Environment=NUT_IGNORE_NOWAIT=true
{chr(10).join(_common_service_lines(lay, "drivers"))}
ExecStart={_device_shell(lay, "start")}
ExecStop={_device_shell(lay, "stop")}
{reload_line}
Restart=always
RestartSec=15s
# A maxstartdelay in ups.conf above the 90 s default start timeout needs TimeoutStartSec= here.
#WatchdogSec=240s

[Install]
WantedBy=nut-driver.target
""")
    upsd_type, upsd_args = ("notify", "-FF") if upsd.notify else ("simple", "-F")
    unit("nut-server.service", f"""\
[Unit]
Description=Network UPS Tools - power devices information server
After=local-fs.target network.target nut-driver.target
# Drivers that fail to start must not keep upsd down: Wants, not Requires.
Wants=nut-driver.target
Requires=network.target
Before=nut-monitor.service
PartOf=nut.target
Documentation=man:upsd(8) man:upsd.conf(5) man:upsd.users(5)

[Service]
Type={upsd_type}
NotifyAccess=main
LimitNOFILE=1048576
{chr(10).join(_common_service_lines(lay, "server"))}
ExecStart={upsd.path} {upsd_args}
ExecReload={upsd.path} -c reload -P $MAINPID
Restart=on-failure
#WatchdogSec=240s

[Install]
WantedBy=nut.target
Alias=upsd.service
""")
    monitor_type = "notify" if upsmon.notify else "simple"
    unit("nut-monitor.service", f"""\
[Unit]
Description=Network UPS Tools - power device monitor and shutdown controller
After=local-fs.target network.target nut-server.service
# upsd may run on another machine: Wants, not Requires.
Wants=nut-server.service
PartOf=nut.target
Documentation=man:upsmon(8) man:upsmon.conf(5)

[Service]
Type={monitor_type}
# upsmon is two processes (a root parent and an unprivileged child that reports)
NotifyAccess=all
{chr(10).join(_common_service_lines(lay, "monitor"))}
ExecStart={upsmon.path} -F
ExecReload={upsmon.path} -c reload
PIDFile={lay.pidpath}/upsmon.pid
Restart=on-failure
# with SHUTDOWNEXIT, stopping may wait for the shutdown to finish
TimeoutStopSec=infinity
#WatchdogSec=240s

[Install]
WantedBy=nut.target
Alias=upsmon.service
""")
    logger_type = "notify" if upslog.notify else "simple"
    unit("nut-logger.service", f"""\
[Unit]
Description=Network UPS Tools - status logging daemon (set UPSLOG_ARGS in upslog.conf)
After=local-fs.target network.target nut-server.service
Wants=nut-server.service
PartOf=nut.target
Before=nut.target
ConditionPathExists={lay.confpath}/upslog.conf
Documentation=man:upslog(8)

[Service]
Type={logger_type}
NotifyAccess=main
EnvironmentFile=-{lay.confpath}/nut.conf
EnvironmentFile={lay.confpath}/upslog.conf
SyslogIdentifier=%N
ExecStartPre=-{lay.tmpfiles_program} --create {TMPFILES_DIR}/{TMPFILES_NAME}
ExecStartPre=/bin/test -n "${{UPSLOG_ARGS}}"
ExecStart={upslog.path} -F $UPSLOG_ARGS
ExecReload=/bin/kill -HUP $MAINPID
PIDFile={lay.pidpath}/upslog.pid
Restart=on-failure

[Install]
Alias=upslog.service
""")
    enumerator_doc = "Documentation=man:nut-driver-enumerator(8) man:ups.conf(5)"
    unit("nut-driver-enumerator.service", f"""\
[Unit]
Description=Network UPS Tools - one nut-driver@ service instance per ups.conf section
After=local-fs.target
Before=nut-driver.target
PartOf=nut.target
{enumerator_doc}

[Service]
# enabling, starting and stopping units needs root
User=root
Type=oneshot
# it restarts upsd itself when devices changed; that is no failure of this unit
Environment=REPORT_RESTART_42=no
{chr(10).join(_common_service_lines(lay, "drivers"))}
ExecStart={enumerator.path}
ExecReload={enumerator.path}

[Install]
WantedBy=nut.target
""")
    unit("nut-driver-enumerator.path", f"""\
[Unit]
Description=Network UPS Tools - rerun nut-driver-enumerator when ups.conf or nut.conf changes
After=local-fs.target
Before=nut-driver.target
PartOf=nut.target
{enumerator_doc}

[Path]
PathModified={lay.confpath}/ups.conf
PathModified={lay.confpath}/nut.conf

[Install]
WantedBy=nut.target
""")
    unit("nut-udev-settle.service", f"""\
[Unit]
Description=Network UPS Tools - wait for udev to set up devices before USB and serial drivers start
DefaultDependencies=no
Wants=systemd-udevd.service
After=systemd-udev-trigger.service
ConditionPathIsReadWrite=/sys
Documentation=man:udevadm(8)

[Service]
Type=oneshot
TimeoutSec=180
EnvironmentFile=-{lay.confpath}/nut.conf
ExecCondition=/bin/sh -c '[ x"${{MODE}}" != x"netclient" -a x"${{MODE}}" != x"none" ]'
ExecStart={shutil.which("udevadm") or "/usr/bin/udevadm"} settle
""")
    files[f"{TMPFILES_DIR}/{TMPFILES_NAME}"] = render_tmpfiles(lay)
    files[f"{SYSUSERS_DIR}/{SYSUSERS_NAME}"] = render_sysusers(lay)
    files[f"{SHUTDOWN_DIR}/{SHUTDOWN_NAME}"] = render_shutdown_hook(lay)
    return files


def render_tmpfiles(lay: Layout) -> str:
    """The state path belongs to root with group nut, mode 0770: the unprivileged daemons
    make their sockets and PID files there, nobody else can, and they cannot remove the
    directory itself (the ownership NUT's security notes ask for)."""
    lines = [HEADER.rstrip(),
             "# driver sockets, upsd's and the drivers' PID files",
             f"d {lay.statepath} 0770 root {lay.group} - -",
             "# upssched's default PIPEFN and LOCKFN",
             f"d {lay.statepath}/upssched 0770 {lay.user} {lay.group} - -",
             f"X {lay.statepath}"]
    seen = {lay.statepath}
    for directory, mode, what in ((lay.altpidpath, "0770", "PID files of drivers and upsd"),
                                  (lay.pidpath, "0750", "PID files of upsmon and upslog (root)")):
        if directory in seen or directory.rstrip("/").endswith(("/run", "/tmp", "/shm")):
            continue
        seen.add(directory)
        lines += [f"# {what}", f"d {directory} {mode} root {lay.group} - -", f"X {directory}"]
    return "\n".join(lines) + "\n"


def render_sysusers(lay: Layout) -> str:
    lines = [HEADER.rstrip()]
    if lay.group not in ("root", "nobody", "nogroup"):
        lines.append(f"g {lay.group} -")
    if lay.user not in ("root", "nobody"):
        lines.append(f'u {lay.user} - "Network UPS Tools" {lay.statepath}')
        if lay.group not in ("root", "nobody", "nogroup") and lay.group != lay.user:
            lines.append(f"m {lay.user} {lay.group}")
    return "\n".join(lines) + "\n"


def render_shutdown_hook(lay: Layout) -> str:
    """Run at the very end of a power-fail shutdown: if upsmon left its POWERDOWNFLAG, tell
    the UPSes to cut the power (each driver's -k, in sdorder), as NUT's nutshutdown does."""
    upsmon = lay.program("upsmon").path
    upsdrvctl = lay.program("upsdrvctl").path
    return f"""#!/bin/sh
{HEADER.rstrip()}
# systemd-shutdown runs this after every file system is read-only or unmounted.
[ -s "{lay.confpath}/nut.conf" ] && . "{lay.confpath}/nut.conf"
# MODE=none: NUT is switched off, whatever flag file an earlier run left behind
[ x"${{MODE-}}" = xnone ] && exit 0
[ -x "{upsmon}" ] && [ -x "{upsdrvctl}" ] || exit 0
"{upsmon}" -K >/dev/null 2>&1 || exit 0
echo "$0: power-fail shutdown: telling the UPSes to power off" >&2
"{upsdrvctl}" shutdown || echo "$0: some UPS shutdown commands failed" >&2
if [ -n "${{POWEROFF_WAIT-}}" ]; then
    # the power may have come back meanwhile: wait for the UPS to cut it, else reboot
    /bin/sleep "$POWEROFF_WAIT"
    /bin/systemctl reboot --force --force
fi
exit 0
"""


def install(root: str = "/", lay: Layout | None = None) -> list[str]:
    """Write every file under ``root``; returns their paths."""
    lay = lay or default_layout()
    written = []
    for name, text in render(lay).items():
        path = os.path.join(root, name.lstrip("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".nutpy-new"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o755 if name.startswith(SHUTDOWN_DIR) else 0o644)
        os.replace(tmp, path)
        written.append(path)
    return written


@click.command("install-systemd")
@click.option("--root", default="/", show_default=True, type=click.Path(file_okay=False),
              help="Stage the files under this directory (for packaging) instead of /.")
def command(root: str) -> None:
    """Write systemd units (nut.target, nut-driver@.service, nut-server.service, ...),
    tmpfiles.d and sysusers.d files that run this installation's programs."""
    lay = default_layout()
    for path in install(root, lay):
        click.echo(f"wrote {path}")
    for name in ("upsd", "upsdrvctl", "upsmon", "upslog", "nut-driver-enumerator"):
        prog = lay.program(name)
        if not prog.ours:
            click.echo(f"note: {name} is C NUT's {prog.path} (nutpy has none installed)")
        elif not os.path.exists(prog.path):
            click.echo(f"note: {name} is not installed yet ({prog.path})")
    if os.path.abspath(root) == "/":
        click.echo("next: systemd-sysusers; systemd-tmpfiles --create; systemctl daemon-reload; "
                   "systemctl enable --now nut.target nut-driver-enumerator.path")
