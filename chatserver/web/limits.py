"""How long and how much an HTTP client may take: a slow or huge request is refused early.

aiohttp closes a connection that has not sent complete headers within its keep-alive
timeout (it arms that timer when the connection opens), so HEADER_TIMEOUT_SECONDS is passed
as `keepalive_timeout` to the runner. A body is read here, before any handler: at most
MAX_BODY_BYTES (a declared Content-Length above it is refused at once, with 413), within
BODY_TIMEOUT_SECONDS. Handlers then read it from aiohttp's cache.
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from chatserver.protocol import MAX_PACKET_BYTES
from chatserver.realtime.badinput import BAD_INPUT

HEADER_TIMEOUT_SECONDS = 10.0
BODY_TIMEOUT_SECONDS = 10.0
# The largest Socket.IO packet, and far above any API request.
MAX_BODY_BYTES = MAX_PACKET_BYTES

_CLOSE = {"Connection": "close"}


@web.middleware
async def bounded_body(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.body_exists:
        declared = request.content_length or 0
        if declared > MAX_BODY_BYTES:
            raise web.HTTPRequestEntityTooLarge(MAX_BODY_BYTES, declared, headers=_CLOSE)
        try:
            async with asyncio.timeout(BODY_TIMEOUT_SECONDS):
                await request.read()
        except TimeoutError:
            BAD_INPUT.refused("request body not sent in time")
            raise web.HTTPRequestTimeout(headers=_CLOSE) from None
        except (aiohttp.ClientPayloadError, ConnectionError):
            # The client went away mid-body; aiohttp would log a traceback with its address.
            BAD_INPUT.refused("request body cut short")
            raise web.HTTPBadRequest(headers=_CLOSE) from None
    return await handler(request)
