"""What upsd knows about each UPS, fed by its driver's socket messages (C ``state.c`` and
``sstate.c`` semantics): ``UpsData`` (variables and commands), ``Ups`` (one ups.conf section:
its data, link flags and LIST reply cache) and ``GetVarCache`` (GET VAR replies).

Pure: ``UpsData.apply(words)`` takes one tokenized driver line. Variable and command
names are matched case-insensitively and listed in case-insensitive order; values are
stored both raw and pconf-escaped (the escaped copy is what GET/LIST send).
"""

from __future__ import annotations

from typing import Callable

from ..common.cnum import atoi
from ..common.parseconf import Tokenizer, encode
from ..proto.sockproto import parse_driver_message, parse_flags


class Var:
    __slots__ = ("name", "raw", "value", "flags", "aux", "enums", "ranges")

    def __init__(self, name: str, raw: str) -> None:
        self.name = name
        self.raw = raw
        self.value = encode(raw)
        self.flags = 0
        self.aux = 0
        self.enums: list[str] = []  # escaped, insertion order
        self.ranges: list[tuple[int, int]] = []


class UpsData:
    """Variables and instant commands of one UPS plus the driver link's flags."""

    def __init__(self) -> None:
        self.vars: dict[str, Var] = {}  # key: lower-cased name
        self.cmds: dict[str, str] = {}  # lower -> stored spelling
        self.dumpdone = False
        self.data_ok = False
        self.version = 0  # bumped on every change, for reply caches
        self._sorted_vars: list[Var] | None = None
        self._sorted_cmds: list[str] | None = None

    def _changed(self, structure: bool = False) -> None:
        self.version += 1
        if structure:
            self._sorted_vars = None
            self._sorted_cmds = None

    # -- queries ---------------------------------------------------------------------
    def get(self, name: str) -> Var | None:
        return self.vars.get(name.lower())

    def sorted_vars(self) -> list[Var]:
        if self._sorted_vars is None:
            self._sorted_vars = [self.vars[k] for k in sorted(self.vars)]
        return self._sorted_vars

    def sorted_cmds(self) -> list[str]:
        if self._sorted_cmds is None:
            self._sorted_cmds = [self.cmds[k] for k in sorted(self.cmds)]
        return self._sorted_cmds

    def has_cmd(self, name: str) -> bool:
        return name.lower() in self.cmds

    # -- updates ---------------------------------------------------------------------
    def setinfo(self, name: str, raw: str) -> None:
        key = name.lower()
        var = self.vars.get(key)
        if var is None:
            self.vars[key] = Var(name, raw)
            self._changed(structure=True)
            return
        # C ignores a change only in letter case (strcasecmp on the raw value)
        if var.raw == raw or var.raw.lower() == raw.lower():
            return
        var.raw = raw
        var.value = encode(raw)
        self._changed()

    def apply(self, words: list[str]) -> tuple[bool, tuple[str, str] | None]:
        """One driver line. Returns (recognised, tracking update or None); an
        unrecognised line does not count as hearing from the driver."""
        msg = parse_driver_message(words)
        if msg is None:
            return False, None
        kind, name, args = msg
        if kind == "PONG":
            return True, None
        if kind == "DUMPDONE":
            self.dumpdone = True
        elif kind == "DATASTALE":
            self.data_ok = False
        elif kind == "DATAOK":
            self.data_ok = True
        elif kind == "SETINFO":
            self.setinfo(name, args[0])
        elif kind == "TRACKING":
            return True, (name, args[0])
        elif kind == "ADDCMD":
            if name.lower() not in self.cmds:
                self.cmds[name.lower()] = name
                self._changed(structure=True)
        elif kind == "DELCMD":
            if self.cmds.pop(name.lower(), None) is not None:
                self._changed(structure=True)
        elif kind == "DELINFO":
            if self.vars.pop(name.lower(), None) is not None:
                self._changed(structure=True)
        else:
            var = self.vars.get(name.lower())
            if var is not None:
                self._apply_to_var(var, kind, args)
        return True, None

    def _apply_to_var(self, var: Var, kind: str, args: tuple[str, ...]) -> None:
        """SETFLAGS, ADDENUM, DELENUM, SETAUX, ADDRANGE, DELRANGE on an existing variable
        (C drops them for an unknown one)."""
        if kind == "SETFLAGS":
            var.flags = parse_flags(args)
        elif kind == "ADDENUM":
            enc = encode(args[0])
            if enc in var.enums:
                return
            var.enums.append(enc)
        elif kind == "DELENUM":
            low = args[0].lower()
            i = next((i for i, enc in enumerate(var.enums) if enc.lower() == low), None)
            if i is None:
                return
            del var.enums[i]
        elif kind == "SETAUX":
            var.aux = atoi(args[0])
        else:  # ADDRANGE, DELRANGE
            lo, hi = atoi(args[0]), atoi(args[1])
            match = next((i for i, (a, b) in enumerate(var.ranges) if a == lo or b == hi), None)
            if kind == "ADDRANGE" and lo <= hi and match is None:
                var.ranges.append((lo, hi))
            elif kind == "DELRANGE" and match is not None:
                del var.ranges[match]
            else:
                return
        self._changed()


class Ups:
    """One ups.conf section as upsd sees it."""

    def __init__(self, name: str, socket_name: str, desc: str | None = None) -> None:
        self.name = name
        self.socket_name = socket_name  # "<driver>-<ups>" in the state path
        self.desc = desc
        self.data = UpsData()
        self.connected = False
        self.stale = False
        self.fsd = False
        self.numlogins = 0
        # Set by the daemon: queue bytes for the driver; False when that is impossible.
        self.driver_send: Callable[[bytes], bool] = lambda data: False
        self.retry_delay = 0.0  # seconds before the next try of the driver's socket
        self._cache: dict[tuple[int, str], bytes] = {}
        self._cache_version = -1

    # How soon to try the driver's socket again: a restarted driver's socket is back
    # within tens of milliseconds, so the first try comes soon after the link was lost;
    # tries then come a little further apart, never more than RETRY_MAX, so a driver that
    # comes back later is served again at most RETRY_MAX after its socket appears. A
    # failed connect to a Unix socket costs microseconds.
    # A driver that accepts and then hangs up at once (crash loop, wrong program on the
    # socket) is tried less and less often instead, up to FLAP_MAX apart.
    RETRY_FIRST = 0.05
    RETRY_MAX = 0.25
    FLAP_MAX = 5.0
    FLAP_LINK = 1.0  # a link that lasted less than this "dropped at once"

    def link_lost(self, lasted: float) -> float:
        """The link to the driver went down after ``lasted`` seconds: seconds until the
        first try to reconnect."""
        if lasted < self.FLAP_LINK:
            self.retry_delay = min(self.FLAP_MAX, max(self.RETRY_FIRST, self.retry_delay * 2))
        else:
            self.retry_delay = self.RETRY_FIRST
        return self.retry_delay

    def link_failed(self) -> float:
        """A try to connect failed: seconds until the next one."""
        self.retry_delay = min(self.RETRY_MAX, max(self.RETRY_FIRST, self.retry_delay * 2))
        return self.retry_delay

    def reset_data(self) -> None:
        """Fresh, empty state with ups.status WAIT (just connected, dump not yet done)."""
        self.data = UpsData()
        self.data.setinfo("ups.status", "WAIT")

    def cached(self, kind: int, echo: str, build: Callable[[], bytes]) -> bytes:
        version = self.data.version * 2 + (1 if self.fsd else 0)
        if version != self._cache_version or self.data is not self._cache_data:
            self._cache.clear()
            self._cache_version = version
            self._cache_data = self.data
        key = (kind, echo)
        out = self._cache.get(key)
        if out is None:
            if len(self._cache) > 64:
                self._cache.clear()
            out = self._cache[key] = build()
        return out

    _cache_data: UpsData | None = None


class GetVarCache:
    """GET VAR replies by request line (the hot path of upsmon-like clients). An entry is
    served only while the UPS, its data and its FSD flag are what they were when the reply
    was built; entries do not depend on the session.

    The key is the whole request as it came in: one physical line that a fresh tokenizer
    turns into exactly the words the reply was built from. ``remember`` checks that
    itself, so a reply can never be filed under a line that was only the tail of a
    longer request (a continued line, a split write) and then answer someone else's."""

    MAX_KEY = 512  # longer lines are not kept: they would let a client fill memory

    def __init__(self, ups_table: dict[str, Ups]) -> None:
        self._ups = ups_table  # the server's table, lower-case name -> Ups
        # raw request line -> GET VAR reply and the state it was computed from
        self._replies: dict[bytes, tuple] = {}

    def lookup(self, raw: bytes) -> bytes | None:
        """The reply to the request line ``raw`` (without its LF; a complete request on
        its own, with nothing of an earlier line pending) if it is a GET VAR answered
        before and nothing it depends on has changed since."""
        e = self._replies.get(raw)
        if e is None:
            return None
        reply, key, ups, data, version, fsd = e
        if (ups.data is data and data.version == version and ups.fsd == fsd
                and ups.connected and not ups.stale and self._ups.get(key) is ups):
            return reply
        return None

    def remember(self, raw: bytes, words: list[str], reply: bytes) -> None:
        """Keep ``reply``, built for ``words``, as the answer to the request line ``raw``
        if it is a successful GET VAR and ``raw`` on its own is exactly that request."""
        if (len(words) < 4 or not reply.startswith(b"VAR ") or words[0].upper() != "GET"
                or words[1].upper() != "VAR" or words[3][:7].lower() == "server."
                or len(raw) > self.MAX_KEY):
            return
        key = words[2].lower()
        ups = self._ups.get(key)
        if ups is None:
            return
        tok = Tokenizer()
        if tok.feed(raw + b"\n") != [(words, None, 0)] or tok.pending:
            return
        if len(self._replies) >= 4096:
            self._replies.clear()
        self._replies[raw] = (reply, key, ups, ups.data, ups.data.version, ups.fsd)
