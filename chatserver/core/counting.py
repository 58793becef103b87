"""Daily aggregates: the only trace a contact leaves.

Counts are per helpline per local date. No per-contact row, no identifier and no exact
timestamp is ever kept: waits and durations only land in coarse buckets.

Demand by hour of week (local weekday x hour, open vs closed) is kept per helpline per
local *month*: each cell sums every such weekday-hour of the month (four or five dates), so
it never tells on which date an hour was busy.

The rules, in one place (switchboard.py calls these at the moments named):

* `start` answered queued or full, or a widget visit (`closed_visit`) or `start` that meets
  the line closed or in its last-admission window: one demand cell, open or closed.
* `closed_visit` counts `closed_attempts` once per widget visit; the server decides from its
  own clock and opening hours (`closed_attempts` during opening hours would be a lie).
* Every answered chat gets exactly one outcome: from `end`, from `wrap_up` after the visitor
  left first (`outcome_none` when the counselor says "no outcome"), or `outcome_unspecified`
  when a wrap-up was never recorded before it ran out.
* Contacts per channel: chat = answered, phone = tally_phone, e-mail = tally_email;
  contacts = their sum.
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
OUTCOME_NONE = "outcome_none"
OUTCOME_UNSPECIFIED = "outcome_unspecified"
TALLY_PHONE = "tally_phone"
TALLY_EMAIL = "tally_email"

# Channel -> the counter that counts one contact on it.
CHANNEL_COUNTERS: dict[str, str] = {"chat": ANSWERED, "phone": TALLY_PHONE, "email": TALLY_EMAIL}
CHANNELS: tuple[str, ...] = tuple(CHANNEL_COUNTERS)

DEMAND_OPEN = "open"
DEMAND_CLOSED = "closed"

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


def local_month(now: datetime, tz: ZoneInfo) -> str:
    """The helpline's calendar month of an instant, "YYYY-MM": the unit demand is kept in."""
    return now.astimezone(tz).strftime("%Y-%m")


def demand_cell(now: datetime, tz: ZoneInfo, *, open_: bool) -> str:
    """ "open:0:09" = a request on a Monday between 09:00 and 10:00 local time, while open."""
    local = now.astimezone(tz)
    state = DEMAND_OPEN if open_ else DEMAND_CLOSED
    return f"{state}:{local.weekday()}:{local.hour:02d}"


def parse_demand_cell(cell: str) -> tuple[str, int, int] | None:
    """(state, weekday 0=Monday, hour) of a demand cell; None for anything else."""
    parts = cell.split(":")
    if len(parts) != 3 or parts[0] not in (DEMAND_OPEN, DEMAND_CLOSED):
        return None
    if not (parts[1].isdigit() and parts[2].isdigit()):
        return None
    weekday, hour = int(parts[1]), int(parts[2])
    if weekday > 6 or hour > 23:
        return None
    return parts[0], weekday, hour


def contacts_by_channel(counts: Mapping[str, int]) -> dict[str, int]:
    """Contacts per channel and their sum under "total"."""
    out = {channel: int(counts.get(name, 0)) for channel, name in CHANNEL_COUNTERS.items()}
    out["total"] = sum(out.values())
    return out


def tag_counters(outcome: str | None, topics: tuple[str, ...], *, explicit_none: bool) -> list[str]:
    """The counters one recorded outcome adds.

    outcome None is `outcome_none` when the counselor chose "no outcome" (wrap_up), else
    `outcome_unspecified` (a v1 `end` that sent none, or a wrap-up that ran out).
    """
    if outcome is not None:
        first = f"outcome_{outcome}"
    else:
        first = OUTCOME_NONE if explicit_none else OUTCOME_UNSPECIFIED
    return [first, *(f"topic_{topic}" for topic in topics)]


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
class MonthlyDemand:
    """Hour-of-week demand of one helpline in one local month: cell -> requests."""

    month: str  # "YYYY-MM"
    helpline: str
    cells: Mapping[str, int] = field(default_factory=dict)


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
