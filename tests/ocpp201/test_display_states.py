"""Which backend messages limited to a state (OCPP 2.0.1 MessageStateEnumType) a
connector shows, over the real message board on a real SQLite state database: a
transaction that runs before the car draws (TxStartPoint Authorized or EVConnected:
status Preparing) or after it stopped drawing is "Charging", never "Idle"."""

from __future__ import annotations

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
