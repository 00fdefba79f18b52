"""What SetChargingProfile and ClearChargingProfile do to the installed profiles.

Pure and protocol-neutral: the adapters answer Rejected with :func:`check`'s reason (a
sentence a technician can act on), then store :func:`install`'s result. Replacement
follows OCPP 1.6 §3.13: a new profile replaces the one with its id and the one with its
stack level and purpose on its connector. 2.0.1 (K01.FR.05/06) replaces by id only: its
adapter refuses a second profile of the same level and purpose valid at the same time,
and installs with ``by_level=False`` so that two of them valid one after the other stay.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from .composite import DAY_S, WEEK_S
from .model import Kind, Profile, Purpose, RateUnit, Recurrency

_RECURRENCE_MAX_S = {Recurrency.DAILY: DAY_S, Recurrency.WEEKLY: WEEK_S}
#: No charger draws more than this, in A or W: a larger limit is a broken profile.
LIMIT_MAX = 1_000_000
#: Ids and stack levels as the state database stores them (SQLite's 64-bit integers).
ID_MIN, ID_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class ProfileLimits:
    """What this charger accepts (1.6: ChargeProfileMaxStackLevel,
    ChargingScheduleAllowedChargingRateUnit, ChargingScheduleMaxPeriods,
    MaxChargingProfilesInstalled)."""

    max_stack_level: int
    allowed_units: frozenset[RateUnit]
    max_periods: int
    max_installed: int


def check(
    profile: Profile,
    installed: Iterable[Profile],
    *,
    connectors: Collection[int],
    transactions: Mapping[int, tuple[int, datetime]],
    limits: ProfileLimits,
    by_level: bool = True,
) -> str | None:
    """Why ``profile`` is refused, or None when it may be installed. ``connectors``: the
    charger's connectors 1..N; ``transactions``: connector -> (transaction id, start);
    ``by_level``: as for :func:`install`."""
    return (
        _where(profile, connectors, transactions)
        or _schedule(profile, limits)
        or _timing(profile)
        or _room(profile, installed, limits, by_level)
    )


def install(profile: Profile, installed: Iterable[Profile], *, by_level: bool = True) -> tuple[Profile, ...]:
    """The installed set once ``profile`` is in: it replaces the profile with its id and
    (``by_level``, OCPP 1.6) any with its stack level and purpose on its connector."""
    kept = tuple(p for p in installed if not _replaced_by(p, profile, by_level))
    return (*kept, profile)


def clear(
    installed: Iterable[Profile],
    *,
    profile_id: int | None = None,
    connector: int | None = None,
    purpose: Purpose | None = None,
    stack_level: int | None = None,
) -> tuple[tuple[Profile, ...], tuple[Profile, ...]]:
    """(kept, removed). By id when given (the other criteria are then ignored, 1.6 §5.5);
    else every profile matching all the criteria given; with none, every profile."""
    kept: list[Profile] = []
    removed: list[Profile] = []
    for p in installed:
        if profile_id is not None:
            hit = p.id == profile_id
        else:
            hit = (
                (connector is None or p.connector == connector)
                and (purpose is None or p.purpose is purpose)
                and (stack_level is None or p.stack_level == stack_level)
            )
        (removed if hit else kept).append(p)
    return tuple(kept), tuple(removed)


def end_transaction(installed: Iterable[Profile], connector: int, transaction_id: int) -> tuple[Profile, ...]:
    """The installed set once the transaction has ended: its TX profiles are gone (they
    belong to it alone; TX_DEFAULT and the caps stay)."""
    return tuple(
        p for p in installed
        if not (p.purpose is Purpose.TX and p.connector == connector and p.transaction_id == transaction_id)
    )


def _replaced_by(old: Profile, new: Profile, by_level: bool = True) -> bool:
    return old.id == new.id or by_level and (
        old.stack_level == new.stack_level and old.purpose is new.purpose and old.connector == new.connector
    )


def _where(
    profile: Profile, connectors: Collection[int], transactions: Mapping[int, tuple[int, datetime]]
) -> str | None:
    for name, number in (("id", profile.id), ("transaction_id", profile.transaction_id),
                         ("stack_level", profile.stack_level)):
        if number is not None and not ID_MIN <= number <= ID_MAX:
            return f"{name} {number} is outside what this charger stores ({ID_MIN}..{ID_MAX})"
    c = profile.connector
    if profile.transaction_id is not None and profile.purpose is not Purpose.TX:
        return f"transaction_id is only for a {Purpose.TX.value}, not a {profile.purpose.value}"
    if c != 0 and c not in connectors:
        known = ", ".join(str(n) for n in sorted(connectors) if n != 0) or "no other"
        return f"connector {c} does not exist (this charger has connectors 0 and {known})"
    if profile.purpose is Purpose.CHARGER_MAX and c != 0:
        return f"a {profile.purpose.value} applies to the whole charger: connector must be 0, not {c}"
    if profile.purpose is Purpose.TX:
        if c == 0:
            return f"a {profile.purpose.value} belongs to one transaction: connector 0 has none"
        running = transactions.get(c)
        if running is None:
            return f"a {profile.purpose.value} needs a running transaction: connector {c} has none"
        if profile.transaction_id is None:
            return f"transaction_id is missing: a {profile.purpose.value} on connector {c} must name its transaction ({running[0]})"
        if profile.transaction_id != running[0]:
            return (
                f"transaction_id {profile.transaction_id} is not the transaction running on connector {c}"
                f" ({running[0]})"
            )
    return None


def _schedule(profile: Profile, limits: ProfileLimits) -> str | None:
    level = profile.stack_level
    if level < 0 or level > limits.max_stack_level:
        return f"stack_level {level} is outside 0..{limits.max_stack_level}"
    schedule = profile.schedule
    if schedule.unit not in limits.allowed_units:
        allowed = ", ".join(sorted(u.value for u in limits.allowed_units)) or "none"
        return f"charging rate unit {schedule.unit.value} is not accepted here (accepted: {allowed})"
    periods = schedule.periods
    if not periods:
        return "the schedule has no periods"
    if len(periods) > limits.max_periods:
        return f"the schedule has {len(periods)} periods, more than the {limits.max_periods} allowed"
    if periods[0].start_s != 0:
        return f"the first period must start at 0 s, not {periods[0].start_s} s"
    for before, after in zip(periods, periods[1:]):
        if after.start_s <= before.start_s:
            return f"period start {after.start_s} s does not come after the previous one ({before.start_s} s)"
    for period in periods:
        if not (math.isfinite(period.limit) and period.limit >= 0):
            return f"period limit {period.limit} (from {period.start_s} s) is not a non-negative number"
        if period.limit > LIMIT_MAX:
            return f"period limit {period.limit:g} (from {period.start_s} s) is beyond any charger (at most {LIMIT_MAX:,})"
        if period.number_phases is not None and not 1 <= period.number_phases <= 3:
            return f"number_phases {period.number_phases} (from {period.start_s} s) is not 1, 2 or 3"
    return None


def _timing(profile: Profile) -> str | None:
    schedule, kind = profile.schedule, profile.kind
    if kind is Kind.RECURRING:
        if profile.recurrency is None:
            return "a Recurring profile needs a recurrency (Daily or Weekly)"
        if schedule.start is None:
            return "a Recurring profile needs a schedule start"
    elif profile.recurrency is not None:
        return f"recurrency {profile.recurrency.value} is only for Recurring profiles, not {kind.value}"
    if kind is Kind.RELATIVE and profile.purpose is Purpose.CHARGER_MAX:
        # The whole charger has no transaction to count from (2.0.1 K01.FR.38 says the same).
        return f"a {profile.purpose.value} cannot be Relative: the whole charger has no transaction to count from"
    if profile.recurrency is not None and schedule.periods:
        cycle = _RECURRENCE_MAX_S[profile.recurrency]
        last = max(p.start_s for p in schedule.periods)
        if last >= cycle:
            return f"period start {last} s is beyond a {profile.recurrency.value} recurrence ({cycle} s): it would never apply"
    if kind is Kind.ABSOLUTE and schedule.start is None:
        return "an Absolute profile needs a schedule start"
    if kind is Kind.RELATIVE and schedule.start is not None:
        return f"a Relative profile counts from the transaction's start: schedule start {schedule.start.isoformat()} is not allowed"
    duration = schedule.duration_s
    if duration is not None:
        if duration <= 0:
            return f"schedule duration {duration} s is not positive"
        if profile.recurrency is not None and duration > _RECURRENCE_MAX_S[profile.recurrency]:
            most = _RECURRENCE_MAX_S[profile.recurrency]
            return f"schedule duration {duration} s is longer than a {profile.recurrency.value} recurrence ({most} s)"
    if profile.valid_from is not None and profile.valid_to is not None and profile.valid_to <= profile.valid_from:
        return (
            f"valid_to {profile.valid_to.isoformat()} is not after valid_from {profile.valid_from.isoformat()}"
        )
    return None


def _room(profile: Profile, installed: Iterable[Profile], limits: ProfileLimits, by_level: bool = True) -> str | None:
    count = len(install(profile, installed, by_level=by_level))
    if count > limits.max_installed:
        return f"installing it would make {count} profiles, more than the {limits.max_installed} this charger keeps"
    return None
