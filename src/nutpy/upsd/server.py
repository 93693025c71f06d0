"""The upsd event loop: TCP clients, driver sockets, timers, reload. Thin asyncio around
the sans-IO cores (``protocol``, ``state``, ``config``).

One loop; each client is an ``asyncio.Protocol`` so a request costs one callback, one
tokenizer pass and one ``write`` of the whole reply. Beyond C: replies to a client that
does not read are bounded (reading from it pauses; it is dropped if it stays stuck), a
driver socket queues what we forward instead of failing, connections over MAXCONN get
``ERR MAX-CONNECTIONS`` before being closed, and slow checks (hashed passwords, tcp-wrappers
rules that need DNS) run in worker threads, taking turns between client addresses: the
core hands them back as a ``Deferred``, that connection stops reading until the answer is
in (its requests stay in order) and every other client goes on being served. A wrong
password's answer comes back from the core as a ``Held`` (failed-login throttle): the
connection waits out the delay on a timer, the same way, or is closed.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
import sys
import time
from collections import deque
from typing import Callable

from ..common import upsconf
from ..common.daemon import socket_access_hint
from ..common.log import log
from ..common.parseconf import Tokenizer
from ..common.ratelimit import Throttle
from ..proto import sockproto
from ..security.passwords import throttle_key
from .auth import Deferred, Held
from .config import UpsdConf, Users
from .protocol import Server, Session
from .state import Ups, UpsData

monotonic = time.monotonic  # read for every request

CHUNK = 512  # C upsd reads at most this much per read(); parse errors drop the rest of it


def _env_seconds(name: str, default: float) -> float:
    """Timeouts tests shorten through the environment (not a user setting: C has none)."""
    try:
        return float(os.environ[name])
    except (KeyError, ValueError):
        return default


IDLE_TIMEOUT = _env_seconds("NUTPY_UPSD_IDLE_TIMEOUT", 60.0)
# whole handshake after OK STARTTLS (nutpy.security.tls.HANDSHAKE_TIMEOUT; not imported here so a
# upsd without TLS never loads ssl): a client that goes quiet must not hold its slot
TLS_HANDSHAKE_TIMEOUT = _env_seconds("NUTPY_UPSD_TLS_HANDSHAKE_TIMEOUT", 10.0)
TICK = 1.0
WRITE_HIGH = 256 * 1024  # pause reading a client whose unread replies exceed this
STUCK_TIMEOUT = _env_seconds("NUTPY_UPSD_STUCK_TIMEOUT", 30.0)  # ... and drop it then
DRIVER_QUEUE_MAX = 4 * 1024 * 1024  # beyond this a SET/INSTCMD is refused, never dropped
CONNFAIL_INTERVAL = 300.0
MAX_CONNECTIONS_REPLY = b"ERR MAX-CONNECTIONS\n"
# threads for slow checks: key derivations are CPU-bound and release the GIL; two keep a
# burst of wrong passwords from taking every core from the loop
CHECK_THREADS = 2


def emit(level: str, msg: str) -> None:
    """Print a core's ``(level, text)`` message; ``stderr`` ones go there as in C."""
    if level == "stderr":
        try:
            sys.stderr.write(msg + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        return
    getattr(log, level)(msg)


def _logout_ends_read(data: bytes, lines: list[bytes], i: int) -> bool:
    """After a LOGOUT on line ``i`` of ``data``: whether C's read loop, taking ``CHUNK``
    bytes at a time, closes the connection here, i.e. no further line ends within the
    512 bytes C read along with it (a later request would have reset the close)."""
    end = sum(len(raw) + 1 for raw in lines[:i + 1])
    chunk_end = -(-end // CHUNK) * CHUNK
    nxt = data.find(b"\n", end)
    return nxt < 0 or nxt >= chunk_end


class ClientConn(asyncio.Protocol):
    __slots__ = ("d", "cache", "transport", "session", "tok", "last_heard", "backlog",
                 "stuck_since", "closed", "tls_early", "waiting")

    def __init__(self, daemon: "Daemon") -> None:
        self.d = daemon
        self.cache = daemon.server.reply_cache
        self.transport = None
        self.session: Session | None = None
        self.tok = Tokenizer()
        self.last_heard = time.monotonic()
        self.backlog = b""
        self.stuck_since: float | None = None
        self.closed = False
        # requests decrypted while start_tls() is still completing (a client may send its
        # first command with its last handshake message): answered once TLS is in place
        self.tls_early = b""
        # while a Deferred check runs: [tokenized lines not yet answered, unread bytes,
        # chunked mode]; None otherwise
        self.waiting: list | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        d = self.d
        peer = transport.get_extra_info("peername")
        addr = peer[0] if peer else "unknown"
        if d.maxconn is not None and d.fd_count() >= d.maxconn:
            ok, suppressed = d.throttle_maxconn.allow()
            if ok:
                log.warning(f"Refusing connection from {addr}: MAXCONN ({d.maxconn}) reached"
                            + (f" ({suppressed} more not logged)" if suppressed else ""))
            transport.write(MAX_CONNECTIONS_REPLY)
            transport.close()
            self.closed = True
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        transport.set_write_buffer_limits(high=WRITE_HIGH)
        self.session = Session(addr)
        sockname = transport.get_extra_info("sockname")
        self.session.local = sockname[0] if sockname else None
        d.server.open_session(self.session)
        d.clients[self] = None
        log.debug(2, f"Connect from {addr}")

    def connection_lost(self, exc) -> None:
        self._forget()

    def eof_received(self) -> bool:
        # C treats read() == 0 as a disconnect; replies already queued still go out
        return False

    def _forget(self) -> None:
        if self.session is not None and self in self.d.clients:
            del self.d.clients[self]
            self.d.server.close_session(self.session)
            log.debug(2, f"Disconnect from {self.session.addr}")
        self.closed = True

    def close(self, abort: bool = False) -> None:
        if self.transport is not None:
            if abort:
                self.transport.abort()
            else:
                self.transport.close()
        self._forget()

    def pause_writing(self) -> None:
        self.stuck_since = time.monotonic()

    def resume_writing(self) -> None:
        self.stuck_since = None
        if self.backlog and not self.closed:
            data, self.backlog = self.backlog, b""
            self.transport.resume_reading()
            self.data_received(data)

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is None or self.closed:
            return
        # the usual poll, one repeated GET VAR per read: answered from the reply cache
        # with no tokenizing and no list building, when the read is one whole request
        # (one line, nothing pending before it). Byte tests use ints: `b"#" in data`
        # raises and clears a TypeError inside CPython before it searches (3.11)
        if (data[-1] == 10 and 35 not in data and self.waiting is None and not self.backlog
                and not session.starttls):
            line = data[:-1]
            if 10 not in line and not self.tok.pending:
                reply = self.cache.lookup(line)
                if reply is not None:
                    session.logout = False
                    self.last_heard = monotonic()
                    self.transport.write(reply)
                    return
        if session.starttls:  # from the TLS layer, before start_tls() returned
            self.tls_early += data
            return
        if self.waiting is not None:  # a check is running for an earlier request
            self.waiting[1] += data
            return
        if self.backlog:  # still waiting for the client to read; keep order
            self.backlog += data
            return
        if 35 in data:  # b"#"
            self._process_chunked(data)
        else:
            self._process_lines(data)

    def _process_lines(self, data: bytes) -> None:
        """Hot path. Without a ``#`` no parse error can happen, so C's 512-byte read
        boundaries do not matter: go line by line, answering repeated GET VARs from the
        server's reply cache."""
        session = self.session
        server = self.d.server
        cache = self.cache
        tok = self.tok
        out: list[bytes] = []
        size = 0
        lines = data.split(b"\n")
        last = len(lines) - 1
        for i, raw in enumerate(lines):
            if i == last:
                if raw:
                    tok.feed(raw)  # an unfinished line waits for its LF
                break
            # only a physical line that starts a request is that whole request: after a
            # continued line (trailing backslash, open quote) or a split write, raw is just
            # the tail of a request that began earlier and must neither be answered from
            # nor filed in the cache
            whole = not tok.pending
            reply = cache.lookup(raw) if whole else None
            if reply is not None:
                out.append(reply)
                size += len(reply)
                session.logout = False
            else:
                lns = tok.feed(raw + b"\n")
                for j, ln in enumerate(lns):
                    reply = server.handle(session, ln.words)
                    if reply.__class__ is not bytes:
                        self._pause(out, reply, lns[j + 1:], b"\n".join(lines[i + 1:]),
                                    False)
                        return
                    out.append(reply)
                    size += len(reply)
                    if whole:
                        cache.remember(raw, ln.words, reply)
                if session.starttls or (session.logout and _logout_ends_read(data, lines, i)):
                    break
            # replies kept or not, a client that does not read stops being read from
            if size > WRITE_HIGH and i + 1 < last:
                self.transport.write(b"".join(out))
                out.clear()
                size = 0
                if self.transport.get_write_buffer_size() > WRITE_HIGH:
                    self.last_heard = time.monotonic()
                    self.backlog = b"\n".join(lines[i + 1:])
                    self.transport.pause_reading()
                    return
        self._finish(out)

    def _process_chunked(self, data: bytes) -> None:
        """C's exact semantics: 512-byte reads, a parse error drops the rest of its read."""
        session = self.session
        handle = self.d.server.handle
        out: list[bytes] = []
        size = 0
        n = len(data)
        pos = 0
        while pos < n:
            chunk = data[pos:pos + CHUNK] if n > CHUNK else data
            pos += CHUNK
            lns = self.tok.feed(chunk)
            for j, ln in enumerate(lns):
                if ln.error is not None:
                    self.d.parse_error(ln.error)
                    self.tok = Tokenizer()
                    break
                reply = handle(session, ln.words)
                if reply.__class__ is not bytes:
                    self._pause(out, reply, lns[j + 1:], data[pos:], True)
                    return
                out.append(reply)
                size += len(reply)
                if session.starttls:
                    break
            if session.logout or session.starttls:
                break
            if size > WRITE_HIGH and pos < n:
                self.transport.write(b"".join(out))
                out.clear()
                size = 0
                if self.transport.get_write_buffer_size() > WRITE_HIGH:
                    self.last_heard = time.monotonic()
                    self.backlog = data[pos:]
                    self.transport.pause_reading()
                    return
        self._finish(out)

    def _pause(self, out: list[bytes], pending: Deferred | Held, lines: list, rest: bytes,
               chunked: bool) -> None:
        """Answer what came before ``pending``, stop reading, and go on with ``lines``
        and ``rest`` (the requests behind it, in order) once it is settled."""
        if out:
            self.transport.write(b"".join(out))
        self.last_heard = time.monotonic()
        self.waiting = [lines, rest, chunked]
        self.transport.pause_reading()
        self._settle(pending)

    def _settle(self, pending: Deferred | Held) -> None:
        if pending.__class__ is Deferred:  # a check runs in a worker thread
            asyncio.get_running_loop().create_task(self._run_deferred(pending))
        elif pending.delay is None:  # too many wrong passwords waiting from that address
            self.close()
        else:  # a wrong password: its answer waits (a timer, never a sleep)
            asyncio.get_running_loop().call_later(pending.delay, self._release,
                                                  pending.reply)

    def _release(self, reply: bytes) -> None:
        if not self.closed:
            self._resume([reply])

    def _resume(self, out: list[bytes]) -> None:
        lines, rest, chunked = self.waiting
        self.waiting = None
        self.transport.resume_reading()
        self._continue(out, lines, rest, chunked)

    def _is_closed(self) -> bool:
        return self.closed

    async def _run_deferred(self, deferred: Deferred) -> None:
        while True:
            try:
                result = await self.d.checks.run(self.session.addr, deferred.work,
                                                 self._is_closed)
            except Exception as e:  # a failed check denies; it never kills the daemon
                log.error(f"upsd check failed: {type(e).__name__}: {e}")
                result = False
            if self.closed:
                return
            try:
                reply = deferred.resume(result)
            except Exception as e:  # a bug must not leave the connection paused forever
                log.error(f"upsd: request from {self.session.addr} failed: "
                          f"{type(e).__name__}: {e}")
                self.close(abort=True)
                return
            if reply.__class__ is not Deferred:
                break
            deferred = reply
        if reply.__class__ is Held:
            self._settle(reply)
        else:
            self._resume([reply])

    def _continue(self, out: list[bytes], lines: list, rest: bytes, chunked: bool) -> None:
        """Go on with the requests that arrived behind a deferred one, in order."""
        session = self.session
        handle = self.d.server.handle
        for j, ln in enumerate(lines):
            if ln.error is not None:  # the rest of that 512-byte read is dropped, as in C
                self.d.parse_error(ln.error)
                self.tok = Tokenizer()
                break
            reply = handle(session, ln.words)
            if reply.__class__ is not bytes:
                self._pause(out, reply, lines[j + 1:], rest, chunked)
                return
            out.append(reply)
            if session.starttls:
                break
        if not rest or session.starttls or (chunked and session.logout):
            self._finish(out)
            return
        if out:
            self.last_heard = time.monotonic()
            self.transport.write(b"".join(out))
        self.data_received(rest)

    def _finish(self, out: list[bytes]) -> None:
        session = self.session
        if out:
            self.last_heard = time.monotonic()
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
        if session.logout:
            self.close()
        elif session.starttls:
            self.transport.pause_reading()
            asyncio.get_running_loop().create_task(self._start_tls())

    async def _start_tls(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self.transport = await loop.start_tls(
                self.transport, self, self.d.ssl_context, server_side=True,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT)
        except (OSError, ConnectionError, asyncio.CancelledError, Exception) as e:  # noqa: B014
            log.debug(1, f"TLS handshake with {self.session.addr} failed: {e}")
            self.close(abort=True)
            return
        self.session.ssl = True
        self.session.starttls = False
        self.tok = Tokenizer()
        if self.tls_early:
            data, self.tls_early = self.tls_early, b""
            self.data_received(data)


class CheckQueue:
    """Slow checks (key derivations, host name lookups), ``threads`` at a time in worker
    threads, taking turns between client addresses (IPv6 by /64, as the login throttle
    counts them): however many connections one address keeps waiting for checks, a client
    from another address waits for at most one turn of each address ahead of it, not for
    the whole backlog. A check whose connection has gone by the time its turn comes is
    skipped, so guesses abandoned by their sender cost nothing."""

    def __init__(self, executor: Callable[[], object], threads: int) -> None:
        self._executor = executor
        self._threads = threads
        self._running = 0
        # address key -> [(work, future, gone)], in turn order
        self._queues: dict[str, deque] = {}

    def run(self, addr: str, work: Callable[[], object],
            gone: Callable[[], bool]) -> asyncio.Future:
        """A future for ``work()``'s result (None if skipped because ``gone()``)."""
        fut = asyncio.get_running_loop().create_future()
        self._queues.setdefault(throttle_key(addr), deque()).append((work, fut, gone))
        self._start()
        return fut

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        while self._running < self._threads and self._queues:
            key = next(iter(self._queues))
            queue = self._queues.pop(key)
            work, fut, gone = queue.popleft()
            if queue:  # the address goes to the back of the line
                self._queues[key] = queue
            if fut.done() or gone():
                if not fut.done():
                    fut.set_result(None)
                continue
            self._running += 1
            job = loop.run_in_executor(self._executor(), work)
            job.add_done_callback(lambda job, fut=fut: self._finished(job, fut))

    def _finished(self, job: asyncio.Future, fut: asyncio.Future) -> None:
        self._running -= 1
        if not fut.done():
            if job.cancelled():
                fut.cancel()
            elif job.exception() is not None:
                fut.set_exception(job.exception())
            else:
                fut.set_result(job.result())
        self._start()

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())


class DriverConn(asyncio.Protocol):
    """The link to one driver's Unix socket."""

    def __init__(self, daemon: "Daemon", ups: Ups) -> None:
        self.d = daemon
        self.ups = ups
        self.transport = None
        self.tok = Tokenizer()
        self.pending: UpsData | None = None  # the dump being received (served as WAIT)
        now = time.monotonic()
        self.last_heard = now
        self.last_ping = 0.0
        self.connected_at = now

    def connection_made(self, transport) -> None:
        self.transport = transport
        ups = self.ups
        # registered only now: uvloop builds the protocol before connecting, so a failed
        # connect would otherwise leave a link that never comes up in place of a retry
        self.d.drivers[ups.name.lower()] = self
        transport.write(sockproto.DUMPALL)
        ups.reset_data()
        self.pending = UpsData()
        ups.connected = True
        ups.stale = False
        ups.driver_send = self.send
        self.last_heard = self.connected_at = time.monotonic()
        log.info(f"Connected to UPS [{ups.name}]: {ups.socket_name}")

    def send(self, data: bytes) -> bool:
        t = self.transport
        if t is None or t.is_closing():
            return False
        if t.get_write_buffer_size() > DRIVER_QUEUE_MAX:
            log.warning(f"Send to UPS [{self.ups.name}] failed: driver is not reading")
            return False
        t.write(data)
        return True

    def data_received(self, data: bytes) -> None:
        n = len(data)
        pos = 0
        server = self.d.server
        while pos < n:
            chunk = data[pos:pos + CHUNK] if n > CHUNK else data
            pos += CHUNK
            for ln in self.tok.feed(chunk):
                if ln.error is not None:
                    self.d.parse_error(ln.error)
                    self.tok = Tokenizer()
                    break
                target = self.pending if self.pending is not None else self.ups.data
                recognised, track = target.apply(ln.words)
                if not recognised:
                    continue
                self.last_heard = time.monotonic()
                if track is not None:
                    server.tracking_set(*track)
                if self.pending is not None and target.dumpdone:
                    self.ups.data = self.pending
                    self.pending = None
        self.d.check_driver(self)

    def connection_lost(self, exc) -> None:
        self.d.driver_lost(self)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Daemon:
    def __init__(self, conf: UpsdConf, users: Users, server: Server,
                 listeners: list[socket.socket]) -> None:
        self.conf = conf
        self.server = server
        self.server.auth.users = users
        self.listeners = listeners
        self.clients: dict[ClientConn, None] = {}
        self.drivers: dict[str, DriverConn] = {}  # ups lower name -> live link
        self.connecting: set[str] = set()  # ups keys with a connect under way
        self.retrying: set[str] = set()  # ... with a retry timer set
        self.last_connfail: dict[str, float] = {}
        self.ssl_context = None
        self.maxconn = conf.maxconn
        self.throttle_parse = Throttle(burst=10, period=60.0)
        self.throttle_maxconn = Throttle(burst=5, period=60.0)
        self.stop_signal: int | None = None
        from ..common.sdnotify import Notifier

        self.notify = Notifier({})  # systemd's, from run() on
        self.early_signals: list[int] = []  # from daemon.catch_early_signals
        self.reload_cb: Callable[[], None] | None = None
        self._stopped: asyncio.Event | None = None
        self._servers: list = []
        self._check_executor = None
        self.checks = CheckQueue(self.check_executor, CHECK_THREADS)

    def check_executor(self):
        """Worker threads for slow checks, started on first use."""
        if self._check_executor is None:
            from concurrent.futures import ThreadPoolExecutor

            self._check_executor = ThreadPoolExecutor(CHECK_THREADS,
                                                      thread_name_prefix="upsd-check")
        return self._check_executor

    def fd_count(self) -> int:
        return len(self.listeners) + len(self.drivers) + len(self.clients)

    def parse_error(self, error: str) -> None:
        ok, suppressed = self.throttle_parse.allow()
        if ok:
            msg = f"Parse error on sock: {error}"
            if suppressed:
                msg += f" ({suppressed} similar messages suppressed)"
            log.notice(msg)

    # -- drivers ---------------------------------------------------------------------
    def connect_driver(self, ups: Ups) -> None:
        """Try the driver's socket now, unless a link or a try is already under way."""
        key = ups.name.lower()
        if key in self.drivers or key in self.connecting or self.server.ups.get(key) is not ups:
            return
        self.connecting.add(key)
        asyncio.get_running_loop().create_task(self._connect(ups))

    def _retry_later(self, ups: Ups, delay: float) -> None:
        key = ups.name.lower()
        if key in self.retrying:
            return
        self.retrying.add(key)

        def retry() -> None:
            self.retrying.discard(key)
            self.connect_driver(ups)

        asyncio.get_running_loop().call_later(delay, retry)

    async def _connect(self, ups: Ups) -> None:
        loop = asyncio.get_running_loop()
        key = ups.name.lower()
        try:
            await loop.create_unix_connection(lambda: DriverConn(self, ups),
                                              ups.socket_name)
        except OSError as e:
            now = time.monotonic()
            last = self.last_connfail.get(key)
            if last is None or now - last >= CONNFAIL_INTERVAL:
                self.last_connfail[key] = now
                log.error(f"Can't connect to UPS [{ups.name}] ({ups.socket_name}): "
                          f"{e.strerror or e}")
                if e.errno == errno.EACCES:
                    log.error(socket_access_hint(ups.socket_name))
            self._retry_later(ups, ups.link_failed())
        finally:
            self.connecting.discard(key)

    def driver_lost(self, conn: DriverConn) -> None:
        ups = conn.ups
        key = ups.name.lower()
        if self.drivers.get(key) is conn:
            del self.drivers[key]
        if ups.driver_send == conn.send:
            ups.connected = False
            ups.data = UpsData()
            ups.driver_send = lambda data: False
            # a driver that was killed is usually being started again right now
            self._retry_later(ups, ups.link_lost(time.monotonic() - conn.connected_at))

    def check_driver(self, conn: DriverConn) -> None:
        """C's sstate_dead + staleness transitions, run on every message and tick."""
        ups = conn.ups
        maxage = self.conf.maxage
        now = time.monotonic()
        data = conn.pending if conn.pending is not None else ups.data
        dead = data.dumpdone and not data.data_ok
        if not dead:
            elapsed = now - conn.last_heard
            third = maxage // 3
            if elapsed > third and now - conn.last_ping > third:
                conn.last_ping = now
                if not conn.send(sockproto.PING):
                    log.notice(f"Send ping to UPS [{ups.name}] failed")
            if elapsed > maxage + 1:
                dead = True
        if dead and not ups.stale:
            ups.stale = True
            log.notice(f"Data for UPS [{ups.name}] is stale - check driver")
        elif not dead and ups.stale:
            ups.stale = False
            log.notice(f"UPS [{ups.name}] data is no longer stale")

    def disconnect_driver(self, ups: Ups) -> None:
        conn = self.drivers.pop(ups.name.lower(), None)
        if conn is not None:
            conn.close()
            self.driver_lost(conn)

    # -- clients ---------------------------------------------------------------------
    def kick_login_clients(self, ups_name: str) -> None:
        for client in list(self.clients):
            s = client.session
            if s is not None and s.loginups == ups_name:
                log.info(f"Kicking client {s.addr} (was on UPS [{ups_name}])")
                client.close()

    # -- loop ------------------------------------------------------------------------
    def tick(self) -> None:
        for ups in list(self.server.ups_order):
            conn = self.drivers.get(ups.name.lower())
            if conn is None:
                # at start and for UPSes added by a reload; lost links retry on their own
                if ups.name.lower() not in self.retrying:
                    self.connect_driver(ups)
            else:
                self.check_driver(conn)
        now = time.monotonic()
        for client in list(self.clients):
            if now - client.last_heard > IDLE_TIMEOUT:
                client.close()
            elif client.stuck_since is not None and now - client.stuck_since > STUCK_TIMEOUT:
                log.notice(f"Dropping client {client.session.addr}: not reading replies")
                client.close(abort=True)
        self.server.tracking_cleanup()

    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        ping = self.notify.watchdog_interval()  # systemd's WatchdogSec=, halved
        next_tick = loop.time()
        while True:
            if loop.time() >= next_tick:
                next_tick = loop.time() + TICK
                try:
                    self.tick()
                except Exception as e:  # a bug in one pass must not kill the daemon
                    log.error(f"upsd main loop: {type(e).__name__}: {e}")
            self.notify.watchdog()
            await asyncio.sleep(min(TICK, ping) if ping else TICK)

    def request_stop(self, sig: int) -> None:
        if self.stop_signal is None:
            self.notify.stopping(f"Signal {sig}: exiting")
        self.stop_signal = sig
        if self._stopped is not None:
            self._stopped.set()

    def request_reload(self) -> None:
        if self.reload_cb is not None:
            self.notify.reloading()
            try:
                self.reload_cb()
            except Exception as e:
                log.error(f"Reload failed: {type(e).__name__}: {e}")
            self.notify.ready()

    async def run(self) -> int:
        from ..common.sdnotify import notifier

        loop = asyncio.get_running_loop()
        self.notify = notifier()
        self._stopped = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(sig, self.request_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        if self.early_signals:
            self.request_stop(self.early_signals[0])
        for sock in self.listeners:
            srv = await loop.create_server(lambda: ClientConn(self), sock=sock,
                                           backlog=1024)
            self._servers.append(srv)
        ticker = loop.create_task(self._ticker())
        if self.stop_signal is None:
            self.notify.ready(status=f"serving {len(self.server.ups_order)} UPS on "
                                     f"{len(self._servers)} listeners", mainpid=os.getpid())
        await self._stopped.wait()
        ticker.cancel()
        for srv in self._servers:
            srv.close()
        for client in list(self.clients):
            client.close(abort=True)
        for conn in list(self.drivers.values()):
            conn.close()
        if self._check_executor is not None:
            self._check_executor.shutdown(wait=False, cancel_futures=True)
        return 0


# -- ups.conf -> UPS table -------------------------------------------------------------


def ups_entries(conf: upsconf.UpsConf) -> list[tuple[str, str, str | None]]:
    """(name, socket name, desc) for each complete section; warnings as C logs them."""
    out = []
    # C walks ups.conf's sections last to first (and prepends what it creates)
    for name, section in reversed(conf.sections.items()):
        driver, port = section.get("driver"), section.get("port")
        if not driver or not port:
            log.warning(f"Warning: ignoring incomplete configuration for UPS [{name}]\n")
            continue
        out.append((name, f"{driver}-{name}", section.get("desc")))
    out.reverse()
    return out


def apply_ups_table(server: Server, entries, reloading: bool, daemon: "Daemon | None" = None):
    """Create/update/delete UPS entries like C's upsconf_add + reload pass."""
    seen = set()
    new: list[Ups] = []
    for name, sockname, desc in entries:
        existing = server.find(name)
        if reloading and existing is not None:
            if existing.name.lower() in seen:
                continue
            seen.add(existing.name.lower())
            if existing.socket_name != sockname:
                log.notice(f"Redefined UPS [{name}]")
                existing.socket_name = sockname
                if daemon is not None:
                    daemon.disconnect_driver(existing)
            existing.desc = desc
            continue
        if existing is not None or name.lower() in seen:
            log.error(f"UPS name [{name}] is already in use!")
            continue
        seen.add(name.lower())
        new.append(Ups(name, sockname, desc))
    if reloading:
        # C prepends each new UPS while walking its (reversed) table: file order in front
        for ups in reversed(new):
            server.add_ups(ups, front=True)
        for ups in list(server.ups_order):
            if ups.name.lower() not in seen:
                log.notice(f"Deleting UPS [{ups.name}]")
                if daemon is not None:
                    daemon.kick_login_clients(ups.name)
                    daemon.disconnect_driver(ups)
                server.remove_ups(ups)
    else:
        for ups in new:
            server.add_ups(ups)
    return server

