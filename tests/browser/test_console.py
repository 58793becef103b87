"""The counselor console and the managers' dashboard in Chromium, against a real server.

Visitors are python-socketio clients; the counselor is the page. Every page may reach only the
server's own origin and must log no error (conftest); the only console errors forgiven are
Chromium's own "Failed to load resource" lines for answers the test provokes on purpose (a
wrong password: 401; a counselor asking for manager data: 403).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Locator, expect

from tests.browser.conftest import SCREENSHOTS, Widget, WidgetFactory
from tests.helpers import Client
from tests.integration.conftest import PASSWORD, Server

pytestmark = pytest.mark.asyncio(loop_scope="session")

DESKTOP = {"width": 1280, "height": 900}
EXPECTED_HTTP = re.compile(
    r"Failed to load resource: the server responded with a status of (401|403|429)"
)


class Console:
    def __init__(self, tab: Widget) -> None:
        self.tab = tab
        self.page = tab.page

    async def open(self, path: str = "/console/") -> None:
        await self.page.goto(f"{self.tab.server.url}{path}")

    async def login(self, username: str, password: str = PASSWORD) -> None:
        await self.page.get_by_label("Gebruikersnaam").fill(username)
        await self.page.get_by_label("Wachtwoord").fill(password)
        await self.page.get_by_role("button", name="Inloggen", exact=True).click()

    async def available(self) -> None:
        await self.page.get_by_role("switch", name="Beschikbaar voor nieuwe chats").check()
        await self.page.get_by_text("Je bent beschikbaar.").wait_for()

    def tab_for(self, number: int) -> Locator:
        return self.page.get_by_role("tab", name=re.compile(rf"^Chat {number} · "))

    async def select(self, number: int) -> None:
        await self.tab_for(number).click()

    @property
    def log(self) -> Locator:
        return self.page.locator(".chat:not([hidden])").get_by_role("log")

    @property
    def textbox(self) -> Locator:
        return self.page.locator(".chat:not([hidden])").get_by_label("Je bericht")

    async def texts(self) -> list[str]:
        return await self.log.locator(".msg-text").all_text_contents()

    async def until_texts(self, expected: list[str]) -> None:
        for _ in range(100):
            if await self.texts() == expected:
                return
            await self.page.wait_for_timeout(50)
        assert await self.texts() == expected

    async def send(self, text: str) -> None:
        await self.textbox.fill(text)
        await self.textbox.press("Enter")

    def button(self, name: str) -> Locator:
        return self.page.locator(".chat:not([hidden])").get_by_role("button", name=name, exact=True)


ConsoleFactory = Callable[..., Awaitable[Console]]


@pytest_asyncio.fixture(loop_scope="session")
async def new_console(new_widget: WidgetFactory) -> AsyncIterator[ConsoleFactory]:
    consoles: list[Console] = []

    async def make(**options: Any) -> Console:
        console = Console(await new_widget(viewport=DESKTOP, **options))
        consoles.append(console)
        return console

    yield make
    for console in consoles:
        console.tab.errors[:] = [e for e in console.tab.errors if not EXPECTED_HTTP.search(e)]


async def visitor(
    server: Server, helpline: str = "alpha", session: str | None = None
) -> tuple[Client, str]:
    client = server.visitor()
    await client.connect()
    payload: dict[str, Any] = {"helpline": helpline}
    if session:
        payload["session"] = session
    ack = await client.call("start", payload)
    assert ack["status"] == "queued", ack
    return client, ack["token"]


async def logged_in(
    new_console: ConsoleFactory,
    server: Server,
    username: str = "carla",
    helplines: tuple[str, ...] = ("alpha",),
) -> Console:
    await server.add_account(username, helplines=helplines)
    console = await new_console()
    await console.open()
    await console.login(username)
    await console.page.get_by_text(re.compile("Ingelogd als")).wait_for()
    await console.page.get_by_text("Verbonden").wait_for()
    return console


async def two_chats(console: Console, server: Server) -> tuple[Client, Client]:
    first, _ = await visitor(server)
    await first.call("message", {"text": "Hallo, ik ben de eerste.", "client_msg_id": "v1"})
    second, _ = await visitor(server)
    await second.call("message", {"text": "Hoi, ik ben de tweede.", "client_msg_id": "w1"})
    await console.available()
    await console.tab_for(1).wait_for()
    await console.tab_for(2).wait_for()
    await first.next("assigned")
    await second.next("assigned")
    return first, second


async def stats(server: Server, role: str = "manager") -> tuple[int, Any]:
    name = f"{role}1"
    if await server.accounts.get(name) is None:
        await server.add_account(name, role=role)
    token = await server.login(name)
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{server.url}/api/stats/daily?from=2026-12-02&to=2026-12-02",
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        return response.status, await response.json()


async def test_login_two_chats_both_ways_reload_screenshots_axe(
    new_console: ConsoleFactory, server: Server
) -> None:
    await server.add_account("carla", helplines=("alpha",))
    console = await new_console()
    await console.open()
    await console.login("carla", "wrong password")
    await (
        console.page.get_by_role("alert")
        .get_by_text("Gebruikersnaam of wachtwoord klopt niet.")
        .wait_for()
    )
    await console.login("carla")
    await console.page.get_by_text("Ingelogd als Carla").wait_for()
    await console.page.get_by_text("Verbonden").wait_for()

    first, second = await two_chats(console, server)
    # The queue overview and the title count.
    await console.page.locator("#queues").get_by_text("Alpha").wait_for()
    assert re.match(r"^\(\d\) Console$", await console.page.title())

    await console.select(1)
    await console.until_texts(["Hallo, ik ben de eerste."])
    await console.send("Hoi eerste, ik ben Carla.")
    message = await first.next("message")
    assert message["text"] == "Hoi eerste, ik ben Carla." and message["from"] == "counselor"
    await console.log.get_by_text("Verzonden").wait_for()

    await console.select(2)
    await console.until_texts(["Hoi, ik ben de tweede."])
    await console.send("Hoi tweede.\nTwee regels.")
    assert (await second.next("message"))["text"] == "Hoi tweede.\nTwee regels."
    await second.call("typing", {"typing": True})
    await console.page.get_by_text("De bezoeker typt…").wait_for()
    await second.call("message", {"text": "<b>geen html</b>", "client_msg_id": "w2"})
    await console.until_texts(
        ["Hoi, ik ben de tweede.", "Hoi tweede.\nTwee regels.", "<b>geen html</b>"]
    )
    # Meanwhile a message in the other chat shows up there, as unread.
    await first.call("message", {"text": "Ben je er nog?", "client_msg_id": "v2"})
    await console.tab_for(1).get_by_text("1 ongelezen").wait_for()
    await console.select(1)
    await console.until_texts(
        ["Hallo, ik ben de eerste.", "Hoi eerste, ik ben Carla.", "Ben je er nog?"]
    )

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await console.tab.screenshot("console-two-chats-nl")
    assert await console.tab.axe() == []

    # A reload restores both chats (resume), nothing lost or doubled.
    await console.page.reload()
    await console.tab_for(1).wait_for()
    await console.tab_for(2).wait_for()
    await console.page.get_by_text("Verbonden").wait_for()
    await first.call("message", {"text": "Na de reload.", "client_msg_id": "v3"})
    await console.select(1)
    await console.until_texts(
        ["Hallo, ik ben de eerste.", "Hoi eerste, ik ben Carla.", "Ben je er nog?", "Na de reload."]
    )
    await console.select(2)
    await console.until_texts(
        ["Hoi, ik ben de tweede.", "Hoi tweede.\nTwee regels.", "<b>geen html</b>"]
    )
    await console.send("Nog steeds hier.")
    assert (await second.next("message"))["text"] == "Nog steeds hier."
    assert await console.page.locator(".msg-text", has_text="Hoi tweede.").count() == 1
    assert await console.page.locator("[role=tab]").count() == 2


async def test_end_with_outcome_counts_and_canned_text(
    new_console: ConsoleFactory, server: Server
) -> None:
    console = await logged_in(new_console, server)
    first, _ = await visitor(server)
    await console.available()
    await console.tab_for(1).wait_for()
    await first.next("assigned")

    # A canned response goes into the input for editing, never straight out; the filter works.
    await console.page.get_by_label("Zoek in standaardteksten").fill("afsl")
    await expect(console.page.locator("#canned").get_by_role("button")).to_have_count(1)
    await console.page.get_by_role("button", name="Invoegen: Afsluiting").click()
    assert (
        await console.textbox.input_value()
        == "Dank je wel voor je vertrouwen. Je kunt altijd terugkomen."
    )
    await first.nothing("message")
    await console.textbox.fill("")

    await console.page.keyboard.press("Alt+e")
    dialog = console.page.get_by_role("dialog", name="Chat beëindigen")
    await dialog.wait_for()
    await dialog.get_by_role("button", name="Beëindigen").click()
    await dialog.get_by_role("alert").get_by_text("Kies een uitkomst.").wait_for()
    outcome = dialog.get_by_label("Uitkomst (verplicht)")
    options = await outcome.locator("option").evaluate_all(
        "os => os.map(o => o.value).filter(Boolean)"
    )
    assert options, "no outcomes offered"
    chosen = "counselling" if "counselling" in options else options[0]
    await outcome.select_option(chosen)
    await dialog.get_by_label("Sextortion").check()
    await dialog.get_by_role("button", name="Beëindigen").click()
    assert (await first.next("ended"))["reason"] == "counselor"
    await console.page.get_by_text("Je hebt de chat beëindigd.").wait_for()

    await server.settle()
    status, body = await stats(server)
    assert status == 200
    row = next(r for r in body["days"] if r["helpline"] == "alpha")
    assert row.get(f"outcome_{chosen}") == 1 and row.get("topic_sextortion") == 1, row


async def test_transfer_to_another_helpline_with_a_note(
    new_console: ConsoleFactory, server: Server
) -> None:
    console = await logged_in(new_console, server)
    first, _ = await visitor(server)
    await console.available()
    await console.tab_for(1).wait_for()
    await first.next("assigned")

    await console.button("Doorverbinden").click()
    dialog = console.page.get_by_role("dialog", name="Doorverbinden")
    await dialog.get_by_label("Naar").select_option("helpline:day")
    await dialog.get_by_label("Overdrachtsnotitie (alleen voor je collega)").fill(
        "Zorgen om broer, rustig aan."
    )
    await dialog.get_by_role("button", name="Doorverbinden").click()
    await console.page.get_by_text("De chat is doorverbonden.").first.wait_for()
    await expect(console.tab_for(1)).to_have_count(0, timeout=5000)

    dora = await server.counselor("dora", helplines=("day",))
    assigned = await dora.next("assigned")
    assert assigned["helpline"] == "day"
    assert assigned["handover_note"] == "Zorgen om broer, rustig aan."


async def test_transfer_note_shown_to_the_receiving_counselor(
    new_console: ConsoleFactory, server: Server
) -> None:
    # The receiving counselor uses the console: the handover note is on the chat.
    console = await logged_in(new_console, server, "dora", helplines=("day",))
    await console.available()
    carla = await server.counselor("carla", helplines=("alpha",))
    _first, _ = await visitor(server)
    assigned = await carla.next("assigned")
    ack = await carla.call(
        "transfer",
        {"chat_id": assigned["chat_id"], "helpline": "day", "note": "Let op: eerste keer."},
    )
    assert ack == {"ok": True}, ack
    await console.tab_for(1).wait_for()
    await console.page.get_by_text("Let op: eerste keer.").wait_for()


async def test_block_refuses_resume_and_new_start(
    new_console: ConsoleFactory, server: Server
) -> None:
    console = await logged_in(new_console, server)
    first, token = await visitor(server, session="t-abcdef0123456789")
    await console.available()
    await console.tab_for(1).wait_for()
    await first.next("assigned")

    await console.button("Blokkeren").click()
    dialog = console.page.get_by_role("alertdialog", name="Bezoeker blokkeren?")
    await dialog.get_by_role("button", name="Ja, blokkeren").click()
    assert (await first.next("ended"))["reason"] == "blocked"

    again = server.visitor()
    await again.connect()
    assert await again.call("resume", {"token": token}) == {"status": "ended", "reason": "blocked"}
    fresh = server.visitor()
    await fresh.connect()
    ack = await fresh.call("start", {"helpline": "alpha", "session": "t-abcdef0123456789"})
    assert ack["status"] == "blocked", ack


async def test_tally_a_phone_contact(new_console: ConsoleFactory, server: Server) -> None:
    console = await logged_in(new_console, server)
    await console.page.get_by_role("button", name="Telefoon/e-mail registreren").click()
    dialog = console.page.get_by_role("dialog", name="Contact registreren (telefoon of e-mail)")
    outcome = dialog.get_by_label("Uitkomst (verplicht)")
    options = await outcome.locator("option").evaluate_all(
        "os => os.map(o => o.value).filter(Boolean)"
    )
    await outcome.select_option(options[0])
    await dialog.get_by_role("button", name="Registreren").click()
    await console.page.get_by_text("Het contact is geregistreerd.").wait_for()
    await server.settle()
    _status, body = await stats(server)
    row = next(r for r in body["days"] if r["helpline"] == "alpha")
    assert row.get("tally_phone") == 1 and row.get(f"outcome_{options[0]}") == 1, row


async def test_counselor_has_no_dashboard_access(
    new_console: ConsoleFactory, server: Server
) -> None:
    status, _ = await stats(server, role="counselor")
    assert status == 403
    console = await logged_in(new_console, server)
    await console.open("/dashboard/")
    await console.page.get_by_text("Geen toegang.", exact=False).wait_for()
    assert await console.page.locator("#daily tbody tr").count() == 0


async def test_dashboard_for_a_manager(new_console: ConsoleFactory, server: Server) -> None:
    carla = await server.counselor("carla", helplines=("alpha",))
    _first, _ = await visitor(server)
    await carla.next("assigned")
    await server.add_account("mia", role="manager")
    page = await new_console()
    await page.open("/dashboard/")
    await page.login("mia")
    await page.page.get_by_role("heading", name="Dagtellingen").wait_for()
    await page.page.get_by_label("Van").fill("2026-11-26")
    await page.page.get_by_label("Tot en met").fill("2026-12-02")
    await page.page.get_by_role("button", name="Tonen").click()
    await page.page.locator("#daily tbody").get_by_text("2026-12-02").wait_for()
    # Issue 11: the chart is drawn by uPlot (a canvas) with the numbers in a table beside it.
    await page.page.locator("#chart canvas").first.wait_for()
    href = await page.page.get_by_role("link", name="Download als CSV").get_attribute("href")
    assert href == "/api/stats/daily.csv?from=2026-11-26&to=2026-12-02"
    await page.page.locator("#live-counselors").get_by_text("Carla").wait_for()
    await page.tab.screenshot("dashboard-nl")
    assert await page.tab.axe() == []


async def test_login_with_totp(new_console: ConsoleFactory, server: Server) -> None:
    from chatserver import totp

    await server.add_account("carla", helplines=("alpha",))
    secret = totp.new_secret()
    assert await server.accounts.set_totp("carla", secret)
    console = await new_console()
    await console.open()
    await console.login("carla")
    await (
        console.page.get_by_role("alert")
        .get_by_text("Vul ook de code uit je authenticator-app in.")
        .wait_for()
    )
    code = console.page.get_by_label("Code uit je authenticator-app (6 cijfers)")
    await code.fill(
        "000000" if totp.code_at(secret, server.clock.now.timestamp()) != "000000" else "111111"
    )
    await console.page.get_by_role("button", name="Inloggen", exact=True).click()
    await (
        console.page.get_by_role("alert").get_by_text("De code klopt niet.", exact=False).wait_for()
    )
    await code.fill(totp.code_at(secret, server.clock.now.timestamp()))
    await console.page.get_by_role("button", name="Inloggen", exact=True).click()
    await console.page.get_by_text("Ingelogd als Carla").wait_for()
    await console.page.get_by_text("Verbonden").wait_for()


async def test_too_many_login_attempts_are_answered_calmly(
    new_console: ConsoleFactory, server: Server
) -> None:
    await server.add_account("carla", helplines=("alpha",))
    console = await new_console()
    await console.open()
    alert = console.page.get_by_role("alert")
    for _ in range(5):
        await console.login("carla", "wrong password")
        await alert.get_by_text("Gebruikersnaam of wachtwoord klopt niet.").wait_for()
        await console.page.evaluate("document.getElementById('login-error').textContent = ''")
    await console.login("carla")  # even the right password waits now
    await alert.get_by_text("Te veel pogingen.", exact=False).wait_for()
    assert await console.page.locator("#app").is_hidden()


async def test_chats_that_went_back_to_the_queue_are_named(
    new_console: ConsoleFactory, server: Server
) -> None:
    console = await logged_in(new_console, server)
    first, _ = await visitor(server)
    await console.available()
    await console.tab_for(1).wait_for()
    await first.next("assigned")
    # The console is gone longer than the counselor grace period (60 s on the server's clock).
    await console.page.goto("about:blank")
    await server.until_counselor_gone("carla")
    server.clock.advance(61)
    await server.tick()
    await console.open()
    await (
        console.page.get_by_role("alert")
        .get_by_text("Deze chats zijn niet meer bij jou", exact=False)
        .wait_for()
    )
    assert "Chat 1 · Alpha" in await console.page.locator("#notice-text").inner_text()
    await expect(console.tab_for(1)).to_have_count(0)
    await console.page.get_by_text("Je staat op afwezig.").wait_for()
