"""`chatserver users add|list|remove|passwd|totp`: account administration from the shell.

The caller (chatserver.cli) builds the store from the same --config/--data-dir/--redis as
`run`, so what is written here is exactly what the server reads.
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable, Sequence
from typing import TextIO, cast

from chatserver import crypto, totp
from chatserver.accounts import (
    PASSWORD_MAX_LENGTH,
    ROLES,
    Account,
    AccountExists,
    AccountFileError,
    AccountStore,
    Role,
    validate_display_name,
    validate_username,
)
from chatserver.config import Config

PASSWORD_MIN_LENGTH = 12


class UserError(Exception):
    """A mistake on the command line; str() is the one line shown."""


def add_users_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    """Add `users` with add/list/remove/passwd; the common options go on each of those.

    They sit on the leaf commands (`chatserver users add NAME --data-dir D`) because argparse
    lets a sub-command's defaults overwrite values parsed before it.
    """
    users = subparsers.add_parser(
        "users", help="manage staff accounts", description="Manage staff accounts."
    )
    commands = users.add_subparsers(dest="users_command", required=True, metavar="COMMAND")

    add = commands.add_parser(
        "add", parents=parents, help="add an account", description="Add an account."
    )
    add.add_argument("username", metavar="NAME", help="2-32 of a-z, 0-9, '.', '_', '-'")
    add.add_argument(
        "--role", required=True, metavar="{" + ",".join(ROLES) + "}", help="what the account may do"
    )
    add.add_argument(
        "--helpline",
        action="append",
        default=[],
        dest="helplines",
        metavar="ID",
        help="helpline a counselor serves (repeatable; default: all helplines)",
    )
    add.add_argument("--display-name", help="name shown to visitors (default: NAME)")
    _add_password_stdin(add)

    commands.add_parser("list", parents=parents, help="list accounts", description="List accounts.")

    remove = commands.add_parser(
        "remove", parents=parents, help="remove an account", description="Remove an account."
    )
    remove.add_argument("username", metavar="NAME")

    passwd = commands.add_parser(
        "passwd", parents=parents, help="set a new password", description="Set a new password."
    )
    passwd.add_argument("username", metavar="NAME")
    _add_password_stdin(passwd)

    totp_parser = commands.add_parser(
        "totp",
        parents=parents,
        help="require a one-time code at login",
        description="Give the account a new TOTP secret (RFC 6238: 30 s, 6 digits, SHA-1) and "
        "print its otpauth:// URI once, for an authenticator app; --disable removes it.",
    )
    totp_parser.add_argument("username", metavar="NAME")
    totp_parser.add_argument(
        "--disable", action="store_true", help="log in with the password alone again"
    )


def _add_password_stdin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin instead of prompting",
    )


async def run_users_command(
    args: argparse.Namespace,
    store: AccountStore,
    config: Config,
    out: TextIO,
    stdin: TextIO,
    err: TextIO | None = None,
) -> int:
    """Run one `users` sub-command; 0 on success, 1 on a user error (one line on err)."""
    handlers = {
        "add": _add,
        "list": _list,
        "remove": _remove,
        "passwd": _passwd,
        "totp": _totp,
    }
    handler = handlers.get(args.users_command)
    try:
        if handler is None:
            raise UserError(f"unknown users command '{args.users_command}'")
        await handler(args, store, config, out, stdin)
    except (UserError, AccountFileError) as exc:
        print(f"error: {exc}", file=err if err is not None else out)
        return 1
    return 0


async def _add(
    args: argparse.Namespace, store: AccountStore, config: Config, out: TextIO, stdin: TextIO
) -> None:
    username = _checked(validate_username, args.username)
    if args.role not in ROLES:
        raise UserError(f"unknown role '{args.role}': use one of {', '.join(ROLES)}")
    role = cast(Role, args.role)
    helplines = _checked_helplines(list(args.helplines), role, config)
    display_name = _checked(
        validate_display_name, args.display_name if args.display_name is not None else username
    )
    if await store.get(username) is not None:
        raise UserError(f"account '{username}' already exists")
    password = _read_password(args.password_stdin, stdin)
    account = Account(
        username=username,
        role=role,
        display_name=display_name,
        helplines=helplines,
        password_hash=crypto.hash_password(password),
    )
    try:
        await store.add(account)
    except AccountExists as exc:
        raise UserError(str(exc)) from None
    print(f"added {role} '{username}' (helplines: {_helplines_text(account)})", file=out)


async def _list(
    args: argparse.Namespace, store: AccountStore, config: Config, out: TextIO, stdin: TextIO
) -> None:
    rows = [("USERNAME", "ROLE", "DISPLAY NAME", "HELPLINES")]
    rows += [(a.username, a.role, a.display_name, _helplines_text(a)) for a in await store.list()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[3]]), file=out)


async def _remove(
    args: argparse.Namespace, store: AccountStore, config: Config, out: TextIO, stdin: TextIO
) -> None:
    if not await store.remove(args.username):
        raise UserError(f"unknown user '{args.username}'")
    print(f"removed '{args.username}'", file=out)


async def _passwd(
    args: argparse.Namespace, store: AccountStore, config: Config, out: TextIO, stdin: TextIO
) -> None:
    # Checked before asking, so nobody types a password twice for a typo in the name.
    if await store.get(args.username) is None:
        raise UserError(f"unknown user '{args.username}'")
    password = _read_password(args.password_stdin, stdin)
    if not await store.set_password(args.username, crypto.hash_password(password)):
        raise UserError(f"unknown user '{args.username}'")
    print(f"password changed for '{args.username}'", file=out)


async def _totp(
    args: argparse.Namespace, store: AccountStore, config: Config, out: TextIO, stdin: TextIO
) -> None:
    if await store.get(args.username) is None:
        raise UserError(f"unknown user '{args.username}'")
    if args.disable:
        if not await store.set_totp(args.username, None):
            raise UserError(f"unknown user '{args.username}'")
        print(f"one-time codes disabled for '{args.username}'", file=out)
        return
    secret = totp.new_secret()
    if not await store.set_totp(args.username, secret):
        raise UserError(f"unknown user '{args.username}'")
    print(
        f"one-time codes enabled for '{args.username}'; any earlier secret stops working.", file=out
    )
    print("Add this to the authenticator app now; it is not shown again:", file=out)
    print(totp.provisioning_uri(secret, args.username), file=out)


def _checked(validate: Callable[[str], str], value: str) -> str:
    try:
        return validate(value)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _checked_helplines(ids: Sequence[str], role: Role, config: Config) -> tuple[str, ...]:
    if ids and role != "counselor":
        raise UserError("--helpline is only for counselors")
    known = [h.id for h in config.helplines]
    for helpline_id in ids:
        if helpline_id not in known:
            raise UserError(
                f"unknown helpline '{helpline_id}'; known: {', '.join(known) or '(none)'}"
            )
    return tuple(dict.fromkeys(ids))  # drop repeats, keep order


def _helplines_text(account: Account) -> str:
    return ", ".join(account.helplines) if account.helplines else "all"


def _read_password(from_stdin: bool, stdin: TextIO) -> str:
    """One line from stdin, or two matching prompts; never echoed or printed."""
    if from_stdin:
        line = stdin.readline()
        if not line:
            raise UserError("--password-stdin: no password on stdin")
        password = line.removesuffix("\n").removesuffix("\r")
    else:
        try:
            password = getpass.getpass("Password: ")
            again = getpass.getpass("Repeat password: ")
        except EOFError:
            raise UserError("no password given") from None
        if password != again:
            raise UserError("passwords do not match")
    if len(password) < PASSWORD_MIN_LENGTH:
        raise UserError(f"password too short: use at least {PASSWORD_MIN_LENGTH} characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise UserError(f"password too long: use at most {PASSWORD_MAX_LENGTH} characters")
    return password
