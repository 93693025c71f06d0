"""A reply may only ever answer the exact request that produced it (issue 11).

Several clients talk to C upsd 2.8.0 and to ours at once, in the same order: one client
continues a request onto the next line (trailing backslash, an escaped newline inside a
word, an open quote), splits it over several writes or pipelines it with other requests;
then other clients send, on their own, what was the last physical line of that request.
Every client must get from ours exactly what it gets from C: nothing filed under a line
that was only part of another request may answer anyone."""

from __future__ import annotations

import time

import pytest

from support.harness import require_c_nut
from support.upsd_support import SENTINEL, SENTINEL_REPLY, LineClient, Stack, normalize

pytestmark = pytest.mark.interop

SYNC = "sync"      # then read up to the reply to a sentinel request sent on its own
EOF = "eof"        # then read until the server closes (after LOGOUT)
PARTIAL = "partial"  # a request left unfinished: no reply to wait for

CONT = b"GET VAR fake ups.status \\\n"  # continued onto the next physical line


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require_c_nut()
    s = Stack(tmp_path_factory.mktemp("upsd-cache"))
    yield s
    s.close()


def _read_until(c: LineClient, done, limit: float = 5.0) -> bytes:
    out = c.buf
    c.buf = b""
    deadline = time.monotonic() + limit
    while not done(out) and time.monotonic() < deadline:
        c.sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = c.sock.recv(65536)
        except OSError:
            break
        if not data:
            break
        out += data
    return out


def play(port: int, steps) -> dict[str, bytes]:
    """Run ``(client, bytes, mode)`` steps in order against one server; each client's
    whole transcript (sentinel replies removed)."""
    clients: dict[str, LineClient] = {}
    seen: dict[str, bytes] = {}
    try:
        for who, data, mode in steps:
            c = clients.get(who)
            if c is None:
                c = clients[who] = LineClient(port)
                seen[who] = b""
            c.send(data)
            if mode == PARTIAL:
                time.sleep(0.1)  # let the server read it on its own
            elif mode == SYNC:
                c.send(SENTINEL)
                got = _read_until(c, lambda out: SENTINEL_REPLY in out)
                assert SENTINEL_REPLY in got, (who, data, got)
                seen[who] += got.replace(SENTINEL_REPLY, b"")
            else:
                seen[who] += _read_until(c, lambda out: False)
    finally:
        for c in clients.values():
            c.close()
    return seen


def compare(stack: Stack, steps) -> dict[str, bytes]:
    c_out = play(stack.c_port, steps)
    our_out = play(stack.our_port, steps)
    assert {k: normalize(v) for k, v in our_out.items()} == \
           {k: normalize(v) for k, v in c_out.items()}
    return c_out


STATUS = b'VAR fake ups.status "OL"\n'
CHARGE = b'VAR fake battery.charge "100"\n'
UNKNOWN = b"ERR UNKNOWN-COMMAND\n"


@pytest.mark.parametrize("second, alone", [
    (b"LOGOUT\n", b"OK Goodbye\n"),
    (b"\n", UNKNOWN),
    (b"HELP\n", b"Commands: HELP VER GET LIST SET INSTCMD LOGIN LOGOUT USERNAME PASSWORD "
                b"STARTTLS\n"),
    (b"LIST UPS\n", b"BEGIN LIST UPS\n"),
    (b"GET VAR fake battery.charge\n", CHARGE),
], ids=["logout", "empty", "help", "list-ups", "get-var"])
def test_continued_line_answers_only_its_own_request(stack, second, alone):
    """The issue's cases: client a's request ends on a line that is, on its own, client
    b's request (and later a's own)."""
    steps = [("a", CONT + second, SYNC),
             ("b", second, EOF if second == b"LOGOUT\n" else SYNC),
             ("c", second, EOF if second == b"LOGOUT\n" else SYNC)]
    out = compare(stack, steps)
    assert out["a"] == STATUS
    assert normalize(out["b"]).startswith(alone) and out["b"] == out["c"]


def test_continued_over_two_writes(stack):
    out = compare(stack, [
        ("a", CONT, PARTIAL), ("a", b"GET VAR fake battery.charge\n", SYNC),
        ("b", b"GET VAR fake battery.charge\n", SYNC),
        ("a", b"GET VAR fake battery.charge\n", SYNC),
    ])
    assert out["a"] == STATUS + CHARGE and out["b"] == CHARGE


def test_request_split_before_its_newline(stack):
    """The newline arrives in a write of its own: an empty physical line ends a's
    request; b's empty line is an unknown command."""
    out = compare(stack, [
        ("a", b"GET VAR fake ups.status", PARTIAL), ("a", b"\n", SYNC),
        ("b", b"\n", SYNC), ("b", b"GET VAR fake ups.status\n", SYNC),
        ("c", b"\n\n", SYNC),
    ])
    assert out["a"] == STATUS and out["b"] == UNKNOWN + STATUS
    assert out["c"] == UNKNOWN * 2


def test_request_split_inside_its_words(stack):
    out = compare(stack, [
        ("a", b"GET VAR fake", PARTIAL), ("a", b" ups.status\n", SYNC),
        ("b", b" ups.status\n", SYNC),
        ("a", b"GET VAR fa", PARTIAL), ("a", b"ke battery.charge\n", SYNC),
        ("b", b"ke battery.charge\n", SYNC),
    ])
    assert out["a"] == STATUS + CHARGE and out["b"] == UNKNOWN * 2


def test_escaped_newline_inside_a_word(stack):
    out = compare(stack, [
        ("a", b"GET VAR fake ups.\\\nstatus\n", SYNC), ("b", b"status\n", SYNC),
        ("a", b"GET VAR fake \\\nbattery.charge\n", SYNC), ("b", b"battery.charge\n", SYNC),
    ])
    assert out["a"] == STATUS + CHARGE and out["b"] == UNKNOWN * 2


def test_quoted_word_across_lines(stack):
    """A newline inside quotes does not end the request ('"' alone, then '"' again,
    is one empty word: an unknown command)."""
    out = compare(stack, [
        ("a", b'GET VAR fake "ups.status\n"\n', SYNC),
        ("b", b'"\n', PARTIAL), ("b", b'"\n', SYNC),
        ("a", b'GET VAR "fake\n" "ups.status"\n', SYNC),
        ("c", b'" "ups.status"\n', SYNC),
    ])
    assert out["a"] == STATUS * 2 and out["b"] == out["c"] == UNKNOWN


def test_pipelined_continuations_from_several_clients(stack):
    """Continued, complete and split requests pipelined in single writes by several
    clients, interleaved with each other."""
    a_burst = (CONT + b"HELP\nGET VAR fake ups.status\nGET VAR fake battery.charge \\\n"
               b"LIST UPS\nGET VAR fake ups.status\n")
    out = compare(stack, [
        ("a", a_burst, SYNC),
        ("b", b"HELP\nLIST UPS\nGET VAR fake ups.status\n\nGET VAR fake battery.charge\n",
         SYNC),
        ("c", CONT, PARTIAL),
        ("d", b"GET VAR fake battery.charge \\\n", PARTIAL),
        ("c", b"HELP\nHELP\n", SYNC),
        ("d", b"HELP\nLIST UPS\n", SYNC),
        ("e", b"HELP\n", SYNC), ("e", b"LIST UPS\n", SYNC),
        ("e", b"GET VAR fake ups.status\nGET VAR fake battery.charge\n", SYNC),
        ("e", b"\n", SYNC),
    ])
    assert out["a"].count(STATUS) == 3 and out["a"].count(CHARGE) == 1
    assert out["c"].startswith(STATUS) and out["d"].startswith(CHARGE)
    assert out["e"].endswith(STATUS + CHARGE + UNKNOWN)


def test_same_line_after_the_state_changed(stack):
    """A request answered from the cache before a change, then continued by another
    client after it: each gets the value of its own moment."""
    stack.fake.broadcast('SETINFO battery.charge "99"\n')
    try:
        time.sleep(0.3)
        out = compare(stack, [
            ("a", b"GET VAR fake battery.charge\n", SYNC),
            ("b", b"GET VAR fake ups.status \\\nGET VAR fake battery.charge\n", SYNC),
            ("a", b"GET VAR fake battery.charge\n", SYNC),
        ])
        assert out["a"] == b'VAR fake battery.charge "99"\n' * 2
    finally:
        stack.fake.broadcast('SETINFO battery.charge "100"\n')
        time.sleep(0.3)


# Every kind of request the reply cache keeps (GET VAR above; these since issue 17)
CACHED_KINDS = [b"GET TYPE fake input.transfer.low", b"GET DESC fake ups.status",
                b"GET CMDDESC fake load.off", b"LIST ENUM fake input.transfer.low",
                b"LIST RANGE fake ups.delay.shutdown", b"LIST VAR fake", b"LIST RW fake",
                b"LIST CMD fake", b"GET TYPE fake both"]


@pytest.mark.parametrize("request_", CACHED_KINDS, ids=lambda r: r.decode())
def test_every_cached_kind_answers_only_its_own_request(stack, request_):
    """Answered once (and kept), then the tail of a continued line, then continued itself
    onto a HELP: each client gets what C gives it."""
    line = request_ + b"\n"
    out = compare(stack, [
        ("a", line, SYNC), ("a", line, SYNC),
        ("b", CONT + line, SYNC), ("b", line, SYNC),
        ("c", request_ + b" \\\n" + b"HELP\n", SYNC), ("c", b"HELP\n", SYNC),
        ("d", b"GET TYPE fake \\\n" + line, SYNC),
    ])
    assert out["a"] and out["a"][: len(out["a"]) // 2] * 2 == out["a"]
    assert out["b"].startswith(STATUS) and out["b"][len(STATUS):] == out["a"][: len(out["a"]) // 2]


def test_type_enum_and_range_follow_the_driver(stack):
    """Kept GET TYPE and LIST ENUM/RANGE replies give way to new flags, enums and ranges
    from the driver; a new value changes GET VAR and LIST VAR but not the types."""
    asks = [("a", b"GET TYPE fake zero.aux\n", SYNC), ("a", b"LIST ENUM fake both\n", SYNC),
            ("a", b"LIST RANGE fake both\n", SYNC), ("a", b"GET VAR fake Alpha.Var\n", SYNC),
            ("a", b"GET TYPE fake Alpha.Var\n", SYNC), ("a", b"LIST VAR fake\n", SYNC)]
    try:
        before = compare(stack, asks)["a"]
        stack.fake.broadcast('SETINFO Alpha.Var "b"\n')
        time.sleep(0.3)
        values = compare(stack, asks)["a"]
        stack.fake.broadcast('SETFLAGS zero.aux RW NUMBER\nADDENUM both "7"\n'
                             "ADDRANGE both 20 30\n")
        time.sleep(0.3)
        meta = compare(stack, asks)["a"]
    finally:
        stack.fake.broadcast('SETINFO Alpha.Var "a"\nSETFLAGS zero.aux RW STRING\n'
                             'DELENUM both "7"\nDELRANGE both 20 30\n')
        time.sleep(0.3)
    assert b'VAR fake Alpha.Var "b"' in values and b'VAR fake Alpha.Var "a"' in before
    assert b"TYPE fake zero.aux RW STRING:0" in values
    assert b"TYPE fake zero.aux RW NUMBER" in meta and b'ENUM fake both "7"' in meta
    assert b'RANGE fake both "20" "30"' in meta
