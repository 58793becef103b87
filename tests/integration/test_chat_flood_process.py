"""A real `chatserver run` under the chat-bloat attack: its memory stays bounded.

The attack (scaled down from the hardening report): many connections of one visitor fill
one chat with 4000-character messages, then 30 connections `resume {last_seq: 0}` at once,
three times. Before the caps and resume pages, every resume copied the whole log and the
server's resident memory grew by hundreds of MiB. The peak (VmHWM) is compared with the
resident memory before the attack.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from tests.helpers import Client, always_open_config
from tests.processes import ServerProcess

# Default chat caps (2,000 messages / 2 MB) and resume pages; a visitor budget and
# connection budgets wide enough that the flood reaches the cap in a few seconds.
CONFIG = always_open_config(
    max_queue=50,
    max_chats=2,
    server="[limits]\n"
    "visitor_message_rate = 1000\nvisitor_message_burst = 10000\n"
    "connection_message_rate = 1000\nconnection_message_burst = 10000\n",
)
SENDERS = 10
MESSAGES_EACH = 100
TEXT = "x" * 4000
RESUMERS = 30
MiB = 1024 * 1024


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


async def test_a_flooded_chat_is_capped_and_resumes_do_not_blow_up_memory(
    tmp_path: Path,
) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "helplines.toml").write_text(CONFIG)
    server = ServerProcess(tmp_path, "server", "--config", "config", "--data-dir", "data")
    clients: list[Client] = []

    async def connect() -> Client:
        client = Client(server.url, "/visitor")
        clients.append(client)
        await client.connect()
        return client

    server.start()
    try:
        await server.wait_healthy()
        first = await connect()
        token = (await first.call("start", {"helpline": "alpha"}))["token"]
        senders = [first]
        for _ in range(SENDERS - 1):
            sender = await connect()
            await sender.call("resume", {"token": token})
            senders.append(sender)
        resumers = [await connect() for _ in range(RESUMERS)]
        assert server.process is not None
        pid = server.process.pid
        baseline = _status_kib(pid, "VmRSS")

        async def flood(index: int, client: Client) -> list[str]:
            codes = []
            for n in range(MESSAGES_EACH):
                ack = await client.call("message", {"text": TEXT, "client_msg_id": f"{index}-{n}"})
                codes.append("ok" if "seq" in ack else ack["error"]["code"])
            return codes

        results = await asyncio.gather(*(flood(i, s) for i, s in enumerate(senders)))
        codes = [code for sender_codes in results for code in sender_codes]
        # 2 MB of 4000-byte texts is 500 messages; everything after gets chat_full.
        assert codes.count("ok") == 500
        assert codes.count("chat_full") == SENDERS * MESSAGES_EACH - 500
        told = [m for m in first.drain("message") if m["from"] == "system"]
        assert len(told) == 1

        for _ in range(3):
            acks = await asyncio.gather(
                *(r.call("resume", {"token": token, "last_seq": 0}) for r in resumers)
            )
            assert all(ack["more"] is True for ack in acks)
            assert all(len(ack["messages"]) <= 100 for ack in acks)
        peak = _status_kib(pid, "VmHWM")
        growth_mib = (peak - baseline) * 1024 / MiB
        print(f"server RSS before {baseline / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB")
        assert growth_mib < 50, f"peak RSS grew by {growth_mib:.0f} MiB"
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 2)
        server.stop()
