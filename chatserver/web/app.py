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
from chatserver.config import Config, ConfigError, load_config
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
from chatserver.web import api, metrics, stats
from chatserver.web.keys import AUTH, BOARD, CLOCK, METRICS_TOKEN, SIO, STORE, THROTTLE
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
# On SIGTERM the process is gone within this many seconds, well inside Docker's and
# Kubernetes' default 30 s grace (`chatserver run --drain-seconds`).
DRAIN_SECONDS = 10.0
# Of the drain, what the last steps (running requests, timers, flushing counts) keep.
DRAIN_RESERVE_SECONDS = 2.0


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
    drain_seconds: float = DRAIN_SECONDS,
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
    if isinstance(client_manager, RedisBus):
        client_manager.on_publish_failure = board.counters.bus_publish_failures.inc
    visitors = VisitorNamespace(board)
    counselors = CounselorNamespace(board, auth)
    visitors.on_failure = counselors.on_failure = board.counters.failed
    sio.register_namespace(visitors)
    sio.register_namespace(counselors)
    sio.attach(app, socketio_path="socket.io")

    app[STORE] = store
    app[BOARD] = board
    app[AUTH] = auth
    app[CLOCK] = clock
    app[SIO] = sio
    app[METRICS_TOKEN] = metrics_token
    app[THROTTLE] = throttle if throttle is not None else MemoryLoginThrottle()
    app.add_routes(api.routes)
    app.add_routes(stats.routes)
    metrics.setup(app, board)
    _add_pages(app, static_dir)

    heartbeat_seconds = config.server.counselor_liveness_seconds / 3

    async def ticker(app: web.Application) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(_every(tick_seconds, "tick", board.tick, board)),
            asyncio.create_task(
                _every(heartbeat_seconds, "heartbeat", counselors.heartbeat_round, board)
            ),
            asyncio.create_task(_every(SYNC_SECONDS, "sync", visitors.sync_round, board)),
            asyncio.create_task(
                _every(
                    SESSION_CHECK_SECONDS, "session check", counselors.end_revoked_sessions, board
                )
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

    async def say_goodbye(app: web.Application) -> None:
        # Runs once the listening socket is closed: new connections go to another process.
        await _drain(sio, board, shared=client_manager is not None, seconds=drain_seconds)

    app.cleanup_ctx.append(ticker)
    app.on_shutdown.append(say_goodbye)
    return app


async def _drain(
    sio: socketio.AsyncServer, board: Switchboard, *, shared: bool, seconds: float
) -> None:
    """Let every client of this process go, within the drain limit.

    With Redis (shared) nothing is lost: clients are told to reconnect (an Engine.IO close,
    on which every Socket.IO client reconnects by itself) and land on another process, where
    they resume. Without it the chats live in this process's memory and end here: each
    visitor is told in their language that the service restarts and how to come back.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.5, seconds - DRAIN_RESERVE_SECONDS)
    ended = 0
    if not shared:
        try:
            ended = await asyncio.wait_for(board.end_chats_for_restart(), deadline - loop.time())
        except Exception as exc:
            log.error("ending chats before the restart failed with %s", type(exc).__name__)
    sockets = list(sio.eio.sockets.values())
    if sockets:
        closing = [
            asyncio.create_task(socket.close(reason=sio.eio.reason.SERVER_DISCONNECT))
            for socket in sockets
        ]
        _done, pending = await asyncio.wait(closing, timeout=max(0.1, deadline - loop.time()))
        for task in pending:
            task.cancel()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(board.drain(), max(0.1, deadline - loop.time()))
    log.info(
        "clients told to reconnect" if shared else "chats ended for the restart",
        extra={"event": "drained", "counts": {"connections": len(sockets), "chats_ended": ended}},
    )


def reload_config(app: web.Application, path: Path) -> bool:
    """SIGHUP: serve a changed helplines.toml; a broken one leaves the running config alone."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        log.error(
            "configuration not reloaded, the running one stays: %s",
            exc,
            extra={"event": "reload_refused"},
        )
        return False
    app[BOARD].reload(config)
    log.info(
        "configuration reloaded from %s",
        config.file,
        extra={"event": "reloaded", "counts": {"helplines": len(config.helplines)}},
    )
    return True


async def _every(
    seconds: float, name: str, work: Callable[[], Awaitable[None]], board: Switchboard
) -> None:
    while True:
        try:
            await work()
        except Exception as exc:
            board.counters.failed(exc)
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
