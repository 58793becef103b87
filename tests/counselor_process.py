"""A protocol-2 counselor console in its own OS process, so a test can freeze it (SIGSTOP).

    python -m tests.counselor_process URL TOKEN EVENTS_FILE

Connects to /counselor, becomes available, accepts every offer, answers heartbeats (the
python-socketio client acks by itself) and writes every event it receives to EVENTS_FILE as
one JSON line. When the server closes the connection it connects again, as the console
does, and keeps writing.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import socketio


async def main(url: str, token: str, events_path: Path) -> None:
    sio = socketio.AsyncClient(reconnection=False)
    events = events_path.open("a", buffering=1)
    gone = asyncio.Event()

    def record(event: str, data: Any) -> None:
        events.write(json.dumps({"event": event, "data": data}) + "\n")

    @sio.on("*", namespace="/counselor")  # type: ignore[misc]
    async def any_event(event: str, data: Any = None) -> None:
        record(event, data)
        if event == "assigned" and data.get("accepted") is False:
            await sio.emit("accept", {"chat_id": data["chat_id"]}, namespace="/counselor")

    @sio.on("disconnect", namespace="/counselor")  # type: ignore[misc]
    async def on_disconnect(*_: Any) -> None:
        record("disconnect", None)
        gone.set()

    first = True
    while True:
        gone.clear()
        await sio.connect(
            url,
            namespaces=["/counselor"],
            transports=["websocket"],
            auth={"token": token, "protocol": 2},
        )
        if first:
            await sio.call("availability", {"available": True}, namespace="/counselor")
            record("ready", None)
            first = False
        await gone.wait()
        await asyncio.sleep(0.2)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3])))
