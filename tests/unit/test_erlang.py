"""Erlang C against published tables (the call-centre textbook example and Erlang B tables)."""

from __future__ import annotations

import math

import pytest

from chatserver.core.erlang import (
    erlang_b,
    erlang_c,
    mean_wait,
    servers_needed,
    wait_quantile,
)


# Erlang B table values (e.g. the classic Erlang B table, 1% / 2% grade of service columns).
@pytest.mark.parametrize(
    ("servers", "traffic", "expected"),
    [
        (1, 1.0, 0.5),
        (5, 1.361, 0.01),
        (10, 4.461, 0.01),
        (10, 5.084, 0.02),
        (20, 12.031, 0.01),
    ],
)
def test_erlang_b_matches_the_published_table(
    servers: int, traffic: float, expected: float
) -> None:
    assert erlang_b(servers, traffic) == pytest.approx(expected, abs=5e-4)


# The standard worked example: 100 calls in 30 minutes, 180 s handling = 10 Erlangs.
# Published probabilities of waiting for 11..15 agents.
@pytest.mark.parametrize(
    ("servers", "expected"),
    [(11, 0.6821), (12, 0.4494), (13, 0.2853), (14, 0.1741), (15, 0.1020)],
)
def test_erlang_c_probability_of_waiting_matches_the_textbook_example(
    servers: int, expected: float
) -> None:
    assert erlang_c(servers, 10.0) == pytest.approx(expected, abs=5e-4)


def test_average_speed_of_answer_matches_the_textbook_example() -> None:
    # 11 agents: ASA = 0.6821 * 180 / (11 - 10) = 122.8 s; 12 agents: 40.4 s.
    assert mean_wait(11, 10.0, 180) == pytest.approx(122.8, abs=0.1)
    assert mean_wait(12, 10.0, 180) == pytest.approx(40.4, abs=0.1)


def test_service_level_matches_the_textbook_example() -> None:
    # Share answered within 20 s: 11 agents 39.0%, 12 64.0%, 13 79.6%, 14 88.8%, 15 94.1%.
    levels = ((11, 0.390), (12, 0.640), (13, 0.796), (14, 0.888), (15, 0.941))
    for servers, level in levels:
        within = 1 - erlang_c(servers, 10.0) * math.exp(-(servers - 10.0) * 20 / 180)
        assert within == pytest.approx(level, abs=1e-3)


def test_one_slot_is_an_m_m_1_queue() -> None:
    # M/M/1: P(wait) = rho; median wait = AHT/(1-rho) * ln(2 rho) when rho > 0.5.
    assert erlang_c(1, 0.8) == pytest.approx(0.8)
    assert wait_quantile(1, 0.8, 600, 0.5) == pytest.approx(600 / 0.2 * math.log(1.6))


def test_an_unstable_queue_waits_forever_and_no_traffic_never_waits() -> None:
    assert erlang_c(10, 10.0) == 1.0
    assert wait_quantile(10, 12.0, 180, 0.5) == math.inf
    assert wait_quantile(3, 0.0, 180, 0.5) == 0.0
    assert servers_needed(0, 900, 60) == 0


def test_servers_needed_is_the_fewest_that_meet_the_target() -> None:
    # 10 Erlangs (200 arrivals an hour, 180 s): median wait 0 once C <= 0.5, i.e. 12 agents.
    assert servers_needed(200, 180, 0) == 12
    # A generous target needs only a stable queue.
    needed = servers_needed(200, 180, 3600)
    assert needed == 11
    # The 90th percentile is stricter than the median.
    assert servers_needed(200, 180, 20, q=0.9) > servers_needed(200, 180, 20)
