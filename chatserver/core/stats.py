"""What managers read off the counts: totals, rates, wait percentiles, contacts per channel.

Pure functions of DailyCounts rows (core/counting.py); the HTTP routes (web/stats.py) and
`chatserver report` only format what these return, so JSON, CSV and the report agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chatserver.core import counting
from chatserver.core.counting import DailyCounts

# Counters a summary reports as plain totals, in this order.
SUMMARY_COUNTERS: tuple[str, ...] = (
    counting.REQUESTED,
    counting.ANSWERED,
    counting.ABANDONED,
    counting.CLOSED_ATTEMPTS,
    counting.REJECTED_FULL,
    counting.UNSERVED_AT_CLOSING,
    counting.TRANSFERRED,
    counting.BLOCKED,
)


def add_up(rows: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Sum counter mappings key by key."""
    total: dict[str, int] = {}
    for counts in rows:
        for name, n in counts.items():
            total[name] = total.get(name, 0) + int(n)
    return total


def histogram_quantile(
    counts: Mapping[str, int], buckets: tuple[tuple[float, str], ...], q: float
) -> float | None:
    """The q-quantile (0..1) of a bucketed distribution, in seconds; None when empty.

    Estimated by linear interpolation inside the bucket that holds it (values spread evenly
    across a bucket). In the open last bucket there is nothing to interpolate towards, so its
    lower bound is returned: "at least this long".
    """
    sizes = [int(counts.get(name, 0)) for _, name in buckets]
    total = sum(sizes)
    if total == 0:
        return None
    rank = q * total
    lower = 0.0
    seen = 0
    for (upper, _), size in zip(buckets, sizes, strict=True):
        if size and seen + size >= rank:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * (rank - seen) / size
        seen += size
        lower = upper
    return lower  # pragma: no cover (rank <= total)


def histogram(counts: Mapping[str, int], buckets: tuple[tuple[float, str], ...]) -> dict[str, int]:
    return {name: int(counts.get(name, 0)) for _, name in buckets}


def summarize(counts: Mapping[str, int]) -> dict[str, Any]:
    """One helpline's (or all helplines') totals over a range."""
    out: dict[str, Any] = {name: int(counts.get(name, 0)) for name in SUMMARY_COUNTERS}
    requested, answered = out[counting.REQUESTED], out[counting.ANSWERED]
    out["answered_rate"] = round(answered / requested, 3) if requested else None
    out["contacts"] = counting.contacts_by_channel(counts)
    out["wait"] = {
        "median_s": _rounded(histogram_quantile(counts, counting.WAIT_BUCKETS, 0.5)),
        "p90_s": _rounded(histogram_quantile(counts, counting.WAIT_BUCKETS, 0.9)),
        "histogram": histogram(counts, counting.WAIT_BUCKETS),
    }
    out["duration"] = {"histogram": histogram(counts, counting.DURATION_BUCKETS)}
    out["outcomes"] = _prefixed(counts, "outcome_")
    out["topics"] = _prefixed(counts, "topic_")
    return out


def _rounded(value: float | None) -> int | None:
    return None if value is None else round(value)


def _prefixed(counts: Mapping[str, int], prefix: str) -> dict[str, int]:
    return {
        name[len(prefix) :]: int(n) for name, n in sorted(counts.items()) if name.startswith(prefix)
    }


def per_helpline(days: Iterable[DailyCounts]) -> dict[str, dict[str, int]]:
    """Counter totals per helpline."""
    out: dict[str, dict[str, int]] = {}
    for day in days:
        bucket = out.setdefault(day.helpline, {})
        for name, n in day.counts.items():
            bucket[name] = bucket.get(name, 0) + int(n)
    return out


def suppress(value: Any, min_count: int) -> Any:
    """Replace every count 1..min_count-1 by "<min_count", for sharing outside.

    Zero stays zero (nothing to hide); rates and percentiles are left to the caller.
    """
    if min_count <= 1:
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return f"<{min_count}" if 0 < value < min_count else value
    if isinstance(value, dict):
        return {key: suppress(item, min_count) for key, item in value.items()}
    if isinstance(value, list):
        return [suppress(item, min_count) for item in value]
    return value


def suppress_summary(summary: dict[str, Any], min_count: int) -> dict[str, Any]:
    """A suppressed summary: derived values of small cells (rate, percentiles) go too."""
    if min_count <= 1:
        return summary
    small = 0 < summary[counting.ANSWERED] < min_count or (
        0 < summary[counting.REQUESTED] < min_count
    )
    out: dict[str, Any] = suppress(summary, min_count)
    if small:
        out["answered_rate"] = None
        out["wait"] = {**out["wait"], "median_s": None, "p90_s": None}
    return out
