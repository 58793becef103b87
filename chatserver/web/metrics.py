"""GET /metrics: this process's Prometheus metrics, written by prometheus-client.

Counters and histograms (process_metrics.Counters) count what this process did since it
started; the gauges show the shared load at scrape time from three kinds of cheap reads
(each queue's summary, the counselors' presence, one batched read of their chats' marks).
Labels are helpline ids and fixed words only. Each process answers for itself: scrape every
process and sum (docs/operations.md).
"""

from __future__ import annotations

import hmac
from collections import Counter as Tally

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from chatserver.core.models import ChatState
from chatserver.switchboard import Switchboard
from chatserver.web.api import require_role
from chatserver.web.keys import BOARD, CLOCK, METRICS_TOKEN

routes = web.RouteTableDef()


class LoadGauges:
    """The current load per helpline, set just before each scrape is written."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def gauge(name: str, help_text: str) -> Gauge:
            return Gauge(name, help_text, ["helpline"], registry=registry)

        self.open = gauge("chatserver_helpline_open", "1 when the helpline is open now.")
        self.waiting = gauge("chatserver_queue_waiting", "Visitors waiting in the queue.")
        self.online = gauge(
            "chatserver_counselors_online", "Connected counselors who serve the helpline."
        )
        self.available = gauge(
            "chatserver_counselors_available", "Connected counselors marked available."
        )
        self.active = gauge("chatserver_chats_active", "Chats in progress.")

    async def update(self, board: Switchboard, now_open: dict[str, bool]) -> None:
        counselors = await board.store.counselors()
        chat_ids = sorted({chat_id for c in counselors for chat_id in c.chats})
        marks = await board.store.chat_marks(chat_ids)
        active = Tally(m.helpline for m in marks.values() if m.state is ChatState.CHATTING)
        for gauge in (self.open, self.waiting, self.online, self.available, self.active):
            gauge.clear()  # a helpline removed by a reload disappears
        for helpline in board.config.helplines:
            hid = helpline.id
            serving = [c for c in counselors if c.online and c.serves(hid)]
            self.open.labels(hid).set(int(now_open[hid]))
            self.waiting.labels(hid).set((await board.store.queue_summary(hid)).waiting)
            self.online.labels(hid).set(len(serving))
            self.available.labels(hid).set(sum(1 for c in serving if c.available))
            self.active.labels(hid).set(active[hid])


_GAUGES = web.AppKey("load_gauges", LoadGauges)


def setup(app: web.Application, board: Switchboard) -> None:
    """Register the route and the gauges in the board's registry."""
    app[_GAUGES] = LoadGauges(board.counters.registry)
    app.add_routes(routes)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """For a scraper holding CHATSERVER_METRICS_TOKEN, or a logged-in admin."""
    expected = request.app[METRICS_TOKEN]
    presented = request.headers.get("Authorization", "")
    if not (expected and hmac.compare_digest(presented, f"Bearer {expected}")):
        await require_role(request, ("admin",))
    board = request.app[BOARD]
    now = request.app[CLOCK]()
    now_open = {h.id: board.hours[h.id].is_open(now) for h in board.config.helplines}
    await request.app[_GAUGES].update(board, now_open)
    body = generate_latest(board.counters.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
