"""Our upsmon beside C upsmon 2.8.0 on the same NUT server: the same notifications in the
same order with the same texts, one shutdown command each, the same POWERDOWNFLAG; mixed
fleets (ours primary with C secondaries and the reverse) shut down in order.

Differences that are NUT 2.8.5's (we follow it, Debian ships 2.8.0) are named where they
show: 2.8.5 announces the FSD it sets itself, and says "Too few UPS(es) are healthy"."""

from __future__ import annotations

import os

import pytest

from support.harness import alive, require_c_nut, wait_for
from support.upsmon_stack import Stack, Upsmon

pytestmark = pytest.mark.interop

# what 2.8.5 (and we) notify or log on top of 2.8.0 during a primary's shutdown
NEW_IN_2_8_5 = {"FSD"}


@pytest.fixture
def stack():
    require_c_nut()
    s = Stack(upses=("zeta", "eta", "theta", "iota"))
    yield s
    s.close()


def normalized(texts, monitor: Upsmon, ups: str) -> list[str]:
    return [t.replace(f"{ups}@127.0.0.1:{monitor.stack.port}", "<ups>") for t in texts]


def message_lines(monitor: Upsmon, ups: str) -> list[str]:
    """The notification texts in its log (SYSLOG), in order, named neutrally."""
    stock = {f"UPS {ups}@127.0.0.1:{monitor.stack.port}" + tail for tail in (
        " on line power", " on battery", " battery is low", ": forced shutdown in progress",
        " is unavailable", ": calibration in progress", ": calibration finished",
        ": administratively OFF or asleep", " battery needs to be replaced")}
    stock |= {f"Communications with UPS {ups}@127.0.0.1:{monitor.stack.port} {w}"
              for w in ("established", "lost")}
    stock |= {"Auto logout and shutdown proceeding", "Executing automatic power-fail shutdown"}
    return normalized(monitor.logged(stock), monitor, ups)


def test_power_failure_gives_c_notifications_and_one_shutdown(stack):
    c = Upsmon(stack, "c-primary", "c", ["zeta@PORT 1 mon monpw primary"]).start()
    ours = Upsmon(stack, "our-primary", "ours", ["eta@PORT 1 mon monpw primary"]).start()
    try:
        wait_for(lambda: stack.numlogins("zeta") == 1 and stack.numlogins("eta") == 1, 15,
                 0.05, "both upsmons logged in")
        pids = {m: m.processes() for m in (c, ours)}
        for ups in ("zeta", "eta"):
            stack.set_status(ups, "OB")
        c.wait_types("ONBATT")
        ours.wait_types("ONBATT")
        for ups in ("zeta", "eta"):
            stack.set_status(ups, "OB LB")
        assert c.wait_exit() == 0
        assert ours.wait_exit() == 0
        wait_for(lambda: len(stack.shutdowns()) == 2, 10, 0.05, "both shutdown commands")
    finally:
        c.stop()
        ours.stop()

    c_log, our_log = message_lines(c, "zeta"), message_lines(ours, "eta")
    assert c_log == ["UPS <ups> on battery", "UPS <ups> battery is low",
                     "Executing automatic power-fail shutdown",
                     "Auto logout and shutdown proceeding"]
    assert our_log == c_log[:2] + ["UPS <ups>: forced shutdown in progress"] + c_log[2:]

    c_sent = sorted(normalized([f"{t}|{u}|{m}" for t, u, m in c.notifications()], c, "zeta"))
    our_sent = normalized([f"{t}|{u}|{m}" for t, u, m in ours.notifications()], ours, "eta")
    assert sorted(n for n in our_sent if n.split("|")[0] not in NEW_IN_2_8_5) == c_sent
    assert c_sent == ["LOWBATT|<ups>|UPS <ups> battery is low",
                      "ONBATT|<ups>|UPS <ups> on battery",
                      "SHUTDOWN||Auto logout and shutdown proceeding"]
    # NOTIFYCMD gets the message as one argument, as the unprivileged user
    expected_uid = {r[4] for r in c.notify_records()}
    assert {r[3] for r in ours.notify_records()} == {"1"}
    assert {r[4] for r in ours.notify_records()} == expected_uid

    assert sorted(normalized(c.walls().split("\n"), c, "zeta")) == sorted(
        w for w in normalized(ours.walls().split("\n"), ours, "eta")
        if w != "UPS <ups>: forced shutdown in progress")

    shutdowns = stack.shutdowns()
    root_uid = str(os.geteuid())
    assert sorted(shutdowns) == sorted([f"c-primary {root_uid}", f"our-primary {root_uid}"])
    for m in (c, ours):
        assert m.pdflag.read_bytes() == b"upsmon-shutdown-file"
        wait_for(lambda: not any(alive(p) for p in pids[m]), 10, 0.05, "all processes gone")
    assert len(pids[c]) == 2 and len(pids[ours]) == 3
    assert "Too few UPS(es) are healthy (0<1), initiating forced shutdown" in ours.stderr()


def fleet(stack, ups: str, primary_impl: str, secondary_impl: str):
    primary = Upsmon(stack, f"{primary_impl}-primary-{ups}", primary_impl,
                     [f"{ups}@PORT 1 mon monpw primary"], extra="HOSTSYNC 60\n").start()
    secondary = Upsmon(stack, f"{secondary_impl}-secondary-{ups}", secondary_impl,
                       [f"{ups}@PORT 1 sec secpw secondary"], extra="HOSTSYNC 60\n").start()
    return primary, secondary


def test_mixed_fleets_shut_down_in_order_without_waiting_out_hostsync(stack):
    """Ours primary with a C secondary on theta, C primary with ours on iota: each
    secondary sees FSD and goes, then its primary, long before HOSTSYNC (60 s)."""
    ours_p, c_s = fleet(stack, "theta", "ours", "c")
    c_p, ours_s = fleet(stack, "iota", "c", "ours")
    monitors = (ours_p, c_s, c_p, ours_s)
    try:
        wait_for(lambda: stack.numlogins("theta") == 2 and stack.numlogins("iota") == 2, 15,
                 0.05, "all four upsmons logged in")
        for ups in ("theta", "iota"):
            stack.set_status(ups, "OB")
        for ups in ("theta", "iota"):
            stack.set_status(ups, "OB LB")
        for m in monitors:
            assert m.wait_exit(45) == 0
    finally:
        for m in monitors:
            m.stop()
    order = [line.split()[0] for line in stack.shutdowns()]
    assert order.index(c_s.name) < order.index(ours_p.name)
    assert order.index(ours_s.name) < order.index(c_p.name)
    for primary in (ours_p, c_p):
        assert "Host sync timer expired" not in primary.stderr()
    # the secondaries heard of the FSD from upsd and said so
    assert "FSD" in c_s.types() and "FSD" in ours_s.types()
    assert stack.status("theta").startswith("FSD") and stack.status("iota").startswith("FSD")


def collapse(types: list[str]) -> list[str]:
    """Notification types without NOCOMM (its repeats depend on timing)."""
    return [t for t in types if t != "NOCOMM"]


def logged_types(monitor: Upsmon, ups: str) -> list[str]:
    sys_ = monitor.system(ups)
    texts = {f"UPS {sys_} on line power": "ONLINE", f"UPS {sys_} on battery": "ONBATT",
             f"UPS {sys_} battery is low": "LOWBATT",
             f"Communications with UPS {sys_} established": "COMMOK",
             f"Communications with UPS {sys_} lost": "COMMBAD",
             f"UPS {sys_} is unavailable": "NOCOMM",
             "Auto logout and shutdown proceeding": "SHUTDOWN"}
    return [texts[line] for line in monitor.logged(texts)]


def test_no_false_shutdown(stack):
    """Both upsmons watch zeta through a relay: upsd stopped while on line (longer than
    DEADTIME) and while on battery (shorter), the driver stale for less than DEADTIME, the
    network cut for longer than DEADTIME. Neither shuts down; both announce the same."""
    from support.upsmon_stack import Proxy

    relay = Proxy(stack.port)
    extra = "NOCOMMWARNTIME 3\nDEADTIME 6\n"
    c = Upsmon(stack, "c-watch", "c", ["zeta@PORT 1 sec secpw secondary"], extra=extra,
               port=relay.port).start()
    ours = Upsmon(stack, "our-watch", "ours", ["zeta@PORT 1 sec secpw secondary"],
                  extra=extra, port=relay.port).start()
    both = (c, ours)

    def settle(*types):
        for m in both:
            m.wait_types(*types, timeout=30)

    try:
        wait_for(lambda: stack.numlogins("zeta") == 2, 15, 0.05, "both logged in")
        # upsd gone for longer than DEADTIME while on line
        stack.stop_upsd()
        for m in both:
            wait_for(lambda: m.types().count("NOCOMM") >= 1, 20, 0.05, "NOCOMM")
        stack.start_upsd()
        settle("COMMOK")
        # on battery, upsd gone for a moment
        stack.set_status("zeta", "OB")
        settle("ONBATT")
        stack.stop_upsd()
        for m in both:
            wait_for(lambda: m.types().count("COMMBAD") >= 2, 20, 0.05, "second COMMBAD")
        stack.start_upsd()
        stack.set_status("zeta", "OB")
        for m in both:
            wait_for(lambda: m.types().count("COMMOK") >= 2, 20, 0.05, "second COMMOK")
        # the driver stops answering: upsd says "Data stale" for a while
        stack.freeze_driver("zeta")
        for m in both:
            wait_for(lambda: m.types().count("COMMBAD") >= 3, 20, 0.05, "stale: COMMBAD")
        stack.thaw_driver("zeta")
        for m in both:
            wait_for(lambda: m.types().count("COMMOK") >= 3, 20, 0.05, "fresh: COMMOK")
        stack.set_status("zeta", "OL")
        settle("ONLINE")
        # the network between them and upsd goes dead (nothing refused, nothing answered)
        relay.cut()
        for m in both:
            wait_for(lambda: m.types().count("COMMBAD") >= 4, 30, 0.1, "cut: COMMBAD")
        relay.restore()
        for m in both:
            wait_for(lambda: m.types().count("COMMOK") >= 4, 30, 0.1, "restored: COMMOK")
        assert stack.shutdowns() == []
        assert all(m.proc.poll() is None for m in both)
    finally:
        for m in both:
            m.stop()
        relay.close()
    expected = ["COMMBAD", "COMMOK", "ONBATT", "COMMBAD", "COMMOK", "COMMBAD", "COMMOK",
                "ONLINE", "COMMBAD", "COMMOK"]
    assert collapse(logged_types(c, "zeta")) == expected
    assert collapse(logged_types(ours, "zeta")) == expected
    assert collapse(c.types()) == collapse(ours.types()) == expected


def test_cal_is_cleared_unlike_2_8_0_nut_2168(stack):
    """After a calibration (OB CAL, then OL), a real OB LB: C 2.8.0 never forgot CAL and
    stays up on an empty battery; 2.8.2+ and we send NOTCAL and shut down."""
    c = Upsmon(stack, "c-cal", "c", ["zeta@PORT 1 mon monpw primary"]).start()
    ours = Upsmon(stack, "our-cal", "ours", ["eta@PORT 1 mon monpw primary"]).start()
    try:
        wait_for(lambda: stack.numlogins("zeta") == 1 and stack.numlogins("eta") == 1, 15,
                 0.05, "both logged in")
        for status in ("OB CAL", "OL", "OB", "OB LB"):
            for ups in ("zeta", "eta"):
                stack.set_status(ups, status)
            for m in (c, ours):
                m.wait_types({"OB CAL": "CAL", "OL": "ONLINE", "OB": "ONBATT",
                              "OB LB": "LOWBATT"}[status])
        assert ours.wait_exit() == 0
        wait_for(lambda: "is also calibrating - not declaring a critical state" in c.stderr(),
                 15, 0.05, "C 2.8.0 to ignore the empty battery")
        assert c.proc.poll() is None
    finally:
        c.stop()
        ours.stop()
    assert "NOTCAL" in ours.types()
    assert [line.split()[0] for line in stack.shutdowns()] == ["our-cal"]
