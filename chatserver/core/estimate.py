"""The wait a queued visitor is shown: honest, rough, never a promise."""

from __future__ import annotations

import math

# A typical helpline chat takes about twenty minutes.
MEAN_CHAT_SECONDS = 1200


def estimated_wait_s(position: int, free_slots: int, busy_slots: int) -> int:
    """Seconds until a visitor at this position is likely served.

    With free slots and a short queue the wait is nearly zero; otherwise each slot frees up
    about once per mean chat, so the queue drains at busy_slots / MEAN_CHAT_SECONDS.
    """
    if position <= free_slots:
        return 0
    ahead = position - free_slots
    slots = max(1, busy_slots)
    return int(math.ceil(ahead / slots) * MEAN_CHAT_SECONDS)
