"""hosts_access(5) evaluation as Debian's libwrap (tcp-wrappers 7.6.q) does it, for upsd.

C upsd (libwrap builds such as Debian's) asks libwrap before every command that needs a
logged-in user: daemon = ``upsd``, client = the peer of the TCP socket, user = the NUT user
name. This module gives the same verdicts without linking libwrap:

* ``parse_table(text)`` turns one hosts.allow/hosts.deny text into rules (pure, no I/O);
* ``evaluate(allow_rules, deny_rules, request)`` is the verdict (pure, except for ``/file``
  patterns, which libwrap also reads at match time);
* ``hosts_access(...)`` reads the two files (parsed once per file version, keyed by mtime)
  and resolves the client host name only when a rule needs it.

Semantics follow libwrap as Debian builds it (checked pattern by pattern against
``libwrap.so.0``'s ``hosts_ctl`` by ``tests/test_tcpwrappers_libwrap.py``):

* allow table first, then deny table, default allow; a missing file has no rules; a deny
  file that exists but cannot be read denies everyone (libwrap fails closed there);
* lines: ``\\``-newline continues a line, a line whose *first* character is ``#`` is a
  comment (``#`` later in a line is an ordinary list word), ``daemons : clients [:
  options]``; a line without ``:`` is skipped;
* a logical line longer than 2047 bytes, or a last line without its newline, ends the
  table with an error: in hosts.allow it grants nothing more, in hosts.deny it denies
  everyone not already decided (Debian's libwrap does exactly this);
* lists split on blanks and commas; ``EXCEPT`` nests right to left;
* all comparisons are ASCII case-insensitive;
* options (hosts_options(5), Debian builds with PROCESS_OPTIONS): ``allow``/``deny`` decide
  and must be last; a malformed option field denies (libwrap "jumps" to deny on it);
  ``severity``, ``rfc931``, ``keepalive``, ``linger``, ``banners``, ``nice``, ``umask``,
  ``user``, ``group``, ``setenv`` and ``spawn`` are checked for syntax and otherwise ignored
  (they would change or fork the daemon); ``twist`` denies, as libwrap does in a resident
  process.
* ``@netgroup`` patterns never match (NIS is not consulted).
"""

from __future__ import annotations

import os
import re
import socket
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator

from ..common.cnum import atoi

UNKNOWN = "unknown"
PARANOID = "paranoid"
ALLOW_PATH = "/etc/hosts.allow"
DENY_PATH = "/etc/hosts.deny"

_LINE_BUFFER = 2048  # libwrap's logical line buffer, including the terminating NUL
_LIST_SEPARATORS = re.compile(r"[, \t\r\n]+")
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}

Warn = Callable[[str], None]


def _lower(s: str) -> str:
    return s.translate(_ASCII_LOWER)


class _Verdict(Exception):
    """An option decided the outcome (libwrap longjmps out of table matching)."""

    def __init__(self, permit: bool, why: str) -> None:
        super().__init__(why)
        self.permit = permit


# ----------------------------------------------------------------------------- request


class _Subject:
    """A string being matched (daemon, user, address or host name), with its lowered
    form and numeric address forms computed once per request."""

    __slots__ = ("text", "low", "_v4", "_v6")
    _UNSET = object()

    def __init__(self, text: str) -> None:
        self.text = text
        self.low = _lower(text)
        self._v4 = self._v6 = self._UNSET

    @property
    def v4(self) -> int | None:
        if self._v4 is self._UNSET:
            self._v4 = _dot_quad(self.text)
        return self._v4

    @property
    def v6(self) -> int | None:
        if self._v6 is self._UNSET:
            self._v6 = _ipv6(self.text)
        return self._v6


class NameLookupNeeded(Exception):
    """Raised by a name callable that refuses to look up (see ``hosts_access_quick``)."""


class _LazySubject:
    """A host name looked up on first use, as libwrap looks names up only when a rule
    needs one."""

    def __init__(self, value: str | Callable[[], str] | None) -> None:
        self._value = value
        self._subject: _Subject | None = None

    def get(self) -> _Subject:
        if self._subject is None:
            v = self._value
            if callable(v):
                try:
                    v = v()
                except NameLookupNeeded:
                    raise
                except Exception:  # a resolver failure is an unknown name, as in libwrap
                    v = UNKNOWN
            self._subject = _Subject(v or UNKNOWN)
        return self._subject


@dataclass
class Request:
    """One access question. ``client_name``/``server_name`` may be a string or a callable
    that resolves it (called at most once, only if a rule needs the name)."""

    daemon: str
    client_addr: str = UNKNOWN
    user: str | None = None
    client_name: str | Callable[[], str] | None = None
    server_addr: str = UNKNOWN
    server_name: str | Callable[[], str] | None = None

    def __post_init__(self) -> None:
        self._daemon = _Subject(self.daemon)
        self._user = _Subject(self.user or UNKNOWN)
        self._client = (_Subject(_plain_addr(self.client_addr or UNKNOWN)),
                        _LazySubject(self.client_name))
        self._server = (_Subject(_plain_addr(self.server_addr or UNKNOWN)),
                        _LazySubject(self.server_name))


def _plain_addr(addr: str) -> str:
    """IPv4-mapped IPv6 addresses are matched as IPv4 (libwrap converts them too)."""
    if _lower(addr[:7]) == "::ffff:" and _dot_quad(addr[7:]) is not None:
        return addr[7:]
    return addr


# ----------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Rule:
    daemons: tuple[str, ...]
    clients: tuple[str, ...]
    options: str | None
    line: int  # number of the physical line that ends the rule, as libwrap reports it
    error: str = ""  # set on the marker where libwrap stops reading the table with an error
    _daemon_pats: tuple = field(default=(), compare=False, repr=False)
    _client_pats: tuple = field(default=(), compare=False, repr=False)


def _logical_lines(data: bytes) -> Iterator[tuple[bytes, int, bool]]:
    """(text, line number, usable) as libwrap's xgets()+fgets() deliver them: joined
    continuation lines; a line that fills the buffer or ends the file without a newline
    is unusable."""
    pos, end, lineno = 0, len(data), 0
    while pos < end:
        buf = b""
        space = _LINE_BUFFER
        while pos < end and space > 1:
            nl = data.find(b"\n", pos, pos + space - 1)
            chunk = data[pos:nl + 1] if nl >= 0 else data[pos:pos + space - 1]
            pos += len(chunk)
            if chunk.endswith(b"\n"):
                lineno += 1
                if chunk.endswith(b"\\\n"):
                    buf += chunk[:-2]
                    space -= len(chunk) - 2
                    continue
                yield buf + chunk, lineno, True
                break
            buf += chunk
            space -= len(chunk)
        else:
            if buf:
                yield buf, lineno, False
            continue


def _split_at(s: str, delimiter: str) -> tuple[str, str | None]:
    """libwrap's split_at with Debian's IPv6 patch: delimiters inside [...] don't count."""
    i = s.find(delimiter)
    if i < 0:
        return s, None
    if "[" not in s[:i]:
        return s[:i], s[i + 1:]
    depth = 0
    for i, ch in enumerate(s):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == delimiter and depth == 0:
            return s[:i], s[i + 1:]
    return s, None


def _words(s: str) -> tuple[str, ...]:
    return tuple(w for w in _LIST_SEPARATORS.split(s) if w)


def parse_table(text: str | bytes, warn: Warn | None = None, path: str = "") -> list[Rule]:
    """Rules of one access-control file, in order, with their patterns compiled."""
    data = text.encode("latin-1", "replace") if isinstance(text, str) else text
    rules: list[Rule] = []
    for raw, lineno, usable in _logical_lines(data):
        line = raw.decode("latin-1")
        if not usable:
            why = "missing newline or line too long"
            if warn:
                warn(f"{path}, line {lineno}: {why}")
            rules.append(Rule((), (), None, lineno, why))
            break
        if line.startswith("#") or not line.strip(" \t\r\n"):
            continue
        daemons, rest = _split_at(line, ":")
        if rest is None:
            if warn:
                warn(f"{path}, line {lineno}: missing \":\" separator")
            continue
        clients, options = _split_at(rest, ":")
        if options is not None:
            options = options.rstrip("\n")
        dw, cw = _words(daemons), _words(clients)
        rules.append(Rule(dw, cw, options, lineno, "",
                          tuple(_compile_server(w) for w in dw),
                          tuple(_compile_client(w) for w in cw)))
    return rules


# ----------------------------------------------------------------------------- patterns


def _dot_quad(s: str) -> int | None:
    """libwrap's dot_quad_addr: exactly four dot-separated runs, then inet_addr (which
    takes octal/hex parts); 255.255.255.255 is indistinguishable from an error there."""
    if s.count(".") < 3 or len([r for r in s.split(".") if r]) != 4 or "\0" in s:
        return None
    try:
        value = int.from_bytes(socket.inet_aton(s), "big")
    except (OSError, ValueError):
        return None
    return None if value == 0xFFFFFFFF else value


def _cidr_mask(s: str) -> int | None:
    m = re.match(r"\d+", s)
    if not m:
        return None
    bits = int(m.group())
    if not 1 <= bits <= 32:
        return None
    return (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF


def _ipv6(s: str) -> int | None:
    """An IPv6 address as an integer, parsed by inet_pton as libwrap does."""
    if ":" not in s:
        return None
    s = s.split("%", 1)[0]  # scope ids are not compared
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, s), "big")
    except (OSError, ValueError):
        return None


def _numeric_host(s: str) -> tuple[int, bytes] | None:
    """(address family, packed address) of a numeric IPv4 or IPv6 address, else None."""
    s = s.split("%", 1)[0]
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return family, socket.inet_pton(family, s)
        except (OSError, ValueError):
            continue
    return None


# string patterns (libwrap's string_match), compiled: (kind, data)
_S_WILD, _S_SUFFIX, _S_ALL, _S_KNOWN, _S_PREFIX, _S_V6, _S_EXACT = range(7)
# host patterns (host_match): (kind, ...)
_H_NETGROUP, _H_FILE, _H_KNOWN, _H_LOCAL, _H_MASK, _H_OTHER = range(6)
_EXCEPT = ("EXCEPT",)


def _compile_str(tok: str) -> tuple:
    if "*" in tok or "?" in tok:
        return _S_WILD, _lower(tok)
    low = _lower(tok)
    if tok.startswith("."):
        return _S_SUFFIX, low
    if low == "all":
        return _S_ALL, None
    if low == "known":
        return _S_KNOWN, None
    if tok.endswith("."):
        return _S_PREFIX, low
    if tok.startswith("[") and tok.endswith("]") and len(tok) >= 2:
        return _S_V6, _ipv6(tok[1:-1])
    return _S_EXACT, low


def wildcard_match(pattern: str, text: str) -> bool:
    """Whether all of ``text`` matches ``pattern``'s ``*`` (any run) and ``?`` (any one
    character). The name matched may come from a client's reverse DNS, so the cost must
    not explode the way a backtracking matcher (or a regular expression built from the
    pattern) does on many stars: only the latest star is ever retried, which bounds the
    work by len(pattern) * len(text)."""
    p = t = 0
    star = -1  # position of the latest star in pattern
    resume = 0  # where in text that star's run ends for now
    while t < len(text):
        if p < len(pattern) and pattern[p] == "*":
            star, resume = p, t
            p += 1
        elif p < len(pattern) and (pattern[p] == "?" or pattern[p] == text[t]):
            p += 1
            t += 1
        elif star >= 0:
            resume += 1
            p, t = star + 1, resume
        else:
            return False
    return pattern[p:].strip("*") == ""


def _smatch(pat: tuple, subj: _Subject) -> bool:
    kind, data = pat
    if kind == _S_EXACT:
        return subj.low == data
    if kind == _S_ALL:
        return True
    if kind == _S_WILD:
        return wildcard_match(data, subj.low)
    if kind == _S_SUFFIX:
        return len(subj.low) > len(data) and subj.low.endswith(data)
    if kind == _S_KNOWN:
        return subj.low != UNKNOWN
    if kind == _S_PREFIX:
        return subj.low.startswith(data)
    return data is not None and subj.v6 == data  # _S_V6


def _compile_host(tok: str) -> tuple:
    if tok.startswith("@"):
        return (_H_NETGROUP, tok)
    if tok.startswith("/"):
        return (_H_FILE, tok)
    low = _lower(tok)
    if low == "known":
        return (_H_KNOWN,)
    if low == "local":
        return (_H_LOCAL,)
    net_tok, mask_tok = _split_at(tok, "/")
    if mask_tok is not None:
        net4 = _dot_quad(net_tok)
        mask4 = _dot_quad(mask_tok) if "." in mask_tok else _cidr_mask(mask_tok)
        v4 = (net4, mask4) if net4 is not None and mask4 is not None else None
        v6 = None
        if net_tok.startswith("[") and net_tok.endswith("]"):
            net6, bits = _ipv6(net_tok[1:-1]), atoi(mask_tok)
            if net6 is not None and 0 <= bits <= 128:
                mask = ((1 << 128) - 1) ^ ((1 << (128 - bits)) - 1)
                v6 = (net6 & mask, mask)
        return (_H_MASK, v4, v6)
    return (_H_OTHER, _compile_str(tok), tok.lstrip("0123456789./") != "")


def _known_name(name: _Subject) -> bool:
    return name.low != UNKNOWN and name.low != PARANOID


def _hmatch(pat: tuple, addr: _Subject, name: _LazySubject, warn: Warn | None,
            depth: int = 0) -> bool:
    kind = pat[0]
    if kind == _H_OTHER:
        return _smatch(pat[1], addr) or (pat[2] and _smatch(pat[1], name.get()))
    if kind == _H_MASK:
        a4 = addr.v4
        if a4 is not None:
            return pat[1] is not None and (a4 & pat[1][1]) == pat[1][0]
        a6 = addr.v6
        return pat[2] is not None and a6 is not None and (a6 & pat[2][1]) == pat[2][0]
    if kind == _H_KNOWN:
        return addr.low != UNKNOWN and _known_name(name.get())
    if kind == _H_LOCAL:
        n = name.get()
        return "." not in n.text and _known_name(n)
    if kind == _H_FILE:
        return _hostfile_match(pat[1], addr, name, warn, depth)
    if warn:
        warn(f"netgroup {pat[1]} not supported: no match")
    return False


def _hostfile_match(path: str, addr: _Subject, name: _LazySubject, warn: Warn | None,
                    depth: int) -> bool:
    if depth > 8:  # a file listing itself would loop forever in libwrap; stop instead
        return False
    try:
        with open(path, "rb") as f:
            words = f.read().decode("latin-1").split()
    except FileNotFoundError:
        return False
    except OSError as e:
        if warn:
            warn(f"open {path}: {e.strerror}")
        return False
    except ValueError:  # a NUL byte in the table's pattern: no such file either
        return False
    return any(_hmatch(_compile_host(w), addr, name, warn, depth + 1) for w in words)


def _split_at_first_after(tok: str, delimiter: str) -> tuple[str, str | None]:
    """split_at(tok + 1, '@'): a leading '@' (netgroup) is not a separator."""
    rest_head, rest = _split_at(tok[1:], delimiter)
    if rest is None:
        return tok, None
    return tok[0] + rest_head, rest


def _compile_server(tok: str) -> tuple:
    """daemon or daemon@host"""
    if _lower(tok) == "except":
        return _EXCEPT
    head, host = _split_at_first_after(tok, "@")
    return (_compile_str(head), _compile_host(host) if host is not None else None)


def _compile_client(tok: str) -> tuple:
    """host or user@host"""
    if _lower(tok) == "except":
        return _EXCEPT
    head, host = _split_at_first_after(tok, "@")
    if host is None:
        return (None, _compile_host(tok))
    return (_compile_str(head), _compile_host(host))


def _list_match(pats: tuple, start: int, match: Callable[[tuple], bool]) -> bool:
    i, n = start, len(pats)
    while i < n:
        pat = pats[i]
        if pat is _EXCEPT:
            return False
        if match(pat):
            while i < n and pats[i] is not _EXCEPT:
                i += 1
            return i >= n or not _list_match(pats, i + 1, match)
        i += 1
    return False


# ----------------------------------------------------------------------------- options

_NEED_ARG, _OPT_ARG, _USE_LAST, _NO_ARG = 1, 2, 4, 8
_OPTIONS = {
    "user": _NEED_ARG, "group": _NEED_ARG, "umask": _NEED_ARG, "linger": _NEED_ARG,
    "keepalive": _NO_ARG, "spawn": _NEED_ARG, "twist": _NEED_ARG | _USE_LAST,
    "rfc931": _OPT_ARG, "setenv": _NEED_ARG, "nice": _OPT_ARG, "severity": _NEED_ARG,
    "allow": _NO_ARG | _USE_LAST, "deny": _NO_ARG | _USE_LAST, "banners": _NEED_ARG,
}
_SYSLOG_FACILITIES = {"auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail",
                      "news", "security", "syslog", "user", "uucp", "local0", "local1",
                      "local2", "local3", "local4", "local5", "local6", "local7"}
_SYSLOG_LEVELS = {"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
                  "panic", "error", "warn"}


def _option_fields(options: str) -> list[str]:
    """Split at ':' where '\\:' is a literal colon, as libwrap's get_field does."""
    fields, cur, i = [], [], 0
    while i < len(options):
        ch = options[i]
        if ch == "\\" and i + 1 < len(options) and options[i + 1] == ":":
            cur.append(":")
            i += 2
            continue
        if ch == ":":
            fields.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    fields.append("".join(cur))
    return fields


def _check_value(key: str, value: str | None) -> None:
    if key in ("umask",) and not re.fullmatch(r"[0-7]+", value or ""):
        raise _Verdict(False, f"bad umask value: \"{value}\"")
    if key in ("nice", "linger") and value is not None and not re.fullmatch(
            r"\s*[+-]?\d+", value):
        raise _Verdict(False, f"bad {key} value: \"{value}\"")
    if key == "rfc931" and value is not None and atoi(value) <= 0:
        raise _Verdict(False, f"bad rfc931 timeout: \"{value}\"")
    if key == "severity":
        fac, _, lvl = _lower(value or "").rpartition(".")
        if lvl not in _SYSLOG_LEVELS or (fac and fac not in _SYSLOG_FACILITIES):
            raise _Verdict(False, f"bad syslog facility or severity: \"{value}\"")


def _process_options(options: str, warn: Warn | None) -> None:
    """Raise _Verdict for allow/deny/errors; return when only ignored options were
    given (the table's own verdict stands)."""
    fields = _option_fields(options)
    for idx, opt in enumerate(fields):
        opt = opt.strip(" \t\r\n")
        m = re.match(r"([^ \t\r\n=]*)[ \t\r\n]*=?[ \t\r\n]*(.*)\Z", opt, re.DOTALL)
        key, value = m.group(1), m.group(2) or None
        if not key:
            raise _Verdict(False, "missing option name")
        flags = _OPTIONS.get(_lower(key))
        if flags is None:
            raise _Verdict(False, f"bad option name: \"{key}\"")
        key = _lower(key)
        if value is None and flags & _NEED_ARG:
            raise _Verdict(False, f"option \"{key}\" requires value")
        if value is not None and flags & _NO_ARG:
            raise _Verdict(False, f"option \"{key}\" requires no value")
        if idx + 1 < len(fields) and flags & _USE_LAST:
            raise _Verdict(False, f"option \"{key}\" must be at end")
        _check_value(key, value)
        if key == "allow":
            raise _Verdict(True, "allow option")
        if key in ("deny", "twist"):
            raise _Verdict(False, f"{key} option")
        if warn and key in ("spawn", "user", "group", "setenv", "umask", "nice"):
            warn(f"hosts_options \"{key}\" is not supported by nutpy and was ignored")


# ----------------------------------------------------------------------------- verdict


@dataclass
class Decision:
    allowed: bool
    table: str  # "allow", "deny" or "" (no rule matched)
    line: int = 0
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


def _table_match(rules: list[Rule] | None, req: Request, warn: Warn | None) -> Rule | None:
    """The first rule that matches, or the error marker if reading stops before one."""
    daemon, user = req._daemon, req._user
    caddr, cname = req._client
    saddr, sname = req._server

    def server_match(pat: tuple) -> bool:
        return _smatch(pat[0], daemon) and (pat[1] is None or
                                            _hmatch(pat[1], saddr, sname, warn))

    def client_match(pat: tuple) -> bool:
        return _hmatch(pat[1], caddr, cname, warn) and (pat[0] is None or
                                                       _smatch(pat[0], user))

    for rule in rules or ():
        if rule.error:
            return rule
        if (_list_match(rule._daemon_pats, 0, server_match)
                and _list_match(rule._client_pats, 0, client_match)):
            return rule
    return None


def evaluate(allow: list[Rule] | None, deny: list[Rule] | None, req: Request,
             warn: Warn | None = None, deny_unreadable: bool = False) -> Decision:
    """The hosts_access verdict for ``req``. ``deny_unreadable``: the deny file exists but
    could not be read, which denies unless the allow table grants access."""
    for table, rules in (("allow", allow), ("deny", deny)):
        rule = _table_match(rules, req, warn)
        if rule is not None and rule.error:
            if table == "deny":
                return Decision(False, table, rule.line, rule.error)
            continue
        if rule is not None:
            if rule.options is not None:
                try:
                    _process_options(rule.options, warn)
                except _Verdict as v:
                    return Decision(v.permit, table, rule.line, str(v))
            return Decision(table == "allow", table, rule.line, "matched")
        if table == "deny" and deny_unreadable:
            return Decision(False, "deny", 0, "deny table unreadable")
    return Decision(True, "", 0, "no match")


# ----------------------------------------------------------------------------- files


class TableCache:
    """Parsed tables by path, re-parsed when the file's mtime, size or inode changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[str, tuple[tuple, list[Rule]]] = {}

    def load(self, path: str, warn: Warn | None = None) -> tuple[list[Rule], bool]:
        """(rules, unreadable). A missing file has no rules."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return [], False
        except OSError:
            return [], True
        key = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)
        with self._lock:
            cached = self._tables.get(path)
        if cached and cached[0] == key:
            return cached[1], False
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return [], False
        except IsADirectoryError:
            return [], False  # libwrap: fopen works, the first read fails: no rules
        except OSError as e:
            if warn:
                warn(f"cannot open {path}: {e.strerror}")
            return [], True
        rules = parse_table(data, warn, path)
        with self._lock:
            self._tables[path] = (key, rules)
        return rules, False


_cache = TableCache()


def resolve_hostname(addr: str) -> str:
    """The client host name as libwrap derives it: reverse lookup, then a forward lookup
    that must give the address back; ``unknown`` without a name, ``paranoid`` when the
    forward lookup does not confirm it. Blocking (DNS): call it off the event loop."""
    addr = _plain_addr(addr)
    ip = _numeric_host(addr)
    if ip is None:
        return UNKNOWN
    family, packed = ip
    text = socket.inet_ntop(family, packed)
    sa = (text, 0) if family == socket.AF_INET else (text, 0, 0, 0)
    try:
        name, _ = socket.getnameinfo(sa, socket.NI_NAMEREQD)
    except (OSError, UnicodeError):
        return UNKNOWN
    if _numeric_host(name) is not None:
        return PARANOID  # a PTR record holding an address is not a name
    try:
        infos = socket.getaddrinfo(name, None, family, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return PARANOID
    for info in infos:
        if _numeric_host(info[4][0]) == ip:
            return name
    return PARANOID


def hosts_access(daemon: str, client_addr: str, user: str | None = None,
                 client_name: str | None = None, allow_path: str = ALLOW_PATH,
                 deny_path: str = DENY_PATH, *, server_addr: str | None = None,
                 server_name: str | None = None, warn: Warn | None = None) -> bool:
    """libwrap's verdict for ``user`` at ``client_addr`` using ``daemon``. Host names
    are looked up (blocking DNS) only if a rule needs one and it was not given.
    ``server_addr`` is the local address of the connection (``daemon@host`` rules; C
    upsd knows it). Paths are relative to the current root, as in C (upsd reads them
    inside its chroot). From an event loop, ask ``hosts_access_quick`` first and run
    this in a worker thread only when it cannot answer."""
    return check(daemon, client_addr, user, client_name, allow_path, deny_path,
                 server_addr=server_addr, server_name=server_name, warn=warn).allowed


def _refuse_lookup() -> str:
    raise NameLookupNeeded()


def hosts_access_quick(daemon: str, client_addr: str, user: str | None = None,
                       allow_path: str = ALLOW_PATH, deny_path: str = DENY_PATH, *,
                       server_addr: str | None = None, warn: Warn | None = None) -> bool | None:
    """``hosts_access`` if the verdict needs no host name lookup, else None (then ask
    ``hosts_access`` off the event loop). Never blocks on DNS."""
    try:
        return check(daemon, client_addr, user, _refuse_lookup, allow_path, deny_path,  # type: ignore[arg-type]
                     server_addr=server_addr,
                     server_name=_refuse_lookup if server_addr else None,  # type: ignore[arg-type]
                     warn=warn).allowed
    except NameLookupNeeded:
        return None


def check(daemon: str, client_addr: str, user: str | None = None,
          client_name: str | None = None, allow_path: str = ALLOW_PATH,
          deny_path: str = DENY_PATH, *, server_addr: str | None = None,
          server_name: str | None = None, warn: Warn | None = None) -> Decision:
    """``hosts_access`` with the reason: which table and line decided."""
    allow, _ = _cache.load(allow_path, warn)
    deny, deny_unreadable = _cache.load(deny_path, warn)
    if not allow and not deny and not deny_unreadable:
        return Decision(True, "", 0, "no rules")
    name: str | Callable[[], str] = (client_name if client_name is not None
                                     else (lambda: resolve_hostname(client_addr)))
    sname: str | Callable[[], str] | None = server_name
    if sname is None and server_addr:
        sname = lambda: resolve_hostname(server_addr)  # noqa: E731
    req = Request(daemon, client_addr or UNKNOWN, user, name, server_addr or UNKNOWN, sname)
    return evaluate(allow, deny, req, warn, deny_unreadable)
