"""Anonymity by construction: after a full chat nothing on disk or in the logs names the visitor.

This runs the real `chatserver` command as a separate process, with debug logging on, and
scans every byte it wrote.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import Client, always_open_config
from tests.processes import PASSWORD, ServerProcess, chatserver

CONFIG = always_open_config(max_queue=5, max_chats=2)

VISITOR_ADDRESS = "203.0.113.77"
VISITOR_AGENT = "MarkerBrowser/9.9 (privacy-probe; Android 14)"


def _scan(root: Path, needles: list[str]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for needle in needles:
                if needle.encode() in data or needle.encode("utf-16-le") in data:
                    hits.append(f"{path}: {needle}")
    return hits


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_a_full_chat_leaves_no_trace_of_the_visitor_on_disk_or_in_logs(
    tmp_path: Path, log_format: str
) -> None:
    work = tmp_path / "work"
    (work / "config").mkdir(parents=True)
    (work / "config" / "helplines.toml").write_text(CONFIG)
    common = ["--config", "config", "--data-dir", "data"]
    chatserver(
        "users", "add", "carla", "--role", "counselor", "--password-stdin", *common,
        cwd=work, stdin=PASSWORD + "\n",
    )  # fmt: skip
    server = ServerProcess(
        work,
        "server",
        *common,
        env={"CHATSERVER_LOG_LEVEL": "DEBUG", "CHATSERVER_LOG_FORMAT": log_format},
    )
    url = server.url
    server.start()
    try:
        await server.wait_healthy()
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
        server.stop()  # SIGTERM: the drain and stop lines are part of the session's log

    log_text = server.log_path.read_text()
    print(f"server log ({len(log_text)} bytes):\n{log_text}")
    # The log is live (so the scan below means something): staff events are in it.
    assert "counselor carla connected" in log_text
    if log_format == "text":
        assert "INFO chatserver: serving 1 helplines" in log_text
    else:
        lines = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
        events = [line["event"] for line in lines]
        assert events[0] == "started" and events[-1] == "stopped" and "drained" in events
        assert any(line["level"] == "DEBUG" for line in lines)
        for line in lines:
            assert {"time", "level", "component", "event", "message"} <= set(line), line
        # Every line is an event object, except the banner printed for a person at start.
        others = [line for line in log_text.splitlines() if not line.startswith("{")]
        assert len(others) <= 8 and others[0].startswith("chatserver "), others
    needles = [marker, reply_marker, VISITOR_ADDRESS, VISITOR_AGENT, "MarkerBrowser", token]
    assert [n for n in needles if n in log_text] == []
    assert _scan(work, needles) == []
    counts = (work / "data" / "counts.json").read_text()
    assert '"requested":1' in counts and '"answered":1' in counts
