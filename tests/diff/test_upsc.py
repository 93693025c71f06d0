"""upsc against C upsc 2.8.0, both talking to the same upsd (C, and ours when present):
stdout, stderr (minus C's SSL start-up line) and exit status must be identical."""

from __future__ import annotations

import json

import pytest

from nutpy.client.blocking import Client
from support.client_env import HANGUP, FakeUpsd, at, compare
from support.harness import our_prog

CASES = {
    "all-vars": lambda s: [at(s, "dummy")],
    "bench-65-vars": lambda s: [at(s, "bench")],
    "one-var": lambda s: [at(s, "dummy"), "ups.status"],
    "quoted-value": lambda s: [at(s, "bench"), "device.mfr"],
    "extra-args-ignored": lambda s: [at(s, "dummy"), "ups.load", "junk"],
    "unknown-ups": lambda s: [at(s, "nope")],
    "unknown-ups-var": lambda s: [at(s, "nope"), "ups.status"],
    "unknown-var": lambda s: [at(s, "dummy"), "nope.nope"],
    "old-style-var": lambda s: [at(s, "dummy"), "status"],
    "driver-not-connected": lambda s: [at(s, "down")],
    "driver-not-connected-var": lambda s: [at(s, "down"), "ups.status"],
    "list": lambda s: ["-l", f"127.0.0.1:{s.port}"],
    "list-verbose": lambda s: ["-L", f"127.0.0.1:{s.port}"],
    "clients": lambda s: ["-c", at(s, "dummy")],
    "clients-unknown-ups": lambda s: ["-c", at(s, "nope")],
    "connection-refused": lambda s: ["dummy@127.0.0.1:1", "ups.status"],
    "no-such-host": lambda s: ["dummy@no-such-host.invalid", "ups.status"],
    "bad-port": lambda s: ["dummy@127.0.0.1:0"],
    "empty-port": lambda s: ["dummy@127.0.0.1:"],
    "unclosed-bracket": lambda s: ["dummy@[::1"],
    "list-bad-host": lambda s: ["-l", "127.0.0.1:99999"],
    "no-args": lambda s: [],
    "only-c": lambda s: ["-c"],
    "help": lambda s: ["-h"],
    "bad-option": lambda s: ["-x", at(s, "dummy")],
    "version": lambda s: ["-V"],
    "ipv6-var": lambda s: [at(s, "dummy", v6=True), "ups.load"],
    "ipv6-list": lambda s: ["-L", f"[::1]:{s.port}"],
    # libupsclient copies the argument into a 512-byte buffer: 511 characters survive
    "long-name-kept": lambda s: ["a" * 250 + f"@127.0.0.1:{s.port}", "ups.status"],
    "long-name-cut": lambda s: ["a" * 505 + f"@127.0.0.1:{s.port}", "ups.status"],
    "long-host-list": lambda s: ["-l", "h" * 600],
}


@pytest.mark.interop
@pytest.mark.parametrize("case", sorted(CASES))
def test_upsc_matches_c(server, case):
    if "ipv6" in case and not server.ipv6:
        pytest.skip("no IPv6 loopback")
    args = CASES[case](server)
    c, ours = compare(server, "upsc", args)
    assert ours == c


def test_upsc_clients_lists_logged_in_connection(server):
    with Client("127.0.0.1", server.port) as watcher:
        watcher.authenticate("admin", "secret")
        watcher.login("dummy")
        c, ours = compare(server, "upsc", ["-c", at(server, "dummy")])
    assert ours == c
    assert "127.0.0.1\n" in ours[0]


def test_upsc_killed_driver_matches_c(server):
    assert server.c_upsc("killed", "ups.status").stdout == "OL\n"
    server.kill_driver("killed")
    for args in ([at(server, "killed")], [at(server, "killed"), "ups.status"]):
        c, ours = compare(server, "upsc", args)
        assert ours == c == ("", "Error: Driver not connected\n", 1)


def test_upsc_stale_data_matches_c(server):
    server.wait_stale()
    for args in ([at(server, "stale")], [at(server, "stale"), "ups.status"]):
        c, ours = compare(server, "upsc", args)
        assert ours == c
        assert ours[1] == "Error: Data stale\n" and ours[2] == 1


FAKE_REPLIES = {
    "STARTTLS": b"ERR FEATURE-NOT-CONFIGURED\n",
    "GET VAR u x.esc": b'VAR u x.esc "A \\"q\\" \\#1 \\\\ z"\n',
    "GET VAR u x.short": b"VAR u x.short\n",
    "GET VAR u x.other": b'VAR u x.nother "1"\n',
    "GET VAR u x.hash": b'VAR u x.hash "a#b"\n',
    "GET VAR u x.tab": b'VAR u x.tab "a\tb\x01c"\n',
    "GET VAR u x.old": b"ERR UNKNOWN-COMMAND\n",
    "GET VAR u x.odd": b"ERR SOMETHING-NEW\n",
    "GET VAR u x.gone": None,
    "LIST VAR u": b'BEGIN LIST VAR u\nVAR u a.b "1"\nVAR u c.d "x \\"y\\""\nVAR u e.f\nEND LIST VAR u\n',
    "LIST VAR v": b'BEGIN LIST VAR v\nVAR v a.b "1"\nVAR v c.d "2"\nEND LIST VAR v\n',
    "LIST VAR w": b'BEGIN LIST VAR x\nEND LIST VAR x\n',
    "LIST VAR old": b"ERR UNKNOWN-COMMAND\n",
    "LIST UPS": b'BEGIN LIST UPS\nUPS u "one"\nUPS v\nEND LIST UPS\n',
    "LIST VAR mid": b'BEGIN LIST VAR mid\nVAR mid a.b "1"\nERR DATA-STALE\n',
    "LIST VAR cut": b'BEGIN LIST VAR cut\nVAR cut a.b "1"\n' + HANGUP,
    "LIST VAR junk": b'BEGIN LIST VAR junk\nVAR junk a.b "1"\nRW other x "2"\n',
    "LIST VAR ctl": b'BEGIN LIST VAR ctl\nVAR ctl a.b "x\x7f\xe9\x1by"\nEND LIST VAR ctl\n',
    "LIST CLIENT u": b"BEGIN LIST CLIENT u\nCLIENT u 10.0.0.1\nCLIENT u ::1\nEND LIST CLIENT u\n",
}


@pytest.fixture(scope="module")
def fake():
    server = FakeUpsd(FAKE_REPLIES)
    yield server
    server.close()


@pytest.mark.parametrize("args", [
    ["u", "x.esc"], ["u", "x.short"], ["u", "x.other"], ["u", "x.hash"], ["u", "x.tab"],
    ["u", "x.old"], ["u", "x.odd"], ["u", "x.gone"], ["u"], ["v"], ["w"], ["old"],
    ["-l"], ["-L"], ["-c", "u"], ["mid"], ["cut"], ["junk"], ["ctl"],
], ids=lambda a: "-".join(a))
def test_upsc_matches_c_on_scripted_replies(server, fake, args):
    """Replies no dummy-ups can produce: escapes, short lines, old-upsd errors,
    mismatched LIST echo, a server that hangs up."""
    if args[0].startswith("-"):
        argv = [args[0], f"127.0.0.1:{fake.port}"] if len(args) == 1 else \
            [args[0], f"{args[1]}@127.0.0.1:{fake.port}"]
    else:
        argv = [f"{args[0]}@127.0.0.1:{fake.port}", *args[1:]]
    c, ours = compare(server, "upsc", argv)
    if c[2] < 0:  # C 2.8.0 crashes (NULL value): we report it instead
        assert ours[2] == 1 and ours[1].startswith("Error: insufficient data"), ours
    else:
        assert ours == c


def run_json(server, args):
    return server.run([our_prog("upsc"), "-j", *args])


def test_upsc_json_forms(server):
    # 2.8.5's -j output: an object for variables and -L, arrays for -l and -c, a string
    # for one variable, and {"error": ...} on stdout as well as the usual stderr line.
    r = run_json(server, [at(server, "bench")])
    assert r.returncode == 0
    data = json.loads(r.stdout)
    plain = server.c_upsc("bench").stdout.splitlines()
    assert data == dict(line.split(": ", 1) for line in plain)
    assert r.stdout.startswith('{\n  "') and r.stdout.endswith('"\n}\n')
    r = run_json(server, [at(server, "dummy"), "ups.status"])
    assert r.stdout == '"OL"\n'
    r = run_json(server, ["-l", f"127.0.0.1:{server.port}"])
    assert json.loads(r.stdout) == ["dummy", "bench", "stale", "down", "killed"]
    r = run_json(server, ["-L", f"127.0.0.1:{server.port}"])
    assert json.loads(r.stdout)["dummy"] == 'Test "dummy" UPS'
    assert '"dummy": "Test \\"dummy\\" UPS"' in r.stdout
    r = run_json(server, [at(server, "nope"), "ups.status"])
    assert (r.stdout, r.stderr, r.returncode) == (
        '{"error": "Unknown UPS"}\n', "Error: Unknown UPS\n", 1)
    r = run_json(server, [at(server, "nope")])
    assert r.stdout == '{\n  "error": "Unknown UPS"\n}\n' and r.returncode == 1


def test_upsc_loads_nothing_heavy(server):
    """Start-up budget (1.15x python -c pass, see bench.startup): the upsc path must not
    load socket/enum, re, typing, ssl, asyncio, argparse, the idna codec, collections
    (a fifth of the budget), __future__, nor the tokenizer, protocol tables or option
    parser a plain GET does not need; and nothing of the library it does not use."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-X", "importtime", our_prog("upsc"),
                        f"dummy@localhost:{server.port}", "ups.status"],
                       capture_output=True, text=True, timeout=20)
    assert r.stdout == "OL\n"
    loaded = {line.split("|")[-1].strip() for line in r.stderr.splitlines()
              if line.startswith("import time:")}
    assert "nutpy.client" in loaded
    heavy = {"socket", "enum", "re", "typing", "ssl", "asyncio", "argparse",
             "encodings.idna", "getpass", "nutpy.security.tls", "collections", "__future__",
             "nutpy.common.parseconf", "nutpy.proto.netproto", "nutpy.common.cnum",
             "nutpy.client.aio", "nutpy.client.pynut", "nutpy.common.cliopt"}
    assert not (loaded & heavy)
