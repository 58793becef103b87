"""Issue 11: counts a manager can trust, through the real server and real Socket.IO clients.

A scripted Wednesday (2 December 2026, "alpha" open 09:00-17:00 with a 10 minute last
admission, "shut" closed): closed visits decided by the server, wrap-up outcomes after the
visitor left first, a block, a phone tally, the last-admission window, and a wrap-up that runs
out. Then every /api/stats route: JSON and CSV agree, min_count suppresses, bad input is 400
and only managers and admins get in.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

import aiohttp
import pytest

from chatserver.switchboard import WRAP_UP_SECONDS
from chatserver.web.keys import STORE
from tests.integration.conftest import Server
from tests.integration.test_http_api import bearer, get_json


async def answered_chat(server: Server, counselor: Any) -> tuple[Any, str]:
    visitor = server.visitor()
    await visitor.connect()
    ack = await visitor.call("start", {"helpline": "alpha"})
    assert ack["status"] == "queued"
    assigned = await counselor.next("assigned")
    return visitor, assigned["chat_id"]


async def stats(server: Server, path: str, token: str) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}{path}", headers=bearer(token)) as response,
    ):
        assert response.status == 200, await response.text()
        return await response.json()


async def test_a_closed_visit_counts_only_while_the_line_does_not_admit(server: Server) -> None:
    visitor = server.visitor()
    await visitor.connect()
    assert await visitor.call("closed_visit", {"helpline": "shut"}) == {"counted": True}
    assert await visitor.call("closed_visit", {"helpline": "alpha"}) == {"counted": False}
    err = await visitor.call("closed_visit", {"helpline": "nope"})
    assert err["error"]["code"] == "unknown_helpline"
    server.clock.advance(2 * 3600 + 55 * 60)  # 16:55: alpha's last-admission window
    assert await visitor.call("closed_visit", {"helpline": "alpha"}) == {"counted": True}
    days = await server.app[STORE].daily_counts(date(2026, 12, 2), date(2026, 12, 2), None)
    assert {d.helpline: d.counts.get("closed_attempts") for d in days} == {"alpha": 1, "shut": 1}


async def test_closed_visits_are_rate_limited_like_start(server: Server) -> None:
    visitor = server.visitor()
    await visitor.connect()
    answers = [await visitor.call("closed_visit", {"helpline": "shut"}) for _ in range(7)]
    assert answers[:5] == [{"counted": True}] * 5
    assert all(a["error"]["code"] == "rate_limited" for a in answers[5:])
    days = await server.app[STORE].daily_counts(date(2026, 12, 2), date(2026, 12, 2), "shut")
    assert days[0].counts["closed_attempts"] == 5


async def test_the_counselor_owes_one_outcome_after_the_visitor_left_first(
    server: Server,
) -> None:
    carla = await server.counselor("carla")
    visitor, chat_id = await answered_chat(server, carla)
    await visitor.call("end", {})
    assert (await carla.next("ended"))["reason"] == "visitor"
    # `end` no longer works on an ended chat; `wrap_up` records the outcome, exactly once.
    end = await carla.call("end", {"chat_id": chat_id, "outcome": "test"})
    assert end["error"]["code"] == "not_in_chat"
    bad = await carla.call("wrap_up", {"chat_id": chat_id, "outcome": "nope"})
    assert bad["error"]["code"] == "bad_request"
    missing = await carla.call("wrap_up", {"chat_id": chat_id})
    assert missing["error"]["code"] == "bad_request"
    mia = await server.counselor("mia")
    other = await mia.call("wrap_up", {"chat_id": chat_id, "outcome": None})
    assert other["error"]["code"] == "not_in_chat"
    assert await carla.call("wrap_up", {"chat_id": chat_id, "outcome": None}) == {"ok": True}
    again = await carla.call("wrap_up", {"chat_id": chat_id, "outcome": "test"})
    assert again["error"]["code"] == "not_in_chat"
    days = await server.app[STORE].daily_counts(date(2026, 12, 2), date(2026, 12, 2), "alpha")
    counts = days[0].counts
    assert counts["answered"] == 1 and counts["outcome_none"] == 1
    assert "outcome_test" not in counts and "outcome_unspecified" not in counts


async def test_a_chat_the_counselor_ended_owes_no_wrap_up(server: Server) -> None:
    carla = await server.counselor("carla")
    _visitor, chat_id = await answered_chat(server, carla)
    assert await carla.call("end", {"chat_id": chat_id, "outcome": "test"}) == {"ok": True}
    late = await carla.call("wrap_up", {"chat_id": chat_id, "outcome": None})
    assert late["error"]["code"] == "not_in_chat"


async def test_a_scripted_day_moves_every_counter_as_the_rules_say(server: Server) -> None:
    carla = await server.counselor("carla", helplines=("alpha",))
    token = await server.login("carla")
    shut = server.visitor()
    await shut.connect()
    assert await shut.call("closed_visit", {"helpline": "shut"}) == {"counted": True}

    # 1: the visitor leaves first, the counselor records "test" and a topic.
    visitor, first = await answered_chat(server, carla)
    await visitor.call("end", {})
    await carla.next("ended")
    wrap = {"chat_id": first, "outcome": "test", "topics": ["grooming"]}
    assert await carla.call("wrap_up", wrap) == {"ok": True}
    # 2: the counselor ends it with an outcome.
    _visitor, second = await answered_chat(server, carla)
    assert await carla.call("end", {"chat_id": second, "outcome": "counselling"}) == {"ok": True}
    # 3: blocked; the wrap-up is never recorded and runs out.
    _visitor, third = await answered_chat(server, carla)
    assert await carla.call("block", {"chat_id": third}) == {"ok": True}
    # A phone call.
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/api/tally",
            json={"helpline": "alpha", "channel": "phone", "outcome": "information"},
            headers=bearer(token),
        ) as response,
    ):
        assert response.status == 200
    # 16:55, the last-admission window: start and a closed visit both count as closed.
    server.clock.advance(2 * 3600 + 55 * 60)
    late = server.visitor()
    await late.connect()
    assert (await late.call("start", {"helpline": "alpha"}))["status"] == "closed"
    assert await late.call("closed_visit", {"helpline": "alpha"}) == {"counted": True}
    # Past midnight the blocked chat's wrap-up runs out: counted on the day it ended.
    server.clock.advance(WRAP_UP_SECONDS)
    await server.tick()
    await server.settle()

    await server.add_account("mia", role="manager")
    manager = await server.login("mia")
    body = await stats(server, "/api/stats/daily?from=2026-12-02&to=2026-12-03", manager)
    alpha = next(d for d in body["days"] if d["helpline"] == "alpha")
    assert [d["date"] for d in body["days"]] == ["2026-12-02", "2026-12-02"]
    expected = {
        "requested": 3,
        "answered": 3,
        "closed_attempts": 2,
        "blocked": 1,
        "wait_under_1m": 3,
        "duration_under_5m": 3,
        "outcome_test": 1,
        "outcome_counselling": 1,
        "outcome_information": 1,
        "outcome_unspecified": 1,
        "topic_grooming": 1,
        "tally_phone": 1,
        "contacts": 4,
    }
    assert {name: alpha[name] for name in expected} == expected
    assert alpha["helpline_name"] == "Alpha"

    summary = await stats(server, "/api/stats/summary?from=2026-12-02&to=2026-12-02", manager)
    total = summary["total"]
    assert total["contacts"] == {"chat": 3, "phone": 1, "email": 0, "total": 4}
    assert total["answered_rate"] == 1.0
    assert total["wait"]["median_s"] == 30 and total["wait"]["p90_s"] == 54
    assert total["closed_attempts"] == 3

    demand = await stats(server, "/api/stats/demand?from=2026-12-01&to=2026-12-31", manager)
    by_id = {entry["id"]: entry for entry in demand["helplines"]}
    assert by_id["alpha"]["open"][2][14] == 3  # Wednesday 14:00-15:00
    assert by_id["alpha"]["closed"][2][16] == 2  # the last-admission window
    assert by_id["shut"]["closed"][2][14] == 1
    assert sum(map(sum, demand["total"]["open"])) == 3
    assert sum(map(sum, demand["total"]["closed"])) == 3


# --- the API -----------------------------------------------------------------------------------


@pytest.fixture
async def two_years(server: Server) -> Server:
    """alpha in 2025 and 2026, "shut" only in 2026 (new that year)."""
    store = server.app[STORE]
    await store.add_counts("alpha", date(2025, 3, 1), {"answered": 10, "tally_email": 2})
    await store.add_counts("alpha", date(2026, 3, 1), {"answered": 12, "tally_email": 1})
    await store.add_counts(
        "alpha",
        date(2026, 12, 1),
        {"requested": 4, "answered": 3, "tally_phone": 2, "wait_1_5m": 3, "duration_5_15m": 3},
    )
    await store.add_counts("shut", date(2026, 6, 1), {"tally_phone": 5, "closed_attempts": 3})
    await store.add_demand("alpha", "2026-12", {"open:1:10": 4, "closed:2:19": 2})
    await server.add_account("mia", role="manager")
    await server.add_account("carla")
    return server


async def fetch(server: Server, path: str, token: str, accept: str = "") -> tuple[int, str, str]:
    headers = {**bearer(token), **({"Accept": accept} if accept else {})}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}{path}", headers=headers) as response,
    ):
        return response.status, response.content_type, await response.text()


async def test_the_year_report_has_growth_per_helpline_and_channel(two_years: Server) -> None:
    report = await stats(two_years, "/api/stats/year/2026", await two_years.login("mia"))
    alpha, shut = report["helplines"]
    assert alpha["channels"]["total"] == {"count": 18, "previous": 12, "growth": 0.5}
    assert alpha["channels"]["email"] == {"count": 1, "previous": 2, "growth": -0.5}
    assert alpha["new"] is False
    assert shut["channels"]["phone"] == {"count": 5, "previous": 0, "growth": None}
    assert shut["new"] is True
    assert report["total"]["channels"]["total"] == {"count": 23, "previous": 12, "growth": 0.917}
    march = {"month": "2026-03", "chat": 12, "phone": 0, "email": 1, "total": 13}
    assert alpha["months"][2] == march
    assert alpha["months"][11]["total"] == 5


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _as_text(value: Any) -> str:
    return "" if value is None else str(value)


def _cells(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{key: _as_text(value) for key, value in row.items()} for row in rows]


def _expected_daily(body: Any) -> list[dict[str, str]]:
    names = {name for day in body["days"] for name in day}
    return _cells([{name: day.get(name, 0) for name in names} for day in body["days"]])


def _flat(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict):
            out.update(_flat(item, f"{prefix}{key}_"))
        else:
            out[f"{prefix}{key}"] = item
    return out


def _expected_summary(body: Any) -> list[dict[str, str]]:
    rows = [_flat(entry) for entry in [*body["helplines"], body["total"]]]
    names = {name for row in rows for name in row}
    return _cells([{name: row.get(name, 0) for name in names} for row in rows])


def _expected_year(body: Any) -> list[dict[str, str]]:
    rows = []
    entries = [*body["helplines"], {"id": "total", "name": "Total", **body["total"]}]
    for entry in entries:
        for channel in ("chat", "phone", "email", "total", "closed_attempts"):
            cell = entry["channels"][channel]
            row = {
                "helpline": entry["id"],
                "helpline_name": entry["name"],
                "channel": channel,
                "year": body["year"],
                "count": cell["count"],
                "previous": cell["previous"],
                "growth": cell["growth"],
            }
            for month in entry["months"]:
                row[month["month"]] = month.get(channel, "")
            rows.append(row)
    return _cells(rows)


def _expected_demand(body: Any) -> list[dict[str, str]]:
    rows = []
    for entry in [*body["helplines"], body["total"]]:
        for state in ("open", "closed"):
            for weekday, hours in enumerate(entry[state]):
                row = {
                    "helpline": entry["id"],
                    "helpline_name": entry["name"],
                    "state": state,
                    "weekday": weekday,
                }
                row.update({f"h{hour:02d}": n for hour, n in enumerate(hours)})
                rows.append(row)
    return _cells(rows)


def _expected_planner(body: Any) -> list[dict[str, str]]:
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return _cells(
        [
            {"weekday": day, **{f"h{h:02d}": n for h, n in enumerate(body["counselors"][i])}}
            for i, day in enumerate(days)
        ]
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/stats/daily?from=2025-01-01&to=2026-12-31", _expected_daily),
        ("/api/stats/summary?from=2025-01-01&to=2026-12-31", _expected_summary),
        ("/api/stats/year/2026", _expected_year),
        ("/api/stats/demand?from=2026-12-01&to=2026-12-31", _expected_demand),
        (
            "/api/stats/planner?helpline=alpha&from=2026-12-01&to=2026-12-31&wed=19:00-21:00",
            _expected_planner,
        ),
    ],
)
async def test_json_and_csv_carry_the_same_numbers(
    two_years: Server, path: str, expected: Any
) -> None:
    token = await two_years.login("mia")
    status, kind, as_json = await fetch(two_years, path, token)
    assert (status, kind) == (200, "application/json")
    base, _, query = path.partition("?")
    status, kind, by_accept = await fetch(two_years, path, token, accept="text/csv")
    assert (status, kind) == (200, "text/csv")
    status, kind, by_path = await fetch(two_years, f"{base}.csv?{query}", token)
    assert (status, kind) == (200, "text/csv")
    assert by_accept == by_path
    assert _csv_rows(by_path) == expected(json.loads(as_json))


async def test_the_summary_csv_is_the_json_flattened(two_years: Server) -> None:
    token = await two_years.login("mia")
    path = "/api/stats/summary?from=2026-01-01&to=2026-12-31"
    body = await stats(two_years, path, token)
    _, _, text = await fetch(two_years, path.replace("summary", "summary.csv"), token)
    rows = _csv_rows(text)
    assert [row["id"] for row in rows] == ["alpha", "shut", "total"]
    total = rows[-1]
    assert total["contacts_total"] == str(body["total"]["contacts"]["total"]) == "23"
    assert total["wait_median_s"] == _as_text(body["total"]["wait"]["median_s"])
    assert total["answered_rate"] == _as_text(body["total"]["answered_rate"])


async def test_min_count_suppresses_small_cells_in_json_and_csv(two_years: Server) -> None:
    token = await two_years.login("mia")
    path = "/api/stats/daily?from=2026-12-01&to=2026-12-01&min_count=5"
    body = await stats(two_years, path, token)
    row = body["days"][0]
    assert row["requested"] == "<5" and row["tally_phone"] == "<5" and row["abandoned"] == 0
    _, _, text = await fetch(two_years, path.replace("daily", "daily.csv"), token)
    assert _csv_rows(text)[0]["requested"] == "<5"
    summary = await stats(two_years, "/api/stats/summary?min_count=5&to=2026-12-31", token)
    alpha = summary["helplines"][0]
    assert alpha["answered"] == "<5" and alpha["answered_rate"] is None
    assert alpha["wait"]["median_s"] is None
    report = await stats(two_years, "/api/stats/year/2026?min_count=5", token)
    assert report["helplines"][1]["channels"]["phone"]["count"] == 5
    assert report["helplines"][0]["channels"]["email"]["count"] == "<5"


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/api/stats/summary?from=2026-12-02&to=2026-12-01", "'from' must not be after 'to'"),
        ("/api/stats/summary?from=2023-12-01&to=2026-12-02", "at most 3 years"),
        ("/api/stats/daily?from=2026-02-30", "'from' must be a date"),
        ("/api/stats/demand?helpline=nope", "unknown helpline 'nope'"),
        ("/api/stats/summary?min_count=-1", "'min_count' must be a whole number"),
        ("/api/stats/year/1999", "'year' must be between"),
        ("/api/stats/planner", "'helpline' is required"),
        ("/api/stats/planner?helpline=alpha&mon=9-17", "'mon'"),
    ],
)
async def test_bad_input_gets_400_with_a_clear_message(
    two_years: Server, path: str, words: str
) -> None:
    status, _, text = await fetch(two_years, path, await two_years.login("mia"))
    body = json.loads(text)
    assert (status, body["error"]["code"]) == (400, "bad_request")
    assert words in body["error"]["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/stats/daily",
        "/api/stats/summary.csv",
        "/api/stats/year/2026",
        "/api/stats/demand",
        "/api/stats/planner?helpline=alpha",
    ],
)
async def test_only_managers_and_admins_read_the_stats(two_years: Server, path: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{two_years.url}{path}") as response:
            assert response.status == 401
        status, _ = await get_json(http, f"{two_years.url}{path}", bearer("not-a-token"))
        assert status == 401
    status, _, _ = await fetch(two_years, path, await two_years.login("carla"))
    assert status == 403


async def test_the_planner_reaches_the_closed_evening(two_years: Server) -> None:
    token = await two_years.login("mia")
    query = "helpline=alpha&from=2026-12-01&to=2026-12-31&target_wait_s=60&wed=19:00-21:00"
    plan = await stats(two_years, f"/api/stats/planner?{query}", token)
    weeks = 31 / 7
    assert plan["gained_requests_per_year"] == round(2 * 52.18 / weeks)
    assert plan["lost_requests_per_year"] == round(4 * 52.18 / weeks)
    assert plan["counselors"][2][19] == 1 and plan["counselors"][1][10] == 0
    assert plan["proposed"]["wed"] == ["19:00-21:00"] and plan["proposed"]["mon"] == []


async def test_after_a_transfer_the_receiving_counselor_owes_the_outcome(server: Server) -> None:
    carla = await server.counselor("carla")
    _visitor, chat_id = await answered_chat(server, carla)
    dora = await server.counselor("dora")
    ack = await carla.call("transfer", {"chat_id": chat_id, "counselor": "dora"})
    assert ack == {"ok": True}, ack
    await dora.next("assigned")
    assert await dora.call("accept", {"chat_id": chat_id}) == {"ok": True}
    await _visitor.call("end", {})
    await dora.next("ended")
    assert (await carla.call("wrap_up", {"chat_id": chat_id, "outcome": None}))["error"][
        "code"
    ] == "not_in_chat"
    assert await dora.call("wrap_up", {"chat_id": chat_id, "outcome": "test"}) == {"ok": True}
    [day] = await server.app[STORE].daily_counts(date(2026, 12, 2), date(2026, 12, 2), "alpha")
    counts = dict(day.counts)
    assert (counts["answered"], counts["transferred"], counts["outcome_test"]) == (1, 1, 1)


async def test_a_visitor_waiting_at_closing_time_owes_no_outcome(server: Server) -> None:
    visitor = server.visitor()
    await visitor.connect()
    assert (await visitor.call("start", {"helpline": "alpha"}))["status"] == "queued"
    server.clock.advance(3 * 3600)  # 17:00: alpha closes
    await server.tick()
    assert (await visitor.next("ended"))["reason"] == "closed"
    [day] = await server.app[STORE].daily_counts(date(2026, 12, 2), date(2026, 12, 2), "alpha")
    counts = dict(day.counts)
    assert counts == {"requested": 1, "unserved_at_closing": 1}
