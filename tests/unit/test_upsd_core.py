"""The sans-IO cores of upsd: upsd.conf / upsd.users loaders, the per-UPS state fed by
driver messages, and the protocol handler (no sockets, no clocks)."""

from __future__ import annotations

import re

from nutpy.common import parseconf
from nutpy.upsd import config
from nutpy.upsd.descriptions import Descriptions
from nutpy.upsd.protocol import Session, new_tracking_id
from nutpy.upsd.state import Ups, UpsData
from support.upsd_core import ask, make_server, users


def conf(text: str):
    return config.parse_upsd_conf(parseconf.parse_text(text.encode()), "/etc/nut/upsd.conf")


# -- upsd.conf ------------------------------------------------------------------------


def test_upsd_conf_directives_and_messages():
    c, msgs = conf('LISTEN 0.0.0.0\nLISTEN ::1 3500\nMAXAGE 15x\nTRACKINGDELAY 10\n'
                   'maxage 3\nMAXCONN abc\nDEBUG_MIN 2\nALLOW_NO_DEVICE yes\n'
                   'CERTFILE /x.pem\nCERTIDENT nick pw\nCERTREQUEST REQUIRE\n'
                   'DISABLE_WEAK_SSL maybe\nREJECT x\nSTATEPATH /st\nk = "a#b"\n')
    assert c.listen == [("0.0.0.0", "3493"), ("::1", "3500")]
    assert (c.maxage, c.trackingdelay, c.debug_min, c.allow_no_device) == (15, 10, 2, True)
    assert (c.certfile, c.certident, c.certrequest, c.statepath) == (
        "/x.pem", ("nick", "pw"), 2, "/st")
    assert c.maxconn is None and c.tls_configured
    assert msgs == [
        ("warning", "upsd.conf: invalid directive maxage 3"),
        ("error", "MAXCONN has non numeric value (abc)!"),
        ("warning", "upsd.conf: invalid directive MAXCONN abc"),
        ("error", "DISABLE_WEAK_SSL has non boolean value (maybe)!"),
        ("warning", "upsd.conf: invalid directive DISABLE_WEAK_SSL maybe"),
        ("warning", "REJECT in upsd.conf is no longer supported - switch to LISTEN"),
        ("error", "Parse error: /etc/nut/upsd.conf:15: Unbalanced word due to unescaped # "
                  "in quotes"),
        ("warning", 'upsd.conf: invalid directive b"'),
        ("warning", "Encountered 4 config errors, those entries were ignored"),
    ]


def test_login_failure_directives():
    """nutpy's own directives (C 2.8.0 logs them as invalid and goes on)."""
    c, msgs = conf("")
    assert (c.login_failure_delay, c.login_failure_maxconn) == (4.0, 4)
    c, msgs = conf("LOGIN_FAILURE_DELAY 2.5\nLOGIN_FAILURE_MAXCONN 1\n")
    assert (c.login_failure_delay, c.login_failure_maxconn, msgs) == (2.5, 1, [])
    assert conf("LOGIN_FAILURE_DELAY 0\n")[0].login_failure_delay == 0
    assert conf("LOGIN_FAILURE_DELAY .5\n")[0].login_failure_delay == 0.5
    c, msgs = conf("LOGIN_FAILURE_DELAY -1\nLOGIN_FAILURE_DELAY 1e3\n"
                   "LOGIN_FAILURE_MAXCONN 0\nLOGIN_FAILURE_MAXCONN\n")
    assert (c.login_failure_delay, c.login_failure_maxconn) == (4.0, 4)
    assert msgs == [
        ("error", "LOGIN_FAILURE_DELAY has non numeric value (-1)!"),
        ("warning", "upsd.conf: invalid directive LOGIN_FAILURE_DELAY -1"),
        ("error", "LOGIN_FAILURE_DELAY has non numeric value (1e3)!"),
        ("warning", "upsd.conf: invalid directive LOGIN_FAILURE_DELAY 1e3"),
        ("error", "LOGIN_FAILURE_MAXCONN must be a positive number (0)!"),
        ("warning", "upsd.conf: invalid directive LOGIN_FAILURE_MAXCONN 0"),
        ("warning", "upsd.conf: invalid directive LOGIN_FAILURE_MAXCONN"),
        ("warning", "Encountered 4 config errors, those entries were ignored"),
    ]


def test_login_throttle_from_upsd_conf_and_reload(monkeypatch):
    from nutpy.upsd import main

    monkeypatch.delenv("NUTPY_UPSD_LOGIN_THROTTLE", raising=False)
    t = main._login_throttle(conf("LOGIN_FAILURE_DELAY 8\nLOGIN_FAILURE_MAXCONN 2\n")[0])
    assert (t.max_delay, t.first_delay, t.max_waiting) == (8.0, 0.5, 2)
    t.failure("192.0.2.1")
    again = main._login_throttle(conf("LOGIN_FAILURE_DELAY 2\n")[0], t)  # reload
    assert again is t and (t.max_delay, t.max_waiting, t.failures("192.0.2.1")) == (2, 4, 1)
    assert main._login_throttle(conf("LOGIN_FAILURE_DELAY 0\n")[0], t) is None
    monkeypatch.setenv("NUTPY_UPSD_LOGIN_THROTTLE", "0")
    assert main._login_throttle(conf("")[0]) is None


def test_env_boolean_prefix_rule():
    assert config.env_boolean("TRUEish") is True
    assert config.env_boolean("tr") is None
    assert config.env_boolean("0") is False
    assert config.env_boolean("nope") is False  # starts with "no", as C's strncasecmp


# -- upsd.users -----------------------------------------------------------------------


def test_users_forms_and_grants():
    u, msgs = users(
        "password = outside\n"
        "[admin]\n password = s3cret\n actions = SET FSD\n instcmds = load.off Load.On\n"
        "[mon]\n password = m\n upsmon = primary\n"
        "[sec]\n password=x\n upsmon secondary\n allowfrom = localhost\n colour = blue\n"
        "[admin]\n password = other\n actions = extra\n"
        "[all]\n password = a\n instcmds = ALL\n")
    admin, mon, sec = u.users["admin"], u.users["mon"], u.users["sec"]
    assert admin.password == "s3cret" and admin.actions == ["set", "fsd"]
    assert u.check_action("admin", "s3cret", "set")
    assert not u.check_action("admin", "S3CRET", "SET")
    assert not u.check_action("Admin", "s3cret", "SET")
    assert u.check_instcmd("admin", "s3cret", "LOAD.ON")
    assert not u.check_instcmd("admin", "s3cret", "beeper.off")
    assert u.check_instcmd("all", "a", "anything")
    assert mon.actions == ["login", "master", "fsd"]
    # a repeated [admin] leaves the previous section current (C quirk)
    assert sec.actions == ["login", "extra"] and sec.password == "x"
    assert not any("outside" in m for _, m in msgs)  # C drops lines before a section silently
    assert ("warning", "Unknown upsmon type =") in msgs
    assert ("warning", "allowfrom in upsd.users is no longer used") in msgs
    assert ("notice", "Unrecognized user setting colour") in msgs
    assert ("stderr", "Ignoring duplicate user admin") in msgs
    assert ("stderr", "Ignoring duplicate password for sec") in msgs


def test_user_without_password_never_authenticates():
    u, _ = users("[nopw]\n actions = SET\n")
    assert not u.check_action("nopw", "", "SET")


# -- driver state ---------------------------------------------------------------------


def test_state_follows_c_rules():
    d = UpsData()
    for line in ['SETINFO ups.status "OL"', 'SETINFO Zed "1"', 'SETINFO alpha "x\\"y"',
                 'SETINFO ups.status "ol"', "ADDRANGE v 1 2", 'SETINFO v "5"',
                 "ADDRANGE v 1 10", "ADDRANGE v 1 20", "ADDRANGE v 5 10", "ADDRANGE v 30 20",
                 "ADDRANGE v 11 12", 'ADDENUM v "a"', 'ADDENUM v "a"', 'ADDENUM v "B"',
                 'DELENUM v "b"', "SETFLAGS v rw String bogus", "SETAUX v 12x",
                 "ADDCMD b.cmd", "ADDCMD A.cmd", "ADDCMD a.CMD", "DELRANGE v 99 12"]:
        recognised, _ = d.apply(parseconf.split_line(line))
        assert recognised, line
    assert d.get("UPS.STATUS").raw == "OL"  # a change only in case is ignored
    assert d.get("alpha").value == 'x\\"y'
    assert [v.name for v in d.sorted_vars()] == ["alpha", "ups.status", "v", "Zed"]
    v = d.get("v")
    assert v.ranges == [(1, 10)]  # either bound equal = duplicate; min>max refused
    assert v.enums == ["a"]
    assert (v.flags, v.aux) == (3, 12)
    assert d.sorted_cmds() == ["A.cmd", "b.cmd"]
    assert d.apply(["SETINFO", "x"]) == (False, None)
    assert d.apply(["BOGUS"]) == (False, None)
    assert d.apply(["TRACKING", "id", "0"]) == (True, ("id", "0"))


# -- protocol -------------------------------------------------------------------------


def feed(ups: Ups, *lines: str) -> None:
    for line in lines:
        ups.data.apply(parseconf.split_line(line))


def test_wait_until_dump_and_fsd_prefix():
    server, ups, _ = make_server()
    s = Session("127.0.0.1")
    assert ask(server, s, "GET VAR fake ups.status\n") == b'VAR fake ups.status "WAIT"\n'
    feed(ups, 'SETINFO ups.status "OL"', "SETFLAGS ups.status RW STRING", "SETAUX ups.status 5")
    ask(server, s, "USERNAME admin\nPASSWORD pw\n")
    assert ask(server, s, "FSD FAKE\n") == b"OK FSD-SET\n"
    assert ask(server, s, "GET VAR fake UPS.status\nLIST RW fake\nLIST VAR fake\n") == (
        b'VAR fake UPS.status "FSD OL"\n'
        b'BEGIN LIST RW fake\nRW fake ups.status "OL"\nEND LIST RW fake\n'
        b'BEGIN LIST VAR fake\nVAR fake ups.status "FSD OL"\nEND LIST VAR fake\n')
    assert ask(server, s, "LIST UPS\n") == (b'BEGIN LIST UPS\nUPS Fake "a \\"b\\""\n'
                                            b"END LIST UPS\n")


def test_availability_and_stale():
    server, ups, _ = make_server()
    s = Session("::1")
    ups.stale = True
    assert ask(server, s, "GET VAR fake x\nGET UPSDESC fake\nLIST CLIENT fake\n") == (
        b'ERR DATA-STALE\nUPSDESC fake "a \\"b\\""\nBEGIN LIST CLIENT fake\n'
        b"END LIST CLIENT fake\n")
    ups.connected = False
    assert ask(server, s, "GET NUMLOGINS fake\n") == b"ERR DRIVER-NOT-CONNECTED\n"


def test_set_forwarding_and_tracking():
    server, ups, sent = make_server()
    feed(ups, 'SETINFO ups.id "x"', "SETFLAGS ups.id RW STRING", "SETAUX ups.id 10")
    s = Session("127.0.0.1")
    out = ask(server, s, 'USERNAME admin\nPASSWORD pw\nSET TRACKING ON\n'
                         'SET VAR fake ups.id "a\\"b\\#"\n')
    m = re.search(rb"OK TRACKING (\S+)\n$", out)
    assert m
    ident = m.group(1).decode()
    assert sent == [f'SET ups.id "a\\"b\\#" TRACKING {ident}\n'.encode()]
    assert ask(server, s, f"GET TRACKING {ident}\n") == b"PENDING\n"
    server.tracking_set(ident.lower(), "3")
    assert ask(server, s, f"GET TRACKING {ident}\n") == b"ERR FAILED\n"
    server.tracking_set(ident.lower(), "4")  # conversion failed (later releases)
    assert ask(server, s, f"GET TRACKING {ident}\n") == b"ERR INVALID-ARGUMENT\n"
    other = Session("127.0.0.1")
    assert ask(server, other, f"GET TRACKING {ident}\n") == b"ERR FEATURE-NOT-CONFIGURED\n"


def test_tracking_ids_are_random_uppercase_v4():
    ids = {new_tracking_id() for _ in range(100)}
    assert len(ids) == 100
    for i in ids:
        assert re.fullmatch(r"[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-"
                            r"[0-9A-F]{12}", i)


def test_long_reply_is_cut_at_512_without_lf():
    server, _, _ = make_server()
    out = ask(server, Session("x"), "GET DESC fake " + "v" * 505 + "\n")
    assert len(out) == 512 and not out.endswith(b"\n")


def test_hosts_access_only_for_auth_commands_after_presence_checks():
    calls = []

    def hook(addr, user, local):
        calls.append((addr, user))
        return user != "admin"

    server, _, _ = make_server()
    server.auth.hosts_access = hook
    s = Session("127.0.0.1")
    assert ask(server, s, "LOGIN fake\n") == b"ERR USERNAME-REQUIRED\n"
    assert ask(server, s, "USERNAME admin\nLOGIN fake\n") == b"OK\nERR PASSWORD-REQUIRED\n"
    assert calls == []
    assert ask(server, s, "PASSWORD pw\nGET VAR fake ups.status\nLIST UPS\n").startswith(b"OK\n")
    assert calls == []
    assert ask(server, s, "LOGIN fake\nSET TRACKING ON\nINSTCMD fake x\n") == (
        b"ERR ACCESS-DENIED\n" * 3)
    assert calls == [("127.0.0.1", "admin")] * 3


def test_starttls_replies():
    server, _, _ = make_server()
    s = Session("x")
    assert ask(server, s, "STARTTLS\n") == b"ERR FEATURE-NOT-CONFIGURED\n"
    server.tls_state = "ready"
    assert ask(server, s, "STARTTLS\n") == b"OK STARTTLS\n" and s.starttls
    s.ssl = True
    assert ask(server, s, "STARTTLS\n") == b"ERR ALREADY-SSL-MODE\n"


def test_descriptions_strip_upstream_and_fallback(tmp_path):
    (tmp_path / "cmdvartab").write_text('VARDESC ups.load "Load"\nCMDDESC load.off "Off"\n')
    d = Descriptions.load(str(tmp_path))
    assert d.var("UPS.LOAD") == "Load" and d.var("upstream.ups.load") == "Load"
    assert d.cmd("load.off") == "Off" and d.var("ups.status") is None
    own = Descriptions.load(str(tmp_path / "missing"))
    assert own.var("ups.status")


def test_descriptions_later_line_wins(tmp_path):
    (tmp_path / "cmdvartab").write_text('VARDESC ups.load "First"\nVARDESC UPS.LOAD "Second"\n'
                                        'CMDDESC load.off "A"\nCMDDESC load.off "B"\n')
    d = Descriptions.load(str(tmp_path))
    assert d.var("ups.load") == "Second" and d.cmd("load.off") == "B"


def test_tracking_entries_expire_after_trackingdelay():
    now = [1000.0]
    server, ups, _ = make_server(clock=lambda: now[0])
    server.trackingdelay = 10
    feed(ups, 'SETINFO x "1"', "SETFLAGS x RW")
    s = Session("h")
    out = ask(server, s, "USERNAME admin\nPASSWORD pw\nSET TRACKING ON\nSET VAR fake x 2\n")
    ident = out.split()[-1].decode()
    now[0] += 10
    server.tracking_cleanup()
    assert ask(server, s, f"GET TRACKING {ident}\n") == b"PENDING\n"
    now[0] += 1
    server.tracking_cleanup()
    assert ask(server, s, f"GET TRACKING {ident}\n") == b"ERR UNKNOWN\n"


def test_unescaped_live_values_from_c_drivers_read_as_c_does():
    """C drivers put live values in quotes without escaping: upsd keeps what the
    tokenizer makes of it (the first quoted word), like C."""
    d = UpsData()
    d.apply(parseconf.split_line('SETINFO ups.id "q"x"'))
    assert d.get("ups.id").raw == "q"


def test_failed_logins_slowed_per_address_never_refused():
    from nutpy.security.passwords import LoginThrottle
    from nutpy.upsd.auth import Held

    now = [0.0]
    server, _, _ = make_server()
    server.auth.throttle = LoginThrottle(clock=lambda: now[0], max_waiting=100)

    def login(addr: str, pw: str):
        s = Session(addr)
        ask(server, s, f"USERNAME admin\nPASSWORD {pw}\n")
        return server.handle(s, ["FSD", "fake"])

    delays = [login("10.0.0.2", "wrong").delay for _ in range(6)]
    assert delays == [0.25, 0.5, 1, 2, 4, 4]
    assert login("10.0.0.2", "pw") == b"OK FSD-SET\n"  # at once, not Held
    wrong = login("10.0.0.3", "wrong")
    assert wrong.__class__ is Held and wrong.delay == 0.25
    assert wrong.reply == b"ERR ACCESS-DENIED\n"


def test_get_var_cache_keeps_a_reply_only_under_its_whole_request():
    """The cache files a GET VAR reply under a line only when that line, read on its own,
    is the request the reply was built for (issue 11: a continued line used to file it
    under its last physical line, which then answered other clients' LOGOUT, HELP...)."""
    server, ups, _ = make_server()
    ups.data.setinfo("battery.charge", "90")
    cache = server.reply_cache
    s = Session("192.0.2.1")
    words = ["GET", "VAR", "Fake", "ups.status"]
    reply = server.handle(s, words)
    assert reply == b'VAR Fake ups.status "WAIT"\n'
    for tail in (b"LOGOUT", b"", b"HELP", b"ups.status", b" ups.status", b'"',
                 b"GET VAR Fake battery.charge", b"GET VAR Fake ups.status \\"):
        cache.remember(tail, words, reply)
        assert cache.lookup(tail) is None, tail
    cache.remember(b"GET VAR Fake ups.status", words, reply)
    assert cache.lookup(b"GET VAR Fake ups.status") == reply
    # the same request spelled differently is its own entry, checked the same way
    cache.remember(b'GET  VAR "Fake" ups.status\r', words, reply)
    assert cache.lookup(b'GET  VAR "Fake" ups.status\r') == reply
    # overlong lines are not kept (memory), nor failures, nor server.* replies
    long = b"GET VAR Fake ups.status" + b" " * 600
    cache.remember(long, words, reply)
    assert cache.lookup(long) is None
    cache.remember(b"GET VAR Fake nope", ["GET", "VAR", "Fake", "nope"],
                   b"ERR VAR-NOT-SUPPORTED\n")
    assert cache.lookup(b"GET VAR Fake nope") is None
    # a change to the data retires the entry
    ups.data.setinfo("ups.status", "OL")
    assert cache.lookup(b"GET VAR Fake ups.status") is None


def _filed(server, session, line: bytes) -> bytes:
    """Answer ``line`` as the daemon does for a whole request, filing the reply."""
    words = parseconf.Tokenizer().feed(line + b"\n")[0].words
    reply = server.handle(session, words)
    server.reply_cache.remember(line, words, reply)
    return reply


def test_reply_cache_kinds_and_what_retires_them():
    """Each kept kind is served while what its reply was built from is unchanged, and
    never after: values (GET VAR, LIST VAR/RW/CMD, with FSD), types, flags, enums and
    ranges (GET TYPE, LIST ENUM/RANGE), only the UPS's presence for GET DESC/CMDDESC."""
    server, ups, _ = make_server()
    ups.data.setinfo("battery.charge", "90")
    for words in (["SETINFO", "input.transfer.low", "95"], ["ADDENUM", "input.transfer.low", "95"],
                  ["SETFLAGS", "input.transfer.low", "RW", "NUMBER"],
                  ["ADDRANGE", "input.transfer.low", "80", "100"], ["ADDCMD", "load.off"]):
        ups.data.apply(words)
    cache, s = server.reply_cache, Session("192.0.2.1")
    value = [b"GET VAR Fake battery.charge", b"LIST VAR Fake", b"LIST RW Fake",
             b"LIST CMD Fake"]
    meta = [b"GET TYPE Fake input.transfer.low", b"LIST ENUM Fake input.transfer.low",
            b"LIST RANGE Fake input.transfer.low"]
    link = [b"GET DESC Fake ups.status", b"GET CMDDESC Fake load.off"]

    def fill() -> dict[bytes, bytes]:
        return {line: _filed(server, s, line) for line in value + meta + link}

    def kept() -> set[bytes]:
        return {line for line, reply in replies.items() if cache.lookup(line) == reply}

    replies = fill()
    assert kept() == set(value + meta + link)
    ups.data.setinfo("battery.charge", "91")  # a new value: types and descriptions stay
    assert kept() == set(meta + link)
    replies = fill()
    ups.data.apply(["SETFLAGS", "input.transfer.low", "RW", "STRING"])
    assert kept() == set(link)
    replies = fill()
    ups.fsd = True  # FSD shows in ups.status: GET VAR and LIST VAR must be built again
    assert kept() == set(meta + link)
    replies = fill()
    assert b"FSD" in replies[b"LIST VAR Fake"]
    for change, restore in (("stale", False), ("connected", True)):
        setattr(ups, change, not restore)
        assert kept() == set()
        setattr(ups, change, restore)
        assert kept() == set(value + meta + link)
    server.descriptions = Descriptions({"ups.status": "Other words"}, {})
    assert kept() == set(value + meta)
    replies = fill()
    ups.reset_data()  # the driver reconnected: a new dump
    assert kept() == set(link)
    replies = fill()
    server.remove_ups(ups)
    assert kept() == set()
    server.add_ups(Ups("Fake", "fake-Fake"))  # the same name, another UPS (a reload)
    assert kept() == set()


def test_reply_cache_keeps_no_error_and_no_session_dependent_reply():
    server, ups, _ = make_server()
    cache, s = server.reply_cache, Session("192.0.2.1")
    for line in (b"GET VAR Fake nope", b"GET TYPE Fake nope", b"GET DESC Nope ups.status",
                 b"GET VAR Fake server.version", b"GET UPSDESC Fake", b"GET NUMLOGINS Fake",
                 b"LIST UPS", b"LIST CLIENT Fake", b"GET TRACKING", b"VER", b"HELP",
                 b"LIST ENUM Fake", b"GET TYPE Fake"):
        _filed(server, s, line)
        assert cache.lookup(line) is None, line
