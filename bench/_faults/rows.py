"""The faults. Each row is a function ``(kind, root) -> Outcome`` that builds a fresh stack
of ``kind`` ("C" or "ours") under ``root``, runs the good client, the writer and upsmon,
injects its fault, waits (bounded) for the system to recover, and says what happened.

Recovery is measured from the moment the fault ends (the process is back, the signal sent,
the attack over, the device plugged in again) to the first answered poll of the good client
(polling every 10-20 ms), unless the row says otherwise."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench._faults import clients as cl
from bench._faults.stack import Stack, alive, fd_count, rss_kb, wait_until

REPO = Path(__file__).resolve().parents[2]
RECOVERY_LIMIT = 30.0  # a fault not recovered after this is reported as such


@dataclass
class Outcome:
    did: str = ""  # what the system did
    recovery: str = "-"  # time to recover
    lost: str = "-"  # acknowledged SET/INSTCMD lost
    shutdown: str = "none"  # upsmon shutdowns (false: the UPS is never critical)
    notes: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "not recovered"
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _errors(d: dict[str, int]) -> str:
    return ", ".join(f"{k} x{v}" for k, v in sorted(d.items(), key=lambda kv: -kv[1])) or "none"


class Run:
    """The stack plus the good client, the writer and the notification window."""

    def __init__(self, stack: Stack, poll_interval: float = 0.02, writer: bool = True) -> None:
        self.stack = stack
        self.poller = cl.Poller(stack.port, poll_interval)
        self.writer = cl.Writer(stack.port) if writer else None
        self.wall0 = time.time()

    def __enter__(self) -> "Run":
        self.stack.start()
        self.wall0 = time.time()
        self.poller.start()
        if self.writer:
            self.writer.start()
        time.sleep(2.0)  # steady state first
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.writer:
                self.writer.stop()
            self.poller.stop()
        finally:
            self.stack.close()

    def recovered_after(self, t: float, limit: float = RECOVERY_LIMIT) -> float | None:
        ok = wait_until(lambda: self.poller.first_ok_after(t), limit, 0.01)
        return None if ok is None else max(0.0, ok - t)

    def finish(self, out: Outcome, settle: float = 2.0) -> Outcome:
        time.sleep(settle)
        if self.writer:
            self.writer.stop()
            out.lost = str(len(self.writer.lost)) + (
                f" ({len(self.writer.unresolved)} accepted, never resolved)"
                if self.writer.unresolved else "")
            out.figures["writer"] = self.writer.summary()
            out.figures["lost_detail"] = self.writer.lost[:5]
        self.poller.stop()
        shutdowns = self.stack.shutdowns()
        out.shutdown = f"{len(shutdowns)} FALSE SHUTDOWN" if shutdowns else "none"
        for key in ("driver", "upsd"):
            p = self.stack.procs.get(key)
            if p is not None and p.poll() is not None:
                out.notes.append(f"{key} gone at the end ({_exit_text(p)})")
        notes = self.stack.notifications(self.wall0)
        if notes:
            out.notes.append("upsmon: " + " ".join(notes))
        return out


# ======================================================================================
# drivers


def driver_kill(kind: str, root: Path) -> Outcome:
    stack = Stack(kind, root)
    with Run(stack, poll_interval=0.01) as run:
        t_kill = time.monotonic()
        stack.kill("driver", signal.SIGKILL)
        time.sleep(1.0)
        old = stack.socket_id()
        t_start = time.monotonic()
        stack.start_driver(wait=0)
        ready = stack.wait_new_socket(old, 30)
        run.writer.driver_restarts.append(time.monotonic())
        out = Outcome()
        if ready is None:
            out.did = "driver did not come back"
            return run.finish(out)
        rec = run.recovered_after(ready)
        err = run.poller.first_error_after(t_kill)
        out.did = (f"clients got {_errors(run.poller.errors(t_kill, ready + (rec or 0)))}"
                   if err else "no client saw an error")
        served = run.poller.first_ok_after(t_start)
        out.recovery = (f"{_ms(rec)} after the new driver made its socket "
                        f"({_ms(ready - t_start)} after it was started)")
        out.figures["served_after_ready_s"] = rec
        out.figures["served_after_start_s"] = served - t_start if served else None
        return run.finish(out)


def driver_stop(kind: str, root: Path) -> Outcome:
    stack = Stack(kind, root, upsd_conf="MAXAGE 5\n")
    with Run(stack) as run:
        t_stop = time.monotonic()
        stack.send("driver", signal.SIGSTOP)
        time.sleep(8.0)
        t_cont = time.monotonic()
        stack.send("driver", signal.SIGCONT)
        rec = run.recovered_after(t_cont)
        err = run.poller.first_error_after(t_stop)
        out = Outcome()
        if err:
            out.did = (f"stale after {err[0] - t_stop:.1f} s (MAXAGE 5): "
                       f"{_errors(run.poller.errors(t_stop, t_cont + (rec or 0)))}")
        else:
            out.did = "clients kept being served (stale data not flagged)"
        out.recovery = f"{_ms(rec)} after SIGCONT"
        return run.finish(out)


def _upsd_var_names(port: int) -> set[str] | None:
    try:
        c = cl.LineConn(port, 3.0)
    except OSError:
        return None
    try:
        c.sock.sendall(b"LIST VAR u\n")
        names = set()
        while True:
            line = c.line()
            if line.startswith("END LIST") or line.startswith("ERR"):
                return names
            if line.startswith("VAR "):
                names.add(line.split(" ", 3)[2])
    except OSError:
        return None
    finally:
        c.close()


def driver_socket_garbage(kind: str, root: Path) -> Outcome:
    stack = Stack(kind, root)
    with Run(stack) as run:
        pid = stack.pid("driver")
        names_before = _upsd_var_names(stack.port) or set()
        t0 = time.monotonic()
        attack = cl.Attack(60, cl.driver_garbage(str(stack.socket_path))).start()
        time.sleep(10.0)
        attack.stop()
        t1 = time.monotonic()
        out = Outcome()
        survived = pid is not None and alive(pid)
        time.sleep(1.0)
        rec = run.recovered_after(t1, 10)
        errs = run.poller.errors(t0, t1 + 1)
        out.did = ("driver survived" if survived else
                   f"driver died ({_exit_text(stack.procs['driver'])})") + \
            f"; upsd clients got {_errors(errs)}"
        if survived:
            out.figures["fds_after"] = fd_count(pid)
            dump_ok = _dump_well_formed(stack.socket_path)
            out.did += {True: "; its DUMPALL well formed", None: "; no DUMPALL reply in 10 s",
                        False: "; its DUMPALL has malformed lines (variables the garbage "
                               "created)"}[dump_ok]
        names_after = _upsd_var_names(stack.port)
        if names_after is not None:
            out.did += f"; upsd now lists {len(names_after - names_before)} variables it created"
        out.recovery = "no outage" if not errs and survived else (
            _ms(rec) if survived else "needs a restart")
        return run.finish(out)


def _exit_text(p: subprocess.Popen) -> str:
    rc = p.poll()
    if rc is None:
        return "running"
    return f"signal {signal.Signals(-rc).name}" if rc < 0 else f"exit {rc}"


def _dump_well_formed(path: Path) -> bool | None:
    sys.path.insert(0, str(REPO / "tests"))
    from nutpy.common.parseconf import Tokenizer
    from nutpy.proto import sockproto

    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(path))
            s.sendall(b"NOBROADCAST\nDUMPALL\n")
            data = b""
            deadline = time.monotonic() + 10
            while b"DUMPDONE\n" not in data and time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    return False
                data += chunk
    except OSError:
        return False
    if b"DUMPDONE\n" not in data:
        return None
    # the dump, without broadcasts (C 2.8.0 knows no NOBROADCAST) around it
    data = data[:data.find(b"DUMPDONE\n") + 9]
    shape = {"SETINFO": 3, "ADDENUM": 3, "SETAUX": 3, "ADDRANGE": 4, "ADDCMD": 2}
    for line in Tokenizer().feed(data):
        msg = sockproto.parse_driver_message(line.words)
        if line.error or msg is None or len(line.words) < shape.get(msg.kind, 1) or \
                len(line.words) > shape.get(msg.kind, 99):
            return False
    return True


# ======================================================================================
# upsd


def upsd_kill(kind: str, root: Path) -> Outcome:
    stack = Stack(kind, root)
    with Run(stack) as run:
        t_kill = time.monotonic()
        stack.kill("upsd", signal.SIGKILL)
        time.sleep(1.0)
        t_start = time.monotonic()
        stack.start_upsd(wait=0)
        rec = run.recovered_after(t_start)
        logins = wait_until(lambda: stack.numlogins() >= 1 and time.monotonic(), 20, 0.05)
        out = Outcome()
        out.did = (f"clients got {_errors(run.poller.errors(t_kill, t_start + (rec or 0)))}; "
                   + (f"upsmon logged in again {logins - t_start:.1f} s after the restart"
                      if logins else "upsmon did not log in again"))
        out.recovery = f"{_ms(rec)} after upsd was started again"
        return run.finish(out)


def upsd_reload(kind: str, root: Path) -> Outcome:
    stack = Stack(kind, root)
    with Run(stack) as run:
        pollers = [cl.Poller(stack.port, 0.1) for _ in range(50)]
        for p in pollers:
            p.start()
        time.sleep(2.0)
        t0 = time.monotonic()
        before = [x for p in pollers for x in p.latencies_ms(t0 - 2, t0)]
        for _ in range(5):
            stack.send("upsd", signal.SIGHUP)
            time.sleep(1.0)
        t1 = time.monotonic()
        during = [x for p in pollers for x in p.latencies_ms(t0, t1)]
        errs: dict[str, int] = {}
        for p in pollers + [run.poller]:
            for k, v in p.errors(t0, t1).items():
                errs[k] = errs.get(k, 0) + v
        for p in pollers:
            p.stop()
        out = Outcome()
        out.did = (f"5 reloads under 51 polling clients: errors {_errors(errs)}; "
                   f"p99 {cl.percentile(before, 99):.2f} ms before, "
                   f"{cl.percentile(during, 99):.2f} ms during (max {max(during):.0f} ms)")
        out.recovery = "no outage" if not errs else "-"
        return run.finish(out)


def hostile_clients(kind: str, root: Path) -> Outcome:
    """Latency is measured with the good client alone in this process (the writer, a
    thread here, would take the GIL from it); the writer then runs under the same attack
    for the lost-acknowledgement check."""
    stack = Stack(kind, root)
    with Run(stack, poll_interval=0.01, writer=False) as run:
        pid = stack.pid("upsd")
        t_base = time.monotonic()
        time.sleep(5.0)
        base = run.poller.latencies_ms(t_base, time.monotonic())
        t0 = time.monotonic()
        attack = cl.Attack(20, cl.hostile_client(stack.port)).start()
        time.sleep(15.0)
        t1 = time.monotonic()
        run.writer = cl.Writer(stack.port)
        run.writer.start()
        time.sleep(5.0)
        attack.stop()
        lat = run.poller.latencies_ms(t0, t1)
        errs = run.poller.errors(t0, t1)
        out = Outcome()
        p50, p99 = cl.percentile(lat, 50), cl.percentile(lat, 99)
        out.figures.update(p50=p50, p99=p99, base_p99=cl.percentile(base, 99))
        survived = pid is not None and alive(pid)
        out.did = (f"good client p50 {p50:.2f} ms, p99 {p99:.2f} ms (without attack: p99 "
                   f"{cl.percentile(base, 99):.2f} ms); errors {_errors(errs)}; upsd "
                   + (f"survived, RSS {rss_kb(pid) / 1024:.1f} MB" if survived else "DIED"))
        out.recovery = "no outage" if not errs else "-"
        return run.finish(out)


def slowloris(kind: str, root: Path) -> Outcome:
    stack = Stack(kind, root)
    with Run(stack, poll_interval=0.02) as run:
        t0 = time.monotonic()
        attack = cl.Attack(300, cl.slowloris_client(stack.port)).start()
        fresh = []
        for _ in range(12):
            time.sleep(1.0)
            fresh.append(cl.try_fresh_client(stack.port))
        t1 = time.monotonic()
        attack.stop()
        lat = run.poller.latencies_ms(t0 + 2, t1)
        served = [t for o, t in fresh if o == "ok"]
        out = Outcome()
        out.did = (f"300 slow senders for 12 s: good client p99 {cl.percentile(lat, 99):.2f} ms; "
                   f"new clients served {len(served)}/{len(fresh)}"
                   + (f" (max {max(served) * 1000:.0f} ms)" if served else "")
                   + f"; errors {_errors(run.poller.errors(t0, t1))}")
        out.recovery = "no outage" if len(served) == len(fresh) else "-"
        return run.finish(out)


def maxconn_flood(kind: str, root: Path) -> Outcome:
    stack = Stack(kind, root, upsd_conf="MAXCONN 64\n")
    with Run(stack) as run:
        t0 = time.monotonic()
        socks = cl.flood_connections(stack.port, 200)
        fresh = []
        for _ in range(6):
            fresh.append(cl.try_fresh_client(stack.port, 1.0))
            time.sleep(0.5)
        t1 = time.monotonic()
        for s in socks:
            s.close()
        t_free = time.monotonic()
        back = wait_until(lambda: cl.try_fresh_client(stack.port, 0.5)[0] == "ok"
                          and time.monotonic(), 30, 0.05)
        out = Outcome()
        outcomes: dict[str, int] = {}
        for o, _ in fresh:
            outcomes[o] = outcomes.get(o, 0) + 1
        out.did = (f"MAXCONN 64, 200 idle connections: connected client "
                   f"{run.poller.summary(t0, t1)}, errors {_errors(run.poller.errors(t0, t1))}; "
                   f"new clients during the flood: {_errors(outcomes)}")
        out.recovery = (f"{_ms(back - t_free)} after the flood closed" if back
                        else "not recovered")
        return run.finish(out)


def tls_stuck(kind: str, root: Path) -> Outcome:
    nss = _nss_db(root)
    if nss is None:
        return Outcome(did="not run: NSS tools (certutil, pk12util) missing")
    stack = Stack(kind, root / "stack",
                  upsd_conf=f'CERTPATH {nss}\nCERTIDENT "faults" "dbpass"\n')
    with Run(stack) as run:
        t0 = time.monotonic()
        attack = cl.Attack(30, lambda i, stop: cl.stuck_tls_client(stack.port, i % 2 == 1)(
            i, stop)).start()
        tls = []
        for _ in range(8):
            time.sleep(2.0)
            tls.append(_tls_client(stack.port))
        t1 = time.monotonic()
        attack.stop()
        t2 = time.monotonic()
        ok = [t for o, t in tls if o == "ok"]
        errs = run.poller.errors(t0, t1)
        out = Outcome()
        out.did = (f"30 STARTTLS without a handshake for 16 s: plain client "
                   f"{run.poller.summary(t0, t1)}, errors {_errors(errs)}; "
                   f"new TLS clients served {len(ok)}/{len(tls)}"
                   + (f" (max {max(ok) * 1000:.0f} ms)" if ok else ""))
        if not errs and len(ok) == len(tls):
            out.recovery = "no outage"
        else:
            out.recovery = f"{_ms(run.recovered_after(t2))} after the attack ended"
        return run.finish(out)


def _nss_db(root: Path) -> Path | None:
    if not (shutil.which("certutil") and shutil.which("pk12util")):
        return None
    sys.path.insert(0, str(REPO / "tests"))
    from support import certs

    ca = certs.make_ca()
    server = certs.issue(ca, "localhost", dns=["localhost"], ips=["127.0.0.1"])
    return certs.make_nss_db(root / "nssdb", {"faults": server}, {}, password="dbpass",
                             issuer=ca)


def _tls_client(port: int) -> tuple[str, float]:
    t0 = time.monotonic()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            s.sendall(b"STARTTLS\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = s.recv(1)
                if not chunk:
                    return "closed", time.monotonic() - t0
                reply += chunk
            if not reply.startswith(b"OK STARTTLS"):
                return reply.decode(errors="replace").strip(), time.monotonic() - t0
            with ctx.wrap_socket(s) as t:
                t.sendall(b"VER\n")
                ok = t.recv(200).startswith(b"Network UPS Tools")
        return ("ok" if ok else "bad reply"), time.monotonic() - t0
    except socket.timeout:
        return "timeout", time.monotonic() - t0
    except (OSError, ssl.SSLError) as e:
        return type(e).__name__, time.monotonic() - t0


# ======================================================================================
# the state path


def _statepath_row(kind: str, root: Path, how: str) -> Outcome:
    mnt = root / "state"
    mnt.mkdir(parents=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=64,mode=0770", "tmpfs",
                        str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        return Outcome(did=f"not run: cannot mount a tmpfs ({r.stderr.strip()})")
    try:
        stack = Stack(kind, root, state=mnt)
        with Run(stack) as run:
            t0 = time.monotonic()
            fillers = _fill(mnt) if how == "full" else _remount(mnt, "ro")
            time.sleep(2.0)
            steady_errs = run.poller.errors(t0, time.monotonic())
            # restarts while it lasts: what a crash or an upgrade would do now
            stack.kill("driver", signal.SIGKILL)
            drv_ok = stack.start_driver(wait=5)
            run.writer.driver_restarts.append(time.monotonic())
            drv_msg = "" if drv_ok else _last_line(stack.log("driver"))
            t_restarts = time.monotonic()
            stack.kill("upsd", signal.SIGKILL)
            stack.start_upsd(wait=0)
            upsd_ok = wait_until(lambda: cl.try_fresh_client(stack.port, 0.5)[0] == "ok", 5,
                                 0.02) and stack.pid("upsd") is not None
            upsd_msg = "" if upsd_ok else _last_line(stack.log("upsd"))
            # space (or write access) comes back; whatever died is started again
            if how == "full":
                for f in fillers:
                    f.unlink()
            else:
                _remount(mnt, "rw")
            t_free = time.monotonic()
            if not drv_ok or stack.pid("driver") is None:
                stack.kill("driver")
                stack.start_driver(wait=10)
                run.writer.driver_restarts.append(time.monotonic())
            if not upsd_ok or stack.pid("upsd") is None:
                stack.kill("upsd")
                stack.start_upsd(wait=0)
            out = Outcome()
            what = "full" if how == "full" else "read-only"
            out.did = (f"while {what}: running processes: errors {_errors(steady_errs)}; "
                       "driver kill -9 + restart " + ("fine" if drv_ok else f"FAILED ({drv_msg})")
                       + "; upsd kill -9 + restart " +
                       ("fine" if upsd_ok else f"FAILED ({upsd_msg})"))
            if drv_ok and upsd_ok:
                out.recovery = f"{_ms(run.recovered_after(t_restarts))} after the restarts"
            else:
                out.recovery = (f"{_ms(run.recovered_after(t_free))} after it was writable "
                                "again and the failed process started again")
            return run.finish(out)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(mnt: Path) -> list[Path]:
    files = []
    big = mnt / "filler"
    try:
        with open(big, "wb") as f:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    except OSError:
        pass
    files.append(big)
    for i in range(10000):
        p = mnt / f"inode{i}"
        try:
            p.touch()
        except OSError:
            break
        files.append(p)
    return files


def _remount(mnt: Path, mode: str) -> list[Path]:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(mnt)], check=True)
    return []


def _last_line(text: str) -> str:
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    return lines[-1][:90] if lines else "no message"


def statepath_full(kind: str, root: Path) -> Outcome:
    return _statepath_row(kind, root, "full")


def statepath_readonly(kind: str, root: Path) -> Outcome:
    return _statepath_row(kind, root, "ro")


# ======================================================================================
# upsmon and the clock

CLOCK_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* The wall clock of this process moves by the number of seconds written in the file
   $NUTPY_CLOCK_OFFSET_FILE; CLOCK_MONOTONIC and CLOCK_BOOTTIME are left alone, as when an
   administrator or NTP steps the system clock. */
static int (*real_clock_gettime)(clockid_t, struct timespec *);

static long offset(void) {
    const char *path = getenv("NUTPY_CLOCK_OFFSET_FILE");
    char buf[32];
    long v = 0;
    int fd, n;
    if (!path || (fd = open(path, O_RDONLY)) < 0)
        return 0;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n > 0) {
        buf[n] = 0;
        v = strtol(buf, NULL, 10);
    }
    return v;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    int r;
    if (!real_clock_gettime)
        real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
    r = real_clock_gettime(id, ts);
    if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        ts->tv_sec += offset();
    return r;
}

int gettimeofday(struct timeval *tv, void *tz) {
    struct timespec ts;
    (void)tz;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (tv) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return 0;
}

time_t time(time_t *t) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (t)
        *t = ts.tv_sec;
    return ts.tv_sec;
}
"""


def _clock_shim(root: Path) -> Path | None:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        return None
    src, lib = root / "clockshift.c", root / "clockshift.so"
    src.write_text(CLOCK_SHIM)
    r = subprocess.run([gcc, "-shared", "-fPIC", "-O2", "-o", str(lib), str(src), "-ldl"],
                       capture_output=True, text=True)
    return lib if r.returncode == 0 else None


def clock_jump(kind: str, root: Path) -> Outcome:
    """The UPS is on battery (not low) and upsmon has DEADTIME 8. The driver is killed and
    started again (upsd answers DRIVER-NOT-CONNECTED for a second or two, a poll or two
    fail): first as is, then with upsmon's wall clock stepped 1 h forward while it has no
    data, as NTP does when the network comes back (an LD_PRELOAD shim moves
    CLOCK_REALTIME for upsmon's processes only, as settimeofday would; the monotonic and
    boot clocks do not move). Neither is a reason to shut down."""
    shim = _clock_shim(root)
    if shim is None:
        return Outcome(did="not run: no C compiler for the clock shim")
    offset_file = root / "clock-offset"
    offset_file.write_text("0\n")
    os.chmod(root, 0o755)
    os.chmod(offset_file, 0o644)
    stack = Stack(kind, root / "stack", deadtime=8,
                  dev_text="ups.status: OB DISCHRG\nbattery.charge: 90\nups.id: w0\n",
                  upsmon_env={"LD_PRELOAD": str(shim),
                              "NUTPY_CLOCK_OFFSET_FILE": str(offset_file)})

    def driver_blip(jump: bool) -> float | None:
        t0 = time.monotonic()
        stack.kill("driver", signal.SIGKILL)
        time.sleep(0.5)
        if jump:  # NTP steps the clock while upsmon has no data
            offset_file.write_text("3600\n")
        time.sleep(1.0)  # down long enough for upsmon (polling every second) to notice
        stack.start_driver(wait=30)
        run.writer.driver_restarts.append(time.monotonic())
        err = wait_until(lambda: run.poller.first_error_after(t0), 10, 0.01)
        back = wait_until(lambda: run.poller.first_ok_after(err[0]), 30, 0.01) if err else None
        time.sleep(4.0)  # upsmon's next polls, and whatever it decides
        return back - err[0] if err and back else None

    with Run(stack) as run:
        time.sleep(2.0)
        outage = driver_blip(jump=False)
        shut_before = len(stack.shutdowns())
        outage2 = driver_blip(jump=True)
        shut_after = len(stack.shutdowns())
        offset_file.write_text("0\n")
        out = Outcome()
        out.did = (f"driver restart ({_ms(outage)} without data): "
                   + ("SHUTDOWN" if shut_before else "no shutdown")
                   + f"; the same restart with the wall clock stepped +1 h 0.5 s into it "
                   f"({_ms(outage2)} without data): "
                   + ("SHUTDOWN" if shut_after > shut_before else "no shutdown"))
        out.recovery = "-"
        return run.finish(out)


# ======================================================================================
# devices


def usb_vanish(kind: str, root: Path) -> Outcome:
    sys.path.insert(0, str(REPO / "tests"))
    from support.fakeusb import FakeUsbBus, compiler
    from support.usbhid_models import apc_back_ups_rs

    if compiler() is None:
        return Outcome(did="not run: needs gcc for the stand-in libusb-1.0")
    if kind == "C" and not os.path.exists("/lib/nut/usbhid-ups"):
        return Outcome(did="not run: C usbhid-ups missing")
    with FakeUsbBus() as bus:
        model = apc_back_ups_rs()
        dev = model.device()
        bus.plug(dev, bus_number=1, ports=(1,))
        env = bus.env(base={})
        stack = Stack(kind, root, driver="usbhid-ups", port="auto", driver_env=env)
        with Run(stack) as run:
            dev.recording = False
            time.sleep(2.0)
            t_unplug = time.monotonic()
            bus.unplug(dev)
            stale = wait_until(lambda: run.poller.first_error_after(t_unplug), 20, 0.02)
            time.sleep(max(0.0, 8.0 - (time.monotonic() - t_unplug)))
            t_plug = time.monotonic()
            bus.replug(dev)
            rec = run.recovered_after(t_plug)
            out = Outcome()
            out.did = ((f"stale {stale[0] - t_unplug:.1f} s after the unplug ({stale[1]})"
                        if stale else "never marked stale") +
                       f"; errors {_errors(run.poller.errors(t_unplug, t_plug + (rec or 0)))}")
            out.recovery = f"{_ms(rec)} after the replug"
            return run.finish(out)


def serial_vanish(kind: str, root: Path) -> Outcome:
    """A Megatec Q1 UPS on a serial line (``nutpy sim``'s pty simulator behind a stable
    link name, as a udev alias gives a USB-serial adapter) that is pulled out and put
    back, under nutdrv_qx with pollinterval 1."""
    from nutpy.sim.pty import PtyPort, Runner
    from nutpy.sim.q1 import Q1Ups

    if kind == "C" and not os.path.exists("/lib/nut/nutdrv_qx"):
        return Outcome(did="not run: C nutdrv_qx missing")
    root.mkdir(parents=True, exist_ok=True)
    link = str(root / "ttyUPS")
    device = Q1Ups("megatec")
    with Runner(device, PtyPort(link)):
        stack = Stack(kind, root / "stack", driver="nutdrv_qx", port=link,
                      ups_conf="  pollinterval = 1\n  protocol = megatec\n")
        with Run(stack) as run:
            time.sleep(2.0)
            t_unplug = time.monotonic()
            with device.lock:
                device.control("unplug")
            stale = wait_until(lambda: run.poller.first_error_after(t_unplug), 25, 0.02)
            time.sleep(max(1.0, 12.0 - (time.monotonic() - t_unplug)))
            t_plug = time.monotonic()
            with device.lock:
                device.control("replug")
            rec = run.recovered_after(t_plug)
            out = Outcome()
            out.did = ((f"stale {stale[0] - t_unplug:.1f} s after the unplug ({stale[1]})"
                        if stale else "never marked stale (12 s)") +
                       f"; errors {_errors(run.poller.errors(t_unplug, t_plug + (rec or 0)))}")
            out.recovery = f"{_ms(rec)} after the replug"
            if rec is None:
                out.notes.append(f"driver's last words: {_last_line(stack.log('driver'))}")
            return run.finish(out)


ROWS = {
    "driver_kill": ("driver killed -9 and restarted", driver_kill),
    "driver_stop": ("driver stopped (SIGSTOP) 8 s, then SIGCONT (MAXAGE 5)", driver_stop),
    "driver_garbage": ("garbage on the driver's Unix socket: 60 clients x 10 s of random "
                       "lines (half of them reconnecting after each burst)",
                       driver_socket_garbage),
    "upsd_kill": ("upsd killed -9 with clients and upsmon connected, restarted 1 s later",
                  upsd_kill),
    "upsd_reload": ("upsd reloaded (SIGHUP) 5 times under 51 polling clients", upsd_reload),
    "hostile": ("20 hostile clients for 10 s (random bytes, overlong lines, NULs, '#' in "
                "quotes) while a good client polls every 10 ms", hostile_clients),
    "slowloris": ("slowloris: 300 connections sending a byte a second", slowloris),
    "maxconn": ("MAXCONN 64 flooded with 200 idle connections", maxconn_flood),
    "tls_stuck": ("TLS handshakes that never finish: 30 clients stop after OK STARTTLS "
                  "(half of them mid ClientHello)", tls_stuck),
    "statepath_full": ("state path full (blocks and inodes), driver and upsd restarted "
                       "meanwhile", statepath_full),
    "statepath_ro": ("state path read-only, driver and upsd restarted meanwhile",
                     statepath_readonly),
    "clock_jump": ("UPS on battery: a driver restart (1-2 s without data), then the same "
                   "restart with upsmon's wall clock stepped +1 h during it", clock_jump),
    "usb_vanish": ("USB UPS (usbhid-ups, emulated) unplugged 8 s and plugged back",
                   usb_vanish),
    "serial_vanish": ("serial UPS (nutdrv_qx, Megatec Q1 simulator on a pty) unplugged 12 s "
                      "and plugged back", serial_vanish),
}
