"""Rules for config/helplines.toml: every mistake is one line naming file, helpline and field."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import MappingProxyType

import pytest

from chatserver.config import (
    CONFIG_FILE_NAME,
    DEFAULT_QUICK_EXIT_URL,
    Alternative,
    CannedResponse,
    ConfigError,
    LimitsConfig,
    ServerConfig,
    TimeRange,
    load_config,
)

REPO = Path(__file__).resolve().parents[2]

HEADER = 'timezone = "Europe/Amsterdam"\n'


def helpline(hours: str = 'mon = ["10:00-17:00"]', extra: str = "", **keys: str | None) -> str:
    """One [[helpline]] block; keys override (raw TOML values) or drop (None) the defaults."""
    values: dict[str, str | None] = {
        "id": '"alpha"',
        "name": '"Alpha"',
        "max_queue": "10",
        "last_admission_minutes": "5",
        "max_chats_per_counselor": "2",
    }
    values.update(keys)
    lines = ["[[helpline]]"] + [f"{k} = {v}" for k, v in values.items() if v is not None]
    return "\n".join([*lines, "[helpline.hours]", hours, extra, ""])


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / CONFIG_FILE_NAME).write_text(text, encoding="utf-8")
    return tmp_path / CONFIG_FILE_NAME


def config_error(tmp_path: Path, text: str) -> tuple[ConfigError, Path]:
    file = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    return info.value, file


def check(
    tmp_path: Path, text: str, helpline_id: str | None, field: str, *fragments: str
) -> ConfigError:
    """Load text, expect a ConfigError naming exactly this file, helpline and field."""
    error, file = config_error(tmp_path, text)
    message = str(error)
    assert error.file == file
    assert error.helpline == helpline_id
    assert error.field == field
    assert str(file) in message
    assert f"{field}:" in message
    if helpline_id is not None:
        assert f"'{helpline_id}'" in message
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message
    return error


# --- the file itself ---------------------------------------------------------------------------


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.field == "file"
    assert str(tmp_path / CONFIG_FILE_NAME) in str(info.value)
    assert "not found" in str(info.value)


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    check(tmp_path, HEADER + "max_queue = \n", None, "toml", "line 2", "column")


def test_file_must_be_utf8(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE_NAME).write_bytes(b'timezone = "Europe/Amsterdam\xff"\n')
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.field == "toml"
    assert "UTF-8" in str(info.value)


def test_config_file_is_the_toml_path(tmp_path: Path) -> None:
    file = write(tmp_path, HEADER + helpline())
    assert load_config(tmp_path).file == file


# --- top level ---------------------------------------------------------------------------------


def test_timezone_is_required(tmp_path: Path) -> None:
    check(tmp_path, helpline(), None, "timezone", "missing")


def test_unknown_timezone_is_rejected(tmp_path: Path) -> None:
    check(
        tmp_path,
        'timezone = "Europe/Amsterdm"\n' + helpline(),
        None,
        "timezone",
        '"Europe/Amsterdm"',
    )


def test_timezone_must_be_a_string(tmp_path: Path) -> None:
    check(tmp_path, "timezone = 1\n" + helpline(), None, "timezone", "an integer")


def test_unknown_top_level_key_is_rejected(tmp_path: Path) -> None:
    check(tmp_path, HEADER + "timezon = 'UTC'\n" + helpline(), None, "timezon", "unknown key")


def test_at_least_one_helpline_is_required(tmp_path: Path) -> None:
    check(tmp_path, HEADER, None, "helpline", "no helplines")


def test_empty_helpline_array_counts_as_no_helplines(tmp_path: Path) -> None:
    check(tmp_path, HEADER + "helpline = []\n", None, "helpline", "no helplines")


def test_helpline_must_be_an_array_of_tables(tmp_path: Path) -> None:
    text = HEADER + '[helpline]\nid = "alpha"\n'
    check(tmp_path, text, None, "helpline", "[[helpline]]")


def test_timezone_is_loaded(tmp_path: Path) -> None:
    write(tmp_path, HEADER + helpline())
    assert load_config(tmp_path).timezone.key == "Europe/Amsterdam"


# --- helpline id and name ----------------------------------------------------------------------


def test_helpline_id_is_required(tmp_path: Path) -> None:
    check(tmp_path, HEADER + helpline(id=None), None, "helpline[0].id", "missing")


def test_helpline_id_must_be_lowercase_letters_digits_and_dashes(tmp_path: Path) -> None:
    text = HEADER + helpline() + helpline(id='"Stop it"')
    check(tmp_path, text, None, "helpline[1].id", '"Stop it"', "[a-z0-9-]+")


def test_helpline_id_must_be_a_string(tmp_path: Path) -> None:
    check(tmp_path, HEADER + helpline(id="7"), None, "helpline[0].id", "an integer")


def test_helpline_ids_are_unique(tmp_path: Path) -> None:
    text = HEADER + helpline() + helpline(name='"Other"')
    check(tmp_path, text, "alpha", "id", "duplicate", '"alpha"', "helpline[0]")


def test_helpline_name_is_required(tmp_path: Path) -> None:
    check(tmp_path, HEADER + helpline(name=None), "alpha", "name", "missing")


def test_helpline_name_must_not_be_blank(tmp_path: Path) -> None:
    check(tmp_path, HEADER + helpline(name='"  "'), "alpha", "name", "empty")


def test_helpline_name_must_be_a_string(tmp_path: Path) -> None:
    check(tmp_path, HEADER + helpline(name="true"), "alpha", "name", "a boolean")


def test_unknown_helpline_key_is_a_typo(tmp_path: Path) -> None:
    text = HEADER + helpline(max_queu="10")
    check(tmp_path, text, "alpha", "max_queu", "unknown key", "max_queue")


# --- integers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["max_queue", "last_admission_minutes", "max_chats_per_counselor"])
def test_integer_settings_are_required(tmp_path: Path, key: str) -> None:
    text = "\n".join(line for line in helpline().splitlines() if not line.startswith(f"{key} ="))
    check(tmp_path, HEADER + text, "alpha", key, "missing")


def test_max_queue_must_be_an_integer_not_a_string(tmp_path: Path) -> None:
    check(tmp_path, HEADER + helpline(max_queue='"25"'), "alpha", "max_queue", '"25"', "a string")


def test_max_queue_must_be_an_integer_not_a_float(tmp_path: Path) -> None:
    check(tmp_path, HEADER + helpline(max_queue="2.5"), "alpha", "max_queue", "2.5", "a float")


def test_a_boolean_is_not_an_integer(tmp_path: Path) -> None:
    check(tmp_path, HEADER + helpline(max_queue="true"), "alpha", "max_queue", "true")


def test_max_queue_is_at_least_one(tmp_path: Path) -> None:
    check(tmp_path, HEADER + helpline(max_queue="0"), "alpha", "max_queue", ">= 1", "got 0")


def test_last_admission_minutes_is_not_negative(tmp_path: Path) -> None:
    text = HEADER + helpline(last_admission_minutes="-1")
    check(tmp_path, text, "alpha", "last_admission_minutes", "got -1")


def test_last_admission_minutes_is_at_most_a_day(tmp_path: Path) -> None:
    text = HEADER + helpline(last_admission_minutes="1441")
    check(tmp_path, text, "alpha", "last_admission_minutes", "1440", "got 1441")


def test_last_admission_minutes_may_be_zero(tmp_path: Path) -> None:
    write(tmp_path, HEADER + helpline(last_admission_minutes="0"))
    assert load_config(tmp_path).helplines[0].last_admission_minutes == 0


def test_max_chats_per_counselor_is_at_least_one(tmp_path: Path) -> None:
    text = HEADER + helpline(max_chats_per_counselor="0")
    check(tmp_path, text, "alpha", "max_chats_per_counselor", ">= 1", "got 0")


# --- hours -------------------------------------------------------------------------------------


def test_hours_table_is_required(tmp_path: Path) -> None:
    text = HEADER + '[[helpline]]\nid = "alpha"\nname = "A"\nmax_queue = 1\n'
    text += "last_admission_minutes = 0\nmax_chats_per_counselor = 1\n"
    check(tmp_path, text, "alpha", "hours", "missing")


def test_hours_must_be_a_table(tmp_path: Path) -> None:
    text = HEADER + '[[helpline]]\nid = "alpha"\nname = "A"\nmax_queue = 1\n'
    text += 'last_admission_minutes = 0\nmax_chats_per_counselor = 1\nhours = ["10:00-17:00"]\n'
    check(tmp_path, text, "alpha", "hours", "expected a table")


def test_missing_weekday_means_closed(tmp_path: Path) -> None:
    write(tmp_path, HEADER + helpline(hours='tue = ["09:00-12:30"]'))
    hours = load_config(tmp_path).helplines[0].hours
    assert isinstance(hours, MappingProxyType)
    assert dict(hours) == {
        0: (),
        1: (TimeRange(540, 750),),
        2: (),
        3: (),
        4: (),
        5: (),
        6: (),
    }


def test_unknown_weekday_key_is_rejected(tmp_path: Path) -> None:
    text = HEADER + helpline(hours='mnd = ["10:00-17:00"]')
    check(tmp_path, text, "alpha", "hours.mnd", '"mnd"', "mon, tue")


def test_weekday_value_must_be_an_array(tmp_path: Path) -> None:
    text = HEADER + helpline(hours='mon = "10:00-17:00"')
    check(tmp_path, text, "alpha", "hours.mon", "expected an array")


def test_range_must_be_a_string(tmp_path: Path) -> None:
    text = HEADER + helpline(hours='mon = ["10:00-17:00", 1900]')
    check(tmp_path, text, "alpha", "hours.mon[1]", "1900", "an integer")


@pytest.mark.parametrize(
    "bad",
    ["10-17", "10:00 - 17:00", "1:00-17:00", "10:00-17:00-18:00", "10.00-17.00", ""],
)
def test_range_must_look_like_hh_mm_dash_hh_mm(tmp_path: Path, bad: str) -> None:
    text = HEADER + helpline(hours=f'mon = ["10:00-12:00", "{bad}"]')
    check(tmp_path, text, "alpha", "hours.mon[1]", "HH:MM-HH:MM", f'"{bad}"')


@pytest.mark.parametrize("bad", ["25:00-26:00", "10:00-24:30", "10:60-12:00", "09:00-10:99"])
def test_hours_are_00_to_24_and_minutes_00_to_59(tmp_path: Path, bad: str) -> None:
    text = HEADER + helpline(hours=f'fri = ["{bad}"]')
    check(tmp_path, text, "alpha", "hours.fri[0]", f'"{bad}"', "is not a time")


def test_24_00_only_ends_a_range(tmp_path: Path) -> None:
    text = HEADER + helpline(hours='sun = ["24:00-02:00"]')
    check(tmp_path, text, "alpha", "hours.sun[0]", '"24:00-02:00"', "only end")


def test_range_start_and_end_must_differ(tmp_path: Path) -> None:
    text = HEADER + helpline(hours='wed = ["10:00-10:00"]')
    check(tmp_path, text, "alpha", "hours.wed[0]", '"10:00-10:00"', "same")


def test_range_ending_before_it_starts_crosses_midnight(tmp_path: Path) -> None:
    write(tmp_path, HEADER + helpline(hours='mon = ["22:00-02:00", "00:00-24:00"]'))
    assert load_config(tmp_path).helplines[0].hours[0] == (
        TimeRange(0, 1440),
        TimeRange(1320, 1560),
    )


# --- exceptions --------------------------------------------------------------------------------


def exception(day: str, hours: str = "[]") -> str:
    return f"[[helpline.exceptions]]\ndate = {day}\nhours = {hours}\n"


def test_exception_dates_accept_toml_dates_and_strings(tmp_path: Path) -> None:
    extra = exception("2026-12-25") + exception('"2026-12-24"', '["10:00-15:00"]')
    write(tmp_path, HEADER + helpline(extra=extra))
    exceptions = load_config(tmp_path).helplines[0].exceptions
    assert isinstance(exceptions, MappingProxyType)
    assert dict(exceptions) == {
        date(2026, 12, 24): (TimeRange(600, 900),),
        date(2026, 12, 25): (),
    }


@pytest.mark.parametrize("bad", ['"25-12-2026"', '"2026-12-25T10:00"', '"20261225"', "20261225"])
def test_exception_date_must_be_yyyy_mm_dd(tmp_path: Path, bad: str) -> None:
    text = HEADER + helpline(extra=exception(bad))
    check(tmp_path, text, "alpha", "exceptions[0].date", "YYYY-MM-DD", bad)


def test_exception_date_must_exist(tmp_path: Path) -> None:
    text = HEADER + helpline(extra=exception('"2026-02-30"'))
    check(tmp_path, text, "alpha", "exceptions[0].date", '"2026-02-30"', "no such date")


def test_exception_date_is_not_a_date_time(tmp_path: Path) -> None:
    text = HEADER + helpline(extra=exception("2026-12-25T10:00:00"))
    check(tmp_path, text, "alpha", "exceptions[0].date", "a date-time")


def test_exception_dates_are_unique(tmp_path: Path) -> None:
    extra = exception("2026-12-25") + exception("2026-12-26") + exception('"2026-12-25"')
    text = HEADER + helpline(extra=extra)
    check(tmp_path, text, "alpha", "exceptions[2].date", "duplicate", "2026-12-25", "exceptions[0]")


def test_exception_needs_a_date(tmp_path: Path) -> None:
    text = HEADER + helpline(extra="[[helpline.exceptions]]\nhours = []\n")
    check(tmp_path, text, "alpha", "exceptions[0].date", "missing")


def test_exception_needs_hours_even_when_closed(tmp_path: Path) -> None:
    text = HEADER + helpline(extra="[[helpline.exceptions]]\ndate = 2026-12-25\n")
    check(tmp_path, text, "alpha", "exceptions[0].hours", "missing", "hours = []")


def test_exception_hours_are_checked_like_weekday_hours(tmp_path: Path) -> None:
    text = HEADER + helpline(extra=exception("2026-12-24", '["10:00-15:00", "15:00-25:00"]'))
    check(tmp_path, text, "alpha", "exceptions[0].hours[1]", '"15:00-25:00"')


def test_unknown_exception_key_is_rejected(tmp_path: Path) -> None:
    text = HEADER + helpline(extra=exception("2026-12-25") + 'note = "Christmas"\n')
    check(tmp_path, text, "alpha", "exceptions[0].note", "unknown key")


# --- intro and alternatives --------------------------------------------------------------------


def test_intro_texts_per_language_are_loaded(tmp_path: Path) -> None:
    write(tmp_path, HEADER + helpline(intro='{ nl = " Hallo. ", en = "Hello." }'))
    intro = load_config(tmp_path).helplines[0].intro
    assert isinstance(intro, MappingProxyType)
    assert dict(intro) == {"nl": "Hallo.", "en": "Hello."}


def test_intro_language_must_be_supported(tmp_path: Path) -> None:
    text = HEADER + helpline(intro='{ nl = "Hallo", de = "Hallo" }')
    check(tmp_path, text, "alpha", "intro.de", "unknown language", "nl, en")


def test_intro_text_must_be_a_string(tmp_path: Path) -> None:
    text = HEADER + helpline(intro="{ en = 3 }")
    check(tmp_path, text, "alpha", "intro.en", "a string")


def alternative(kind: str = "phone", label: str = "Call", value: str = "0800-266 64 36") -> str:
    return f'[[helpline.alternatives]]\nkind = "{kind}"\nlabel = "{label}"\nvalue = "{value}"\n'


def test_alternatives_are_loaded_in_order(tmp_path: Path) -> None:
    extra = alternative() + alternative("email", "Mail", "info@example.org")
    extra += alternative("link", "Web", "https://example.org/help")
    write(tmp_path, HEADER + helpline(extra=extra))
    assert load_config(tmp_path).helplines[0].alternatives == (
        Alternative("phone", "Call", "0800-266 64 36"),
        Alternative("email", "Mail", "info@example.org"),
        Alternative("link", "Web", "https://example.org/help"),
    )


def test_alternative_kind_must_be_phone_email_or_link(tmp_path: Path) -> None:
    text = HEADER + helpline(extra=alternative(kind="fax"))
    check(tmp_path, text, "alpha", "alternatives[0].kind", '"fax"', "phone, email, link")


def test_alternative_needs_a_label(tmp_path: Path) -> None:
    text = HEADER + helpline(extra='[[helpline.alternatives]]\nkind = "phone"\nvalue = "112"\n')
    check(tmp_path, text, "alpha", "alternatives[0].label", "missing")


def test_alternative_link_must_be_http(tmp_path: Path) -> None:
    text = HEADER + helpline(extra=alternative() + alternative("link", "Web", "javascript:x()"))
    check(tmp_path, text, "alpha", "alternatives[1].value", '"javascript:x()"', "http")


def test_alternative_phone_must_look_like_a_number(tmp_path: Path) -> None:
    text = HEADER + helpline(extra=alternative(value="call us"))
    check(tmp_path, text, "alpha", "alternatives[0].value", '"call us"', "phone number")


def test_alternative_email_must_look_like_an_address(tmp_path: Path) -> None:
    text = HEADER + helpline(extra=alternative("email", "Mail", "info.example.org"))
    check(tmp_path, text, "alpha", "alternatives[0].value", '"info.example.org"', "e-mail")


def test_unknown_alternative_key_is_rejected(tmp_path: Path) -> None:
    text = HEADER + helpline(extra=alternative() + "url = 'x'\n")
    check(tmp_path, text, "alpha", "alternatives[0].url", "unknown key")


# --- quick exit --------------------------------------------------------------------------------


def test_quick_exit_url_defaults_to_a_neutral_site(tmp_path: Path) -> None:
    write(tmp_path, HEADER + helpline())
    assert load_config(tmp_path).helplines[0].quick_exit_url == DEFAULT_QUICK_EXIT_URL
    assert DEFAULT_QUICK_EXIT_URL.startswith("https://")


def test_quick_exit_url_is_loaded(tmp_path: Path) -> None:
    write(tmp_path, HEADER + helpline(quick_exit_url='"https://nos.nl/"'))
    assert load_config(tmp_path).helplines[0].quick_exit_url == "https://nos.nl/"


@pytest.mark.parametrize("bad", ['"javascript:alert(1)"', '"/healthz"', '"https://"', '"nos.nl"'])
def test_quick_exit_url_must_be_an_http_address(tmp_path: Path, bad: str) -> None:
    text = HEADER + helpline(quick_exit_url=bad)
    check(tmp_path, text, "alpha", "quick_exit_url", bad, "http(s)://")


def test_quick_exit_url_must_be_a_string(tmp_path: Path) -> None:
    text = HEADER + helpline(quick_exit_url="1")
    check(tmp_path, text, "alpha", "quick_exit_url", "expected a string")


# --- [server] ----------------------------------------------------------------------------------


def test_server_table_is_optional(tmp_path: Path) -> None:
    write(tmp_path, HEADER + helpline())
    assert load_config(tmp_path).server == ServerConfig()


def test_server_settings_are_loaded(tmp_path: Path) -> None:
    server = "[server]\nvisitor_grace_seconds = 30\ncounselor_grace_seconds = 90\n"
    write(tmp_path, HEADER + server + "demo_accounts = true\n" + helpline())
    assert load_config(tmp_path).server == ServerConfig(30, 90, demo_accounts=True)


def test_grace_seconds_are_at_least_one(tmp_path: Path) -> None:
    text = HEADER + "[server]\nvisitor_grace_seconds = 0\n" + helpline()
    check(tmp_path, text, None, "server.visitor_grace_seconds", ">= 1", "got 0")


def test_counselor_grace_seconds_must_be_an_integer(tmp_path: Path) -> None:
    text = HEADER + '[server]\ncounselor_grace_seconds = "60"\n' + helpline()
    check(tmp_path, text, None, "server.counselor_grace_seconds", '"60"')


def test_demo_accounts_must_be_a_boolean(tmp_path: Path) -> None:
    text = HEADER + '[server]\ndemo_accounts = "yes"\n' + helpline()
    check(tmp_path, text, None, "server.demo_accounts", '"yes"', "true or false")


def test_embed_origins_are_loaded_as_normalised_https_origins(tmp_path: Path) -> None:
    origins = '["https://stopitnow.nl", "https://WWW.Helpwanted.nl/", "https://a.nl:8443"]'
    write(tmp_path, HEADER + f"[server]\nembed_origins = {origins}\n" + helpline())
    assert load_config(tmp_path).server.embed_origins == (
        "https://stopitnow.nl",
        "https://www.helpwanted.nl",
        "https://a.nl:8443",
    )


def test_embed_origins_default_to_none(tmp_path: Path) -> None:
    write(tmp_path, HEADER + helpline())
    assert load_config(tmp_path).server.embed_origins == ()


@pytest.mark.parametrize(
    "bad",
    [
        '"http://stopitnow.nl"',
        '"https://stopitnow.nl/chat"',
        '"https://*.stopitnow.nl"',
        '"*"',
        '"stopitnow.nl"',
        '"https://stopitnow.nl; script-src *"',
        "\"https://stopitnow.nl 'unsafe-inline'\"",
        '"https://stopitnow.nl?x=1"',
    ],
)
def test_embed_origin_must_be_an_https_origin(tmp_path: Path, bad: str) -> None:
    text = HEADER + f'[server]\nembed_origins = ["https://ok.nl", {bad}]\n' + helpline()
    check(tmp_path, text, None, "server.embed_origins[1]", "https origin")


def test_embed_origins_must_be_an_array(tmp_path: Path) -> None:
    text = HEADER + '[server]\nembed_origins = "https://stopitnow.nl"\n' + helpline()
    check(tmp_path, text, None, "server.embed_origins", "expected an array")


def test_unknown_server_key_is_rejected(tmp_path: Path) -> None:
    text = HEADER + "[server]\nvisitor_grace = 5\n" + helpline()
    check(tmp_path, text, None, "server.visitor_grace", "unknown key")


def test_idle_minutes_and_block_hours_default_to_15_and_24(tmp_path: Path) -> None:
    write(tmp_path, HEADER + helpline())
    server = load_config(tmp_path).server
    assert (server.counselor_idle_minutes, server.block_hours) == (15, 24)


def test_idle_minutes_and_block_hours_are_loaded(tmp_path: Path) -> None:
    write(
        tmp_path, HEADER + "[server]\ncounselor_idle_minutes = 5\nblock_hours = 720\n" + helpline()
    )
    server = load_config(tmp_path).server
    assert (server.counselor_idle_minutes, server.block_hours) == (5, 720)


@pytest.mark.parametrize("bad", ["0", "-1", '"15"', "1.5", "true"])
def test_idle_minutes_must_be_a_whole_number_of_at_least_one(tmp_path: Path, bad: str) -> None:
    text = HEADER + f"[server]\ncounselor_idle_minutes = {bad}\n" + helpline()
    check(tmp_path, text, None, "server.counselor_idle_minutes")


@pytest.mark.parametrize("bad", ["0", "721", '"24"', "true"])
def test_block_hours_must_be_from_1_to_720(tmp_path: Path, bad: str) -> None:
    text = HEADER + f"[server]\nblock_hours = {bad}\n" + helpline()
    check(tmp_path, text, None, "server.block_hours")


# --- outcomes, topics and canned responses ------------------------------------------------------

OUTCOME = '[[helpline.outcomes]]\nid = "talk"\nnl = "Gesprek"\nen = "Talk"\n'
TOPIC = '[[helpline.topics]]\nid = "sextortion"\nnl = "Sextortion"\nen = "Sextortion"\n'
CANNED = '[[helpline.canned]]\nlang = "nl"\ntitle = "Hoi"\ntext = "Fijn dat je er bent."\n'


def test_without_outcomes_a_helpline_gets_the_default_list_and_no_topics_or_canned(
    tmp_path: Path,
) -> None:
    write(tmp_path, HEADER + helpline())
    alpha = load_config(tmp_path).helplines[0]
    assert alpha.outcome_ids() == (
        "counselling",
        "information",
        "silent",
        "hang-up",
        "abusive",
        "test",
    )
    assert all(set(tag.labels) == {"nl", "en"} for tag in alpha.outcomes)
    assert alpha.outcomes[0].label("nl") == "Hulpverleningsgesprek"
    assert (alpha.topics, alpha.canned) == ((), ())


def test_outcomes_topics_and_canned_responses_are_loaded_in_order(tmp_path: Path) -> None:
    extra = OUTCOME + TOPIC + CANNED + OUTCOME.replace('"talk"', '"info"')
    write(tmp_path, HEADER + helpline(extra=extra))
    alpha = load_config(tmp_path).helplines[0]
    assert alpha.outcome_ids() == ("talk", "info")
    assert alpha.outcomes[0].label("en") == "Talk"
    assert alpha.topic_ids() == ("sextortion",)
    assert alpha.canned == (CannedResponse(lang="nl", title="Hoi", text="Fijn dat je er bent."),)


@pytest.mark.parametrize("kind", ["outcomes", "topics"])
@pytest.mark.parametrize("bad", ['"Talk"', '"talk_1"', '"a b"', '""', "1"])
def test_a_tag_id_must_be_lowercase_letters_digits_and_dashes(
    tmp_path: Path, kind: str, bad: str
) -> None:
    extra = f'[[helpline.{kind}]]\nid = {bad}\nnl = "X"\nen = "X"\n'
    check(tmp_path, HEADER + helpline(extra=extra), "alpha", f"{kind}[0].id", "[a-z0-9-]+")


@pytest.mark.parametrize("kind", ["outcomes", "topics"])
def test_a_tag_id_must_be_unique_within_the_helpline(tmp_path: Path, kind: str) -> None:
    tag = f'[[helpline.{kind}]]\nid = "talk"\nnl = "X"\nen = "X"\n'
    check(
        tmp_path, HEADER + helpline(extra=tag + tag), "alpha", f"{kind}[1].id", "duplicate", "[0]"
    )


@pytest.mark.parametrize("kind", ["outcomes", "topics"])
@pytest.mark.parametrize("lang", ["nl", "en"])
def test_a_tag_needs_a_non_blank_label_in_both_languages(
    tmp_path: Path, kind: str, lang: str
) -> None:
    other = "en" if lang == "nl" else "nl"
    missing = f'[[helpline.{kind}]]\nid = "talk"\n{other} = "X"\n'
    check(tmp_path, HEADER + helpline(extra=missing), "alpha", f"{kind}[0].{lang}", "missing")
    blank = f'[[helpline.{kind}]]\nid = "talk"\n{other} = "X"\n{lang} = "  "\n'
    check(tmp_path, HEADER + helpline(extra=blank), "alpha", f"{kind}[0].{lang}", "empty")


def test_a_tag_with_an_unknown_key_is_rejected(tmp_path: Path) -> None:
    extra = OUTCOME + 'de = "Gespräch"\n'
    check(tmp_path, HEADER + helpline(extra=extra), "alpha", "outcomes[0].de", "unknown key")


def test_outcomes_must_be_tables(tmp_path: Path) -> None:
    text = HEADER + helpline(outcomes='["talk"]')
    check(tmp_path, text, "alpha", "outcomes[0]", "expected a table")


def test_a_canned_response_needs_a_known_language(tmp_path: Path) -> None:
    extra = CANNED.replace('"nl"', '"de"')
    check(tmp_path, HEADER + helpline(extra=extra), "alpha", "canned[0].lang", "unknown language")


@pytest.mark.parametrize("key", ["lang", "title", "text"])
def test_a_canned_response_needs_lang_title_and_text(tmp_path: Path, key: str) -> None:
    lines = [line for line in CANNED.splitlines() if not line.startswith(key)]
    extra = "\n".join(lines) + "\n"
    check(tmp_path, HEADER + helpline(extra=extra), "alpha", f"canned[0].{key}", "missing")


@pytest.mark.parametrize(
    ("key", "written"), [("title", 'title = "Hoi"'), ("text", 'text = "Fijn dat je er bent."')]
)
def test_a_canned_response_title_and_text_must_not_be_blank(
    tmp_path: Path, key: str, written: str
) -> None:
    extra = CANNED.replace(written, f'{key} = " "')
    check(tmp_path, HEADER + helpline(extra=extra), "alpha", f"canned[0].{key}", "empty")


# --- shipped files -----------------------------------------------------------------------------


def test_shipped_production_config_loads() -> None:
    config = load_config(REPO / "config")
    assert [h.id for h in config.helplines] == ["stopitnow", "helpwanted"]
    assert config.timezone.key == "Europe/Amsterdam"
    assert not config.server.demo_accounts
    stopitnow = config.helpline("stopitnow")
    assert stopitnow is not None
    assert stopitnow.max_queue == 25
    assert stopitnow.max_chats_per_counselor == 2
    assert stopitnow.exceptions[date(2026, 12, 25)] == ()
    for helpline_config in config.helplines:
        assert set(helpline_config.intro) == {"nl", "en"}
        assert helpline_config.alternatives
        assert helpline_config.topics
        assert {c.lang for c in helpline_config.canned} == {"nl", "en"}
    assert "own-feelings" in stopitnow.topic_ids()
    helpwanted = config.helpline("helpwanted")
    assert helpwanted is not None
    assert {"sextortion", "image-spread", "grooming", "deepfake", "cyberbullying"} <= set(
        helpwanted.topic_ids()
    )


def test_shipped_demo_config_loads_and_is_always_open() -> None:
    config = load_config(REPO / "config" / "demo")
    assert config.server.demo_accounts
    assert [h.id for h in config.helplines] == ["stopitnow", "helpwanted"]
    for helpline_config in config.helplines:
        assert all(ranges == (TimeRange(0, 1440),) for ranges in helpline_config.hours.values())
        assert not helpline_config.exceptions


# --- [limits] and the new [server] settings ---------------------------------------------------


def test_limits_table_is_optional_with_documented_defaults(tmp_path: Path) -> None:
    write(tmp_path, HEADER + helpline())
    limits = load_config(tmp_path).limits
    assert limits == LimitsConfig()
    assert (limits.chat_max_messages, limits.chat_max_bytes) == (2000, 2_000_000)
    assert (limits.resume_max_messages, limits.resume_max_bytes) == (100, 65_536)
    assert limits.starts_per_address_per_minute == 5


def test_limits_are_loaded_and_rates_may_be_fractions(tmp_path: Path) -> None:
    limits = "[limits]\nchat_max_messages = 50\nvisitor_message_rate = 0.5\n"
    write(tmp_path, HEADER + limits + helpline())
    loaded = load_config(tmp_path).limits
    assert (loaded.chat_max_messages, loaded.visitor_message_rate) == (50, 0.5)
    assert loaded.chat_max_bytes == LimitsConfig().chat_max_bytes


def test_a_limit_out_of_range_is_named(tmp_path: Path) -> None:
    text = HEADER + "[limits]\nchat_max_messages = 0\n" + helpline()
    check(tmp_path, text, None, "limits.chat_max_messages", "from 1 to", "got 0")


def test_a_count_limit_must_be_a_whole_number(tmp_path: Path) -> None:
    text = HEADER + "[limits]\nresume_max_messages = 2.5\n" + helpline()
    check(tmp_path, text, None, "limits.resume_max_messages", "expected an integer", "2.5")


def test_an_unknown_limit_is_a_typo(tmp_path: Path) -> None:
    text = HEADER + "[limits]\nchat_max_message = 10\n" + helpline()
    check(tmp_path, text, None, "limits.chat_max_message", "unknown key")


def test_trusted_proxies_are_addresses_or_networks(tmp_path: Path) -> None:
    server = '[server]\ntrusted_proxies = ["127.0.0.1", "10.0.0.0/8", "::1"]\n'
    write(tmp_path, HEADER + server + helpline())
    proxies = load_config(tmp_path).server.trusted_proxies
    assert [str(p) for p in proxies] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]


def test_a_trusted_proxy_that_is_no_address_is_named(tmp_path: Path) -> None:
    text = HEADER + '[server]\ntrusted_proxies = ["proxy.local"]\n' + helpline()
    check(tmp_path, text, None, "server.trusted_proxies[0]", '"proxy.local"')


def test_silent_visitor_grace_defaults_to_ten_seconds(tmp_path: Path) -> None:
    write(tmp_path, HEADER + helpline())
    assert load_config(tmp_path).server.silent_visitor_grace_seconds == 10


# --- assignment mode and supervisor hints -----------------------------------------------------


def test_a_helpline_assigns_automatically_without_hints_unless_it_says_otherwise(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        HEADER + helpline() + helpline(id='"beta"', assignment='"pick"', supervisor_hints="true"),
    )
    alpha, beta = load_config(tmp_path).helplines
    assert (alpha.assignment, alpha.supervisor_hints) == ("auto", False)
    assert (beta.assignment, beta.supervisor_hints) == ("pick", True)


@pytest.mark.parametrize("bad", ['"fifo"', "true", "1"])
def test_assignment_must_be_auto_or_pick(tmp_path: Path, bad: str) -> None:
    check(tmp_path, HEADER + helpline(assignment=bad), "alpha", "assignment", '"auto" or "pick"')


def test_supervisor_hints_must_be_true_or_false(tmp_path: Path) -> None:
    check(tmp_path, HEADER + helpline(supervisor_hints='"yes"'), "alpha", "supervisor_hints")
