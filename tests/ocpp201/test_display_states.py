"""Which backend messages limited to a state (OCPP 2.0.1 MessageStateEnumType) a
connector shows, over the real message board on a real SQLite state database: a
transaction that runs before the car draws (TxStartPoint Authorized or EVConnected:
status Preparing) or after it stopped drawing is "Charging", never "Idle"."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from agent.screen import DriverFeedback, DriverMessage
from agent.screen.board import MessageBoard
from agent.screen.feedback import message_state
from agent.store import Database


@pytest.mark.parametrize(("status", "running", "state"), [
    ("Available", False, "Idle"), ("Preparing", False, "Idle"), ("Finishing", False, "Idle"),
    ("Reserved", False, "Idle"), (None, False, "Idle"),
    ("Preparing", True, "Charging"), ("Charging", True, "Charging"), ("SuspendedEV", True, "Charging"),
    ("SuspendedEVSE", True, "Charging"), ("Faulted", True, "Faulted"), ("Faulted", False, "Faulted"),
    ("Unavailable", False, "Unavailable"),
])
def test_message_state_of_a_connector(status: str | None, running: bool, state: str) -> None:
    assert message_state(status, running) == state


def _all_pages(feedback: DriverFeedback) -> list[str]:
    """Every line of every page of the cycle (4 s pages by default; 20 pages is plenty)."""
    return [line for n in range(20) for line in feedback.lines(20, 4, page_at=n * 4.0)]


def test_a_transaction_waiting_for_its_car_shows_the_charging_messages_not_the_idle_ones(tmp_path: Path) -> None:
    db = Database(tmp_path)
    db.open()
    try:
        board = MessageBoard(db)
        board.put(DriverMessage(1, "while charging", state="Charging"))
        board.put(DriverMessage(2, "while idle", state="Idle"))
        feedback = DriverFeedback([1])
        feedback.board = board
        feedback.status(1, "Preparing", plugged=True)
        idle = _all_pages(feedback)
        assert "while idle" in idle and "while charging" not in idle
        feedback.transaction_started(1, "tx-1")  # authorized; the car has not drawn yet
        waiting = _all_pages(feedback)
        assert "while charging" in waiting and "while idle" not in waiting
        feedback.transaction_stopped(1, 0.0)
        feedback.status(1, "Available")
        after = _all_pages(feedback)
        assert "while idle" in after and "while charging" not in after
    finally:
        db.close()


def _finished_page(feedback: DriverFeedback) -> list[str]:
    return [line for n in range(6) for line in feedback.lines(20, 4, page_at=n * 4.0)]


class _Offline:
    """The runtime's side the screen reads (agent.screen.feedback.Station), the backend out of reach."""

    def __init__(self) -> None:
        self.up = True

    def online(self) -> bool:
        return self.up

    def meter(self, connector: int) -> tuple[float | None, float | None]:
        return 7.4, 1.5

    def authorized(self, connector: int) -> bool:
        return True

    def idle_alert(self, connector: int) -> None:
        pass

    def session_cost(self, connector: int) -> None:
        return None


def test_a_running_cost_is_no_total_the_fallback_says_why_there_is_none() -> None:
    """TC_I_02_CS's other side: the final cost comes with the Ended event's answer; until
    it does (offline: not at all) the session's last running cost is not shown as its
    total: it reads as the cost so far, with TotalCostFallbackMessage beside it."""
    feedback = DriverFeedback([1])
    feedback.station = station = _Offline()
    feedback.fallback_texts(price="Price: see app", total_cost="See your invoice")
    feedback.status(1, "Charging", plugged=True)
    feedback.transaction_started(1, "tx-1")
    feedback.backend_cost(1, Decimal("1.10"), "1.10 EUR")
    charging = _finished_page(feedback)
    assert "Cost 1.10 EUR" in charging and "See your invoice" not in charging
    station.up = False
    feedback.transaction_stopped(1, 1.5)
    feedback.status(1, "Finishing", plugged=True)
    finished = _finished_page(feedback)
    assert "Finished" in finished and "See your invoice" in finished, finished
    assert "Cost 1.10 EUR" in finished and not any("Total" in line for line in finished), finished
    feedback.backend_cost(1, Decimal("1.35"), "1.35 EUR", final=True)  # the Ended event answered, late
    finished = _finished_page(feedback)
    assert "Total 1.35 EUR" in finished and "See your invoice" not in finished, finished


def test_offline_a_session_without_a_cost_reads_the_fallback_online_it_reads_nothing() -> None:
    feedback = DriverFeedback([1])
    feedback.station = station = _Offline()
    feedback.fallback_texts(total_cost="See your invoice")
    feedback.status(1, "Charging", plugged=True)
    feedback.transaction_started(1, "tx-1")
    assert "See your invoice" not in _finished_page(feedback)
    station.up = False
    assert "See your invoice" in _finished_page(feedback)
