"""Rules for the wait shown to a queued visitor.

With free_slots free and busy_slots busy chat slots, a visitor at a position within the free
slots waits about nothing; anyone further back waits one mean chat for every round of
busy_slots chats ahead of them: ceil((position - free_slots) / max(1, busy_slots)) *
MEAN_CHAT_SECONDS.
"""

from __future__ import annotations

import pytest

from chatserver.core.estimate import MEAN_CHAT_SECONDS, estimated_wait_s


def test_a_mean_chat_is_twenty_minutes() -> None:
    assert MEAN_CHAT_SECONDS == 1200


@pytest.mark.parametrize(
    ("position", "free", "busy"),
    [(1, 1, 0), (1, 3, 5), (3, 3, 0), (2, 5, 1), (0, 0, 0)],
)
def test_a_visitor_within_the_free_slots_waits_nothing(position: int, free: int, busy: int) -> None:
    assert estimated_wait_s(position, free, busy) == 0


def test_the_first_visitor_beyond_the_free_slots_waits_one_mean_chat() -> None:
    assert estimated_wait_s(position=4, free_slots=3, busy_slots=2) == MEAN_CHAT_SECONDS


@pytest.mark.parametrize(
    ("position", "busy", "rounds"),
    [
        (1, 1, 1),
        (2, 1, 2),
        (5, 1, 5),
        (1, 2, 1),
        (2, 2, 1),
        (3, 2, 2),
        (4, 2, 2),
        (5, 2, 3),
        (6, 4, 2),
        (8, 4, 2),
        (9, 4, 3),
    ],
)
def test_with_no_free_slot_the_queue_drains_busy_slots_per_mean_chat(
    position: int, busy: int, rounds: int
) -> None:
    assert estimated_wait_s(position, 0, busy) == rounds * MEAN_CHAT_SECONDS


def test_free_slots_are_taken_off_the_position_first() -> None:
    # Two free slots and two busy: position 5 has 3 ahead of the free slots -> 2 rounds.
    assert estimated_wait_s(5, 2, 2) == 2 * MEAN_CHAT_SECONDS


def test_nobody_busy_counts_as_one_slot_rather_than_forever() -> None:
    # No counselor at all: the estimate stays finite, one mean chat per visitor ahead.
    assert estimated_wait_s(1, 0, 0) == MEAN_CHAT_SECONDS
    assert estimated_wait_s(3, 0, 0) == 3 * MEAN_CHAT_SECONDS
    assert estimated_wait_s(3, 1, 0) == 2 * MEAN_CHAT_SECONDS


def test_the_estimate_is_whole_seconds() -> None:
    assert type(estimated_wait_s(7, 1, 3)) is int
    assert type(estimated_wait_s(1, 1, 3)) is int


def test_the_estimate_never_falls_as_the_position_rises() -> None:
    for free in range(4):
        for busy in range(5):
            waits = [estimated_wait_s(p, free, busy) for p in range(1, 30)]
            assert waits == sorted(waits), (free, busy)


def test_the_estimate_never_rises_as_busy_slots_are_added() -> None:
    for position in range(1, 20):
        waits = [estimated_wait_s(position, 0, busy) for busy in range(1, 10)]
        assert waits == sorted(waits, reverse=True), position


def test_the_estimate_is_always_a_whole_number_of_mean_chats() -> None:
    for position in range(0, 30):
        for free in range(5):
            for busy in range(5):
                assert estimated_wait_s(position, free, busy) % MEAN_CHAT_SECONDS == 0
