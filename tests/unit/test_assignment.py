"""Rules for who gets the next visitor: fewest chats, then idle longest, then username."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from chatserver.core.assignment import choose_counselor, eligible
from chatserver.core.models import CounselorState

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
HELPLINE = "alpha"
MAX_CHATS = 2


def counselor(
    username: str,
    *,
    chats: int = 0,
    idle_since: datetime | None = T0,
    available: bool = True,
    connections: int = 1,
    helplines: tuple[str, ...] = (HELPLINE,),
) -> CounselorState:
    return CounselorState(
        username=username,
        display_name=username.capitalize(),
        helplines=helplines,
        available=available,
        connections=connections,
        chats={f"{username}-chat-{i}" for i in range(chats)},
        idle_since=idle_since,
    )


def chosen(*counselors: CounselorState, max_chats: int = MAX_CHATS) -> str | None:
    """The choice, checked to be the same whatever order the counselors come in."""
    answers = {
        (c.username if (c := choose_counselor(order, HELPLINE, max_chats)) else None)
        for order in itertools.permutations(counselors)
    }
    assert len(answers) == 1, f"the choice depends on iteration order: {answers}"
    return answers.pop()


# --- who is eligible ---------------------------------------------------------------------


def test_an_online_available_counselor_with_a_free_slot_is_eligible() -> None:
    assert eligible(counselor("ann"), HELPLINE, MAX_CHATS)


def test_an_offline_counselor_is_never_chosen() -> None:
    offline = counselor("ann", connections=0)
    assert not eligible(offline, HELPLINE, MAX_CHATS)
    assert chosen(offline) is None


def test_an_unavailable_counselor_is_never_chosen() -> None:
    unavailable = counselor("ann", available=False)
    assert not eligible(unavailable, HELPLINE, MAX_CHATS)
    assert chosen(unavailable) is None


def test_a_counselor_at_max_chats_is_never_chosen() -> None:
    full = counselor("ann", chats=MAX_CHATS)
    assert not eligible(full, HELPLINE, MAX_CHATS)
    assert chosen(full) is None


def test_a_counselor_one_below_max_chats_can_still_be_chosen() -> None:
    assert chosen(counselor("ann", chats=MAX_CHATS - 1)) == "ann"


def test_max_chats_zero_means_nobody_takes_a_chat() -> None:
    assert chosen(counselor("ann"), max_chats=0) is None


def test_a_counselor_over_max_chats_is_never_chosen() -> None:
    # The limit may have been lowered while they were busy.
    assert chosen(counselor("ann", chats=MAX_CHATS + 1)) is None


def test_a_counselor_of_another_helpline_is_never_chosen() -> None:
    other = counselor("ann", helplines=("beta",))
    assert not eligible(other, HELPLINE, MAX_CHATS)
    assert chosen(other) is None


def test_a_counselor_of_several_helplines_serves_each_of_them() -> None:
    both = counselor("ann", helplines=("beta", HELPLINE))
    assert eligible(both, HELPLINE, MAX_CHATS)
    assert eligible(both, "beta", MAX_CHATS)
    assert not eligible(both, "gamma", MAX_CHATS)


def test_an_empty_helplines_tuple_means_the_counselor_serves_all() -> None:
    everywhere = counselor("ann", helplines=())
    assert everywhere.serves("anything")
    assert eligible(everywhere, HELPLINE, MAX_CHATS)
    assert chosen(everywhere) == "ann"


def test_several_connections_count_as_online() -> None:
    assert eligible(counselor("ann", connections=3), HELPLINE, MAX_CHATS)


def test_nobody_at_all_means_no_choice() -> None:
    assert choose_counselor([], HELPLINE, MAX_CHATS) is None


def test_ineligible_counselors_are_skipped_for_an_eligible_one() -> None:
    assert (
        chosen(
            counselor("ann", connections=0),
            counselor("bob", available=False),
            counselor("cid", chats=MAX_CHATS),
            counselor("dee", helplines=("beta",)),
            counselor("eve", chats=1, idle_since=T0 + timedelta(hours=1)),
        )
        == "eve"
    )


# --- the order among eligible counselors -------------------------------------------------


def test_fewest_active_chats_wins() -> None:
    assert chosen(counselor("ann", chats=1), counselor("bob", chats=0)) == "bob"


def test_fewest_active_chats_wins_over_having_been_idle_longer() -> None:
    longest_idle = counselor("ann", chats=1, idle_since=T0 - timedelta(days=1))
    busy_later = counselor("bob", chats=0, idle_since=T0 + timedelta(hours=1))
    assert chosen(longest_idle, busy_later) == "bob"


def test_fewest_active_chats_wins_over_never_having_had_a_chat() -> None:
    never = counselor("ann", chats=1, idle_since=None)
    assert chosen(never, counselor("bob", chats=0)) == "bob"


def test_fewest_active_chats_wins_with_a_higher_limit() -> None:
    counselors = (
        counselor("ann", chats=3),
        counselor("bob", chats=1),
        counselor("cid", chats=2),
    )
    assert chosen(*counselors, max_chats=5) == "bob"


def test_a_tie_on_chats_goes_to_the_one_idle_longest() -> None:
    earlier = counselor("zed", idle_since=T0)
    later = counselor("amy", idle_since=T0 + timedelta(seconds=1))
    assert chosen(earlier, later) == "zed"


def test_idle_longest_compares_instants_not_wall_clocks() -> None:
    # 10:30 in Amsterdam (09:30 UTC) is later than 10:00 UTC.
    amsterdam = counselor(
        "amy", idle_since=datetime(2026, 12, 2, 10, 30, tzinfo=ZoneInfo("Europe/Amsterdam"))
    )
    utc = counselor("zed", idle_since=datetime(2026, 12, 2, 10, 0, tzinfo=UTC))
    assert chosen(amsterdam, utc) == "amy"


def test_never_having_had_a_chat_counts_as_idle_longest() -> None:
    never = counselor("zed", idle_since=None)
    long_ago = counselor("amy", idle_since=datetime(2000, 1, 1, tzinfo=UTC))
    assert chosen(never, long_ago) == "zed"


def test_a_tie_on_chats_and_idle_since_goes_to_the_username() -> None:
    assert chosen(counselor("bob"), counselor("ann"), counselor("cid")) == "ann"


def test_a_tie_between_never_idle_counselors_goes_to_the_username() -> None:
    assert chosen(counselor("bob", idle_since=None), counselor("ann", idle_since=None)) == "ann"


def test_the_full_order_is_chats_then_idle_since_then_username() -> None:
    counselors = [
        counselor("ann", chats=1, idle_since=None),
        counselor("bob", chats=0, idle_since=T0 + timedelta(minutes=5)),
        counselor("cid", chats=0, idle_since=T0),
        counselor("dan", chats=0, idle_since=T0),
        counselor("eve", chats=0, idle_since=None),
    ]
    order = []
    remaining = list(counselors)
    while remaining:
        pick = choose_counselor(remaining, HELPLINE, MAX_CHATS)
        assert pick is not None
        order.append(pick.username)
        remaining.remove(pick)
    assert order == ["eve", "cid", "dan", "bob", "ann"]


def test_choosing_changes_nothing() -> None:
    ann = counselor("ann")
    before = (ann.chats.copy(), ann.idle_since, ann.available, ann.connections)
    assert choose_counselor([ann], HELPLINE, MAX_CHATS) is ann
    assert (ann.chats, ann.idle_since, ann.available, ann.connections) == before


def test_choose_accepts_any_iterable_once() -> None:
    # A store may pass a generator or a dict view.
    pick = choose_counselor(iter([counselor("bob"), counselor("ann")]), HELPLINE, MAX_CHATS)
    assert pick is not None
    assert pick.username == "ann"
