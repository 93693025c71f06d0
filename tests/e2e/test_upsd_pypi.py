"""Third-party Python NUT clients from PyPI against our upsd: PyNUTClient (NUT's own),
nut2 and aionut list, get, set and run commands with a login; what they send reaches
the driver."""

from __future__ import annotations

import asyncio

import pytest

from support.harness import NutEnv, our_prog, wait_for
from support.upsd_support import FakeDriver, LineClient

USERS = "[admin]\n password = secret\n actions = SET\n instcmds = all\n upsmon primary\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = NutEnv(tmp_path_factory.mktemp("upsd-pypi"))
    fake = FakeDriver(str(env.state / "fake-fake"))
    env.write("ups.conf", '[fake]\n driver = fake\n port = none\n desc = "Fake UPS"\n')
    env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\n")
    env.write("upsd.users", USERS)
    log = open(env.root / "upsd.log", "wb")
    import subprocess

    p = subprocess.Popen([our_prog("upsd"), "-F", "-u", "root"], env=env.env(),
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    env.procs.append(p)
    env.wait_port()

    def ready():
        c = LineClient(env.port)
        try:
            return c.request("GET VAR fake ups.status") == [b'VAR fake ups.status "OL"\n']
        finally:
            c.close()
    wait_for(ready, 10, what="data")
    yield env, fake
    env.close()
    fake.close()
    log.close()


def driver_saw(fake: FakeDriver, line: str) -> bool:
    def seen():
        with fake.lock:
            return line in fake.received
    try:
        wait_for(seen, 5, what=line)
        return True
    except TimeoutError:
        return False


def test_pynutclient(server):
    PyNUT = pytest.importorskip("PyNUTClient.PyNUT")
    env, fake = server
    c = PyNUT.PyNUTClient(host="127.0.0.1", port=env.port, login="admin", password="secret")
    assert c.GetUPSList() == {b"fake": b"Fake UPS"}
    variables = c.GetUPSVars("fake")
    assert variables[b"ups.status"] == b"OL"
    assert variables[b"battery.charge"] == b"100"
    assert b"ups.delay.shutdown" in c.GetRWVars("fake")
    assert b"load.off" in c.GetUPSCommands("fake")
    assert c.SetRWVar("fake", "ups.delay.shutdown", "30") in ("OK", b"OK")
    assert driver_saw(fake, 'SET ups.delay.shutdown "30"')
    assert c.RunUPSCommand("fake", "load.off") in ("OK", b"OK")
    assert driver_saw(fake, "INSTCMD load.off")
    assert c.DeviceLogin("fake") in ("OK", b"OK")
    assert c.ListClients("fake") == {b"fake": [b"127.0.0.1"]}


def test_nut2(server):
    nut2 = pytest.importorskip("nut2")
    env, fake = server
    c = nut2.PyNUTClient(host="127.0.0.1", port=env.port, login="admin", password="secret")
    assert c.list_ups() == {"fake": "Fake UPS"}
    assert c.get_var("fake", "ups.status") == "OL"
    assert c.list_vars("fake")["battery.charge"] == "100"
    assert "input.transfer.low" in c.list_rw_vars("fake")
    assert "test.battery.start" in c.list_commands("fake")
    assert c.var_type("fake", "ups.delay.shutdown") == "RW RANGE NUMBER"
    raw = LineClient(env.port)
    expected = int(raw.request("GET NUMLOGINS fake")[0].split()[-1])
    raw.close()
    assert c.num_logins("fake") == expected
    c.set_var("fake", "input.transfer.low", "100")
    assert driver_saw(fake, 'SET input.transfer.low "100"')
    c.run_command("fake", "test.battery.start")
    assert driver_saw(fake, "INSTCMD test.battery.start")
    with pytest.raises(nut2.PyNUTError):
        c.set_var("fake", "battery.charge", "5")  # read-only


def test_aionut(server):
    aionut = pytest.importorskip("aionut")
    env, fake = server

    async def go():
        c = aionut.AIONUTClient(host="127.0.0.1", port=env.port, username="admin",
                                password="secret")
        try:
            ups = await c.list_ups()
            variables = await c.list_vars("fake")
            cmds = await c.list_commands("fake")
            desc = await c.description("fake")
            await c.run_command("fake", "Beeper.Toggle")
            return ups, variables, cmds, desc
        finally:
            c.disconnect()

    ups, variables, cmds, desc = asyncio.run(go())
    assert ups == {"fake": "Fake UPS"} and desc == "Fake UPS"
    assert variables["ups.status"] == "OL"
    assert {"load.off", "Beeper.Toggle", "test.battery.start"} <= cmds
    assert driver_saw(fake, "INSTCMD Beeper.Toggle")
