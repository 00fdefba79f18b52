"""The composite schedule: what the installed profiles allow a connector over a horizon.

Both GetCompositeSchedule (1.6 §5.7, 2.0.1 K08) and the runtime's offer to the EV read
it. The rules, per instant (in order of precedence):

- a profile applies while it is valid and its schedule has a period at that offset
  (absolute, recurring daily or weekly, or relative to the connector's transaction);
- among profiles of one purpose the highest stack level with a period decides; for
  TX_DEFAULT the connector's own profiles and connector 0's compete, the own winning
  at equal level;
- a TX profile of the connector's running transaction overrides TX_DEFAULT;
- CHARGER_MAX (connector 0) and EXTERNAL (connector 0 or this connector) cap the result;
- connector 0 reports the charger's expected draw: the sum of every connector's limit,
  capped by connector 0's caps, or those caps alone while some connector has no
  transaction-level limit.

Where nothing applies there is no period (a gap), never an invented default. The work
is done per segment between breakpoints (period starts and ends, validity bounds,
recurrences, durations, transaction starts), not per second, so a day of a hundred
profiles takes a few milliseconds.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from .model import (
    CompositeSchedule,
    Electrical,
    Kind,
    LimitPeriod,
    Period,
    Profile,
    Purpose,
    RateUnit,
    Recurrency,
)

DAY_S = 86_400
WEEK_S = 604_800
RECURRENCE_S = {Recurrency.DAILY: DAY_S, Recurrency.WEEKLY: WEEK_S}

_SECOND = timedelta(seconds=1)


class _Timeline:
    """One profile's periods laid on the horizon for one connector: disjoint spans, sorted."""

    __slots__ = ("starts", "ends", "periods", "unit", "profile")

    def __init__(self, profile: Profile) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.periods: list[Period] = []
        self.unit = profile.schedule.unit
        self.profile = profile

    def at(self, s: int) -> Period | None:
        i = bisect_right(self.starts, s) - 1
        if i >= 0 and s < self.ends[i]:
            return self.periods[i]
        return None


#: Profiles of one purpose (or TX followed by TX_DEFAULT), most important first.
_Stack = Sequence[_Timeline]


class _View:
    """What limits one connector: its transaction-level stack and its caps."""

    __slots__ = ("tx_level", "caps", "electrical")

    def __init__(self, tx_level: _Stack, caps: Sequence[_Stack], electrical: Electrical) -> None:
        self.tx_level = tx_level
        self.caps = caps
        self.electrical = electrical

    def timelines(self) -> Iterable[_Timeline]:
        yield from self.tx_level
        for stack in self.caps:
            yield from stack

    def resolve(self, s: int, unit: RateUnit) -> tuple[bool, float, int | None] | None:
        """(whether a transaction-level profile decided, the limit, its phases) at ``s``."""
        best: tuple[float, int | None] | None = None
        has_tx = False
        found = _first(self.tx_level, s)
        if found is not None:
            has_tx = True
            best = (_convert(found, unit, self.electrical), found[0].number_phases)
        for stack in self.caps:
            cap = _first(stack, s)
            if cap is not None:
                value = _convert(cap, unit, self.electrical)
                if best is None or value < best[0]:
                    best = (value, cap[0].number_phases)
        if best is None:
            return None
        return has_tx, best[0], best[1]


def composite_schedule(
    profiles: Iterable[Profile],
    connector: int,
    start: datetime,
    duration_s: int,
    unit: RateUnit,
    *,
    connectors: Mapping[int, Electrical],
    transactions: Mapping[int, tuple[int, datetime]],
) -> CompositeSchedule:
    """The limits on ``connector`` (0: the whole charger) from ``start`` for ``duration_s``
    seconds, in ``unit``. ``connectors`` holds every connector 1..N (a key 0, if given, is
    the charger's own supply for converting connector 0's caps: :func:`charger_electrical`);
    ``transactions`` the running ones: connector -> (transaction id, when it started)."""
    if duration_s < 0:
        raise ValueError(f"duration {duration_s} s is negative")
    if connector != 0 and connector not in connectors:
        raise ValueError(f"connector {connector} does not exist (connectors: {sorted(c for c in connectors if c)})")
    if duration_s == 0:
        return CompositeSchedule(connector, start, 0, unit, ())
    installed = tuple(profiles)
    views: list[_View] = []  # connector 0: every connector's, for the sum
    if connector == 0:
        outlets = sorted(c for c in connectors if c != 0)
        views = [_connector_view(installed, c, start, duration_s, connectors, transactions) for c in outlets]
        own = _charger_view(installed, start, duration_s, connectors)
        every = [*views, own]
    else:
        own = _connector_view(installed, connector, start, duration_s, connectors, transactions)
        every = [own]
    cuts = {0, duration_s}
    for view in every:
        for line in view.timelines():
            cuts.update(line.starts)
            cuts.update(line.ends)
    edges = sorted(cuts)
    out: list[LimitPeriod] = []
    for lo, hi in zip(edges, edges[1:]):
        if connector == 0:
            found = _charger_limit(views, own, lo, unit)
        else:
            resolved = own.resolve(lo, unit)
            found = None if resolved is None else (resolved[1], resolved[2])
        if found is None:
            continue
        limit, phases = found
        last = out[-1] if out else None
        if last is not None and last.end_s == lo and last.limit == limit and last.number_phases == phases:
            out[-1] = LimitPeriod(last.start_s, hi, limit, phases)
        else:
            out.append(LimitPeriod(lo, hi, limit, phases))
    return CompositeSchedule(connector, start, duration_s, unit, tuple(out))


def _charger_limit(views: Sequence[_View], own: _View, s: int, unit: RateUnit) -> tuple[float, None] | None:
    """Connector 0 at ``s``: the connectors' sum capped by the charger's caps, or the caps alone."""
    caps = own.resolve(s, unit)
    per_connector = [view.resolve(s, unit) for view in views]
    if views and all(found is not None and found[0] for found in per_connector):
        total = sum(found[1] for found in per_connector if found is not None)
        if caps is not None:
            total = min(total, caps[1])
        return total, None
    return None if caps is None else (caps[1], None)


def _connector_view(
    installed: Sequence[Profile],
    c: int,
    start: datetime,
    horizon: int,
    connectors: Mapping[int, Electrical],
    transactions: Mapping[int, tuple[int, datetime]],
) -> _View:
    running = transactions.get(c)
    anchor = 0 if running is None else _seconds(running[1], start)
    # A TX profile follows its transaction (installing one puts it on that connector anyway).
    tx = [
        p for p in installed
        if p.purpose is Purpose.TX and running is not None and p.transaction_id == running[0]
    ]
    tx.sort(key=lambda p: (-p.stack_level, p.connector != c))
    tx_default = [p for p in installed if p.purpose is Purpose.TX_DEFAULT and p.connector in (c, 0)]
    tx_default.sort(key=lambda p: (-p.stack_level, p.connector != c))
    caps = [
        [p for p in installed if p.purpose is Purpose.CHARGER_MAX and p.connector == 0],
        [p for p in installed if p.purpose is Purpose.EXTERNAL and p.connector == 0],
        [p for p in installed if p.purpose is Purpose.EXTERNAL and p.connector == c],
    ]
    return _View(
        _lay(tx + tx_default, start, anchor, horizon),
        [_lay(_by_level(stack), start, anchor, horizon) for stack in caps],
        connectors[c],
    )


def _charger_view(
    installed: Sequence[Profile], start: datetime, horizon: int, connectors: Mapping[int, Electrical]
) -> _View:
    caps = [
        [p for p in installed if p.purpose is Purpose.CHARGER_MAX and p.connector == 0],
        [p for p in installed if p.purpose is Purpose.EXTERNAL and p.connector == 0],
    ]
    return _View([], [_lay(_by_level(stack), start, 0, horizon) for stack in caps], charger_electrical(connectors))


def charger_electrical(connectors: Mapping[int, Electrical]) -> Electrical:
    """What converts connector 0's own caps: key 0 when given, else the connectors' common
    supply, else (connectors that differ) the one with the most phases, the lowest-numbered
    on a tie: the charger's supply has at least as many phases as any connector uses."""
    if 0 in connectors:
        return connectors[0]
    if not connectors:
        return Electrical()
    return max(sorted(connectors.items()), key=lambda item: item[1].phases)[1]


def _by_level(profiles: list[Profile]) -> list[Profile]:
    """Highest stack level first; at an equal level (which installing never leaves) the
    one given first."""
    return sorted(profiles, key=lambda p: -p.stack_level)


def _lay(profiles: Iterable[Profile], start: datetime, anchor: int, horizon: int) -> list[_Timeline]:
    lines = [_timeline(p, start, anchor, horizon) for p in profiles]
    return [line for line in lines if line.starts]


def _timeline(profile: Profile, start: datetime, relative_anchor: int, horizon: int) -> _Timeline:
    """Where ``profile`` has a period within ``[0, horizon)`` (seconds from ``start``).
    ``relative_anchor``: offset 0 of a RELATIVE schedule (the transaction's start, or
    the query's)."""
    schedule = profile.schedule
    line = _Timeline(profile)
    lo = 0 if profile.valid_from is None else max(0, _seconds(profile.valid_from, start))
    hi = horizon if profile.valid_to is None else min(horizon, _seconds(profile.valid_to, start))
    if lo >= hi or not schedule.periods:
        return line
    cycle: int | None = None
    anchors: Iterable[int]
    if profile.kind is Kind.RELATIVE:
        anchors = (relative_anchor,)
    elif schedule.start is None:
        return line  # refused on installation; nothing to count from
    elif profile.kind is Kind.ABSOLUTE:
        anchors = (_seconds(schedule.start, start),)
    else:
        cycle = RECURRENCE_S.get(profile.recurrency) if profile.recurrency is not None else None
        if cycle is None:
            return line  # refused on installation; no recurrence to follow
        first = _seconds(schedule.start, start)
        k = max(0, (lo - first) // cycle)
        anchors = range(first + k * cycle, hi, cycle)
    periods = sorted(schedule.periods, key=lambda p: p.start_s)
    bounds = [b for b in (schedule.duration_s, cycle) if b is not None]
    span = min(bounds) if bounds else None  # a recurrence ends where the next begins
    for a in anchors:
        stop = hi if span is None else min(hi, a + span)
        for i, period in enumerate(periods):
            s0 = max(lo, a, a + period.start_s)
            s1 = min(stop, a + periods[i + 1].start_s) if i + 1 < len(periods) else stop
            if s0 < s1:
                line.starts.append(s0)
                line.ends.append(s1)
                line.periods.append(period)
    return line


def _first(stack: _Stack, s: int) -> tuple[Period, RateUnit] | None:
    """The deciding period of ``stack`` at ``s``: the first profile that has one."""
    found = _deciding(stack, s)
    return None if found is None else (found[0], found[1].unit)


def _deciding(stack: _Stack, s: int) -> tuple[Period, _Timeline] | None:
    for line in stack:
        period = line.at(s)
        if period is not None:
            return period, line
    return None


def limit_now(
    profiles: Iterable[Profile],
    connector: int,
    moment: datetime,
    unit: RateUnit,
    *,
    connectors: Mapping[int, Electrical],
    transactions: Mapping[int, tuple[int, datetime]],
) -> tuple[float, Profile] | None:
    """What limits ``connector`` (1..N) at ``moment``, in ``unit``, and the profile that
    decides it (for a technician asking why); None when no profile applies. The same
    precedence as :func:`composite_schedule`, which it agrees with at its first second."""
    view = _connector_view(tuple(profiles), connector, moment, 1, connectors, transactions)
    best: tuple[float, Profile] | None = None
    found = _deciding(view.tx_level, 0)
    if found is not None:
        best = (_convert((found[0], found[1].unit), unit, view.electrical), found[1].profile)
    for stack in view.caps:
        cap = _deciding(stack, 0)
        if cap is not None:
            value = _convert((cap[0], cap[1].unit), unit, view.electrical)
            if best is None or value < best[0]:
                best = (value, cap[1].profile)
    return best


def next_change(
    profiles: Iterable[Profile],
    connector: int,
    moment: datetime,
    horizon_s: int,
    *,
    connectors: Mapping[int, Electrical],
    transactions: Mapping[int, tuple[int, datetime]],
) -> int | None:
    """Seconds from ``moment`` to the first instant within ``horizon_s`` at which any
    profile's period on ``connector`` starts or ends (where the limit may change), or None."""
    installed = tuple(profiles)
    if connector == 0:
        view = _charger_view(installed, moment, horizon_s, connectors)
    else:
        view = _connector_view(installed, connector, moment, horizon_s, connectors, transactions)
    edges = [e for line in view.timelines() for e in (*line.starts, *line.ends) if 0 < e < horizon_s]
    return min(edges, default=None)


def _convert(found: tuple[Period, RateUnit], unit: RateUnit, electrical: Electrical) -> float:
    """The period's limit in ``unit``: W = A x phases x voltage, with the connector's
    phases. This charger does not switch phases (ConnectorSwitch3to1PhaseSupported is
    false): an EV may draw on every phase wired whatever numberPhases the period names, so
    a W limit divided by fewer phases would offer more power than the limit."""
    period, given = found
    if given is unit:
        return period.limit
    factor = electrical.phases * electrical.voltage_v
    return period.limit * factor if given is RateUnit.AMPS else period.limit / factor


def _seconds(moment: datetime, start: datetime) -> int:
    return (moment - start) // _SECOND
