"""The console's and the supervisor's HTTP routes: who may call them and what they return."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from chatserver.web.keys import STORE
from tests.integration.conftest import START, Server


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


async def post_json(
    http: aiohttp.ClientSession, url: str, body: object, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with http.post(url, json=body, headers=headers) as response:
        assert response.content_type == "application/json", await response.text()
        return response.status, await response.json()


async def as_role(server: Server, username: str, role: str) -> dict[str, str]:
    await server.add_account(username, role=role)
    return bearer(await server.login(username))


# --- who may call what -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/api/console", "counselor"),
        ("GET", "/api/colleagues", "counselor"),
        ("POST", "/api/tally", "counselor"),
        ("GET", "/api/supervisor", "manager"),
    ],
)
async def test_routes_are_401_without_login_and_403_for_the_wrong_role(
    server: Server, http: aiohttp.ClientSession, method: str, path: str, allowed: str
) -> None:
    async with http.request(method, f"{server.url}{path}", json={}) as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorized"
    roles = ["counselor", "manager", "admin"]
    allowed_roles = {allowed, "admin"} if allowed == "manager" else {allowed}
    for role in roles:
        if role in allowed_roles:
            continue
        headers = await as_role(server, f"user-{role}", role)
        async with http.request(
            method, f"{server.url}{path}", json={}, headers=headers
        ) as response:
            assert response.status == 403, role
            assert (await response.json())["error"]["code"] == "forbidden"


# --- GET /api/console ------------------------------------------------------------------------


async def test_console_lists_the_counselors_helplines_with_labels_in_their_language(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla", helplines=("alpha",))
    headers = bearer(await server.login("carla"))
    status, body = await get_json(http, f"{server.url}/api/console?lang=en", headers)
    assert status == 200
    assert body["me"] == {"username": "carla", "display_name": "Carla", "helplines": ["alpha"]}
    [alpha] = body["helplines"]
    assert alpha["id"] == "alpha"
    assert alpha["name"] == "Alpha"
    assert alpha["max_chats_per_counselor"] == 2
    assert alpha["outcomes"][0] == {"id": "counselling", "label": "Counselling"}
    assert [o["id"] for o in alpha["outcomes"]] == [
        "counselling",
        "information",
        "silent",
        "hang-up",
        "abusive",
        "test",
    ]
    assert alpha["topics"] == [
        {"id": "sextortion", "label": "Sextortion"},
        {"id": "grooming", "label": "Grooming"},
    ]
    assert alpha["canned"] == [{"title": "Greeting", "text": "Hi, good to have you here."}]


async def test_console_defaults_to_dutch_and_refuses_an_unknown_language(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla")
    headers = bearer(await server.login("carla"))
    status, body = await get_json(http, f"{server.url}/api/console", headers)
    assert status == 200
    assert [h["id"] for h in body["helplines"]] == ["alpha", "shut"]
    alpha = body["helplines"][0]
    assert alpha["outcomes"][0]["label"] == "Hulpverleningsgesprek"
    assert alpha["canned"] == [{"title": "Begroeting", "text": "Hoi, fijn dat je er bent."}]
    status, body = await get_json(http, f"{server.url}/api/console?lang=de", headers)
    assert (status, body["error"]["code"]) == (400, "bad_request")


# --- GET /api/colleagues ---------------------------------------------------------------------


async def test_colleagues_are_the_other_counselors_online_now(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.counselor("carla")
    await server.counselor("otto", available=False, helplines=("shut",))
    await server.add_account("nina")  # never connected
    status, body = await get_json(
        http, f"{server.url}/api/colleagues", bearer(await server.login("carla"))
    )
    assert status == 200
    assert body == [
        {
            "username": "otto",
            "display_name": "Otto",
            "helplines": ["shut"],
            "available": False,
            "active_chats": 0,
        }
    ]


# --- POST /api/tally -------------------------------------------------------------------------


async def counts_today(server: Server) -> dict[str, int]:
    days = await server.app[STORE].daily_counts(START.date(), START.date(), "alpha")
    return dict(days[0].counts) if days else {}


async def test_a_tally_counts_channel_outcome_and_topics_for_today(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla")
    headers = bearer(await server.login("carla"))
    for channel in ("phone", "phone", "email"):
        body = {
            "helpline": "alpha",
            "channel": channel,
            "outcome": "information",
            "topics": ["grooming"],
        }
        assert await post_json(http, f"{server.url}/api/tally", body, headers) == (
            200,
            {"ok": True},
        )
    assert await counts_today(server) == {
        "tally_phone": 2,
        "tally_email": 1,
        "outcome_information": 3,
        "topic_grooming": 3,
    }


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"helpline": "alpha", "channel": "phone"}, 400, "bad_request"),
        ({"helpline": "alpha", "channel": "fax", "outcome": "test"}, 400, "bad_request"),
        ({"helpline": "alpha", "channel": "phone", "outcome": "nope"}, 400, "bad_request"),
        (
            {"helpline": "alpha", "channel": "phone", "outcome": "test", "topics": ["nope"]},
            400,
            "bad_request",
        ),
        ({"channel": "phone", "outcome": "test"}, 400, "bad_request"),
        ({"helpline": "nope", "channel": "phone", "outcome": "test"}, 404, "unknown_helpline"),
        ({"helpline": "shut", "channel": "phone", "outcome": "test"}, 403, "forbidden"),
        ([], 400, "bad_request"),
    ],
)
async def test_a_bad_tally_is_refused_and_counts_nothing(
    server: Server, http: aiohttp.ClientSession, body: object, status: int, code: str
) -> None:
    await server.add_account("carla", helplines=("alpha",))
    headers = bearer(await server.login("carla"))
    answer = await post_json(http, f"{server.url}/api/tally", body, headers)
    assert (answer[0], answer[1]["error"]["code"]) == (status, code)
    assert await counts_today(server) == {}


# --- GET /api/supervisor ---------------------------------------------------------------------


async def test_supervisor_sees_live_load_per_helpline_and_who_is_online(
    server: Server, http: aiohttp.ClientSession
) -> None:
    visitors = []
    for _ in range(2):
        visitor = server.visitor()
        await visitor.connect()
        await visitor.call("start", {"helpline": "alpha"})
        visitors.append(visitor)
    server.clock.advance(90)
    carla = await server.counselor("carla", helplines=("alpha",))
    await carla.next("assigned")
    await carla.next("assigned")
    server.clock.advance(30)
    third = server.visitor()
    await third.connect()
    await third.call("start", {"helpline": "alpha"})
    server.clock.advance(10)
    await server.counselor("otto", available=False)
    headers = await as_role(server, "mia", "manager")
    status, body = await get_json(http, f"{server.url}/api/supervisor", headers)
    assert status == 200
    assert body["helplines"] == [
        {
            "id": "alpha",
            "name": "Alpha",
            "open": True,
            "waiting": 1,
            "longest_wait_s": 10,
            "counselors_online": 2,
            "counselors_available": 1,
            "chats_active": 2,
        },
        {
            "id": "shut",
            "name": "Shut",
            "open": False,
            "waiting": 0,
            "longest_wait_s": 0,
            "counselors_online": 1,
            "counselors_available": 0,
            "chats_active": 0,
        },
    ]
    assert body["counselors"] == [
        {
            "username": "carla",
            "display_name": "Carla",
            "helplines": ["alpha"],
            "available": True,
            "active_chats": 2,
            "hints": False,  # no helpline of hers allows supervisor hints
        },
        {
            "username": "otto",
            "display_name": "Otto",
            "helplines": ["alpha", "shut"],
            "available": False,
            "active_chats": 0,
            "hints": False,
        },
    ]
    assert "messages" not in str(body)
