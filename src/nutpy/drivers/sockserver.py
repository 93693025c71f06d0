"""The driver's Unix socket server (upsd, upsdrvctl and debug tools are its clients).

Requests are tokenised with parseconf; replies and broadcasts are lines built by
``sockproto``. Every state change is written to all clients at once from the event loop
(no batching until the next poll). A client's bad input never touches another client:
words are bounded by the tokenizer, unread output is bounded by ``MAX_PENDING_OUTPUT``
(the client is dropped beyond it), and EOF is a disconnect (C 2.8.0 spins on it).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from typing import Awaitable, Callable

from ..common.cnum import atoi
from ..common.log import log
from ..common.parseconf import Tokenizer
from ..common.ratelimit import Throttle
from ..proto import sockproto
from .state import DriverState

# A client that leaves this much of our output unread is dropped: it is not upsd.
MAX_PENDING_OUTPUT = 1024 * 1024
LISTEN_BACKLOG = 16
# sun_path on Linux
MAX_SOCKET_PATH = 107

SetHandler = Callable[[str, str], Awaitable[int]]
CmdHandler = Callable[[str, "str | None"], Awaitable[int]]


class ClientConnection(asyncio.Protocol):
    def __init__(self, server: "DriverSocketServer") -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.tokenizer = Tokenizer()
        self.broadcast = True
        self.closed = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.server.clients.add(self)
        log.debug(2, "Connection on socket accepted")

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.server.clients.discard(self)
        log.debug(2, "Disconnecting socket client")

    def data_received(self, data: bytes) -> None:
        try:
            lines = self.tokenizer.feed(data)
        except Exception as e:  # the tokenizer is total, but a daemon must never die here
            log.error(f"sock: tokenizer failure: {e}")
            self.tokenizer = Tokenizer()
            return
        for line in lines:
            if line.error:
                self.server.parse_error(line.error)
                continue
            if line.words:
                self.server.handle(self, line.words)

    def eof_received(self):
        return False  # close our side too

    def send(self, data: bytes) -> None:
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            return
        transport.write(data)
        if transport.get_write_buffer_size() > MAX_PENDING_OUTPUT:
            log.warning("Socket client does not read its data: disconnecting it")
            transport.abort()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class DriverSocketServer:
    """Serves ``state`` on a Unix socket; SET and INSTCMD go to the given async handlers."""

    def __init__(self, state: DriverState, on_set: SetHandler, on_instcmd: CmdHandler,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.state = state
        self.on_set = on_set
        self.on_instcmd = on_instcmd
        self.clients: set[ClientConnection] = set()
        self.path: str | None = None
        self._server: asyncio.AbstractServer | None = None
        self._loop = loop
        self._loop_thread = None
        self._unknown_throttle = Throttle(burst=20, period=60)
        self._tasks: set[asyncio.Task] = set()

    # ---- broadcasting (called by the state's emit hook, from any thread)

    def attach(self) -> None:
        """Route the state's change lines to every client."""
        self._loop_thread = threading.get_ident()
        self.state.emit = self._emit

    def _emit(self, data: bytes) -> None:
        if threading.get_ident() == self._loop_thread:
            self.broadcast(data)
        else:
            self._loop.call_soon_threadsafe(self.broadcast, data)

    def broadcast(self, data: bytes) -> None:
        for client in list(self.clients):
            if client.broadcast:
                client.send(data)

    # ---- listening

    async def listen(self, path: str) -> None:
        if len(path.encode()) > MAX_SOCKET_PATH:
            log.fatal(f"Fatal error: socket path too long: {path}")
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            log.error(f"unlink {path}: {e.strerror}")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o007)
        try:
            sock.bind(path)
        except OSError as e:
            sock.close()
            print("Fatal error: unable to create listener socket\n")
            print(f"bind {path} failed: {e.strerror}\n")
            print("Please make sure the directory exists and is writable by the driver user.")
            raise SystemExit(1)
        finally:
            os.umask(old)
        os.chmod(path, 0o660)
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
        self._server = await self._loop.create_unix_server(
            lambda: ClientConnection(self), sock=sock)
        self.path = path
        if not os.environ.get("NUT_QUIET_INIT_LISTENER"):
            # 2.8.0 is silent here; later releases log it, which only adds noise to the
            # terminal of whoever started the driver.
            log.debug(1, f"Listening on socket {path}")

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for client in list(self.clients):
            client.close()
        if self.path:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            self.path = None

    # ---- requests

    def parse_error(self, message: str) -> None:
        allowed, _ = self._unknown_throttle.allow()
        if allowed:
            log.error(f"Parse error on sock: {message}")

    def handle(self, client: ClientConnection, words: list[str]) -> None:
        req = sockproto.parse_request(words)
        if req is None:
            allowed, _ = self._unknown_throttle.allow()
            if allowed:
                log.info("Unknown command on socket: ")
                for i, w in enumerate(words):
                    log.info(f"arg {i}: {w}")
            return
        if isinstance(req, sockproto.BadRequest):
            if req.reason:
                log.info(req.reason)
            return
        kind = req.kind
        if kind == "PING":
            client.send(sockproto.PONG)
        elif kind == "DUMPALL":
            client.send(self.state.dump())
        elif kind == "SET":
            if not sockproto.is_wire_name(req.name):
                # C dummy-ups creates it and publishes a broken line; no driver has one
                log.debug(2, f"setvar: invalid variable name ({req.name})")
                if req.tracking is not None:
                    client.send(sockproto.tracking(req.tracking, sockproto.UNKNOWN))
                return
            handler = self.on_set(req.name, req.value)
            self._spawn(self._run(client, f"setvar {req.name}", handler, req.tracking))
        elif kind == "INSTCMD":
            handler = self.on_instcmd(req.name, req.value)
            self._spawn(self._run(client, f"instcmd {req.name}", handler, req.tracking))
        elif kind == "NOBROADCAST":
            client.broadcast = False
        elif kind == "BROADCAST":
            client.broadcast = req.value is None or atoi(req.value) >= 1
        elif kind == "GETPID":
            client.send(sockproto.line("PID", str(os.getpid())))
        elif kind == "LOGOUT":
            # C sleeps 1 s here, blocking every client; we just close after the reply.
            client.send(b"OK Goodbye\n")
            client.close()
        elif kind == "DUMPVALUE":
            client.send(self.state.dump_value(req.name))
        elif kind == "DUMPSTATUS":
            client.send(self.state.dump_value("ups.status"))

    def _spawn(self, coro) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, client, what: str, handler, tracking) -> None:
        """Await a SET or INSTCMD handler; a crashing handler counts as FAILED, and the
        result goes back only when the request was tracked."""
        try:
            result = await handler
        except Exception as e:
            log.error(f"{what}: {e!r}")
            result = sockproto.FAILED
        if tracking is not None:
            client.send(sockproto.tracking(tracking, result))
