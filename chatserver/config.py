"""Configuration: config/helplines.toml, validated once at start-up into frozen objects.

A broken file stops start-up with one line that names the file, the helpline, the field and
the problem, so whoever edits the file can fix it without reading code.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CONFIG_FILE_NAME = "helplines.toml"
LANGUAGES = ("nl", "en")
# Where the widget's quick exit sends a visitor unless the helpline names another neutral site.
DEFAULT_QUICK_EXIT_URL = "https://www.google.com/"


class ConfigError(Exception):
    """A problem in a configuration file; str() is the one line shown to the operator."""

    def __init__(self, file: Path, helpline: str | None, field: str, problem: str) -> None:
        self.file = file
        self.helpline = helpline
        self.field = field
        self.problem = problem
        where = f"helpline '{helpline}': " if helpline else ""
        super().__init__(f"{file}: {where}{field}: {problem}")


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Minutes since local midnight of the day the range belongs to.

    end > 1440 means the range runs past midnight into the next day ("22:00-02:00" is
    start=1320, end=1560); "24:00" is 1440.
    """

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Alternative:
    """Another way to reach the helpline, shown while the chat is closed."""

    kind: str  # "phone" | "email" | "link"
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Tag:
    """An outcome or topic a counselor picks when a chat ends; only ever counted, per day."""

    id: str
    # language -> label; every language in LANGUAGES is present
    labels: Mapping[str, str]

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or self.labels[LANGUAGES[0]]


@dataclass(frozen=True, slots=True)
class CannedResponse:
    """A ready text the console inserts into the input for the counselor to edit."""

    lang: str
    title: str
    text: str


def _default_outcomes() -> tuple[Tag, ...]:
    return tuple(
        Tag(id=tag_id, labels=MappingProxyType({"nl": nl, "en": en}))
        for tag_id, nl, en in DEFAULT_OUTCOMES
    )


# Used when a helpline lists no [[helpline.outcomes]]: (id, nl, en).
DEFAULT_OUTCOMES: tuple[tuple[str, str, str], ...] = (
    ("counselling", "Hulpverleningsgesprek", "Counselling"),
    ("information", "Informatie gegeven", "Information"),
    ("silent", "Stil gesprek", "Silent contact"),
    ("hang-up", "Opgehangen / weggegaan", "Hang-up"),
    ("abusive", "Misbruik van de lijn", "Abusive"),
    ("test", "Testgesprek", "Test"),
)


@dataclass(frozen=True, slots=True)
class HelplineConfig:
    id: str
    name: str
    max_queue: int
    last_admission_minutes: int
    max_chats_per_counselor: int
    # weekday (0 = Monday) -> ranges; every weekday is present, [] means closed
    hours: Mapping[int, tuple[TimeRange, ...]]
    # local date -> ranges that replace that weekday's; () closes the day
    exceptions: Mapping[date, tuple[TimeRange, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # language -> short reassurance text in the helpline's own words
    intro: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    alternatives: tuple[Alternative, ...] = ()
    # The neutral page the widget's quick exit replaces itself with.
    quick_exit_url: str = DEFAULT_QUICK_EXIT_URL
    # What a counselor picks when ending a chat or tallying a phone call or e-mail.
    outcomes: tuple[Tag, ...] = field(default_factory=_default_outcomes)
    topics: tuple[Tag, ...] = ()
    canned: tuple[CannedResponse, ...] = ()
    # "auto": the longest waiting visitor goes to the freest counselor (FIFO); "pick":
    # counselors see the queue (wait and language only) and choose whom to answer.
    assignment: str = "auto"
    # Whether a manager may send a counselor of this helpline a private hint.
    supervisor_hints: bool = False

    def outcome_ids(self) -> tuple[str, ...]:
        return tuple(tag.id for tag in self.outcomes)

    def topic_ids(self) -> tuple[str, ...]:
        return tuple(tag.id for tag in self.topics)


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """The optional [server] table."""

    visitor_grace_seconds: int = 60
    counselor_grace_seconds: int = 60
    # Only config/demo sets this: the first start creates a demo counselor and manager.
    demo_accounts: bool = False
    # Sites allowed to show /widget/ in an iframe (CSP frame-ancestors), as https origins.
    embed_origins: tuple[str, ...] = ()
    # An available counselor with no chats and no activity this long is set away.
    counselor_idle_minutes: int = 15
    # How long a block lasts when the counselor does not say.
    block_hours: int = 24
    # A waiting visitor who never wrote keeps their place this long after dropping (at most
    # visitor_grace_seconds): a burst of silent starts cannot hold the queue for long.
    silent_visitor_grace_seconds: int = 10
    # Reverse proxies whose X-Forwarded-For names the client (addresses or networks).
    trusted_proxies: tuple[IPNetwork, ...] = ()
    # A protocol-2 console must confirm an assignment this soon, or the chat goes back to
    # the front of the queue and the counselor is set unavailable.
    assignment_confirm_seconds: int = 10
    # A protocol-2 console that leaves the server's heartbeats unanswered this long is
    # disconnected (its counselor's grace period starts); heartbeats go every third of it.
    counselor_liveness_seconds: int = 6


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """The optional [limits] table: how much one visitor, connection or chat may cost."""

    # One chat's log; past either, visitor and counselor messages get chat_full.
    chat_max_messages: int = 2000
    chat_max_bytes: int = 2_000_000  # UTF-8 bytes of message text
    # A visitor's messages in one chat, shared by all their connections: per second, burst.
    visitor_message_rate: float = 2.0
    visitor_message_burst: int = 10
    # Per Socket.IO connection: `message` (per chat for counselors), and every other event.
    connection_message_rate: float = 2.0
    connection_message_burst: int = 10
    connection_event_rate: float = 10.0
    connection_event_burst: int = 30
    # One resume answer carries at most this much (per chat); `more: true` asks for another.
    resume_max_messages: int = 100
    resume_max_bytes: int = 65_536
    # New chats per client address per minute, counted in each server process's memory.
    starts_per_address_per_minute: int = 5


# The longest block a counselor may set (30 days), here and on the wire.
MAX_BLOCK_HOURS = 24 * 30


@dataclass(frozen=True, slots=True)
class Config:
    file: Path
    timezone: ZoneInfo
    helplines: tuple[HelplineConfig, ...]
    server: ServerConfig = ServerConfig()
    limits: LimitsConfig = LimitsConfig()

    def helpline(self, helpline_id: str) -> HelplineConfig | None:
        for helpline in self.helplines:
            if helpline.id == helpline_id:
                return helpline
        return None


# --- loading and validation -------------------------------------------------------------------

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALTERNATIVE_KINDS = ("phone", "email", "link")
_TOP_LEVEL_KEYS = ("timezone", "helpline", "server", "limits")
_HELPLINE_KEYS = (
    "id",
    "name",
    "max_queue",
    "last_admission_minutes",
    "max_chats_per_counselor",
    "hours",
    "exceptions",
    "intro",
    "alternatives",
    "quick_exit_url",
    "outcomes",
    "topics",
    "canned",
    "assignment",
    "supervisor_hints",
)
ASSIGNMENT_MODES = ("auto", "pick")
_SERVER_KEYS = (
    "visitor_grace_seconds",
    "counselor_grace_seconds",
    "demo_accounts",
    "embed_origins",
    "counselor_idle_minutes",
    "block_hours",
    "silent_visitor_grace_seconds",
    "trusted_proxies",
    "assignment_confirm_seconds",
    "counselor_liveness_seconds",
)
# [limits] key -> (minimum, maximum); floats are accepted where the default is one.
_LIMIT_BOUNDS: dict[str, tuple[float, float]] = {
    "chat_max_messages": (1, 1_000_000),
    "chat_max_bytes": (4000, 1_000_000_000),
    "visitor_message_rate": (0.01, 1000),
    "visitor_message_burst": (1, 10_000),
    "connection_message_rate": (0.01, 1000),
    "connection_message_burst": (1, 10_000),
    "connection_event_rate": (0.01, 1000),
    "connection_event_burst": (1, 10_000),
    "resume_max_messages": (1, 100_000),
    "resume_max_bytes": (16_384, 100_000_000),
    "starts_per_address_per_minute": (1, 100_000),
}
_ID_RE = re.compile(r"[a-z0-9-]+")
_RANGE_RE = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")
_DATE_RE = re.compile(r"\d{4}-\d\d-\d\d")
_PHONE_RE = re.compile(r"\+?[0-9][0-9 ()-]*[0-9]")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_HOST_RE = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?")


def load_config(config_dir: Path) -> Config:
    """Read and validate `config_dir/helplines.toml`; raise ConfigError on the first problem."""
    file = Path(config_dir) / CONFIG_FILE_NAME
    return _Loader(file).load()


def _show(value: object) -> str:
    """The offending value as the operator wrote it, with its TOML type when that is the issue."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime):
        return "a date-time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, time):
        return "a time"
    return type(value).__name__


def _got(value: object) -> str:
    shown = _show(value)
    kind = _type_name(value)
    return f"got {kind}" if shown in ("a table", "an array") else f"got {shown} ({kind})"


def parse_time_range(text: str) -> TimeRange | str:
    """Parse "HH:MM-HH:MM"; return the range or the problem. end < start crosses midnight."""
    match = _RANGE_RE.fullmatch(text)
    if match is None:
        return f'expected "HH:MM-HH:MM", got {_show(text)}'
    sh, sm, eh, em = (int(part) for part in match.groups())
    for hour, minute in ((sh, sm), (eh, em)):
        if hour > 24 or minute > 59 or (hour == 24 and minute != 0):
            return f"{_show(text)}: {hour:02}:{minute:02} is not a time (00:00 to 24:00)"
    if sh == 24:
        return f'{_show(text)}: "24:00" can only end a range'
    start, end = sh * 60 + sm, eh * 60 + em
    if start == end:
        return f"{_show(text)}: start and end are the same"
    if end < start:
        end += 1440
    return TimeRange(start, end)


class _Loader:
    """One pass over the parsed TOML; every error names file, helpline and field."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def fail(self, helpline: str | None, field: str, problem: str) -> ConfigError:
        return ConfigError(self.file, helpline, field, problem)

    def load(self) -> Config:
        try:
            raw = self.file.read_bytes()
        except FileNotFoundError:
            raise self.fail(None, "file", "not found") from None
        except OSError as exc:
            raise self.fail(None, "file", f"cannot read: {exc.strerror or exc}") from None
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise self.fail(None, "toml", f"not UTF-8 (byte {exc.start})") from None
        except tomllib.TOMLDecodeError as exc:
            raise self.fail(None, "toml", str(exc)) from None

        self.unknown_keys(data, _TOP_LEVEL_KEYS, None, "")
        timezone = self.timezone(data)
        helplines = self.helplines(data)
        server = self.server(data.get("server"))
        limits = self.limits(data.get("limits"))
        return Config(
            file=self.file, timezone=timezone, helplines=helplines, server=server, limits=limits
        )

    def unknown_keys(
        self, table: dict[str, Any], allowed: tuple[str, ...], helpline: str | None, prefix: str
    ) -> None:
        for key in table:
            if key not in allowed:
                expected = ", ".join(allowed)
                raise self.fail(
                    helpline, f"{prefix}{key}", f"unknown key; expected one of {expected}"
                )

    def timezone(self, data: dict[str, Any]) -> ZoneInfo:
        if "timezone" not in data:
            raise self.fail(None, "timezone", 'missing; e.g. timezone = "Europe/Amsterdam"')
        value = data["timezone"]
        if not isinstance(value, str):
            raise self.fail(None, "timezone", f"expected a string, {_got(value)}")
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise self.fail(
                None, "timezone", f'unknown timezone {_show(value)}; e.g. "Europe/Amsterdam"'
            ) from None

    def helplines(self, data: dict[str, Any]) -> tuple[HelplineConfig, ...]:
        value = data.get("helpline")
        if value is None or value == []:
            raise self.fail(None, "helpline", "no helplines; add at least one [[helpline]]")
        if not isinstance(value, list):
            raise self.fail(None, "helpline", f"expected [[helpline]] tables, {_got(value)}")
        seen: dict[str, int] = {}
        helplines = []
        for index, table in enumerate(value):
            if not isinstance(table, dict):
                raise self.fail(None, f"helpline[{index}]", f"expected a table, {_got(table)}")
            helpline = self.helpline(index, table)
            if helpline.id in seen:
                raise self.fail(
                    helpline.id,
                    "id",
                    f"duplicate id {_show(helpline.id)}; also in helpline[{seen[helpline.id]}]",
                )
            seen[helpline.id] = index
            helplines.append(helpline)
        return tuple(helplines)

    def helpline(self, index: int, table: dict[str, Any]) -> HelplineConfig:
        if "id" not in table:
            raise self.fail(None, f"helpline[{index}].id", "missing")
        hid = table["id"]
        if not isinstance(hid, str) or not _ID_RE.fullmatch(hid):
            raise self.fail(
                None,
                f"helpline[{index}].id",
                f"must be lowercase letters, digits and '-' ([a-z0-9-]+), {_got(hid)}",
            )
        self.unknown_keys(table, _HELPLINE_KEYS, hid, "")
        name = self.text(table, "name", hid, "name")
        if "hours" not in table:
            raise self.fail(hid, "hours", "missing; add a [helpline.hours] table")
        return HelplineConfig(
            id=hid,
            name=name,
            max_queue=self.integer(table, "max_queue", hid, "max_queue", minimum=1),
            last_admission_minutes=self.integer(
                table, "last_admission_minutes", hid, "last_admission_minutes", 0, 1440
            ),
            max_chats_per_counselor=self.integer(
                table, "max_chats_per_counselor", hid, "max_chats_per_counselor", minimum=1
            ),
            hours=self.hours(table["hours"], hid),
            exceptions=self.exceptions(table.get("exceptions", []), hid),
            intro=self.intro(table.get("intro", {}), hid),
            alternatives=self.alternatives(table.get("alternatives", []), hid),
            quick_exit_url=self.quick_exit_url(table, hid),
            outcomes=self.tags(table.get("outcomes"), hid, "outcomes") or _default_outcomes(),
            topics=self.tags(table.get("topics"), hid, "topics"),
            canned=self.canned(table.get("canned", []), hid),
            assignment=self.choice(table, "assignment", hid, ASSIGNMENT_MODES),
            supervisor_hints=self.flag(table, "supervisor_hints", hid),
        )

    def choice(
        self, table: dict[str, Any], key: str, helpline: str, choices: tuple[str, ...]
    ) -> str:
        """One of a few words; the first is the default."""
        if key not in table:
            return choices[0]
        value = table[key]
        if value not in choices:
            expected = " or ".join(f'"{c}"' for c in choices)
            raise self.fail(helpline, key, f"expected {expected}, {_got(value)}")
        return str(value)

    def flag(self, table: dict[str, Any], key: str, helpline: str) -> bool:
        value = table.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(helpline, key, f"expected true or false, {_got(value)}")
        return value

    def text(self, table: dict[str, Any], key: str, helpline: str | None, field: str) -> str:
        if key not in table:
            raise self.fail(helpline, field, "missing")
        value = table[key]
        if not isinstance(value, str):
            raise self.fail(helpline, field, f"expected a string, {_got(value)}")
        if not value.strip():
            raise self.fail(helpline, field, "must not be empty")
        return value.strip()

    def integer(
        self,
        table: dict[str, Any],
        key: str,
        helpline: str | None,
        field: str,
        minimum: int,
        maximum: int | None = None,
        default: int | None = None,
    ) -> int:
        if key not in table:
            if default is not None:
                return default
            raise self.fail(helpline, field, "missing")
        value = table[key]
        # bool is a subclass of int in Python, but `max_queue = true` is a mistake.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(helpline, field, f"expected an integer, {_got(value)}")
        if value < minimum or (maximum is not None and value > maximum):
            bound = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
            raise self.fail(helpline, field, f"must be {bound}, got {value}")
        return value

    def ranges(self, value: object, helpline: str, field: str) -> tuple[TimeRange, ...]:
        if not isinstance(value, list):
            raise self.fail(
                helpline, field, f'expected an array like ["10:00-17:00"], {_got(value)}'
            )
        ranges = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(
                    helpline, f"{field}[{index}]", f'expected "HH:MM-HH:MM", {_got(item)}'
                )
            parsed = parse_time_range(item)
            if isinstance(parsed, str):
                raise self.fail(helpline, f"{field}[{index}]", parsed)
            ranges.append(parsed)
        return tuple(sorted(ranges, key=lambda r: (r.start, r.end)))

    def hours(self, value: object, helpline: str) -> Mapping[int, tuple[TimeRange, ...]]:
        if not isinstance(value, dict):
            raise self.fail(helpline, "hours", f"expected a table, {_got(value)}")
        for key in value:
            if key not in WEEKDAYS:
                raise self.fail(
                    helpline,
                    f"hours.{key}",
                    f"unknown day {_show(key)}; use {', '.join(WEEKDAYS)}",
                )
        return MappingProxyType(
            {
                weekday: self.ranges(value.get(day, []), helpline, f"hours.{day}")
                for weekday, day in enumerate(WEEKDAYS)
            }
        )

    def exception_date(self, value: object, helpline: str, field: str) -> date:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str) and _DATE_RE.fullmatch(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise self.fail(helpline, field, f"no such date {_show(value)}") from None
        raise self.fail(helpline, field, f"expected a date YYYY-MM-DD, {_got(value)}")

    def exceptions(self, value: object, helpline: str) -> Mapping[date, tuple[TimeRange, ...]]:
        if not isinstance(value, list):
            raise self.fail(
                helpline, "exceptions", f"expected [[helpline.exceptions]], {_got(value)}"
            )
        exceptions: dict[date, tuple[TimeRange, ...]] = {}
        first_index: dict[date, int] = {}
        for index, item in enumerate(value):
            prefix = f"exceptions[{index}]"
            if not isinstance(item, dict):
                raise self.fail(helpline, prefix, f"expected a table, {_got(item)}")
            self.unknown_keys(item, ("date", "hours"), helpline, f"{prefix}.")
            if "date" not in item:
                raise self.fail(helpline, f"{prefix}.date", "missing")
            day = self.exception_date(item["date"], helpline, f"{prefix}.date")
            if day in exceptions:
                raise self.fail(
                    helpline,
                    f"{prefix}.date",
                    f"duplicate date {_show(day)}; already in exceptions[{first_index[day]}]",
                )
            if "hours" not in item:
                raise self.fail(helpline, f"{prefix}.hours", "missing; use hours = [] to close")
            exceptions[day] = self.ranges(item["hours"], helpline, f"{prefix}.hours")
            first_index[day] = index
        return MappingProxyType(dict(sorted(exceptions.items())))

    def intro(self, value: object, helpline: str) -> Mapping[str, str]:
        if not isinstance(value, dict):
            raise self.fail(
                helpline, "intro", f'expected a table like {{ nl = "..." }}, {_got(value)}'
            )
        for key in value:
            if key not in LANGUAGES:
                raise self.fail(
                    helpline, f"intro.{key}", f"unknown language; use {', '.join(LANGUAGES)}"
                )
        return MappingProxyType(
            {lang: self.text(value, lang, helpline, f"intro.{lang}") for lang in value}
        )

    def alternatives(self, value: object, helpline: str) -> tuple[Alternative, ...]:
        if not isinstance(value, list):
            raise self.fail(
                helpline, "alternatives", f"expected [[helpline.alternatives]], {_got(value)}"
            )
        alternatives = []
        for index, item in enumerate(value):
            prefix = f"alternatives[{index}]"
            if not isinstance(item, dict):
                raise self.fail(helpline, prefix, f"expected a table, {_got(item)}")
            self.unknown_keys(item, ("kind", "label", "value"), helpline, f"{prefix}.")
            kind = self.text(item, "kind", helpline, f"{prefix}.kind")
            if kind not in ALTERNATIVE_KINDS:
                raise self.fail(
                    helpline,
                    f"{prefix}.kind",
                    f"unknown kind {_show(kind)}; use {', '.join(ALTERNATIVE_KINDS)}",
                )
            label = self.text(item, "label", helpline, f"{prefix}.label")
            target = self.text(item, "value", helpline, f"{prefix}.value")
            # The widget turns these into tel:, mailto: and href links: keep them harmless.
            ok = {
                "phone": _PHONE_RE.fullmatch(target) is not None,
                "email": _EMAIL_RE.fullmatch(target) is not None,
                "link": target.startswith(("https://", "http://")) and " " not in target,
            }[kind]
            if not ok:
                wanted = {
                    "phone": "a phone number (digits, spaces, +, -, parentheses)",
                    "email": "an e-mail address",
                    "link": "an http(s):// address",
                }[kind]
                raise self.fail(
                    helpline, f"{prefix}.value", f"expected {wanted}, got {_show(target)}"
                )
            alternatives.append(Alternative(kind=kind, label=label, value=target))
        return tuple(alternatives)

    def tags(self, value: object, helpline: str, field: str) -> tuple[Tag, ...]:
        """[[helpline.outcomes]] or [[helpline.topics]]: unique ids, a label per language."""
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(helpline, field, f"expected [[helpline.{field}]], {_got(value)}")
        tags: list[Tag] = []
        first_index: dict[str, int] = {}
        for index, item in enumerate(value):
            prefix = f"{field}[{index}]"
            if not isinstance(item, dict):
                raise self.fail(helpline, prefix, f"expected a table, {_got(item)}")
            self.unknown_keys(item, ("id", *LANGUAGES), helpline, f"{prefix}.")
            if "id" not in item:
                raise self.fail(helpline, f"{prefix}.id", "missing")
            tag_id = item["id"]
            if not isinstance(tag_id, str) or not _ID_RE.fullmatch(tag_id):
                raise self.fail(
                    helpline,
                    f"{prefix}.id",
                    f"must be lowercase letters, digits and '-' ([a-z0-9-]+), {_got(tag_id)}",
                )
            if tag_id in first_index:
                raise self.fail(
                    helpline,
                    f"{prefix}.id",
                    f"duplicate id {_show(tag_id)}; already in {field}[{first_index[tag_id]}]",
                )
            first_index[tag_id] = index
            labels = {
                lang: self.text(item, lang, helpline, f"{prefix}.{lang}") for lang in LANGUAGES
            }
            tags.append(Tag(id=tag_id, labels=MappingProxyType(labels)))
        return tuple(tags)

    def canned(self, value: object, helpline: str) -> tuple[CannedResponse, ...]:
        if not isinstance(value, list):
            raise self.fail(helpline, "canned", f"expected [[helpline.canned]], {_got(value)}")
        responses = []
        for index, item in enumerate(value):
            prefix = f"canned[{index}]"
            if not isinstance(item, dict):
                raise self.fail(helpline, prefix, f"expected a table, {_got(item)}")
            self.unknown_keys(item, ("lang", "title", "text"), helpline, f"{prefix}.")
            lang = self.text(item, "lang", helpline, f"{prefix}.lang")
            if lang not in LANGUAGES:
                raise self.fail(
                    helpline,
                    f"{prefix}.lang",
                    f"unknown language {_show(lang)}; use {', '.join(LANGUAGES)}",
                )
            responses.append(
                CannedResponse(
                    lang=lang,
                    title=self.text(item, "title", helpline, f"{prefix}.title"),
                    text=self.text(item, "text", helpline, f"{prefix}.text"),
                )
            )
        return tuple(responses)

    def quick_exit_url(self, table: dict[str, Any], helpline: str) -> str:
        if "quick_exit_url" not in table:
            return DEFAULT_QUICK_EXIT_URL
        url = self.text(table, "quick_exit_url", helpline, "quick_exit_url")
        # The widget hands it to location.replace(): never javascript:, data: or a relative path.
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname or " " in url:
            raise self.fail(
                helpline,
                "quick_exit_url",
                f'expected an http(s):// address like "{DEFAULT_QUICK_EXIT_URL}", got {_show(url)}',
            )
        return url

    def embed_origins(self, value: object) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(
                None,
                "server.embed_origins",
                f'expected an array like ["https://stopitnow.nl"], {_got(value)}',
            )
        origins = []
        for index, item in enumerate(value):
            field = f"server.embed_origins[{index}]"
            if not isinstance(item, str):
                raise self.fail(None, field, f"expected a string, {_got(item)}")
            origin = _https_origin(item)
            if origin is None:
                raise self.fail(
                    None,
                    field,
                    "expected an https origin (scheme and host, no path) like "
                    f'"https://stopitnow.nl", got {_show(item)}',
                )
            if origin not in origins:
                origins.append(origin)
        return tuple(origins)

    def server(self, value: object) -> ServerConfig:
        if value is None:
            return ServerConfig()
        if not isinstance(value, dict):
            raise self.fail(None, "server", f"expected a [server] table, {_got(value)}")
        self.unknown_keys(value, _SERVER_KEYS, None, "server.")
        defaults = ServerConfig()
        demo = value.get("demo_accounts", defaults.demo_accounts)
        if not isinstance(demo, bool):
            raise self.fail(None, "server.demo_accounts", f"expected true or false, {_got(demo)}")
        return ServerConfig(
            visitor_grace_seconds=self.integer(
                value,
                "visitor_grace_seconds",
                None,
                "server.visitor_grace_seconds",
                minimum=1,
                default=defaults.visitor_grace_seconds,
            ),
            counselor_grace_seconds=self.integer(
                value,
                "counselor_grace_seconds",
                None,
                "server.counselor_grace_seconds",
                minimum=1,
                default=defaults.counselor_grace_seconds,
            ),
            demo_accounts=demo,
            embed_origins=self.embed_origins(value.get("embed_origins", [])),
            counselor_idle_minutes=self.integer(
                value,
                "counselor_idle_minutes",
                None,
                "server.counselor_idle_minutes",
                minimum=1,
                default=defaults.counselor_idle_minutes,
            ),
            block_hours=self.integer(
                value,
                "block_hours",
                None,
                "server.block_hours",
                minimum=1,
                maximum=MAX_BLOCK_HOURS,
                default=defaults.block_hours,
            ),
            silent_visitor_grace_seconds=self.integer(
                value,
                "silent_visitor_grace_seconds",
                None,
                "server.silent_visitor_grace_seconds",
                minimum=1,
                default=defaults.silent_visitor_grace_seconds,
            ),
            trusted_proxies=self.trusted_proxies(value.get("trusted_proxies", [])),
            assignment_confirm_seconds=self.integer(
                value,
                "assignment_confirm_seconds",
                None,
                "server.assignment_confirm_seconds",
                minimum=2,
                maximum=300,
                default=defaults.assignment_confirm_seconds,
            ),
            counselor_liveness_seconds=self.integer(
                value,
                "counselor_liveness_seconds",
                None,
                "server.counselor_liveness_seconds",
                minimum=3,
                maximum=300,
                default=defaults.counselor_liveness_seconds,
            ),
        )

    def trusted_proxies(self, value: object) -> tuple[IPNetwork, ...]:
        if not isinstance(value, list):
            raise self.fail(
                None,
                "server.trusted_proxies",
                f'expected an array like ["127.0.0.1", "10.0.0.0/8"], {_got(value)}',
            )
        networks = []
        for index, item in enumerate(value):
            field = f"server.trusted_proxies[{index}]"
            if not isinstance(item, str):
                raise self.fail(None, field, f"expected a string, {_got(item)}")
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise self.fail(
                    None,
                    field,
                    f'expected an IP address or network like "10.0.0.0/8", got {_show(item)}',
                ) from None
        return tuple(networks)

    def limits(self, value: object) -> LimitsConfig:
        if value is None:
            return LimitsConfig()
        if not isinstance(value, dict):
            raise self.fail(None, "limits", f"expected a [limits] table, {_got(value)}")
        self.unknown_keys(value, tuple(_LIMIT_BOUNDS), None, "limits.")
        defaults = LimitsConfig()
        chosen: dict[str, Any] = {}
        for key, (minimum, maximum) in _LIMIT_BOUNDS.items():
            if key not in value:
                continue
            number = value[key]
            whole_only = isinstance(getattr(defaults, key), int)
            allowed = (int,) if whole_only else (int, float)
            if isinstance(number, bool) or not isinstance(number, allowed):
                kind = "an integer" if whole_only else "a number"
                raise self.fail(None, f"limits.{key}", f"expected {kind}, {_got(number)}")
            if not minimum <= number <= maximum:
                raise self.fail(
                    None,
                    f"limits.{key}",
                    f"must be from {_plain(minimum)} to {_plain(maximum)}, got {number}",
                )
            chosen[key] = float(number) if not whole_only else number
        return dataclasses.replace(defaults, **chosen)


def _plain(number: float) -> str:
    """1000000 rather than 1e+06 or 1000000.0 in an error line."""
    return str(int(number)) if float(number).is_integer() else str(number)


def _https_origin(text: str) -> str | None:
    """ "https://Example.nl:8443" -> "https://example.nl:8443"; None unless an https origin.

    It ends up in a CSP header, so only a scheme, a plain host name and a port pass.
    """
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if (
        parts.scheme != "https"
        or not _HOST_RE.fullmatch(host)
        or parts.username is not None
        or parts.password is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or text != text.strip()
    ):
        return None
    return f"https://{host}" + (f":{port}" if port is not None else "")
