"""``[tariff]``: the local tariff (prices, time-of-day bands, tax and decimals as shown).

Optional: without the table there is no tariff, and no cost is computed or shown. Money
is read into Decimal, never float: ``0.35`` in the file is the price 0.35 (read from its
shortest decimal spelling), and a string such as ``"0.349"`` is taken digit for digit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from agent.settings.rules import Flag, Integer, Invalid, Rule, closest, setting, type_name
from agent.tariff.model import Band, Tariff, zone_named

#: The highest price or fee taken (any unit): beyond it a typo is likelier than a price.
PRICE_MAX = Decimal(10_000)
_CURRENCY = re.compile(r"[A-Z]{3}")
_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
BAND_PRICES = ("per_kwh", "per_hour_charging", "per_hour_idle")
BAND_KEYS = ("start", "end", *BAND_PRICES)


def decimal_of(value: object, low: Decimal, high: Decimal, what: str) -> Decimal:
    """A TOML number or decimal string as a Decimal within ``low``..``high``; raises Invalid."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Invalid(f"must be {what}, not {type_name(value)}")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise Invalid(f"must be {what}") from None
    if not number.is_finite() or not low <= number <= high:
        raise Invalid(f"must be {what}")
    return number


@dataclass(frozen=True, slots=True)
class Money(Rule):
    """A price or fee: a number (or a decimal string) from 0 up to PRICE_MAX."""

    high: Decimal = PRICE_MAX

    def describe(self) -> str:
        return f'a number between 0 and {self.high} (or a decimal string such as "0.349")'

    def convert(self, value: object) -> Decimal:
        return decimal_of(value, Decimal(0), self.high, self.describe())


@dataclass(frozen=True, slots=True)
class Currency(Rule):
    """An ISO 4217 currency code (three capital letters)."""

    def describe(self) -> str:
        return 'an ISO 4217 currency code of three capital letters, e.g. "EUR"'

    def convert(self, value: object) -> str:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        if not _CURRENCY.fullmatch(value):
            hint = f' (did you mean "{value.strip().upper()}"?)' if _CURRENCY.fullmatch(value.strip().upper()) else ""
            raise Invalid(f"must be {self.describe()}{hint}")
        return value


@dataclass(frozen=True, slots=True)
class TimeZoneName(Rule):
    """An IANA time zone name, or "" for the system's."""

    def describe(self) -> str:
        return 'an IANA time zone name such as "Europe/Stockholm", or "" for the system\'s'

    def convert(self, value: object) -> str:
        if not isinstance(value, str):
            raise self._wrong_type(value)
        if value == "":
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            near = closest(value, sorted(available_timezones()))
            hint = f'; did you mean "{near}"?' if near else ""
            raise Invalid(f"is not a time zone this system knows; must be {self.describe()}{hint}") from None
        return value


def time_of_day(value: object) -> time:
    """A band's edge: "HH:MM" or a TOML local time on a whole minute; raises Invalid."""
    if isinstance(value, time):
        if value.second or value.microsecond or value.tzinfo is not None:
            raise Invalid("must be a local time on a whole minute, e.g. 22:00")
        return value
    if isinstance(value, str):
        found = _TIME.fullmatch(value)
        if found:
            return time(int(found.group(1)), int(found.group(2)))
    raise Invalid(f'must be a time of day "HH:MM" (00:00 to 23:59), not {type_name(value)}'
                  + (f" {value!r}" if isinstance(value, str) else ""))


def _minutes(band: Band) -> set[int]:
    start = band.start.hour * 60 + band.start.minute
    end = band.end.hour * 60 + band.end.minute
    if start == end:
        return set(range(1440))
    return {m % 1440 for m in range(start, end if end > start else end + 1440)}


@dataclass(frozen=True, slots=True)
class Bands(Rule):
    """Time-of-day bands: an array of tables with start, end and the prices they set."""

    def describe(self) -> str:
        return ('an array of tables, each with start and end ("HH:MM") and at least one of '
                + ", ".join(BAND_PRICES))

    def convert(self, value: object) -> tuple[Band, ...]:
        if not isinstance(value, list):
            raise self._wrong_type(value)
        bands: list[Band] = []
        problems: list[str] = []
        for number, item in enumerate(value, start=1):
            if not isinstance(item, dict):
                problems.append(f"band {number} must be a table ([[tariff.bands]]), not {type_name(item)}")
                continue
            found: dict[str, Any] = {}
            for key, given in item.items():
                if key not in BAND_KEYS:
                    near = closest(key, list(BAND_KEYS))
                    hint = f"did you mean '{near}'?" if near else f"known keys: {', '.join(BAND_KEYS)}"
                    problems.append(f"band {number}: unknown key {key!r}; {hint}")
                    continue
                try:
                    found[key] = time_of_day(given) if key in ("start", "end") else Money().convert(given)
                except Invalid as exc:
                    problems.append(f"band {number}: {key} {exc}")
            for key in ("start", "end"):
                if key not in item:
                    problems.append(f'band {number}: {key} is required, e.g. {key} = "{"22:00" if key == "start" else "06:00"}"')
            if not any(k in item for k in BAND_PRICES):
                problems.append(f"band {number}: sets no price; give at least one of {', '.join(BAND_PRICES)}")
            if all(k in found for k in ("start", "end")) and not any(f"band {number}:" in p for p in problems):
                bands.append(Band(**found))
        for i, band in enumerate(bands):
            for j, other in enumerate(bands[:i]):
                if _minutes(band) & _minutes(other):
                    problems.append(f"the band {band.start:%H:%M}-{band.end:%H:%M} overlaps the band "
                                    f"{other.start:%H:%M}-{other.end:%H:%M}: at any time at most one band may apply")
        if problems:
            raise Invalid("; ".join(problems))
        return tuple(bands)


@dataclass(frozen=True, slots=True)
class TariffSettings:
    """The local tariff: what a session costs at this charger when no backend prices it."""

    currency: str = setting(Currency(), example='"EUR"', doc="ISO 4217 code the prices are in and amounts are shown in")
    per_kwh: Decimal = setting(Money(), Decimal(0), unit="currency per kWh", doc="price of the energy")
    per_hour_charging: Decimal = setting(
        Money(), Decimal(0), unit="currency per hour",
        doc='price of the time the EV draws energy (chargingState "Charging")')
    per_hour_idle: Decimal = setting(
        Money(), Decimal(0), unit="currency per hour",
        doc="price of the time the EV stays plugged in and draws nothing (SuspendedEV, EVConnected), after "
            "idle_grace; the charger's own suspension (SuspendedEVSE) and time without the EV are never idle")
    idle_grace: int = setting(
        Integer(0, 1440, "minutes"), 0, unit="minutes",
        doc="idle time that is free, counted from when the EV last stopped drawing")
    session_fee: Decimal = setting(Money(), Decimal(0), unit="currency", doc="fixed price of each session")
    bands: tuple[Band, ...] = setting(
        Bands(), (),
        doc='time-of-day bands: [[tariff.bands]] tables with start and end ("HH:MM", local time; end before '
            "start crosses midnight, equal = all day) and the prices that differ then (per_kwh, "
            "per_hour_charging, per_hour_idle); bands must not overlap")
    timezone: str = setting(
        TimeZoneName(), "", doc='IANA time zone the bands are in (e.g. "Europe/Stockholm"); "" = the system\'s')
    tax_percent: Decimal = setting(
        Money(Decimal(100)), Decimal(0), unit="percent", doc="tax included in the amounts shown (VAT)")
    prices_include_tax: bool = setting(
        Flag(), True, doc="true when the prices above already include tax_percent; false adds it to every amount")
    decimals: int = setting(Integer(0, 4), 2, doc="decimals amounts are shown and rounded to (half up, once per total)")

    def tariff(self) -> Tariff:
        """The tariff these settings describe (its time zone resolved now: a bad system
        zone shows at start-up, not at the first session)."""
        return Tariff(
            currency=self.currency, per_kwh=self.per_kwh, per_hour_charging=self.per_hour_charging,
            per_hour_idle=self.per_hour_idle, idle_grace_minutes=self.idle_grace, session_fee=self.session_fee,
            bands=self.bands, timezone=self.timezone, tax_percent=self.tax_percent,
            prices_include_tax=self.prices_include_tax, decimals=self.decimals, _zone=zone_named(self.timezone),
        )
