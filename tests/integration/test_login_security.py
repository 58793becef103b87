"""Login hardening: failed logins pause logins, and accounts with TOTP need the code too."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from chatserver import totp
from chatserver.web.keys import THROTTLE
from tests.integration.conftest import PASSWORD, Server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def login(
    server: Server, http: aiohttp.ClientSession, username: str, password: str, **extra: str
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    body = {"username": username, "password": password, **extra}
    async with http.post(f"{server.url}/api/login", json=body) as response:
        return response.status, await response.json(), response.headers


# --- throttling ------------------------------------------------------------------------------


async def test_the_sixth_failed_login_within_five_minutes_gets_429_even_with_the_right_password(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla")
    for _ in range(5):
        assert (await login(server, http, "carla", "wrong password!"))[0] == 401
        server.clock.advance(10)
    status, body, headers = await login(server, http, "carla", PASSWORD)
    assert status == 429
    assert body["error"]["code"] == "rate_limited"
    # The first failure ages out five minutes after it happened, 50 s ago.
    assert body["error"]["retry_after_s"] == 250
    assert headers["Retry-After"] == "250"

    server.clock.advance(249)
    assert (await login(server, http, "carla", PASSWORD))[0] == 429
    server.clock.advance(1)
    assert (await login(server, http, "carla", PASSWORD))[0] == 200


async def test_failures_spread_over_many_accounts_pause_the_client(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla")
    for index in range(5):
        assert (await login(server, http, f"guess{index}", "wrong password!"))[0] == 401
    assert (await login(server, http, "carla", PASSWORD))[0] == 429


async def test_a_right_login_clears_the_accounts_failures(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla")
    for _ in range(4):
        assert (await login(server, http, "carla", "wrong password!"))[0] == 401
    assert (await login(server, http, "carla", PASSWORD))[0] == 200
    # The client's count still holds the four failures: one more pauses it.
    assert (await login(server, http, "carla", "wrong password!"))[0] == 401
    assert (await login(server, http, "carla", PASSWORD))[0] == 429


async def test_the_throttle_never_holds_the_client_address(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await login(server, http, "carla", "wrong password!")
    throttle = server.app[THROTTLE]
    assert len(throttle) == 2
    assert "127.0.0.1" not in repr(vars(throttle))


# --- TOTP ------------------------------------------------------------------------------------


async def with_totp(server: Server, username: str) -> str:
    await server.add_account(username)
    secret = totp.new_secret()
    assert await server.accounts.set_totp(username, secret)
    return secret


async def test_an_account_with_totp_needs_the_code_after_the_right_password(
    server: Server, http: aiohttp.ClientSession
) -> None:
    secret = await with_totp(server, "carla")
    status, body, _ = await login(server, http, "carla", PASSWORD)
    assert (status, body["error"]["code"]) == (401, "otp_required")
    assert "token" not in body

    code = totp.code_at(secret, server.clock().timestamp())
    status, body, _ = await login(server, http, "carla", PASSWORD, otp=code)
    assert status == 200
    assert body["username"] == "carla"


async def test_a_wrong_password_on_a_totp_account_gets_the_generic_401_not_otp_required(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await with_totp(server, "carla")
    _, generic, _ = await login(server, http, "nobody", PASSWORD)
    status, body, _ = await login(server, http, "carla", "wrong password!")
    assert (status, body) == (401, generic)


async def test_a_wrong_or_stale_code_gets_the_generic_401(
    server: Server, http: aiohttp.ClientSession
) -> None:
    secret = await with_totp(server, "carla")
    _, generic, _ = await login(server, http, "nobody", PASSWORD)
    now = server.clock().timestamp()
    accepted = {totp.code_at(secret, now + offset) for offset in (-30, 0, 30)}
    wrong = next(code for code in ("000000", "111111", "222222") if code not in accepted)
    stale = totp.code_at(secret, now - 90)
    for otp in (wrong, "12345", "abcdef", stale):
        if otp in accepted:
            continue  # a stale code that happens to equal a current one (1 in 10^6)
        assert (await login(server, http, "carla", PASSWORD, otp=otp))[:2] == (401, generic)


async def test_a_code_of_the_previous_or_next_step_is_accepted(
    server: Server, http: aiohttp.ClientSession
) -> None:
    secret = await with_totp(server, "carla")
    now = server.clock().timestamp()
    for offset in (-30, 30):
        otp = totp.code_at(secret, now + offset)
        assert (await login(server, http, "carla", PASSWORD, otp=otp))[0] == 200


async def test_an_account_without_totp_ignores_an_otp(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla")
    assert (await login(server, http, "carla", PASSWORD, otp="123456"))[0] == 200


async def test_disabling_totp_keeps_the_password_and_drops_the_secret(server: Server) -> None:
    await with_totp(server, "carla")
    before = await server.accounts.get("carla")
    assert before is not None and before.totp_secret is not None
    assert await server.accounts.set_totp("carla", None)
    after = await server.accounts.get("carla")
    assert after == dataclasses.replace(before, totp_secret=None)
    assert "totp_secret" not in (server.data_dir / "users.json").read_text()
