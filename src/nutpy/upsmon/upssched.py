"""upssched: upsmon's NOTIFYCMD helper with timers, as C upssched 2.8.5 behaves.

Run by upsmon with UPSNAME and NOTIFYTYPE in the environment (and the message as its
argument), it reads upssched.conf and acts on each matching ``AT`` line: EXECUTE runs
CMDSCRIPT here and now; timers live in a daemon reached over the PIPEFN Unix socket,
started on demand and gone after 15 idle seconds.

Exactly one daemon: C elects the starter with ``O_EXCL`` on LOCKFN, and a loser removes
that file before retrying, which lets a third caller start a second daemon while the
first is still coming up. Here starters take an ``flock`` on LOCKFN, look again for a
daemon once they hold it, and a leaving daemon takes the same lock while it closes its
socket, so a caller can never reach a daemon on its way out nor race another starter.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time

from .. import VERSION_TEXT
from ..common import paths
from ..common.cliopt import GetOpt
from ..common.log import log
from ..common.parseconf import Tokenizer, encode, read_file
from . import schedconf
from .timers import Command, TimerTable

MAX_TRIES = 30
RETRY_DELAY = 0.25
REPLY_TIMEOUT = 5.0
LISTEN_BACKLOG = 16

HELP = """upssched: upsmon's scheduling helper for offset timers
Practical behavior is managed by UPSNAME and NOTIFYTYPE envvars

Usage: {prog} [OPTIONS] [NOTIFYMSG]

  -D		raise debugging level (NOTE: keeps reporting when daemonized)
  -V		display the version of this software
  -h		display this help
  -l		display currently pending timers (if any)
"""


class Fatal(Exception):
    pass


def fatal(text: str) -> "NoReturn":  # noqa: F821
    log.error(text)
    raise Fatal(text)


# -- running CMDSCRIPT -------------------------------------------------------------------


def command_line(cmdscript: str, arg: str) -> str:
    """C (<= 2.8.5) hands ``<CMDSCRIPT> <arg>`` to the shell, unquoted."""
    return f"{cmdscript} {arg}"


def report_exit(line: str, status: int) -> None:
    if status > 0:
        log.info(f"exec_cmd({line}) returned {status}")
    elif status < 0:
        log.warning(f"exec_cmd({line}) terminated with signal {-status}")


def exec_cmd(cmdscript: str, arg: str, env: dict | None = None) -> None:
    line = command_line(cmdscript, arg)
    log.debug(4, f"exec_cmd: calling: {line}")
    try:
        status = subprocess.call(line, shell=True, env=env)
    except OSError:
        log.error(f"Execute command failure: {line}")
        return
    report_exit(line, status)


def command_env(command: Command) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in command.env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


# -- the client side ---------------------------------------------------------------------


def request_line(kind: str, arg1: str | None, arg2: str | None, ntype: str | None,
                 ups: str | None, msg: str | None) -> bytes:
    words = [arg1, arg2, ntype, ups, msg]
    return (kind + "".join(f' "{encode(w or "")}"' for w in words) + "\n").encode(
        "latin-1", "replace")


def try_connect(pipefn: str) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(pipefn)
    except OSError:
        sock.close()
        return None
    return sock


def open_lock(lockfn: str) -> int:
    """LOCKFN opened for flock; a mode-0 file left by C upssched is replaced."""
    for _ in range(2):
        try:
            return os.open(lockfn, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except PermissionError:
            try:
                os.unlink(lockfn)
            except OSError:
                pass
    return os.open(lockfn, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)


def lock(fd: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)


def ensure_daemon(files: schedconf.Action, ctx: "Context") -> socket.socket | None:
    """Connect to the daemon, starting it (once, whoever else is trying) if needed."""
    try:
        fd = open_lock(files.lockfn)
    except OSError as e:
        log.error(f"Failed to open lock file {files.lockfn}: {e.strerror}")
        return None
    try:
        if not lock(fd, MAX_TRIES * RETRY_DELAY):
            return None
        sock = try_connect(files.pipefn)
        if sock is not None:
            return sock
        start_daemon(files, ctx, fd)
        return try_connect(files.pipefn)
    finally:
        os.close(fd)


def read_reply(sock: socket.socket, listing: bool = False) -> list[str]:
    """Reply lines up to and including the final ``OK`` (or an ``ERR`` line)."""
    sock.settimeout(REPLY_TIMEOUT)
    buf = b""
    lines: list[str] = []
    while True:
        data = sock.recv(4096)
        if not data:
            return lines
        buf += data
        while b"\n" in buf:
            raw, buf = buf.split(b"\n", 1)
            line = raw.decode("latin-1")
            lines.append(line)
            if line.startswith("OK") or line.startswith("ERR") and not listing:
                return lines


def sendcmd(action: schedconf.Action, ctx: "Context") -> None:
    data = request_line(action.kind, action.arg1, action.arg2, ctx.notifytype, ctx.upsname,
                        ctx.notifymsg)
    cancel = action.kind in ("CANCEL", "CANCEL-MATCHED")
    for _ in range(MAX_TRIES):
        sock = try_connect(action.pipefn)
        if sock is None:
            if cancel and action.arg2 is None:
                return  # no daemon, no timer to cancel, nothing to run instead
            sock = ensure_daemon(action, ctx)
            if sock is None:
                time.sleep(RETRY_DELAY)
                continue
        with sock:
            try:
                sock.sendall(data)
            except OSError:
                log.error("write failed, trying again")
                continue
            try:
                lines = read_reply(sock)
            except OSError:
                lines = []
        if lines and lines[-1].startswith("OK"):
            return
        if not lines:
            log.error("read confirmation failed, trying again")
        else:
            log.error(f"read confirmation got [{lines[-1]}]")
        time.sleep(RETRY_DELAY)
    fatal("Unable to connect to daemon and unable to start daemon")


def list_timers(pipefn: str) -> None:
    sock = try_connect(pipefn)
    if sock is None:
        log.debug(1, f"sendcmd: failed to use PIPEFN='{pipefn}'")
        fatal("upssched timer is not running")
    with sock:
        try:
            sock.sendall(request_line("LIST-TIMERS", None, None, None, None, None))
            lines = read_reply(sock, listing=True)
        except OSError:
            lines = []
    if not lines or not lines[-1].startswith("OK"):
        log.error("read confirmation failed, daemon must have ended")
        fatal("Unable to connect to daemon or connection was broken during listing")
    body = [line for line in lines[:-1] if line not in ("BEGIN LIST TIMERS",
                                                        "END LIST TIMERS")]
    sys.stdout.write("".join(line + "\n" for line in body))
    sys.stdout.flush()


# -- the daemon ----------------------------------------------------------------------------


def start_daemon(action: schedconf.Action, ctx: "Context", lock_fd: int) -> None:
    """Fork the timer daemon and wait until it listens (C: ``start_daemon``). The daemon
    keeps no descriptor of ours: an inherited LOCKFN descriptor would hold the lock."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(ready_w)
        try:
            os.read(ready_r, 1)
        finally:
            os.close(ready_r)
        return
    os.close(ready_r)
    os.close(lock_fd)
    os.closerange(3, ready_w)
    os.closerange(ready_w + 1, 1024)
    status = 1
    try:
        status = TimerDaemon(action.cmdscript, action.pipefn, action.lockfn,
                             ctx.debug).run(ready_w)
    except BaseException as e:  # the daemon must never return into the client's code
        try:
            log.error(f"upssched timer daemon: {e}")
        except Exception:
            pass
    finally:
        os._exit(status)


class TimerDaemon:
    def __init__(self, cmdscript: str, pipefn: str, lockfn: str, debug: int) -> None:
        self.cmdscript = cmdscript
        self.pipefn = pipefn
        self.lockfn = lockfn
        self.debug = debug
        self.table = TimerTable()
        self.listener: socket.socket | None = None

    def detach(self) -> None:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        if not self.debug:
            os.dup2(null, 2)
        if null > 2:
            os.close(null)
        log.to_stderr = bool(self.debug)
        for key in ("NOTIFYTYPE", "UPSNAME", "NOTIFYMSG"):
            os.environ.pop(key, None)

    def open_socket(self) -> socket.socket:
        try:
            os.unlink(self.pipefn)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise Fatal(f"Can't unlink {self.pipefn}: {e.strerror}") from None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o007)
        try:
            sock.bind(self.pipefn)
        except OSError as e:
            raise Fatal(f"bind {self.pipefn} failed: {e.strerror}") from None
        finally:
            os.umask(old)
        os.chmod(self.pipefn, 0o660)
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
        return sock

    def run(self, ready_fd: int) -> int:
        self.detach()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        self.listener = self.open_socket()
        if self.debug:
            log.info("Timer daemon started")
        os.write(ready_fd, b"1")
        os.close(ready_fd)
        from ..common import daemon

        daemon.write_pidfile(daemon.pidfile_path(paths.pidpath(), "upssched"))
        import asyncio

        return asyncio.run(self.serve())

    async def serve(self) -> int:
        import asyncio

        loop = asyncio.get_running_loop()
        self.commands: asyncio.Queue = asyncio.Queue()
        self.wake = asyncio.Event()
        server = await asyncio.start_unix_server(self.client, sock=self.listener)
        runner = asyncio.create_task(self.run_commands())
        while True:
            now = loop.time()
            for command in self.table.fire(now):
                if self.debug:
                    log.info(f"Event: {command.arg} ")
                    log.info(f"Executing command by timer: {command.arg}\t"
                             f"[{command.env['NOTIFYTYPE']}]\t[{command.env['UPSNAME']}]\t"
                             f"[{command.env['NOTIFYMSG']}]")
                self.commands.put_nowait(command)
            if self.table.idle_done(now) and self.commands.empty() and not self.busy:
                if await self.leave(server):
                    break
            due = self.table.next_due()
            timeout = 1.0 if due is None else max(0.0, min(1.0, due - now))
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        runner.cancel()
        if self.debug:
            log.info("Timer queue empty, exiting")
        return 0

    busy = False

    async def leave(self, server) -> bool:
        """Close up under the starters' lock, so that nobody reaches a leaving daemon."""
        fd = open_lock(self.lockfn)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False  # a caller is starting a daemon: it will find us; stay
        try:
            server.close()
            try:
                os.unlink(self.pipefn)
            except OSError:
                pass
        finally:
            os.close(fd)
        return True

    async def client(self, reader, writer) -> None:
        import asyncio

        tok = Tokenizer()
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                for line in tok.feed(data):
                    if line.error:
                        log.notice(f"Parse error on sock: {line.error}")
                        continue
                    reply, commands, logs = self.table.handle(
                        list(line.words), loop.time(), time.time())
                    for level, text in logs:
                        getattr(log, level)(text)
                    if self.debug:
                        self.debug_log(list(line.words))
                    for command in commands:
                        self.commands.put_nowait(command)
                    writer.write("".join(r + "\n" for r in reply).encode("latin-1"))
                    await writer.drain()
                    self.wake.set()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def debug_log(self, words: list[str]) -> None:
        if len(words) >= 3 and words[0] in ("START", "START-SHARED"):
            log.info(f"New timer: {words[1]}\t(will elapse in {words[2]} seconds)")
        elif len(words) >= 2 and words[0].startswith("CANCEL"):
            log.info(f"Cancelling timer: {words[1]}")

    async def run_commands(self) -> None:
        import asyncio

        while True:
            command = await self.commands.get()
            self.busy = True
            line = command_line(self.cmdscript, command.arg)
            try:
                proc = await asyncio.create_subprocess_shell(
                    line, env=command_env(command), stdin=subprocess.DEVNULL)
                status = await proc.wait()
                report_exit(line, status)
            except OSError:
                log.error(f"Execute command failure: {line}")
            finally:
                self.busy = False
                self.wake.set()


# -- main ------------------------------------------------------------------------------------


class Context:
    def __init__(self) -> None:
        self.debug = 0
        self.list_only = False
        self.upsname: str | None = None
        self.notifytype: str | None = None
        self.notifymsg: str | None = None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "upssched"
    log.setup("upssched", 0)
    ctx = Context()
    parser = GetOpt([prog, *argv], "+DVhl")
    for opt, letter in parser:
        if opt == "D":
            ctx.debug += 1
        elif opt == "h":
            sys.stdout.write(HELP.format(prog=prog))
            return 0
        elif opt == "l":
            ctx.list_only = True
        elif opt == "V":
            print(f"Network UPS Tools upssched {VERSION_TEXT}")
            return 0
        else:
            log.error(f"Error: unknown option -{letter}. Try -h for help.")
            return 1
    env_debug = os.environ.get("NUT_DEBUG_LEVEL", "")
    if not ctx.debug and env_debug.isdigit() and int(env_debug) > 0:
        log.info(f"Defaulting debug verbosity to NUT_DEBUG_LEVEL={env_debug} since none was "
                 "requested by command-line options")
        ctx.debug = int(env_debug)
    log.debug_level = ctx.debug
    # syslog from the start, as C: upsmon's notify child has no terminal to read stderr
    log.use_syslog()
    log.to_stderr = True
    ctx.upsname = os.environ.get("UPSNAME")
    ctx.notifytype = os.environ.get("NOTIFYTYPE")
    if parser.operands and parser.operands[0]:
        ctx.notifymsg = parser.operands[0]
    if not ctx.list_only and (ctx.upsname is None or ctx.notifytype is None):
        print("Error: environment variables UPSNAME and NOTIFYTYPE must be set.")
        print("This program should only be run from upsmon(8).")
        return 1
    log.debug(1, f"Handling NOTIFYTYPE='{ctx.notifytype}' for UPSNAME='{ctx.upsname}'")
    try:
        return run(ctx)
    except Fatal:
        return 1


def run(ctx: Context) -> int:
    path = paths.conf_file("upssched.conf")
    try:
        lines = list(read_file(path))
    except OSError as e:
        fatal(f"Can't open {path}: {e.strerror}")
    try:
        files, items = schedconf.read(lines, path, ctx.upsname or "", ctx.notifytype or "",
                                      ctx.notifymsg, list_only=ctx.list_only)
    except schedconf.SchedFatal as e:
        if e.printed:
            print(str(e), flush=True)
        fatal(str(e))
    if files.debug_min is not None and files.debug_min > log.debug_level:
        log.debug_level = files.debug_min
        ctx.debug = files.debug_min
    for item in items:
        if isinstance(item, schedconf.Action):
            perform(item, ctx)
        else:
            getattr(log, item[0])(item[1])
    if ctx.list_only:
        list_timers(files.pipefn)
    log.debug(1, "Exiting upssched (CLI process)")
    return 0


def perform(action: schedconf.Action, ctx: Context) -> None:
    log.debug(1, f"parse_at: processing {action.kind}\t[{action.arg1}]\t[{action.arg2}]")
    if action.kind == "EXECUTE":
        if ctx.debug:
            log.info(f"Executing command: {action.arg1}")
        exec_cmd(action.cmdscript, action.arg1)
        return
    sendcmd(action, ctx)


def entry() -> None:
    try:
        status = main()
    except KeyboardInterrupt:
        status = 130
    sys.exit(status)


if __name__ == "__main__":
    entry()
