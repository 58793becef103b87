"""What only the in-memory session store does: what its dict holds, and sweeping.

What every SessionStore promises (resolve, expiry, revoke) is tested against each store in
tests/integration/test_session_stores.py.
"""

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


async def test_only_the_hash_is_stored() -> None:
    store = MemorySessionStore()
    token = await store.create("anna", T0)
    assert list(store._sessions) == [hash_token(token)]
    assert token not in repr(store._sessions)


async def test_expired_session_is_dropped() -> None:
    store = MemorySessionStore()
    token = await store.create("anna", T0)
    assert await store.resolve(token, T0 + SESSION_TTL) is None
    assert store._sessions == {}


async def test_create_sweeps_expired_sessions() -> None:
    store = MemorySessionStore()
    await store.create("anna", T0)
    await store.create("bert", T0 + timedelta(hours=1))
    fresh = await store.create("carla", T0 + SESSION_TTL)
    assert len(store._sessions) == 2
    assert await store.resolve(fresh, T0 + SESSION_TTL) == "carla"
