"""One behavioural suite for the login throttle, run against memory and Redis, time injected.

The rules (chatserver/throttle.py): 5 failures of one account from one client in 5 minutes
pause that pair; the account and the client each get a looser exponential backoff; a right
login forgives the pair, the account and that pair's share of the client's count.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio

from chatserver.throttle import (
    ACCOUNT_FREE_FAILURES,
    BACKOFF_CAP,
    CLIENT_FREE_FAILURES,
    PAIR_MAX_FAILURES,
    MemoryLoginThrottle,
    Throttle,
)
from chatserver.throttle_redis import RedisLoginThrottle

T0 = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
PREFIX = "chatserver:"
SECRET = b"k" * 32

ThrottleFactory = Callable[[], Throttle]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(params=["memory", "redis"])
async def new_throttle(request: pytest.FixtureRequest) -> AsyncIterator[ThrottleFactory]:
    """Makes throttles of one kind; two Redis ones share their counters like two processes."""
    if request.param == "memory":
        made = MemoryLoginThrottle(SECRET)
        yield lambda: made
        return
    client = redis.asyncio.from_url(request.getfixturevalue("redis_url"))
    yield lambda: RedisLoginThrottle(client, PREFIX, SECRET)
    await client.aclose()


@pytest.fixture
def throttle(new_throttle: ThrottleFactory) -> Throttle:
    return new_throttle()


async def fail(throttle: Throttle, username: str, peer: str, now: datetime) -> None:
    assert await throttle.reserve(throttle.keys(username, peer), now) is None


async def test_five_failures_of_a_pair_pause_it_until_the_fifth_last_ages_out(
    throttle: Throttle,
) -> None:
    keys = throttle.keys("carla", "192.0.2.7")
    for second in range(0, 50, 10):
        await fail(throttle, "carla", "192.0.2.7", at(second))
    assert await throttle.reserve(keys, at(40)) == 260
    assert await throttle.reserve(keys, at(299)) == 1
    assert await throttle.reserve(keys, at(300)) is None


async def test_a_stranger_pausing_themselves_leaves_the_real_user_free(
    throttle: Throttle,
) -> None:
    for _ in range(PAIR_MAX_FAILURES):
        await fail(throttle, "carla", "198.51.100.1", at(0))
    assert await throttle.reserve(throttle.keys("carla", "198.51.100.1"), at(1)) is not None
    assert await throttle.reserve(throttle.keys("carla", "192.0.2.7"), at(1)) is None
    # And behind one proxy address, the stranger's failures on carla leave dora free.
    assert await throttle.reserve(throttle.keys("dora", "198.51.100.1"), at(1)) is None


async def test_many_addresses_on_one_account_meet_a_backoff_of_at_most_a_minute(
    throttle: Throttle,
) -> None:
    for index in range(ACCOUNT_FREE_FAILURES):
        await fail(throttle, "carla", f"198.51.100.{index}", at(0))
    # Brute force from ever new addresses: the next guess waits, doubling up to the cap.
    fresh = throttle.keys("carla", "203.0.113.1")
    assert await throttle.reserve(fresh, at(0)) == 1
    assert await throttle.reserve(fresh, at(1)) is None
    assert await throttle.reserve(throttle.keys("carla", "203.0.113.2"), at(1)) == 2
    for step in range(20):
        await fail(throttle, "carla", f"203.0.113.{10 + step}", at(10 + step * 60))
    last = 10 + 19 * 60
    real_user = throttle.keys("carla", "192.0.2.7")
    wait = await throttle.reserve(real_user, at(last))
    assert wait == BACKOFF_CAP.total_seconds()
    # The real user waits at most the cap, then gets in; a right login clears the account.
    assert await throttle.reserve(real_user, at(last + 60)) is None
    await throttle.succeeded(real_user, at(last + 60))
    assert await throttle.reserve(throttle.keys("carla", "203.0.113.200"), at(last + 60)) is None


async def test_spraying_many_accounts_from_one_client_meets_a_backoff(
    throttle: Throttle,
) -> None:
    for index in range(CLIENT_FREE_FAILURES):
        await fail(throttle, f"guess{index}", "192.0.2.7", at(0))
    assert await throttle.reserve(throttle.keys("carla", "192.0.2.7"), at(0)) == 1
    assert await throttle.reserve(throttle.keys("carla", "192.0.2.8"), at(0)) is None


async def test_a_right_login_forgives_the_pair_and_account_but_not_the_clients_other_failures(
    throttle: Throttle,
) -> None:
    others = CLIENT_FREE_FAILURES - PAIR_MAX_FAILURES
    for index in range(others):
        await fail(throttle, f"guess{index}", "192.0.2.7", at(0))
    carla = throttle.keys("carla", "192.0.2.7")
    for _round in range(2):
        # Without forgiveness the second round would meet both the pair and the client limit.
        for _ in range(PAIR_MAX_FAILURES - 1):
            assert await throttle.reserve(carla, at(0)) is None
        await throttle.succeeded(carla, at(0))
    # The failures on the other accounts stay: a few more and the client waits, carla too.
    for index in range(PAIR_MAX_FAILURES):
        await fail(throttle, f"more{index}", "192.0.2.7", at(0))
    assert await throttle.reserve(carla, at(0)) == 1


async def test_concurrent_attempts_are_counted_before_any_is_settled(
    new_throttle: ThrottleFactory,
) -> None:
    """60 logins at once (two processes in Redis): only five may go on to the password check."""
    throttles = [new_throttle(), new_throttle()]
    attempts = [
        throttles[i % 2].reserve(throttles[i % 2].keys("carla", "192.0.2.7"), at(0))
        for i in range(60)
    ]
    answers = await asyncio.gather(*attempts)
    assert answers.count(None) == PAIR_MAX_FAILURES
