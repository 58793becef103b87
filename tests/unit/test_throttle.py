"""The in-memory login throttle's own details (the rules every login throttle follows are in
tests/integration/test_login_throttles.py, memory and Redis), and LoginThrottle, the plain
sliding window per keyed digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chatserver.throttle import (
    ACCOUNT_FREE_FAILURES,
    BACKOFF_CAP,
    BACKOFF_FIRST,
    LoginThrottle,
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


async def test_expired_login_counters_are_forgotten() -> None:
    throttle = MemoryLoginThrottle()
    keys = throttle.keys("carla", "192.0.2.7")
    await throttle.reserve(keys, at(0))
    assert len(throttle) == 3
    assert await throttle.reserve(keys, at(3601)) is None
    throttle._sweep(at(7300))
    assert len(throttle) == 0


# --- LoginThrottle: one sliding window per keyed digest ----------------------------------------


def test_five_failures_within_five_minutes_pause_until_the_fifth_last_ages_out() -> None:
    throttle = LoginThrottle()
    keys = [throttle.account_key("carla")]
    for second in range(0, 50, 10):
        assert throttle.retry_after(keys, at(second)) is None
        throttle.failed(keys, at(second))
    assert throttle.retry_after(keys, at(40)) == 260
    assert throttle.retry_after(keys, at(299)) == 1
    assert throttle.retry_after(keys, at(300)) is None


def test_failures_spread_wider_than_the_window_never_pause() -> None:
    throttle = LoginThrottle()
    keys = [throttle.account_key("carla")]
    for minute in range(20):
        assert throttle.retry_after(keys, at(minute * 61)) is None
        throttle.failed(keys, at(minute * 61))


def test_account_and_client_count_separately_and_either_pauses() -> None:
    throttle = LoginThrottle()
    client = throttle.client_key("192.0.2.7")
    for index in range(5):
        throttle.failed([throttle.account_key(f"user{index}"), client], at(index))
    assert throttle.retry_after([throttle.account_key("someone-else"), client], at(10))
    other_client = throttle.client_key("192.0.2.8")
    assert throttle.retry_after([throttle.account_key("user0"), other_client], at(10)) is None


def test_a_right_login_clears_the_account_but_not_the_client() -> None:
    throttle = LoginThrottle()
    account, client = throttle.account_key("carla"), throttle.client_key("192.0.2.7")
    for second in range(4):
        throttle.failed([account, client], at(second))
    throttle.succeeded(account)
    throttle.failed([account, client], at(5))
    assert throttle.retry_after([account], at(6)) is None
    assert throttle.retry_after([client], at(6)) is not None


def test_the_client_address_is_never_kept_only_a_keyed_hash() -> None:
    throttle = LoginThrottle()
    key = throttle.client_key("192.0.2.7")
    throttle.failed([key], at(0))
    assert "192.0.2.7" not in key
    assert "192.0.2.7" not in repr(throttle.__dict__)
    # A different process key gives a different hash: it cannot be looked up elsewhere.
    assert LoginThrottle().client_key("192.0.2.7") != key


def test_expired_counters_are_forgotten() -> None:
    throttle = LoginThrottle()
    throttle.failed([throttle.client_key("192.0.2.7")], at(0))
    assert throttle.retry_after([throttle.client_key("192.0.2.7")], at(301)) is None
    assert len(throttle) == 0
