"""Hour-of-week demand: when visitors ask for a chat, while the line is open and while closed.

Stored per helpline per local month (core/counting.py); here the months of a range are added
into two 7 x 24 matrices (weekday 0 = Monday, local hour), "open" and "closed".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chatserver.core import counting
from chatserver.core.counting import MonthlyDemand

WEEKDAYS = 7
HOURS = 24
Matrix = list[list[int]]


def empty_matrix() -> Matrix:
    return [[0] * HOURS for _ in range(WEEKDAYS)]


def matrices(rows: Iterable[MonthlyDemand]) -> dict[str, dict[str, Matrix]]:
    """helpline -> {"open": matrix, "closed": matrix}, summed over the rows' months."""
    out: dict[str, dict[str, Matrix]] = {}
    for row in rows:
        pair = out.setdefault(
            row.helpline,
            {counting.DEMAND_OPEN: empty_matrix(), counting.DEMAND_CLOSED: empty_matrix()},
        )
        for cell, n in row.cells.items():
            parsed = counting.parse_demand_cell(cell)
            if parsed is not None:
                state, weekday, hour = parsed
                pair[state][weekday][hour] += int(n)
    return out


def add_matrices(many: Iterable[Matrix]) -> Matrix:
    total = empty_matrix()
    for matrix in many:
        for weekday in range(WEEKDAYS):
            for hour in range(HOURS):
                total[weekday][hour] += matrix[weekday][hour]
    return total


def matrix_rows(helpline: str, name: str, pair: dict[str, Matrix]) -> list[dict[str, Any]]:
    """Flat rows for CSV and text: one per state and weekday, a column per hour."""
    rows = []
    for state in (counting.DEMAND_OPEN, counting.DEMAND_CLOSED):
        for weekday in range(WEEKDAYS):
            row: dict[str, Any] = {
                "helpline": helpline,
                "helpline_name": name,
                "state": state,
                "weekday": weekday,
            }
            for hour in range(HOURS):
                row[f"h{hour:02d}"] = pair[state][weekday][hour]
            rows.append(row)
    return rows
