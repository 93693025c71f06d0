"""upssched.conf as C upssched 2.8.5 reads it: top to bottom on every run, each ``AT``
line acted on where it stands.

Pure: ``read`` takes ``parseconf.Line`` objects and the event being handled (UPSNAME,
NOTIFYTYPE) and returns, in file order, the log messages and the actions the matching
``AT`` lines ask for, each with the CMDSCRIPT/PIPEFN/LOCKFN in force at that line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

SMALLBUF_TEXT = 511


class SchedFatal(Exception):
    """``fatalx``: ``printed`` goes to stdout too (C complains both ways)."""

    def __init__(self, text: str, printed: bool = False) -> None:
        super().__init__(text)
        self.printed = printed


@dataclass
class Files:
    cmdscript: str | None = None
    pipefn: str | None = None
    lockfn: str | None = None
    debug_min: int | None = None


@dataclass
class Action:
    """What one matching AT line asks for. ``kind``: START, START-SHARED, CANCEL,
    CANCEL-MATCHED, EXECUTE (wire names of the daemon protocol, EXECUTE is local)."""

    kind: str
    arg1: str
    arg2: str | None
    cmdscript: str
    pipefn: str
    lockfn: str


AT_COMMANDS = {
    "START-TIMER": "START",
    "START-TIMER-SHARED": "START-SHARED",
    "CANCEL-TIMER": "CANCEL",
    "CANCEL-TIMER-MATCHED": "CANCEL-MATCHED",
    "EXECUTE": "EXECUTE",
}


def _null(text: str | None) -> str:
    return "(null)" if text is None else text


def _str_to_int(text: str) -> int | None:
    body = text[1:] if text[:1] in "+-" else text
    return int(text) if body.isascii() and body.isdigit() else None


def read(lines: Iterable, path: str, upsname: str, notifytype: str,
         notifymsg: str | None = None, list_only: bool = False) -> tuple[Files, list]:
    """Returns the final settings and the ordered items: ``("error"|"warning"|"info",
    text)`` log messages and ``Action`` objects. ``list_only`` (``upssched -l``): only the
    settings are read. Raises ``SchedFatal`` where C exits."""
    files = Files()
    items: list = []
    errors = 0
    for line in lines:
        if line.error:
            items.append(("error", f"Parse error: {path}:{line.lineno}: {line.error}"))
            errors += 1
            continue
        words = list(line.words)
        if not words:
            continue
        if not _directive(files, words, items, (upsname, notifytype, notifymsg), list_only):
            errors += 1
            text = "upssched.conf: invalid directive"
            for word in words:
                text += " " + word
            items.append(("warning", text[:SMALLBUF_TEXT]))
    if list_only and not files.pipefn:
        raise SchedFatal("upssched.conf: invalid configuration for timer listing: lacks PIPEFN")
    if errors:
        items.append(("error", f"Encountered {errors} config errors, those entries were "
                               "ignored"))
    return files, items


def _directive(files: Files, words: list[str], items: list, event: tuple, list_only: bool
               ) -> bool:
    n = len(words)
    if n < 2:
        return False
    key = words[0]
    if key == "CMDSCRIPT":
        files.cmdscript = words[1]
        return True
    if key == "DEBUG_MIN":
        value = _str_to_int(words[1])
        if value is not None:
            files.debug_min = value
        return True
    if key == "PIPEFN":
        files.pipefn = words[1]
        return True
    if key == "LOCKFN":
        files.lockfn = words[1]
        return True
    if list_only:
        return True
    if n < 5 or key != "AT":
        return False
    _at(files, words[1], words[2], words[3], words[4], words[5] if n > 5 else None, items,
        *event)
    return True


def _at(files: Files, ntype: str, ups: str, cmd: str, arg1: str, arg2: str | None,
        items: list, upsname: str, notifytype: str, notifymsg: str | None) -> None:
    for value, name in ((files.cmdscript, "CMDSCRIPT"), (files.pipefn, "PIPEFN"),
                        (files.lockfn, "LOCKFN")):
        if not value:
            raise SchedFatal(f"{name} must be set before any ATs in the config file!",
                             printed=True)
    if ups != upsname and ups != "*":
        return
    if ntype.lower() != notifytype.lower():
        return
    kind = AT_COMMANDS.get(cmd)
    if kind is None:
        items.append(("error", f"Invalid command: {cmd}\t[{arg1}]\t[{_null(arg2)}]\t"
                               f"[{notifytype}]\t[{upsname}]\t[{_null(notifymsg)}]"))
        return
    if kind == "EXECUTE" and not arg1:
        items.append(("error", "Empty EXECUTE command argument"))
        return
    items.append(Action(kind, arg1, arg2, files.cmdscript, files.pipefn, files.lockfn))
