"""Voltronic Power's QS protocol (``M`` protocol query, ``QS`` status, output-side
ratings): C ``nutdrv_qx_voltronic-qs.c``."""

from __future__ import annotations

from . import blazer_common as bc
from .core import STATIC, InfoRW, Subdriver, claim_items, item
from .cstr import cformat


def protocol(engine, it, value):
    if it.value.upper() in ("V", "H"):
        engine.log.debug(2, f"voltronic_qs_protocol: detected {it.value.upper()} protocol "
                            f"[{it.value}]")
        return cformat(it.dfl, it.value)
    engine.log.debug(2, f"voltronic_qs_protocol: invalid protocol [{it.value}]")
    return None


def items() -> list:
    status = bc.status_items("QS\r", freq="output.frequency")
    return [
        item("ups.firmware.aux", 0, None, "M\r", 2, "", 0, 0, "PM-%s", STATIC,
             preprocess=protocol),
        *status,
        *bc.rating_items("output"),
        *bc.command_items(full=False, value_from=1, value_to=3),
        item("test.battery.start.quick", 0, None, "T\r", 0, "", 1, 3, None, bc.CMD),
        *bc.delay_items([InfoRW("60"), InfoRW("599940"), InfoRW("")],
                        [InfoRW("12"), InfoRW("540"), InfoRW("")]),
    ]


def claim(engine) -> bool:
    return claim_items(engine, "ups.firmware.aux", "input.voltage", undo=("ups.firmware.aux",))


SUBDRIVER = Subdriver("Voltronic-QS 0.10", claim, items, bc.initups_light, None,
                      bc.makevartable_light, None, None)
