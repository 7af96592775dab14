"""The fiscal calendar: BE/CE, fiscal-year boundaries, round windows, Bangkok deadlines."""
from datetime import date, datetime, timedelta, timezone

import pytest

from shared import fiscal
from shared.fiscal import BANGKOK


def test_be_ce_both_ways():
    """BE = CE + 543 and back."""
    assert fiscal.ce_to_be(2021) == 2564
    assert fiscal.be_to_ce(2564) == 2021
    assert fiscal.be_to_ce(fiscal.ce_to_be(1999)) == 1999


@pytest.mark.parametrize("day, expected", [
    (date(2020, 9, 30), 2563), (date(2020, 10, 1), 2564), (date(2020, 12, 31), 2564),
    (date(2021, 1, 1), 2564), (date(2021, 9, 30), 2564), (date(2021, 10, 1), 2565),
    (date(2026, 10, 1), 2570), (date(2027, 9, 30), 2570),
], ids=["sep30-2563", "oct1-2564", "dec31-still-2564", "jan1-2564", "sep30-2564", "oct1-2565",
        "oct1-2570", "sep30-2570"])
def test_fiscal_year_of_dates(day, expected):
    """30 Sep -> 1 Oct changes the fiscal year; Oct-Dec belong to the next BE fiscal year."""
    assert fiscal.fiscal_year_of(day) == expected


def test_fiscal_year_of_instant_judged_in_bangkok():
    """30 Sep 17:00 UTC is already 1 Oct 00:00 in Bangkok: the next fiscal year."""
    assert fiscal.fiscal_year_of(datetime(2020, 9, 30, 16, 59, 59, tzinfo=timezone.utc)) == 2563
    assert fiscal.fiscal_year_of(datetime(2020, 9, 30, 17, 0, 0, tzinfo=timezone.utc)) == 2564


def test_naive_instant_refused():
    """An instant without a zone is ambiguous and refused."""
    with pytest.raises(ValueError):
        fiscal.fiscal_year_of(datetime(2021, 1, 1))


def test_fiscal_year_bounds():
    """FY 2564 = 2020-10-01 00:00 ... 2021-09-30 23:59:59 Bangkok."""
    assert fiscal.fiscal_year_start(2564) == datetime(2020, 10, 1, tzinfo=BANGKOK)
    assert fiscal.fiscal_year_end(2564) == datetime(2021, 9, 30, 23, 59, 59, tzinfo=BANGKOK)


def test_round_periods():
    """Round 6 covers Oct-Mar; round 12 the whole year, cumulative."""
    assert fiscal.round_period(2564, 6) == (datetime(2020, 10, 1, tzinfo=BANGKOK),
                                            datetime(2021, 3, 31, 23, 59, 59, tzinfo=BANGKOK))
    assert fiscal.round_period(2564, 12)[1] == datetime(2021, 9, 30, 23, 59, 59, tzinfo=BANGKOK)
    with pytest.raises(ValueError):
        fiscal.round_period(2564, 3)


def test_default_due_dates():
    """Due end of April (round 6) and end of October of the next fiscal year (round 12), 23:59:59 Bangkok."""
    assert fiscal.default_due(2564, 6) == datetime(2021, 4, 30, 23, 59, 59, tzinfo=BANGKOK)
    assert fiscal.default_due(2564, 12) == datetime(2021, 10, 31, 23, 59, 59, tzinfo=BANGKOK)
    assert fiscal.fiscal_year_of(fiscal.default_due(2564, 12)) == 2565


def test_window_phases_at_the_due_second():
    """23:59:59 on the due date is on time; 00:00:00 the next day is late; after the lock it is locked."""
    w = fiscal.default_window(2564, 6, grace_days=15)
    assert w.opens_at == datetime(2021, 4, 1, tzinfo=BANGKOK)
    assert w.phase(datetime(2021, 3, 31, 23, 59, 59, tzinfo=BANGKOK)) == "not_open"
    assert w.phase(datetime(2021, 4, 1, 0, 0, 0, tzinfo=BANGKOK)) == "open"
    assert w.phase(datetime(2021, 4, 30, 23, 59, 59, tzinfo=BANGKOK)) == "open"
    assert w.phase(datetime(2021, 5, 1, 0, 0, 0, tzinfo=BANGKOK)) == "late"
    assert w.locks_at == w.due_at + timedelta(days=15)
    assert w.phase(w.locks_at) == "late"
    assert w.phase(w.locks_at + timedelta(seconds=1)) == "locked"


def test_window_phase_is_judged_on_the_instant_not_the_zone():
    """16:59:59 UTC on 30 April is 23:59:59 Bangkok: still on time; 17:00:00 UTC is late."""
    w = fiscal.default_window(2564, 6, grace_days=0)
    assert w.phase(datetime(2021, 4, 30, 16, 59, 59, tzinfo=timezone.utc)) == "open"
    assert w.phase(datetime(2021, 4, 30, 17, 0, 0, tzinfo=timezone.utc)) == "locked"


def test_instant_text_round_trip():
    """ISO text with Z or an offset parses; Bangkok and UTC renderings are stable."""
    instant = fiscal.parse_instant("2021-04-30T16:59:59Z")
    assert fiscal.bangkok_iso(instant) == "2021-04-30T23:59:59+07:00"
    assert fiscal.utc_iso(instant) == "2021-04-30T16:59:59.000000Z"
    with pytest.raises(ValueError):
        fiscal.parse_instant("2021-04-30T23:59:59")
