"""The opening-hours planner: reach from measured demand, counselors from Erlang C."""

from __future__ import annotations

from chatserver.config import TimeRange, parse_time_range
from chatserver.core.demand import empty_matrix
from chatserver.core.planner import coverage, mean_handling_s, plan


def ranges(text: str) -> tuple[TimeRange, ...]:
    out = []
    for part in text.split(","):
        parsed = parse_time_range(part)
        assert isinstance(parsed, TimeRange)
        out.append(parsed)
    return tuple(out)


def test_coverage_counts_partial_hours_and_wraps_overnight_into_the_next_day() -> None:
    share = coverage({0: ranges("09:30-11:00"), 6: ranges("23:00-01:00")})
    assert share[0][9] == 0.5 and share[0][10] == 1.0 and share[0][11] == 0.0
    assert share[6][23] == 1.0 and share[0][0] == 1.0  # Sunday night runs into Monday


def test_mean_handling_time_uses_bucket_midpoints_and_a_default() -> None:
    assert mean_handling_s({}) == 900.0
    assert mean_handling_s({"duration_under_5m": 1, "duration_5_15m": 1}) == (150 + 600) / 2
    assert mean_handling_s({"duration_60m_plus": 2}) == 5400


def test_opening_the_evening_reaches_the_closed_attempts_of_the_evening() -> None:
    open_demand, closed_demand = empty_matrix(), empty_matrix()
    for hour in range(9, 17):
        open_demand[0][hour] = 4  # 4 requests each Monday hour over 4 weeks: 1 an hour
    closed_demand[0][19] = 8  # 8 closed attempts on Monday 19-20 over 4 weeks
    counts = {"requested": 32, "answered": 24, "duration_5_15m": 24}  # 75% answered, 10 min
    result = plan(
        open_demand=open_demand,
        closed_demand=closed_demand,
        weeks=4,
        proposed={0: ranges("09:00-17:00,19:00-20:00")},
        counts=counts,
        target_median_wait_s=120,
    )
    assert result["gained_requests_per_year"] == round(8 * 52.18 / 4)
    assert result["lost_requests_per_year"] == 0
    assert result["extra_contacts_per_year"] == round(8 * 52.18 / 4 * 0.75)
    assert result["arrivals_per_hour"][0][19] == 2.0
    assert result["counselors"][0][9] == 1 and result["counselors"][0][19] == 1
    assert result["counselors"][0][18] == 0  # closed in the proposal
    assert result["open_hours_per_week"] == 9


def test_closing_hours_loses_their_open_demand_and_busy_hours_need_more_counselors() -> None:
    open_demand, closed_demand = empty_matrix(), empty_matrix()
    open_demand[2][14] = 40 * 4  # 40 requests an hour on Wednesday 14-15
    open_demand[2][8] = 4
    counts = {"requested": 164, "answered": 164, "duration_15_30m": 164}  # 22.5 min
    result = plan(
        open_demand=open_demand,
        closed_demand=closed_demand,
        weeks=4,
        proposed={2: ranges("09:00-17:00")},
        counts=counts,
        target_median_wait_s=60,
        chats_per_counselor=2,
    )
    assert result["lost_requests_per_year"] == round(4 * 52.18 / 4)
    # 40/h x 1350 s = 15 Erlangs: 16+ slots, so 8+ counselors at 2 chats each.
    assert result["counselors"][2][14] >= 8
    assert result["counselors"][2][10] == 1
