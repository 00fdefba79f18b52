"""The idle alert's rule, as a table of what a connector does over time."""

from __future__ import annotations

from agent.screen.idle import Idle, idle_step

AFTER = 60.0


def run(steps: list[tuple[float, str | None, bool, bool]], running: bool = True) -> list[float]:
    """Feed (time, status, plugged, authorized) in order; return the times an alert started."""
    idle, alerts = Idle(), []
    for now, status, plugged, authorized in steps:
        idle, alert = idle_step(idle, running=running, authorized=authorized, plugged=plugged, status=status,
                                now=now, after_s=AFTER)
        if alert:
            alerts.append(now)
    return alerts


def test_alert_once_after_the_idle_time_when_the_car_stopped_drawing() -> None:
    steps = [(0, "Charging", True, True), (10, "SuspendedEV", True, True), (69, "SuspendedEV", True, True),
             (70, "SuspendedEV", True, True), (71, "SuspendedEV", True, True), (500, "SuspendedEV", True, True)]
    assert run(steps) == [70]


def test_evconnected_after_charging_counts_as_idle() -> None:
    assert run([(0, "Charging", True, True), (5, "Preparing", True, True), (65, "Preparing", True, True)]) == [65]


def test_never_charged_never_idle() -> None:
    """A car that never drew energy (a timer set for the night) is not told to leave."""
    assert run([(0, "SuspendedEV", True, True), (1000, "SuspendedEV", True, True)]) == []


def test_a_limit_holding_energy_back_is_not_the_drivers_idle_time() -> None:
    assert run([(0, "Charging", True, True), (1, "SuspendedEVSE", True, True), (500, "SuspendedEVSE", True, True)]) == []


def test_charging_again_ends_the_stretch_and_a_new_one_alerts_again() -> None:
    steps = [(0, "Charging", True, True), (10, "SuspendedEV", True, True), (70, "SuspendedEV", True, True),
             (80, "Charging", True, True), (90, "SuspendedEV", True, True), (149, "SuspendedEV", True, True),
             (150, "SuspendedEV", True, True)]
    assert run(steps) == [70, 150]


def test_unplugged_or_refused_or_no_transaction_never_alerts() -> None:
    assert run([(0, "Charging", True, True), (10, "SuspendedEV", False, True), (100, "SuspendedEV", False, True)]) == []
    assert run([(0, "Charging", True, True), (10, "SuspendedEV", True, False), (100, "SuspendedEV", True, False)]) == []
    assert run([(0, "Charging", True, True), (10, "SuspendedEV", True, True), (100, "SuspendedEV", True, True)],
               running=False) == []


def test_zero_minutes_turns_it_off() -> None:
    idle = Idle(charged=True)
    for now in (0.0, 1e6):
        idle, alert = idle_step(idle, running=True, authorized=True, plugged=True, status="SuspendedEV", now=now,
                                after_s=0.0)
        assert not alert


def test_a_status_not_reported_yet_keeps_what_was_known() -> None:
    alerted = Idle(charged=True, since=0.0, alerted=True)
    assert idle_step(alerted, running=True, authorized=True, plugged=True, status=None, now=5.0,
                     after_s=AFTER) == (alerted, False)


def test_a_short_hold_of_the_charger_pauses_the_stretch_and_does_not_restart_it() -> None:
    """Load management toggles the offer while the car is full: SuspendedEV, a minute of
    SuspendedEVSE, SuspendedEV. The hold does not count, and the stretch goes on."""
    steps = [(0, "Charging", True, True), (10, "SuspendedEV", True, True), (40, "SuspendedEVSE", True, True),
             (100, "SuspendedEVSE", True, True), (101, "SuspendedEV", True, True), (130, "SuspendedEV", True, True),
             (131, "SuspendedEV", True, True), (200, "SuspendedEVSE", True, True), (300, "SuspendedEV", True, True)]
    assert run(steps) == [131]  # 30 s idle, the hold, 30 more: 60 at 131; alerted once for the stretch
