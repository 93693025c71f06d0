"""`nutpy install-systemd --root`: the staged units pass `systemd-analyze verify`, the
sysusers.d and tmpfiles.d files make the nut user and the state path (root:nut 0770) in a
throw-away root, and the units run this installation's programs."""

import os
import shutil
import stat
import subprocess

import pytest

from nutpy.ops import systemd as units
from support.harness import OUR_BIN, our_prog, require, require_root

UNITS = ["nut.target", "nut-driver.target", "nut-driver@.service", "nut-server.service",
         "nut-monitor.service", "nut-logger.service", "nut-driver-enumerator.service",
         "nut-driver-enumerator.path", "nut-udev-settle.service"]


def require_systemd_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} missing (apt-get install -y systemd)")
    return path


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    root = tmp_path_factory.mktemp("stage")
    r = subprocess.run([our_prog("nutpy"), "install-systemd", "--root", str(root)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return root


def test_files_written(staged):
    unit_dir = staged / "etc/systemd/system"
    assert sorted(p.name for p in unit_dir.iterdir()) == sorted(UNITS)
    hook = staged / "usr/lib/systemd/system-shutdown/nutpy-shutdown"
    assert stat.S_IMODE(hook.stat().st_mode) == 0o755
    assert stat.S_IMODE((unit_dir / "nut.target").stat().st_mode) == 0o644
    server = (unit_dir / "nut-server.service").read_text()
    # this installation's own upsd, by absolute path, in the foreground, reporting readiness
    assert f"ExecStart={OUR_BIN}/upsd -FF\n" in server
    assert "Type=notify\n" in server
    driver = (unit_dir / "nut-driver@.service").read_text()
    assert f"{OUR_BIN}/nut-driver-enumerator --get-device-for-service %i" in driver
    assert f"exec {OUR_BIN}/upsdrvctl -FF start" in driver
    assert "NotifyAccess=all\n" in driver


def test_systemd_analyze_verify(staged, tmp_path):
    analyze = require_systemd_tool("systemd-analyze")
    unit_dir = staged / "etc/systemd/system"
    monitor = (unit_dir / "nut-monitor.service").read_text()
    upsmon = next(line.split()[0].split("=", 1)[1] for line in monitor.splitlines()
                  if line.startswith("ExecStart="))
    if not os.access(upsmon, os.X_OK):
        pytest.skip(f"no upsmon installed for nut-monitor.service ({upsmon})")
    # a template is verified through an instance of it
    (unit_dir / "nut-driver@ups1.service").symlink_to("nut-driver@.service")
    try:
        names = [str(unit_dir / u) for u in UNITS if u != "nut-driver@.service"]
        r = subprocess.run([analyze, "verify", "--man=no", *names,
                            str(unit_dir / "nut-driver@ups1.service")],
                           capture_output=True, text=True, timeout=120)
    finally:
        (unit_dir / "nut-driver@ups1.service").unlink()
    # verify exits 0 even for unknown keys or bad values: any message is a finding
    assert (r.returncode, r.stderr, r.stdout) == (0, "", "")


def test_verify_catches_mistakes(tmp_path):
    """The check above can fail: a broken unit draws a message."""
    analyze = require_systemd_tool("systemd-analyze")
    bad = tmp_path / "bad.service"
    bad.write_text("[Service]\nType=notifyy\nExecStart=/bin/true\n")
    r = subprocess.run([analyze, "verify", "--man=no", str(bad)], capture_output=True, text=True,
                       timeout=60)
    assert "Failed to parse service type" in r.stderr


@pytest.mark.root
def test_sysusers_and_tmpfiles_make_user_and_state_path(staged, tmp_path):
    require_root()
    sysusers = require_systemd_tool("systemd-sysusers")
    tmpfiles = require_systemd_tool("systemd-tmpfiles")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    r = subprocess.run([sysusers, f"--root={root}",
                        str(staged / "etc/sysusers.d/nut-common-sysusers.conf")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    passwd = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").read_text().splitlines()}
    group = {line.split(":")[0]: line.split(":") for line in (root / "etc/group").read_text().splitlines()}
    assert passwd["nut"][5] == "/run/nut"
    r = subprocess.run([tmpfiles, f"--root={root}", "--create",
                        str(staged / "etc/tmpfiles.d/nut-common-tmpfiles.conf")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    st = (root / "run/nut").stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, int(group["nut"][2]), 0o770)


def test_c_programs_fill_gaps(tmp_path):
    """A program nutpy lacks is taken from C NUT, and run the way C 2.8.0 runs it."""
    ours = tmp_path / "bin"
    ours.mkdir()
    for name in ("upsd", "upsdrvctl", "nut-driver-enumerator", "upslog"):
        (ours / name).write_text("#!/bin/sh\n")
        (ours / name).chmod(0o755)
    theirs = tmp_path / "c"
    theirs.mkdir()
    (theirs / "upsmon").write_text("#!/bin/sh\n")
    (theirs / "upsmon").chmod(0o755)
    old = units.C_PROGRAMS
    units.C_PROGRAMS = (str(theirs),)
    try:
        files = units.render(units.Layout(bindir=str(ours)))
    finally:
        units.C_PROGRAMS = old
    monitor = files["/etc/systemd/system/nut-monitor.service"]
    assert f"ExecStart={theirs}/upsmon -F\n" in monitor
    assert "Type=simple\n" in monitor
    assert f"ExecStart={ours}/upsd -FF\n" in files["/etc/systemd/system/nut-server.service"]


def test_tmpfiles_for_separate_pid_dirs():
    lay = units.Layout(bindir="/x", statepath="/run/nut", altpidpath="/var/run/nut-pid",
                       pidpath="/run")
    text = units.render_tmpfiles(lay)
    assert "d /run/nut 0770 root nut - -" in text
    assert "d /var/run/nut-pid 0770 root nut - -" in text
    assert "d /run " not in text  # a system directory is not ours to manage
