"""The local tariff on the screen, as rules: the running cost the screen polls (its period,
its end at the stop, offline, the idle fee while the car stands) and the exact final
figures computed from the journal at the stop, with which cost wins.

The runtime's cost methods run against a real journal (SQLite); the screen's station is a
small double of the runtime's contract (agent.screen.feedback.Station), as in
tests/screen/test_feedback.py. The same rules end to end: tests/tariff/test_screen_cost.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agent.charger import ChargerRuntime
from agent.journal import Journal, Sample
from agent.screen import DriverFeedback
from agent.screen.feedback import COST_EVERY_S
from agent.session_costs import figures
from agent.settings.screen import OperatorSettings, ScreenSettings
from agent.store import Database
from agent.tariff import Tariff

E = "Energy.Active.Import.Register"
START = datetime(2026, 12, 6, 10, 0, tzinfo=timezone.utc)


def stamp(minutes: float) -> str:
    moment = START + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# ------------------------------------------------------------------ the screen's side


@dataclass
class Station:
    """The runtime as the screen reads it; ``costs`` is the running cost it would compute."""

    is_online: bool = True
    costs: dict[int, D] = field(default_factory=dict)
    asked: list[int] = field(default_factory=list)
    alerts: list[int] = field(default_factory=list)

    def online(self) -> bool:
        return self.is_online

    def meter(self, connector: int) -> tuple[float | None, float | None]:
        return 7.4, 1.5

    def authorized(self, connector: int) -> bool:
        return True

    def idle_alert(self, connector: int) -> None:
        self.alerts.append(connector)

    async def session_cost(self, connector: int) -> object:
        self.asked.append(connector)
        total = self.costs.get(connector)
        return None if total is None else SimpleNamespace(total=total)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(station: Station) -> tuple[DriverFeedback, Clock]:
    clock = Clock()
    feedback = DriverFeedback([1], ScreenSettings(language_seconds=4.0, finished_seconds=60),
                              OperatorSettings("Ladda", "+46 8 123"),
                              price=lambda at: "0.40 EUR/kWh", money=lambda amount: f"{amount:.2f} EUR", clock=clock)
    feedback.station = station
    return feedback, clock


def shown(feedback: DriverFeedback) -> str:
    """Every page of the 20x4 screen now, joined: the cost is on one of them."""
    return " / ".join(" | ".join(feedback.lines(20, 4, page_at=slot * 4.0)) for slot in range(4))


def charging(feedback: DriverFeedback) -> None:
    feedback.status(1, "Preparing", plugged=True)
    feedback.transaction_started(1, "tx-1")
    feedback.status(1, "Charging", plugged=True)


async def test_the_running_cost_is_asked_every_period_and_follows_it() -> None:
    station = Station(costs={1: D("0.10")})
    feedback, clock = make(station)
    charging(feedback)
    await feedback._refresh_costs(clock())
    assert "Cost 0.10 EUR" in shown(feedback) and station.asked == [1]
    station.costs[1] = D("0.52")  # the energy flowed on
    clock.now += COST_EVERY_S - 0.1
    await feedback._refresh_costs(clock())
    assert station.asked == [1] and "Cost 0.10 EUR" in shown(feedback)  # not asked again within the period
    clock.now += 0.1
    await feedback._refresh_costs(clock())
    assert station.asked == [1, 1] and "Cost 0.52 EUR" in shown(feedback)


async def test_an_offline_charger_keeps_showing_the_local_cost() -> None:
    station = Station(costs={1: D("0.10")})
    feedback, clock = make(station)
    feedback.fallback_texts(total_cost="Cost shown at the end by your operator")
    charging(feedback)
    station.is_online = False
    station.costs[1] = D("1.25")
    await feedback._refresh_costs(clock())
    text = shown(feedback)
    assert "Cost 1.25 EUR" in text and "Offline mode" in text
    assert "operator" not in text  # the fallback text stands in only for a cost that is unknown


async def test_the_stop_ends_the_polling_and_the_final_cost_is_the_records() -> None:
    station = Station(costs={1: D("0.50")})
    feedback, clock = make(station)
    charging(feedback)
    await feedback._refresh_costs(clock())
    clock.now += 3.0
    feedback.transaction_stopped(1, 1.5)  # the screen's own figures, then the record's
    feedback.final_figures(1, D("0.57"), 1.62, 65.0)
    feedback.status(1, "Finishing", plugged=True)
    text = shown(feedback)
    assert "Finished" in text and "Total 0.57 EUR" in text and "1.62 kWh" in text and "Time 0:01 h" in text
    assert "0.50" not in text
    asked = len(station.asked)
    clock.now += 10 * COST_EVERY_S
    await feedback._refresh_costs(clock())
    assert len(station.asked) == asked  # an ended session's cost is not asked for any more
    assert "Total 0.57 EUR" in shown(feedback)


async def test_a_running_cost_computed_across_the_stop_does_not_replace_the_final_one() -> None:
    feedback, clock = make(Station())

    class Slow(Station):
        async def session_cost(self, connector: int) -> object:
            feedback.transaction_stopped(1, 1.5)  # the stop lands while the cost is read
            feedback.final_figures(1, D("0.57"), 1.62, 65.0)
            return SimpleNamespace(total=D("0.50"))

    feedback.station = Slow()
    charging(feedback)
    await feedback._refresh_costs(clock())
    feedback.status(1, "Finishing", plugged=True)
    assert "Total 0.57 EUR" in shown(feedback)


async def test_a_car_asked_to_move_still_sees_its_cost_rise() -> None:
    """The idle alert takes the screen's header; the idle fee the running cost carries
    stays in view below it."""
    station = Station(costs={1: D("2.40")})
    feedback, clock = make(station)
    feedback.screen = ScreenSettings(language_seconds=4.0, idle_alert_minutes=1)
    charging(feedback)
    feedback._watch_idle(clock())
    feedback.status(1, "SuspendedEV", plugged=True)
    feedback._watch_idle(clock())
    await feedback._refresh_costs(clock())
    clock.now += 60
    feedback._watch_idle(clock())
    station.costs[1] = D("2.60")  # a minute idle at 12.00 EUR/h
    await feedback._refresh_costs(clock())
    text = shown(feedback)
    assert "Move your car" in text and "Cost 2.60 EUR" in text
    assert station.alerts == [1]  # the runtime was told once (the LEDs, the backend)


def test_the_backends_final_cost_wins_whether_it_comes_before_or_after_the_local_one() -> None:
    feedback, clock = make(Station())
    charging(feedback)
    feedback.backend_cost(1, D("0.40"))  # a running cost from the backend
    feedback.transaction_stopped(1, 1.5)
    feedback.status(1, "Finishing", plugged=True)
    assert "Cost 0.40 EUR" in shown(feedback) and "Total" not in shown(feedback)  # a running cost is no total
    feedback.final_figures(1, D("0.57"), 1.62, 65.0)
    assert "Total 0.57 EUR" in shown(feedback)  # a backend's running cost is not final: the exact local one is
    feedback.backend_cost(1, D("0.61"), final=False)  # late: still not final
    assert "Total 0.57 EUR" in shown(feedback)
    feedback.backend_cost(1, D("0.66"), final=True)
    assert "Total 0.66 EUR" in shown(feedback)

    feedback.status(1, "Preparing", plugged=True)
    charging(feedback)  # the next session: the backend's final cost comes before the local one
    feedback.backend_cost(1, D("2.10"), "2.10 EUR TTC", final=True)
    feedback.transaction_stopped(1, 1.5)
    feedback.final_figures(1, D("2.05"), 5.0, 600.0)
    feedback.status(1, "Finishing", plugged=True)
    text = shown(feedback)
    assert "2.10 EUR TTC" in text and "2.05" not in text and "5.00 kWh" in text


def test_final_figures_for_a_session_already_followed_by_another_change_nothing() -> None:
    feedback, clock = make(Station())
    charging(feedback)
    feedback.transaction_stopped(1, 1.5)
    charging(feedback)
    feedback.final_figures(1, D("9.99"), 9.0, 9.0)
    feedback.transaction_stopped(1, 0.5)
    feedback.status(1, "Finishing", plugged=True)
    assert "9.99" not in shown(feedback) and "0.50 kWh" in shown(feedback)


def test_without_a_local_tariff_the_final_figures_bring_energy_and_time_only() -> None:
    feedback, clock = make(Station())
    charging(feedback)
    feedback.transaction_stopped(1, 1.5)
    feedback.final_figures(1, None, 1.62, 3660.0)
    feedback.status(1, "Finishing", plugged=True)
    text = shown(feedback)
    assert "1.62 kWh" in text and "Time 1:01 h" in text and "Total" not in text


# ------------------------------------------------------------------ the runtime's side


@pytest.fixture
def journal(tmp_path: Path) -> Any:
    db = Database(tmp_path)
    db.open()
    yield Journal(db)
    db.close()


def runtime(journal: Journal, tariff: Tariff | None, local: int, wh: int | None = None) -> Any:
    return SimpleNamespace(tariff=tariff, local_tx={1: local}, db=journal.db, journal=journal,
                           _register_now=lambda n: wh, _running_costs={})


def charged_then_standing(journal: Journal) -> int:
    """Charging 10:00-10:30 (0 -> 6000 Wh), then the EV stands full (SuspendedEV)."""
    local = journal.begin_transaction(1, "AA", 0, stamp(0), [])
    assert journal.record_charging_state(local, stamp(0), "Charging", 0)
    journal.record_sample(local, 1, stamp(15), "Sample.Periodic", [Sample(E, 3000, "Wh")], 3000)
    assert journal.record_charging_state(local, stamp(30), "SuspendedEV", 6000)
    return local


async def test_the_idle_fee_runs_into_the_running_cost_while_the_car_stands(journal: Journal,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # 0.40/kWh, 12.00/h idle after 10 min grace: 6 kWh = 2.40; the idle fee 0.20 a minute after 10:40.
    tariff = Tariff(per_kwh=D("0.40"), per_hour_idle=D(12), idle_grace_minutes=10)
    local = charged_then_standing(journal)
    rt = runtime(journal, tariff, local, wh=6000)
    totals = []
    for minute in (35, 40, 45, 60):
        monkeypatch.setattr("agent.charger._charger_time", lambda m=minute: START + timedelta(minutes=m))
        cost = await ChargerRuntime.session_cost(rt, 1)
        totals.append(cost.total)
    assert totals == [D("2.40"), D("2.40"), D("3.40"), D("6.40")]  # free within the grace, then 0.20 a minute
    rt._register_now = lambda n: None  # the meter silent: the car still stands, the fee still runs
    monkeypatch.setattr("agent.charger._charger_time", lambda: START + timedelta(minutes=70))
    assert (await ChargerRuntime.session_cost(rt, 1)).total == D("8.40")


async def test_the_running_cost_follows_the_energy(journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    tariff = Tariff(per_kwh=D("0.40"), session_fee=D("0.50"))
    local = journal.begin_transaction(1, "AA", 0, stamp(0), [])
    assert journal.record_charging_state(local, stamp(0), "Charging", 0)
    monkeypatch.setattr("agent.charger._charger_time", lambda: START + timedelta(minutes=5))
    totals = []
    for wh in (0, 1000, 2500):
        totals.append((await ChargerRuntime.session_cost(runtime(journal, tariff, local, wh), 1)).total)
    assert totals == [D("0.50"), D("0.90"), D("1.50")]


async def test_the_final_figures_are_what_ladda_sessions_reports(journal: Journal) -> None:
    tariff = Tariff(per_kwh=D("0.40"), per_hour_charging=D("1.20"), per_hour_idle=D(12), idle_grace_minutes=10,
                    session_fee=D("0.10"))
    local = charged_then_standing(journal)
    journal.record_sample(local, 1, stamp(40), "Sample.Periodic", [Sample(E, 6010, "Wh")], 6010)
    journal.end_transaction(local, 6020, stamp(50.5), "EVDisconnected", "AA", [])
    total, kwh, seconds = await ChargerRuntime._final_figures(runtime(journal, tariff, local), local)
    record = next(r for r in journal.transactions(10) if r.local_id == local)
    reported = figures(journal, record, tariff)
    assert reported.cost is not None and total == reported.cost.total
    # 6.02 kWh x 0.40 + 0.5 h x 1.20 + 10.5 min idle billed x 12/h + 0.10 = 2.408 + 0.60 + 2.10 + 0.10
    assert total == D("5.21")
    assert kwh == pytest.approx(6.02) and kwh * 1000 == reported.energy_wh
    assert seconds == pytest.approx(50.5 * 60)
    # Without a tariff: energy and time, no cost.
    assert await ChargerRuntime._final_figures(runtime(journal, None, local), local) == (None, kwh, seconds)


async def test_no_final_figures_for_a_transaction_the_journal_does_not_know(journal: Journal) -> None:
    assert await ChargerRuntime._final_figures(runtime(journal, Tariff(), 1), 42) is None
