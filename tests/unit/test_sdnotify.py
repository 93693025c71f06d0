"""nutpy.common.sdnotify: the datagrams a daemon sends to a test NOTIFY_SOCKET."""

import os
import socket
import time

import pytest

from nutpy.common import sdnotify


@pytest.fixture
def listener(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(5)
    yield path, sock
    sock.close()


def fields(sock) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_no_socket_is_a_no_op():
    n = sdnotify.Notifier({})
    assert not n.enabled
    assert n.ready() is False
    assert n.watchdog_interval() is None
    # a relative path is not an address sd_notify accepts either
    assert not sdnotify.Notifier({"NOTIFY_SOCKET": "notify"}).enabled


def test_messages_in_order(listener):
    path, sock = listener
    n = sdnotify.Notifier({"NOTIFY_SOCKET": path})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert n.ready(status="serving 2 UPS")
    assert n.reloading()
    assert n.ready()
    assert n.stopping("Signal 15: exiting")
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000

    first = fields(sock)
    assert first[:2] == ["STATUS=serving 2 UPS", "READY=1"]
    reload = fields(sock)
    assert reload[0] == "RELOADING=1"
    # systemd 253+ (Type=notify-reload) needs the reload's start on CLOCK_MONOTONIC
    usec = int(reload[1].removeprefix("MONOTONIC_USEC="))
    assert before <= usec <= after
    assert fields(sock)[0] == "READY=1"
    assert fields(sock) == ["STATUS=Signal 15: exiting", "STOPPING=1"]


def test_mainpid_and_watchdog(listener):
    path, sock = listener
    # systemd started another process (upsdrvctl); the watchdog is not ours until we say so
    n = sdnotify.Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000",
                           "WATCHDOG_PID": "1"})
    assert n.watchdog_interval() is None
    assert n.watchdog() is False
    n.ready(mainpid=os.getpid())
    assert f"MAINPID={os.getpid()}" in fields(sock)
    assert n.watchdog_interval() == 15.0
    assert n.watchdog()
    assert fields(sock) == ["WATCHDOG=1"]
    n.stopping()
    assert fields(sock) == ["STOPPING=1"]
    assert n.watchdog() is False  # the main loop is winding down


def test_watchdog_off_without_usec(listener):
    path, _ = listener
    n = sdnotify.Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "0"})
    assert n.watchdog_interval() is None


def test_abstract_socket():
    name = f"nutpy-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(5)
        n = sdnotify.Notifier({"NOTIFY_SOCKET": "@" + name})
        assert n.status("line one\nline two")
        assert fields(sock) == ["STATUS=line one line two"]


def test_gone_manager_is_not_an_error(tmp_path):
    n = sdnotify.Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody")})
    assert n.enabled
    assert n.ready() is False


def test_connected_before_chroot_reaches_the_manager_from_a_fork(listener, monkeypatch, tmp_path):
    """A daemon connects before its chroot; the connected socket works from any directory
    and in the child it forks, where the socket's path no longer resolves."""
    path, sock = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setattr(sdnotify, "_notifier", None)
    parent = sdnotify.notifier()
    parent.connect()
    os.rename(path, str(tmp_path / "moved"))  # as if the path were outside the jail
    pid = os.fork()
    if pid == 0:
        child = sdnotify.notifier()
        os._exit(0 if child is parent and child.ready(mainpid=os.getpid()) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert f"MAINPID={pid}" in fields(sock)
    # an unconnected notifier cannot find the moved socket
    assert not sdnotify.Notifier({"NOTIFY_SOCKET": path}).ready()
