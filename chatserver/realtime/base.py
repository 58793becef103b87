"""What both namespaces share: strict dispatch, rate limits and error acks.

python-socketio calls on_<event> with whatever arguments the client sent and lets a
TypeError escape; here every client event goes through one door (client_event) that checks the
shape, applies the connection's rate limit and turns any failure into a documented error ack.
The library's own connect/disconnect calls use another door (trigger_event) that no client
event reaches (see realtime.server).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from chatserver import protocol
from chatserver.config import LimitsConfig
from chatserver.core.ratelimit import TokenBucket
from chatserver.protocol import BAD_REQUEST, INTERNAL_ERROR, RATE_LIMITED, ProtocolError

log = logging.getLogger(__name__)

Handler = Callable[[str, object], Awaitable[dict[str, Any]]]

# Per connection: chat messages at a human pace, other events a little faster; the rates
# are [limits] connection_* in the config.
# A counselor's chats each get a message budget; past this many, they share one.
MAX_BUCKETS_PER_CONNECTION = 64


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class GuardedNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(
        self,
        namespace: str,
        clock: Callable[[], float] = time.monotonic,
        limits: LimitsConfig | None = None,
    ) -> None:
        super().__init__(namespace)
        self._monotonic = clock
        self._limits = limits or LimitsConfig()
        # Per connection: bucket name -> bucket (see _bucket_name).
        self._buckets: dict[str, dict[str, TokenBucket]] = {}
        self.handlers: dict[str, Handler] = {}
        # Told of every failed event, for /metrics (web/app.py sets it).
        self.on_failure: Callable[[Exception], None] | None = None

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """The library's door: python-socketio calls it when a connection opens or closes.

        Client events never come here (GuardedServer sends them to client_event), so a
        client cannot run these handlers by sending an event named `connect`.
        """
        if event == "connect":
            try:
                return await self.connected(*args)
            except socketio.exceptions.ConnectionRefusedError:
                raise
            except Exception as exc:
                self._log_failure(event, exc)
                raise socketio.exceptions.ConnectionRefusedError(
                    INTERNAL_ERROR, {"code": INTERNAL_ERROR, "message": "try again shortly"}
                ) from None
        if event == "disconnect":
            sid = args[0]
            self._buckets.pop(sid, None)
            try:
                return await self.disconnected(sid)
            except Exception as exc:
                self._log_failure(event, exc)
                return None
        return None

    async def client_event(self, sid: str, event: str, payload: list[Any]) -> dict[str, Any]:
        """The clients' door: every event a client sends, answered with its ack."""
        handler = self.handlers.get(event)
        if handler is None:
            return _error(BAD_REQUEST, "unknown event")
        if len(payload) > 1:
            return _error(BAD_REQUEST, "an event carries one payload object")
        if not self._allowed(sid, self._bucket_name(event, payload[0] if payload else None)):
            return _error(RATE_LIMITED, "too many requests; slow down")
        try:
            return await handler(sid, payload[0] if payload else None)
        except ProtocolError as exc:
            return exc.ack()
        except Exception as exc:
            self._log_failure(event, exc)
            return _error(INTERNAL_ERROR, "something went wrong on the server")

    def _log_failure(self, event: str, exc: Exception) -> None:
        if self.on_failure is not None:
            self.on_failure(exc)
        # Type and frames only: an exception's message could quote what a visitor typed.
        frames = "".join(traceback.format_tb(exc.__traceback__))
        log.error("%s %s failed with %s\n%s", self.namespace, event, type(exc).__name__, frames)

    def _bucket_name(self, event: str, data: object) -> str:
        """Which budget an event spends: chat messages have their own, at a human pace."""
        return "message" if event == "message" else "event"

    def _allowed(self, sid: str, name: str) -> bool:
        buckets = self._buckets.setdefault(sid, {})
        if name not in buckets and len(buckets) >= MAX_BUCKETS_PER_CONNECTION:
            name = "message" if name.startswith("message") else "event"
        bucket = buckets.get(name)
        if bucket is None:
            limits = self._limits
            if name.startswith("message"):
                rate, burst = limits.connection_message_rate, limits.connection_message_burst
            else:
                rate, burst = limits.connection_event_rate, limits.connection_event_burst
            bucket = TokenBucket(rate, burst)
            buckets[name] = bucket
        return bucket.allow(self._monotonic())

    async def connected(self, sid: str, environ: dict[str, Any], auth: object = None) -> Any:
        return None

    @staticmethod
    def client_protocol(auth: object) -> int:
        """The protocol the connecting client speaks; a refusal it can read otherwise."""
        try:
            return protocol.parse_client_protocol(auth)
        except ProtocolError as exc:
            raise socketio.exceptions.ConnectionRefusedError(
                exc.code, {"code": exc.code, "message": exc.message}
            ) from None

    async def disconnected(self, sid: str) -> None:
        return None
