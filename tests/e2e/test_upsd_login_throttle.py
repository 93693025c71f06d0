"""The failed-login throttle never refuses a right password (issue 11, defect 2).

Attackers hammer wrong passwords from the very address the legitimate users log in from
(127.0.0.1, as a standalone machine's upsmon does): some wait for each answer, some give
up after a moment and reconnect at once. Meanwhile a client with the right password
logs in, and a primary gets PRIMARY and FSD, each within 2 s; C upsmon as the primary
logs in and sets FSD when the UPS goes on battery with a low battery. The attackers never
get in. Bounds are generous: the outcome is asserted, not the machine's speed."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections import Counter

import pytest

from support.harness import NutEnv, c_prog, our_prog, require_c_nut, require_root, wait_for
from support.upsd_support import FakeDriver, LineClient

USERS = """
[admin]
  password = secret
  actions = SET FSD
[prim]
  password = ppw
  upsmon primary
"""

DUMP = ['SETINFO ups.status "OL"', 'SETINFO battery.charge "100"', "DATAOK", "DUMPDONE"]

LEGIT_BOUND = 2.0  # the "within a second or two"


class Upsd:
    """Our upsd with its default throttle, serving one fake driver."""

    def __init__(self, root, conf_extra: str = "") -> None:
        self.env = env = NutEnv(root)
        env.write("ups.conf", "[fake]\n  driver = fake\n  port = none\n")
        env.write("upsd.users", USERS)
        env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\n{conf_extra}")
        self.driver = FakeDriver(str(env.state / "fake-fake"), DUMP)
        self.log = root / "upsd.log"
        with open(self.log, "wb") as f:  # a file, never an undrained pipe
            self.proc = subprocess.Popen([our_prog("upsd"), "-F", "-u", "root"],
                                         env=env.env(), stdin=subprocess.DEVNULL,
                                         stdout=f, stderr=f)
        env.procs.append(self.proc)
        self.port = env.port
        env.wait_port()
        wait_for(lambda: self.ask("GET VAR fake ups.status") == [b'VAR fake ups.status "OL"\n'],
                 15, what="upsd to serve the fake UPS")

    def ask(self, *requests: str) -> list[bytes]:
        c = LineClient(self.port, timeout=5)
        try:
            c.send("".join(r + "\n" for r in requests))
            return c.read_lines(len(requests))
        finally:
            c.close()

    def close(self) -> None:
        self.env.close()
        self.driver.close()


class Attackers:
    """Threads that log in with wrong passwords from 127.0.0.1 until stopped. A patient
    one waits for each answer; an impatient one takes silence after 0.1 s for a no and
    reconnects at once (a right password is answered at once, so silence tells)."""

    def __init__(self, port: int, user: str, patient: int = 4, impatient: int = 4) -> None:
        self.port = port
        self.user = user
        self.outcomes: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i, wait), daemon=True)
                        for i, wait in enumerate([10.0] * patient + [0.1] * impatient)]
        for t in self.threads:
            t.start()

    def _run(self, n: int, wait: float) -> None:
        i = 0
        while not self.stop.is_set():
            i += 1
            outcome = self._attempt(f"wrong-{n}-{i}", wait)
            with self.lock:
                self.outcomes[outcome] += 1

    def _attempt(self, password: str, wait: float) -> str:
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except OSError:
            return "connect-failed"
        with s:
            try:
                s.sendall(f"USERNAME {self.user}\nPASSWORD {password}\nLOGIN fake\n".encode())
                s.settimeout(wait)
                got = b""
                while got.count(b"\n") < 3:
                    data = s.recv(1024)
                    if not data:
                        return "dropped"
                    got += data
            except socket.timeout:
                return "gave-up"
            except OSError:
                return "dropped"
        return "in" if got.split(b"\n")[2] == b"OK" else "denied"

    def failures(self) -> int:
        with self.lock:
            return sum(n for k, n in self.outcomes.items() if k != "connect-failed")

    def close(self) -> Counter:
        self.stop.set()
        for t in self.threads:
            t.join(15)
        return self.outcomes


def timed_session(port: int, requests: list[str], bound: float) -> list[bytes]:
    """Open a connection and send ``requests`` together; every reply must be in within
    ``bound`` seconds of sending."""
    c = LineClient(port, timeout=bound)
    try:
        c.send("".join(r + "\n" for r in requests))
        return c.read_lines(len(requests), timeout=bound)
    finally:
        c.close()


@pytest.fixture
def upsd(tmp_path):
    u = Upsd(tmp_path)
    yield u
    u.close()


def test_right_password_gets_in_while_wrong_ones_hammer_the_same_address(upsd):
    attack = Attackers(upsd.port, "admin")
    try:
        wait_for(lambda: attack.failures() >= 20, 30, interval=0.05,
                 what="the attack to get going")
        for _ in range(5):
            assert timed_session(upsd.port, ["USERNAME prim", "PASSWORD ppw",
                                             "LOGIN fake", "PRIMARY fake", "FSD fake"],
                                 LEGIT_BOUND) == \
                [b"OK\n", b"OK\n", b"OK\n", b"OK PRIMARY-GRANTED\n", b"OK FSD-SET\n"]
            assert timed_session(upsd.port, ["USERNAME admin", "PASSWORD secret",
                                             "SET VAR fake nope 1"], LEGIT_BOUND) == \
                [b"OK\n", b"OK\n", b"ERR VAR-NOT-SUPPORTED\n"]
            time.sleep(0.2)
    finally:
        outcomes = attack.close()
    assert outcomes["in"] == 0, outcomes
    # wrong passwords still get C's answer (late), or lose the connection when too many
    # answers to that address are waiting
    assert outcomes["denied"] > 0, outcomes
    log = upsd.log.read_text()
    assert "Wrong password for admin@127.0.0.1" in log, log


def test_wrong_password_answer_is_late_but_exact(upsd):
    """With no attack going on, a wrong password is answered with C's bytes (after a
    short delay), the connection stays usable, and the requests pipelined behind it are
    answered in order; a right password on a fresh connection gets in at once."""
    replies = timed_session(upsd.port, ["USERNAME prim", "PASSWORD nope", "LOGIN fake",
                                        "GET VAR fake battery.charge", "LOGIN fake"], 30)
    assert replies == [b"OK\n", b"OK\n", b"ERR ACCESS-DENIED\n",
                       b'VAR fake battery.charge "100"\n', b"ERR ACCESS-DENIED\n"]
    assert timed_session(upsd.port, ["USERNAME prim", "PASSWORD ppw", "LOGIN fake"],
                         LEGIT_BOUND) == [b"OK\n"] * 3


def test_other_clients_are_served_while_an_answer_waits(upsd):
    """The delay is a timer on the failing connection, not a pause of the server: a
    request from another client, sent once the first wrong password is in, is answered
    before the failing connection's last answer (which waits 0.25 + 0.5 + 1 + 2 s)."""
    slow = LineClient(upsd.port)
    try:
        slow.send("USERNAME admin\nPASSWORD bad\n" + "LOGIN fake\n" * 4)
        assert slow.read_lines(2) == [b"OK\n", b"OK\n"]
        assert timed_session(upsd.port, ["GET VAR fake ups.status"], 30) == \
            [b'VAR fake ups.status "OL"\n']
        slow.sock.setblocking(False)
        try:
            early = slow.sock.recv(1000)
        except BlockingIOError:
            early = b""
        slow.sock.setblocking(True)
        assert early.count(b"\n") < 4, early
        slow.buf = early
        assert slow.read_lines(4, timeout=30) == [b"ERR ACCESS-DENIED\n"] * 4
    finally:
        slow.close()


@pytest.mark.parametrize("conf, dropped", [
    ("LOGIN_FAILURE_DELAY 0\n", False),
    ("LOGIN_FAILURE_DELAY 40\nLOGIN_FAILURE_MAXCONN 1\n", True),
])
def test_upsd_conf_settings(tmp_path, conf, dropped):
    """LOGIN_FAILURE_DELAY 0 turns the throttle off (answers at once, nothing logged);
    with LOGIN_FAILURE_MAXCONN 1 one answer may wait per address: a second failing
    connection meanwhile (a's first answer waits 40/16 = 2.5 s) is closed without one."""
    u = Upsd(tmp_path, conf)
    try:
        a, b = LineClient(u.port), LineClient(u.port)
        try:
            a.send("USERNAME admin\nPASSWORD x\nLOGIN fake\n")
            assert a.read_lines(2) == [b"OK\n", b"OK\n"]
            b.send("USERNAME admin\nPASSWORD y\nLOGIN fake\n")
            assert b.read_lines(2) == [b"OK\n", b"OK\n"]
            if dropped:
                with pytest.raises(ConnectionError):
                    b.read_lines(1, timeout=30)
            else:
                assert b.read_lines(1) == [b"ERR ACCESS-DENIED\n"]
            assert a.read_lines(1, timeout=30) == [b"ERR ACCESS-DENIED\n"]
        finally:
            a.close()
            b.close()
        log = u.log.read_text()
        assert "invalid directive" not in log
        assert ("Wrong password for admin@127.0.0.1" in log) == dropped, log
    finally:
        u.close()


@pytest.mark.interop
def test_c_upsd_warns_about_our_directives_and_runs(tmp_path):
    """The compatibility cost of the two upsd.conf directives: C upsd 2.8.0 logs each as
    an invalid directive and otherwise runs as before (docs/upsd.md)."""
    require_c_nut()
    env = NutEnv(tmp_path)
    env.write("ups.conf", "[fake]\n  driver = fake\n  port = none\n")
    env.write("upsd.users", USERS)
    env.write("upsd.conf", f"LISTEN 127.0.0.1 {env.port}\nLOGIN_FAILURE_DELAY 2.5\n"
                           "LOGIN_FAILURE_MAXCONN 2\n")
    driver = FakeDriver(str(env.state / "fake-fake"), DUMP)
    log = tmp_path / "c-upsd.log"
    try:
        with open(log, "wb") as f:
            env.procs.append(subprocess.Popen([c_prog("upsd"), "-F", "-u", "root"],
                                              env=env.env(), stdin=subprocess.DEVNULL,
                                              stdout=f, stderr=f))
        env.wait_port()
        c = LineClient(env.port)
        try:
            wait_for(lambda: c.request("GET VAR fake ups.status") ==
                     [b'VAR fake ups.status "OL"\n'], 15, interval=0.1,
                     what="C upsd to serve the fake UPS")
        finally:
            c.close()
    finally:
        env.close()
        driver.close()
    text = log.read_text()
    assert "upsd.conf: invalid directive LOGIN_FAILURE_DELAY 2.5" in text, text
    assert "upsd.conf: invalid directive LOGIN_FAILURE_MAXCONN 2" in text, text


# ---- upsmon (C's and ours) as the primary, under attack


def start_upsmon(kind: str, root, port: int):
    """upsmon as the primary of fake@127.0.0.1:port, one process (-p) in front (-D). C
    2.8.0 keeps its PID file in /run/nut whatever the environment: it gets a private
    one (a mount namespace); ours honours NUT_PIDPATH."""
    d = root / f"upsmon-{kind}"
    d.mkdir()
    (d / "upsmon.conf").write_text(
        f"MONITOR fake@127.0.0.1:{port} 1 prim ppw primary\nMINSUPPLIES 1\n"
        f'SHUTDOWNCMD "/bin/touch {d}/shutdown-ran"\nPOWERDOWNFLAG {d}/killpower\n'
        "POLLFREQ 1\nPOLLFREQALERT 1\nHOSTSYNC 1\nFINALDELAY 0\nDEADTIME 30\n")
    os.chmod(d / "upsmon.conf", 0o600)
    if kind == "c":
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount -t tmpfs nutpy-test /run/nut && exec "$0" -p -D', c_prog("upsmon")]
    else:
        argv = [our_prog("upsmon"), "-p", "-D"]
    log = open(root / f"upsmon-{kind}.log", "wb")
    p = subprocess.Popen(argv, env=dict(os.environ, NUT_CONFPATH=str(d), NUT_STATEPATH=str(d),
                                        NUT_ALTPIDPATH=str(d), NUT_PIDPATH=str(d)),
                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return p, d


@pytest.mark.root
@pytest.mark.parametrize("kind", [pytest.param("c", marks=pytest.mark.interop), "ours"])
def test_upsmon_primary_sets_fsd_while_wrong_passwords_hammer(upsd, tmp_path, kind):
    require_root()
    if kind == "c":
        require_c_nut()
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs nutpy-test /run/nut"], capture_output=True)
        if r.returncode != 0:
            pytest.skip("needs mount namespaces (unshare) and /run/nut for C upsmon")
    attack = Attackers(upsd.port, "prim")
    p = None
    try:
        wait_for(lambda: attack.failures() >= 20, 30, interval=0.05,
                 what="the attack to get going")
        p, d = start_upsmon(kind, tmp_path, upsd.port)
        wait_for(lambda: upsd.ask("GET NUMLOGINS fake") == [b"NUMLOGINS fake 1\n"], 20,
                 interval=0.1, what=f"{kind} upsmon to log in")
        t0 = time.monotonic()
        upsd.driver.broadcast('SETINFO ups.status "OB LB"\n')
        wait_for(lambda: upsd.ask("GET VAR fake ups.status") ==
                 [b'VAR fake ups.status "FSD OB LB"\n'], 10, interval=0.05,
                 what=f"{kind} upsmon to set FSD")
        fsd_after = time.monotonic() - t0
        wait_for((d / "shutdown-ran").exists, 20, interval=0.1,
                 what=f"{kind} upsmon to run SHUTDOWNCMD")
        print(f"{kind} upsmon: FSD set {fsd_after:.2f} s after OB LB (polls every 1 s)")
    finally:
        outcomes = attack.close()
        if p is not None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    assert outcomes["in"] == 0, outcomes
    upsmon_log = (tmp_path / f"upsmon-{kind}.log").read_text(errors="replace")
    assert "ACCESS-DENIED" not in upsmon_log, upsmon_log
