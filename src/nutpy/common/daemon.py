"""Process plumbing shared by every daemon: PID files, chroot, privilege drop and
backgrounding, in the order and with the messages of C NUT's common.c."""

from __future__ import annotations

import os
import signal
import sys
import time

from .log import log


def pidfile_path(directory: str, name: str) -> str:
    return os.path.join(directory, f"{name}.pid")


def write_pidfile(path: str) -> None:
    old = os.umask(0o022)
    try:
        with open(path, "w") as f:
            f.write(f"{os.getpid()}\n")
    except OSError as e:
        log.error(f"writepid: fopen {path}: {e.strerror}")
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
    try:
        os.chdir(path)
    except OSError as e:
        log.fatal(f"chdir({path}): {e.strerror}")
    try:
        os.chroot(path)
    except OSError as e:
        log.fatal(f"chroot({path}): {e.strerror}")
    try:
        os.chdir("/")
    except OSError as e:
        log.fatal(f"chdir(/): {e.strerror}")


def become_user(pw) -> None:
    """Drop to ``pw`` (a pwd entry): supplementary groups, gid, then uid. Does nothing
    unless running as root, like C."""
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


def background(ready_fd: int | None = None) -> None:
    """Fork into the background; the parent exits 0. stdio goes to /dev/null and the log
    to syslog."""
    pid = os.fork()
    if pid > 0:
        os._exit(0)
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)
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
