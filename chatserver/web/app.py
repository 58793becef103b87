"""The application factory: one aiohttp app with the Socket.IO server attached.

Everything the app owns is opened and closed in cleanup contexts, so teardown runs exactly
when setup succeeded. The clock is injected so tests can move time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import socketio
from aiohttp import web
from aiohttp.typedefs import Handler

from chatserver.accounts import AccountStore
from chatserver.auth import Authenticator
from chatserver.config import Config
from chatserver.protocol import MAX_PACKET_BYTES
from chatserver.realtime.badinput import quiet_engineio_logging
from chatserver.realtime.bus import RedisBus, tell_local_clients_to_resync
from chatserver.realtime.counselor import CounselorNamespace
from chatserver.realtime.notifier import SocketNotifier
from chatserver.realtime.rooms import COUNSELOR_NAMESPACE, VISITOR_NAMESPACE
from chatserver.realtime.server import GuardedServer
from chatserver.realtime.transport import OrjsonForSocketIO, disable_websocket_compression
from chatserver.realtime.visitor import VisitorNamespace
from chatserver.sessions import SessionStore
from chatserver.store.base import Store
from chatserver.switchboard import Switchboard
from chatserver.throttle import MemoryLoginThrottle, Throttle
from chatserver.web import api, stats
from chatserver.web.keys import AUTH, BOARD, CLOCK, CONFIG, METRICS_TOKEN, SIO, STORE, THROTTLE
from chatserver.web.limits import MAX_BODY_BYTES, bounded_body
from chatserver.web.security import same_origin_writes, security_headers

log = logging.getLogger(__name__)

# The checkout's static/ (editable install); an installed package is told by the environment.
STATIC_DIR = Path(
    os.environ.get("CHATSERVER_STATIC_DIR", Path(__file__).resolve().parents[2] / "static")
)
PAGES = ("widget", "console", "dashboard")
TICK_SECONDS = 1.0
# Protocol-2 visitors hear where their chat stands this often (realtime/visitor.py).
SYNC_SECONDS = 5.0
# How soon a counselor socket notices its session ended in another process (or by `users`).
SESSION_CHECK_SECONDS = 2.0
# Detect a vanished client within about 20 s rather than the default 45 s.
PING_INTERVAL, PING_TIMEOUT = 10, 10


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    config: Config,
    store: Store,
    accounts: AccountStore,
    sessions: SessionStore,
    *,
    clock: Callable[[], datetime] = utc_now,
    static_dir: Path = STATIC_DIR,
    tick_seconds: float = TICK_SECONDS,
    client_manager: socketio.AsyncManager | None = None,
    metrics_token: str | None = None,
    throttle: Throttle | None = None,
) -> web.Application:
    app = web.Application(
        middlewares=[security_headers, same_origin_writes, bounded_body],
        client_max_size=MAX_BODY_BYTES,
    )
    disable_websocket_compression()
    quiet_engineio_logging()
    sio = GuardedServer(
        async_mode="aiohttp",
        json=OrjsonForSocketIO,
        client_manager=client_manager,
        logger=False,
        engineio_logger=False,
        max_http_buffer_size=MAX_PACKET_BYTES,
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
    )
    board = Switchboard(config, store, SocketNotifier(sio), clock)
    auth = Authenticator(accounts, sessions, clock)
    if isinstance(client_manager, RedisBus):

        async def resync() -> None:
            await tell_local_clients_to_resync(sio, [VISITOR_NAMESPACE, COUNSELOR_NAMESPACE])

        client_manager.on_reconnect = resync
    visitors = VisitorNamespace(board)
    counselors = CounselorNamespace(board, auth)
    sio.register_namespace(visitors)
    sio.register_namespace(counselors)
    sio.attach(app, socketio_path="socket.io")

    app[CONFIG] = config
    app[STORE] = store
    app[BOARD] = board
    app[AUTH] = auth
    app[CLOCK] = clock
    app[SIO] = sio
    app[METRICS_TOKEN] = metrics_token
    app[THROTTLE] = throttle if throttle is not None else MemoryLoginThrottle()
    app.add_routes(api.routes)
    app.add_routes(stats.routes)
    _add_pages(app, static_dir)

    heartbeat_seconds = config.server.counselor_liveness_seconds / 3

    async def ticker(app: web.Application) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(_every(tick_seconds, "tick", board.tick)),
            asyncio.create_task(_every(heartbeat_seconds, "heartbeat", counselors.heartbeat_round)),
            asyncio.create_task(_every(SYNC_SECONDS, "sync", visitors.sync_round)),
            asyncio.create_task(
                _every(SESSION_CHECK_SECONDS, "session check", counselors.end_revoked_sessions)
            ),
        ]
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await board.drain()
        await store.close()

    app.cleanup_ctx.append(ticker)
    return app


async def _every(seconds: float, name: str, work: Callable[[], Awaitable[None]]) -> None:
    while True:
        try:
            await work()
        except Exception as exc:
            log.error("%s failed with %s", name, type(exc).__name__)
        await asyncio.sleep(seconds)


def _add_pages(app: web.Application, static_dir: Path) -> None:
    index = static_dir / "index.html"
    if index.exists():
        app.router.add_get("/", _file_handler(index))
    for page in PAGES:
        folder = static_dir / page
        if not folder.is_dir():
            continue
        app.router.add_get(f"/{page}", _redirect_handler(f"/{page}/"))
        app.router.add_get(f"/{page}/", _file_handler(folder / "index.html"))
        app.router.add_static(f"/{page}/", folder)
    vendor = static_dir / "vendor"
    if vendor.is_dir():
        app.router.add_static("/vendor/", vendor)


def _file_handler(path: Path) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(path)

    return handler


def _redirect_handler(location: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(location)

    return handler
