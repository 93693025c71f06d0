"""upsrw against C upsrw 2.8.0 on the same upsd (C, and ours when present), plus a
scripted upsd for ENUM/RANGE variables that dummy-ups cannot declare."""

from __future__ import annotations

import pytest

from support.client_env import FakeUpsd, at, compare

ADMIN = ["-u", "admin", "-p", "secret"]

CASES = {
    "list-dummy": lambda s: [at(s, "dummy")],
    "list-bench": lambda s: ["-l", at(s, "bench")],
    "list-unknown-ups": lambda s: [at(s, "nope")],
    "list-driver-down": lambda s: [at(s, "down")],
    "set": lambda s: ["-s", "ups.mfr=Acme", *ADMIN, at(s, "dummy")],
    "set-tracking": lambda s: ["-s", "ups.mfr=Acme2", *ADMIN, "-w", at(s, "dummy")],
    "set-quotes": lambda s: ["-s", 'ups.mfr=A "b" #c', *ADMIN, "-w", at(s, "dummy")],
    "set-too-long": lambda s: ["-s", "ups.mfr=" + "x" * 40, *ADMIN, at(s, "dummy")],
    "set-unknown-var": lambda s: ["-s", "no.such=1", *ADMIN, at(s, "dummy")],
    "set-old-name": lambda s: ["-s", "mfr=1", *ADMIN, at(s, "dummy")],
    "set-bad-password": lambda s: ["-s", "ups.mfr=x", "-u", "admin", "-p", "no", at(s, "dummy")],
    "set-access-denied": lambda s: ["-s", "ups.mfr=x", "-u", "weak", "-p", "weakpw",
                                    at(s, "dummy")],
    "set-unknown-ups": lambda s: ["-s", "ups.mfr=x", *ADMIN, at(s, "nope")],
    "set-driver-down": lambda s: ["-s", "ups.mfr=x", *ADMIN, at(s, "down")],
    "set-then-list": lambda s: ["-s", "ups.mfr=x", "-l", at(s, "dummy")],
    "no-args": lambda s: [],
    "help": lambda s: ["-h"],
    "version": lambda s: ["-V"],
    "bad-option": lambda s: ["-z"],
    "timeout-invalid": lambda s: ["-t", "-1", at(s, "dummy")],
    "connection-refused": lambda s: ["dummy@127.0.0.1:1"],
    "ipv6-set": lambda s: ["-s", "ups.mfr=v6", *ADMIN, at(s, "dummy", v6=True)],
}


@pytest.mark.interop
@pytest.mark.parametrize("case", sorted(CASES))
def test_upsrw_matches_c(server, case):
    if "ipv6" in case and not server.ipv6:
        pytest.skip("no IPv6 loopback")
    c, ours = compare(server, "upsrw", CASES[case](server))
    assert ours == c


def test_upsrw_prompts_match_c(server):
    c, ours = compare(server, "upsrw", ["-s", "ups.mfr", at(server, "dummy")],
                      input="admin\nsecret\nPrompted\n")
    assert ours == c
    assert "Enter new value for ups.mfr: " in ours[0] and ours[1].endswith("OK\n")


def test_upsrw_stale_matches_c(server):
    server.wait_stale()
    c, ours = compare(server, "upsrw", [at(server, "stale")])
    assert ours == c == ("", "Error: Data stale\n", 1)


TYPES = {
    "STARTTLS": b"ERR FEATURE-NOT-CONFIGURED\n",
    "LIST RW u": (b"BEGIN LIST RW u\n"
                  b'RW u a.enum "2"\nRW u b.range "15"\nRW u c.senum "on"\n'
                  b'RW u d.both "7"\nRW u e.weird "?"\nRW u f.notype "1"\n'
                  b'RW u g.oldenum "x"\nRW u h.novalue "1"\n'
                  b"END LIST RW u\n"),
    "GET DESC u a.enum": b'DESC u a.enum "An enum"\n',
    "GET DESC u b.range": b"ERR UNKNOWN-UPS\n",
    "GET TYPE u a.enum": b"TYPE u a.enum RW ENUM NUMBER\n",
    "GET TYPE u b.range": b"TYPE u b.range RW RANGE NUMBER\n",
    "GET TYPE u c.senum": b"TYPE u c.senum RW ENUM STRING:3\n",
    "GET TYPE u d.both": b"TYPE u d.both RW ENUM RANGE NUMBER\n",
    "GET TYPE u e.weird": b"TYPE u e.weird RW FANCY STRING:5\n",
    "GET TYPE u g.oldenum": b"TYPE u g.oldenum ENUM\n",
    "GET TYPE u h.novalue": b"TYPE u h.novalue NUMBER\n",
    "GET VAR u a.enum": b'VAR u a.enum "2"\n',
    "GET VAR u b.range": b'VAR u b.range "15"\n',
    "GET VAR u c.senum": b'VAR u c.senum "on"\n',
    "GET VAR u d.both": b'VAR u d.both "7"\n',
    "GET VAR u e.weird": b'VAR u e.weird "?"\n',
    "GET VAR u g.oldenum": b'VAR u g.oldenum "x"\n',
    "LIST ENUM u a.enum": b'BEGIN LIST ENUM u a.enum\nENUM u a.enum "1"\nENUM u a.enum "2"\nEND LIST ENUM u a.enum\n',
    "LIST ENUM u c.senum": b'BEGIN LIST ENUM u c.senum\nENUM u c.senum "on"\nENUM u c.senum "off"\nEND LIST ENUM u c.senum\n',
    "LIST ENUM u g.oldenum": b'BEGIN LIST ENUM u g.oldenum\nENUM u g.oldenum "x"\nEND LIST ENUM u g.oldenum\n',
    "LIST RANGE u b.range": b'BEGIN LIST RANGE u b.range\nRANGE u b.range "0" "10"\nRANGE u b.range "12abc" "20"\nEND LIST RANGE u b.range\n',
    "LIST RANGE u d.both": b'BEGIN LIST RANGE u d.both\nRANGE u d.both "5" "9"\nEND LIST RANGE u d.both\n',
}


def test_upsrw_listing_types_match_c(server):
    fake = FakeUpsd(TYPES)
    try:
        c, ours = compare(server, "upsrw", [f"u@127.0.0.1:{fake.port}"])
    finally:
        fake.close()
    assert ours == c
    assert 'Type: ENUM NUMBER\nOption: "1"\nOption: "2" SELECTED\n' in ours[0]
    assert 'Type: RANGE NUMBER\nOption: "0-10"\nOption: "12-20" SELECTED\n' in ours[0]
    assert "Type: FANCY (unrecognized)\n" in ours[0]
