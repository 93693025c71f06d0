"""libusb-1.0 error codes as the emulated devices return them, and the exception a device
model raises to fail a request with one."""

from __future__ import annotations

SUCCESS = 0
IO = -1
INVALID_PARAM = -2
ACCESS = -3
NO_DEVICE = -4
NOT_FOUND = -5
BUSY = -6
TIMEOUT = -7
OVERFLOW = -8
PIPE = -9
INTERRUPTED = -10
NO_MEM = -11
NOT_SUPPORTED = -12
OTHER = -99

NAMES = {
    SUCCESS: "LIBUSB_SUCCESS", IO: "LIBUSB_ERROR_IO", INVALID_PARAM: "LIBUSB_ERROR_INVALID_PARAM",
    ACCESS: "LIBUSB_ERROR_ACCESS", NO_DEVICE: "LIBUSB_ERROR_NO_DEVICE",
    NOT_FOUND: "LIBUSB_ERROR_NOT_FOUND", BUSY: "LIBUSB_ERROR_BUSY",
    TIMEOUT: "LIBUSB_ERROR_TIMEOUT", OVERFLOW: "LIBUSB_ERROR_OVERFLOW",
    PIPE: "LIBUSB_ERROR_PIPE", INTERRUPTED: "LIBUSB_ERROR_INTERRUPTED",
    NO_MEM: "LIBUSB_ERROR_NO_MEM", NOT_SUPPORTED: "LIBUSB_ERROR_NOT_SUPPORTED",
    OTHER: "LIBUSB_ERROR_OTHER",
}


def name(code: int) -> str:
    return NAMES.get(code, f"error {code}")


class UsbError(Exception):
    """Raised by a device model to fail the request with a libusb error code (PIPE: the
    device stalled the request, as real devices do for requests they do not support)."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message or name(code))
        self.code = code
