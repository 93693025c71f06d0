"""Our dummy-ups served by C upsd 2.8.0 and read with C upsc/upsrw, side by side with C
dummy-ups on the same files: one C upsd and every driver of both kinds started at once."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nutpy.common import parseconf
from support.harness import (
    NutEnv,
    as_dict,
    c_prog,
    our_prog,
    require_c_nut,
    require_fixtures,
    start_all,
    stop_by_pidfiles,
    upsc,
    upsc_ready,
    wait_for,
)

pytestmark = pytest.mark.interop

# Variables only our driver publishes (later releases' driver core); see docs/drivers.md.
OUR_EXTRA_VARS = {"driver.state", "driver.debug", "driver.flag.allow_killpower"}
USERS = "[admin]\n  password = pw\n  actions = SET\n  instcmds = ALL\n"


def empty_value_names(path: Path) -> set[str]:
    """Names on lines with no value: C 2.8.0 publishes the previous line's value there
    (stale buffer), we delete the variable. ``device.*`` copies follow ``ups.*``."""
    names = set()
    for line in parseconf.read_file(str(path)):
        if len(line.words) == 1 and not line.words[0].startswith(("TIMER", "ALARM")):
            names.add(line.words[0].split(":", 1)[0])
    for item in ("mfr", "model", "serial"):
        if f"ups.{item}" in names:
            names.add(f"device.{item}")
    return names


def write_confs(env: NutEnv, sections: dict[str, str]) -> None:
    env.write("ups.conf", "".join(
        f"[{name}]\n  driver = dummy-ups\n  port = {port}\n" for name, port in sections.items()))
    env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\n")
    env.write("upsd.users", USERS, mode=0o600)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    require_c_nut()
    ddl = require_fixtures()
    files = sorted(ddl.rglob("*.dev"))
    env = NutEnv(tmp_path_factory.mktemp("interop"))
    sections = {}
    for i, f in enumerate(files):
        sections[f"c{i}"] = str(f)
        sections[f"p{i}"] = str(f)
    write_confs(env, sections)
    names = list(sections)
    drivers = {n: (c_prog("dummy-ups") if n[0] == "c" else our_prog("dummy-ups")) for n in names}
    try:
        start_all(env, [[drivers[n], "-a", n, "-u", "root"] for n in names])
        env.start([c_prog("upsd"), "-u", "root", "-F"])
        env.wait_port()
        yield env, files
    finally:
        stop_by_pidfiles(env, [f"dummy-ups-{n}" for n in names])
        env.close()


def test_corpus_matches_c_dummy_ups(corpus):
    env, files = corpus

    def both(i):
        return upsc_ready(env, f"c{i}"), upsc_ready(env, f"p{i}")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(both, range(len(files))))
    mismatches = []
    for f, (c_out, our_out) in zip(files, results):
        skip = OUR_EXTRA_VARS | empty_value_names(f)
        c_vars = {k: v for k, v in as_dict(c_out).items() if k not in skip}
        our_vars = {k: v for k, v in as_dict(our_out).items() if k not in skip}
        c_vars.pop("driver.parameter.port"), our_vars.pop("driver.parameter.port")
        if c_vars != our_vars:
            diff = {k: (c_vars.get(k), our_vars.get(k))
                    for k in set(c_vars) | set(our_vars) if c_vars.get(k) != our_vars.get(k)}
            mismatches.append(f"{f.name}: {diff}")
    assert not mismatches, "\n".join(mismatches)
    # and our additions are there
    assert as_dict(results[0][1])["driver.state"] == "quiet"


@pytest.fixture
def served(nutenv):
    """Our dummy-ups on a temp .dev file, behind C upsd."""
    require_c_nut()
    dev = nutenv.etc / "rw.dev"
    dev.write_text("ups.status: OL\nbattery.charge: 100\nups.id: first\n")
    write_confs(nutenv, {"rw": "rw.dev"})
    r = nutenv.run([our_prog("dummy-ups"), "-a", "rw", "-u", "root"])
    assert r.returncode == 0, r.stdout + r.stderr
    upsd = nutenv.start([c_prog("upsd"), "-u", "root", "-F"])
    nutenv.wait_port()
    upsc_ready(nutenv, "rw")
    yield nutenv, dev, upsd
    stop_by_pidfiles(nutenv, ["dummy-ups-rw"])


def test_set_through_c_upsd_and_file_rewrite(served):
    env, dev, _ = served
    target = f"rw@127.0.0.1:{env.port}"
    r = env.run([c_prog("upsrw"), "-s", "ups.id=hello world", "-u", "admin", "-p", "pw",
                 "-w", target])
    assert "SUCCESS" in r.stdout + r.stderr, r.stdout + r.stderr
    assert upsc(env, "rw", "ups.id").stdout.strip() == "hello world"
    r = env.run([c_prog("upsrw"), "-s", "ups.status=OB LB", "-u", "admin", "-p", "pw",
                 "-w", target])
    assert upsc(env, "rw", "ups.status").stdout.strip() == "OB LB"
    types = env.run([c_prog("upsrw"), target]).stdout
    assert "[ups.id]" in types and "Maximum length: 16" in types
    # a rewritten file replaces the values
    dev.write_text("ups.status: OB\nbattery.charge: 42\n")
    st = os.stat(dev)
    os.utime(dev, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    wait_for(lambda: upsc(env, "rw", "battery.charge").stdout.strip() == "42", 5,
             what="rewritten value")


def test_driver_survives_upsd_restart(served):
    env, _, upsd = served
    env.stop(upsd)
    upsd2 = env.start([c_prog("upsd"), "-u", "root", "-F"])
    env.wait_port()
    upsc_ready(env, "rw")
    r = env.run([c_prog("upsrw"), "-s", "ups.id=after", "-u", "admin", "-p", "pw", "-w",
                 f"rw@127.0.0.1:{env.port}"])
    assert "SUCCESS" in r.stdout + r.stderr
    assert upsc(env, "rw", "ups.id").stdout.strip() == "after"
    pid = env.pid_of("dummy-ups-rw")
    os.kill(pid, 0)  # still alive
    with open(f"/proc/{pid}/stat") as f:
        assert f.read().split(")")[-1].split()[0] in "RS"
    env.stop(upsd2)


def test_repeater_copies_and_reconnects(nutenv):
    """port = ups@host:port: our repeater and C's repeat the same upsd; ours survives
    that upsd going away and coming back."""
    require_c_nut()
    env = nutenv
    (env.etc / "src.dev").write_text("ups.status: OL CHRG\nbattery.charge: 77\nups.mfr: Src\n")
    target = f"src@127.0.0.1:{env.port}"
    write_confs(env, {"src": "src.dev", "rep": target, "crep": target})
    start_all(env, [[our_prog("dummy-ups"), "-a", "src", "-u", "root"]])
    upsd = env.start([c_prog("upsd"), "-u", "root", "-F"])
    env.wait_port()
    upsc_ready(env, "src")
    start_all(env, [[our_prog("dummy-ups"), "-a", "rep", "-u", "root"],
                    [c_prog("dummy-ups"), "-a", "crep", "-u", "root"]])
    try:
        ours, c = as_dict(upsc_ready(env, "rep")), as_dict(upsc_ready(env, "crep"))
        for d in (ours, c):
            for k in [k for k in d if k.startswith("driver.")]:
                del d[k]
        assert ours == c
        assert ours["battery.charge"] == "77" and ours["ups.status"] == "OL CHRG"
        env.run([c_prog("upsrw"), "-s", "battery.charge=12", "-u", "admin", "-p", "pw", "-w",
                 f"src@127.0.0.1:{env.port}"])
        wait_for(lambda: upsc(env, "rep", "battery.charge").stdout.strip() == "12", 10,
                 what="repeated change")
        env.stop(upsd)
        upsd = env.start([c_prog("upsd"), "-u", "root", "-F"])
        env.wait_port()
        wait_for(lambda: upsc(env, "rep", "battery.charge").stdout.strip() == "12", 20,
                 interval=0.2, what="repeater after upsd restart")
    finally:
        stop_by_pidfiles(env, ["dummy-ups-src", "dummy-ups-rep", "dummy-ups-crep"])
