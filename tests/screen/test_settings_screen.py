"""``[screen]`` and ``[operator]`` in the technician's TOML file."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.settings import ConfigError, parse_settings

SOURCE = Path("/etc/ladda/ladda.toml")
MINIMAL = '[charge_point]\nid = "LADDA-0001"\n[backend]\nurl = "ws://127.0.0.1:9000/ocpp"\n'


def errors(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_settings(MINIMAL + text, SOURCE)
    return str(info.value)


def test_defaults_english_and_a_quarter_hour_idle_alert() -> None:
    s = parse_settings(MINIMAL, SOURCE)
    assert s.screen.languages == ("en",)
    assert s.screen.idle_alert_minutes == 15.0
    assert (s.operator.name, s.operator.phone) == ("", "")


def test_several_languages_and_the_operator() -> None:
    s = parse_settings(MINIMAL + '[screen]\nlanguages = ["sv", "en"]\nidle_alert_minutes = 0\n'
                       '[operator]\nname = "Ladda Energi AB"\nphone = "+46 8 123 45"\n', SOURCE)
    assert s.screen.languages == ("sv", "en")
    assert s.screen.idle_alert_minutes == 0
    assert s.operator.phone == "+46 8 123 45"


@pytest.mark.parametrize(("value", "words"), [
    ('["de", "EN"]', "'EN' at index 1 is not one; did you mean 'en'?"),
    ('["da"]', "'da' at index 0 is not one)"),
    ('["en", "en"]', "a language is listed twice"),
    ("[]", "it is empty"),
    ('"en"', "must be an array of 1 to 4 language codes from en, de, fr, sv, not a string"),
])
def test_a_bad_language_list_is_named(value: str, words: str) -> None:
    message = errors(f"[screen]\nlanguages = {value}\n")
    assert "screen.languages" in message and words in message


def test_unknown_keys_and_bad_values_are_errors() -> None:
    assert "screen.language" in errors('[screen]\nlanguage = "de"\n')
    assert "screen.idle_alert_minutes" in errors("[screen]\nidle_alert_minutes = -1\n")
    assert "operator.phone" in errors('[operator]\nphone = "+46 8 123 45 67 89 10 11 12"\n')


REPO = Path(__file__).resolve().parents[2]


def test_every_key_is_in_the_example_and_the_reference() -> None:
    import re
    import tomllib

    from agent.settings.schema import keys_of
    from agent.settings.screen import OperatorSettings, ScreenSettings

    example = (REPO / "config" / "example.toml").read_text(encoding="utf-8")
    reference = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    parsed = tomllib.loads(example)
    for section, cls in (("screen", ScreenSettings), ("operator", OperatorSettings)):
        part = reference[reference.index(f"### `[{section}]`"):]
        part = part[: part.index("\n### ", 1)]
        for f in keys_of(cls):
            assert f.name in parsed[section], f"{section}.{f.name} not in the example"
            assert re.search(rf"^\| `{f.name}` \|", part, re.M), f"{section}.{f.name} not in the reference"
