"""nutpy's usbhid-ups as a running daemon on the emulated APC Back-UPS CS 500 of the device
dump: its driver socket, the interrupt pipe, an instant command, and an unplug during which
the data goes stale at once and comes back with the state the device has after the replug."""

from __future__ import annotations

import subprocess

import pytest

from support.fakeusb import FEATURE, FakeUsbBus, apc_back_ups_cs_500, require_fakeusb
from support.harness import DriverSocket, NutEnv, our_prog

UPS_CONF = """\
pollinterval = 1
[ups]
  driver = usbhid-ups
  port = auto
"""


@pytest.fixture
def setup(tmp_path):
    require_fakeusb()
    pytest.importorskip("usb.backend.libusb1")
    ups = apc_back_ups_cs_500()
    nut = NutEnv(tmp_path)
    nut.write("ups.conf", UPS_CONF)
    with FakeUsbBus() as bus:
        bus.plug(ups, bus_number=ups.ddl.bus_number, address=ups.ddl.address)
        try:
            yield nut, bus, ups
        finally:
            nut.close()


def test_daemon_serves_interrupts_commands_and_survives_replug(setup):
    nut, bus, ups = setup
    log_path = nut.root / "driver.log"
    with open(log_path, "w") as log:
        drv = subprocess.Popen([our_prog("usbhid-ups"), "-a", "ups", "-u", "root", "-D"],
                               env=nut.env(**bus.env(base={})), stdin=subprocess.DEVNULL,
                               stdout=log, stderr=subprocess.STDOUT)
    nut.procs.append(drv)
    nut.wait_socket("usbhid-ups", "ups", timeout=30)
    client = DriverSocket(str(nut.socket_path("usbhid-ups", "ups")))
    try:
        client.send("DUMPALL")
        client.wait(lambda: "DUMPDONE" in client.lines, what="DUMPDONE")
        assert client.values["ups.status"] == "OL"
        assert client.values["battery.charge"] == "100"
        assert "DATAOK" in client.lines
        first = ups.attachment

        on_battery = {0x13: b"\x13\x00", 0x06: b"\x06\x00\x01\x08"}
        for rid, data in on_battery.items():
            ups.set_feature(rid, data)
            ups.set_input(rid, data)
        ups.queue_interrupt(on_battery[0x13])
        client.wait(lambda: client.values["ups.status"] == "OB DISCHRG", what="OB DISCHRG")
        assert any(t.kind == "interrupt" and t.data_in == b"\x13\x00" for t in ups.transfers)

        client.send("INSTCMD test.panel.start")
        bus.wait_for(lambda: ups.set_reports(), 20, what="SET_REPORT")
        assert ups.set_reports() == [(FEATURE, 0x35, b"\x35\x01")]

        bus.unplug(ups)
        client.wait(lambda: "DATASTALE" in client.lines, what="DATASTALE")
        assert client.values["ups.status"] == "OB DISCHRG"  # nothing new published
        for rid, data in {0x13: b"\x13\x01", 0x06: b"\x06\x00\x00\x08"}.items():
            ups.set_feature(rid, data)
            ups.set_input(rid, data)
        bus.replug(ups)
        assert ups.attachment.address != first.address
        stale_at = client.lines.index("DATASTALE")
        client.wait(lambda: "DATAOK" in client.lines[stale_at:], what="DATAOK")
        # the status was published before the data was declared good again
        ok_at = client.lines.index("DATAOK", stale_at)
        assert 'SETINFO ups.status "OL"' in client.lines[stale_at:ok_at]
        assert [h.attachment for h in bus.open_handles(ups)] == [ups.attachment]
        assert drv.poll() is None
    except BaseException:
        print(log_path.read_text()[-6000:])
        raise
    finally:
        client.sock.close()
        nut.stop(drv)
    assert drv.returncode == 0  # SIGTERM: a clean exit


def test_no_device_is_fatal_at_start(tmp_path):
    require_fakeusb()
    pytest.importorskip("usb.backend.libusb1")
    nut = NutEnv(tmp_path)
    nut.write("ups.conf", UPS_CONF)
    with FakeUsbBus() as bus:
        r = nut.run([our_prog("usbhid-ups"), "-a", "ups", "-u", "root", "-F"], timeout=30,
                    **bus.env(base={}))
    assert r.returncode == 1
    assert "No matching HID UPS found" in r.stderr
