"""``[tariff]``: optional, strict, money read as Decimal, every mistake named at once."""

from __future__ import annotations

import re
import sys
from datetime import time
from decimal import Decimal
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from agent.settings import ConfigError, parse_settings, render_settings
from agent.settings.schema import keys_of
from agent.settings.tariff import TariffSettings
from agent.tariff import Band

SOURCE = Path("/etc/ladda/ladda.toml")
HEAD = '[charge_point]\nid = "CP"\n[backend]\nurl = "ws://127.0.0.1:9000/ocpp"\n'
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "example.toml"
FULL = """[tariff]
currency = "SEK"
per_kwh = 3.49
per_hour_idle = "60.00"
per_hour_charging = "0.1234567890123456789"
idle_grace = 30
session_fee = 5
timezone = "Europe/Stockholm"
tax_percent = 25
prices_include_tax = true
decimals = 2
[[tariff.bands]]
start = "22:00"
end = "06:00"
per_kwh = 1.99
[[tariff.bands]]
start = 17:00:00
end = "19:30"
per_kwh = "4.499"
per_hour_idle = 120
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(HEAD + text, SOURCE)
    return info.value.errors


def test_without_a_tariff_table_there_is_no_tariff():
    s = parse_settings(HEAD, SOURCE)
    assert s.tariff is None
    assert "[tariff]" not in render_settings(s)


def test_a_full_tariff_is_read_as_decimals_and_bands():
    s = parse_settings(HEAD + FULL, SOURCE)
    t = s.tariff
    assert t is not None
    assert (t.currency, t.per_kwh, t.per_hour_idle, t.idle_grace, t.session_fee) == (
        "SEK", Decimal("3.49"), Decimal("60.00"), 30, Decimal(5))
    assert t.bands == (Band(time(22), time(6), per_kwh=Decimal("1.99")),
                       Band(time(17), time(19, 30), per_kwh=Decimal("4.499"), per_hour_idle=Decimal(120)))
    tariff = t.tariff()
    assert tariff.idle_grace_minutes == 30 and str(tariff.zone) == "Europe/Stockholm"
    # check-config shows it, and what it shows reads back the same.
    out = render_settings(s)
    assert "per_kwh = 3.49  # currency per kWh" in out
    assert 'per_hour_charging = "0.1234567890123456789"' in out  # more digits than a float keeps: a string
    assert parse_settings(out, SOURCE) == s


def test_only_the_currency_is_required():
    t = parse_settings(HEAD + '[tariff]\ncurrency = "EUR"\nper_kwh = 0.35\n', SOURCE).tariff
    assert t == TariffSettings(currency="EUR", per_kwh=Decimal("0.35"))
    assert (t.decimals, t.prices_include_tax, t.timezone, t.bands) == (2, True, "", ())
    assert errors_of("[tariff]\nper_kwh = 0.35\n") == [
        '/etc/ladda/ladda.toml:5: tariff.currency: required but missing; add it under [tariff], e.g. currency = "EUR"']


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('currency = "eur"', ':6: tariff.currency = "eur": must be an ISO 4217 currency code of three capital '
                             'letters, e.g. "EUR" (did you mean "EUR"?)'),
        ("per_kwh = -0.1", ":6: tariff.per_kwh = -0.1: must be a number between 0 and 10000"),
        ('per_kwh = "0,35"', ':6: tariff.per_kwh = "0,35": must be a number between 0 and 10000'),
        ("per_kwh = true", ":6: tariff.per_kwh = true: must be a number between 0 and 10000"),
        ("per_kwh = nan", ":6: tariff.per_kwh = nan: must be a number"),
        ("tax_percent = 120", ":6: tariff.tax_percent = 120: must be a number between 0 and 100"),
        ("idle_grace = 1.5", ":6: tariff.idle_grace = 1.5: must be an integer between 0 and 1440 (minutes)"),
        ("decimals = 5", ":6: tariff.decimals = 5: must be between 0 and 4"),
        ('timezone = "Europe/Stokholm"', ':6: tariff.timezone = "Europe/Stokholm": is not a time zone this system '
                                         'knows; must be an IANA time zone name such as "Europe/Stockholm", or "" '
                                         'for the system\'s; did you mean "Europe/Stockholm"?'),
        ("prices_include_tax = 1", ":6: tariff.prices_include_tax = 1: must be true or false"),
        ("per_kwhh = 1", ":6: tariff.per_kwhh: unknown key; did you mean 'per_kwh'?"),
        ('bands = [{start = "22:00", end = "6:00", per_kwh = 1}]',
         ':6: tariff.bands = …: band 1: end must be a time of day "HH:MM" (00:00 to 23:59), not a string '
         "'6:00'"),
        ('bands = [{start = "22:00", end = "06:00"}]',
         ":6: tariff.bands = …: band 1: sets no price; give at least one of per_kwh, per_hour_charging, "
         "per_hour_idle"),
        ('bands = [{start = "22:00", per_kwh = 1, per_kwhh = 2}]',
         ":6: tariff.bands = …: band 1: unknown key 'per_kwhh'; did you mean 'per_kwh'?; band 1: end is "
         'required, e.g. end = "06:00"'),
        ('bands = [{start = "22:00", end = "06:00", per_kwh = 1}, {start = "05:00", end = "07:00", per_kwh = 2}]',
         ":6: tariff.bands = …: the band 05:00-07:00 overlaps the band 22:00-06:00: at any time at most one "
         "band may apply"),
        ("bands = [1]", ":6: tariff.bands = …: band 1 must be a table ([[tariff.bands]]), not an integer"),
    ],
)
def test_each_mistake_is_named_with_its_line(text, error):
    currency = "" if text.startswith("currency") else 'currency = "EUR"\n'
    errors = errors_of(f"[tariff]\n{text}\n{currency}")
    assert len(errors) == 1
    head, _, tail = error.partition("…")  # … stands for the value as written, when long
    assert errors[0].startswith("/etc/ladda/ladda.toml" + head) and errors[0].endswith(tail), errors


def test_every_mistake_is_reported_at_once():
    errors = errors_of('[tariff]\ncurrency = "E"\nper_kwh = -1\ndecimals = 9\n')
    assert [e.split(": ")[1].split(" =")[0] for e in errors] == ["tariff.currency", "tariff.per_kwh", "tariff.decimals"]


def test_bands_touching_end_to_start_do_not_overlap():
    t = parse_settings(HEAD + '[tariff]\ncurrency = "EUR"\n[[tariff.bands]]\nstart = "06:00"\nend = "18:00"\n'
                       'per_kwh = 1\n[[tariff.bands]]\nstart = "18:00"\nend = "06:00"\nper_kwh = 2\n', SOURCE).tariff
    assert t is not None and len(t.bands) == 2


def test_the_example_documents_every_key():
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "tariff" not in tomllib.loads(text)  # optional: shown commented
    part = text[text.index("# [tariff]"):]
    for f in keys_of(TariffSettings):
        if f.name != "bands":
            assert re.search(rf"^# {f.name} = \S", part, re.M), f"tariff.{f.name} not shown"
    assert "# [[tariff.bands]]" in part
    # Uncommented, the example's tariff is a valid one.
    block = part[: part.index("\n\n")]
    toml = "\n".join(line[2:] for line in block.splitlines()
                     if re.fullmatch(r"# (\[\[?tariff(\.bands)?\]\]?|\w+ = .+)", line))
    assert parse_settings(HEAD + toml + "\n", SOURCE).tariff is not None


def test_the_configuration_reference_lists_every_key():
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    part = text[text.index("### `[tariff]`"):]
    part = part[: part.index("\n### ", 1)]
    for f in keys_of(TariffSettings):
        assert re.search(rf"^\| `{f.name}` \|", part, re.M), f.name
