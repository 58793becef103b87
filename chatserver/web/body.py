"""The one way an /api route reads a JSON body: bounded in size and depth, invalid -> 400.

Python's json module recurses (20,000 nested brackets raise RecursionError) and accepts lone
surrogates ("\\ud800") that later fail to encode; orjson refuses both. A route never sees
anything but a JSON object of bounded nesting whose strings are valid Unicode.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from aiohttp import web

from chatserver.protocol import BAD_REQUEST, MAX_JSON_DEPTH, UNSUPPORTED_MEDIA_TYPE

JSON_CONTENT_TYPE = "application/json"


def json_error(status: type[web.HTTPException], code: str, message: str) -> web.HTTPException:
    """An HTTP error with the same {error: {code, message}} body as a Socket.IO error ack."""
    body = json.dumps({"error": {"code": code, "message": message}})
    return status(text=body, content_type=JSON_CONTENT_TYPE)


def bad_request(message: str) -> web.HTTPException:
    return json_error(web.HTTPBadRequest, BAD_REQUEST, message)


def _depth(value: object) -> int:
    """How deeply arrays and objects nest in a parsed value (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            return depth
        stack.extend((child, depth) for child in children)
    return deepest


async def read_json_object(request: web.Request, shape: str) -> dict[str, Any]:
    """The request's body as a JSON object; shape (e.g. "{username, password}") goes in errors.

    415 unless the Content-Type is application/json: an HTML form on another site can post
    text/plain without a CORS preflight, never application/json.
    """
    if request.content_type != JSON_CONTENT_TYPE:
        raise json_error(
            web.HTTPUnsupportedMediaType,
            UNSUPPORTED_MEDIA_TYPE,
            f"send Content-Type: {JSON_CONTENT_TYPE} with JSON {shape}",
        )
    raw = await request.read()  # at most the app's client_max_size, or 413
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc) or "recursion" in str(exc):
            raise bad_request(f"JSON nested too deep; send JSON {shape}") from None
        problem = "not valid JSON (UTF-8, no lone surrogates)"
        raise bad_request(f"{problem}; send JSON {shape}") from None
    if _depth(body) > MAX_JSON_DEPTH:
        raise bad_request(f"JSON nested too deep (at most {MAX_JSON_DEPTH}); send JSON {shape}")
    if not isinstance(body, dict):
        raise bad_request(f"send JSON {shape}")
    return body
