"""The counting rules of core/counting.py, stats.py and year_report.py, without a server."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from chatserver.core import counting
from chatserver.core.counting import DailyCounts
from chatserver.core.stats import histogram_quantile, summarize, suppress
from chatserver.core.year_report import year_report

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def test_demand_cells_use_local_weekday_and_hour_across_midnight_and_dst() -> None:
    # 23:30 UTC on Sunday 29 March 2026 is 01:30 CEST on Monday 30 March.
    late = datetime(2026, 3, 29, 23, 30, tzinfo=UTC)
    assert counting.demand_cell(late, AMSTERDAM, open_=False) == "closed:0:01"
    assert counting.local_month(late, AMSTERDAM) == "2026-03"
    assert counting.local_day(late, AMSTERDAM) == date(2026, 3, 30)
    # Spring forward: 01:59:59 UTC+1, then 03:00 CEST on Sunday 29 March; hour 2 never occurs.
    before = datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC)
    after = datetime(2026, 3, 29, 1, 0, 0, tzinfo=UTC)
    assert counting.demand_cell(before, AMSTERDAM, open_=True) == "open:6:01"
    assert counting.demand_cell(after, AMSTERDAM, open_=True) == "open:6:03"
    # Fall back: 02:30 happens twice on 25 October 2026; both count in hour 2.
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert counting.demand_cell(first, AMSTERDAM, open_=True) == "open:6:02"
    assert counting.demand_cell(second, AMSTERDAM, open_=True) == "open:6:02"
    # New Year's Eve at midnight in Amsterdam is the next month and year.
    assert counting.local_month(datetime(2026, 12, 31, 23, 0, tzinfo=UTC), AMSTERDAM) == "2027-01"


def test_demand_cells_parse_back_and_reject_anything_else() -> None:
    assert counting.parse_demand_cell("closed:6:23") == ("closed", 6, 23)
    for bad in ("open:7:00", "open:0:24", "busy:0:01", "open:0", "open:a:01", "2026-12-02"):
        assert counting.parse_demand_cell(bad) is None


def test_contacts_are_answered_chats_calls_and_emails() -> None:
    counts = {"answered": 6, "tally_phone": 2, "tally_email": 1, "requested": 9}
    assert counting.contacts_by_channel(counts) == {"chat": 6, "phone": 2, "email": 1, "total": 9}


def test_every_outcome_path_names_one_counter() -> None:
    assert counting.tag_counters("test", ("grooming",), explicit_none=True) == [
        "outcome_test",
        "topic_grooming",
    ]
    assert counting.tag_counters(None, (), explicit_none=True) == ["outcome_none"]
    assert counting.tag_counters(None, (), explicit_none=False) == ["outcome_unspecified"]


def test_wait_percentiles_interpolate_inside_a_bucket_and_stop_at_the_open_one() -> None:
    buckets = counting.WAIT_BUCKETS
    assert histogram_quantile({}, buckets, 0.5) is None
    # 4 under a minute, 2 between 1 and 5 min: the median is at 3/4 of the first bucket.
    counts = {"wait_under_1m": 4, "wait_1_5m": 2}
    assert histogram_quantile(counts, buckets, 0.5) == 45
    assert histogram_quantile(counts, buckets, 0.9) == 60 + 240 * (5.4 - 4) / 2
    assert histogram_quantile({"wait_30m_plus": 3}, buckets, 0.5) == 1800


def test_a_summary_adds_rates_contacts_and_outcomes() -> None:
    summary = summarize(
        {"requested": 4, "answered": 3, "outcome_none": 1, "topic_x": 2, "tally_email": 1}
    )
    assert summary["answered_rate"] == 0.75
    assert summary["contacts"] == {"chat": 3, "phone": 0, "email": 1, "total": 4}
    assert summary["outcomes"] == {"none": 1} and summary["topics"] == {"x": 2}
    assert summarize({})["answered_rate"] is None


def test_suppression_hides_small_counts_only() -> None:
    assert suppress({"a": 0, "b": 3, "c": 5, "d": [1, 10], "e": True, "f": "x"}, 5) == {
        "a": 0,
        "b": "<5",
        "c": 5,
        "d": ["<5", 10],
        "e": True,
        "f": "x",
    }
    assert suppress({"a": 1}, 0) == {"a": 1}


def test_a_scripted_year_gives_growth_per_channel_and_none_for_a_new_helpline() -> None:
    days = [
        DailyCounts(date(2024, 12, 31), "alpha", {"answered": 99}),  # two years back: ignored
        DailyCounts(date(2025, 1, 1), "alpha", {"answered": 100, "tally_phone": 50}),
        DailyCounts(date(2025, 12, 31), "alpha", {"tally_email": 10}),
        DailyCounts(date(2026, 1, 1), "alpha", {"answered": 124, "tally_phone": 40}),
        DailyCounts(date(2026, 12, 31), "alpha", {"tally_email": 10, "closed_attempts": 7}),
        DailyCounts(date(2026, 7, 15), "new", {"answered": 3}),
        DailyCounts(date(2026, 7, 15), "gone", {"answered": 1}),  # not in the configuration
    ]
    report = year_report(2026, days, {"alpha": "Alpha", "new": "New"})
    alpha, new, gone = report["helplines"]
    assert alpha["channels"]["chat"] == {"count": 124, "previous": 100, "growth": 0.24}
    assert alpha["channels"]["phone"] == {"count": 40, "previous": 50, "growth": -0.2}
    assert alpha["channels"]["email"] == {"count": 10, "previous": 10, "growth": 0.0}
    assert alpha["channels"]["total"] == {
        "count": 174,
        "previous": 160,
        "growth": round(14 / 160, 3),
    }
    assert alpha["channels"]["closed_attempts"] == {"count": 7, "previous": 0, "growth": None}
    assert alpha["months"][0]["total"] == 164 and alpha["months"][11]["total"] == 10
    assert new["new"] is True and new["channels"]["total"]["growth"] is None
    assert (gone["id"], gone["name"]) == ("gone", "gone")
    assert report["total"]["channels"]["total"] == {
        "count": 178,
        "previous": 160,
        "growth": round(18 / 160, 3),
    }
