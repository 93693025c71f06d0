"""nutpy's usbhid-ups on emulated devices (the stand-in libusb-1.0 of tests/support/fakeusb,
reached through pyusb's libusb1 backend as in production): values and status per vendor
and power state, the exact SET_REPORTs of commands, the interrupt pipe, and recovery from
device loss however often the link flaps."""

from __future__ import annotations

import random

import pytest

from nutpy.drivers.usbhid import hidparser as hp
from support.fakeusb import FEATURE, FakeUsbBus, Fault, errors, require_fakeusb
from support.usbhid_models import MODELS
from support.usbhid_support import make_driver, published, pyusb_on, start


@pytest.fixture
def bus(monkeypatch):
    # C waits 50 ms between string descriptor retries; the emulated device needs no pause
    monkeypatch.setattr("nutpy.drivers.usbdev.STRING_RETRY_DELAY", 0)
    require_fakeusb()
    pytest.importorskip("usb.backend.libusb1")
    with FakeUsbBus() as b:
        with pyusb_on(b):
            yield b


# What each of our vendor-style devices shows per power state (C 2.8.5's status rules, with
# ALARM in front while ups.alarm is set; for Belkin see test_belkin_ac_failure_is_on_battery)
EXPECTED_STATUS = {
    "apc": {"online": "OL CHRG", "on_battery": "OB DISCHRG",
            "low_battery": "ALARM OB DISCHRG LB", "replace_battery": "ALARM OL RB",
            "overload": "OL OVER"},
    "cps": {"online": "OL", "on_battery": "OB DISCHRG", "low_battery": "OB DISCHRG LB",
            "replace_battery": "ALARM OL RB", "overload": "OL OVER"},
    "mge": {"online": "OL CHRG", "on_battery": "OB DISCHRG",
            "low_battery": "ALARM OB DISCHRG LB", "replace_battery": "ALARM OL CHRG RB",
            "overload": "OL CHRG OVER"},
    "tripplite": {"online": "OL", "on_battery": "OB DISCHRG", "low_battery": "OB DISCHRG LB",
                  "replace_battery": "ALARM OL RB", "overload": "OL OVER"},
    "belkin": {"online": "OL", "on_battery": "OB", "low_battery": "OB LB",
               "replace_battery": "ALARM OL RB", "overload": "OL OVER"},
    "liebert": {"online": "OL CHRG", "on_battery": "OB DISCHRG",
                "low_battery": "OB DISCHRG LB", "overload": "OL CHRG OVER"},
    "powercom": {"online": "OL", "on_battery": "OB DISCHRG", "low_battery": "OB DISCHRG LB",
                 "overload": "OL OVER"},
}
ALARMS = {"replace_battery": "Replace battery!", "low_battery": "Shutdown imminent!"}


@pytest.mark.parametrize("key", sorted(MODELS))
def test_status_in_power_states(bus, key):
    model = MODELS[key]()
    bus.plug(model.device())
    driver = make_driver(pollonly=True, pollfreq=0)  # every poll reads everything
    start(driver)
    for name, status in EXPECTED_STATUS[key].items():
        model.state(name)
        driver.update_info()
        assert driver.state.get("ups.status") == status, name
        assert not driver.state.stale
        if status.startswith("ALARM"):
            assert driver.state.get("ups.alarm") == ALARMS[name], name
        else:
            assert driver.state.get("ups.alarm") is None


def test_apc_values_follow_the_device(bus):
    model = MODELS["apc"]()
    bus.plug(model.device())
    driver = make_driver(pollonly=True, pollfreq=0)
    start(driver)
    values = published(driver.state)
    assert values["battery.voltage"] == "27.3"  # 2730 x 10^(5-7)
    assert values["ups.firmware"] == "865.L6 .D" and values["ups.firmware.aux"] == "L6"
    assert values["ups.model"] == "Back-UPS RS 1500G"
    assert values["battery.type"] == "PbAc"
    assert values["ups.timer.shutdown"] == "-1"
    model.state("on_battery")
    driver.update_info()
    assert driver.state.get("battery.charge") == "63"
    assert driver.state.get("battery.runtime") == "1450"
    assert driver.state.get("input.voltage") == "0.0"
    assert driver.state.get("input.transfer.reason") == "input voltage out of range"
    model.state("online")
    driver.update_info()
    assert driver.state.get("input.transfer.reason") is None


def test_settings_and_commands_as_the_device_sees_them(bus):
    model = MODELS["apc"]()
    dev = bus.plug(model.device())
    driver = make_driver(pollonly=True, ondelay=40, offdelay=25, lowbatt=15)
    start(driver)
    state = driver.state
    assert (state.get("ups.delay.start"), state.get("ups.delay.shutdown")) == ("40", "25")
    assert state.get("battery.charge.low") == "15"  # shown, not written (as C)
    for cmd in ("beeper.disable", "beeper.enable", "beeper.mute", "load.off", "load.on",
                "shutdown.return", "shutdown.stayoff", "shutdown.stop",
                "test.battery.start.quick", "load.off.delay"):
        assert state.has_command(cmd), cmd
    assert driver.instcmd("beeper.disable", None) == 0
    assert driver.instcmd("beeper.on", None) == 0  # old name of beeper.enable
    assert driver.instcmd("test.battery.start.deep", None) == 0
    assert dev.set_reports() == [(FEATURE, 0x18, b"\x18\x01"), (FEATURE, 0x18, b"\x18\x02"),
                                 (FEATURE, 0x52, b"\x52\x02")]
    dev.transfers.clear()
    # shutdown.return: start after ups.delay.start, then cut after ups.delay.shutdown
    assert driver.instcmd("shutdown.return", None) == 0
    assert dev.set_reports() == [(FEATURE, 0x17, b"\x17\x28\x00"), (FEATURE, 0x15, b"\x15\x19\x00")]
    dev.transfers.clear()
    assert driver.instcmd("shutdown.stop", None) == 0  # -1
    assert driver.instcmd("load.off.delay", "5") == 0
    assert dev.set_reports() == [(FEATURE, 0x15, b"\x15\xff\xff"), (FEATURE, 0x15, b"\x15\x05\x00")]
    dev.transfers.clear()
    assert driver.set_var("input.transfer.low", "180") == 0
    assert driver.set_var("ups.delay.shutdown", "60") == 0  # the driver's own: no USB
    assert driver.set_var("battery.charge", "50") == 1  # not writable: UNKNOWN
    assert driver.instcmd("no.such.command", None) == 2  # INVALID
    assert dev.set_reports() == [(FEATURE, 0x32, b"\x32\xb4\x00")]
    assert state.get("ups.delay.shutdown") == "60"


def test_forced_shutdown_sequence(bus):
    model = MODELS["cps"]()
    dev = bus.plug(model.device())
    driver = make_driver(pollonly=True)
    driver.init_device()
    # -k runs before init_info in our core: the driver maps the device itself first
    assert driver.shutdown() == 0
    # CyberPower: no shutdown.return item, so load.on.delay 120 then load.off.delay 60
    assert dev.set_reports() == [(FEATURE, 0x16, b"\x16\x78\x00"),
                                 (FEATURE, 0x15, b"\x15\x3c\x00")]


def test_interrupt_reports_update_the_status(bus):
    model = MODELS["apc"]()
    dev = bus.plug(model.device())
    driver = make_driver(pollfreq=3600)
    dev.queue_interrupt(model.hid.report(0x16, 0x80))  # one event at start-up
    start(driver)
    assert driver.state.get("ups.status") == "OL CHRG"
    model.state("on_battery")
    dev.queue_interrupt(model.hid.report(0x16, 0x80))
    driver.update_info()
    assert driver.state.get("ups.status") == "OB DISCHRG"


def test_belkin_ac_failure_is_on_battery(bus):
    """C since 2.8.3 reads Belkin's "AC failure" bit as "not online" without "offline", and
    then publishes neither OL nor OB; we publish OB."""
    model = MODELS["belkin"]()
    bus.plug(model.device())
    driver = make_driver(pollonly=True, pollfreq=0)
    start(driver)
    model.state("on_battery")
    driver.update_info()
    assert driver.state.get("ups.status") == "OB"


def test_unplug_goes_stale_at_once_and_replug_serves_the_current_state(bus):
    model = MODELS["apc"]()
    dev = bus.plug(model.device(), bus_number=2, ports=(1, 4))
    driver = make_driver(pollonly=True)
    start(driver)
    assert not driver.state.stale
    bus.unplug(dev)
    driver.update_info()
    assert driver.state.stale  # at the first failed read, not after a reconnect attempt
    assert driver.state.get("driver.state") == "reconnect.trying"
    driver.update_info()
    assert driver.state.stale
    model.state("low_battery")  # what happened while it was away
    bus.replug(dev)
    driver.update_info()
    assert not driver.state.stale
    assert driver.state.get("ups.status") == "ALARM OB DISCHRG LB"
    assert driver.state.get("battery.charge") == "8"
    assert driver.state.get("ups.alarm") == "Shutdown imminent!"


def test_same_device_found_again_by_serial_among_others(bus):
    model = MODELS["apc"]()
    dev = bus.plug(model.device(), bus_number=1, ports=(1,))
    driver = make_driver(pollonly=True)
    start(driver)
    bus.unplug(dev)
    driver.update_info()
    # another unit of the same model appears first, then ours on another port
    other = MODELS["apc"]()
    other.serial = "9Z9999Z99999"
    other.state("on_battery", push=False)
    bus.plug(other.device(), bus_number=1, ports=(1,))
    bus.plug(dev, bus_number=3, ports=(2,))
    driver.update_info()
    assert not driver.state.stale
    assert driver.state.get("ups.serial") == "4B1234P56789"
    assert driver.state.get("ups.status") == "OL CHRG"


def test_same_place_preferred_without_serial(bus):
    a, b = MODELS["cps"](), MODELS["cps"]()
    a.serial = b.serial = None
    b.state("on_battery", push=False)
    dev_a = bus.plug(a.device(), bus_number=1, ports=(3,))
    driver = make_driver(pollonly=True)
    start(driver)
    bus.unplug(dev_a)
    driver.update_info()
    bus.plug(b.device(), bus_number=1, ports=(1,))  # enumerated first
    bus.replug(dev_a)
    driver.update_info()
    assert driver.state.get("ups.status") == "OL"  # ours, back on port 3


def test_io_error_bursts_keep_data_until_all_reads_fail(bus):
    model = MODELS["apc"]()
    dev = bus.plug(model.device())
    driver = make_driver(pollonly=True, pollfreq=0)
    start(driver)
    # one report failing: that value is skipped, the rest is served
    bus.inject(dev, Fault("control", errors.IO, count=1,
                          match=lambda r: r.value == 0x0331))
    driver.update_info()
    assert not driver.state.stale
    # every read failing: the device is as good as gone
    bus.inject(dev, Fault("control", errors.IO, count=None))
    driver.update_info()
    assert driver.state.stale
    bus.clear_faults(dev)
    driver.update_info()
    assert not driver.state.stale


def test_no_status_from_a_half_read_device_after_replug(bus):
    model = MODELS["apc"]()
    dev = bus.plug(model.device())
    driver = make_driver(pollonly=True)
    start(driver)
    bus.unplug(dev)
    driver.update_info()
    bus.replug(dev)
    # the status report fails while the rest answers: nothing is served yet
    fault = bus.inject(dev, Fault("control", errors.IO, count=None,
                                  match=lambda r: r.value == 0x0316))
    driver.update_info()
    assert driver.state.stale
    bus.clear_faults(dev)
    del fault
    driver.update_info()
    assert not driver.state.stale and driver.state.get("ups.status") == "OL CHRG"


def test_recovers_from_100_random_flaps_without_stale_or_false_state(bus):
    rng = random.Random(1780)
    model = MODELS["apc"]()
    dev = bus.plug(model.device(), bus_number=1, ports=(2,))
    driver = make_driver(pollonly=True)
    start(driver)
    statuses = {name: EXPECTED_STATUS["apc"][name] for name in ("online", "on_battery")}
    current = "online"
    seen: list[tuple[str, str]] = []  # (device state, status published while ok)
    for cycle in range(100):
        bus.unplug(dev)
        for _ in range(rng.randint(0, 2)):  # polls while away
            driver.update_info()
            assert driver.state.stale
        if rng.random() < 0.5:
            current = rng.choice(sorted(statuses))
            model.state(current)
        kind = rng.random()
        if kind < 0.3:
            bus.replug(dev, address=rng.randint(2, 120))
        elif kind < 0.4:
            bus.replug(dev, ports=(rng.randint(1, 4),))
        else:
            bus.replug(dev)
        if rng.random() < 0.2:  # an I/O error burst right after it comes back
            bus.inject(dev, Fault("control", errors.IO, count=rng.randint(1, 40)))
        for _ in range(50):
            driver.update_info()
            if not driver.state.stale:
                break
        assert not driver.state.stale, f"cycle {cycle}: no recovery"
        bus.clear_faults(dev)
        status = driver.state.get("ups.status")
        seen.append((current, status))
        assert status == statuses[current], f"cycle {cycle}"
        assert driver.state.get("battery.charge") == ("97" if current == "online" else "63")
    assert len(seen) == 100
    assert len(bus.open_handles(dev)) == 1  # no handle left behind from the flaps


def test_published_status_never_lies_during_flaps(bus):
    """Every ups.status announced (SETINFO) while the link flaps is the device's state."""
    rng = random.Random(2742)
    model = MODELS["apc"]()
    dev = bus.plug(model.device())
    driver = make_driver(pollonly=True)
    announced: list[bytes] = []
    driver.state.emit = announced.append
    start(driver)
    for _ in range(30):
        if rng.random() < 0.5:
            bus.unplug(dev)
        else:
            bus.inject(dev, Fault("control", errors.IO, count=rng.randint(1, 6)))
        driver.update_info()
        if dev.attachment is None:
            bus.replug(dev)
        for _ in range(10):
            driver.update_info()
        bus.clear_faults(dev)
    statuses = {line for line in announced if line.startswith(b"SETINFO ups.status ")}
    assert statuses == {b'SETINFO ups.status "OL CHRG"\n'}


def test_parser_sees_the_models_as_the_driver_does():
    # the descriptors of our models parse with every field at the offset the builder chose
    for key, make in sorted(MODELS.items()):
        model = make()
        desc = hp.parse(model.descriptor)
        for (rid, kind), entries in model.hid.layout.items():
            fields = [f for f in desc.fields if f.report_id == rid and f.kind == kind]
            assert [f.offset for f in fields] == [off for _, off in entries], key


def test_driver_side_settings_survive_a_replug(bus):
    model = MODELS["apc"]()
    dev = bus.plug(model.device())
    driver = make_driver(pollonly=True, offdelay=45)
    start(driver)
    assert driver.set_var("ups.delay.start", "90") == 0
    bus.unplug(dev)
    driver.update_info()
    bus.replug(dev)
    driver.update_info()
    assert not driver.state.stale
    # C's reconnection reads these from its table defaults again (30 and 20)
    assert driver.state.get("ups.delay.start") == "90"
    assert driver.state.get("ups.delay.shutdown") == "45"
    dev.transfers.clear()
    assert driver.instcmd("shutdown.return", None) == 0
    assert dev.set_reports() == [(FEATURE, 0x17, b"\x17\x5a\x00"), (FEATURE, 0x15, b"\x15\x2d\x00")]


def test_new_descriptor_after_replug_is_mapped_anew(bus):
    model = MODELS["apc"]()
    dev = bus.plug(model.device())
    driver = make_driver(pollonly=True)
    start(driver)
    assert driver.state.get("ups.load") == "23.0"
    bus.unplug(dev)
    driver.update_info()
    # "new firmware": the same unit, without the Output collection, its reports renumbered
    newer = MODELS["apc"]()
    newer.hid.fields[:] = [f for f in newer.hid.fields if not f.path.startswith("UPS.Output")]
    for f in newer.hid.fields:
        f.report_id += 0x40
    newer.hid.__post_init__()
    bus.plug(newer.device(), bus_number=dev.last_attachment.bus_number,
             ports=dev.last_attachment.ports)
    driver.update_info()
    assert not driver.state.stale
    assert driver.state.get("ups.load") is None
    assert driver.state.get("battery.charge") == "97"
    assert driver.state.get("ups.status") == "OL CHRG"
    assert driver.instcmd("beeper.disable", None) == 0
    assert newer.dev.set_reports() == [(FEATURE, 0x58, b"\x58\x01")]


def test_interrupt_silence_tolerance_reconnects(bus):
    model = MODELS["apc"]()
    bus.plug(model.device())
    driver = make_driver(interrupt_pipe_no_events_tolerance=0)
    driver.init_device()
    driver.init_info()
    bus.inject(model.dev, Fault("interrupt", errors.TIMEOUT, count=None, delay=0))
    driver.update_info()  # no event: more than the tolerance of 0
    assert driver.state.stale
    bus.clear_faults(model.dev)
    model.dev.queue_interrupt(model.hid.report(0x16, 0x80))
    driver.update_info()
    assert not driver.state.stale


def test_matching_options(bus, capsys):
    apc, cps = MODELS["apc"](), MODELS["cps"]()
    bus.plug(apc.device())
    bus.plug(cps.device())
    for settings, mfr in (({"vendorid": "0764"}, "CPS"),
                          ({"vendor": "american.*", "serial": "4b1234p56789"}, None),
                          ({"product": "CP1500.*"}, "CPS"),
                          ({"productid": "050[0-9]"}, "CPS")):
        driver = make_driver(pollonly=True, **settings)
        driver.init_device()
        assert driver.state.get("ups.mfr") == (mfr or "American Power Conversion"), settings
        driver.cleanup()
    with pytest.raises(SystemExit):
        make_driver(vendor="Nobody").init_device()
    assert "No matching HID UPS found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        make_driver(product="(unclosed").init_device()
    assert "invalid regular expression: (unclosed" in capsys.readouterr().err


def test_subdriver_setting(bus, capsys):
    bus.plug(MODELS["apc"]().device())
    driver = make_driver(pollonly=True, subdriver="explore", vendorid="051d", productid="0002")
    start(driver)
    assert driver.state.get("driver.version.data") == "EXPLORE HID 0.2"
    assert driver.state.get("battery.charge") is None  # explore maps nothing
    with pytest.raises(SystemExit):
        make_driver(subdriver="apc").init_device()
    assert "'vendorid' and 'productid' are mandatory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        make_driver(subdriver="nonesuch", vendorid="051d", productid="0002").init_device()
    assert "Configuration requested subdriver 'nonesuch' but none matched" in \
        capsys.readouterr().err
