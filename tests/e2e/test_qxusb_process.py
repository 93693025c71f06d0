"""Our nutdrv_qx and blazer_usb as daemons on an emulated USB Q1 UPS, through their
sockets: the USB device pulled and put back while they run (stale within the poll, data
again with the state the UPS has now), and the help text."""

from __future__ import annotations

import subprocess

import pytest

from nutpy.sim.q1 import Q1Ups
from support.fakeusb import FakeUsbBus, require_fakeusb
from support.fakeusb.megatec import CypressQ1Device, KraulerQ1Device
from support.harness import NutEnv, our_prog
from support.serial_sim import DriverProcess


@pytest.mark.parametrize("prog,model", [("nutdrv_qx", CypressQ1Device),
                                        ("blazer_usb", KraulerQ1Device)])
def test_replug_under_a_running_driver(tmp_path, prog, model):
    require_fakeusb()
    pytest.importorskip("usb.backend.libusb1")
    nut = NutEnv(tmp_path)
    ups = Q1Ups("megatec")
    try:
        with FakeUsbBus() as bus:
            dev = bus.plug(model(ups=ups))
            nut.write("ups.conf", f"[ups]\n  driver = {prog}\n  port = auto\n"
                                  "  protocol = megatec\n")
            proc = nut.start([our_prog(prog), "-a", "ups", "-u", "root", "-F", "-i", "1"],
                             **bus.env(base={}))
            drv = DriverProcess(proc, nut.socket_path(prog, "ups"))
            drv.wait_listening(60)
            assert proc.poll() is None
            drv.wait_values({"ups.status": "OL"}, timeout=30)
            for _ in range(2):
                bus.unplug(dev)
                drv.wait_stale(True, timeout=30)
                ups.control("power fail")
                bus.replug(dev)
                drv.wait_values({"ups.status": "OB", "input.voltage": "0.0"}, timeout=30)
                ups.control("power ok")
                drv.wait_values({"ups.status": "OL"}, timeout=30)
            assert proc.poll() is None
            err = drv.stop()
            assert "Traceback" not in err
    finally:
        nut.close()


@pytest.mark.parametrize("prog,names", [
    ("nutdrv_qx", ["cypress", "phoenixtec", "phoenix", "ippon", "krauler", "fabula", "hunnox",
                   "fuji", "sgs", "snr", "ablerex", "armac", "gtec"]),
    ("blazer_usb", ["cypress", "phoenix", "ippon", "krauler"])])
def test_help_lists_the_usb_subdrivers(prog, names):
    out = subprocess.run([our_prog(prog), "-h"], capture_output=True, text=True,
                         timeout=30).stdout
    listed = out.split("'subdriver' via -x or ups.conf in this driver:\n", 1)[1]
    assert [line.strip() for line in listed.splitlines()[:len(names)]] == names
    for setting in ("vendorid", "productid", "vendor", "product", "serial", "bus", "device",
                    "busport", "subdriver", "langid_fix", "allow_duplicates"):
        assert f"-x {setting}" in out
    assert ("-x noscanlangid" in out) == (prog == "nutdrv_qx")
