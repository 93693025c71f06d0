"""Debian's C blazer_usb and nutdrv_qx on an emulated Megatec Q1 UPS (Cypress transport):
a non-HID protocol on the emulated bus, modelled with a control-request handler and the
interrupt queue. The exact bytes the C drivers send are what our Q1 USB drivers must send."""

from __future__ import annotations

import pytest

from support.fakeusb import FakeUsbBus, require_fakeusb
from support.fakeusb.megatec import CypressQ1Device
from support.harness import NutEnv, c_prog, require_c_nut

pytestmark = pytest.mark.interop


@pytest.fixture
def q1(tmp_path):
    require_c_nut()
    require_fakeusb()
    nut = NutEnv(tmp_path)
    with FakeUsbBus() as bus:
        ups = bus.plug(CypressQ1Device())
        try:
            yield nut, bus, ups
        finally:
            nut.close()


def dump(nut: NutEnv, bus: FakeUsbBus, driver: str) -> dict[str, str]:
    nut.write("ups.conf", f"[ups]\n  driver = {driver}\n  port = auto\n")
    r = nut.run([c_prog(driver), "-a", "ups", "-u", "root", "-d", "1"], timeout=60,
                **bus.env(base={}))
    assert r.returncode == 0, r.stderr[-2000:]
    return dict(line.split(": ", 1) for line in r.stdout.splitlines() if ": " in line)


@pytest.mark.parametrize("driver", ["blazer_usb", "nutdrv_qx"])
def test_q1_status_reaches_the_c_drivers(q1, driver):
    nut, bus, ups = q1
    values = dump(nut, bus, driver)
    assert values["ups.status"] == "OL"
    assert (values["input.voltage"], values["ups.load"], values["ups.temperature"]) == (
        "230.0", "13", "25.0")
    assert values["ups.vendorid"] == "0665" and values["ups.productid"] == "5161"
    assert b"Q1" in ups.commands


def test_blazer_usb_shutdown_bytes(q1):
    nut, bus, ups = q1
    nut.write("ups.conf", "[ups]\n  driver = blazer_usb\n  port = auto\n")
    r = nut.run([c_prog("blazer_usb"), "-a", "ups", "-u", "root", "-k"], timeout=60,
                **bus.env(base={}))
    assert r.returncode == 0, r.stderr[-2000:]
    # cancel any pending shutdown, then shut down in .5 minute and restart 3 minutes later,
    # each sent as 8-byte SET_REPORTs padded with NULs
    assert ups.commands == [b"C", b"S.5R0003"]
    assert [t.data_out for t in ups.control_transfers(0x21, 0x09)] == [
        b"C\r\0\0\0\0\0\0", b"S.5R0003", b"\r\0\0\0\0\0\0\0"]
