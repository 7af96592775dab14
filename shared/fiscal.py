"""The Thai fiscal calendar: Buddhist Era years, fiscal years (Oct-Sep), reporting rounds and their windows."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

# Thailand keeps UTC+7 all year (no daylight saving), so a fixed offset is exact.
BANGKOK = timezone(timedelta(hours=7), "Asia/Bangkok")
BE_OFFSET = 543
ROUNDS = (6, 12)
MIN_FISCAL_YEAR = 2500
MAX_FISCAL_YEAR = 2700


def ce_to_be(year: int) -> int:
    """Buddhist Era year of a Common Era year (2021 -> 2564)."""
    return year + BE_OFFSET


def be_to_ce(year: int) -> int:
    """Common Era year of a Buddhist Era year (2564 -> 2021)."""
    return year - BE_OFFSET


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instants must carry a time zone")
    return instant


def fiscal_year_of(instant: datetime | date) -> int:
    """The BE fiscal year an instant (judged in Bangkok) or a calendar date falls in."""
    if isinstance(instant, datetime):
        day = _aware(instant).astimezone(BANGKOK).date()
    else:
        day = instant
    return ce_to_be(day.year) + (1 if day.month >= 10 else 0)


def fiscal_year_start(fiscal_year: int) -> datetime:
    """00:00:00 Bangkok on 1 October that opens the fiscal year."""
    return datetime(be_to_ce(fiscal_year) - 1, 10, 1, tzinfo=BANGKOK)


def fiscal_year_end(fiscal_year: int) -> datetime:
    """23:59:59 Bangkok on 30 September that closes the fiscal year."""
    return datetime.combine(date(be_to_ce(fiscal_year), 9, 30), time(23, 59, 59), BANGKOK)


def check_round(round_: int) -> int:
    """The round itself if it is 6 or 12; ValueError otherwise."""
    if round_ not in ROUNDS:
        raise ValueError("round is 6 or 12")
    return round_


def round_period(fiscal_year: int, round_: int) -> tuple[datetime, datetime]:
    """First and last instant the round's report covers (12 is cumulative from 1 October)."""
    start = fiscal_year_start(fiscal_year)
    if check_round(round_) == 6:
        return start, datetime.combine(date(be_to_ce(fiscal_year), 3, 31), time(23, 59, 59), BANGKOK)
    return start, fiscal_year_end(fiscal_year)


def _end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), BANGKOK)


def default_due(fiscal_year: int, round_: int) -> datetime:
    """End of April (round 6) or end of October (round 12, in the next fiscal year), Bangkok."""
    ce = be_to_ce(fiscal_year)
    return _end_of_day(date(ce, 4, 30) if check_round(round_) == 6 else date(ce, 10, 31))


def default_opens(fiscal_year: int, round_: int) -> datetime:
    """When reporting opens by default: the first instant after the covered period."""
    return round_period(fiscal_year, round_)[1] + timedelta(seconds=1)


@dataclass(frozen=True)
class Window:
    """A reporting window: opens, due (late after) and locks (refused after, barring an exception)."""

    fiscal_year: int
    round: int
    opens_at: datetime
    due_at: datetime
    locks_at: datetime
    set_by_nacc: bool = False

    def phase(self, now: datetime) -> str:
        """``not_open``, ``open`` (until due), ``late`` (after due, before lock) or ``locked``."""
        now = _aware(now)
        if now < self.opens_at:
            return "not_open"
        if now <= self.due_at:
            return "open"
        if now <= self.locks_at:
            return "late"
        return "locked"


def default_window(fiscal_year: int, round_: int, grace_days: int) -> Window:
    """The window a round has when NACC has set none: default dates, lock = due + grace."""
    due = default_due(fiscal_year, round_)
    return Window(fiscal_year, round_, default_opens(fiscal_year, round_), due,
                  due + timedelta(days=grace_days))


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant with an offset (``Z`` allowed); ValueError when it has none."""
    instant = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    return _aware(instant)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def epoch_micros(instant: datetime) -> int:
    """Microseconds since 1970 UTC, exactly (a sorted set's score: below 2**53 for millennia)."""
    return (_aware(instant) - _EPOCH) // timedelta(microseconds=1)


def bangkok_iso(instant: datetime) -> str:
    """An instant as ISO-8601 in Bangkok time, to the second (``2021-04-30T23:59:59+07:00``)."""
    return _aware(instant).astimezone(BANGKOK).replace(microsecond=0).isoformat()


def utc_iso(instant: datetime) -> str:
    """An instant as ISO-8601 UTC with microseconds and ``Z`` (the envelope's ``recorded_at``)."""
    return _aware(instant).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
