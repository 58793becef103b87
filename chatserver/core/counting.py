"""Daily aggregates: the only trace a contact leaves.

Counts are per helpline per local date. No per-contact row, no identifier and no exact
timestamp is ever kept: waits and durations only land in coarse buckets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

REQUESTED = "requested"
ANSWERED = "answered"
ABANDONED = "abandoned"
CLOSED_ATTEMPTS = "closed_attempts"
REJECTED_FULL = "rejected_full"
UNSERVED_AT_CLOSING = "unserved_at_closing"
TRANSFERRED = "transferred"
BLOCKED = "blocked"

# (upper bound in seconds, counter name); the last bound is open.
WAIT_BUCKETS: tuple[tuple[float, str], ...] = (
    (60, "wait_under_1m"),
    (300, "wait_1_5m"),
    (900, "wait_5_15m"),
    (1800, "wait_15_30m"),
    (float("inf"), "wait_30m_plus"),
)
DURATION_BUCKETS: tuple[tuple[float, str], ...] = (
    (300, "duration_under_5m"),
    (900, "duration_5_15m"),
    (1800, "duration_15_30m"),
    (3600, "duration_30_60m"),
    (float("inf"), "duration_60m_plus"),
)

COUNTERS: tuple[str, ...] = (
    REQUESTED,
    ANSWERED,
    ABANDONED,
    CLOSED_ATTEMPTS,
    REJECTED_FULL,
    UNSERVED_AT_CLOSING,
    *(name for _, name in WAIT_BUCKETS),
    *(name for _, name in DURATION_BUCKETS),
    # Added after v1's first release: new columns go at the end.
    TRANSFERRED,
    BLOCKED,
)


def local_day(now: datetime, tz: ZoneInfo) -> date:
    """The helpline's calendar day for an instant: the day a manager would say."""
    return now.astimezone(tz).date()


def _bucket(seconds: float, buckets: tuple[tuple[float, str], ...]) -> str:
    for bound, name in buckets:
        if seconds < bound:
            return name
    raise AssertionError("the last bucket is open")  # pragma: no cover


def wait_bucket(seconds: float) -> str:
    return _bucket(max(0.0, seconds), WAIT_BUCKETS)


def duration_bucket(seconds: float) -> str:
    return _bucket(max(0.0, seconds), DURATION_BUCKETS)


@dataclass(frozen=True, slots=True)
class DailyCounts:
    day: date
    helpline: str
    counts: Mapping[str, int] = field(default_factory=dict)

    def row(self) -> dict[str, object]:
        """Every counter present (zeros included), in a fixed order."""
        out: dict[str, object] = {"date": self.day.isoformat(), "helpline": self.helpline}
        for name in COUNTERS:
            out[name] = int(self.counts.get(name, 0))
        for name, value in sorted(self.counts.items()):
            out.setdefault(name, int(value))
        return out


def columns(rows: Iterable[Mapping[str, object]]) -> list[str]:
    """Table columns for rows: date, helpline, COUNTERS, then every other counter sorted.

    Outcome and topic counters depend on the configuration, so only those that occur appear.
    """
    fixed = ["date", "helpline", *COUNTERS]
    seen = {name for row in rows for name in row}
    return fixed + sorted(seen - set(fixed))
