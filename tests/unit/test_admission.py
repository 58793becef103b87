"""Rules for admitting a new visitor: opening hours, last admission, midnight and DST.

The last-admission window is half-open like every interval: with closing time C and
last_admission_minutes L, visitors are refused from C - L (inclusive) until C, so at exactly
C - L the line is already closed to new visitors and one second earlier it is still open.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest

from chatserver.config import HelplineConfig, TimeRange, parse_time_range
from chatserver.core.admission import Admission, admission, queue_has_room
from chatserver.hours import OpeningHours

TZ = ZoneInfo("Europe/Amsterdam")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A reference week in winter time (+01:00): Monday 2026-11-30 .. Sunday 2026-12-06.
MON = date(2026, 11, 30)
SPRING_FORWARD = date(2026, 3, 29)  # Sunday: 02:00 CET -> 03:00 CEST
FALL_BACK = date(2026, 10, 25)  # Sunday: 03:00 CEST -> 02:00 CET
WEEKDAYS_10_17 = {day: ["10:00-17:00"] for day in DAYS[:5]}
ALWAYS = {day: ["00:00-24:00"] for day in DAYS}


def ranges(*texts: str) -> tuple[TimeRange, ...]:
    parsed = [parse_time_range(text) for text in texts]
    assert all(isinstance(r, TimeRange) for r in parsed), parsed
    return tuple(r for r in parsed if isinstance(r, TimeRange))


def helpline(
    hours: Mapping[str, list[str]],
    last_admission_minutes: int = 10,
    exceptions: Mapping[date, list[str]] | None = None,
) -> HelplineConfig:
    return HelplineConfig(
        id="alpha",
        name="Alpha",
        max_queue=10,
        last_admission_minutes=last_admission_minutes,
        max_chats_per_counselor=2,
        hours=MappingProxyType({i: ranges(*hours.get(day, [])) for i, day in enumerate(DAYS)}),
        exceptions=MappingProxyType({d: ranges(*r) for d, r in (exceptions or {}).items()}),
    )


def decide(
    hours: Mapping[str, list[str]],
    now: datetime,
    last_admission_minutes: int = 10,
    exceptions: Mapping[date, list[str]] | None = None,
) -> Admission:
    line = helpline(hours, last_admission_minutes, exceptions)
    return admission(line, OpeningHours(line, TZ), now)


def local(day: date, hour: int, minute: int = 0, second: int = 0, fold: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=TZ, fold=fold)


def assert_admitted(decision: Admission) -> None:
    assert decision == Admission(open=True, opens_at=None)


def assert_closed_until(decision: Admission, opens_at: datetime | None) -> None:
    """Closed, with the next admission at that instant (and that UTC offset)."""
    assert not decision.open, "expected closed"
    if opens_at is None:
        assert decision.opens_at is None
        return
    assert decision.opens_at is not None
    assert decision.opens_at.astimezone(UTC) == opens_at.astimezone(UTC)
    assert decision.opens_at.utcoffset() == opens_at.utcoffset()


# --- open and closed ---------------------------------------------------------------------


def test_a_visitor_is_admitted_while_the_line_is_open() -> None:
    assert_admitted(decide(WEEKDAYS_10_17, local(MON, 12)))


def test_a_visitor_is_admitted_at_the_opening_instant() -> None:
    assert_admitted(decide(WEEKDAYS_10_17, local(MON, 10)))


def test_before_opening_the_answer_is_closed_until_todays_opening() -> None:
    assert_closed_until(decide(WEEKDAYS_10_17, local(MON, 8)), local(MON, 10))


def test_one_second_before_opening_is_still_closed() -> None:
    assert_closed_until(decide(WEEKDAYS_10_17, local(MON, 9, 59, 59)), local(MON, 10))


def test_after_closing_the_answer_is_closed_until_the_next_days_opening() -> None:
    assert_closed_until(decide(WEEKDAYS_10_17, local(MON, 18)), local(MON + timedelta(1), 10))


def test_at_the_closing_instant_the_line_is_closed() -> None:
    assert_closed_until(decide(WEEKDAYS_10_17, local(MON, 17)), local(MON + timedelta(1), 10))


def test_over_the_weekend_the_next_opening_is_monday() -> None:
    friday_evening = local(MON + timedelta(4), 20)
    assert_closed_until(decide(WEEKDAYS_10_17, friday_evening), local(MON + timedelta(7), 10))


def test_between_two_windows_the_next_opening_is_the_second_window() -> None:
    hours = {"mon": ["10:00-17:00", "19:00-22:00"]}
    assert_closed_until(decide(hours, local(MON, 18)), local(MON, 19))


def test_an_exception_day_closes_the_line_and_the_next_opening_skips_it() -> None:
    decision = decide(WEEKDAYS_10_17, local(MON, 8), exceptions={MON: []})
    assert_closed_until(decision, local(MON + timedelta(1), 10))


def test_a_line_that_never_opens_is_closed_with_no_next_opening() -> None:
    assert_closed_until(decide({}, local(MON, 12)), None)


def test_the_decision_is_about_the_instant_whatever_timezone_it_is_given_in() -> None:
    # 11:30 UTC is 12:30 in Amsterdam: open. 16:55 UTC is 17:55 there: closed.
    assert_admitted(decide(WEEKDAYS_10_17, datetime(2026, 11, 30, 11, 30, tzinfo=UTC)))
    decision = decide(WEEKDAYS_10_17, datetime(2026, 11, 30, 16, 55, tzinfo=UTC))
    assert_closed_until(decision, local(MON + timedelta(1), 10))


def test_the_next_opening_is_given_in_the_helplines_timezone() -> None:
    decision = decide(WEEKDAYS_10_17, datetime(2026, 11, 30, 6, 0, tzinfo=UTC))
    assert decision.opens_at is not None
    assert decision.opens_at.tzinfo == TZ
    assert decision.opens_at.utcoffset() == timedelta(hours=1)


# --- last admission ----------------------------------------------------------------------


def test_within_last_admission_minutes_of_closing_the_line_is_closed() -> None:
    assert_closed_until(decide(WEEKDAYS_10_17, local(MON, 16, 55)), local(MON + timedelta(1), 10))


def test_one_second_before_the_last_admission_boundary_the_line_is_open() -> None:
    assert_admitted(decide(WEEKDAYS_10_17, local(MON, 16, 49, 59)))


def test_exactly_last_admission_minutes_before_closing_the_line_is_closed() -> None:
    # closes_at - now == last_admission: already inside the (half-open) refusal window.
    assert_closed_until(decide(WEEKDAYS_10_17, local(MON, 16, 50)), local(MON + timedelta(1), 10))


def test_in_the_last_admission_window_the_next_opening_is_after_closing_not_now() -> None:
    hours = {"mon": ["10:00-17:00", "19:00-22:00"]}
    assert_closed_until(decide(hours, local(MON, 16, 55)), local(MON, 19))


def test_zero_last_admission_minutes_admits_until_the_closing_instant() -> None:
    assert_admitted(decide(WEEKDAYS_10_17, local(MON, 16, 59, 59), last_admission_minutes=0))
    decision = decide(WEEKDAYS_10_17, local(MON, 17), last_admission_minutes=0)
    assert_closed_until(decision, local(MON + timedelta(1), 10))


def test_a_long_last_admission_is_measured_from_the_closing_time() -> None:
    assert_admitted(decide(WEEKDAYS_10_17, local(MON, 14, 59), last_admission_minutes=120))
    assert not decide(WEEKDAYS_10_17, local(MON, 15), last_admission_minutes=120).open


def test_a_window_no_longer_than_last_admission_never_admits_anyone() -> None:
    hours = {"mon": ["10:00-10:10", "12:00-17:00"]}
    for minute in (0, 5, 9):
        assert_closed_until(decide(hours, local(MON, 10, minute)), local(MON, 12))


def test_before_a_window_too_short_to_admit_the_next_opening_is_the_next_usable_window() -> None:
    # opens_at promises the next moment a visitor will be admitted, not a window that
    # refuses everyone from its first second.
    hours = {"mon": ["10:00-10:10", "12:00-17:00"]}
    assert_closed_until(decide(hours, local(MON, 9)), local(MON, 12))


def test_in_the_last_admission_window_a_too_short_next_window_is_skipped() -> None:
    hours = {"mon": ["10:00-17:00", "17:30-17:35", "19:00-22:00"]}
    assert_closed_until(decide(hours, local(MON, 16, 55)), local(MON, 19))


def test_when_every_window_is_too_short_there_is_no_next_admission() -> None:
    hours = {day: ["10:00-10:05"] for day in DAYS}
    assert_closed_until(decide(hours, local(MON, 9)), None)


# --- around the clock and across midnight ------------------------------------------------


@pytest.mark.parametrize(
    "now",
    [
        local(MON, 0),
        local(MON, 12),
        local(MON, 23, 55),
        local(MON, 23, 59, 59),
        local(date(2026, 12, 31), 23, 59),
        local(SPRING_FORWARD, 1, 55),
        local(SPRING_FORWARD, 3, 0),
        local(FALL_BACK, 2, 30),
        local(FALL_BACK, 2, 30, fold=1),
    ],
)
def test_a_line_open_around_the_clock_always_admits(now: datetime) -> None:
    assert_admitted(decide(ALWAYS, now, last_admission_minutes=60))


def test_a_window_ending_at_midnight_that_reopens_at_midnight_admits_at_23_55() -> None:
    # Monday 20:00-24:00 and Tuesday 00:00-02:00 are one interval: no closing at midnight.
    hours = {"mon": ["20:00-24:00"], "tue": ["00:00-02:00"]}
    assert_admitted(decide(hours, local(MON, 23, 50)))
    assert_admitted(decide(hours, local(MON, 23, 59, 59)))
    assert_admitted(decide(hours, local(MON + timedelta(1), 0)))


def test_the_merged_midnight_interval_has_last_admission_at_its_real_end() -> None:
    hours = {"mon": ["20:00-24:00"], "tue": ["00:00-02:00"]}
    tuesday = MON + timedelta(1)
    assert_admitted(decide(hours, local(tuesday, 1, 49)))
    assert_closed_until(decide(hours, local(tuesday, 1, 50)), local(MON + timedelta(7), 20))


def test_an_overnight_range_admits_before_midnight_and_stops_before_its_end() -> None:
    hours = {"mon": ["22:00-02:00"]}
    assert_admitted(decide(hours, local(MON, 23, 55)))
    assert not decide(hours, local(MON + timedelta(1), 1, 55)).open


def test_a_window_ending_at_midnight_without_reopening_stops_admitting_before_midnight() -> None:
    hours = {"mon": ["20:00-24:00"]}
    assert_admitted(decide(hours, local(MON, 23, 49)))
    assert_closed_until(decide(hours, local(MON, 23, 50)), local(MON + timedelta(7), 20))


def test_a_line_open_all_week_but_one_night_stops_admitting_before_that_night() -> None:
    hours = {day: ["00:00-24:00"] for day in DAYS if day != "wed"}
    tuesday = MON + timedelta(1)
    assert_admitted(decide(hours, local(tuesday, 23, 49)))
    decision = decide(hours, local(tuesday, 23, 50))
    assert_closed_until(decision, local(MON + timedelta(3), 0))


# --- DST: the refusal window is measured in real minutes, not on the wall clock -------------


def test_on_the_spring_forward_day_last_admission_counts_real_minutes() -> None:
    # 01:00 CET to 03:30 CEST is 90 real minutes; with 60 minutes of last admission the
    # line stops admitting at 01:30 CET (00:30 UTC), though the wall clock still shows
    # two hours to go.
    hours = {"sun": ["01:00-03:30"]}
    assert_admitted(decide(hours, local(SPRING_FORWARD, 1, 29), last_admission_minutes=60))
    decision = decide(hours, local(SPRING_FORWARD, 1, 30), last_admission_minutes=60)
    next_sunday = local(SPRING_FORWARD + timedelta(7), 1)
    assert_closed_until(decision, next_sunday)
    assert next_sunday.utcoffset() == timedelta(hours=2)
    assert not decide(hours, local(SPRING_FORWARD, 1, 45), last_admission_minutes=60).open


def test_on_the_fall_back_day_the_same_wall_time_can_admit_once_and_refuse_once() -> None:
    # 01:00 CEST to 03:30 CET is 210 real minutes. 02:30 happens twice: first at 00:30 UTC
    # (two hours before closing: open), then at 01:30 UTC (exactly 60 minutes: closed).
    hours = {"sun": ["01:00-03:30"]}
    first = local(FALL_BACK, 2, 30)
    second = local(FALL_BACK, 2, 30, fold=1)
    assert second - first == timedelta(0)  # same wall time; the instants differ:
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    assert_admitted(decide(hours, first, last_admission_minutes=60))
    assert_admitted(decide(hours, local(FALL_BACK, 2, 29, 59, fold=1), last_admission_minutes=60))
    assert not decide(hours, second, last_admission_minutes=60).open


def test_a_window_shortened_by_spring_forward_can_be_too_short_to_admit() -> None:
    # "02:00-03:30" on the spring-forward day is 03:00-03:30 CEST: 30 real minutes, which a
    # 30-minute last admission fills entirely, so the next admission is a week later.
    hours = {"sun": ["02:00-03:30"]}
    saturday = SPRING_FORWARD - timedelta(1)
    decision = decide(hours, local(saturday, 12), last_admission_minutes=30)
    assert_closed_until(decision, local(SPRING_FORWARD + timedelta(7), 2))


def test_closing_on_the_fall_back_day_uses_the_real_closing_instant() -> None:
    # "00:00-02:30": 02:30 is ambiguous and means its first occurrence (00:30 UTC).
    hours = {"sun": ["00:00-02:30"]}
    assert_admitted(decide(hours, local(FALL_BACK, 2, 19), last_admission_minutes=10))
    assert not decide(hours, local(FALL_BACK, 2, 20), last_admission_minutes=10).open
    # The second 02:00-02:30 (CET) is after closing.
    assert not decide(hours, local(FALL_BACK, 2, 5, fold=1), last_admission_minutes=10).open


# --- queue room --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("waiting", "max_queue", "room"),
    [(0, 1, True), (2, 3, True), (3, 3, False), (4, 3, False), (0, 0, False)],
)
def test_the_queue_has_room_while_fewer_than_max_queue_wait(
    waiting: int, max_queue: int, room: bool
) -> None:
    assert queue_has_room(waiting, max_queue) is room


@pytest.mark.parametrize("day", [SPRING_FORWARD, FALL_BACK, MON])
def test_the_decision_is_the_same_for_an_instant_in_utc_or_in_local_time(day: date) -> None:
    hours = {"sat": ["20:00-24:00"], "sun": ["00:00-03:30", "10:00-10:45"], "mon": ["01:00-03:30"]}
    start = datetime(day.year, day.month, day.day, tzinfo=TZ).astimezone(UTC) - timedelta(hours=2)
    for step in range(0, 16 * 60, 5):
        instant = start + timedelta(minutes=step)
        in_utc = decide(hours, instant, last_admission_minutes=45)
        in_local = decide(hours, instant.astimezone(TZ), last_admission_minutes=45)
        assert in_utc == in_local, instant
