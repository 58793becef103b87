"""The in-memory login throttle's own details; the rules every throttle follows are in
tests/integration/test_login_throttles.py (memory and Redis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chatserver.throttle import (
    ACCOUNT_FREE_FAILURES,
    BACKOFF_CAP,
    BACKOFF_FIRST,
    MemoryLoginThrottle,
    backoff_delay,
)

T0 = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_backoff_is_free_then_doubles_from_one_second_up_to_a_minute() -> None:
    free = ACCOUNT_FREE_FAILURES
    assert backoff_delay(free - 1, free) == timedelta(0)
    assert backoff_delay(free, free) == BACKOFF_FIRST
    assert backoff_delay(free + 3, free) == 8 * BACKOFF_FIRST
    assert backoff_delay(free + 1000, free) == BACKOFF_CAP == timedelta(seconds=60)


async def test_the_client_address_and_username_are_never_kept_only_keyed_hashes() -> None:
    throttle = MemoryLoginThrottle()
    keys = throttle.keys("carla", "192.0.2.7")
    assert await throttle.reserve(keys, at(0)) is None
    for text in ("192.0.2.7", "carla"):
        assert text not in repr(keys)
        assert text not in repr(throttle.__dict__)
    # A different process key gives different hashes: they cannot be looked up elsewhere.
    assert MemoryLoginThrottle().keys("carla", "192.0.2.7") != keys


def test_a_username_that_is_not_valid_unicode_still_gets_a_key() -> None:
    keys = MemoryLoginThrottle().keys("\ud800", None)
    assert len(keys.account) == 64


async def test_expired_counters_are_forgotten() -> None:
    throttle = MemoryLoginThrottle()
    keys = throttle.keys("carla", "192.0.2.7")
    await throttle.reserve(keys, at(0))
    assert len(throttle) == 3
    assert await throttle.reserve(keys, at(3601)) is None
    throttle._sweep(at(7300))
    assert len(throttle) == 0
