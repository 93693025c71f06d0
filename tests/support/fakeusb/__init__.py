"""Emulated USB devices for driver tests: a stand-in libusb-1.0 (fakelibusb.c) that any
program loads through LD_LIBRARY_PATH, and the Python controller holding the device models.
See README.md here and docs/testing-usb.md."""

from __future__ import annotations

from . import descriptors, errors
from .build import build_library, compiler
from .controller import SOCKET_ENV, Attachment, DataRequest, FakeUsbBus, Fault, Handle
from .ddl import APC_BACK_UPS_CS_500, DdlDump, apc_back_ups_cs_500, hid_device_from_ddl, parse_ddl
from .descriptors import Endpoint, Interface
from .devices import (
    FEATURE,
    INPUT,
    OUTPUT,
    PASS,
    ControlRequest,
    Event,
    HidDevice,
    Transfer,
    UsbDevice,
)
from .errors import UsbError


def require_fakeusb() -> None:
    """Skips the test (fails it under CI) when the stand-in libusb cannot be built."""
    from support.harness import require
    require(compiler() is not None,
            "no C compiler to build the stand-in libusb-1.0 (apt-get install -y gcc libc6-dev)")


__all__ = [
    "APC_BACK_UPS_CS_500", "Attachment", "ControlRequest", "DataRequest", "DdlDump",
    "Endpoint", "Event", "FEATURE", "FakeUsbBus", "Fault", "Handle", "HidDevice", "INPUT",
    "Interface", "OUTPUT", "PASS", "SOCKET_ENV", "Transfer", "UsbDevice", "UsbError",
    "apc_back_ups_cs_500", "build_library", "compiler", "descriptors", "errors",
    "hid_device_from_ddl", "parse_ddl", "require_fakeusb",
]
