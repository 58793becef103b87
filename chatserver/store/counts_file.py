"""Daily counts kept durably in one small JSON file under the data dir.

It holds nothing but {date: {helpline: {counter: n}}}; each change is written to a temp
file and renamed over the old one, so a crash leaves either the old or the new version.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from datetime import date
from pathlib import Path

from chatserver.core.counting import DailyCounts

COUNTS_FILE_NAME = "counts.json"


class CountsFile:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / COUNTS_FILE_NAME
        self._data: dict[str, dict[str, dict[str, int]]] = {}
        if self.path.exists():
            self._data = json.loads(self.path.read_text(encoding="utf-8"))

    def add(self, helpline: str, day: date, counts: Mapping[str, int]) -> None:
        changes = {name: n for name, n in counts.items() if n}
        if not changes:  # a zero is no count: it must not make the day appear
            return
        bucket = self._data.setdefault(day.isoformat(), {}).setdefault(helpline, {})
        for name, n in changes.items():
            bucket[name] = bucket.get(name, 0) + n
        self._write()

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

    def _write(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".counts-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self._data, f, sort_keys=True, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
