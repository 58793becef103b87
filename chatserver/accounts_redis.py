"""Staff accounts in Redis, for servers that share state through Redis instead of a data dir.

One hash `{prefix}accounts` maps username -> the same JSON object FileAccountStore writes per
account, so moving accounts between the two stores is a copy of records, not a conversion.
`{prefix}totp-step:{username}` holds the last one-time-code time step used, for a while.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
from typing import Any, cast

import redis.asyncio

from chatserver.accounts import (
    ROLES,
    Account,
    AccountExists,
    AccountFileError,
    Role,
    _account_to_json,
    totp_secret_from_json,
    validate_account,
)

# Compare-and-set of one hash field: the new record is written only if the field still holds
# what set_password read, so a concurrent remove is not undone and a concurrent change not lost.
# Returns 1 when written, 0 when the field is gone, -1 when it changed meanwhile.
_REPLACE_IF_UNCHANGED = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 0 end
if current ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


# Raise the account's last used TOTP step to ARGV[1] unless it is there already; 1 if raised.
_CLAIM_TOTP_STEP = """
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
# A step's code is accepted for about 90 s (the step either side); keep the mark well past it.
TOTP_STEP_TTL_MS = 10 * 60 * 1000


class AccountRecordError(AccountFileError):
    """A record in Redis cannot be read; str() names the key, the field and the problem.

    A subclass of AccountFileError so callers that report a broken users.json report this too.
    """


def _text(value: bytes | str) -> str:
    # The client may or may not have been made with decode_responses=True.
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _encode(account: Account) -> str:
    return json.dumps(_account_to_json(account), ensure_ascii=False, separators=(",", ":"))


def _decode(where: str, username: str, data: bytes | str) -> Account:
    """Parse one record with the same checks FileAccountStore applies to users.json."""
    try:
        raw = json.loads(_text(data))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AccountRecordError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise AccountRecordError(f"{where}: not an object")
    try:
        fields = {name: raw[name] for name in ("username", "role", "display_name", "password_hash")}
    except KeyError as exc:
        raise AccountRecordError(f"{where}: missing field {exc}") from None
    for name, value in fields.items():
        if not isinstance(value, str):
            raise AccountRecordError(f"{where}: {name}: not a string")
    helplines = raw.get("helplines", [])
    if not isinstance(helplines, list) or not all(isinstance(h, str) for h in helplines):
        raise AccountRecordError(f"{where}: helplines: not a list of strings")
    if fields["role"] not in ROLES:
        raise AccountRecordError(
            f"{where}: role: '{fields['role']}' is not one of {', '.join(ROLES)}"
        )
    if fields["username"] != username:
        raise AccountRecordError(f"{where}: username: '{fields['username']}' does not match")
    totp_secret, problem = totp_secret_from_json(raw)
    if problem:
        raise AccountRecordError(f"{where}: {problem}")
    account = Account(
        username=fields["username"],
        role=cast(Role, fields["role"]),
        display_name=fields["display_name"],
        helplines=tuple(helplines),
        password_hash=fields["password_hash"],
        totp_secret=totp_secret,
    )
    try:
        return validate_account(account)
    except ValueError as exc:
        raise AccountRecordError(f"{where}: {exc}") from None


class RedisAccountStore:
    """AccountStore on a shared Redis: every server and `chatserver users` see one set of accounts.

    Each write is a single atomic Redis operation, so no lock is needed between processes.
    """

    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        self._client = client
        self.key = f"{prefix}accounts"
        self._replace_if_unchanged = client.register_script(_REPLACE_IF_UNCHANGED)
        self._claim_totp_step = client.register_script(_CLAIM_TOTP_STEP)
        self._prefix = prefix

    def totp_step_key(self, username: str) -> str:
        return f"{self._prefix}totp-step:{username}"

    def _where(self, username: str) -> str:
        return f"redis hash '{self.key}' field '{username}'"

    async def get(self, username: str) -> Account | None:
        data = await self._client.hget(self.key, username)
        return None if data is None else _decode(self._where(username), username, data)

    async def list(self) -> builtins.list[Account]:
        records = await self._client.hgetall(self.key)
        accounts = [
            _decode(self._where(_text(name)), _text(name), data) for name, data in records.items()
        ]
        return sorted(accounts, key=lambda account: account.username)

    async def add(self, account: Account) -> None:
        validate_account(account)
        # HSETNX: of two concurrent adds of one name, exactly one finds the field free.
        if not await self._client.hsetnx(self.key, account.username, _encode(account)):
            raise AccountExists(account.username)

    async def remove(self, username: str) -> bool:
        return bool(await self._client.hdel(self.key, username))

    async def set_password(self, username: str, password_hash: str) -> bool:
        return await self._update(username, password_hash=password_hash)

    async def set_totp(self, username: str, totp_secret: str | None) -> bool:
        return await self._update(username, totp_secret=totp_secret)

    async def claim_totp_step(self, username: str, step: int) -> bool:
        keys, args = [self.totp_step_key(username)], [step, TOTP_STEP_TTL_MS]
        return bool(await self._claim_totp_step(keys=keys, args=args))

    async def _update(self, username: str, **changes: Any) -> bool:
        while True:
            current = await self._client.hget(self.key, username)
            if current is None:
                return False
            account = _decode(self._where(username), username, current)
            updated = validate_account(dataclasses.replace(account, **changes))
            outcome = await self._replace(username, current, _encode(updated))
            if outcome >= 0:
                return outcome == 1
            # changed by another writer between read and write: read it again

    async def _replace(self, username: str, current: bytes | str, new: str) -> int:
        """Write new only if the record is still current; see _REPLACE_IF_UNCHANGED."""
        result = await self._replace_if_unchanged(keys=[self.key], args=[username, current, new])
        return int(result)
