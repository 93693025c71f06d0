"""Debian's C usbhid-ups on the emulated APC Back-UPS CS 500: the stand-in libusb-1.0 feeds
the real driver, which publishes what the real device made it publish (the DDL dump), reads
the interrupt pipe, sends the exact SET_REPORTs of its commands, and reconnects after an
unplug. This is what qualifies the emulation to judge our own usbhid-ups."""

from __future__ import annotations

import subprocess

import pytest

from support.fakeusb import FEATURE, FakeUsbBus, apc_back_ups_cs_500, require_fakeusb
from support.harness import DriverSocket, NutEnv, c_prog, require_c_nut

pytestmark = pytest.mark.interop

# As in the dump (its driver.parameter.* values): the defaults but for the port.
UPS_CONF = """\
[ups]
  driver = usbhid-ups
  port = auto
"""


@pytest.fixture
def setup(tmp_path):
    require_c_nut()
    require_fakeusb()
    ups = apc_back_ups_cs_500()
    nut = NutEnv(tmp_path)
    nut.write("ups.conf", UPS_CONF)
    with FakeUsbBus() as bus:
        bus.plug(ups, bus_number=ups.ddl.bus_number, address=ups.ddl.address)
        try:
            yield nut, bus, ups
        finally:
            nut.close()


def driver_env(nut: NutEnv, bus: FakeUsbBus) -> dict[str, str]:
    return nut.env(**bus.env(base={}))


def comparable(values: dict[str, str]) -> dict[str, str]:
    """Variables both runs must agree on: not the driver's build or state."""
    return {k: v for k, v in values.items()
            if not k.startswith("driver.version") and k != "driver.state"}


def test_dump_mode_publishes_what_the_real_device_gave(setup):
    nut, bus, ups = setup
    r = nut.run([c_prog("usbhid-ups"), "-a", "ups", "-u", "root", "-d", "1", "-DDD"],
                timeout=60, **bus.env(base={}))
    assert r.returncode == 0, r.stderr[-2000:]
    published = dict(line.split(": ", 1) for line in r.stdout.splitlines() if ": " in line)
    assert comparable(published) == comparable(ups.ddl.values)
    # the HID descriptor came both ways: on GET_DESCRIPTOR and in the configuration's
    # interface "extra" bytes (libusb_get_config_descriptor)
    assert "HID descriptor length (method 1) 374" in r.stderr
    assert "HID descriptor length (method 2) 374" in r.stderr
    # it read reports only: no SET_REPORT, no interface left claimed
    assert ups.set_reports() == []
    assert [e.op for e in ups.events].count("close") == 1
    assert bus.open_handles(ups) == []


def test_forced_shutdown_sends_the_exact_report(setup):
    nut, bus, ups = setup
    r = nut.run([c_prog("usbhid-ups"), "-a", "ups", "-u", "root", "-k"], timeout=60,
                **bus.env(base={}))
    assert r.returncode == 0, r.stderr[-2000:]
    # APC's shutdown.reboot: UPS.APCGeneralCollection.APCDelayBeforeReboot = 10
    assert ups.set_reports() == [(FEATURE, 0x40, b"\x40\x0a")]


def test_running_driver_interrupts_commands_and_replug(setup):
    nut, bus, ups = setup
    nut.write("ups.conf", "pollinterval = 1\n" + UPS_CONF)
    log_path = nut.root / "driver.log"
    with open(log_path, "w") as log:
        # debug output to a file: a pipe nobody reads would fill up and stall the driver
        drv = subprocess.Popen([c_prog("usbhid-ups"), "-a", "ups", "-u", "root", "-D"],
                               env=driver_env(nut, bus), stdin=subprocess.DEVNULL,
                               stdout=log, stderr=subprocess.STDOUT)
    nut.procs.append(drv)
    nut.wait_socket("usbhid-ups", "ups", timeout=30)
    client = DriverSocket(str(nut.socket_path("usbhid-ups", "ups")))
    try:
        client.send("DUMPALL")
        client.wait(lambda: "DUMPDONE" in client.lines, what="DUMPDONE")
        assert client.values["ups.status"] == "OL"
        first = ups.attachment

        # The power fails: the device says so on its interrupt pipe and in its reports.
        on_battery = {0x13: b"\x13\x00", 0x06: b"\x06\x00\x01\x08"}
        for rid, data in on_battery.items():
            ups.set_feature(rid, data)
            ups.set_input(rid, data)
        ups.queue_interrupt(on_battery[0x13])
        client.wait(lambda: "OB" in client.values["ups.status"].split(), what="OB")
        assert any(t.kind == "interrupt" and t.data_in == b"\x13\x00" for t in ups.transfers)

        # An instant command through the driver socket reaches the device as one report.
        client.send("INSTCMD test.panel.start")
        bus.wait_for(lambda: ups.set_reports(), 20, what="SET_REPORT")
        assert ups.set_reports() == [(FEATURE, 0x35, b"\x35\x01")]

        # Unplugged: the driver marks its data stale...
        bus.unplug(ups)
        client.wait(lambda: "DATASTALE" in client.lines, what="DATASTALE")
        # ...power comes back meanwhile, and the device returns with a new device number.
        for rid, data in {0x13: b"\x13\x01", 0x06: b"\x06\x00\x00\x08"}.items():
            ups.set_feature(rid, data)
            ups.set_input(rid, data)
        bus.replug(ups)
        assert ups.attachment.address != first.address
        client.wait(lambda: "DATAOK" in client.lines[client.lines.index("DATASTALE"):],
                    what="DATAOK")
        client.wait(lambda: client.values["ups.status"] == "OL", what="OL after replug")
        reopened = [e for e in ups.events if e.op == "open" and e.status == 0]
        assert len(reopened) >= 2
        assert [h.attachment for h in bus.open_handles(ups)] == [ups.attachment]
        assert drv.poll() is None            # it lived through it all
    except BaseException:
        print(log_path.read_text()[-6000:])
        raise
    finally:
        client.close()
        nut.stop(drv)   # a foreground 2.8.0 driver has no SIGTERM handler: it just dies
