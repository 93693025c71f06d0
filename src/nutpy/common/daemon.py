"""Process plumbing shared by every daemon: PID files, chroot, privilege drop and
backgrounding, in the order and with the messages of C NUT's common.c.

Detaching and the hand-over of stdio go through python-daemon's ``DaemonContext``, and the
chroot through its ``change_root_directory``. A DaemonContext performs all its steps at one
moment, in its own order (chroot, umask, working directory, owner, detach, close every file,
stdio to /dev/null, PID file); C NUT spreads them over the start-up instead, and the daemons
keep C's order by using the context only for the part that happens at that moment:

* chroot and privilege drop come early (before a driver opens its device; after upsd has
  bound its listeners as root), detaching comes once the daemon is serving;
* the privilege drop is our own ``become_user``: python-daemon 3.1's owner change either
  sets the supplementary groups and never the group id (``initgroups=True`` leaves the
  process in group 0, root's) or the group id and never the supplementary groups (root's
  stay); C calls initgroups, setgid and setuid;
* no file is closed: C closes only 0-2 when detaching, and the daemons hold listeners,
  driver sockets and log files by then (the context preserves every open descriptor);
* a driver's launcher waits until the driver reports readiness (exit 0) or dies (exit 1),
  which python-daemon's detach (the parent exits at once) cannot do: ``fork_until_ready`` in
  nutpy.drivers.main forks early, and the context later only hands stdio over
  (``release_terminal``);
* umask, core dumps and signal dispositions are left as C leaves them.
"""

from __future__ import annotations

import grp  # here, not where used: after the privilege drop it may not import
import os
import pwd
import signal
import sys
import time

from .log import log


def preload() -> None:
    """Import python-daemon now: after a chroot or the privilege drop the Python library may
    be out of reach (a jail, or an installation only root can read)."""
    import daemon.daemon  # noqa: F401


def pidfile_path(directory: str, name: str) -> str:
    return os.path.join(directory, f"{name}.pid")


def write_pidfile(path: str) -> None:
    """Write our PID to ``path`` whole or not at all (C writes in place, so a reader could
    see an empty file): a temporary file beside it, renamed over it."""
    old = os.umask(0o022)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as f:
            f.write(f"{os.getpid()}\n")
        os.rename(tmp, path)
    except OSError as e:
        log.error(f"writepid: fopen {path}: {e.strerror}")
        try:
            os.unlink(tmp)
        except OSError:
            pass
    finally:
        os.umask(old)


def read_pidfile(path: str) -> int:
    """The PID in ``path``; OSError or ValueError propagate for the caller's message."""
    with open(path) as f:
        return int(f.read().strip().split()[0])


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for process ``pid`` to exit; True once it has."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, owned by someone else
            pass
        time.sleep(0.05)
    return False


def remove_pidfile(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def signal_running(path: str, sig: int, pid: int | None = None) -> int:
    """``-c`` commands: signal the daemon named by the PID file (or ``pid``).
    Returns the exit status, printing C's messages on failure."""
    if pid is None:
        try:
            pid = read_pidfile(path)
        except OSError as e:
            print(f"fopen {path}: {e.strerror}", file=sys.stderr)
            return 1
        except (ValueError, IndexError):
            print(f"Invalid PID in {path}", file=sys.stderr)
            return 1
    try:
        os.kill(pid, sig)
    except OSError as e:
        print(f"kill: {e.strerror}", file=sys.stderr)
        return 1
    return 0


def is_running(path: str) -> bool:
    try:
        pid = read_pidfile(path)
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def get_user(name: str):
    import pwd

    try:
        return pwd.getpwnam(name)
    except KeyError:
        log.fatal(f"user {name} not found")


def chroot_start(path: str) -> None:
    """C's chroot_start: chdir to the jail, chroot, chdir to its /, each failure fatal with
    C's message."""
    from daemon.daemon import DaemonOSEnvironmentError, change_root_directory

    try:
        os.chdir(path)
    except OSError as e:
        log.fatal(f"chdir({path}): {e.strerror}")
    try:
        change_root_directory(path)
    except DaemonOSEnvironmentError as e:
        log.fatal(f"chroot({path}): {getattr(e.__cause__, 'strerror', None) or e}")
    try:
        os.chdir("/")
    except OSError as e:
        log.fatal(f"chdir(/): {e.strerror}")


def become_user(pw) -> None:
    """Drop to ``pw`` (a pwd entry): supplementary groups, gid, then uid. Does nothing
    unless running as root, like C. (Not python-daemon's change_process_owner: see the
    module's docstring.)"""
    if os.getuid() != 0 and os.geteuid() != 0:
        return
    try:
        os.initgroups(pw.pw_name, pw.pw_gid)
    except OSError as e:
        log.fatal(f"initgroups: {e.strerror}")
    try:
        os.setgid(pw.pw_gid)
    except OSError as e:
        log.fatal(f"setgid: {e.strerror}")
    try:
        os.setuid(pw.pw_uid)
    except OSError as e:
        log.fatal(f"setuid: {e.strerror}")


class PidFile:
    """A PID file as C writes it (the PID and a newline, mode 0644 whatever the umask,
    written by the unprivileged user), in python-daemon's pidfile protocol: entered when
    the context opens, removed when it closes, by the process that wrote it only."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pid: int | None = None

    def __enter__(self) -> "PidFile":
        write_pidfile(self.path)
        self.pid = os.getpid()
        return self

    def __exit__(self, *exc) -> None:
        if self.pid == os.getpid():
            remove_pidfile(self.path)


class _Null:
    """/dev/null opened before any chroot (a jail may have no /dev), as a stream for the
    context's stdio redirection."""

    _fd: int | None = None

    @classmethod
    def open(cls) -> "_Null":
        if cls._fd is None:
            cls._fd = os.open(os.devnull, os.O_RDWR)
        return cls()

    def fileno(self) -> int:
        return self._fd


def open_devnull() -> int:
    """Open /dev/null now, for a detach that may happen inside a chroot later."""
    return _Null.open().fileno()


def _open_fds() -> list[int]:
    for directory in ("/proc/self/fd", "/dev/fd"):
        try:
            return [int(fd) for fd in os.listdir(directory)]
        except OSError:
            continue
    return list(range(3, 1024))


def daemon_context(detach: bool, pidfile: str | None = None):
    """A DaemonContext that changes nothing C would not change at this point: same umask,
    working directory, owner and signal handlers; every open file kept; stdio to /dev/null."""
    import daemon as python_daemon

    mask = os.umask(0)
    os.umask(mask)
    null = _Null.open()
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = "/"
    return python_daemon.DaemonContext(
        detach_process=detach, working_directory=cwd, umask=mask, prevent_core=False,
        uid=os.getuid(), gid=os.getgid(), initgroups=False, signal_map={},
        files_preserve=_open_fds(), stdin=null, stdout=null, stderr=null,
        pidfile=PidFile(pidfile) if pidfile else None)


def background(pidfile: str | None = None) -> None:
    """C's background(): the parent exits 0, the daemon carries on in its own session with
    stdio on /dev/null, logging to syslog; ``pidfile`` is written by the daemon."""
    sys.stdout.flush()
    sys.stderr.flush()
    daemon_context(detach=True, pidfile=pidfile).open()
    log.use_syslog()
    log.info("Startup successful")


def release_terminal() -> None:
    """The end of a backgrounded driver's start-up (its launcher already gone or told):
    stdio to /dev/null and logging to syslog, without another fork."""
    sys.stdout.flush()
    sys.stderr.flush()
    daemon_context(detach=False).open()
    log.use_syslog()
    log.info("Startup successful")


def ignore_sigpipe() -> None:
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def catch_early_signals() -> list[int]:
    """Record stop signals until the event loop installs its own handlers.

    A supervisor may signal us as soon as the PID file or a socket exists. The default action
    would kill us without removing either, so C sets its handlers up first. The loop checks
    the returned list once its handlers are in place. An early SIGHUP is dropped: the
    configuration was only just read."""
    caught: list[int] = []
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda sig, _frame: caught.append(sig))
    signal.signal(signal.SIGHUP, lambda _sig, _frame: None)
    return caught


# -- what to tell an administrator -------------------------------------------------------------


def service_of(pid: int) -> str | None:
    """The systemd unit process ``pid`` runs in (from its cgroup), if it is a service."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            return service_in_cgroup(f.read())
    except OSError:
        return None


def service_in_cgroup(text: str) -> str | None:
    """The service unit named by a /proc/<pid>/cgroup text (``0::/system.slice/x.service``)."""
    for line in text.splitlines():
        for part in reversed(line.rsplit(":", 1)[-1].split("/")):
            if part.endswith(".service"):
                return part
    return None


def statepath_hint(path: str) -> str:
    """How to make a missing or mis-owned state path right."""
    from .paths import RUN_AS_GROUP as group

    return (f"The state path {path} must exist, belong to group {group} and be mode 0770: "
            f"install -d -o root -g {group} -m 0770 {path} (or systemd-tmpfiles --create, "
            "with nutpy install-systemd's tmpfiles.d file)")


def socket_access_hint(path: str) -> str:
    """Why this process may not use the driver socket ``path``, and what to change."""
    try:
        st = os.stat(path)
    except OSError:
        return ""

    def user(uid: int) -> str:
        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            return str(uid)

    def group(gid: int) -> str:
        try:
            return grp.getgrgid(gid).gr_name
        except KeyError:
            return str(gid)

    return (f"{path} belongs to {user(st.st_uid)}:{group(st.st_gid)}, mode "
            f"{st.st_mode & 0o777:04o}, and this process runs as {user(os.geteuid())}:"
            f"{group(os.getegid())}: run the drivers and upsd as the same user, or give the "
            "drivers upsd's group (group = ... in ups.conf)")

