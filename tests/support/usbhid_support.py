"""Running nutpy's usbhid-ups against emulated devices (tests/support/fakeusb).

In-process: ``driver = make_driver(...)`` inside ``with pyusb_on(bus):`` builds the driver
object as the core would (settings applied through the core's own parsing) with pyusb's
libusb1 backend loaded from the stand-in library, so a test calls the driver's hooks
(init_device, init_info, update_info, instcmd...) directly and fast.

As a process: ``run_dump(nut, bus, prog, ...)`` runs a driver (C or ours) with ``-d 1``
and returns the variables it printed.
"""

from __future__ import annotations

import contextlib

from nutpy.drivers import usbdev

from .fakeusb.build import SONAME, build_library

ONLINE_VARS_IGNORED = ("driver.version", "driver.version.internal", "driver.version.data",
                       "driver.version.usb", "driver.state", "driver.debug",
                       "driver.flag.allow_killpower")


@contextlib.contextmanager
def pyusb_on(bus):
    """pyusb's libusb1 backend, in this process, on the stand-in library of ``bus``."""
    import usb.backend.libusb1 as libusb1

    saved = usbdev._backend
    path = str(build_library() / SONAME)
    # a fresh libusb context on the stand-in library; pyusb keeps the library loaded (its
    # finalizers need it), which only this test process ever sees
    libusb1._lib_object = None
    try:
        with bus.activate():
            usbdev._backend = libusb1.get_backend(find_library=lambda name: path)
            assert usbdev._backend is not None
            yield usbdev._backend
    finally:
        usbdev._backend = saved


def make_driver(upsname: str = "ups", **settings):
    """A usbhid-ups driver object with ``settings`` as ups.conf would give them (True for
    a flag)."""
    from nutpy.drivers.main import DriverCore
    from nutpy.drivers.usbhid.driver import UsbhidUps

    core = DriverCore(UsbhidUps, prog="usbhid-ups")
    core.upsname = upsname
    core._apply("port", "auto")
    for key, value in settings.items():
        core._apply(key, None if value is True else str(value))
    core.driver.engine.upsname = upsname
    return core.driver


def start(driver) -> None:
    driver.init_device()
    driver.init_info()
    driver.update_info()


def published(state, ignore=ONLINE_VARS_IGNORED) -> dict[str, str]:
    return {name: state.get(name) for name in state.names() if name not in ignore}


def dump_values(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)


def run_dump(nut, bus, prog: str, *args: str, timeout: float = 60):
    """``prog -a ups -d 1`` on the bus; (values, completed process)."""
    r = nut.run([prog, "-a", "ups", "-u", "root", "-d", "1", *args], timeout=timeout,
                **bus.env(base={}))
    return dump_values(r.stdout), r
