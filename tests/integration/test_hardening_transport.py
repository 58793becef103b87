"""What a hostile client can do below the chat protocol, against a real `chatserver run`.

These clients speak raw Engine.IO/Socket.IO frames and raw HTTP, as an attacker would, and
measure what the server process pays for it: its memory (VmRSS), its log file, its sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import Client, always_open_config
from tests.processes import PASSWORD, ServerProcess, chatserver
from tests.redis_server import RedisServer

CONFIG = always_open_config(max_queue=5, max_chats=2)
MiB = 1024 * 1024
KiB = 1024


def rss_bytes(process: ServerProcess) -> int:
    assert process.process is not None
    for line in Path(f"/proc/{process.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def start_server(workdir: Path, *options: str) -> ServerProcess:
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "helplines.toml").write_text(CONFIG)
    common = ("--config", "config", "--data-dir", "data", *options)
    chatserver(
        "users", "add", "carla", "--role", "counselor", "--password-stdin", *common,
        cwd=workdir, stdin=PASSWORD + "\n",
    )  # fmt: skip
    server = ServerProcess(workdir, "server", *common)
    server.start()
    await server.wait_healthy()
    return server


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    process = await start_server(tmp_path / "work")
    yield process
    process.stop()


@pytest.fixture
async def redis_mode_server(tmp_path: Path, own_redis: RedisServer) -> AsyncIterator[ServerProcess]:
    process = await start_server(tmp_path / "work", "--redis", own_redis.url)
    yield process
    process.stop()


class RawSocketIO:
    """A websocket speaking Engine.IO v4 / Socket.IO v5 frames by hand."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http = http
        self.ws = ws

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str) -> AsyncIterator[RawSocketIO]:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket") as ws,
        ):
            opening = await ws.receive_str(timeout=5)
            assert opening.startswith("0{")
            yield cls(http, ws)

    async def join(self, namespace: str, auth: dict[str, str] | None = None) -> None:
        await self.ws.send_str(f"40{namespace}," + (json.dumps(auth) if auth else ""))
        while True:
            frame = await self.ws.receive_str(timeout=5)
            if frame.startswith(f"40{namespace},"):
                return
            assert not frame.startswith(f"44{namespace},"), frame

    async def send_until_closed(self, frames: list[str | bytes]) -> int:
        """Send every frame unless the server closes first; returns how many went out."""
        for sent, frame in enumerate(frames):
            if self.ws.closed or self.ws.exception() is not None:
                return sent
            try:
                if isinstance(frame, bytes):
                    await self.ws.send_bytes(frame)
                else:
                    await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return sent
            if sent % 50 == 0:
                await asyncio.sleep(0)  # let a close frame from the server be read
        return len(frames)

    async def closed_by_server(self, timeout: float = 15) -> bool:
        """Read until the server closes the websocket (True) or the time is up (False)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while True:
                    message = await self.ws.receive()
                    if message.type in (
                        aiohttp.WSMsgType.CLOSE,
                        aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.CLOSING,
                        aiohttp.WSMsgType.ERROR,
                    ):
                        return True
                    if message.type == aiohttp.WSMsgType.TEXT and message.data == "2":
                        await self.ws.send_str("3")  # answer pings: stay alive on our side
        return self.ws.closed


async def a_visitor_can_still_chat(url: str) -> None:
    visitor = Client(url, "/visitor")
    await visitor.connect()
    try:
        start = await visitor.call("start", {"helpline": "alpha", "lang": "nl"})
        assert start["status"] == "queued"
    finally:
        await visitor.disconnect()


# --- binary attachments (finding 3) -----------------------------------------------------


@pytest.mark.parametrize("namespace", ["/visitor", "/counselor"])
async def test_a_binary_packet_is_refused_and_closed_before_any_attachment_is_kept(
    server: ServerProcess, namespace: str
) -> None:
    auth = {"token": await server.login("carla")} if namespace == "/counselor" else None
    before = rss_bytes(server)
    async with RawSocketIO.open(server.url) as raw:
        await raw.join(namespace, auth)
        header = f'59999999-{namespace},["message",{{"_placeholder":true,"num":0}}]'
        attachment = b"\x00" * (60 * KiB)
        await raw.send_until_closed([header] + [attachment] * 1500)
        assert await raw.closed_by_server()
    growth = rss_bytes(server) - before
    print(f"RSS growth after binary flood on {namespace}: {growth / MiB:.1f} MiB")
    assert growth < 50 * MiB
    await a_visitor_can_still_chat(server.url)


# --- malformed frames and the log (finding 7) -------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        '42/visitor,["mes',  # Socket.IO: JSON cut short
        "42/visitor,{}",  # Socket.IO: an event that is no list
        "4x/visitor,[1,2]",  # Socket.IO: no such packet type
        "x-garbage-12",  # Engine.IO: no such packet type
    ],
)
async def test_garbage_frames_close_the_connection_and_cost_a_few_log_lines(
    server: ServerProcess, garbage: str
) -> None:
    log_before = server.log_path.stat().st_size
    async with RawSocketIO.open(server.url) as raw:
        await raw.join("/visitor")
        await raw.send_until_closed([garbage] * 2000)
        assert await raw.closed_by_server()
    await a_visitor_can_still_chat(server.url)
    written = server.log_path.read_text()[log_before:]
    print(f"log grew by {len(written)} bytes:\n{written}")
    assert len(written) < 20 * KiB
    assert "Traceback" not in written
    assert garbage not in written


async def test_many_connections_sending_garbage_write_a_bounded_log(server: ServerProcess) -> None:
    """The log line for bad input is rate limited per process, not per connection."""
    log_before = server.log_path.stat().st_size
    for _ in range(40):
        async with RawSocketIO.open(server.url) as raw:
            await raw.join("/visitor")
            await raw.send_until_closed(['42/visitor,["mes'] * 5)
            assert await raw.closed_by_server()
    written = server.log_path.read_text()[log_before:]
    print(f"log grew by {len(written)} bytes:\n{written}")
    assert written.count("\n") <= 15


# --- HTTP long-polling and half-open connections (finding 8) ----------------------------


async def _polling_sid(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(f"{url}/socket.io/?EIO=4&transport=polling") as response:
        opening = await response.text()
    assert opening.startswith("0{"), opening
    return str(json.loads(opening[1:])["sid"])


async def _raw_request(port: int, head: bytes, body: bytes = b"") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body)
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), 20)
    finally:
        writer.close()


async def test_a_polling_post_declaring_more_than_64_kib_is_refused_with_413(
    server: ServerProcess,
) -> None:
    async with aiohttp.ClientSession() as http:
        sid = await _polling_sid(http, server.url)
    for path in (f"/socket.io/?EIO=4&transport=polling&sid={sid}", "/api/login"):
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {100 * KiB}\r\n\r\n"
        ).encode()
        # Only the headers: the server must answer without waiting for the body.
        answer = await _raw_request(server.port, head)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:80]


async def test_invalid_utf8_in_a_polling_body_is_a_400_and_one_short_log_line(
    server: ServerProcess,
) -> None:
    log_before = server.log_path.stat().st_size
    async with aiohttp.ClientSession() as http:
        sid = await _polling_sid(http, server.url)
        async with http.post(
            f"{server.url}/socket.io/?EIO=4&transport=polling&sid={sid}",
            data=b'42/visitor,["message","\xff\xfe"]',
        ) as response:
            assert response.status == 400
    await asyncio.sleep(0.2)
    written = server.log_path.read_text()[log_before:]
    print(f"log grew by {len(written)} bytes:\n{written}")
    assert written.count("\n") <= 1
    assert "Traceback" not in written


async def test_garbage_in_a_polling_body_ends_the_session(server: ServerProcess) -> None:
    log_before = server.log_path.stat().st_size
    async with aiohttp.ClientSession() as http:
        sid = await _polling_sid(http, server.url)
        polling = f"{server.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
        async with http.post(polling, data="x-no-such-packet") as response:
            assert response.status == 400
        async with http.post(polling, data="40/visitor,") as response:
            assert response.status == 400  # the session is gone
    written = server.log_path.read_text()[log_before:]
    assert "Traceback" not in written
    assert written.count("\n") <= 2


async def test_half_open_http_connections_are_closed_by_the_server(server: ServerProcess) -> None:
    """Partial headers, or a body shorter than declared: closed within the timeouts (10 s)."""
    loop = asyncio.get_running_loop()
    sockets: list[socket.socket] = []
    partial_head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
    short_body = (
        b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"username": '
    )
    for i in range(100):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.setblocking(False)
        sock.sendall(partial_head if i % 2 == 0 else short_body)
        sockets.append(sock)

    async def closed_by_server(sock: socket.socket) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(40):
                while True:
                    try:
                        data = await loop.sock_recv(sock, 4096)
                    except ConnectionResetError:
                        return True
                    if not data:
                        return True
        return False

    try:
        closed = await asyncio.gather(*(closed_by_server(s) for s in sockets))
    finally:
        for sock in sockets:
            sock.close()
    assert all(closed), f"{closed.count(False)} of {len(closed)} still open after 40 s"
    await a_visitor_can_still_chat(server.url)


# --- integers the stores cannot hold (finding 9) ----------------------------------------


async def test_a_resume_with_a_huge_last_seq_is_a_bad_request_in_redis_mode(
    redis_mode_server: ServerProcess,
) -> None:
    url = redis_mode_server.url
    visitor = Client(url, "/visitor")
    counselor = Client(url, "/counselor")
    await visitor.connect()
    await counselor.connect(auth={"token": await redis_mode_server.login("carla")})
    try:
        start = await visitor.call("start", {"helpline": "alpha", "lang": "nl"})
        await counselor.call("availability", {"available": True})
        chat_id = (await counselor.next("assigned"))["chat_id"]
        for last_seq in (2**63, 2**64 - 1, 2**53):
            ack = await visitor.call("resume", {"token": start["token"], "last_seq": last_seq})
            assert ack["error"]["code"] == "bad_request", ack
            assert "last_seq" in ack["error"]["message"]
            ack = await counselor.call("resume", {"last_seq": {chat_id: last_seq}})
            assert ack["error"]["code"] == "bad_request", ack
        ack = await visitor.call("resume", {"token": start["token"], "last_seq": 0})
        assert ack["status"] == "chatting"
        assert len((await counselor.call("resume", {"last_seq": {chat_id: 0}}))["chats"]) == 1
    finally:
        await visitor.disconnect()
        await counselor.disconnect()


async def test_a_client_resetting_a_half_sent_post_leaves_no_traceback(
    server: ServerProcess,
) -> None:
    async with aiohttp.ClientSession() as http:
        sid = await _polling_sid(http, server.url)
    log_before = server.log_path.stat().st_size
    for path in (f"/socket.io/?EIO=4&transport=polling&sid={sid}", "/api/login"):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n40/visi".encode()
        )
        await asyncio.sleep(0.3)
        # SO_LINGER 0: close() sends a TCP reset, as a client that vanishes mid-request.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
    await asyncio.sleep(0.5)
    written = server.log_path.read_text()[log_before:]
    print(f"log grew by {len(written)} bytes:\n{written}")
    assert "Traceback" not in written
    assert written.count("\n") <= 2
    await a_visitor_can_still_chat(server.url)
