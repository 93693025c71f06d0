"""Differential tests: the same request bytes sent to C upsd 2.8.0 and to ours, both
serving the same drivers (a scripted fake driver, C dummy-ups, and our dummy-ups when it
is installed). Replies must be byte-identical except the deliberate differences listed
in docs/upsd.md (VER text, HELP's PROTVER, tracking ids)."""

from __future__ import annotations

import time

import pytest

from support.harness import (
    require_c_nut,
)
from support.upsd_support import SENTINEL, SENTINEL_REPLY, LineClient, Stack, normalize


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require_c_nut()
    s = Stack(tmp_path_factory.mktemp("upsd-diff"))
    yield s
    s.close()


def converse(port: int, packets: list[bytes], sentinel: bool = True) -> bytes:
    """Send each packet as its own write (so C reads them separately), then the sentinel;
    return everything before the sentinel's reply (or up to EOF)."""
    c = LineClient(port)
    try:
        try:
            for p in packets:
                c.send(p)
                time.sleep(0.03)
            if sentinel:
                c.send(SENTINEL)
        except OSError:  # the server closed (LOGOUT): read what it sent before
            pass
        out = b""
        deadline = time.monotonic() + 5
        while SENTINEL_REPLY not in out and time.monotonic() < deadline:
            c.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = c.sock.recv(65536)
            except (TimeoutError, OSError):
                break
            if not data:
                break
            out += data
        return out.split(SENTINEL_REPLY)[0]
    finally:
        c.close()


def compare(stack: Stack, packets: list[bytes]) -> bytes:
    c_out = converse(stack.c_port, packets)
    our_out = converse(stack.our_port, packets)
    assert normalize(our_out) == normalize(c_out)
    return c_out


def lines(*reqs: str) -> list[bytes]:
    return [r.encode("latin-1") + b"\n" for r in reqs]


AUTH = ["USERNAME admin", "PASSWORD secret"]

CASES = {
    "simple": lines("VER", "VER x", "NETVER", "PROTVER", "NETVER x", "HELP", "HELP x", "",
                    "   ", "bogus", "logout x", "starttls", "STARTTLS a b"),
    "get-errors": lines("GET", "get", "GET VAR", "GET VAR fake", "GET bogus", "GET bogus fake",
                        "GET bogus fake x", "GET NUMLOGINS", "GET NUMLOGINS nope",
                        "GET UPSDESC nope", "GET TYPE nope x", "GET DESC nope x",
                        "GET CMDDESC nope x"),
    "get-var": lines("GET VAR fake ups.status", "Get Var FAKE UPS.STATUS", "GET VAR fake nope",
                     "GET VAR nope ups.status", "GET VAR fake device.model",
                     "GET VAR fake input.transfer.low", "GET VAR nodrv ups.status",
                     "GET VAR zeta battery.charge", "GET VAR Zeta UPS.Status"),
    "get-server": lines("GET VAR anything server.info", "GET VAR x server.version",
                        "GET VAR x SERVER.VERSION", "GET VAR x server.bogus",
                        "GET VAR nodrv server.version"),
    "get-type": lines("GET TYPE fake ups.status", "GET TYPE fake battery.charge",
                      "GET TYPE fake input.transfer.low", "GET TYPE fake ups.delay.shutdown",
                      "GET TYPE fake both", "GET TYPE fake Alpha.Var", "GET TYPE fake zero.aux",
                      "GET TYPE fake nope", "GET TYPE zeta ups.delay.shutdown",
                      "GET TYPE nodrv x"),
    "get-desc": lines("GET DESC fake ups.status", "GET DESC fake nope.nope",
                      "GET CMDDESC fake load.off", "GET CMDDESC fake nope",
                      "GET DESC nodrv ups.status", "GET UPSDESC fake", "GET UPSDESC zeta",
                      "GET UPSDESC nodrv", "GET UPSDESC FAKE"),
    "get-numlogins": lines("GET NUMLOGINS fake", "GET NUMLOGINS nodrv", "GET NUMLOGINS zeta"),
    "get-tracking": lines("GET TRACKING", "GET TRACKING abc", "get tracking x y"),
    "list": lines("LIST", "LIST UPS", "LIST VAR", "LIST VAR fake", "list var FAKE",
                  "LIST RW fake", "LIST CMD fake", "LIST ENUM fake input.transfer.low",
                  "LIST ENUM fake", "LIST ENUM fake nope", "LIST ENUM fake ups.status",
                  "LIST RANGE fake ups.delay.shutdown", "LIST RANGE fake both",
                  "LIST VAR nodrv", "LIST CLIENT nodrv", "LIST CLIENT nope", "LIST bogus x",
                  "LIST bogus x y", "LIST VAR zeta", "LIST CMD zeta", "LIST RW zeta"),
    "quoting": [b'GET VAR "fake" "ups.status"\n', b"GET VAR fake ups\\.status\n",
                b'GET VAR fa"ke x\n', b'GET VAR fake "a b"\n', b"GET\tVAR\tfake\tups.status\r\n",
                b"GET VAR fake ups.st\xc3\xa9atus\n", b"GET VAR fake=ups.status\n",
                b"GET VAR \\\nfake ups.status\n", b'GET VAR fake "ups\\"x"\n',
                b'GET VAR fake ""\n', b"GET VAR fake # comment\n", b"# just a comment\n",
                b'GET "" fake x\n', b"\x00\x01\x02\n", b"GET VAR fake ups.status\x7f\n"],
    "parse-error": [b'GET VAR fake "a#b"\nVER\nNETVER\n', b"PROTVER\n",
                    b'GET VAR "fake\nups.status" x\n'],
    "limits": [(" ".join(["GET", "VAR", "fake", "ups.status"] + ["x"] * 40) + "\n").encode(),
               ("GET VAR fake " + "u" * 600 + "\n").encode(),
               ("GET DESC fake " + "v" * 512 + "\n").encode(),
               ("GET UPSDESC " + "w" * 600 + "\n").encode(),
               ("LIST ENUM fake " + "y" * 505 + "\n").encode()],
    "pipelining": [b"".join(lines("GET VAR fake ups.status", "LIST CMD fake", "NETVER",
                                  "GET TYPE fake both", "LIST UPS", "bogus"))],
    "auth-order": lines("LOGIN", "LOGIN fake", "USERNAME", "USERNAME a b", "USERNAME admin",
                        "USERNAME again", "LOGIN fake", "PASSWORD", "PASSWORD a b",
                        "PASSWORD secret", "PASSWORD again", "LOGIN", "LOGIN a b", "LOGIN nope",
                        "LOGIN FAKE", "LOGIN fake", "GET NUMLOGINS fake", "LIST CLIENT fake",
                        "PRIMARY fake", "MASTER fake", "PRIMARY", "PRIMARY nope", "FSD",
                        "SET", "SET VAR", "INSTCMD", "INSTCMD fake"),
    "auth-denied": lines("USERNAME mon", "PASSWORD mpw", "PRIMARY fake", "MASTER fake",
                         "FSD fake", "LOGIN fake", "SET VAR fake ups.status OB",
                         "INSTCMD fake load.off"),
    "auth-primary": lines("USERNAME prim", "PASSWORD ppw", "PRIMARY fake", "MASTER FAKE",
                          "LOGIN nodrv", "GET NUMLOGINS nodrv", "LIST CLIENT nodrv"),
    "auth-wrongpw": lines("USERNAME admin", "PASSWORD nope", "LOGIN fake", "SET TRACKING ON",
                          "GET TRACKING", "SET TRACKING off", "SET TRACKING maybe",
                          "SET VAR fake ups.status OB", "INSTCMD fake load.off"),
    "auth-nouser": lines("USERNAME ghost", "PASSWORD x", "LOGIN fake", "PRIMARY fake"),
    "set-checks": lines(*AUTH, "SET VAR fake ups.status OB", "SET VAR fake ups.id toolongvalue",
                        "SET VAR fake ups.id 8charsok", "SET VAR fake zero.aux x",
                        "SET VAR fake battery.charge 5", "SET VAR fake device.model x",
                        "SET VAR fake nope 1", "SET VAR fake input.transfer.low 095",
                        "SET VAR fake input.transfer.low 95",
                        'SET VAR fake input.transfer.low "1#0\\"5"',
                        "SET VAR fake ups.delay.shutdown 10abc",
                        "SET VAR fake ups.delay.shutdown abc",
                        "SET VAR fake ups.delay.shutdown 150",
                        "SET VAR fake ups.delay.shutdown 301", "SET VAR fake both 5",
                        "SET VAR fake both abc", "SET VAR fake both 1", "SET VAR fake x",
                        "SET VAR fake", "SET bogus a", "SET VAR nodrv x y", "SET VAR nope x y",
                        "SET VAR FAKE UPS.STATUS OL extra words"),
    "set-limited": lines("USERNAME limited", "PASSWORD lpw", "SET VAR fake nope 1",
                         "SET VAR nodrv x y", "INSTCMD fake nope", "INSTCMD fake load.off",
                         "INSTCMD fake test.battery.start", "INSTCMD fake TEST.BATTERY.START",
                         "INSTCMD nodrv test.battery.start"),
    "instcmd": lines(*AUTH, "INSTCMD fake", "INSTCMD fake nope", "INSTCMD fake beeper.toggle",
                     "INSTCMD fake load.off 5", "INSTCMD fake load.off a b",
                     'INSTCMD fake load.off "x y"', "INSTCMD nope load.off",
                     "INSTCMD zeta load.off"),
    "tracking": lines(*AUTH, "SET TRACKING ON", "GET TRACKING", "SET VAR fake ups.status OB",
                      "INSTCMD fake load.off", "SET VAR fake nope x", "GET TRACKING nope",
                      "SET TRACKING OFF", "GET TRACKING", "GET TRACKING nope"),
    # C closes after LOGOUT only if no other command follows in the same read
    "logout": [b"LOGOUT\nNETVER\n", b"VER\n"],
    "logout-alone": [b"NETVER\n", b"LOGOUT\n", b"VER\n"],
}


@pytest.mark.interop
@pytest.mark.parametrize("case", sorted(CASES))
def test_same_replies(stack, case):
    out = compare(stack, CASES[case])
    assert out  # both said something


@pytest.mark.interop
def test_same_replies_with_our_dummy_ups(stack):
    """Our dummy-ups behind both upsds: the same bytes from each."""
    if not stack.have_ours:
        pytest.skip("our dummy-ups not installed yet")
    out = compare(stack, lines("LIST VAR zours", "LIST RW zours", "LIST CMD zours",
                               "GET TYPE zours ups.delay.shutdown", "GET TYPE zours ups.status",
                               "LIST ENUM zours ups.status", "LIST RANGE zours x",
                               "GET VAR zours battery.charge", "GET NUMLOGINS zours"))
    assert b"BEGIN LIST VAR zours" in out


@pytest.mark.interop
def test_forwarded_driver_commands_identical(stack):
    """What reaches the driver for SET/INSTCMD (quoting, escaping, param, case)."""
    script = lines(*AUTH, "SET VAR fake ups.status OB", 'SET VAR fake ups.id "a\\"b\\#"',
                   "SET VAR fake input.transfer.low 95", "INSTCMD fake beeper.toggle x",
                   'INSTCMD fake load.off "p q"', "INSTCMD fake load.off a b",
                   "INSTCMD fake test.battery.start")
    seen = {}
    for port in (stack.c_port, stack.our_port):
        with stack.fake.lock:
            stack.fake.received.clear()
        converse(port, script)
        time.sleep(0.2)
        with stack.fake.lock:
            seen[port] = [x for x in stack.fake.received if x not in ("PING",)]
    assert seen[stack.our_port] == seen[stack.c_port]
    assert 'SET ups.id "a\\"b\\#"' in seen[stack.c_port]


@pytest.mark.interop
def test_tracking_results(stack):
    results = {}
    for port in (stack.c_port, stack.our_port):
        c = LineClient(port)
        try:
            c.send("USERNAME admin\nPASSWORD secret\nSET TRACKING ON\nSET VAR fake ups.status OB\n")
            got = c.read_lines(4)
            ident = got[3].split()[-1].decode()
            assert got[3].startswith(b"OK TRACKING ")
            time.sleep(0.3)
            c.send(f"GET TRACKING {ident}\nGET TRACKING {ident.lower()}\n")
            results[port] = c.read_lines(2)
        finally:
            c.close()
    assert results[stack.our_port] == results[stack.c_port] == [b"SUCCESS\n"] * 2


@pytest.mark.interop
def test_list_client_and_numlogins(stack):
    outs = {}
    for port in (stack.c_port, stack.our_port):
        a, b = LineClient(port), LineClient(port)
        try:
            a.send("USERNAME mon\nPASSWORD mpw\nLOGIN zeta\n")
            a.read_lines(3)
            b.send("USERNAME prim\nPASSWORD ppw\nLOGIN ZETA\n")
            b.read_lines(3)
            outs[port] = converse(port, lines("GET NUMLOGINS zeta", "LIST CLIENT Zeta"))
            a.close()
            time.sleep(0.3)
            outs[port] += converse(port, lines("GET NUMLOGINS zeta", "LIST CLIENT zeta"))
        finally:
            a.close()
            b.close()
    assert outs[stack.our_port] == outs[stack.c_port]
    assert b"NUMLOGINS zeta 2" in outs[stack.c_port]


@pytest.mark.interop
def test_fsd_latch(stack):
    script = lines("GET VAR fsdups ups.status", "USERNAME prim", "PASSWORD ppw", "FSD fsdups",
                   "GET VAR fsdups ups.status", "GET VAR fsdups UPS.STATUS",
                   "LIST VAR fsdups", "LIST RW fsdups", "FSD fsdups")
    out = compare(stack, script)
    assert b'"FSD OL"' in out
