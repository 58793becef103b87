"""Socket.IO namespace and room names, in one place.

Rooms carry events across server processes once the Redis manager is in use, so every
emit to a person goes to a room, never to a connection id kept in one process's memory.
"""

VISITOR_NAMESPACE = "/visitor"
COUNSELOR_NAMESPACE = "/counselor"


def chat_room(chat_id: str) -> str:
    """Every connection of one visitor (a visitor has exactly one chat)."""
    return f"chat:{chat_id}"


def counselor_room(username: str) -> str:
    """Every connection (tab) of one counselor."""
    return f"counselor:{username}"


def helpline_room(helpline: str) -> str:
    """Every counselor connection serving a helpline: queue statistics go here."""
    return f"helpline:{helpline}"
