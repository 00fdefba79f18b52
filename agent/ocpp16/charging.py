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


def composite_answer(composite: CompositeSchedule, gap_limit: float, phases: int) -> dict[str, Any]:
    """GetCompositeSchedule's Accepted answer (snake_case, as the library takes it).

    Nothing is invented where no profile applies (issue: no hardware default reported as
    a limit). The schedule starts where the first profile's period starts (§7.13: its
    first period starts at 0; scheduleStart is the request's moment when a profile
    applies from then on) and lasts until the last one ends; with no profile at all
    there is no chargingSchedule. OCPP 1.6 periods have no end, so a gap between two
    periods cannot be left out: there the charger's own maximum (``gap_limit``, in the
    schedule's unit) is reported, the limit in force in that stretch.

    numberPhases is the number of phases the charger really uses (``phases``: the
    connector's; it does not switch phases), given when a period named one or when it is
    not the 3 OCPP assumes, so a limit reads the same in A and in W (§7.13).
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
    wire: list[dict[str, Any]] = []
    for period in filled[:COMPOSITE_PERIODS_MAX]:
        item: dict[str, Any] = {"start_period": period.start_s - first_s, "limit": _tenth(period.limit)}
        if period.number_phases is not None or phases != 3:
            item["number_phases"] = phases
        if wire and wire[-1]["limit"] == item["limit"] and wire[-1].get("number_phases") == item.get("number_phases"):
            continue  # equal once rounded to the tenth the schema allows
        wire.append(item)
    end_s = filled[COMPOSITE_PERIODS_MAX].start_s if len(filled) > COMPOSITE_PERIODS_MAX else periods[-1].end_s
    answer["schedule_start"] = iso(begin)
    answer["charging_schedule"] = {
        "duration": end_s - first_s,
        "start_schedule": iso(begin),
        "charging_rate_unit": composite.unit.value,
        "charging_schedule_period": wire,
    }
    return answer


def _tenth(value: float) -> float:
    """OCPP 1.6's schema takes limits in tenths (multipleOf 0.1); never rounded up."""
    return int(value * 10 + 1e-6) / 10
