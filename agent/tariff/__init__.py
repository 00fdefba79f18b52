"""Prices and the cost of a session, from a local tariff (the TOML's ``[tariff]``).

CONTRACT STUB: the shapes below are what the rest of the agent codes against; the
tariff work replaces the bodies (and may add fields, never rename these).
The cost of a session is a pure function of its timeline (points journaled as it ran),
so it is the same after a crash and a restart as for the session uncut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Point:
    """One known instant of a session: the meter register (Wh) and the charging state
    from this instant on: "Charging", "SuspendedEV", "SuspendedEVSE", "EVConnected",
    "Idle" (no EV on the cable) or "Ended" (the last point)."""

    at: datetime  # timezone-aware, UTC
    wh: float
    state: str


@dataclass(frozen=True, slots=True)
class Cost:
    """What a session costs under a tariff, and the times it was billed on."""

    currency: str
    energy_wh: float
    plugged_s: float
    charging_s: float
    idle_s: float
    idle_billed_s: float  # idle time after the grace period
    energy: Decimal
    charging_time: Decimal
    idle: Decimal
    fee: Decimal
    total: Decimal  # as displayed (rounded to the tariff's decimals), tax included
    tax: Decimal  # the tax part of total


@dataclass(frozen=True, slots=True)
class Tariff:
    """A local tariff (``[tariff]``); fields are the tariff work's to define."""

    currency: str = "EUR"


def cost_of(tariff: Tariff, points: Sequence[Point]) -> Cost:
    """The cost of a session whose timeline is ``points`` (oldest first; a running
    session's last point is its latest reading, state as journaled)."""
    raise NotImplementedError


def price_text(tariff: Tariff, at: datetime) -> str:
    """The price in force at ``at``, short enough for a 16-column line
    (e.g. ``0.35 EUR/kWh``)."""
    raise NotImplementedError


def money(amount: Decimal, tariff: Tariff) -> str:
    """``amount`` as displayed (e.g. ``12.40 EUR``)."""
    raise NotImplementedError
