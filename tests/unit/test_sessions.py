"""Staff login sessions with injected time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chatserver.crypto import hash_token
from chatserver.sessions import SESSION_TTL, MemorySessionStore, SessionStore

T0 = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_ttl_is_twelve_hours() -> None:
    assert timedelta(hours=12) == SESSION_TTL


def test_satisfies_protocol() -> None:
    store: SessionStore = MemorySessionStore()
    assert store is not None


async def test_create_and_resolve() -> None:
    store = MemorySessionStore()
    token = await store.create("anna", T0)
    assert len(token) >= 43
    assert await store.resolve(token, T0) == "anna"
    assert await store.resolve(token, T0 + timedelta(hours=11, minutes=59)) == "anna"


async def test_tokens_are_unique_per_session() -> None:
    store = MemorySessionStore()
    first = await store.create("anna", T0)
    second = await store.create("anna", T0)
    assert first != second
    assert await store.resolve(first, T0) == "anna"
    assert await store.resolve(second, T0) == "anna"


async def test_unknown_token() -> None:
    store = MemorySessionStore()
    await store.create("anna", T0)
    assert await store.resolve("not-a-token", T0) is None
    assert await store.resolve("", T0) is None


async def test_only_the_hash_is_stored() -> None:
    store = MemorySessionStore()
    token = await store.create("anna", T0)
    assert list(store._sessions) == [hash_token(token)]
    assert token not in repr(store._sessions)


async def test_expiry_and_drop() -> None:
    store = MemorySessionStore()
    token = await store.create("anna", T0)
    assert await store.resolve(token, T0 + SESSION_TTL) is None
    assert store._sessions == {}
    # once dropped, going back in time does not revive it
    assert await store.resolve(token, T0) is None


async def test_expiry_does_not_slide() -> None:
    store = MemorySessionStore()
    token = await store.create("anna", T0)
    for hours in range(12):
        assert await store.resolve(token, T0 + timedelta(hours=hours)) == "anna"
    assert await store.resolve(token, T0 + timedelta(hours=12)) is None


async def test_custom_ttl() -> None:
    store = MemorySessionStore(ttl=timedelta(minutes=5))
    token = await store.create("anna", T0)
    assert await store.resolve(token, T0 + timedelta(minutes=4)) == "anna"
    assert await store.resolve(token, T0 + timedelta(minutes=5)) is None


async def test_create_sweeps_expired_sessions() -> None:
    store = MemorySessionStore()
    await store.create("anna", T0)
    await store.create("bert", T0 + timedelta(hours=1))
    fresh = await store.create("carla", T0 + SESSION_TTL)
    assert len(store._sessions) == 2
    assert await store.resolve(fresh, T0 + SESSION_TTL) == "carla"


async def test_revoke() -> None:
    store = MemorySessionStore()
    token = await store.create("anna", T0)
    other = await store.create("anna", T0)
    await store.revoke(token)
    assert await store.resolve(token, T0) is None
    assert await store.resolve(other, T0) == "anna"
    await store.revoke(token)  # again: no error
    await store.revoke("never issued")


async def test_revoke_user() -> None:
    store = MemorySessionStore()
    anna_1 = await store.create("anna", T0)
    anna_2 = await store.create("anna", T0 + timedelta(hours=1))
    bert = await store.create("bert", T0)
    await store.revoke_user("anna")
    assert await store.resolve(anna_1, T0) is None
    assert await store.resolve(anna_2, T0) is None
    assert await store.resolve(bert, T0) == "bert"
    await store.revoke_user("nobody")
    assert await store.resolve(bert, T0) == "bert"
