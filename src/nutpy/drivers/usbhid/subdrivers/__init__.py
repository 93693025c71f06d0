"""The subdrivers: one per vendor family, each with the USB IDs it claims, its vendor usage
names, its HID-to-NUT mapping table (see ..mapping) and its quirks.

Subdrivers are tried in C's order (explore first, then alphabetically after mge); the first
that claims the device is used, unless ``subdriver=`` names one.
"""

from __future__ import annotations

import re

from ....common.log import log
from ..mapping import Entry, Lookup, parse_table

SUPPORTED, POSSIBLY_SUPPORTED, NOT_SUPPORTED = 2, 1, 0


class Subdriver:
    name = ""  # C's "<Vendor> HID <version>", published as driver.version.data
    vendor_label = ""  # in the "not (or perhaps not yet) supported" message
    default_mfr: str | None = None
    ids: dict[tuple[int, int], str | None] = {}  # (vendor, product) -> tweak method
    usages: list[tuple[str, int]] = []
    TABLE = ""
    _parsed: dict[type, list[Entry]] = {}

    def __init__(self, options) -> None:
        self.options = options  # getval(name) / testvar(name)
        self.lookups: dict[str, Lookup] = self.make_lookups()
        # tweaks a claim may ask for (C sets globals)
        self.pollonly = False
        self.max_report_size = False
        self.interrupt_only = False
        self.interrupt_size = 0
        self.interface: int | None = None

    @property
    def mapping(self) -> list[Entry]:
        cls = type(self)
        if cls not in Subdriver._parsed:
            Subdriver._parsed[cls] = parse_table(cls.TABLE)
        return Subdriver._parsed[cls]

    def make_lookups(self) -> dict[str, Lookup]:
        return {}

    # -- claiming a device

    def support(self, info) -> int:
        """C's is_usb_device_supported (runs the tweak of a known product)."""
        status = NOT_SUPPORTED
        for (vid, pid), tweak in self.ids.items():
            if vid != info.vendor_id:
                continue
            status = POSSIBLY_SUPPORTED
            if pid != info.product_id:
                continue
            if tweak:
                getattr(self, tweak)(info)
            return SUPPORTED
        return status

    def claim(self, info) -> bool:
        status = self.support(info)
        if status == SUPPORTED:
            return True
        if status == POSSIBLY_SUPPORTED:
            if self.options.getval("productid"):
                return True
            possibly_supported(self.vendor_label, info)
        return False

    # -- identity strings

    def format_model(self, info, engine) -> str | None:
        return info.product

    def format_mfr(self, info, engine) -> str | None:
        return info.vendor if info.vendor else self.default_mfr

    def format_serial(self, info, engine) -> str | None:
        return info.serial

    def fix_report_desc(self, info, desc, engine) -> bool:
        return False


def possibly_supported(label: str, info) -> None:
    log.debug(0, f"This {label} device ({info.vendor_id:04x}:{info.product_id:04x}) is not "
                 "(or perhaps not yet) supported\nby usbhid-ups. Please make sure you have an "
                 "up-to-date version of NUT.\nIf this does not fix the problem, try running the "
                 "driver with the\n'-x productid="
                 f"{info.product_id:04x}' option, or iterate with explicit '-x subdriver=...'\n"
                 "option. Please report your results to the NUT user's mailing list\n"
                 "at <nut-upsuser@lists.alioth.debian.org>.\n")
    if info.vendor_id == 0x06DA:
        log.debug(0, "Please note that this Vendor ID is also known in devices supported by "
                     "nutdrv_qx")


def all_classes() -> list[type[Subdriver]]:
    from . import apc, belkin, cps, explore, liebert, mge, powercom, tripplite

    return [explore.Explore, mge.Mge, apc.Apc, belkin.Belkin, cps.Cps, liebert.Liebert,
            powercom.Powercom, tripplite.TrippLite]


def _full_match(pattern: str, text: str) -> bool:
    try:
        return re.fullmatch(pattern, text.strip(" \t\n"), re.IGNORECASE) is not None
    except re.error:
        return False


def by_name(wanted: str) -> type[Subdriver] | None:
    """``subdriver=``: an exact name, else a case-insensitive regular expression matching a
    whole name, else the same with ``.*`` appended."""
    classes = all_classes()
    for cls in classes:
        if cls.name == wanted:
            return cls
    log.debug(2, "match_function_subdriver_name: retry matching by regex 'as is'")
    for cls in classes:
        if _full_match(wanted, cls.name):
            return cls
    if len(wanted) < 3 or (wanted[-2] != "." and wanted[-1] != "*"):
        log.debug(2, "match_function_subdriver_name: retry matching by regex with added '.*'")
        for cls in classes:
            if _full_match(wanted + ".*", cls.name):
                return cls
    return None
