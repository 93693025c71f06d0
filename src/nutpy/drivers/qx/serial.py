"""The serial transport of the Q* drivers: 2400 baud 8N1, canonical input ending lines at
CR, DTR/RTS per ``cablepower``, and for each command: drop pending input and output, send
it, read one reply line within ``timeout`` seconds.

Unlike C, a port whose device went away (EIO: USB adapter unplugged, pty closed) is closed
and reopened at the next command, so the driver recovers when the device returns."""

from __future__ import annotations

import errno
import time

from ..serialport import SerialPort, is_gone

CABLEPOWER = {"normal": (True, False), "reverse": (False, True), "both": (True, True),
              "none": (False, False)}


class SerialTransport:
    def __init__(self, port: SerialPort, dtr: bool, rts: bool, timeout: float = 1.0,
                 settle: float = 1.1, log=None) -> None:
        self.port = port
        self.dtr, self.rts = dtr, rts
        self.timeout = timeout
        self.settle = settle
        self.log = log
        self.reopened = False   # set after a successful reopen, cleared by the driver

    def setup(self) -> None:
        """After ``open``: line mode, cable power, settle time."""
        self.port.set_canonical(b"\r")
        self.port.set_dtr(self.dtr)
        self.port.set_rts(self.rts)
        if self.settle:
            time.sleep(self.settle)

    def _reopen(self) -> None:
        try:
            self.port.open(dtr=self.dtr, rts=self.rts)
        except OSError as e:
            raise OSError(e.errno or errno.EIO, e.strerror) from None
        self.setup()
        self.reopened = True
        if self.log:
            self.log.debug(1, f"reopened {self.port.path}")

    def command(self, cmd: bytes) -> bytes:
        port = self.port
        if not port.is_open:
            self._reopen()
        try:
            # C flushes both directions; dropping unsent output could only cut off the
            # previous command, so only the input is dropped
            port.flush_input()
            sent = port.write(cmd)
            if sent <= 0:
                return b""
            if self.log:
                self.log.debug(3, f"send: '{_line(cmd)}'")
            reply = port.read(511, self.timeout)
        except OSError as e:
            if self.log:
                self.log.debug(3, f"send/read: {e.strerror}")
            if is_gone(e):
                port.close()
            raise
        if self.log:
            if reply:
                self.log.debug(3, f"read: '{_line(reply)}'")
            else:
                self.log.debug(3, "read: timeout (0)")
        return reply


def _line(data: bytes) -> str:
    return data.split(b"\r")[0].decode("latin-1")
