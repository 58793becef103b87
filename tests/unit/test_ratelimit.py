"""Rules for the token bucket: a burst, a steady refill, never negative, and a clock that
may step backwards without handing out tokens or locking a client out.

When the clock steps back, the step earns nothing and refill resumes from the new reading:
the bucket does not freeze until the old reading comes round again.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver.core.ratelimit import TokenBucket


def take(bucket: TokenBucket, now: float, times: int) -> list[bool]:
    return [bucket.allow(now) for _ in range(times)]


# --- burst -------------------------------------------------------------------------------


def test_a_new_bucket_allows_a_full_burst_at_once() -> None:
    assert take(TokenBucket(rate=1.0, burst=5), now=100.0, times=5) == [True] * 5


def test_the_call_after_the_burst_is_refused() -> None:
    bucket = TokenBucket(rate=1.0, burst=5)
    take(bucket, 100.0, 5)
    assert bucket.allow(100.0) is False


@pytest.mark.parametrize("start", [0.0, -50.0, 1e9])
def test_a_new_bucket_starts_full_whatever_the_clock_reads(start: float) -> None:
    assert take(TokenBucket(rate=1.0, burst=3), now=start, times=4) == [True, True, True, False]


def test_a_burst_of_zero_allows_nothing() -> None:
    bucket = TokenBucket(rate=10.0, burst=0)
    assert bucket.allow(0.0) is False
    assert bucket.allow(100.0) is False


def test_a_cost_above_the_burst_is_never_allowed_and_takes_nothing() -> None:
    bucket = TokenBucket(rate=1.0, burst=3)
    assert bucket.allow(0.0, cost=4) is False
    assert bucket.allow(1000.0, cost=4) is False
    assert take(bucket, 1000.0, 3) == [True, True, True]


def test_a_cost_takes_that_many_tokens() -> None:
    bucket = TokenBucket(rate=1.0, burst=5)
    assert bucket.allow(0.0, cost=3) is True
    assert bucket.allow(0.0, cost=3) is False
    assert bucket.allow(0.0, cost=2) is True
    assert bucket.allow(0.0, cost=0.5) is False


def test_a_refused_call_takes_nothing() -> None:
    bucket = TokenBucket(rate=1.0, burst=2)
    take(bucket, 0.0, 2)
    assert take(bucket, 0.5, 10) == [False] * 10
    # Half a token from 0 to 0.5 and half from 0.5 to 1.0: exactly one, none spent on refusals.
    assert bucket.allow(1.0) is True
    assert bucket.allow(1.0) is False


# --- refill ------------------------------------------------------------------------------


def test_tokens_come_back_at_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=4)
    take(bucket, 0.0, 4)
    assert bucket.allow(0.4) is False  # 0.8 tokens
    assert bucket.allow(0.5) is True  # 1.0 token
    assert bucket.allow(0.5) is False
    assert take(bucket, 1.5, 3) == [True, True, False]


def test_refill_never_goes_above_the_burst() -> None:
    bucket = TokenBucket(rate=1.0, burst=3)
    take(bucket, 0.0, 3)
    assert take(bucket, 10_000.0, 4) == [True, True, True, False]


def test_a_steady_client_at_the_rate_is_never_refused() -> None:
    bucket = TokenBucket(rate=2.0, burst=1)
    assert all(bucket.allow(i * 0.5) for i in range(200))


def test_a_client_faster_than_the_rate_gets_the_burst_plus_the_rate() -> None:
    bucket = TokenBucket(rate=1.0, burst=5)
    # Ten calls a second for ten seconds.
    allowed = sum(bucket.allow(i / 10) for i in range(100))
    assert allowed == 5 + 9  # the burst, then one a second over 9.9 s


def test_a_rate_of_zero_never_refills() -> None:
    bucket = TokenBucket(rate=0.0, burst=2)
    take(bucket, 0.0, 2)
    assert bucket.allow(1e9) is False


# --- never negative ----------------------------------------------------------------------


def test_hammering_an_empty_bucket_never_drives_it_below_zero() -> None:
    bucket = TokenBucket(rate=1.0, burst=2)
    take(bucket, 0.0, 1000)
    assert bucket.tokens >= 0
    # A debt would delay the next token; there is none.
    assert bucket.allow(1.0) is True


def test_fractional_costs_never_leave_a_negative_balance() -> None:
    bucket = TokenBucket(rate=0.3, burst=1)
    now = 0.0
    for _ in range(1000):
        bucket.allow(now, cost=0.1)
        assert bucket.tokens >= 0
        now += 0.07


# --- a clock that steps backwards ----------------------------------------------------------


def test_a_clock_stepping_back_earns_no_tokens() -> None:
    bucket = TokenBucket(rate=1.0, burst=3)
    take(bucket, 100.0, 3)
    assert bucket.allow(40.0) is False
    assert bucket.allow(40.0) is False
    assert bucket.tokens == 0


def test_a_clock_stepping_back_does_not_lock_the_client_out() -> None:
    bucket = TokenBucket(rate=1.0, burst=3)
    take(bucket, 1000.0, 3)
    assert bucket.allow(10.0) is False
    # Refill resumes from the new reading, long before the clock reaches 1000 again.
    assert bucket.allow(11.0) is True


def test_a_clock_stepping_back_keeps_the_tokens_there_were() -> None:
    bucket = TokenBucket(rate=1.0, burst=3)
    take(bucket, 100.0, 1)
    assert take(bucket, 50.0, 3) == [True, True, False]


@settings(max_examples=100, deadline=None)
@given(
    rate=st.floats(min_value=0.0, max_value=50.0),
    burst=st.floats(min_value=0.0, max_value=20.0),
    steps=st.lists(
        st.tuples(
            st.floats(min_value=-100.0, max_value=100.0),
            st.floats(min_value=0.0, max_value=5.0),
        ),
        max_size=50,
    ),
)
def test_the_balance_stays_between_zero_and_the_burst_whatever_the_clock_does(
    rate: float, burst: float, steps: list[tuple[float, float]]
) -> None:
    bucket = TokenBucket(rate=rate, burst=burst)
    now = 0.0
    for step, cost in steps:
        now += step
        before = bucket.tokens if bucket.tokens >= 0 else burst
        allowed = bucket.allow(now, cost)
        assert 0 <= bucket.tokens <= burst
        if allowed:
            assert cost <= burst
        else:
            # A refusal spends nothing: at least what there was stays.
            assert bucket.tokens >= min(before, burst)


@settings(max_examples=100, deadline=None)
@given(
    rate=st.floats(min_value=0.1, max_value=20.0),
    burst=st.integers(min_value=1, max_value=10),
    gaps=st.lists(st.floats(min_value=0.0, max_value=2.0), min_size=1, max_size=100),
)
def test_with_a_forward_clock_no_more_than_burst_plus_rate_times_elapsed_is_allowed(
    rate: float, burst: int, gaps: list[float]
) -> None:
    bucket = TokenBucket(rate=rate, burst=burst)
    now = 0.0
    allowed = 0
    for gap in gaps:
        now += gap
        allowed += bucket.allow(now)
    assert allowed <= burst + rate * now + 1e-9
