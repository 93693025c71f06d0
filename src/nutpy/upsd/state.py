"""What upsd knows about each UPS, fed by its driver's socket messages (C ``state.c`` and
``sstate.c`` semantics): ``UpsData`` (variables and commands), ``Ups`` (one ups.conf section:
its data, link flags and LIST reply cache) and ``ReplyCache`` (replies by request line).

Pure: ``UpsData.apply(words)`` takes one tokenized driver line. Variable and command
names are matched case-insensitively and listed in case-insensitive order; values are
stored both raw and pconf-escaped (the escaped copy is what GET/LIST send).
"""

from __future__ import annotations

from typing import Callable

from ..common.cnum import atoi
from ..common.parseconf import encode, whole_line
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
        # bumped on every change but a new value of an existing variable: what GET TYPE and
        # LIST ENUM/RANGE answer from (a real UPS changes values every poll, not these)
        self.meta_version = 0
        self._sorted_vars: list[Var] | None = None
        self._sorted_cmds: list[str] | None = None

    def _changed(self, structure: bool = False, meta: bool = False) -> None:
        self.version += 1
        if structure or meta:
            self.meta_version += 1
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
        self._changed(meta=True)


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


# How much of the state a cached reply was built from (``ReplyCache``)
_LINK, _META, _VALUE = range(3)

# request words (upper case) -> (what the reply depends on, least number of words)
_CACHEABLE = {
    ("GET", "VAR"): (_VALUE, 4), ("LIST", "VAR"): (_VALUE, 3), ("LIST", "RW"): (_VALUE, 3),
    ("LIST", "CMD"): (_VALUE, 3),
    ("GET", "TYPE"): (_META, 4), ("LIST", "ENUM"): (_META, 4), ("LIST", "RANGE"): (_META, 4),
    ("GET", "DESC"): (_LINK, 4), ("GET", "CMDDESC"): (_LINK, 4),
}


class ReplyCache:
    """Replies to the requests pollers repeat, by request line: GET VAR/TYPE/DESC/CMDDESC
    and LIST VAR/RW/CMD/ENUM/RANGE, all of them about one UPS and the same for every
    session. An entry is served only while what its reply was built from is as it was:
    the UPS (still in the table, connected, data not stale) and, as the request needs,
    its data object with every value (GET VAR, LIST VAR/RW/CMD; and the FSD flag), or
    with every variable's type, flags, enums and ranges (GET TYPE, LIST ENUM/RANGE), or
    the description table (GET DESC/CMDDESC, which only need the UPS to be there).
    Successful replies only: an ERR is always worked out again.

    The key is the whole request as it came in: one physical line that a fresh tokenizer
    turns into exactly the words the reply was built from. ``remember`` checks that
    itself, so a reply can never be filed under a line that was only the tail of a
    longer request (a continued line, a split write) and then answer someone else's."""

    MAX_KEY = 512  # longer lines are not kept: they would let a client fill memory
    MAX_ENTRIES = 4096  # then the cache starts again empty (bounded memory)

    def __init__(self, server) -> None:
        # the protocol core's Server: its UPS table (lower-case name -> Ups) and its
        # description table (``descriptions``) are read as they are at each lookup
        self._server = server
        self._ups: dict[str, Ups] = server.ups
        # raw request line -> (reply, UPS key, Ups, UpsData or None, version or None,
        # meta_version or None, FSD flag, description table or None)
        self._replies: dict[bytes, tuple] = {}

    def lookup(self, raw: bytes) -> bytes | None:
        """The reply to the request line ``raw`` (without its LF; a complete request on
        its own, with nothing of an earlier line pending) if it was answered before and
        nothing its reply depends on has changed since."""
        e = self._replies.get(raw)
        if e is None:
            return None
        reply, key, ups, data, version, meta, fsd, descs = e
        if not ups.connected or ups.stale or self._ups.get(key) is not ups:
            return None
        if data is None:
            return reply if descs is self._server.descriptions else None
        if ups.data is not data:
            return None
        if version is not None:
            return reply if data.version == version and ups.fsd == fsd else None
        return reply if data.meta_version == meta else None

    def remember(self, raw: bytes, words: list[str], reply: bytes) -> None:
        """Keep ``reply``, built for ``words``, as the answer to the request line ``raw``
        if it is a successful request of a kind kept here and ``raw`` on its own is
        exactly that request."""
        if len(words) < 3 or len(raw) > self.MAX_KEY or reply.startswith(b"ERR"):
            return
        kind = _CACHEABLE.get((words[0].upper(), words[1].upper()))
        if kind is None or len(words) < kind[1]:
            return
        level = kind[0]
        if level == _VALUE and words[1].upper() == "VAR" and words[0].upper() == "GET" \
                and words[3][:7].lower() == "server.":
            return  # answered without looking at the UPS
        key = words[2].lower()
        ups = self._ups.get(key)
        if ups is None:
            return
        if whole_line(raw) != words:
            return
        if len(self._replies) >= self.MAX_ENTRIES:
            self._replies.clear()
        data = ups.data
        if level == _VALUE:
            entry = (reply, key, ups, data, data.version, None, ups.fsd, None)
        elif level == _META:
            entry = (reply, key, ups, data, None, data.meta_version, None, None)
        else:
            entry = (reply, key, ups, None, None, None, None, self._server.descriptions)
        self._replies[raw] = entry
