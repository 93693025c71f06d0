"""The demo: a simulated UPS (dummy-ups on a looping .seq file) served by upsd on localhost
and watched by upsmon, all ours, from this checkout. ``nutpy demo`` (and ``./dev demo``)
runs it; ``--check`` starts it, queries it once with upsc and stops (used by the tests).

Every file (configuration, sockets, PID files, the power-down flag) stays in the demo's
directory. Each program runs in a session of its own, and whatever ends the demo (Ctrl-C,
SIGTERM, SIGINT or SIGHUP to its PID, a program dying) stops each session whole: upsmon's
monitoring and notifier processes go with the one the demo started."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click

BIN = Path(sys.executable).parent

SEQUENCE = """\
# A UPS that loses mains power for a while, then gets it back, forever.
device.mfr: nutpy
device.model: Demo UPS 1500
ups.mfr: nutpy
ups.model: Demo UPS 1500
ups.serial: DEMO-0001
ups.status: OL
battery.charge: 100
battery.runtime: 2400
battery.charge.low: 20
input.voltage: 230.4
output.voltage: 230.0
ups.load: 23
TIMER 40
ups.status: OB DISCHRG
input.voltage: 0.0
battery.charge: 92
battery.runtime: 2100
TIMER 10
battery.charge: 81
battery.runtime: 1800
TIMER 10
ups.status: OL CHRG
input.voltage: 229.8
battery.charge: 85
TIMER 20
"""


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_port() -> int:
    if _port_free(3493):
        return 3493
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(root: Path, port: int) -> dict[str, str]:
    etc, state = root / "etc", root / "state"
    etc.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o770)
    files = {
        "ups.conf": "[demo]\n\tdriver = dummy-ups\n\tport = demo.seq\n\tdesc = \"nutpy demo UPS\"\n",
        "demo.seq": SEQUENCE,
        "upsd.conf": f"LISTEN 127.0.0.1 {port}\nLISTEN ::1 {port}\n",
        "upsd.users": "[admin]\n\tpassword = demo\n\tactions = SET FSD\n\tinstcmds = all\n"
                      "[monuser]\n\tpassword = demo\n\tupsmon primary\n",
        "upsmon.conf": f"MONITOR demo@localhost:{port} 1 monuser demo primary\n"
                       f"SHUTDOWNCMD \"/bin/echo demo: the real upsmon would shut down now\"\n"
                       f"POWERDOWNFLAG {state}/killpower\n"
                       "POLLFREQ 2\nPOLLFREQALERT 2\n"
                       # notifications go to the demo's console (upsmon's log), not to
                       # every terminal of the machine (wall)
                       + "".join(f"NOTIFYFLAG {t} SYSLOG\n" for t in NOTIFY_TYPES),
    }
    for name, text in files.items():
        path = etc / name
        path.write_text(text)
        os.chmod(path, 0o640)
    env = dict(os.environ, NUT_CONFPATH=str(etc), NUT_STATEPATH=str(state),
               NUT_ALTPIDPATH=str(state), NUT_PIDPATH=str(state))
    return env


NOTIFY_TYPES = ("ONLINE", "ONBATT", "LOWBATT", "FSD", "COMMOK", "COMMBAD", "SHUTDOWN",
                "SHUTDOWN_HOSTSYNC", "REPLBATT", "NOCOMM", "NOPARENT", "CAL", "NOTCAL", "OFF",
                "NOTOFF", "BYPASS", "NOTBYPASS", "ECO", "NOTECO", "ALARM", "NOTALARM", "OVER",
                "NOTOVER", "TRIM", "NOTTRIM", "BOOST", "NOTBOOST", "OTHER", "NOTOTHER",
                "SUSPEND_STARTING", "SUSPEND_FINISHED")


@click.command()
@click.option("--dir", "directory", default=lambda: str(Path.cwd() / ".demo"),
              show_default=".demo in the current directory",
              help="Where to keep config and state.")
@click.option("--check", is_flag=True, help="Start, query once with upsc, stop.")
def command(directory: str, check: bool) -> None:
    """A simulated UPS, upsd and upsmon on localhost, to try with upsc."""
    sys.exit(run(Path(directory), check))


def run(directory: Path, check: bool) -> int:
    root = directory.resolve()
    shutil.rmtree(root, ignore_errors=True)
    port = _pick_port()
    env = write_config(root, port)
    user = getpass.getuser()
    procs: list[subprocess.Popen] = []

    def start(argv: list[str]) -> subprocess.Popen:
        # a session of its own: Ctrl-C reaches only the demo, which then stops the whole
        # session (a daemon's helper processes included)
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        procs.append(p)
        return p

    def stop_all() -> None:
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            for p in reversed(procs):
                _signal_group(p.pid, sig)
            deadline = time.monotonic() + wait
            for p in procs:
                try:
                    p.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            while any(_group_alive(p.pid) for p in procs) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not any(_group_alive(p.pid) for p in procs):
                return

    def leave(sig: int, _frame: object) -> None:
        raise _Stop(sig)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, leave)
    try:
        start([str(BIN / "dummy-ups"), "-a", "demo", "-F", "-u", user])
        sock = root / "state" / "dummy-ups-demo"
        _wait(lambda: sock.exists(), "the driver socket")
        start([str(BIN / "upsd"), "-F", "-u", user])
        _wait(lambda: not _port_free(port), "upsd to listen")
        upsmon = str(BIN / "upsmon")
        if not check:
            start([upsmon, "-F", "-u", user])
        target = "demo@localhost" + ("" if port == 3493 else f":{port}")
        upsc = str(BIN / "upsc")
        if check:
            out = subprocess.run([upsc, target, "ups.status"], env=env, capture_output=True,
                                 text=True, timeout=30)
            print(out.stdout, end="")
            return 0 if out.returncode == 0 and out.stdout.strip() else 1
        print(f"""
nutpy demo running (config and state in {root}):
  driver  dummy-ups -a demo  (a UPS that goes on battery every 80 s)
  upsd    listening on 127.0.0.1:{port} and [::1]:{port}
  upsmon  {upsmon} (notifications show here)

Try, in another shell:
  {upsc} {target}
  {upsc} {target} ups.status
  {BIN / 'upsrw'} -u admin -p demo {target}
  {BIN / 'upscmd'} -l {target}

Ctrl-C stops it.
""", flush=True)
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        print("a demo process exited; stopping", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, _Stop):
        return 0
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up
        stop_all()


class _Stop(Exception):
    pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group (other than a zombie) is left."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _wait(predicate, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: timed out waiting for {what}")
        time.sleep(0.05)


if __name__ == "__main__":
    command()
