"""Prices and the cost of a session, from a local tariff (the TOML's ``[tariff]``).

The cost of a session is a pure function of its timeline (points journaled as it ran),
so it is the same after a crash and a restart as for the session uncut. The parts:
``model`` (the shapes), ``bands`` (time-of-day bands in local time), ``cost`` (the
computation and how time is counted), ``running`` (a running session's cost counted
again and again, only its new tail each time), ``text`` (prices and amounts as shown),
``settings`` (a Tariff from the validated ``[tariff]`` section).
"""

from __future__ import annotations

from agent.tariff.cost import TimelineError, cost_of, exact_amounts, rounded
from agent.tariff.model import (
    CHARGING,
    ENDED,
    EV_CONNECTED,
    IDLE,
    STATES,
    SUSPENDED_EV,
    SUSPENDED_EVSE,
    Band,
    Cost,
    Point,
    Prices,
    Tariff,
    zone_named,
)
from agent.tariff.text import money, price_lines, price_text

__all__ = [
    "CHARGING",
    "ENDED",
    "EV_CONNECTED",
    "IDLE",
    "STATES",
    "SUSPENDED_EV",
    "SUSPENDED_EVSE",
    "Band",
    "Cost",
    "Point",
    "Prices",
    "Tariff",
    "TimelineError",
    "cost_of",
    "exact_amounts",
    "money",
    "price_lines",
    "price_text",
    "rounded",
    "zone_named",
]
