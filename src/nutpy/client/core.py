"""The sans-IO core of the NUT client library (what C's libupsclient is to the C clients).

Request building (C ``build_cmd`` quoting), reply-line reading and parsing (``parseconf``
rules), ``BEGIN LIST``/``END LIST`` framing, ``ERR`` lines turned into ``ServerError``
carrying the NUT code and libupsclient's message, and ``_Api``: the request/post-processing
table that the blocking client (``nutpy.client.blocking.Client``) and the asyncio client
(``nutpy.client.aio.AsyncClient``) both drive. ``nutpy.client.pynut.PyNUTClient`` is the
PyNUT drop-in on top of the blocking client.

Start-up cost matters (``upsc`` is run from shell loops, docs/performance.md): this module
imports nothing at load time. The tokenizer (``common.parseconf``) is loaded for the first
argument or reply line that needs more than a split, the protocol's error table
(``proto.netproto``) for the first ``ERR``, ``ssl``/``nutpy.security.tls`` when TLS is asked
for.
"""


# proto.netproto.PORT, written out: upsc must not load the protocol tables just to start
# (tests/e2e/test_client.py keeps the two equal)
DEFAULT_PORT = 3493
# C's SMALLBUF (512): libupsclient and the client programs copy arguments into buffers of
# this size, so anything past 511 characters is cut
SMALLBUF_TEXT = 511
DEFAULT_TIMEOUT = 5.0  # C DEFAULT_NETWORK_TIMEOUT for reads
DEFAULT_TRACKING_TIMEOUT = 10  # upscmd/upsrw -t default
_RECV_SIZE = 65536


# ---------------------------------------------------------------------------------------
# Errors


class PyNUTError(Exception):
    """Base class of every error raised here (the name PyNUT users catch)."""


class NutError(PyNUTError):
    """A failure, with the message C's ``upscli_strerror`` would give (``str(e)``)."""

    code: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServerError(NutError):
    """upsd answered ``ERR <code>``; ``reply`` is that line, ``code`` its first word."""

    def __init__(self, reply: str) -> None:
        from ..proto.netproto import client_message  # errors only: not on upsc's start-up
        rest = reply[4:]
        super().__init__(client_message(rest))
        self.reply = reply
        words = rest.split()
        self.code = words[0] if words else ""


class ConnectionFailure(NutError):
    """Local/transport failure: no such host, connection refused, server gone..."""


class ProtocolError(NutError):
    """upsd sent something that is not the reply asked for."""


class TLSError(NutError):
    """STARTTLS could not be set up (or was required and refused)."""


# ---------------------------------------------------------------------------------------
# Sans-IO core


def build_request(command: str, *args: str) -> bytes:
    """A request line as C ``build_cmd`` writes it: each argument pconf-escaped, and
    double-quoted when it contains a space."""
    parts = [command]
    for arg in args:
        enc = encode(arg)
        parts.append(f'"{enc}"' if " " in arg else enc)
    return (" ".join(parts) + "\n").encode("latin-1", "replace")


def build_value_request(command: str, *args: str) -> bytes:
    """Like ``build_request`` but the last argument (a value) is always quoted, as
    ``upsrw`` sends ``SET VAR ups var "value"``."""
    head = build_request(command, *args[:-1])[:-1]
    return head + b' "' + encode(args[-1]).encode("latin-1", "replace") + b'"\n'


def encode(value: str) -> str:
    """``parseconf.encode`` (C ``pconf_encode``), loaded only for a value that has
    something to escape."""
    if "\\" in value or '"' in value or "#" in value:
        from ..common.parseconf import encode as pconf_encode
        return pconf_encode(value)
    return value


def _is_plain_quoted(line: str) -> bool:
    """True for a ``WORDS "value"`` line that splits without the state machine."""
    if not line.endswith('"') or line.count('"') != 2:
        return False
    if "\\" in line or "#" in line or "=" in line:
        return False
    start = line.find('"')
    return start > 0 and line[start - 1] == " " and line.isascii() and line.isprintable()


def _is_plain(line: str) -> bool:
    """True for a line without quotes or anything else the tokenizer treats specially,
    which ``str.split`` splits as the tokenizer does."""
    return (line.isascii() and line.isprintable() and '"' not in line and "\\" not in line
            and "#" not in line and "=" not in line)


# Called with each byte C's parseconf would report as ``addchar: discarding invalid
# character (0x..)!`` (libupsclient prints that on stderr; the programs set this hook).
on_discarded_char = None

_C_SPACE = b" \t\n\v\f\r"


def discarded_chars(data: bytes) -> list[int]:
    """Bytes outside 0x20..0x7f that parseconf's addchar would drop, in order."""
    found = []
    state = 0  # 0 word start, 1 word, 2 literal, 3 quoted, 4 quoted literal, 5 comment
    for ch in data:
        if state == 5:
            continue
        if state in (2, 4):
            if ch < 0x20 or ch > 0x7F:
                found.append(ch)
            state = 1 if state == 2 else 3
            continue
        if state == 3:
            if ch == 0x23:
                break
            if ch == 0x22:
                state = 0
            elif ch == 0x5C:
                state = 4
            elif ch < 0x20 or ch > 0x7F:
                found.append(ch)
            continue
        if ch == 0x23:
            state = 5
        elif ch in _C_SPACE:
            state = 0
        elif ch == 0x5C:
            state = 2
        elif ch == 0x22 and state == 0:
            state = 3
        else:
            if ch < 0x20 or ch > 0x7F:
                found.append(ch)
            state = 1
    return found


def tokenize(line: str) -> list[str]:
    """The words of one reply line as libupsclient's ``pconf_line`` gives them: a parse
    error (``#`` inside quotes) just ends the line, an unterminated last word is kept."""
    if _is_plain_quoted(line):
        # The common VAR/RW/UPS/DESC reply shape; same result as the tokenizer.
        start = line.find('"')
        words = line[:start].split()
        words.append(line[start + 1:-1])
        if len(words) <= 32 and all(len(w) <= 512 for w in words):
            return words
    elif _is_plain(line):
        # BEGIN/END LIST, OK..., TYPE and CMD lines: spaces are the only separators
        words = line.split()
        if len(words) <= 32 and all(len(w) <= 512 for w in words):
            return words
    data = line.encode("latin-1", "replace")
    if on_discarded_char is not None and not (line.isascii() and line.isprintable()):
        for ch in discarded_chars(data):
            on_discarded_char(ch)
    from ..common.parseconf import Tokenizer
    tok = Tokenizer()
    lines = tok.feed(data + b"\n")
    if not lines:  # still inside quotes: C ties the word off at the end of the string
        lines = tok.feed(b'"\n')
    return lines[0].words if lines else []


def check_error(line: str) -> None:
    """Raise ``ServerError`` for an ``ERR`` line (C compares the first 3 bytes)."""
    if line.startswith("ERR"):
        raise ServerError(line)


def _matches(query: tuple[str, ...] | list[str], words: list[str]) -> bool:
    if len(words) < len(query):
        return False
    return all(q.lower() == w.lower() for q, w in zip(query, words))


def parse_get(line: str, query: tuple[str, ...]) -> list[str]:
    """Words of the reply to ``GET <query>``; they start with the query words."""
    check_error(line)
    words = tokenize(line)
    if not _matches(query, words):
        raise ProtocolError("Protocol error")
    return words


class ListReply:
    """Collects the reply to ``LIST <query>``: feed lines until ``feed`` returns True;
    ``items`` then holds the words of each item line."""

    __slots__ = ("query", "items", "_begun")

    def __init__(self, query: tuple[str, ...]) -> None:
        self.query = query
        self.items: list[list[str]] = []
        self._begun = False

    @property
    def begun(self) -> bool:
        return self._begun

    def feed(self, line: str) -> bool:
        check_error(line)
        words = tokenize(line)
        if not self._begun:
            if (len(words) < 2 or words[0].upper() != "BEGIN" or words[1].upper() != "LIST"
                    or not _matches(self.query, words[2:])):
                raise ProtocolError("Protocol error")
            self._begun = True
            return False
        if not words:
            raise ProtocolError("Protocol error")
        if len(words) >= 2 and words[0] == "END" and words[1] == "LIST":
            return True
        if not _matches(self.query, words):
            raise ProtocolError("Protocol error")
        self.items.append(words)
        return False


class LineBuffer:
    """Bytes in, complete lines (str, LF removed) out."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> None:
        self._buf += data

    def pop_line(self) -> str | None:
        nl = self._buf.find(b"\n")
        if nl < 0:
            return None
        line = self._buf[:nl]
        self._buf = self._buf[nl + 1:]
        return line.decode("latin-1")

    @property
    def pending(self) -> bytes:
        return self._buf


def split_addr(text: str) -> tuple[str, int]:
    """C ``upscli_splitaddr``: ``host[:port]`` or ``[v6addr][:port]``. ``ValueError``
    carries the line C prints on stderr."""
    text = text[:SMALLBUF_TEXT]
    if not text:
        raise ValueError("upscli_splitaddr: can't parse empty string")
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError("upscli_splitaddr: missing closing bracket in [domain literal]")
        host = text[1:close]
        rest = text[close + 1:]
        if not rest.startswith(":"):
            return host, DEFAULT_PORT
        port_text = rest[1:]
    else:
        host = _strtok_first(text, ":")
        colon = text.find(":")
        if colon < 0:
            return host, DEFAULT_PORT
        port_text = text[colon + 1:]
    if port_text.isdigit() and port_text.isascii() and len(port_text) < 6:
        port = int(port_text)  # what strtol gives such text, without importing it
    elif port_text:
        from ..common.cnum import strtol
        port = strtol(port_text)
    else:
        port = 0
    if not port_text or port < 1 or port > 65535:
        raise ValueError("upscli_splitaddr: no port specified after ':' separator")
    return host, port


def split_name(text: str | None) -> tuple[str, str, int]:
    """C ``upscli_splitname``: ``ups[@host[:port]]`` -> (ups, host, port)."""
    if text is None:
        raise ValueError(None)
    text = text[:SMALLBUF_TEXT]
    if not text:
        raise ValueError("upscli_splitname: can't parse empty string")
    ups = _strtok_first(text, "@")
    at = text.find("@")
    if at < 0:
        return ups, "localhost", DEFAULT_PORT
    host, port = split_addr(text[at + 1:])
    return ups, host, port


def _strtok_first(text: str, delim: str) -> str:
    """First token of C ``strtok(text, delim)`` (leading delimiters skipped)."""
    for part in text.split(delim):
        if part:
            return part
    return ""


# ---------------------------------------------------------------------------------------
# Post-processing shared by the sync and async clients


def _value(words: list[str]) -> str:
    if len(words) < 4:
        raise ProtocolError("Protocol error")
    return words[3]


def _item_map(key: int, val: int):
    def post(items: list[list[str]]) -> dict[str, str]:
        return {w[key]: (w[val] if len(w) > val else "") for w in items}
    return post


def _item_list(index: int):
    def post(items: list[list[str]]) -> list[str]:
        return [w[index] for w in items if len(w) > index]
    return post


def _ranges(items: list[list[str]]) -> list[tuple[str, str]]:
    return [(w[3], w[4]) for w in items if len(w) > 4]


def _type_flags(words: list[str]) -> list[str]:
    return words[3:]


def _numlogins(words: list[str]) -> int:
    if len(words) < 3:
        raise ProtocolError("Protocol error")
    from nutpy.common.cnum import strtol
    return strtol(words[2])  # as C upsmon reads it (a garbled count is no crash)


def _ok_or_tracking(line: str) -> str | None:
    """``OK`` -> None, ``OK TRACKING <id>`` -> id; anything else raises."""
    check_error(line)
    if not line.startswith("OK"):
        raise ProtocolError("Invalid response from server")
    words = line.split()
    if len(words) >= 3 and words[1] == "TRACKING":
        return words[2]
    return None


def _ok(line: str) -> str:
    check_error(line)
    if not line.startswith("OK"):
        raise ProtocolError("Invalid response from server")
    return line


class _Api:
    """The pythonic API, written once against three primitives that the sync client
    implements as plain calls and the async client as coroutines:
    ``_get(query, post)``, ``_list(query, post)``, ``_simple(request_bytes, post)``."""

    def get_var(self, ups: str, var: str):
        return self._get(("VAR", ups, var), _value)

    def get_type(self, ups: str, var: str):
        """Type words after the name, e.g. ``['RW', 'STRING:32']``."""
        return self._get(("TYPE", ups, var), _type_flags)

    def get_desc(self, ups: str, var: str):
        return self._get(("DESC", ups, var), _value)

    def get_cmddesc(self, ups: str, cmd: str):
        return self._get(("CMDDESC", ups, cmd), _value)

    def get_upsdesc(self, ups: str):
        return self._get(("UPSDESC", ups), lambda w: w[2] if len(w) > 2 else "")

    def num_logins(self, ups: str):
        return self._get(("NUMLOGINS", ups), _numlogins)

    def list_ups(self):
        """``{name: description}`` in server order."""
        return self._list(("UPS",), _item_map(1, 2))

    def list_vars(self, ups: str):
        return self._list(("VAR", ups), _item_map(2, 3))

    def list_rw(self, ups: str):
        return self._list(("RW", ups), _item_map(2, 3))

    def list_cmds(self, ups: str):
        return self._list(("CMD", ups), _item_list(2))

    def list_enum(self, ups: str, var: str):
        return self._list(("ENUM", ups, var), _item_list(3))

    def list_range(self, ups: str, var: str):
        """``[(min, max), ...]`` as strings."""
        return self._list(("RANGE", ups, var), _ranges)

    def list_clients(self, ups: str):
        return self._list(("CLIENT", ups), _item_list(2))

    def ver(self):
        return self._simple(b"VER\n", _plain)

    def help(self):
        return self._simple(b"HELP\n", _plain)

    def protver(self):
        return self._simple(b"PROTVER\n", _plain)

    def authenticate(self, username: str, password: str):
        """Send USERNAME then PASSWORD (upsd checks them only when an action needs them)."""
        return self._simple_seq(
            [build_request("USERNAME", username), build_request("PASSWORD", password)], _ok)

    def login(self, ups: str):
        """``LOGIN <ups>`` (as upsmon does): counts in NUMLOGINS while connected."""
        return self._simple(build_request("LOGIN", ups), _ok)

    def primary(self, ups: str):
        return self._simple(build_request("PRIMARY", ups), _ok)

    def fsd(self, ups: str):
        return self._simple(build_request("FSD", ups), _ok)

    def set_tracking(self, on: bool = True):
        return self._simple(b"SET TRACKING ON\n" if on else b"SET TRACKING OFF\n", _ok)

    def get_tracking(self, tracking_id: str):
        """``PENDING``, ``SUCCESS`` or an ``ERR ...`` result line, as upsd says it."""
        return self._simple(build_request("GET", "TRACKING", tracking_id), _plain)


def _plain(line: str) -> str:
    return line


def tls_context(certpath, certverify, certfile, certident=None):
    """The client TLS context for the sync and async clients; ``TLSError`` on failure.
    ``certident``: (nickname, password) of the client certificate in an NSS ``certpath``
    (upsmon.conf CERTIDENT)."""
    from ..security import tls
    try:
        return tls.client_context(certpath, certverify, certfile, certident)
    except Exception as e:  # TLSConfigError, unreadable CA/cert files
        raise TLSError(f"SSL error: {e}") from None
