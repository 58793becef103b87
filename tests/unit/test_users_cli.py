"""`chatserver users ...` parsing and commands, against a FileAccountStore in tmp_path."""

from __future__ import annotations

import argparse
import getpass
import io
import json
from pathlib import Path
from types import MappingProxyType
from typing import Protocol
from zoneinfo import ZoneInfo

import pytest

from chatserver import crypto, totp
from chatserver.accounts import FileAccountStore, authenticate
from chatserver.config import Config, HelplineConfig, ServerConfig
from chatserver.users_cli import add_users_parser, run_users_command

PASSWORD = "a long enough password"

CONFIG = Config(
    file=Path("x/helplines.toml"),
    timezone=ZoneInfo("Europe/Amsterdam"),
    helplines=tuple(
        HelplineConfig(
            id=helpline_id,
            name=helpline_id,
            max_queue=25,
            last_admission_minutes=10,
            max_chats_per_counselor=2,
            hours=MappingProxyType({d: () for d in range(7)}),
        )
        for helpline_id in ("stopitnow", "other")
    ),
    server=ServerConfig(),
)


@pytest.fixture(autouse=True)
def fast_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "SCRYPT_N", 2**10)


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any prompt a test did not expect fails loudly instead of waiting on a terminal."""

    def refuse(prompt: str = "") -> str:
        raise AssertionError(f"unexpected prompt {prompt!r}")

    monkeypatch.setattr(getpass, "getpass", refuse)


def build_parser() -> argparse.ArgumentParser:
    """The way chatserver.cli is expected to wire it up."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default="config")
    common.add_argument("--data-dir", default="data")
    common.add_argument("--redis", default=None)
    parser = argparse.ArgumentParser(prog="chatserver")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_users_parser(subparsers, [common])
    return parser


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def store(tmp_path: Path) -> FileAccountStore:
    return FileAccountStore(tmp_path / "data")


class Run(Protocol):
    async def __call__(self, argv: list[str], stdin: str = "") -> Result: ...


@pytest.fixture
def run(store: FileAccountStore) -> Run:
    """Parse argv as chatserver.cli would and run it against the tmp_path store."""

    async def run(argv: list[str], stdin: str = "") -> Result:
        args = build_parser().parse_args(argv)
        assert args.command == "users"
        out, err = io.StringIO(), io.StringIO()
        code = await run_users_command(args, store, CONFIG, out, io.StringIO(stdin), err)
        return Result(code, out.getvalue(), err.getvalue())

    return run


async def add(run: Run, *argv: str, password: str = PASSWORD) -> Result:
    return await run(["users", "add", *argv, "--password-stdin"], password + "\n")


# -- parsing ---------------------------------------------------------------------------------


def test_parser_shape() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["users", "add", "anna", "--role", "counselor", "--helpline", "stopitnow",
         "--helpline", "other", "--display-name", "Anna", "--password-stdin",
         "--data-dir", "/srv/chat", "--redis", "redis://r"]
    )  # fmt: skip
    assert args.command == "users"
    assert args.users_command == "add"
    assert args.username == "anna"
    assert args.role == "counselor"
    assert args.helplines == ["stopitnow", "other"]
    assert args.display_name == "Anna"
    assert args.password_stdin is True
    assert args.data_dir == "/srv/chat"
    assert args.redis == "redis://r"

    args = parser.parse_args(["users", "list", "--config", "cfg"])
    assert (args.users_command, args.config, args.data_dir) == ("list", "cfg", "data")
    args = parser.parse_args(["users", "remove", "anna"])
    assert (args.users_command, args.username) == ("remove", "anna")
    args = parser.parse_args(["users", "passwd", "anna"])
    assert (args.users_command, args.username, args.password_stdin) == ("passwd", "anna", False)


def test_parser_requires_a_subcommand_and_role(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["users"])
    with pytest.raises(SystemExit):
        parser.parse_args(["users", "add", "anna"])


# -- add -------------------------------------------------------------------------------------


async def test_add_with_password_stdin(run: Run, store: FileAccountStore) -> None:
    result = await add(run, "anna", "--role", "counselor")
    assert (result.code, result.err) == (0, "")
    assert "anna" in result.out
    assert PASSWORD not in result.out
    account = await authenticate(store, "anna", PASSWORD)
    assert account is not None
    assert (account.role, account.display_name, account.helplines) == ("counselor", "anna", ())
    assert PASSWORD not in store.path.read_text()


async def test_add_with_helplines_and_display_name(run: Run, store: FileAccountStore) -> None:
    result = await add(
        run, "anna", "--role", "counselor", "--helpline", "other", "--helpline", "stopitnow",
        "--helpline", "other", "--display-name", "Anna de Vries",
    )  # fmt: skip
    assert result.code == 0, result.err
    account = await store.get("anna")
    assert account is not None
    assert account.helplines == ("other", "stopitnow")
    assert account.display_name == "Anna de Vries"


async def test_add_strips_only_the_newline(run: Run, store: FileAccountStore) -> None:
    password = "  spaces count too  "
    result = await run(
        ["users", "add", "anna", "--role", "admin", "--password-stdin"],
        password + "\r\nsecond line ignored\n",
    )
    assert result.code == 0, result.err
    assert await authenticate(store, "anna", password) is not None


async def test_add_password_without_newline(run: Run, store: FileAccountStore) -> None:
    result = await run(["users", "add", "anna", "--role", "admin", "--password-stdin"], PASSWORD)
    assert result.code == 0, result.err
    assert await authenticate(store, "anna", PASSWORD) is not None


async def test_add_prompts_twice(
    run: Run, store: FileAccountStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return PASSWORD

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    result = await run(["users", "add", "anna", "--role", "manager"])
    assert result.code == 0, result.err
    assert len(prompts) == 2
    assert await authenticate(store, "anna", PASSWORD) is not None


async def test_add_prompt_mismatch(
    run: Run, store: FileAccountStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([PASSWORD, PASSWORD + "!"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    result = await run(["users", "add", "anna", "--role", "manager"])
    assert result.code == 1
    assert "do not match" in result.err
    assert PASSWORD not in result.err
    assert await store.get("anna") is None


async def test_add_prompt_eof(
    run: Run, store: FileAccountStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def eof(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr(getpass, "getpass", eof)
    result = await run(["users", "add", "anna", "--role", "manager"])
    assert result.code == 1
    assert "no password" in result.err


async def test_add_short_password(run: Run, store: FileAccountStore) -> None:
    result = await add(run, "anna", "--role", "admin", password="elevenchars")
    assert result.code == 1
    assert "at least 12" in result.err
    assert "elevenchars" not in result.err + result.out
    assert await store.get("anna") is None
    assert (await add(run, "anna", "--role", "admin", password="twelve chars")).code == 0


async def test_add_long_password(run: Run, store: FileAccountStore) -> None:
    result = await add(run, "anna", "--role", "admin", password="x" * 1025)
    assert result.code == 1
    assert "too long" in result.err


async def test_add_empty_stdin(run: Run, store: FileAccountStore) -> None:
    result = await run(["users", "add", "anna", "--role", "admin", "--password-stdin"], "")
    assert result.code == 1
    assert "stdin" in result.err
    assert await store.get("anna") is None


async def test_add_existing(run: Run, store: FileAccountStore) -> None:
    assert (await add(run, "anna", "--role", "counselor")).code == 0
    result = await add(run, "anna", "--role", "admin", password="another password")
    assert result.code == 1
    assert "already exists" in result.err
    account = await authenticate(store, "anna", PASSWORD)
    assert account is not None and account.role == "counselor"


async def test_add_existing_fails_before_asking(run: Run) -> None:
    assert (await add(run, "anna", "--role", "counselor")).code == 0
    result = await run(["users", "add", "anna", "--role", "counselor"])
    assert result.code == 1  # no_terminal would have raised on a prompt
    assert "already exists" in result.err


async def test_add_bad_role(run: Run, store: FileAccountStore) -> None:
    result = await add(run, "anna", "--role", "root")
    assert result.code == 1
    assert "unknown role 'root'" in result.err
    assert "counselor, manager, admin" in result.err
    assert await store.list() == []


async def test_add_bad_username(run: Run, store: FileAccountStore) -> None:
    result = await add(run, "Anna Smith", "--role", "admin")
    assert result.code == 1
    assert "invalid username" in result.err
    assert result.err.count("\n") == 1


async def test_add_bad_display_name(run: Run, store: FileAccountStore) -> None:
    result = await add(run, "anna", "--role", "admin", "--display-name", "x" * 61)
    assert result.code == 1
    assert "display name" in result.err


async def test_add_unknown_helpline(run: Run, store: FileAccountStore) -> None:
    result = await add(run, "anna", "--role", "counselor", "--helpline", "nope")
    assert result.code == 1
    assert "unknown helpline 'nope'" in result.err
    assert "stopitnow, other" in result.err
    assert await store.list() == []


async def test_helpline_only_for_counselors(run: Run, store: FileAccountStore) -> None:
    result = await add(run, "anna", "--role", "manager", "--helpline", "stopitnow")
    assert result.code == 1
    assert "only for counselors" in result.err


async def test_errors_go_to_out_without_err(store: FileAccountStore) -> None:
    args = build_parser().parse_args(["users", "remove", "nobody"])
    out = io.StringIO()
    assert await run_users_command(args, store, CONFIG, out, io.StringIO()) == 1
    assert "unknown user 'nobody'" in out.getvalue()


async def test_broken_users_file_is_one_line(run: Run, store: FileAccountStore) -> None:
    store.data_dir.mkdir()
    store.path.write_text("{broken")
    result = await run(["users", "list"])
    assert result.code == 1
    assert str(store.path) in result.err
    assert result.err.count("\n") == 1


# -- list ------------------------------------------------------------------------------------


async def test_list(run: Run, store: FileAccountStore) -> None:
    await add(run, "zoe", "--role", "manager", "--display-name", "Zoë")
    await add(run, "anna", "--role", "counselor", "--helpline", "stopitnow")
    await add(run, "bert", "--role", "counselor")
    result = await run(["users", "list"])
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["USERNAME", "ROLE", "DISPLAY", "NAME", "HELPLINES"]
    assert [line.split()[0] for line in lines[1:]] == ["anna", "bert", "zoe"]
    assert lines[1].split() == ["anna", "counselor", "anna", "stopitnow"]
    assert lines[2].split() == ["bert", "counselor", "bert", "all"]
    assert lines[3].split()[:3] == ["zoe", "manager", "Zoë"]
    # columns line up
    assert len({line.index(line.split()[1]) for line in lines[1:]}) == 1
    assert "scrypt" not in result.out
    for account in json.loads(store.path.read_text())["accounts"]:
        assert account["password_hash"] not in result.out


async def test_list_empty(run: Run) -> None:
    result = await run(["users", "list"])
    assert result.code == 0
    assert result.out.splitlines()[0].startswith("USERNAME")
    assert len(result.out.splitlines()) == 1


# -- remove ----------------------------------------------------------------------------------


async def test_remove(run: Run, store: FileAccountStore) -> None:
    await add(run, "anna", "--role", "counselor")
    await add(run, "bert", "--role", "counselor")
    result = await run(["users", "remove", "anna"])
    assert result.code == 0
    assert "anna" in result.out
    assert [a.username for a in await store.list()] == ["bert"]


async def test_remove_unknown(run: Run) -> None:
    result = await run(["users", "remove", "nobody"])
    assert result.code == 1
    assert "unknown user 'nobody'" in result.err


# -- passwd ----------------------------------------------------------------------------------


async def test_passwd_stdin(run: Run, store: FileAccountStore) -> None:
    await add(run, "anna", "--role", "counselor")
    result = await run(["users", "passwd", "anna", "--password-stdin"], "brand new password\n")
    assert result.code == 0, result.err
    assert "brand new password" not in result.out
    assert await authenticate(store, "anna", "brand new password") is not None
    assert await authenticate(store, "anna", PASSWORD) is None


async def test_passwd_prompt(
    run: Run, store: FileAccountStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add(run, "anna", "--role", "counselor")
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": "brand new password")
    result = await run(["users", "passwd", "anna"])
    assert result.code == 0, result.err
    assert await authenticate(store, "anna", "brand new password") is not None


async def test_passwd_unknown_user_fails_before_asking(run: Run) -> None:
    result = await run(["users", "passwd", "nobody"])
    assert result.code == 1
    assert "unknown user 'nobody'" in result.err


async def test_passwd_short(run: Run, store: FileAccountStore) -> None:
    await add(run, "anna", "--role", "counselor")
    result = await run(["users", "passwd", "anna", "--password-stdin"], "short\n")
    assert result.code == 1
    assert "at least 12" in result.err
    assert await authenticate(store, "anna", PASSWORD) is not None


# -- totp ------------------------------------------------------------------------------------


async def test_totp_stores_a_secret_and_prints_its_uri_once(
    run: Run, store: FileAccountStore
) -> None:
    await add(run, "anna", "--role", "counselor")
    result = await run(["users", "totp", "anna"])
    assert result.code == 0, result.err
    account = await store.get("anna")
    assert account is not None and account.totp_secret is not None
    [uri] = [line for line in result.out.splitlines() if line.startswith("otpauth://totp/")]
    assert f"secret={account.totp_secret}" in uri
    assert "digits=6" in uri and "period=30" in uri and "algorithm=SHA1" in uri
    assert totp.verify(account.totp_secret, totp.code_at(account.totp_secret, 1e9), 1e9)
    # The password is untouched.
    assert await authenticate(store, "anna", PASSWORD) is not None


async def test_totp_again_replaces_the_secret(run: Run, store: FileAccountStore) -> None:
    await add(run, "anna", "--role", "counselor")
    await run(["users", "totp", "anna"])
    first = await store.get("anna")
    assert (await run(["users", "totp", "anna"])).code == 0
    second = await store.get("anna")
    assert first is not None and second is not None
    assert first.totp_secret != second.totp_secret


async def test_totp_disable_removes_the_secret(
    run: Run, store: FileAccountStore, tmp_path: Path
) -> None:
    await add(run, "anna", "--role", "counselor")
    await run(["users", "totp", "anna"])
    result = await run(["users", "totp", "anna", "--disable"])
    assert result.code == 0, result.err
    assert "otpauth" not in result.out
    account = await store.get("anna")
    assert account is not None and account.totp_secret is None
    assert "totp_secret" not in (tmp_path / "data" / "users.json").read_text()


async def test_totp_unknown_user(run: Run) -> None:
    result = await run(["users", "totp", "nobody"])
    assert result.code == 1
    assert "unknown user 'nobody'" in result.err


async def test_a_users_file_without_totp_fields_still_loads(
    store: FileAccountStore, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    record = {
        "username": "anna",
        "role": "counselor",
        "display_name": "Anna",
        "helplines": [],
        "password_hash": crypto.hash_password(PASSWORD),
    }
    (tmp_path / "data" / "users.json").write_text(json.dumps({"version": 1, "accounts": [record]}))
    account = await store.get("anna")
    assert account is not None and account.totp_secret is None
