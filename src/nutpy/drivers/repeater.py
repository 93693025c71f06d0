"""dummy-ups repeater mode (``port = ups@host[:port]``): copies a UPS served by another
upsd, over ``nutpy.client.aio`` on the driver's event loop (network waits never hold the
device thread or the socket server).

As C (2.8.6+): STARTTLS is tried (required with ``FORCESSL``), certificates checked with
``CERTVERIFY``, and the login comes from ``nutauth.conf`` (``authconf`` setting).
Beyond C: a lost upsd is retried with backoff while the data is marked stale, and, when
credentials are configured, ``SET`` and ``INSTCMD`` are forwarded to the remote upsd
(C answers them locally and never tells the real UPS).
"""

from __future__ import annotations

import asyncio
import sys

from ..client.aio import AsyncClient
from ..client.core import NutError, ServerError, split_name
from ..common.log import log
from ..security import credentials
from .base import FAILED, HANDLED, INVALID, UNKNOWN

MAX_BACKOFF = 60.0
# How long a forwarded SET/INSTCMD may wait for the remote driver's result.
FORWARD_TIMEOUT = 10.0
FORWARD_POLL = 0.1
# Remote results (tracking replies and ERR codes) as driver socket statuses.
_RESULTS = {"SUCCESS": HANDLED, "OK": HANDLED, "ERR UNKNOWN": UNKNOWN, "ERR INVALID-ARGUMENT": INVALID,
            "ERR FAILED": FAILED}
_ERR_CODES = {"CMD-NOT-SUPPORTED": UNKNOWN, "VAR-NOT-SUPPORTED": UNKNOWN,
              "INVALID-ARGUMENT": INVALID, "INVALID-VALUE": INVALID, "TOO-LONG": INVALID}
# Commands the local driver core answers itself; never copied from the remote.
_LOCAL_COMMANDS = ("driver.", "shutdown.default")


class RepeaterStartError(Exception):
    pass


def settings_from(setting: str | None, host: str, port: int) -> credentials.AuthSettings:
    """``authconf`` = none | default | <path> | unset (use the default file if any)."""
    if setting == "none":
        return credentials.AuthSettings()
    if setting in (None, "default"):
        path = credentials.default_file()
        if path is None:
            if setting == "default":
                log.fatal("Can't open a user/site-provided default nutauth.conf file")
            return credentials.AuthSettings()
    else:
        path = setting
    try:
        return credentials.load(path).settings_for(host, port)
    except OSError as e:
        log.fatal(f"Can't open {path}: {e.strerror}")
    except credentials.AuthConfError as e:
        log.fatal(str(e))


class Repeater:
    def __init__(self, driver, port_value: str, auth_setting: str | None,
                 strict_start: bool) -> None:
        self.driver = driver
        self.state = driver.state
        try:
            self.ups, self.host, self.port = split_name(port_value)
            if "@" not in port_value:
                raise ValueError(port_value)
        except ValueError as e:
            if e.args and e.args[0] and e.args[0] != port_value:
                print(e.args[0], file=sys.stderr)  # libupsclient's own complaint, as C
            log.fatal("Error: invalid UPS definition.\nRequired format: upsname[@hostname[:port]]")
        self.auth = settings_from(auth_setting, self.host, self.port)
        self.strict_start = strict_start
        self.client: AsyncClient | None = None
        self.failures = 0
        self.retry_at = 0.0
        self.remote_commands: set[str] = set()

    @property
    def forwarding(self) -> bool:
        return self.auth.has_credentials

    # ---- connection

    async def _connect(self) -> None:
        client = AsyncClient(self.host, self.port, tls="force" if self.auth.forcessl else "try",
                             certverify=self.auth.certverify, certpath=self.auth.certpath,
                             certfile=self.auth.certfile, certname=self.auth.certhost)
        try:
            await client.connect()
            if self.forwarding:
                await client.authenticate(self.auth.user, self.auth.password)
        except BaseException:
            await client.close()
            raise
        self.client = client
        log.debug(1, f"Connected to {self.ups}@{self.host}"
                     f"{' (TLS)' if client.tls_active else ''}")

    async def _disconnect(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await client.close()

    async def _copy_remote(self) -> None:
        variables = await self.client.list_vars(self.ups)
        for name, value in variables.items():
            if not name.startswith("driver."):
                self.driver.set_local(name, value)
        if self.forwarding:
            commands = {c for c in await self.client.list_cmds(self.ups)
                        if not c.startswith(_LOCAL_COMMANDS)}
            for cmd in commands - self.remote_commands:
                self.state.addcmd(cmd)
            for cmd in self.remote_commands - commands:
                if cmd != "load.off":  # ours in every mode, as C
                    self.state.delcmd(cmd)
            self.remote_commands = commands

    # ---- driver hooks (coroutines: they run on the event loop)

    async def init_info(self) -> None:
        self.state.addcmd("load.off")  # as C, in every mode
        try:
            await self._connect()
            await self._copy_remote()
            self.state.dataok()
        except ServerError as e:
            if e.code == "UNKNOWN-COMMAND":
                log.fatal("Error: upsd is too old to support this query")
            self._start_failed(e)
        except NutError as e:
            self._start_failed(e)

    def _start_failed(self, error: Exception) -> None:
        if self.strict_start:
            log.fatal(f"Error: {error}")
        log.warning(f"Warning: {error}")
        self.state.datastale()
        self._schedule_retry()

    def _schedule_retry(self) -> None:
        loop = asyncio.get_running_loop()
        self.failures += 1
        delay = min(MAX_BACKOFF, self.driver.core.poll_interval * 2 ** (self.failures - 1))
        self.retry_at = loop.time() + delay
        log.debug(1, f"Repeater: next attempt to reach {self.host}:{self.port} in {delay:g} s")

    async def update_info(self) -> float | None:
        loop = asyncio.get_running_loop()
        if self.client is None:
            if loop.time() < self.retry_at:
                return self.retry_at - loop.time()
            try:
                await self._connect()
                log.debug(1, "Reconnected")
            except NutError as e:
                log.debug(1, f"Error reconnecting: {e}")
                self._schedule_retry()
                return self.retry_at - loop.time()
        try:
            await self._copy_remote()
        except NutError as e:
            log.debug(1, f"Error: {e}")
            self.state.datastale()
            await self._disconnect()
            self._schedule_retry()
            return self.retry_at - loop.time()
        self.failures = 0
        self.state.dataok()
        return None

    async def set_var(self, name: str, value: str) -> int:
        if not self.forwarding:
            # C's repeater has no SET handler (and never answers a tracked SET)
            log.notice("Got SET, but driver lacks a handler")
            return UNKNOWN
        result = await self._forward(lambda c: c.set_var(
            self.ups, name, value, wait=True, timeout=FORWARD_TIMEOUT, interval=FORWARD_POLL))
        if result == HANDLED:
            self.driver.set_local(name, value)
        return result

    async def instcmd(self, name: str, param: str | None) -> int:
        if not self.forwarding or name not in self.remote_commands:
            return self.driver.instcmd_local(name, param)
        return await self._forward(lambda c: c.instcmd(
            self.ups, name, param, wait=True, timeout=FORWARD_TIMEOUT, interval=FORWARD_POLL))

    async def _forward(self, request) -> int:
        if self.client is None:
            return FAILED
        try:
            reply = await request(self.client)
        except ServerError as e:
            log.debug(1, f"Repeater: remote upsd refused: {e.reply}")
            return _ERR_CODES.get(e.code, FAILED)
        except TimeoutError:
            return FAILED
        except NutError as e:
            log.debug(1, f"Repeater: forwarding failed: {e}")
            return FAILED
        return _RESULTS.get(reply.strip(), FAILED)

    async def cleanup(self) -> None:
        if self.client is not None:
            try:
                await asyncio.wait_for(self.client.logout(), 1.0)
            except (NutError, asyncio.TimeoutError, OSError):
                pass
            await self._disconnect()
