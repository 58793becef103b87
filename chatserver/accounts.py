"""Staff accounts (counselors, managers, admins) and where they are kept.

Visitors never have an account. Without Redis, accounts live in users.json under the data dir,
so `chatserver users add` run in another process writes exactly what the server reads.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import secrets
import tempfile
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, cast, get_args

from chatserver import crypto, totp
from chatserver.config import Config

Role = Literal["counselor", "manager", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)

USERS_FILE_NAME = "users.json"
FILE_FORMAT_VERSION = 1
DISPLAY_NAME_MAX = 60
# Longer inputs are refused before hashing, so a login cannot be used to burn CPU.
PASSWORD_MAX_LENGTH = 1024

_USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")


class AccountExists(Exception):
    """add() was given a username that is already taken."""

    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(f"account '{username}' already exists")


class AccountFileError(Exception):
    """users.json cannot be read; str() names the file and the problem."""


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    role: Role
    display_name: str
    # Empty on a counselor means every configured helpline, so new helplines need no edits.
    helplines: tuple[str, ...]
    password_hash: str
    # Base32 TOTP secret when the account logs in with a one-time code too (`users totp`).
    totp_secret: str | None = None

    def serves(self, helpline_id: str) -> bool:
        """Whether this account takes chats of that helpline; only counselors take chats."""
        if self.role != "counselor":
            return False
        return not self.helplines or helpline_id in self.helplines


def credential_generation(account: Account) -> str:
    """A fingerprint of what logs the account in (password hash, TOTP secret).

    Sessions remember it; when `users passwd` or `users totp` changes either, it changes, and
    every older session stops working, in every process, without any list of sessions.
    """
    material = f"{account.password_hash}\0{account.totp_secret or ''}".encode()
    return hashlib.sha256(material).hexdigest()[:32]


def validate_username(username: str) -> str:
    """Return username if it is 2-32 of a-z, 0-9, '.', '_', '-' starting with a letter or digit."""
    if not _USERNAME_RE.fullmatch(username):
        raise ValueError(
            f"invalid username '{username}': use 2-32 characters a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return username


def _is_control(ch: str) -> bool:
    # Format characters (bidi overrides, invisible marks) could disguise a name; the zero-width
    # (non-)joiners are allowed because emoji and some scripts need them.
    category = unicodedata.category(ch)
    if category == "Cf":
        return ch not in "\u200c\u200d"
    return category in ("Cc", "Zl", "Zp")


def validate_display_name(display_name: str) -> str:
    """Return display_name if it is 1-60 characters with no control characters."""
    if not 1 <= len(display_name) <= DISPLAY_NAME_MAX:
        raise ValueError(f"display name must be 1 to {DISPLAY_NAME_MAX} characters")
    if any(_is_control(ch) for ch in display_name):
        raise ValueError("display name must not contain control characters")
    if display_name.strip() != display_name or not display_name.strip():
        raise ValueError("display name must not start or end with whitespace")
    return display_name


def validate_account(account: Account) -> Account:
    """Check every field, so no store ever holds an account the rest of the code cannot show."""
    validate_username(account.username)
    validate_display_name(account.display_name)
    if account.role not in ROLES:
        raise ValueError(f"invalid role '{account.role}': use one of {', '.join(ROLES)}")
    if not all(isinstance(h, str) and h for h in account.helplines):
        raise ValueError("helpline ids must be non-empty strings")
    if len(set(account.helplines)) != len(account.helplines):
        raise ValueError("helpline ids must not repeat")
    if not isinstance(account.password_hash, str) or not account.password_hash:
        raise ValueError("password hash must be a non-empty string")
    if account.totp_secret is not None and not totp.valid_secret(account.totp_secret):
        raise ValueError("totp secret must be base32 of at least 16 bytes")
    return account


class AccountStore(Protocol):
    """Where accounts live; kept small so a Redis implementation is easy to write."""

    async def get(self, username: str) -> Account | None: ...

    async def list(self) -> builtins.list[Account]:
        """All accounts, sorted by username."""
        ...

    async def add(self, account: Account) -> None:
        """Store a new account; raise AccountExists if the username is taken."""
        ...

    async def remove(self, username: str) -> bool:
        """Delete an account; False if there was none."""
        ...

    async def set_password(self, username: str, password_hash: str) -> bool:
        """Replace the password hash; False if there is no such account."""
        ...

    async def set_totp(self, username: str, totp_secret: str | None) -> bool:
        """Set or (None) remove the TOTP secret; False if there is no such account."""
        ...

    async def claim_totp_step(self, username: str, step: int) -> bool:
        """Record that a one-time code of this time step was used; False if this step or a
        later one was used already (a replayed code)."""
        ...


def _account_to_json(account: Account) -> dict[str, Any]:
    return {
        "username": account.username,
        "role": account.role,
        "display_name": account.display_name,
        "helplines": list(account.helplines),
        "password_hash": account.password_hash,
        # Only when set, so files of accounts without TOTP look exactly as before.
        **({"totp_secret": account.totp_secret} if account.totp_secret is not None else {}),
    }


def totp_secret_from_json(raw: dict[str, Any]) -> tuple[str | None, str | None]:
    """(secret, problem): the optional totp_secret field of a stored account."""
    secret = raw.get("totp_secret")
    if secret is not None and not isinstance(secret, str):
        return None, "totp_secret: not a string"
    return secret, None


def _account_from_json(path: Path, index: int, raw: object) -> Account:
    where = f"{path}: accounts[{index}]"
    if not isinstance(raw, dict):
        raise AccountFileError(f"{where}: not an object")
    try:
        username, role = raw["username"], raw["role"]
        display_name, password_hash = raw["display_name"], raw["password_hash"]
        helplines = raw.get("helplines", [])
    except KeyError as exc:
        raise AccountFileError(f"{where}: missing field {exc}") from None
    for name, value in (
        ("username", username),
        ("role", role),
        ("display_name", display_name),
        ("password_hash", password_hash),
    ):
        if not isinstance(value, str):
            raise AccountFileError(f"{where}: {name}: not a string")
    if not isinstance(helplines, list) or not all(isinstance(h, str) for h in helplines):
        raise AccountFileError(f"{where}: helplines: not a list of strings")
    if role not in ROLES:
        raise AccountFileError(f"{where}: role: '{role}' is not one of {', '.join(ROLES)}")
    totp_secret, problem = totp_secret_from_json(raw)
    if problem:
        raise AccountFileError(f"{where}: {problem}")
    account = Account(
        username=username,
        role=cast(Role, role),
        display_name=display_name,
        helplines=tuple(helplines),
        password_hash=password_hash,
        totp_secret=totp_secret,
    )
    try:
        return validate_account(account)
    except ValueError as exc:
        raise AccountFileError(f"{where}: {exc}") from None


def _signature(stat: os.stat_result) -> tuple[int, int, int]:
    # The inode changes on every os.replace, so coarse mtime resolution cannot hide a write.
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


class FileAccountStore:
    """Accounts in <data dir>/users.json, cached in memory and re-read when the file changes.

    Writes go to a temp file that replaces users.json, so a reader never sees half a file; a
    lock file serialises read-modify-write between the server and the `users` command.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / USERS_FILE_NAME
        self._lock_path = self.data_dir / (USERS_FILE_NAME + ".lock")
        self._accounts: dict[str, Account] = {}
        # (inode, mtime_ns, size) of the file _accounts reflects; None: no file (yet)
        self._signature: tuple[int, int, int] | None = None
        # username -> last TOTP time step used. Only the serving process logs anyone in, so
        # memory suffices; after a restart a code seen in the last 90 s could pass once more.
        self._totp_steps: dict[str, int] = {}

    # -- reading -----------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Re-read users.json if it changed since last read (another process may have written)."""
        try:
            if _signature(os.stat(self.path)) == self._signature:
                return
            with open(self.path, "rb") as fh:
                signature = _signature(os.fstat(fh.fileno()))
                data = fh.read()
        except FileNotFoundError:
            self._accounts = {}
            self._signature = None
            return
        self._accounts = self._parse(data)
        self._signature = signature

    def _parse(self, data: bytes) -> dict[str, Account]:
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AccountFileError(f"{self.path}: not valid JSON: {exc}") from None
        if not isinstance(document, dict) or not isinstance(document.get("accounts"), list):
            raise AccountFileError(f"{self.path}: expected an object with an 'accounts' list")
        if document.get("version") != FILE_FORMAT_VERSION:
            raise AccountFileError(
                f"{self.path}: unsupported version {document.get('version')!r}, "
                f"expected {FILE_FORMAT_VERSION}"
            )
        accounts: dict[str, Account] = {}
        for index, raw in enumerate(document["accounts"]):
            account = _account_from_json(self.path, index, raw)
            if account.username in accounts:
                raise AccountFileError(
                    f"{self.path}: accounts[{index}]: duplicate username '{account.username}'"
                )
            accounts[account.username] = account
        return accounts

    # -- writing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the lock file and work on the current file content."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._refresh()
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _write(self, accounts: dict[str, Account]) -> None:
        document = {
            "version": FILE_FORMAT_VERSION,
            "accounts": [_account_to_json(accounts[name]) for name in sorted(accounts)],
        }
        payload = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        fd, tmp_name = tempfile.mkstemp(dir=self.data_dir, prefix=".users.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_name, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        self._fsync_dir()
        self._accounts = accounts
        self._signature = _signature(os.stat(self.path))

    def _fsync_dir(self) -> None:
        # Makes the rename itself durable; best effort on platforms that refuse it.
        try:
            dir_fd = os.open(self.data_dir, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)

    # -- AccountStore ------------------------------------------------------------------------

    async def get(self, username: str) -> Account | None:
        self._refresh()
        return self._accounts.get(username)

    async def list(self) -> builtins.list[Account]:
        self._refresh()
        return [self._accounts[name] for name in sorted(self._accounts)]

    async def add(self, account: Account) -> None:
        validate_account(account)
        with self._locked():
            if account.username in self._accounts:
                raise AccountExists(account.username)
            self._write({**self._accounts, account.username: account})

    async def remove(self, username: str) -> bool:
        with self._locked():
            if username not in self._accounts:
                return False
            accounts = dict(self._accounts)
            del accounts[username]
            self._write(accounts)
            return True

    async def set_password(self, username: str, password_hash: str) -> bool:
        return self._update(username, password_hash=password_hash)

    async def set_totp(self, username: str, totp_secret: str | None) -> bool:
        return self._update(username, totp_secret=totp_secret)

    async def claim_totp_step(self, username: str, step: int) -> bool:
        if step <= self._totp_steps.get(username, -1):
            return False
        self._totp_steps[username] = step
        return True

    def _update(self, username: str, **changes: Any) -> bool:
        with self._locked():
            account = self._accounts.get(username)
            if account is None:
                return False
            updated = validate_account(dataclasses.replace(account, **changes))
            self._write({**self._accounts, username: updated})
            return True


async def authenticate(store: AccountStore, username: str, password: str) -> Account | None:
    """The account if username and password match, else None, in the same time either way.

    Hashing runs in a thread so a login does not stall every chat on this process.
    """
    account = await store.get(username) if _USERNAME_RE.fullmatch(username) else None
    if len(password) > PASSWORD_MAX_LENGTH:
        password = ""
        account = None
    if account is None:
        await asyncio.to_thread(crypto.verify_dummy_password, password)
        return None
    if await asyncio.to_thread(crypto.verify_password, password, account.password_hash):
        return account
    return None


DEMO_ACCOUNTS: tuple[tuple[str, Role, str], ...] = (
    ("demo-counselor", "counselor", "Demo counselor"),
    ("demo-manager", "manager", "Demo manager"),
)


async def ensure_demo_accounts(store: AccountStore, config: Config) -> list[tuple[str, str, Role]]:
    """Create the demo counselor and manager once, only for a demo config.

    Returns (username, password, role) for each account created so the caller can print how to
    log in; the passwords are random, so a demo left running is not open to anyone.
    """
    if not config.server.demo_accounts:
        return []
    created: list[tuple[str, str, Role]] = []
    for username, role, display_name in DEMO_ACCOUNTS:
        if await store.get(username) is not None:
            continue
        password = secrets.token_urlsafe(12)
        account = Account(
            username=username,
            role=role,
            display_name=display_name,
            helplines=(),
            password_hash=await asyncio.to_thread(crypto.hash_password, password),
        )
        try:
            await store.add(account)
        except AccountExists:
            continue  # another process made it first
        created.append((username, password, role))
    return created
