"""Energy, plugged, charging and idle time, and the cost of each session, from its
journaled timeline: what ``ladda sessions`` reports to an operator.

The figures come from the journal alone (agent.journal.Journal.timeline), so they are the
same after a crash or a week offline as for a session that ran undisturbed. Times are
counted as agent.tariff.cost says (SuspendedEVSE, the charger's own suspension, is never
idle). Without a tariff the times are still given; the cost is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agent.journal import Journal, TransactionRecord
from agent.tariff import Cost, Tariff, TimelineError, cost_of

#: Times are counted with no prices at all when no tariff is configured.
_NO_PRICES = Tariff()


@dataclass(frozen=True, slots=True)
class SessionFigures:
    """One session's figures; a running one's up to its latest reading."""

    energy_wh: float | None
    plugged_s: float | None
    charging_s: float | None
    idle_s: float | None
    idle_billed_s: float | None
    #: Under the configured tariff; None without one (or without a timeline).
    cost: Cost | None
    #: Part of the session's time is not known (stamps of a process that died before it
    #: learnt the time, see agent.tariff.Point.unsure): that stretch's energy is counted,
    #: its time is not. An operator should check the session before billing it.
    uncertain: bool = False


def figures(journal: Journal, record: TransactionRecord, tariff: Tariff | None) -> SessionFigures:
    """The figures of ``record`` (blocking: reads the journal)."""
    points = journal.timeline(record.local_id)
    try:
        counted = cost_of(tariff or _NO_PRICES, points) if points else None
    except TimelineError:  # a stamp no clock could have made: say nothing rather than wrong figures
        counted = None
    if counted is None:
        return SessionFigures(None, None, None, None, None, None)
    return SessionFigures(counted.energy_wh, counted.plugged_s, counted.charging_s, counted.idle_s,
                          counted.idle_billed_s, counted if tariff is not None else None, counted.uncertain)


def cost_fields(cost: Cost | None) -> dict[str, object] | None:
    """A cost for ``--json``: amounts as exact decimal strings (never floats)."""
    if cost is None:
        return None
    return {
        "currency": cost.currency,
        "total": str(cost.total),
        "tax": str(cost.tax),
        "energy": _plain(cost.energy),
        "charging_time": _plain(cost.charging_time),
        "idle": _plain(cost.idle),
        "fee": _plain(cost.fee),
        "idle_billed_s": round(cost.idle_billed_s, 3),
        "uncertain": cost.uncertain,
    }


def _plain(amount: Decimal) -> str:
    """An exact part, without the trailing zeros 60-digit arithmetic leaves, never in E notation."""
    text = format(amount.normalize(), "f")
    return text if text != "-0" else "0"
