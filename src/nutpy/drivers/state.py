"""A driver's data tree, as C's dstate keeps it: variables with flags, aux, enums and ranges,
instant commands, the data-ok/stale latch, and the ``ups.status``/``ups.alarm`` builders.

Pure: every change is turned into the socket line(s) that announce it and handed to
``emit`` (the socket server broadcasts them); ``dump()`` yields the DUMPALL sequence. Names
are case-insensitive keys and the tree is walked in case-insensitive order, as C's
``strcasecmp`` tree is. Values are stored raw and escaped only on the wire.

Mutations may come from the driver's worker thread while the event loop dumps, so they
are serialised by one lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator

from ..common.cnum import strtol
from ..common.parseconf import encode
from ..proto import sockproto

# C formats values into 256-byte buffers.
MAX_VALUE_LEN = 255

RW, STRING, NUMBER = sockproto.FLAG_RW, sockproto.FLAG_STRING, sockproto.FLAG_NUMBER
IMMUTABLE = 8  # driver-side only: never sent
flag_words, parse_flags = sockproto.flag_words, sockproto.parse_flags


@dataclass
class Var:
    name: str
    value: str
    flags: int = 0
    aux: int = 0
    enums: list[str] = field(default_factory=list)
    ranges: list[tuple[int, int]] = field(default_factory=list)


def _clip(value: str) -> str:
    return value[:MAX_VALUE_LEN] if len(value) > MAX_VALUE_LEN else value


class DriverState:
    def __init__(self, emit: Callable[[bytes], None] | None = None) -> None:
        self.emit: Callable[[bytes], None] = emit or (lambda data: None)
        self._vars: dict[str, Var] = {}  # key: lower-cased name
        self._cmds: dict[str, str] = {}  # key: lower-cased name
        self.stale = True  # drivers start stale and must call dataok()
        self.lock = threading.RLock()
        self.status = StatusBuilder(self)
        self.alarm = AlarmBuilder(self)

    # ---- reading

    def get(self, name: str) -> str | None:
        var = self._vars.get(name.lower())
        return var.value if var else None

    def var(self, name: str) -> Var | None:
        return self._vars.get(name.lower())

    def names(self) -> list[str]:
        with self.lock:
            return [self._vars[k].name for k in sorted(self._vars)]

    def commands(self) -> list[str]:
        with self.lock:
            return [self._cmds[k] for k in sorted(self._cmds)]

    def has_command(self, name: str) -> bool:
        return name.lower() in self._cmds

    # ---- variables

    def setinfo(self, name: str, value: str) -> bool:
        """Create or change a variable; True (and a SETINFO broadcast) if it changed.
        Unlike C, a change only in letter case is a change, and a name that would not
        reach upsd as itself (empty, spaces, ...: ``sockproto.is_wire_name``) is refused."""
        value = _clip(value)
        with self.lock:
            key = name.lower()
            var = self._vars.get(key)
            if var is None:
                if not sockproto.is_wire_name(name):
                    return False  # it could not be announced as itself (see is_wire_name)
                self._vars[key] = Var(name, value)
            else:
                if var.flags & IMMUTABLE or var.value == value:
                    return False
                var.value = value
                name = var.name
            self.emit(sockproto.setinfo(name, value))
            return True

    def delinfo(self, name: str) -> bool:
        with self.lock:
            var = self._vars.get(name.lower())
            if var is None or var.flags & IMMUTABLE:
                return False
            del self._vars[name.lower()]
            self.emit(sockproto.delinfo(var.name))
            return True

    def setflags(self, name: str, flags: int) -> bool:
        with self.lock:
            var = self._vars.get(name.lower())
            if var is None or var.flags & IMMUTABLE:
                return False
            flags &= ~IMMUTABLE
            if var.flags == flags:
                return False
            var.flags = flags
            self.emit(sockproto.setflags(var.name, flag_words(flags)))
            return True

    def make_immutable(self, name: str) -> None:
        """``override.<var>``: the value can no longer be changed by the driver."""
        with self.lock:
            var = self._vars.get(name.lower())
            if var is not None:
                var.flags |= IMMUTABLE

    def setaux(self, name: str, aux: int) -> bool:
        with self.lock:
            var = self._vars.get(name.lower())
            if var is None or var.aux == aux:
                return False
            var.aux = aux
            self.emit(sockproto.setaux(var.name, aux))
            return True

    def addenum(self, name: str, value: str) -> bool:
        value = _clip(value)
        with self.lock:
            var = self._vars.get(name.lower())
            if var is None or value in var.enums:
                return False
            var.enums.append(value)
            self.emit(sockproto.addenum(var.name, value))
            return True

    def delenum(self, name: str, value: str) -> bool:
        with self.lock:
            var = self._vars.get(name.lower())
            if var is None:
                return False
            low = value.lower()
            for i, e in enumerate(var.enums):
                if e.lower() == low:
                    del var.enums[i]
                    self.emit(sockproto.delenum(var.name, value))
                    return True
            return False

    def addrange(self, name: str, lo: int, hi: int) -> bool:
        """C's duplicate test matches on *either* bound; kept, as upsd applies the same."""
        with self.lock:
            var = self._vars.get(name.lower())
            if var is None or lo > hi:
                return False
            if any(r[0] == lo or r[1] == hi for r in var.ranges):
                return False
            var.ranges.append((lo, hi))
            self.emit(sockproto.addrange(var.name, lo, hi))
            return True

    def delrange(self, name: str, lo: int, hi: int) -> bool:
        with self.lock:
            var = self._vars.get(name.lower())
            if var is None:
                return False
            for i, r in enumerate(var.ranges):
                if r[0] == lo or r[1] == hi:
                    del var.ranges[i]
                    self.emit(sockproto.delrange(var.name, lo, hi))
                    return True
            return False

    # ---- commands

    def addcmd(self, name: str) -> bool:
        with self.lock:
            if name.lower() in self._cmds:
                return False
            self._cmds[name.lower()] = name
            self.emit(sockproto.addcmd(name))
            return True

    def delcmd(self, name: str) -> bool:
        with self.lock:
            cmd = self._cmds.pop(name.lower(), None)
            if cmd is None:
                return False
            self.emit(sockproto.delcmd(cmd))
            return True

    # ---- data validity (broadcast only on transitions)

    def dataok(self) -> None:
        with self.lock:
            if self.stale:
                self.stale = False
                self.emit(sockproto.DATAOK)

    def datastale(self) -> None:
        with self.lock:
            if not self.stale:
                self.stale = True
                self.emit(sockproto.DATASTALE)

    # ---- dumps

    def _var_lines(self, var: Var) -> Iterator[bytes]:
        yield sockproto.setinfo(var.name, var.value)
        for e in var.enums:
            yield sockproto.addenum(var.name, e)
        for lo, hi in var.ranges:
            yield sockproto.addrange(var.name, lo, hi)
        if var.aux:
            yield sockproto.setaux(var.name, var.aux)
        words = flag_words(var.flags)
        if words:
            yield sockproto.setflags(var.name, words)

    def dump(self) -> bytes:
        """The DUMPALL reply: [DATASTALE], per variable in tree order its SETINFO, ADDENUMs,
        ADDRANGEs, SETAUX, SETFLAGS; ADDCMDs; [DATAOK]; DUMPDONE."""
        with self.lock:
            out = [sockproto.DATASTALE] if self.stale else []
            for key in sorted(self._vars):
                out.extend(self._var_lines(self._vars[key]))
            out.extend(sockproto.addcmd(self._cmds[k]) for k in sorted(self._cmds))
            if not self.stale:
                out.append(sockproto.DATAOK)
            out.append(sockproto.DUMPDONE)
            return b"".join(out)

    def dump_value(self, name: str) -> bytes:
        """DUMPVALUE (2.8.3+): one variable's lines, then the data state and DUMPDONE."""
        with self.lock:
            out = [sockproto.DATASTALE] if self.stale else []
            var = self._vars.get(name.lower())
            if var is not None:
                out.extend(self._var_lines(var))
            if not self.stale:
                out.append(sockproto.DATAOK)
            out.append(sockproto.DUMPDONE)
            return b"".join(out)

    def tree_text(self) -> str:
        """``-d N`` and SIGURG output: ``name: value`` per variable, values escaped."""
        with self.lock:
            return "".join(f"{self._vars[k].name}: {encode(self._vars[k].value)}\n"
                           for k in sorted(self._vars))


class StatusBuilder:
    """``status_init`` / ``status_set`` / ``status_commit``: collects ``ups.status`` tokens.
    Repeated tokens are kept once (as in later releases; 2.8.0 repeats them)."""

    def __init__(self, state: DriverState) -> None:
        self._state = state
        self._tokens: list[str] = []
        self.ignorelb = False

    def init(self) -> None:
        self._tokens = []

    def set(self, token: str) -> None:
        if self.ignorelb and token.upper() == "LB":
            return
        for word in token.split() or [token]:
            if word and word not in self._tokens:
                self._tokens.append(word)

    def replace(self, tokens: list[str]) -> None:
        """init + set each + commit, atomically (SETs may race a poll in another thread)."""
        with self._state.lock:
            self.init()
            for token in tokens:
                self.set(token)
            self.commit()

    def commit(self) -> None:
        state = self._state
        tokens = list(self._tokens)
        if self.ignorelb and "LB" not in tokens and _below_low(state):
            tokens.append("LB")
        if state.alarm.active:
            tokens = ["ALARM"] + [t for t in tokens if t != "ALARM"]
        state.setinfo("ups.status", " ".join(tokens))


def _below_low(state: DriverState) -> bool:
    for value, low in (("battery.charge", "battery.charge.low"),
                       ("battery.runtime", "battery.runtime.low")):
        v, lo = state.get(value), state.get(low)
        if v is not None and lo is not None and strtol(v) < strtol(lo):
            return True
    return False


class AlarmBuilder:
    """``alarm_init`` / ``alarm_set`` / ``alarm_commit``: messages joined into ``ups.alarm``;
    while any is set, ``status_commit`` puts ``ALARM`` first in ``ups.status``."""

    def __init__(self, state: DriverState) -> None:
        self._state = state
        self._messages: list[str] = []
        self.active = False

    def init(self) -> None:
        self._messages = []

    def set(self, message: str) -> None:
        self._messages.append(message)

    def commit(self) -> None:
        if self._messages:
            self._state.setinfo("ups.alarm", " ".join(self._messages))
            self.active = True
        else:
            self._state.delinfo("ups.alarm")
            self.active = False
