"""Deploying without fear: SIGTERM drains within its limit, SIGHUP reloads helplines.toml.

Real `chatserver run` processes (tests/processes.py), real Socket.IO clients, and for the
multi-process case a real redis-server.
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from tests.helpers import Client, always_open_config
from tests.integration.test_multiprocess import Cluster
from tests.processes import PASSWORD, ServerProcess, chatserver
from tests.redis_server import RedisServer

DRAIN_SECONDS = 10.0
CONFIG = always_open_config(
    max_queue=10,
    max_chats=3,
    server="[server]\nvisitor_grace_seconds = 60\ncounselor_grace_seconds = 30\n",
)


def terminate(process: ServerProcess, limit: float = DRAIN_SECONDS + 5) -> tuple[float, int]:
    """SIGTERM, then the seconds until the process exited and its exit code."""
    assert process.process is not None
    began = time.monotonic()
    process.process.send_signal(signal.SIGTERM)
    code = process.process.wait(timeout=limit)
    process.process = None
    return time.monotonic() - began, code


async def disconnected(client: Client, timeout: float = DRAIN_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while client.sio.connected:
        assert time.monotonic() < deadline, "the server did not let the client go"
        await asyncio.sleep(0.05)


async def test_sigterm_with_two_processes_on_redis_loses_no_message_and_exits_in_time(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "helplines.toml").write_text(CONFIG)
    cluster = Cluster(tmp_path, own_redis)
    cluster.add_counselor("carla")
    try:
        a, b = await cluster.start("a"), await cluster.start("b")
        visitor = await cluster.visitor(a)
        token = (await visitor.call("start", {"helpline": "alpha"}))["token"]
        counselor = await cluster.counselor(b, "carla")
        chat_id = (await counselor.next("assigned"))["chat_id"]
        await visitor.next("assigned")
        assert (await visitor.call("message", {"text": "hallo", "client_msg_id": "v1"}))["seq"] == 1
        await counselor.next("message")

        seconds, code = terminate(a)
        await disconnected(visitor)
        print(f"SIGTERM with Redis: exited {code} after {seconds:.2f} s")
        assert code == 0
        assert seconds < DRAIN_SECONDS
        # Written while the visitor had no connection: nothing may be lost.
        ack = await counselor.call(
            "message", {"chat_id": chat_id, "text": "nog daar?", "client_msg_id": "c2"}
        )
        assert ack["seq"] == 2

        again = await cluster.visitor(b)
        resumed = await again.call("resume", {"token": token, "last_seq": 1})
        assert resumed["status"] == "chatting"
        assert [(m["seq"], m["text"]) for m in resumed["messages"]] == [(2, "nog daar?")]
        assert (await again.call("message", {"text": "ja", "client_msg_id": "v3"}))["seq"] == 3
        assert (await counselor.until("message", lambda m: m["seq"] == 3))["text"] == "ja"
        log = a.log_path.read_text()
        assert '"event":"drained"' in log and '"connections":1' in log
    finally:
        await cluster.close()


def _single(tmp_path: Path, config: str = CONFIG) -> tuple[Path, list[str]]:
    work = tmp_path / "work"
    (work / "config").mkdir(parents=True)
    (work / "config" / "helplines.toml").write_text(config)
    common = ["--config", "config", "--data-dir", "data"]
    chatserver(
        "users", "add", "carla", "--role", "counselor", "--display-name", "Carla",
        "--password-stdin", *common, cwd=work, stdin=PASSWORD + "\n",
    )  # fmt: skip
    return work, common


async def test_sigterm_of_a_single_process_tells_the_visitor_flushes_counts_and_keeps_logins(
    tmp_path: Path,
) -> None:
    work, common = _single(tmp_path)
    server = ServerProcess(work, "one", *common)
    server.start()
    try:
        await server.wait_healthy()
        visitor = Client(server.url, "/visitor")
        await visitor.connect()
        assert (await visitor.call("start", {"helpline": "alpha", "lang": "nl"}))[
            "status"
        ] == "queued"
        login = await server.login("carla")
        counselor = Client(server.url, "/counselor")
        await counselor.connect(auth={"token": login})
        await counselor.call("availability", {"available": True})
        await counselor.next("assigned")
        await visitor.next("assigned")

        seconds, code = terminate(server)
        print(f"SIGTERM without Redis: exited {code} after {seconds:.2f} s")
        assert code == 0
        assert seconds < DRAIN_SECONDS
        told = await visitor.next("message")
        assert told["from"] == "system" and "opnieuw gestart" in told["text"]
        ended = await visitor.next("ended")
        assert ended == {"reason": "restart", "message": told["text"]}
        counts = (work / "data" / "counts.json").read_text()
        assert '"requested":1' in counts and '"answered":1' in counts

        server.start()  # the same data dir, as after a deploy
        await server.wait_healthy()
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{server.url}/api/me", headers={"Authorization": f"Bearer {login}"}) as me,
        ):
            assert me.status == 200
            assert (await me.json())["username"] == "carla"
        again = Client(server.url, "/counselor")
        await again.connect(auth={"token": login})
        assert (await again.call("availability", {"available": True}))["available"]
        await again.disconnect()
    finally:
        server.stop()


async def _accepting(http: aiohttp.ClientSession, url: str) -> bool:
    async with http.get(f"{url}/api/helplines") as response:
        assert response.status == 200
        return bool((await response.json())[0]["accepting"])


async def _until_accepting(http: aiohttp.ClientSession, url: str, expected: bool) -> None:
    deadline = time.monotonic() + 10
    while await _accepting(http, url) is not expected:
        assert time.monotonic() < deadline, f"accepting stayed {not expected}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_sighup_reloads_hours_and_a_broken_file_keeps_the_old_ones(
    tmp_path: Path, log_format: str
) -> None:
    work, common = _single(tmp_path)
    server = ServerProcess(work, "one", *common, "--log-format", log_format)
    server.start()
    toml = work / "config" / "helplines.toml"
    today = datetime.now(ZoneInfo("Europe/Amsterdam")).date().isoformat()
    try:
        await server.wait_healthy()
        async with aiohttp.ClientSession() as http:
            assert await _accepting(http, server.url)
            # Closed today after all (a holiday), without a restart.
            toml.write_text(CONFIG + f'[[helpline.exceptions]]\ndate = "{today}"\nhours = []\n')
            assert server.process is not None
            server.process.send_signal(signal.SIGHUP)
            await _until_accepting(http, server.url, False)
            visitor = Client(server.url, "/visitor")
            await visitor.connect()
            assert (await visitor.call("start", {"helpline": "alpha"}))["status"] == "closed"
            await visitor.disconnect()

            toml.write_text(CONFIG.replace('mon = ["00:00-24:00"]', 'mon = ["19:00-25:00"]'))
            server.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while "not reloaded" not in server.log_path.read_text():
                assert time.monotonic() < deadline, "no log line about the broken file"
                await asyncio.sleep(0.05)
            assert not await _accepting(http, server.url)  # the holiday still holds
        refused = [
            line for line in server.log_path.read_text().splitlines() if "not reloaded" in line
        ]
        assert len(refused) == 1
        assert "hours.mon[0]" in refused[0] and "19:00-25:00" in refused[0]
    finally:
        server.stop()


async def test_a_port_in_use_says_so_in_one_line_without_a_traceback(tmp_path: Path) -> None:
    work, common = _single(tmp_path)
    first = ServerProcess(work, "first", *common)
    first.start()
    try:
        await first.wait_healthy()
        second = ServerProcess(work, "second", *common, "--port", str(first.port))
        second.port = first.port
        second.start()
        assert second.process is not None
        code = second.process.wait(timeout=30)
        output = second.log_path.read_text()
        assert code == 1
        assert "Traceback" not in output and "/widget/" not in output
        assert f"cannot listen on 127.0.0.1:{first.port}" in output
    finally:
        first.stop()
