"""Driver benchmark: our dummy-ups against C dummy-ups 2.8.0, both behind one C upsd.

* RSS of each driver process serving the standard bench device.
* SET VAR latency: from sending ``SET VAR`` to upsd until ``GET VAR`` (another
  connection, polled back to back) returns the new value.
* File-change latency: from rewriting the ``.dev`` file until the value is visible.

Run: python -m bench.driver [set_rounds] [file_rounds]
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEV = REPO.parent / "shared" / "fixtures" / "bench" / "Eaton__5SC_750__usbhid-ups__2.7.2__01.dev"
C_DRIVER = "/lib/nut/dummy-ups"
C_UPSD = "/lib/nut/upsd"
OUR_DRIVER = str(Path(sys.executable).parent / "dummy-ups")


class Conn:
    def __init__(self, port: int) -> None:
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def ask(self, line: str) -> str:
        self.s.sendall(line.encode() + b"\n")
        while b"\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                raise ConnectionError("upsd closed the connection")
            self.buf += data
        out, self.buf = self.buf.split(b"\n", 1)
        return out.decode()


def daemon_pid(path: Path, timeout: float = 10) -> int:
    """C rewrites its PID file after forking, so wait for a PID that is alive."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid = int(path.read_text())
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] != "Z":
                    return pid
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no live PID in {path}")
        time.sleep(0.02)


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def wait_value(getter: Conn, ups: str, var: str, want: str, timeout: float = 15) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if getter.ask(f"GET VAR {ups} {var}") == f'VAR {ups} {var} "{want}"':
            return time.perf_counter()
    raise TimeoutError(f"{ups}: {var} never became {want}")


def main() -> None:
    set_rounds = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 300
    file_rounds = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 8
    print(f"reproduce: python -m bench.driver {set_rounds} {file_rounds}")
    if not (os.path.exists(C_DRIVER) and os.path.exists(C_UPSD) and DEV.exists()):
        print("skipped: needs C NUT (nut-server) and the shared bench fixture")
        return
    root = Path(tempfile.mkdtemp(prefix="nutpy-bench-driver-"))
    etc, state = root / "etc", root / "state"
    etc.mkdir(), state.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for name in ("c", "py"):
        shutil.copy(DEV, etc / f"{name}.dev")
    (etc / "ups.conf").write_text("".join(
        f"[{n}]\n  driver = dummy-ups\n  port = {n}.dev\n" for n in ("c", "py")))
    (etc / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {port}\n")
    (etc / "upsd.users").write_text("[b]\n  password = b\n  actions = SET\n")
    os.chmod(etc / "upsd.users", 0o600)
    env = dict(os.environ, NUT_CONFPATH=str(etc), NUT_STATEPATH=str(state),
               NUT_ALTPIDPATH=str(state))
    env.pop("NUT_DEBUG_LEVEL", None)
    pids: list[int] = []
    upsd = None
    try:
        for prog, name in ((C_DRIVER, "c"), (OUR_DRIVER, "py")):
            subprocess.run([prog, "-a", name, "-u", "root"], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            pids.append(daemon_pid(state / f"dummy-ups-{name}.pid"))
        upsd = subprocess.Popen([C_UPSD, "-u", "root", "-F"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                getter = Conn(port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        for name in ("c", "py"):
            while getter.ask(f"GET VAR {name} ups.status") in (
                    f'VAR {name} ups.status "WAIT"', "ERR DATA-STALE", "ERR DRIVER-NOT-CONNECTED"):
                time.sleep(0.05)
        time.sleep(0.5)
        rss = {name: rss_kb(pid) for name, pid in zip(("c", "py"), pids)}
        setter = Conn(port)
        setter.ask("USERNAME b")
        setter.ask("PASSWORD b")

        set_lat: dict[str, list[float]] = {"c": [], "py": []}
        for i in range(set_rounds):
            for name in ("c", "py"):
                value = str(100 + i)
                t0 = time.perf_counter()
                reply = setter.ask(f'SET VAR {name} ups.delay.start "{value}"')
                assert reply.startswith("OK"), reply
                set_lat[name].append(wait_value(getter, name, "ups.delay.start", value) - t0)

        file_lat: dict[str, list[float]] = {"c": [], "py": []}
        text = DEV.read_text()
        for i in range(file_rounds):
            for name in ("c", "py"):
                value = str(10 + i)
                path = etc / f"{name}.dev"
                path.write_text(text + f"ups.temperature: {value}\n")
                st = path.stat()
                # make sure even C (which compares whole seconds) sees a new mtime
                os.utime(path, (st.st_atime, int(st.st_mtime) + 10 + i))
                t0 = time.perf_counter()
                file_lat[name].append(wait_value(getter, name, "ups.temperature", value, 30) - t0)

        def ms(v: float) -> str:
            return f"{v * 1000:8.2f} ms"

        print(f"driver RSS: C {rss['c'] / 1024:.1f} MB, ours {rss['py'] / 1024:.1f} MB "
              f"(ratio {rss['py'] / max(1, rss['c']):.1f}x; target <= 20 MB)")
        for label, lat in (("SET VAR -> visible via upsd", set_lat),
                           ("file change -> visible via upsd", file_lat)):
            c50, c99 = statistics.median(lat["c"]), pct(lat["c"], 0.99)
            p50, p99 = statistics.median(lat["py"]), pct(lat["py"], 0.99)
            print(f"{label} ({len(lat['py'])} rounds):")
            print(f"  C    p50 {ms(c50)}  p99 {ms(c99)}")
            print(f"  ours p50 {ms(p50)}  p99 {ms(p99)}  "
                  f"(ratio p50 {p50 / c50:.2f}, p99 {p99 / c99:.2f})")
    finally:
        if upsd is not None:
            upsd.terminate()
            upsd.wait(10)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        time.sleep(1.5)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
