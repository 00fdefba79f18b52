"""OCPP 1.6 Smart Charging words to and from the limit core's terms.

A ChargingProfile (§7.13) becomes a :class:`agent.charging_profiles.Profile`; a
composite schedule becomes GetCompositeSchedule's chargingSchedule (§5.7). The checks
that decide whether a profile may be installed are the core's (protocol-neutral); only
what 1.6 itself spells is checked here (its timestamps).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
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
    return Profile(
        id=int(raw["charging_profile_id"]),
        connector=connector,
        purpose=Purpose(raw["charging_profile_purpose"]),
        stack_level=int(raw["stack_level"]),
        kind=Kind(raw["charging_profile_kind"]),
        schedule=Schedule(
            unit=RateUnit(schedule["charging_rate_unit"]),
            periods=periods,
            duration_s=None if schedule.get("duration") is None else int(schedule["duration"]),
            start=_time(schedule.get("start_schedule"), "startSchedule"),
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

    OCPP 1.6 periods have no end, so a stretch where no profile applies cannot be left
    out in the middle of a schedule: there the charger's own maximum (``gap_limit``, in
    the schedule's unit) is what applies, and it is reported. Before the first profile
    and after the last nothing is invented: the schedule starts at the first period and
    lasts until the last one ends. With no profile at all there is no chargingSchedule.
    """
    answer: dict[str, Any] = {"status": "Accepted", "connector_id": composite.connector}
    periods = composite.periods
    if not periods:
        answer["schedule_start"] = iso(composite.start)
        return answer
    first_s = periods[0].start_s
    begin = composite.start + timedelta(seconds=first_s)
    filled: list[LimitPeriod] = []
    for period in periods:
        if filled and filled[-1].end_s < period.start_s:
            filled.append(LimitPeriod(filled[-1].end_s, period.start_s, gap_limit))
        filled.append(period)
    wire = []
    for period in filled:
        item: dict[str, Any] = {"start_period": period.start_s - first_s, "limit": _tenth(period.limit)}
        if period.number_phases is not None:
            item["number_phases"] = period.number_phases
        if wire and wire[-1]["limit"] == item["limit"] and wire[-1].get("number_phases") == item.get("number_phases"):
            continue  # equal once rounded to the tenth the schema allows
        wire.append(item)
    answer["schedule_start"] = iso(begin)
    answer["charging_schedule"] = {
        "duration": periods[-1].end_s - first_s,
        "start_schedule": iso(begin),
        "charging_rate_unit": composite.unit.value,
        "charging_schedule_period": wire,
    }
    return answer


def _tenth(value: float) -> float:
    """OCPP 1.6's schema takes limits in tenths (multipleOf 0.1); never rounded up."""
    return int(value * 10 + 1e-6) / 10
