"""The values of the price settings the OCPP 1.6 California Pricing whitepaper defines.

Kept beside the settings table (not in the 1.6 adapter) because the table validates them
(a malformed ``DefaultPrice`` is Rejected before it is stored) and the screen reads the
time offset to show local times. Amounts are Decimal: JSON numbers are read as Decimal,
never through float, so ``0.1`` stays exactly ``0.1``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

#: Languages a charger can be told to use (RFC 5646 primary tags): SupportedLanguages
#: names the ones a charger really has, Language the one it shows by default.
LANGUAGES = ("en", "de", "fr", "nl", "sv", "nb", "da", "fi", "es", "it", "pl", "pt")
#: OCPP 1.6 ChangeConfiguration's value is a CiString500.
VALUE_MAX = 500
_OFFSET = re.compile(r"^([+-])(\d\d):([0-5]\d)$")
_PRICE_FIELDS = ("kWhPrice", "hourPrice", "flatFee")
_DEFAULT_PRICE_FIELDS = ("priceText", "priceTextOffline", "chargingPrice")
#: The largest amount taken (a price, a cost, a trigger's kWh or kW): far beyond any real
#: one, and small enough that no sum or product of amounts can overflow a Decimal.
AMOUNT_MAX = Decimal(10**9)
#: An RFC 5646 language tag (``en``, ``en-US``, ``zh-Hant-TW``): a primary subtag of 2-3
#: letters, then subtags of 1-8 letters or digits, at most 35 characters in all.
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
LANGUAGE_TAG_MAX = 35


class PriceValueError(ValueError):
    """A price setting's or a cost message's value that breaks the whitepaper's shape."""


@dataclass(frozen=True, slots=True)
class ChargingPrice:
    """The whitepaper's chargingPrice: per kWh, per hour of charging, a flat fee (None: not given)."""

    kwh: Decimal | None = None
    hour: Decimal | None = None
    flat_fee: Decimal | None = None


@dataclass(frozen=True, slots=True)
class DefaultPrice:
    """``DefaultPrice`` (or one ``DefaultPriceText,<language>``): the price shown before a
    driver is identified, and ``offline`` while the backend is unreachable."""

    text: str
    offline: str | None = None
    charging: ChargingPrice | None = None


def load_json(raw: str, what: str) -> Any:
    """JSON text with numbers as Decimal (money never goes through float)."""
    try:
        return json.loads(raw, parse_float=Decimal, parse_int=Decimal)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise PriceValueError(f"{what} is not JSON ({exc})") from None


def text_of(obj: dict[str, Any], name: str, required: bool = False, maximum: int = VALUE_MAX) -> str | None:
    """``obj[name]`` as printable-or-newline text (None when absent and not ``required``)."""
    if name not in obj:
        if required:
            raise PriceValueError(f"{name} is missing")
        return None
    value = obj[name]
    if not isinstance(value, str):
        raise PriceValueError(f"{name} must be text, not {type(value).__name__}")
    if len(value) > maximum:
        raise PriceValueError(f"{name} must be at most {maximum} characters")
    if not value.replace("\n", " ").isprintable():
        raise PriceValueError(f"{name} must be printable text")
    return value


def amount_of(obj: dict[str, Any], name: str, required: bool = False,
              maximum: Decimal = AMOUNT_MAX) -> Decimal | None:
    """``obj[name]`` as a non-negative amount of at most ``maximum`` (None when absent and
    not ``required``). The bound keeps a JSON number like ``1e999999999`` (a finite
    Decimal) from overflowing the arithmetic on it later, long after it was Accepted."""
    if name not in obj:
        if required:
            raise PriceValueError(f"{name} is missing")
        return None
    value = obj[name]
    if not isinstance(value, Decimal) or not value.is_finite():
        raise PriceValueError(f"{name} must be a number")
    if value < 0:
        raise PriceValueError(f"{name} must not be negative")
    if value > maximum:
        raise PriceValueError(f"{name} must be at most {maximum}")
    return value


def language_tag_problem(tag: str) -> str | None:
    """Why ``tag`` is not an RFC 5646 language tag (``en``, ``en-US``, ``zh-Hant-TW``), or None."""
    if len(tag) > LANGUAGE_TAG_MAX or not _LANGUAGE_TAG.match(tag):
        return f"must be an RFC 5646 language tag like en, en-US or zh-Hant-TW (at most {LANGUAGE_TAG_MAX} characters)"
    return None


def primary_language(tag: str) -> str:
    """The primary subtag of a language tag, lower case: ``en`` of ``en-US``."""
    return tag.split("-")[0].lower()


def language_rule(tag: str) -> str | None:
    """The settings table's check of ``Language``: a language tag whose primary subtag is
    one a charger can have (``en-US`` is English); why not, or None."""
    broken = language_tag_problem(tag)
    if broken is not None:
        return broken
    if primary_language(tag) not in LANGUAGES:
        return f"must be a language of {', '.join(LANGUAGES)} (a region may follow: en-US)"
    return None


def object_of(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PriceValueError(f"{what} must be a JSON object")
    return value


def charging_price(value: Any, what: str = "chargingPrice") -> ChargingPrice:
    obj = object_of(value, what)
    unknown = sorted(set(obj) - set(_PRICE_FIELDS))
    if unknown:
        raise PriceValueError(f"{what} has unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_PRICE_FIELDS)}")
    return ChargingPrice(amount_of(obj, "kWhPrice"), amount_of(obj, "hourPrice"), amount_of(obj, "flatFee"))


def parse_default_price(raw: str, what: str = "DefaultPrice") -> DefaultPrice | None:
    """A ``DefaultPrice`` value: a JSON object with ``priceText`` (required), ``priceTextOffline``
    and ``chargingPrice``; the empty string means none. PriceValueError names what is wrong."""
    if raw == "":
        return None
    obj = object_of(load_json(raw, what), what)
    unknown = sorted(set(obj) - set(_DEFAULT_PRICE_FIELDS))
    if unknown:
        raise PriceValueError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_DEFAULT_PRICE_FIELDS)}")
    charging = charging_price(obj["chargingPrice"]) if "chargingPrice" in obj else None
    text = text_of(obj, "priceText", required=True)
    assert text is not None
    return DefaultPrice(text, text_of(obj, "priceTextOffline"), charging)


def default_price_rule(raw: str) -> str | None:
    """The settings table's check of ``DefaultPrice``: why it is refused, or None."""
    try:
        parse_default_price(raw)
    except PriceValueError as exc:
        return str(exc)
    return None


def parse_offset(raw: str) -> timedelta:
    """A time offset such as ``+01:00`` or ``-08:00`` (UTC-12:00 to UTC+14:00)."""
    match = _OFFSET.match(raw)
    if match is None:
        raise PriceValueError("must be an offset from UTC like +01:00 or -08:00")
    sign, hours, minutes = match.groups()
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    if offset > timedelta(hours=14) or (sign == "-" and offset > timedelta(hours=12)):
        raise PriceValueError("must be between -12:00 and +14:00")
    return -offset if sign == "-" else offset


def offset_rule(raw: str) -> str | None:
    try:
        parse_offset(raw)
    except PriceValueError as exc:
        return str(exc)
    return None


def parse_instant(raw: str) -> datetime:
    """An ISO 8601 date and time with its offset (``Z`` or ``+hh:mm``), as an aware UTC datetime."""
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise PriceValueError("must be a date and time like 2026-03-29T01:00:00Z") from None
    if parsed.tzinfo is None:
        raise PriceValueError("must say its offset from UTC (Z or +hh:mm)")
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # 9999-12-31T23:59:59-12:00 is in year 10000 in UTC
        raise PriceValueError("must be a date and time between the years 1 and 9999 in UTC") from None


def instant_rule(raw: str) -> str | None:
    """NextTimeOffsetTransitionDateTime: empty (no transition planned) or a date and time."""
    if raw == "":
        return None
    try:
        parse_instant(raw)
    except PriceValueError as exc:
        return str(exc)
    return None


def display_offset(offset: str, transition_at: str, next_offset: str, now: datetime) -> timedelta:
    """The offset of the times shown to drivers at ``now``: ``TimeOffset``, or from
    ``NextTimeOffsetTransitionDateTime`` on, ``TimeOffsetNextTransition`` (a summer/winter
    time change planned by the backend). Values that do not parse count as no offset."""
    try:
        current = parse_offset(offset)
    except PriceValueError:
        current = timedelta(0)
    if transition_at:
        try:
            if now >= parse_instant(transition_at):
                return parse_offset(next_offset)
        except PriceValueError:
            pass
    return current


def offset_of(settings: Any, now: datetime) -> timedelta:
    """:func:`display_offset` of the live settings (a Configuration, or any mapping of the
    three keys): what the screen uses for the clock times it shows."""
    return display_offset(str(settings["TimeOffset"]), str(settings["NextTimeOffsetTransitionDateTime"]),
                          str(settings["TimeOffsetNextTransition"]), now)


def shown_time(utc: datetime, offset: timedelta) -> datetime:
    """``utc`` as a driver reads it on the charger (in the display offset)."""
    return utc.astimezone(timezone(offset))
