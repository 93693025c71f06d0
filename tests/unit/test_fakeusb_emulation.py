"""The emulated USB bus behaves like libusb on a real device: enumeration, descriptors,
strings, HID reports, blocking interrupt reads, claims, unplug/replug and faults. Driven
through the stand-in libusb-1.0 loaded into this process (support.fakeusb.inprocess)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

import pytest

from support.fakeusb import (
    FEATURE,
    INPUT,
    PASS,
    FakeUsbBus,
    Fault,
    HidDevice,
    UsbDevice,
    errors,
    inprocess,
    require_fakeusb,
)
from support.fakeusb.build import SONAME, build_library
from support.fakeusb.devices import ControlRequest
from support.fakeusb.errors import UsbError

# A HID report descriptor with a feature report 1 (one byte) and an input report 2.
REPORT_DESCRIPTOR = bytes.fromhex(
    "05 84 09 04 a1 01 85 01 09 30 75 08 95 01 15 00 26 ff 00 b1 02"
    " 85 02 09 31 81 02 c0")


@pytest.fixture
def bus(monkeypatch):
    require_fakeusb()
    with FakeUsbBus() as b:
        monkeypatch.setenv("NUTPY_FAKEUSB_SOCKET", b.socket_path)
        yield b


def hid(**kw) -> HidDevice:
    kw.setdefault("manufacturer", "Maker")
    kw.setdefault("product", "Box 1")
    kw.setdefault("serial", "S123")
    return HidDevice(0x1234, 0x5678, REPORT_DESCRIPTOR,
                     reports={(FEATURE, 1): b"\x01\x2a", (INPUT, 2): b"\x02\x07"}, **kw)


def open_only(vendor_id=0x1234) -> inprocess.DeviceHandle:
    (dev,) = [d for d in inprocess.find_devices() if d.descriptor.idVendor == vendor_id]
    h = inprocess.DeviceHandle(dev)
    assert h.open_status == 0
    return h


def test_library_exports_what_the_c_drivers_and_pyusb_call():
    require_fakeusb()
    lib = inprocess.load()
    needed = {
        # the USB drivers of Debian's NUT 2.8.0 (objdump -T /lib/nut/*usb*)
        "libusb_claim_interface", "libusb_clear_halt", "libusb_close",
        "libusb_control_transfer", "libusb_detach_kernel_driver", "libusb_exit",
        "libusb_free_config_descriptor", "libusb_free_device_list", "libusb_get_bus_number",
        "libusb_get_config_descriptor", "libusb_get_device_descriptor",
        "libusb_get_device_list", "libusb_get_string_descriptor_ascii", "libusb_get_version",
        "libusb_init", "libusb_interrupt_transfer", "libusb_kernel_driver_active",
        "libusb_open", "libusb_release_interface", "libusb_reset_device",
        "libusb_set_auto_detach_kernel_driver", "libusb_set_configuration",
        "libusb_set_interface_alt_setting", "libusb_strerror",
        # pyusb's libusb1 backend (_setup_prototypes and the calls it makes)
        "libusb_set_debug", "libusb_get_parent", "libusb_ref_device", "libusb_unref_device",
        "libusb_get_configuration", "libusb_attach_kernel_driver", "libusb_bulk_transfer",
        "libusb_alloc_transfer", "libusb_free_transfer", "libusb_submit_transfer",
        "libusb_get_max_iso_packet_size", "libusb_get_device_address",
        "libusb_get_device_speed", "libusb_get_port_number", "libusb_get_port_numbers",
        "libusb_handle_events",
    }
    missing = sorted(n for n in needed if not hasattr(lib, n))
    assert not missing


def test_every_libusb_symbol_the_installed_c_usb_drivers_import_is_exported():
    require_fakeusb()
    objdump = shutil.which("objdump")
    drivers = [p for p in ("/lib/nut/usbhid-ups", "/lib/nut/blazer_usb", "/lib/nut/nutdrv_qx",
                           "/lib/nut/bcmxcp_usb", "/lib/nut/tripplite_usb",
                           "/lib/nut/riello_usb", "/lib/nut/richcomm_usb",
                           "/lib/nut/nutdrv_atcl_usb") if os.path.exists(p)]
    if not objdump or not drivers:
        pytest.skip("needs objdump and C NUT's USB drivers")
    exported = subprocess.run([objdump, "-T", str(build_library() / SONAME)],
                              capture_output=True, text=True, check=True).stdout
    ours = {line.split()[-1] for line in exported.splitlines() if " .text" in line}
    for driver in drivers:
        table = subprocess.run([objdump, "-T", driver], capture_output=True, text=True,
                               check=True).stdout
        wanted = {line.split()[-1] for line in table.splitlines()
                  if "*UND*" in line and line.split()[-1].startswith("libusb_")}
        # unversioned ("Base") imports: a library without symbol versions satisfies them
        assert all(" Base " in line for line in table.splitlines()
                   if line.split() and line.split()[-1] in wanted), driver
        assert wanted <= ours, (driver, sorted(wanted - ours))


def test_enumeration_descriptors_and_strings(bus):
    dev = bus.plug(hid(), bus_number=3, address=7, ports=(1, 4))
    (found,) = inprocess.find_devices()
    assert (found.bus_number, found.address, found.ports) == (3, 7, (1, 4))
    d = found.descriptor
    assert (d.idVendor, d.idProduct, d.bcdDevice, d.bNumConfigurations) == (0x1234, 0x5678,
                                                                           0x0100, 1)
    h = inprocess.DeviceHandle(found)
    assert h.open_status == 0
    assert [h.string(i) for i in (d.iManufacturer, d.iProduct, d.iSerialNumber)] == [
        "Maker", "Box 1", "S123"]
    assert h.string(99) == errors.PIPE                       # no such string: a stall
    # the whole configuration: interface 0 of class HID with its HID descriptor, EP 0x81
    config = h.control_in(0x80, 0x06, 0x0200, 0, 255)
    assert config[:2] == b"\x09\x02" and int.from_bytes(config[2:4], "little") == len(config)
    assert bytes.fromhex("09 04 00 00 01 03 00 00 00") in config
    assert dev.hid_descriptor in config and bytes.fromhex("07 05 81 03 08 00 0a") in config
    # HID class descriptors, asked of the interface as libhid does
    assert h.control_in(0x81, 0x06, 0x2100, 0, 9) == dev.hid_descriptor
    assert h.control_in(0x81, 0x06, 0x2200, 0, len(REPORT_DESCRIPTOR)) == REPORT_DESCRIPTOR
    # strings were read with libusb's two requests: the language table, then the string
    reads = [t.setup for t in dev.control_transfers(0x80, 0x06)]
    assert (reads[0].value, reads[0].index) == (0x0300, 0)
    assert (reads[1].value, reads[1].index) == (0x0300 | d.iManufacturer, 0x0409)
    h.close()


def test_reports_answered_and_set_report_recorded(bus):
    dev = bus.plug(hid())
    h = open_only()
    assert h.control_in(0xA1, 0x01, 0x0301, 0, 8) == b"\x01\x2a"
    assert h.control_in(0xA1, 0x01, 0x0102, 0, 8) == b"\x02\x07"
    assert h.control_in(0xA1, 0x01, 0x0305, 0, 8) == errors.PIPE   # unknown report
    assert h.control_out(0x21, 0x09, 0x0301, 0, b"\x01\x05") == 2
    assert dev.set_reports() == [(FEATURE, 1, b"\x01\x05")]
    assert h.control_in(0xA1, 0x01, 0x0301, 0, 8) == b"\x01\x05"  # the device kept it
    dev.set_feature(1, b"\x01\x63")
    assert h.control_in(0xA1, 0x01, 0x0301, 0, 1) == b"\x01"      # truncated to wLength
    assert dev.get_reports() == [(FEATURE, 1), (INPUT, 2), (FEATURE, 5), (FEATURE, 1),
                                 (FEATURE, 1)]
    t = dev.transfers[-1]
    assert (t.kind, t.pid, t.status, t.data_in) == ("control", os.getpid(), 1, b"\x01")


def test_set_report_hook_decides_what_the_device_keeps(bus):
    dev = bus.plug(hid())
    seen = []
    dev.on_set_report = lambda rtype, rid, data: seen.append((rtype, rid, data)) or False
    h = open_only()
    assert h.control_out(0x21, 0x09, 0x0301, 0, b"\x01\x00") == 2
    assert seen == [(FEATURE, 1, b"\x01\x00")]
    assert h.control_in(0xA1, 0x01, 0x0301, 0, 8) == b"\x01\x2a"


def test_interrupt_reads_block_until_data_or_timeout(bus):
    dev = bus.plug(hid())
    h = open_only()
    dev.queue_interrupt(b"\x02\x08")
    assert h.interrupt_in(0x81, 8, 1000) == (0, b"\x02\x08")
    assert h.interrupt_in(0x81, 8, 100) == (errors.TIMEOUT, b"")
    # data arriving while a read waits ends the wait
    timer = threading.Timer(0.2, dev.queue_interrupt, (b"\x02\x09",))
    timer.start()
    assert h.interrupt_in(0x81, 8, 20000) == (0, b"\x02\x09")
    timer.join()
    assert h.interrupt_in(0x82, 8, 100) == (errors.IO, b"")       # no such endpoint
    statuses = [t.status for t in dev.transfers if t.kind == "interrupt"]
    assert statuses == [0, errors.TIMEOUT, 0, errors.IO]


def test_interrupt_data_longer_than_the_read_follows_packets(bus):
    dev = bus.plug(hid())                      # wMaxPacketSize 8
    h = open_only()
    dev.queue_interrupt(bytes(range(12)))
    assert h.interrupt_in(0x81, 8, 500) == (0, bytes(range(8)))  # whole packets
    assert h.interrupt_in(0x81, 8, 500) == (0, bytes(range(8, 12)))
    dev.queue_interrupt(bytes(range(6)))
    assert h.interrupt_in(0x81, 4, 500) == (errors.OVERFLOW, bytes(range(4)))


def test_unplug_fails_open_handles_and_wakes_blocked_reads(bus):
    dev = bus.plug(hid(), bus_number=2, address=5)
    h = open_only()
    stale = h.device
    threading.Timer(0.2, bus.unplug, (dev,)).start()
    # a read that would wait 20 s ends with the unplug instead
    assert h.interrupt_in(0x81, 8, 20000) == (errors.NO_DEVICE, b"")
    assert h.control_in(0xA1, 0x01, 0x0301, 0, 8) == errors.NO_DEVICE
    assert h.call("libusb_claim_interface", 0) == errors.NO_DEVICE
    assert inprocess.find_devices() == []
    assert inprocess.DeviceHandle(stale).open_status == errors.NO_DEVICE
    h.close()                                   # closing a dead handle is fine

    bus.replug(dev)
    (found,) = inprocess.find_devices()
    assert (found.bus_number, found.address) == (2, 6)          # a new device number
    h2 = inprocess.DeviceHandle(found)
    assert h2.control_in(0xA1, 0x01, 0x0301, 0, 8) == b"\x01\x2a"
    assert inprocess.DeviceHandle(stale).open_status == errors.NO_DEVICE
    bus.replug(dev, same_address=True)
    assert [(f.bus_number, f.address) for f in inprocess.find_devices()] == [(2, 6)]
    assert h2.control_in(0xA1, 0x01, 0x0301, 0, 8) == errors.NO_DEVICE


def test_error_bursts_and_timeouts(bus):
    dev = bus.plug(hid())
    h = open_only()
    burst = bus.inject(dev, Fault("control", errors.IO, count=3))
    got = [h.control_in(0xA1, 0x01, 0x0301, 0, 8) for _ in range(4)]
    assert got == [errors.IO] * 3 + [b"\x01\x2a"] and burst.fired == 3
    # only GET_REPORT of report 1, once, and not answering until the transfer's timeout
    bus.inject(dev, Fault("control", errors.TIMEOUT,
                          match=lambda r: r.request == 0x01 and r.value & 0xFF == 1))
    assert h.control_in(0xA1, 0x01, 0x0102, 0, 8) == b"\x02\x07"
    assert h.control_in(0xA1, 0x01, 0x0301, 0, 8, timeout=200) == errors.TIMEOUT
    assert h.control_in(0xA1, 0x01, 0x0301, 0, 8) == b"\x01\x2a"
    bus.inject(dev, Fault("interrupt", errors.IO, count=None))
    dev.queue_interrupt(b"\x02\x01")
    assert [h.interrupt_in(0x81, 8, 100)[0] for _ in range(3)] == [errors.IO] * 3
    bus.clear_faults(dev)
    assert h.interrupt_in(0x81, 8, 100) == (0, b"\x02\x01")
    bus.inject(dev, Fault("open", errors.ACCESS))
    (found,) = inprocess.find_devices()
    assert inprocess.DeviceHandle(found).open_status == errors.ACCESS
    assert [t.status for t in dev.transfers[:4]] == [errors.IO] * 3 + [2]


def test_claims_and_the_kernel_driver(bus):
    dev = bus.plug(hid())
    dev.kernel_driver[0] = True                 # usbhid holds the interface
    a, b = open_only(), open_only()
    assert a.call("libusb_kernel_driver_active", 0) == 1
    assert a.call("libusb_claim_interface", 0) == errors.BUSY
    assert a.call("libusb_set_auto_detach_kernel_driver", 1) == 0
    assert a.call("libusb_claim_interface", 0) == 0
    assert a.call("libusb_kernel_driver_active", 0) == 0
    assert b.call("libusb_claim_interface", 0) == errors.BUSY   # claimed by another handle
    assert b.call("libusb_claim_interface", 1) == errors.NOT_FOUND
    a.close()                                   # releases, and gives usbhid its interface back
    assert b.call("libusb_kernel_driver_active", 0) == 1
    assert b.call("libusb_detach_kernel_driver", 0) == 0
    assert b.call("libusb_detach_kernel_driver", 0) == errors.NOT_FOUND
    assert b.call("libusb_claim_interface", 0) == 0
    assert [e.op for e in dev.events][:3] == ["open", "open", "kernel_driver_active"]


def test_a_vendor_protocol_modelled_with_a_control_hook(bus):
    """Non-HID devices (the Megatec Q1 USB subdrivers) answer vendor or class requests of
    their own: a hook (or a subclass) gives the answers, the interrupt queue the replies."""
    dev = UsbDevice(0x0001, 0x0000, product="Q1 box")

    def control(req: ControlRequest):
        if req.request_type == 0xC0 and req.request == 0x01:
            return b"(230.0 " + bytes([req.value & 0xFF])
        if req.request_type == 0x40:
            raise UsbError(errors.PIPE)
        return PASS

    dev.on_control = control
    bus.plug(dev)
    h = open_only(0x0001)
    assert h.control_in(0xC0, 0x01, 0x0051, 0, 64) == b"(230.0 Q"
    assert h.control_out(0x40, 0x02, 0, 0, b"x") == errors.PIPE
    assert h.string(dev.i_product) == "Q1 box"                    # standard requests remain


def test_a_broken_model_is_reported(monkeypatch):
    require_fakeusb()
    bus = FakeUsbBus().start()
    try:
        monkeypatch.setenv("NUTPY_FAKEUSB_SOCKET", bus.socket_path)
        dev = bus.plug(hid())
        dev.on_control = lambda req: 1 / 0
        h = open_only()
        assert h.control_in(0xA1, 0x01, 0x0301, 0, 8) == errors.IO
    finally:
        bus.close()
    with pytest.raises(AssertionError, match="ZeroDivisionError"):
        bus.check()


def test_without_a_controller_the_bus_is_empty_and_handles_are_gone(monkeypatch):
    require_fakeusb()
    bus = FakeUsbBus().start()
    monkeypatch.setenv("NUTPY_FAKEUSB_SOCKET", bus.socket_path)
    bus.plug(hid())
    h = open_only()
    bus.close()
    assert h.control_in(0xA1, 0x01, 0x0301, 0, 8) == errors.NO_DEVICE
    assert inprocess.find_devices() == []
    monkeypatch.delenv("NUTPY_FAKEUSB_SOCKET")
    assert inprocess.find_devices() == []
    h.close()


def test_successive_buses_in_one_process(monkeypatch):
    require_fakeusb()
    for address in (4, 9):
        with FakeUsbBus() as bus, bus.activate():
            bus.plug(hid(), address=address)
            assert [d.address for d in inprocess.find_devices()] == [address]
            h = open_only()
            assert h.control_in(0xA1, 0x01, 0x0301, 0, 8) == b"\x01\x2a"
            h.close()
