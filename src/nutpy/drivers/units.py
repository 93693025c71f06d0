"""The systemd service a ups.conf section runs as: ``nut-driver@<instance>.service``, with
the instance naming of NUT's nut-driver-enumerator.sh (the section name when systemd takes it
as it is, else ``MD5_`` and the MD5 sum C's script computes for the name)."""

from __future__ import annotations

import hashlib
import re

SVCNAME = "nut-driver"


def shell_echo(text: str) -> str:
    """What dash's ``echo`` prints for ``text`` (without the newline): it expands
    backslash escapes and stops at ``\\c``."""
    if "\\" not in text:
        return text
    out = []
    i = 0
    simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
              "\\": "\\"}
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 >= len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt in simple:
            out.append(simple[nxt])
            i += 2
        elif nxt == "c":
            break
        elif nxt == "0":
            digits = re.match(r"[0-7]{0,3}", text[i + 2:]).group()
            out.append(chr(int(digits or "0", 8)))
            i += 2 + len(digits)
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def md5_of_text(text: str) -> str:
    """C's calc_md5: ``echo "$1" | md5sum``."""
    return hashlib.md5((shell_echo(text) + "\n").encode("utf-8", "surrogateescape")).hexdigest()


_UNIT_CHARS = re.compile(r"[A-Za-z0-9:_.\\@-]+")
_UNIT_NAME_MAX = 256  # systemd's limit, the terminating NUL included


def md5_instance(device: str) -> str:
    return "MD5_" + md5_of_text(device)


def instance_name(device: str) -> str:
    """The instance of ``nut-driver@.service`` for a ups.conf section."""
    unit = f"{SVCNAME}@{device}.service"
    if _UNIT_CHARS.fullmatch(device) and len(unit) < _UNIT_NAME_MAX:
        return device
    return md5_instance(device)


def unit_name(instance: str) -> str:
    return f"{SVCNAME}@{instance}.service"


def instance_of(service: str) -> str:
    """The instance named by a unit name (``nut-driver@X.service``) or by an instance."""
    if service.endswith(".service"):
        service = service[:-len(".service")]
    if service.startswith(SVCNAME + "@"):
        return service[len(SVCNAME) + 1:]
    return service
