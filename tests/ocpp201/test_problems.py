"""Fault events (agent/ocpp201/problems.py): what was told and the eventId counter live
on in the notes, so a raise told is cleared whatever happened in between."""

from __future__ import annotations

from pathlib import Path

from agent.ocpp201.problems import PROBLEMS_NOTE, ProblemReports
from agent.store import ChargerState, Database


def test_a_raise_told_by_one_run_is_cleared_by_the_next_with_new_ids(tmp_path: Path) -> None:
    db = Database(tmp_path)
    db.open()
    try:
        state = ChargerState(db)
        first = ProblemReports.load(state)
        [raised] = first.events(1, "PowerSwitchFailure", "t0")
        first.save(state)
        again = ProblemReports.load(state)  # a restart (or a long outage: the same table)
        assert again.events(1, "PowerSwitchFailure", "t1") == []  # still the same fault: nothing new
        [cleared] = again.events(1, "NoError", "t2")
        assert (raised["component"], raised["actualValue"]) == ({"name": "PowerContactor", "evse": {"id": 1,
                                                                                             "connectorId": 1}}, "true")
        assert (cleared["component"], cleared["actualValue"], cleared["cleared"]) == (raised["component"], "false", True)
        assert cleared["eventId"] > raised["eventId"]
    finally:
        db.close()


def test_a_change_lost_with_the_link_is_told_again() -> None:
    reports = ProblemReports()
    [raised] = reports.events(2, "GroundFailure", "t0")
    reports.restore(2, "NoError")  # the NotifyEvent never got through
    [again] = reports.events(2, "GroundFailure", "t1")
    assert again["eventId"] == raised["eventId"] + 1 and again["actualValue"] == "true"
    [cleared] = reports.events(2, "NoError", "t2")
    reports.restore(2, "GroundFailure")
    assert reports.events(2, "NoError", "t3")[0]["eventId"] == cleared["eventId"] + 1


def test_an_unreadable_note_is_a_fresh_start(tmp_path: Path) -> None:
    db = Database(tmp_path)
    db.open()
    try:
        state = ChargerState(db)
        state.leave_note(PROBLEMS_NOTE, "{not json")
        assert ProblemReports.load(state) == ProblemReports()
        state.leave_note(PROBLEMS_NOTE, '{"told": {"3": "ReaderFailure"}, "next_id": 41}')
        loaded = ProblemReports.load(state)
        assert (loaded.told, loaded.next_id) == ({3: "ReaderFailure"}, 41)
    finally:
        db.close()


def test_an_unknown_code_names_the_evse_or_the_station() -> None:
    reports = ProblemReports()
    assert reports.events(1, "OtherError", "t")[0]["component"] == {"name": "EVSE", "evse": {"id": 1}}
    assert reports.events(0, "OtherError", "t")[0]["component"] == {"name": "ChargingStation"}
