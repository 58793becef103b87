"""Who is logged in: login, logout and resolving a bearer token or session cookie."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from http.cookies import CookieError, SimpleCookie

from chatserver import totp
from chatserver.accounts import Account, AccountStore, authenticate, credential_generation
from chatserver.sessions import SessionStore

SESSION_COOKIE = "chatserver_session"

# Why a session no longer logs anyone in: the `logged_out` event's reason (docs/protocol.md).
SESSION_ENDED = "session_ended"  # logged out, or expired
CREDENTIALS_CHANGED = "credentials_changed"  # users passwd / users totp
ACCOUNT_REMOVED = "account_removed"  # users remove


class Authenticator:
    def __init__(
        self, accounts: AccountStore, sessions: SessionStore, clock: Callable[[], datetime]
    ) -> None:
        self.accounts = accounts
        self.sessions = sessions
        self.clock = clock

    async def login(self, username: str, password: str) -> tuple[Account, str] | None:
        account = await self.verify(username, password)
        if account is None:
            return None
        return account, await self.open_session(account)

    async def verify(self, username: str, password: str) -> Account | None:
        """The account if the password is right (a second factor is the caller's to check)."""
        return await authenticate(self.accounts, username, password)

    async def verify_otp(self, account: Account, otp: str, now: datetime) -> bool:
        """Whether otp is the account's current code and its time step was not used before."""
        if account.totp_secret is None:
            return False
        step = totp.matched_step(account.totp_secret, otp, now.timestamp())
        return step is not None and await self.accounts.claim_totp_step(account.username, step)

    async def open_session(self, account: Account) -> str:
        generation = credential_generation(account)
        return await self.sessions.create(account.username, self.clock(), generation)

    async def logout(self, token: str) -> None:
        await self.sessions.revoke(token)

    async def account_for_token(self, token: str | None) -> Account | None:
        account, _reason = await self.check_session(token)
        return account

    async def check_session(self, token: str | None) -> tuple[Account | None, str]:
        """(the account, "") for a live session, or (None, why it does not log in).

        The account is read afresh each time (users.json is re-read when it changed), so a
        password changed or an account removed by `chatserver users` ends its sessions.
        """
        if not token:
            return None, SESSION_ENDED
        session = await self.sessions.session(token, self.clock())
        if session is None:
            return None, SESSION_ENDED
        account = await self.accounts.get(session.username)
        if account is None:
            reason = ACCOUNT_REMOVED
        elif credential_generation(account) != session.generation:
            reason = CREDENTIALS_CHANGED
        else:
            return account, ""
        # Left in the store until it expires: it can never match again, and keeps its reason.
        return None, reason


def token_from_cookie_header(header: str | None) -> str | None:
    if not header:
        return None
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(header)
    except CookieError:
        return None
    morsel = cookie.get(SESSION_COOKIE)
    return morsel.value if morsel else None
