"""Who may do what on upsd: the account check against upsd.users (one password check per
request), the tcp-wrappers hook, the failed-login throttle, and the machinery that lets a
check too slow for the event loop (a hashed password, a rule that needs DNS) run elsewhere:
a check raises ``Slow``; ``Server.handle`` turns it into a ``Deferred`` whose ``work()`` the
daemon runs in a worker thread and whose ``resume(result)`` answers the request as if the
check had run in place. A wrong password, with the throttle on, makes ``Server.handle``
answer with a ``Held`` (send the reply later, or drop the connection) instead of bytes; a
right one is never held. Pure: the clock and the log are plain callables.
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


class Held:
    """``handle``'s answer to a request whose password check failed while the failed-login
    throttle is on: write ``reply`` after ``delay`` seconds, reading nothing more from the
    connection until then; with ``delay`` None (too many answers to that address already
    waiting), close the connection without it."""

    __slots__ = ("reply", "delay")

    def __init__(self, reply: bytes, delay: float | None) -> None:
        self.reply = reply
        self.delay = delay


DROP = -1.0  # Session.hold: close the connection instead of answering


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
        self.throttle_log = Throttle(burst=10, period=60.0, clock=clock)  # its log lines
        # tcp-wrappers hook: (client address, NUT user name, server address) -> allowed
        self.hosts_access: Callable[[str, str, str | None], bool] | None = None

    def account(self, s: Session):
        """The upsd.users entry if this session's USERNAME/PASSWORD match it (one password
        check per request). A mismatch is reported to the failed-login throttle, when there
        is one, which sets how long the answer waits (``Session.hold``); a match never
        consults it."""
        if s.username is None or s.password is None:
            return None
        user = self.users.users.get(s.username)
        # an unknown user counts as a wrong password: user names cannot be probed
        if user is None or user.password is None or not self._password_ok(
                s, user.password, s.password):
            if self.throttle is not None:
                self._slow_down(s)
            return None
        return user

    def _slow_down(self, s: Session) -> None:
        t = self.throttle
        delay = t.failure(s.addr)
        s.hold = DROP if delay is None else delay
        ok, suppressed = self.throttle_log.allow()
        if not ok:
            return
        more = f" ({suppressed} more not logged)" if suppressed else ""
        if delay is None:
            self.log("warning", f"Wrong password for {s.username}@{s.addr}: dropping the "
                     f"connection, {t.waiting(s.addr)} answers to that address already "
                     f"waiting{more}")
        else:
            self.log("notice", f"Wrong password for {s.username}@{s.addr}: answer delayed "
                     f"{delay:g} s ({t.failures(s.addr)} wrong from that address lately){more}")

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

    def may(self, s: Session, *actions: str) -> bool:
        user = self.account(s)
        return user is not None and any(a in user.actions for a in actions)
