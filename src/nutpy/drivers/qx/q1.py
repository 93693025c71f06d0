"""The fallback: ``Q1`` status only, no rating or vendor queries (C ``nutdrv_qx_q1.c``)."""

from __future__ import annotations

from . import blazer_common as bc
from .core import Subdriver


def items() -> list:
    return [*bc.status_items("Q1\r"), *bc.command_items(), *bc.delay_items()]


SUBDRIVER = Subdriver("Q1 0.08", bc.claim_light, items, bc.initups_light, None,
                      bc.makevartable_light, "ACK", None)
