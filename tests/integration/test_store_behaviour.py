"""One behavioural suite for the Store protocol: every store must pass all of it.

Each test states one promise of chatserver/store/base.py. The `store` fixture is
parametrised over STORE_FACTORIES; adding a store is one factory and one entry there.
Each factory takes the fixture request and asks for only the fixtures its store needs.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from chatserver.core.models import Chat, ChatState, CounselorState, EndReason, Sender
from chatserver.crypto import key_encryption_key
from chatserver.store.base import (
    COUNSELOR,
    VISITOR,
    Appended,
    AppendLimits,
    Connection,
    QueueSummary,
    Refusal,
    Refused,
    Store,
)
from chatserver.store.memory import MemoryStore

T0 = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
ALPHA = "alpha"
BETA = "beta"
MAX_CHATS = 2
ROOMY = 100  # a max_queue that is never reached

StoreFactory = Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[Store]]


@asynccontextmanager
async def memory_store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    made = MemoryStore(tmp_path / "data")
    try:
        yield made
    finally:
        await made.close()


@asynccontextmanager
async def redis_store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    # Imported here, so the other stores run without Redis or its client.
    from redis.asyncio import Redis

    from chatserver.store.redis import RedisStore

    redis_url: str = request.getfixturevalue("redis_url")  # a private, flushed redis-server
    client = Redis.from_url(redis_url)
    made = RedisStore(client, key_encryption_key("x" * 32), prefix="test:")
    try:
        yield made
    finally:
        await made.close()
        await client.aclose()


STORE_FACTORIES: dict[str, StoreFactory] = {"memory": memory_store, "redis": redis_store}


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    async with STORE_FACTORIES[request.param](request) as made:
        yield made


# --- helpers -----------------------------------------------------------------------------


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def conn(sid: str, process: str = "p1") -> Connection:
    return Connection(process, sid)


def new_chat(chat_id: str, helpline: str = ALPHA, requested_at: datetime = T0) -> Chat:
    return Chat(
        chat_id=chat_id,
        helpline=helpline,
        token_hash=f"hash-of-{chat_id}",
        lang="nl",
        state=ChatState.WAITING,
        requested_at=requested_at,
        enqueued_at=requested_at,
    )


async def enqueue(store: Store, *chat_ids: str, helpline: str = ALPHA) -> None:
    for i, chat_id in enumerate(chat_ids):
        position = await store.create_chat(new_chat(chat_id, helpline, at(i)), ROOMY)
        assert position is not None


async def counselor(
    store: Store,
    username: str,
    *,
    helplines: tuple[str, ...] = (ALPHA,),
    available: bool = True,
    now: datetime = T0,
    connection: Connection | None = None,
) -> CounselorState:
    """A counselor online through one connection; its sid is the username unless given."""
    connection = connection or conn(username)
    state = await store.counselor_connected(
        username, username.capitalize(), helplines, connection, now
    )
    if available:
        updated = await store.set_available(username, True, now)
        assert updated is not None
        state = updated
    return state


async def assign(store: Store, helpline: str = ALPHA, now: datetime = T0) -> tuple[str, str]:
    """Assign the next visitor; returns (chat_id, username)."""
    assignment = await store.assign_next(helpline, MAX_CHATS, now)
    assert assignment is not None
    return assignment.chat.chat_id, assignment.counselor.username


async def waiting_ids(store: Store, helpline: str = ALPHA) -> list[str]:
    return [chat.chat_id for chat in await store.waiting(helpline)]


async def chats_of(store: Store, username: str) -> set[str]:
    state = await store.get_counselor(username)
    assert state is not None
    return state.chats


# --- creating chats and the queue --------------------------------------------------------


async def test_new_chats_get_fifo_positions_counting_from_one(store: Store) -> None:
    positions = [await store.create_chat(new_chat(f"c{i}"), ROOMY) for i in range(1, 5)]
    assert positions == [1, 2, 3, 4]
    assert await waiting_ids(store) == ["c1", "c2", "c3", "c4"]


async def test_each_helpline_has_its_own_queue(store: Store) -> None:
    assert await store.create_chat(new_chat("a1", ALPHA), ROOMY) == 1
    assert await store.create_chat(new_chat("b1", BETA), ROOMY) == 1
    assert await store.create_chat(new_chat("a2", ALPHA), ROOMY) == 2
    assert await waiting_ids(store, ALPHA) == ["a1", "a2"]
    assert await waiting_ids(store, BETA) == ["b1"]


async def test_a_created_chat_is_stored_as_given(store: Store) -> None:
    await store.create_chat(new_chat("c1", requested_at=at(5)), ROOMY)
    chat = await store.get_chat("c1")
    assert chat is not None
    assert chat.chat_id == "c1"
    assert chat.helpline == ALPHA
    assert chat.token_hash == "hash-of-c1"
    assert chat.lang == "nl"
    assert chat.state is ChatState.WAITING
    assert chat.requested_at == at(5)
    assert chat.enqueued_at == at(5)
    assert chat.counselor is None
    assert chat.counselor_name is None
    assert chat.assigned_at is None
    assert chat.answered is False
    assert chat.last_seq == 0
    assert chat.end_reason is None


async def test_a_full_queue_refuses_a_chat_and_stores_nothing(store: Store) -> None:
    for i in range(3):
        assert await store.create_chat(new_chat(f"c{i}"), 3) == i + 1
    assert await store.create_chat(new_chat("late"), 3) is None
    assert await store.get_chat("late") is None
    assert await store.find_chat_by_token("hash-of-late") is None
    assert await waiting_ids(store) == ["c0", "c1", "c2"]
    assert await store.append_message("late", Sender.VISITOR, "hi", None, T0) is None


async def test_a_full_queue_takes_a_chat_again_once_someone_leaves_it(store: Store) -> None:
    for i in range(3):
        await store.create_chat(new_chat(f"c{i}"), 3)
    await store.end_chat("c1", EndReason.VISITOR, T0)
    assert await store.create_chat(new_chat("next"), 3) == 3
    assert await waiting_ids(store) == ["c0", "c2", "next"]


async def test_max_queue_counts_only_waiting_chats_not_active_ones(store: Store) -> None:
    await counselor(store, "ann")
    await store.create_chat(new_chat("c1"), 1)
    await assign(store)
    assert await store.create_chat(new_chat("c2"), 1) == 1


async def test_max_queue_zero_refuses_every_chat(store: Store) -> None:
    assert await store.create_chat(new_chat("c1"), 0) is None
    assert await store.get_chat("c1") is None


async def test_a_full_queue_on_one_helpline_leaves_another_open(store: Store) -> None:
    await store.create_chat(new_chat("a1", ALPHA), 1)
    assert await store.create_chat(new_chat("a2", ALPHA), 1) is None
    assert await store.create_chat(new_chat("b1", BETA), 1) == 1


async def test_racing_creates_never_overfill_the_queue(store: Store) -> None:
    results = await asyncio.gather(*(store.create_chat(new_chat(f"c{i}"), 5) for i in range(20)))
    accepted = [r for r in results if r is not None]
    assert sorted(accepted) == [1, 2, 3, 4, 5]
    assert len(await store.waiting(ALPHA)) == 5
    for i, result in enumerate(results):
        if result is None:
            assert await store.get_chat(f"c{i}") is None


async def test_find_chat_by_token_finds_the_chat(store: Store) -> None:
    await enqueue(store, "c1", "c2")
    found = await store.find_chat_by_token("hash-of-c2")
    assert found is not None
    assert found.chat_id == "c2"


async def test_unknown_ids_and_tokens_find_nothing(store: Store) -> None:
    await enqueue(store, "c1")
    assert await store.get_chat("nope") is None
    assert await store.find_chat_by_token("nope") is None


async def test_waiting_on_a_helpline_nobody_used_is_empty(store: Store) -> None:
    assert await store.waiting("nobody") == []


async def test_a_chat_leaving_the_queue_moves_those_behind_it_up(store: Store) -> None:
    await enqueue(store, "c1", "c2", "c3")
    await store.end_chat("c2", EndReason.VISITOR, T0)
    assert await waiting_ids(store) == ["c1", "c3"]


async def test_returned_records_are_snapshots_not_the_stored_ones(store: Store) -> None:
    chat = new_chat("c1")
    await store.create_chat(chat, ROOMY)
    chat.state = ChatState.ENDED
    fetched = await store.get_chat("c1")
    assert fetched is not None
    fetched.counselor = "mallory"
    (await store.waiting(ALPHA))[0].lang = "xx"
    again = await store.get_chat("c1")
    assert again is not None
    assert (again.state, again.counselor, again.lang) == (ChatState.WAITING, None, "nl")

    state = await counselor(store, "ann")
    state.chats.add("bogus")
    state.available = False
    assert await chats_of(store, "ann") == set()
    (await store.counselors())[0].chats.add("bogus")
    stored = await store.get_counselor("ann")
    assert stored is not None
    assert stored.available is True
    assert stored.chats == set()


# --- assigning the next visitor ----------------------------------------------------------


async def test_assign_next_with_an_empty_queue_gives_nothing(store: Store) -> None:
    await counselor(store, "ann")
    assert await store.assign_next(ALPHA, MAX_CHATS, T0) is None
    assert await chats_of(store, "ann") == set()


async def test_assign_next_without_any_counselor_leaves_the_visitor_waiting(store: Store) -> None:
    await enqueue(store, "c1")
    assert await store.assign_next(ALPHA, MAX_CHATS, T0) is None
    assert await waiting_ids(store) == ["c1"]
    chat = await store.get_chat("c1")
    assert chat is not None
    assert chat.state is ChatState.WAITING


async def test_assign_next_gives_the_first_waiting_visitor(store: Store) -> None:
    await enqueue(store, "c1", "c2")
    await counselor(store, "ann")
    assert await assign(store) == ("c1", "ann")
    assert await waiting_ids(store) == ["c2"]


async def test_a_picked_chat_goes_to_the_picking_counselor_out_of_queue_order(
    store: Store,
) -> None:
    await enqueue(store, "c1", "c2", "c3")
    await counselor(store, "ann")
    await counselor(store, "bob")
    picked = await store.assign_next(ALPHA, MAX_CHATS, T0, chat_id="c2", username="bob")
    assert picked is not None
    assert (picked.chat.chat_id, picked.counselor.username) == ("c2", "bob")
    assert await waiting_ids(store) == ["c1", "c3"]
    # A chat no longer waiting, or a counselor who is away or full, gets nothing.
    assert await store.assign_next(ALPHA, MAX_CHATS, T0, chat_id="c2", username="ann") is None
    await store.set_available("ann", False, T0)
    assert await store.assign_next(ALPHA, MAX_CHATS, T0, chat_id="c1", username="ann") is None
    assert await store.assign_next(ALPHA, 1, T0, chat_id="c1", username="bob") is None
    assert await waiting_ids(store) == ["c1", "c3"]


async def test_racing_picks_of_one_chat_give_it_to_exactly_one_counselor(store: Store) -> None:
    await enqueue(store, "c1")
    for name in ("ann", "bob", "cas", "dia"):
        await counselor(store, name)
    results = await asyncio.gather(
        *(
            store.assign_next(ALPHA, MAX_CHATS, T0, chat_id="c1", username=name)
            for name in ("ann", "bob", "cas", "dia")
        )
    )
    assert sum(r is not None for r in results) == 1


async def test_assign_next_records_who_took_the_chat_and_when(store: Store) -> None:
    await enqueue(store, "c1")
    await counselor(store, "ann")
    assignment = await store.assign_next(ALPHA, MAX_CHATS, at(30))
    assert assignment is not None
    assert assignment.chat.chat_id == "c1"
    assert assignment.chat.state is ChatState.CHATTING
    assert assignment.chat.counselor == "ann"
    assert assignment.chat.counselor_name == "Ann"
    assert assignment.chat.assigned_at == at(30)
    assert assignment.chat.answered is True
    assert assignment.counselor.username == "ann"
    assert assignment.counselor.chats == {"c1"}
    stored = await store.get_chat("c1")
    assert stored == assignment.chat
    assert await chats_of(store, "ann") == {"c1"}


async def test_assign_next_picks_the_counselor_with_fewest_active_chats(store: Store) -> None:
    await enqueue(store, "c1", "c2", "c3")
    await counselor(store, "ann", now=T0)
    assert await assign(store) == ("c1", "ann")
    await counselor(store, "bob", now=at(10))
    # Ann was available first, but Bob has fewer chats.
    assert await assign(store) == ("c2", "bob")


async def test_a_tie_on_chats_goes_to_the_counselor_idle_longest(store: Store) -> None:
    await enqueue(store, "c1")
    await counselor(store, "amy", now=at(10))
    await counselor(store, "zed", now=at(5))
    assert await assign(store) == ("c1", "zed")


async def test_a_counselor_whose_chat_just_ended_is_idle_from_then(store: Store) -> None:
    await enqueue(store, "c1", "c2", "c3")
    await counselor(store, "amy", now=T0)
    await counselor(store, "zed", now=T0)
    assert await assign(store) == ("c1", "amy")
    assert await assign(store) == ("c2", "zed")
    await store.end_chat("c2", EndReason.COUNSELOR, at(100))
    await store.end_chat("c1", EndReason.COUNSELOR, at(200))
    zed = await store.get_counselor("zed")
    assert zed is not None
    assert zed.idle_since == at(100)
    # Both free now; zed has been idle longer.
    assert await assign(store, now=at(300)) == ("c3", "zed")


async def test_a_counselor_who_just_got_a_chat_is_no_longer_the_idlest(store: Store) -> None:
    await enqueue(store, "c1", "c2", "c3")
    await counselor(store, "amy", now=T0)
    await counselor(store, "zed", now=at(1))
    assert await assign(store, now=at(10)) == ("c1", "amy")
    amy = await store.get_counselor("amy")
    assert amy is not None
    assert amy.idle_since == at(10)
    assert await assign(store, now=at(20)) == ("c2", "zed")
    # Both carry one chat now; amy's last new chat is older than zed's.
    assert await assign(store, now=at(30)) == ("c3", "amy")


async def test_a_tie_on_chats_and_idle_time_goes_to_the_username(store: Store) -> None:
    await enqueue(store, "c1")
    for name in ("cid", "ann", "bob"):
        await counselor(store, name, now=T0)
    assert await assign(store) == ("c1", "ann")


async def test_assign_next_never_gives_a_counselor_more_than_max_chats(store: Store) -> None:
    await enqueue(store, "c1", "c2", "c3")
    await counselor(store, "ann")
    await assign(store)
    await assign(store)
    assert await store.assign_next(ALPHA, MAX_CHATS, T0) is None
    assert await chats_of(store, "ann") == {"c1", "c2"}
    assert await waiting_ids(store) == ["c3"]


async def test_a_freed_slot_takes_the_next_visitor(store: Store) -> None:
    await enqueue(store, "c1", "c2", "c3")
    await counselor(store, "ann")
    await assign(store)
    await assign(store)
    await store.end_chat("c1", EndReason.VISITOR, at(10))
    assert await assign(store, now=at(11)) == ("c3", "ann")


async def test_assign_next_takes_only_from_the_named_helpline(store: Store) -> None:
    await enqueue(store, "b1", helpline=BETA)
    await counselor(store, "ann", helplines=(ALPHA, BETA))
    assert await store.assign_next(ALPHA, MAX_CHATS, T0) is None
    assert await waiting_ids(store, BETA) == ["b1"]
    assert await assign(store, BETA) == ("b1", "ann")


async def test_a_counselor_of_another_helpline_is_never_given_a_chat(store: Store) -> None:
    await enqueue(store, "c1")
    await counselor(store, "ann", helplines=(BETA,))
    assert await store.assign_next(ALPHA, MAX_CHATS, T0) is None
    assert await waiting_ids(store) == ["c1"]


# "No helplines on the account means every helpline" is resolved by the switchboard before
# the store sees it (Store.counselor_connected gets the served helplines, never empty); the
# integration tests' counselors without helplines cover it.


async def test_an_unavailable_counselor_is_never_given_a_chat(store: Store) -> None:
    await enqueue(store, "c1")
    await counselor(store, "ann", available=False)
    assert await store.assign_next(ALPHA, MAX_CHATS, T0) is None
    await counselor(store, "bob")
    await store.set_available("bob", False, T0)
    assert await store.assign_next(ALPHA, MAX_CHATS, T0) is None
    assert await waiting_ids(store) == ["c1"]


async def test_an_offline_counselor_is_never_given_a_chat(store: Store) -> None:
    await enqueue(store, "c1")
    await counselor(store, "ann")
    await store.counselor_disconnected("ann", conn("ann"), T0)
    assert await store.assign_next(ALPHA, MAX_CHATS, T0) is None
    assert await waiting_ids(store) == ["c1"]


async def test_the_max_chats_asked_for_is_the_limit(store: Store) -> None:
    await enqueue(store, "c1", "c2")
    await counselor(store, "ann")
    assert await store.assign_next(ALPHA, 1, T0) is not None
    assert await store.assign_next(ALPHA, 1, T0) is None
    assert await store.assign_next(ALPHA, 0, T0) is None


async def test_racing_assignments_give_each_chat_once_and_respect_max_chats(
    store: Store,
) -> None:
    chat_ids = [f"c{i:02}" for i in range(12)]
    await enqueue(store, *chat_ids)
    names = ["ann", "bob", "cid", "dee"]
    for name in names:
        await counselor(store, name)
    results = await asyncio.gather(*(store.assign_next(ALPHA, MAX_CHATS, at(i)) for i in range(30)))
    made = [r for r in results if r is not None]
    assert len(made) == len(names) * MAX_CHATS
    given = [a.chat.chat_id for a in made]
    assert len(set(given)) == len(given), "a chat was given twice"
    # First come, first served: the first eight visitors were taken.
    assert sorted(given) == chat_ids[:8]
    per_counselor = Counter(a.counselor.username for a in made)
    assert all(n <= MAX_CHATS for n in per_counselor.values())
    for name in names:
        owned = await chats_of(store, name)
        assert len(owned) <= MAX_CHATS
        for chat_id in owned:
            chat = await store.get_chat(chat_id)
            assert chat is not None
            assert chat.counselor == name
            assert chat.state is ChatState.CHATTING
    assert await waiting_ids(store) == chat_ids[8:]


async def test_racing_assignments_over_two_helplines_give_each_chat_once(store: Store) -> None:
    await enqueue(store, *(f"a{i}" for i in range(6)), helpline=ALPHA)
    await enqueue(store, *(f"b{i}" for i in range(6)), helpline=BETA)
    for name in ("ann", "bob", "cid"):
        await counselor(store, name, helplines=(ALPHA, BETA))
    results = await asyncio.gather(
        *(store.assign_next(ALPHA if i % 2 else BETA, MAX_CHATS, at(i)) for i in range(24))
    )
    made = [r for r in results if r is not None]
    given = [a.chat.chat_id for a in made]
    assert len(set(given)) == len(given) == 6
    for name in ("ann", "bob", "cid"):
        assert len(await chats_of(store, name)) == MAX_CHATS


async def test_first_answer_is_true_only_the_first_time(store: Store) -> None:
    await enqueue(store, "c1")
    await counselor(store, "ann")
    first = await store.assign_next(ALPHA, MAX_CHATS, T0)
    assert first is not None
    assert first.first_answer is True
    await store.requeue_counselor_chats("ann", at(10))
    again = await store.assign_next(ALPHA, MAX_CHATS, at(20))
    assert again is not None
    assert again.chat.chat_id == "c1"
    assert again.first_answer is False
    assert again.chat.answered is True


# --- ending chats ------------------------------------------------------------------------


async def test_ending_a_waiting_chat_returns_it_as_it_was(store: Store) -> None:
    await enqueue(store, "c1")
    before = await store.end_chat("c1", EndReason.VISITOR, at(5))
    assert before is not None
    assert before.chat_id == "c1"
    assert before.state is ChatState.WAITING
    assert before.end_reason is None
    assert await waiting_ids(store) == []


async def test_ending_an_active_chat_returns_it_as_it_was(store: Store) -> None:
    await enqueue(store, "c1")
    await counselor(store, "ann")
    await assign(store, now=at(3))
    before = await store.end_chat("c1", EndReason.COUNSELOR, at(60))
    assert before is not None
    assert before.state is ChatState.CHATTING
    assert before.counselor == "ann"
    assert before.assigned_at == at(3)


async def test_an_ended_chat_is_gone_and_its_tombstone_keeps_the_reason(store: Store) -> None:
    await enqueue(store, "c1")
    await store.append_message("c1", Sender.VISITOR, "geheim", "m1", T0)
    await store.end_chat("c1", EndReason.TIMEOUT, at(5))
    assert await store.get_chat("c1") is None
    assert await store.messages_since("c1", 0) == []
    assert await store.ended_reason("hash-of-c1") is EndReason.TIMEOUT


async def test_ending_an_active_chat_frees_the_counselors_slot(store: Store) -> None:
    await enqueue(store, "c1", "c2")
    await counselor(store, "ann")
    await assign(store)
    await assign(store)
    await store.end_chat("c1", EndReason.COUNSELOR, at(60))
    ann = await store.get_counselor("ann")
    assert ann is not None
    assert ann.chats == {"c2"}
    assert ann.idle_since == at(60)


async def test_ending_a_chat_drops_its_messages(store: Store) -> None:
    await enqueue(store, "c1")
    await store.append_message("c1", Sender.VISITOR, "hello", "m1", T0)
    await store.append_message("c1", Sender.VISITOR, "anyone?", "m2", T0)
    await store.end_chat("c1", EndReason.VISITOR, at(1))
    assert await store.messages_since("c1", 0) == []


async def test_ending_a_chat_twice_gives_none_the_second_time(store: Store) -> None:
    await enqueue(store, "c1")
    await counselor(store, "ann")
    await assign(store)
    assert await store.end_chat("c1", EndReason.VISITOR, at(1)) is not None
    assert await store.end_chat("c1", EndReason.COUNSELOR, at(2)) is None
    assert await store.ended_reason("hash-of-c1") is EndReason.VISITOR
    ann = await store.get_counselor("ann")
    assert ann is not None
    assert ann.idle_since == at(1)


async def test_racing_ends_end_a_chat_once(store: Store) -> None:
    await enqueue(store, "c1")
    results = await asyncio.gather(*(store.end_chat("c1", EndReason.VISITOR, T0) for _ in range(5)))
    assert sum(r is not None for r in results) == 1


async def test_ending_an_unknown_chat_gives_none(store: Store) -> None:
    assert await store.end_chat("nope", EndReason.VISITOR, T0) is None


async def test_an_ended_chat_leaves_only_a_tombstone_until_forgotten(store: Store) -> None:
    await enqueue(store, "c1")
    await store.end_chat("c1", EndReason.VISITOR, T0)
    assert await store.find_chat_by_token("hash-of-c1") is None
    assert await store.get_chat("c1") is None
    assert await store.ended_reason("hash-of-c1") is EndReason.VISITOR
    await store.forget_ended("hash-of-c1")
    assert await store.ended_reason("hash-of-c1") is None
    assert await store.end_chat("c1", EndReason.VISITOR, T0) is None


async def test_forgetting_an_unknown_tombstone_is_harmless(store: Store) -> None:
    await store.forget_ended("nope")
    await store.forget_ended("nope")
    assert await store.ended_reason("nope") is None


async def test_an_ended_chat_is_never_assigned(store: Store) -> None:
    await enqueue(store, "c1", "c2")
    await store.end_chat("c1", EndReason.VISITOR, T0)
    await counselor(store, "ann")
    assert await assign(store) == ("c2", "ann")
    assert await store.assign_next(ALPHA, MAX_CHATS, T0) is None


# --- closing time ------------------------------------------------------------------------


async def test_closing_a_queue_ends_only_its_waiting_chats(store: Store) -> None:
    await enqueue(store, "c1", "c2", "c3")
    await enqueue(store, "b1", helpline=BETA)
    await counselor(store, "ann")
    await assign(store)  # c1 is in progress and goes on
    closed = await store.close_queue(ALPHA, at(60))
    assert [chat.chat_id for chat in closed] == ["c2", "c3"]
    assert await waiting_ids(store) == []
    for chat_id in ("c2", "c3"):
        assert await store.get_chat(chat_id) is None
        assert await store.ended_reason(f"hash-of-{chat_id}") is EndReason.CLOSED
    active = await store.get_chat("c1")
    assert active is not None
    assert active.state is ChatState.CHATTING
    assert await chats_of(store, "ann") == {"c1"}
    assert await waiting_ids(store, BETA) == ["b1"]


async def test_closed_chats_are_returned_as_they_were_and_leave_a_tombstone(
    store: Store,
) -> None:
    await enqueue(store, "c1")
    [closed] = await store.close_queue(ALPHA, T0)
    assert closed.state is ChatState.WAITING
    assert closed.chat_id == "c1"
    assert await store.find_chat_by_token("hash-of-c1") is None
    assert await store.ended_reason("hash-of-c1") is EndReason.CLOSED


async def test_closing_an_empty_queue_returns_nothing(store: Store) -> None:
    assert await store.close_queue(ALPHA, T0) == []


async def test_a_closed_queue_takes_new_chats_again(store: Store) -> None:
    await enqueue(store, "c1")
    await store.close_queue(ALPHA, T0)
    assert await store.create_chat(new_chat("c2"), 1) == 1


# --- a lost counselor's chats ------------------------------------------------------------


async def test_requeued_chats_go_to_the_front_in_request_order(store: Store) -> None:
    # All requests share one timestamp: request order is the order they were made in.
    for chat_id in ("c1", "c2", "c3", "c4"):
        await store.create_chat(new_chat(chat_id, requested_at=T0), ROOMY)
    await counselor(store, "bob")
    assert await assign(store, now=at(1)) == ("c1", "bob")
    await store.set_available("bob", False, at(2))
    await counselor(store, "ann", now=at(2))
    assert await assign(store, now=at(3)) == ("c2", "ann")
    # Bob is lost: c1 goes back to the front and Ann takes it, after c2.
    await store.requeue_counselor_chats("bob", at(4))
    assert await assign(store, now=at(5)) == ("c1", "ann")
    assert await waiting_ids(store) == ["c3", "c4"]

    requeued = await store.requeue_counselor_chats("ann", at(6))
    assert [chat.chat_id for chat in requeued] == ["c1", "c2"]
    assert await waiting_ids(store) == ["c1", "c2", "c3", "c4"]


async def test_two_lost_counselors_put_back_their_chats_in_request_order(
    store: Store,
) -> None:
    await enqueue(store, "c1", "c2", "c3")
    await counselor(store, "bob")
    assert await assign(store) == ("c1", "bob")
    await store.set_available("bob", False, at(1))
    await counselor(store, "ann", now=at(1))
    assert await assign(store, now=at(2)) == ("c2", "ann")
    assert await waiting_ids(store) == ["c3"]
    # Ann is lost first, then Bob: Bob's older request still goes ahead of Ann's.
    await store.requeue_counselor_chats("ann", at(3))
    assert await waiting_ids(store) == ["c2", "c3"]
    await store.requeue_counselor_chats("bob", at(4))
    assert await waiting_ids(store) == ["c1", "c2", "c3"]


async def test_a_request_made_after_a_requeue_still_goes_behind_it(store: Store) -> None:
    await enqueue(store, "c1")
    await counselor(store, "ann")
    await assign(store)
    await store.requeue_counselor_chats("ann", at(10))
    assert await store.create_chat(new_chat("c2", requested_at=at(11)), ROOMY) == 2
    assert await waiting_ids(store) == ["c1", "c2"]


async def test_requeued_chats_are_assigned_before_those_already_waiting(store: Store) -> None:
    await enqueue(store, "c1", "c2", "c3")
    await counselor(store, "ann")
    await assign(store)
    await assign(store)
    await store.counselor_disconnected("ann", conn("ann"), at(1))
    await store.requeue_counselor_chats("ann", at(2))
    await counselor(store, "bob", now=at(3))
    assert await assign(store, now=at(4)) == ("c1", "bob")
    assert await assign(store, now=at(4)) == ("c2", "bob")
    assert await waiting_ids(store) == ["c3"]


async def test_requeued_chats_no_longer_belong_to_the_counselor(store: Store) -> None:
    await enqueue(store, "c1")
    await counselor(store, "ann")
    await assign(store, now=at(1))
    [requeued] = await store.requeue_counselor_chats("ann", at(30))
    for chat in (requeued, await store.get_chat("c1")):
        assert chat is not None
        assert chat.state is ChatState.WAITING
        assert chat.counselor is None
        assert chat.counselor_name is None
        assert chat.assigned_at is None
        assert chat.requested_at == T0
        assert chat.enqueued_at == at(30)
    ann = await store.get_counselor("ann")
    assert ann is not None
    assert ann.chats == set()


async def test_requeued_chats_keep_their_messages_and_seq_goes_on(store: Store) -> None:
    await enqueue(store, "c1")
    await counselor(store, "ann")
    await assign(store)
    await store.append_message("c1", Sender.VISITOR, "one", "v1", T0)
    await store.append_message("c1", Sender.COUNSELOR, "two", "k1", T0)
    await store.requeue_counselor_chats("ann", at(5))
    assert [m.text for m in await store.messages_since("c1", 0)] == ["one", "two"]
    appended = await store.append_message("c1", Sender.SYSTEM, "three", None, at(5))
    assert appended is not None
    assert appended.message.seq == 3


async def test_requeued_chats_rejoin_their_own_helplines_queue(store: Store) -> None:
    await enqueue(store, "a1", "a2")
    await enqueue(store, "b1", "b2", helpline=BETA)
    await counselor(store, "ann", helplines=(ALPHA, BETA))
    await assign(store, ALPHA)
    await assign(store, BETA)
    requeued = await store.requeue_counselor_chats("ann", at(5))
    assert sorted(chat.chat_id for chat in requeued) == ["a1", "b1"]
    assert await waiting_ids(store, ALPHA) == ["a1", "a2"]
    assert await waiting_ids(store, BETA) == ["b1", "b2"]


async def test_requeue_of_an_unknown_or_idle_counselor_gives_nothing(store: Store) -> None:
    await enqueue(store, "c1")
    await counselor(store, "ann")
    assert await store.requeue_counselor_chats("ann", T0) == []
    assert await store.requeue_counselor_chats("nobody", T0) == []
    assert await waiting_ids(store) == ["c1"]


async def test_requeue_ignores_more_than_max_queue(store: Store) -> None:
    # A lost counselor's visitors are already in contact; they are never refused.
    await store.create_chat(new_chat("c1"), 1)
    await counselor(store, "ann")
    await assign(store)
    await store.create_chat(new_chat("c2"), 1)
    requeued = await store.requeue_counselor_chats("ann", at(1))
    assert [chat.chat_id for chat in requeued] == ["c1"]
    assert await waiting_ids(store) == ["c1", "c2"]


# --- messages ----------------------------------------------------------------------------


async def test_messages_are_numbered_1_2_3_per_chat(store: Store) -> None:
    await enqueue(store, "c1", "c2")
    seqs: dict[str, list[int]] = {"c1": [], "c2": []}
    for i in range(3):
        for chat_id in ("c1", "c2"):
            appended = await store.append_message(chat_id, Sender.VISITOR, f"m{i}", None, at(i))
            assert appended is not None
            assert appended.new is True
            seqs[chat_id].append(appended.message.seq)
    assert seqs == {"c1": [1, 2, 3], "c2": [1, 2, 3]}
    chat = await store.get_chat("c1")
    assert chat is not None
    assert chat.last_seq == 3


async def test_a_message_keeps_its_sender_text_time_and_client_msg_id(store: Store) -> None:
    await enqueue(store, "c1")
    appended = await store.append_message("c1", Sender.VISITOR, "Hallo? 👋", "abc", at(7))
    assert appended is not None
    message = appended.message
    assert (message.seq, message.sender, message.text, message.ts, message.client_msg_id) == (
        1,
        Sender.VISITOR,
        "Hallo? 👋",
        at(7),
        "abc",
    )
    assert await store.messages_since("c1", 0) == [message]


async def test_a_repeated_client_msg_id_returns_the_original_unchanged(store: Store) -> None:
    await enqueue(store, "c1")
    first = await store.append_message("c1", Sender.VISITOR, "hello", "m1", at(1))
    retry = await store.append_message("c1", Sender.VISITOR, "hello (retry)", "m1", at(2))
    assert first is not None
    assert retry is not None
    assert retry.new is False
    assert retry.message == first.message
    assert len(await store.messages_since("c1", 0)) == 1
    nxt = await store.append_message("c1", Sender.VISITOR, "next", "m2", at(3))
    assert nxt is not None
    assert nxt.message.seq == 2


async def test_the_same_client_msg_id_from_visitor_and_counselor_is_two_messages(
    store: Store,
) -> None:
    await enqueue(store, "c1")
    await counselor(store, "ann")
    await assign(store)
    visitor = await store.append_message("c1", Sender.VISITOR, "hi", "1", T0)
    counsel = await store.append_message("c1", Sender.COUNSELOR, "hello", "1", T0)
    assert visitor is not None
    assert counsel is not None
    assert (visitor.new, counsel.new) == (True, True)
    assert (visitor.message.seq, counsel.message.seq) == (1, 2)
    again = await store.append_message("c1", Sender.COUNSELOR, "hello", "1", T0)
    assert again is not None
    assert again.new is False
    assert again.message.seq == 2


async def test_the_same_client_msg_id_in_two_chats_is_two_messages(store: Store) -> None:
    await enqueue(store, "c1", "c2")
    one = await store.append_message("c1", Sender.VISITOR, "a", "same", T0)
    two = await store.append_message("c2", Sender.VISITOR, "b", "same", T0)
    assert one is not None
    assert two is not None
    assert two.new is True
    assert two.message.text == "b"


async def test_messages_without_a_client_msg_id_are_never_deduplicated(store: Store) -> None:
    await enqueue(store, "c1")
    for _ in range(3):
        appended = await store.append_message("c1", Sender.SYSTEM, "same text", None, T0)
        assert appended is not None
        assert appended.new is True
    assert [m.seq for m in await store.messages_since("c1", 0)] == [1, 2, 3]


async def test_racing_retries_store_a_message_once(store: Store) -> None:
    await enqueue(store, "c1")
    results = await asyncio.gather(
        *(store.append_message("c1", Sender.VISITOR, "hi", "m1", T0) for _ in range(5))
    )
    assert all(r is not None for r in results)
    assert sum(r.new for r in results if r is not None) == 1
    assert {r.message.seq for r in results if r is not None} == {1}


async def test_a_waiting_chat_takes_messages(store: Store) -> None:
    await enqueue(store, "c1")
    appended = await store.append_message("c1", Sender.VISITOR, "still there?", "m1", T0)
    assert appended is not None
    assert appended.message.seq == 1


async def test_appending_to_an_unknown_or_ended_chat_gives_none(store: Store) -> None:
    assert await store.append_message("nope", Sender.VISITOR, "x", "m1", T0) is None
    await enqueue(store, "c1")
    await store.append_message("c1", Sender.VISITOR, "x", "m1", T0)
    await store.end_chat("c1", EndReason.VISITOR, T0)
    assert await store.append_message("c1", Sender.VISITOR, "y", "m2", T0) is None
    # Not even a retry of a message it had before.
    assert await store.append_message("c1", Sender.VISITOR, "x", "m1", T0) is None


async def test_messages_since_gives_what_came_after_last_seq(store: Store) -> None:
    await enqueue(store, "c1")
    for i in range(1, 5):
        await store.append_message("c1", Sender.VISITOR, f"m{i}", None, at(i))
    assert [m.seq for m in await store.messages_since("c1", 0)] == [1, 2, 3, 4]
    assert [m.seq for m in await store.messages_since("c1", 2)] == [3, 4]
    assert [m.text for m in await store.messages_since("c1", 3)] == ["m4"]
    assert await store.messages_since("c1", 4) == []
    assert await store.messages_since("c1", 99) == []


async def test_messages_since_for_an_unknown_chat_is_empty(store: Store) -> None:
    assert await store.messages_since("nope", 0) == []


async def test_messages_since_gives_at_most_limit_messages(store: Store) -> None:
    await enqueue(store, "c1")
    for i in range(1, 6):
        await store.append_message("c1", Sender.VISITOR, f"m{i}", None, at(i))
    assert [m.seq for m in await store.messages_since("c1", 0, 2)] == [1, 2]
    assert [m.seq for m in await store.messages_since("c1", 3, 10)] == [4, 5]
    assert await store.messages_since("c1", 5, 2) == []


# --- limits on a chat's log and the visitor's budget ---------------------------------------

CAPS = AppendLimits(max_messages=3, max_bytes=1000)


async def test_a_full_chat_refuses_messages_and_reports_the_first_refusal_once(
    store: Store,
) -> None:
    await enqueue(store, "c1")
    for i in range(3):
        appended = await store.append_message("c1", Sender.VISITOR, "x", f"m{i}", T0, CAPS)
        assert isinstance(appended, Appended)
    first = await store.append_message("c1", Sender.COUNSELOR, "y", "c1", T0, CAPS)
    again = await store.append_message("c1", Sender.VISITOR, "z", "m9", T0, CAPS)
    assert first == Refused(Refusal.FULL, first=True)
    assert again == Refused(Refusal.FULL, first=False)
    # A retry of a stored message still gets its seq; a system message still goes in.
    retry = await store.append_message("c1", Sender.VISITOR, "x", "m0", T0, CAPS)
    assert isinstance(retry, Appended)
    assert retry.message.seq == 1
    system = await store.append_message("c1", Sender.SYSTEM, "full", None, T0)
    assert isinstance(system, Appended)
    assert [m.seq for m in await store.messages_since("c1", 0)] == [1, 2, 3, 4]


async def test_a_chat_is_also_full_by_the_bytes_of_its_texts(store: Store) -> None:
    await enqueue(store, "c1")
    caps = AppendLimits(max_messages=100, max_bytes=10)
    assert isinstance(
        await store.append_message("c1", Sender.VISITOR, "é" * 4, "a", T0, caps), Appended
    )
    # 8 bytes stored; 3 more would make 11.
    refused = await store.append_message("c1", Sender.VISITOR, "abc", "b", T0, caps)
    assert refused == Refused(Refusal.FULL, first=True)
    assert isinstance(
        await store.append_message("c1", Sender.VISITOR, "ab", "c", T0, caps), Appended
    )


async def test_the_visitor_budget_is_shared_per_chat_and_refills_with_time(store: Store) -> None:
    await enqueue(store, "c1", "c2")
    budget = AppendLimits(max_messages=100, max_bytes=10_000, rate=1.0, burst=3)
    results = [
        await store.append_message("c1", Sender.VISITOR, "x", f"m{i}", T0, budget) for i in range(5)
    ]
    assert [isinstance(r, Appended) for r in results] == [True, True, True, False, False]
    assert results[3] == Refused(Refusal.RATE)
    # Another chat has its own budget; a retry spends nothing.
    assert isinstance(
        await store.append_message("c2", Sender.VISITOR, "x", "m0", T0, budget), Appended
    )
    assert isinstance(
        await store.append_message("c1", Sender.VISITOR, "x", "m0", T0, budget), Appended
    )
    later = await store.append_message("c1", Sender.VISITOR, "x", "m7", at(1), budget)
    assert isinstance(later, Appended)
    assert later.message.seq == 4


async def test_racing_messages_never_overspend_the_visitor_budget(store: Store) -> None:
    await enqueue(store, "c1")
    budget = AppendLimits(max_messages=100, max_bytes=10_000, rate=1.0, burst=5)
    results = await asyncio.gather(
        *(store.append_message("c1", Sender.VISITOR, "x", f"m{i}", T0, budget) for i in range(20))
    )
    assert sum(isinstance(r, Appended) for r in results) == 5


async def test_a_visitor_message_marks_the_chat_as_written(store: Store) -> None:
    await enqueue(store, "c1")
    await store.append_message("c1", Sender.SYSTEM, "hello", None, T0)
    chat = await store.get_chat("c1")
    assert chat is not None and not chat.visitor_wrote
    await store.append_message("c1", Sender.VISITOR, "hi", "m1", T0)
    chat = await store.get_chat("c1")
    assert chat is not None and chat.visitor_wrote


# --- counselors --------------------------------------------------------------------------


async def test_a_new_counselor_is_online_unavailable_and_without_chats(store: Store) -> None:
    state = await store.counselor_connected("ann", "Ann", (ALPHA,), conn("ann"), T0)
    assert state.username == "ann"
    assert state.display_name == "Ann"
    assert state.helplines == (ALPHA,)
    assert state.connections == 1
    assert state.online is True
    assert state.available is False
    assert state.chats == set()
    assert await store.get_counselor("ann") == state


async def test_each_counselor_connection_is_counted(store: Store) -> None:
    await store.counselor_connected("ann", "Ann", (ALPHA,), conn("ann-1"), T0)
    second = await store.counselor_connected("ann", "Ann", (ALPHA,), conn("ann-2"), T0)
    assert second.connections == 2
    one_left = await store.counselor_disconnected("ann", conn("ann-1"), T0)
    assert one_left is not None
    assert one_left.connections == 1
    assert one_left.online is True
    none_left = await store.counselor_disconnected("ann", conn("ann-2"), T0)
    assert none_left is not None
    assert none_left.connections == 0
    assert none_left.online is False


async def test_the_same_connection_connecting_twice_counts_once(store: Store) -> None:
    await store.counselor_connected("ann", "Ann", (ALPHA,), conn("ann"), T0)
    again = await store.counselor_connected("ann", "Ann", (ALPHA,), conn("ann"), at(1))
    assert again.connections == 1
    gone = await store.counselor_disconnected("ann", conn("ann"), at(2))
    assert gone is not None
    assert gone.online is False


async def test_one_sid_on_two_processes_is_two_connections(store: Store) -> None:
    await store.counselor_connected("ann", "Ann", (ALPHA,), conn("s1", "p1"), T0)
    state = await store.counselor_connected("ann", "Ann", (ALPHA,), conn("s1", "p2"), T0)
    assert state.connections == 2
    left = await store.counselor_disconnected("ann", conn("s1", "p2"), T0)
    assert left is not None
    assert left.connections == 1


async def test_counselor_connections_never_go_below_zero(store: Store) -> None:
    await store.counselor_connected("ann", "Ann", (ALPHA,), conn("ann"), T0)
    await store.counselor_disconnected("ann", conn("ann"), T0)
    extra = await store.counselor_disconnected("ann", conn("ann"), T0)
    assert extra is not None
    assert extra.connections == 0
    never = await store.counselor_disconnected("ann", conn("never-connected"), T0)
    assert never is not None
    assert never.connections == 0
    again = await store.counselor_connected("ann", "Ann", (ALPHA,), conn("ann"), T0)
    assert again.connections == 1


async def test_disconnecting_an_unrecorded_connection_changes_nothing(store: Store) -> None:
    await store.counselor_connected("ann", "Ann", (ALPHA,), conn("ann-1"), T0)
    await store.counselor_connected("ann", "Ann", (ALPHA,), conn("ann-2"), T0)
    for stranger in (conn("ann-3"), conn("ann-1", "p2"), conn("bob")):
        state = await store.counselor_disconnected("ann", stranger, T0)
        assert state is not None
        assert state.connections == 2
    # A connection of another counselor is not hers either.
    await counselor(store, "bob")
    state = await store.counselor_disconnected("ann", conn("bob"), T0)
    assert state is not None
    assert state.connections == 2
    bob = await store.get_counselor("bob")
    assert bob is not None
    assert bob.connections == 1


async def test_racing_connections_are_all_counted(store: Store) -> None:
    tabs = [conn(f"ann-{i}") for i in range(10)]
    await asyncio.gather(*(store.counselor_connected("ann", "Ann", (ALPHA,), c, T0) for c in tabs))
    # Each of four tabs disconnects twice: the repeats change nothing.
    await asyncio.gather(*(store.counselor_disconnected("ann", c, T0) for c in tabs[:4] * 2))
    ann = await store.get_counselor("ann")
    assert ann is not None
    assert ann.connections == 6


async def test_reconnecting_updates_display_name_and_helplines(store: Store) -> None:
    await store.counselor_connected("ann", "Ann", (ALPHA,), conn("ann-1"), T0)
    state = await store.counselor_connected("ann", "Anna", (ALPHA, BETA), conn("ann-2"), at(1))
    assert state.display_name == "Anna"
    assert state.helplines == (ALPHA, BETA)


async def test_disconnecting_keeps_availability_and_chats(store: Store) -> None:
    # Whether to give the chats back is the grace period's decision, not the store's.
    await enqueue(store, "c1")
    await counselor(store, "ann")
    await assign(store)
    state = await store.counselor_disconnected("ann", conn("ann"), at(1))
    assert state is not None
    assert state.chats == {"c1"}
    assert state.available is True


async def test_unknown_counselors_give_none(store: Store) -> None:
    assert await store.counselor_disconnected("nobody", conn("nobody"), T0) is None
    assert await store.set_available("nobody", True, T0) is None
    assert await store.get_counselor("nobody") is None
    assert await store.counselors() == []


async def test_set_available_switches_availability(store: Store) -> None:
    await store.counselor_connected("ann", "Ann", (ALPHA,), conn("ann"), T0)
    on = await store.set_available("ann", True, at(1))
    assert on is not None
    assert on.available is True
    off = await store.set_available("ann", False, at(2))
    assert off is not None
    assert off.available is False
    stored = await store.get_counselor("ann")
    assert stored is not None
    assert stored.available is False


async def test_becoming_available_starts_the_idle_clock(store: Store) -> None:
    await store.counselor_connected("ann", "Ann", (ALPHA,), conn("ann"), T0)
    state = await store.set_available("ann", True, at(10))
    assert state is not None
    assert state.idle_since == at(10)


async def test_saying_available_again_keeps_the_place_in_line(store: Store) -> None:
    await store.counselor_connected("ann", "Ann", (ALPHA,), conn("ann"), T0)
    await store.set_available("ann", True, at(10))
    state = await store.set_available("ann", True, at(20))
    assert state is not None
    assert state.idle_since == at(10)


async def test_counselors_lists_everyone_present(store: Store) -> None:
    await counselor(store, "ann")
    await counselor(store, "bob", available=False)
    await store.counselor_disconnected("bob", conn("bob"), T0)
    listed = {c.username: c for c in await store.counselors()}
    assert set(listed) == {"ann", "bob"}
    assert listed["ann"].available is True
    assert listed["bob"].online is False


async def test_an_online_counselor_is_not_forgotten(store: Store) -> None:
    await counselor(store, "ann")
    await store.forget_counselor("ann")
    assert await store.get_counselor("ann") is not None


async def test_an_offline_counselor_with_chats_is_not_forgotten(store: Store) -> None:
    await enqueue(store, "c1")
    await counselor(store, "ann")
    await assign(store)
    await store.counselor_disconnected("ann", conn("ann"), T0)
    await store.forget_counselor("ann")
    assert await chats_of(store, "ann") == {"c1"}


async def test_an_offline_counselor_without_chats_is_forgotten(store: Store) -> None:
    await enqueue(store, "c1")
    await counselor(store, "ann")
    await counselor(store, "bob")
    await assign(store)  # to ann
    await store.counselor_disconnected("ann", conn("ann"), T0)
    await store.requeue_counselor_chats("ann", at(1))
    await store.forget_counselor("ann")
    assert await store.get_counselor("ann") is None
    assert [c.username for c in await store.counselors()] == ["bob"]
    # A forgotten counselor is never chosen; and coming back starts afresh.
    assert await assign(store, now=at(2)) == ("c1", "bob")
    back = await store.counselor_connected("ann", "Ann", (ALPHA,), conn("ann"), at(3))
    assert (back.connections, back.available, back.chats) == (1, False, set())


async def test_forgetting_an_unknown_counselor_is_harmless(store: Store) -> None:
    await store.forget_counselor("nobody")


# --- visitor connections -----------------------------------------------------------------


async def test_visitor_connections_are_counted(store: Store) -> None:
    await enqueue(store, "c1", "c2")
    assert await store.visitor_connected("c1", conn("v1")) == 1
    assert await store.visitor_connected("c1", conn("v2")) == 2
    assert await store.visitor_connected("c2", conn("v3")) == 1
    assert await store.visitor_disconnected("c1", conn("v1")) == 1
    assert await store.visitor_disconnected("c1", conn("v2")) == 0
    assert await store.visitor_disconnected("c1", conn("v2")) == 0
    assert await store.visitor_connected("c1", conn("v4")) == 1


async def test_the_same_visitor_connection_connecting_twice_counts_once(store: Store) -> None:
    await enqueue(store, "c1")
    assert await store.visitor_connected("c1", conn("v1")) == 1
    assert await store.visitor_connected("c1", conn("v1")) == 1
    assert await store.visitor_connected("c1", conn("v1", "p2")) == 2
    assert await store.visitor_disconnected("c1", conn("v1")) == 1
    assert await store.visitor_disconnected("c1", conn("v1", "p2")) == 0


async def test_disconnecting_an_unrecorded_visitor_connection_changes_nothing(
    store: Store,
) -> None:
    await enqueue(store, "c1", "c2")
    await store.visitor_connected("c1", conn("v1"))
    await store.visitor_connected("c2", conn("v2"))
    assert await store.visitor_disconnected("c1", conn("v9")) == 1
    assert await store.visitor_disconnected("c1", conn("v1", "p2")) == 1
    # Another chat's connection is not this chat's.
    assert await store.visitor_disconnected("c1", conn("v2")) == 1
    assert await store.visitor_connected("c2", conn("v2")) == 1


async def test_racing_visitor_connections_are_all_counted(store: Store) -> None:
    await enqueue(store, "c1")
    counts = await asyncio.gather(*(store.visitor_connected("c1", conn(f"v{i}")) for i in range(5)))
    assert sorted(counts) == [1, 2, 3, 4, 5]
    # Two tabs each disconnect twice: the repeats change nothing.
    await asyncio.gather(*(store.visitor_disconnected("c1", conn(f"v{i}")) for i in (0, 1, 0, 1)))
    assert await store.visitor_connected("c1", conn("v2")) == 3


async def test_visitor_connections_of_an_unknown_chat_are_zero(store: Store) -> None:
    assert await store.visitor_connected("nope", conn("v1")) == 0
    assert await store.visitor_disconnected("nope", conn("v1")) == 0


# --- server processes: heartbeats and sweeping the dead ------------------------------------


async def sweep(store: Store, now: datetime) -> list[tuple[str, str]]:
    """Who lost their last connection, in a fixed order (the store promises none)."""
    return sorted(await store.sweep_dead_processes(now))


async def connections_of(store: Store, username: str) -> int:
    state = await store.get_counselor(username)
    assert state is not None
    return state.connections


async def test_a_live_process_is_not_swept(store: Store) -> None:
    await store.heartbeat("p1", at(30))
    await counselor(store, "ann", connection=conn("ann", "p1"))
    assert await sweep(store, at(29)) == []
    assert await connections_of(store, "ann") == 1


async def test_a_dead_process_takes_its_connections_with_it(store: Store) -> None:
    await enqueue(store, "c1", "c2")
    await store.heartbeat("p1", at(30))
    await store.heartbeat("p2", at(60))
    await counselor(store, "ann", connection=conn("ann", "p1"))
    await store.visitor_connected("c1", conn("v1", "p1"))
    await store.visitor_connected("c2", conn("v2", "p2"))
    # A heartbeat that runs out at a moment is dead at that moment.
    assert await sweep(store, at(30)) == [(COUNSELOR, "ann"), (VISITOR, "c1")]
    ann = await store.get_counselor("ann")
    assert ann is not None
    assert (ann.connections, ann.online) == (0, False)
    # c1's connection is gone, c2's (on the live process) stays.
    assert await store.visitor_connected("c1", conn("v3", "p2")) == 1
    assert await store.visitor_connected("c2", conn("v4", "p2")) == 2


async def test_a_counselor_is_returned_only_when_her_last_process_dies(store: Store) -> None:
    await store.heartbeat("p1", at(30))
    await store.heartbeat("p2", at(60))
    await counselor(store, "ann", connection=conn("ann-1", "p1"))
    await store.counselor_connected("ann", "Ann", (ALPHA,), conn("ann-2", "p2"), T0)
    assert await sweep(store, at(30)) == []
    assert await connections_of(store, "ann") == 1
    assert await sweep(store, at(60)) == [(COUNSELOR, "ann")]
    assert await connections_of(store, "ann") == 0


async def test_a_visitor_is_returned_only_when_their_last_process_dies(store: Store) -> None:
    await enqueue(store, "c1")
    await store.heartbeat("p1", at(30))
    await store.heartbeat("p2", at(60))
    await store.visitor_connected("c1", conn("v1", "p1"))
    await store.visitor_connected("c1", conn("v2", "p2"))
    assert await sweep(store, at(30)) == []
    assert await sweep(store, at(60)) == [(VISITOR, "c1")]


async def test_someone_on_two_processes_that_die_together_is_returned_once(
    store: Store,
) -> None:
    await enqueue(store, "c1")
    await store.heartbeat("p1", at(30))
    await store.heartbeat("p2", at(30))
    await counselor(store, "ann", connection=conn("ann-1", "p1"))
    await store.counselor_connected("ann", "Ann", (ALPHA,), conn("ann-2", "p2"), T0)
    await store.visitor_connected("c1", conn("v1", "p1"))
    await store.visitor_connected("c1", conn("v2", "p2"))
    assert await sweep(store, at(30)) == [(COUNSELOR, "ann"), (VISITOR, "c1")]
    assert await connections_of(store, "ann") == 0


async def test_a_dead_process_is_swept_once(store: Store) -> None:
    await enqueue(store, "c1")
    await store.heartbeat("p1", at(30))
    await counselor(store, "ann", connection=conn("ann", "p1"))
    await store.visitor_connected("c1", conn("v1", "p1"))
    assert await sweep(store, at(30)) == [(COUNSELOR, "ann"), (VISITOR, "c1")]
    assert await sweep(store, at(30)) == []
    assert await sweep(store, at(10_000)) == []


async def test_racing_sweeps_return_everyone_once(store: Store) -> None:
    await enqueue(store, "c1", "c2")
    await store.heartbeat("p1", at(30))
    await store.heartbeat("p2", at(30))
    await counselor(store, "ann", connection=conn("ann", "p1"))
    await counselor(store, "bob", connection=conn("bob", "p2"))
    await store.visitor_connected("c1", conn("v1", "p1"))
    await store.visitor_connected("c2", conn("v2", "p2"))
    batches = await asyncio.gather(*(store.sweep_dead_processes(at(30)) for _ in range(5)))
    everyone = [subject for batch in batches for subject in batch]
    assert sorted(everyone) == [
        (COUNSELOR, "ann"),
        (COUNSELOR, "bob"),
        (VISITOR, "c1"),
        (VISITOR, "c2"),
    ]


async def test_a_process_that_heartbeats_again_in_time_is_not_swept(store: Store) -> None:
    await store.heartbeat("p1", at(30))
    await counselor(store, "ann", connection=conn("ann", "p1"))
    await store.heartbeat("p1", at(90))
    assert await sweep(store, at(60)) == []
    assert await connections_of(store, "ann") == 1
    assert await sweep(store, at(90)) == [(COUNSELOR, "ann")]


async def test_a_process_without_connections_dies_quietly(store: Store) -> None:
    await store.heartbeat("p1", at(30))
    assert await sweep(store, at(30)) == []
    assert await sweep(store, at(30)) == []


async def test_someone_who_already_disconnected_is_not_returned_by_the_sweep(
    store: Store,
) -> None:
    # Their last disconnect already started their grace period.
    await enqueue(store, "c1")
    await store.heartbeat("p1", at(30))
    await counselor(store, "ann", connection=conn("ann", "p1"))
    await store.visitor_connected("c1", conn("v1", "p1"))
    await store.counselor_disconnected("ann", conn("ann", "p1"), at(1))
    await store.visitor_disconnected("c1", conn("v1", "p1"))
    assert await sweep(store, at(30)) == []


async def test_a_late_disconnect_of_a_swept_connection_changes_nothing(store: Store) -> None:
    await enqueue(store, "c1")
    await store.heartbeat("p1", at(30))
    await store.heartbeat("p2", at(600))
    await counselor(store, "ann", connection=conn("ann", "p1"))
    await store.visitor_connected("c1", conn("v1", "p1"))
    await sweep(store, at(30))
    await store.counselor_connected("ann", "Ann", (ALPHA,), conn("ann", "p2"), at(31))
    await store.visitor_connected("c1", conn("v1", "p2"))
    # p1 was only slow; it now reports the disconnects the sweep already did.
    late = await store.counselor_disconnected("ann", conn("ann", "p1"), at(32))
    assert late is not None
    assert late.connections == 1
    assert await store.visitor_disconnected("c1", conn("v1", "p1")) == 1


async def test_a_counselor_swept_offline_is_never_given_a_chat(store: Store) -> None:
    await enqueue(store, "c1")
    await store.heartbeat("p1", at(30))
    await counselor(store, "ann", connection=conn("ann", "p1"))
    await sweep(store, at(30))
    assert await store.assign_next(ALPHA, MAX_CHATS, at(31)) is None
    assert await waiting_ids(store) == ["c1"]


async def test_sweeping_keeps_availability_and_chats(store: Store) -> None:
    # As with a disconnect: whether to give the chats back is the grace period's decision.
    await enqueue(store, "c1", "c2")
    await store.heartbeat("p1", at(30))
    await store.heartbeat("p2", at(600))
    await counselor(store, "ann", connection=conn("ann", "p1"))
    await assign(store)
    await sweep(store, at(30))
    ann = await store.get_counselor("ann")
    assert ann is not None
    assert (ann.online, ann.available, ann.chats) == (False, True, {"c1"})
    # Back through a live process, she takes the next visitor.
    await store.counselor_connected("ann", "Ann", (ALPHA,), conn("ann", "p2"), at(40))
    assert await assign(store, now=at(41)) == ("c2", "ann")


# --- deadlines ---------------------------------------------------------------------------


async def test_a_deadline_is_not_due_before_its_time(store: Store) -> None:
    await store.set_deadline("visitor:c1", at(60))
    assert await store.pop_due_deadlines(at(59)) == []


async def test_a_deadline_is_due_at_its_time_exactly(store: Store) -> None:
    await store.set_deadline("visitor:c1", at(60))
    assert await store.pop_due_deadlines(at(60)) == ["visitor:c1"]


async def test_due_deadlines_come_in_time_order_and_each_only_once(store: Store) -> None:
    await store.set_deadline("c", at(30))
    await store.set_deadline("a", at(10))
    await store.set_deadline("later", at(100))
    await store.set_deadline("b", at(20))
    assert await store.pop_due_deadlines(at(50)) == ["a", "b", "c"]
    assert await store.pop_due_deadlines(at(50)) == []
    assert await store.pop_due_deadlines(at(100)) == ["later"]
    assert await store.pop_due_deadlines(at(10_000)) == []


async def test_a_cleared_deadline_never_fires(store: Store) -> None:
    await store.set_deadline("visitor:c1", at(10))
    await store.clear_deadline("visitor:c1")
    await store.clear_deadline("never-set")
    assert await store.pop_due_deadlines(at(100)) == []


async def test_setting_a_deadline_again_moves_it(store: Store) -> None:
    await store.set_deadline("later", at(10))
    await store.set_deadline("later", at(100))
    await store.set_deadline("sooner", at(100))
    await store.set_deadline("sooner", at(5))
    assert await store.pop_due_deadlines(at(50)) == ["sooner"]
    assert await store.pop_due_deadlines(at(100)) == ["later"]


async def test_a_deadline_can_be_set_again_after_it_fired(store: Store) -> None:
    await store.set_deadline("k", at(10))
    assert await store.pop_due_deadlines(at(10)) == ["k"]
    await store.set_deadline("k", at(20))
    assert await store.pop_due_deadlines(at(20)) == ["k"]


async def test_racing_pops_return_each_deadline_once(store: Store) -> None:
    keys = [f"k{i}" for i in range(20)]
    for i, key in enumerate(keys):
        await store.set_deadline(key, at(i))
    popped = await asyncio.gather(*(store.pop_due_deadlines(at(100)) for _ in range(5)))
    everything = [key for batch in popped for key in batch]
    assert sorted(everything) == sorted(keys)


# --- counts ------------------------------------------------------------------------------

DAY = date(2026, 12, 2)


async def test_counts_add_up_per_day_and_helpline(store: Store) -> None:
    await store.add_counts(ALPHA, DAY, {"requested": 1})
    await store.add_counts(ALPHA, DAY, {"requested": 2, "answered": 1})
    await store.add_counts(BETA, DAY, {"requested": 5})
    days = await store.daily_counts(DAY, DAY)
    assert [(d.day, d.helpline, dict(d.counts)) for d in days] == [
        (DAY, ALPHA, {"requested": 3, "answered": 1}),
        (DAY, BETA, {"requested": 5}),
    ]


async def test_racing_counts_all_add_up(store: Store) -> None:
    await asyncio.gather(*(store.add_counts(ALPHA, DAY, {"requested": 1}) for _ in range(25)))
    [day] = await store.daily_counts(DAY, DAY)
    assert day.counts["requested"] == 25


async def test_daily_counts_are_ordered_by_date_then_helpline(store: Store) -> None:
    entries = [
        (BETA, DAY + timedelta(1)),
        (ALPHA, DAY + timedelta(1)),
        ("gamma", DAY),
        (BETA, DAY),
        (ALPHA, DAY),
    ]
    for helpline, day in entries:
        await store.add_counts(helpline, day, {"requested": 1})
    days = await store.daily_counts(DAY, DAY + timedelta(1))
    assert [(d.day, d.helpline) for d in days] == [
        (DAY, ALPHA),
        (DAY, BETA),
        (DAY, "gamma"),
        (DAY + timedelta(1), ALPHA),
        (DAY + timedelta(1), BETA),
    ]


async def test_daily_counts_cover_first_to_last_inclusive(store: Store) -> None:
    for offset in range(-2, 5):
        await store.add_counts(ALPHA, DAY + timedelta(offset), {"requested": 1})
    days = await store.daily_counts(DAY, DAY + timedelta(2))
    assert [d.day for d in days] == [DAY, DAY + timedelta(1), DAY + timedelta(2)]
    assert await store.daily_counts(DAY + timedelta(10), DAY + timedelta(20)) == []
    assert await store.daily_counts(DAY + timedelta(2), DAY) == []


async def test_daily_counts_across_a_month_and_year_end_are_in_date_order(store: Store) -> None:
    days = [date(2027, 1, 1), date(2026, 12, 31), date(2027, 2, 1), date(2026, 2, 1)]
    for day in days:
        await store.add_counts(ALPHA, day, {"requested": 1})
    listed = await store.daily_counts(date(2026, 1, 1), date(2027, 12, 31))
    assert [d.day for d in listed] == sorted(days)


async def test_daily_counts_filter_by_helpline(store: Store) -> None:
    await store.add_counts(ALPHA, DAY, {"requested": 1})
    await store.add_counts(BETA, DAY, {"requested": 2})
    await store.add_counts(BETA, DAY + timedelta(1), {"answered": 1})
    days = await store.daily_counts(DAY, DAY + timedelta(1), BETA)
    assert [(d.day, d.helpline) for d in days] == [(DAY, BETA), (DAY + timedelta(1), BETA)]
    assert await store.daily_counts(DAY, DAY, "nobody") == []


async def test_days_without_counts_are_left_out(store: Store) -> None:
    await store.add_counts(ALPHA, DAY, {"requested": 1})
    await store.add_counts(ALPHA, DAY + timedelta(3), {"requested": 1})
    days = await store.daily_counts(DAY, DAY + timedelta(3))
    assert [d.day for d in days] == [DAY, DAY + timedelta(3)]


async def test_adding_nothing_records_no_day(store: Store) -> None:
    await store.add_counts(ALPHA, DAY, {})
    await store.add_counts(BETA, DAY, {"requested": 0})
    assert await store.daily_counts(DAY, DAY) == []


async def test_a_days_counts_give_a_full_row(store: Store) -> None:
    await store.add_counts(ALPHA, DAY, {"answered": 2, "wait_under_1m": 2})
    [day] = await store.daily_counts(DAY, DAY)
    row = day.row()
    assert row["answered"] == 2
    assert row["requested"] == 0


async def test_counts_survive_a_new_memory_store_on_the_same_data_dir(tmp_path: Path) -> None:
    first = MemoryStore(tmp_path)
    await first.add_counts(ALPHA, DAY, {"requested": 2, "answered": 1})
    await first.add_counts(BETA, DAY + timedelta(1), {"requested": 1})
    await first.close()
    second = MemoryStore(tmp_path)
    days = await second.daily_counts(DAY, DAY + timedelta(1))
    assert [(d.day, d.helpline, dict(d.counts)) for d in days] == [
        (DAY, ALPHA, {"requested": 2, "answered": 1}),
        (DAY + timedelta(1), BETA, {"requested": 1}),
    ]
    # And go on adding up.
    await second.add_counts(ALPHA, DAY, {"requested": 1})
    await second.close()
    third = MemoryStore(tmp_path)
    [alpha, _] = await third.daily_counts(DAY, DAY + timedelta(1))
    assert alpha.counts["requested"] == 3


async def test_a_new_memory_store_keeps_no_chats_only_counts(tmp_path: Path) -> None:
    first = MemoryStore(tmp_path)
    await first.create_chat(new_chat("c1"), ROOMY)
    await first.append_message("c1", Sender.VISITOR, "private", None, T0)
    await first.add_counts(ALPHA, DAY, {"requested": 1})
    await first.close()
    second = MemoryStore(tmp_path)
    assert await second.get_chat("c1") is None
    assert await second.waiting(ALPHA) == []
    assert len(await second.daily_counts(DAY, DAY)) == 1
    # Nothing a visitor typed reaches the data dir.
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"private" not in path.read_bytes()


async def test_counts_reach_the_disk_shortly_without_a_clean_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chatserver.store import counts_file

    monkeypatch.setattr(counts_file, "FLUSH_DELAY_SECONDS", 0.01)
    first = MemoryStore(tmp_path)
    await first.add_counts(ALPHA, DAY, {"requested": 1})
    await first.add_counts(ALPHA, DAY, {"requested": 1})
    for _ in range(200):
        if (tmp_path / "counts.json").exists():
            break
        await asyncio.sleep(0.01)
    second = MemoryStore(tmp_path)  # as after a crash: `first` was never closed
    [day] = await second.daily_counts(DAY, DAY)
    assert day.counts["requested"] == 2


# --- lifecycle ---------------------------------------------------------------------------


async def test_ping_says_the_store_is_reachable(store: Store) -> None:
    assert await store.ping() is True


async def test_queue_ids_positions_and_summary_follow_the_queue(store: Store) -> None:
    assert await store.queue_summary(ALPHA) == QueueSummary(waiting=0, oldest_enqueued_at=None)
    await enqueue(store, "c1", "c2", "c3")
    assert await store.waiting_ids(ALPHA) == ["c1", "c2", "c3"]
    assert [await store.queue_position(ALPHA, c) for c in ("c1", "c2", "c3")] == [1, 2, 3]
    assert await store.queue_position(ALPHA, "nope") is None
    assert await store.queue_position(BETA, "c1") is None
    assert await store.queue_summary(ALPHA) == QueueSummary(waiting=3, oldest_enqueued_at=T0)


async def test_a_chat_put_back_in_front_restarts_its_wait_in_the_summary(store: Store) -> None:
    await enqueue(store, "c1")
    await counselor(store, "ann")
    await assign(store)
    await enqueue(store, "c2")  # enqueued at T0
    await store.requeue_counselor_chats("ann", at(600))
    assert await store.waiting_ids(ALPHA) == ["c1", "c2"]
    assert await store.queue_position(ALPHA, "c1") == 1
    # c1 waits again since 600 s; c2 has waited since T0, the longest.
    assert await store.queue_summary(ALPHA) == QueueSummary(waiting=2, oldest_enqueued_at=T0)


# --- transfer, handover notes and blocks (the console's tools) -------------------------------


async def test_a_transferred_chat_goes_to_the_front_of_the_other_helpline(store: Store) -> None:
    await enqueue(store, "c1")
    await enqueue(store, "b1", helpline=BETA)
    await counselor(store, "ann")
    await assign(store)
    moved = await store.transfer_to_helpline("c1", "ann", BETA, at(30))
    assert moved is not None
    assert (moved.helpline, moved.state, moved.counselor) == (BETA, ChatState.WAITING, None)
    assert await store.waiting_ids(BETA) == ["c1", "b1"]
    assert await chats_of(store, "ann") == set()
    # Only the chat's own counselor can move it, and only while it is open.
    assert await store.transfer_to_helpline("c1", "ann", ALPHA, at(31)) is None


async def test_a_chat_handed_to_a_colleague_needs_a_free_available_colleague(store: Store) -> None:
    await enqueue(store, "c1")
    await counselor(store, "ann")
    await assign(store)
    await counselor(store, "bob", available=False)
    assert await store.transfer_to_counselor("c1", "ann", "bob", MAX_CHATS, at(5)) is None
    await store.set_available("bob", True, at(6))
    assert await store.transfer_to_counselor("c1", "bob", "ann", MAX_CHATS, at(7)) is None
    assert await store.transfer_to_counselor("c1", "ann", "nobody", MAX_CHATS, at(7)) is None
    handed = await store.transfer_to_counselor("c1", "ann", "bob", MAX_CHATS, at(8))
    assert handed is not None
    assert (handed.chat.counselor, handed.counselor.username) == ("bob", "bob")
    assert handed.first_answer is False
    assert await chats_of(store, "ann") == set()
    assert await chats_of(store, "bob") == {"c1"}


async def test_a_handover_note_stays_with_the_chat_and_goes_when_it_ends(store: Store) -> None:
    await enqueue(store, "c1")
    assert await store.note("c1") is None
    await store.set_note("c1", "Bezoeker is bang; rustig aan.")
    assert await store.note("c1") == "Bezoeker is bang; rustig aan."
    await store.end_chat("c1", EndReason.COUNSELOR, at(1))
    assert await store.note("c1") is None


async def test_blocked_hashes_are_refused_until_the_block_runs_out(store: Store) -> None:
    await store.block(["token-hash", "session-hash"], at(3600), T0)
    assert await store.is_blocked("token-hash", at(10))
    assert await store.is_blocked("session-hash", at(3599))
    assert not await store.is_blocked("other", at(10))
    assert not await store.is_blocked("token-hash", at(3600))


# --- offers (protocol 2: a console confirms each assignment) -------------------------------


async def confirming(store: Store, username: str, now: datetime = T0) -> None:
    await store.counselor_connected(
        username, username.capitalize(), (ALPHA,), conn(username), now, confirms=True
    )
    assert await store.set_available(username, True, now) is not None


async def test_a_confirming_console_is_offered_the_chat_and_it_is_not_yet_answered(
    store: Store,
) -> None:
    await enqueue(store, "c1")
    await confirming(store, "ann")
    offered = await store.assign_next(ALPHA, MAX_CHATS, at(1))
    assert offered is not None and offered.chat.state is ChatState.OFFERED
    assert offered.first_answer is False
    chat = await store.get_chat("c1")
    assert chat is not None and chat.state is ChatState.OFFERED and not chat.answered
    assert chat.counselor == "ann"
    state = await store.get_counselor("ann")
    assert state is not None and state.chats == {"c1"} and state.confirms


async def test_confirming_an_offer_answers_it_once_and_only_for_its_counselor(
    store: Store,
) -> None:
    await enqueue(store, "c1")
    await confirming(store, "ann")
    await confirming(store, "bob")
    offered = await store.assign_next(ALPHA, MAX_CHATS, at(1))
    assert offered is not None
    other = "bob" if offered.counselor.username == "ann" else "ann"
    assert await store.confirm_assignment("c1", other, at(2)) is None
    confirmed = await store.confirm_assignment("c1", offered.counselor.username, at(2))
    assert confirmed is not None and confirmed.first_answer is True
    assert confirmed.chat.state is ChatState.CHATTING
    assert await store.confirm_assignment("c1", offered.counselor.username, at(3)) is None


async def test_an_unconfirmed_offer_goes_back_in_front_and_the_counselor_away(
    store: Store,
) -> None:
    await enqueue(store, "c1", "c2")
    await confirming(store, "ann")
    assert (await store.assign_next(ALPHA, 1, at(1))) is not None
    before = await store.withdraw_offer("c1", at(11))
    assert before is not None and before.counselor == "ann"
    assert await store.waiting_ids(ALPHA) == ["c1", "c2"]
    chat = await store.get_chat("c1")
    assert chat is not None and chat.state is ChatState.WAITING and chat.counselor is None
    state = await store.get_counselor("ann")
    assert state is not None and not state.available and not state.chats
    assert state.away_reason == "unconfirmed"
    assert await store.withdraw_offer("c1", at(12)) is None  # only offers are withdrawn
    back = await store.set_available("ann", True, at(13))
    assert back is not None and back.away_reason is None


async def test_an_offer_to_a_console_that_went_away_returns_without_setting_it_away(
    store: Store,
) -> None:
    await enqueue(store, "c1")
    await confirming(store, "ann")
    assert (await store.assign_next(ALPHA, MAX_CHATS, at(1))) is not None
    assert await store.withdraw_offer("c1", at(2), unconfirmed=False) is not None
    state = await store.get_counselor("ann")
    assert state is not None and state.available and state.away_reason is None
    assert await store.waiting_ids(ALPHA) == ["c1"]


async def test_a_v1_console_is_answered_at_once(store: Store) -> None:
    await enqueue(store, "c1")
    await counselor(store, "ann")
    assigned = await store.assign_next(ALPHA, MAX_CHATS, at(1))
    assert assigned is not None and assigned.chat.state is ChatState.CHATTING
    assert assigned.first_answer is True


async def test_chat_marks_name_state_and_latest_seq_of_open_chats_only(store: Store) -> None:
    await enqueue(store, "c1", "c2")
    await store.append_message("c1", Sender.VISITOR, "hallo", "v1", at(1))
    await store.append_message("c1", Sender.VISITOR, "nog iets", "v2", at(2))
    await store.end_chat("c2", EndReason.VISITOR, at(3))
    marks = await store.chat_marks(["c1", "c2", "nope"])
    assert set(marks) == {"c1"}
    assert marks["c1"].state is ChatState.WAITING and marks["c1"].last_seq == 2


async def test_a_transfer_to_a_confirming_colleague_is_an_offer(store: Store) -> None:
    await enqueue(store, "c1")
    await counselor(store, "ann")
    assert (await store.assign_next(ALPHA, MAX_CHATS, at(1))) is not None
    await confirming(store, "bob", at(2))
    handed = await store.transfer_to_counselor("c1", "ann", "bob", MAX_CHATS, at(3))
    assert handed is not None and handed.chat.state is ChatState.OFFERED
    assert handed.first_answer is False
    confirmed = await store.confirm_assignment("c1", "bob", at(4))
    assert confirmed is not None and confirmed.first_answer is False  # answered before


async def test_an_offer_reports_the_state_it_made_even_if_confirmed_a_moment_later(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process may confirm the offer (the console learnt of it by resume) before
    this one reads the chat back: the caller must still see OFFERED, or it would tell the
    visitor a second time."""
    await enqueue(store, "c1")
    await confirming(store, "ann")
    read = store.get_chat

    async def confirmed_meanwhile(chat_id: str) -> Chat | None:
        await store.confirm_assignment(chat_id, "ann", at(2))
        return await read(chat_id)

    monkeypatch.setattr(store, "get_chat", confirmed_meanwhile)
    offered = await store.assign_next(ALPHA, MAX_CHATS, at(1))
    assert offered is not None and offered.chat.state is ChatState.OFFERED


# --- hour-of-week demand and awaited outcomes (issue 11) ---------------------------------------


async def test_demand_adds_up_per_month_and_helpline(store: Store) -> None:
    await store.add_demand(ALPHA, "2026-11", {"open:0:09": 1})
    await store.add_demand(ALPHA, "2026-12", {"open:0:09": 1, "closed:6:23": 2})
    await store.add_demand(ALPHA, "2026-12", {"open:0:09": 1, "closed:6:23": 0})
    await store.add_demand(BETA, "2026-12", {"closed:2:19": 1})
    await store.add_demand(BETA, "2027-01", {})
    rows = await store.monthly_demand("2026-12", "2027-01")
    assert [(r.month, r.helpline, dict(r.cells)) for r in rows] == [
        ("2026-12", ALPHA, {"open:0:09": 2, "closed:6:23": 2}),
        ("2026-12", BETA, {"closed:2:19": 1}),
    ]
    [only] = await store.monthly_demand("2026-11", "2026-12", BETA)
    assert only.helpline == BETA


async def test_an_awaited_outcome_is_taken_once_by_its_counselor_only(store: Store) -> None:
    await store.await_outcome("carla", "c1", ALPHA, DAY, 60)
    assert await store.take_awaited_outcome("mia", "c1") is None
    assert await store.take_awaited_outcome("carla", "c2") is None
    assert await store.take_awaited_outcome("carla", "c1") == (ALPHA, DAY)
    assert await store.take_awaited_outcome("carla", "c1") is None


async def test_an_awaited_outcome_expires(store: Store) -> None:
    await store.await_outcome("carla", "c1", ALPHA, DAY, 1)
    await asyncio.sleep(1.2)
    assert await store.take_awaited_outcome("carla", "c1") is None


async def test_demand_survives_a_new_memory_store_on_the_same_data_dir(tmp_path: Path) -> None:
    first = MemoryStore(tmp_path)
    await first.add_demand(ALPHA, "2026-12", {"open:2:14": 3})
    await first.close()
    second = MemoryStore(tmp_path)
    [row] = await second.monthly_demand("2026-12", "2026-12")
    assert dict(row.cells) == {"open:2:14": 3}
