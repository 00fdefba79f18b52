"""The shapes of the tariff: a session's timeline points, the tariff itself, its bands,
and what a session costs.

Kept free of I/O and of the settings, so that the cost is a pure function of a tariff
and a timeline, the same on the charger, in ``ladda sessions`` and in tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, time, tzinfo
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: The charging states a point may carry (OCPP 2.0.1's chargingState, plus "Ended").
CHARGING = "Charging"
SUSPENDED_EV = "SuspendedEV"
SUSPENDED_EVSE = "SuspendedEVSE"
EV_CONNECTED = "EVConnected"
IDLE = "Idle"
ENDED = "Ended"
STATES: frozenset[str] = frozenset({CHARGING, SUSPENDED_EV, SUSPENDED_EVSE, EV_CONNECTED, IDLE, ENDED})


@dataclass(frozen=True, slots=True)
class Point:
    """One known instant of a session: the meter register (Wh) and the charging state
    from this instant on: "Charging", "SuspendedEV", "SuspendedEVSE", "EVConnected",
    "Idle" (no EV on the cable) or "Ended" (the last point). ``unsure``: this point's time
    cannot be compared with the one before it (one of the two was stamped by a clock that
    never had the right time, see agent/clock.py), so the span between them is of unknown
    length: its energy counts, its time does not."""

    at: datetime  # timezone-aware, UTC
    wh: float
    state: str
    unsure: bool = False


@dataclass(frozen=True, slots=True)
class Cost:
    """What a session costs under a tariff, and the times it was billed on.

    ``energy``, ``charging_time``, ``idle`` and ``fee`` are exact (not rounded), on the
    tariff's own basis (with tax when its prices include it, else without); only
    ``total`` and ``tax`` are rounded, once, to the tariff's displayed decimals."""

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
    #: Some of the session's time could not be counted (see Point.unsure): its energy is
    #: billed, that span's time is not; an operator should check it.
    uncertain: bool = False


@dataclass(frozen=True, slots=True)
class Band:
    """A time-of-day band: between ``start`` and ``end`` (local times; ``end`` before
    ``start`` crosses midnight, equal means the whole day) the prices it sets replace the
    tariff's own; a price it leaves None stays the tariff's."""

    start: time
    end: time
    per_kwh: Decimal | None = None
    per_hour_charging: Decimal | None = None
    per_hour_idle: Decimal | None = None

    def covers(self, moment: time) -> bool:
        """Whether the local time of day ``moment`` is in the band (start included, end not)."""
        if self.start < self.end:
            return self.start <= moment < self.end
        if self.start > self.end:  # across midnight
            return moment >= self.start or moment < self.end
        return True

    def as_toml(self) -> dict[str, object]:
        """The band as the configuration file writes it (for ``ladda check-config``)."""
        out: dict[str, object] = {"start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}
        for key in ("per_kwh", "per_hour_charging", "per_hour_idle"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True)
class Prices:
    """The prices in force at one instant (the tariff's, with its band's overrides)."""

    per_kwh: Decimal
    per_hour_charging: Decimal
    per_hour_idle: Decimal


ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Tariff:
    """A local tariff (``[tariff]``). Prices are per kWh, per hour of charging, per hour of
    idle time after ``idle_grace_minutes``, and ``session_fee`` once per session, in
    ``currency``; ``bands`` override some of them at times of day in ``timezone`` (an IANA
    name; "" = the system's). ``tax_percent`` is the tax the displayed total includes;
    ``prices_include_tax`` says whether the prices above already do. Totals are shown
    with ``decimals`` decimals."""

    currency: str = "EUR"
    per_kwh: Decimal = ZERO
    per_hour_charging: Decimal = ZERO
    per_hour_idle: Decimal = ZERO
    idle_grace_minutes: int = 0
    session_fee: Decimal = ZERO
    bands: tuple[Band, ...] = ()
    timezone: str = ""
    tax_percent: Decimal = ZERO
    prices_include_tax: bool = True
    decimals: int = 2
    _zone: tzinfo | None = field(default=None, compare=False, repr=False)

    @property
    def zone(self) -> tzinfo:
        """The time zone bands are read in (resolved once; the system's when unnamed)."""
        return self._zone if self._zone is not None else zone_named(self.timezone)

    def prices_at(self, local: datetime) -> Prices:
        """The prices in force at the local wall time ``local`` (the first band covering it)."""
        band = next((b for b in self.bands if b.covers(local.time().replace(tzinfo=None))), None)
        if band is None:
            return Prices(self.per_kwh, self.per_hour_charging, self.per_hour_idle)
        return Prices(
            self.per_kwh if band.per_kwh is None else band.per_kwh,
            self.per_hour_charging if band.per_hour_charging is None else band.per_hour_charging,
            self.per_hour_idle if band.per_hour_idle is None else band.per_hour_idle,
        )


@lru_cache(maxsize=16)
def zone_named(name: str) -> tzinfo:
    """The IANA zone ``name``, or for "" the system's: ``$TZ`` if it names a zone, else
    /etc/localtime, else UTC. Raises ZoneInfoNotFoundError for an unknown name."""
    if name:
        return ZoneInfo(name)
    env = os.environ.get("TZ", "").lstrip(":")
    if env:
        try:
            if not env.startswith("/"):
                return ZoneInfo(env)
            with open(env, "rb") as handle:
                return ZoneInfo.from_file(handle, key=env)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    local = Path("/etc/localtime")
    try:
        with local.open("rb") as handle:
            return ZoneInfo.from_file(handle, key="localtime")
    except (OSError, ValueError):
        return ZoneInfo("UTC")
