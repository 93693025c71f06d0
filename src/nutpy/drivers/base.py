"""The base class of every driver: the hooks a driver implements (C's ``upsdrv_*``) and
the results its set/instcmd hooks return.

Hooks run in one worker thread (device I/O blocks; the event loop never does), one at a time
and in order, so a driver needs no locking of its own. The life cycle around them is
``nutpy.drivers.main``; start a driver with ``run(MyDriver)`` from a console script.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..proto import sockproto

if TYPE_CHECKING:
    from .main import DriverCore

HANDLED, UNKNOWN, INVALID, FAILED = (sockproto.HANDLED, sockproto.UNKNOWN,
                                     sockproto.INVALID, sockproto.FAILED)


class ShutdownNotSupported(Exception):
    pass


class Driver:
    """Base class of a driver. Override the hooks; use ``self.state`` to publish data and
    ``self.getval``/``self.testvar`` to read the driver's own ups.conf settings."""

    name = "driver"  # program name, e.g. "dummy-ups"
    description = "Generic driver"
    version = "0.00"
    experimental = False
    # Lines C prints after the banner (its sub-drivers, e.g. the USB layer of usbhid-ups)
    banner_extra = ""
    # True if set_var never touches the device (only self.state): it then runs on the
    # event loop, saving two thread hops on the SET path.
    set_var_is_quick = False

    def __init__(self, core: DriverCore) -> None:
        self.core = core
        self.state = core.state

    # -- configuration
    def make_vartable(self) -> None:
        """Declare the driver's own ``-x``/ups.conf names with ``self.core.addvar``."""

    def getval(self, name: str) -> str | None:
        spec = self.core.vartab.get(name.lower())
        return spec.value if spec and spec.found else None

    def testvar(self, name: str) -> bool:
        spec = self.core.vartab.get(name.lower())
        return bool(spec and spec.found)

    @property
    def device_path(self) -> str:
        return self.core.device_path or ""

    # -- device hooks (worker thread)
    def init_device(self) -> None:
        """Open the device (``upsdrv_initups``). Raise SystemExit / log.fatal on failure."""

    def init_info(self) -> None:
        """Publish the initial data and commands (``upsdrv_initinfo``)."""

    def update_info(self) -> float | None:
        """Poll the device (``upsdrv_updateinfo``). May return how many seconds until it
        wants to run again, if sooner than the poll interval."""
        return None

    def set_var(self, name: str, value: str) -> int:
        return UNKNOWN

    def instcmd(self, name: str, param: str | None) -> int:
        return UNKNOWN

    def shutdown(self) -> int:
        """Kill the load (``-k``); return HANDLED on success."""
        raise ShutdownNotSupported()

    def cleanup(self) -> None:
        """Close the device at exit (``upsdrv_cleanup``)."""

    def help_text(self) -> str:
        return ""

    def uses_tls(self) -> bool:
        """True if this run will need TLS through asyncio (called after the command
        line and ups.conf are read); otherwise ssl is not loaded at start-up."""
        return False

    def preload(self) -> None:
        """Import what the hooks will import lazily: this runs before chroot and the
        privilege drop, after the command line and ups.conf are read."""
