"""nut-driver-enumerator against Debian's nut-driver-enumerator.sh (2.8.0) for the same
ups.conf: the same services registered, the same answers to every query, checksums each
accepts from the other, the same reaction to an edited ups.conf.

The script calls /bin/systemctl by absolute path, so it runs from a copy pointing at the
fake systemctl (tests/support/fake_systemctl.py); ours finds it through SYSTEMCTL."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support import fake_systemctl
from support.harness import our_prog, require

pytestmark = pytest.mark.interop

C_SCRIPT = Path("/usr/libexec/nut-driver-enumerator.sh")
LONG = "L" * 250  # too long for a unit name: both fall back to MD5_<md5>

UPS_CONF = f"""\
# global part
maxretry = 3
  driverpath = "/lib/nut"
[ups1]
\tdriver = usbhid-ups
\tport = auto
\tdesc = "Main UPS"   # comment
[10rack]
  driver=snmp-ups
  port = 10.0.0.5
[2b] # second
 driver = dummy-ups
 port = ups1@localhost
[ups.x]
 driver = dummy-ups
 port = x.dev
 nolock
[Ups:y]
 driver = blazer_ser
 port = /dev/ttyS0
[u_z]
 driver = nutdrv_qx
 port = /dev/ttyUSB0
 vendorid = 0665
[{LONG}]
 driver = dummy-ups
 port = l.dev
"""


class Side:
    """One enumerator with its own fake systemctl and systemd config directory, under
    ``root`` (copy the directory for an independent copy: ``copy``)."""

    def __init__(self, root: Path, conf: Path, c: bool) -> None:
        self.root, self.conf, self.c = root, conf, c
        self.systemctl = root / "systemctl"
        self.state = root / "systemctl-state.json"
        self.confdir = root / "systemd"
        if not self.systemctl.exists():
            fake_systemctl.install(root)
            self.confdir.mkdir()
        if c:
            # the script calls /bin/systemctl by absolute path
            self.prog = root / "nut-driver-enumerator.sh"
            self.prog.write_text(C_SCRIPT.read_text().replace("/bin/systemctl", str(self.systemctl)))
            self.prog.chmod(0o755)
        else:
            self.prog = Path(our_prog("nut-driver-enumerator"))

    def copy(self, root: Path) -> "Side":
        shutil.copytree(self.root, root, symlinks=True)
        return Side(root, self.conf, self.c)

    def run(self, *args: str, on: "Side | None" = None) -> subprocess.CompletedProcess:
        """Run this enumerator on its own services, or on those of ``on``."""
        on = on or self
        env = dict(os.environ, LC_ALL="C", UPSCONF=str(self.conf),
                   SYSTEMD_CONFPATH=str(on.confdir), SYSTEMCTL=str(on.systemctl))
        env.pop("NUT_CONFPATH", None)
        prog = self.prog
        if self.c and on is not self:
            prog = self.root / "nut-driver-enumerator-other.sh"
            prog.write_text(C_SCRIPT.read_text().replace("/bin/systemctl", str(on.systemctl)))
            prog.chmod(0o755)
        return subprocess.run([str(prog), *args], env=env, capture_output=True, text=True,
                              timeout=120)

    @property
    def enabled(self) -> list[str]:
        return fake_systemctl.load(self.state)["enabled"]

    def calls(self, verb: str) -> list[list[str]]:
        return [c for c in fake_systemctl.load(self.state)["calls"] if verb in c]

    def forget_calls(self) -> None:
        st = fake_systemctl.load(self.state)
        st["calls"] = []
        self.state.write_text(json.dumps(st))

    def dropin(self, unit: str, name: str) -> str | None:
        path = self.confdir / f"{unit}.d" / name
        return path.read_text() if path.exists() else None


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """Both enumerators once over the same ups.conf, each on its own (fake) systemd."""
    require(C_SCRIPT.exists(), f"{C_SCRIPT} missing (apt-get install -y nut-server)")
    tmp = tmp_path_factory.mktemp("enum")
    conf = tmp / "ups.conf"
    conf.write_text(UPS_CONF)
    c = Side(tmp / "c", conf, c=True)
    ours = Side(tmp / "ours", conf, c=False)
    results = c.run(), ours.run()
    return c, ours, results


@pytest.fixture
def sides(baseline, tmp_path):
    """Copies of the baseline to change, with their own ups.conf."""
    c, ours, _ = baseline
    conf = tmp_path / "ups.conf"
    conf.write_text(UPS_CONF)
    c2, ours2 = c.copy(tmp_path / "c"), ours.copy(tmp_path / "ours")
    c2.conf = ours2.conf = conf
    c2.forget_calls()
    ours2.forget_calls()
    return c2, ours2


def without_comments(text: str | None) -> str | None:
    return None if text is None else "".join(l for l in text.splitlines(True) if not l.startswith("#"))


def test_same_services_and_checksums(baseline):
    c, ours, (rc, ro) = baseline
    assert (ro.returncode, rc.returncode) == (42, 42), (rc.stderr, ro.stderr)
    assert ours.enabled == c.enabled
    assert len(c.enabled) == 7 and any(u.startswith("nut-driver@MD5_") for u in c.enabled)
    for unit in c.enabled + ["nut-driver@.service"]:  # the global section's checksum too
        name = "nut-driver-enumerator-generated-checksum.conf"
        assert ours.dropin(unit, name) == c.dropin(unit, name), unit
    # dependencies on the network, as 2.8.0 and 2.8.5 both write them
    generated = "nut-driver-enumerator-generated.conf"
    assert without_comments(ours.dropin("nut-driver@10rack.service", generated)) == \
        without_comments(c.dropin("nut-driver@10rack.service", generated))
    assert "Wants=network.target" in ours.dropin("nut-driver@2b.service", generated)
    assert ours.dropin("nut-driver@ups.x.service", generated) is None
    assert c.dropin("nut-driver@ups.x.service", generated) is None
    # later releases also record the device name, which C's --get-device-for-service reads
    assert ours.dropin("nut-driver@ups1.service", "nut-driver-enumerator-generated-devicename.conf") \
        == "[Service]\nEnvironment='DEVICE=\"ups1\"'\n"
    assert ours.calls("start") and ours.calls("daemon-reload")


QUERIES = [
    ["--list-devices"], ["--list-services"], ["--list-instances"],
    ["--list-services-for-devices"],
    ["--get-service-for-device", "ups1"], ["--get-service-for-device", LONG],
    ["--get-service-for-device", "nope"],
    ["--get-device-for-service", "ups.x"], ["--get-device-for-service", "nut-driver@Ups:y.service"],
    ["--get-device-for-service", "nope"],
    ["--show-configs"], ["--show-config", "ups1"], ["--show-config"],
    ["--show-device-config-value", "ups1", "driver", "port"],
    ["--show-device-config-value", "ups.x", "nolock", "desc"],
    ["--get-service-framework"], ["--bogus"],
]


def test_same_answers(baseline):
    c, ours, _ = baseline
    md5_unit = next(u for u in c.enabled if u.startswith("nut-driver@MD5_"))
    queries = QUERIES + [["--get-device-for-service", md5_unit]]
    for args in queries:
        # both read the state C's script made
        want, got = c.run(*args), ours.run(*args, on=c)
        assert (got.returncode, got.stdout) == (want.returncode, want.stdout), args


def test_each_takes_over_the_others_services(sides):
    c, ours = sides
    # ours on C's services: nothing to change; it records the device names 2.8.0 did not
    before = c.enabled
    r = ours.run(on=c)
    assert r.returncode == 0, r.stderr
    assert c.enabled == before
    assert not c.calls("disable") and not c.calls("enable")
    assert c.dropin("nut-driver@ups1.service", "nut-driver-enumerator-generated-devicename.conf")
    # and C's script on services we registered
    r = c.run(on=ours)
    assert r.returncode == 0, r.stderr + r.stdout
    assert not ours.calls("disable") and not ours.calls("enable")


def test_same_reaction_to_edits(sides):
    c, ours = sides
    text = UPS_CONF.replace("[ups.x]\n driver = dummy-ups\n port = x.dev\n nolock\n", "")
    text = text.replace("port = 10.0.0.5", "port = 10.0.0.6")
    text += "[new]\n driver = dummy-ups\n port = new.dev\n"
    c.conf.write_text(text)
    rc, ro = c.run(), ours.run()
    assert ro.returncode == rc.returncode == 42
    assert sorted(ours.enabled) == sorted(c.enabled)
    assert "nut-driver@new.service" in ours.enabled and "nut-driver@ups.x.service" not in ours.enabled
    # the removed device's service and the changed one (its driver cannot reload) were
    # dropped; nothing else was
    assert sorted(call[-1] for call in ours.calls("disable")) == \
        sorted(call[-1] for call in c.calls("disable")) == \
        ["nut-driver@10rack.service", "nut-driver@ups.x.service"]
    checksum = "nut-driver-enumerator-generated-checksum.conf"
    assert ours.dropin("nut-driver@10rack.service", checksum) == \
        c.dropin("nut-driver@10rack.service", checksum)
    # a global change restarts every running driver
    assert c.run().returncode == ours.run().returncode == 0
    for side in (c, ours):
        st = json.loads(side.state.read_text())
        st["active"] = {"nut-driver@ups1": "active"}
        side.state.write_text(json.dumps(st))
    c.conf.write_text("pollinterval = 5\n" + text)
    assert c.run().returncode == ours.run().returncode == 42
    assert any("nut-driver@ups1" in call for call in ours.calls("restart") + ours.calls("reload-or-restart"))
    assert any("nut-driver@ups1" in call for call in c.calls("restart"))
