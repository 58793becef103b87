"""The reference: a bare python-socketio relay with library defaults, nothing else.

A client `join`s its pair's room; a `message` is emitted to the room's other members
(skip_sid) and acked. Same transport, same packets per message as the product: one event in,
one event out, one ack. No validation, no store, no rate limit, no tuning (default loop,
default JSON, aiohttp's default websocket settings).

    python -m bench.bare_relay --port 8090
"""

from __future__ import annotations

import argparse
from typing import Any

import socketio
from aiohttp import web


def create_app() -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp")
    app = web.Application()
    sio.attach(app)

    @sio.on("join")  # type: ignore[untyped-decorator]
    async def join(sid: str, data: dict[str, Any]) -> None:
        await sio.enter_room(sid, data["room"])

    @sio.on("message")  # type: ignore[untyped-decorator]
    async def message(sid: str, data: dict[str, Any]) -> None:
        await sio.emit("message", data, room=data["room"], skip_sid=sid)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    web.run_app(create_app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
