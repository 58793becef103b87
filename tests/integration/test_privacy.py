"""Anonymity by construction: after a full chat nothing on disk or in the logs names the visitor.

This runs the real `chatserver` command as a separate process, with debug logging on, and
scans every byte it wrote.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from tests.helpers import Client
from tests.integration.conftest import free_port

CONFIG = """
timezone = "Europe/Amsterdam"

[[helpline]]
id = "alpha"
name = "Alpha"
max_queue = 5
last_admission_minutes = 0
max_chats_per_counselor = 2
[helpline.hours]
mon = ["00:00-24:00"]
tue = ["00:00-24:00"]
wed = ["00:00-24:00"]
thu = ["00:00-24:00"]
fri = ["00:00-24:00"]
sat = ["00:00-24:00"]
sun = ["00:00-24:00"]
"""

VISITOR_ADDRESS = "203.0.113.77"
VISITOR_AGENT = "MarkerBrowser/9.9 (privacy-probe; Android 14)"
PASSWORD = "a long and careful password"


def _chatserver(*args: str, cwd: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatserver.cli", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        check=True,
        **kwargs,  # type: ignore[arg-type]
    )


def _scan(root: Path, needles: list[str]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for needle in needles:
                if needle.encode() in data or needle.encode("utf-16-le") in data:
                    hits.append(f"{path}: {needle}")
    return hits


async def test_a_full_chat_leaves_no_trace_of_the_visitor_on_disk_or_in_logs(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    (work / "config").mkdir(parents=True)
    (work / "config" / "helplines.toml").write_text(CONFIG)
    common = ["--config", "config", "--data-dir", "data"]
    _chatserver(
        "users",
        "add",
        "carla",
        "--role",
        "counselor",
        "--password-stdin",
        *common,
        cwd=work,
        input=PASSWORD + "\n",
    )

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    env = {**os.environ, "CHATSERVER_LOG_LEVEL": "DEBUG", "PYTHONUNBUFFERED": "1"}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "chatserver.cli", "run", "--port", str(port), *common],
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        await _wait_healthy(url)
        marker = f"PRIVACY-MARKER-{secrets.token_hex(8)}"
        reply_marker = f"COUNSELOR-MARKER-{secrets.token_hex(8)}"
        headers = {
            "X-Forwarded-For": VISITOR_ADDRESS,
            "X-Real-IP": VISITOR_ADDRESS,
            "User-Agent": VISITOR_AGENT,
        }
        async with aiohttp.ClientSession(headers=headers) as http:
            # Visitor-chosen text in paths and query strings must not reach a log either.
            async with http.get(f"{url}/api/helplines/{marker}/schedule?q={marker}") as r:
                assert r.status == 404
            async with http.get(f"{url}/api/helplines") as r:
                assert r.status == 200
            async with http.post(
                f"{url}/api/login", json={"username": "carla", "password": PASSWORD}
            ) as r:
                token = (await r.json())["token"]

        visitor = Client(url, "/visitor")
        await visitor.connect(headers=headers)
        start = await visitor.call("start", {"helpline": "alpha", "lang": "nl"})
        assert start["status"] == "queued"
        counselor = Client(url, "/counselor")
        await counselor.connect(auth={"token": token})
        await counselor.call("availability", {"available": True})
        chat_id = (await counselor.next("assigned"))["chat_id"]

        ack = await visitor.call("message", {"text": f"ik heet {marker}", "client_msg_id": "v1"})
        assert ack["seq"] == 1
        assert marker in (await counselor.next("message"))["text"]
        await counselor.call(
            "message", {"chat_id": chat_id, "text": reply_marker, "client_msg_id": "c1"}
        )
        assert (await visitor.next("message"))["text"] == reply_marker
        # Error paths carry visitor text too.
        too_long = await visitor.call("message", {"text": marker * 400, "client_msg_id": "v2"})
        assert too_long["error"]["code"] == "too_long"
        bad = await visitor.call("message", {"text": marker, "client_msg_id": marker + "!"})
        assert bad["error"]["code"] == "bad_request"
        assert (await visitor.call(marker, {"text": marker}))["error"]["code"] == "bad_request"
        assert (await visitor.call("end", {})) == {"ok": True}
        await counselor.next("ended")
        await visitor.disconnect()
        await counselor.disconnect()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)

    log_text = log_path.read_text()
    print(f"server log ({len(log_text)} bytes):\n{log_text}")
    # The log is live (so the scan below means something): staff events are in it.
    assert "INFO chatserver: serving 1 helplines" in log_text
    assert "counselor carla connected" in log_text
    needles = [marker, reply_marker, VISITOR_ADDRESS, VISITOR_AGENT, "MarkerBrowser", token]
    assert [n for n in needles if n in log_text] == []
    assert _scan(work, needles) == []
    counts = (work / "data" / "counts.json").read_text()
    assert '"requested":1' in counts and '"answered":1' in counts


async def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 15
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{url}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the server did not come up")
