"""The cost of a session from its timeline: pure, exact, rounded once.

How time is counted (the states are OCPP 2.0.1's chargingState, which the journal keeps
for both protocols):

- *plugged*: any state but "Idle" (no EV on the cable) and "Ended";
- *charging*: "Charging";
- *idle*: "SuspendedEV" and "EVConnected" once the EV has charged in the session: the EV
  is plugged in and authorized and draws nothing (full, or its own timer). Before it
  first charged, nothing is idle (a car waiting for its departure timer is not billed,
  and the screen's idle alert, agent/screen/idle.py, does not fire for it either).
  "SuspendedEVSE" is **not** idle: the charger's own limit (load management, a
  charging profile, the backend) holds the energy back, which is not the driver's fault,
  so it is neither charged as charging nor as idle time. "Idle" (no EV) is neither either.

Idle time is billed after a grace period of ``idle_grace_minutes`` of idle time in one
idle stretch. A stretch ends when the EV charges again or leaves (the state "Idle", a
re-plug); a SuspendedEVSE stretch in between (load management toggling the offer while
the car is full) only pauses it: it neither counts toward the grace nor restarts it. The
screen's idle alert counts the same stretch (agent/screen/idle.py).

A span whose length is not known (``Point.unsure``: a provisional stamp of a process that
died before it learnt the time, next to a real one) counts its energy, at the prices of
its later end, and no time; the cost is then marked ``uncertain``. A register that runs
back (a glitch, a meter replaced) counts nothing until it passes its highest value again,
as the journal's timeline has it.

Energy between two known points is taken to flow evenly between them (linear
interpolation), so a stretch cut by a band edge bills each side its share at its own
price. Energy is billed whatever the state (a meter that counts is energy delivered).
Everything is computed with Decimal at high precision and rounded once, at the end, to
the tariff's decimals (ROUND_HALF_UP).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

from agent.tariff.bands import priced_pieces
from agent.tariff.model import (
    CHARGING,
    ENDED,
    EV_CONNECTED,
    IDLE,
    STATES,
    SUSPENDED_EV,
    ZERO,
    Cost,
    Point,
    Tariff,
)

#: States in which the EV blocks the bay without drawing (see the module).
IDLE_STATES = frozenset({SUSPENDED_EV, EV_CONNECTED})
#: States with no EV on the cable, or after the session.
UNPLUGGED_STATES = frozenset({IDLE, ENDED})
_PRECISION = Context(prec=60)
_HOUR = Decimal(3600)
_KWH = Decimal(1000)


class TimelineError(ValueError):
    """A timeline that cannot be costed (a naive time, points out of order, an unknown state)."""


@dataclass(frozen=True, slots=True)
class Exact:
    """A session's amounts before tax handling and rounding, on the prices' basis."""

    energy_wh: Decimal
    plugged_s: Decimal
    charging_s: Decimal
    idle_s: Decimal
    idle_billed_s: Decimal
    energy: Decimal
    charging_time: Decimal
    idle: Decimal
    uncertain: bool = False  # a span's time was not known (see the module)
    # Where the count stands after the last point, so that a later call can carry on from
    # it (``exact_amounts(..., after=)``) instead of counting the session again:
    charged: bool = False  # the EV has charged
    stretch: Decimal = ZERO  # idle time of the present idle stretch
    top: Decimal | None = None  # the register's highest value


def seconds(delta: timedelta) -> Decimal:
    """A duration in seconds, exactly (to the microsecond)."""
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds).scaleb(-6)


def _wh(value: float) -> Decimal:
    return Decimal(repr(float(value))) if isinstance(value, float) else Decimal(value)


def check_timeline(points: Sequence[Point]) -> None:
    """Raise TimelineError unless every point is aware, in order, and in a known state."""
    for i, point in enumerate(points):
        if point.at.tzinfo is None or point.at.utcoffset() is None:
            raise TimelineError(f"point {i}: time {point.at.isoformat()} has no time zone")
        if point.state not in STATES:
            raise TimelineError(f"point {i}: unknown charging state {point.state!r}")
        if i and point.at < points[i - 1].at:
            raise TimelineError(f"point {i}: {point.at.isoformat()} is before the point ahead of it")


def exact_amounts(tariff: Tariff, points: Sequence[Point], after: Exact | None = None) -> Exact:
    """Energy, times and the amounts they cost, exact and untaxed-as-given (see the module).
    ``after``: what this call returned for the session's points up to ``points[0]``
    (included): the count carries on from it, exactly as if the whole timeline were
    counted at once (a running session's cost, every few seconds, costs only its tail)."""
    check_timeline(points)
    grace = seconds(timedelta(minutes=tariff.idle_grace_minutes))
    with localcontext(_PRECISION):
        if after is None:
            after = Exact(ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO)
        energy_wh, plugged, charging, idle = after.energy_wh, after.plugged_s, after.charging_s, after.idle_s
        billed, energy, charging_cost, idle_cost = after.idle_billed_s, after.energy, after.charging_time, after.idle
        stretch = after.stretch  # idle time of the present idle stretch
        charged = after.charged  # the EV has charged in this session
        uncertain = after.uncertain
        top = after.top if after.top is not None else _wh(points[0].wh) if points else None
        for a, b in zip(points, points[1:]):
            wh = _wh(b.wh)
            assert top is not None  # set from the first point
            delta = max(ZERO, wh - top)  # a register never runs back: nothing counts until it passes its top
            top = max(top, wh)
            energy_wh += delta
            if a.state == CHARGING:
                charged = True
            if a.state == CHARGING or a.state in UNPLUGGED_STATES:
                stretch = ZERO  # charging again, or the EV left: the next idle stretch starts afresh
            span = seconds(b.at - a.at)
            if b.unsure:
                uncertain = True
                if delta:  # its time is unknown: its energy at the later end's prices, no time
                    energy += delta / _KWH * tariff.prices_at(b.at.astimezone(tariff.zone)).per_kwh
                continue
            if span == 0:
                if delta:
                    energy += delta / _KWH * tariff.prices_at(a.at.astimezone(tariff.zone)).per_kwh
                continue
            for start, end, prices in priced_pieces(tariff, a.at, b.at):
                piece = seconds(end - start)
                energy += delta * piece / span / _KWH * prices.per_kwh
                if a.state == CHARGING:
                    charging_cost += piece / _HOUR * prices.per_hour_charging
            if a.state not in UNPLUGGED_STATES:
                plugged += span
            if a.state == CHARGING:
                charging += span
            if a.state in IDLE_STATES and charged:
                idle += span
                free = grace - stretch  # what is left of the grace
                stretch += span
                if span > free:
                    from_ = a.at + timedelta(seconds=float(max(ZERO, free)))
                    billed += span - max(ZERO, free)
                    for start, end, prices in priced_pieces(tariff, from_, b.at):
                        idle_cost += seconds(end - start) / _HOUR * prices.per_hour_idle
        return Exact(energy_wh, plugged, charging, idle, billed, energy, charging_cost, idle_cost, uncertain,
                     charged, stretch, top)


def quantum(tariff: Tariff) -> Decimal:
    """The smallest amount shown (0.01 for 2 decimals)."""
    return Decimal(1).scaleb(-tariff.decimals)


def rounded(amount: Decimal, tariff: Tariff) -> Decimal:
    """``amount`` rounded to the displayed decimals, half up."""
    return amount.quantize(quantum(tariff), rounding=ROUND_HALF_UP)


def cost_of(tariff: Tariff, points: Sequence[Point]) -> Cost:
    """The cost of a session whose timeline is ``points`` (oldest first; a running
    session's last point is its latest reading, state as journaled). The session fee is
    due once the session has a point at all. Raises TimelineError for a timeline that
    cannot be costed."""
    return priced(tariff, exact_amounts(tariff, points), bool(points))


def priced(tariff: Tariff, parts: Exact, begun: bool) -> Cost:
    """The cost of a session's exact amounts ``parts``: the session fee (due once it has
    ``begun``: a point at all), tax, and the one rounding."""
    fee = tariff.session_fee if begun else ZERO
    with localcontext(_PRECISION):
        given = parts.energy + parts.charging_time + parts.idle + fee
        rate = tariff.tax_percent / 100
        if tariff.prices_include_tax:
            gross, net = given, given / (1 + rate)
        else:
            gross, net = given * (1 + rate), given
        total = rounded(gross, tariff)
        tax = total - rounded(net, tariff)
    return Cost(
        currency=tariff.currency,
        energy_wh=float(parts.energy_wh),
        plugged_s=float(parts.plugged_s),
        charging_s=float(parts.charging_s),
        idle_s=float(parts.idle_s),
        idle_billed_s=float(parts.idle_billed_s),
        energy=parts.energy,
        charging_time=parts.charging_time,
        idle=parts.idle,
        fee=fee,
        total=total,
        tax=tax,
        uncertain=parts.uncertain,
    )
