"""One short, rate-limited log line for input a client should never send.

A client decides how often it sends garbage; if every bad frame cost a traceback, the client
would decide how big our log grows. So bad input is logged as one line naming only what kind
of input it was (never the bytes: they could be what a visitor typed), and at most a few
lines a minute per process, with a count of what was left out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from chatserver.core.ratelimit import TokenBucket

LINES_PER_MINUTE = 10

log = logging.getLogger("chatserver.transport")


class BadInputLog:
    def __init__(
        self,
        logger: logging.Logger = log,
        lines_per_minute: int = LINES_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._bucket = TokenBucket(lines_per_minute / 60, lines_per_minute)
        self._clock = clock
        self._suppressed = 0

    def refused(self, what: str) -> None:
        """Note that a client sent `what` (a fixed description, no client text)."""
        if not self._bucket.allow(self._clock()):
            self._suppressed += 1
            return
        if self._suppressed:
            self._logger.warning(
                "refused client input: %s (and %d more since the last line)",
                what,
                self._suppressed,
            )
            self._suppressed = 0
        else:
            self._logger.warning("refused client input: %s", what)


# One per process: the limit is on the process's log, whoever sends the garbage.
BAD_INPUT = BadInputLog()

# What engine.io logs about a client, by a fixed part of its message. Its messages may hold
# a session id or an Origin the client chose, so only these labels reach the log.
_ENGINEIO_LABELS = (
    ("Invalid session", "unknown Engine.IO session"),
    ("Session is disconnected", "unknown Engine.IO session"),
    ("Session not found", "unknown Engine.IO session"),
    ("is not an accepted origin", "origin not accepted"),
    ("Invalid transport", "invalid transport"),
    ("unsupported version", "unsupported Engine.IO version"),
    ("Invalid JSONP index", "invalid JSONP index"),
    ("Invalid websocket upgrade", "invalid websocket upgrade"),
    ("is not connected", "request before the Engine.IO handshake"),
    ("Unexpected HTTP request", "polling request on an upgraded session"),
)


class QuietEngineLog(logging.Filter):
    """Turns engine.io's client-caused errors (tracebacks included) into BAD_INPUT lines."""

    def __init__(self, bad_input: BadInputLog = BAD_INPUT) -> None:
        super().__init__()
        self._bad_input = bad_input

    def filter(self, record: logging.LogRecord) -> bool:
        self._bad_input.refused(_label(record))
        return False


def _label(record: logging.LogRecord) -> str:
    message = str(record.msg)
    if record.exc_info and record.exc_info[0] is not None:
        # engine.io's logger.exception() calls pass fixed texts such as 'post request handler
        # error'; the exception's own message could quote the client, so only its type.
        return f"engine.io {message[:60]} ({record.exc_info[0].__name__})"
    for fragment, label in _ENGINEIO_LABELS:
        if fragment in message:
            return label
    return "engine.io refused a request"


def quiet_engineio_logging() -> None:
    """Before the Engine.IO server exists: no handler of its own (so no line twice), no
    tracebacks; every record goes through QuietEngineLog."""
    # engine.io and socket.io add a StreamHandler of their own (on top of the root's) to a
    # logger whose level is unset, so each line came out twice; with a level set they add none.
    logging.getLogger("socketio.server").setLevel(logging.ERROR)
    logger = logging.getLogger("engineio.server")
    logger.setLevel(logging.ERROR)
    if not any(isinstance(f, QuietEngineLog) for f in logger.filters):
        logger.addFilter(QuietEngineLog())
