"""Whether a new visitor may join the queue now: opening hours and last admission."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chatserver.config import HelplineConfig
from chatserver.hours import HORIZON_DAYS, OpeningHours


@dataclass(frozen=True, slots=True)
class Admission:
    open: bool
    # When closed: the next moment a visitor will be admitted again (None: never).
    opens_at: datetime | None = None


def admission(helpline: HelplineConfig, hours: OpeningHours, now: datetime) -> Admission:
    """Open, or closed with the next opening.

    New visitors are refused last_admission_minutes before closing, so nobody joins a
    queue that cannot be served before the line closes. The refusal window is half-open
    like every interval: [closes_at - last_admission, closes_at), measured in real time.
    """
    cutoff = timedelta(minutes=helpline.last_admission_minutes)
    if hours.is_open(now) and _admits(hours, now, cutoff):
        return Admission(open=True)
    return Admission(open=False, opens_at=_next_admission(hours, now, cutoff))


def _admits(hours: OpeningHours, t: datetime, cutoff: timedelta) -> bool:
    """Whether an instant at which the line is open is before its last admission."""
    closes_at = hours.next_closing(t)
    # In UTC: two datetimes sharing one ZoneInfo subtract as wall clocks, wrong across DST.
    return closes_at is None or closes_at.astimezone(UTC) - t.astimezone(UTC) > cutoff


def _next_admission(hours: OpeningHours, now: datetime, cutoff: timedelta) -> datetime | None:
    """The first opening after now whose interval is longer than the last admission."""
    horizon = now + timedelta(days=HORIZON_DAYS)
    cursor: datetime | None = hours.next_closing(now) if hours.is_open(now) else now
    while cursor is not None:
        opens_at = hours.next_opening(cursor)
        if opens_at is None or opens_at > horizon:
            return None
        if _admits(hours, opens_at, cutoff):
            return opens_at
        cursor = hours.next_closing(opens_at)
    return None


def queue_has_room(waiting: int, max_queue: int) -> bool:
    return waiting < max_queue
