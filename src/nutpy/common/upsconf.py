"""ups.conf: the global section and one section per UPS, as the C readers see it.

Pure apart from ``load``: the parser takes ``parseconf.Line`` objects, so tests can feed
text. Errors carry file and line; parse errors are collected, not fatal, as in C.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from . import parseconf, paths


@dataclass
class ConfError:
    file: str
    lineno: int
    message: str

    def __str__(self) -> str:
        return f"Parse error: {self.file}:{self.lineno}: {self.message}"


@dataclass
class Section:
    name: str
    lineno: int
    values: dict[str, str] = field(default_factory=dict)  # last occurrence wins
    value_lines: dict[str, int] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.values.get(key, default)


@dataclass
class UpsConf:
    path: str
    globals: Section = field(default_factory=lambda: Section("", 0))
    sections: dict[str, Section] = field(default_factory=dict)  # file order
    errors: list[ConfError] = field(default_factory=list)


def section_header(words: list[str]) -> str | None:
    """``[name]`` as the first word opens a section; later words on the line are ignored."""
    first = words[0]
    if len(first) >= 2 and first[0] == "[" and first[-1] == "]":
        return first[1:-1]
    return None


def parse(lines: Iterable[parseconf.Line], path: str) -> UpsConf:
    conf = UpsConf(path)
    current = conf.globals
    for line in lines:
        if line.error:  # logged, and the line is skipped, as C's read_upsconf does
            conf.errors.append(ConfError(path, line.lineno, line.error))
            continue
        words = line.words
        if not words:
            continue
        name = section_header(words)
        if name is not None:
            # Drivers and upsdrvctl keep sections apart case-sensitively; a repeated
            # header continues the same section, as C's reader does.
            current = conf.sections.setdefault(name, Section(name, line.lineno))
            continue
        if len(words) == 1:
            current.flags.append(words[0])
        elif len(words) >= 3 and words[1] == "=":
            current.values[words[0]] = words[2]
            current.value_lines[words[0]] = line.lineno
        # other shapes (2 words, or no '=' second) are ignored, as in C
    return conf


def load(path: str | None = None) -> UpsConf:
    """Read ups.conf (default: in the config directory). OSError propagates."""
    path = path or paths.conf_file("ups.conf")
    return parse(parseconf.read_file(path), path)
