"""The managers' numbers over HTTP: /api/stats/daily, summary, year, demand and planner.

Every route answers JSON, or CSV when the path ends in .csv or Accept names text/csv; both
are made from the same dict (the CSV flattens it), so they carry the same numbers. Only
managers and admins may read them. `min_count=N` turns every count 1..N-1 into "<N" for
sharing outside the organisation.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from chatserver.config import WEEKDAYS, Config, TimeRange, parse_time_range
from chatserver.core import counting, demand, planner, stats, year_report
from chatserver.core.counting import local_day
from chatserver.web.api import STATS_ROLES, _parse_date, _parse_int, require_role
from chatserver.web.body import bad_request
from chatserver.web.keys import BOARD, CLOCK, STORE

routes = web.RouteTableDef()

DEFAULT_STATS_DAYS = 31
# 'from' may be at most this many calendar years before 'to' (2023-12-02 to 2026-12-02).
MAX_STATS_YEARS = 3
MAX_MIN_COUNT = 1000
MAX_TARGET_WAIT_S = 24 * 3600
MAX_CHATS_PER_COUNSELOR = 10
FIRST_YEAR, LAST_YEAR = 2000, 2999
_CSV = r"{ext:(\.csv)?}"


# --- request parsing -------------------------------------------------------------------------


def _range(request: web.Request) -> tuple[date, date]:
    """[from, to] inclusive: to defaults to today, from to 31 days before; at most 3 years."""
    today = local_day(request.app[CLOCK](), request.app[BOARD].config.timezone)
    last = _parse_date(request.query.get("to", today.isoformat()), "to")
    try:
        default_first = last - timedelta(days=DEFAULT_STATS_DAYS - 1)
    except OverflowError:
        default_first = date.min
    first = _parse_date(request.query.get("from", default_first.isoformat()), "from")
    if first > last:
        raise bad_request("'from' must not be after 'to'")
    if first < _years_before(last, MAX_STATS_YEARS):
        raise bad_request(f"ask for at most {MAX_STATS_YEARS} years at a time")
    return first, last


def _years_before(day: date, years: int) -> date:
    if day.year <= years:
        return date.min
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _helpline(request: web.Request, *, required: bool = False) -> str | None:
    helpline = request.query.get("helpline")
    if helpline is None and required:
        raise bad_request("'helpline' is required")
    if helpline is not None and request.app[BOARD].config.helpline(helpline) is None:
        raise bad_request(f"unknown helpline '{helpline[:64]}'")
    return helpline


def _min_count(request: web.Request) -> int:
    value = request.query.get("min_count")
    return 0 if value is None else _parse_int(value, "min_count", 0, MAX_MIN_COUNT)


def _wants_csv(request: web.Request) -> bool:
    return bool(request.match_info.get("ext")) or "text/csv" in request.headers.get("Accept", "")


def _names(config: Config) -> dict[str, str]:
    return {helpline.id: helpline.name for helpline in config.helplines}


def _labels(config: Config) -> dict[str, dict[str, dict[str, str]]]:
    """Outcome and topic id -> {language: label}, so the dashboard shows words, not ids."""
    out: dict[str, dict[str, dict[str, str]]] = {"outcomes": {}, "topics": {}}
    for helpline in config.helplines:
        for kind, tags in (("outcomes", helpline.outcomes), ("topics", helpline.topics)):
            for tag in tags:
                out[kind].setdefault(tag.id, dict(tag.labels))
    return out


# --- answers ---------------------------------------------------------------------------------


def csv_text(rows: Sequence[Mapping[str, Any]], fields: Sequence[str] | None = None) -> str:
    out = io.StringIO()
    header = list(fields) if fields is not None else _field_order(rows)
    writer = csv.DictWriter(out, fieldnames=header, restval=0, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _field_order(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _answer(
    request: web.Request,
    body: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    filename: str,
    fields: Sequence[str] | None = None,
) -> web.Response:
    if not _wants_csv(request):
        return web.json_response(body)
    return web.Response(
        text=csv_text(rows, fields),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"wait": {"median_s": 90}} -> {"wait_median_s": 90}: a summary as one CSV row."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping):
            out.update(flatten(item, f"{name}_"))
        else:
            out[name] = item
    return out


# --- routes ----------------------------------------------------------------------------------


@routes.get("/api/stats/daily" + _CSV)
async def stats_daily(request: web.Request) -> web.Response:
    """Every counter per helpline per day, with the helpline's name and its contacts."""
    await require_role(request, STATS_ROLES)
    first, last = _range(request)
    helpline, min_count = _helpline(request), _min_count(request)
    names = _names(request.app[BOARD].config)
    rows = []
    for day in await request.app[STORE].daily_counts(first, last, helpline):
        rest = day.row()
        row = {
            "date": rest.pop("date"),
            "helpline": rest.pop("helpline"),
            "helpline_name": names.get(day.helpline, day.helpline),
            **{name: rest.pop(name) for name in counting.COUNTERS},
            "contacts": counting.contacts_by_channel(day.counts)["total"],
            **rest,
        }
        rows.append(stats.suppress(row, min_count))
    fixed = ["date", "helpline", "helpline_name", *counting.COUNTERS, "contacts"]
    fields = fixed + sorted({name for row in rows for name in row} - set(fixed))
    return _answer(request, {"days": rows}, rows, "daily-counts.csv", fields)


@routes.get("/api/stats/summary" + _CSV)
async def stats_summary(request: web.Request) -> web.Response:
    """Totals, answered rate, wait percentiles and contacts per channel over a range."""
    await require_role(request, STATS_ROLES)
    first, last = _range(request)
    helpline, min_count = _helpline(request), _min_count(request)
    config = request.app[BOARD].config
    days = await request.app[STORE].daily_counts(first, last, helpline)
    totals = stats.per_helpline(days)
    ids = [helpline] if helpline else list(_names(config))
    names = _names(config)
    entries = [
        {
            "id": hid,
            "name": names[hid],
            **stats.suppress_summary(stats.summarize(totals.get(hid, {})), min_count),
        }
        for hid in ids
    ]
    total = stats.summarize(stats.add_up(totals[hid] for hid in ids if hid in totals))
    total_entry = {"id": "total", "name": "Total", **stats.suppress_summary(total, min_count)}
    body: dict[str, Any] = {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "helplines": entries,
        "total": total_entry,
        "labels": _labels(config),
    }
    rows = [flatten(entry) for entry in [*entries, total_entry]]
    return _answer(request, body, rows, "summary.csv")


@routes.get(r"/api/stats/year/{year:[0-9]{4}}" + _CSV)
async def stats_year(request: web.Request) -> web.Response:
    """The year report: contacts per helpline and channel, growth, per month."""
    await require_role(request, STATS_ROLES)
    year = _parse_int(request.match_info["year"], "year", FIRST_YEAR, LAST_YEAR)
    min_count = _min_count(request)
    report = await build_year_report(request.app[STORE], request.app[BOARD].config, year)
    report = stats.suppress(report, min_count)
    rows = year_report.report_rows(report)
    return _answer(request, report, rows, f"year-report-{year}.csv")


async def build_year_report(store: Any, config: Config, year: int) -> dict[str, Any]:
    """Shared by the route and `chatserver report`."""
    days = await store.daily_counts(date(year - 1, 1, 1), date(year, 12, 31), None)
    return year_report.year_report(year, days, _names(config))


def _months(first: date, last: date) -> tuple[str, str, float]:
    """The months a range touches ("YYYY-MM" first and last) and how many weeks they hold."""
    start = first.replace(day=1)
    end_next = date(last.year + (last.month == 12), last.month % 12 + 1, 1)
    return start.strftime("%Y-%m"), last.strftime("%Y-%m"), (end_next - start).days / 7


@routes.get("/api/stats/demand" + _CSV)
async def stats_demand(request: web.Request) -> web.Response:
    """Hour-of-week demand, open and closed, of the whole months the range touches."""
    await require_role(request, STATS_ROLES)
    first, last = _range(request)
    helpline, min_count = _helpline(request), _min_count(request)
    body = await build_demand(request.app[STORE], request.app[BOARD].config, first, last, helpline)
    body = stats.suppress(body, min_count)
    rows = [
        row
        for entry in [*body["helplines"], body["total"]]
        for row in demand.matrix_rows(entry["id"], entry["name"], entry)
    ]
    return _answer(request, body, rows, "demand.csv")


async def build_demand(
    store: Any, config: Config, first: date, last: date, helpline: str | None
) -> dict[str, Any]:
    """Shared by the route, the planner and `chatserver report --demand`."""
    first_month, last_month, weeks = _months(first, last)
    pairs = demand.matrices(await store.monthly_demand(first_month, last_month, helpline))
    names = _names(config)
    ids = [helpline] if helpline else list(names)
    entries: list[dict[str, Any]] = []
    for hid in ids:
        pair = pairs.get(hid) or {
            counting.DEMAND_OPEN: demand.empty_matrix(),
            counting.DEMAND_CLOSED: demand.empty_matrix(),
        }
        entries.append({"id": hid, "name": names[hid], **pair})
    total = {
        state: demand.add_matrices(entry[state] for entry in entries)
        for state in (counting.DEMAND_OPEN, counting.DEMAND_CLOSED)
    }
    return {
        "from_month": first_month,
        "to_month": last_month,
        "weeks": round(weeks, 2),
        "weekdays": list(WEEKDAYS),
        "helplines": entries,
        "total": {"id": "total", "name": "Total", **total},
    }


def _proposed_hours(request: web.Request, current: Mapping[int, Sequence[TimeRange]]) -> Any:
    """Weekly hours from mon=09:00-17:00,19:00-21:00 ... (no day given: the current hours)."""
    if not any(day in request.query for day in WEEKDAYS):
        return current
    hours: dict[int, tuple[TimeRange, ...]] = {}
    for weekday, day in enumerate(WEEKDAYS):
        ranges = []
        for text in filter(None, request.query.get(day, "").split(",")[:8]):
            parsed = parse_time_range(text.strip())
            if isinstance(parsed, str):
                raise bad_request(f"'{day}': {parsed}")
            ranges.append(parsed)
        hours[weekday] = tuple(ranges)
    return hours


@routes.get("/api/stats/planner" + _CSV)
async def stats_planner(request: web.Request) -> web.Response:
    """Proposed weekly hours against the measured demand: reach and counselors per hour."""
    await require_role(request, STATS_ROLES)
    first, last = _range(request)
    helpline_id = _helpline(request, required=True)
    assert helpline_id is not None
    config = request.app[BOARD].config
    helpline = config.helpline(helpline_id)
    assert helpline is not None
    target = _parse_int(request.query.get("target_wait_s", "120"), "target_wait_s", 0, 86400)
    chats = _parse_int(request.query.get("chats", "1"), "chats", 1, MAX_CHATS_PER_COUNSELOR)
    proposed = _proposed_hours(request, helpline.hours)
    store = request.app[STORE]
    measured = await build_demand(store, config, first, last, helpline_id)
    entry = measured["helplines"][0]
    counts = stats.add_up(d.counts for d in await store.daily_counts(first, last, helpline_id))
    result = planner.plan(
        open_demand=entry[counting.DEMAND_OPEN],
        closed_demand=entry[counting.DEMAND_CLOSED],
        weeks=measured["weeks"],
        proposed=proposed,
        counts=counts,
        target_median_wait_s=target,
        chats_per_counselor=chats,
    )
    body = {
        "helpline": helpline_id,
        "name": helpline.name,
        "from_month": measured["from_month"],
        "to_month": measured["to_month"],
        "proposed": {
            day: [_range_text(r) for r in proposed.get(weekday, ())]
            for weekday, day in enumerate(WEEKDAYS)
        },
        **result,
    }
    rows = [
        {"weekday": day, **{f"h{h:02d}": n for h, n in enumerate(result["counselors"][weekday])}}
        for weekday, day in enumerate(WEEKDAYS)
    ]
    return _answer(request, body, rows, "planner.csv")


def _range_text(time_range: TimeRange) -> str:
    """TimeRange back to "HH:MM-HH:MM" (an overnight end wraps; 24:00 stays 24:00)."""
    end = time_range.end if time_range.end <= 1440 else time_range.end - 1440

    def clock(minutes: int) -> str:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    return f"{clock(time_range.start)}-{clock(end)}"
