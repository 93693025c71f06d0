"""The Zinto dialect of Megatec: vendor data with ``FW?`` (C ``nutdrv_qx_zinto.c``)."""

from __future__ import annotations

from . import blazer_common as bc
from .core import Subdriver


def items() -> list:
    return [*bc.status_items("Q1\r"), *bc.rating_items(), *bc.vendor_items("FW?\r"),
            *bc.command_items(), *bc.delay_items()]


SUBDRIVER = Subdriver("Zinto 0.07", bc.claim, items, bc.initups, None,
                      bc.makevartable, "ACK", None)
