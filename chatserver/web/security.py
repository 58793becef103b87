"""Response headers that keep pages private: no referrer, no sniffing, no foreign origins.

Every response gets the same strict Content-Security-Policy (own origin only, no inline script
or style). Only the visitor widget may be framed by other sites: the https origins listed in
`[server] embed_origins`; every other page only by the server's own origin.
"""

from __future__ import annotations

from collections.abc import MutableMapping

from aiohttp import web
from aiohttp.typedefs import Handler

from chatserver.web.keys import CONFIG

# `connect-src 'self'` also allows ws:// and wss:// to the same host and port (CSP level 3).
_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'"
)
CONTENT_SECURITY_POLICY = f"{_POLICY}; frame-ancestors 'self'"
WIDGET_PATH = "/widget"


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


def _is_widget(path: str) -> bool:
    return path == WIDGET_PATH or path.startswith(WIDGET_PATH + "/")


def _add_headers(request: web.Request, headers: MutableMapping[str, str]) -> None:
    policy = CONTENT_SECURITY_POLICY
    if _is_widget(request.path):
        config = request.app.get(CONFIG)
        if config is not None and config.server.embed_origins:
            policy = content_security_policy(config.server.embed_origins)
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Content-Security-Policy", policy)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.path.startswith("/api/"):
        headers.setdefault("Cache-Control", "no-store")
