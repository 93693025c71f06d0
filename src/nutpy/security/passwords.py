"""upsd.users passwords: constant-time checks, optional hashed entries, and a per-address
throttle that slows down wrong passwords (and never refuses a right one).

Hashed entries (a nutpy extension; C upsd would take them as literal passwords)::

    password = {PBKDF2-SHA256}600000$<salt>$<key>
    password = {SCRYPT}15,8,1$<salt>$<key>          # log2(N), r, p

``<salt>`` and ``<key>`` are base64 without ``=`` padding, so the value is one parseconf
word (no ``=``, ``#``, quotes or blanks). Anything not starting with a known ``{SCHEME}``
tag is a plaintext password, compared as C does (exact, case-sensitive) but in constant
time. Make a hash with ``python -m nutpy.security.passwords`` (reads the password from the
terminal or stdin).

Deriving a key is deliberately slow (~0.2-0.5 s); successful checks are remembered (keyed
by a per-process secret) so a client that logs in again costs nothing. A daemon should
call ``verify`` for hashed entries off its event loop, and use ``LoginThrottle``.
"""

from __future__ import annotations

import binascii
import os
import socket
import sys
import time
from collections import OrderedDict
from typing import Callable

# hashlib and hmac are imported where hashed entries need them: together they cost upsd
# 0.7 MB of resident memory (OpenSSL's digest tables), and most upsd.users files hold
# plaintext passwords only. upsd loads them before chroot (upsd.main.preload_modules).
try:
    from _operator import _compare_digest  # what hmac.compare_digest falls back to
except ImportError:  # pragma: no cover - other Pythons
    from hmac import compare_digest as _compare_digest

PBKDF2_TAG = "{PBKDF2-SHA256}"
SCRYPT_TAG = "{SCRYPT}"
DEFAULT_PBKDF2_ITERATIONS = 600_000  # OWASP 2023 figure for PBKDF2-HMAC-SHA256
DEFAULT_SCRYPT = (15, 8, 1)          # N = 2**15 (32 MiB with r=8), r, p
_SALT_BYTES = 16
_KEY_BYTES = 32
_MIN_PBKDF2_ITERATIONS = 1_000
_MAX_PBKDF2_ITERATIONS = 50_000_000
_SCRYPT_MAXMEM = 256 * 1024 * 1024
_SCRYPT_MAX_WORK = 1 << 24  # N*r*p: 64 times the default, so a bad entry cannot stall upsd


class HashFormatError(ValueError):
    """A ``{SCHEME}`` entry that cannot be parsed."""


def load_hashing() -> None:
    """Import what hashed entries need now (a daemon about to chroot calls this)."""
    import hashlib  # noqa: F401
    import hmac  # noqa: F401


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    if not text or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789+/" for c in text):
        raise HashFormatError("bad base64")
    try:
        return binascii.a2b_base64(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise HashFormatError("bad base64") from None


def is_hashed(stored: str) -> bool:
    return stored.startswith((PBKDF2_TAG, SCRYPT_TAG))


def hash_password(password: str, scheme: str = "pbkdf2",
                  iterations: int = DEFAULT_PBKDF2_ITERATIONS,
                  scrypt_params: tuple[int, int, int] = DEFAULT_SCRYPT) -> str:
    """A new upsd.users hashed entry for ``password`` (random salt)."""
    if any(not " " <= c <= "~" for c in password):
        # C's parseconf (upsd.users, upsmon.conf and the protocol) drops such bytes, so a
        # client could never send the password that was hashed
        raise ValueError("use printable ASCII only: NUT's tokenizer drops other characters")
    import hashlib

    salt = os.urandom(_SALT_BYTES)
    secret = password.encode("ascii")
    if scheme == "pbkdf2":
        if not _MIN_PBKDF2_ITERATIONS <= iterations <= _MAX_PBKDF2_ITERATIONS:
            raise ValueError(f"iterations must be {_MIN_PBKDF2_ITERATIONS}.."
                             f"{_MAX_PBKDF2_ITERATIONS}")
        key = hashlib.pbkdf2_hmac("sha256", secret, salt, iterations, _KEY_BYTES)
        return f"{PBKDF2_TAG}{iterations}${_b64(salt)}${_b64(key)}"
    if scheme == "scrypt":
        log_n, r, p = scrypt_params
        key = _scrypt(secret, salt, log_n, r, p)
        return f"{SCRYPT_TAG}{log_n},{r},{p}${_b64(salt)}${_b64(key)}"
    raise ValueError(f"unknown scheme {scheme!r} (pbkdf2 or scrypt)")


def _check_scrypt(log_n: int, r: int, p: int) -> None:
    if not (1 <= log_n <= 24 and 1 <= r <= 64 and 1 <= p <= 16):
        raise HashFormatError("scrypt parameters out of range")
    if (1 << log_n) * r * p > _SCRYPT_MAX_WORK:
        raise HashFormatError("scrypt cost too high")


def _scrypt(secret: bytes, salt: bytes, log_n: int, r: int, p: int, dklen: int = _KEY_BYTES):
    _check_scrypt(log_n, r, p)
    import hashlib

    return hashlib.scrypt(secret, salt=salt, n=1 << log_n, r=r, p=p,
                          maxmem=_SCRYPT_MAXMEM, dklen=dklen)


def _parse(stored: str) -> tuple[tuple[int, ...], bytes, bytes]:
    """(parameters, salt, key) of a hashed entry: ``(iterations,)`` for PBKDF2,
    ``(log2 N, r, p)`` for scrypt. ``HashFormatError`` says what is wrong."""
    if stored.startswith(PBKDF2_TAG):
        parts = stored[len(PBKDF2_TAG):].split("$")
        if len(parts) != 3 or not parts[0].isdigit():
            raise HashFormatError("expected {PBKDF2-SHA256}<iterations>$<salt>$<key>")
        params: tuple[int, ...] = (int(parts[0]),)
        if not _MIN_PBKDF2_ITERATIONS <= params[0] <= _MAX_PBKDF2_ITERATIONS:
            raise HashFormatError("iteration count out of range")
    else:
        parts = stored[len(SCRYPT_TAG):].split("$")
        fields = parts[0].split(",")
        if len(parts) != 3 or len(fields) != 3 or not all(x.isdigit() for x in fields):
            raise HashFormatError("expected {SCRYPT}<log2 N>,<r>,<p>$<salt>$<key>")
        params = tuple(int(x) for x in fields)
        _check_scrypt(*params)
    salt, key = _unb64(parts[1]), _unb64(parts[2])
    if len(key) < 16:
        raise HashFormatError("key too short")
    return params, salt, key


def _derive(stored: str, given: bytes) -> tuple[bytes, bytes]:
    """(expected key, key derived from ``given``) for a hashed entry."""
    params, salt, key = _parse(stored)
    if stored.startswith(PBKDF2_TAG):
        import hashlib

        return key, hashlib.pbkdf2_hmac("sha256", given, salt, params[0], len(key))
    return key, _scrypt(given, salt, *params, len(key))


def check_stored(stored: str) -> str | None:
    """None if ``stored`` is usable, else why not (for config-load warnings: a malformed
    hashed entry never matches any password)."""
    if not is_hashed(stored):
        return None
    try:
        _parse(stored)
    except HashFormatError as e:
        return str(e)
    return None


class _SuccessCache:
    """Recently verified (entry, password) pairs, as keyed MACs only."""

    def __init__(self, size: int = 256) -> None:
        self._key = os.urandom(32)
        self._size = size
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def _tag(self, stored: str, given: bytes) -> bytes:
        import hashlib
        import hmac

        return hmac.new(self._key, stored.encode("utf-8", "surrogateescape") + b"\0" + given,
                        hashlib.sha256).digest()

    def hit(self, stored: str, given: bytes) -> bool:
        tag = self._tag(stored, given)
        if tag in self._seen:
            self._seen.move_to_end(tag)
            return True
        return False

    def add(self, stored: str, given: bytes) -> None:
        self._seen[self._tag(stored, given)] = None
        while len(self._seen) > self._size:
            self._seen.popitem(last=False)


_cache = _SuccessCache()


def _bytes(s: str) -> bytes:
    # upsd.users and the protocol are byte strings: keep every byte as it came
    return s.encode("utf-8", "surrogateescape")


def verify_is_quick(stored: str, given: str | None) -> bool:
    """Would ``verify(stored, given)`` answer without deriving a key (plaintext entry,
    no password, or a success remembered)? Otherwise it costs a key derivation, which a
    server should run off its event loop."""
    if not stored or given is None or not is_hashed(stored):
        return True
    return _cache.hit(stored, _bytes(given))


# no request line is longer than 512 bytes: comparing at least this many bytes makes
# the time taken the same for every password a client can send
_COMPARE_SPAN = 512


def equal_secrets(a: bytes, b: bytes) -> bool:
    """``a == b`` in time that depends on neither content nor length (up to 512 bytes)."""
    n = max(_COMPARE_SPAN, len(a), len(b))
    same = _compare_digest(a.ljust(n, b"\0"), b.ljust(n, b"\0"))
    return same & (len(a) == len(b))


def verify(stored: str, given: str) -> bool:
    """Does ``given`` match the upsd.users ``password`` value ``stored``? Constant time
    for plaintext (length included); hashed entries are derived and compared
    in constant time. A user without a password (``stored`` empty) never
    matches, as in C."""
    if not stored or given is None:
        return False
    given_b = _bytes(given)
    if not is_hashed(stored):
        return equal_secrets(_bytes(stored), given_b)
    if _cache.hit(stored, given_b):
        return True
    try:
        expected, derived = _derive(stored, given_b)
    except (HashFormatError, ValueError, MemoryError):
        return False
    ok = _compare_digest(expected, derived)
    if ok:
        _cache.add(stored, given_b)
    return ok


# ----------------------------------------------------------------------------- throttle


def throttle_key(addr: str) -> str:
    """IPv4 addresses count one by one, IPv6 ones by /64 (one host usually owns a whole
    /64); IPv4-mapped IPv6 is IPv4."""
    host = addr.split("%", 1)[0]
    try:
        packed = socket.inet_pton(socket.AF_INET6, host)
    except OSError:
        try:
            return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, host))
        except OSError:
            return addr
    if packed[:12] == b"\0" * 10 + b"\xff\xff":
        return socket.inet_ntop(socket.AF_INET, packed[12:])
    return socket.inet_ntop(socket.AF_INET6, packed[:8] + b"\0" * 8) + "/64"


class LoginThrottle:
    """Slows down wrong passwords, per client address, and never refuses a right one.

    It is consulted only after a password check failed: a right password is answered
    at once whatever happened before, so nobody can lock a legitimate user out by
    guessing from the same address. A wrong one is answered only after a delay that
    doubles with each failure from the address (``first_delay``, by default 1/16 of
    ``max_delay``, then 2x, 4x, ... up to ``max_delay``); failures more than ``window``
    seconds apart start again from ``first_delay``. The failing connection waits out its delay (the server reads nothing
    more from it meanwhile), and at most ``max_waiting`` answers per address wait at a
    time: a further failure while they do gets no answer and loses its connection, so
    guessing in parallel does not multiply the rate and the delays cannot pile up held
    connections. Memory is bounded by ``max_tracked`` addresses.

    A server calls ``failure(addr)`` after each wrong password and answers after the
    returned number of seconds, or drops the connection when it returns None. Pure: the
    clock is a parameter; the waiting itself is the caller's (never a blocking sleep)."""

    def __init__(self, max_delay: float = 4.0, max_waiting: int = 4,
                 first_delay: float | None = None, window: float = 60.0,
                 max_tracked: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_delay = max_delay
        self.max_waiting = max_waiting
        # five steps up to the longest by default: 0.25, 0.5, 1, 2, 4 s
        self.first_delay = max_delay / 16 if first_delay is None else min(first_delay,
                                                                          max_delay)
        self.window = window
        self.max_tracked = max_tracked
        self.clock = clock
        # key -> [failures in this run, time of the last one, [ends of waiting answers]]
        self._state: OrderedDict[str, list] = OrderedDict()

    def configure(self, max_delay: float, max_waiting: int) -> None:
        """New limits (a reload); what was counted so far is kept."""
        self.max_delay = max_delay
        self.max_waiting = max_waiting
        self.first_delay = max_delay / 16

    def _get(self, key: str, now: float) -> list | None:
        st = self._state.get(key)
        if st is None:
            return None
        st[2] = [t for t in st[2] if t > now]
        if not st[2] and now - st[1] >= max(self.window, self.max_delay):
            del self._state[key]  # quiet long enough: forgotten
            return None
        return st

    def failure(self, addr: str) -> float | None:
        """Record a wrong password from ``addr``: seconds to wait before answering it, or
        None when ``max_waiting`` answers from that address are already waiting (close
        the connection without an answer)."""
        now = self.clock()
        key = throttle_key(addr)
        st = self._get(key, now)
        if st is None:
            st = [0, now, []]
            self._state[key] = st
            while len(self._state) > self.max_tracked:
                self._state.popitem(last=False)
        else:
            self._state.move_to_end(key)
            if now - st[1] >= self.window:
                st[0] = 0
        st[0] += 1
        st[1] = now
        if len(st[2]) >= self.max_waiting:
            return None
        delay = min(self.max_delay, self.first_delay * 2.0 ** min(st[0] - 1, 60))
        st[2].append(now + delay)
        return delay

    def failures(self, addr: str) -> int:
        """Wrong passwords from ``addr`` in its current run (for log lines)."""
        st = self._get(throttle_key(addr), self.clock())
        return st[0] if st else 0

    def waiting(self, addr: str) -> int:
        """Answers to ``addr`` that are waiting out their delay now."""
        st = self._get(throttle_key(addr), self.clock())
        return len(st[2]) if st else 0

    def __len__(self) -> int:
        return len(self._state)


# ----------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m nutpy.security.passwords",
        description="Make a hashed password for upsd.users (nutpy upsd only; C upsd reads "
                    "it as a literal password). Prints 'password = <hash>'.")
    ap.add_argument("--scheme", choices=("pbkdf2", "scrypt"), default="pbkdf2")
    ap.add_argument("--iterations", type=int, default=DEFAULT_PBKDF2_ITERATIONS,
                    help=f"PBKDF2 iterations (default {DEFAULT_PBKDF2_ITERATIONS})")
    ap.add_argument("--scrypt-log-n", type=int, default=DEFAULT_SCRYPT[0],
                    help=f"scrypt cost, log2 of N (default {DEFAULT_SCRYPT[0]})")
    ap.add_argument("--stdin", action="store_true",
                    help="read the password from the first line of stdin (no prompt)")
    ap.add_argument("--check", metavar="ENTRY",
                    help="instead: read a password and exit 0 if it matches ENTRY, else 1")
    args = ap.parse_args(argv)

    if args.stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
    else:
        import getpass

        password = getpass.getpass("Password: ")
        if args.check is None and getpass.getpass("Again: ") != password:
            print("Passwords differ", file=sys.stderr)
            return 1
    if args.check is not None:
        problem = check_stored(args.check)
        if problem:
            print(f"Unusable entry: {problem}", file=sys.stderr)
            return 2
        ok = verify(args.check, password)
        print("match" if ok else "no match")
        return 0 if ok else 1
    if not password:
        print("Empty password refused (a user without password can never log in)",
              file=sys.stderr)
        return 1
    try:
        entry = hash_password(password, args.scheme, args.iterations,
                              (args.scrypt_log_n, DEFAULT_SCRYPT[1], DEFAULT_SCRYPT[2]))
    except (ValueError, HashFormatError) as e:
        print(str(e), file=sys.stderr)
        return 1
    print(f"password = {entry}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
