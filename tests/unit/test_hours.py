"""Rules for opening hours: local wall times, exceptions, merging, DST and the horizon."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatserver.config import Config, HelplineConfig, TimeRange, parse_time_range
from chatserver.hours import (
    HORIZON_DAYS,
    Interval,
    OpeningHours,
    describe_next_openings,
    opening_hours_by_helpline,
)

TZ = ZoneInfo("Europe/Amsterdam")
NEW_YORK = ZoneInfo("America/New_York")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A reference week: Monday 2026-11-30 .. Sunday 2026-12-06 (CET, +01:00).
MON = date(2026, 11, 30)
SPRING_FORWARD = date(2026, 3, 29)  # 02:00 CET -> 03:00 CEST
FALL_BACK = date(2026, 10, 25)  # 03:00 CEST -> 02:00 CET


def ranges(*texts: str) -> tuple[TimeRange, ...]:
    parsed = [parse_time_range(text) for text in texts]
    assert all(isinstance(r, TimeRange) for r in parsed)
    return tuple(r for r in parsed if isinstance(r, TimeRange))


def helpline(
    hours: Mapping[str, list[str]] | None = None,
    exceptions: Mapping[date, list[str]] | None = None,
    helpline_id: str = "alpha",
    name: str = "Alpha",
) -> HelplineConfig:
    by_day = hours or {}
    return HelplineConfig(
        id=helpline_id,
        name=name,
        max_queue=10,
        last_admission_minutes=0,
        max_chats_per_counselor=2,
        hours=MappingProxyType({i: ranges(*by_day.get(day, [])) for i, day in enumerate(DAYS)}),
        exceptions=MappingProxyType({d: ranges(*r) for d, r in (exceptions or {}).items()}),
    )


def opening_hours(
    hours: Mapping[str, list[str]] | None = None,
    exceptions: Mapping[date, list[str]] | None = None,
) -> OpeningHours:
    return OpeningHours(helpline(hours, exceptions), TZ)


def at(day: date, hh: int = 0, mm: int = 0, ss: int = 0, fold: int = 0) -> datetime:
    """A local wall time in Europe/Amsterdam."""
    return datetime.combine(day, time(hh, mm, ss, fold=fold), tzinfo=TZ)


def utc(t: datetime) -> datetime:
    """Arithmetic and == on datetimes sharing a ZoneInfo use wall time; compare in UTC."""
    return t.astimezone(UTC)


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def span(interval: Interval) -> tuple[datetime, datetime]:
    return utc(interval.opens_at), utc(interval.closes_at)


def isos(intervals: list[Interval]) -> list[tuple[str, str]]:
    return [(iv.opens_at.isoformat(), iv.closes_at.isoformat()) for iv in intervals]


WEEKDAYS_10_17 = {day: ["10:00-17:00"] for day in DAYS[:5]}
ALWAYS = {day: ["00:00-24:00"] for day in DAYS}


# --- a single day ------------------------------------------------------------------------------


def test_open_from_start_until_just_before_end() -> None:
    hours = opening_hours({"mon": ["10:00-17:00"]})
    assert not hours.is_open(at(MON, 9, 59, 59))
    assert hours.is_open(at(MON, 10))
    assert hours.is_open(at(MON, 16, 59, 59))
    assert not hours.is_open(at(MON, 17))


def test_several_intervals_a_day_stay_separate() -> None:
    hours = opening_hours({"mon": ["13:00-17:00", "10:00-12:00"]})
    assert isos(hours.intervals(MON, 1)) == [
        ("2026-11-30T10:00:00+01:00", "2026-11-30T12:00:00+01:00"),
        ("2026-11-30T13:00:00+01:00", "2026-11-30T17:00:00+01:00"),
    ]
    assert not hours.is_open(at(MON, 12, 30))
    assert iso(hours.next_opening(at(MON, 12, 30))) == "2026-11-30T13:00:00+01:00"
    assert iso(hours.next_closing(at(MON, 10, 30))) == "2026-11-30T12:00:00+01:00"


def test_whole_day_runs_from_midnight_to_midnight() -> None:
    hours = opening_hours({"mon": ["00:00-24:00"]})
    assert not hours.is_open(at(MON - timedelta(days=1), 23, 59, 59))
    assert hours.is_open(at(MON))
    assert hours.is_open(at(MON, 23, 59, 59))
    assert not hours.is_open(at(MON + timedelta(days=1)))
    assert isos(hours.intervals(MON, 1)) == [
        ("2026-11-30T00:00:00+01:00", "2026-12-01T00:00:00+01:00")
    ]


def test_is_open_is_false_at_every_closing_time() -> None:
    hours = opening_hours({"mon": ["10:00-12:00", "22:00-02:00"], "wed": ["00:00-24:00"]})
    intervals = hours.intervals(MON, 7)
    assert len(intervals) == 3
    for interval in intervals:
        assert hours.is_open(interval.opens_at)
        assert hours.is_open(utc(interval.closes_at) - timedelta(microseconds=1))
        assert not hours.is_open(interval.closes_at)
        assert hours.next_closing(interval.opens_at) == interval.closes_at


# --- across midnight ---------------------------------------------------------------------------


def test_overnight_range_runs_into_next_day() -> None:
    hours = opening_hours({"mon": ["22:00-02:00"]})
    tue = MON + timedelta(days=1)
    assert hours.is_open(at(MON, 23))
    assert hours.is_open(at(tue, 1, 59, 59))
    assert not hours.is_open(at(tue, 2))
    interval = hours.interval_at(at(tue, 1))
    assert interval == Interval(at(MON, 22), at(tue, 2))
    assert iso(hours.next_closing(at(MON, 22, 30))) == "2026-12-01T02:00:00+01:00"


def test_overnight_range_on_sunday_runs_into_monday() -> None:
    hours = opening_hours({"sun": ["23:00-01:00"]})
    assert hours.is_open(at(MON, 0, 30))
    assert isos(hours.intervals(MON, 1)) == [
        ("2026-11-29T23:00:00+01:00", "2026-11-30T01:00:00+01:00")
    ]


def test_intervals_include_an_overnight_interval_started_the_day_before() -> None:
    hours = opening_hours({"mon": ["22:00-02:00"], "tue": ["10:00-11:00"]})
    assert isos(hours.intervals(MON + timedelta(days=1), 1)) == [
        ("2026-11-30T22:00:00+01:00", "2026-12-01T02:00:00+01:00"),
        ("2026-12-01T10:00:00+01:00", "2026-12-01T11:00:00+01:00"),
    ]


def test_intervals_keep_an_interval_running_past_the_last_day_whole() -> None:
    hours = opening_hours({"mon": ["22:00-02:00"]})
    assert isos(hours.intervals(MON, 1)) == [
        ("2026-11-30T22:00:00+01:00", "2026-12-01T02:00:00+01:00")
    ]


def test_24_00_and_next_day_00_00_merge_into_one_interval() -> None:
    hours = opening_hours({"mon": ["20:00-24:00"], "tue": ["00:00-02:00"]})
    tue = MON + timedelta(days=1)
    assert hours.is_open(at(tue))
    assert hours.interval_at(at(MON, 21)) == Interval(at(MON, 20), at(tue, 2))
    assert hours.interval_at(at(tue, 1)) == Interval(at(MON, 20), at(tue, 2))
    assert iso(hours.next_closing(at(MON, 23, 59))) == "2026-12-01T02:00:00+01:00"
    assert isos(hours.intervals(MON, 2)) == [
        ("2026-11-30T20:00:00+01:00", "2026-12-01T02:00:00+01:00")
    ]


def test_overlapping_and_adjacent_ranges_merge() -> None:
    hours = opening_hours({"mon": ["10:00-14:00", "12:00-17:00", "17:00-18:00", "11:00-12:00"]})
    assert isos(hours.intervals(MON, 1)) == [
        ("2026-11-30T10:00:00+01:00", "2026-11-30T18:00:00+01:00")
    ]
    assert iso(hours.next_closing(at(MON, 10))) == "2026-11-30T18:00:00+01:00"


def test_overnight_range_merges_with_an_overlapping_range_next_day() -> None:
    hours = opening_hours({"mon": ["22:00-03:00"], "tue": ["01:00-04:00", "08:00-09:00"]})
    tue = MON + timedelta(days=1)
    assert hours.interval_at(at(tue, 2)) == Interval(at(MON, 22), at(tue, 4))
    assert isos(hours.intervals(MON, 2)) == [
        ("2026-11-30T22:00:00+01:00", "2026-12-01T04:00:00+01:00"),
        ("2026-12-01T08:00:00+01:00", "2026-12-01T09:00:00+01:00"),
    ]


def test_interval_at_is_none_when_closed() -> None:
    hours = opening_hours({"mon": ["10:00-17:00"]})
    assert hours.interval_at(at(MON, 17)) is None


# --- exceptions --------------------------------------------------------------------------------


def test_exception_closes_a_day() -> None:
    christmas = date(2026, 12, 25)  # a Friday
    hours = opening_hours(WEEKDAYS_10_17, {christmas: []})
    assert not hours.is_open(at(christmas, 12))
    assert iso(hours.next_opening(at(christmas, 12))) == "2026-12-28T10:00:00+01:00"
    assert iso(hours.next_opening(at(date(2026, 12, 24), 17))) == "2026-12-28T10:00:00+01:00"
    assert hours.intervals(christmas, 3) == []


def test_exception_replaces_the_weekday_hours() -> None:
    christmas_eve = date(2026, 12, 24)  # a Thursday
    hours = opening_hours({"thu": ["10:00-17:00", "19:00-22:00"]}, {christmas_eve: ["10:00-15:00"]})
    assert iso(hours.next_closing(at(christmas_eve, 12))) == "2026-12-24T15:00:00+01:00"
    assert not hours.is_open(at(christmas_eve, 15, 30))
    assert not hours.is_open(at(christmas_eve, 20))
    assert isos(hours.intervals(date(2026, 12, 31), 1)) == [
        ("2026-12-31T10:00:00+01:00", "2026-12-31T17:00:00+01:00"),
        ("2026-12-31T19:00:00+01:00", "2026-12-31T22:00:00+01:00"),
    ]


def test_exception_can_open_a_day_that_is_normally_closed() -> None:
    saturday = date(2026, 12, 5)
    hours = opening_hours(WEEKDAYS_10_17, {saturday: ["12:00-14:00"]})
    assert iso(hours.next_opening(at(date(2026, 12, 4), 17))) == "2026-12-05T12:00:00+01:00"


def test_previous_days_overnight_range_runs_into_an_exception_day() -> None:
    christmas = date(2026, 12, 25)
    hours = opening_hours({"thu": ["22:00-02:00"], "fri": ["10:00-17:00"]}, {christmas: []})
    assert hours.is_open(at(christmas, 1))
    assert iso(hours.next_closing(at(christmas, 1))) == "2026-12-25T02:00:00+01:00"
    assert not hours.is_open(at(christmas, 12))


def test_exception_ranges_can_cross_midnight_too() -> None:
    new_years_eve = date(2026, 12, 31)
    hours = opening_hours({}, {new_years_eve: ["20:00-03:00"]})
    assert iso(hours.next_closing(at(date(2027, 1, 1), 1))) == "2027-01-01T03:00:00+01:00"


# --- daylight saving time ----------------------------------------------------------------------


def test_overnight_range_across_spring_forward_is_an_hour_shorter() -> None:
    hours = opening_hours({"sat": ["22:00-04:00"]})
    interval = hours.interval_at(at(SPRING_FORWARD, 1))
    assert interval is not None
    assert iso(interval.opens_at) == "2026-03-28T22:00:00+01:00"
    assert iso(interval.closes_at) == "2026-03-29T04:00:00+02:00"
    assert utc(interval.closes_at) - utc(interval.opens_at) == timedelta(hours=5)


def test_range_starting_in_the_spring_gap_opens_after_the_gap() -> None:
    hours = opening_hours({"sun": ["02:30-05:00"]})
    assert iso(hours.next_opening(at(SPRING_FORWARD - timedelta(days=1), 23))) == (
        "2026-03-29T03:30:00+02:00"
    )
    assert not hours.is_open(datetime(2026, 3, 29, 1, 29, tzinfo=UTC))
    assert hours.is_open(datetime(2026, 3, 29, 1, 30, tzinfo=UTC))


def test_range_ending_in_the_spring_gap_closes_after_the_gap() -> None:
    hours = opening_hours({"sun": ["01:00-02:30"]})
    interval = hours.interval_at(at(SPRING_FORWARD, 1, 30))
    assert interval is not None
    assert iso(interval.opens_at) == "2026-03-29T01:00:00+01:00"
    assert iso(interval.closes_at) == "2026-03-29T03:30:00+02:00"


def test_range_left_empty_by_the_spring_gap_is_dropped() -> None:
    # 02:30 moves forward to 03:30 CEST, which is after 03:00: nothing is left.
    hours = opening_hours({"sun": ["02:30-03:00", "10:00-11:00"]})
    assert not hours.is_open(at(SPRING_FORWARD, 3, 15))
    assert isos(hours.intervals(SPRING_FORWARD, 1)) == [
        ("2026-03-29T10:00:00+02:00", "2026-03-29T11:00:00+02:00")
    ]


def test_midnight_boundaries_on_the_spring_forward_day() -> None:
    hours = opening_hours({"sun": ["00:00-24:00"]})
    interval = hours.interval_at(at(SPRING_FORWARD, 12))
    assert interval is not None
    assert iso(interval.opens_at) == "2026-03-29T00:00:00+01:00"
    assert iso(interval.closes_at) == "2026-03-30T00:00:00+02:00"
    assert utc(interval.closes_at) - utc(interval.opens_at) == timedelta(hours=23)


def test_overnight_range_across_fall_back_is_an_hour_longer() -> None:
    hours = opening_hours({"sat": ["22:00-04:00"]})
    interval = hours.interval_at(at(FALL_BACK, 2, 30, fold=1))
    assert interval is not None
    assert iso(interval.opens_at) == "2026-10-24T22:00:00+02:00"
    assert iso(interval.closes_at) == "2026-10-25T04:00:00+01:00"
    assert utc(interval.closes_at) - utc(interval.opens_at) == timedelta(hours=7)


def test_range_starting_in_the_repeated_hour_opens_at_its_first_occurrence() -> None:
    hours = opening_hours({"sun": ["02:30-04:00"]})
    assert iso(hours.next_opening(at(FALL_BACK, 1))) == "2026-10-25T02:30:00+02:00"
    assert not hours.is_open(at(FALL_BACK, 2, 15, fold=0))  # 00:15 UTC
    assert hours.is_open(at(FALL_BACK, 2, 15, fold=1))  # 01:15 UTC, the second 02:15
    assert iso(hours.next_closing(at(FALL_BACK, 3))) == "2026-10-25T04:00:00+01:00"


def test_range_ending_in_the_repeated_hour_closes_at_its_first_occurrence() -> None:
    hours = opening_hours({"sun": ["00:00-02:30"]})
    assert iso(hours.next_closing(at(FALL_BACK, 1))) == "2026-10-25T02:30:00+02:00"
    assert not hours.is_open(at(FALL_BACK, 2, 45, fold=0))
    assert not hours.is_open(at(FALL_BACK, 2, 15, fold=1))


def test_midnight_boundaries_on_the_fall_back_day() -> None:
    hours = opening_hours({"sun": ["00:00-24:00"]})
    assert isos(hours.intervals(FALL_BACK, 1)) == [
        ("2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00")
    ]


def test_daytime_hours_keep_their_wall_clock_across_dst() -> None:
    hours = opening_hours(WEEKDAYS_10_17)
    assert iso(hours.next_opening(at(date(2026, 3, 27), 17))) == "2026-03-30T10:00:00+02:00"
    assert iso(hours.next_opening(at(date(2026, 10, 23), 17))) == "2026-10-26T10:00:00+01:00"


# --- next opening / next closing ---------------------------------------------------------------


def test_next_opening_skips_a_closed_weekend() -> None:
    hours = opening_hours(WEEKDAYS_10_17)
    friday, saturday = date(2026, 12, 4), date(2026, 12, 5)
    expected = "2026-12-07T10:00:00+01:00"
    assert iso(hours.next_opening(at(friday, 17))) == expected
    assert iso(hours.next_opening(at(saturday, 12))) == expected
    assert iso(hours.next_opening(at(saturday + timedelta(days=1), 23, 59, 59))) == expected


def test_next_opening_is_now_when_open() -> None:
    hours = opening_hours(WEEKDAYS_10_17)
    now = at(MON, 10, 0, 1)
    assert hours.next_opening(now) == now
    assert hours.next_opening(at(MON, 10)) == at(MON, 10)


def test_next_closing_is_now_when_closed() -> None:
    hours = opening_hours(WEEKDAYS_10_17)
    saturday = at(date(2026, 12, 5), 12)
    assert hours.next_closing(saturday) == saturday
    assert iso(hours.next_closing(at(date(2026, 12, 4), 16))) == "2026-12-04T17:00:00+01:00"


def test_never_open_helpline_has_no_next_opening() -> None:
    hours = opening_hours({})
    now = at(MON, 12)
    assert not hours.is_open(now)
    assert hours.next_opening(now) is None
    assert hours.next_closing(now) == now
    assert hours.interval_at(now) is None
    assert hours.intervals(MON, 62) == []


def test_helpline_closed_every_week_opens_on_exception_dates() -> None:
    hours = opening_hours({}, {date(2027, 2, 1): ["09:00-10:00"]})
    assert iso(hours.next_opening(at(MON))) == "2027-02-01T09:00:00+01:00"
    assert hours.next_opening(at(date(2027, 2, 1), 10)) is None


def test_opening_beyond_the_horizon_is_not_found() -> None:
    far = MON + timedelta(days=HORIZON_DAYS + 2)
    hours = opening_hours({}, {far: ["09:00-10:00"]})
    assert hours.next_opening(at(MON)) is None
    assert hours.next_opening(at(far - timedelta(days=3))) == at(far, 9)


def test_always_open_helpline_never_closes_within_the_horizon() -> None:
    hours = opening_hours(ALWAYS)
    now = at(MON, 12, 34)
    assert hours.is_open(now)
    assert hours.next_opening(now) == now
    assert hours.next_closing(now) is None
    interval = hours.interval_at(now)
    assert interval == Interval(
        at(MON - timedelta(days=HORIZON_DAYS)), at(MON + timedelta(days=HORIZON_DAYS + 1))
    )
    assert len(hours.intervals(MON, 62)) == 1


def test_always_open_except_one_day_closes_at_that_day() -> None:
    christmas = date(2026, 12, 25)
    hours = opening_hours(ALWAYS, {christmas: []})
    assert iso(hours.next_closing(at(MON))) == "2026-12-25T00:00:00+01:00"
    assert iso(hours.next_opening(at(christmas, 12))) == "2026-12-26T00:00:00+01:00"


# --- input handling ----------------------------------------------------------------------------


def test_naive_datetime_is_rejected() -> None:
    hours = opening_hours(WEEKDAYS_10_17)
    naive = datetime(2026, 11, 30, 12)
    for method in (hours.is_open, hours.interval_at, hours.next_opening, hours.next_closing):
        with pytest.raises(ValueError, match="aware"):
            method(naive)


@pytest.mark.parametrize("other", [UTC, NEW_YORK])
def test_same_answers_for_an_instant_given_in_another_timezone(other: ZoneInfo) -> None:
    hours = opening_hours({"mon": ["10:00-12:00", "22:00-02:00"], "fri": ["09:00-17:00"]})
    for local in [at(MON, 9), at(MON, 11), at(MON, 23), at(date(2026, 12, 4), 23)]:
        moved = local.astimezone(other)
        assert hours.is_open(moved) == hours.is_open(local)
        assert hours.interval_at(moved) == hours.interval_at(local)
        assert iso(hours.next_closing(moved)) == iso(hours.next_closing(local))
        assert iso(hours.next_opening(moved)) == iso(hours.next_opening(local))


def test_returned_datetimes_are_in_the_helpline_timezone() -> None:
    hours = opening_hours(WEEKDAYS_10_17)
    utc_now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    for t in (hours.next_opening(utc_now), hours.next_closing(utc_now)):
        assert t is not None
        assert t.tzinfo is TZ
    assert hours.next_closing(datetime(2026, 12, 5, tzinfo=UTC)) == at(date(2026, 12, 5), 1)
    for interval in hours.intervals(MON, 7):
        assert interval.opens_at.tzinfo is TZ
        assert interval.closes_at.tzinfo is TZ


def test_intervals_for_zero_days_is_empty_and_negative_is_an_error() -> None:
    hours = opening_hours(WEEKDAYS_10_17)
    assert hours.intervals(MON, 0) == []
    with pytest.raises(ValueError):
        hours.intervals(MON, -1)
    with pytest.raises(ValueError):
        hours.intervals(date(1, 1, 1), 7)


# --- helpers for the whole config --------------------------------------------------------------


def config(*helplines: HelplineConfig) -> Config:
    return Config(file=Path("helplines.toml"), timezone=TZ, helplines=helplines)


def test_opening_hours_by_helpline_has_one_entry_per_helpline() -> None:
    cfg = config(helpline(helpline_id="a"), helpline(helpline_id="b"))
    by_id = opening_hours_by_helpline(cfg)
    assert list(by_id) == ["a", "b"]
    assert by_id["b"].helpline.id == "b"


def test_describe_next_openings_when_closed() -> None:
    stopitnow = helpline(
        {**WEEKDAYS_10_17, "mon": ["10:00-17:00", "19:00-22:00"]},
        helpline_id="stopitnow",
        name="Stop it Now",
    )
    lines = describe_next_openings(config(stopitnow), at(date(2026, 11, 28), 14, 28))
    assert lines == [
        "stopitnow (Stop it Now): closed now; next openings: 2026-11-30T10:00+01:00 to 17:00, "
        "2026-11-30T19:00+01:00 to 22:00, 2026-12-01T10:00+01:00 to 17:00"
    ]


def test_describe_next_openings_when_open_and_overnight() -> None:
    night = helpline({"mon": ["22:00-02:00"]}, helpline_id="night", name="Night")
    lines = describe_next_openings(config(night), at(MON, 23), count=1)
    assert lines == [
        "night (Night): open now until 2026-12-01T02:00+01:00; "
        "next openings: 2026-12-07T22:00+01:00 to 2026-12-08T02:00+01:00"
    ]


def test_describe_next_openings_for_always_and_never_open() -> None:
    always = helpline(ALWAYS, helpline_id="always", name="Always")
    never = helpline({}, helpline_id="never", name="Never")
    assert describe_next_openings(config(always, never), at(MON)) == [
        "always (Always): open now, around the clock",
        f"never (Never): closed now; no opening within {HORIZON_DAYS} days",
    ]


# --- properties over random schedules ----------------------------------------------------------

DST_DATES = [date(2025, 3, 30), date(2025, 10, 26), SPRING_FORWARD, FALL_BACK, date(2027, 3, 28)]
EARLIEST, LATEST = datetime(2025, 1, 1, tzinfo=UTC), datetime(2028, 12, 31, tzinfo=UTC)


# Schedules are drawn as a few integers (cheap to generate, shrink towards Monday 00:00).
# A range is (start, length) in half hours, so adjacency, overlap and the 02:00-03:00 DST hour
# are common; it lasts less than a day and past 1440 runs into the next day, as in the config.
RANGES = 48 * 47
some_dates = st.integers(0, 4 * 366).map(lambda n: date(2025, 1, 1) + timedelta(days=n))


def time_range(code: int) -> TimeRange:
    start, length = divmod(code % RANGES, 47)
    return TimeRange(start * 30, (start + length + 1) * 30)


@st.composite
def schedules(draw: st.DrawFn, near: date | None = None) -> HelplineConfig:
    """Random weekly ranges and exceptions, some on DST days and some near `near`."""
    hours: dict[int, list[TimeRange]] = {weekday: [] for weekday in range(7)}
    for code in draw(st.lists(st.integers(0, 7 * RANGES - 1), max_size=10)):
        hours[code // RANGES].append(time_range(code))
    pool = DST_DATES + ([near + timedelta(days=k) for k in range(-2, 3)] if near else [])
    exception_days = draw(st.lists(st.one_of(st.sampled_from(pool), some_dates), max_size=5))
    # Per exception day 0, 1 or 2 ranges: 0 closes the day.
    codes = draw(st.lists(st.integers(0, 3 * RANGES * RANGES - 1), min_size=5, max_size=5))
    exceptions = {
        day: tuple(time_range(code // RANGES**k) for k in range(code // (RANGES * RANGES)))
        for day, code in zip(exception_days, codes, strict=False)
    }
    return HelplineConfig(
        id="random",
        name="Random",
        max_queue=1,
        last_admission_minutes=0,
        max_chats_per_counselor=1,
        hours=MappingProxyType({weekday: tuple(rs) for weekday, rs in hours.items()}),
        exceptions=MappingProxyType(exceptions),
    )


instants = st.one_of(
    st.datetimes(
        EARLIEST.replace(tzinfo=None),
        LATEST.replace(tzinfo=None),
        timezones=st.sampled_from([UTC, TZ, NEW_YORK]),
    ),
    # Exactly on the half hour, where ranges begin and end.
    st.builds(
        lambda minutes: EARLIEST + timedelta(minutes=30 * minutes),
        st.integers(0, (LATEST - EARLIEST) // timedelta(minutes=30)),
    ),
    # Around the DST changes.
    st.builds(
        lambda day, minutes: datetime.combine(day, time(), tzinfo=UTC) + timedelta(minutes=minutes),
        st.sampled_from(DST_DATES),
        st.integers(-120, 24 * 60 + 120),
    ),
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[HelplineConfig, datetime]:
    t = draw(instants)
    return draw(schedules(near=t.astimezone(TZ).date())), t


PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def samples_between(start: datetime, end: datetime, count: int = 40) -> list[datetime]:
    """Points strictly between start and end, including the last second before end."""
    start, end = utc(start), utc(end)
    step = (end - start) / count
    points = [start + step * k for k in range(1, count)]
    points.append(end - timedelta(seconds=1))
    return [p for p in points if start < p < end]


def across_the_horizon(t: datetime) -> list[datetime]:
    """About 200 points over the next HORIZON_DAYS, each at a different time of day."""
    step = timedelta(days=HORIZON_DAYS) / 199
    return [utc(t) + step * k for k in range(200)]


def local_day(t: datetime) -> date:
    return t.astimezone(TZ).date()


def oracle_is_open(hours: OpeningHours, t: datetime) -> bool:
    """Straight from the rules: the ranges of t's local day and the day before."""
    day = local_day(t)
    for d in (day - timedelta(days=1), day):
        day_ranges = hours.helpline.exceptions.get(d, hours.helpline.hours[d.weekday()])
        for r in day_ranges:
            start = datetime.combine(d, time(), tzinfo=TZ) + timedelta(minutes=r.start)
            end = datetime.combine(d, time(), tzinfo=TZ) + timedelta(minutes=r.end)
            # Wall-clock arithmetic on aware datetimes, then fold=0 through UTC.
            if start.astimezone(UTC) <= t.astimezone(UTC) < end.astimezone(UTC):
                return True
    return False


@PROPERTY
@given(cases())
def test_is_open_follows_the_configured_ranges(case: tuple[HelplineConfig, datetime]) -> None:
    config, t = case
    hours = OpeningHours(config, TZ)
    assert hours.is_open(t) == oracle_is_open(hours, t)


@PROPERTY
@given(cases())
def test_next_opening_is_open_and_nothing_before_it_is(
    case: tuple[HelplineConfig, datetime],
) -> None:
    config, t = case
    hours = OpeningHours(config, TZ)
    opening = hours.next_opening(t)
    if opening is None:
        assert not any(hours.is_open(p) for p in across_the_horizon(t))
        return
    assert utc(opening) >= utc(t)
    assert opening.tzinfo is TZ
    assert hours.is_open(opening)
    assert (utc(opening) == utc(t)) == hours.is_open(t)
    assert not any(hours.is_open(p) for p in samples_between(t, opening))


@PROPERTY
@given(cases())
def test_next_closing_is_closed_and_everything_before_it_is_open(
    case: tuple[HelplineConfig, datetime],
) -> None:
    config, t = case
    hours = OpeningHours(config, TZ)
    closing = hours.next_closing(t)
    if closing is None:
        assert all(hours.is_open(p) for p in across_the_horizon(t))
        return
    assert utc(closing) >= utc(t)
    assert closing.tzinfo is TZ
    assert not hours.is_open(closing)
    assert (utc(closing) == utc(t)) == (not hours.is_open(t))
    assert all(hours.is_open(p) for p in samples_between(t, closing))


@PROPERTY
@given(cases())
def test_is_open_iff_some_interval_contains_the_instant(
    case: tuple[HelplineConfig, datetime],
) -> None:
    config, t = case
    hours = OpeningHours(config, TZ)
    intervals = [span(iv) for iv in hours.intervals(local_day(t) - timedelta(days=1), 3)]
    containing = [iv for iv in intervals if iv[0] <= utc(t) < iv[1]]
    assert hours.is_open(t) == bool(containing)
    interval = hours.interval_at(t)
    assert (None if interval is None else span(interval)) == (containing[0] if containing else None)


@PROPERTY
@given(st.data(), some_dates, st.integers(1, 62))
def test_intervals_are_sorted_separate_and_overlap_the_days(
    data: st.DataObject, first: date, days: int
) -> None:
    config = data.draw(schedules(near=first + timedelta(days=days // 2)))
    hours = OpeningHours(config, TZ)
    intervals = [span(iv) for iv in hours.intervals(first, days)]
    window_start = utc(datetime.combine(first, time(), tzinfo=TZ))
    window_end = utc(datetime.combine(first + timedelta(days=days), time(), tzinfo=TZ))
    for opens_at, closes_at in intervals:
        assert opens_at < closes_at
        assert opens_at < window_end and closes_at > window_start
        assert hours.is_open(opens_at)
        assert not hours.is_open(closes_at)
        assert not hours.is_open(opens_at - timedelta(microseconds=1))
    for before, after in itertools.pairwise(intervals):
        assert before[1] < after[0]  # neither overlapping nor adjacent
