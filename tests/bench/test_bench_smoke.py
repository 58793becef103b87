"""The benchmark at toy size: its lean client speaks the protocol exactly, and one quick
run of every scenario writes well-formed results with nothing lost. No timing assertions:
the figures themselves are judged by the benchmark's own output, never by the test suite."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from bench.lean_client import ConnectRefused, LeanSocket, decode, encode
from bench.roles import Product
from bench.scenarios import assignment_figures
from bench.server_process import PASSWORD, ROOT, Process, add_counselors, chatserver
from tests.helpers import Client

SCENARIOS = ("idle", "relay", "baseline", "assignment", "multiprocess", "soak")


@pytest.mark.parametrize(
    ("packet", "namespace"),
    [
        (socketio.packet.Packet(socketio.packet.CONNECT, namespace="/visitor"), "/visitor"),
        (
            socketio.packet.Packet(socketio.packet.CONNECT, {"token": "t"}, namespace="/counselor"),
            "/counselor",
        ),
        (
            socketio.packet.Packet(
                socketio.packet.EVENT, ["start", {"helpline": "bench"}], namespace="/visitor", id=7
            ),
            "/visitor",
        ),
        (socketio.packet.Packet(socketio.packet.EVENT, ["join", {"room": "pair-1"}], id=12), "/"),
        (socketio.packet.Packet(socketio.packet.ACK, [{"seq": 3}], namespace="/visitor", id=7),
         "/visitor"),
        (socketio.packet.Packet(socketio.packet.ACK, [{}], namespace="/counselor", id=5),
         "/counselor"),
    ],
)  # fmt: skip
def test_lean_packets_are_the_ones_python_socketio_writes_and_reads(
    packet: socketio.packet.Packet, namespace: str
) -> None:
    expected = "4" + packet.encode()
    assert encode(str(packet.packet_type), namespace, packet.data, packet.id) == expected
    kind, got_namespace, ack_id, data = decode(expected)
    assert (kind, got_namespace, ack_id, data) == (
        str(packet.packet_type),
        namespace,
        packet.id,
        packet.data,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    workdir = tmp_path_factory.mktemp("bench-server")
    data_dir = workdir / "data"
    add_counselors([("carla", "bench")], data_dir)
    process = chatserver(workdir, "chatserver", data_dir)
    process.start()
    yield process
    process.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class LeanRecorder:
    """A lean socket that records events like tests.helpers.Client does."""

    def __init__(self, http: aiohttp.ClientSession, url: str, namespace: str) -> None:
        self.events: list[tuple[str, Any]] = []
        self.sock = LeanSocket(http, url, namespace, on_event=self.record)

    def record(self, event: str, data: Any) -> None:
        self.events.append((event, data))


async def _chat(visitor_call: Any, counselor: Client, label: str) -> dict[str, Any]:
    """start -> assigned -> one message each way -> end; what the visitor side saw."""
    ack = await visitor_call("start", {"helpline": "bench", "lang": "en"})
    assigned = await counselor.until("assigned", lambda d: d["chat_id"] == ack["chat_id"])
    sent = await visitor_call("message", {"text": f"hello {label}", "client_msg_id": "v1"})
    arrived = await counselor.until("message", lambda d: d["chat_id"] == ack["chat_id"])
    reply = {"chat_id": ack["chat_id"], "text": f"hi {label}", "client_msg_id": "c1"}
    replied = await counselor.call("message", reply)
    ended = await visitor_call("end", {})
    return {
        "start_keys": sorted(ack),
        "status": ack["status"],
        "assigned_keys": sorted(assigned),
        "message_ack_keys": sorted(sent),
        "arrived": (arrived["from"], arrived["text"] == f"hello {label}", arrived["seq"]),
        "reply_seq": replied["seq"],
        "end_ack": ended,
    }


async def test_lean_client_and_python_socketio_client_get_the_same_answers(
    server: Process, http: aiohttp.ClientSession
) -> None:
    token = (await (await http.post(
        f"{server.url}/api/login", json={"username": "carla", "password": PASSWORD}
    )).json())["token"]  # fmt: skip
    counselor = Client(server.url, "/counselor")
    await counselor.connect(auth={"token": token})
    assert (await counselor.call("availability", {"available": True}))["available"] is True
    try:
        reference = Client(server.url, "/visitor")
        await reference.connect()
        by_async_client = await _chat(reference.call, counselor, "async")
        await reference.sio.disconnect()

        lean = LeanRecorder(http, server.url, "/visitor")
        await lean.sock.connect()
        by_lean_client = await _chat(lean.sock.call, counselor, "lean")
        await lean.sock.close()
    finally:
        await counselor.sio.disconnect()

    assert by_async_client["status"] == "queued"
    assert by_lean_client == by_async_client
    names = [event for event, _ in lean.events]
    assert "assigned" in names and "message" in names
    message = next(data for event, data in lean.events if event == "message")
    assert message["from"] == "counselor" and message["text"] == "hi lean"


async def test_lean_client_reports_a_refused_connect_like_socket_io_does(
    server: Process, http: aiohttp.ClientSession
) -> None:
    lean = LeanSocket(http, server.url, "/counselor")
    with pytest.raises(ConnectRefused) as refused:
        await lean.connect({"token": "not-a-session"})
    await lean.close()
    assert refused.value.data == {
        "message": "unauthorized",
        "data": {"code": "unauthorized", "message": "log in first"},
    }


async def test_lean_protocol_2_counselor_confirms_offers_and_answers_heartbeats(
    server: Process, http: aiohttp.ClientSession
) -> None:
    """The bench's v2 console: each offer is confirmed (only then is the visitor told
    `assigned`), and heartbeats are acked, so the server keeps it past the liveness limit."""
    events: list[tuple[str, Any]] = []
    speech = Product("bench", protocol=2)
    lean = await speech.open_counselor(
        http, server.url, "carla", lambda e, d: events.append((e, d)), True, []
    )
    visitor = Client(server.url, "/visitor")
    await visitor.connect()
    try:
        ack = await visitor.call("start", {"helpline": "bench", "lang": "en"})
        await visitor.until("assigned", lambda _: True)
        offer = next(d for e, d in events if e == "assigned")
        assert offer["chat_id"] == ack["chat_id"] and offer["accepted"] is False
        # counselor_liveness_seconds is 6: unanswered, the console would be gone by now.
        while sum(e == "heartbeat" for e, _ in events) < 5:
            assert lean.lost is None
            await asyncio.sleep(0.2)
        heartbeat = [d for e, d in events if e == "heartbeat"][-1]
        assert ack["chat_id"] in heartbeat["chats"]
        assert lean.connected and lean.lost is None
        assert (speech.accepted, dict(speech.errors)) == (1, {})
        assert (await lean.call("end", {"chat_id": ack["chat_id"]})) == {"ok": True}
    finally:
        await visitor.sio.disconnect()
        await lean.close()


def test_assignment_figures_count_slots_left_free_while_someone_waits() -> None:
    s = 1_000_000_000
    chats = {
        "early": [1 * s, 2 * s],  # queued, then given the first slot at once
        "slow": [1 * s, 14 * s],  # waiting when c2 freed at 10 s: told only 4 s later
        "late": [20 * s, 20 * s + 10_000_000],  # nobody waited when c1 freed at 15 s
    }
    events = {
        "c1": [["freed", "a", 2 * s - 1_000_000], ["assigned", "early", 2 * s],
               ["freed", "early", 15 * s], ["assigned", "late", 20 * s]],
        "c2": [["freed", "b", 10 * s], ["assigned", "slow", 14 * s - 1_000_000],
               ["freed", "slow", 16 * s], ["assigned", "ghost", 17 * s]],
    }  # fmt: skip
    figures = assignment_figures(events, chats, 2 * s)
    assert figures["freed_slots"] == 4
    # "late" queued after its slot came free; "ghost" was never told assigned.
    assert figures["freed_slots_measured"] == 2
    assert figures["freed_to_visitor_assigned_ms"]["max"] == 4000.0
    assert (figures["waited_with_free_slot"], figures["unmatched"]) == (1, 1)


def test_benchmark_at_toy_size_writes_well_formed_results_and_loses_nothing(
    tmp_path: Path,
) -> None:
    output = tmp_path / "latest.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--output", str(output),
         "--workdir", str(tmp_path / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "lost=0 dup=0 reorder=0" in done.stdout
    report = json.loads(output.read_text())

    assert report["meta"]["mode"] == "smoke"
    assert set(report["scenarios"]) == set(SCENARIOS)
    scenarios = report["scenarios"]

    idle = scenarios["idle"]
    for side in ("product", "bare", "bare_no_deflate"):
        assert idle[side]["queued"] == idle[side]["visitors"] == 20
        assert isinstance(idle[side]["rss_per_visitor_kib"], float | int)
        assert idle[side]["errors"] == {}
    # Everyone queued, warm-up visitors included, at distinct places.
    assert idle["product"]["max_position"] == 20 + idle["product"]["warm_visitors"]

    for name in ("relay", "baseline"):
        summary = scenarios[name]["summary"]
        assert summary["runs"] == 1
        for key in ("msgs_per_s", "v2c_p50_ms", "v2c_p99_ms", "c2v_p99_ms"):
            assert summary[key] is not None and summary[key] > 0, (name, key)
        for run in scenarios[name]["runs"]:
            assert run["delivery"]["lost"] == run["delivery"]["dup"] == 0, run["delivery"]
            assert run["delivery"]["reorder"] == run["unacked"] == 0, run
            assert run["delivery"]["sent"] > 0
            assert run["lost_connections"] == {"visitors": {}, "counselors": {}}
    assert set(scenarios["baseline"]["ratio"]) >= {"msgs_per_s", "server_cpu_per_msg", "v2c_p50"}

    assignment = scenarios["assignment"]
    assert assignment["counselor_protocol"] == 2
    for key, processes in (("memory", 1), ("redis_1", 1), ("redis_2", 2)):
        run = assignment[key]
        assert run["processes"] == processes, key
        assert run["freed_slots_measured"] > 0, key
        assert run["freed_to_visitor_assigned_ms"]["p99"] is not None, key
        assert run["accepted"] > 0, key  # offers were confirmed: protocol 2 was spoken
        assert run["errors"] == {}, key
        assert (run["waited_with_free_slot"], run["unmatched"]) == (0, 0), key

    multiprocess = scenarios["multiprocess"]
    for key in ("one", "two"):
        assert multiprocess[key]["delivery"]["lost"] == 0
        assert multiprocess[key]["msgs_per_s"] > 0
    assert multiprocess["two"]["processes"] == 2

    soak = scenarios["soak"]
    assert soak["messages"] > 0
    assert (soak["lost"], soak["dup"], soak["reorder"], soak["unacked"]) == (0, 0, 0, 0)
    assert soak["lost_connections"] == {"visitors": {}, "counselors": {}}

    names = {row["target"] for row in report["targets"]}
    assert any("soak" in name for name in names) and any("assignment" in n for n in names)
    for row in report["targets"]:
        assert set(row) == {"target", "value", "goal", "met", "note"}
