"""The widget as files and headers: strict CSP, framing only by configured sites, own origin only.

The behaviour in a real browser is in tests/browser/.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest

from chatserver.config import DEFAULT_QUICK_EXIT_URL
from tests.integration.conftest import Server, ServerFactory

REPO = Path(__file__).resolve().parents[2]
WIDGET = REPO / "static" / "widget"

EMBED_CONFIG = """
timezone = "Europe/Amsterdam"

[server]
embed_origins = ["https://stopitnow.nl", "https://www.helpwanted.nl"]

[[helpline]]
id = "alpha"
name = "Alpha"
max_queue = 3
last_admission_minutes = 10
max_chats_per_counselor = 2
quick_exit_url = "https://nos.nl/"
[helpline.hours]
wed = ["09:00-17:00"]
"""


def frame_ancestors(csp: str) -> list[str]:
    for directive in csp.split(";"):
        name, *sources = directive.split()
        if name == "frame-ancestors":
            return sources
    raise AssertionError(f"no frame-ancestors in {csp!r}")


@pytest.fixture
async def embedded(make_server: ServerFactory) -> Server:
    return await make_server(EMBED_CONFIG)


@pytest.mark.parametrize("path", ["/widget/", "/widget/?helpline=alpha", "/widget/main.js"])
async def test_widget_may_be_framed_by_the_configured_sites_only(
    embedded: Server, path: str
) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{embedded.url}{path}") as response:
        assert response.status == 200
        headers = response.headers
    assert frame_ancestors(headers["Content-Security-Policy"]) == [
        "'self'",
        "https://stopitnow.nl",
        "https://www.helpwanted.nl",
    ]
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/", "/api/helplines", "/healthz", "/widgetx", "/nope"])
async def test_other_pages_may_be_framed_only_by_the_server_itself(
    embedded: Server, path: str
) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{embedded.url}{path}") as response:
        csp = response.headers["Content-Security-Policy"]
    assert frame_ancestors(csp) == ["'self'"]


async def test_widget_without_embed_origins_is_framed_only_by_its_own_origin(
    server: Server,
) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/widget/") as response:
        csp = response.headers["Content-Security-Policy"]
    assert frame_ancestors(csp) == ["'self'"]
    assert "script-src 'self';" in csp
    assert "style-src 'self';" in csp
    assert "connect-src 'self';" in csp
    assert "unsafe" not in csp


async def test_widget_redirects_to_its_folder_with_the_same_headers(embedded: Server) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{embedded.url}/widget", allow_redirects=False) as response,
    ):
        assert response.status == 302
        assert response.headers["Location"] == "/widget/"
        assert "https://stopitnow.nl" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "path",
    ["/widget/main.js", "/widget/chat.js", "/widget/i18n/nl.js", "/vendor/socket.io.esm.min.js"],
)
async def test_modules_are_served_as_javascript(server: Server, path: str) -> None:
    if path.startswith("/vendor/") and not (REPO / "static" / path.lstrip("/")).exists():
        pytest.fail("static/vendor/ is missing: run scripts/vendor.sh (./dev test does)")
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}{path}") as response:
        assert response.status == 200
        assert response.content_type in ("text/javascript", "application/javascript")


async def test_helplines_name_their_quick_exit_and_schedules_their_days(embedded: Server) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{embedded.url}/api/helplines") as response:
            (alpha,) = await response.json()
        async with http.get(f"{embedded.url}/api/helplines/alpha/schedule?days=3") as response:
            schedule = await response.json()
    assert alpha["quick_exit_url"] == "https://nos.nl/"
    assert (schedule["from"], schedule["days"]) == ("2026-12-02", 3)


class _Markup(HTMLParser):
    """Collects what a strict CSP would refuse: inline scripts, styles and handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "style":
            self.problems.append("<style>")
        if tag == "script" and "src" not in names:
            self.problems.append("inline <script>")
        for name in names:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name in ("src", "href") and re.match(r"[a-z]+:", names[name] or ""):
                self.problems.append(f"<{tag} {name}={names[name]}>")


def test_widget_page_has_no_inline_script_style_or_foreign_url() -> None:
    parser = _Markup()
    parser.feed((WIDGET / "index.html").read_text(encoding="utf-8"))
    assert parser.problems == []


def test_widget_code_names_no_other_origin_and_never_writes_markup() -> None:
    files = sorted(WIDGET.rglob("*.js")) + sorted(WIDGET.rglob("*.css"))
    assert len(files) >= 8
    for file in files:
        text = file.read_text(encoding="utf-8")
        # The one address: where the quick exit goes before /api/helplines has answered.
        text = text.replace(f'"{DEFAULT_QUICK_EXIT_URL}"', '"DEFAULT_QUICK_EXIT_URL"')
        assert not re.search(r"https?://|//[a-z0-9-]+\.[a-z]", text), file
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{file}: {sink}"
        assert "localStorage" not in text and "document.cookie" not in text, file
        assert "@import" not in text and "url(" not in text, file


def test_widget_falls_back_to_the_configured_default_quick_exit() -> None:
    main = (WIDGET / "main.js").read_text(encoding="utf-8")
    assert f'const DEFAULT_EXIT_URL = "{DEFAULT_QUICK_EXIT_URL}";' in main
