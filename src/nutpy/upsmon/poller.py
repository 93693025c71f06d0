"""upsmon's network side: one connection per MONITOR line, made and logged in as C
upsmon does it (STARTTLS as CERTVERIFY/FORCESSL/CERTHOST say, USERNAME, PASSWORD, LOGIN,
PRIMARY or else MASTER), and each poll's outcome in the terms of ``monitor``.

Uses the project's client library (``nutpy.client.aio.AsyncClient``)."""

from __future__ import annotations

import asyncio
import socket

from ..client.aio import AsyncClient
from ..client.core import NutError, ServerError, TLSError, build_request
from ..common.log import log
from . import config as cfg
from . import monitor as mon

REQUEST_TIMEOUT = 5.0  # libupsclient's network timeout for a reply


class TlsSettings:
    """CERTPATH/CERTIDENT/CERTVERIFY/FORCESSL/CERTHOST/CERTFILE, with the client contexts
    built once (before any chroot)."""

    def __init__(self, conf: cfg.UpsmonConfig) -> None:
        self.certpath = conf.certpath
        self.certident = conf.certident
        self.certfile = conf.certfile
        self.certverify = conf.certverify == 1
        self.forcessl = conf.forcessl == 1
        self.certhosts = list(conf.certhosts)
        self._contexts: dict[bool, object] = {}
        self._errors: dict[bool, str] = {}

    def for_host(self, host: str, port: int) -> tuple[str | None, bool, bool]:
        """(certificate name, verify, force) for a connection, CERTHOST first."""
        if self.certhosts:
            from ..security.tls import certhost_lookup

            name, verify, force = certhost_lookup(self.certhosts, host, port,
                                                  self.certverify, self.forcessl)
            return name, verify, force
        return None, self.certverify, self.forcessl

    def context(self, verify: bool):
        """The client context for ``verify``; raises TLSError (and remembers why)."""
        if verify in self._contexts:
            return self._contexts[verify]
        if verify in self._errors:
            raise TLSError(self._errors[verify])
        from ..client.core import tls_context

        try:
            ctx = tls_context(self.certpath, verify, self.certfile, self.certident)
        except TLSError as e:
            self._errors[verify] = str(e)
            raise
        self._contexts[verify] = ctx
        return ctx

    def preload(self) -> None:
        """Build the contexts now (before a chroot); errors show at connect time."""
        for verify in {self.certverify, *(bool(int(h[2])) for h in self.certhosts)}:
            try:
                self.context(verify)
            except TLSError:
                pass


class Link:
    """The connection for one MONITOR entry."""

    def __init__(self, system: str, tls: TlsSettings, connect_timeout: float | None,
                 family: int = socket.AF_UNSPEC) -> None:
        self.system = system
        self.tls = tls
        self.connect_timeout = connect_timeout
        self.family = family
        self.client: AsyncClient | None = None
        self.logged_in = False
        self.fallback_host: str | None = None  # the address looked up before a chroot

    # -- connecting ---------------------------------------------------------------------

    async def connect(self, entry: cfg.MonitorEntry):
        """None when connected (and maybe logged in), else the outcome to report."""
        log.debug(1, f"Trying to connect to UPS [{self.system}]")
        certname, verify, force = self.tls.for_host(entry.host or "localhost", entry.port)
        if verify and not self.tls.certpath:
            return mon.ConnectFailed("", config_error=True)
        host = entry.host or "localhost"
        if self.family == socket.AF_INET and host == "localhost":
            host = "127.0.0.1"
        elif self.family == socket.AF_INET6 and host == "localhost":
            host = "::1"
        try:
            context = self.tls.context(verify)
        except TLSError as e:
            if force or verify:
                return mon.ConnectFailed(str(e))
            context = None  # STARTTLS is only tried; plain it is
        client = AsyncClient(host, entry.port, self.connect_timeout,
                             tls=("force" if force else "try") if context is not None else False,
                             certverify=verify, certpath=self.tls.certpath,
                             certname=certname or entry.host, ssl_context=context)
        try:
            await client.connect()
        except NutError as e:
            if e.message == "No such host" and self.fallback_host:
                client.host = self.fallback_host
                try:
                    await client.connect()
                except NutError as e2:
                    await client.close()
                    return mon.ConnectFailed(e2.message)
            else:
                await client.close()
                return mon.ConnectFailed(e.message)
        client.timeout = REQUEST_TIMEOUT
        self.client = client
        self.logged_in = False
        if not await self.authenticate(entry):
            return mon.NotLoggedIn()
        return None

    async def _exchange(self, request: bytes) -> tuple[str | None, str | None]:
        """(reply, None) or (None, error text); a broken connection is closed."""
        try:
            return await self.client.request(request), None
        except NutError as e:
            await self.close()
            return None, e.message

    async def authenticate(self, entry: cfg.MonitorEntry) -> bool:
        """C ``do_upsd_auth``: USERNAME, PASSWORD, LOGIN, then PRIMARY (or MASTER)."""
        sys_ = self.system
        reply, error = await self._exchange(build_request("USERNAME", entry.username))
        if error or reply.startswith("ERR"):
            log.error(f"Set username on [{sys_}] failed: {error or _err_text(reply)}")
            return False
        reply, error = await self._exchange(build_request("PASSWORD", entry.password))
        if error or reply.startswith("ERR"):
            log.error(f"Set password on [{sys_}] failed: {error or _err_text(reply)}")
            return False
        if not reply.startswith("OK"):
            log.error(f"Set password on [{sys_}] failed - got [{reply}]")
            return False
        if not entry.upsname:
            log.error(f"Login to UPS [{sys_}] failed: empty upsname")
            return False
        reply, error = await self._exchange(build_request("LOGIN", entry.upsname))
        if error:
            log.error(f"Login to UPS [{sys_}] failed: {error}")
            return False
        if reply.startswith("ERR"):
            log.error(f"Can't login to UPS [{sys_}]: {_err_text(reply)}")
            return False
        if not reply.startswith("OK"):
            log.error(f"Login on UPS [{sys_}] failed - got [{reply}]")
            return False
        log.debug(1, f"Logged into UPS {sys_}")
        self.logged_in = True
        if not entry.primary:
            return True
        for word in ("PRIMARY", "MASTER"):
            reply, error = await self._exchange(build_request(word, entry.upsname))
            if error:
                log.error(f"Can't set primary managerial mode on UPS [{sys_}] - {error}")
                return False
            if reply.startswith("OK"):
                return True
            log.debug(3, f"apply_for_primary: Server did not grant {word} mode on UPS "
                         f"[{entry.upsname}]")
        log.error(f"Primary managerial privileges unavailable on UPS [{sys_}]")
        if reply.startswith("ERR"):
            log.error(f"Reason: {_err_text(reply)}")
        else:
            log.error(f"Response: [{reply}]")
        return False

    # -- polling ------------------------------------------------------------------------

    async def poll(self, entry: cfg.MonitorEntry):
        if self.client is None:
            failed = await self.connect(entry)
            if failed is not None:
                return failed
        log.debug(2, f"pollups: {self.system}" + (" [SSL]" if self.client.tls_active else ""))
        ups = entry.upsname or ""
        try:
            status = await self.client.get_var(ups, "ups.status")
        except ServerError as e:
            return mon.PollFailed(e.message, logged_in=self.logged_in)
        except NutError as e:
            await self.close()
            return mon.PollFailed(e.message, dropped=True, logged_in=False)
        buzzwords = await self._optional(ups, "ups.mode.buzzwords")
        alarm = None
        if any(word.upper() == "ALARM" for word in status.split(" ")):
            alarm = await self._optional(ups, "ups.alarm")
        return mon.Polled(status, buzzwords, alarm, self.logged_in)

    async def _optional(self, ups: str, var: str) -> str | None:
        if self.client is None:
            return None
        try:
            return await self.client.get_var(ups, var)
        except ServerError:
            return None
        except NutError:
            await self.close()
            return None

    async def set_fsd(self, entry: cfg.MonitorEntry):
        if self.client is None:
            return mon.NetError("Driver not connected")
        reply, error = await self._exchange(build_request("FSD", entry.upsname or ""))
        if error:
            return mon.NetError(error)
        if reply.startswith("ERR"):
            return mon.NetError(_err_text(reply))
        return reply

    async def num_logins(self, entry: cfg.MonitorEntry) -> int | None:
        if self.client is None:
            return None
        try:
            return await self.client.num_logins(entry.upsname or "")
        except ServerError:
            return None
        except (NutError, ValueError):
            await self.close()
            return None

    async def close(self) -> None:
        client, self.client = self.client, None
        self.logged_in = False
        if client is not None:
            await _close(client)

    def drop(self) -> None:
        """Forget the connection now (the next poll makes a new one); it is closed in the
        background."""
        client, self.client = self.client, None
        self.logged_in = False
        if client is not None:
            asyncio.ensure_future(_close(client))


async def _close(client: AsyncClient) -> None:
    try:
        await client.close()
    except Exception:
        pass


def _err_text(reply: str) -> str:
    from ..proto.netproto import client_message

    return client_message(reply[4:])

