"""What every state-changing /api request passes before its handler: JSON body and origin checks.

A real server on a real port; the requests are what a hostile page or script could send.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.integration.conftest import PASSWORD, Server

DEEP = b"[" * 20_000 + b"]" * 20_000
JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession, url: str, data: bytes, headers: dict[str, str]
) -> tuple[int, Any]:
    async with http.post(url, data=data, headers=headers) as response:
        assert response.content_type == "application/json", await response.text()
        return response.status, await response.json()


async def counselor_headers(server: Server) -> dict[str, str]:
    await server.add_account("carla")
    return {**JSON, "Authorization": f"Bearer {await server.login('carla')}"}


# --- JSON bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        DEEP,
        b'{"username": ' + DEEP + b', "password": "x"}',
        b'{"username": "\\ud800", "password": "a long enough password"}',
        b'{"username": "carla", "password": "\\udfff"}',
        b'{"username": "carla", "password": "x", "otp": {"a": {"b": {"c": {"d": {"e": {}}}}}}}',
    ],
    ids=["deep", "deep-field", "lone-high-surrogate", "lone-low-surrogate", "nested-otp"],
)
async def test_a_login_body_too_deep_or_with_a_lone_surrogate_is_400_not_500(
    server: Server, http: aiohttp.ClientSession, body: bytes
) -> None:
    status, answer = await post(http, f"{server.url}/api/login", body, JSON)
    assert status == 400
    assert answer["error"]["code"] == "bad_request"
    assert answer["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [DEEP, b'{"helpline": "alpha", "channel": "\\ud800", "outcome": "test"}'],
    ids=["deep", "lone-surrogate"],
)
async def test_a_tally_body_too_deep_or_with_a_lone_surrogate_is_400_not_500(
    server: Server, http: aiohttp.ClientSession, body: bytes
) -> None:
    headers = await counselor_headers(server)
    status, answer = await post(http, f"{server.url}/api/tally", body, headers)
    assert (status, answer["error"]["code"]) == (400, "bad_request")


async def test_the_json_error_says_what_is_wrong(
    server: Server, http: aiohttp.ClientSession
) -> None:
    _, deep = await post(http, f"{server.url}/api/login", DEEP, JSON)
    assert "deep" in deep["error"]["message"]
    body = b'{"username": "\\ud800", "password": "x"}'
    _, surrogate = await post(http, f"{server.url}/api/login", body, JSON)
    assert "JSON" in surrogate["error"]["message"]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
async def test_a_json_route_refuses_another_content_type_with_415(
    server: Server, http: aiohttp.ClientSession, content_type: str | None
) -> None:
    await server.add_account("carla")
    body = b'{"username": "carla", "password": "' + PASSWORD.encode() + b'"}'
    headers = {"Content-Type": content_type} if content_type else {}
    async with http.post(f"{server.url}/api/login", data=body, headers=headers) as response:
        assert response.status == 415
        assert (await response.json())["error"]["code"] == "unsupported_media_type"
        assert "Set-Cookie" not in response.headers


async def test_json_with_a_charset_parameter_is_accepted(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla")
    body = b'{"username": "carla", "password": "' + PASSWORD.encode() + b'"}'
    headers = {"Content-Type": "application/json; charset=utf-8"}
    status, answer = await post(http, f"{server.url}/api/login", body, headers)
    assert (status, answer["username"]) == (200, "carla")


# --- origin ----------------------------------------------------------------------------------


def login_body() -> bytes:
    return b'{"username": "carla", "password": "' + PASSWORD.encode() + b'"}'


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://127.0.0.1:1"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
    ids=["other-port", "other-host", "null", "cross-site", "same-site"],
)
async def test_a_cross_origin_login_is_403_and_sets_no_cookie(
    server: Server, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    await server.add_account("carla")
    async with http.post(
        f"{server.url}/api/login", data=login_body(), headers={**JSON, **headers}
    ) as response:
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "forbidden"
        assert "Set-Cookie" not in response.headers


async def test_a_cross_origin_text_plain_form_post_is_403(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """What an HTML form on another site sends: no preflight, text/plain, its own Origin."""
    await server.add_account("carla")
    headers = {"Content-Type": "text/plain", "Origin": "http://127.0.0.1:1"}
    async with http.post(f"{server.url}/api/login", data=login_body(), headers=headers) as response:
        assert response.status == 403
        assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("path", ["/api/logout", "/api/tally"])
async def test_every_state_changing_route_refuses_another_origin(
    server: Server, http: aiohttp.ClientSession, path: str
) -> None:
    headers = await counselor_headers(server)
    body = b'{"helpline": "alpha", "channel": "phone", "outcome": "test"}'
    for method in ("POST", "PUT", "DELETE"):
        async with http.request(
            method, f"{server.url}{path}", data=body, headers={**headers, "Origin": "http://x.test"}
        ) as response:
            assert response.status == 403, method
    # The session survived: the refused logout did nothing.
    async with http.get(f"{server.url}/api/me", headers=headers) as response:
        assert response.status == 200


async def test_same_origin_and_origin_less_requests_still_work(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla")
    same_origin = [
        {"Origin": server.url, "Sec-Fetch-Site": "same-origin"},
        {"Origin": server.url},
        {"Sec-Fetch-Site": "none"},
        {},
    ]
    for extra in same_origin:
        status, answer = await post(
            http, f"{server.url}/api/login", login_body(), {**JSON, **extra}
        )
        assert status == 200, (extra, answer)


async def test_a_proxy_that_rewrites_the_host_may_say_the_original_host(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla")
    headers = {**JSON, "Origin": "https://chat.example.nl", "X-Forwarded-Host": "chat.example.nl"}
    status, _ = await post(http, f"{server.url}/api/login", login_body(), headers)
    assert status == 200


async def test_reading_routes_are_not_origin_checked(
    server: Server, http: aiohttp.ClientSession
) -> None:
    async with http.get(
        f"{server.url}/api/helplines", headers={"Origin": "https://evil.example"}
    ) as response:
        assert response.status == 200
