"""Log output: one JSON object per line for log collectors, or plain text for a terminal.

Every line names its `component` (the logger), an `event` (the message template, fixed text
written in the code, so events can be counted without parsing) and the rendered `message`.
Counts go in `extra={"counts": {...}}`. Nothing a visitor sent is ever passed to a logger;
tests/integration/test_privacy.py reads every line of a whole chat at DEBUG to prove it.
"""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime
from typing import Any

import orjson

FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers whose lines would carry what a client chose (request paths, query strings).
SILENCED = ("aiohttp.access",)


class JsonFormatter(logging.Formatter):
    """{"time", "level", "component", "event", "message", "counts"?, "error"?} on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "component": record.name,
            "event": getattr(record, "event", None) or str(record.msg),
            "message": record.getMessage(),
        }
        counts = getattr(record, "counts", None)
        if isinstance(counts, dict):
            line["counts"] = counts
        if record.exc_info and record.exc_info[0] is not None:
            # The type and the frames, never the exception's text: it may quote a payload.
            line["error"] = record.exc_info[0].__name__
            line["stack"] = "".join(traceback.format_tb(record.exc_info[2]))
        return orjson.dumps(line).decode()


class WithoutClientAddress(logging.Filter):
    """aiohttp's server logger writes "Error handling request from <address>" when a handler
    raises: keep the event, drop the arguments (the address) from every one of its lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = str(record.msg).replace(" from %s", "").replace("%s", "-")
            record.args = ()
        return True


# Loggers whose lines name the client's address in their arguments.
ADDRESS_LOGGERS = ("aiohttp.server",)


def configure(level: str = "INFO", fmt: str = "json") -> None:
    """Send every logger's lines to stderr in one format; drop the request log."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in SILENCED:
        logging.getLogger(name).disabled = True
    for name in ADDRESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, WithoutClientAddress) for f in logger.filters):
            logger.addFilter(WithoutClientAddress())
