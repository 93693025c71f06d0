"""Our nutdrv_qx and blazer_usb on emulated Q1 UPSes behind their USB bridges (the
stand-in libusb-1.0 of tests/support/fakeusb, reached through pyusb as in production):
the bridge chosen from the device's IDs, the UPS's state as it changes, commands reaching
the UPS, and device loss - stale at once, the same device found again however often it
flaps, data served again only after a complete poll, with the device's current status."""

from __future__ import annotations

import random

import pytest

from nutpy.drivers.qx.core import MAXTRIES
from support.fakeusb import FakeUsbBus, Fault, errors, require_fakeusb
from support.fakeusb import megatec as models
from support.qxusb_support import make_driver, megatec_ups, published, pyusb_on, start


@pytest.fixture
def bus(monkeypatch):
    monkeypatch.setattr("nutpy.drivers.usbdev.STRING_RETRY_DELAY", 0)
    require_fakeusb()
    pytest.importorskip("usb.backend.libusb1")
    with FakeUsbBus() as b:
        with pyusb_on(b):
            yield b


# bridges whose exchanges take no waiting (phoenix, sgs, snr and ablerex wait a second or
# half a second per command: tests/diff/test_qxusb_vs_c.py runs them as processes)
FAST = {
    "cypress": {}, "ippon": {}, "krauler": {}, "fabula": {}, "fuji": {}, "phoenixtec": {},
    "armac": {}, "hunnox": {"langid_fix": "0x0409"},
    "gtec": {"subdriver": "gtec", "vendorid": "0665", "productid": "5161"},
}
STATES = [([], "OL"), (["power fail"], "OB"), (["battery low"], "OB LB"),
          (["power ok", "battery ok"], "OL")]


@pytest.mark.parametrize("name", sorted(FAST))
def test_each_bridge_follows_the_ups(bus, name):
    ups = megatec_ups()
    dev = bus.plug(models.MODELS[name](ups=ups))
    driver = make_driver(protocol="megatec", **FAST[name])
    start(driver)
    assert driver.transport.subdriver.name == name
    values = published(driver.state)
    assert values["ups.vendorid"] == f"{dev.vendor_id:04x}"
    assert values["input.voltage"] == "230.0" and values["ups.load"] == "014"[1:]
    assert values["battery.voltage.nominal"] == "24.0"
    assert values["device.mfr"] == "NUTPY" and values["ups.firmware"] == "V1.00"
    assert driver.state.get("driver.version.usb").startswith("libusb-1.0")
    for controls, status in STATES:
        for line in controls:
            ups.control(line)
        driver.update_info()
        assert driver.state.get("ups.status") == status, controls
        assert not driver.state.stale
    assert b"Q1" in dev.commands


def test_commands_reach_the_ups(bus):
    ups = megatec_ups()
    bus.plug(models.KraulerQ1Device(ups=ups))
    driver = make_driver(protocol="megatec", offdelay="30", ondelay="3")
    start(driver)
    assert driver.instcmd("test.battery.start.quick", None) == 0
    assert driver.instcmd("beeper.toggle", None) == 0
    assert driver.instcmd("shutdown.stop", None) == 0
    assert ups.events[:2] == ["test T for 10s", "beeper off"]
    driver.update_info()
    assert "CAL" in driver.state.get("ups.status")
    # fabula codes the shutdown delay into the string index
    ups2 = megatec_ups()
    bus.plug(models.FabulaQ1Device(ups=ups2))
    driver2 = make_driver(protocol="megatec", offdelay="60", product="MEC0003",
                          vendor="MEC")
    start(driver2)
    assert driver2.instcmd("shutdown.return", None) == 0
    assert ups2.commands()[-1] == b"S01\r"
    assert ups2.events[-1].startswith("shutdown S01 in 60s")


def test_blazer_usb_reads_its_bridges(bus):
    for model, name in ((models.CypressQ1Device, "cypress"), (models.IpponQ1Device, "ippon"),
                        (models.KraulerQ1Device, "krauler")):
        ups = megatec_ups()
        dev = bus.plug(model(ups=ups))
        driver = make_driver("blazer_usb", vendorid=f"{dev.vendor_id:04x}",
                             productid=f"{dev.product_id:04x}")
        start(driver)
        assert driver.transport.subdriver.name == name
        assert driver.state.get("ups.status") == "OL"
        ups.control("power fail")
        driver.update_info()
        assert driver.state.get("ups.status") == "OB"
        assert driver.instcmd("test.battery.start.deep", None) == 0
        assert ups.commands()[-1] == b"TL\r"
        driver.cleanup()
        bus.unplug(dev)


# ---- choosing the bridge, settings

def test_settings_that_stop_the_driver(bus, capsys):
    bus.plug(models.CypressQ1Device())
    with pytest.raises(SystemExit):
        make_driver(subdriver="cypress").init_device()
    assert "'vendorid' and 'productid' are mandatory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        make_driver(subdriver="nosuch", vendorid="0665", productid="5161").init_device()
    assert "Subdriver 'nosuch' not found!" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        make_driver(vendorid="(").init_device()
    assert "Invalid regular expression: (" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        make_driver(vendorid="1234").init_device()
    assert "No supported devices found" in capsys.readouterr().err
    # 2.8.5's snr without langid_fix: the language ID -1 fails its range check
    bus.plug(models.SnrQ1Device())
    with pytest.raises(SystemExit):
        make_driver(subdriver="snr", vendorid="0001", productid="0000",
                    protocol="megatec").init_device()
    assert "usb_get_string() args out of range" in capsys.readouterr().err


def test_a_known_device_without_a_bridge(bus, capsys):
    bus.plug(models.CypressQ1Device(0x1A86, 0x7523))  # Ippon Innova TAE: no C subdriver
    with pytest.raises(SystemExit):
        make_driver().init_device()
    assert "No subdriver selected" in capsys.readouterr().err
    driver = make_driver(subdriver="cypress", vendorid="1a86", productid="7523")
    driver.init_device()  # an explicit subdriver takes any matching device
    assert driver.transport.subdriver.name == "cypress"


def test_serial_or_usb_as_c_decides(bus, capsys):
    bus.plug(models.CypressQ1Device())
    driver = make_driver(port="/dev/ttyUSB0", vendorid="0665", protocol="megatec")
    assert driver.is_usb
    driver.init_device()
    err = capsys.readouterr().err
    assert "port='/dev/ttyUSB0' would be ignored, since other options indicate USB mode" in err
    assert 'port argument specified to\n  the driver is "/dev/ttyUSB0"' in err
    # "device" alone does not make it USB (as in C)
    assert not make_driver(port="/dev/ttyUSB0", device="002").is_usb


def test_langid_fix_is_parsed_as_c_does(bus, capsys):
    bus.plug(models.KraulerQ1Device(broken_langid_table=True))
    driver = make_driver(langid_fix="0x4095", protocol="megatec")
    driver.init_device()
    assert driver.usb.opts.langid_fix == 0x4095
    driver.cleanup()
    bad = make_driver(langid_fix="0xZZ", protocol="megatec")
    with pytest.raises(SystemExit):   # the broken language table needs the fix
        bad.init_device()
    assert "Error enabling language ID workaround" in capsys.readouterr().err


# ---- device loss

def published_status(driver):
    return None if driver.state.stale else driver.state.get("ups.status")


def test_unplug_is_stale_at_once_and_replug_shows_the_current_state(bus):
    ups = megatec_ups()
    dev = bus.plug(models.CypressQ1Device(ups=ups))
    driver = make_driver(protocol="megatec")
    start(driver)
    assert published_status(driver) == "OL"
    bus.unplug(dev)
    assert driver.update_info() == 0.5  # looks again soon
    assert driver.state.stale and driver.state.get("driver.state") == "reconnect.trying"
    for _ in range(3):
        driver.update_info()
        assert driver.state.stale
    ups.control("power fail")
    ups.control("battery low")
    bus.replug(dev)
    driver.update_info()
    assert published_status(driver) == "OB LB"
    assert driver.state.get("input.voltage") == "0.0"
    assert driver.state.get("driver.state") == "quiet"


def test_no_data_until_a_whole_poll_after_the_replug(bus):
    ups = megatec_ups()
    dev = bus.plug(models.CypressQ1Device(ups=ups))
    driver = make_driver(protocol="megatec", pollfreq="300")
    start(driver)
    bus.unplug(dev)
    driver.update_info()
    ups.control("fault garbage")
    bus.replug(dev)
    driver.update_info()      # found again, but the UPS does not answer properly yet
    assert driver.state.stale
    assert driver.transport.link is not None
    ups.control("power fail")
    ups.control("fault none")
    driver.update_info()
    assert published_status(driver) == "OB"


def test_io_error_bursts_and_stalls(bus):
    ups = megatec_ups()
    dev = bus.plug(models.CypressQ1Device(ups=ups))
    driver = make_driver(protocol="megatec")
    start(driver)
    # an I/O error drops the handle: stale, then the device is opened again
    opened = len([e for e in dev.events if e.op == "open"])
    bus.inject(dev, Fault("control", errors.IO, count=1))
    driver.update_info()
    assert driver.state.stale and driver.transport.link is None
    driver.update_info()
    assert published_status(driver) == "OL"
    assert len([e for e in dev.events if e.op == "open"]) > opened
    # a stall is cleared and the device kept; that poll failed like a silent one
    bus.inject(dev, Fault("interrupt", errors.PIPE, count=1))
    driver.update_info()
    assert published_status(driver) == "OL"
    assert any(e.op == "clear_halt" for e in dev.events)
    # busy (another program took it): let go, find it again when it is free
    bus.inject(dev, Fault("control", errors.BUSY, count=1))
    driver.update_info()
    assert driver.state.stale and driver.transport.link is None
    driver.update_info()
    assert published_status(driver) == "OL"


def test_a_silent_ups_goes_stale_as_in_c(bus):
    """Timeouts are not device loss: stale on the fifth unanswered poll, as C."""
    dev = bus.plug(models.CypressQ1Device(ups=megatec_ups()))
    driver = make_driver(protocol="megatec", pollfreq="300")
    start(driver)
    # no reply in time (a shorter wait than the real second, same libusb error)
    bus.inject(dev, Fault("interrupt", errors.TIMEOUT, count=None, delay=0.01))
    for _ in range(MAXTRIES + 1):
        driver.update_info()
        assert not driver.state.stale
    driver.update_info()
    assert driver.state.stale and driver.transport.link is not None
    bus.clear_faults(dev)
    driver.update_info()
    assert published_status(driver) == "OL"


def test_the_same_unit_among_identical_ones(bus):
    """Two identical units without serial numbers: after they both flap, the driver reads
    the one on its port again."""
    mine, other = megatec_ups(), megatec_ups()
    other.control("power fail")
    dev_mine = bus.plug(models.CypressQ1Device(ups=mine), ports=(2,))
    dev_other = bus.plug(models.CypressQ1Device(ups=other), ports=(1,))
    driver = make_driver(protocol="megatec", busport="002")
    start(driver)
    assert published_status(driver) == "OL"
    for dev in (dev_mine, dev_other):
        bus.unplug(dev)
    driver.update_info()
    bus.replug(dev_other)
    bus.replug(dev_mine)
    driver.update_info()
    assert published_status(driver) == "OL"


@pytest.mark.parametrize("prog", ["nutdrv_qx", "blazer_usb"])
def test_random_unplug_replug_cycles(bus, prog):
    """100 unplug/replug cycles with power changes and I/O errors at random moments:
    stale whenever the device is away, every status published is the device's own at that
    moment, and after each replug the data comes back with the current state."""
    rng = random.Random(14)
    ups = megatec_ups()
    dev = bus.plug(models.CypressQ1Device(ups=ups))
    driver = make_driver(prog, protocol="megatec",
                         **({"pollfreq": "1000"} if prog == "nutdrv_qx" else {}))
    start(driver)
    state = {"power": False, "low": False}

    def expected():
        return ("OB" if state["power"] else "OL") + (" LB" if state["low"] else "")

    def maybe_change():
        for what, on, off in (("power", "power fail", "power ok"),
                              ("low", "battery low", "battery ok")):
            if rng.random() < 0.3:
                state[what] = not state[what]
                ups.control(on if state[what] else off)

    def poll_and_check():
        driver.update_info()
        status = published_status(driver)
        assert status in (None, expected())
        return status

    for _ in range(100):
        maybe_change()
        for _ in range(rng.randint(0, 2)):
            poll_and_check()
        bus.unplug(dev)
        for _ in range(rng.randint(1, 3)):
            driver.update_info()
            assert driver.state.stale
            maybe_change()
        bus.replug(dev)
        if rng.random() < 0.3:
            bus.inject(dev, Fault("any", errors.IO, count=rng.randint(1, 2)))
        for _ in range(4):
            if poll_and_check() is not None:
                break
        else:
            raise AssertionError("no data after the replug")
        bus.clear_faults(dev)
    # each replug was a new device number the driver opened and claimed again
    assert len([e for e in dev.events if e.op == "claim" and e.status == 0]) > 100
