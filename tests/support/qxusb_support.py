"""nutdrv_qx and blazer_usb (ours) on emulated Q1 UPSes behind USB bridges
(tests/support/fakeusb/megatec.py), in the test process: ``make_driver(...)`` inside
``with pyusb_on(bus):`` builds the driver object as the core would, so a test calls its
hooks (init_device, init_info, update_info, instcmd...) directly."""

from __future__ import annotations

from nutpy.sim.q1 import Q1Ups

from .usbhid_support import published, pyusb_on  # noqa: F401  (re-exported)


def make_driver(prog: str = "nutdrv_qx", upsname: str = "ups", **settings):
    """Our ``prog`` with ``settings`` as ups.conf would give them (True for a flag);
    ``port`` defaults to auto."""
    from nutpy.drivers.main import DriverCore

    if prog == "blazer_usb":
        from nutpy.drivers.blazer_usb import BlazerUsb as cls
    else:
        from nutpy.drivers.nutdrv_qx import NutdrvQx as cls
    core = DriverCore(cls, prog=prog)
    core.upsname = upsname
    core._apply("port", str(settings.pop("port", "auto")))
    for key, value in settings.items():
        core._apply(key, None if value is True else str(value))
    return core.driver


def start(driver) -> None:
    driver.init_device()
    driver.init_info()
    driver.update_info()


def megatec_ups(**fields) -> Q1Ups:
    """A Megatec UPS simulator that answers accepted commands with nothing (as most do)."""
    ups = Q1Ups("megatec")
    for name, value in fields.items():
        ups.set(name, str(value))
    return ups
