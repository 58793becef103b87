"""Counts kept durably in small JSON files under the data dir.

counts.json holds nothing but {date: {helpline: {counter: n}}}; demand.json nothing but
{month: {helpline: {"open|closed:weekday:hour": n}}} (core/counting.py). Counts change in
memory and are written at most once a second (and on shutdown), in a thread, to a temp file
that is fsynced and renamed over the old one: a crash leaves the old or the new version and
loses at most the last second, and no count ever waits for the disk.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path

from chatserver.atomic_file import write_atomically
from chatserver.core.counting import DailyCounts, MonthlyDemand

COUNTS_FILE_NAME = "counts.json"
DEMAND_FILE_NAME = "demand.json"
FLUSH_DELAY_SECONDS = 1.0


class CountsFile:
    """{period: {helpline: {counter: n}}}; a period is an ISO date or month, sorted as text."""

    def __init__(self, data_dir: Path, name: str = COUNTS_FILE_NAME) -> None:
        self.path = data_dir / name
        self._data: dict[str, dict[str, dict[str, int]]] = {}
        if self.path.exists():
            self._data = json.loads(self.path.read_text(encoding="utf-8"))
        self._flush_scheduled = False
        self._writing: asyncio.Task[None] | None = None

    def add(self, helpline: str, day: date | str, counts: Mapping[str, int]) -> None:
        changes = {name: n for name, n in counts.items() if n}
        if not changes:  # a zero is no count: it must not make the day appear
            return
        period = day if isinstance(day, str) else day.isoformat()
        bucket = self._data.setdefault(period, {}).setdefault(helpline, {})
        for name, n in changes.items():
            bucket[name] = bucket.get(name, 0) + n
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a command-line tool): write now
            self._write(self._snapshot())
            return
        self._flush_scheduled = True
        loop.call_later(FLUSH_DELAY_SECONDS, self._start_flush)

    def _start_flush(self) -> None:
        self._flush_scheduled = False
        self._writing = asyncio.get_running_loop().create_task(self.flush())

    def _snapshot(self) -> str:
        return json.dumps(self._data, sort_keys=True, separators=(",", ":"))

    async def flush(self) -> None:
        """Write the counts now (serialised here, written and fsynced in a thread)."""
        if self._writing is not None and self._writing is not asyncio.current_task():
            await asyncio.shield(self._writing)
        await asyncio.to_thread(self._write, self._snapshot())

    def days(self, first: date, last: date, helpline: str | None) -> list[DailyCounts]:
        out = []
        for day_text in sorted(self._data):
            day = date.fromisoformat(day_text)
            if not first <= day <= last:
                continue
            for helpline_id, counts in sorted(self._data[day_text].items()):
                if helpline is None or helpline_id == helpline:
                    out.append(DailyCounts(day=day, helpline=helpline_id, counts=dict(counts)))
        return out

    def months(self, first: str, last: str, helpline: str | None) -> list[MonthlyDemand]:
        """Rows of months first..last ("YYYY-MM", inclusive), by month then helpline."""
        return [
            MonthlyDemand(month=month, helpline=helpline_id, cells=dict(cells))
            for month in sorted(self._data)
            if first <= month <= last
            for helpline_id, cells in sorted(self._data[month].items())
            if helpline is None or helpline_id == helpline
        ]

    def _write(self, text: str) -> None:
        write_atomically(self.path, text)
