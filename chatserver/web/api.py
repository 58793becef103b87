"""The HTTP API: helplines and their schedules, login, daily counts and health.

Only the login route reads the client's address, and only to feed it through the login
throttle's keyed hash (never stored or logged as such); nothing a request carries is logged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from aiohttp import web

from chatserver import protocol
from chatserver.accounts import Account
from chatserver.auth import SESSION_COOKIE, token_from_cookie_header
from chatserver.config import LANGUAGES, HelplineConfig
from chatserver.core.admission import admission
from chatserver.core.counting import local_day
from chatserver.core.models import ChatState, CounselorState
from chatserver.realtime.bus import RedisBus
from chatserver.realtime.rooms import COUNSELOR_NAMESPACE
from chatserver.sessions import SESSION_TTL
from chatserver.start_limit import client_address
from chatserver.web.body import bad_request, json_error, read_json_object
from chatserver.web.keys import (
    AUTH,
    BOARD,
    CLOCK,
    SIO,
    STORE,
    THROTTLE,
)

routes = web.RouteTableDef()

MAX_SCHEDULE_DAYS = 62
STATS_ROLES = ("manager", "admin")
_LOGIN_FAILED = "wrong username or password"
# Exactly the forms the contract names: date.fromisoformat also takes 20261201 and 2026-W49-2,
# and int() also takes "1_0", " 7" and non-ASCII digits.
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INT_RE = re.compile(r"[0-9]{1,9}")


def _rate_limited(retry_after_s: int) -> web.HTTPException:
    body = json.dumps(
        {
            "error": {
                "code": "rate_limited",
                "message": "too many failed logins; try again later",
                "retry_after_s": retry_after_s,
            }
        }
    )
    return web.HTTPTooManyRequests(
        text=body, content_type="application/json", headers={"Retry-After": str(retry_after_s)}
    )


# --- helplines -----------------------------------------------------------------------------


@routes.get("/api/helplines")
async def list_helplines(request: web.Request) -> web.Response:
    config, board = request.app[BOARD].config, request.app[BOARD]
    now = request.app[CLOCK]()
    out = []
    for helpline in config.helplines:
        hours = board.hours[helpline.id]
        is_open = hours.is_open(now)
        # Open: when it closes. Closed: when it next opens and how long that opening lasts.
        opens_at = None if is_open else hours.next_opening(now)
        start = now if is_open else opens_at
        closes_at = hours.next_closing(start) if start is not None else None
        # What `start` would answer now: false in the last-admission window too.
        decision = admission(helpline, hours, now)
        out.append(
            {
                "id": helpline.id,
                "name": helpline.name,
                "open": is_open,
                "accepting": decision.open,
                "accepting_from": protocol.iso(decision.opens_at),
                "opens_at": protocol.iso(opens_at),
                "closes_at": protocol.iso(closes_at),
                "waiting": (await board.store.queue_summary(helpline.id)).waiting,
                "intro": dict(helpline.intro),
                "alternatives": [
                    {"kind": a.kind, "label": a.label, "value": a.value}
                    for a in helpline.alternatives
                ],
                "quick_exit_url": helpline.quick_exit_url,
            }
        )
    return web.json_response(out)


def _parse_date(value: str, name: str) -> date:
    if _DATE_RE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:  # 2026-13-01, 2026-02-30
            pass
    raise bad_request(f"'{name}' must be a date YYYY-MM-DD")


def _parse_int(value: str, name: str, low: int, high: int) -> int:
    if not _INT_RE.fullmatch(value):
        raise bad_request(f"'{name}' must be a whole number")
    number = int(value)
    if not low <= number <= high:
        raise bad_request(f"'{name}' must be between {low} and {high}")
    return number


@routes.get("/api/helplines/{helpline_id}/schedule")
async def helpline_schedule(request: web.Request) -> web.Response:
    config, board = request.app[BOARD].config, request.app[BOARD]
    helpline = config.helpline(request.match_info["helpline_id"])
    if helpline is None:
        raise json_error(web.HTTPNotFound, "unknown_helpline", "no such helpline")
    today = local_day(request.app[CLOCK](), config.timezone)
    first = _parse_date(request.query.get("from", today.isoformat()), "from")
    days = _parse_int(request.query.get("days", "7"), "days", 1, MAX_SCHEDULE_DAYS)
    try:
        intervals = board.hours[helpline.id].intervals(first, days)
    except ValueError as exc:  # a date near 0001-01-01 or 9999-12-31
        raise bad_request(f"'from': {exc}") from None
    return web.json_response(
        {
            "helpline": helpline.id,
            "timezone": config.timezone.key,
            # The local days asked for: the widget lists them without trusting its own clock.
            "from": first.isoformat(),
            "days": days,
            "intervals": [
                {"opens_at": protocol.iso(i.opens_at), "closes_at": protocol.iso(i.closes_at)}
                for i in intervals
            ],
        }
    )


# --- login ---------------------------------------------------------------------------------


def _request_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip() or None
    return token_from_cookie_header(request.headers.get("Cookie"))


async def current_account(request: web.Request) -> Account | None:
    return await request.app[AUTH].account_for_token(_request_token(request))


async def require_role(request: web.Request, roles: Iterable[str]) -> Account:
    account = await current_account(request)
    if account is None:
        raise json_error(web.HTTPUnauthorized, "unauthorized", "log in first")
    if account.role not in roles:
        raise json_error(web.HTTPForbidden, "forbidden", "your role may not see this")
    return account


@routes.post("/api/login")
async def login(request: web.Request) -> web.Response:
    body = await read_json_object(request, "{username, password}")
    username, password, otp = body.get("username"), body.get("password"), body.get("otp")
    if not isinstance(username, str) or not isinstance(password, str):
        raise bad_request("send JSON {username, password}")
    if otp is not None and not isinstance(otp, str):
        raise bad_request("'otp' must be the 6-digit code as a string")
    throttle, auth = request.app[THROTTLE], request.app[AUTH]
    now = request.app[CLOCK]()
    # The client's address only ever goes into the keyed hash: see chatserver/throttle.py.
    # Behind a trusted proxy it is the proxy's X-Forwarded-For, so one stranger behind the
    # proxy pauses only themselves.
    address = client_address(
        request.remote,
        request.headers.get("X-Forwarded-For"),
        request.app[BOARD].config.server.trusted_proxies,
    )
    keys = throttle.keys(username, address)
    # Counted before the password is checked, so concurrent guesses cannot all get through;
    # forgiven below only if the login is right. Every early return stays counted.
    wait = await throttle.reserve(keys, now)
    if wait is not None:
        # Even a right password waits: otherwise guessing would just go on more slowly.
        raise _rate_limited(wait)
    account = await auth.verify(username, password)
    if account is not None and account.totp_secret is not None:
        if not otp:
            raise json_error(
                web.HTTPUnauthorized, "otp_required", "enter the code from your authenticator app"
            )
        if not await auth.verify_otp(account, otp, now):
            account = None
    if account is None:
        raise json_error(web.HTTPUnauthorized, "unauthorized", _LOGIN_FAILED)
    await throttle.succeeded(keys, now)
    token = await auth.open_session(account)
    response = web.json_response(
        {
            "username": account.username,
            "role": account.role,
            "display_name": account.display_name,
            "token": token,
        }
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        # Behind a TLS-terminating proxy the app sees http; the proxy says what the user saw.
        secure=request.secure or request.headers.get("X-Forwarded-Proto") == "https",
        path="/",
        max_age=int(SESSION_TTL.total_seconds()),
    )
    return response


@routes.post("/api/logout")
async def logout(request: web.Request) -> web.Response:
    token = _request_token(request)
    if token is None or await current_account(request) is None:
        raise json_error(web.HTTPUnauthorized, "unauthorized", "log in first")
    await request.app[AUTH].logout(token)
    # This process's sockets of the session end now; other processes' within seconds.
    await request.app[SIO].namespace_handlers[COUNSELOR_NAMESPACE].end_revoked_sessions()
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    account = await current_account(request)
    if account is None:
        raise json_error(web.HTTPUnauthorized, "unauthorized", "log in first")
    return web.json_response(
        {
            "username": account.username,
            "role": account.role,
            "display_name": account.display_name,
            "helplines": request.app[BOARD].helplines_served(account.helplines),
        }
    )


# --- console and supervisor --------------------------------------------------------------------

COUNSELOR_ROLES = ("counselor",)
TALLY_CHANNELS = ("phone", "email")


@routes.get("/api/console")
async def console(request: web.Request) -> web.Response:
    """What the console needs besides the socket: the counselor's helplines and their lists."""
    account = await require_role(request, COUNSELOR_ROLES)
    lang = request.query.get("lang", LANGUAGES[0])
    if lang not in LANGUAGES:
        raise bad_request(f"'lang' must be one of {', '.join(LANGUAGES)}")
    config, board = request.app[BOARD].config, request.app[BOARD]
    served = board.helplines_served(account.helplines)
    helplines = []
    for helpline_id in served:
        helpline = config.helpline(helpline_id)
        assert helpline is not None  # helplines_served only returns configured ids
        helplines.append(
            {
                "id": helpline.id,
                "name": helpline.name,
                "max_chats_per_counselor": helpline.max_chats_per_counselor,
                "outcomes": [{"id": t.id, "label": t.label(lang)} for t in helpline.outcomes],
                "topics": [{"id": t.id, "label": t.label(lang)} for t in helpline.topics],
                "canned": [
                    {"title": c.title, "text": c.text} for c in helpline.canned if c.lang == lang
                ],
                # Every language: the console offers those of the active chat's visitor.
                "canned_by_lang": {
                    language: [
                        {"title": c.title, "text": c.text}
                        for c in helpline.canned
                        if c.lang == language
                    ]
                    for language in LANGUAGES
                },
                "assignment": helpline.assignment,
                "supervisor_hints": helpline.supervisor_hints,
            }
        )
    return web.json_response(
        {
            "me": {
                "username": account.username,
                "display_name": account.display_name,
                "helplines": served,
            },
            "helplines": helplines,
            # How long a chat waits for a visitor whose connection dropped: the console warns.
            "visitor_grace_seconds": config.server.visitor_grace_seconds,
        }
    )


def _presence(counselor: CounselorState) -> dict[str, Any]:
    return {
        "username": counselor.username,
        "display_name": counselor.display_name,
        "helplines": list(counselor.helplines),
        "available": counselor.available,
        "active_chats": len(counselor.chats),
    }


@routes.get("/api/colleagues")
async def colleagues(request: web.Request) -> web.Response:
    """Counselors online now, for a transfer to a named colleague; the caller left out."""
    account = await require_role(request, COUNSELOR_ROLES)
    online = [
        c
        for c in await request.app[STORE].counselors()
        if c.online and c.username != account.username
    ]
    return web.json_response([_presence(c) for c in sorted(online, key=lambda c: c.username)])


@routes.post("/api/tally")
async def tally(request: web.Request) -> web.Response:
    """Count a phone call or e-mail the counselor handled: today's counters only, no record."""
    account = await require_role(request, COUNSELOR_ROLES)
    body = await read_json_object(request, "{helpline, channel, outcome, topics?}")
    helpline_id = body.get("helpline")
    if not isinstance(helpline_id, str):
        raise bad_request("'helpline' must be a helpline id")
    helpline = request.app[BOARD].config.helpline(helpline_id)
    if helpline is None:
        raise json_error(web.HTTPNotFound, "unknown_helpline", "no such helpline")
    if not account.serves(helpline.id):
        raise json_error(web.HTTPForbidden, "forbidden", "you do not serve this helpline")
    channel = body.get("channel")
    if channel not in TALLY_CHANNELS:
        raise bad_request(f"'channel' must be one of {', '.join(TALLY_CHANNELS)}")
    try:
        tags = protocol.parse_tags(
            body, helpline.outcome_ids(), helpline.topic_ids(), outcome_required=True
        )
    except protocol.ProtocolError as exc:
        raise bad_request(exc.message) from None
    await request.app[BOARD].tally(helpline.id, channel, tags)
    return web.json_response({"ok": True})


@routes.get("/api/supervisor")
async def supervisor(request: web.Request) -> web.Response:
    """Live load per helpline and who is online: never chat content, never a visitor."""
    await require_role(request, STATS_ROLES)
    config, board = request.app[BOARD].config, request.app[BOARD]
    now = board.clock()
    counselors = [c for c in await board.store.counselors() if c.online]
    active: dict[str, int] = {}
    for counselor in counselors:
        for chat_id in counselor.chats:
            chat = await board.store.get_chat(chat_id)
            if chat is not None and chat.state is ChatState.CHATTING:
                active[chat.helpline] = active.get(chat.helpline, 0) + 1
    helplines = []
    for helpline in config.helplines:
        summary = await board.store.queue_summary(helpline.id)
        oldest = summary.oldest_enqueued_at
        serving = [c for c in counselors if c.serves(helpline.id)]
        helplines.append(
            {
                "id": helpline.id,
                "name": helpline.name,
                "open": board.hours[helpline.id].is_open(now),
                "waiting": summary.waiting,
                "longest_wait_s": max(0, int((now - oldest).total_seconds())) if oldest else 0,
                "counselors_online": len(serving),
                "counselors_available": sum(1 for c in serving if c.available),
                "chats_active": active.get(helpline.id, 0),
            }
        )
    return web.json_response(
        {
            "helplines": helplines,
            "counselors": [
                {**_presence(c), "hints": _hints_allowed(config.helplines, c)}
                for c in sorted(counselors, key=lambda c: c.username)
            ],
        }
    )


def _hints_allowed(helplines: Iterable[HelplineConfig], counselor: CounselorState) -> bool:
    return any(h.supervisor_hints and counselor.serves(h.id) for h in helplines)


@routes.post("/api/supervisor/hint")
async def supervisor_hint(request: web.Request) -> web.Response:
    """A manager's private hint to one counselor, where the helpline allows it.

    The counselor's console shows it beside the chats; no chat is read and nothing is kept.
    """
    account = await require_role(request, STATS_ROLES)
    body = await read_json_object(request, "{counselor, text}")
    username, text = body.get("counselor"), body.get("text")
    if not isinstance(username, str) or not username:
        raise bad_request("'counselor' must be a username")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("'text' must be a non-empty string")
    if len(text) > protocol.MAX_HINT_CHARS:
        raise json_error(
            web.HTTPBadRequest, protocol.TOO_LONG, f"at most {protocol.MAX_HINT_CHARS} characters"
        )
    sender = account.display_name or account.username
    if not await request.app[BOARD].send_hint(username, text.strip(), sender):
        raise json_error(
            web.HTTPConflict,
            protocol.UNAVAILABLE,
            "that counselor is offline or serves no helpline that allows hints",
        )
    return web.json_response({"ok": True})


# --- operations ----------------------------------------------------------------------------


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    try:
        ok = await request.app[STORE].ping()
    except Exception:
        ok = False
    if not ok:
        return web.json_response({"status": "unavailable"}, status=503)
    bus = request.app[SIO].manager
    if isinstance(bus, RedisBus) and not bus.subscribed:
        # Events for this process's clients would be lost until the bus is back.
        return web.json_response({"status": "unavailable", "bus": "down"}, status=503)
    return web.json_response({"status": "ok"})
