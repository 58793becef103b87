"""Accounts: validation, the users.json store, authentication and demo accounts."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest

from chatserver import accounts, crypto
from chatserver.accounts import (
    ROLES,
    Account,
    AccountExists,
    AccountFileError,
    AccountStore,
    FileAccountStore,
    authenticate,
    ensure_demo_accounts,
    validate_display_name,
    validate_username,
)
from chatserver.config import Config, HelplineConfig, ServerConfig

PASSWORD = "a long enough password"


@pytest.fixture(autouse=True)
def fast_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "SCRYPT_N", 2**10)


def make_config(*, demo: bool, ids: tuple[str, ...] = ("stopitnow",)) -> Config:
    return Config(
        file=Path("x/helplines.toml"),
        timezone=ZoneInfo("Europe/Amsterdam"),
        helplines=tuple(
            HelplineConfig(
                id=helpline_id,
                name=helpline_id.title(),
                max_queue=25,
                last_admission_minutes=10,
                max_chats_per_counselor=2,
                hours=MappingProxyType({d: () for d in range(7)}),
            )
            for helpline_id in ids
        ),
        server=ServerConfig(demo_accounts=demo),
    )


def make_account(
    username: str = "anna",
    role: accounts.Role = "counselor",
    helplines: tuple[str, ...] = (),
    password: str = PASSWORD,
) -> Account:
    return Account(
        username=username,
        role=role,
        display_name=username.title(),
        helplines=helplines,
        password_hash=crypto.hash_password(password),
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(data_dir: Path) -> FileAccountStore:
    return FileAccountStore(data_dir)


# -- validation ------------------------------------------------------------------------------


def test_file_store_satisfies_protocol(data_dir: Path) -> None:
    store: AccountStore = FileAccountStore(data_dir)  # checked by mypy
    assert store is not None


def test_roles() -> None:
    assert ROLES == ("counselor", "manager", "admin")


@pytest.mark.parametrize("name", ["ab", "anna", "anna.de-vries_2", "0day", "a" * 32, "x.y"])
def test_valid_usernames(name: str) -> None:
    assert validate_username(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "a", "a" * 33, "Anna", ".anna", "-anna", "_anna", "an na", "anna!", "anna\n", "ännä"],
)
def test_invalid_usernames(name: str) -> None:
    with pytest.raises(ValueError, match="invalid username"):
        validate_username(name)


@pytest.mark.parametrize("name", ["A", "Anna de Vries", "x" * 60, "Zoë 🌷", "👩\u200d⚕️ Sam"])
def test_valid_display_names(name: str) -> None:
    assert validate_display_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "x" * 61, "Anna\nde Vries", "Anna\x00", "Anna\x7f", "\u202eanna", "Anna\u2028", " Anna"],
)
def test_invalid_display_names(name: str) -> None:
    with pytest.raises(ValueError, match="display name"):
        validate_display_name(name)


def test_serves() -> None:
    everything = make_account(helplines=())
    some = make_account(helplines=("stopitnow", "other"))
    manager = make_account(role="manager")
    assert everything.serves("stopitnow")
    assert everything.serves("anything")
    assert some.serves("other")
    assert not some.serves("third")
    assert not manager.serves("stopitnow")


# -- FileAccountStore ------------------------------------------------------------------------


async def test_empty_store_without_a_file(store: FileAccountStore, data_dir: Path) -> None:
    assert await store.get("anna") is None
    assert await store.list() == []
    assert await store.remove("anna") is False
    assert await store.set_password("anna", crypto.hash_password(PASSWORD)) is False
    assert not (data_dir / "users.json").exists()


async def test_add_get_list(store: FileAccountStore) -> None:
    zoe, anna = make_account("zoe", "manager"), make_account("anna", helplines=("stopitnow",))
    await store.add(zoe)
    await store.add(anna)
    assert await store.get("anna") == anna
    assert await store.get("zoe") == zoe
    assert await store.get("nobody") is None
    assert [a.username for a in await store.list()] == ["anna", "zoe"]


async def test_add_existing_raises(store: FileAccountStore) -> None:
    await store.add(make_account("anna"))
    with pytest.raises(AccountExists):
        await store.add(make_account("anna", "admin"))
    account = await store.get("anna")
    assert account is not None
    assert account.role == "counselor"


async def test_add_rejects_invalid_account(store: FileAccountStore) -> None:
    with pytest.raises(ValueError):
        await store.add(make_account("Not Valid"))
    bad_role = Account("anna", "root", "Anna", (), "scrypt$x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="role"):
        await store.add(bad_role)
    assert await store.list() == []


async def test_remove(store: FileAccountStore) -> None:
    await store.add(make_account("anna"))
    await store.add(make_account("bert"))
    assert await store.remove("anna") is True
    assert await store.remove("anna") is False
    assert [a.username for a in await store.list()] == ["bert"]
    assert [a.username for a in await FileAccountStore(store.data_dir).list()] == ["bert"]


async def test_set_password(store: FileAccountStore) -> None:
    await store.add(make_account("anna"))
    new_hash = crypto.hash_password("another long password")
    assert await store.set_password("anna", new_hash) is True
    account = await FileAccountStore(store.data_dir).get("anna")
    assert account is not None
    assert account.password_hash == new_hash
    assert account.display_name == "Anna"


async def test_persists_and_round_trips(store: FileAccountStore, data_dir: Path) -> None:
    anna = make_account("anna", helplines=("stopitnow", "other"))
    await store.add(anna)
    assert await FileAccountStore(data_dir).get("anna") == anna


async def test_file_and_dir_modes(store: FileAccountStore, data_dir: Path) -> None:
    await store.add(make_account("anna"))
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(data_dir / "users.json").st_mode) == 0o600
    await store.set_password("anna", crypto.hash_password("another long password"))
    assert stat.S_IMODE(os.stat(data_dir / "users.json").st_mode) == 0o600
    # no temp files left behind
    assert sorted(p.name for p in data_dir.iterdir()) == ["users.json", "users.json.lock"]


async def test_existing_data_dir_is_used(tmp_path: Path) -> None:
    store = FileAccountStore(tmp_path)
    await store.add(make_account("anna"))
    assert (tmp_path / "users.json").exists()


async def test_no_plaintext_password_in_file(store: FileAccountStore, data_dir: Path) -> None:
    await store.add(make_account("anna", password="secret-horse-battery"))
    await store.set_password("anna", crypto.hash_password("other-secret-staple"))
    text = (data_dir / "users.json").read_text()
    assert "secret-horse-battery" not in text
    assert "other-secret-staple" not in text
    document = json.loads(text)
    assert document["version"] == 1
    assert document["accounts"][0]["password_hash"].startswith("scrypt$")


async def test_reloads_when_another_process_writes(data_dir: Path) -> None:
    server = FileAccountStore(data_dir)
    cli = FileAccountStore(data_dir)
    assert await server.list() == []
    await cli.add(make_account("anna"))
    assert await server.get("anna") is not None
    await cli.remove("anna")
    assert await server.get("anna") is None


async def test_reloads_on_mtime_change(store: FileAccountStore, data_dir: Path) -> None:
    await store.add(make_account("anna"))
    assert await store.get("anna") is not None
    path = data_dir / "users.json"
    document = json.loads(path.read_text())
    document["accounts"][0]["display_name"] = "Anne"  # same length: only mtime tells
    before = path.stat()
    with open(path, "w") as fh:  # in place, same inode
        json.dump(document, fh)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    account = await store.get("anna")
    assert account is not None
    assert account.display_name == "Anne"


async def test_does_not_reread_an_unchanged_file(
    store: FileAccountStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.add(make_account("anna"))
    calls = 0
    real_parse = store._parse

    def counting_parse(data: bytes) -> dict[str, Account]:
        nonlocal calls
        calls += 1
        return real_parse(data)

    monkeypatch.setattr(store, "_parse", counting_parse)
    for _ in range(5):
        await store.get("anna")
    assert calls == 0


async def test_file_deleted_means_no_accounts(store: FileAccountStore, data_dir: Path) -> None:
    await store.add(make_account("anna"))
    (data_dir / "users.json").unlink()
    assert await store.get("anna") is None


async def test_write_updates_from_other_writer_first(data_dir: Path) -> None:
    one, two = FileAccountStore(data_dir), FileAccountStore(data_dir)
    await one.list()
    await two.add(make_account("bert"))
    await one.add(make_account("anna"))  # must not drop bert
    assert [a.username for a in await two.list()] == ["anna", "bert"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json", "not valid JSON"),
        ("[]", "'accounts' list"),
        ('{"version": 2, "accounts": []}', "unsupported version"),
        ('{"version": 1, "accounts": [1]}', "accounts[0]: not an object"),
        ('{"version": 1, "accounts": [{"username": "anna"}]}', "missing field"),
        (
            '{"version": 1, "accounts": [{"username": "anna", "role": "root", '
            '"display_name": "A", "password_hash": "x"}]}',
            "role",
        ),
        (
            '{"version": 1, "accounts": [{"username": "anna", "role": "admin", '
            '"display_name": 5, "password_hash": "x"}]}',
            "display_name: not a string",
        ),
        (
            '{"version": 1, "accounts": [{"username": "anna", "role": "admin", '
            '"display_name": "A", "password_hash": "x", "helplines": "all"}]}',
            "helplines",
        ),
        (
            '{"version": 1, "accounts": [{"username": "Anna", "role": "admin", '
            '"display_name": "A", "password_hash": "x"}]}',
            "invalid username",
        ),
        (
            '{"version": 1, "accounts": ['
            '{"username": "anna", "role": "admin", "display_name": "A", "password_hash": "x"},'
            '{"username": "anna", "role": "admin", "display_name": "B", "password_hash": "y"}]}',
            "duplicate username",
        ),
    ],
)
async def test_broken_file_names_file_and_problem(
    tmp_path: Path, content: str, problem: str
) -> None:
    (tmp_path / "users.json").write_text(content)
    store = FileAccountStore(tmp_path)
    with pytest.raises(AccountFileError, match=re.escape(problem)) as info:
        await store.get("anna")
    assert str(tmp_path / "users.json") in str(info.value)
    with pytest.raises(AccountFileError):
        await store.add(make_account("bert"))
    assert (tmp_path / "users.json").read_text() == content  # left alone


# -- authenticate ----------------------------------------------------------------------------


async def test_authenticate(store: FileAccountStore) -> None:
    anna = make_account("anna")
    await store.add(anna)
    assert await authenticate(store, "anna", PASSWORD) == anna
    assert await authenticate(store, "anna", PASSWORD + "x") is None
    assert await authenticate(store, "anna", "") is None


async def test_authenticate_unknown_user_spends_a_dummy_verify(
    store: FileAccountStore, monkeypatch: pytest.MonkeyPatch
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


async def test_authenticate_refuses_huge_password(store: FileAccountStore) -> None:
    huge = "x" * 100_000
    await store.add(make_account("anna", password=huge))  # cannot happen via the CLI
    assert await authenticate(store, "anna", huge) is None


# -- demo accounts ---------------------------------------------------------------------------


async def test_no_demo_accounts_without_demo_config(store: FileAccountStore) -> None:
    assert await ensure_demo_accounts(store, make_config(demo=False)) == []
    assert await store.list() == []


async def test_demo_accounts_created_once(store: FileAccountStore) -> None:
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
    text = (store.path).read_text()
    assert all(password not in text for _, password, _ in created)

    assert await ensure_demo_accounts(store, config) == []
    assert await ensure_demo_accounts(FileAccountStore(store.data_dir), config) == []
    # passwords did not change on the second call
    assert await authenticate(store, "demo-manager", created[1][1]) is not None


async def test_demo_accounts_only_missing_ones(store: FileAccountStore) -> None:
    await store.add(make_account("demo-manager", "manager"))
    created = await ensure_demo_accounts(store, make_config(demo=True))
    assert [name for name, _, _ in created] == ["demo-counselor"]
    assert await authenticate(store, "demo-manager", PASSWORD) is not None
