"""The year report the helplines publish: contacts per helpline and channel, growth, months.

"Helpwanted: 7,727 advice requests in 2022, +24%" is `channels.total.count` and `growth`
of one helpline. Growth is (this year - last year) / last year; a helpline (or channel)
with nothing the year before has no growth (None), not "+inf%".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chatserver.core import counting
from chatserver.core.counting import DailyCounts

CHANNEL_TOTALS: tuple[str, ...] = (*counting.CHANNELS, "total")
MONTHS = 12


def growth(count: int, previous: int) -> float | None:
    """Relative change, rounded to 0.001 (0.24 = +24%); None without a previous year."""
    return round((count - previous) / previous, 3) if previous else None


def _channel_rows(this: Mapping[str, int], last: Mapping[str, int]) -> dict[str, Any]:
    this_c, last_c = counting.contacts_by_channel(this), counting.contacts_by_channel(last)
    out: dict[str, Any] = {
        channel: {
            "count": this_c[channel],
            "previous": last_c[channel],
            "growth": growth(this_c[channel], last_c[channel]),
        }
        for channel in CHANNEL_TOTALS
    }
    closed, closed_before = (int(c.get(counting.CLOSED_ATTEMPTS, 0)) for c in (this, last))
    out[counting.CLOSED_ATTEMPTS] = {
        "count": closed,
        "previous": closed_before,
        "growth": growth(closed, closed_before),
    }
    return out


def year_report(
    year: int, days: Iterable[DailyCounts], helpline_names: Mapping[str, str]
) -> dict[str, Any]:
    """Per helpline (every configured one, then any only in the counts) and all together.

    days must cover the year and the year before; other days are ignored.
    """
    this: dict[str, dict[str, int]] = {}
    last: dict[str, dict[str, int]] = {}
    months: dict[str, list[dict[str, int]]] = {}
    for day in days:
        if day.day.year == year:
            target = this
            month_rows = months.setdefault(day.helpline, [{} for _ in range(MONTHS)])
            _add(month_rows[day.day.month - 1], day.counts)
        elif day.day.year == year - 1:
            target = last
        else:
            continue
        _add(target.setdefault(day.helpline, {}), day.counts)
    ids = list(helpline_names) + sorted((set(this) | set(last)) - set(helpline_names))
    helplines = []
    for helpline_id in ids:
        month_rows = months.get(helpline_id, [{} for _ in range(MONTHS)])
        helplines.append(
            {
                "id": helpline_id,
                "name": helpline_names.get(helpline_id, helpline_id),
                "new": not last.get(helpline_id) and bool(this.get(helpline_id)),
                "channels": _channel_rows(this.get(helpline_id, {}), last.get(helpline_id, {})),
                "months": [
                    {"month": f"{year}-{i + 1:02d}", **counting.contacts_by_channel(row)}
                    for i, row in enumerate(month_rows)
                ],
            }
        )
    total_this: dict[str, int] = {}
    total_last: dict[str, int] = {}
    for counts in this.values():
        _add(total_this, counts)
    for counts in last.values():
        _add(total_last, counts)
    total_months: list[dict[str, int]] = [{} for _ in range(MONTHS)]
    for month_rows in months.values():
        for i, row in enumerate(month_rows):
            _add(total_months[i], row)
    return {
        "year": year,
        "previous_year": year - 1,
        "helplines": helplines,
        "total": {
            "channels": _channel_rows(total_this, total_last),
            "months": [
                {"month": f"{year}-{i + 1:02d}", **counting.contacts_by_channel(row)}
                for i, row in enumerate(total_months)
            ],
        },
    }


def _add(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for name, n in counts.items():
        into[name] = into.get(name, 0) + int(n)


def report_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The report as flat rows (CSV, text): one per helpline and channel, then the totals."""
    rows = []
    entries = [(h["id"], h["name"], h["channels"], h["months"]) for h in report["helplines"]]
    total = report["total"]
    entries.append(("total", "Total", total["channels"], total["months"]))
    for helpline_id, name, channels, months in entries:
        for channel in (*CHANNEL_TOTALS, counting.CLOSED_ATTEMPTS):
            cell = channels[channel]
            row: dict[str, Any] = {
                "helpline": helpline_id,
                "helpline_name": name,
                "channel": channel,
                "year": report["year"],
                "count": cell["count"],
                "previous": cell["previous"],
                "growth": cell["growth"],
            }
            for month in months:
                row[month["month"]] = month.get(channel, "")
            rows.append(row)
    return rows
