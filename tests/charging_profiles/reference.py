"""A brute-force reference for the composite schedule: the contract's rules, one second at a time.

It is deliberately slow and plain so a reader can hold it against the rules (and OCPP 1.6
§3.13 / 2.0.1 K08) line by line; the property tests compare ``composite_schedule`` with it.
Rule numbers in the comments are those of the composite-schedule contract.

Choices where the contract leaves room (the property tests avoid or tolerate these cases):

- A RELATIVE profile counts from the transaction on the connector being evaluated (for a
  TX_DEFAULT on connector 0 applied to connector c: c's transaction); evaluating connector 0
  itself there is none, so its own caps count from the query's start.
- Connector 0's own caps with ``number_phases`` None are converted with ``charger`` (by
  default the connectors' common electrical; ValueError if they differ and none is given).
- EXTERNAL on connector 0 and EXTERNAL on connector c are two stacks, each a cap.
- When two limits tie for the minimum, the TX-level one decides, then CHARGER_MAX, then
  EXTERNAL on 0, then EXTERNAL on the connector (``number_phases`` of that one).
"""

from __future__ import annotations

import math

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.charging_profiles.model import (
    Electrical,
    Kind,
    Period,
    Profile,
    Purpose,
    RateUnit,
    Recurrency,
)

DAY_S = 86_400
WEEK_S = 604_800


@dataclass(frozen=True)
class Limit:
    """One limit at one instant, already in the requested unit."""

    value: float
    number_phases: int | None


def _seconds(later: datetime, earlier: datetime) -> int:
    delta = later - earlier
    assert delta % timedelta(seconds=1) == timedelta(0), "inputs are whole seconds"
    return delta // timedelta(seconds=1)


def is_valid_at(profile: Profile, t: datetime) -> bool:
    """Rule 1: ``valid_from <= t < valid_to``, a missing bound open."""
    if profile.valid_from is not None and t < profile.valid_from:
        return False
    if profile.valid_to is not None and t >= profile.valid_to:
        return False
    return True


def schedule_offset(
    profile: Profile, t: datetime, connector: int, query_start: datetime,
    transactions: Mapping[int, tuple[int, datetime]],
) -> int | None:
    """Rule 1: seconds into the profile's schedule at ``t`` (None: before its start)."""
    schedule = profile.schedule
    if profile.kind is Kind.ABSOLUTE:
        assert schedule.start is not None
        offset = _seconds(t, schedule.start)
    elif profile.kind is Kind.RECURRING:
        assert schedule.start is not None
        since_first = _seconds(t, schedule.start)
        if since_first < 0:
            return None
        every = DAY_S if profile.recurrency is Recurrency.DAILY else WEEK_S
        offset = since_first % every
    else:
        if connector in transactions:
            offset = _seconds(t, transactions[connector][1])
        else:
            offset = _seconds(t, query_start)
    if offset < 0:
        return None
    return offset


def period_at(
    profile: Profile, t: datetime, connector: int, query_start: datetime,
    transactions: Mapping[int, tuple[int, datetime]],
) -> Period | None:
    """Rule 1: the profile's period at ``t``, or None when it has none (or is not valid)."""
    if not is_valid_at(profile, t):
        return None
    offset = schedule_offset(profile, t, connector, query_start, transactions)
    if offset is None:
        return None
    if profile.schedule.duration_s is not None and offset >= profile.schedule.duration_s:
        return None
    found = None
    for period in profile.schedule.periods:
        if period.start_s <= offset:
            found = period
    return found


def top_of_stack(
    candidates: list[Profile], own_connector: int, t: datetime, connector: int,
    query_start: datetime, transactions: Mapping[int, tuple[int, datetime]],
) -> tuple[Profile, Period] | None:
    """Rule 2: the highest stack level with a period at ``t``; at equal level the profile
    on ``own_connector`` beats one on connector 0 (only TX_DEFAULT mixes the two)."""
    best: tuple[Profile, Period] | None = None
    for profile in candidates:
        period = period_at(profile, t, connector, query_start, transactions)
        if period is None:
            continue
        if best is None:
            best = (profile, period)
            continue
        best_profile = best[0]
        if profile.stack_level > best_profile.stack_level:
            best = (profile, period)
        elif (
            profile.stack_level == best_profile.stack_level
            and profile.connector == own_connector
            and best_profile.connector != own_connector
        ):
            best = (profile, period)
    return best


def convert(value: float, from_unit: RateUnit, to_unit: RateUnit, phases: int, voltage: float) -> float:
    """Rule 5: W = A x phases x voltage."""
    if from_unit is to_unit:
        return value
    if from_unit is RateUnit.AMPS:
        return value * phases * voltage
    return value / (phases * voltage)


def as_limit(profile: Profile, period: Period, unit: RateUnit, electrical: Electrical) -> Limit:
    """Rule 5: a period's limit in ``unit``, with the connector's phases: the charger does
    not switch phases, so the EV may draw on every phase wired whatever the period names."""
    value = convert(period.limit, profile.schedule.unit, unit, electrical.phases, electrical.voltage_v)
    return Limit(value, period.number_phases)


def tx_level_limit(
    profiles: list[Profile], c: int, t: datetime, unit: RateUnit, query_start: datetime,
    connectors: Mapping[int, Electrical], transactions: Mapping[int, tuple[int, datetime]],
) -> Limit | None:
    """Rule 3: connector c's TX profile for its running transaction, else its TX_DEFAULT."""
    if c in transactions:
        running_id = transactions[c][0]
        tx_profiles = [
            p for p in profiles if p.purpose is Purpose.TX and p.transaction_id == running_id
        ]
        top = top_of_stack(tx_profiles, c, t, c, query_start, transactions)
        if top is not None:
            return as_limit(top[0], top[1], unit, connectors[c])
    defaults = [
        p for p in profiles if p.purpose is Purpose.TX_DEFAULT and p.connector in (0, c)
    ]
    top = top_of_stack(defaults, c, t, c, query_start, transactions)
    if top is not None:
        return as_limit(top[0], top[1], unit, connectors[c])
    return None


def caps_of(
    profiles: list[Profile], cap_connector: int, evaluated: int, t: datetime, unit: RateUnit,
    query_start: datetime, electrical: Electrical,
    transactions: Mapping[int, tuple[int, datetime]],
) -> list[Limit]:
    """Rule 4: the caps held on ``cap_connector`` that have a period at t (CHARGER_MAX
    first, then EXTERNAL), each its own stack, converted with ``electrical``."""
    found: list[Limit] = []
    for purpose in (Purpose.CHARGER_MAX, Purpose.EXTERNAL):
        if purpose is Purpose.CHARGER_MAX and cap_connector != 0:
            continue
        stack = [p for p in profiles if p.purpose is purpose and p.connector == cap_connector]
        top = top_of_stack(stack, cap_connector, t, evaluated, query_start, transactions)
        if top is not None:
            found.append(as_limit(top[0], top[1], unit, electrical))
    return found


def minimum(limits: list[Limit]) -> Limit | None:
    """The lowest limit; on a tie, the first one in the list decides."""
    best: Limit | None = None
    for limit in limits:
        if best is None or limit.value < best.value:
            best = limit
    return best


def connector_limit(
    profiles: list[Profile], c: int, t: datetime, unit: RateUnit, query_start: datetime,
    connectors: Mapping[int, Electrical], transactions: Mapping[int, tuple[int, datetime]],
) -> tuple[Limit | None, list[Limit]]:
    """Rule 4 for connector c >= 1: the minimum of its TX-level limit and its caps (connector
    0's converted with c's electrical); also every candidate, for telling ties apart."""
    candidates: list[Limit] = []
    tx_level = tx_level_limit(profiles, c, t, unit, query_start, connectors, transactions)
    if tx_level is not None:
        candidates.append(tx_level)
    candidates += caps_of(profiles, 0, c, t, unit, query_start, connectors[c], transactions)
    candidates += caps_of(profiles, c, c, t, unit, query_start, connectors[c], transactions)
    return minimum(candidates), candidates


def charger_limit(
    profiles: list[Profile], t: datetime, unit: RateUnit, query_start: datetime,
    connectors: Mapping[int, Electrical], transactions: Mapping[int, tuple[int, datetime]],
    charger: Electrical,
) -> Limit | None:
    """Rule 6: connector 0, the whole charger's expected draw."""
    caps = caps_of(profiles, 0, 0, t, unit, query_start, charger, transactions)
    total: float | None = 0.0
    for c in sorted(connectors):
        if tx_level_limit(profiles, c, t, unit, query_start, connectors, transactions) is None:
            total = None
            break
        capped, _ = connector_limit(profiles, c, t, unit, query_start, connectors, transactions)
        assert capped is not None
        total += capped.value
    candidates = caps if total is None else [Limit(total, None), *caps]
    best = minimum(candidates)
    return None if best is None else Limit(best.value, None)


def _check(connector: int, duration_s: int, connectors: Mapping[int, Electrical]) -> None:
    """Rule 7."""
    if duration_s < 0:
        raise ValueError(f"negative duration {duration_s}")
    if connector != 0 and connector not in connectors:
        raise ValueError(f"unknown connector {connector}")


def charger_electrical(connectors: Mapping[int, Electrical]) -> Electrical:
    """Connector 0's own electrical: the connectors' one, when they all agree."""
    kinds = set(connectors.values())
    if len(kinds) != 1:
        raise ValueError("the connectors differ: say which electrical connector 0 has")
    return next(iter(kinds))


def reference_detail(
    profiles: Iterable[Profile], connector: int, start: datetime, duration_s: int,
    unit: RateUnit, *, connectors: Mapping[int, Electrical],
    transactions: Mapping[int, tuple[int, datetime]], seconds: Iterable[int] | None = None,
    charger: Electrical | None = None,
) -> dict[int, tuple[Limit | None, bool]]:
    """Per second ``s`` (every one of the horizon, or those given): the limit at
    ``start + s`` and whether its ``number_phases`` is decided by a tie (ambiguous)."""
    _check(connector, duration_s, connectors)
    profiles = list(profiles)
    if connector == 0 and charger is None:
        charger = charger_electrical(connectors)
    wanted = range(duration_s) if seconds is None else seconds
    result: dict[int, tuple[Limit | None, bool]] = {}
    for s in wanted:
        assert 0 <= s < duration_s
        t = start + timedelta(seconds=s)
        if connector == 0:
            assert charger is not None
            limit = charger_limit(profiles, t, unit, start, connectors, transactions, charger)
            result[s] = (limit, False)
        else:
            limit, candidates = connector_limit(
                profiles, connector, t, unit, start, connectors, transactions
            )
            tied = {
                c.number_phases for c in candidates
                if limit is not None and math.isclose(c.value, limit.value, rel_tol=1e-9, abs_tol=1e-9)
            }
            result[s] = (limit, len(tied) > 1)
    return result


def reference_limits(
    profiles: Iterable[Profile], connector: int, start: datetime, duration_s: int,
    unit: RateUnit, *, connectors: Mapping[int, Electrical],
    transactions: Mapping[int, tuple[int, datetime]], charger: Electrical | None = None,
) -> list[tuple[float, int | None] | None]:
    """For every second ``s`` of the horizon, the limit and number_phases at ``start + s``
    (None: no profile applies there)."""
    detail = reference_detail(
        profiles, connector, start, duration_s, unit,
        connectors=connectors, transactions=transactions, charger=charger,
    )
    out: list[tuple[float, int | None] | None] = []
    for s in range(duration_s):
        limit = detail[s][0]
        out.append(None if limit is None else (limit.value, limit.number_phases))
    return out
