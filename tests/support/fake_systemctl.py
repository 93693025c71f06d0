"""A stand-in for systemctl, for the driver enumerators (ours and C's) in tests.

It keeps the set of enabled ``nut-driver@`` units in a JSON file and logs every call. Unit
names are checked as systemd 252's ``systemctl enable`` checks them: characters outside
systemd's set are escaped (``\\xNN``) and the call succeeds; a ``/`` or a name of 256 bytes or
more fails. ``show --all 'nut-driver@*' -p Id`` lists the enabled units as systemd prints
them; ``is-active`` answers from the JSON file (``active`` map, default ``inactive``).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

# The state file sits beside the program, so a copied directory is an independent copy.
SCRIPT = """#!{python}
import os, sys
sys.path.insert(0, {support!r})
from fake_systemctl import main
sys.exit(main(sys.argv[1:], os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                          "systemctl-state.json")))
"""

_VALID = re.compile(r"[A-Za-z0-9:_.\\@-]")


def install(directory: Path) -> tuple[Path, Path]:
    """Write the fake as ``directory/systemctl``; returns (program, state file)."""
    directory.mkdir(parents=True, exist_ok=True)
    state = directory / "systemctl-state.json"
    state.write_text(json.dumps({"enabled": [], "active": {}, "calls": []}))
    prog = directory / "systemctl"
    prog.write_text(SCRIPT.format(python=sys.executable, support=str(Path(__file__).parent)))
    prog.chmod(0o755)
    return prog, state


def load(state: Path) -> dict:
    return json.loads(state.read_text())


def _mangle(name: str) -> str | None:
    if "/" in name:
        return None
    out = "".join(ch if _VALID.fullmatch(ch) else "".join(f"\\x{b:02x}" for b in ch.encode())
                  for ch in name)
    if not out.endswith(".service"):
        out += ".service"
    return out if len(out) < 256 else None


def main(args: list[str], state_path: str) -> int:
    path = Path(state_path)
    state = json.loads(path.read_text())
    state["calls"].append(args)
    rc = 0
    words = [a for a in args if not a.startswith("-")]
    verb = words[0] if words else ""
    if verb == "enable":
        unit = _mangle(words[1])
        if unit is None:
            print(f"Failed to mangle unit name or path '{words[1]}': Invalid argument",
                  file=sys.stderr)
            rc = 1
        elif unit not in state["enabled"]:
            state["enabled"].append(unit)
    elif verb == "disable":
        unit = _mangle(words[1])
        if unit in state["enabled"]:
            state["enabled"].remove(unit)
    elif verb == "show":
        pattern = re.escape(words[1]).replace(r"\*", ".*")
        blocks = [f"Id={u}" for u in state["enabled"] if re.fullmatch(pattern, u)]
        if blocks:
            print("\n\n".join(blocks))
    elif verb == "is-active":
        print(state["active"].get(words[1], "inactive"))
        rc = 0 if state["active"].get(words[1]) == "active" else 3
    elif verb == "list-unit-files":
        print("UNIT FILE STATE VENDOR PRESET")
        for u in state["enabled"]:
            print(f"{u} enabled enabled")
    path.write_text(json.dumps(state))
    return rc
