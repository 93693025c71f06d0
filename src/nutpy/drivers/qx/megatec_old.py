"""The old Megatec dialect: status with ``D`` (C ``nutdrv_qx_megatec-old.c``)."""

from __future__ import annotations

from . import blazer_common as bc
from .core import Subdriver


def items() -> list:
    return [*bc.status_items("D\r"), *bc.rating_items(), *bc.vendor_items(),
            *bc.command_items(), *bc.delay_items()]


SUBDRIVER = Subdriver("Megatec/old 0.08", bc.claim_light, items, bc.initups, None,
                      bc.makevartable, "ACK", None)
