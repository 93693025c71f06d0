"""Talking to a running driver over its socket: ``-c exit|reload-or-error`` and ``-k``
handed to the instance that holds the device (NUT 2.8.1+), each a tracked request.
"""

from __future__ import annotations

import os
import socket
import sys
import time

from ..common.cnum import atoi
from ..common.log import log
from ..common.parseconf import Tokenizer
from ..proto import sockproto


def query_socket(path: str, request, timeout: float | None = 15.0,
                 quiet: bool = False) -> int:
    """Send one tracked request to a running driver and return its result, or -1 when
    the socket cannot be used or no result came in time. ``request`` builds the line
    from a tracking id (e.g. ``lambda i: sockproto.instcmd(cmd, tracking_id=i)``);
    ``timeout`` None waits as long as the driver keeps the connection open."""
    ident = _uuid4()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(b"NOBROADCAST\n" + request(ident))
            tok = Tokenizer()
            deadline = None if timeout is None else time.monotonic() + timeout
            while deadline is None or time.monotonic() < deadline:
                data = s.recv(4096)
                if not data:
                    break
                for line in tok.feed(data):
                    msg = sockproto.parse_driver_message(line.words)
                    if msg is not None and msg.kind == "TRACKING" and msg.name == ident:
                        return atoi(msg.args[0])
    except OSError as e:
        if not quiet:
            print(f"Socket {path}: {e.strerror or e}", file=sys.stderr)
        else:
            log.debug(1, f"Socket dialog with the other driver instance: {e.strerror or e}")
    return -1


def query_socket_instcmd(path: str, cmd: str, timeout: float = 15.0) -> int:
    """``-c exit|reload-or-error``: the running driver's result, 255 if unreachable."""
    result = query_socket(path, lambda i: sockproto.instcmd(cmd, tracking_id=i), timeout)
    return 255 if result < 0 else result


def killpower_via_running_driver(path: str) -> bool:
    """``-k`` as NUT 2.8.1+: let a running instance cut the power (it holds the device);
    True if it reported success."""
    log.info("Checking if an already running driver instance can handle the shutdown "
             "command for us")
    log.debug(1, "Make sure the other driver instance is allowed to kill power")
    if query_socket(path, lambda i: sockproto.set_var("driver.flag.allow_killpower", "1",
                                                      tracking_id=i), 15.0, quiet=True) < 0:
        return False
    log.debug(1, "Send the actual command to the other driver instance")
    result = query_socket(path, lambda i: sockproto.instcmd("driver.killpower", tracking_id=i),
                          None, quiet=True)
    if result < 0:
        return False
    log.info(f"Request to killpower via running driver instance returned code {result}")
    return result == 0


def _uuid4() -> str:
    """A random (version 4) UUID in upper case, as C's tracking ids."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex().upper()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
