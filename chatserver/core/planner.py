"""The opening-hours planner: what other weekly hours would have reached, and who they need.

From the measured hour-of-week demand (core/demand.py) of a range of W weeks:

* Each hour-of-week cell's request rate is (open + closed demand of the cell) / W per hour.
* A cell the proposed hours cover (share s of the hour) that was closed gains s x its closed
  demand; a cell they no longer cover loses (1 - s) x its open demand. Scaled to a year
  (52.18 weeks) this is `extra_requests_per_year`; times the measured answered rate it is
  `extra_contacts_per_year`. It is an upper bound: someone who met the closed screen twice
  counts twice, and some would have come back later anyway.
* The mean chat duration (AHT) comes from the duration histogram: each bucket at its midpoint,
  the open last bucket at 1.5 x its lower bound (90 min); 15 min when nothing is measured.
* Counselors per hour: Erlang C (core/erlang.py) for the cell's rate and the AHT, the fewest
  chat slots whose median wait stays within the target, divided by the chats one counselor
  runs at once, rounded up; at least 1 in every hour the proposal is open.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from chatserver.config import WEEKDAYS, TimeRange
from chatserver.core import counting
from chatserver.core.demand import HOURS, Matrix, empty_matrix
from chatserver.core.erlang import servers_needed

WEEKS_PER_YEAR = 52.18
DEFAULT_HANDLING_S = 900.0
OPEN_BUCKET_FACTOR = 1.5


def coverage(hours: Mapping[int, Sequence[TimeRange]]) -> list[list[float]]:
    """Share (0..1) of each weekday-hour that the weekly ranges cover; overnight wraps."""
    minutes = [[0] * HOURS for _ in range(len(WEEKDAYS))]
    for weekday, ranges in hours.items():
        for time_range in ranges:
            for minute in range(time_range.start, time_range.end):
                day = (weekday + minute // 1440) % 7
                minutes[day][(minute % 1440) // 60] += 1
    return [[min(60, m) / 60 for m in row] for row in minutes]


def mean_handling_s(counts: Mapping[str, int]) -> float:
    """Mean chat duration from the histogram (see the module docstring)."""
    lower = 0.0
    total = weighted = 0.0
    for upper, name in counting.DURATION_BUCKETS:
        n = int(counts.get(name, 0))
        mid = lower * OPEN_BUCKET_FACTOR if upper == math.inf else (lower + upper) / 2
        total += n
        weighted += n * mid
        lower = upper
    return weighted / total if total else DEFAULT_HANDLING_S


def plan(
    *,
    open_demand: Matrix,
    closed_demand: Matrix,
    weeks: float,
    proposed: Mapping[int, Sequence[TimeRange]],
    counts: Mapping[str, int],
    target_median_wait_s: float,
    chats_per_counselor: int = 1,
) -> dict[str, Any]:
    """What the proposed weekly hours would have reached, and counselors per hour."""
    weeks = max(weeks, 1.0)
    share = coverage(proposed)
    handling = mean_handling_s(counts)
    requested = int(counts.get(counting.REQUESTED, 0))
    answered = int(counts.get(counting.ANSWERED, 0))
    answered_rate = answered / requested if requested else 1.0
    gained = lost = 0.0
    counselors = empty_matrix()
    rates: list[list[float]] = [[0.0] * HOURS for _ in range(len(WEEKDAYS))]
    for weekday in range(len(WEEKDAYS)):
        for hour in range(HOURS):
            s = share[weekday][hour]
            gained += s * closed_demand[weekday][hour]
            lost += (1 - s) * open_demand[weekday][hour]
            rate = (open_demand[weekday][hour] + closed_demand[weekday][hour]) / weeks
            rates[weekday][hour] = round(rate, 2)
            if s > 0:
                slots = servers_needed(rate, handling, target_median_wait_s)
                counselors[weekday][hour] = max(1, math.ceil(slots / chats_per_counselor))
    scale = WEEKS_PER_YEAR / weeks
    extra_requests = (gained - lost) * scale
    return {
        "weeks_measured": round(weeks, 2),
        "mean_handling_s": round(handling),
        "answered_rate": round(answered_rate, 3),
        "target_median_wait_s": target_median_wait_s,
        "chats_per_counselor": chats_per_counselor,
        "gained_requests_per_year": round(gained * scale),
        "lost_requests_per_year": round(lost * scale),
        "extra_requests_per_year": round(extra_requests),
        "extra_contacts_per_year": round(extra_requests * answered_rate),
        "open_hours_per_week": round(sum(map(sum, share)), 2),
        "arrivals_per_hour": rates,
        "counselors": counselors,
        "counselor_hours_per_week": sum(map(sum, counselors)),
    }
