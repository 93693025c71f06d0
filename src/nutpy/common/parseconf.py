"""NUT's word tokenizer (C ``parseconf``), used for every config file and both wire protocols.

The rules are C NUT's, byte for byte: whitespace separates words, ``"..."`` groups, ``\\``
escapes the next byte (and joins lines), ``#`` starts a comment outside quotes and is a
parse error inside them, ``=`` is always a word of its own, bytes outside 0x20..0x7f are
dropped (yet a dropped byte still opens a word), words are cut at 512 bytes and words past
the 32nd are dropped. After a parse error, tokenizing resumes right after the offending
``#`` as a new line.

Pure: bytes in, lines of words out. ``Tokenizer`` is the streaming form (sockets);
``read_file``/``parse_text`` are the file form.
"""


try:
    # what namedtuple's fields are made of; `collections` itself is a fifth of upsc's
    # start-up (namedtuple builds its class with exec)
    from _collections import _tuplegetter
except ImportError:  # another Python implementation
    from operator import itemgetter

    def _tuplegetter(index: int, doc: str) -> property:
        return property(itemgetter(index), doc=doc)

DEFAULT_ARG_LIMIT = 32
DEFAULT_WORDLEN_LIMIT = 512
HASH_IN_QUOTES = "Unbalanced word due to unescaped # in quotes"

_FINDWORDSTART, _COLLECT, _COLLECTLITERAL, _QUOTECOLLECT, _QC_LITERAL, _FINDEOL = range(6)
_LF = 10
_SPACE = frozenset(b" \t\r\x0b\x0c")

# A line made only of these bytes tokenizes exactly like bytes.split(): the fast path.
# (bytes.translate instead of a regex: clients import this module and `re` costs start-up.)
_PLAIN_BYTES = bytes(b for b in range(0x20, 0x80) if b not in b'"\\#=') + b"\t\r\x0b\x0c"


def _needs_state_machine(data: bytes) -> bool:
    return bool(data.translate(None, _PLAIN_BYTES))


class Line(tuple):
    """One tokenized line: a named tuple ``(words, error, lineno)``."""

    __slots__ = ()
    _fields = ("words", "error", "lineno")

    def __new__(cls, words: list[str], error: str | None = None, lineno: int = 0) -> "Line":
        return tuple.__new__(cls, (words, error, lineno))

    words = _tuplegetter(0, "the words (str)")
    error = _tuplegetter(1, "set when the line ended in a parse error: C's message")
    lineno = _tuplegetter(2, "line number in a file (0 for the wire)")

    def _replace(self, **changes) -> "Line":
        values = [changes.pop(f, v) for f, v in zip(self._fields, self)]
        if changes:
            raise ValueError(f"Got unexpected field names: {list(changes)!r}")
        return Line(*values)

    def __repr__(self) -> str:
        return f"Line(words={self[0]!r}, error={self[1]!r}, lineno={self[2]!r})"

    def __getnewargs__(self) -> tuple:
        return tuple(self)


_new_line = tuple.__new__  # Line(words) without the call through Line.__new__ (hot path)


class Tokenizer:
    """Streaming tokenizer: ``feed(bytes)`` returns the lines completed by those bytes."""

    __slots__ = ("arg_limit", "wordlen_limit", "_state", "_word", "_words", "_in_word",
                 "pending")

    def __init__(self, arg_limit: int = DEFAULT_ARG_LIMIT,
                 wordlen_limit: int = DEFAULT_WORDLEN_LIMIT) -> None:
        self.arg_limit = arg_limit
        self.wordlen_limit = wordlen_limit
        self._reset()

    def _reset(self) -> None:
        self._state = _FINDWORDSTART
        self._word = bytearray()
        self._words: list[str] = []
        # True while a line has been started but not finished. An attribute, kept by
        # feed(), not a property: upsd reads it for every request on its fast path.
        self.pending = False

    def feed(self, data: bytes) -> list[Line]:
        out: list[Line] = []
        pos = 0
        n = len(data)
        while pos < n:
            if self._state == _FINDWORDSTART and not self._words:
                nl = data.find(b"\n", pos)
                if nl < 0:
                    break
                raw = data[pos:nl]
                if not raw.translate(None, _PLAIN_BYTES):
                    # (split as str: no plain byte is one of the separators str.split
                    # adds to bytes.split's)
                    words = raw.decode("ascii").split()
                    # no word is longer than its line: most lines need no cutting
                    if len(raw) > self.wordlen_limit or len(words) > self.arg_limit:
                        words = self._limit(words)
                    out.append(_new_line(Line, (words, None, 0)))
                    pos = nl + 1
                    continue
            pos = self._run(data, pos, out)
        if pos < n:
            self._run(data, pos, out, stop_at_line=False)
        self.pending = bool(self._words) or bool(self._word) or self._state != _FINDWORDSTART
        return out

    def _limit(self, words: list[str]) -> list[str]:
        if len(words) > self.arg_limit:
            words = words[: self.arg_limit]
        if any(len(w) > self.wordlen_limit for w in words):
            words = [w[: self.wordlen_limit] for w in words]
        return words

    def _end_word(self) -> None:
        if len(self._words) < self.arg_limit:
            self._words.append(self._word.decode("latin-1"))
        self._word = bytearray()

    def _add(self, ch: int) -> None:
        if 0x20 <= ch <= 0x7F and len(self._word) < self.wordlen_limit:
            self._word.append(ch)

    def _emit(self, out: list[Line], error: str | None = None) -> None:
        out.append(Line(self._words, error))
        self._words = []
        self._word = bytearray()
        self._state = _FINDWORDSTART

    def _run(self, data: bytes, pos: int, out: list[Line], stop_at_line: bool = True) -> int:
        """Run the state machine from ``pos``; return the position after the first line end
        (or the end of data)."""
        state = self._state
        n = len(data)
        while pos < n:
            ch = data[pos]
            pos += 1
            if state == _FINDWORDSTART:
                if ch == _LF:
                    self._emit(out)
                    state = _FINDWORDSTART
                    if stop_at_line:
                        break
                    continue
                if ch == 0x23:  # '#'
                    state = _FINDEOL
                elif ch in _SPACE:
                    pass
                elif ch == 0x5C:  # '\\'
                    state = _COLLECTLITERAL
                elif ch == 0x22:  # '"'
                    state = _QUOTECOLLECT
                else:
                    self._add(ch)
                    if ch == 0x3D:  # '='
                        self._end_word()
                    else:
                        state = _COLLECT
            elif state == _COLLECT:
                if ch == 0x23:
                    self._end_word()
                    state = _FINDEOL
                elif ch == _LF:
                    self._end_word()
                    self._emit(out)
                    state = _FINDWORDSTART
                    if stop_at_line:
                        break
                elif ch in _SPACE:
                    self._end_word()
                    state = _FINDWORDSTART
                elif ch == 0x3D:
                    self._end_word()
                    self._add(ch)
                    self._end_word()
                    state = _FINDWORDSTART
                elif ch == 0x5C:
                    state = _COLLECTLITERAL
                else:
                    self._add(ch)
            elif state == _COLLECTLITERAL:
                if ch != _LF:
                    self._add(ch)
                state = _COLLECT
            elif state == _QUOTECOLLECT:
                if ch == 0x23:
                    self._end_word()
                    self._emit(out, HASH_IN_QUOTES)
                    state = _FINDWORDSTART
                    if stop_at_line:
                        break
                elif ch == 0x22:
                    self._end_word()
                    state = _FINDWORDSTART
                elif ch == 0x5C:
                    state = _QC_LITERAL
                else:
                    self._add(ch)
            elif state == _QC_LITERAL:
                if ch != _LF:
                    self._add(ch)
                state = _QUOTECOLLECT
            else:  # _FINDEOL
                if ch == _LF:
                    self._emit(out)
                    state = _FINDWORDSTART
                    if stop_at_line:
                        break
        self._state = state
        return pos

    def finish(self) -> Line | None:
        """End of input, as C's file reader sees it: a started line with at least one
        complete word is returned (its last partial word tied off); a lone partial word
        is lost, exactly as in C."""
        line = None
        if self._words:
            if self._word:
                self._end_word()
            line = Line(self._words)
        self._reset()
        return line


def split_line(text: str | bytes) -> list[str]:
    """Tokenize one line (no trailing newline needed) the way ``pconf_line`` does; on a
    parse error the words collected so far are returned."""
    data = text.encode("latin-1") if isinstance(text, str) else text
    if b"\n" not in data and not _needs_state_machine(data):
        return Tokenizer()._limit([w.decode("ascii") for w in data.split()])
    tok = Tokenizer()
    lines = tok.feed(data.split(b"\n", 1)[0] + b"\n")
    return lines[0].words if lines else []


def whole_line(raw: bytes) -> list[str] | None:
    """The words of ``raw`` (one physical line, without its LF) read on its own by a fresh
    tokenizer, when it is a complete line: None when it would go on onto a next line (a
    trailing backslash, an open quote) or ends in a parse error."""
    if not raw.translate(None, _PLAIN_BYTES):
        words = raw.decode("ascii").split()
        if len(raw) > DEFAULT_WORDLEN_LIMIT or len(words) > DEFAULT_ARG_LIMIT:
            words = Tokenizer()._limit(words)
        return words
    tok = Tokenizer()
    lines = tok.feed(raw + b"\n")
    if len(lines) != 1 or lines[0].error is not None or tok.pending:
        return None
    return lines[0].words


def parse_text(data: bytes):
    """Lines of a whole file, numbered as C numbers them (a line after a parse error
    counts as a new line). Blank and comment-only lines are included with no words."""
    tok = Tokenizer()
    lineno = 0
    for line in tok.feed(data):
        lineno += 1
        yield line._replace(lineno=lineno)
    last = tok.finish()
    if last is not None:
        yield last._replace(lineno=lineno + 1)


def read_file(path: str):
    """Lines of the file at ``path``; OSError propagates for the caller to report."""
    with open(path, "rb") as f:
        data = f.read()
    return parse_text(data)


def encode(value: str) -> str:
    """C ``pconf_encode``: backslash before each backslash, double quote and ``#``."""
    if "\\" in value or '"' in value or "#" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("#", "\\#")
    return value


def quote(value: str) -> str:
    """A value as both protocols send it: escaped and in double quotes."""
    return '"' + encode(value) + '"'
