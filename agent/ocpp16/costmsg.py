"""The OCPP 1.6 California Pricing whitepaper's DataTransfer messages, read and checked.

The backend sends them as DataTransfer with vendorId ``org.openchargealliance.costmsg``
and a JSON text in ``data`` (docs/ocpp16.md, "Prices and cost"). This module only turns
that text into values or says, in one line, what is wrong with it: no I/O, no state.
Amounts are Decimal (JSON numbers never pass through float).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from ..link.frames import INT_MAX, INT_MIN
from ..runtime_settings.price_settings import (
    ChargingPrice,
    PriceValueError,
    amount_of,
    charging_price,
    language_tag_problem,
    load_json,
    object_of,
    parse_instant,
    primary_language,
    text_of,
)

log = structlog.get_logger(__name__)

VENDOR_ID = "org.openchargealliance.costmsg"
SET_USER_PRICE, RUNNING_COST, FINAL_COST = "SetUserPrice", "RunningCost", "FinalCost"
MESSAGE_IDS = (SET_USER_PRICE, RUNNING_COST, FINAL_COST)
#: RunningCost's state: the cost grows by charging, or by idle time (idlePrice).
COST_STATES = ("Charging", "Idle")
#: The longest driver text taken (priceText and each priceTextExtra content).
TEXT_MAX = 1000
#: The most texts in other languages one message may carry.
EXTRA_MAX = 16
#: The largest meter register taken (Wh): a terawatt-hour, beyond any charger's.
METER_MAX_WH = Decimal(10**12)
#: The longest idle grace period taken (minutes): a year.
GRACE_MAX_MIN = 366 * 24 * 60


class CostMessageError(PriceValueError):
    """A costmsg message that breaks the whitepaper's shape (its text says what)."""


@dataclass(frozen=True, slots=True)
class Text:
    """A driver text in a language (None: the charger's default language)."""

    content: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class IdlePrice:
    grace_minutes: int | None = None
    hour: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Triggers:
    """RunningCost's triggerMeterValue: when the charger is to send a MeterValues so the
    backend can update the cost. None: not asked."""

    at_time: datetime | None = None
    at_energy_kwh: Decimal | None = None
    at_power_kw: Decimal | None = None
    at_status: tuple[str, ...] = ()

    @property
    def any(self) -> bool:
        return (self.at_time is not None or self.at_energy_kwh is not None or self.at_power_kw is not None
                or bool(self.at_status))


@dataclass(frozen=True, slots=True)
class NextPeriod:
    """RunningCost's nextPeriod: the prices in force from ``at`` on."""

    at: datetime
    charging_price: ChargingPrice | None = None
    idle_price: IdlePrice | None = None


@dataclass(frozen=True, slots=True)
class UserPrice:
    """SetUserPrice: the price for the driver of ``id_token``."""

    id_token: str
    texts: tuple[Text, ...]


@dataclass(frozen=True, slots=True)
class RunningCost:
    transaction_id: int
    cost: Decimal
    state: str
    timestamp: datetime | None
    meter_wh: Decimal | None
    charging_price: ChargingPrice | None
    idle_price: IdlePrice | None
    next_period_at: datetime | None
    texts: tuple[Text, ...]
    triggers: Triggers
    qr_code: str | None
    next_period: NextPeriod | None = None


@dataclass(frozen=True, slots=True)
class FinalCost:
    transaction_id: int
    cost: Decimal
    texts: tuple[Text, ...]
    qr_code: str | None


#: The ChargePointStatus values atCPStatus may name (OCPP 1.6 section 7.7).
CP_STATUSES = ("Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV", "Finishing", "Reserved",
               "Unavailable", "Faulted")


def parse(message_id: str, data: str | None) -> UserPrice | RunningCost | FinalCost:
    """One costmsg message; CostMessageError when it breaks the whitepaper's shape."""
    if data is None:
        raise CostMessageError("data is missing")
    try:
        obj = object_of(load_json(data, "data"), "data")
        if message_id == SET_USER_PRICE:
            return _user_price(obj)
        if message_id == RUNNING_COST:
            return _running_cost(obj)
        if message_id == FINAL_COST:
            return _final_cost(obj)
    except CostMessageError:
        raise
    except PriceValueError as exc:
        raise CostMessageError(str(exc)) from None
    raise ValueError(f"not a costmsg message: {message_id!r}")


def _user_price(obj: dict[str, Any]) -> UserPrice:
    id_token = text_of(obj, "idToken", required=True, maximum=20)
    assert id_token is not None
    if not id_token:
        raise CostMessageError("idToken is empty")
    return UserPrice(id_token, _texts(obj, required=True))


def _running_cost(obj: dict[str, Any]) -> RunningCost:
    state = text_of(obj, "state") or "Charging"
    if state not in COST_STATES:
        raise CostMessageError(f"state must be one of {', '.join(COST_STATES)}, not {state!r}")
    next_at, next_period = None, None
    if "nextPeriod" in obj:
        period = object_of(obj["nextPeriod"], "nextPeriod")
        next_at = _instant(period, "atTime")
        next_charging = charging_price(period["chargingPrice"], "nextPeriod.chargingPrice") \
            if "chargingPrice" in period else None
        next_idle = _idle_price(period["idlePrice"], "nextPeriod.idlePrice") if "idlePrice" in period else None
        if next_at is not None:
            next_period = NextPeriod(next_at, next_charging, next_idle)
    meter = amount_of(obj, "meterValue", maximum=METER_MAX_WH)
    return RunningCost(
        transaction_id=_transaction_id(obj),
        cost=_cost(obj),
        state=state,
        timestamp=_instant(obj, "timestamp"),
        meter_wh=meter,
        charging_price=charging_price(obj["chargingPrice"]) if "chargingPrice" in obj else None,
        idle_price=_idle_price(obj["idlePrice"], "idlePrice") if "idlePrice" in obj else None,
        next_period_at=next_at,
        texts=_texts(obj, required=False),
        triggers=_triggers(obj["triggerMeterValue"]) if "triggerMeterValue" in obj else Triggers(),
        qr_code=text_of(obj, "qrCodeText", maximum=TEXT_MAX),
        next_period=next_period,
    )


def _final_cost(obj: dict[str, Any]) -> FinalCost:
    return FinalCost(_transaction_id(obj), _cost(obj), _texts(obj, required=False),
                     text_of(obj, "qrCodeText", maximum=TEXT_MAX))


def _transaction_id(obj: dict[str, Any]) -> int:
    if "transactionId" not in obj:
        raise CostMessageError("transactionId is missing")
    value = obj["transactionId"]
    if not isinstance(value, Decimal) or value != value.to_integral_value():
        raise CostMessageError("transactionId must be an integer (the StartTransaction answer's)")
    if not INT_MIN <= value <= INT_MAX:
        raise CostMessageError(f"transactionId must be between {INT_MIN} and {INT_MAX}")
    return int(value)


def _cost(obj: dict[str, Any]) -> Decimal:
    cost = amount_of(obj, "cost", required=True)
    assert cost is not None
    return cost


def _instant(obj: dict[str, Any], name: str) -> datetime | None:
    raw = text_of(obj, name, maximum=40)
    if raw is None:
        return None
    try:
        return parse_instant(raw)
    except PriceValueError as exc:
        raise CostMessageError(f"{name} {exc}") from None


def _idle_price(value: Any, what: str) -> IdlePrice:
    obj = object_of(value, what)
    grace = obj.get("graceMinutes")
    if grace is not None and (not isinstance(grace, Decimal) or grace != grace.to_integral_value() or grace < 0):
        raise CostMessageError(f"{what}.graceMinutes must be a whole number of minutes")
    if grace is not None and grace > GRACE_MAX_MIN:
        raise CostMessageError(f"{what}.graceMinutes must be at most {GRACE_MAX_MIN}")
    return IdlePrice(None if grace is None else int(grace), amount_of(obj, "hourPrice"))


def _texts(obj: dict[str, Any], required: bool) -> tuple[Text, ...]:
    """priceText (the default language's) and priceTextExtra's [{format, language, content}].

    An entry whose language is no RFC 5646 tag is left out with a warning (the other
    texts and the cost are still shown); any other broken entry refuses the message."""
    main = text_of(obj, "priceText", required=required, maximum=TEXT_MAX)
    texts = [] if main is None else [Text(main)]
    extra = obj.get("priceTextExtra", [])
    if not isinstance(extra, list):
        raise CostMessageError("priceTextExtra must be a list of {format, language, content}")
    if len(extra) > EXTRA_MAX:
        raise CostMessageError(f"priceTextExtra has more than {EXTRA_MAX} texts")
    for n, item in enumerate(extra):
        entry = object_of(item, f"priceTextExtra[{n}]")
        content = text_of(entry, "content", required=True, maximum=TEXT_MAX)
        language = text_of(entry, "language", required=True)
        fmt = text_of(entry, "format") or "UTF8"
        if fmt not in ("ASCII", "HTML", "URI", "UTF8"):
            raise CostMessageError(f"priceTextExtra[{n}].format must be ASCII, HTML, URI or UTF8, not {fmt!r}")
        assert content is not None and language is not None
        broken = language_tag_problem(language)
        if broken is not None:
            log.warning("price text left out: its language is unusable", entry=f"priceTextExtra[{n}]",
                        language=language, reason=broken)
            continue
        texts.append(Text(content, language))
    return tuple(texts)


def _triggers(value: Any) -> Triggers:
    obj = object_of(value, "triggerMeterValue")
    statuses = obj.get("atCPStatus", [])
    if not isinstance(statuses, list) or not all(isinstance(s, str) for s in statuses):
        raise CostMessageError("triggerMeterValue.atCPStatus must be a list of ChargePointStatus values")
    bad = [s for s in statuses if s not in CP_STATUSES]
    if bad:
        raise CostMessageError(f"triggerMeterValue.atCPStatus: unknown status(es) {', '.join(bad)}")
    try:
        return Triggers(
            at_time=_instant(obj, "atTime"),
            at_energy_kwh=amount_of(obj, "atEnergykWh"),
            at_power_kw=amount_of(obj, "atPowerkW"),
            at_status=tuple(statuses),
        )
    except CostMessageError as exc:
        raise CostMessageError(f"triggerMeterValue.{exc}") from None
    except PriceValueError as exc:
        raise CostMessageError(f"triggerMeterValue.{exc}") from None


def pick(texts: tuple[Text, ...], language: str) -> Text | None:
    """The text to show in ``language`` (a tag like ``en`` or ``en-US``): its own (the same
    tag, else the same primary language), else the default-language one, else the first."""
    for text in texts:
        if text.language is not None and text.language.lower() == language.lower():
            return text
    for text in texts:
        if text.language is not None and primary_language(text.language) == primary_language(language):
            return text
    for text in texts:
        if text.language is None:
            return text
    return texts[0] if texts else None
