"""The phrase tables: complete in every language, short enough for the smallest display."""

from __future__ import annotations

import string

import pytest

from agent.screen.texts import FAULTS, HEADER_COLUMNS, HEADERS, PHRASES, REFUSALS, fault_key, refusal_key, say
from agent.session.model import AuthStatus
from agent.settings.screen import LANGUAGES

#: The widest values a phrase carries on a 16-column line (a cost; a time).
VALUES = {"cost": "4.32 EUR", "time": "1:05 h"}


def test_every_configurable_language_has_every_phrase() -> None:
    assert set(PHRASES) == set(LANGUAGES)
    keys = set(PHRASES["en"])
    for language, table in PHRASES.items():
        assert set(table) == keys, language
        for key, text in table.items():
            fields = {f for _, f, _, _ in string.Formatter().parse(text) if f}
            assert fields == {f for _, f, _, _ in string.Formatter().parse(PHRASES["en"][key]) if f}, (language, key)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_phrase_fits_sixteen_columns(language: str) -> None:
    for key, text in PHRASES[language].items():
        if "{phone}" in text:
            continue  # the number alone is shown when the phrase with it is too long
        shown = text.format(**VALUES)
        assert len(shown) <= 16, (language, key, shown)


@pytest.mark.parametrize("language", LANGUAGES)
def test_headers_leave_room_for_a_connector_number(language: str) -> None:
    for key in HEADERS:
        assert len(f"2 {PHRASES[language][key]}") <= 16, (language, key)
    assert HEADER_COLUMNS == 14


def test_every_fault_and_refusal_has_words() -> None:
    assert set(FAULTS.values()) | {"fault_other"} <= set(PHRASES["en"])
    assert set(REFUSALS.values()) | {"why_other"} <= set(PHRASES["en"])
    assert fault_key("OtherError", "EmergencyStop") == "fault_emergency"
    assert fault_key("SomethingNew") == "fault_other"
    for status in AuthStatus:  # every answer a backend (or the charger) can give
        if status is not AuthStatus.ACCEPTED:
            assert refusal_key(status.value) in PHRASES["en"]


def test_say_fills_values_and_names_an_unknown_language() -> None:
    assert say("de", "call", phone="+49 30 1") == "Tel. +49 30 1"
    with pytest.raises(KeyError, match="no screen texts in language 'xx'"):
        say("xx", "ready")
