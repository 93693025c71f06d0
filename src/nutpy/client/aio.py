"""asyncio NUT client: the ``nutpy.client`` sans-IO core driven by asyncio streams.

Same API as ``nutpy.client.blocking.Client`` with ``await``::

    async with await AsyncClient.open("localhost") as nut:
        charge = await nut.get_var("ups", "battery.charge")

Requests on one connection are serialized by a lock, so concurrent tasks may share it.
"""

from __future__ import annotations

import asyncio
import os
import socket

from .core import (
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    DEFAULT_TRACKING_TIMEOUT,
    ConnectionFailure,
    ListReply,
    NutError,
    TLSError,
    _Api,
    _ok_or_tracking,
    build_request,
    build_value_request,
    parse_get,
)

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class AsyncClient(_Api):
    def __init__(self, host: str = "localhost", port: int = DEFAULT_PORT,
                 timeout: float | None = DEFAULT_TIMEOUT, *, tls: bool | str = False,
                 certverify: bool = False, certpath: str | None = None,
                 certfile: str | None = None, certname: str | None = None) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.tls_mode, self.certverify = tls, certverify
        self.certpath, self.certfile, self.certname = certpath, certfile, certname
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.tls_active = False
        self._sock = None
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, *args, **kwargs) -> AsyncClient:
        client = cls(*args, **kwargs)
        await client.connect()
        return client

    async def connect(self) -> None:
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout)
        except socket.gaierror:
            raise ConnectionFailure("No such host") from None
        except asyncio.TimeoutError:
            raise ConnectionFailure("Connection failure: Connection timed out") from None
        except OSError as e:
            raise ConnectionFailure(f"Connection failure: {os.strerror(e.errno or 0)}") from None
        self._sock = self.writer.get_extra_info("socket")
        if self._sock is not None:
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls_mode:
            await self.starttls(required=self.tls_mode == "force")

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
            self.writer = self.reader = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # -- transport ----------------------------------------------------------------------

    async def _send(self, data: bytes) -> None:
        if self.writer is None:
            raise ConnectionFailure("Driver not connected")
        self.writer.write(data)
        try:
            await self.writer.drain()
        except OSError as e:
            raise ConnectionFailure(f"Write error: {os.strerror(e.errno or 0)}") from None

    def _quickack(self) -> None:
        """Re-arm immediate ACKs (Linux clears TCP_QUICKACK on its own): upsd writes a
        LIST one line per write() and would otherwise wait ~40 ms for our delayed ACK."""
        if _QUICKACK is not None and self._sock is not None:
            try:
                self._sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except OSError:
                pass

    async def _readline(self) -> str:
        self._quickack()
        try:
            data = await self.reader.readline()
        except OSError as e:
            raise ConnectionFailure(f"Read error: {os.strerror(e.errno or 0)}") from None
        if not data.endswith(b"\n"):
            raise ConnectionFailure("Server disconnected")
        return data[:-1].decode("latin-1")

    async def _exchange(self, data: bytes, reply: ListReply | None = None):
        """Send a request, read its one-line reply (or the whole LIST into ``reply``),
        under the connection lock and one timeout: a read timeout is a hang-up, as C."""
        if self.reader is None:
            raise ConnectionFailure("Driver not connected")

        async def exchange():
            await self._send(data)
            if reply is None:
                return await self._readline()
            while not reply.feed(await self._readline()):
                pass
            return reply.items

        async with self._lock:
            try:
                return await asyncio.wait_for(exchange(), self.timeout)
            except asyncio.TimeoutError:
                raise ConnectionFailure("Server disconnected") from None

    async def request(self, data: bytes) -> str:
        return await self._exchange(data)

    async def get(self, *query: str) -> list[str]:
        return parse_get(await self.request(build_request("GET", *query)), query)

    async def list(self, *query: str) -> list[list[str]]:
        return await self._exchange(build_request("LIST", *query), ListReply(query))

    # -- primitives used by _Api (coroutines here) ---------------------------------------

    async def _get(self, query, post):
        return post(await self.get(*query))

    async def _list(self, query, post):
        return post(await self.list(*query))

    async def _simple(self, data: bytes, post):
        return post(await self.request(data))

    async def _simple_seq(self, requests: list[bytes], post):
        result = None
        for data in requests:
            result = post(await self.request(data))
        return result

    # -- actions with tracking ----------------------------------------------------------

    async def set_var(self, ups: str, var: str, value: str, *, wait: bool = False,
                      timeout: float = DEFAULT_TRACKING_TIMEOUT, interval: float = 1.0) -> str:
        if wait:
            await self.set_tracking(True)
        tid = _ok_or_tracking(await self.request(
            build_value_request("SET", "VAR", ups, var, value)))
        return await self.wait_tracking(tid, timeout, interval) if (wait and tid) else "OK"

    async def instcmd(self, ups: str, cmd: str, param: str | None = None, *,
                      wait: bool = False, timeout: float = DEFAULT_TRACKING_TIMEOUT,
                      interval: float = 1.0) -> str:
        if wait:
            await self.set_tracking(True)
        args = (ups, cmd) if param is None else (ups, cmd, param)
        tid = _ok_or_tracking(await self.request(build_request("INSTCMD", *args)))
        return await self.wait_tracking(tid, timeout, interval) if (wait and tid) else "OK"

    async def wait_tracking(self, tracking_id: str, timeout: float = DEFAULT_TRACKING_TIMEOUT,
                            interval: float = 1.0) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            status = await self.get_tracking(tracking_id)
            if not status.startswith("PENDING"):
                return status
            if loop.time() + interval > deadline:
                raise TimeoutError("Can't receive status tracking information: timeout")
            await asyncio.sleep(interval)

    async def logout(self) -> None:
        try:
            await self.request(b"LOGOUT\n")
        except NutError:
            pass
        await self.close()

    # -- TLS ----------------------------------------------------------------------------

    async def starttls(self, required: bool = True) -> bool:
        line = await self.request(b"STARTTLS\n")
        if not line.startswith("OK STARTTLS"):
            if required:
                await self.close()
                raise TLSError(f"SSL is not available (upsd said: {line})")
            return False
        from .core import tls_context
        try:
            context = tls_context(self.certpath, self.certverify, self.certfile)
        except TLSError:
            await self.close()
            raise
        server_name = self.certname or self.host
        try:
            await self.writer.start_tls(
                context, server_hostname=server_name if context.check_hostname else None)
        except Exception as e:  # ssl.SSLError, certificate errors
            await self.close()
            raise TLSError(f"SSL error: {e}") from None
        self.tls_active = True
        return True
