"""upssched's cores: upssched.conf reading (nutpy.upsmon.schedconf) and the timer
daemon's table and protocol (nutpy.upsmon.timers), on a fake clock."""

import pytest

from nutpy.common import parseconf
from nutpy.upsmon import schedconf, timers

HEAD = "CMDSCRIPT /usr/bin/upssched-cmd\nPIPEFN /run/nut/upssched.pipe\nLOCKFN /run/nut/upssched.lock\n"


def read(text: str, ups="ups@localhost", ntype="ONBATT", msg=None, **kw):
    return schedconf.read(parseconf.parse_text(text.encode()), "/etc/nut/upssched.conf",
                          ups, ntype, msg, **kw)


def actions(items):
    return [(a.kind, a.arg1, a.arg2) for a in items if isinstance(a, schedconf.Action)]


def test_matching_at_lines_in_file_order():
    files, items = read(HEAD + """
AT ONBATT * START-TIMER onbattwarn 30
AT onbatt ups@localhost EXECUTE notify-batt
AT ONBATT other@host START-TIMER never 5
AT ONLINE * CANCEL-TIMER onbattwarn online
AT ONBATT * START-TIMER-SHARED shared 10
AT ONBATT * CANCEL-TIMER-MATCHED x
AT ONBATT * CANCEL-TIMER y cmd
""")
    assert actions(items) == [("START", "onbattwarn", "30"), ("EXECUTE", "notify-batt", None),
                              ("START-SHARED", "shared", "10"),
                              ("CANCEL-MATCHED", "x", None), ("CANCEL", "y", "cmd")]
    a = items[0]
    assert (a.cmdscript, a.pipefn, a.lockfn) == ("/usr/bin/upssched-cmd",
                                                 "/run/nut/upssched.pipe",
                                                 "/run/nut/upssched.lock")


def test_upsname_is_case_sensitive_notifytype_is_not():
    _, items = read(HEAD + "AT onbatt UPS@localhost EXECUTE a\nAT OnBatt ups@localhost EXECUTE b\n")
    assert actions(items) == [("EXECUTE", "b", None)]


@pytest.mark.parametrize("missing", ["CMDSCRIPT", "PIPEFN", "LOCKFN"])
def test_files_must_come_before_any_at(missing):
    head = "".join(l + "\n" for l in HEAD.splitlines() if not l.startswith(missing))
    with pytest.raises(schedconf.SchedFatal) as err:
        read(head + "AT ONLINE * EXECUTE x\n" + HEAD)
    assert str(err.value) == f"{missing} must be set before any ATs in the config file!"
    assert err.value.printed


def test_invalid_command_and_directives():
    _, items = read(HEAD + "AT ONBATT * FROB x\nAT ONBATT * EXECUTE \"\"\nBOGUS 1\nAT a b c\n",
                    msg="UPS on battery")
    assert items == [
        ("error", "Invalid command: FROB\t[x]\t[(null)]\t[ONBATT]\t[ups@localhost]\t"
                  "[UPS on battery]"),
        ("error", "Empty EXECUTE command argument"),
        ("warning", "upssched.conf: invalid directive BOGUS 1"),
        ("warning", "upssched.conf: invalid directive AT a b c"),
        ("error", "Encountered 2 config errors, those entries were ignored"),
    ]


def test_list_mode_needs_pipefn_only():
    files, items = read("PIPEFN /p\nAT x y z w\n", list_only=True)
    assert files.pipefn == "/p" and items == []
    with pytest.raises(schedconf.SchedFatal):
        read("CMDSCRIPT /x\n", list_only=True)


# -- the timer daemon's table -----------------------------------------------------------------

def test_same_name_timers_are_independent():
    t = timers.TimerTable()
    assert t.handle(["START", "warn", "10", "ONBATT", "a@h", "m1"], 0)[0] == ["OK"]
    t.handle(["START", "warn", "20", "ONBATT", "b@h", "m2"], 5)
    assert t.fire(9.9) == []
    first = t.fire(10)
    assert [c.arg for c in first] == ["warn"]
    assert first[0].env == {"UPSNAME": "a@h", "NOTIFYTYPE": "ONBATT", "NOTIFYMSG": "m1"}
    assert [c.env["UPSNAME"] for c in t.fire(25)] == ["b@h"]


def test_shared_timer_collects_events():
    t = timers.TimerTable()
    t.handle(["START-SHARED", "warn", "10", "ONBATT", "a@h", "on battery"], 0)
    t.handle(["START-SHARED", "warn", "99", "LOWBATT", "b@h", "low"], 1)
    t.handle(["START-SHARED", "warn", "99", "ONBATT", "a@h", "on battery"], 2)
    fired = t.fire(10)
    assert len(fired) == 1
    assert fired[0].env == {"UPSNAME": "a@h,b@h", "NOTIFYTYPE": "ONBATT,LOWBATT",
                            "NOTIFYMSG": "on battery.\tlow"}


def test_cancel_all_of_a_name_or_run_the_command():
    t = timers.TimerTable()
    t.handle(["START", "warn", "10"], 0)            # C 2.8.0 clients send no event
    t.handle(["START", "warn", "10"], 0)
    t.handle(["START", "other", "10"], 0)
    assert t.handle(["CANCEL", "warn", ""], 1) == (["OK"], [], [])
    assert [x.name for x in t.timers] == ["other"]
    reply, cmds, _ = t.handle(["CANCEL", "warn", "was-gone", "ONLINE", "a@h", "back"], 2)
    assert [(c.arg, c.env["UPSNAME"], c.env["NOTIFYTYPE"]) for c in cmds] == \
        [("was-gone", "a@h", "ONLINE")]


def test_cancel_matched_only_touches_that_ups():
    t = timers.TimerTable()
    t.handle(["START", "warn", "10", "ONBATT", "a@h", ""], 0)
    t.handle(["START", "warn", "10", "ONBATT", "b@h", ""], 0)
    t.handle(["CANCEL-MATCHED", "warn", "", "ONLINE", "a@h", ""], 1)
    assert [x.upsnames for x in t.timers] == [["b@h"]]


def test_bogus_offset_and_unknown_requests():
    t = timers.TimerTable()
    assert t.handle(["START", "x", "-5", "a", "b", "c"], 0) == \
        (["OK"], [], [("info", "bogus offset for timer, ignoring")])
    reply, _, logs = t.handle(["FROB", "x"], 0)
    assert reply == ["ERR UNKNOWN"] and logs[0] == ("info", "Unknown command on socket: ")
    assert t.handle(["START", "x"], 0)[0] == ["ERR UNKNOWN"]


def test_daemon_leaves_after_15_idle_seconds():
    t = timers.TimerTable()
    assert not t.idle_done(0)
    t.handle(["START", "x", "5"], 1)
    assert not t.idle_done(14)
    t.fire(6)
    assert not t.idle_done(20)
    assert t.idle_done(21)


def test_list_timers():
    t = timers.TimerTable()
    t.handle(["START", "warn", "30", "ONBATT", "a@h", "msg"], 100)
    t.handle(["START", "bare", "5"], 100)
    lines = t.handle(["LIST-TIMERS"], 110, wall=1_700_000_000)[0]
    assert lines == ["BEGIN LIST TIMERS", "warn\t1700000020\t20\tONBATT\ta@h\tmsg",
                     'bare\t1699999995\t-5\t""\t""\t""', "END LIST TIMERS", "OK"]
