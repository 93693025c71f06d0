"""Who may do what on upsd: the account check against upsd.users (one password check per
request), the tcp-wrappers hook, the failed-login throttle, and the machinery that lets a
check too slow for the event loop (a hashed password, a rule that needs DNS) run elsewhere:
a check raises ``Slow``; ``Server.handle`` turns it into a ``Deferred`` whose ``work()`` the
daemon runs in a worker thread and whose ``resume(result)`` answers the request as if the
check had run in place. Pure: the clock and the log are plain callables.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

from ..common.ratelimit import Throttle
from .config import Users, password_check_is_quick, password_matches

if TYPE_CHECKING:
    from .protocol import Session


class Slow(Exception):
    """Raised by a check (or a hook such as ``Server.hosts_access``) that cannot answer
    without blocking; ``work()`` answers it, off the event loop."""

    def __init__(self, work: Callable[[], object], key: object = None) -> None:
        super().__init__("check must run off the event loop")
        self.work = work
        self.key = key


class Deferred:
    """``handle``'s answer when a slow check must run first: call ``work()`` off the
    loop, then ``resume(result)``, which returns the reply bytes or another Deferred
    (a request may need two checks: tcp-wrappers, then the password)."""

    __slots__ = ("work", "resume")

    def __init__(self, work: Callable[[], object],
                 resume: Callable[[object], "bytes | Deferred"]) -> None:
        self.work = work
        self.resume = resume


def nolog(level: str, msg: str) -> None:
    pass


class Auth:
    """upsd.users accounts plus the optional tcp-wrappers hook and login throttle."""

    def __init__(self, users: Users | None = None,
                 log: Callable[[str, str], None] = nolog,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.users = users or Users()
        self.log = log
        # failed-login throttle (nutpy.security.passwords.LoginThrottle), None: off
        self.throttle = None
        self.throttle_log = Throttle(burst=10, period=60.0, clock=clock)  # its refusals
        # tcp-wrappers hook: (client address, NUT user name, server address) -> allowed
        self.hosts_access: Callable[[str, str, str | None], bool] | None = None

    def account(self, s: Session):
        """The upsd.users entry if this session's USERNAME/PASSWORD match it (one password
        check per request, counted by the failed-login throttle when there is one)."""
        t = self.throttle
        if t is not None and not t.allowed(s.addr):
            self._log_refusal(s)
            return None
        if s.username is None or s.password is None:
            return None
        user = self.users.users.get(s.username)
        if user is None or user.password is None:
            if t is not None:  # as a wrong password: user names cannot be probed
                t.failure(s.addr)
            return None
        if not self._password_ok(s, user.password, s.password):
            if t is not None:
                t.failure(s.addr)
            return None
        if t is not None:
            t.success(s.addr)
        return user

    def _password_ok(self, s: Session, stored: str, given: str) -> bool:
        key = ("password", stored, given)
        answers = s.answers
        if answers is not None and key in answers:
            return bool(answers[key])
        if password_check_is_quick(stored, given):
            return password_matches(stored, given)
        raise Slow(lambda: password_matches(stored, given), key)

    def hosts_ok(self, s: Session) -> bool:
        key = ("hosts", s.addr, s.username, s.local)
        answers = s.answers
        if answers is not None and key in answers:
            return bool(answers[key])
        try:
            return bool(self.hosts_access(s.addr, s.username, s.local))
        except Slow as e:
            e.key = key
            raise

    def _log_refusal(self, s: Session) -> None:
        ok, suppressed = self.throttle_log.allow()
        if ok:
            self.log("warning", f"Refusing {s.username}@{s.addr} for "
                     f"{self.throttle.retry_after(s.addr):.0f} s after repeated wrong "
                     "passwords" + (f" ({suppressed} more not logged)" if suppressed else ""))

    def may(self, s: Session, *actions: str) -> bool:
        user = self.account(s)
        return user is not None and any(a in user.actions for a in actions)
