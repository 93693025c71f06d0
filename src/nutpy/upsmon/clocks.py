"""Telling a suspend from a busy machine and from a changed wall clock.

C upsmon 2.8.5 measures its sleep between poll cycles with the wall clock: a sleep much
longer than asked is taken for a wake-up from suspend, and so is a clock set back or
forward by NTP (NUT #1070), or a loaded machine that ran the loop late (NUT #3405).
Linux keeps two clocks that tell these apart: CLOCK_MONOTONIC stops while the machine
is suspended, CLOCK_BOOTTIME does not, and neither follows changes to the wall clock.
So a suspend is BOOTTIME moving more than MONOTONIC; a wall-clock change is REALTIME
moving differently from BOOTTIME; a late loop moves all three alike and is neither.

``Reading`` is a sample of the three clocks; ``compare`` is pure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

# Below this a difference is scheduling noise, not an event.
TOLERANCE = 2.0


@dataclass(frozen=True)
class Reading:
    monotonic: float
    boottime: float
    realtime: float

    @classmethod
    def now(cls) -> "Reading":
        boot = getattr(time, "CLOCK_BOOTTIME", None)
        mono = time.monotonic()
        return cls(mono, time.clock_gettime(boot) if boot is not None else mono, time.time())


@dataclass(frozen=True)
class Gap:
    elapsed: float     # seconds the program lived through (monotonic)
    suspended: float   # seconds the machine was suspended (0 when it was not)
    clock_jump: float  # how far the wall clock was set, forward (+) or back (-)


def compare(before: Reading, after: Reading, tolerance: float = TOLERANCE) -> Gap:
    elapsed = after.monotonic - before.monotonic
    boot = after.boottime - before.boottime
    real = after.realtime - before.realtime
    suspended = boot - elapsed
    jump = real - boot
    return Gap(elapsed, suspended if suspended > tolerance else 0.0,
               jump if abs(jump) > tolerance else 0.0)
