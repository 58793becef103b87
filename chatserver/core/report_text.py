"""The year report and the demand matrix as plain text, for `chatserver report --format text`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatserver.core import counting

CHANNEL_LABELS = {
    "chat": "chat",
    "phone": "phone",
    "email": "e-mail",
    "total": "contacts",
    counting.CLOSED_ATTEMPTS: "closed attempts",
}
WEEKDAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def growth_text(growth: float | None) -> str:
    return "new" if growth is None else f"{growth * 100:+.1f}%"


def year_text(report: Mapping[str, Any]) -> str:
    year, previous = report["year"], report["previous_year"]
    lines = [f"Year report {year} (growth against {previous})", ""]
    lines.append(f"{'helpline':<24} {'channel':<16} {year:>8} {previous:>8} {'growth':>8}")
    entries = [*report["helplines"], {"name": "Total", **report["total"]}]
    for entry in entries:
        for channel, label in CHANNEL_LABELS.items():
            cell = entry["channels"][channel]
            lines.append(
                f"{entry['name'][:24]:<24} {label:<16} {cell['count']:>8} "
                f"{cell['previous']:>8} {growth_text(cell['growth']):>8}"
            )
        lines.append("")
    return "\n".join(lines)


def demand_text(body: Mapping[str, Any]) -> str:
    """One 7 x 24 grid per helpline and state: requests per weekday and local hour."""
    lines = [f"Requests by hour of week, {body['from_month']} to {body['to_month']}", ""]
    hours = " ".join(f"{hour:>3}" for hour in range(24))
    for entry in [*body["helplines"], body["total"]]:
        for state in (counting.DEMAND_OPEN, counting.DEMAND_CLOSED):
            lines.append(f"{entry['name']}: {state}")
            lines.append(f"     {hours}")
            for label, row in zip(WEEKDAY_LABELS, entry[state], strict=True):
                lines.append(f"{label}  " + " ".join(f"{n:>3}" for n in row))
            lines.append("")
    return "\n".join(lines)
