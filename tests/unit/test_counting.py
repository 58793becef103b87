"""Rules for counting: the helpline's local day, coarse buckets and the row every day has."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chatserver.core.counting import (
    ABANDONED,
    ANSWERED,
    CLOSED_ATTEMPTS,
    COUNTERS,
    DURATION_BUCKETS,
    REJECTED_FULL,
    REQUESTED,
    UNSERVED_AT_CLOSING,
    WAIT_BUCKETS,
    DailyCounts,
    duration_bucket,
    local_day,
    wait_bucket,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NEW_YORK = ZoneInfo("America/New_York")
SPRING_FORWARD = date(2026, 3, 29)  # 02:00 CET -> 03:00 CEST
FALL_BACK = date(2026, 10, 25)  # 03:00 CEST -> 02:00 CET


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- the local day -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "day"),
    [
        # Winter (+01:00): UTC midnight is 01:00 local, 23:00 UTC is local midnight.
        (utc(2026, 12, 1, 22, 59), date(2026, 12, 1)),
        (utc(2026, 12, 1, 23, 0), date(2026, 12, 2)),
        (utc(2026, 12, 1, 23, 59, 59), date(2026, 12, 2)),
        (utc(2026, 12, 2, 0, 0), date(2026, 12, 2)),
        # Summer (+02:00): local midnight is 22:00 UTC.
        (utc(2026, 7, 1, 21, 59), date(2026, 7, 1)),
        (utc(2026, 7, 1, 22, 0), date(2026, 7, 2)),
        # New Year happens an hour before it does in UTC.
        (utc(2026, 12, 31, 22, 59), date(2026, 12, 31)),
        (utc(2026, 12, 31, 23, 0), date(2027, 1, 1)),
    ],
)
def test_the_local_day_is_the_day_in_the_helplines_timezone(instant: datetime, day: date) -> None:
    assert local_day(instant, AMSTERDAM) == day


@pytest.mark.parametrize(
    ("wall", "day"),
    [
        # The night into spring forward: midnight is still +01:00.
        (datetime(2026, 3, 28, 23, 59, tzinfo=AMSTERDAM), date(2026, 3, 28)),
        (datetime(2026, 3, 29, 0, 0, tzinfo=AMSTERDAM), SPRING_FORWARD),
        # The spring-forward day has 23 hours; its last minute is +02:00.
        (datetime(2026, 3, 29, 23, 59, tzinfo=AMSTERDAM), SPRING_FORWARD),
        (datetime(2026, 3, 30, 0, 0, tzinfo=AMSTERDAM), date(2026, 3, 30)),
        # The night into fall back: midnight is still +02:00.
        (datetime(2026, 10, 24, 23, 59, tzinfo=AMSTERDAM), date(2026, 10, 24)),
        (datetime(2026, 10, 25, 0, 0, tzinfo=AMSTERDAM), FALL_BACK),
        # The fall-back day has 25 hours; both 02:30s belong to it.
        (datetime(2026, 10, 25, 2, 30, tzinfo=AMSTERDAM), FALL_BACK),
        (datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=AMSTERDAM), FALL_BACK),
        (datetime(2026, 10, 25, 23, 59, tzinfo=AMSTERDAM), FALL_BACK),
        (datetime(2026, 10, 26, 0, 0, tzinfo=AMSTERDAM), date(2026, 10, 26)),
    ],
)
def test_local_midnight_separates_days_across_dst_switches(wall: datetime, day: date) -> None:
    # The same instant in UTC gives the same day: the day depends on the instant only.
    assert local_day(wall, AMSTERDAM) == day
    assert local_day(wall.astimezone(UTC), AMSTERDAM) == day


def test_the_spring_forward_day_is_23_hours_and_the_fall_back_day_25() -> None:
    def hours_in(day: date) -> int:
        start = datetime(day.year, day.month, day.day, tzinfo=AMSTERDAM).astimezone(UTC)
        hours = 0
        while local_day(start + timedelta(hours=hours), AMSTERDAM) == day:
            hours += 1
        return hours

    assert hours_in(SPRING_FORWARD) == 23
    assert hours_in(FALL_BACK) == 25
    assert hours_in(date(2026, 12, 2)) == 24


def test_utc_midnight_is_not_the_boundary_west_of_utc() -> None:
    # 00:30 UTC on 2 December is 19:30 on 1 December in New York.
    assert local_day(utc(2026, 12, 2, 0, 30), NEW_YORK) == date(2026, 12, 1)
    assert local_day(utc(2026, 12, 2, 5, 0), NEW_YORK) == date(2026, 12, 2)


def test_an_instant_given_in_another_timezone_is_converted_first() -> None:
    # 18:30 in New York is 00:30 the next day in Amsterdam.
    evening = datetime(2026, 12, 1, 18, 30, tzinfo=NEW_YORK)
    assert local_day(evening, AMSTERDAM) == date(2026, 12, 2)


# --- buckets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [
        (-5.0, "wait_under_1m"),  # a clock that stepped back never makes a negative wait
        (0.0, "wait_under_1m"),
        (59.9, "wait_under_1m"),
        (59.999, "wait_under_1m"),
        (60.0, "wait_1_5m"),
        (60.1, "wait_1_5m"),
        (299.9, "wait_1_5m"),
        (300.0, "wait_5_15m"),
        (899.9, "wait_5_15m"),
        (900.0, "wait_15_30m"),
        (1799.9, "wait_15_30m"),
        (1800.0, "wait_30m_plus"),
        (86_400.0 * 3, "wait_30m_plus"),
    ],
)
def test_a_wait_lands_in_the_bucket_whose_upper_bound_it_is_below(
    seconds: float, bucket: str
) -> None:
    assert wait_bucket(seconds) == bucket


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [
        (-1.0, "duration_under_5m"),
        (0.0, "duration_under_5m"),
        (59.9, "duration_under_5m"),
        (60.0, "duration_under_5m"),
        (299.9, "duration_under_5m"),
        (300.0, "duration_5_15m"),
        (899.9, "duration_5_15m"),
        (900.0, "duration_15_30m"),
        (1799.9, "duration_15_30m"),
        (1800.0, "duration_30_60m"),
        (3599.9, "duration_30_60m"),
        (3600.0, "duration_60m_plus"),
        (86_400.0, "duration_60m_plus"),
    ],
)
def test_a_duration_lands_in_the_bucket_whose_upper_bound_it_is_below(
    seconds: float, bucket: str
) -> None:
    assert duration_bucket(seconds) == bucket


def test_integer_seconds_bucket_like_floats() -> None:
    assert wait_bucket(59) == "wait_under_1m"
    assert wait_bucket(60) == "wait_1_5m"
    assert duration_bucket(300) == "duration_5_15m"


@pytest.mark.parametrize("buckets", [WAIT_BUCKETS, DURATION_BUCKETS])
def test_bucket_bounds_rise_and_the_last_is_open(buckets: tuple[tuple[float, str], ...]) -> None:
    bounds = [bound for bound, _ in buckets]
    assert bounds == sorted(bounds)
    assert len(set(bounds)) == len(bounds)
    assert bounds[-1] == float("inf")


def test_every_bucket_is_a_counter() -> None:
    for _, name in (*WAIT_BUCKETS, *DURATION_BUCKETS):
        assert name in COUNTERS


# --- the counters and a day's row --------------------------------------------------------


def test_the_counters_are_the_contract_names_in_a_fixed_order() -> None:
    assert COUNTERS == (
        "requested",
        "answered",
        "abandoned",
        "closed_attempts",
        "rejected_full",
        "unserved_at_closing",
        "wait_under_1m",
        "wait_1_5m",
        "wait_5_15m",
        "wait_15_30m",
        "wait_30m_plus",
        "duration_under_5m",
        "duration_5_15m",
        "duration_15_30m",
        "duration_30_60m",
        "duration_60m_plus",
        "transferred",
        "blocked",
    )
    named = (REQUESTED, ANSWERED, ABANDONED, CLOSED_ATTEMPTS, REJECTED_FULL, UNSERVED_AT_CLOSING)
    assert COUNTERS[:6] == named
    assert len(set(COUNTERS)) == len(COUNTERS)


def test_an_empty_day_has_every_counter_at_zero_in_order() -> None:
    row = DailyCounts(day=date(2026, 12, 2), helpline="alpha").row()
    assert list(row) == ["date", "helpline", *COUNTERS]
    assert row["date"] == "2026-12-02"
    assert row["helpline"] == "alpha"
    assert all(row[name] == 0 for name in COUNTERS)


def test_a_row_keeps_the_fixed_order_whatever_order_the_counts_come_in() -> None:
    counts = {"wait_30m_plus": 1, "requested": 5, "answered": 3}
    row = DailyCounts(day=date(2026, 12, 2), helpline="alpha", counts=counts).row()
    assert list(row) == ["date", "helpline", *COUNTERS]
    assert row["requested"] == 5
    assert row["answered"] == 3
    assert row["wait_30m_plus"] == 1
    assert row["abandoned"] == 0


def test_a_row_holds_ints() -> None:
    row = DailyCounts(day=date(2026, 12, 2), helpline="alpha", counts={"requested": 2}).row()
    for name in COUNTERS:
        assert type(row[name]) is int


def test_an_unknown_counter_is_kept_after_the_known_ones_in_name_order() -> None:
    counts = {"zeta": 2, "requested": 1, "alpha_extra": 4}
    row = DailyCounts(day=date(2026, 12, 2), helpline="alpha", counts=counts).row()
    assert list(row) == ["date", "helpline", *COUNTERS, "alpha_extra", "zeta"]
    assert row["alpha_extra"] == 4
    assert row["zeta"] == 2


def test_rows_of_different_days_have_the_same_columns() -> None:
    quiet = DailyCounts(day=date(2026, 12, 1), helpline="alpha").row()
    busy = DailyCounts(
        day=date(2026, 12, 2), helpline="beta", counts={name: 7 for name in COUNTERS}
    ).row()
    assert list(quiet) == list(busy)
