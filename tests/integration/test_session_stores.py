"""One behavioural suite for the SessionStore protocol, run against every store, time injected.

The `new_store` fixture is parametrised over the stores; memory-only details (what the dict
holds, sweeping) are in tests/unit/test_sessions.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio

from chatserver import crypto
from chatserver.accounts import Account, authenticate
from chatserver.accounts_redis import RedisAccountStore
from chatserver.crypto import hash_token
from chatserver.sessions import (
    SESSION_TTL,
    FileSessionStore,
    MemorySessionStore,
    Session,
    SessionStore,
)
from chatserver.sessions_redis import RedisSessionStore

# In the past of the real clock on purpose: Redis's own expiry must not act on this clock.
T0 = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
PREFIX = "chatserver:"

StoreFactory = Callable[..., SessionStore]


@pytest.fixture(params=["memory", "file", "redis"])
async def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """Makes stores of one kind; new_store(ttl=...) for another ttl."""
    if request.param == "memory":
        yield MemorySessionStore
        return
    if request.param == "file":

        def make_file(ttl: timedelta = SESSION_TTL) -> SessionStore:
            return FileSessionStore(tmp_path, ttl)

        yield make_file
        return
    client = redis.asyncio.from_url(request.getfixturevalue("redis_url"))

    def make(ttl: timedelta = SESSION_TTL) -> SessionStore:
        return RedisSessionStore(client, PREFIX, ttl)

    yield make
    await client.aclose()


@pytest.fixture
def store(new_store: StoreFactory) -> SessionStore:
    return new_store()


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    made = redis.asyncio.from_url(redis_url)
    yield made
    await made.aclose()


async def redis_dump(client: redis.asyncio.Redis) -> dict[bytes, object]:
    """Every key in Redis with its value, whatever its type."""
    dump: dict[bytes, object] = {}
    async for key in client.scan_iter():
        kind = await client.type(key)
        if kind == b"string":
            dump[key] = await client.get(key)
        elif kind == b"set":
            dump[key] = await client.smembers(key)
        elif kind == b"hash":
            dump[key] = await client.hgetall(key)
        else:
            raise AssertionError(f"unexpected {kind!r} at {key!r}")
    return dump


# -- every store -----------------------------------------------------------------------------


async def test_create_and_resolve(store: SessionStore) -> None:
    token = await store.create("anna", T0)
    assert len(token) >= 43
    assert await store.resolve(token, T0) == "anna"
    assert await store.resolve(token, T0 + timedelta(hours=11, minutes=59)) == "anna"


async def test_tokens_are_unique_per_session(store: SessionStore) -> None:
    first = await store.create("anna", T0)
    second = await store.create("anna", T0)
    assert first != second
    assert await store.resolve(first, T0) == "anna"
    assert await store.resolve(second, T0) == "anna"


async def test_unknown_token(store: SessionStore) -> None:
    await store.create("anna", T0)
    assert await store.resolve("not-a-token", T0) is None
    assert await store.resolve("", T0) is None


async def test_expired_session_stays_gone(store: SessionStore) -> None:
    token = await store.create("anna", T0)
    assert await store.resolve(token, T0 + SESSION_TTL) is None
    # once dropped, going back in time does not revive it
    assert await store.resolve(token, T0) is None


async def test_expiry_does_not_slide(store: SessionStore) -> None:
    token = await store.create("anna", T0)
    for hours in range(12):
        assert await store.resolve(token, T0 + timedelta(hours=hours)) == "anna"
    assert await store.resolve(token, T0 + timedelta(hours=12)) is None


async def test_custom_ttl(new_store: StoreFactory) -> None:
    store = new_store(ttl=timedelta(minutes=5))
    token = await store.create("anna", T0)
    assert await store.resolve(token, T0 + timedelta(minutes=4)) == "anna"
    assert await store.resolve(token, T0 + timedelta(minutes=5)) is None


async def test_revoke(store: SessionStore) -> None:
    token = await store.create("anna", T0)
    other = await store.create("anna", T0)
    await store.revoke(token)
    assert await store.resolve(token, T0) is None
    assert await store.resolve(other, T0) == "anna"
    await store.revoke(token)  # again: no error
    await store.revoke("never issued")


async def test_a_session_keeps_the_credential_generation_it_began_with(
    store: SessionStore,
) -> None:
    token = await store.create("anna", T0, "generation-1")
    assert await store.session(token, T0) == Session("anna", "generation-1")
    assert await store.session(await store.create("anna", T0), T0) == Session("anna", "")
    assert await store.session(token, T0 + SESSION_TTL) is None


async def test_revoke_user(store: SessionStore) -> None:
    anna_1 = await store.create("anna", T0)
    anna_2 = await store.create("anna", T0 + timedelta(hours=1))
    bert = await store.create("bert", T0)
    await store.revoke_user("anna")
    assert await store.resolve(anna_1, T0) is None
    assert await store.resolve(anna_2, T0) is None
    assert await store.resolve(bert, T0) == "bert"
    await store.revoke_user("nobody")
    assert await store.resolve(bert, T0) == "bert"


async def test_new_session_after_revoke_user(store: SessionStore) -> None:
    await store.create("anna", T0)
    await store.revoke_user("anna")
    token = await store.create("anna", T0)
    assert await store.resolve(token, T0) == "anna"


# -- Redis only ------------------------------------------------------------------------------


def test_redis_store_satisfies_protocol(client: redis.asyncio.Redis) -> None:
    store: SessionStore = RedisSessionStore(client, PREFIX)  # checked by mypy
    assert store is not None


async def test_redis_login_leaves_only_hashes(client: redis.asyncio.Redis) -> None:
    password = "secret-horse-battery-staple"
    accounts = RedisAccountStore(client, PREFIX)
    sessions = RedisSessionStore(client, PREFIX)
    await accounts.add(
        Account("anna", "counselor", "Anna", (), crypto.hash_password(password)),
    )
    assert await authenticate(accounts, "anna", password) is not None
    tokens = [await sessions.create("anna", T0) for _ in range(3)]
    await sessions.revoke(tokens[2])
    dump = await redis_dump(client)
    everything = repr(dump).encode()
    for secret in [password, *tokens]:
        assert secret.encode() not in everything
    session_keys = {f"chatserver:session:{hash_token(t)}".encode() for t in tokens[:2]}
    assert set(dump) == {b"chatserver:accounts", b"chatserver:user-sessions:anna", *session_keys}
    assert dump[b"chatserver:user-sessions:anna"] == {hash_token(t).encode() for t in tokens[:2]}


async def test_redis_keys_expire(client: redis.asyncio.Redis) -> None:
    store = RedisSessionStore(client, PREFIX, ttl=timedelta(hours=1))
    token = await store.create("anna", T0)
    for key in (f"chatserver:session:{hash_token(token)}", "chatserver:user-sessions:anna"):
        assert 3_590_000 < await client.pttl(key) <= 3_600_000


async def test_redis_expiry_in_real_time(client: redis.asyncio.Redis) -> None:
    store = RedisSessionStore(client, PREFIX, ttl=timedelta(milliseconds=50))
    now = datetime.now(UTC)
    token = await store.create("anna", now)
    assert await store.resolve(token, now) == "anna"
    await asyncio.sleep(0.2)
    assert await store.resolve(token, now) is None  # Redis dropped it, whatever `now` says
    assert [key async for key in client.scan_iter()] == []


async def test_redis_expired_resolve_and_revoke_clean_up(client: redis.asyncio.Redis) -> None:
    store = RedisSessionStore(client, PREFIX)
    expired = await store.create("anna", T0)
    revoked = await store.create("anna", T0)
    kept = await store.create("anna", T0 + timedelta(hours=1))
    assert await store.resolve(expired, T0 + SESSION_TTL) is None
    await store.revoke(revoked)
    assert await client.smembers("chatserver:user-sessions:anna") == {hash_token(kept).encode()}
    await store.revoke_user("anna")
    assert [key async for key in client.scan_iter()] == []


async def test_redis_prefixes_keep_stores_apart(client: redis.asyncio.Redis) -> None:
    one, two = RedisSessionStore(client, "one:"), RedisSessionStore(client, "two:")
    token = await one.create("anna", T0)
    assert await two.resolve(token, T0) is None
    await two.revoke_user("anna")
    assert await one.resolve(token, T0) == "anna"
    assert all(key.startswith(b"one:") for key in await redis_dump(client))


@pytest.mark.parametrize(
    "record",
    [b"anna", b"\xff", b"[]", b'{"username": "anna"}', b'{"username": 1, "expires_at": 9}'],
)
async def test_redis_unreadable_record_is_no_session(
    client: redis.asyncio.Redis, record: bytes
) -> None:
    store = RedisSessionStore(client, PREFIX)
    token = await store.create("anna", T0)
    await client.set(f"chatserver:session:{hash_token(token)}", record)
    assert await store.resolve(token, T0) is None
    await store.revoke(token)
    assert await client.exists(f"chatserver:session:{hash_token(token)}") == 0


async def test_file_sessions_survive_a_restart_and_keep_only_hashes(tmp_path: Path) -> None:
    first = FileSessionStore(tmp_path)
    token = await first.create("carla", T0, "gen-1")
    gone = await first.create("otto", T0)
    await first.revoke(gone)
    on_disk = (tmp_path / "sessions.json").read_text()
    assert token not in on_disk and gone not in on_disk
    assert hash_token(token) in on_disk and hash_token(gone) not in on_disk

    restarted = FileSessionStore(tmp_path)
    assert await restarted.session(token, T0 + timedelta(hours=1)) == Session("carla", "gen-1")
    assert await restarted.resolve(gone, T0) is None
    assert await restarted.resolve(token, T0 + SESSION_TTL) is None
    (tmp_path / "sessions.json").write_text("{not json")
    assert await FileSessionStore(tmp_path).resolve(token, T0) is None
