"""LOGOUT and C's 512-byte reads, against C upsd 2.8.0 (found by the upsd_connection fuzz
target): C handles a connection's input 512 bytes at a time and closes after a chunk whose
last request was LOGOUT, even when more requests follow in the same write; a request after
LOGOUT inside the same 512 bytes keeps the connection open."""

from __future__ import annotations

import socket
import time

import pytest

from support.harness import require_c_nut
from support.upsd_support import Stack, normalize

pytestmark = pytest.mark.interop

POLL = b"GET VAR zeta ups.status\n"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require_c_nut()
    s = Stack(tmp_path_factory.mktemp("upsd-logout"))
    yield s
    s.close()


def one_write(port: int, data: bytes) -> tuple[bytes, bool]:
    """Send ``data`` in one write; what came back within 2 s and whether the server closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        out = b""
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except (TimeoutError, OSError):
                return out, False
            if not chunk:
                return out, True
            out += chunk
        return out, False


def _logout_at(boundary_tail: bytes) -> bytes:
    head = POLL * 20
    head += b"X" * (512 - len(head) - len(b"LOGOUT\n") - 1) + b"\n" + b"LOGOUT\n"
    assert len(head) == 512
    return head + boundary_tail


@pytest.mark.parametrize("data", [
    _logout_at(b"HELP\nVER\n"),                  # LOGOUT ends the read C took: closed
    b"LOGOUT\nHELP\n" + POLL * 30,              # a request after it in the same 512 bytes
    POLL * 10 + b"LOGOUT\n",                    # LOGOUT last: closed
], ids=["logout-ends-512", "logout-then-more", "logout-last"])
def test_logout_within_one_write(stack, data):
    c_out, c_closed = one_write(stack.c_port, data)
    our_out, our_closed = one_write(stack.our_port, data)
    assert (normalize(our_out), our_closed) == (normalize(c_out), c_closed)
