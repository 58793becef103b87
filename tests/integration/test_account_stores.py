"""One behavioural suite for the AccountStore protocol, run against every store.

The `backend` fixture is parametrised over the stores; each gives the store under test, a way
to open the same accounts as another process would, and everything it has stored as text.
File-only behaviour (modes, reloading users.json) is in tests/unit/test_accounts.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio

from chatserver import crypto, totp
from chatserver.accounts import (
    Account,
    AccountExists,
    AccountFileError,
    AccountStore,
    FileAccountStore,
    authenticate,
    ensure_demo_accounts,
)
from chatserver.accounts_redis import AccountRecordError, RedisAccountStore
from tests.helpers import make_account, make_config

PASSWORD = "a long enough password"
PREFIX = "chatserver:"


@dataclass
class Backend:
    store: AccountStore
    # The same accounts as a second process (another server, the users command) sees them.
    reopen: Callable[[], AccountStore]
    # Everything the store has written, as text; empty when it has written nothing.
    stored_text: Callable[[], Awaitable[str]]


async def redis_text(client: redis.asyncio.Redis) -> str:
    """Every key and every hash field and value in Redis, one per line."""
    lines: list[str] = []
    async for key in client.scan_iter():
        lines.append(repr(key))
        for field, value in (await client.hgetall(key)).items():
            lines.append(f"{field!r} {value!r}")
    return "\n".join(lines)


@pytest.fixture(params=["file", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "file":
        data_dir = tmp_path / "data"
        path = data_dir / "users.json"

        async def file_text() -> str:
            return path.read_text() if path.exists() else ""

        yield Backend(FileAccountStore(data_dir), lambda: FileAccountStore(data_dir), file_text)
        return
    url: str = request.getfixturevalue("redis_url")
    clients: list[redis.asyncio.Redis] = []

    def open_store() -> AccountStore:
        clients.append(redis.asyncio.from_url(url))
        return RedisAccountStore(clients[-1], PREFIX)

    store = open_store()
    yield Backend(store, open_store, lambda: redis_text(clients[0]))
    for client in clients:
        await client.aclose()


@pytest.fixture
def store(backend: Backend) -> AccountStore:
    return backend.store


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    made = redis.asyncio.from_url(redis_url)
    yield made
    await made.aclose()


# -- every store -----------------------------------------------------------------------------


async def test_empty_store(backend: Backend) -> None:
    store = backend.store
    assert await store.get("anna") is None
    assert await store.list() == []
    assert await store.remove("anna") is False
    assert await store.set_password("anna", crypto.hash_password(PASSWORD)) is False
    assert await backend.stored_text() == ""


async def test_add_get_list(store: AccountStore) -> None:
    zoe, anna = make_account("zoe", "manager"), make_account("anna", helplines=("stopitnow",))
    await store.add(zoe)
    await store.add(anna)
    assert await store.get("anna") == anna
    assert await store.get("zoe") == zoe
    assert await store.get("nobody") is None
    assert [a.username for a in await store.list()] == ["anna", "zoe"]


async def test_add_existing_raises(store: AccountStore) -> None:
    await store.add(make_account("anna"))
    with pytest.raises(AccountExists):
        await store.add(make_account("anna", "admin"))
    account = await store.get("anna")
    assert account is not None
    assert account.role == "counselor"


async def test_add_rejects_invalid_account(backend: Backend) -> None:
    store = backend.store
    with pytest.raises(ValueError):
        await store.add(make_account("Not Valid"))
    bad_role = Account("anna", "root", "Anna", (), "scrypt$x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="role"):
        await store.add(bad_role)
    assert await store.list() == []
    assert await backend.stored_text() == ""


async def test_remove(backend: Backend) -> None:
    store = backend.store
    await store.add(make_account("anna"))
    await store.add(make_account("bert"))
    assert await store.remove("anna") is True
    assert await store.remove("anna") is False
    assert [a.username for a in await store.list()] == ["bert"]
    assert [a.username for a in await backend.reopen().list()] == ["bert"]


async def test_set_password(backend: Backend) -> None:
    await backend.store.add(make_account("anna", helplines=("stopitnow",)))
    new_hash = crypto.hash_password("another long password")
    assert await backend.store.set_password("anna", new_hash) is True
    account = await backend.reopen().get("anna")
    assert account is not None
    assert account.password_hash == new_hash
    assert account.display_name == "Anna"
    assert account.helplines == ("stopitnow",)


async def test_set_totp_keeps_the_password_and_set_password_keeps_the_totp(
    backend: Backend,
) -> None:
    await backend.store.add(make_account("anna", helplines=("stopitnow",)))
    secret = totp.new_secret()
    assert await backend.store.set_totp("anna", secret) is True
    assert await backend.store.set_password("anna", crypto.hash_password("another long one"))
    account = await backend.reopen().get("anna")
    assert account is not None
    assert account.totp_secret == secret
    assert await authenticate(backend.store, "anna", "another long one") is not None
    assert await backend.store.set_totp("anna", None) is True
    assert (await backend.reopen().get("anna")) == dataclasses.replace(account, totp_secret=None)
    assert "totp_secret" not in await backend.stored_text()
    assert await backend.store.set_totp("nobody", secret) is False


async def test_a_totp_step_is_claimed_once_and_never_an_earlier_one(store: AccountStore) -> None:
    await store.add(make_account("anna"))
    assert await store.claim_totp_step("anna", 100) is True
    assert await store.claim_totp_step("anna", 100) is False
    assert await store.claim_totp_step("anna", 99) is False
    assert await store.claim_totp_step("bert", 100) is True  # per account
    assert await store.claim_totp_step("anna", 101) is True


async def test_concurrent_claims_of_one_totp_step_let_one_through(backend: Backend) -> None:
    """Two logins with one code at once (with Redis: on two processes): one gets in.

    Without Redis only the one serving process logs anyone in, so it is one store.
    """
    redis_store = isinstance(backend.store, RedisAccountStore)
    stores = [backend.store, backend.reopen() if redis_store else backend.store]
    claims = [stores[i % 2].claim_totp_step("anna", 100) for i in range(10)]
    assert sorted(await asyncio.gather(*claims)) == [False] * 9 + [True]


async def test_set_totp_rejects_a_secret_that_is_not_base32(store: AccountStore) -> None:
    await store.add(make_account("anna"))
    with pytest.raises(ValueError, match="totp"):
        await store.set_totp("anna", "not base32!")


async def test_set_password_rejects_empty_hash(store: AccountStore) -> None:
    anna = make_account("anna")
    await store.add(anna)
    with pytest.raises(ValueError, match="password hash"):
        await store.set_password("anna", "")
    assert await store.get("anna") == anna


async def test_persists_and_round_trips(backend: Backend) -> None:
    anna = make_account("anna", helplines=("stopitnow", "other"))
    await backend.store.add(anna)
    assert await backend.reopen().get("anna") == anna


async def test_sees_what_another_process_writes(backend: Backend) -> None:
    server, cli = backend.store, backend.reopen()
    assert await server.list() == []
    await cli.add(make_account("anna"))
    assert await server.get("anna") is not None
    await cli.remove("anna")
    assert await server.get("anna") is None


async def test_write_keeps_what_another_writer_added(backend: Backend) -> None:
    one, two = backend.store, backend.reopen()
    await one.list()
    await two.add(make_account("bert"))
    await one.add(make_account("anna"))  # must not drop bert
    assert [a.username for a in await two.list()] == ["anna", "bert"]


async def test_no_plaintext_password_stored(backend: Backend) -> None:
    await backend.store.add(make_account("anna", password="secret-horse-battery"))
    await backend.store.set_password("anna", crypto.hash_password("other-secret-staple"))
    text = await backend.stored_text()
    assert "anna" in text
    assert "secret-horse-battery" not in text
    assert "other-secret-staple" not in text
    account = await backend.store.get("anna")
    assert account is not None
    assert account.password_hash.startswith("scrypt$")


# -- authenticate ----------------------------------------------------------------------------


async def test_authenticate(store: AccountStore) -> None:
    anna = make_account("anna")
    await store.add(anna)
    assert await authenticate(store, "anna", PASSWORD) == anna
    assert await authenticate(store, "anna", PASSWORD + "x") is None
    assert await authenticate(store, "anna", "") is None


async def test_authenticate_unknown_user_spends_a_dummy_verify(
    store: AccountStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    dummies: list[str] = []
    real_dummy = crypto.verify_dummy_password

    def spy(password: str) -> None:
        dummies.append(password)
        real_dummy(password)

    monkeypatch.setattr(crypto, "verify_dummy_password", spy)
    await store.add(make_account("anna"))
    assert await authenticate(store, "nobody", PASSWORD) is None
    assert await authenticate(store, "Not Valid!", PASSWORD) is None
    assert len(dummies) == 2
    assert await authenticate(store, "anna", "wrong password!") is None
    assert len(dummies) == 2  # a known user pays for the real verify instead


async def test_authenticate_refuses_huge_password(store: AccountStore) -> None:
    huge = "x" * 100_000
    await store.add(make_account("anna", password=huge))  # cannot happen via the CLI
    assert await authenticate(store, "anna", huge) is None


# -- demo accounts ---------------------------------------------------------------------------


async def test_no_demo_accounts_without_demo_config(store: AccountStore) -> None:
    assert await ensure_demo_accounts(store, make_config(demo=False)) == []
    assert await store.list() == []


async def test_demo_accounts_created_once(backend: Backend) -> None:
    store = backend.store
    config = make_config(demo=True, ids=("stopitnow", "other"))
    created = await ensure_demo_accounts(store, config)
    assert [(name, role) for name, _, role in created] == [
        ("demo-counselor", "counselor"),
        ("demo-manager", "manager"),
    ]
    for username, password, role in created:
        assert len(password) >= 16
        account = await authenticate(store, username, password)
        assert account is not None
        assert account.role == role
        assert account.helplines == ()
    counselor = await store.get("demo-counselor")
    assert counselor is not None
    assert counselor.display_name == "Demo counselor"
    assert counselor.serves("stopitnow") and counselor.serves("other")
    assert created[0][1] != created[1][1]
    text = await backend.stored_text()
    assert all(password not in text for _, password, _ in created)

    assert await ensure_demo_accounts(store, config) == []
    assert await ensure_demo_accounts(backend.reopen(), config) == []
    # passwords did not change on the second call
    assert await authenticate(store, "demo-manager", created[1][1]) is not None


async def test_demo_accounts_only_missing_ones(store: AccountStore) -> None:
    await store.add(make_account("demo-manager", "manager"))
    created = await ensure_demo_accounts(store, make_config(demo=True))
    assert [name for name, _, _ in created] == ["demo-counselor"]
    assert await authenticate(store, "demo-manager", PASSWORD) is not None


async def test_demo_accounts_from_two_servers_at_once(backend: Backend) -> None:
    config = make_config(demo=True)
    first, second = await asyncio.gather(
        ensure_demo_accounts(backend.store, config), ensure_demo_accounts(backend.reopen(), config)
    )
    made = sorted(name for name, _, _ in first + second)
    assert made == ["demo-counselor", "demo-manager"]  # each made once, by one of them
    for username, password, _ in first + second:
        assert await authenticate(backend.store, username, password) is not None


# -- Redis only ------------------------------------------------------------------------------


def test_redis_store_satisfies_protocol(client: redis.asyncio.Redis) -> None:
    store: AccountStore = RedisAccountStore(client, PREFIX)  # checked by mypy
    assert store is not None


async def test_redis_layout(client: redis.asyncio.Redis) -> None:
    store = RedisAccountStore(client, PREFIX)
    anna = make_account("anna", helplines=("stopitnow",))
    await store.add(anna)
    assert [key async for key in client.scan_iter()] == [b"chatserver:accounts"]
    record = await client.hget("chatserver:accounts", "anna")
    assert record is not None
    # the same fields as an entry of users.json
    assert sorted(json.loads(record)) == [
        "display_name",
        "helplines",
        "password_hash",
        "role",
        "username",
    ]


async def test_redis_prefixes_keep_stores_apart(client: redis.asyncio.Redis) -> None:
    one, two = RedisAccountStore(client, "one:"), RedisAccountStore(client, "two:")
    await one.add(make_account("anna"))
    assert await two.get("anna") is None
    assert await two.list() == []
    assert sorted([key async for key in client.scan_iter()]) == [b"one:accounts"]


async def test_redis_works_with_decoded_responses(redis_url: str) -> None:
    client = redis.asyncio.from_url(redis_url, decode_responses=True)
    try:
        store = RedisAccountStore(client, PREFIX)
        await store.add(make_account("anna"))
        await store.add(make_account("bert"))
        assert [a.username for a in await store.list()] == ["anna", "bert"]
        assert await store.set_password("anna", crypto.hash_password("new password!")) is True
        assert await authenticate(store, "anna", "new password!") is not None
    finally:
        await client.aclose()


async def test_redis_concurrent_add_of_one_name(redis_url: str) -> None:
    clients = [redis.asyncio.from_url(redis_url) for _ in range(8)]
    try:
        candidates = [make_account("anna", role="counselor" if i else "admin") for i in range(8)]
        results = await asyncio.gather(
            *(
                RedisAccountStore(client, PREFIX).add(account)
                for client, account in zip(clients, candidates, strict=True)
            ),
            return_exceptions=True,
        )
        winners = [i for i, result in enumerate(results) if result is None]
        assert len(winners) == 1
        assert all(isinstance(r, AccountExists) for r in results if r is not None)
        assert await RedisAccountStore(clients[0], PREFIX).get("anna") == candidates[winners[0]]
    finally:
        for client in clients:
            await client.aclose()


async def test_redis_set_password_does_not_resurrect_a_removed_account(
    client: redis.asyncio.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, other = RedisAccountStore(client, PREFIX), RedisAccountStore(client, PREFIX)
    await store.add(make_account("anna"))
    real_replace = store._replace

    async def removed_meanwhile(username: str, current: bytes | str, new: str) -> int:
        await other.remove(username)  # between set_password's read and its write
        return await real_replace(username, current, new)

    monkeypatch.setattr(store, "_replace", removed_meanwhile)
    assert await store.set_password("anna", crypto.hash_password("new password!")) is False
    assert await store.get("anna") is None
    assert await client.exists("chatserver:accounts") == 0


async def test_redis_set_password_retries_after_a_concurrent_change(
    client: redis.asyncio.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, other = RedisAccountStore(client, PREFIX), RedisAccountStore(client, PREFIX)
    await store.add(make_account("anna"))
    theirs, ours = crypto.hash_password("their password"), crypto.hash_password("our password")
    real_replace = store._replace
    calls = 0

    async def changed_meanwhile(username: str, current: bytes | str, new: str) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            assert await other.set_password(username, theirs)
        return await real_replace(username, current, new)

    monkeypatch.setattr(store, "_replace", changed_meanwhile)
    assert await store.set_password("anna", ours) is True
    assert calls == 2
    account = await other.get("anna")
    assert account is not None
    assert account.password_hash == ours


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ("not json", "not valid JSON"),
        ("[]", "not an object"),
        ('{"username": "anna"}', "missing field"),
        (
            '{"username": "anna", "role": "root", "display_name": "A", "password_hash": "x"}',
            "role",
        ),
        (
            '{"username": "anna", "role": "admin", "display_name": 5, "password_hash": "x"}',
            "display_name: not a string",
        ),
        (
            '{"username": "anna", "role": "admin", "display_name": "A", "password_hash": "x", '
            '"helplines": "all"}',
            "helplines",
        ),
        (
            '{"username": "bert", "role": "admin", "display_name": "A", "password_hash": "x"}',
            "username: 'bert' does not match",
        ),
        (
            '{"username": "anna", "role": "admin", "display_name": "A\\n", "password_hash": "x"}',
            "display name",
        ),
        (
            '{"username": "anna", "role": "admin", "display_name": "A", "password_hash": ""}',
            "password hash",
        ),
    ],
)
async def test_redis_corrupt_record_names_key_field_and_problem(
    client: redis.asyncio.Redis, record: str, problem: str
) -> None:
    await client.hset("chatserver:accounts", "anna", record)
    store = RedisAccountStore(client, PREFIX)
    reads: list[Callable[[], Awaitable[object]]] = [
        lambda: store.get("anna"),
        store.list,
        lambda: store.set_password("anna", "scrypt$y"),
    ]
    for read in reads:
        with pytest.raises(AccountRecordError, match=re.escape(problem)) as info:
            await read()
        assert "'chatserver:accounts'" in str(info.value)
        assert "'anna'" in str(info.value)
        assert isinstance(info.value, AccountFileError)  # reported like a broken users.json
    with pytest.raises(AccountExists):
        await store.add(make_account("anna"))
    assert await client.hget("chatserver:accounts", "anna") == record.encode()  # left alone
