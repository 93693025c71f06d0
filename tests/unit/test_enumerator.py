"""nut-driver-enumerator's pure parts: ups.conf as C's script reads it, instance names, the
dependencies of a driver's service, and where we deliberately differ from the script."""

import hashlib

from nutpy.ops import enumerator as en


def test_normalize_like_the_script():
    text = ("# comment\n\n  maxretry = 3\n[ups1]   # main one\n\tdriver = usbhid-ups\n"
            '\tport = "auto"\n\tdesc = "two words"\n  nolock\n  bogus words here\n'
            "[a b]\n")
    assert en.normalize(text) == [
        "maxretry=3", "[ups1]", "driver=usbhid-ups", "port=auto", 'desc="two words"',
        "nolock", "[a b]"]
    data = en.normalize(text)
    # "bogus words here" is neither key=value, flag nor section: dropped; "[a b]" is kept
    # but names no device
    assert en.devices(data) == ["ups1"]


def test_sections_and_values():
    data = en.normalize("pollinterval = 5\n[u1]\n driver = dummy-ups\n port = 'x.dev'\n nolock\n"
                        "[u2]\n driver = snmp-ups\n")
    assert en.section(data, "u1") == ["[u1]", "driver=dummy-ups", "port='x.dev'", "nolock"]
    assert en.section(data, "") == ["pollinterval=5"]
    assert en.section(data, "u3") is None
    assert en.value(data, "u1", "port") == "x.dev"
    assert en.value(data, "u1", "nolock") == "nolock"
    assert en.value(data, "u2", "port") is None


def test_section_checksum_is_md5_of_what_echo_prints():
    data = en.normalize("[u1]\n driver = dummy-ups\n port = x.dev\n")
    want = hashlib.md5(b"[u1]\ndriver=dummy-ups\nport=x.dev\n").hexdigest()
    assert en.section_md5(data, "u1") == want
    # an empty global section is an empty echo
    assert en.section_md5(data, "") == hashlib.md5(b"\n").hexdigest()


def test_shell_quirks():
    # /bin/sh's echo expands escapes; read drops backslashes
    assert en.shell_echo(r"a\tb\\c") == "a\tb\\c"
    assert en.shell_echo(r"stop\cafter") == "stop"
    assert en.shell_read_lines("a\\b\nc\\\nd\n") == ["ab", "cd"]


def test_sort_like_sort_n():
    names = ["ups1", "10rack", "2b", "Ups", "1.5x", "-3neg"]
    assert en.sort_names(names) == ["-3neg", "Ups", "ups1", "1.5x", "2b", "10rack"]


def test_instance_names():
    assert en.instance_name("ups1") == "ups1"
    assert en.instance_name("rack-2:ups_a.b") == "rack-2:ups_a.b"
    md5 = hashlib.md5(b"a/b\n").hexdigest()
    assert en.instance_name("a/b") == f"MD5_{md5}"  # systemctl refuses it: C falls back too
    long = "x" * 250
    assert en.instance_name(long) == "MD5_" + hashlib.md5(long.encode() + b"\n").hexdigest()
    # systemctl would escape these (C then cannot find the unit again): MD5 instead
    assert en.instance_name("a b").startswith("MD5_")
    assert en.instance_name("üps").startswith("MD5_")
    assert en.unit_name("ups1") == "nut-driver@ups1.service"


def test_instance_of_keeps_at_signs():
    # C's sed keeps only what follows the last '@'
    assert en.instance_of("nut-driver@rack@2.service") == "rack@2"
    assert en.instance_of("rack@2") == "rack@2"
    assert en.instance_of("ups1.service") == "ups1"


def test_media():
    conf = """
[usb]
 driver = usbhid-ups
 port = auto
[snmp]
 driver = snmp-ups
 port = 10.0.0.1
[qx-serial]
 driver = nutdrv_qx
 port = /dev/ttyS0
[qx-usb]
 driver = nutdrv_qx
 port = /dev/ttyS0
 vendorid = 0665
[relay]
 driver = dummy-ups
 port = usb@localhost
[file]
 driver = dummy-ups
 port = file.dev
[clone]
 driver = clone
 port = usbhid-ups-usb
[apcmb]
 driver = apc_modbus
 port = /dev/ttyS1
"""
    data = en.normalize(conf)
    got = {d: en.media(data, d) for d in en.devices(data)}
    assert got == {"usb": "usb", "snmp": "network", "qx-serial": "serial", "qx-usb": "usb",
                   "relay": "network-localhost,drivers=usb", "file": "",
                   "clone": "drivers=usbhid-ups-usb", "apcmb": "serial"}


def test_dependencies_name_the_other_instance(tmp_path):
    data = en.normalize("[usb]\n driver = usbhid-ups\n port = auto\n"
                        "[clone]\n driver = clone\n port = usbhid-ups-usb\n"
                        "[relay]\n driver = dummy-ups\n port = usb@localhost\n")
    e = en.Enumerator(str(tmp_path / "ups.conf"), en.SelfTest({}))
    assert e.dependencies("clone", data) == ("Wants", "nut-driver@usb.service")
    assert e.dependencies("relay", data) == ("Wants", "network.target nut-driver@usb.service")
    assert e.dependencies("usb", data) == ("Wants", "systemd-udevd.service nut-udev-settle.service")


def test_device_for_service_without_systemd(tmp_path, capsys):
    conf = tmp_path / "ups.conf"
    conf.write_text("[ups@rack]\n driver = dummy-ups\n port = x\n[a b]\n driver = x\n"
                    "[long]\n driver = dummy-ups\n")
    e = en.Enumerator(str(conf), en.SelfTest({}))
    assert e.device_for_service("nut-driver@ups@rack.service") == "ups@rack"
    assert e.device_for_service("long") == "long"
    assert e.device_for_service("nope") is None
    assert "No service instance 'nope' was detected" in capsys.readouterr().err
