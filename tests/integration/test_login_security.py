"""Login hardening: failed logins pause logins, and accounts with TOTP need the code too.

The throttle's rules, memory and Redis, are in test_login_throttles.py; here they meet the
real login route. Other clients are other loopback addresses (127.0.0.2 ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from chatserver import totp
from chatserver.throttle import (
    ACCOUNT_FREE_FAILURES,
    CLIENT_FREE_FAILURES,
    PAIR_MAX_FAILURES,
    MemoryLoginThrottle,
)
from chatserver.web.keys import THROTTLE
from tests.integration.conftest import PASSWORD, TEST_CONFIG, Server, ServerFactory


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
    for index in range(CLIENT_FREE_FAILURES):
        assert (await login(server, http, f"guess{index}", "wrong password!"))[0] == 401
    assert (await login(server, http, "carla", PASSWORD))[0] == 429


async def test_a_right_login_clears_the_accounts_failures(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla")
    for _ in range(2):
        # Four more failures after a right login would be eight, and paused, if not cleared.
        for _ in range(4):
            assert (await login(server, http, "carla", "wrong password!"))[0] == 401
        assert (await login(server, http, "carla", PASSWORD))[0] == 200


async def test_a_right_login_does_not_clear_the_clients_failures_on_other_accounts(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla")
    for index in range(CLIENT_FREE_FAILURES - 1):
        assert (await login(server, http, f"guess{index}", "wrong password!"))[0] == 401
    assert (await login(server, http, "carla", PASSWORD))[0] == 200
    assert (await login(server, http, "guess-last", "wrong password!"))[0] == 401
    assert (await login(server, http, "carla", PASSWORD))[0] == 429


async def test_the_throttle_never_holds_the_client_address(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await login(server, http, "carla", "wrong password!")
    throttle = server.app[THROTTLE]
    assert isinstance(throttle, MemoryLoginThrottle)
    assert len(throttle) == 3  # the pair, the account and the client
    assert "127.0.0.1" not in repr(vars(throttle))


async def test_concurrent_wrong_passwords_are_counted_before_they_are_checked(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla")
    answers = await asyncio.gather(
        *(login(server, http, "carla", f"wrong password {i}") for i in range(60))
    )
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [401] * PAIR_MAX_FAILURES + [429] * (60 - PAIR_MAX_FAILURES)


@contextlib.asynccontextmanager
async def from_address(address: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A client whose connections come from another loopback address: another peer."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def test_a_stranger_with_wrong_passwords_does_not_lock_the_counselor_out(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla")
    async with from_address("127.0.0.2") as stranger:
        for _ in range(PAIR_MAX_FAILURES):
            assert (await login(server, stranger, "carla", "wrong password!"))[0] == 401
        assert (await login(server, stranger, "carla", PASSWORD))[0] == 429
    assert (await login(server, http, "carla", PASSWORD))[0] == 200


async def test_behind_one_proxy_address_a_stranger_does_not_lock_out_other_staff(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla")
    await server.add_account("dora")
    for _ in range(PAIR_MAX_FAILURES):
        assert (await login(server, http, "carla", "wrong password!"))[0] == 401
    assert (await login(server, http, "dora", PASSWORD))[0] == 200


async def test_behind_a_trusted_proxy_each_client_has_its_own_pair_throttle(
    make_server: ServerFactory,
) -> None:
    """X-Forwarded-For from a configured proxy names the client, for the throttle only."""
    server = await make_server(
        TEST_CONFIG.replace("[server]\n", '[server]\ntrusted_proxies = ["127.0.0.1"]\n', 1)
    )
    await server.add_account("carla")
    stranger = {"X-Forwarded-For": "203.0.113.5"}
    carla = {"X-Forwarded-For": "198.51.100.7"}
    async with aiohttp.ClientSession(headers=stranger) as http:
        for _ in range(PAIR_MAX_FAILURES):
            assert (await login(server, http, "carla", "wrong password!"))[0] == 401
        assert (await login(server, http, "carla", "wrong password!"))[0] == 429
    async with aiohttp.ClientSession(headers=carla) as http:
        assert (await login(server, http, "carla", PASSWORD))[0] == 200


async def test_strangers_on_many_addresses_slow_guessing_and_the_user_waits_at_most_a_minute(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("carla")
    guesses = 0
    for host in range(2, 2 + ACCOUNT_FREE_FAILURES):
        async with from_address(f"127.0.0.{host}") as stranger:
            assert (await login(server, stranger, "carla", "wrong password!"))[0] == 401
            guesses += 1
    async with from_address("127.0.1.1") as stranger:
        status, body, _ = await login(server, stranger, "carla", "wrong password!")
    assert status == 429 and body["error"]["retry_after_s"] == 1
    for _ in range(12):  # keep guessing as fast as allowed: the wait doubles up to a minute
        server.clock.advance(60)
        async with from_address(f"127.0.2.{guesses}") as stranger:
            assert (await login(server, stranger, "carla", "wrong password!"))[0] == 401
            guesses += 1
    status, body, _ = await login(server, http, "carla", PASSWORD)
    assert status == 429 and 0 < body["error"]["retry_after_s"] <= 60
    server.clock.advance(body["error"]["retry_after_s"])
    assert (await login(server, http, "carla", PASSWORD))[0] == 200


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


async def test_a_used_code_cannot_be_used_again(
    server: Server, http: aiohttp.ClientSession
) -> None:
    secret = await with_totp(server, "carla")
    now = server.clock().timestamp()
    code = totp.code_at(secret, now)
    assert (await login(server, http, "carla", PASSWORD, otp=code))[0] == 200
    server.clock.advance(10)  # same step, and within the tolerance for a while longer
    status, body, _ = await login(server, http, "carla", PASSWORD, otp=code)
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    # Nor the code of the step before, once a later one was used.
    earlier = totp.code_at(secret, now - 30)
    if earlier != code:
        assert (await login(server, http, "carla", PASSWORD, otp=earlier))[0] == 401
    server.clock.advance(30)
    assert (await login(server, http, "carla", PASSWORD, otp=totp.code_at(secret, now + 30)))[
        0
    ] == 200


async def test_otp_required_answers_count_like_failures(
    server: Server, http: aiohttp.ClientSession
) -> None:
    """Otherwise anyone could test passwords at full speed: otp_required says it was right."""
    secret = await with_totp(server, "carla")
    for _ in range(PAIR_MAX_FAILURES):
        status, body, _ = await login(server, http, "carla", PASSWORD)
        assert (status, body["error"]["code"]) == (401, "otp_required")
    status, body, _ = await login(server, http, "carla", PASSWORD)
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    server.clock.advance(300)
    code = totp.code_at(secret, server.clock().timestamp())
    assert (await login(server, http, "carla", PASSWORD, otp=code))[0] == 200
