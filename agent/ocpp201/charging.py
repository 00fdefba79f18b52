"""OCPP 2.0.1 Smart Charging words to and from the limit core's terms.

A ChargingProfileType (K01) becomes an :class:`agent.charging_profiles.Profile` and back
(GetChargingProfiles reports what was installed); a composite schedule becomes
GetCompositeSchedule's CompositeScheduleType (K08). Whether a profile may be installed is
the core's decision (the same rules as for 1.6); only what 2.0.1 itself spells is checked
here: its timestamps, its list of schedules, its purposes.

The core keeps a TxProfile by the charger's own transaction number; 2.0.1 names the
transaction by its string id (``transactionId``). The handlers translate between the two
through the journal; this module takes and gives the number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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

#: The most periods one GetCompositeSchedule answer carries; a longer one is cut short.
COMPOSITE_PERIODS_MAX = 1000
#: 2.0.1's purpose words where they differ from the core's (which are 1.6's).
_PURPOSE_IN = {"ChargingStationMaxProfile": Purpose.CHARGER_MAX}
_PURPOSE_OUT = {Purpose.CHARGER_MAX: "ChargingStationMaxProfile"}
#: Ids as the state database stores them.
_ID_RANGE = (-(2**63), 2**63 - 1)


class ProfileError(ValueError):
    """A ChargingProfileType this charger cannot take; ``reason`` is the StatusInfo's
    reasonCode, the message says what is wrong."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Parsed:
    """A profile as given, before its transaction is looked up: the core's record (its
    ``transaction_id`` still None) and the 2.0.1 transactionId it named, if any."""

    profile: Profile
    transaction_uid: str | None


def purpose_of(word: str) -> Purpose:
    """The core's purpose for a 2.0.1 ChargingProfilePurposeEnumType word."""
    return _PURPOSE_IN.get(word) or Purpose(word)


def purpose_word(purpose: Purpose) -> str:
    return _PURPOSE_OUT.get(purpose, purpose.value)


def parse_profile(raw: Mapping[str, Any], evse_id: int) -> Parsed:
    """The core's profile for a ChargingProfileType given for ``evse_id`` (the library
    hands its keys over in snake_case). Raises :class:`ProfileError`."""
    schedules = raw["charging_schedule"]
    if len(schedules) != 1:
        # More than one schedule is for ISO 15118 (the EV chooses among them, K15): not here.
        raise ProfileError("InvalidSchedule", f"{len(schedules)} charging schedules given; this charger takes one "
                                              "per profile (several are for ISO 15118, which it does not speak)")
    schedule = schedules[0]
    try:
        purpose = purpose_of(raw["charging_profile_purpose"])
        kind = Kind(raw["charging_profile_kind"])
        unit = RateUnit(schedule["charging_rate_unit"])
    except ValueError as exc:
        raise ProfileError("InvalidProfile", str(exc)) from None
    if purpose is Purpose.EXTERNAL:
        # K01.FR.22: set by something outside the CSMS (here the site limit), never by it.
        raise ProfileError("InvalidProfile", f"a {Purpose.EXTERNAL.value} profile is set by the station's energy "
                                             "manager, not by SetChargingProfile")
    for name in ("id", "stack_level"):
        if not _ID_RANGE[0] <= int(raw[name]) <= _ID_RANGE[1]:
            raise ProfileError("InvalidProfile", f"{name} {raw[name]} is outside what this charger stores")
    periods = tuple(
        Period(int(p["start_period"]), float(p["limit"]),
               None if p.get("number_phases") is None else int(p["number_phases"]))
        for p in schedule["charging_schedule_period"]
    )
    start = _time(schedule.get("start_schedule"), "startSchedule")
    if kind is Kind.RELATIVE:
        start = None  # K01: a Relative schedule counts from the transaction's start anyway
    recurrency = raw.get("recurrency_kind")
    uid = raw.get("transaction_id")
    return Parsed(
        Profile(
            id=int(raw["id"]),
            connector=evse_id,
            purpose=purpose,
            stack_level=int(raw["stack_level"]),
            kind=kind,
            schedule=Schedule(
                unit=unit,
                periods=periods,
                duration_s=None if schedule.get("duration") is None else int(schedule["duration"]),
                start=start,
                min_rate=None if schedule.get("min_charging_rate") is None else float(schedule["min_charging_rate"]),
                id=int(schedule["id"]),
            ),
            recurrency=None if recurrency is None else Recurrency(recurrency),
            valid_from=_time(raw.get("valid_from"), "validFrom"),
            valid_to=_time(raw.get("valid_to"), "validTo"),
        ),
        None if uid is None else str(uid),
    )


def _time(text: object, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ProfileError("InvalidValue", f"{name} {str(text)[:40]!r} is not a date and time") from None
    if moment.tzinfo is None:
        raise ProfileError("InvalidValue", f"{name} {str(text)[:40]!r} has no time zone")
    return moment


def window(profile: Profile) -> tuple[datetime | None, datetime | None]:
    """When ``profile`` can apply at all: its validity, narrowed for an Absolute schedule
    with a duration to that schedule's span (None: open on that side)."""
    lo, hi = profile.valid_from, profile.valid_to
    schedule = profile.schedule
    if profile.kind is Kind.ABSOLUTE and schedule.start is not None:
        lo = schedule.start if lo is None else max(lo, schedule.start)
        if schedule.duration_s is not None:
            end = schedule.start + timedelta(seconds=schedule.duration_s)
            hi = end if hi is None else min(hi, end)
    return lo, hi


def overlaps(a: Profile, b: Profile) -> bool:
    """Whether two profiles can apply at a same moment (open ends reach for ever)."""
    a_lo, a_hi = window(a)
    b_lo, b_hi = window(b)
    a_ends_first = a_hi is not None and b_lo is not None and a_hi <= b_lo
    b_ends_first = b_hi is not None and a_lo is not None and b_hi <= a_lo
    return not (a_ends_first or b_ends_first)


def duplicate_of(profile: Profile, installed: tuple[Profile, ...], now: datetime) -> Profile | None:
    """The installed profile with another id that ``profile`` collides with: the same
    purpose, stack level and EVSE, both able to apply at a same moment (K01.FR.06; one
    that can no longer apply after ``now``, such as yesterday's absolute schedule, does
    not count), or for a TxProfile the same stack level and transaction (K01.FR.39).
    2.0.1 forbids the backend to send such a pair; unlike 1.6 (where the newer replaces
    the older) the charger refuses it rather than guess which one was meant."""
    for other in installed:
        if other.id == profile.id or other.purpose is not profile.purpose or other.stack_level != profile.stack_level:
            continue
        if profile.purpose is Purpose.TX:
            if other.transaction_id == profile.transaction_id:
                return other
            continue
        ends = window(other)[1]
        if ends is not None and ends <= now:
            continue  # over: the core drops it with the next change
        if other.connector == profile.connector and overlaps(other, profile):
            return other
    return None


def profile_type(profile: Profile, transaction_uid: str | None) -> dict[str, Any]:
    """A ChargingProfileType (camelCase: it goes out inside ReportChargingProfiles as sent)."""
    schedule = profile.schedule
    out_schedule: dict[str, Any] = {
        "id": profile.id if schedule.id is None else schedule.id,
        "chargingRateUnit": schedule.unit.value,
        "chargingSchedulePeriod": [
            {"startPeriod": p.start_s, "limit": p.limit,
             **({} if p.number_phases is None else {"numberPhases": p.number_phases})}
            for p in schedule.periods
        ],
    }
    if schedule.start is not None:
        out_schedule["startSchedule"] = iso(schedule.start)
    if schedule.duration_s is not None:
        out_schedule["duration"] = schedule.duration_s
    if schedule.min_rate is not None:
        out_schedule["minChargingRate"] = schedule.min_rate
    body: dict[str, Any] = {
        "id": profile.id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": purpose_word(profile.purpose),
        "chargingProfileKind": profile.kind.value,
        "chargingSchedule": [out_schedule],
    }
    if profile.recurrency is not None:
        body["recurrencyKind"] = profile.recurrency.value
    if profile.valid_from is not None:
        body["validFrom"] = iso(profile.valid_from)
    if profile.valid_to is not None:
        body["validTo"] = iso(profile.valid_to)
    if transaction_uid is not None:
        body["transactionId"] = transaction_uid
    return body


def composite_answer(composite: CompositeSchedule, gap_limit: float, phases: int) -> dict[str, Any] | None:
    """GetCompositeSchedule's CompositeScheduleType (snake_case, as the library takes it),
    or None when no profile applies within the horizon.

    As for 1.6, nothing is invented where no profile applies: the schedule starts where
    the first profile's period starts (the request's moment when one applies from then
    on) and lasts until the last one ends; with no profile at all there is no schedule.
    A period has no end, so a gap between two periods is filled with the charger's own
    maximum (``gap_limit``, in the schedule's unit), the limit in force there.

    numberPhases is the number of phases the charger really uses (``phases``), given when
    a period named one or when it is not the 3 OCPP assumes, so a limit reads the same in
    A and in W.
    """
    periods = composite.periods
    if not periods:
        return None
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
            continue  # equal once rounded to the one decimal the limit takes
        wire.append(item)
    end_s = filled[COMPOSITE_PERIODS_MAX].start_s if len(filled) > COMPOSITE_PERIODS_MAX else periods[-1].end_s
    return {
        "evse_id": composite.connector,
        "duration": end_s - first_s,
        "schedule_start": iso(begin),
        "charging_rate_unit": composite.unit.value,
        "charging_schedule_period": wire,
    }


def _tenth(value: float) -> float:
    """A limit "accepts at most one digit fraction" (2.0.1); never rounded up."""
    return int(value * 10 + 1e-6) / 10
