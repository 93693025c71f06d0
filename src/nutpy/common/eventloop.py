"""Which asyncio event loop a daemon runs on.

upsd answers one request per wake-up for most clients (upsc, upsmon polling), so the
loop's own cost per wake-up is most of its CPU per request: the standard selector loop
spends about twice what C upsd spends on the whole request. uvloop (libuv underneath, the
same asyncio API) brings that to C's level, so upsd uses it when it is installed.
``NUTPY_EVENT_LOOP=asyncio`` forces the standard loop (to rule the loop out when chasing
a bug); ``uvloop`` makes its absence an error instead of a silent fallback.
"""

from __future__ import annotations

import os
from typing import Callable

ENV = "NUTPY_EVENT_LOOP"


def choose() -> tuple[str, Callable | None]:
    """(name, loop factory or None for the standard loop). Call it before chroot() and
    the privilege drop: it imports the loop's module."""
    wanted = os.environ.get(ENV, "").strip().lower() or "auto"
    if wanted not in ("auto", "asyncio", "uvloop"):
        raise ValueError(f"{ENV}={wanted!r}: expected asyncio or uvloop")
    if wanted != "asyncio":
        try:
            import uvloop
        except ImportError:
            if wanted == "uvloop":
                raise
        else:
            return "uvloop", uvloop.new_event_loop
    import asyncio.unix_events  # noqa: F401  (loaded now, while the library is in reach)

    return "asyncio", None


def run(coro, factory: Callable | None):
    import asyncio

    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)
