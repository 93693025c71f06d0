"""What upsd knows about one UPS, fed by its driver's socket messages (C ``state.c`` and
``sstate.c`` semantics).

Pure: ``UpsData.apply(words)`` takes one tokenized driver line. Variable and command
names are matched case-insensitively and listed in case-insensitive order; values are
stored both raw and pconf-escaped (the escaped copy is what GET/LIST send).
"""

from __future__ import annotations

from ..common.cnum import atoi
from ..common.parseconf import encode
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
