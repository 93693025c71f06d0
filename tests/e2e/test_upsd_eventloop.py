"""upsd on either event loop (nutpy.common.eventloop): uvloop by default, the standard loop with
NUTPY_EVENT_LOOP=asyncio. Both must give the same replies, byte for byte, including the
paths that touch the loop most: pipelining, a client that half-closes, an idle client
while another is served, and a reply cache hit after the driver changes a value."""

from __future__ import annotations

import importlib.util
import socket
import time

import pytest

from support.harness import dump_complete, our_prog, wait_for
from support.upsd_support import LineClient

DEV = "ups.status: OL\nbattery.charge: 100\nups.mfr: Acme\n"
SCRIPT = (b"GET VAR ups ups.status\nLIST VAR ups\nGET VAR ups nope\n"
          b"GET VAR ups ups.status\nBOGUS\nSTARTTLS\nGET VAR ups battery.charge\n")


def start(nutenv, loop: str):
    nutenv.write("ups.conf", "[ups]\n  driver = dummy-ups\n  port = ups.dev\n")
    nutenv.write("upsd.conf", f"LISTEN 127.0.0.1 {nutenv.port}\n")
    nutenv.write("upsd.users", "")
    (nutenv.etc / "ups.dev").write_text(DEV)
    nutenv.start([our_prog("dummy-ups"), "-a", "ups", "-u", "root", "-F"])
    nutenv.wait_socket("dummy-ups", "ups")
    upsd = nutenv.start([our_prog("upsd"), "-F", "-D", "-u", "root"], NUTPY_EVENT_LOOP=loop)
    nutenv.wait_port()

    def served() -> bool:
        c = LineClient(nutenv.port)
        try:
            c.send("GET VAR ups ups.status\n")
            return dump_complete(c.read_lines(1)[0])
        finally:
            c.sock.close()

    wait_for(served, 15, what="upsd serving ups")
    return upsd


def exchange(port: int) -> bytes:
    idle = socket.create_connection(("127.0.0.1", port))  # holds a slot, says nothing
    try:
        c = LineClient(port)
        c.send(SCRIPT)
        out = c.read_quiet()
        c.send(b"GET VAR ups ups.mfr\n")
        c.sock.shutdown(socket.SHUT_WR)  # half-closed: the reply must still come
        out += c.read_quiet()
        c.sock.close()
        return out
    finally:
        idle.close()


@pytest.fixture(scope="module")
def replies(tmp_path_factory):
    """What the standard loop answers: the reference for uvloop."""
    from support.harness import NutEnv

    env = NutEnv(tmp_path_factory.mktemp("loop-asyncio"))
    try:
        start(env, "asyncio")
        yield exchange(env.port)
    finally:
        env.close()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_same_replies_on_each_loop(nutenv, replies, loop):
    if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        pytest.skip("uvloop not installed (pip install uvloop; it is a nutpy dependency)")
    upsd = start(nutenv, loop)
    assert exchange(nutenv.port) == replies
    assert b"END LIST VAR ups\nERR VAR-NOT-SUPPORTED\n" in replies
    assert replies.endswith(b'ERR UNKNOWN-COMMAND\nERR FEATURE-NOT-CONFIGURED\n'
                            b'VAR ups battery.charge "100"\nVAR ups ups.mfr "Acme"\n')
    # the cache must not hide a change the driver pushes
    (nutenv.etc / "ups.dev").write_text(DEV.replace("OL", "OB"))
    c = LineClient(nutenv.port)

    def changed() -> bool:
        c.send("GET VAR ups ups.status\n")
        return c.read_lines(1)[0] == b'VAR ups ups.status "OB"\n'

    wait_for(changed, 20, what="ups.status OB through upsd")
    c.sock.close()
    nutenv.stop(upsd)
    assert f"event loop: {loop}" in upsd.stderr.read().decode()


def test_unknown_loop_is_a_start_up_error(nutenv):
    nutenv.write("ups.conf", "[ups]\n  driver = dummy-ups\n  port = x.dev\n")
    nutenv.write("upsd.conf", f"LISTEN 127.0.0.1 {nutenv.port}\n")
    nutenv.write("upsd.users", "")
    r = nutenv.run([our_prog("upsd"), "-F", "-u", "root"], NUTPY_EVENT_LOOP="trio")
    assert r.returncode != 0
    assert "NUTPY_EVENT_LOOP='trio': expected asyncio or uvloop" in r.stderr


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_driver_started_after_upsd(nutenv, loop):
    """A failed connect to a driver's socket must leave nothing behind: uvloop creates
    the protocol object before connecting, and a link registered then never came up."""
    if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        pytest.skip("uvloop not installed (pip install uvloop; it is a nutpy dependency)")
    nutenv.write("ups.conf", "[ups]\n  driver = dummy-ups\n  port = ups.dev\n")
    nutenv.write("upsd.conf", f"LISTEN 127.0.0.1 {nutenv.port}\n")
    nutenv.write("upsd.users", "")
    (nutenv.etc / "ups.dev").write_text(DEV)
    nutenv.start([our_prog("upsd"), "-F", "-u", "root"], NUTPY_EVENT_LOOP=loop)
    nutenv.wait_port()
    c = LineClient(nutenv.port)
    c.send("GET VAR ups ups.status\n")
    assert c.read_lines(1) == [b"ERR DRIVER-NOT-CONNECTED\n"]
    time.sleep(2.5)  # at least two failed reconnects (one per second)
    nutenv.start([our_prog("dummy-ups"), "-a", "ups", "-u", "root", "-F"])

    def served() -> bool:
        c.send("GET VAR ups ups.status\n")
        return c.read_lines(1)[0] == b'VAR ups ups.status "OL"\n'

    wait_for(served, 15, what="upsd connected to the late driver")
    c.sock.close()
