"""Log output never carries a client's address, whatever a library puts in its lines."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from chatserver import logs


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure() rewires the root logger; give the next test the one it had."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("aiohttp.access").disabled = False


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_aiohttp_error_lines_keep_the_event_but_not_the_client_address(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("INFO", fmt)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        # As aiohttp.web_protocol does when a request handler raises.
        logging.getLogger("aiohttp.server").exception(
            "Error handling request from %s", "203.0.113.9"
        )
    err = capsys.readouterr().err
    assert "Error handling request" in err
    assert "203.0.113.9" not in err


def test_the_request_log_is_off(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", "json")
    logging.getLogger("aiohttp.access").info('%s "GET /widget/" %s', "203.0.113.9", "agent")
    assert "203.0.113.9" not in capsys.readouterr().err
