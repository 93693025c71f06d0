"""The stand-in libusb-1.0 loaded into the test process itself, through ctypes.

Programs under test load the library through LD_LIBRARY_PATH (FakeUsbBus.env); a test that
wants to call libusb itself (to check the emulation, or to drive code in-process) loads it
by path here. Each call reads $NUTPY_FAKEUSB_SOCKET afresh, so point it at the bus in use
(``bus.activate()`` or monkeypatch.setenv)."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from .build import SONAME, build_library


class DeviceDescriptor(ctypes.Structure):
    _fields_ = [("bLength", ctypes.c_uint8), ("bDescriptorType", ctypes.c_uint8),
                ("bcdUSB", ctypes.c_uint16), ("bDeviceClass", ctypes.c_uint8),
                ("bDeviceSubClass", ctypes.c_uint8), ("bDeviceProtocol", ctypes.c_uint8),
                ("bMaxPacketSize0", ctypes.c_uint8), ("idVendor", ctypes.c_uint16),
                ("idProduct", ctypes.c_uint16), ("bcdDevice", ctypes.c_uint16),
                ("iManufacturer", ctypes.c_uint8), ("iProduct", ctypes.c_uint8),
                ("iSerialNumber", ctypes.c_uint8), ("bNumConfigurations", ctypes.c_uint8)]


@dataclass
class FoundDevice:
    bus_number: int
    address: int
    ports: tuple[int, ...]
    descriptor: DeviceDescriptor
    pointer: int                          # a referenced libusb_device *


_lib: ctypes.CDLL | None = None


def load() -> ctypes.CDLL:
    """The library, loaded once per process (by path: never the system libusb)."""
    global _lib
    if _lib is None:
        lib = ctypes.CDLL(str(build_library() / SONAME))
        vp, u8, u16, i = ctypes.c_void_p, ctypes.c_uint8, ctypes.c_uint16, ctypes.c_int
        lib.libusb_init.argtypes = [ctypes.POINTER(vp)]
        lib.libusb_get_device_list.argtypes = [vp, ctypes.POINTER(ctypes.POINTER(vp))]
        lib.libusb_get_device_list.restype = ctypes.c_ssize_t
        lib.libusb_free_device_list.argtypes = [ctypes.POINTER(vp), i]
        lib.libusb_ref_device.argtypes = [vp]
        lib.libusb_ref_device.restype = vp
        lib.libusb_unref_device.argtypes = [vp]
        lib.libusb_get_bus_number.argtypes = [vp]
        lib.libusb_get_bus_number.restype = u8
        lib.libusb_get_device_address.argtypes = [vp]
        lib.libusb_get_device_address.restype = u8
        lib.libusb_get_port_numbers.argtypes = [vp, ctypes.POINTER(u8), i]
        lib.libusb_get_device_descriptor.argtypes = [vp, ctypes.POINTER(DeviceDescriptor)]
        lib.libusb_open.argtypes = [vp, ctypes.POINTER(vp)]
        lib.libusb_close.argtypes = [vp]
        for name in ("libusb_claim_interface", "libusb_release_interface",
                     "libusb_kernel_driver_active", "libusb_detach_kernel_driver",
                     "libusb_set_auto_detach_kernel_driver"):
            getattr(lib, name).argtypes = [vp, i]
        lib.libusb_control_transfer.argtypes = [vp, u8, u8, u16, u16, ctypes.c_char_p, u16,
                                                ctypes.c_uint]
        lib.libusb_interrupt_transfer.argtypes = [vp, ctypes.c_ubyte, ctypes.c_char_p, i,
                                                  ctypes.POINTER(i), ctypes.c_uint]
        lib.libusb_get_string_descriptor_ascii.argtypes = [vp, u8, ctypes.c_char_p, i]
        lib.libusb_strerror.argtypes = [i]
        lib.libusb_strerror.restype = ctypes.c_char_p
        assert lib.libusb_init(None) == 0
        _lib = lib
    return _lib


def find_devices() -> list[FoundDevice]:
    lib = load()
    listp = ctypes.POINTER(ctypes.c_void_p)()
    n = lib.libusb_get_device_list(None, ctypes.byref(listp))
    found = []
    for k in range(n):
        dev = listp[k]
        desc = DeviceDescriptor()
        lib.libusb_get_device_descriptor(dev, ctypes.byref(desc))
        ports = (ctypes.c_uint8 * 7)()
        np = lib.libusb_get_port_numbers(dev, ports, 7)
        found.append(FoundDevice(lib.libusb_get_bus_number(dev),
                                 lib.libusb_get_device_address(dev),
                                 tuple(ports[:max(np, 0)]), desc, lib.libusb_ref_device(dev)))
    lib.libusb_free_device_list(listp, 1)
    return found


class DeviceHandle:
    """An open libusb_device_handle; methods return what libusb returns (error codes as
    negative ints)."""

    def __init__(self, device: FoundDevice) -> None:
        self.lib = load()
        self.device = device
        self.ptr = ctypes.c_void_p()
        self.open_status = self.lib.libusb_open(device.pointer, ctypes.byref(self.ptr))

    def close(self) -> None:
        if self.ptr:
            self.lib.libusb_close(self.ptr)
            self.ptr = ctypes.c_void_p()

    def control_in(self, request_type: int, request: int, value: int, index: int,
                   length: int, timeout: int = 1000) -> bytes | int:
        buf = ctypes.create_string_buffer(length)
        r = self.lib.libusb_control_transfer(self.ptr, request_type, request, value, index,
                                             buf, length, timeout)
        return r if r < 0 else buf.raw[:r]

    def control_out(self, request_type: int, request: int, value: int, index: int,
                    data: bytes, timeout: int = 1000) -> int:
        return self.lib.libusb_control_transfer(self.ptr, request_type, request, value, index,
                                                data, len(data), timeout)

    def interrupt_in(self, endpoint: int, length: int, timeout: int) -> tuple[int, bytes]:
        buf = ctypes.create_string_buffer(length)
        done = ctypes.c_int(0)
        r = self.lib.libusb_interrupt_transfer(self.ptr, endpoint, buf, length,
                                               ctypes.byref(done), timeout)
        return r, buf.raw[:done.value]

    def string(self, index: int) -> str | int:
        buf = ctypes.create_string_buffer(256)
        r = self.lib.libusb_get_string_descriptor_ascii(self.ptr, index, buf, 256)
        return r if r < 0 else buf.raw[:r].decode("ascii")

    def call(self, name: str, *args: int) -> int:
        return getattr(self.lib, name)(self.ptr, *args)
