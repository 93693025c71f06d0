"""The clients of the fault suite: a good client that polls and times every answer, a writer
whose every acknowledged SET/INSTCMD is checked afterwards, and the attackers (hostile
bytes, slowloris, floods, stuck TLS handshakes, garbage on a driver socket).

Each runs in a thread of its own with blocking sockets and timeouts, and stops when told
(``stop()``) or at its own deadline."""

from __future__ import annotations

import os
import random
import socket
import statistics
import threading
import time

# --------------------------------------------------------------------------------------
# measuring


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(q / 100 * (len(values) - 1)))))
    return values[k]


class LineConn:
    """A blocking connection to upsd that reads whole reply lines."""

    def __init__(self, port: int, timeout: float = 2.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def line(self) -> str:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("latin-1")

    def ask(self, request: str) -> str:
        self.sock.sendall(request.encode() + b"\n")
        return self.line()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Poller(threading.Thread):
    """GET VAR u ups.status every ``interval`` s on one connection (a new one when it
    breaks). ``samples``: (monotonic start, latency s or None, outcome) where outcome is
    "ok" or what went wrong (an ERR code, WAIT, timeout, refused, closed)."""

    def __init__(self, port: int, interval: float = 0.02, timeout: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.port, self.interval, self.timeout = port, interval, timeout
        self.samples: list[tuple[float, float | None, str]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        conn = None
        while not self._halt.is_set():
            t0 = time.monotonic()
            outcome = "ok"
            try:
                if conn is None:
                    conn = LineConn(self.port, self.timeout)
                reply = conn.ask("GET VAR u ups.status")
                if reply.startswith("ERR "):
                    outcome = reply[4:].split()[0] if reply[4:].split() else "ERR"
                elif not reply.startswith("VAR ") or '"WAIT"' in reply:
                    outcome = "WAIT" if "WAIT" in reply else "bad reply"
            except socket.timeout:
                outcome = "timeout"
            except ConnectionRefusedError:
                outcome = "refused"
            except OSError:
                outcome = "closed"
            latency = time.monotonic() - t0
            if outcome in ("timeout", "refused", "closed", "bad reply") and conn is not None:
                conn.close()
                conn = None
            self.samples.append((t0, latency, outcome))
            left = self.interval - latency
            self._halt.wait(max(left, 0.001))
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(10)

    # -- reading the samples

    def between(self, t0: float, t1: float = float("inf")):
        return [s for s in self.samples if t0 <= s[0] < t1]

    def latencies_ms(self, t0: float = 0, t1: float = float("inf")) -> list[float]:
        return [s[1] * 1000 for s in self.between(t0, t1) if s[2] == "ok"]

    def errors(self, t0: float = 0, t1: float = float("inf")) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.between(t0, t1):
            if s[2] != "ok":
                out[s[2]] = out.get(s[2], 0) + 1
        return out

    def first_ok_after(self, t: float) -> float | None:
        """When the first poll started at or after ``t`` that was answered."""
        for s in self.samples:
            if s[0] >= t and s[2] == "ok":
                return s[0] + s[1]
        return None

    def first_error_after(self, t: float) -> tuple[float, str] | None:
        for s in self.samples:
            if s[0] >= t and s[2] != "ok":
                return s[0], s[2]
        return None

    def summary(self, t0: float = 0, t1: float = float("inf")) -> str:
        lat = self.latencies_ms(t0, t1)
        if not lat:
            return "no answer"
        return (f"p50 {percentile(lat, 50):.2f} ms, p99 {percentile(lat, 99):.2f} ms, "
                f"max {max(lat):.0f} ms ({len(lat)} polls)")


class Writer(threading.Thread):
    """An admin client that sets ``ups.id`` to a new value (and, every fifth time, sends
    INSTCMD load.off) with TRACKING, one at a time. Each request upsd answers OK is followed
    to its result (GET TRACKING) and, for a SET reported SUCCESS, the value is read back at
    once; a reconnect starts a new session. ``lost`` lists what was acknowledged and then
    not done; ``driver_restarts`` (monotonic times, set by the fault) excuse a value reset
    by a restarted driver."""

    def __init__(self, port: int, pause: float = 0.05, result_timeout: float = 15.0) -> None:
        super().__init__(daemon=True)
        self.port, self.pause, self.result_timeout = port, pause, result_timeout
        self._halt = threading.Event()
        self.acked = 0  # answered OK
        self.succeeded = 0  # tracking said SUCCESS (SET) or any final result (INSTCMD)
        self.refused = 0  # answered ERR at once: never acknowledged
        self.unresolved: list[str] = []  # acknowledged, result never known
        self.lost: list[str] = []
        self._suspects: list[tuple[float, str]] = []
        self._unknown: list[tuple[float, str]] = []
        self.n = 0
        self.driver_restarts: list[float] = []

    def _session(self) -> LineConn:
        c = LineConn(self.port, 3.0)
        for req in ("USERNAME admin", "PASSWORD adminpw", "SET TRACKING ON"):
            reply = c.ask(req)
            if reply != "OK":
                c.close()
                raise ConnectionError(f"{req}: {reply}")
        return c

    def run(self) -> None:
        conn = None
        while not self._halt.is_set():
            try:
                if conn is None:
                    conn = self._session()
                self.n += 1
                instcmd = self.n % 5 == 0
                value = f"w{self.n}"
                req = ("INSTCMD u load.off" if instcmd else f'SET VAR u ups.id "{value}"')
                reply = conn.ask(req)
                if not reply.startswith("OK"):
                    self.refused += 1
                    self._halt.wait(self.pause * 4)
                    continue
                self.acked += 1
                t_ack = time.monotonic()
                words = reply.split()
                ident = words[2] if len(words) >= 3 and words[1] == "TRACKING" else None
                result = self._follow(conn, ident)
                if instcmd:
                    if result is None:
                        self._unknown.append((t_ack, req))
                    else:
                        self.succeeded += 1
                    continue
                if result == "SUCCESS":
                    self.succeeded += 1
                    seen = self._read_back(value, conn)
                    if f'"{value}"' not in seen:
                        self._suspects.append((t_ack, f"{req} -> SUCCESS, then read {seen!r}"))
                elif result is None or result == "ERR UNKNOWN":
                    # upsd restarted (tracking forgotten) or the driver never answered:
                    # was it done? (the value shows, unless a driver restart reset it)
                    seen = self._read_back(value)
                    if f'"{value}"' in seen:
                        self.succeeded += 1
                    else:
                        self._unknown.append((t_ack, req))
            except (OSError, ConnectionError):
                if conn is not None:
                    conn.close()
                conn = None
                self._halt.wait(0.05)
                continue
            self._halt.wait(self.pause)
        if conn is not None:
            conn.close()

    def _follow(self, conn: LineConn, ident: str | None) -> str | None:
        if ident is None:
            return None
        deadline = time.monotonic() + self.result_timeout
        while time.monotonic() < deadline:
            try:
                result = conn.ask(f"GET TRACKING {ident}")
            except OSError:
                return None
            if result != "PENDING":
                return result
            time.sleep(0.02)
        return None

    def _read_back(self, value: str, conn: LineConn | None = None) -> str:
        """``GET VAR u ups.id`` until it answers with a value (an error, e.g. while the
        driver or upsd is away, is asked again, for up to ``result_timeout``)."""
        deadline = time.monotonic() + self.result_timeout
        seen = "no answer"
        while time.monotonic() < deadline:
            try:
                c = conn or LineConn(self.port, 2.0)
                try:
                    seen = c.ask("GET VAR u ups.id")
                finally:
                    if conn is None:
                        c.close()
                if seen.startswith("VAR "):
                    return seen
            except OSError:
                conn = None
            time.sleep(0.05)
        return seen

    def _restarted_since(self, t: float) -> bool:
        return any(r >= t - 0.5 for r in self.driver_restarts)

    def stop(self) -> None:
        self._halt.set()
        self.join(self.result_timeout * 2 + 10)
        # judged at the end, when every driver restart of the fault is known: a value reset
        # by a restarted driver (it starts from its .dev file) is not a lost SET
        self.lost = [what for t, what in self._suspects if not self._restarted_since(t)]
        self.unresolved = [what for t, what in self._unknown if not self._restarted_since(t)]

    def summary(self) -> str:
        parts = [f"{self.acked} acknowledged", f"{len(self.lost)} lost"]
        if self.unresolved:
            parts.append(f"{len(self.unresolved)} never resolved")
        return ", ".join(parts)


# --------------------------------------------------------------------------------------
# attackers


class Attack:
    """``count`` threads running ``body(i, stop_event)`` until stopped, in a process of
    their own: attackers must not hold this process's GIL while the good client here
    waits for its replies (the GIL hands over every 5 ms: that would be measured as
    server latency)."""

    def __init__(self, count: int, body) -> None:
        import multiprocessing

        self._ctx = multiprocessing.get_context("fork")
        self._halt = self._ctx.Event()
        self.count, self.body = count, body
        self.proc = None

    def _run(self) -> None:
        halt = threading.Event()

        def guard(i: int) -> None:
            while not halt.is_set():
                try:
                    self.body(i, halt)
                except OSError:
                    halt.wait(0.05)
        threads = [threading.Thread(target=guard, args=(i,), daemon=True)
                   for i in range(self.count)]
        for t in threads:
            t.start()
        self._halt.wait()
        halt.set()
        deadline = time.monotonic() + 10
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        os._exit(0)

    def start(self) -> "Attack":
        self.proc = self._ctx.Process(target=self._run, daemon=True)
        self.proc.start()
        return self

    def stop(self) -> None:
        self._halt.set()
        self.proc.join(15)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


def _drain(sock: socket.socket) -> None:
    try:
        while sock.recv(65536, socket.MSG_DONTWAIT):
            pass
    except (BlockingIOError, InterruptedError):
        pass


def hostile_payload(kind: int, rnd: random.Random) -> bytes:
    """One burst of the four kinds of junk: random bytes, an overlong line, NULs, and '#'
    inside quotes (a parse error that drops the rest of C's read)."""
    if kind == 0:
        return rnd.randbytes(2048)
    if kind == 1:
        return b"GET VAR u " + b"x" * 2000  # no newline: the line keeps growing
    if kind == 2:
        return b"\0" * 1000 + b"GET VAR u ups.status\0\n" + b"\0\n" * 500
    return (b'GET VAR u "ups.#status"\nSET VAR u ups.id "a#b"\nLIST VAR "u#"\n'
            b'USERNAME "#"\nGET VAR u ups.status\n') * 12


def hostile_client(port: int, pace: float = 0.02):
    def body(i: int, stop: threading.Event) -> None:
        rnd = random.Random(i)
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            kind = i % 4
            sent = 0
            while not stop.is_set():
                s.sendall(hostile_payload(kind, rnd))
                sent += 1
                _drain(s)
                if kind == 1 and sent % 64 == 0:
                    s.sendall(b"\n")  # end the overlong line now and then
                stop.wait(pace)
    return body


def slowloris_client(port: int, gap: float = 1.0):
    def body(i: int, stop: threading.Event) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            for b in b"GET VAR u ups.status":  # never the newline
                if stop.wait(gap):
                    return
                s.sendall(bytes([b]))
            while not stop.wait(gap):
                s.sendall(b"x")
    return body


def stuck_tls_client(port: int, partial: bool):
    """STARTTLS, read its OK, then say nothing (or half a ClientHello) until stopped."""
    def body(i: int, stop: threading.Event) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"STARTTLS\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = s.recv(1)
                if not chunk:
                    return
                reply += chunk
            if partial:
                s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            s.settimeout(0.5)
            while not stop.is_set():
                try:
                    if not s.recv(4096):  # the server gave up on us: start again
                        return
                except socket.timeout:
                    pass
    return body


# (not ups.id: the writer's variable, whose every value it checks)
_DRIVER_WORDS = [b"SET", b"INSTCMD", b"DUMPALL", b"PING", b"TRACKING", b"ups.status", b"ups.mfr",
                 b'""', b'"a b"', b"BROADCAST", b"NOBROADCAST", b"DUMPVALUE", b"x", b"#",
                 b'"#"', b"\\", b"=", b"GETPID", b"driver.debug", b"load.off"]


def driver_garbage(path: str, lines_per_burst: int = 20):
    """Connect to a driver socket and send random lines (its own words, junk, quotes,
    NULs): odd-numbered clients keep their connection and send a burst every 50 ms, the
    others hang up after each burst and come back."""
    def body(i: int, stop: threading.Event) -> None:
        rnd = random.Random(os.getpid() * 1000 + i + int(time.monotonic() * 1000))
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(path)
            while True:
                out = []
                for _ in range(lines_per_burst):
                    words = [rnd.choice(_DRIVER_WORDS) if rnd.random() < 0.7
                             else rnd.randbytes(4) for _ in range(rnd.randint(0, 6))]
                    out.append(b" ".join(words))
                s.sendall(b"\n".join(out) + b"\n")
                if stop.wait(0.05) or i % 2 == 0:
                    break
                _drain(s)
            _drain(s)
    return body


def flood_connections(port: int, count: int) -> list[socket.socket]:
    """``count`` connections opened at once (non-blocking connects: those the server's
    backlog cannot take stay pending) and held without a word."""
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    time.sleep(0.5)
    return socks


def try_fresh_client(port: int, timeout: float = 2.0) -> tuple[str, float]:
    """A new connection asking VER: ("ok" | what happened, seconds)."""
    t0 = time.monotonic()
    try:
        c = LineConn(port, timeout)
        try:
            reply = c.ask("VER")
        finally:
            c.close()
        outcome = "ok" if reply.startswith("Network UPS Tools") else reply[:40]
    except socket.timeout:
        outcome = "timeout"
    except OSError as e:
        outcome = type(e).__name__
    return outcome, time.monotonic() - t0


def mean(values):
    return statistics.mean(values) if values else None
