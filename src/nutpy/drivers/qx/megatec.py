"""The Megatec protocol (``Q1`` status, ``F`` rating, ``I`` vendor): C
``nutdrv_qx_megatec.c``.

Since NUT 2.8.3 the ``I`` reply is read in the "Megatec IC" layout (manufacturer 1-7,
serial 8-15, model 17-21, runtime 22-26, firmware 28 to the end; 38 bytes at least);
2.8.0 read it as manufacturer 1-15, model 17-26, firmware 28-37.
"""

from __future__ import annotations

from . import blazer_common as bc
from .core import STATIC, TRIM, Subdriver, item

NAME = "Megatec 0.09"


def items() -> list:
    st = STATIC | TRIM
    return [
        *bc.status_items("Q1\r"),
        *bc.rating_items(),
        item("device.mfr", 0, None, "I\r", 38, "#", 1, 7, "%s", st),
        item("ups.serial", 0, None, "I\r", 38, "#", 8, 15, "%s", 0),
        item("device.model", 0, None, "I\r", 38, "#", 17, 21, "%s", st),
        item("battery.runtime", 0, None, "I\r", 38, "#", 22, 26, "%s", TRIM),
        item("ups.firmware", 0, None, "I\r", 38, "#", 28, 0, "%s", st),
        *bc.command_items(),
        *bc.delay_items(),
    ]


SUBDRIVER = Subdriver(NAME, bc.claim, items, bc.initups, None, bc.makevartable, "ACK", None)
