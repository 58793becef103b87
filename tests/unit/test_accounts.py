"""Accounts: validation and what only the users.json store does (modes, reloading, errors).

What every AccountStore promises, authentication and demo accounts are tested against each
store in tests/integration/test_account_stores.py.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from chatserver import crypto
from chatserver.accounts import (
    ROLES,
    Account,
    AccountFileError,
    AccountStore,
    FileAccountStore,
    validate_display_name,
    validate_username,
)
from tests.helpers import make_account

PASSWORD = "a long enough password"


@pytest.fixture(autouse=True)
def fast_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "SCRYPT_N", 2**10)


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


async def test_reads_do_not_create_a_file(store: FileAccountStore, data_dir: Path) -> None:
    assert await store.get("anna") is None
    assert await store.remove("anna") is False
    assert await store.set_password("anna", crypto.hash_password(PASSWORD)) is False
    assert not (data_dir / "users.json").exists()


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


async def test_file_format(store: FileAccountStore, data_dir: Path) -> None:
    anna = make_account("anna", helplines=("stopitnow",))
    await store.add(anna)
    document = json.loads((data_dir / "users.json").read_text())
    assert document == {
        "version": 1,
        "accounts": [
            {
                "username": "anna",
                "role": "counselor",
                "display_name": "Anna",
                "helplines": ["stopitnow"],
                "password_hash": anna.password_hash,
            }
        ],
    }


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
