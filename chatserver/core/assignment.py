"""Who gets the next visitor: the assignment policy, shared by every store."""

from __future__ import annotations

from collections.abc import Iterable

from chatserver.core.models import CounselorState


def eligible(counselor: CounselorState, helpline: str, max_chats: int) -> bool:
    return (
        counselor.online
        and counselor.available
        and counselor.serves(helpline)
        and len(counselor.chats) < max_chats
    )


def choose_counselor(
    counselors: Iterable[CounselorState], helpline: str, max_chats: int
) -> CounselorState | None:
    """The available counselor of the helpline with the fewest active chats.

    Ties go to the one idle longest (earliest idle_since), then to the username, so the
    choice never depends on iteration order.
    """
    candidates = [c for c in counselors if eligible(c, helpline, max_chats)]
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda c: (
            len(c.chats),
            c.idle_since.timestamp() if c.idle_since else float("-inf"),
            c.username,
        ),
    )
