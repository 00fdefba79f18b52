"""The cost between two RunningCost messages, carried on from the unit prices they bring.

The pricing whitepaper has the backend send the cost so far and the unit prices with each
RunningCost (after each MeterValues), and the charger count on from them with what it
measures, so the driver sees the cost grow between two messages; each RunningCost sets
the count right again. Pure rules: no clock, no I/O.

- ``Charging``: the backend's cost, plus the energy since its ``meterValue`` at
  ``kWhPrice``, plus the time since its ``timestamp`` at ``hourPrice``. ``flatFee`` is a
  fee of the session (part): already in the backend's cost, never added again.
- ``Idle``: ``idlePrice.hourPrice`` for the time after ``graceMinutes``, counted from the
  timestamp of the RunningCost whose state turned Idle; the charging prices do not run.
- ``nextPeriod``: from its ``atTime`` on, its prices; the count is rebased at that moment
  (the cost and the meter register then are the start of the new period).

A RunningCost without ``timestamp`` or ``meterValue`` gives no basis to count from: its
cost is shown as it is until the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from ..runtime_settings.price_settings import ChargingPrice
from .costmsg import IdlePrice, NextPeriod, RunningCost

_HOUR_S = Decimal(3600)
_KWH_WH = Decimal(1000)


@dataclass(frozen=True, slots=True)
class CostBasis:
    """Where the count stands: the cost at ``at`` with the meter register at ``meter_wh``."""

    local_tx: int
    cost: Decimal
    at: datetime
    meter_wh: Decimal
    state: str
    charging: ChargingPrice | None
    idle: IdlePrice | None
    #: When the transaction became Idle (the grace period counts from there); None: charging.
    idle_since: datetime | None
    next_period: NextPeriod | None
    text: str | None = None


def basis_of(message: RunningCost, local_tx: int, previous: CostBasis | None,
             text: str | None = None) -> CostBasis | None:
    """The basis a RunningCost gives (None: no timestamp or meter value to count from)."""
    if message.timestamp is None or message.meter_wh is None:
        return None
    idle_since = None
    if message.state == "Idle":
        same = previous is not None and previous.local_tx == local_tx
        idle_since = previous.idle_since if same and previous is not None and previous.idle_since is not None \
            else message.timestamp
    return CostBasis(local_tx, message.cost, message.timestamp, message.meter_wh, message.state,
                     message.charging_price, message.idle_price, idle_since, message.next_period, text)


def estimate(basis: CostBasis, now: datetime, energy_wh: Decimal | None) -> Decimal:
    """The cost at ``now`` with the meter register at ``energy_wh`` (None: not known, the
    energy part is left out). Never below the backend's cost."""
    if now <= basis.at:
        return basis.cost
    seconds = Decimal(str((now - basis.at).total_seconds()))
    added = Decimal(0)
    if basis.state == "Idle":
        idle = basis.idle
        if idle is not None and idle.hour is not None:
            grace_end = (basis.idle_since or basis.at).timestamp() + 60 * (idle.grace_minutes or 0)
            billable = Decimal(str(max(0.0, now.timestamp() - max(grace_end, basis.at.timestamp()))))
            added += billable / _HOUR_S * idle.hour
    elif basis.charging is not None:
        if basis.charging.kwh is not None and energy_wh is not None and energy_wh > basis.meter_wh:
            added += (energy_wh - basis.meter_wh) / _KWH_WH * basis.charging.kwh
        if basis.charging.hour is not None:
            added += seconds / _HOUR_S * basis.charging.hour
    return basis.cost + added


def rebased(basis: CostBasis, now: datetime, energy_wh: Decimal | None) -> CostBasis:
    """From nextPeriod's ``atTime`` on, its prices; the count starts again from the cost
    and the meter register at that moment (``now`` is when the charger noticed it, at
    most a look later). Unchanged before it."""
    period = basis.next_period
    if period is None or now < period.at:
        return basis
    at = max(period.at, basis.at)
    return replace(basis, cost=estimate(basis, at, energy_wh), at=at,
                   meter_wh=energy_wh if energy_wh is not None else basis.meter_wh,
                   charging=period.charging_price if period.charging_price is not None else basis.charging,
                   idle=period.idle_price if period.idle_price is not None else basis.idle,
                   next_period=None)
