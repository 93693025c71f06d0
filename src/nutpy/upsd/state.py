"""What upsd knows about one UPS, fed by its driver's socket messages (C ``state.c`` and
``sstate.c`` semantics).

Pure: ``UpsData.apply(words)`` takes one tokenized driver line. Variable and command
names are matched case-insensitively and listed in case-insensitive order; values are
stored both raw and pconf-escaped (the escaped copy is what GET/LIST send).
"""

from __future__ import annotations

from ..common.cnum import atoi
from ..common.parseconf import encode
from ..proto.sockproto import parse_flags


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
        """One driver message. Returns (recognised, tracking update or None); an
        unrecognised message does not count as hearing from the driver."""
        n = len(words)
        if n < 1:
            return False, None
        cmd = words[0].upper()
        if cmd == "PONG":
            return True, None
        if cmd == "DUMPDONE":
            self.dumpdone = True
            return True, None
        if cmd == "DATASTALE":
            self.data_ok = False
            return True, None
        if cmd == "DATAOK":
            self.data_ok = True
            return True, None
        if n < 2:
            return False, None
        name = words[1]
        if cmd == "ADDCMD":
            if name.lower() not in self.cmds:
                self.cmds[name.lower()] = name
                self._changed(structure=True)
            return True, None
        if cmd == "DELCMD":
            if self.cmds.pop(name.lower(), None) is not None:
                self._changed(structure=True)
            return True, None
        if cmd == "DELINFO":
            if self.vars.pop(name.lower(), None) is not None:
                self._changed(structure=True)
            return True, None
        if n < 3:
            return False, None
        arg = words[2]
        if cmd == "SETINFO":
            self.setinfo(name, arg)
            return True, None
        if cmd == "TRACKING":
            return True, (name, arg)
        var = self.vars.get(name.lower())
        if cmd == "SETFLAGS":
            if var is not None:
                var.flags = parse_flags(words[2:])
                self._changed()
            return True, None
        if cmd == "ADDENUM":
            if var is not None:
                enc = encode(arg)
                if enc not in var.enums:
                    var.enums.append(enc)
                    self._changed()
            return True, None
        if cmd == "DELENUM":
            if var is not None:
                low = arg.lower()
                for i, enc in enumerate(var.enums):
                    if enc.lower() == low:
                        del var.enums[i]
                        self._changed()
                        break
            return True, None
        if cmd == "SETAUX":
            if var is not None:
                var.aux = atoi(arg)
                self._changed()
            return True, None
        if n < 4:
            return False, None
        if cmd in ("ADDRANGE", "DELRANGE"):
            lo, hi = atoi(arg), atoi(words[3])
            if var is not None:
                match = next((i for i, (a, b) in enumerate(var.ranges) if a == lo or b == hi),
                             None)
                if cmd == "ADDRANGE" and lo <= hi and match is None:
                    var.ranges.append((lo, hi))
                    self._changed()
                elif cmd == "DELRANGE" and match is not None:
                    del var.ranges[match]
                    self._changed()
            return True, None
        return False, None
