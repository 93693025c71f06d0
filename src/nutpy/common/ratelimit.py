"""``Throttle``: a cap on how often one kind of event is reported (a log line per burst,
with the count of what was held back). Pure; the clock is injectable."""

from __future__ import annotations

import time


class Throttle:
    """At most ``burst`` messages per ``period`` seconds for one kind of event; the count of
    suppressed ones is reported with the next message let through."""

    def __init__(self, burst: int = 10, period: float = 60.0, clock=time.monotonic) -> None:
        self.burst = burst
        self.period = period
        self.clock = clock
        self._window = -1.0
        self._count = 0
        self._suppressed = 0

    def allow(self) -> tuple[bool, int]:
        now = self.clock()
        if now - self._window >= self.period:
            self._window = now
            self._count = 0
        if self._count < self.burst:
            self._count += 1
            suppressed, self._suppressed = self._suppressed, 0
            return True, suppressed
        self._suppressed += 1
        return False, 0
