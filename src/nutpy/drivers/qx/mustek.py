"""The Mustek dialect of Megatec: status with ``QS`` (C ``nutdrv_qx_mustek.c``)."""

from __future__ import annotations

from . import blazer_common as bc
from .core import Subdriver


def items() -> list:
    return [*bc.status_items("QS\r"), *bc.rating_items(), *bc.vendor_items(),
            *bc.command_items(), *bc.delay_items()]


SUBDRIVER = Subdriver("Mustek 0.08", bc.claim_light, items, bc.initups, None,
                      bc.makevartable, "ACK", None)
