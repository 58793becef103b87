"""`chatserver run | check-config | users ... | report`.

Every subcommand takes the same --config, --data-dir and --redis (and their environment
variables), so `users add` writes exactly where `run` reads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import socketio
from aiohttp import web

from chatserver import __version__, crypto, logs
from chatserver.accounts import (
    DEMO_ACCOUNTS,
    AccountStore,
    FileAccountStore,
    ensure_demo_accounts,
)
from chatserver.accounts_redis import RedisAccountStore
from chatserver.config import Config, ConfigError, load_config
from chatserver.core import counting, demand, report_text, year_report
from chatserver.core.counting import local_day
from chatserver.hours import describe_next_openings
from chatserver.realtime.bus import RedisBus
from chatserver.sessions import FileSessionStore, SessionStore
from chatserver.sessions_redis import RedisSessionStore
from chatserver.store import redis as redis_store
from chatserver.store.base import Store
from chatserver.store.memory import MemoryStore
from chatserver.store.redis import DEFAULT_PREFIX, RedisStore
from chatserver.throttle import Throttle
from chatserver.throttle_redis import RedisLoginThrottle, throttle_secret
from chatserver.users_cli import add_users_parser, run_users_command
from chatserver.web import stats as stats_routes
from chatserver.web.app import DRAIN_SECONDS, create_app, reload_config, utc_now
from chatserver.web.limits import HEADER_TIMEOUT_SECONDS

log = logging.getLogger("chatserver")


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get("CHATSERVER_CONFIG", "config")),
        help="folder holding helplines.toml (env CHATSERVER_CONFIG; default: config)",
    )
    common.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("CHATSERVER_DATA_DIR", "data")),
        help="where accounts and daily counts are kept (env CHATSERVER_DATA_DIR; default: data)",
    )
    common.add_argument(
        "--redis",
        default=os.environ.get("CHATSERVER_REDIS_URL") or None,
        metavar="URL",
        help="share state with other processes through Redis (env CHATSERVER_REDIS_URL)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatserver", description="Anonymous chat-support server for helplines."
    )
    parser.add_argument("--version", action="version", version=f"chatserver {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = [_common_options()]

    run = commands.add_parser("run", parents=common, help="run the server")
    run.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    run.add_argument(
        "--drain-seconds",
        type=float,
        default=float(os.environ.get("CHATSERVER_DRAIN_SECONDS", DRAIN_SECONDS)),
        help="on SIGTERM, stop within this many seconds (env CHATSERVER_DRAIN_SECONDS; "
        f"default {DRAIN_SECONDS:g})",
    )
    run.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        default=os.environ.get("CHATSERVER_LOG_FORMAT", "json"),
        help="json: one object per line (env CHATSERVER_LOG_FORMAT; default json); text",
    )

    commands.add_parser(
        "check-config", parents=common, help="validate the configuration and show next openings"
    )
    add_users_parser(commands, common)

    report = commands.add_parser(
        "report",
        parents=common,
        help="print daily counts, the year report (--year) or hour-of-week demand (--demand)",
    )
    report.add_argument("--from", dest="first", type=date.fromisoformat, metavar="YYYY-MM-DD")
    report.add_argument("--to", dest="last", type=date.fromisoformat, metavar="YYYY-MM-DD")
    report.add_argument("--helpline", metavar="ID")
    report.add_argument(
        "--year", type=int, metavar="YYYY", help="contacts per helpline and channel, growth"
    )
    report.add_argument(
        "--demand", action="store_true", help="the hour-of-week matrix (of --year, or the range)"
    )
    report.add_argument("--format", choices=("csv", "json", "text"), default="csv")
    return parser


def _load_config(path: Path, err: TextIO) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=err)
        return None


@dataclass(frozen=True, slots=True)
class Backend:
    """Where state lives: this process's memory and data dir, or a shared Redis."""

    store: Store
    accounts: AccountStore
    sessions: SessionStore
    client_manager: socketio.AsyncManager | None = None
    # Login failures counted by all processes together (None: in this process's memory).
    throttle: Throttle | None = None


def _open_backend(args: argparse.Namespace, err: TextIO) -> Backend | None:
    if not args.redis:
        data_dir = args.data_dir
        return Backend(
            MemoryStore(data_dir), FileAccountStore(data_dir), FileSessionStore(data_dir)
        )
    try:
        kek = crypto.key_encryption_key(os.environ.get("CHATSERVER_SECRET"))
    except crypto.SecretError as exc:
        print(f"error: {exc}", file=err)
        return None
    prefix = os.environ.get("CHATSERVER_REDIS_PREFIX", DEFAULT_PREFIX)
    client = redis_store.connect(args.redis)
    return Backend(
        store=RedisStore(client, kek, prefix=prefix, owns_client=True),
        accounts=RedisAccountStore(client, prefix),
        sessions=RedisSessionStore(client, prefix),
        # Socket.IO events cross processes on the same Redis, in a channel of their own.
        client_manager=RedisBus(args.redis, f"{prefix}socketio", crypto.bus_key(kek)),
        throttle=RedisLoginThrottle(client, prefix, throttle_secret(kek)),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = _load_config(args.config, sys.stderr)
    if config is None:
        return 2
    if args.command == "check-config":
        print(f"{config.file}: OK, {len(config.helplines)} helplines")
        for line in describe_next_openings(config, utc_now()):
            print(f"  {line}")
        return 0
    backend = _open_backend(args, sys.stderr)
    if backend is None:
        return 2
    if args.command == "users":
        command = run_users_command(
            args, backend.accounts, config, sys.stdout, sys.stdin, sys.stderr
        )
        return asyncio.run(_closing(backend, command))
    if args.command == "report":
        return asyncio.run(_closing(backend, _report(args, backend.store, config)))
    return _run(args, config, backend)


async def _closing(backend: Backend, work: Coroutine[Any, Any, int]) -> int:
    try:
        return await work
    finally:
        await backend.store.close()


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed: the same asyncio API, a faster loop under many sockets."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


async def _report(args: argparse.Namespace, store: Store, config: Config) -> int:
    if args.helpline is not None and config.helpline(args.helpline) is None:
        print(f"chatserver: unknown helpline {args.helpline!r}", file=sys.stderr)
        return 2
    if args.year is not None and not 2000 <= args.year <= 2999:
        print("chatserver: --year must be between 2000 and 2999", file=sys.stderr)
        return 2
    if args.demand or args.year is not None:
        return await _annual(args, store, config)
    last = args.last or local_day(utc_now(), config.timezone)
    first = args.first or last - timedelta(days=30)
    rows = [day.row() for day in await store.daily_counts(first, last, args.helpline)]
    fields = counting.columns(rows)
    print(",".join(fields))
    for row in rows:
        print(",".join(str(row.get(name, 0)) for name in fields))
    return 0


async def _annual(args: argparse.Namespace, store: Store, config: Config) -> int:
    """The year report or the demand matrix, as the API gives it (web/stats.py)."""
    if args.demand:
        if args.year is not None:
            first, last = date(args.year, 1, 1), date(args.year, 12, 31)
        else:
            last = args.last or local_day(utc_now(), config.timezone)
            first = args.first or last - timedelta(days=364)
        body = await stats_routes.build_demand(store, config, first, last, args.helpline)
        entries = [*body["helplines"], body["total"]]
        rows = [r for e in entries for r in demand.matrix_rows(e["id"], e["name"], e)]
        text = report_text.demand_text(body)
    else:
        body = await stats_routes.build_year_report(store, config, args.year)
        rows = year_report.report_rows(body)
        text = report_text.year_text(body)
    if args.format == "json":
        print(json.dumps(body, indent=2, ensure_ascii=False))
    elif args.format == "csv":
        sys.stdout.write(stats_routes.csv_text(rows))
    else:
        sys.stdout.write(text)
    return 0


def _run(args: argparse.Namespace, config: Config, backend: Backend) -> int:
    try:
        logs.configure(os.environ.get("CHATSERVER_LOG_LEVEL", "INFO"), args.log_format)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = create_app(
        config,
        backend.store,
        backend.accounts,
        backend.sessions,
        client_manager=backend.client_manager,
        metrics_token=os.environ.get("CHATSERVER_METRICS_TOKEN") or None,
        throttle=backend.throttle,
        drain_seconds=args.drain_seconds,
    )
    # The Runner cancels what is left after the drain (Engine.IO ping timers) before closing.
    with asyncio.Runner(loop_factory=_event_loop) as runner:
        return runner.run(_serve(app, args, config, backend))


async def _serve(
    app: web.Application, args: argparse.Namespace, config: Config, backend: Backend
) -> int:
    """Listen, announce, then wait for SIGTERM/SIGINT (drain and stop) or SIGHUP (reload)."""
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        # Also the time a new connection has to send complete headers (web.limits).
        keepalive_timeout=HEADER_TIMEOUT_SECONDS,
        # Requests still running after the drain (app.py) get this long.
        shutdown_timeout=1.0,
    )
    await runner.setup()
    # Before listening: a SIGTERM right after the first health check must drain too.
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: reload_config(app, args.config))
    try:
        await web.TCPSite(runner, args.host, args.port).start()
    except OSError as exc:
        print(
            f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}. "
            "Is another chatserver running there? Stop it, or choose another port with --port.",
            file=sys.stderr,
        )
        await runner.cleanup()
        return 1
    # On the server's own loop: a Redis client must not outlive the loop it first used.
    created = await ensure_demo_accounts(backend.accounts, config)
    _print_banner(args, config, created)
    log.info(
        "serving %d helplines from %s",
        len(config.helplines),
        config.file,
        extra={"event": "started", "counts": {"helplines": len(config.helplines)}},
    )

    await stop.wait()
    began = loop.time()
    log.info("stopping: draining connections", extra={"event": "stopping"})
    try:
        # The drain itself keeps to drain_seconds (app.py); this is the last resort.
        await asyncio.wait_for(runner.cleanup(), args.drain_seconds + 2)
    except TimeoutError:
        log.error("stopping took longer than the drain limit; exiting anyway")
        return 1
    log.info(
        "stopped",
        extra={"event": "stopped", "counts": {"seconds": round(loop.time() - began, 3)}},
    )
    return 0


def _print_banner(
    args: argparse.Namespace, config: Config, created: Sequence[tuple[str, str, str]]
) -> None:
    """What a newcomer needs after `./dev serve`: the addresses and how to log in."""
    base = f"http://{args.host}:{args.port}"
    where = f"redis {_without_password(args.redis)}" if args.redis else f"data dir {args.data_dir}"
    lines = [
        f"chatserver {__version__} on {base} with {config.file} and {where}",
        f"  visitor widget:    {base}/widget/",
        f"  counselor console: {base}/console/",
        f"  dashboard:         {base}/dashboard/",
    ]
    for username, password, role in created:
        lines.append(f"  demo {role}: username {username}  password {password}")
    if config.server.demo_accounts and not created:
        # The passwords are shown once; after that, say exactly how to set new ones.
        program = ".venv/bin/chatserver" if Path(".venv/bin/chatserver").exists() else "chatserver"
        options = f"--config {args.config} --data-dir {args.data_dir}"
        lines.append("  demo accounts exist (passwords were shown at the first start); new ones:")
        for name, _role, _display in DEMO_ACCOUNTS:
            lines.append(f"    {program} users passwd {name} {options}")
    lines.append("  stop with Ctrl-C; reload helplines.toml with: kill -HUP " + str(os.getpid()))
    print("\n".join(lines), flush=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
