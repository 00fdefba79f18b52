"""A reset of one connector (OCPP 2.0.1 B11/B12 with an evseId) in the pure machine:
events in, the actions and statuses the hardware and a backend see out."""

from __future__ import annotations

from agent.session.model import (
    ConnectorResetDone,
    ConnectorResetRequested,
    RemoteStartRequested,
    Reply,
    ReportStatus,
    ResetConnector,
    StopAllRequested,
    StopReason,
    StopTransaction,
    Unlock,
)
from drivers.protocols import PilotState as CP
from tests.session.test_machine import (
    AVAILABLE,
    CHARGING,
    OPEN_1,
    PREPARING,
    STARTED,
    UNAVAILABLE,
    accepted,
    card,
    charging,
    history,
    last,
    pilot,
    run,
    starts,
    stops,
)


def reset(connector: int, immediate: bool = False) -> ConnectorResetRequested:
    return ConnectorResetRequested(connector, immediate)


def test_an_idle_connector_goes_unavailable_until_it_is_set_up_afresh() -> None:
    results = run([*STARTED, reset(1), ConnectorResetDone(1)])
    assert results[-2][1] == [Reply("Accepted"), ResetConnector(1), ReportStatus(1, UNAVAILABLE)]
    assert last(results) == [ReportStatus(1, AVAILABLE)]
    assert history(results, 2) == [AVAILABLE]  # the other connector heard nothing


def test_an_unknown_connector_is_rejected() -> None:
    assert last(run([*STARTED, reset(3, immediate=True)])) == [Reply("Rejected")]


def test_an_authorization_waiting_for_an_ev_is_dropped() -> None:
    results = run([*STARTED, card("T1"), accepted("T1"), reset(1), ConnectorResetDone(1), pilot(1, CP.B)])
    assert starts(results) == []
    assert history(results, 1) == [AVAILABLE, PREPARING, UNAVAILABLE, AVAILABLE, PREPARING]


def test_no_session_begins_while_the_connector_is_being_set_up() -> None:
    results = run([*STARTED, pilot(1, CP.B), reset(1), RemoteStartRequested("T1", 1), card("T2"), accepted("T2")])
    assert results[-3][1] == [Reply("Rejected")]
    assert starts(results) == []


def test_immediate_ends_the_transaction_first_and_the_other_connector_charges_on() -> None:
    results = run([*STARTED, *charging(1, "T1"), *charging(2, "T2"), reset(1, immediate=True)])
    assert last(results) == [
        *OPEN_1,
        Reply("Accepted"),
        StopTransaction(1, StopReason.CONNECTOR_RESET),
        Unlock(1),
        ResetConnector(1),
        ReportStatus(1, UNAVAILABLE),
    ]
    assert history(results, 2)[-1] is CHARGING


def test_on_idle_waits_for_the_transaction_which_keeps_its_reason() -> None:
    results = run([*STARTED, *charging(1, "T1"), reset(1), reset(1)])
    assert [last(results), results[-2][1]] == [[Reply("Scheduled")], [Reply("Scheduled")]]
    results = run([*STARTED, *charging(1, "T1"), reset(1), card("T1"), ConnectorResetDone(1)])
    stop_step = results[-2][1]
    assert stops(results) == [StopTransaction(1, StopReason.LOCAL, "T1")]
    assert stop_step.index(ResetConnector(1)) > stop_step.index(StopTransaction(1, StopReason.LOCAL, "T1"))
    assert history(results, 1)[-2:] == [UNAVAILABLE, PREPARING]  # the EV is still plugged in


def test_immediate_goes_ahead_of_a_scheduled_reset_once() -> None:
    results = run([*STARTED, *charging(1, "T1"), reset(1), reset(1, immediate=True), ConnectorResetDone(1),
                   pilot(1, CP.A)])
    assert stops(results) == [StopTransaction(1, StopReason.CONNECTOR_RESET)]
    assert [a for _, acts in results for a in acts if isinstance(a, ResetConnector)] == [ResetConnector(1)]


def test_a_station_reset_takes_over_a_scheduled_one() -> None:
    results = run([*STARTED, *charging(1, "T1"), reset(1), StopAllRequested(StopReason.SOFT_RESET)])
    assert stops(results) == [StopTransaction(1, StopReason.SOFT_RESET)]
    assert ResetConnector(1) not in last(results)
