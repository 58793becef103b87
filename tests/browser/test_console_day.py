"""A counselor's working day and a visitor's hard moments, in Chromium (issue 13).

Console at 1366x768 (and the header at 1280x720), widget at 360x740, Dutch and English; each
screen is saved for a person to look at and checked with axe-core.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import expect

from chatserver.web.keys import STORE
from tests.browser import conftest
from tests.browser.conftest import SCREENSHOTS, WidgetFactory
from tests.browser.test_console import EXPECTED_HTTP, Console, ConsoleFactory, visitor
from tests.integration.conftest import PASSWORD, Server
from tests.integration.test_working_day import PICK_HELPLINE

pytestmark = pytest.mark.asyncio(loop_scope="session")

LAPTOP = {"width": 1366, "height": 768}
SMALL_LAPTOP = {"width": 1280, "height": 720}
PHONE = {"width": 360, "height": 740}
EXTRA = (
    """
[[helpline.canned]]
lang = "en"
title = "Greeting"
text = "Hi, good to hear from you. I am here for you."
"""
    + PICK_HELPLINE
)


@pytest.fixture(autouse=True)
def day_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Alpha gets an English canned text and supervisor hints; Picky lets counselors choose."""
    config = conftest.BROWSER_CONFIG.replace(
        'id = "alpha"', 'id = "alpha"\nsupervisor_hints = true', 1
    )
    first_other = config.index('[[helpline]]\nid = "day"')
    config = config[:first_other] + EXTRA + config[first_other:]
    monkeypatch.setattr(conftest, "BROWSER_CONFIG", config)


@pytest_asyncio.fixture(loop_scope="session")
async def new_laptop_console(new_widget: WidgetFactory) -> AsyncIterator[ConsoleFactory]:
    consoles: list[Console] = []

    async def make(viewport: dict[str, int] = LAPTOP, lang: str = "nl") -> Console:
        locale = "nl-NL" if lang == "nl" else "en-GB"
        console = Console(await new_widget(viewport=viewport, locale=locale))
        consoles.append(console)
        return console

    yield make
    for console in consoles:  # the login page's own 401 for /api/me before logging in
        console.tab.errors[:] = [e for e in console.tab.errors if not EXPECTED_HTTP.search(e)]


async def login(console: Console, username: str, lang: str) -> None:
    page = console.page
    await console.open(f"/console/?lang={lang}")
    await page.get_by_label("Gebruikersnaam" if lang == "nl" else "Username").fill(username)
    await page.get_by_label("Wachtwoord" if lang == "nl" else "Password").fill(PASSWORD)
    name = "Inloggen" if lang == "nl" else "Log in"
    await page.get_by_role("button", name=name, exact=True).click()
    await page.get_by_text("Verbonden" if lang == "nl" else "Connected", exact=True).wait_for()


async def screenshot(console: Console, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await console.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


async def in_view(console: Console, selector: str, height: int) -> None:
    for box in [await b.bounding_box() for b in await console.page.locator(selector).all()]:
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height, box


async def manager_hint(server: Server, counselor: str, text: str) -> int:
    await server.add_account("mia", role="manager")
    token = await server.login("mia")
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/api/supervisor/hint",
            json={"counselor": counselor, "text": text},
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        return response.status


TEXTS = {
    "nl": {
        "available": "Beschikbaar voor nieuwe chats",
        "sound_off": "Geluid aanzetten",
        "sound_on": "Geluid staat aan",
        "running": "Chat loopt",
        "notes": "Interne notities",
        "notes_label": re.compile("^Notities"),
        "save": "Notities opslaan",
        "saved": "Opgeslagen.",
        "help": "Sneltoetsen",
        "close": "Sluiten",
        "countdown": "Zonder terugkeer sluit de chat over",
        "unread": "1 ongelezen bericht",
        "hint": "Tip van Mia: Neem na dit gesprek even pauze.",
        "message": "Je bericht",
        "end": "Chat beëindigen",
        "transfer": "Doorverbinden",
        "block": "Blokkeren",
    },
    "en": {
        "available": "Available for new chats",
        "sound_off": "Turn sound on",
        "sound_on": "Sound is on",
        "running": "Chat running",
        "notes": "Internal notes",
        "notes_label": re.compile("^Notes"),
        "save": "Save notes",
        "saved": "Saved.",
        "help": "Keyboard shortcuts",
        "close": "Close",
        "countdown": "Unless the visitor comes back, the chat closes in",
        "unread": "1 unread message",
        "hint": "Hint from Mia: Neem na dit gesprek even pauze.",
        "message": "Your message",
        "end": "End chat",
        "transfer": "Transfer",
        "block": "Block",
    },
}


@pytest.mark.parametrize("lang", ["nl", "en"])
async def test_a_shift_in_the_console(
    new_laptop_console: ConsoleFactory, server: Server, lang: str
) -> None:
    words = TEXTS[lang]
    await server.add_account("carla", helplines=("alpha",))
    console = await new_laptop_console(lang=lang)
    page = console.page
    await login(console, "carla", lang)
    # After a reload the sound needs a click again: the header asks for it visibly.
    await page.reload()
    await page.get_by_text("Verbonden" if lang == "nl" else "Connected", exact=True).wait_for()
    sound = page.get_by_role("button", name=words["sound_off"])
    await expect(sound).to_have_attribute("aria-pressed", "false")
    await sound.click()
    await expect(page.get_by_role("button", name=words["sound_on"])).to_have_attribute(
        "aria-pressed", "true"
    )
    await page.get_by_role("switch", name=words["available"]).check()

    english = server.visitor()
    await english.connect()
    await english.call("start", {"helpline": "alpha", "lang": "en"})
    dutch, _ = await visitor(server)
    await console.tab_for(1).wait_for()
    await console.tab_for(2).wait_for()

    textbox = page.locator(".chat:not([hidden])").get_by_label(words["message"])
    # Canned texts follow the active chat's visitor language (Alt+N switches chats).
    await console.select(1)
    canned = page.locator("#canned")
    await expect(canned.get_by_role("button")).to_have_count(1)
    await canned.get_by_text("Hi, good to hear from you.", exact=False).wait_for()
    await textbox.focus()
    await page.keyboard.press("Alt+n")
    await expect(console.tab_for(2)).to_have_attribute("aria-selected", "true")
    await expect(canned.get_by_role("button")).to_have_count(2)
    await canned.get_by_text("Hoi, fijn dat je contact opneemt.", exact=False).wait_for()

    # Ctrl+Enter sends.
    await textbox.fill("Ctrl+Enter werkt")
    await textbox.press("Control+Enter")
    assert (await dutch.next("message"))["text"] == "Ctrl+Enter werkt"

    # The duration timer, the wait, and End/Transfer/Block visible without scrolling.
    chat = page.locator(".chat:not([hidden])")
    await chat.get_by_text(words["running"], exact=False).wait_for()
    for name in (words["end"], words["transfer"], words["block"]):
        await expect(chat.get_by_role("button", name=name, exact=True)).to_be_in_viewport()
    await in_view(console, ".chat:not([hidden]) .chat-actions", LAPTOP["height"])
    assert await page.evaluate("document.documentElement.scrollHeight") <= LAPTOP["height"]
    topbar = await page.locator(".topbar").bounding_box()
    assert topbar is not None and topbar["height"] < 70, topbar

    # "1 unread message", singular.
    await english.call("message", {"text": "Are you there?", "client_msg_id": "e1"})
    await console.tab_for(1).get_by_text(words["unread"], exact=True).wait_for()

    # Internal notes: saved for the chat, never sent to the visitor.
    await chat.get_by_text(words["notes"], exact=True).click()
    await chat.get_by_label(words["notes_label"]).fill("Broer; rustig aan.")
    await chat.get_by_role("button", name=words["save"]).click()
    await chat.get_by_text(words["saved"], exact=True).wait_for()
    chat_id = (await chat.get_attribute("id") or "").removeprefix("chat-")
    assert await server.app[STORE].note(chat_id) == "Broer; rustig aan."
    assert all("Broer" not in m["text"] for m in dutch.drain("message"))

    # The visitor drops off: a countdown to the end of the grace period.
    await dutch.disconnect()
    await chat.get_by_text(words["countdown"], exact=False).wait_for()

    # A supervisor's hint.
    assert await manager_hint(server, "carla", "Neem na dit gesprek even pauze.") == 200
    await page.get_by_role("alert").get_by_text(words["hint"]).wait_for()

    await screenshot(console, f"console-day-{lang}-1366")
    assert await console.tab.axe() == []

    # The shortcut help, opened with "?" outside a text field.
    await page.locator(".topbar").click(position={"x": 5, "y": 5})
    await page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name=words["help"])
    await expect(dialog).to_be_visible()
    for key in ("Alt+N", "Alt+E", "Enter / Ctrl+Enter"):
        await dialog.get_by_text(key, exact=True).wait_for()
    await screenshot(console, f"console-help-{lang}-1366")
    assert await console.tab.axe() == []
    await dialog.get_by_role("button", name=words["close"]).click()
    await expect(dialog).to_be_hidden()
    # Alt+E opens the end dialog.
    await textbox.focus()
    await page.keyboard.press("Alt+e")
    await expect(page.locator("#end-dialog")).to_be_visible()


async def test_the_header_fits_one_line_at_1280x720(
    new_laptop_console: ConsoleFactory, server: Server
) -> None:
    await server.add_account("carla", helplines=("alpha",))
    console = await new_laptop_console(viewport=SMALL_LAPTOP)
    await login(console, "carla", "nl")
    await console.page.get_by_role("switch", name="Beschikbaar voor nieuwe chats").check()
    await visitor(server)
    await console.tab_for(1).wait_for()
    topbar = await console.page.locator(".topbar").bounding_box()
    assert topbar is not None and topbar["height"] < 70, topbar
    await in_view(console, ".chat:not([hidden]) .chat-actions", SMALL_LAPTOP["height"])
    await screenshot(console, "console-nl-1280")


@pytest.mark.parametrize("lang", ["nl", "en"])
async def test_picking_a_visitor_from_the_queue(
    new_laptop_console: ConsoleFactory, server: Server, lang: str
) -> None:
    await server.add_account("sam", helplines=("picky",))
    console = await new_laptop_console(lang=lang)
    await login(console, "sam", lang)
    switch = "Beschikbaar voor nieuwe chats" if lang == "nl" else "Available for new chats"
    await console.page.get_by_role("switch", name=switch).check()
    waiting, _ = await visitor(server, "picky")
    label = "Aannemen: wacht" if lang == "nl" else "Take: waiting"
    pick = console.page.locator("#queues").get_by_role("button", name=re.compile(label))
    await expect(pick).to_have_count(1)
    await screenshot(console, f"console-pick-{lang}-1366")
    assert await console.tab.axe() == []
    await pick.click()
    await console.tab_for(1).wait_for()
    await waiting.next("assigned")


@pytest.mark.parametrize("lang", ["nl", "en"])
async def test_the_visitor_sees_the_hand_over_and_a_long_wait_calmly(
    new_widget: WidgetFactory, server: Server, lang: str
) -> None:
    # Two visitors ahead and nobody online: more than an hour, so no number.
    await visitor(server)
    await visitor(server)
    locale = "nl-NL" if lang == "nl" else "en-GB"
    widget = await new_widget(viewport=PHONE, locale=locale)
    await widget.open(f"helpline=alpha&lang={lang}")
    start = "Start de chat" if lang == "nl" else "Start the chat"
    await widget.button(start).click()
    long_wait = "langer dan een uur" if lang == "nl" else "more than an hour"
    await widget.status.get_by_text(long_wait, exact=False).wait_for()
    alternatives = widget.page.locator("#waiting-alternatives")
    await expect(alternatives.get_by_text("0800-1234")).to_be_visible()
    await widget.screenshot(f"widget-long-wait-{lang}-360")
    assert await widget.axe() == []
    await widget.no_horizontal_scroll()

    # Carla answers (the two ahead first), then hands the chat to Bram.
    carla = await server.counselor("carla", helplines=("alpha",))
    await server.counselor("bram", helplines=("alpha",), available=False)
    ids = [(await carla.next("assigned"))["chat_id"] for _ in range(2)]
    for chat_id in ids:
        await carla.call("end", {"chat_id": chat_id})
    mine = (await carla.next("assigned"))["chat_id"]
    await expect(alternatives).to_be_hidden()
    bram = server.clients[-1]
    await bram.call("availability", {"available": True})
    assert await carla.call("transfer", {"chat_id": mine, "counselor": "bram"}) == {"ok": True}
    line = (
        "Bram heeft het gesprek overgenomen." if lang == "nl" else "Bram has taken over the chat."
    )
    await widget.log.get_by_text(line, exact=True).wait_for()
    await widget.screenshot(f"widget-hand-over-{lang}-360")
    assert await widget.axe() == []
