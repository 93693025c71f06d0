"""upslog: log lines identical to C upslog 2.8.0 for the same format, SIGHUP reopen, PID
file, several targets, and the format compiler."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from nutpy.clients.upslog import compile_format
from support.client_env import SSL_NOISE
from support.harness import as_c, c_prog, our_prog, wait_for

FORMAT = ("%HOST% %UPSHOST% <%VAR ups.status%> %VAR battery.charge% %VAR no.such% "
          "%VAR bad% %VAR% %BOGUS% %% %hostname% %upshostx% [%VAR device.mfr%] %tail")


def start(server, prog: str, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([prog, *args], env=server.env.env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_both(server, args: list[str], name: str, seconds: float) -> list[tuple[str, str, int]]:
    """C's upslog and ours side by side for ``seconds``, then SIGTERM: (stdout, stderr
    without the SSL notice, exit status) of each, C's first. Their PID files are removed."""
    base = f"{name}-{os.getpid()}"
    procs = [start(server, c_prog("upslog"), [*args, "-p", base + "-c"]),
             start(server, our_prog("upslog"), [*args, "-p", base + "-ours"])]
    time.sleep(seconds)
    results = []
    for p in procs:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10)
        results.append((as_c(out), as_c(err).replace(SSL_NOISE, ""), p.returncode))
    for path in (f"/run/nut/{base}-c.pid", f"/run/nut/{base}-ours.pid"):
        if os.path.exists(path):
            os.unlink(path)
    return results


@pytest.mark.interop
def test_upslog_lines_match_c(server):
    args = ["-u", "root", "-i", "1", "-l", "-", "-s", f"dummy@127.0.0.1:{server.port}",
            "-f", FORMAT]
    (c_out, c_err, c_rc), (out, err, rc) = run_both(server, args, "h3-upslog", 2.3)
    assert (err, rc) == (c_err, c_rc) == ("Signal 15: exiting\n", 0)
    c_lines, lines = c_out.splitlines(), out.splitlines()
    assert lines[:2] == c_lines[:2]
    assert lines[1] == f"logging status of dummy@127.0.0.1:{server.port} to - (1s intervals)"
    # One line at start, one per second, one more after SIGTERM: 3 or 4 in 2.3 s.
    assert 3 <= len(lines) - 2 <= 4 and 3 <= len(c_lines) - 2 <= 4
    assert set(lines[2:]) == set(c_lines[2:]) and len(set(lines[2:])) == 1
    assert " <OL> 100 NA INVALID INVALID INVALID % " in lines[2]


def test_upslog_time_tokens_match_c_shape(server):
    fmt = "%TIME @Y-@m-@d@H% %ETIME% %PID%"
    outs = []
    for prog in (c_prog("upslog"), our_prog("upslog")):
        p = start(server, prog, ["-u", "root", "-i", "1", "-l", "-", "-p",
                                 f"h3-upslog-t-{os.getpid()}",
                                 "-s", f"dummy@127.0.0.1:{server.port}", "-f", fmt])
        time.sleep(0.4)
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=10)
        outs.append((out.splitlines()[2], p.pid))
    try:
        os.unlink(f"/run/nut/h3-upslog-t-{os.getpid()}.pid")
    except OSError:
        pass
    expected_time = time.strftime("%Y-%m-%d%H")
    for line, pid in outs:
        stamp, etime, logged_pid = line.split(" ")
        assert stamp == expected_time
        assert abs(int(etime) - time.time()) < 5
        assert int(logged_pid) == pid


def test_upslog_sighup_reopens_and_pidfile(server, tmp_path):
    logfile = tmp_path / "ups.log"
    p = start(server, our_prog("upslog"), [
        "-F", "-u", "root", "-i", "1", "-l", str(logfile), "-p", "h3-upslog-hup",
        "-s", f"dummy@127.0.0.1:{server.port}", "-f", "%VAR ups.status%"])
    try:
        wait_for(lambda: logfile.exists() and logfile.read_text().startswith("OL\n"), 10)
        pidfile = server.env.state / "h3-upslog-hup.pid"
        assert int(pidfile.read_text()) == p.pid
        rotated = tmp_path / "ups.log.1"
        logfile.rename(rotated)
        p.send_signal(signal.SIGHUP)
        wait_for(lambda: logfile.exists() and logfile.read_text().startswith("OL\n"), 5)
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=10)
    assert "Signal 1: reopening log file\n" in err
    assert rotated.read_text().startswith("OL\n")


def test_upslog_several_targets_and_all_upses(server, tmp_path):
    logfile = tmp_path / "bench.log"
    p = start(server, our_prog("upslog"), [
        "-u", "root", "-i", "1", "-d", "2", "-N", "-p", "h3-upslog-m",
        "-m", f"dummy@127.0.0.1:{server.port},-",
        "-m", f"bench@127.0.0.1:{server.port},{logfile}",
        "-f", "%VAR ups.status% %TIME%"])
    out, err = p.communicate(timeout=15)
    assert p.returncode == 0, err
    lines = [line for line in out.splitlines() if line.startswith("dummy@")]
    assert len(lines) == 2 and lines[0].startswith(f"dummy@127.0.0.1:{server.port}\tOL ")
    assert logfile.read_text().startswith(f"bench@127.0.0.1:{server.port}\tOL ")
    server.wait_stale()
    server.kill_driver("killed")
    p = start(server, our_prog("upslog"), [
        "-u", "root", "-i", "1", "-d", "1", "-p", "h3-upslog-all",
        "-m", f"*@127.0.0.1:{server.port},-", "-f", "%UPSHOST% %VAR battery.charge%"])
    out, err = p.communicate(timeout=15)
    assert p.returncode == 0, err
    logged = sorted(line for line in out.splitlines() if "@" in line and "logging" not in line)
    port = server.port
    assert logged == sorted([f"bench@127.0.0.1:{port} 100", f"down@127.0.0.1:{port} NA",
                             f"dummy@127.0.0.1:{port} 100", f"killed@127.0.0.1:{port} NA",
                             f"stale@127.0.0.1:{port} NA"])


def test_compile_format_prefix_keywords_and_invalid():
    assert compile_format("a%%b") == [("literal", "a%b")]
    assert compile_format("%UPSHOSTNAME%") == [("UPSHOST", None)]
    assert compile_format("%hostname x%") == [("HOST", "x")]
    assert compile_format("%VAR ups.load%!") == [("VAR", "ups.load"), ("literal", "!")]
    assert compile_format("%NOPE%x") == [("literal", "INVALIDx")]
    assert compile_format("x%unterminated") == [("literal", "xINVALIDunterminated")]
    assert compile_format("%TIME%") == [("TIME", None)]


@pytest.mark.parametrize("args", [
    ["-s", "u@h:", "-l", "-"],  # bad name: reported after the "logging status" line
    ["-s", "x"], ["-l", "-"], ["a", "b"], ["-h"], ["-V"],
], ids=lambda a: " ".join(a))
def test_upslog_startup_errors_match_c(server, args):
    from support.client_env import compare
    c, ours = compare(server, "upslog", args)
    assert ours == c


def test_upslog_time_without_format_does_not_crash(server):
    # C 2.8.0 dies with SIGSEGV on %TIME% without a format; we use the default one.
    import re
    r = server.run([our_prog("upslog"), "-u", "root", "-i", "1", "-d", "1", "-l", "-",
                    "-p", "h3-upslog-time", "-s", f"dummy@127.0.0.1:{server.port}",
                    "-f", "%TIME% %VAR ups.status%"], timeout=15)
    assert r.returncode == 0
    assert re.fullmatch(r"\d{8} \d{6} OL", r.stdout.splitlines()[2])


def test_upslog_long_format_and_wrapping_interval_match_c(server):
    """C cuts a log line short of LARGEBUF (1024) and reads -i with atoi (wraps to 32
    bits)."""
    args = ["-u", "root", "-i", "4294967297", "-l", "-", "-s",
            f"dummy@127.0.0.1:{server.port}", "-f", "x" * 1500 + " %VAR ups.status%"]
    c_lines, lines = (out.splitlines() for out, _, _ in
                      run_both(server, args, "h3-upslog-long", 1.5))
    assert lines[1] == c_lines[1] and c_lines[1].endswith("(1s intervals)")
    assert set(lines[2:]) == set(c_lines[2:]) and len(set(c_lines[2:])) == 1
    assert len(c_lines[2]) == 1022  # snprintfcat leaves two bytes of the 1024 unused
