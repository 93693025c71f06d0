"""Suspend, busy machine and wall-clock changes told apart (nutpy.upsmon.clocks): the
cases C upsmon 2.8.5 lumps together as "woke up" (NUT #1070, #3405)."""

import pytest

from nutpy.upsmon.clocks import Gap, Reading, compare

T0 = Reading(monotonic=500.0, boottime=520.0, realtime=1_700_000_000.0)


def after(mono: float, boot: float, real: float) -> Reading:
    return Reading(T0.monotonic + mono, T0.boottime + boot, T0.realtime + real)


@pytest.mark.parametrize("case,reading,expected", [
    ("slept as asked", after(5, 5, 5), Gap(5, 0, 0)),
    ("busy machine, loop ran 2 min late (#3405)", after(125, 125, 125), Gap(125, 0, 0)),
    ("suspended for an hour", after(5, 3605, 3605), Gap(5, 3600, 0)),
    ("NTP set the clock 2 h forward (#1070)", after(5, 5, 7205), Gap(5, 0, 7200)),
    ("clock set back a day", after(5, 5, 5 - 86400), Gap(5, 0, -86400)),
    ("suspend and clock set while asleep", after(5, 605, 905), Gap(5, 600, 300)),
    ("jitter", after(5.3, 5.9, 4.1), Gap(5.3, 0, 0)),
])
def test_gaps(case, reading, expected):
    gap = compare(T0, reading)
    assert gap.elapsed == pytest.approx(expected.elapsed)
    assert gap.suspended == pytest.approx(expected.suspended)
    assert gap.clock_jump == pytest.approx(expected.clock_jump)


def test_reading_now_is_consistent():
    a = Reading.now()
    b = Reading.now()
    gap = compare(a, b)
    assert gap.elapsed >= 0 and gap.suspended == 0 and gap.clock_jump == 0
