"""OCPP 1.6 Smart Charging words to and from the limit core's terms.

A ChargingProfile (§7.13) becomes a :class:`agent.charging_profiles.Profile`; a
composite schedule becomes GetCompositeSchedule's chargingSchedule (§5.7). The checks
that decide whether a profile may be installed are the core's (protocol-neutral); only
what 1.6 itself spells is checked here (its timestamps).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..charging_profiles import (
    CompositeSchedule,
    Kind,
    LimitPeriod,
    Period,
    Profile,
    Purpose,
    RateUnit,
    Recurrency,
    Schedule,
)
from ..store import iso


#: The most periods one GetCompositeSchedule answer carries (a month of many recurring
#: profiles could otherwise make a frame of megabytes); a longer one is cut short.
COMPOSITE_PERIODS_MAX = 1000


class ProfileError(ValueError):
    """A ChargingProfile this charger cannot read; the message says what is wrong."""


def parse_profile(raw: Mapping[str, Any], connector: int) -> Profile:
    """The core's profile for a cs/ChargingProfile given on ``connector`` (the library
    hands its keys over in snake_case). ``transaction_id`` is the backend's, as sent."""
    schedule = raw["charging_schedule"]
    periods = tuple(
        Period(int(p["start_period"]), float(p["limit"]),
               None if p.get("number_phases") is None else int(p["number_phases"]))
        for p in schedule["charging_schedule_period"]
    )
    recurrency = raw.get("recurrency_kind")
    kind = Kind(raw["charging_profile_kind"])
    start = _time(schedule.get("start_schedule"), "startSchedule")
    if kind is Kind.RELATIVE:
        start = None  # §7.13: startSchedule is for absolute schedules; a Relative one counts from the start anyway
    for name in ("charging_profile_id", "transaction_id"):
        if raw.get(name) is not None and not -(2**63) <= int(raw[name]) < 2**63:
            raise ProfileError(f"{name} {raw[name]} is outside what this charger stores (64-bit integers)")
    return Profile(
        id=int(raw["charging_profile_id"]),
        connector=connector,
        purpose=Purpose(raw["charging_profile_purpose"]),
        stack_level=int(raw["stack_level"]),
        kind=kind,
        schedule=Schedule(
            unit=RateUnit(schedule["charging_rate_unit"]),
            periods=periods,
            duration_s=None if schedule.get("duration") is None else int(schedule["duration"]),
            start=start,
            min_rate=None if schedule.get("min_charging_rate") is None else float(schedule["min_charging_rate"]),
        ),
        recurrency=None if recurrency is None else Recurrency(recurrency),
        valid_from=_time(raw.get("valid_from"), "validFrom"),
        valid_to=_time(raw.get("valid_to"), "validTo"),
        transaction_id=None if raw.get("transaction_id") is None else int(raw["transaction_id"]),
    )


def _time(text: object, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ProfileError(f"{name} {str(text)[:40]!r} is not a date and time") from None
    if moment.tzinfo is None:
        raise ProfileError(f"{name} {str(text)[:40]!r} has no time zone")
    return moment


def composite_answer(composite: CompositeSchedule, gap_limit: float) -> dict[str, Any]:
    """GetCompositeSchedule's Accepted answer (snake_case, as the library takes it).

    The schedule covers the window asked for: scheduleStart is the moment the request
    was answered and duration the one asked for (§5.7). Its periods are the profiles'.
    OCPP 1.6 periods have no end, so where no profile applies after the first period (a
    gap, or the profiles ending before the window does) the charger's own maximum
    (``gap_limit``, in the schedule's unit) is reported: it is the limit in force there.
    Before the first profile's period nothing is invented: the first period starts
    late. With no profile at all there is no chargingSchedule.
    """
    answer: dict[str, Any] = {"status": "Accepted", "connector_id": composite.connector,
                              "schedule_start": iso(composite.start)}
    periods = composite.periods
    if not periods:
        return answer
    filled: list[LimitPeriod] = []
    for period in periods:
        if filled and filled[-1].end_s < period.start_s:
            filled.append(LimitPeriod(filled[-1].end_s, period.start_s, gap_limit))
        filled.append(period)
    if filled[-1].end_s < composite.duration_s:
        filled.append(LimitPeriod(filled[-1].end_s, composite.duration_s, gap_limit))
    wire: list[dict[str, Any]] = []
    for period in filled[:COMPOSITE_PERIODS_MAX]:
        item: dict[str, Any] = {"start_period": period.start_s, "limit": _tenth(period.limit)}
        if period.number_phases is not None:
            item["number_phases"] = period.number_phases
        if wire and wire[-1]["limit"] == item["limit"] and wire[-1].get("number_phases") == item.get("number_phases"):
            continue  # equal once rounded to the tenth the schema allows
        wire.append(item)
    duration = composite.duration_s
    if len(filled) > COMPOSITE_PERIODS_MAX:
        duration = filled[COMPOSITE_PERIODS_MAX].start_s  # the answer says how far it reaches
    answer["charging_schedule"] = {
        "duration": duration,
        "start_schedule": iso(composite.start),
        "charging_rate_unit": composite.unit.value,
        "charging_schedule_period": wire,
    }
    return answer


def _tenth(value: float) -> float:
    """OCPP 1.6's schema takes limits in tenths (multipleOf 0.1); never rounded up."""
    return int(value * 10 + 1e-6) / 10
