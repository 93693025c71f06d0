"""The diagnostic subdriver: claims any device when the ``explore`` flag is set and maps
nothing (with -D, the full dump of fields shows what a new subdriver would need)."""

from __future__ import annotations

from . import Subdriver


class Explore(Subdriver):
    name = "EXPLORE HID 0.2"
    TABLE = ""

    def claim(self, info) -> bool:
        return self.options.testvar("explore")

    def format_mfr(self, info, engine) -> str | None:
        return info.vendor
