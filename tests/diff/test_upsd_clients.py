"""Real NUT clients against our upsd: C upsc/upscmd/upsrw/upslog/upsmon give the same
output against ours as against C upsd (same drivers behind both); upsmon's primary and
secondary logins show up in LIST CLIENT / NUMLOGINS. Also the mixed stack: our
dummy-ups behind our upsd."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from support.harness import MANY_VARS_DEV, NutEnv, c_prog, our_prog, require_c_nut, wait_for
from support.upsd_support import LineClient, Stack

SSL_NOISE = "Init SSL without certificate database"


def clean(text: str) -> str:
    return "\n".join(x for x in text.splitlines() if x != SSL_NOISE)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require_c_nut()
    s = Stack(tmp_path_factory.mktemp("upsd-clients"))
    yield s
    s.close()


def private_run_nut(argv: list[str], env: dict) -> subprocess.Popen:
    """Run a C client daemon (upsmon, upslog) with a private tmpfs on /run/nut, in its own
    mount namespace and process group: they keep PID files in the compiled /run/nut
    whatever the environment says, and upsmon forks a child that outlives its parent."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare to give C daemons a private /run/nut")
    return subprocess.Popen(["unshare", "-m", "sh", "-c",
                             'mount -t tmpfs tmpfs /run/nut && exec "$@"', "sh"] + argv,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop_group(p: subprocess.Popen) -> None:
    """SIGTERM the process group we created for ``p`` (its own children only)."""
    import signal

    try:
        os.killpg(p.pid, signal.SIGTERM)
    except OSError:
        pass
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(p.pid, 0)
        except OSError:
            return
        time.sleep(0.05)
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass


def both(stack, argv_of_port):
    outs = []
    for port in (stack.c_port, stack.our_port):
        r = stack.env.run(argv_of_port(port), timeout=20)
        outs.append((r.returncode, clean(r.stdout), clean(r.stderr)))
    return outs


@pytest.mark.interop
@pytest.mark.parametrize("args", [
    ["zeta"], ["fake"], ["zeta", "ups.status"], ["fake", "nope"], ["nope"], ["nodrv"],
    ["-l"], ["-L"], ["-c", "zeta"],
])
def test_upsc_same_output(stack, args):
    def argv(port):
        a = list(args)
        if a and not a[-1].startswith("-") and a[0] not in ("-l", "-L"):
            ups_index = 1 if a[0] == "-c" else 0
            a[ups_index] = f"{a[ups_index]}@127.0.0.1:{port}"
        else:
            a.append(f"127.0.0.1:{port}")
        return [c_prog("upsc")] + a

    c, ours = both(stack, argv)
    assert ours == c


@pytest.mark.interop
@pytest.mark.parametrize("args", [
    ["-l", "{ups}"],
    ["-u", "admin", "-p", "secret", "{ups}", "load.off"],
    ["-u", "admin", "-p", "wrong", "{ups}", "load.off"],
    ["-u", "limited", "-p", "lpw", "{ups}", "load.off"],
    ["-u", "admin", "-p", "secret", "{ups}", "nope.cmd"],
    ["-u", "admin", "-p", "secret", "-w", "{ups}", "test.battery.start"],
])
def test_upscmd_same_output(stack, args):
    c, ours = both(stack, lambda port: [c_prog("upscmd")] + [
        a.replace("{ups}", f"fake@127.0.0.1:{port}") for a in args])
    assert ours == c


@pytest.mark.interop
@pytest.mark.parametrize("args", [
    ["{ups}"],
    ["-s", "ups.status=OB", "-u", "admin", "-p", "secret", "{ups}"],
    ["-s", "ups.id=waytoolongvalue", "-u", "admin", "-p", "secret", "{ups}"],
    ["-s", "input.transfer.low=7", "-u", "admin", "-p", "secret", "{ups}"],
    ["-s", "battery.charge=7", "-u", "admin", "-p", "secret", "{ups}"],
    ["-s", "ups.status=OB", "-u", "mon", "-p", "mpw", "{ups}"],
    ["-w", "-s", "ups.status=OL", "-u", "admin", "-p", "secret", "{ups}"],
])
def test_upsrw_same_output(stack, args):
    c, ours = both(stack, lambda port: [c_prog("upsrw")] + [
        a.replace("{ups}", f"fake@127.0.0.1:{port}") for a in args])
    assert ours == c


@pytest.mark.interop
def test_upslog_logs_from_our_upsd(stack, tmp_path):
    logs = {}
    for port in (stack.c_port, stack.our_port):
        out = tmp_path / f"log{port}"
        p = private_run_nut([c_prog("upslog"), "-s", f"zeta@127.0.0.1:{port}", "-l", str(out),
                             "-i", "1", "-F", "-f", "%VAR battery.charge% [%VAR ups.status%] "
                             "%VAR ups.load%"], stack.env.env())
        try:
            wait_for(lambda: out.exists() and out.read_text().count("\n") >= 2, 10,
                     what="upslog lines")
        finally:
            stop_group(p)
        logs[port] = out.read_text().splitlines()[0]
    assert logs[stack.our_port] == logs[stack.c_port]
    assert "[" in logs[stack.c_port] and "NA" not in logs[stack.c_port]


@pytest.mark.interop
def test_upsmon_primary_and_secondary_logins(stack, tmp_path):
    """C upsmon logs in as primary to one UPS and secondary to another; our upsd shows
    both in NUMLOGINS / LIST CLIENT, and they go away when upsmon stops."""
    conf = tmp_path / "upsmon.conf"
    port = stack.our_port
    conf.write_text(
        f"MONITOR fake@127.0.0.1:{port} 1 prim ppw primary\n"
        f"MONITOR zeta@127.0.0.1:{port} 1 mon mpw secondary\n"
        "MINSUPPLIES 1\nSHUTDOWNCMD \"/bin/true\"\nPOLLFREQ 2\nPOLLFREQALERT 2\n"
        "DEADTIME 15\n")
    conf.chmod(0o600)
    etc = tmp_path / "etc"
    etc.mkdir()
    shutil.copy(conf, etc / "upsmon.conf")
    (etc / "upsmon.conf").chmod(0o600)
    env = stack.env.env(NUT_CONFPATH=str(etc), NUT_PIDPATH=str(tmp_path),
                        NUT_STATEPATH=str(tmp_path), NUT_ALTPIDPATH=str(tmp_path))
    p = private_run_nut([c_prog("upsmon"), "-F", "-u", "root"], env)
    try:
        def logins():
            c = LineClient(port)
            try:
                c.send("GET NUMLOGINS fake\nGET NUMLOGINS zeta\nLIST CLIENT fake\n")
                got = c.read_lines(4)
                while not got[-1].startswith(b"END"):
                    got += c.read_lines(1)
                return got
            finally:
                c.close()

        got = wait_for(lambda: (lambda r: r if r[0] == b"NUMLOGINS fake 1\n"
                                and r[1] == b"NUMLOGINS zeta 1\n" else None)(logins()), 15,
                       what="upsmon logins")
        assert got[2:] == [b"BEGIN LIST CLIENT fake\n", b"CLIENT fake 127.0.0.1\n",
                           b"END LIST CLIENT fake\n"]
    finally:
        stop_group(p)
    def gone():
        c = LineClient(port)
        try:
            c.send("GET NUMLOGINS fake\nGET NUMLOGINS zeta\n")
            return c.read_lines(2) == [b"NUMLOGINS fake 0\n", b"NUMLOGINS zeta 0\n"]
        finally:
            c.close()
    wait_for(gone, 10, what="logins to drop")


@pytest.mark.interop
def test_mixed_stack_our_dummy_ups(tmp_path):
    """Our dummy-ups behind our upsd, read with C upsc: same variables as C dummy-ups
    behind C upsd."""
    require_c_nut()
    if not Path(our_prog("dummy-ups")).exists():
        pytest.skip("our dummy-ups not installed yet")
    results = {}
    for kind in ("c", "ours"):
        env = NutEnv(tmp_path / kind)
        try:
            shutil.copy(MANY_VARS_DEV, env.etc / "eaton.dev")
            env.write("ups.conf", f"[eaton]\n  driver = dummy-ups\n  port = {env.etc}/eaton.dev\n")
            env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\n")
            env.write("upsd.users", "[admin]\n password = x\n")
            prog = c_prog if kind == "c" else our_prog
            env.start([prog("dummy-ups"), "-a", "eaton", "-u", "root", "-F"])
            env.wait_socket("dummy-ups", "eaton")
            env.start([prog("upsd"), "-F", "-u", "root"])
            env.wait_port()

            def served():
                r = env.run([c_prog("upsc"), f"eaton@127.0.0.1:{env.port}", "ups.status"])
                return r.returncode == 0 and "WAIT" not in r.stdout
            wait_for(served, 15, what="data")
            r = env.run([c_prog("upsc"), f"eaton@127.0.0.1:{env.port}"])
            results[kind] = {line.split(":")[0] for line in r.stdout.splitlines()
                             if not line.startswith("driver.") and ":" in line}
        finally:
            env.close()
    assert results["ours"] == results["c"]
