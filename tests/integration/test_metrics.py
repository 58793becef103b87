"""GET /metrics (web/metrics.py): prometheus-client text, cheap gauges, no identifying label."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import METRICS_TOKEN, Server

# What a label may hold: helpline ids, fixed words and histogram bounds. An id, a token, an
# address or a text would not fit; the names are the only labels there are.
ALLOWED_LABELS = {"helpline", "sender", "status", "le"}
SAFE_VALUE = re.compile(r"[a-z0-9_.+-]{1,40}|\+Inf", re.IGNORECASE)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def scrape(server: Server, http: aiohttp.ClientSession) -> dict[str, dict[str, float]]:
    """{sample name: {labels as k=v,... : value}}, parsed by prometheus-client's own parser."""
    scraper = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    async with http.get(f"{server.url}/metrics", headers=scraper) as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    samples: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("chatserver_"), family.name
        assert family.documentation, family.name
        for sample in family.samples:
            assert set(sample.labels) <= ALLOWED_LABELS, sample
            for value in sample.labels.values():
                assert SAFE_VALUE.fullmatch(value), sample
            key = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


async def test_metrics_parse_with_prometheus_client_and_show_load_and_counters(
    server: Server, http: aiohttp.ClientSession
) -> None:
    visitors = []
    for _ in range(3):
        visitor = server.visitor()
        await visitor.connect()
        await visitor.call("start", {"helpline": "alpha"})
        visitors.append(visitor)
    carla = await server.counselor("carla", helplines=("alpha",))
    chat_id = (await carla.next("assigned"))["chat_id"]
    await carla.next("assigned")
    await server.counselor("dirk", available=False)  # serves every helpline
    await server.settle()
    await carla.call("message", {"chat_id": chat_id, "text": "hallo", "client_msg_id": "c1"})

    samples = await scrape(server, http)
    gauges = {
        name: samples[name]
        for name in (
            "chatserver_helpline_open",
            "chatserver_queue_waiting",
            "chatserver_counselors_online",
            "chatserver_counselors_available",
            "chatserver_chats_active",
        )
    }
    assert gauges == {
        "chatserver_helpline_open": {"helpline=alpha": 1, "helpline=shut": 0},
        "chatserver_queue_waiting": {"helpline=alpha": 1, "helpline=shut": 0},
        "chatserver_counselors_online": {"helpline=alpha": 2, "helpline=shut": 1},
        "chatserver_counselors_available": {"helpline=alpha": 1, "helpline=shut": 0},
        "chatserver_chats_active": {"helpline=alpha": 2, "helpline=shut": 0},
    }
    # Both assignments came from the events themselves; the safety net had nothing to do.
    assert samples["chatserver_assignments_total"] == {"": 2}
    assert samples["chatserver_assignments_by_sweep_total"] == {"": 0}
    assert samples["chatserver_offers_withdrawn_total"] == {"": 0}
    assert samples["chatserver_starts_total"] == {"helpline=alpha,status=queued": 3}
    assert samples["chatserver_messages_relayed_total"] == {"sender=counselor": 1}
    assert samples["chatserver_queue_wait_seconds_count"] == {"helpline=alpha": 2}
    assert samples["chatserver_assignment_latency_seconds_count"] == {"helpline=alpha": 2}
    for name in ("chatserver_bus_publish_failures_total", "chatserver_redis_errors_total"):
        assert samples[name] == {"": 0}


async def test_a_start_while_closed_is_counted(server: Server, http: aiohttp.ClientSession) -> None:
    visitor = server.visitor()
    await visitor.connect()
    assert (await visitor.call("start", {"helpline": "shut"}))["status"] == "closed"
    samples = await scrape(server, http)
    assert samples["chatserver_closed_attempts_total"] == {"helpline=shut": 1}
    assert samples["chatserver_starts_total"] == {"helpline=shut,status=closed": 1}


async def test_metrics_are_for_the_scraper_token_and_admins_only(
    server: Server, http: aiohttp.ClientSession
) -> None:
    await server.add_account("mia", role="manager")
    await server.add_account("ada", role="admin")
    url = f"{server.url}/metrics"
    for headers, status in (
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": f"Bearer {await server.login('mia')}"}, 403),
        ({"Authorization": f"Bearer {await server.login('ada')}"}, 200),
        ({"Authorization": f"Bearer {METRICS_TOKEN}"}, 200),
    ):
        async with http.get(url, headers=headers) as response:
            assert response.status == status, headers
