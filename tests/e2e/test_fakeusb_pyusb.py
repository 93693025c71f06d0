"""pyusb's libusb1 backend, found the standard way (ctypes.util.find_library, then dlopen by
soname), picks up the stand-in libusb-1.0 from LD_LIBRARY_PATH: a Python driver started
with the bus's environment sees the emulated devices exactly as the C drivers do."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from support.fakeusb import FEATURE, FakeUsbBus, HidDevice, errors, require_fakeusb
from support.fakeusb.build import SONAME

REPORT_DESCRIPTOR = bytes.fromhex(
    "05 84 09 04 a1 01 85 01 09 30 75 08 95 01 15 00 26 ff 00 b1 02"
    " 85 02 09 31 81 02 c0")

# What a driver does, run in a fresh interpreter: nothing but the standard pyusb calls.
CHILD = r"""
import ctypes.util, json, usb.core, usb.util, usb.backend.libusb1 as libusb1
out = {"find_library": ctypes.util.find_library("usb-1.0")}
backend = libusb1.get_backend()
out["loaded"] = [l.split()[-1] for l in open("/proc/self/maps") if "libusb-1.0" in l][0]
dev = usb.core.find(idVendor=0x1234, idProduct=0x5678, backend=backend)
out["where"] = [dev.bus, dev.address, list(dev.port_numbers)]
out["strings"] = [dev.manufacturer, dev.product, dev.serial_number]
intf = dev.get_active_configuration()[(0, 0)]
out["interface"] = [intf.bInterfaceClass, bytes(intf.extra_descriptors).hex(),
                    [e.bEndpointAddress for e in intf]]
out["kernel_driver"] = dev.is_kernel_driver_active(0)
usb.util.claim_interface(dev, 0)
out["feature"] = bytes(dev.ctrl_transfer(0xA1, 0x01, 0x0301, 0, 8)).hex()
out["interrupt"] = bytes(dev.read(0x81, 8, timeout=5000)).hex()
try:
    dev.read(0x81, 8, timeout=200)
except usb.core.USBTimeoutError as e:
    out["timeout"] = e.backend_error_code
dev.ctrl_transfer(0x21, 0x09, 0x0301, 0, b"\x01\x00")
try:
    dev.ctrl_transfer(0xA1, 0x01, 0x0301, 0, 8)
except usb.core.USBError as e:
    out["unplugged"] = [e.backend_error_code, e.strerror]
print(json.dumps(out))
"""


@pytest.fixture
def bus():
    require_fakeusb()
    pytest.importorskip("usb.backend.libusb1")
    with FakeUsbBus() as b:
        yield b


def test_pyusb_finds_opens_and_reads_the_emulated_device(bus):
    dev = bus.plug(HidDevice(0x1234, 0x5678, REPORT_DESCRIPTOR, manufacturer="Maker",
                             product="Box", serial="S1",
                             reports={(FEATURE, 1): b"\x01\x2a"}),
                   bus_number=2, address=9, ports=(1, 3))
    dev.queue_interrupt(b"\x02\x05")
    # the device goes away after the child's SET_REPORT
    dev.on_set_report = lambda *report: bus.unplug(dev)
    r = subprocess.run([sys.executable, "-c", CHILD], env=bus.env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["loaded"].startswith(bus.library_dir) and out["loaded"].endswith(SONAME)
    assert out["where"] == [2, 9, [1, 3]]
    assert out["strings"] == ["Maker", "Box", "S1"]
    assert out["interface"] == [3, dev.hid_descriptor.hex(), [0x81]]  # HID + HID descriptor
    assert out["kernel_driver"] is False
    assert out["feature"] == "012a"
    assert out["interrupt"] == "0205"
    assert out["timeout"] == errors.TIMEOUT
    assert out["unplugged"] == [errors.NO_DEVICE,
                                "No such device (it may have been disconnected)"]
    assert dev.set_reports() == [(FEATURE, 1, b"\x01\x00")]
