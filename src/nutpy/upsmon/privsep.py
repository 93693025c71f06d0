"""upsmon's processes and what runs in each.

C upsmon splits in two: a root parent that only waits for the word to run SHUTDOWNCMD
(and write POWERDOWNFLAG), and an unprivileged child that does everything else, forking
a grandchild for every notification. Here the child splits once more, as NUT's
security notes wished: the *monitor* does the network I/O and may be chrooted (``-r``),
and a *notifier* (unprivileged, not chrooted) runs ``wall`` and NOTIFYCMD when the
monitor asks over a socket pair. ``upsmon -p`` keeps everything in one root process.

::

    upsmon (root parent: POWERDOWNFLAG, SHUTDOWNCMD)
      └─ upsmon (monitor: RUN_AS_USER, optional chroot; the PID file names it)
           └─ upsmon (notifier: RUN_AS_USER; wall and NOTIFYCMD)

A notification is one ``/bin/sh`` process tree, started without forking Python: wall
first when asked, then NOTIFYCMD exactly as C's ``system()`` runs it (``<NOTIFYCMD>
"<message>"`` through the shell), with UPSNAME and NOTIFYTYPE in its environment.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess

from ..common.log import log
from . import notify
from .notify import Notification

SHUTDOWN_BYTE = b"\x01"
_WALL = 'printf "%s\\n" "$1" | wall'


def delivery(n: Notification | None, notifycmd: str | None, wall_text: str | None = None
             ) -> tuple[list[str], dict[str, str]] | None:
    """The command line and environment additions that deliver ``n`` (WALL and EXEC
    parts; SYSLOG is the monitor's own log), or that send ``wall_text`` alone."""
    if n is None:
        return ["/bin/sh", "-c", _WALL, "sh", wall_text or ""], {}
    if n.flags & notify.IGNORE:
        return None
    wall = bool(n.flags & notify.WALL)
    run = bool(n.flags & notify.EXEC) and notifycmd is not None
    if not wall and not run:
        return None
    cmdline = f'{notifycmd} "{n.message}"' if run else ""
    env = n.env() if run else {}
    if wall and run:
        return ["/bin/sh", "-c", _WALL + '; exec /bin/sh -c "$2"', "sh", n.message,
                cmdline], env
    if wall:
        return ["/bin/sh", "-c", _WALL, "sh", n.message], env
    return ["/bin/sh", "-c", cmdline], env


def spawn(argv: list[str], env_add: dict[str, str]) -> subprocess.Popen | None:
    env = dict(os.environ)
    env.update(env_add)
    try:
        return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, close_fds=True)
    except OSError as e:
        log.error(f"notify: Can't run {argv[0]}: {e.strerror}")
        return None


def encode_request(n: Notification | None, wall_text: str | None = None) -> bytes:
    if n is None:
        return (json.dumps({"wall": wall_text}) + "\n").encode()
    return (json.dumps({"type": n.type, "ups": n.ups, "message": n.message,
                        "flags": n.flags}) + "\n").encode()


def decode_request(data: dict) -> tuple[Notification | None, str | None]:
    if "wall" in data:
        return None, data["wall"]
    return Notification(data["type"], data["ups"], data["message"], int(data["flags"])), None


# -- the notifier process -------------------------------------------------------------------


def run_notifier(sock: socket.socket, notifycmd: str | None) -> int:
    """Serve the monitor's requests until it closes the socket. A reload may change
    NOTIFYCMD: the monitor then sends the new one."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    children: list[subprocess.Popen] = []
    buf = b""
    while True:
        children = [c for c in children if c.poll() is None]
        ready, _, _ = select.select([sock], [], [], 1.0)
        if not ready:
            continue
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            break
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            try:
                request = json.loads(line)
            except ValueError:
                continue
            if "notifycmd" in request:
                notifycmd = request["notifycmd"]
                continue
            n, wall_text = decode_request(request)
            plan = delivery(n, notifycmd, wall_text)
            if plan is not None:
                child = spawn(*plan)
                if child is not None:
                    children.append(child)
    for c in children:
        c.poll()
    return 0


class NotifyChannel:
    """The monitor's end: hands notifications to the notifier process, or (``-p``, or
    when the notifier is gone and no chroot is in the way) starts them itself."""

    def __init__(self, sock: socket.socket | None, notifycmd: str | None,
                 can_spawn: bool = True) -> None:
        self.sock = sock
        self.notifycmd = notifycmd
        self.can_spawn = can_spawn
        self.children: list[subprocess.Popen] = []
        if sock is not None:
            sock.setblocking(True)
            sock.settimeout(5.0)

    def set_notifycmd(self, notifycmd: str | None) -> None:
        if notifycmd == self.notifycmd:
            return
        self.notifycmd = notifycmd
        if self.sock is not None:
            self._send((json.dumps({"notifycmd": notifycmd}) + "\n").encode())

    def deliver(self, n: Notification) -> None:
        if n.flags & notify.IGNORE or not n.flags & (notify.WALL | notify.EXEC):
            return
        if self.sock is not None and self._send(encode_request(n)):
            return
        self._spawn(delivery(n, self.notifycmd))

    def wall(self, text: str) -> None:
        if self.sock is not None and self._send(encode_request(None, text)):
            return
        self._spawn(delivery(None, None, text))

    def _send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
            return True
        except OSError as e:
            log.error(f"notify: the notifier process is gone ({e.strerror or e}); "
                      + ("running notifications from the monitor" if self.can_spawn
                         else "notifications are lost"))
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
            return False

    def _spawn(self, plan) -> None:
        if plan is None or not self.can_spawn:
            return
        self.children = [c for c in self.children if c.poll() is None]
        child = spawn(*plan)
        if child is not None:
            self.children.append(child)

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


# -- the root parent ------------------------------------------------------------------------


def set_pdflag(path: str | None) -> None:
    """Create POWERDOWNFLAG with the magic text (no newline), as C's ``set_pdflag``."""
    if not path:
        log.debug(1, "set_pdflag: SKIP creation of a POWERDOWNFLAG file: not configured")
        return
    try:
        with open(path, "w") as f:
            f.write(notify.SDMAGIC)
    except OSError:
        log.error("Failed to create power down flag!")


def pdflag_status(path: str | None) -> int:
    """1: there with the magic text; 0: not configured or not there; -1: other content."""
    if not path:
        return 0
    try:
        with open(path, "rb") as f:
            head = f.read(511)
    except FileNotFoundError:
        return 0
    except OSError as e:
        log.error(f"'{path}' exists, but we can't read from it: {e.strerror}")
        return -1
    return 1 if head.startswith(notify.SDMAGIC.encode()) else -1


def system_status(returncode: int) -> int:
    """What C's ``system()`` returns for a child with this subprocess return code."""
    return -returncode if returncode < 0 else (returncode & 0xFF) << 8


def run_shutdowncmd(cmd: str | None) -> int:
    if cmd is None:
        return 1 << 8
    try:
        return system_status(subprocess.call(cmd, shell=True))
    except OSError:
        return -1


def run_parent(read_fd: int, shutdowncmd: str | None, powerdownflag: str | None,
               shutdownexit: int, child: int) -> int:
    """The root parent: wait for the monitor's word, then POWERDOWNFLAG and SHUTDOWNCMD."""
    for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)
    try:
        data = os.read(read_fd, 1)
    except OSError as e:
        log.error(f"upsmon parent: read: {e.strerror}")
        return 1
    if not data:
        log.error("upsmon parent: exiting (child exited)")
        return 1
    if data != SHUTDOWN_BYTE:
        log.error(f"upsmon parent: got bogus pipe command {data.decode('latin-1')}")
        return 1
    import time

    start = time.monotonic()
    set_pdflag(powerdownflag)
    log.debug(1, f"run_parent: upsmon parent: Calling shutdown command: {shutdowncmd}")
    status = run_shutdowncmd(shutdowncmd)
    if status != 0:
        log.error(f"upsmon parent: Unable to call shutdown command: {shutdowncmd}")
    if shutdownexit:
        while True:
            try:
                pid, _ = os.waitpid(child, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                break
            if shutdownexit > 0 and time.monotonic() - start > shutdownexit:
                break
            time.sleep(1)
    os.close(read_fd)
    done = "calling" if status == 0 else "trying to call"
    log.warning(f"upsmon parent: Exiting after {done} ({status}) shutdown command: "
                f"{shutdowncmd}")
    return 0


def parent_alive(parent_pid: int) -> bool:
    return os.getppid() == parent_pid
