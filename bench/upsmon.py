"""upsmon: C upsmon 2.8.0 and ours side by side, watching the same C upsd (C dummy-ups
drivers), at POLLFREQ 5, with 1 UPS and with 50 UPSes:

* CPU of the whole upsmon (all its processes), as a share of one core over the window,
  read from /proc/<pid>/task/*/schedstat;
* memory: the RSS of the process that polls (C's child, our monitor) and the PSS of all
  its processes together (shared pages counted once).

Targets (ours, 50 UPSes): <= 20 MB, <= 1 % of a core.

Reproduce: ``.venv/bin/python -m bench.upsmon [seconds]`` (root, Debian's nut packages);
the window defaults to 30 s per case (``NUTPY_BENCH_UPSMON_SECONDS``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import VENV_BIN, cpu_seconds, free_port, port_open, stop_processes, wait

POLLFREQ = 5
WARMUP = 8.0


def tree(pid: int) -> list[int]:
    found, i = [pid], 0
    while i < len(found):
        try:
            with open(f"/proc/{found[i]}/task/{found[i]}/children") as f:
                found += [int(x) for x in f.read().split()]
        except OSError:
            pass
        i += 1
    return found


def status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return status_kb(pid, "VmRSS")


class Server:
    """C dummy-ups for each UPS and C upsd."""

    def __init__(self, root: Path, count: int) -> None:
        self.procs: list[subprocess.Popen] = []
        self.port = free_port()
        state = root / "state"
        state.mkdir(mode=0o770, parents=True)
        self.env = dict(os.environ, NUT_CONFPATH=str(root), NUT_STATEPATH=str(state),
                        NUT_ALTPIDPATH=str(state))
        conf = ""
        for i in range(count):
            (root / f"u{i}.dev").write_text("ups.status: OL\nbattery.charge: 100\n")
            conf += f"[u{i}]\n  driver = dummy-ups\n  port = u{i}.dev\n"
        (root / "ups.conf").write_text(conf)
        (root / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {self.port}\n")
        (root / "upsd.users").write_text("[mon]\n  password = pw\n  upsmon secondary\n")
        for i in range(count):
            self.procs.append(subprocess.Popen(["/lib/nut/dummy-ups", "-a", f"u{i}", "-u",
                                                "root", "-F"], env=self.env,
                                               stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
        wait(lambda: all((state / f"dummy-ups-u{i}").exists() for i in range(count)), 60)
        self.procs.append(subprocess.Popen(["/lib/nut/upsd", "-u", "root", "-F"],
                                           env=self.env, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        wait(lambda: port_open(self.port), 20)

    def close(self) -> None:
        stop_processes(self.procs)


def write_conf(root: Path, name: str, port: int, count: int) -> Path:
    d = root / name
    d.mkdir()
    os.chmod(d, 0o755)
    lines = [f"MONITOR u{i}@127.0.0.1:{port} 1 mon pw secondary" for i in range(count)]
    lines += [f"POLLFREQ {POLLFREQ}", f"POLLFREQALERT {POLLFREQ}", "MINSUPPLIES 1",
              "SHUTDOWNCMD /bin/true", f"POWERDOWNFLAG {d}/killpower"]
    conf = d / "upsmon.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def start(kind: str, conf: Path, env: dict) -> subprocess.Popen:
    if kind == "ours":
        argv = [str(VENV_BIN / "upsmon"), "-F", "-f", str(conf)]
        env = dict(env, NUT_PIDPATH=str(conf.parent))
    else:  # its own /run/nut, for the PID file 2.8.0 keeps there
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                f"mount -t tmpfs none /run/nut && exec /lib/nut/upsmon -F -f {conf}"]
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def measure(count: int, seconds: float) -> dict[str, dict[str, float]]:
    root = Path(tempfile.mkdtemp(prefix="nutpy-bench-upsmon-"))
    os.chmod(root, 0o755)
    server = Server(root / "server", count)
    procs: dict[str, subprocess.Popen] = {}
    try:
        for kind in ("C", "ours"):
            procs[kind] = start(kind, write_conf(root, kind, server.port, count), server.env)
        time.sleep(WARMUP)
        before = {k: sum(cpu_seconds(p) for p in tree(proc.pid)) for k, proc in procs.items()}
        t0 = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        result = {}
        for kind, proc in procs.items():
            pids = tree(proc.pid)
            cpu = sum(cpu_seconds(p) for p in pids) - before[kind]
            poller = pids[1] if len(pids) > 1 else pids[0]
            result[kind] = {"cpu": cpu / elapsed * 100,
                            "rss": status_kb(poller, "VmRSS") / 1024,
                            "pss": sum(pss_kb(p) for p in pids) / 1024,
                            "procs": len(pids)}
        return result
    finally:
        for proc in procs.values():
            for pid in reversed(tree(proc.pid)):
                try:
                    os.kill(pid, signal.SIGTERM)
                except OSError:
                    pass
        stop_processes(list(procs.values()))
        server.close()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    if os.geteuid() != 0 or not Path("/lib/nut/upsmon").exists() or not shutil.which("unshare"):
        print("bench.upsmon: needs root, C NUT (/lib/nut/upsmon) and unshare; skipped")
        return
    args = [a for a in sys.argv[1:] if a.replace(".", "").isdigit()]
    seconds = float(args[0] if args else os.environ.get("NUTPY_BENCH_UPSMON_SECONDS", 30))
    print(f"upsmon, C 2.8.0 vs ours, same C upsd, POLLFREQ {POLLFREQ}, {seconds:.0f} s windows:")
    for count in (1, 50):
        r = measure(count, seconds)
        c, o = r["C"], r["ours"]
        print(f"  {count:2d} UPS  CPU      C {c['cpu']:6.3f} %  ours {o['cpu']:6.3f} %  "
              f"ratio {o['cpu'] / c['cpu'] if c['cpu'] else float('inf'):5.1f}x"
              + ("  (target ours <= 1 %)" if count == 50 else ""))
        print(f"  {count:2d} UPS  RSS      C {c['rss']:6.1f} MB ours {o['rss']:6.1f} MB "
              f"ratio {o['rss'] / c['rss']:5.1f}x  (the polling process"
              + ("; target ours <= 20 MB)" if count == 50 else ")"))
        print(f"  {count:2d} UPS  PSS all  C {c['pss']:6.1f} MB ours {o['pss']:6.1f} MB "
              f"({c['procs']:.0f} and {o['procs']:.0f} processes)")
    print("reproduce: .venv/bin/python -m bench.upsmon [seconds]")


if __name__ == "__main__":
    main()
