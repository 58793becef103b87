"""The Socket.IO message bus between server processes, and what to do when it hiccups.

python-socketio's AsyncRedisManager is fire-and-forget pub/sub: while a process's
subscription is down (Redis restarting, a network blip), events published for its clients
are lost. Every chat message is also in the store under its seq, so after the bus comes
back this process tells all its clients to `resync`, and they fetch what they missed with
`resume {last_seq}`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import socketio

from chatserver import crypto

log = logging.getLogger(__name__)

# How long to wait for the new subscription before telling clients to resync anyway.
SUBSCRIBE_WAIT_SECONDS = 10.0


class SealedJson:
    """What the Redis manager uses to put events on the bus and take them off: sealed JSON.

    Every event between processes (chat messages, handover notes, names) is AES-GCM
    ciphertext under a key derived from CHATSERVER_SECRET, so neither MONITOR, SUBSCRIBE nor
    a replica shows what anyone typed. A message that does not open (tampered, or another
    deployment's) raises, and python-socketio drops it.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def dumps(self, obj: Any, **_: Any) -> bytes:
        return crypto.seal_bus_message(self._key, orjson.dumps(obj))

    def loads(self, data: str | bytes, **_: Any) -> Any:
        raw = data.encode() if isinstance(data, str) else data
        return orjson.loads(crypto.open_bus_message(self._key, raw))


class RedisBus(socketio.AsyncRedisManager):  # type: ignore[misc]
    def __init__(self, url: str, channel: str, key: bytes) -> None:
        self._sealed = SealedJson(key)
        super().__init__(url, channel=channel, json=self._sealed)
        self.on_reconnect: Callable[[], Awaitable[None]] | None = None
        # Told of each event that could not be published (for /metrics).
        self.on_publish_failure: Callable[[], None] | None = None
        self._connected_before = False
        self._tasks: set[asyncio.Task[None]] = set()
        # False from a reconnect until the new subscription is live: /healthz says so.
        self.subscribed = True

    def set_server(self, server: socketio.AsyncServer) -> None:
        # python-socketio hands the manager the server's JSON module here (the
        # constructor's `json` only counts for write-only managers): keep the sealed one.
        super().set_server(server)
        self.json = self._sealed

    async def _publish(self, data: Any) -> Any:
        # python-socketio logs and swallows a failed publish, returning None.
        result = await super()._publish(data)
        if result is None and self.on_publish_failure is not None:
            self.on_publish_failure()
        return result

    def _redis_connect(self) -> None:
        super()._redis_connect()
        if self._connected_before:
            self.subscribed = False
            task = asyncio.get_running_loop().create_task(self._after_resubscribe())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._connected_before = True

    async def _after_resubscribe(self) -> None:
        # Events published before the new subscription is live would be missed again.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SUBSCRIBE_WAIT_SECONDS
        while loop.time() < deadline:
            pubsub = self.pubsub
            if pubsub.connection is not None and pubsub.subscribed:
                break
            await asyncio.sleep(0.05)
        else:
            return  # still down; the listener's next reconnect starts another wait
        await asyncio.sleep(0.2)
        self.subscribed = True
        log.warning("the Socket.IO bus reconnected; asking this process's clients to resync")
        if self.on_reconnect is not None:
            await self.on_reconnect()


async def tell_local_clients_to_resync(sio: socketio.AsyncServer, namespaces: list[str]) -> None:
    """Every connection of this process: 'you may have missed events, resume from last_seq'."""
    for namespace in namespaces:
        await sio.emit("resync", {}, namespace=namespace, ignore_queue=True)
