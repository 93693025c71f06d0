"""How a notification is delivered (nutpy.upsmon.privsep.delivery) — wall first, then
NOTIFYCMD exactly as C's system("<NOTIFYCMD> \\"<message>\\"") — and POWERDOWNFLAG."""

import os
import subprocess

import pytest

from nutpy.upsmon import notify, privsep
from nutpy.upsmon.notify import Notification

SCRIPT = '#!/bin/sh\nprintf "%s|%s|%s|%s\\n" "$#" "$1" "$UPSNAME" "$NOTIFYTYPE" >> "$OUT"\n'


@pytest.fixture
def bin_dir(tmp_path):
    b = tmp_path / "bin"
    b.mkdir()
    (b / "wall").write_text(f'#!/bin/sh\ncat >> {tmp_path}/wall.log\n')
    (b / "cmd").write_text(SCRIPT)
    for f in b.iterdir():
        f.chmod(0o755)
    return b


def deliver(bin_dir, n, notifycmd, wall_text=None):
    plan = privsep.delivery(n, notifycmd, wall_text)
    if plan is None:
        return None
    argv, env_add = plan
    env = dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin", OUT=str(bin_dir.parent / "out"),
               **env_add)
    return subprocess.run(argv, env=env, timeout=10).returncode


def read(path):
    return path.read_text() if path.exists() else ""


@pytest.mark.parametrize("message", ["UPS u@h on battery", 'odd "quoted" text', "a  b"])
def test_notifycmd_gets_what_c_system_would_give(bin_dir, message):
    n = Notification("ONBATT", "u@h", message, notify.EXEC)
    assert deliver(bin_dir, n, f"{bin_dir}/cmd") == 0
    ours = read(bin_dir.parent / "out")
    os.unlink(bin_dir.parent / "out")
    # what C runs: system("<cmd> \"<message>\"") with the same environment
    env = dict(os.environ, OUT=str(bin_dir.parent / "out"), UPSNAME="u@h", NOTIFYTYPE="ONBATT")
    subprocess.run(["/bin/sh", "-c", f'{bin_dir}/cmd "{message}"'], env=env, timeout=10)
    assert ours == read(bin_dir.parent / "out")
    assert ours.startswith("1|")


def test_wall_then_exec(bin_dir):
    n = Notification("LOWBATT", "u@h", "UPS u@h battery is low", notify.WALL | notify.EXEC)
    assert deliver(bin_dir, n, f"{bin_dir}/cmd") == 0
    assert read(bin_dir.parent / "wall.log") == "UPS u@h battery is low\n"
    assert read(bin_dir.parent / "out") == "1|UPS u@h battery is low|u@h|LOWBATT\n"


def test_events_without_a_ups_have_an_empty_upsname(bin_dir):
    n = Notification("SHUTDOWN", None, "Auto logout and shutdown proceeding", notify.EXEC)
    deliver(bin_dir, n, f"{bin_dir}/cmd")
    assert read(bin_dir.parent / "out") == "1|Auto logout and shutdown proceeding||SHUTDOWN\n"


def test_nothing_to_run():
    for flags in (notify.SYSLOG, notify.IGNORE | notify.WALL):
        assert privsep.delivery(Notification("ONLINE", "u", "m", flags), "/bin/true") is None
    # EXEC without NOTIFYCMD: nothing (C runs nothing either)
    assert privsep.delivery(Notification("ONLINE", "u", "m", notify.EXEC), None) is None


def test_unconditional_wall_keeps_c_extra_newline(bin_dir):
    deliver(bin_dir, None, None, "Executing automatic power-fail shutdown\n")
    assert read(bin_dir.parent / "wall.log") == "Executing automatic power-fail shutdown\n\n"


def test_pdflag(tmp_path):
    flag = tmp_path / "killpower"
    assert privsep.pdflag_status(None) == 0
    assert privsep.pdflag_status(str(flag)) == 0
    privsep.set_pdflag(str(flag))
    assert flag.read_bytes() == b"upsmon-shutdown-file"
    assert privsep.pdflag_status(str(flag)) == 1
    flag.write_text("/etc/passwd-like content")
    assert privsep.pdflag_status(str(flag)) == -1


def test_system_status_like_c():
    assert privsep.system_status(0) == 0
    assert privsep.system_status(1) == 256
    assert privsep.system_status(-9) == 9
    assert privsep.run_shutdowncmd("exit 3") == 3 << 8
