"""The few sentences the server itself says to visitors, in every supported language."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

_WEEKDAYS = {
    "nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_MONTHS = {
    "nl": (
        "januari", "februari", "maart", "april", "mei", "juni",
        "juli", "augustus", "september", "oktober", "november", "december",
    ),
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
}  # fmt: skip

_TEXTS = {
    "nl": {
        "closed": "{name} is nu gesloten. We zijn weer open op {when}.",
        "closed_unknown": "{name} is nu gesloten.",
        "full": "Het is op dit moment erg druk bij {name}. Probeer het over een paar minuten "
        "opnieuw.",
        "counselor_lost": "De verbinding met je hulpverlener is verbroken. Je staat weer in "
        "de wachtrij, vóór nieuwe bezoekers.",
        "transferred": "Je wordt doorverbonden met {name}. Je staat vooraan in de wachtrij.",
        "blocked": "Je kunt op dit moment geen nieuw gesprek starten.",
        "taken_over": "{name} heeft het gesprek overgenomen.",
        "chat_full": "Dit gesprek heeft de maximale lengte bereikt: er kunnen geen berichten "
        "meer bij. Sluit het af en begin zo nodig een nieuw gesprek.",
        "restart": "De chatdienst wordt nu even opnieuw gestart, daardoor stopt dit gesprek. "
        "Open deze pagina over een minuut opnieuw om een nieuw gesprek te beginnen. Het spijt "
        "ons.",
    },
    "en": {
        "closed": "{name} is closed now. We open again on {when}.",
        "closed_unknown": "{name} is closed now.",
        "full": "{name} is very busy at the moment. Please try again in a few minutes.",
        "counselor_lost": "The connection to your counselor was lost. You are back in the "
        "queue, ahead of new visitors.",
        "transferred": "You are being transferred to {name}. You are first in the queue.",
        "blocked": "You cannot start a new chat right now.",
        "taken_over": "{name} has taken over the chat.",
        "chat_full": "This chat has reached its maximum length: no more messages fit. End "
        "it and start a new chat if needed.",
        "restart": "The chat service is restarting, so this chat has to stop. Reload this "
        "page in a minute to start a new chat. We are sorry.",
    },
}


def local_when(t: datetime, tz: ZoneInfo, lang: str) -> str:
    """'maandag 1 december om 10:00' / 'Monday 1 December at 10:00', in local time."""
    local = t.astimezone(tz)
    weekday = _WEEKDAYS[lang][local.weekday()]
    month = _MONTHS[lang][local.month - 1]
    joiner = "om" if lang == "nl" else "at"
    return f"{weekday} {local.day} {month} {joiner} {local:%H:%M}"


def closed_message(name: str, opens_at: datetime | None, tz: ZoneInfo, lang: str) -> str:
    if opens_at is None:
        return _TEXTS[lang]["closed_unknown"].format(name=name)
    return _TEXTS[lang]["closed"].format(name=name, when=local_when(opens_at, tz, lang))


def full_message(name: str, lang: str) -> str:
    return _TEXTS[lang]["full"].format(name=name)


def counselor_lost_message(lang: str) -> str:
    return _TEXTS[lang]["counselor_lost"]


def transferred_message(lang: str, name: str) -> str:
    return _TEXTS[lang]["transferred"].format(name=name)


def blocked_message(lang: str) -> str:
    return _TEXTS[lang]["blocked"]


def chat_full_message(lang: str) -> str:
    return _TEXTS[lang]["chat_full"]


def taken_over_message(lang: str, name: str) -> str:
    """The system line when a chat changes counselor (a transfer, a lost counselor)."""
    return _TEXTS[lang]["taken_over"].format(name=name)


def restart_message(lang: str) -> str:
    return _TEXTS[lang]["restart"]
