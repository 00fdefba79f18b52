"""When a car only blocks the bay: the idle alert's rule, pure (time passed in).

A connector's transaction is idle when its car is plugged in, authorized and draws no
energy after it had charged: SuspendedEV (the car stopped: full, or a timer), or
Preparing again (OCPP 2.0.1's EVConnected) after Charging. A limit of the charger's
holding the energy back (SuspendedEVSE) is not the driver's doing and never counts. After
``after_s`` of one idle stretch the alert starts, once; charging again, or the car
leaving, ends the stretch, and a later one may alert again. A transaction resumed after a
restart keeps what the journal says (agent.charger: whether it charged, whether its
stretch was alerted), so the alert is given once per stretch across a restart too.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The statuses of a running transaction whose car draws nothing of its own accord.
IDLE_STATUSES = frozenset({"SuspendedEV", "Preparing"})


@dataclass(frozen=True, slots=True)
class Idle:
    """One connector's idle bookkeeping."""

    charged: bool = False  # the running transaction has charged at some point
    since: float | None = None  # when the present idle stretch began
    alerted: bool = False  # the alert of the present stretch was given


def idle_step(idle: Idle, *, running: bool, authorized: bool, plugged: bool, status: str | None,
              now: float, after_s: float) -> tuple[Idle, bool]:
    """The next bookkeeping, and True exactly when the alert starts now. ``after_s`` 0
    turns the alert off."""
    if not running:
        return Idle(), False
    if status is None:
        return idle, False  # not reported yet (a restart): what was known stands
    if status == "Charging":
        return Idle(charged=True), False
    if not (idle.charged and authorized and plugged and status in IDLE_STATUSES) or after_s <= 0:
        return Idle(charged=idle.charged), False
    since = idle.since if idle.since is not None else now
    if not idle.alerted and now - since >= after_s:
        return Idle(True, since, True), True
    return Idle(True, since, idle.alerted), False
