"""nutpy.common.daemon on python-daemon: backgrounding keeps what C keeps (open files, umask,
working directory), puts stdio on /dev/null, writes and removes the PID file; logging knows
when stderr is the journal."""

import os
import subprocess
import sys
import textwrap

from nutpy.common import daemon
from support.harness import alive, wait_for

DAEMON = textwrap.dedent("""
    import os, sys, time
    from nutpy.common import daemon
    out = int(sys.argv[2])
    os.umask(0o027)
    os.chdir(sys.argv[3])
    print("banner before detaching", flush=True)
    daemon.background(sys.argv[1])
    info = [os.getpid(), os.getsid(0), oct(os.umask(0)), os.getcwd(),
            os.readlink("/proc/self/fd/1"), os.readlink("/proc/self/fd/2")]
    os.write(out, (repr(info) + "\\n").encode())
    os.close(out)
    deadline = time.monotonic() + 30
    while not os.path.exists("stop") and time.monotonic() < deadline:
        time.sleep(0.05)
""")


def test_background_through_daemon_context(tmp_path):
    pidfile = tmp_path / "d.pid"
    r, w = os.pipe()
    p = subprocess.Popen([sys.executable, "-c", DAEMON, str(pidfile), str(w), str(tmp_path)],
                         pass_fds=(w,), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(w)
    # the launcher exits 0 at once (C's background()), having printed what it had to
    assert p.wait(10) == 0
    assert p.stdout.read() == b"banner before detaching\n"
    pid = None
    try:
        with os.fdopen(r) as f:
            info = eval(f.readline())  # the file descriptor survived the detach
        pid, sid, umask, cwd, out, err = info
        assert pidfile.read_text() == f"{pid}\n"
        assert oct(pidfile.stat().st_mode & 0o777) == "0o644"
        assert sid != os.getsid(0)                     # its own session
        assert (umask, cwd) == ("0o27", str(tmp_path))  # as C leaves them
        assert out == err == "/dev/null"
        assert p.stderr.read() == b""
    finally:
        (tmp_path / "stop").touch()
        if pid:
            wait_for(lambda: not alive(pid), 10, what="daemon to exit")
    # the PID file goes with the daemon (python-daemon closes the context at exit)
    assert not pidfile.exists()


def test_pidfile_removed_only_by_its_writer(tmp_path):
    path = str(tmp_path / "x.pid")
    pf = daemon.PidFile(path)
    pf.__enter__()
    pid = os.fork()
    if pid == 0:  # a child leaving must not take the parent's PID file with it
        pf.__exit__(None, None, None)
        os._exit(0 if os.path.exists(path) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    pf.__exit__(None, None, None)
    assert not os.path.exists(path)


def run_logging(code: str, journal: bool) -> str:
    """Run ``code`` with stderr to a file; JOURNAL_STREAM naming that file or another."""
    script = ("import os, sys\n"
              "st = os.fstat(2)\n"
              f"os.environ['JOURNAL_STREAM'] = f'{{st.st_dev}}:{{st.st_ino{'' if journal else ' + 1'}}}'\n"
              "from nutpy.common.log import log\n" + code)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    return r.stderr


def test_journal_priorities():
    code = "log.debug_level = 1\nlog.error('bad\\nworse')\nlog.info('fine')\nlog.debug(1, 'detail')\n"
    assert run_logging(code, journal=True) == "<3>bad\n<3>worse\n<6>fine\n<7>[D1] detail\n"
    plain = run_logging(code, journal=False).splitlines()
    assert plain[:3] == ["bad", "worse", "fine"]
    assert plain[3].endswith("\t[D1] detail") and plain[3].strip()[0].isdigit()


def test_support_hints(tmp_path):
    assert daemon.service_in_cgroup("0::/system.slice/system-nut\\x2ddriver.slice/"
                                    "nut-driver@ups1.service\n") == "nut-driver@ups1.service"
    assert daemon.service_in_cgroup("0::/user.slice/user-0.slice/session-3.scope\n") is None
    assert "install -d -o root -g nut -m 0770 /run/nut" in daemon.statepath_hint("/run/nut")
    sock = tmp_path / "dummy-ups-x"
    sock.write_text("")
    os.chmod(sock, 0o660)
    hint = daemon.socket_access_hint(str(sock))
    assert hint.startswith(f"{sock} belongs to ") and ", mode 0660, and this process runs as " in hint
