"""The HTTP API over a real socket: schedules, helplines, login, daily counts, operations."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from chatserver.core.counting import COUNTERS
from chatserver.web.keys import STORE
from tests.integration.conftest import PASSWORD, Server, ServerFactory

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

SCHEDULE_CONFIG = """
timezone = "Europe/Amsterdam"

[[helpline]]
id = "night"
name = "Night"
max_queue = 5
last_admission_minutes = 0
max_chats_per_counselor = 1
[helpline.hours]
mon = ["22:00-02:00"]
tue = ["20:00-24:00"]
wed = ["00:00-02:00", "10:00-12:00", "11:00-13:00"]
thu = ["09:00-17:00"]
fri = ["09:00-17:00"]
sat = ["22:00-04:00"]
[[helpline.exceptions]]
date = "2026-12-03"
hours = []
[[helpline.exceptions]]
date = "2026-12-04"
hours = ["12:00-14:00"]

[[helpline]]
id = "weekend"
name = "Weekend"
max_queue = 5
last_admission_minutes = 0
max_chats_per_counselor = 1
[helpline.hours]
sat = ["22:00-04:00"]

[[helpline]]
id = "small-hours"
name = "Small hours"
max_queue = 5
last_admission_minutes = 0
max_chats_per_counselor = 1
[helpline.hours]
sun = ["02:30-03:00"]
"""

HELPLINES_CONFIG = """
timezone = "Europe/Amsterdam"

[[helpline]]
id = "day"
name = "Day line"
max_queue = 5
last_admission_minutes = 10
max_chats_per_counselor = 1
[helpline.hours]
wed = ["09:00-17:00"]
[helpline.intro]
nl = "Je bent hier anoniem."
en = "You are anonymous here."
[[helpline.alternatives]]
kind = "phone"
label = "Bel ons"
value = "0800-1234"
[[helpline.alternatives]]
kind = "link"
label = "Lees meer"
value = "https://example.org/hulp"

[[helpline]]
id = "late"
name = "Late line"
max_queue = 5
last_admission_minutes = 10
max_chats_per_counselor = 1
[helpline.hours]
wed = ["12:00-24:00"]
thu = ["00:00-03:00"]

[[helpline]]
id = "evening"
name = "Evening line"
max_queue = 5
last_admission_minutes = 10
max_chats_per_counselor = 1
[helpline.hours]
wed = ["19:00-24:00"]
thu = ["00:00-01:30"]

[[helpline]]
id = "never"
name = "Never open"
max_queue = 5
last_admission_minutes = 10
max_chats_per_counselor = 1
[helpline.hours]
"""


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def get_json(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with http.get(url, headers=headers) as response:
        assert response.content_type == "application/json", await response.text()
        return response.status, await response.json()


def interval(opens_at: str, closes_at: str) -> dict[str, str]:
    return {"opens_at": opens_at, "closes_at": closes_at}


async def schedule(http: aiohttp.ClientSession, server: Server, helpline: str, query: str) -> Any:
    status, body = await get_json(http, f"{server.url}/api/helplines/{helpline}/schedule?{query}")
    assert status == 200, body
    assert (body["helpline"], body["timezone"]) == (helpline, "Europe/Amsterdam")
    return body["intervals"]


def row(day: str, helpline: str, **counts: int) -> dict[str, Any]:
    """A daily row as the API gives it: every counter present, zeros included.

    Counters outside COUNTERS (outcomes, topics, tallies) appear only when counted.
    """
    contacts = sum(counts.get(name, 0) for name in ("answered", "tally_phone", "tally_email"))
    return {
        "date": day,
        "helpline": helpline,
        "helpline_name": helpline.capitalize(),
        **{name: 0 for name in COUNTERS},
        "contacts": contacts,
        **counts,
    }


# --- GET /api/helplines/ID/schedule ----------------------------------------------------------


@pytest.fixture
async def scheduled(make_server: ServerFactory) -> Server:
    return await make_server(SCHEDULE_CONFIG)


async def test_overnight_ranges_are_kept_whole_at_both_ends_of_the_window(
    scheduled: Server, http: aiohttp.ClientSession
) -> None:
    # Tuesday 1 December: Monday's 22:00-02:00 reaches into it, and Tuesday's 20:00-24:00
    # runs on into Wednesday's 00:00-02:00 as one interval.
    assert await schedule(http, scheduled, "night", "from=2026-12-01&days=1") == [
        interval("2026-11-30T22:00:00+01:00", "2026-12-01T02:00:00+01:00"),
        interval("2026-12-01T20:00:00+01:00", "2026-12-02T02:00:00+01:00"),
    ]


async def test_overlapping_ranges_of_one_day_are_merged(
    scheduled: Server, http: aiohttp.ClientSession
) -> None:
    # Wednesday: "10:00-12:00" and "11:00-13:00" are one interval 10:00-13:00.
    assert await schedule(http, scheduled, "night", "from=2026-12-02&days=1") == [
        interval("2026-12-01T20:00:00+01:00", "2026-12-02T02:00:00+01:00"),
        interval("2026-12-02T10:00:00+01:00", "2026-12-02T13:00:00+01:00"),
    ]


async def test_an_exception_closes_its_date_and_only_that_date(
    scheduled: Server, http: aiohttp.ClientSession
) -> None:
    assert await schedule(http, scheduled, "night", "from=2026-12-03&days=1") == []
    assert await schedule(http, scheduled, "night", "from=2026-12-10&days=1") == [
        interval("2026-12-10T09:00:00+01:00", "2026-12-10T17:00:00+01:00"),
    ]


async def test_an_exception_replaces_the_hours_of_its_date_only(
    scheduled: Server, http: aiohttp.ClientSession
) -> None:
    assert await schedule(http, scheduled, "night", "from=2026-12-04&days=1") == [
        interval("2026-12-04T12:00:00+01:00", "2026-12-04T14:00:00+01:00"),
    ]
    assert await schedule(http, scheduled, "night", "from=2026-12-11&days=1") == [
        interval("2026-12-11T09:00:00+01:00", "2026-12-11T17:00:00+01:00"),
    ]


async def test_a_week_lists_every_real_interval_in_order(
    scheduled: Server, http: aiohttp.ClientSession
) -> None:
    # Tuesday to Saturday; Saturday's 22:00-04:00 ends on Sunday, outside the window.
    assert await schedule(http, scheduled, "night", "from=2026-12-01&days=5") == [
        interval("2026-11-30T22:00:00+01:00", "2026-12-01T02:00:00+01:00"),
        interval("2026-12-01T20:00:00+01:00", "2026-12-02T02:00:00+01:00"),
        interval("2026-12-02T10:00:00+01:00", "2026-12-02T13:00:00+01:00"),
        interval("2026-12-04T12:00:00+01:00", "2026-12-04T14:00:00+01:00"),
        interval("2026-12-05T22:00:00+01:00", "2026-12-06T04:00:00+01:00"),
    ]


async def test_an_overnight_range_across_spring_forward_goes_from_plus_one_to_plus_two(
    scheduled: Server, http: aiohttp.ClientSession
) -> None:
    spring = [interval("2026-03-28T22:00:00+01:00", "2026-03-29T04:00:00+02:00")]
    assert await schedule(http, scheduled, "weekend", "from=2026-03-28&days=2") == spring
    # Asked from the Sunday alone, the interval that began on Saturday is still whole.
    assert await schedule(http, scheduled, "weekend", "from=2026-03-29&days=1") == spring
    opens, closes = (datetime.fromisoformat(t) for t in spring[0].values())
    assert (closes - opens).total_seconds() == 5 * 3600


async def test_an_overnight_range_across_fall_back_goes_from_plus_two_to_plus_one(
    scheduled: Server, http: aiohttp.ClientSession
) -> None:
    autumn = [interval("2026-10-24T22:00:00+02:00", "2026-10-25T04:00:00+01:00")]
    assert await schedule(http, scheduled, "weekend", "from=2026-10-24&days=2") == autumn
    assert await schedule(http, scheduled, "weekend", "from=2026-10-25&days=1") == autumn
    opens, closes = (datetime.fromisoformat(t) for t in autumn[0].values())
    assert (closes - opens).total_seconds() == 7 * 3600


async def test_a_range_inside_the_spring_gap_vanishes_and_in_the_autumn_overlap_starts_first(
    scheduled: Server, http: aiohttp.ClientSession
) -> None:
    assert await schedule(http, scheduled, "small-hours", "from=2026-03-29&days=1") == []
    assert await schedule(http, scheduled, "small-hours", "from=2026-10-25&days=1") == [
        interval("2026-10-25T02:30:00+02:00", "2026-10-25T03:00:00+01:00"),
    ]


async def test_schedule_defaults_to_seven_days_from_today_in_the_helpline_timezone(
    make_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    # 23:30 UTC on Tuesday is already Wednesday 2 December in Amsterdam.
    server = await make_server(SCHEDULE_CONFIG, datetime(2026, 12, 1, 23, 30, tzinfo=UTC))
    wednesday_to_tuesday = [
        interval("2026-12-01T20:00:00+01:00", "2026-12-02T02:00:00+01:00"),
        interval("2026-12-02T10:00:00+01:00", "2026-12-02T13:00:00+01:00"),
        interval("2026-12-04T12:00:00+01:00", "2026-12-04T14:00:00+01:00"),
        interval("2026-12-05T22:00:00+01:00", "2026-12-06T04:00:00+01:00"),
        interval("2026-12-07T22:00:00+01:00", "2026-12-08T02:00:00+01:00"),
        interval("2026-12-08T20:00:00+01:00", "2026-12-09T02:00:00+01:00"),
    ]
    assert await schedule(http, server, "night", "") == wednesday_to_tuesday
    assert await schedule(http, server, "night", "from=2026-12-02") == wednesday_to_tuesday
    assert await schedule(http, server, "night", "days=7") == wednesday_to_tuesday
    assert await schedule(http, server, "night", "days=1") == wednesday_to_tuesday[:2]


async def test_schedule_takes_one_to_62_days(
    scheduled: Server, http: aiohttp.ClientSession
) -> None:
    assert len(await schedule(http, scheduled, "weekend", "from=2026-01-01&days=1")) == 0
    # 62 days from Thursday 1 January 2026 hold 9 Saturdays.
    assert len(await schedule(http, scheduled, "weekend", "from=2026-01-01&days=62")) == 9


@pytest.mark.parametrize(
    "query",
    [
        "from=tomorrow",
        "from=2026-13-01",
        "from=2026-02-30",
        "from=",
        "from=20261201",
        "from=2026-W49-2",
        "from=0001-01-01",
        "from=9999-12-31",
        "days=0",
        "days=63",
        "days=abc",
        "days=-1",
        "days=1.5",
        "days=",
        "days=1_0",
    ],
)
async def test_schedule_rejects_a_bad_from_or_days_with_a_json_400(
    scheduled: Server, http: aiohttp.ClientSession, query: str
) -> None:
    url = f"{scheduled.url}/api/helplines/night/schedule?{query}"
    status, body = await get_json(http, url)
    assert status == 400
    assert body["error"]["code"] == "bad_request"
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


async def test_schedule_of_an_unknown_helpline_is_404(
    scheduled: Server, http: aiohttp.ClientSession
) -> None:
    status, body = await get_json(http, f"{scheduled.url}/api/helplines/nope/schedule")
    assert status == 404
    assert body["error"]["code"] == "unknown_helpline"


# --- GET /api/helplines ----------------------------------------------------------------------


async def test_helplines_say_open_until_or_closed_until_with_exact_times_and_waiting(
    make_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    # Wednesday 2 December, 14:00.
    server = await make_server(HELPLINES_CONFIG, datetime(2026, 12, 2, 14, 0, tzinfo=AMSTERDAM))
    for _ in range(2):
        visitor = server.visitor()
        await visitor.connect()
        assert (await visitor.call("start", {"helpline": "day"}))["status"] == "queued"

    status, body = await get_json(http, f"{server.url}/api/helplines")
    assert status == 200
    assert body == [
        {
            "id": "day",
            "name": "Day line",
            "open": True,
            "accepting": True,
            "accepting_from": None,
            "opens_at": None,
            "closes_at": "2026-12-02T17:00:00+01:00",
            "waiting": 2,
            "intro": {"nl": "Je bent hier anoniem.", "en": "You are anonymous here."},
            "alternatives": [
                {"kind": "phone", "label": "Bel ons", "value": "0800-1234"},
                {"kind": "link", "label": "Lees meer", "value": "https://example.org/hulp"},
            ],
            "quick_exit_url": "https://www.google.com/",
        },
        {
            # Open now; closes at the end of the interval that runs on past midnight.
            "id": "late",
            "name": "Late line",
            "open": True,
            "accepting": True,
            "accepting_from": None,
            "opens_at": None,
            "closes_at": "2026-12-03T03:00:00+01:00",
            "waiting": 0,
            "intro": {},
            "alternatives": [],
            "quick_exit_url": "https://www.google.com/",
        },
        {
            # Closed now; the next opening and the end of that opening.
            "id": "evening",
            "name": "Evening line",
            "open": False,
            "accepting": False,
            "accepting_from": "2026-12-02T19:00:00+01:00",
            "opens_at": "2026-12-02T19:00:00+01:00",
            "closes_at": "2026-12-03T01:30:00+01:00",
            "waiting": 0,
            "intro": {},
            "alternatives": [],
            "quick_exit_url": "https://www.google.com/",
        },
        {
            "id": "never",
            "name": "Never open",
            "open": False,
            "accepting": False,
            "accepting_from": None,
            "opens_at": None,
            "closes_at": None,
            "waiting": 0,
            "intro": {},
            "alternatives": [],
            "quick_exit_url": "https://www.google.com/",
        },
    ]


# --- POST /api/login, /api/logout, GET /api/me -----------------------------------------------


async def test_login_gives_account_token_and_an_http_only_strict_cookie(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("mia", role="manager")
    credentials = {"username": "mia", "password": PASSWORD}
    async with http.post(f"{server.url}/api/login", json=credentials) as response:
        assert response.status == 200
        body = await response.json()
        cookies = response.headers.getall("Set-Cookie")
    token = body["token"]
    assert body == {"username": "mia", "role": "manager", "display_name": "Mia", "token": token}
    assert isinstance(token, str) and len(token) >= 32
    assert len(cookies) == 1
    name_value, *attributes = (part.strip() for part in cookies[0].split(";"))
    assert name_value == f"chatserver_session={token}"
    lowered = {a.lower() for a in attributes}
    assert "httponly" in lowered
    assert "samesite=strict" in lowered
    assert "path=/" in lowered


async def test_unknown_user_and_wrong_password_get_the_same_401(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("mia", role="manager")
    answers = []
    for credentials in (
        {"username": "nobody", "password": PASSWORD},
        {"username": "mia", "password": PASSWORD + "!"},
        {"username": "mia", "password": ""},
        {"username": "MIA", "password": PASSWORD},
    ):
        async with http.post(f"{server.url}/api/login", json=credentials) as response:
            answers.append((response.status, response.content_type, await response.read()))
            assert "Set-Cookie" not in response.headers
    assert answers[0][:2] == (401, "application/json")
    assert all(answer == answers[0] for answer in answers), answers


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"",
        b"null",
        b"[]",
        b'"mia"',
        b"{}",
        b'{"username": "mia"}',
        b'{"password": "x"}',
        b'{"username": 1, "password": "x"}',
        b'{"username": "mia", "password": null}',
        b'{"username": ["mia"], "password": "x"}',
    ],
)
async def test_a_malformed_login_body_is_400(
    server: Server, http: aiohttp.ClientSession, body: bytes
) -> None:
    headers = {"Content-Type": "application/json"}
    async with http.post(f"{server.url}/api/login", data=body, headers=headers) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "bad_request"


async def test_the_token_works_as_bearer_until_logout(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla", helplines=("alpha",))
    token = await server.login("carla")
    status, me = await get_json(http, f"{server.url}/api/me", bearer(token))
    assert status == 200
    assert me == {
        "username": "carla",
        "role": "counselor",
        "display_name": "Carla",
        "helplines": ["alpha"],
    }

    async with http.post(f"{server.url}/api/logout", headers=bearer(token)) as response:
        assert response.status == 200
        assert await response.json() == {"ok": True}
    status, body = await get_json(http, f"{server.url}/api/me", bearer(token))
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    cookie = {"Cookie": f"chatserver_session={token}"}
    assert (await get_json(http, f"{server.url}/api/me", cookie))[0] == 401


async def test_the_session_cookie_works_until_logout(server: Server) -> None:
    await server.add_account("mia", role="manager")
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies for 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as browser:
        credentials = {"username": "mia", "password": PASSWORD}
        async with browser.post(f"{server.url}/api/login", json=credentials) as response:
            assert response.status == 200
        status, me = await get_json(browser, f"{server.url}/api/me")
        assert (status, me["username"], me["helplines"]) == (200, "mia", ["alpha", "shut"])

        async with browser.post(f"{server.url}/api/logout") as response:
            assert response.status == 200
        assert (await get_json(browser, f"{server.url}/api/me"))[0] == 401


async def test_without_a_valid_token_me_and_logout_are_401(
    server: Server, http: aiohttp.ClientSession
) -> None:
    for headers in ({}, bearer("forged"), {"Cookie": "chatserver_session=forged"}):
        status, body = await get_json(http, f"{server.url}/api/me", headers)
        assert (status, body["error"]["code"]) == (401, "unauthorized")
        async with http.post(f"{server.url}/api/logout", headers=headers) as response:
            assert response.status == 401


# --- GET /api/stats/daily --------------------------------------------------------------------


async def test_daily_counts_are_for_managers_and_admins_only(
    server: Server, http: aiohttp.ClientSession
) -> None:
    for path in ("/api/stats/daily", "/api/stats/daily.csv"):
        async with http.get(f"{server.url}{path}") as response:
            assert response.status == 401
    await server.add_account("carla")
    counselor = bearer(await server.login("carla"))
    for path in ("/api/stats/daily", "/api/stats/daily.csv"):
        async with http.get(f"{server.url}{path}", headers=counselor) as response:
            assert response.status == 403
            assert (await response.json())["error"]["code"] == "forbidden"
    for username, role in (("mia", "manager"), ("ada", "admin")):
        await server.add_account(username, role=role)
        status, body = await get_json(
            http, f"{server.url}/api/stats/daily", bearer(await server.login(username))
        )
        assert (status, body) == (200, {"days": []})


async def test_a_scripted_day_is_counted_exactly(
    server: Server, http: aiohttp.ClientSession
) -> None:
    # Wednesday 14:00: "shut" is closed, "alpha" is open with max_queue 3 and 2 chats each.
    visitor = server.visitor()
    await visitor.connect()
    assert (await visitor.call("start", {"helpline": "shut"}))["status"] == "closed"

    visitors = []
    for _ in range(4):
        visitor = server.visitor()
        await visitor.connect()
        visitors.append((visitor, await visitor.call("start", {"helpline": "alpha"})))
    assert [ack["status"] for _, ack in visitors] == ["queued", "queued", "queued", "full"]

    server.clock.advance(90)
    counselor = await server.counselor("carla")
    first = await counselor.next("assigned")
    await counselor.next("assigned")
    assert await visitors[2][0].call("end", {}) == {"ok": True}  # gives up while waiting

    server.clock.advance(600)
    assert await counselor.call("end", {"chat_id": first["chat_id"]}) == {"ok": True}
    await server.settle()

    await server.add_account("mia", role="manager")
    url = f"{server.url}/api/stats/daily?from=2026-12-02&to=2026-12-02"
    status, body = await get_json(http, url, bearer(await server.login("mia")))
    assert status == 200
    assert body == {
        "days": [
            row(
                "2026-12-02",
                "alpha",
                requested=3,
                answered=2,
                abandoned=1,
                rejected_full=1,
                wait_1_5m=2,
                duration_5_15m=1,
                # Ended by a v1 client that sends no outcome.
                outcome_unspecified=1,
            ),
            row("2026-12-02", "shut", closed_attempts=1),
        ]
    }


@pytest.fixture
async def counted(server: Server) -> Server:
    """Counts on several days around "today", Wednesday 2 December 2026."""
    store = server.app[STORE]
    for day in (date(2026, 11, 1), date(2026, 11, 2), date(2026, 12, 1), date(2026, 12, 2)):
        await store.add_counts("alpha", day, {"requested": day.day})
        await store.add_counts("shut", day, {"closed_attempts": 1})
    await store.add_counts("alpha", date(2026, 12, 3), {"requested": 1})
    await server.add_account("mia", role="manager")
    return server


async def daily(http: aiohttp.ClientSession, server: Server, query: str) -> tuple[int, Any]:
    token = await server.login("mia")
    return await get_json(http, f"{server.url}/api/stats/daily?{query}", bearer(token))


async def dates_and_helplines(
    http: aiohttp.ClientSession, server: Server, query: str
) -> list[tuple[str, str]]:
    status, body = await daily(http, server, query)
    assert status == 200, body
    return [(d["date"], d["helpline"]) for d in body["days"]]


async def test_daily_counts_filter_by_from_and_to(
    counted: Server, http: aiohttp.ClientSession
) -> None:
    assert await dates_and_helplines(http, counted, "from=2026-12-01&to=2026-12-01") == [
        ("2026-12-01", "alpha"),
        ("2026-12-01", "shut"),
    ]
    status, body = await daily(http, counted, "from=2026-12-01&to=2026-12-03")
    assert status == 200
    assert [(d["date"], d["helpline"], d["requested"]) for d in body["days"]] == [
        ("2026-12-01", "alpha", 1),
        ("2026-12-01", "shut", 0),
        ("2026-12-02", "alpha", 2),
        ("2026-12-02", "shut", 0),
        ("2026-12-03", "alpha", 1),
    ]


async def test_daily_counts_default_to_the_31_days_ending_today_or_at_to(
    counted: Server, http: aiohttp.ClientSession
) -> None:
    # Today is 2 December: 2 November to 2 December, nothing from tomorrow.
    assert await dates_and_helplines(http, counted, "helpline=alpha") == [
        ("2026-11-02", "alpha"),
        ("2026-12-01", "alpha"),
        ("2026-12-02", "alpha"),
    ]
    assert await dates_and_helplines(http, counted, "helpline=alpha&to=2026-12-01") == [
        ("2026-11-01", "alpha"),
        ("2026-11-02", "alpha"),
        ("2026-12-01", "alpha"),
    ]
    assert await dates_and_helplines(http, counted, "helpline=alpha&from=2026-12-01") == [
        ("2026-12-01", "alpha"),
        ("2026-12-02", "alpha"),
    ]
    assert len(await dates_and_helplines(http, counted, "")) == 6  # both helplines


async def test_daily_counts_filter_by_helpline(
    counted: Server, http: aiohttp.ClientSession
) -> None:
    query = "from=2026-11-01&to=2026-12-31&helpline=shut"
    assert await dates_and_helplines(http, counted, query) == [
        ("2026-11-01", "shut"),
        ("2026-11-02", "shut"),
        ("2026-12-01", "shut"),
        ("2026-12-02", "shut"),
    ]


async def test_daily_counts_of_an_unknown_helpline_are_400(
    counted: Server, http: aiohttp.ClientSession
) -> None:
    # Issue 11: an unknown helpline is a bad request like a bad date, with a clear message.
    status, body = await daily(http, counted, "helpline=nope")
    assert (status, body["error"]["code"]) == (400, "bad_request")
    assert "unknown helpline 'nope'" in body["error"]["message"]


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-12-02&to=2026-12-01",
        "from=2026-12-32",
        "to=yesterday",
        "from=20261201",
        "from=2023-12-01&to=2026-12-02",  # more than 3 years
    ],
)
async def test_daily_counts_reject_bad_dates_with_400(
    counted: Server, http: aiohttp.ClientSession, query: str
) -> None:
    status, body = await daily(http, counted, query)
    assert (status, body["error"]["code"]) == (400, "bad_request")


async def test_daily_counts_take_up_to_3_years_and_dates_near_the_calendar_edge(
    counted: Server, http: aiohttp.ClientSession
) -> None:
    assert (await daily(http, counted, "from=2025-12-02&to=2026-12-02"))[0] == 200
    assert (await daily(http, counted, "from=2023-12-02&to=2026-12-02"))[0] == 200
    assert await daily(http, counted, "to=0001-01-05") == (200, {"days": []})


async def test_daily_counts_as_csv_by_accept_header_or_by_dot_csv(
    counted: Server, http: aiohttp.ClientSession
) -> None:
    token = await counted.login("mia")
    query = "from=2026-12-01&to=2026-12-02"
    _, as_json = await get_json(http, f"{counted.url}/api/stats/daily?{query}", bearer(token))
    expected = [{key: str(value) for key, value in d.items()} for d in as_json["days"]]

    bodies = []
    for path, accept in (("/api/stats/daily", "text/csv"), ("/api/stats/daily.csv", "*/*")):
        headers = {**bearer(token), "Accept": accept}
        async with http.get(f"{counted.url}{path}?{query}", headers=headers) as response:
            assert response.status == 200
            assert response.content_type == "text/csv"
            assert "attachment" in response.headers["Content-Disposition"]
            bodies.append(await response.text())
    assert bodies[0] == bodies[1]
    header, *_ = bodies[0].splitlines()
    assert header.split(",") == ["date", "helpline", "helpline_name", *COUNTERS, "contacts"]
    assert list(csv.DictReader(io.StringIO(bodies[0]))) == expected


async def test_the_csv_has_a_column_for_every_counter_in_the_range(
    server: Server, http: aiohttp.ClientSession
) -> None:
    store = server.app[STORE]
    await store.add_counts("alpha", date(2026, 12, 1), {"outcome_silent": 2, "topic_grooming": 1})
    await store.add_counts("alpha", date(2026, 12, 2), {"tally_phone": 1})
    await server.add_account("mia", role="manager")
    headers = bearer(await server.login("mia"))
    url = f"{server.url}/api/stats/daily.csv?from=2026-12-01&to=2026-12-02"
    async with http.get(url, headers=headers) as response:
        rows = list(csv.DictReader(io.StringIO(await response.text())))
    extra = ["outcome_silent", "tally_phone", "topic_grooming"]
    assert list(rows[0]) == ["date", "helpline", "helpline_name", *COUNTERS, "contacts", *extra]
    assert [[row[name] for name in extra] for row in rows] == [["2", "0", "1"], ["0", "1", "0"]]


# --- closing time ----------------------------------------------------------------------------


async def test_visitors_still_waiting_at_closing_are_told_and_counted_unserved(
    make_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    # Alpha closes at 17:00 on Wednesday and opens again at midnight.
    server = await make_server(now=datetime(2026, 12, 2, 16, 30, tzinfo=AMSTERDAM))
    chatting = []
    for _ in range(2):
        visitor = server.visitor()
        await visitor.connect()
        await visitor.call("start", {"helpline": "alpha"})
        chatting.append(visitor)
    counselor = await server.counselor("carla")
    first = await counselor.next("assigned")
    await counselor.next("assigned")
    waiting = []
    for lang in ("en", "nl", "en"):
        visitor = server.visitor()
        await visitor.connect()
        assert (await visitor.call("start", {"helpline": "alpha", "lang": lang}))["status"] == (
            "queued"
        )
        waiting.append(visitor)

    server.clock.advance(29 * 60 + 59)
    await server.tick()
    await waiting[0].nothing("ended", wait=0.1)

    server.clock.advance(1)
    await server.tick()
    english = {
        "reason": "closed",
        "opens_at": "2026-12-03T00:00:00+01:00",
        "message": "Alpha is closed now. We open again on Thursday 3 December at 00:00.",
    }
    dutch = {
        **english,
        "message": "Alpha is nu gesloten. We zijn weer open op donderdag 3 december om 00:00.",
    }
    assert [await v.next("ended") for v in waiting] == [english, dutch, english]
    # Chats in progress go on.
    for visitor in chatting:
        await visitor.nothing("ended", wait=0.1)
    await counselor.call(
        "message", {"chat_id": first["chat_id"], "text": "We gaan door.", "client_msg_id": "c1"}
    )
    assert (await chatting[0].next("message"))["text"] == "We gaan door."

    await server.tick()  # a second tick after closing counts nobody twice
    await server.add_account("mia", role="manager")
    url = f"{server.url}/api/stats/daily?from=2026-12-02&to=2026-12-02&helpline=alpha"
    _, body = await get_json(http, url, bearer(await server.login("mia")))
    assert body == {
        "days": [
            row(
                "2026-12-02",
                "alpha",
                requested=5,
                answered=2,
                unserved_at_closing=3,
                wait_under_1m=2,
            )
        ]
    }


# --- operations ------------------------------------------------------------------------------


async def test_healthz_is_ok(server: Server, http: aiohttp.ClientSession) -> None:
    assert await get_json(http, f"{server.url}/healthz") == (200, {"status": "ok"})


# --- security headers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),
        ("GET", "/metrics"),
        ("GET", "/api/helplines"),
        ("GET", "/api/helplines/alpha/schedule"),
        ("GET", "/api/helplines/alpha/schedule?days=0"),  # 400
        ("GET", "/api/helplines/nope/schedule"),  # 404
        ("GET", "/api/me"),  # 401
        ("GET", "/api/stats/daily"),  # 401
        ("POST", "/api/login"),  # 400
        ("GET", "/api/no-such-route"),  # 404
    ],
)
async def test_every_response_carries_the_privacy_headers(
    server: Server, http: aiohttp.ClientSession, method: str, path: str
) -> None:
    async with http.request(method, f"{server.url}{path}") as response:
        headers = response.headers
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    directives = [d.split() for d in headers["Content-Security-Policy"].split(";") if d.strip()]
    assert ["default-src", "'self'"] in directives
    for _, *sources in directives:
        for source in sources:
            # Keywords like 'self' and 'none', or data:; never a host or scheme of another site.
            assert source.startswith("'") or source == "data:", source
    if path.startswith("/api/"):
        assert "no-store" in headers["Cache-Control"]


async def test_helplines_in_the_last_admission_window_are_open_but_not_accepting(
    make_server: ServerFactory,
) -> None:
    # Alpha closes at 17:00 on Wednesdays with last_admission_minutes = 10.
    server = await make_server(now=datetime(2026, 12, 2, 16, 55, tzinfo=AMSTERDAM))
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/api/helplines") as r:
        alpha = next(h for h in await r.json() if h["id"] == "alpha")
    assert alpha["open"] is True
    assert alpha["accepting"] is False
    assert alpha["accepting_from"] == "2026-12-03T00:00:00+01:00"
    assert alpha["closes_at"] == "2026-12-02T17:00:00+01:00"
