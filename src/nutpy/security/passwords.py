"""upsd.users passwords: constant-time checks, optional hashed entries, and a per-address
throttle for failed logins.

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
    """Failed password checks per client address. After ``max_failures`` failures that
    are each less than ``window`` seconds apart, the address is locked out for
    ``lockout`` seconds; every further failure doubles that, up to ``max_lockout``. A
    success forgives the address. Memory is bounded by ``max_tracked`` addresses.

    upsd: before checking a password, ``if not throttle.allowed(addr)`` answer
    ``ERR ACCESS-DENIED`` without checking; after a wrong one, ``throttle.failure(addr)``;
    after a right one, ``throttle.success(addr)``."""

    def __init__(self, max_failures: int = 5, window: float = 60.0, lockout: float = 30.0,
                 max_lockout: float = 900.0, max_tracked: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self.max_lockout = max_lockout
        self.max_tracked = max_tracked
        self.clock = clock
        # key -> [failures, last failure time, locked until, current lockout length]
        self._state: OrderedDict[str, list[float]] = OrderedDict()

    def _get(self, addr: str, now: float) -> list[float] | None:
        key = throttle_key(addr)
        st = self._state.get(key)
        if st is None:
            return None
        if now >= st[2] and now - st[1] >= max(self.window, st[3]):
            del self._state[key]  # quiet long enough: forgotten
            return None
        return st

    def allowed(self, addr: str) -> bool:
        return self.retry_after(addr) == 0.0

    def retry_after(self, addr: str) -> float:
        """Seconds until ``addr`` may try again (0 if it may now)."""
        now = self.clock()
        st = self._get(addr, now)
        return max(0.0, st[2] - now) if st else 0.0

    def failure(self, addr: str) -> float:
        """Record a failed check; returns the lockout now in force (0 if none)."""
        now = self.clock()
        key = throttle_key(addr)
        st = self._get(addr, now)
        if st is None:
            st = [0, now, now, 0.0]
            self._state[key] = st
            while len(self._state) > self.max_tracked:
                self._state.popitem(last=False)
        else:
            self._state.move_to_end(key)
        st[0] += 1
        st[1] = now
        if st[0] >= self.max_failures:
            st[3] = min(self.max_lockout, self.lockout if st[3] == 0 else st[3] * 2)
            st[2] = now + st[3]
        return max(0.0, st[2] - now)

    def success(self, addr: str) -> None:
        self._state.pop(throttle_key(addr), None)

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
