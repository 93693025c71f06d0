"""USB models of Megatec/Q1 UPSes (blazer_usb, nutdrv_qx): an example of a non-HID protocol
on the emulated bus, and the base of the Q1 driver tests.

Only the "cypress" transport is modelled here: the host writes a command with class
SET_REPORT requests (wValue 0x0200) in 8-byte chunks, the device answers on interrupt IN
endpoint 0x81 in 8-byte packets. The other subdrivers (phoenix, ippon, krauler, fabula...)
use other requests on the same pipes and can be written the same way."""

from __future__ import annotations

import re
from typing import Callable

from . import descriptors as d
from . import errors
from .devices import ControlRequest, UsbDevice
from .errors import UsbError

# A Q1 status line of a UPS on line power (Megatec protocol).
Q1_ONLINE = b"(230.0 230.0 230.0 013 50.0 13.6 25.0 00001000\r"
F_RATINGS = b"#230.0 003 12.00 50.0\r"


# "#", the maker (15 characters), the model (10), the firmware version (10)
I_INFO = b"#" + b"NUTPY TEST".ljust(15) + b" " + b"Q1-USB".ljust(10) + b" " \
    + b"V1.0".ljust(10) + b"\r"

# Commands a Megatec UPS carries out without a word: beeper toggle, tests, shutdowns and
# their cancellation.
_SILENT = re.compile(rb"Q|T|TL|T\d\d|S(\.\d|\d\d)(R\d{4})?|C|CT")


def default_responder(command: bytes) -> bytes | None:
    """Answers like a plain Megatec UPS: Q1 status, F ratings, I identity; silent for the
    commands it carries out; anything else is unknown and echoed back, as units do."""
    if command == b"Q1":
        return Q1_ONLINE
    if command == b"F":
        return F_RATINGS
    if command == b"I":
        return I_INFO
    if _SILENT.fullmatch(command):
        return None
    return command + b"\r"


class CypressQ1Device(UsbDevice):
    """A Q1 UPS behind a Cypress USB-serial chip (0665:5161 by default).

    ``responder(command)`` gets each command without its CR and returns the reply
    (including its CR), or None to stay silent (the host's reads then time out).
    ``commands`` lists every command the host sent, in order."""

    def __init__(self, vendor_id: int = 0x0665, product_id: int = 0x5161, *,
                 responder: Callable[[bytes], bytes | None] = default_responder,
                 **kwargs) -> None:
        kwargs.setdefault("interfaces", [d.Interface(
            number=0, interface_class=d.CLASS_HID,
            endpoints=[d.Endpoint(0x81, d.TRANSFER_INTERRUPT, 8, 10)],
            extra=d.hid_descriptor(0x1b))])
        kwargs.setdefault("product", "USB to Serial")
        super().__init__(vendor_id, product_id, **kwargs)
        self.responder = responder
        self.commands: list[bytes] = []
        self._pending = b""

    def handle_control(self, req: ControlRequest) -> bytes | None:
        if req.request_type == 0x21 and req.request == 0x09 and req.value == 0x0200:
            self._pending += req.data
            while b"\r" in self._pending:
                line, _, self._pending = self._pending.partition(b"\r")
                self.commands.append(line)
                reply = self.responder(line)
                if reply:
                    for i in range(0, len(reply), 8):
                        self.queue_interrupt(reply[i:i + 8].ljust(8, b"\0"))
            # the rest of the 8-byte chunk after the CR is padding
            if b"\0" in self._pending:
                self._pending = self._pending.split(b"\0", 1)[0]
            return None
        if req.kind == 0x20:
            raise UsbError(errors.PIPE)
        return super().handle_control(req)
