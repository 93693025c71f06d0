"""The Q* (Megatec Q1 family) protocols of nutdrv_qx and blazer_ser.

``core`` is the transport-agnostic engine (a subdriver is a table of items), one module per
protocol holds its table, ``serial`` is the serial-port transport; USB-to-serial bridges
plug in by providing another ``Transport``.
"""

from __future__ import annotations


def subdrivers():
    """The subdrivers nutpy has, in the order nutdrv_qx (2.8.5) tries them."""
    from . import megatec, megatec_old, mustek, q1, voltronic, voltronic_qs, voltronic_qs_hex, zinto

    return [voltronic.SUBDRIVER, voltronic_qs.SUBDRIVER, voltronic_qs_hex.SUBDRIVER,
            mustek.SUBDRIVER, megatec_old.SUBDRIVER, megatec.SUBDRIVER, zinto.SUBDRIVER,
            q1.SUBDRIVER]
