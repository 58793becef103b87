"""Response headers that keep pages private, and no state change from a foreign origin.

Every response gets the same strict Content-Security-Policy (own origin only, no inline script
or style). Only the visitor widget may be framed by other sites: the https origins listed in
`[server] embed_origins`; every other page only by the server's own origin.

Every POST, PUT, PATCH and DELETE under /api/ must come from the server's own origin when the
browser says where it comes from (Origin, Sec-Fetch-Site): a form on another site could
otherwise log the browser in as the attacker (login CSRF) or log a counselor out. Requests
that carry neither header (curl, scripts with a Bearer token) are not browsers' and pass.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from chatserver.protocol import FORBIDDEN
from chatserver.web.body import json_error
from chatserver.web.keys import BOARD

# `connect-src 'self'` also allows ws:// and wss:// to the same host and port (CSP level 3).
_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'"
)
CONTENT_SECURITY_POLICY = f"{_POLICY}; frame-ancestors 'self'"
WIDGET_PATH = "/widget"
STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Sec-Fetch-Site values of a request the page's own origin (or the user, typing) started.
_OWN_FETCH_SITES = frozenset({"same-origin", "none"})


def content_security_policy(embed_origins: tuple[str, ...] = ()) -> str:
    """The policy for a page that the given origins (besides our own) may frame."""
    return " ".join([f"{_POLICY}; frame-ancestors 'self'", *embed_origins])


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        # Raised errors (400, 401, 404 ...) become responses after this middleware.
        _add_headers(request, exc.headers)
        raise
    _add_headers(request, response.headers)
    return response


@web.middleware
async def same_origin_writes(request: web.Request, handler: Handler) -> web.StreamResponse:
    """403 for a state-changing /api/ request that a browser says came from another origin."""
    if (
        request.method in STATE_CHANGING_METHODS
        and request.path.startswith("/api/")
        and not _from_own_origin(request)
    ):
        raise json_error(web.HTTPForbidden, FORBIDDEN, "cross-origin request refused")
    return await handler(request)


def _from_own_origin(request: web.Request) -> bool:
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in _OWN_FETCH_SITES:
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not sent by a browser (browsers send Origin on every cross-origin POST)
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False  # "null" (sandboxed frames, data: URLs) and anything odd
    # The Host the browser used; a proxy that rewrites Host may pass it on as X-Forwarded-Host,
    # a header no cross-site form or fetch without a preflight can set.
    hosts = {request.host, request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()}
    return parts.netloc.lower() in {host.lower() for host in hosts if host}


def _is_widget(path: str) -> bool:
    return path == WIDGET_PATH or path.startswith(WIDGET_PATH + "/")


def _add_headers(request: web.Request, headers: MutableMapping[str, str]) -> None:
    policy = CONTENT_SECURITY_POLICY
    if _is_widget(request.path):
        board = request.app.get(BOARD)
        if board is not None and board.config.server.embed_origins:
            policy = content_security_policy(board.config.server.embed_origins)
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Content-Security-Policy", policy)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.path.startswith("/api/"):
        headers.setdefault("Cache-Control", "no-store")
