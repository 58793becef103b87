"""Who is logged in: login, logout and resolving a bearer token or session cookie."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from http.cookies import CookieError, SimpleCookie

from chatserver import totp
from chatserver.accounts import Account, AccountStore, authenticate
from chatserver.sessions import SessionStore

SESSION_COOKIE = "chatserver_session"


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
        return await self.sessions.create(account.username, self.clock())

    async def logout(self, token: str) -> None:
        await self.sessions.revoke(token)

    async def account_for_token(self, token: str | None) -> Account | None:
        if not token:
            return None
        username = await self.sessions.resolve(token, self.clock())
        if username is None:
            return None
        return await self.accounts.get(username)


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
