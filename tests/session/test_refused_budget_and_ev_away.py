"""The session machine's rules OCPP 2.0.1 adds to a transaction after its start, as tables.

MaxEnergyOnInvalidId (C15.FR.06/07, E05.FR.02/03; TC_C_15_CS to TC_C_18_CS): a
transaction the backend refused after its start charges on until it delivered that much
energy, counted from its start; then StopTxOnInvalidId decides: true ends it
(DeAuthorized), false keeps it open without energy (SuspendedEVSE). The shell feeds the
energy (EnergyDelivered); the machine decides.

EVConnectionTimeOut after the EV left (E10.FR.02; TC_E_27_CS): with
StopTxOnEVSideDisconnect false a transaction stays open while its EV is away, its
connector reports Available (2.0.1 only), and it ends with reason Timeout once the EV
stayed away the connection timeout. OCPP 1.6 keeps it open (and SuspendedEV) until the
EV or a stop comes, which the same rows show with the 2.0.1 rules off.
"""

from __future__ import annotations

import pytest

from agent.session.model import (
    AuthStatus,
    EnergyDelivered,
    OfferCurrent,
    Policy,
    ReportStatus,
    StopReason,
    StopTransaction,
    SwitchContactor,
    Tick,
    TransactionRefused,
    TransactionResumed,
    Unlock,
)
from drivers.protocols import PilotState as CP
from tests.session.test_machine import (
    AVAILABLE,
    CHARGING,
    FINISHING,
    MAX_A,
    OPEN_1,
    STARTED,
    SUSPENDED_EV,
    SUSPENDED_EVSE,
    At,
    charging,
    contactor,
    history,
    last,
    pilot,
    run,
    stops,
)

BUDGET_WH = 500.0
KEEP_ON_BUDGET = Policy(stop_on_invalid_id=False, max_energy_on_invalid_id=BUDGET_WH)
STOP_ON_BUDGET = Policy(stop_on_invalid_id=True, max_energy_on_invalid_id=BUDGET_WH)
INVALID = AuthStatus.INVALID


def refused_at(wh: float) -> TransactionRefused:
    return TransactionRefused(1, INVALID, wh)


# ---------------------------------------------------------------- MaxEnergyOnInvalidId


@pytest.mark.parametrize("policy", [KEEP_ON_BUDGET, STOP_ON_BUDGET], ids=["stop_false", "stop_true"])
def test_a_refusal_with_an_allowance_left_changes_nothing_yet(policy: Policy) -> None:
    results = run([*STARTED, *charging(1), refused_at(120.0)], count=1, policy=policy)
    assert last(results) == []  # still charging: no report, the contactor stays closed
    assert contactor(results, 1) is True


@pytest.mark.parametrize("policy", [KEEP_ON_BUDGET, STOP_ON_BUDGET], ids=["stop_false", "stop_true"])
def test_energy_under_the_allowance_changes_nothing(policy: Policy) -> None:
    results = run([*STARTED, *charging(1), refused_at(120.0), EnergyDelivered(1, 499.9)], count=1, policy=policy)
    assert last(results) == []


def test_tc_c_15_allowance_reached_with_stop_false_suspends_without_ending() -> None:
    results = run([*STARTED, *charging(1), refused_at(120.0), EnergyDelivered(1, BUDGET_WH)],
                  count=1, policy=KEEP_ON_BUDGET)
    # "has been reached": equal is enough. Contactor first, then the report.
    assert last(results) == [*OPEN_1, ReportStatus(1, SUSPENDED_EVSE)]
    assert stops(results) == []
    # The EV asking again gets nothing: the refusal now holds as without an allowance.
    again = run([*STARTED, *charging(1), refused_at(120.0), EnergyDelivered(1, 600.0), pilot(1, CP.B),
                 pilot(1, CP.C)], count=1, policy=KEEP_ON_BUDGET)
    assert last(again) == [] and contactor(again, 1) is False


def test_tc_c_18_allowance_reached_with_stop_true_ends_deauthorized() -> None:
    results = run([*STARTED, *charging(1), refused_at(0.0), EnergyDelivered(1, 650.0)],
                  count=1, policy=STOP_ON_BUDGET)
    assert last(results) == [*OPEN_1, StopTransaction(1, StopReason.DE_AUTHORIZED), Unlock(1),
                             ReportStatus(1, FINISHING)]


@pytest.mark.parametrize(
    ("policy", "expected_stops"),
    [(STOP_ON_BUDGET, [StopTransaction(1, StopReason.DE_AUTHORIZED)]), (KEEP_ON_BUDGET, [])],
    ids=["stop_true", "stop_false"],
)
def test_an_allowance_used_up_before_the_answer_acts_at_once(policy: Policy, expected_stops: list[object]) -> None:
    """A transaction started offline may have delivered more than the allowance before the
    backend's refusal comes: counted from the start, there is nothing left."""
    results = run([*STARTED, *charging(1), refused_at(BUDGET_WH + 1)], count=1, policy=policy)
    assert stops(results) == expected_stops
    assert contactor(results, 1) is False


@pytest.mark.parametrize("policy", [Policy(stop_on_invalid_id=False), Policy(stop_on_invalid_id=True)],
                         ids=["tc_c_17", "tc_c_16"])
def test_without_an_allowance_the_refusal_acts_at_once(policy: Policy) -> None:
    results = run([*STARTED, *charging(1), refused_at(0.0)], count=1, policy=policy)
    assert contactor(results, 1) is False
    assert len(stops(results)) == (1 if policy.stop_on_invalid_id else 0)


def test_energy_of_a_transaction_without_a_budget_is_ignored() -> None:
    results = run([*STARTED, *charging(1), EnergyDelivered(1, 10_000.0)], count=1, policy=STOP_ON_BUDGET)
    assert last(results) == [] and contactor(results, 1) is True


def test_the_started_event_answered_again_does_not_renew_a_used_allowance() -> None:
    results = run([*STARTED, *charging(1), refused_at(0.0), EnergyDelivered(1, BUDGET_WH), refused_at(0.0),
                   pilot(1, CP.B), pilot(1, CP.C)], count=1, policy=KEEP_ON_BUDGET)
    assert contactor(results, 1) is False
    assert history(results, 1)[-1] == SUSPENDED_EVSE


def test_a_resumed_refused_transaction_gets_what_is_left_of_its_allowance() -> None:
    """After a restart the shell resumes the transaction and tells the refusal again, with
    the energy since its start (journal): the allowance is not granted anew."""
    resumed = [*STARTED, pilot(1, CP.C), TransactionResumed(1, "T1", None)]
    left = run([*resumed, refused_at(300.0), EnergyDelivered(1, 499.0)], count=1, policy=KEEP_ON_BUDGET)
    assert contactor(left, 1) is True
    used = run([*resumed, refused_at(300.0), EnergyDelivered(1, 500.0)], count=1, policy=KEEP_ON_BUDGET)
    assert contactor(used, 1) is False and history(used, 1)[-1] == SUSPENDED_EVSE


# ---------------------------------------------------------------- E10: the EV away


TIMEOUT_S = 30.0
V201_AWAY = Policy(stop_on_ev_disconnect=False, connection_timeout=TIMEOUT_S, ev_away_timeout=True,
                   ev_away_available=True)
V16_AWAY = Policy(stop_on_ev_disconnect=False, connection_timeout=TIMEOUT_S)


def test_tc_e_27_the_transaction_ends_once_the_ev_stayed_away_the_timeout() -> None:
    # charging(1) takes t=1..4; the EV leaves at t=5.
    events = [*STARTED, *charging(1), pilot(1, CP.A), At(5 + TIMEOUT_S - 0.5), Tick()]
    early = run(events, count=1, policy=V201_AWAY)
    assert stops(early) == []
    assert history(early, 1)[-1] == AVAILABLE  # step 3: nothing plugged in, the transaction open
    results = run([*events, At(5 + TIMEOUT_S), Tick()], count=1, policy=V201_AWAY)
    # The offer kept for the EV's return goes; the status is Available already.
    assert last(results) == [OfferCurrent(1, 0.0), StopTransaction(1, StopReason.TIMEOUT), Unlock(1)]
    assert history(results, 1)[-2:] == [CHARGING, AVAILABLE]


def test_tc_e_27_cable_kept_locked_when_unlock_on_ev_side_disconnect_is_false() -> None:
    policy = Policy(stop_on_ev_disconnect=False, unlock_on_ev_disconnect=False, connection_timeout=TIMEOUT_S,
                    ev_away_timeout=True, ev_away_available=True)
    results = run([*STARTED, *charging(1), pilot(1, CP.A), At(100.0), Tick()], count=1, policy=policy)
    assert last(results) == [OfferCurrent(1, 0.0), StopTransaction(1, StopReason.TIMEOUT)]


def test_tc_e_26_the_ev_back_in_time_resumes_and_the_clock_starts_again() -> None:
    events = [*STARTED, *charging(1), pilot(1, CP.A), At(20.0), pilot(1, CP.B), pilot(1, CP.C)]
    back = run(events, count=1, policy=V201_AWAY)
    assert last(back) == [SwitchContactor(1, True), ReportStatus(1, CHARGING)]
    # It left again at t=40: the timeout counts from then, not from the first leaving.
    again = run([*events, At(40.0), pilot(1, CP.A), At(40 + TIMEOUT_S - 1), Tick()], count=1, policy=V201_AWAY)
    assert stops(again) == []
    ended = run([*events, At(40.0), pilot(1, CP.A), At(40 + TIMEOUT_S), Tick()], count=1, policy=V201_AWAY)
    assert stops(ended) == [StopTransaction(1, StopReason.TIMEOUT)]


def test_ocpp16_keeps_the_transaction_open_and_suspended_ev() -> None:
    results = run([*STARTED, *charging(1), pilot(1, CP.A), At(10 * TIMEOUT_S), Tick()], count=1, policy=V16_AWAY)
    assert stops(results) == []
    assert history(results, 1)[-1] == SUSPENDED_EV
    assert last(results) == []


def test_a_refused_transaction_without_its_ev_also_shows_available() -> None:
    policy = Policy(stop_on_ev_disconnect=False, stop_on_invalid_id=False, ev_away_timeout=True,
                    ev_away_available=True, connection_timeout=TIMEOUT_S)
    results = run([*STARTED, *charging(1), refused_at(0.0), pilot(1, CP.A)], count=1, policy=policy)
    assert history(results, 1)[-2:] == [SUSPENDED_EVSE, AVAILABLE]
    assert OfferCurrent(1, MAX_A) not in last(results)
