"""genericups' cable table and signal logic, and the simulator's use of it."""

from __future__ import annotations

import itertools

import pytest

from nutpy.drivers.genericups.cables import (
    CD,
    CTS,
    DSR,
    DTR,
    RNG,
    RTS,
    ST,
    UPS_TYPES,
    SignalError,
    input_lines,
    parse_input_signals,
    parse_output_signals,
    status_tokens,
    with_overrides,
)


def test_table_matches_c_listing():
    assert len(UPS_TYPES) == 24
    assert UPS_TYPES[1].desc == "APC Back-UPS (940-0095A/C cable)"
    assert UPS_TYPES[1].line_norm == DTR and UPS_TYPES[1].line_ol == RNG
    assert UPS_TYPES[11].line_sd == ST
    assert UPS_TYPES[23].line_rb and UPS_TYPES[23].line_bypass == DSR


@pytest.mark.parametrize("upstype", range(24))
def test_every_cable_reads_back_what_the_ups_shows(upstype):
    cable = UPS_TYPES[upstype]
    for online, low, rb, bypass in itertools.product((True, False), repeat=4):
        flags = input_lines(cable, cable.line_norm, online, low, rb, bypass) | cable.line_norm
        tokens = status_tokens(flags, cable)
        assert ("OL" if online else "OB") in tokens
        assert ("LB" in tokens) == (low and cable.line_bl != 0)
        assert ("RB" in tokens) == (rb and cable.line_rb != 0)
        assert ("BYPASS" in tokens) == (bypass and cable.line_bypass != 0)
        if "LB" in tokens:
            assert tokens[0] == "LB"  # C sets LB before OL/OB


def test_unpowered_cable_shows_nothing():
    cable = UPS_TYPES[2]  # powered by RTS
    assert input_lines(cable, DTR, False, True, False, False) == 0


def test_overrides():
    assert parse_output_signals("DTR", DTR | RTS) == (DTR, True)
    assert parse_output_signals("RTS -DTR", RTS) == (RTS, False)
    assert parse_output_signals("none", DTR) == (0, True)
    assert parse_input_signals("-CTS", CTS, CTS) == (CTS, 0, True)
    assert parse_input_signals("DCD", CD, CD) == (CD, CD, False)
    with pytest.raises(SignalError, match="Can't override output with CTS"):
        parse_output_signals("CTS", 0)
    with pytest.raises(SignalError, match="Can't override input with DTR"):
        parse_input_signals("DTR", 0, 0)
    notices = []
    cable = with_overrides(UPS_TYPES[1], {"CP": "DTR", "OL": "-CTS"}, notices.append)
    assert cable.line_norm == DTR and (cable.line_ol, cable.val_ol) == (CTS, 0)
    assert notices == ["parse_output_signals: output overrides specified, but no effective "
                       "difference - check for typos?"]
