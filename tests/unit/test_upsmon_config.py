"""upsmon.conf loading (nutpy.upsmon.config): defaults, every directive, C's messages
(checked against C upsmon 2.8.0's output for the same file; 2.8.5 differences noted)."""

import pytest

from nutpy.common import parseconf
from nutpy.upsmon import config as cfg
from nutpy.upsmon import notify

PATH = "/tmp/um/upsmon.conf"


def load(text: str, **kw):
    return cfg.load(parseconf.parse_text(text.encode()), PATH, **kw)


def test_defaults_are_c_defaults():
    conf, _ = load("")
    assert (conf.minsupplies, conf.pollfreq, conf.pollfreqalert, conf.deadtime, conf.hostsync,
            conf.rbwarntime, conf.nocommwarntime, conf.finaldelay, conf.offduration,
            conf.overduration, conf.oblbduration, conf.alarmcritical, conf.shutdownexit,
            conf.pollfail_log_throttle_max, conf.certverify, conf.forcessl) == \
        (1, 5, 5, 15, 15, 43200, 300, 5, 30, -1, 0, 1, 0, -1, 0, 0)
    assert conf.shutdowncmd is conf.notifycmd is conf.powerdownflag is None
    # 2.8.5: every type defaults to SYSLOG+WALL (2.8.0 had CAL at SYSLOG only)
    assert set(conf.notify_flags.values()) == {notify.SYSLOG | notify.WALL}
    assert len(conf.notify_flags) == len(notify.TYPES) == 31


def test_messages_match_c_for_a_messy_file():
    """The same file given to C upsmon 2.8.0 (-K) printed these lines, in this order."""
    text = """MONITOR ups@localhost 1 mon pass primary
MONITOR ups@localhost 2 mon pass primary
MONITOR bad@localhost -1 mon pass primary
MONITOR x@localhost 1 mon
NOTIFYFLAG ONBATT syslog+EXEC
NOTIFYFLAG BOGUS SYSLOG
NOTIFYMSG BOGUS "x"
POLLFREQ -3
FOO bar
POWERDOWNFLAG /run/killpower
k = "a#b"
DEBUG_MIN x
"""
    conf, msgs = load(text)
    assert [m for _, m in msgs] == [
        "UPS: ups@localhost (primary) (power value 1)",
        "Warning: ignoring duplicate UPS [ups@localhost]",
        "UPS [bad@localhost]: ignoring invalid power value [-1]",
        "/tmp/um/upsmon.conf line 4: invalid directive MONITOR x@localhost 1 mon",
        "Invalid notify flag: [syslog]",
        "Warning: invalid notify type [BOGUS]",
        "'BOGUS' is not a valid notify event name",
        "Ignoring invalid POLLFREQ value: -3",
        "/tmp/um/upsmon.conf line 9: invalid directive FOO bar",
        "Using power down flag file /run/killpower",
        "Parse error: /tmp/um/upsmon.conf:11: Unbalanced word due to unescaped # in quotes",
        '/tmp/um/upsmon.conf line 12: invalid directive b"',
        "WARNING : Invalid DEBUG_MIN value found in upsmon.conf global settings",
        # 2.8.0 does not count; 2.8.5 sums up
        "Encountered 4 config errors, those entries were ignored",
    ]
    assert conf.notify_flags["ONBATT"] == notify.EXEC   # the bad word is dropped
    assert conf.pollfreq == 5
    assert [m.system for m in conf.monitors] == ["ups@localhost"]


def test_monitor_line_forms():
    conf, msgs = load("MONITOR a@h:3500 2 u p master extra words\n"
                      "MONITOR b 0 u p slave\n"
                      "MONITOR c@h 1 u p whatever\n"
                      "MONITOR d@h 1 u p PRIMARY\n"
                      "POWERDOWNFLAG /x\n")
    a, b, c, d = conf.monitors
    assert (a.upsname, a.host, a.port, a.power_value, a.primary) == ("a", "h", 3500, 2, True)
    assert (b.upsname, b.host, b.port, b.primary) == ("b", "localhost", 3493, False)
    assert not c.primary and d.primary
    assert conf.total_power == 4
    assert ("info", "UPS: b (monitoring only)") in msgs
    assert ("info", "UPS: a@h:3500 (primary) (power value 2)") in msgs


def test_old_style_monitor_is_fatal():
    with pytest.raises(cfg.ConfigFatal) as err:
        load("MONITOR ups@h 1 pass master\n")
    assert str(err.value) == "Fatal error: unusable configuration"
    assert err.value.messages[0] == ("error", "Unable to use old-style MONITOR line without "
                                              "a username")


def test_directive_names_are_case_sensitive_but_debug_min():
    conf, msgs = load("pollfreq 3\ndebug_min 4\nPOWERDOWNFLAG /x\n")
    assert conf.pollfreq == 5 and conf.debug_min == 4
    assert msgs[0] == ("warning", f"{PATH} line 1: invalid directive pollfreq 3")


@pytest.mark.parametrize("line,attr,value", [
    ("SHUTDOWNCMD \"/sbin/shutdown -h +0\"", "shutdowncmd", "/sbin/shutdown -h +0"),
    ("NOTIFYCMD /usr/sbin/upssched", "notifycmd", "/usr/sbin/upssched"),
    ("POLLFREQ 7", "pollfreq", 7),
    ("POLLFREQALERT 2", "pollfreqalert", 2),
    ("DEADTIME 40", "deadtime", 40),
    ("HOSTSYNC 9", "hostsync", 9),
    ("RBWARNTIME 100", "rbwarntime", 100),
    ("NOCOMMWARNTIME 60", "nocommwarntime", 60),
    ("FINALDELAY 0", "finaldelay", 0),
    ("FINALDELAY -1", "finaldelay", 5),
    ("MINSUPPLIES 0", "minsupplies", 0),
    ("MINSUPPLIES -2", "minsupplies", 1),
    ("OFFDURATION -1", "offduration", -1),
    ("OVERDURATION 60", "overduration", 60),
    ("OBLBDURATION 10", "oblbduration", 10),
    ("OBLBDURATION -4", "oblbduration", 0),
    ("ALARMCRITICAL 0", "alarmcritical", 0),
    ("SHUTDOWNEXIT no", "shutdownexit", -1),
    ("SHUTDOWNEXIT Yes", "shutdownexit", 0),
    ("SHUTDOWNEXIT 30", "shutdownexit", 30),
    ("SHUTDOWNEXIT 30s", "shutdownexit", 0),
    ("POLLFAIL_LOG_THROTTLE_MAX 4", "pollfail_log_throttle_max", 4),
    ("RUN_AS_USER nutmon", "run_as_user", "nutmon"),
    ("CERTPATH /etc/nut/certs", "certpath", "/etc/nut/certs"),
    ("CERTIDENT upsmon secret", "certident", ("upsmon", "secret")),
    ("CERTVERIFY 1", "certverify", 1),
    ("FORCESSL 1", "forcessl", 1),
    ("CERTFILE /etc/nut/client.pem", "certfile", "/etc/nut/client.pem"),
    ("CERTHOST ups.example.net upsd 1 1", "certhosts", [("ups.example.net", "upsd", 1, 1)]),
    ("POWERDOWNFLAG /etc/killpower", "powerdownflag", "/etc/killpower"),
])
def test_each_directive(line, attr, value):
    conf, _ = load(line + "\n")
    assert getattr(conf, attr) == value
    assert conf.errors == 0


def test_numbers_read_like_atoi():
    conf, _ = load("POLLFREQ 12abc\nDEADTIME x\n")
    assert conf.pollfreq == 12 and conf.deadtime == 0


def test_no_powerdownflag_warnings_of_2_8_5():
    _, msgs = load("MONITOR a 1 u p primary\n")
    texts = [t for _, t in msgs]
    assert f"No POWERDOWNFLAG value was configured in {PATH}!" in texts
    assert any(t.startswith("This upsmon instance is PRIMARY for at least one device that "
                            "feeds it") for t in texts)
    _, msgs = load("MONITOR a 1 u p secondary\n")
    assert any("is not a PRIMARY" in t for _, t in msgs)


def test_quiet_load_hides_ups_lines():
    _, msgs = load("MONITOR a 1 u p primary\nPOWERDOWNFLAG /x\n", quiet=True)
    assert [t for _, t in msgs] == ["Using power down flag file /x"]


def test_reload_starts_from_previous_settings():
    first, _ = load('NOTIFYMSG ONLINE "back %s"\nNOTIFYFLAG ONLINE EXEC\nPOLLFREQ 9\n'
                    "DEBUG_MIN 3\nPOWERDOWNFLAG /x\nMONITOR a 1 u p primary\n")
    again, msgs = load("MONITOR b 1 u p primary\nPOWERDOWNFLAG /y\n", previous=first)
    assert again.notify_messages == {"ONLINE": "back %s"}
    assert again.notify_flags["ONLINE"] == notify.EXEC
    assert again.pollfreq == 9 and again.debug_min is None
    assert [m.system for m in again.monitors] == ["b"]
    assert ("warning", "Warning: POWERDOWNFLAG redefined in split-process mode!") in msgs
    assert not any(t.startswith("Using power down flag") for _, t in msgs)
    # the previous settings are not touched
    assert first.powerdownflag == "/x" and [m.system for m in first.monitors] == ["a"]


def test_long_invalid_line_is_cut_like_c():
    _, msgs = load("BOGUS " + "x" * 600 + "\n")
    assert len(msgs[0][1]) == 511


@pytest.mark.parametrize("fmt,ups,extra,expected", [
    ("UPS %s on battery", "u@h", None, "UPS u@h on battery"),
    ("no placeholder 100%", "u@h", None, "no placeholder 100%"),
    ("%s at 100%%", "u@h", None, "u@h at 100%"),
    ("[%s] [%s]", "u@h", "A B", "[u@h] [A B]"),
    ("only %s", "u@h", "dropped", "only u@h"),
    ("%d odd %s", "u@h", None, "%d odd u@h"),
    ("%s", None, None, ""),
])
def test_message_formatting(fmt, ups, extra, expected):
    assert notify.format_message(fmt, ups, extra) == expected


def test_flag_words():
    assert notify.parse_flags("SYSLOG+WALL+EXEC") == (14, [])
    assert notify.parse_flags("IGNORE") == (1, [])
    assert notify.parse_flags("Wall+EXEC") == (8, ["Wall"])
