"""Opening hours of one helpline: pure functions of the configuration and a given instant.

Rules, so that the widget, the queue and the counts agree on when a line is open:

* A configured range belongs to the local date it starts on; "22:00-02:00" on Monday runs
  into Tuesday. An exception date's ranges replace that weekday's ranges for that date only;
  an overnight range of the day before still runs into an exception day.
* Local wall times become instants with zoneinfo, fold=0, normalised through UTC:
  a time that does not exist (spring forward, 02:00-03:00 on the last Sunday of March in
  Europe/Amsterdam) moves forward by the gap (02:30 -> 03:30 CEST); a time that exists twice
  (02:00-03:00 on the last Sunday of October) is its first occurrence (02:30 CEST). A range
  left empty by this (e.g. "02:30-03:00" on the spring-forward day) is dropped.
* Intervals are half-open [opens_at, closes_at). Adjacent or overlapping intervals are
  merged, also across midnight ("20:00-24:00" Monday + "00:00-02:00" Tuesday is one interval).
* Merging looks at most HORIZON_DAYS local days before and after the moment asked about, so
  a line that is always open still gives an answer: its interval is clipped at the horizon,
  and next_closing() says None ("not within the horizon").

All returned datetimes carry the helpline's ZoneInfo as tzinfo.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chatserver.config import Config, HelplineConfig

HORIZON_DAYS = 370
# A range lasts less than a day and starts before 24:00, so the ranges that can contain an
# instant belong to its local date or the day before; one spare day covers DST oddities.
_LOOKBACK_DAYS = 2
_FIRST_DAY = date.min + timedelta(days=HORIZON_DAYS + _LOOKBACK_DAYS + 2)
_LAST_DAY = date.max - timedelta(days=HORIZON_DAYS + 2)

_Span = tuple[int, int]  # POSIX seconds, half-open


@dataclass(frozen=True, slots=True)
class Interval:
    opens_at: datetime  # aware, in the helpline timezone
    closes_at: datetime  # aware; half-open [opens_at, closes_at)


class OpeningHours:
    """When one helpline is open. Cheap to query repeatedly: per-day ranges are cached."""

    def __init__(self, helpline: HelplineConfig, tz: ZoneInfo) -> None:
        self.helpline = helpline
        self.tz = tz
        # Bounded: the schedule API lets anyone ask about any date.
        self._day_spans: Callable[[date], tuple[_Span, ...]] = functools.lru_cache(maxsize=4096)(
            self._compute_day_spans
        )
        # A line open for days on end walks day by day to the horizon; remember the walks.
        self._extend_forward: Callable[[int, date], tuple[int, bool]] = functools.lru_cache(
            maxsize=1024
        )(self._walk_forward)
        self._extend_back: Callable[[int, date], tuple[int, bool]] = functools.lru_cache(
            maxsize=1024
        )(self._walk_back)
        # A line closed every week opens only on exception dates: look at just those.
        self._weekly_closed = not any(helpline.hours.values())
        self._exception_days = sorted(d for d, ranges in helpline.exceptions.items() if ranges)

    # --- public API -------------------------------------------------------------------------

    def is_open(self, t: datetime) -> bool:
        ts = self._timestamp(t)
        return self._containing(ts, self._local_day(ts))

    def interval_at(self, t: datetime) -> Interval | None:
        """The merged interval containing t (clipped at the horizon), or None when closed."""
        ts = self._timestamp(t)
        merged = self._merged_at(ts, self._local_day(ts))
        if merged is None:
            return None
        start, end, _, _ = merged
        return Interval(self._datetime(start), self._datetime(end))

    def next_opening(self, t: datetime) -> datetime | None:
        """Earliest moment >= t that is open: t itself when open; None beyond the horizon."""
        ts = self._timestamp(t)
        day = self._local_day(ts)
        if self._containing(ts, day):
            return t.astimezone(self.tz)
        last = self._clamp(day + timedelta(days=HORIZON_DAYS))
        days: Iterable[date] = self._range(day - timedelta(days=1), last)
        if self._weekly_closed:
            days = [d for d in self._exception_days if day - timedelta(days=1) <= d <= last]
        for d in days:
            starts = [s for s, _ in self._day_spans(d) if s >= ts]
            if starts:
                # The next day too: a start in a DST gap just before midnight moves past it.
                if d < last:
                    starts += [s for s, _ in self._day_spans(d + timedelta(days=1))]
                return self._datetime(min(starts))
        return None

    def next_closing(self, t: datetime) -> datetime | None:
        """Earliest moment >= t that is closed: t itself when closed; None when open
        through the whole horizon (a line that is always open)."""
        ts = self._timestamp(t)
        merged = self._merged_at(ts, self._local_day(ts))
        if merged is None:
            return t.astimezone(self.tz)
        _, end, _, clipped_end = merged
        return None if clipped_end else self._datetime(end)

    def intervals(self, first_day: date, days: int) -> list[Interval]:
        """Merged intervals overlapping the local days first_day .. first_day + days - 1."""
        if days < 0:
            raise ValueError(f"days must be >= 0, got {days}")
        if days == 0:
            return []
        first = first_day
        try:
            last = first_day + timedelta(days=days - 1)
        except OverflowError:
            last = date.max
        if first < _FIRST_DAY or last > _LAST_DAY:
            raise ValueError(f"only dates from {_FIRST_DAY} to {_LAST_DAY}")
        window_start = self._midnight(first)
        window_end = self._midnight(last + timedelta(days=1))
        low = self._clamp(first - timedelta(days=HORIZON_DAYS))
        high = self._clamp(last + timedelta(days=HORIZON_DAYS))
        spans = sorted(
            span
            for d in self._range(first - timedelta(days=_LOOKBACK_DAYS), last)
            for span in self._day_spans(d)
        )
        merged: list[list[int]] = []
        for s, e in spans:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        merged = [m for m in merged if m[1] > window_start and m[0] < window_end]
        if merged:
            merged[0][0], _ = self._extend_back(merged[0][0], low)
            merged[-1][1], _ = self._extend_forward(merged[-1][1], high)
        return [Interval(self._datetime(s), self._datetime(e)) for s, e in merged]

    # --- internals --------------------------------------------------------------------------

    def _compute_day_spans(self, day: date) -> tuple[_Span, ...]:
        ranges = self.helpline.exceptions.get(day)
        if ranges is None:
            ranges = self.helpline.hours.get(day.weekday(), ())
        spans = []
        for r in ranges:
            start, end = self._wall(day, r.start), self._wall(day, r.end)
            if end > start:  # "02:30-03:00" on the spring-forward day is empty
                spans.append((start, end))
        return tuple(sorted(spans))

    def _wall(self, day: date, minutes: int) -> int:
        """Local wall time -> POSIX seconds; fold=0 maps gap times forward, ambiguous first."""
        naive = datetime.combine(day, time()) + timedelta(minutes=minutes)
        return int(naive.replace(tzinfo=self.tz).timestamp())

    def _midnight(self, day: date) -> int:
        return self._wall(day, 0)

    def _timestamp(self, t: datetime) -> float:
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(f"need an aware datetime, got naive {t.isoformat()}")
        return t.timestamp()

    def _local_day(self, ts: float) -> date:
        return self._clamp(datetime.fromtimestamp(ts, self.tz).date())

    def _datetime(self, ts: int) -> datetime:
        return datetime.fromtimestamp(ts, UTC).astimezone(self.tz)

    @staticmethod
    def _clamp(day: date) -> date:
        return min(max(day, _FIRST_DAY), _LAST_DAY)

    @staticmethod
    def _range(first: date, last: date) -> Iterator[date]:
        day = first
        while day <= last:
            yield day
            day += timedelta(days=1)

    def _days(self, day: date, back: int) -> Iterator[date]:
        return self._range(day - timedelta(days=back), day)

    def _containing(self, ts: float, day: date) -> bool:
        return any(
            s <= ts < e for d in self._days(day, _LOOKBACK_DAYS) for s, e in self._day_spans(d)
        )

    def _merged_at(self, ts: float, day: date) -> tuple[int, int, bool, bool] | None:
        """(start, end, start clipped, end clipped) of the merged interval containing ts."""
        spans = [
            (s, e)
            for d in self._days(day, _LOOKBACK_DAYS)
            for s, e in self._day_spans(d)
            if s <= ts < e
        ]
        if not spans:
            return None
        low = self._clamp(day - timedelta(days=HORIZON_DAYS))
        high = self._clamp(day + timedelta(days=HORIZON_DAYS))
        start, clipped_start = self._extend_back(min(s for s, _ in spans), low)
        end, clipped_end = self._extend_forward(max(e for _, e in spans), high)
        return start, end, clipped_start, clipped_end

    def _walk_forward(self, end: int, last_day: date) -> tuple[int, bool]:
        """Follow ranges that start at or before `end` and last longer, up to the horizon."""
        limit = self._midnight(last_day + timedelta(days=1))
        while end < limit:
            day = datetime.fromtimestamp(end, self.tz).date()
            later = [
                e
                for d in self._days(day, _LOOKBACK_DAYS)
                for s, e in self._day_spans(d)
                if s <= end < e
            ]
            if not later:
                return end, False
            end = max(later)
        return limit, True

    def _walk_back(self, start: int, first_day: date) -> tuple[int, bool]:
        """Follow ranges that end at or after `start` and begin earlier, down to the horizon."""
        limit = self._midnight(first_day)
        while start > limit:
            day = datetime.fromtimestamp(start, self.tz).date()
            earlier = [
                s
                for d in self._days(day, _LOOKBACK_DAYS)
                for s, e in self._day_spans(d)
                if s < start <= e
            ]
            if not earlier:
                return start, False
            start = min(earlier)
        return limit, True


def opening_hours_by_helpline(config: Config) -> dict[str, OpeningHours]:
    return {h.id: OpeningHours(h, config.timezone) for h in config.helplines}


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="minutes")


def _describe_interval(opens_at: datetime, closes_at: datetime | None) -> str:
    if closes_at is None:
        return f"{_iso(opens_at)} onwards (open {HORIZON_DAYS}+ days)"
    same_day = closes_at.date() == opens_at.date() and closes_at.utcoffset() == opens_at.utcoffset()
    until = closes_at.strftime("%H:%M") if same_day else _iso(closes_at)
    return f"{_iso(opens_at)} to {until}"


def describe_next_openings(config: Config, now: datetime, count: int = 3) -> list[str]:
    """One line per helpline for `chatserver check-config`: open now?, and the next openings."""
    lines = []
    for helpline_id, hours in opening_hours_by_helpline(config).items():
        name = hours.helpline.name
        cursor: datetime | None = now
        if hours.is_open(now):
            cursor = hours.next_closing(now)
            state = (
                "open now, around the clock" if cursor is None else f"open now until {_iso(cursor)}"
            )
        else:
            state = "closed now"
        openings: list[str] = []
        while cursor is not None and len(openings) < count:
            opens_at = hours.next_opening(cursor)
            if opens_at is None:
                break
            cursor = hours.next_closing(opens_at)
            openings.append(_describe_interval(opens_at, cursor))
        if openings:
            rest = "next openings: " + ", ".join(openings)
        elif state.startswith("open now, around"):
            rest = ""
        else:
            rest = f"no opening within {HORIZON_DAYS} days"
        lines.append(f"{helpline_id} ({name}): {state}" + (f"; {rest}" if rest else ""))
    return lines
