"""Every parser under random and grammar-shaped input (the fuzz targets of
``support.fuzz_targets``), through hypothesis.

The normal run is short and deterministic (a fixed number of examples per target, derandomized,
no example database): a few seconds in all. ``NUTPY_FUZZ_LONG=1 ./dev test tests/fuzz`` runs
many more random examples (``NUTPY_FUZZ_EXAMPLES`` sets how many per target); the
coverage-guided long run is ``tests/fuzz/atheris_main.py`` (docs/reliability.md).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.fuzz_targets import TARGETS

LONG = os.environ.get("NUTPY_FUZZ_LONG") == "1"
EXAMPLES = int(os.environ.get("NUTPY_FUZZ_EXAMPLES", "20000" if LONG else "60"))

FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=not LONG,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)

_PRINTABLE = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
_SPECIAL = [b'"', b"\\", b"#", b"=", b'\\"', b"\\#", b"\\\\", b"\t", b"\r", b"\x00", b"\xff",
            b"\x7f", b"\\\n", b"\x0b", b"\x0c", b'""']


def token(vocabulary: tuple[str, ...]):
    """One word-ish piece of a line: a word the parser knows, a random word, a quoted
    string (escapes, # and newlines inside), a special byte, random bytes or an overlong
    word."""
    plain = st.text(_PRINTABLE, min_size=1, max_size=12).map(lambda s: s.encode())
    quoted_inner = st.lists(st.one_of(plain, st.sampled_from(_SPECIAL + [b" ", b"\n"])),
                            max_size=6).map(b"".join)
    choices = [plain, quoted_inner.map(lambda b: b'"' + b + b'"'),
               st.sampled_from(_SPECIAL), st.binary(min_size=1, max_size=6),
               st.integers(500, 700).map(lambda n: b"w" * n),
               st.integers(-2**65, 2**65).map(lambda n: str(n).encode())]
    if vocabulary:
        known = st.sampled_from(vocabulary).map(lambda s: s.encode("latin-1"))
        choices = [known, known, known] + choices
    return st.one_of(choices)


def request_text(vocabulary: tuple[str, ...]):
    line = st.tuples(st.lists(token(vocabulary), max_size=8),
                     st.sampled_from([b" ", b" ", b"\t", b"  ", b"=", b""]),
                     st.sampled_from([b"\n", b"\n", b"\r\n", b"\\\n", b""]))
    lines = st.lists(line, max_size=16).map(
        lambda ls: b"".join(sep.join(words) + end for words, sep, end in ls))
    many_words = st.integers(30, 40).map(lambda n: b" ".join(b"w%d" % i for i in range(n)) + b"\n")
    return st.one_of(lines, lines, lines, st.binary(max_size=300),
                     st.tuples(lines, many_words, lines).map(b"".join))


NAMES = sorted(TARGETS)


@pytest.mark.parametrize("name", NAMES)
def test_seeds(name):
    """The well-formed starting inputs pass (they seed the long runs too)."""
    t = TARGETS[name]
    for seed in t.seeds:
        t.check(seed)
    t.check(b"")


@pytest.mark.parametrize("name", NAMES)
def test_random_bytes(name):
    check = TARGETS[name].check

    @FUZZ
    @given(st.binary(max_size=2048))
    def run(data):
        check(data)

    run()


@pytest.mark.parametrize("name", [n for n in NAMES if TARGETS[n].vocabulary])
def test_grammar_shaped_input(name):
    t = TARGETS[name]
    seeds = t.seeds or (b"",)

    @FUZZ
    @given(request_text(t.vocabulary), st.sampled_from(seeds), st.booleans())
    def run(text, seed, seeded):
        # half the time after a valid input, so the state it built is attacked too
        t.check(seed + text if seeded else text)

    run()


@st.composite
def sparse_damage(draw):
    """Mostly zero bytes (a device's replies pass unharmed) with a few damaged places."""
    data = bytearray(draw(st.integers(0, 600)))
    for _ in range(draw(st.integers(0, 6))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        patch = draw(st.binary(min_size=1, max_size=24))
        data[pos:pos + len(patch)] = patch
    return bytes(data)


@pytest.mark.parametrize("name", [n for n in NAMES if TARGETS[n].extra.get("sparse")])
def test_sparse_damage(name):
    check = TARGETS[name].check

    @FUZZ
    @given(sparse_damage())
    def run(data):
        check(data)

    run()


def _encode_reads(events) -> bytes:
    """(client, bytes) reads and None (a driver update) in upsd_connection's input form."""
    out = bytearray()
    for ev in events:
        if ev is None:
            out.append(0xF0)
            continue
        who, data = ev
        while data:
            n = len(data)
            if n >= 10:
                k = min((n - 1) // 9, 0x3F)
                size, ctl = 1 + 9 * k, (who << 7) | 0x40 | k
            else:
                size, ctl = n, (who << 7) | (n - 1)
            out.append(ctl)
            out += data[:size]
            data = data[size:]
    return bytes(out)


_POLL = st.sampled_from([b"GET VAR Fake ups.status\n", b"GET VAR fake UPS.STATUS\n",
                         b"GET VAR Fake battery.charge\n", b"GET VAR Fake ups.status",
                         b'GET VAR Fake "ups.sta', b'tus"\n', b"GET VAR Fake ups.status\\\n",
                         b"\n", b"LOGOUT\n", b"GET VAR Fake ups.status #x\n", b"HELP\n",
                         b"GET VAR Fake ups.status\r\n", b"GET VAR Fake ups.status \n"])


def test_upsd_connection_cache_against_c_reads():
    """Reads built from GET VAR polls split and continued every which way (what upsmon-like
    clients send, and what broke the reply cache once), with driver updates between them."""
    from support.fuzz_targets import TARGETS as T

    check = T["upsd_connection"].check
    piece = st.lists(st.one_of(_POLL, request_text(T["upsd_connection"].vocabulary)),
                     min_size=1, max_size=12).map(b"".join)
    event = st.one_of(st.tuples(st.integers(0, 1), piece), st.none())

    @FUZZ
    @given(st.lists(event, max_size=12))
    def run(events):
        check(_encode_reads(events))

    run()
