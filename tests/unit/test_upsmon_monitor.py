"""The upsmon state machine (nutpy.upsmon.monitor) on a fake clock: notifications, dead
UPSes, NOCOMM, the primary's and secondaries' shutdown sequences, MINSUPPLIES, the
duration options, and the edge cases C users reported (NUT issue numbers in the names)."""

import pytest

from nutpy.upsmon import monitor as mon
from support.upsmon_core import BASE_CONF as BASE
from support.upsmon_core import FakeShell

A = "ups@localhost"
B = "other@example.net:3500"


def primary(extra: str = "") -> FakeShell:
    return FakeShell(BASE + f"MONITOR {A} 1 mon pass primary\n" + extra)


def secondary(extra: str = "") -> FakeShell:
    return FakeShell(BASE + f"MONITOR {A} 1 mon pass secondary\n" + extra)


def feed(sh: FakeShell, *statuses) -> list[str]:
    """One poll per status (a text or an outcome); the notification types it caused."""
    start = len(sh.events)
    for status in statuses:
        sh.status[A] = status
        sh.cycle()
    return sh.types(start)


# -- every notification a status change gives ------------------------------------------

STALE = mon.PollFailed("Data stale")

TRANSITIONS = [
    # (statuses polled in turn, notification types expected)
    (["OL"], []),                                   # the first OL is not announced
    (["OB"], ["ONBATT"]),                           # ... the first OB is
    (["OL", "OB", "OL"], ["ONBATT", "ONLINE"]),
    (["OL", "OB", "OB LB"], ["ONBATT", "LOWBATT"]),
    (["OL", "OL RB", "OL RB"], ["REPLBATT"]),       # once per RBWARNTIME
    (["OL", "OL CAL", "OL"], ["CAL", "NOTCAL"]),
    (["OL", "OL OFF", "OL"], ["OFF", "NOTOFF"]),
    (["OL", "OL BYPASS", "OL"], ["BYPASS", "NOTBYPASS"]),
    (["OL", "OL ECO", "OL"], ["ECO", "NOTECO"]),
    (["OL", "OL ALARM", "OL"], ["ALARM", "NOTALARM"]),
    (["OL", "OL OVER", "OL"], ["OVER", "NOTOVER"]),
    (["OL", "OL TRIM", "OL"], ["TRIM", "NOTTRIM"]),
    (["OL", "OL BOOST", "OL"], ["BOOST", "NOTBOOST"]),
    (["OL", "OL TEST", "OL TEST", "OL"], ["OTHER", "NOTOTHER"]),
    (["OL", "FSD OL", "FSD OL"], ["FSD"]),
    (["OL", "OL CHRG", "OL DISCHRG HB"], []),       # known words upsmon has no reaction to
    ([STALE], ["COMMBAD"]),                         # even at start
    (["OL", STALE, "OL"], ["COMMBAD", "COMMOK"]),
    (["OL", ""], ["COMMBAD"]),                      # an empty status is no status
    (["ol", "ob", "OB lb"], ["ONBATT", "LOWBATT"]),  # words in any case
]


@pytest.mark.parametrize("statuses,expected", TRANSITIONS)
def test_status_changes_notify_as_c(statuses, expected):
    sh = primary("MINSUPPLIES 0\n")
    assert feed(sh, *statuses) == expected


def test_notification_texts_are_c_stock_messages():
    sh = primary("MINSUPPLIES 0\n")
    sh.alarm[A] = "Replace battery!"
    feed(sh, "OL", "OB", "OB ALARM", "OB ALARM FOO", "OL")
    texts = [e[3] for e in sh.kinds("NOTIFY")]
    assert texts == [
        "UPS ups@localhost on battery",
        "UPS ups@localhost: one or more active alarms: [Replace battery!]",
        "UPS ups@localhost: has at least one unclassified status token: [FOO]",
        # C clears what is gone (NOTALARM) before it reads the words (OL)
        "UPS ups@localhost is no longer in an alarm state (no active alarms)",
        "UPS ups@localhost on line power",
        "UPS ups@localhost has no unclassified status tokens anymore",
    ]


def test_alarm_text_change_notifies_again_and_unknown_alarm_says_na():
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL")
    start = len(sh.events)
    feed(sh, "OL ALARM")                   # ups.alarm not readable
    sh.alarm[A] = "Fan failure"
    feed(sh, "OL ALARM", "OL ALARM")
    msgs = [e[3] for e in sh.kinds("NOTIFY", start)]
    assert msgs == ["UPS ups@localhost: one or more active alarms: [n/a]",
                    "UPS ups@localhost: one or more active alarms: [Fan failure]"]


def test_alarm_text_is_remembered_per_ups():
    """C keeps one 'previous alarm' for all UPSes; here each UPS has its own."""
    sh = FakeShell(BASE + f"MINSUPPLIES 0\nMONITOR {A} 1 u p primary\nMONITOR {B} 1 u p secondary\n")
    sh.alarm[A] = sh.alarm[B] = "On fire"
    sh.status[A] = sh.status[B] = "OL ALARM"
    sh.cycle()
    sh.cycle()
    assert sh.notifications() == [("ALARM", A), ("ALARM", B)]


def test_other_lists_tokens_in_status_order():
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL ZZZ AAA")
    assert sh.kinds("NOTIFY")[-1][3] == ("UPS ups@localhost: has at least one unclassified "
                                        "status token: [ZZZ AAA]")
    start = len(sh.events)
    feed(sh, "OL AAA")           # one went away: OTHER again with what is left
    assert sh.kinds("NOTIFY", start)[0][3].endswith("[AAA]")


def test_custom_messages_and_flags():
    sh = primary('MINSUPPLIES 0\nNOTIFYMSG ONBATT "custom onbatt %s here"\n'
                 "NOTIFYFLAG onbatt SYSLOG+EXEC\nNOTIFYFLAG ONLINE IGNORE\n")
    feed(sh, "OL", "OB", "OL")
    notes = [o for o in sh.events if o[0] == "NOTIFY"]
    assert notes[0][3] == "custom onbatt ups@localhost here"
    flags = sh.mon.conf.notify_flags
    assert flags["ONBATT"] == 2 | 8 and flags["ONLINE"] == 1


def test_replbatt_repeats_after_rbwarntime():
    sh = primary("MINSUPPLIES 0\nRBWARNTIME 60\n")
    feed(sh, "OL RB")
    sh.run_for(50)
    assert sh.types().count("REPLBATT") == 1
    sh.run_for(20)
    assert sh.types().count("REPLBATT") == 2


# -- communications: COMMBAD, NOCOMM, COMMOK ----------------------------------------------

def test_never_reachable_ups_gets_commbad_then_nocomm_on_second_poll():
    sh = primary("MINSUPPLIES 0\nNOCOMMWARNTIME 300\n")
    sh.cycle()
    assert sh.types() == ["COMMBAD"]
    assert sh.logs()[0] == f"UPS [{A}]: connect failed: Connection failure: Connection refused"
    sh.cycle()
    assert sh.types() == ["COMMBAD", "NOCOMM"]
    sh.run_for(290)
    assert sh.types().count("NOCOMM") == 1
    sh.run_for(20)
    assert sh.types().count("NOCOMM") == 2


def test_nocomm_after_nocommwarntime_of_silence():
    sh = primary("MINSUPPLIES 0\nNOCOMMWARNTIME 30\n")
    feed(sh, "OL", STALE)
    assert sh.types() == ["COMMBAD"]
    sh.run_for(20)
    assert "NOCOMM" not in sh.types()
    sh.run_for(15)
    assert sh.types() == ["COMMBAD", "NOCOMM"]
    feed(sh, "OL")
    assert sh.types()[-1] == "COMMOK"


def test_poll_failure_messages():
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, mon.PollFailed("Unknown UPS"), mon.PollFailed("Data stale"))
    assert sh.logs() == [f"Poll UPS [{A}] failed - [ups] does not exist on server localhost",
                         f"Poll UPS [{A}] failed - Data stale"]


def test_dropped_connection_makes_next_success_a_recovery():
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL", mon.PollFailed("Server disconnected", dropped=True),
         mon.ConnectFailed("Connection failure: Connection refused"), "OL")
    # no NOCOMM: the UPS answered less than NOCOMMWARNTIME ago
    assert sh.types() == ["COMMBAD", "COMMOK"]


def test_pollfail_log_throttle():
    sh = primary("MINSUPPLIES 0\nPOLLFAIL_LOG_THROTTLE_MAX 3\n")
    feed(sh, "OL", *[STALE] * 7, "OL")
    logs = sh.logs()
    assert logs[0] == (f"Poll UPS [{A}] failure state code changed from -1 to 10; report below "
                       "will only be repeated to syslog every 3 polling loop cycles (15 sec):")
    assert logs.count(f"Poll UPS [{A}] failed - Data stale") == 3   # polls 1, 4 and 7
    assert logs[-1] == f"Poll UPS [{A}] recovered from failure state code 10 - now -1"


def test_auth_failure_is_neither_alive_nor_gone():
    """C: a connection whose LOGIN failed counts for nothing in that cycle."""
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, mon.NotLoggedIn(), mon.NotLoggedIn())
    assert sh.types() == []


# -- DEADTIME ------------------------------------------------------------------------------

def test_dead_ups_last_seen_on_battery_is_promoted_after_deadtime():
    sh = primary()
    feed(sh, "OL", "OB", STALE)
    sh.run_for(10)
    assert not sh.kinds("FSD")          # 15 s of DEADTIME not over yet
    sh.run_for(10)
    assert sh.kinds("FSD") and sh.shutdown_requested


def test_dead_ups_last_seen_on_line_is_never_critical():
    sh = primary()
    feed(sh, "OL", STALE)
    sh.run_for(600)
    assert not sh.kinds("FSD") and not sh.done


def test_server_disconnect_while_on_battery_waits_deadtime_nut_2454():
    """NUT #2454: a 4-second network glitch on battery shut the machine down at once."""
    sh = secondary("DEADTIME 120\n")
    feed(sh, "OL", "OB", mon.PollFailed("Server disconnected", dropped=True))
    sh.run_for(60)
    assert not sh.shutdown_requested
    feed(sh, "OB")
    sh.run_for(300)
    assert not sh.shutdown_requested
    assert sh.types() == ["ONBATT", "COMMBAD", "NOCOMM", "COMMOK"] or \
        sh.types() == ["ONBATT", "COMMBAD", "COMMOK"]


@pytest.mark.parametrize("last_state", ["OL CAL", "OL ALARM", "OL BYPASS", "OL OFF",
                                        "OB CAL"])
def test_short_silence_after_special_state_is_not_death_nut_2794(last_state):
    """NUT #2794 (seen with 2.8.5): 'OL CAL' then one I/O error = 'assuming dead' and a
    shutdown. Here the last known state counts only after DEADTIME of silence."""
    sh = primary("OFFDURATION -1\n")
    feed(sh, "OL", last_state, STALE, STALE)
    assert not sh.kinds("FSD")
    feed(sh, "OL")
    sh.run_for(60)
    assert not sh.shutdown_requested


@pytest.mark.parametrize("last_state,words", [
    ("OL CAL", "was last known to be calibrating"),
    ("OL ALARM", "was last known to be in an ALARM state"),
    ("OL BYPASS", "was last known to be on BYPASS"),
    ("OL OFF", "was last known to be (administratively) OFF"),
])
def test_long_silence_after_special_state_is_death(last_state, words):
    sh = primary()
    feed(sh, "OL", last_state, STALE)
    sh.run_for(20)
    assert sh.shutdown_requested
    assert any(words in line for line in sh.logs())


def test_alarmcritical_0_keeps_a_silent_alarmed_ups_alive():
    sh = primary("ALARMCRITICAL 0\n")
    feed(sh, "OL", "OL ALARM", STALE)
    sh.run_for(60)
    assert not sh.shutdown_requested


# -- CAL -------------------------------------------------------------------------------

def test_cal_then_ob_lb_is_critical_once_cal_clears_nut_2168():
    """2.8.0 never cleared CAL, so a later real OB LB was ignored (NUT #2168); 2.8.2+ and
    we clear it (NOTCAL)."""
    sh = primary()
    feed(sh, "OL", "OB CAL", "OB LB CAL")
    assert not sh.kinds("FSD")
    assert any("it is also calibrating" in line for line in sh.logs())
    feed(sh, "OL", "OB", "OB LB")
    assert sh.types()[:5] == ["ONBATT", "CAL", "LOWBATT", "NOTCAL", "ONLINE"]
    assert sh.kinds("FSD")


# -- OFF, OVER, OBLB durations -------------------------------------------------------------

def test_off_becomes_critical_after_offduration():
    sh = primary("OFFDURATION 30\n")
    feed(sh, "OL", "OL OFF")
    sh.run_for(25)
    assert not sh.kinds("FSD")
    sh.run_for(15)
    assert sh.kinds("FSD")
    assert any("is in state OFF for" in line for line in sh.logs())


def test_offduration_0_is_immediate_and_negative_never():
    sh = primary("OFFDURATION 0\n")
    feed(sh, "OL", "OL OFF")
    assert sh.kinds("FSD")
    sh = primary("OFFDURATION -1\n")
    feed(sh, "OL", "OL OFF")
    sh.run_for(600)
    assert not sh.kinds("FSD")


def test_off_on_one_ups_does_not_affect_another_nut_2822():
    """NUT #2822: one UPS OFF past OFFDURATION, then the other's driver went stale, and the
    machine went down. With MINSUPPLIES 1 of 2 the healthy one keeps it up."""
    sh = FakeShell(BASE + f"OFFDURATION 10\nMONITOR {A} 1 u p secondary\n"
                          f"MONITOR {B} 1 u p secondary\n")
    sh.status[A] = sh.status[B] = "OL"
    sh.cycle()
    sh.status[A] = "OL OFF"
    sh.run_for(30)
    assert any("is reported as (administratively) OFF" in line for line in sh.logs())
    sh.status[B] = STALE
    sh.run_for(10)
    sh.status[B] = "OL"
    sh.run_for(60)
    assert not sh.shutdown_requested
    assert all("[other@example.net:3500] was last known" not in line for line in sh.logs())


def test_overduration():
    sh = primary("OVERDURATION 30\n")
    feed(sh, "OL", "OL OVER", STALE)
    sh.run_for(20)                  # silent longer than DEADTIME, overloaded < 30 s
    assert not sh.shutdown_requested
    assert any("waiting for OVERDURATION" in line for line in sh.logs())
    sh.run_for(15)
    assert sh.shutdown_requested


def test_overduration_negative_never_critical():
    sh = primary()
    feed(sh, "OL", "OL OVER", STALE)
    sh.run_for(60)
    assert not sh.shutdown_requested


def test_oblbduration_delays_critical_and_polls_faster():
    sh = primary("OBLBDURATION 12\nPOLLFREQALERT 8\n")
    feed(sh, "OL", "OB", "OB LB")
    assert not sh.kinds("FSD")
    assert sh.mon.poll_interval() == 4   # gcd(8, 12)
    sh.run_for(8)
    assert not sh.kinds("FSD")
    sh.run_for(8)
    assert sh.kinds("FSD")


def test_oblbduration_condition_gone_in_time():
    sh = primary("OBLBDURATION 20\n")
    feed(sh, "OL", "OB", "OB LB", "OB LB", "OB")
    sh.run_for(60)
    assert not sh.kinds("FSD")
    assert any("returned from OB+LB state now" in line for line in sh.logs())


# -- poll interval ------------------------------------------------------------------------

def test_poll_interval_follows_every_ups():
    sh = FakeShell(BASE.replace("POLLFREQ 5\n", "POLLFREQ 30\n").replace(
        "POLLFREQALERT 5", "POLLFREQALERT 3") + f"MINSUPPLIES 0\nMONITOR {A} 1 u p primary\n"
        f"MONITOR {B} 1 u p primary\n")
    assert sh.mon.sleepval == 30          # C starts at 5 whatever POLLFREQ says
    sh.status[A] = "OB"
    sh.status[B] = "OL"
    sh.cycle()
    assert sh.mon.sleepval == 3
    sh.status[B] = "OB"
    sh.cycle()
    sh.status[B] = "OL"                  # C: this OL set the interval back to POLLFREQ
    sh.cycle()
    assert sh.mon.sleepval == 3          # ... although A is still on battery
    sh.status[A] = "OL"
    sh.cycle()
    assert sh.mon.sleepval == 30


# -- MINSUPPLIES and power values -----------------------------------------------------------

@pytest.mark.parametrize("values,minsupplies,critical,shutdown", [
    ((1, 1), 1, ("A",), False),
    ((1, 1), 2, ("A",), True),
    ((2, 1), 2, ("B",), False),
    ((2, 1), 2, ("A",), True),
    ((0, 1), 1, ("A",), False),        # a monitoring-only UPS never counts
    ((1, 1), 1, ("A", "B"), True),
    ((3, 0), 0, ("A", "B"), False),    # MINSUPPLIES 0: watch only
])
def test_minsupplies_arithmetic(values, minsupplies, critical, shutdown):
    sh = FakeShell(BASE + f"MINSUPPLIES {minsupplies}\nMONITOR {A} {values[0]} u p primary\n"
                          f"MONITOR {B} {values[1]} u p primary\n")
    sh.status[A] = sh.status[B] = "OL"
    sh.cycle()
    for name in critical:
        sh.status[A if name == "A" else B] = "OB LB"
    sh.cycle()
    assert sh.shutdown_requested == shutdown
    if shutdown:
        assert "Too few UPS(es) are healthy" in " ".join(sh.logs())


def test_never_heard_ups_counts_as_healthy():
    sh = FakeShell(BASE + f"MINSUPPLIES 2\nMONITOR {A} 1 u p secondary\n"
                          f"MONITOR {B} 1 u p secondary\n")
    sh.status[A] = "OL"
    sh.run_for(120)
    assert not sh.shutdown_requested


# -- the primary's shutdown: FSD, waiting for secondaries, HOSTSYNC ------------------------

def test_primary_sets_fsd_waits_for_secondaries_then_shuts_down():
    sh = primary("FINALDELAY 5\n")
    logouts_at = sh.t + 3 * 5 + 4   # the secondaries log out 4 s after the FSD
    sh.logins[A] = lambda t: 3 if t < logouts_at else 1
    feed(sh, "OL", "OB", "OB LB")
    sh.run_to_end()
    assert sh.exit_status == 0
    kinds = [e[0] for e in sh.events if e[0] in ("FSD", "SHUTDOWN", "WALL")]
    assert kinds == ["FSD", "WALL", "SHUTDOWN"]
    assert sh.types() == ["ONBATT", "LOWBATT", "FSD", "SHUTDOWN_HOSTSYNC", "SHUTDOWN"]
    shutdown_at = sh.kinds("SHUTDOWN")[0][1]
    assert logouts_at + 5 <= shutdown_at < logouts_at + 5 + 0.5   # + FINALDELAY
    assert "Host sync timer expired, forcing shutdown" not in sh.logs()
    assert sh.kinds("WALL")[0][1] == "Executing automatic power-fail shutdown\n"


def test_primary_gives_up_on_secondaries_after_hostsync():
    sh = primary("HOSTSYNC 20\n")
    sh.logins[A] = 2
    feed(sh, "OL", "OB", "OB LB")
    fsd_at = sh.t
    sh.run_to_end()
    assert "Host sync timer expired, forcing shutdown" in sh.logs()
    assert 20 < sh.kinds("SHUTDOWN")[0][1] - fsd_at <= 20.5


def test_primary_alone_does_not_wait():
    sh = primary()
    feed(sh, "OL", "OB", "OB LB")
    sh.run_to_end()
    assert "SHUTDOWN_HOSTSYNC" not in sh.types()
    assert sh.logs()[-2:] == ["Executing automatic power-fail shutdown",
                              "Exiting upsmon program after initiating shutdown"]


def test_fsd_refused_is_logged_and_shutdown_goes_on():
    sh = primary()
    sh.fsd_reply[A] = mon.NetError("Access denied")
    feed(sh, "OL", "OB", "OB LB")
    sh.run_to_end()
    assert f"FSD set on UPS {A} failed: Access denied" in sh.logs()
    assert "FSD" not in sh.types()
    assert sh.shutdown_requested


def test_user_fsd_signal():
    sh = primary()
    feed(sh, "OL")
    sh.signal("fsd")
    sh.run_to_end()
    assert sh.logs()[0] == "Got an FSD signal, initiating forced shutdown"
    assert sh.kinds("FSD") and sh.shutdown_requested


def test_shutdownexit_keeps_polling_logins_then_exits():
    sh = primary("SHUTDOWNEXIT 10\n")
    feed(sh, "OL", "OB", "OB LB")
    sh.run_to_end()
    start = sh.kinds("SHUTDOWN")[0][1]
    assert sh.t - start > 10
    assert "Configured to only exit upsmon SHUTDOWNEXIT=10 sec after initiating shutdown" \
        in sh.logs()


# -- secondaries -----------------------------------------------------------------------------

def test_secondary_shuts_down_on_fsd_without_setting_it():
    sh = secondary()
    feed(sh, "OL", "OB", "FSD OB LB")
    sh.run_to_end()
    assert sh.types() == ["ONBATT", "FSD", "LOWBATT", "SHUTDOWN"]
    assert not sh.kinds("FSD")
    assert sh.shutdown_requested


def test_secondary_waits_hostsync_for_the_primary():
    sh = secondary("HOSTSYNC 20\n")
    feed(sh, "OL", "OB", "OB LB")
    assert not sh.shutdown_requested
    sh.run_for(10)
    assert not sh.shutdown_requested
    sh.run_for(15)
    assert sh.shutdown_requested
    assert any(line.startswith(f"Giving up on the primary for UPS [{A}] after ")
               for line in sh.logs())


def test_secondary_ob_lb_going_away_within_hostsync():
    sh = secondary("HOSTSYNC 20\n")
    feed(sh, "OL", "OB", "OB LB", "OB")
    sh.run_for(60)
    assert not sh.shutdown_requested


# -- the root parent ------------------------------------------------------------------------

def test_noparent_every_two_minutes():
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL")
    sh.parent_alive = False
    sh.run_for(200)
    assert sh.types().count("NOPARENT") == 2
    assert sh.logs().count("Parent died - shutdown impossible") == 2


def test_single_process_mode_does_not_check_a_parent():
    sh = FakeShell(BASE + f"MINSUPPLIES 0\nMONITOR {A} 1 u p primary\n", split_mode=False)
    sh.parent_alive = False
    sh.status[A] = "OL"
    sh.run_for(300)
    assert "NOPARENT" not in sh.types()


# -- suspend and clock jumps (NUT #773, #1070, #3405) ----------------------------------------

def test_resume_from_suspend_reconnects_quietly_nut_773():
    """After a suspend the old connection is dead: C's first poll failed with a broken pipe
    (COMMBAD, then COMMOK once reconnected, NUT #773). Here the core drops the connections
    quietly on waking, so the next poll reconnects and nothing is announced but the wake."""
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL")
    sh.suspend_next = 8 * 3600.0   # CLOCK_MONOTONIC does not move while suspended
    feed(sh, "OL")
    assert sh.types() == ["SUSPEND_FINISHED"]
    drops = sh.kinds("DROP")
    assert drops == [("DROP", A, True)]


def test_after_suspend_old_readings_count_for_nothing_until_deadtime():
    """A secondary saw OB LB just before the machine slept; on waking its polls fail for a
    while. The reading from before the sleep does not start the shutdown."""
    sh = secondary("HOSTSYNC 10\nDEADTIME 15\n")
    feed(sh, "OL", "OB LB")
    sh.suspend_next = 3600.0
    sh.status[A] = STALE
    sh.run_for(12)
    assert not sh.shutdown_requested
    sh.status[A] = "OL"
    sh.run_for(60)
    assert not sh.shutdown_requested
    # without the suspend the same silence is the end: HOSTSYNC runs out
    sh = secondary("HOSTSYNC 10\nDEADTIME 15\n")
    feed(sh, "OL", "OB LB")
    sh.status[A] = STALE
    sh.run_for(12)
    assert sh.shutdown_requested


def test_dead_after_suspend_still_counts_after_deadtime():
    sh = primary()
    feed(sh, "OL", "OB")
    sh.suspend_next = 3600.0
    sh.status[A] = STALE
    sh.run_for(10)                  # DEADTIME counts from the wake-up
    assert not sh.shutdown_requested
    sh.run_for(12)
    assert sh.shutdown_requested


def test_busy_machine_is_not_a_wakeup_nut_3405():
    """C 2.8.5 takes a loop cycle that ran long (a busy machine) for a wake-up; the core
    only hears of a suspend when the shell measured one."""
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL")
    sh.t += 120          # the machine stalled two minutes, no suspend
    feed(sh, "OL")
    assert "SUSPEND_FINISHED" not in sh.types()


# -- reload -----------------------------------------------------------------------------------

def test_reload_adds_removes_and_redefines():
    sh = FakeShell(BASE + f"MONITOR {A} 1 u p secondary\nMONITOR {B} 1 u p secondary\n")
    sh.status[A] = sh.status[B] = "OL"
    sh.cycle()
    sh.conf_text = BASE + f"MONITOR {A} 2 u2 p primary\nMINSUPPLIES 2\n" \
        'NOTIFYMSG ONBATT "now on battery: %s"\n'
    sh.signal("reload")
    sh.cycle()
    logs = sh.logs()
    assert logs[0] == "Reloading configuration"
    assert f"UPS [{A}]: redefined power value to 2" in logs
    assert f"UPS [{A}]: redefined username" in logs
    assert f"UPS [{A}]: redefined as a primary" in logs
    assert f"No longer monitoring UPS [{B}]" in logs
    assert ("DROP", B, False) in sh.events and ("DROP", A, False) in sh.events
    assert [u.system for u in sh.mon.upses] == [A]
    start = len(sh.events)
    sh.status[A] = "OB"
    sh.cycle()
    assert sh.kinds("NOTIFY", start)[0][3] == f"now on battery: {A}"


def test_reload_keeps_settings_deleted_from_the_file():
    sh = primary('NOTIFYMSG ONBATT "kept %s"\nPOLLFREQ 9\n')
    feed(sh, "OL")
    sh.conf_text = BASE + f"MONITOR {A} 1 mon pass primary\n"
    sh.signal("reload")
    sh.cycle()
    assert "Reloading configuration" in sh.logs()
    assert sh.mon.conf.notify_messages["ONBATT"] == "kept %s"


def test_reload_with_impossible_power_exits():
    sh = primary()
    sh.conf_text = BASE + f"MONITOR {A} 1 mon pass primary\nMINSUPPLIES 5\n"
    sh.signal("reload")
    sh.run_to_end()
    assert sh.exit_status == 1
    assert "Fatal error: total power value (1) less than MINSUPPLIES (5)" in sh.logs()


def test_reload_warns_about_shutdowncmd_in_split_mode():
    sh = primary()
    feed(sh, "OL")
    sh.conf_text = BASE.replace("/sbin/shutdown -h now", "/bin/true") + \
        f"MONITOR {A} 1 mon pass primary\n"
    sh.signal("reload")
    sh.cycle()
    assert "Warning: SHUTDOWNCMD redefined in split-process mode!" in sh.logs()


def test_stop_signal_exits_cleanly():
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL")
    sh.signal("stop")
    sh.run_to_end()
    assert sh.exit_status == 0
    assert sh.logs()[-1] == "Signal 15: exiting"


def test_eco_from_buzzwords_needs_an_eco_word():
    """2.8.5 took any ups.mode.buzzwords for ECO (its test is inverted)."""
    sh = primary("MINSUPPLIES 0\n")
    sh.buzzwords[A] = "vendor:apc:online"
    feed(sh, "OL", "OL")
    assert sh.types() == []
    sh.buzzwords[A] = "vendor:eaton:ESS"
    feed(sh, "OL")
    assert sh.types() == ["ECO"]
    del sh.buzzwords[A]
    feed(sh, "OL")
    assert sh.types() == ["ECO", "NOTECO"]


def test_empty_status_words_are_skipped():
    sh = primary("MINSUPPLIES 0\n")
    feed(sh, "OL", "OB  LB")
    assert sh.types() == ["ONBATT", "LOWBATT"]
