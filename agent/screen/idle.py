"""When a car only blocks the bay: the idle alert's rule, pure (time passed in).

The same idle stretch the bill counts (agent/tariff/cost.py): a connector's transaction
is idle when its car is plugged in, authorized and draws no energy after it had charged:
SuspendedEV (the car stopped: full, or a timer), or Preparing again (OCPP 2.0.1's
EVConnected) after Charging. A car that never charged is neither told nor billed. A limit
of the charger's holding the energy back (SuspendedEVSE: load management toggling the
offer while the car is full) is not the driver's doing: it does not count, and it only
pauses the stretch, never restarts it. After ``after_s`` of idle time in one stretch the
alert starts, once; charging again, or the car leaving, ends the stretch, and a later one
may alert again. A transaction resumed after a restart keeps what the
journal says (agent.charger: whether it charged, whether its stretch was alerted), so the
alert is given once per stretch across a restart too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

#: The statuses of a running transaction whose car draws nothing of its own accord.
IDLE_STATUSES = frozenset({"SuspendedEV", "Preparing"})
#: The status of the charger's own hold: it pauses an idle stretch.
PAUSING_STATUS = "SuspendedEVSE"


@dataclass(frozen=True, slots=True)
class Idle:
    """One connector's idle bookkeeping."""

    charged: bool = False  # the running transaction has charged at some point
    since: float | None = None  # when the present idle stretch began
    alerted: bool = False  # the alert of the present stretch was given
    idle_s: float = 0.0  # idle time of the present stretch up to ``last``
    last: float | None = None  # when the stretch was last seen idle; None while paused


def idle_step(idle: Idle, *, running: bool, authorized: bool, plugged: bool, status: str | None,
              now: float, after_s: float) -> tuple[Idle, bool]:
    """The next bookkeeping, and True exactly when the alert starts now. ``after_s`` 0
    turns the alert off."""
    if not running:
        return Idle(), False
    if status is None:
        return idle, False  # not reported yet (a restart): what was known stands
    if status == "Charging" or not plugged:  # charging again, or the car left: the stretch ends
        return Idle(charged=idle.charged or status == "Charging"), False
    if after_s <= 0 or not idle.charged:
        return Idle(charged=idle.charged), False
    if not (authorized and status in IDLE_STATUSES):
        # The charger's hold (or a status that says nothing of the car): the stretch pauses,
        # keeping the idle time up to now.
        return replace(idle, idle_s=_counted(idle, now), last=None), False
    idle_s = _counted(idle, now)
    since = idle.since if idle.since is not None else now
    if not idle.alerted and idle_s >= after_s:
        return Idle(True, since, True, idle_s, now), True
    return Idle(True, since, idle.alerted, idle_s, now), False


def _counted(idle: Idle, now: float) -> float:
    """The stretch's idle time up to ``now`` (the time since it was last seen idle counts)."""
    return idle.idle_s + (now - idle.last if idle.last is not None else 0.0)
