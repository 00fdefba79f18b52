"""The cost of a session from its timeline: pure, exact, rounded once.

How time is counted (the states are OCPP 2.0.1's chargingState, which the journal keeps
for both protocols):

- *plugged*: any state but "Idle" (no EV on the cable) and "Ended";
- *charging*: "Charging";
- *idle*: "SuspendedEV" and "EVConnected": the EV is plugged in and authorized and draws
  nothing (full, or waiting). "SuspendedEVSE" is **not** idle: the charger's own limit
  (load management, a charging profile, the backend) holds the energy back, which is
  not the driver's fault, so it is neither charged as charging nor as idle time.
  "Idle" (no EV) is neither either.

Idle time is billed after a grace period, counted from when the EV last stopped
drawing: an idle stretch begins when an idle state follows a state that is not idle
(Charging, SuspendedEVSE, an EV that left and came back, or the session's start), and
time idle within ``idle_grace_minutes`` of that instant (wall-clock time) is free.

Energy between two known points is taken to flow evenly between them (linear
interpolation), so a stretch cut by a band edge bills each side its share at its own
price. Energy is billed whatever the state (a meter that counts is energy delivered).
Everything is computed with Decimal at high precision and rounded once, at the end, to
the tariff's decimals (ROUND_HALF_UP).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
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


def exact_amounts(tariff: Tariff, points: Sequence[Point]) -> Exact:
    """Energy, times and the amounts they cost, exact and untaxed-as-given (see the module)."""
    check_timeline(points)
    grace = timedelta(minutes=tariff.idle_grace_minutes)
    with localcontext(_PRECISION):
        energy_wh = plugged = charging = idle = billed = ZERO
        energy = charging_cost = idle_cost = ZERO
        idle_since: datetime | None = None  # when the current idle stretch began
        for a, b in zip(points, points[1:]):
            if a.state in IDLE_STATES:
                if idle_since is None:
                    idle_since = a.at
            else:
                idle_since = None
            span = seconds(b.at - a.at)
            delta = max(ZERO, _wh(b.wh) - _wh(a.wh))  # a register never runs back: a new meter counts nothing
            energy_wh += delta
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
            if a.state in IDLE_STATES and idle_since is not None:
                idle += span
                free_until = idle_since + grace
                if b.at > free_until:
                    from_ = max(a.at, free_until)
                    billed += seconds(b.at - from_)
                    for start, end, prices in priced_pieces(tariff, from_, b.at):
                        idle_cost += seconds(end - start) / _HOUR * prices.per_hour_idle
        return Exact(energy_wh, plugged, charging, idle, billed, energy, charging_cost, idle_cost)


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
    parts = exact_amounts(tariff, points)
    fee = tariff.session_fee if points else ZERO
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
    )
