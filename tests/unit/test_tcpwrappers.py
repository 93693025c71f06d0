"""nutpy.security.tcpwrappers: hosts_access(5) patterns one by one, file handling and caching.
(The same evaluator is compared with libwrap itself in test_tcpwrappers_libwrap.py.)"""

from __future__ import annotations

import os
import re

import pytest

from nutpy.security import tcpwrappers as tw


def denied_by(rule: str, addr: str = "127.0.0.1", user: str = "admin",
              name: str = "unknown", daemon: str = "upsd") -> bool:
    """True when a hosts.deny holding only ``rule`` denies the request."""
    req = tw.Request(daemon, addr, user, name)
    return not tw.evaluate([], tw.parse_table(rule + "\n"), req).allowed


PATTERNS = [  # (rule, addr, user, name, denied?)
    ("upsd: ALL", "10.1.2.3", "x", "unknown", True),
    ("sshd: ALL", "10.1.2.3", "x", "unknown", False),
    ("UPSD: all", "10.1.2.3", "x", "unknown", True),          # case-insensitive
    ("ALL EXCEPT upsd: ALL", "10.1.2.3", "x", "unknown", False),
    ("ALL EXCEPT sshd: ALL", "10.1.2.3", "x", "unknown", True),
    ("upsd: ALL EXCEPT 10.1.2.3", "10.1.2.3", "x", "unknown", False),
    ("upsd: ALL EXCEPT 10. EXCEPT 10.1.2.3", "10.1.2.3", "x", "unknown", True),  # nested
    ("upsd: 10.1.2.3", "10.1.2.3", "x", "unknown", True),
    ("upsd: 10.1.2.4", "10.1.2.3", "x", "unknown", False),
    ("upsd: 10.1.", "10.1.2.3", "x", "unknown", True),         # net. prefix
    ("upsd: 10.11.", "10.1.2.3", "x", "unknown", False),
    ("upsd: .example.com", "10.1.2.3", "x", "ups.example.com", True),  # .domain suffix
    ("upsd: .example.com", "10.1.2.3", "x", "example.com", False),
    ("upsd: 10.1.0.0/255.255.0.0", "10.1.2.3", "x", "unknown", True),
    ("upsd: 10.1.0.0/255.255.255.0", "10.1.2.3", "x", "unknown", False),
    ("upsd: 10.1.2.3/255.255.255.255", "10.1.2.3", "x", "unknown", False),  # invalid mask
    ("upsd: 10.1.0.0/16", "10.1.2.3", "x", "unknown", True),
    ("upsd: 10.1.2.2/31", "10.1.2.3", "x", "unknown", True),
    ("upsd: 10.1.2.3/32", "10.1.2.3", "x", "unknown", True),
    ("upsd: 10.1.2.3/8", "10.1.2.3", "x", "unknown", False),   # net must be masked
    ("upsd: 0.0.0.0/0", "10.1.2.3", "x", "unknown", False),    # /0 is not valid
    ("upsd: [2001:db8::]/32", "2001:db8::5", "x", "unknown", True),
    ("upsd: [2001:db8::]/48", "2001:db9::5", "x", "unknown", False),
    ("upsd: [::1]", "::1", "x", "unknown", True),
    ("upsd: [0::1]", "::0:1", "x", "unknown", True),
    ("upsd: 10.1.2.3", "::ffff:10.1.2.3", "x", "unknown", True),  # v4-mapped is v4
    ("upsd: *.example.com", "10.1.2.3", "x", "UPS.Example.COM", True),
    ("upsd: 10.1.2.?", "10.1.2.3", "x", "unknown", True),
    ("upsd: 10.1.*.3", "10.9.2.3", "x", "unknown", False),
    ("upsd: admin@10.1.2.3", "10.1.2.3", "admin", "unknown", True),   # NUT user
    ("upsd: admin@10.1.2.3", "10.1.2.3", "monuser", "unknown", False),
    ("upsd: mon*@ALL", "10.1.2.3", "monslave", "unknown", True),
    ("upsd: KNOWN@ALL", "10.1.2.3", "unknown", "unknown", False),
    ("upsd: LOCAL", "10.1.2.3", "x", "myhost", True),
    ("upsd: LOCAL", "10.1.2.3", "x", "myhost.lan", False),
    ("upsd: LOCAL", "10.1.2.3", "x", "unknown", False),
    ("upsd: KNOWN", "10.1.2.3", "x", "myhost", True),
    ("upsd: KNOWN", "unknown", "x", "myhost", False),
    ("upsd: UNKNOWN", "10.1.2.3", "x", "unknown", True),
    ("upsd: UNKNOWN", "10.1.2.3", "x", "myhost", False),
    ("upsd: PARANOID", "10.1.2.3", "x", "paranoid", True),
    ("upsd: PARANOID", "10.1.2.3", "x", "myhost", False),
    ("upsd: @upsclients", "10.1.2.3", "x", "myhost", False),    # netgroups: no match
    ("upsd: myhost", "10.1.2.3", "x", "MYHOST", True),
    ("upsd@ALL: ALL", "10.1.2.3", "x", "unknown", True),
    ("upsd@10.0.0.1: ALL", "10.1.2.3", "x", "unknown", False),  # server address unknown
    ("upsd: ALL: allow", "10.1.2.3", "x", "unknown", False),    # option overrides table
    ("upsd: ALL: severity auth.notice: allow", "10.1.2.3", "x", "unknown", False),
    ("upsd: ALL: allow: severity auth.notice", "10.1.2.3", "x", "unknown", True),  # not last
    ("upsd: ALL: nonsense", "10.1.2.3", "x", "unknown", True),
    ("upsd: ALL:", "10.1.2.3", "x", "unknown", True),           # empty option field
    ("upsd: ALL: twist /bin/echo no", "10.1.2.3", "x", "unknown", True),
    ("  # upsd: ALL", "10.1.2.3", "x", "unknown", True),        # '#' not first: not a comment
    ("# upsd: ALL", "10.1.2.3", "x", "unknown", False),
    ("upsd 10.1.2.3", "10.1.2.3", "x", "unknown", False),       # no ':' - skipped
    ("ups\\\nd: ALL", "10.1.2.3", "x", "unknown", True),        # continuation
]


@pytest.mark.parametrize("rule,addr,user,name,denied", PATTERNS)
def test_pattern(rule, addr, user, name, denied):
    assert denied_by(rule, addr, user, name) is denied


def test_options_in_allow_table():
    req = tw.Request("upsd", "10.1.2.3", "x", "unknown")
    allow = tw.parse_table("upsd: ALL: deny\n")
    assert tw.evaluate(allow, [], req).allowed is False
    d = tw.evaluate(tw.parse_table("sshd: ALL\nupsd: 10.: allow\n"),
                    tw.parse_table("upsd: ALL\n"), req)
    assert d.allowed and d.table == "allow" and d.line == 2


def test_missing_final_newline_stops_the_table():
    req = tw.Request("upsd", "10.1.2.3", "x", "unknown")
    # in hosts.deny it denies everyone it reaches ...
    assert tw.evaluate([], tw.parse_table("sshd: ALL"), req).allowed is False
    # ... in hosts.allow it grants nothing
    assert tw.evaluate(tw.parse_table("upsd: ALL"), [], req).allowed is True
    assert tw.evaluate(tw.parse_table("upsd: ALL"), tw.parse_table("upsd: ALL\n"),
                       req).allowed is False
    long_line = "upsd: " + "x" * 3000 + "\nupsd: 10.1.2.3\n"
    assert tw.evaluate(tw.parse_table(long_line), tw.parse_table("upsd: ALL\n"),
                       req).allowed is False


def test_name_is_resolved_only_when_a_rule_needs_it():
    calls = []

    def resolve():
        calls.append(1)
        return "ups.example.com"

    req = tw.Request("upsd", "10.1.2.3", "x", resolve)
    assert tw.evaluate([], tw.parse_table("upsd: 10.1.2.3 192.168.\n"), req).allowed is False
    assert calls == []
    req = tw.Request("upsd", "10.9.9.9", "x", resolve)
    assert tw.evaluate([], tw.parse_table("upsd: 10.1.2.3 .example.com LOCAL\n"),
                       req).allowed is False
    assert calls == [1]  # once, however many patterns look at it


def test_file_pattern(tmp_path):
    listing = tmp_path / "ups-clients"
    listing.write_text("10.1.2.3   .example.net\n192.168.0.0/255.255.0.0\n")
    assert denied_by(f"upsd: {listing}", "10.1.2.3")
    assert denied_by(f"upsd: {listing}", "192.168.7.7")
    assert denied_by(f"upsd: {listing}", "10.9.9.9", name="a.example.net")
    assert not denied_by(f"upsd: {listing}", "10.9.9.9")
    assert not denied_by(f"upsd: {tmp_path / 'absent'}", "10.1.2.3")


def test_hosts_access_files_and_cache(tmp_path):
    allow, deny = tmp_path / "hosts.allow", tmp_path / "hosts.deny"
    kw = dict(allow_path=str(allow), deny_path=str(deny), client_name="localhost")
    assert tw.hosts_access("upsd", "127.0.0.1", "admin", **kw)  # no files: allow
    allow.write_text("upsd: admin@127.0.0.1/32\n")
    deny.write_text("upsd: ALL\n")
    assert tw.hosts_access("upsd", "127.0.0.1", "admin", **kw)
    assert not tw.hosts_access("upsd", "127.0.0.1", "monuser", **kw)
    assert not tw.hosts_access("upsd", "10.0.0.1", "admin", **kw)
    # rewritten file is re-read (mtime/size/inode key), even within the same second
    allow.write_text("upsd: monuser@127.0.0.1/32 admin@127.0.0.1/32\n")
    assert tw.hosts_access("upsd", "127.0.0.1", "monuser", **kw)
    d = tw.check("upsd", "10.0.0.1", "admin", **kw)
    assert not d.allowed and d.table == "deny" and d.line == 1


def test_unreadable_deny_table_denies(tmp_path):
    allow, deny = tmp_path / "hosts.allow", tmp_path / "hosts.deny"
    os.symlink(deny, deny)  # ELOOP: exists but cannot be opened, even by root
    allow.write_text("upsd: 127.0.0.1\n")
    kw = dict(allow_path=str(allow), deny_path=str(deny), client_name="x")
    assert tw.hosts_access("upsd", "127.0.0.1", "a", **kw)      # allow table still wins
    assert not tw.hosts_access("upsd", "10.0.0.1", "a", **kw)   # fail closed
    os.unlink(deny)
    os.mkdir(deny)  # a directory reads as empty, as with libwrap
    assert tw.hosts_access("upsd", "10.0.0.1", "a", **kw)


def test_resolve_hostname_loopback():
    # 127.0.0.1 resolves to a name whose forward lookup contains it on any sane system
    name = tw.resolve_hostname("127.0.0.1")
    assert name not in ("", tw.PARANOID)
    assert tw.resolve_hostname("not-an-address") == tw.UNKNOWN


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st

_PIECES = st.sampled_from(list("upsd:ALL EXCEPT@[]/.*?#\\,\t\n0123456789abcf:LOCAKNWPR-=")
                          + ["\x00", "\xff", "::", "EXCEPT", "allow", "deny", "KNOWN",
                             "/etc/passwd", "[::1]/64", "255.255.0.0", "severity x"])
_TABLE = st.lists(_PIECES, max_size=60).map("".join)


@settings(max_examples=300, deadline=None)
@given(allow=_TABLE, deny=_TABLE,
       addr=st.sampled_from(["127.0.0.1", "::1", "unknown", "::ffff:10.0.0.1", "", "x"]),
       user=st.sampled_from(["admin", "", "unknown", "ädmin"]))
def test_any_input_gives_a_verdict(allow, deny, addr, user):
    """Bad rule files never crash the check (upsd must not die on a typo)."""
    req = tw.Request("upsd", addr, user, "host.example.com")
    d = tw.evaluate(tw.parse_table(allow), tw.parse_table(deny), req)
    assert isinstance(d.allowed, bool)


def _wildcard_regex(pattern: str) -> re.Pattern:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                              for c in pattern), re.DOTALL)


@settings(max_examples=500, deadline=None)
@given(pattern=st.text(alphabet="ab.*?", max_size=12), text=st.text(alphabet="ab.", max_size=14))
def test_wildcards_mean_what_a_glob_means(pattern, text):
    """``*`` any run, ``?`` any one character, the whole text: the meaning a regular
    expression built from the pattern has (which the matcher no longer uses)."""
    expected = _wildcard_regex(pattern).fullmatch(text) is not None
    assert tw.wildcard_match(pattern, text) == expected


def test_many_stars_against_a_hostile_reverse_dns_name():
    """Found by atheris on hosts_allow: a pattern of many stars against a long name the
    client's reverse DNS chose ran for minutes (a regular expression backtracking). The
    matcher retries only its latest star: this finishes at once, whatever the machine."""
    name = "a" * 253
    pattern = "*a" * 40 + "*b"
    assert not tw.wildcard_match(pattern, name)
    assert tw.wildcard_match(pattern[:-1] + "a", name)
    rules = tw.parse_table(f"upsd: {pattern}\n")
    req = tw.Request("upsd", "10.1.2.3", "admin", name)
    assert tw.evaluate(None, rules, req).table == ""  # the deny rule does not match
    matching = tw.parse_table(f"upsd: {pattern[:-1]}a\n")
    d = tw.evaluate(None, matching, req)
    assert (d.allowed, d.table, d.line) == (False, "deny", 1)
