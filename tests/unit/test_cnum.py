import pytest

from nutpy.common.cnum import atoi, strtol


@pytest.mark.parametrize("text, value", [
    ("15", 15), ("15x", 15), ("  -7", -7), ("+3", 3), ("abc", 0), ("", 0), (None, 0),
    ("- 3", 0), ("\t\n42", 42), ("٣", 0), ("10abc", 10), ("0x10", 0),
    ("2147483648", -2147483648), ("4294967297", 1), ("99999999999999999999", -1),
])
def test_atoi(text, value):
    assert atoi(text) == value


def test_strtol_clamps_to_long():
    assert strtol("99999999999999999999") == 2**63 - 1
    assert strtol("-99999999999999999999") == -(2**63)
    assert strtol("2147483648") == 2147483648
