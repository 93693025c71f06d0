"""The tokenizer against the rules of C parseconf (examples from its docs and from runs of
C dummy-ups/upsd 2.8.0)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nutpy.common import parseconf
from nutpy.common.parseconf import HASH_IN_QUOTES, Tokenizer, encode, parse_text, split_line


@pytest.mark.parametrize("text, words", [
    ("this is a line", ["this", "is", "a", "line"]),
    ('this "is also" a line', ["this", "is also", "a", "line"]),
    ("embedded\\ space", ["embedded space"]),
    ("embedded\\\\backslash", ["embedded\\backslash"]),
    ("a=b", ["a", "=", "b"]),
    ("a = b", ["a", "=", "b"]),
    ("a= b", ["a", "=", "b"]),
    ("a =b", ["a", "=", "b"]),
    ('x = ""', ["x", "=", ""]),
    ("k = a\\#b", ["k", "=", "a#b"]),
    ("[ups] junk", ["[ups]", "junk"]),
    ('ab"cd"', ['ab"cd"']),
    ('"ab"cd', ["ab", "cd"]),
    ("battery.runtime: 0\t#COMMENT: x", ["battery.runtime:", "0"]),
    ("ID=1007", ["ID", "=", "1007"]),
    ("a   b\t\tc", ["a", "b", "c"]),
    ("\xc2\xa0 X", ["", "X"]),  # a dropped byte still opens a word
    ('Dummy "Quote" Corp', ["Dummy", "Quote", "Corp"]),
    ("back\\slash # x", ["backslash"]),
    ("", []),
    ("   # only a comment", []),
    ('"tab\tinside"', ["tabinside"]),
    ("del\x7f", ["del\x7f"]),
])
def test_words(text, words):
    data = text.encode("latin-1") + b"\n"
    lines = Tokenizer().feed(data)
    assert lines == [parseconf.Line(words)]
    assert split_line(text) == words


def test_hash_in_quotes_is_error_and_parsing_resumes_after_it():
    lines = list(parse_text(b'desc = "Zeta # desc"\nnext = 1\n'))
    assert lines[0].error == HASH_IN_QUOTES
    assert lines[0].words == ["desc", "=", "Zeta "]
    assert lines[0].lineno == 1
    # the tail of the same physical line is a new logical line, numbered as such
    assert lines[1].words == ['desc"'] and lines[1].lineno == 2
    assert lines[2].words == ["next", "=", "1"] and lines[2].lineno == 3


def test_line_continuation_and_quotes_spanning_lines():
    lines = list(parse_text(b'a b\\\nc\n"x\ny" z\n'))
    assert lines[0].words == ["a", "bc"]
    assert lines[1].words == ["xy", "z"]


def test_limits():
    long_word = "w" * 600
    assert split_line(long_word) == ["w" * 512]
    assert split_line(" ".join(str(i) for i in range(40))) == [str(i) for i in range(32)]
    quoted = '"' + "q" * 600 + '"'
    assert split_line(quoted) == ["q" * 512]


def test_eof_without_newline_follows_c():
    # more than one word: the last line is kept; a lone partial word is lost (C quirk)
    assert [l.words for l in parse_text(b"a\nb c")] == [["a"], ["b", "c"]]
    assert [l.words for l in parse_text(b"a\nlonely")] == [["a"]]


def test_stream_split_anywhere_gives_same_lines():
    data = b'SET VAR ups x "a \\"b\\" c"\nGET VAR ups ups.status\nbad "x#y"\nLIST UPS\n'
    whole = Tokenizer().feed(data)
    for cut in range(len(data)):
        t = Tokenizer()
        parts = t.feed(data[:cut]) + t.feed(data[cut:])
        assert parts == whole
    assert whole[0].words == ["SET", "VAR", "ups", "x", 'a "b" c']
    assert whole[2].error == HASH_IN_QUOTES
    assert whole[3].words == ['y"']


def test_encode():
    assert encode('a "b" \\c #d') == 'a \\"b\\" \\\\c \\#d'
    assert parseconf.quote("x") == '"x"'


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=200))
def test_quote_roundtrip(value):
    assert split_line("V " + parseconf.quote(value)) == ["V", value[:512]]


@given(st.binary(max_size=300))
def test_fast_path_agrees_with_state_machine(data):
    line = data.replace(b"\n", b" ")
    fast = Tokenizer().feed(line + b"\n")
    slow_tok = Tokenizer()
    slow: list = []
    slow_tok._run(line + b"\n", 0, slow)
    assert fast == slow


def test_upsconf_skips_a_line_with_a_parse_error():
    """C's read_upsconf logs the error and drops the whole line (its words so far too)."""
    from nutpy.common import upsconf

    lines = parseconf.parse_text(b'[u]\n driver = x\n desc = "UPS #1\n port = p\n')
    conf = upsconf.parse(lines, "ups.conf")
    assert [(e.lineno, e.message) for e in conf.errors] == [(3, parseconf.HASH_IN_QUOTES)]
    assert conf.sections["u"].values == {"driver": "x", "port": "p"}


def test_line_is_a_named_tuple():
    """``Line`` is built without ``collections`` (client start-up) yet behaves like the
    namedtuple it replaces: fields by name and position, defaults, ``_replace``, equality."""
    line = parseconf.Line(["a", "b"])
    assert (line.words, line.error, line.lineno) == (["a", "b"], None, 0)
    words, error, lineno = parseconf.Line(["x"], "bad", 3)
    assert (words, error, lineno) == (["x"], "bad", 3)
    moved = line._replace(lineno=7)
    assert moved == (["a", "b"], None, 7) and type(moved) is parseconf.Line and line.lineno == 0
    assert repr(moved) == "Line(words=['a', 'b'], error=None, lineno=7)"
    with pytest.raises(ValueError):
        line._replace(colour=1)
    with pytest.raises(AttributeError):
        line.words = []
    assert [ln.lineno for ln in parseconf.parse_text(b"a\n\nb c\n")] == [1, 2, 3]


def test_pending_tells_a_started_line():
    """``pending`` (read by upsd for every request) is true exactly while a line has been
    started and not finished: a word, a continued line, an open quote, a comment."""
    tok = parseconf.Tokenizer()
    assert not tok.pending
    for data, pending in ((b"GET VAR", True), (b" u x\n", False), (b"a \\\n", True),
                          (b"b\n", False), (b'a "b\n', True), (b'c"\n', False),
                          (b"# note", True), (b"\n", False), (b"x\ny z", True)):
        tok.feed(data)
        assert tok.pending is pending, data
    assert tok.finish() == (["y", "z"], None, 0) and not tok.pending
    long = parseconf.Tokenizer().feed(b"w" * 600 + b" " + b"v " * 40 + b"\n")[0].words
    assert len(long) == 32 and len(long[0]) == 512


@given(st.one_of(
    st.binary(max_size=120),
    st.text(alphabet=' \t"\\#=abc.\x7f\x1f', max_size=60).map(lambda t: t.encode("latin-1")),
    st.lists(st.text(alphabet="ab", min_size=1, max_size=600), max_size=40).map(
        lambda words: " ".join(words).encode())).map(lambda b: b.replace(b"\n", b" ")))
def test_whole_line_is_what_a_fresh_tokenizer_reads(raw):
    tok = Tokenizer()
    lines = tok.feed(raw + b"\n")
    complete = len(lines) == 1 and lines[0].error is None and not tok.pending
    assert parseconf.whole_line(raw) == (lines[0].words if complete else None)


def test_whole_line_refuses_what_goes_on():
    for raw in (b"GET VAR u x \\", b'GET VAR u "x', b'VAR "a#b"', b"a\nb"):
        assert parseconf.whole_line(raw) is None, raw
    assert parseconf.whole_line(b"GET  VAR u\tx\r") == ["GET", "VAR", "u", "x"]
    assert parseconf.whole_line(b"a=b # c") == ["a", "=", "b"]
