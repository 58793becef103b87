"""The visitor widget in Debian's Chromium, against a real server on a real port.

One browser for the whole session and a fresh context (storage, history) per test, all on one
session-wide event loop: every test module here sets
`pytestmark = pytest.mark.asyncio(loop_scope="session")`. The counselor is a python-socketio
client. Every page records each request it makes and each console error; a test fails if the
page reached any origin but the server's own (the configured neutral quick-exit site aside) or
logged an error, a CSP violation included.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    Route,
    WebSocket,
    async_playwright,
)

from chatserver import crypto
from chatserver.accounts import FileAccountStore
from chatserver.config import load_config
from chatserver.sessions import MemorySessionStore
from chatserver.store.memory import MemoryStore
from chatserver.web import app as app_module
from chatserver.web.app import create_app
from tests.helpers import Client, FakeClock
from tests.integration.conftest import START, Server, free_port

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium tries to reach outside hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SOCKET_IO_CLIENT = REPO / "static" / "vendor" / "socket.io.esm.min.js"
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
# The quick exit's neutral site; the tests answer it themselves (Route.fulfill).
NEUTRAL_URL = "https://neutral.test/"
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 5000

BROWSER_CONFIG = f"""
timezone = "Europe/Amsterdam"

[server]
embed_origins = ["https://stopitnow.nl"]

[limits]
# Every browser here comes from 127.0.0.1.
starts_per_address_per_minute = 1000

[[helpline]]
id = "alpha"
name = "Alpha"
max_queue = 5
last_admission_minutes = 10
max_chats_per_counselor = 2
quick_exit_url = "{NEUTRAL_URL}"
[helpline.hours]
mon = ["00:00-24:00"]
tue = ["00:00-24:00"]
wed = ["00:00-24:00"]
thu = ["00:00-24:00"]
fri = ["00:00-24:00"]
sat = ["00:00-24:00"]
sun = ["00:00-24:00"]
[helpline.intro]
nl = "Alpha is er voor iedereen die ergens mee zit. Je chat anoniem met een hulpverlener."
en = "Alpha is there for anyone who is worried. You chat anonymously with a counsellor."
[[helpline.alternatives]]
kind = "phone"
label = "Bel anoniem"
value = "0800-1234"
# For the console (issue 6); the widget never sees these.
[[helpline.topics]]
id = "sextortion"
nl = "Sextortion"
en = "Sextortion"
[[helpline.canned]]
lang = "nl"
title = "Begroeting"
text = "Hoi, fijn dat je contact opneemt. Ik ben er voor je."
[[helpline.canned]]
lang = "nl"
title = "Afsluiting"
text = "Dank je wel voor je vertrouwen. Je kunt altijd terugkomen."

[[helpline]]
id = "day"
name = "Day"
max_queue = 5
last_admission_minutes = 10
max_chats_per_counselor = 2
quick_exit_url = "{NEUTRAL_URL}"
[helpline.hours]
wed = ["09:00-17:00"]
thu = ["09:00-17:00"]

[[helpline]]
id = "shut"
name = "Shut"
max_queue = 5
last_admission_minutes = 10
max_chats_per_counselor = 2
quick_exit_url = "{NEUTRAL_URL}"
[helpline.hours]
mon = ["10:00-17:00"]
thu = ["10:00-17:00"]
[[helpline.exceptions]]
date = "2026-12-03"
hours = ["19:00-22:00"]
[[helpline.alternatives]]
kind = "phone"
label = "Bel ons"
value = "0800-5678"
[[helpline.alternatives]]
kind = "email"
label = "Mail ons"
value = "hulp@example.org"
[[helpline.alternatives]]
kind = "link"
label = "Website"
value = "https://example.org/hulp"
"""


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SCREENSHOTS.is_dir() and any(SCREENSHOTS.iterdir()):
        terminalreporter.write_line(f"widget screenshots: {SCREENSHOTS}")


@pytest.fixture(autouse=True)
def fast_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "SCRYPT_N", 2**10)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `./dev test` installs it (apt-get install chromium)")
    if not SOCKET_IO_CLIENT.exists():
        pytest.fail(f"{SOCKET_IO_CLIENT} is missing: run scripts/vendor.sh (./dev test does)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
async def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Server]:
    # Tests that move the page's clock must not make the socket.io client miss a ping.
    monkeypatch.setattr(app_module, "PING_INTERVAL", 600)
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "helplines.toml").write_text(textwrap.dedent(BROWSER_CONFIG))
    data_dir = tmp_path / "data"
    clock = FakeClock(START)  # Wednesday 2 December 2026, 14:00 in Amsterdam
    accounts = FileAccountStore(data_dir)
    app = create_app(
        load_config(config_dir),
        MemoryStore(data_dir),
        accounts,
        MemorySessionStore(),
        clock=clock,
        tick_seconds=3600,  # tests tick by hand
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server = Server(f"http://127.0.0.1:{port}", clock, data_dir, app, accounts)
    yield server
    for client in server.clients:
        await client.disconnect()
    await runner.cleanup()


@dataclass
class Widget:
    """One browser tab on the widget, with what it requested and what it complained about."""

    page: Page
    server: Server
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def open(self, query: str = "helpline=alpha") -> None:
        await self.page.goto(f"{self.server.url}/widget/?{query}")

    def button(self, name: str) -> Locator:
        return self.page.get_by_role("button", name=name, exact=True)

    def heading(self, name: str) -> Locator:
        return self.page.get_by_role("heading", name=name, exact=True, level=1)

    @property
    def log(self) -> Locator:
        return self.page.get_by_role("log")

    @property
    def status(self) -> Locator:
        return self.page.locator("#chat-status")

    @property
    def textbox(self) -> Locator:
        return self.page.get_by_label("Je bericht")

    async def queued(self) -> None:
        """Wait until the server has queued the visitor (the screen changes on the click)."""
        await self.heading("Je bent in de wachtrij").wait_for()
        await self.status.get_by_text("Je bent de volgende.").wait_for()

    async def send(self, text: str) -> None:
        await self.textbox.fill(text)
        await self.textbox.press("Enter")

    async def texts(self) -> list[str]:
        """Every message in the log, top to bottom."""
        return await self.log.locator(".msg-text").all_text_contents()

    async def until_texts(self, expected: list[str]) -> None:
        for _ in range(100):
            if await self.texts() == expected:
                return
            await self.page.wait_for_timeout(50)
        assert await self.texts() == expected

    async def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    async def axe(self) -> list[dict[str, Any]]:
        """Serious and critical WCAG 2.x A/AA violations axe-core finds in the page as it is now.

        axe-core is injected by the test (never served): CDP evaluation is not bound by the
        page's CSP, which rightly refuses inline scripts.
        """
        if not await self.page.evaluate("typeof window.axe !== 'undefined'"):
            await self.page.evaluate(AXE.read_text())
        result = await self.page.evaluate(
            """async () => {
                const tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"];
                const r = await axe.run(document, {runOnly: {type: "tag", values: tags}});
                return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map(n => n.target.join(" "))}));
            }"""
        )
        return [v for v in result if v["impact"] in ("serious", "critical")]

    async def no_horizontal_scroll(self) -> None:
        widths = await self.page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], f"page is {widths[0]} px wide in a {widths[1]} px window"

    def foreign_requests(self) -> list[str]:
        own = urlsplit(self.server.url).netloc
        foreign = []
        for url in self.requests:
            parts = urlsplit(url.removeprefix("blob:"))
            if parts.netloc != own and url != NEUTRAL_URL:
                foreign.append(url)
        return foreign


WidgetFactory = Callable[..., Awaitable[Widget]]


async def _neutral_site(route: Route) -> None:
    await route.fulfill(
        status=200,
        content_type="text/html",
        body="<!doctype html><title>Neutral</title><h1>Weather today</h1>",
    )


@pytest_asyncio.fixture(loop_scope="session")
async def new_widget(browser: Browser, server: Server) -> AsyncIterator[WidgetFactory]:
    """Open a widget tab in a fresh context: Dutch, Amsterdam time, phone width by default."""
    contexts: list[BrowserContext] = []
    widgets: list[Widget] = []

    async def make(**options: Any) -> Widget:
        settings: dict[str, Any] = {
            "locale": "nl-NL",
            "timezone_id": "Europe/Amsterdam",
            "viewport": PHONE,
            "accept_downloads": True,
            **options,
        }
        context = await browser.new_context(**settings)
        context.set_default_timeout(TIMEOUT_MS)
        await context.route(f"{NEUTRAL_URL}**", _neutral_site)
        contexts.append(context)
        page = await context.new_page()
        widget = Widget(page, server)

        def on_request(request: Request) -> None:
            widget.requests.append(request.url)

        def on_websocket(socket: WebSocket) -> None:
            widget.requests.append(socket.url)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                widget.errors.append(message.text)

        page.on("request", on_request)
        page.on("websocket", on_websocket)
        page.on("console", on_console)
        page.on("pageerror", lambda error: widget.errors.append(str(error)))
        widgets.append(widget)
        return widget

    yield make
    for context in contexts:
        await context.close()
    for widget in widgets:
        assert widget.foreign_requests() == [], widget.foreign_requests()
        assert widget.errors == [], json.dumps(widget.errors, indent=1)


@pytest_asyncio.fixture(loop_scope="session")
async def widget(new_widget: WidgetFactory) -> Widget:
    return await new_widget()


async def chatting(widget: Widget, server: Server, query: str = "helpline=alpha") -> Chat:
    """The widget's visitor starts a chat and counselor Carla takes it."""
    await widget.open(query)
    await widget.button("Start de chat").click()
    await widget.queued()
    counselor = await server.counselor("carla", helplines=("alpha",))
    assigned = await counselor.next("assigned")
    await widget.heading("Je chat met Carla").wait_for()
    return Chat(counselor, assigned["chat_id"])


@dataclass
class Chat:
    """The counselor's end of a chat."""

    counselor: Client
    chat_id: str
    sent: int = 0

    async def say(self, text: str) -> dict[str, Any]:
        self.sent += 1
        ack: dict[str, Any] = await self.counselor.call(
            "message", {"chat_id": self.chat_id, "text": text, "client_msg_id": f"c{self.sent}"}
        )
        assert "seq" in ack, ack
        return ack

    async def hears(self, text: str) -> None:
        message = await self.counselor.next("message")
        assert message["text"] == text, message
