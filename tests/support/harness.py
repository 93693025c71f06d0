"""Test harness: throw-away NUT installations (config + state dirs), C NUT and nutpy
program paths, and processes started by a test and stopped by PID at its end."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _shared_fixtures() -> Path:
    """The real device dumps in ``shared/fixtures`` beside the checkout (a git worktree may
    sit deeper than the main checkout, so look up the tree); ``$NUTPY_FIXTURES`` overrides."""
    if os.environ.get("NUTPY_FIXTURES"):
        return Path(os.environ["NUTPY_FIXTURES"])
    for parent in REPO.parents:
        if (parent / "shared" / "fixtures").is_dir():
            return parent / "shared" / "fixtures"
    return REPO.parent / "shared" / "fixtures"


FIXTURES = _shared_fixtures()
DDL = FIXTURES / "ddl"
# The project's own fixtures (always present, unlike the real dumps in ../shared/fixtures)
OWN_FIXTURES = REPO / "tests" / "fixtures"
# a device with as many variables as a real USB unit publishes, for tests that need "a real
# UPS's worth" of data rather than one particular model
MANY_VARS_DEV = OWN_FIXTURES / "devices" / "many-vars.dev"

C_SBIN = Path("/lib/nut")
C_BIN = Path("/usr/bin")
OUR_BIN = Path(sys.executable).parent


# The test being set up or run (conftest keeps it current), so that helpers can check that a
# test using C NUT or root says so with its markers: ``-m "not interop"`` must then run
# everywhere, and ``-m "not root"`` as any user.
current_test = None


def _require_marker(marker: str, what: str) -> None:
    test = current_test
    if test is not None and test.get_closest_marker(marker) is None:
        pytest.fail(f"{test.nodeid} {what}: mark it @pytest.mark.{marker}", pytrace=False)


def c_prog(name: str) -> str:
    """Path of a C NUT program (daemons and drivers in /lib/nut, clients in /usr/bin)."""
    _require_marker("interop", f"runs C NUT's {name}")
    for d in (C_SBIN, C_BIN, Path("/usr/sbin"), Path("/sbin")):
        if (d / name).exists():
            return str(d / name)
    return str(C_SBIN / name)


def our_prog(name: str) -> str:
    return str(OUR_BIN / name)


def as_c(output):
    """Our output as C would print it: where C prints its version in text, we print
    ``VERSION_TEXT`` (the version plus our name, tests/diff/test_version_text.py checks that
    once); comparisons with C read past it."""
    from nutpy import NUT_VERSION, VERSION_TEXT

    if isinstance(output, bytes):
        return output.replace(VERSION_TEXT.encode(), NUT_VERSION.encode())
    return output.replace(VERSION_TEXT, NUT_VERSION)


def run_as_c(run, argv, **kw) -> subprocess.CompletedProcess:
    """``run(argv, **kw)`` (a NutEnv's run) with stdout and stderr passed through ``as_c``."""
    r = run(argv, **kw)
    r.stdout, r.stderr = as_c(r.stdout), as_c(r.stderr)
    return r


def have_c_nut() -> bool:
    return (C_SBIN / "upsd").exists() and (C_BIN / "upsc").exists()


# .ci/run sets this: there, a missing oracle (C NUT, libwrap, NSS tools) is a failure
IN_CI = os.environ.get("NUTPY_REQUIRE_C_NUT") == "1"


def require(present: bool, msg: str) -> None:
    """Skip with ``msg`` when something a test compares against is missing; fail in CI."""
    if present:
        return
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)


def require_c_nut() -> None:
    _require_marker("interop", "needs C NUT")
    require(have_c_nut(), "C NUT not installed (apt-get install -y nut-server nut-client)")


def require_fixtures(path: Path = DDL) -> Path:
    if not path.exists():
        pytest.skip(f"real device dumps not present at {path} (../shared/fixtures beside the "
                    "repository); they only add coverage")
    return path


def require_root() -> None:
    _require_marker("root", "needs root")
    if os.geteuid() != 0:
        pytest.skip("needs root")


def free_port() -> int:
    """A TCP port free on every address, IPv4 and IPv6 (tests also LISTEN on * and ::):
    the kernel's pick for 0.0.0.0, kept only if [::] can take it too."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("0.0.0.0", 0))
            port = s.getsockname()[1]
            try:
                s6 = socket.socket(socket.AF_INET6)
            except OSError:  # no IPv6 on this machine
                return port
            with s6:
                s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    s6.bind(("::", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no TCP port free on both IPv4 and IPv6")


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def unix_socket_listening(path: str | Path) -> bool:
    """Whether a process listens on the Unix socket ``path`` (the file appears at bind(), a
    moment before listen(): a connect in between is refused). Read from /proc/net/unix,
    without connecting: C 2.8.0's drivers abort on their next broadcast after a client
    that hung up at once (fd_set overflow)."""
    path = str(path)
    listening = 0x10000  # __SO_ACCEPTCON in the Flags column
    try:
        with open("/proc/net/unix") as f:
            next(f)
            for line in f:
                fields = line.split()
                if len(fields) >= 8 and fields[7] == path and int(fields[3], 16) & listening:
                    return True
    except OSError:
        return os.path.exists(path)
    return False


def dump_complete(status_reply: str | bytes) -> bool:
    """Whether a reply to GET VAR <ups> ups.status shows upsd holds the driver's whole dump.
    An ERR (driver not yet connected) does not: upsd's next step is to connect and answer
    WAIT until the dump is done."""
    if isinstance(status_reply, bytes):
        status_reply = status_reply.decode()
    return status_reply.startswith("VAR ") and "WAIT" not in status_reply


class DriverSocket:
    """A client of the driver's Unix socket that keeps the variables it announces."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.sock.settimeout(0.2)
        self.buf = b""
        self.values: dict[str, str] = {}
        self.lines: list[str] = []

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\n")

    def pump(self) -> None:
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        if not data:
            raise ConnectionError("driver closed its socket")
        self.buf += data
        *complete, self.buf = self.buf.split(b"\n")
        for raw in complete:
            line = raw.decode()
            self.lines.append(line)
            if line.startswith("SETINFO "):
                _, name, value = line.split(" ", 2)
                self.values[name] = value.strip('"')

    def wait(self, predicate, timeout: float = 20, what: str = "driver"):
        def check():
            self.pump()
            return predicate()
        return wait_for(check, timeout, interval=0, what=what)

    def close(self) -> None:
        self.sock.close()


class NutEnv:
    """A NUT installation in a temp dir: ``etc/`` (NUT_CONFPATH) and ``state/``
    (NUT_STATEPATH, mode 0770). Processes started through it are killed at teardown."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.etc = root / "etc"
        self.state = root / "state"
        self.etc.mkdir(parents=True, exist_ok=True)
        self.state.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state, 0o770)
        self.procs: list[subprocess.Popen] = []
        self.port = free_port()

    def write(self, name: str, text: str, mode: int = 0o640) -> Path:
        p = self.etc / name
        p.write_text(text)
        os.chmod(p, mode)
        return p

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(NUT_CONFPATH=str(self.etc), NUT_STATEPATH=str(self.state),
                   NUT_ALTPIDPATH=str(self.state), NUT_PIDPATH=str(self.state))
        env.pop("NUT_DEBUG_LEVEL", None)
        env.update(extra)
        return env

    def run(self, argv: list[str], timeout: float = 30, input: str | None = None,
            **extra_env: str) -> subprocess.CompletedProcess:
        return subprocess.run(argv, env=self.env(**extra_env), capture_output=True,
                              text=True, timeout=timeout, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)

    def start(self, argv: list[str], **extra_env: str) -> subprocess.Popen:
        p = subprocess.Popen(argv, env=self.env(**extra_env), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(p)
        return p

    def socket_path(self, driver: str, ups: str) -> Path:
        return self.state / f"{driver}-{ups}"

    def wait_socket(self, driver: str, ups: str, timeout: float = 15) -> None:
        path = self.socket_path(driver, ups)
        wait_for(lambda: unix_socket_listening(path), timeout, what=f"driver socket {path}")

    def wait_port(self, port: int | None = None, timeout: float = 15) -> None:
        port = port or self.port
        wait_for(lambda: port_open(port), timeout, what=f"port {port}")

    def pid_of(self, name: str) -> int | None:
        try:
            return int((self.state / f"{name}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, p: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def kill_pidfile(self, name: str) -> None:
        """Stop a daemon that backgrounded itself, by the PID in its PID file (which it
        wrote because this test started it)."""
        pid = self.pid_of(name)
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
            wait_for(lambda: not alive(pid), 10, what=f"{name} to exit")

    def close(self) -> None:
        for p in reversed(self.procs):
            self.stop(p)
            for stream in (p.stdout, p.stderr):
                if stream:
                    stream.close()


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie child of ours counts as gone)."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


_USAGE_LINE = re.compile(r"^(?:usage: |\s+)\S*\b(?:upsc|upscmd|upsrw|upslog|upsd|upsmon|upsdrvctl|dummy-ups|PROG)\b")
_OPTION = re.compile(r"^\s+(-[A-Za-z0-9])\b", re.M)


def help_shape(text: str) -> str:
    """Help texts are our own words; what must match C is their interface: the banner,
    the usage lines and the set of options described. Other text passes through."""
    if "usage:" not in text:
        return text
    lines = text.splitlines()
    kept = [l for l in lines if l.startswith("Network UPS Tools") or _USAGE_LINE.match(l)]
    options = sorted(set(_OPTION.findall(text)))
    return "\n".join(kept) + "\noptions: " + " ".join(options) + "\n"


# ---- running drivers and reading them with C upsc

def upsc(env: NutEnv, target: str, *args: str) -> subprocess.CompletedProcess:
    return env.run([c_prog("upsc"), f"{target}@127.0.0.1:{env.port}", *args], timeout=20)


def upsc_ready(env: NutEnv, ups: str, timeout: float = 20) -> str:
    """upsc output once upsd has the whole dump: upsd answers while the dump is still
    arriving, so wait for two identical reads in a row."""
    last: list[str | None] = [None]

    def attempt():
        r = upsc(env, ups)
        out = r.stdout if r.returncode == 0 and "ups.status: WAIT" not in r.stdout else None
        stable = out is not None and out == last[0]
        last[0] = out
        return out if stable else None
    return wait_for(attempt, timeout, interval=0.1, what=f"upsc {ups}")


def as_dict(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        out[name] = value
    return out


def start_all(env: NutEnv, argvs: list[list[str]]) -> None:
    """Start backgrounding drivers in parallel; each launcher exits once its driver is up."""
    procs = [subprocess.Popen(a, env=env.env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for a in argvs]
    for argv, p in zip(argvs, procs):
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, f"{argv}: rc={p.returncode}\n{out.decode()}{err.decode()}"


def stop_by_pidfiles(env: NutEnv, names: list[str]) -> None:
    """SIGTERM every driver we started (PIDs from their PID files), then wait for all:
    C dummy-ups needs up to a second each to notice."""
    pids = [pid for pid in (env.pid_of(n) for n in names) if pid]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + 10
    for pid in pids:
        while time.monotonic() < deadline and alive(pid):
            time.sleep(0.02)
