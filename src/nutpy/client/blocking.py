"""NUT network client library (what C's libupsclient is to the C clients).

Three layers:

* a sans-IO core: request building (C ``build_cmd`` quoting), reply-line reading and
  parsing (``parseconf`` rules), ``BEGIN LIST``/``END LIST`` framing, and ``ERR`` lines
  turned into ``ServerError`` carrying the NUT code and libupsclient's message;
* ``Client``, a synchronous socket client with a pythonic API (``get_var``, ``list_vars``,
  ``set_var``, ``instcmd``, tracking waits, ``starttls``...);
* ``PyNUTClient``, a drop-in for NUT's ``PyNUT.PyNUTClient`` built on ``Client``.

``nutpy.client.aio.AsyncClient`` drives the same core with asyncio.

Start-up cost matters (``upsc`` is run from shell loops): this module imports only
``_socket`` at load time; ``ssl``/``nutpy.security.tls`` are imported when TLS is asked for.
"""

from __future__ import annotations

import _socket
import os

from ..proto.netproto import client_message
from ..common.parseconf import Tokenizer, encode
from ..common.cnum import strtol

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


def _is_plain_quoted(line: str) -> bool:
    """True for a ``WORDS "value"`` line that splits without the state machine."""
    if not line.endswith('"') or line.count('"') != 2:
        return False
    if "\\" in line or "#" in line or "=" in line:
        return False
    start = line.find('"')
    return start > 0 and line[start - 1] == " " and line.isascii() and line.isprintable()


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
    data = line.encode("latin-1", "replace")
    if on_discarded_char is not None and not (line.isascii() and line.isprintable()):
        for ch in discarded_chars(data):
            on_discarded_char(ch)
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
    port = strtol(port_text) if port_text else 0
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
    return int(words[2])


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


# ---------------------------------------------------------------------------------------
# Synchronous client


class Client(_Api):
    """A connection to upsd.

    ``timeout`` bounds each read (C: 5 s, then "Server disconnected"); ``connect_timeout``
    the connect (defaults to ``timeout``; None waits as long as the kernel does).
    ``tls``: ``False`` (plain), ``"try"`` (STARTTLS, continue in clear if refused) or
    ``"force"`` (refuse to go on without TLS — nothing else is sent before it is up).
    ``certverify``: check the server certificate chain and host name. ``certpath``: CA
    file/dir; ``certfile``: client certificate; ``certname``: expected server name (C
    CERTHOST), defaults to the host. ``certhost``: ``{host: (certname, certverify,
    forcessl)}`` rules that override these per host, like upsmon.conf CERTHOST.
    """

    def __init__(self, host: str = "localhost", port: int = DEFAULT_PORT,
                 timeout: float | None = DEFAULT_TIMEOUT, *, connect: bool = True,
                 connect_timeout: float | None = -1.0,
                 tls: bool | str = False, certverify: bool = False,
                 certpath: str | None = None, certfile: str | None = None,
                 certname: str | None = None,
                 certhost: dict | None = None) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout  # per read, like C's DEFAULT_NETWORK_TIMEOUT (5 s)
        self.connect_timeout = timeout if connect_timeout == -1.0 else connect_timeout
        self.tls_mode = tls
        self.certverify = certverify
        self.certpath = certpath
        self.certfile = certfile
        self.certname = certname
        if certhost:
            # C: a CERTHOST rule for this host overrides CERTVERIFY/FORCESSL.
            from ..security.tls import certhost_lookup
            name, verify, force = certhost_lookup(certhost, host, port, certverify,
                                                  tls == "force")
            self.certname = name or certname
            self.certverify = verify
            if force:
                self.tls_mode = "force"
        self.sock = None
        self.tls_active = False
        self._buf = LineBuffer()
        if connect:
            self.connect()

    # -- transport ----------------------------------------------------------------------

    def connect(self) -> None:
        """Resolve and connect like libupsclient (first address that accepts wins);
        errors carry C's messages (``No such host``, ``Connection failure: ...``)."""
        try:
            # An ASCII host goes in as bytes: a str would load the idna codec (and `re`),
            # a third of upsc's start-up time.
            host = self.host.encode("ascii") if self.host.isascii() else self.host
            infos = _socket.getaddrinfo(host, self.port, 0, _socket.SOCK_STREAM,
                                        _socket.IPPROTO_TCP)
        except _socket.gaierror as e:
            if e.errno in (_socket.EAI_NONAME, getattr(_socket, "EAI_NODATA", -5)):
                raise ConnectionFailure("No such host") from None
            raise ConnectionFailure("Unknown error") from None
        error: NutError = ConnectionFailure("Unknown error")
        for family, socktype, proto, _name, addr in infos:
            try:
                sock = _socket.socket(family, socktype, proto)
            except OSError as e:
                error = ConnectionFailure(f"socket failure: {os.strerror(e.errno)}")
                continue
            try:
                sock.settimeout(self.connect_timeout)
                sock.connect(addr)
                sock.settimeout(self.timeout)
            except OSError as e:
                sock.close()
                msg = os.strerror(e.errno) if e.errno else "Connection timed out"
                error = ConnectionFailure(f"Connection failure: {msg}")
                continue
            # Requests are written whole and at once; replies are ACKed at once so a
            # server doing one write() per line is never held by the 40 ms delayed ACK.
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            self.sock = sock
            self._buf = LineBuffer()
            self.tls_active = False
            break
        else:
            raise error
        if self.tls_mode:
            self.starttls(required=self.tls_mode == "force")

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    def send(self, data: bytes) -> None:
        if self.sock is None:
            raise ConnectionFailure("Driver not connected")  # C's message for fd < 0
        try:
            self.sock.sendall(data)
        except OSError as e:
            self.close()
            raise ConnectionFailure(f"Write error: {os.strerror(e.errno or 0)}") from None

    def readline(self, timeout: float | None = -1.0) -> str:
        """One reply line without its LF."""
        line = self._buf.pop_line()
        if line is not None:
            return line
        if self.sock is None:
            raise ConnectionFailure("Driver not connected")
        sock = self.sock
        if timeout != -1.0:
            sock.settimeout(timeout)
        quickack = getattr(_socket, "TCP_QUICKACK", None)
        try:
            while True:
                if quickack is not None:
                    sock.setsockopt(_socket.IPPROTO_TCP, quickack, 1)
                try:
                    data = sock.recv(_RECV_SIZE)
                except TimeoutError:  # C's select() timeout reads as a hang-up
                    self.close()
                    raise ConnectionFailure("Server disconnected") from None
                except OSError as e:
                    self.close()
                    raise ConnectionFailure(f"Read error: {os.strerror(e.errno or 0)}") from None
                if not data:
                    self.close()
                    raise ConnectionFailure("Server disconnected")
                self._buf.feed(data)
                line = self._buf.pop_line()
                if line is not None:
                    return line
        finally:
            if timeout != -1.0 and self.sock is not None:
                self.sock.settimeout(self.timeout)

    def request(self, data: bytes) -> str:
        """Send one request line, return the first reply line."""
        self.send(data)
        return self.readline()

    # -- primitives used by _Api --------------------------------------------------------

    def get(self, *query: str) -> list[str]:
        return parse_get(self.request(build_request("GET", *query)), query)

    def list(self, *query: str, lenient: bool = False) -> list[list[str]]:
        """Item words of ``LIST <query>``. ``lenient``: a failure after ``BEGIN LIST``
        (an ERR or bad line, a hang-up) just ends the list, as the C programs' loops do."""
        self.send(build_request("LIST", *query))
        reply = ListReply(query)
        try:
            while not reply.feed(self.readline()):
                pass
        except NutError:
            if not (lenient and reply.begun):
                raise
        return reply.items

    def _get(self, query, post):
        return post(self.get(*query))

    def _list(self, query, post):
        return post(self.list(*query))

    def _simple(self, data: bytes, post):
        return post(self.request(data))

    def _simple_seq(self, requests: list[bytes], post):
        result = None
        for data in requests:
            result = post(self.request(data))
        return result

    # -- actions with tracking ----------------------------------------------------------

    def set_var(self, ups: str, var: str, value: str, *, wait: bool = False,
                timeout: float = DEFAULT_TRACKING_TIMEOUT, interval: float = 1.0) -> str:
        """``SET VAR``; returns ``"OK"``, or with ``wait`` the final tracking result
        (``SUCCESS``, ``ERR ...``); raises ``ServerError`` on refusal."""
        if wait:
            self.set_tracking(True)
        tid = _ok_or_tracking(self.request(build_value_request("SET", "VAR", ups, var, value)))
        return self.wait_tracking(tid, timeout, interval) if (wait and tid) else "OK"

    def instcmd(self, ups: str, cmd: str, param: str | None = None, *, wait: bool = False,
                timeout: float = DEFAULT_TRACKING_TIMEOUT, interval: float = 1.0) -> str:
        if wait:
            self.set_tracking(True)
        args = (ups, cmd) if param is None else (ups, cmd, param)
        tid = _ok_or_tracking(self.request(build_request("INSTCMD", *args)))
        return self.wait_tracking(tid, timeout, interval) if (wait and tid) else "OK"

    def wait_tracking(self, tracking_id: str, timeout: float = DEFAULT_TRACKING_TIMEOUT,
                      interval: float = 1.0) -> str:
        """Poll ``GET TRACKING`` until not ``PENDING``; ``TimeoutError`` after ``timeout``."""
        import time
        deadline = time.monotonic() + timeout
        while True:
            status = self.get_tracking(tracking_id)
            if not status.startswith("PENDING"):
                return status
            if time.monotonic() + interval > deadline:
                raise TimeoutError("Can't receive status tracking information: timeout")
            time.sleep(interval)

    def logout(self) -> None:
        try:
            self.request(b"LOGOUT\n")
        except NutError:
            pass
        self.close()

    # -- TLS ----------------------------------------------------------------------------

    def starttls(self, required: bool = True) -> bool:
        """Send STARTTLS and wrap the socket. Refused by upsd: ``TLSError`` when
        ``required`` (before any credential was sent), else False and stay in clear."""
        line = self.request(b"STARTTLS\n")
        if not line.startswith("OK STARTTLS"):
            if required:
                self.close()
                raise TLSError(f"SSL is not available (upsd said: {line})")
            return False
        # Only now: a refused STARTTLS (the usual case) must not cost the ssl import.
        try:
            context = tls_context(self.certpath, self.certverify, self.certfile)
        except TLSError:
            self.close()
            raise
        import socket as socket_module
        plain = socket_module.socket(fileno=self.sock.detach())
        server_name = self.certname or self.host
        try:
            self.sock = context.wrap_socket(
                plain, server_hostname=server_name if context.check_hostname else None)
        except Exception as e:  # ssl.SSLError, certificate errors, handshake EOF
            plain.close()
            self.sock = None
            raise TLSError(f"SSL error: {e}") from None
        self.tls_active = True
        return True


def tls_context(certpath, certverify, certfile):
    """The client TLS context for the sync and async clients; ``TLSError`` on failure."""
    from ..security import tls
    try:
        return tls.client_context(certpath, certverify, certfile)
    except Exception as e:  # TLSConfigError, unreadable CA/cert files
        raise TLSError(f"SSL error: {e}") from None


# ---------------------------------------------------------------------------------------
# PyNUT compatibility


class PyNUTClient:
    """Same constructor and methods as NUT's ``PyNUT.PyNUTClient`` (scripts/python).

    Dictionaries are keyed by ``bytes`` and hold ``bytes`` values like PyNUT's; errors are
    ``PyNUTError`` whose text is upsd's ``ERR ...`` line. Values are un-escaped (PyNUT
    returned the escaped text)."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, login=None,
                 password=None, debug: bool = False, timeout: float = 5,
                 connect_now: bool = True, **tls_kwargs) -> None:
        self._host, self._port, self._login, self._password = host, port, login, password
        self._debug = debug
        self._timeout = timeout
        self._tls = "force" if tls_kwargs.get("force_ssl") else (
            "try" if tls_kwargs.get("use_ssl") else False)
        self._certverify = bool(tls_kwargs.get("cert_verify"))
        self._certpath = tls_kwargs.get("ca_file") or tls_kwargs.get("ca_path")
        self._client: Client | None = None
        if connect_now:
            self.connect()

    def connect(self) -> None:
        try:
            self._client = Client(self._host, self._port, self._timeout, tls=self._tls,
                                  certverify=self._certverify, certpath=self._certpath)
            if self._login is not None:
                _ok_pynut(self._client.request(build_request("USERNAME", self._login)))
            if self._password is not None:
                _ok_pynut(self._client.request(build_request("PASSWORD", self._password)))
        except ServerError as e:
            raise PyNUTError(e.reply) from None

    def disconnect(self) -> None:
        if self._client is not None:
            self._client.logout()
            self._client = None

    def __del__(self) -> None:
        try:
            if self._client is not None:
                self._client.close()
        except Exception:
            pass

    def _call(self, fn, *args):
        if self._debug:
            print(f"[DEBUG] {fn.__name__}{args}")
        try:
            return fn(*args)
        except ServerError as e:
            raise PyNUTError(e.reply) from None

    @staticmethod
    def _b(text: str) -> bytes:
        return text.encode("latin-1", "replace")

    def GetUPSList(self) -> dict:
        ups = self._call(self._client.list_ups)
        return {self._b(k): self._b(v) for k, v in ups.items()}

    def GetUPSNames(self) -> list:
        return list(self._call(self._client.list_ups))

    def GetUPSVars(self, ups: str = "") -> dict:
        return {self._b(k): self._b(v) for k, v in self._call(self._client.list_vars, ups).items()}

    def CheckUPSAvailable(self, ups: str = "") -> bool:
        try:
            self._client.list_cmds(ups)
        except ServerError:
            return False
        return True

    def GetUPSCommands(self, ups: str = "") -> dict:
        result = {}
        for cmd in self._call(self._client.list_cmds, ups):
            try:
                desc = self._client.get_cmddesc(ups, cmd)
            except ServerError:
                desc = cmd
            result[self._b(cmd)] = self._b(desc)
        return result

    def GetRWVars(self, ups: str = "") -> dict:
        return {self._b(k): self._b(v) for k, v in self._call(self._client.list_rw, ups).items()}

    def SetRWVar(self, ups: str = "", var: str = "", value: str = "",
                 wait_interval_sec=None, wait_max_count=None):
        """``"OK"``; with both wait arguments >= 1, tracking is used and the result is
        ``"OK"`` on SUCCESS, else the ``TrackingID`` (as PyNUT does)."""
        return self._action(build_value_request("SET", "VAR", ups, var, value),
                            wait_interval_sec, wait_max_count)

    def RunUPSCommand(self, ups: str = "", command: str = "", wait_interval_sec=None,
                      wait_max_count=None):
        return self._action(build_request("INSTCMD", ups, command), wait_interval_sec,
                            wait_max_count)

    def _action(self, request: bytes, interval, count):
        wait = bool(interval and count and interval >= 1 and count >= 1)
        if wait:
            self.EnableTrackingModeOnce()
        try:
            tid = _ok_or_tracking(self._client.request(request))
        except ServerError as e:
            raise PyNUTError(e.reply) from None
        if tid is None:
            return "OK"
        if wait and self.WaitTrackingResult(tid, interval, count):
            return "OK"
        return TrackingID(tid)

    def SetTrackingMode(self, value="") -> str | None:
        """``'ON'``/``'OFF'`` (or True/False); returns the mode set, None if refused."""
        value = {"True": "ON", "False": "OFF"}.get(str(value), str(value))
        if value not in ("ON", "OFF"):
            return None
        try:
            self._client.set_tracking(value == "ON")
        except NutError:
            self._tracking = None
            return None
        self._tracking = value
        return value

    def EnableTrackingModeOnce(self) -> bool:
        return getattr(self, "_tracking", None) == "ON" or self.SetTrackingMode("ON") == "ON"

    def GetTrackingResult(self, tracking_id="") -> str:
        """``PENDING`` or ``SUCCESS``; other results raise ``PyNUTError("ERR ...")``."""
        status = self._client.get_tracking(str(tracking_id))
        if status in ("PENDING", "SUCCESS"):
            return status
        raise PyNUTError(status)

    def WaitTrackingResult(self, tracking_id="", wait_interval_sec=1, wait_max_count=10):
        """True on SUCCESS, False when still pending after the tries; ERR raises."""
        import time
        if not str(tracking_id).strip() or not wait_interval_sec or wait_interval_sec < 1 \
                or not wait_max_count or wait_max_count < 1:
            return None
        for _ in range(int(wait_max_count)):
            if self.GetTrackingResult(tracking_id) == "SUCCESS":
                return True
            time.sleep(wait_interval_sec)
        return False

    def isValidProtocolVersion(self, version_re=None) -> bool:
        try:
            result = self._client.protver()
        except NutError:
            result = self._client.request(b"NETVER\n")
        if version_re is not None:
            import re
            return re.match(version_re, result) is not None
        major, dot, minor = result.partition(".")
        return major.isdigit() and (not dot or minor.isdigit())

    def GetVariableType(self, ups: str = "", var: str = "") -> str:
        return " ".join(self._call(self._client.get_type, ups, var))

    def GetVariableDescription(self, ups: str = "", var: str = "") -> str:
        return self._call(self._client.get_desc, ups, var)

    def GetEnumList(self, ups: str = "", var: str = "") -> list:
        return self._call(self._client.list_enum, ups, var)

    def GetRangeList(self, ups: str = "", var: str = "") -> list:
        return [{"min": lo, "max": hi} for lo, hi in self._call(self._client.list_range, ups, var)]

    def GetDeviceNumLogins(self, ups: str = "") -> int:
        return self._call(self._client.num_logins, ups)

    def DeviceLogin(self, ups: str = "") -> str:
        self._call(self._client.login, ups)
        return "OK"

    def becomePrimary(self, ups: str = "") -> str:
        self._call(self._client.primary, ups)
        return "OK"

    def FSD(self, ups: str = "", becomePrimaryFirst: bool = True) -> str:
        if becomePrimaryFirst:
            self.becomePrimary(ups)
        self._call(self._client.fsd, ups)
        return "OK"

    def help(self) -> bytes:
        return self._b(self._client.help() + "\n")

    def ver(self) -> bytes:
        return self._b(self._client.ver() + "\n")

    def ListClients(self, ups: str | None = None) -> dict:
        names = [ups] if ups else self.GetUPSNames()
        if ups and ups not in self.GetUPSNames():
            raise PyNUTError("ERR UNKNOWN-UPS")
        result: dict = {}
        for name in names:
            clients = self._call(self._client.list_clients, name)
            if clients:
                result[self._b(name)] = [self._b(c) for c in clients]
        return result


class TrackingID(str):
    """A tracking id as PyNUT returns it when a tracked action is not known to be done."""

    def id(self) -> str:
        return str(self)


def _ok_pynut(line: str) -> None:
    if not line.startswith("OK"):
        raise PyNUTError(line)
