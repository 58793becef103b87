"""Whether a new visitor may join the queue now: opening hours and last admission."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chatserver.config import HelplineConfig
from chatserver.hours import OpeningHours


@dataclass(frozen=True, slots=True)
class Admission:
    open: bool
    # When closed: the next moment a visitor will be admitted again (None: never).
    opens_at: datetime | None = None


def admission(helpline: HelplineConfig, hours: OpeningHours, now: datetime) -> Admission:
    """Open, or closed with the next opening.

    New visitors are refused last_admission_minutes before closing, so nobody joins a
    queue that cannot be served before the line closes.
    """
    if hours.is_open(now):
        closes_at = hours.next_closing(now)
        cutoff = timedelta(minutes=helpline.last_admission_minutes)
        if closes_at is None or closes_at - now > cutoff:
            return Admission(open=True)
        return Admission(open=False, opens_at=hours.next_opening(closes_at))
    return Admission(open=False, opens_at=hours.next_opening(now))


def queue_has_room(waiting: int, max_queue: int) -> bool:
    return waiting < max_queue
