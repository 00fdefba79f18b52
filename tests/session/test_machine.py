"""The session state machine as tables: events in, the actions and statuses a backend
and the hardware would see out.

Expectations come from OCPP 1.6 (section 3 transactions, section 4.9 StatusNotification,
the conformance test cases named in each row) and the IEC 61851-1 control pilot states,
not from the implementation. Where order matters (the contactor opens before anything
is reported; StartTransaction before the status that follows from it) the whole action
list is compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pytest

from agent.session.machine import step
from agent.session.model import (
    Action,
    AuthorizationResolved,
    Authorize,
    AuthStatus,
    AvailabilityRequested,
    CardPresented,
    CardRejected,
    Charger,
    Event,
    FaultCleared,
    FaultRaised,
    HoldRequested,
    OfferCurrent,
    PersistAvailability,
    PilotChanged,
    Policy,
    PolicyChanged,
    RemoteStartRequested,
    RemoteStopRequested,
    Reply,
    ReportStatus,
    Started,
    StartTransaction,
    Status,
    StopAllRequested,
    StopReason,
    StopTransaction,
    SwitchContactor,
    Tick,
    TransactionConfirmed,
    TransactionRefused,
    TransactionResumed,
    Unlock,
    UnlockRequested,
)
from drivers.protocols import PilotState as CP

MAX_A = Policy().max_current
EV_COMM = "EVCommunicationError"

AVAILABLE = Status.AVAILABLE
PREPARING = Status.PREPARING
CHARGING = Status.CHARGING
SUSPENDED_EV = Status.SUSPENDED_EV
SUSPENDED_EVSE = Status.SUSPENDED_EVSE
FINISHING = Status.FINISHING
UNAVAILABLE = Status.UNAVAILABLE
FAULTED = Status.FAULTED


# ---------------------------------------------------------------- harness


@dataclass(frozen=True)
class At:
    """Not an event: the events after it happen from time ``t`` on (seconds)."""

    t: float


class _AnyText:
    """Matches any free-form text (the driver-facing reason of a rejected card)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str)

    def __repr__(self) -> str:
        return "<any text>"


ANY_TEXT = _AnyText()

Run = list[tuple[Event, list[Action]]]


def run(
    events: Iterable[Event | At],
    count: int = 2,
    policy: Policy = Policy(),
    inoperative: frozenset[int] = frozenset(),
) -> Run:
    """Feed the events to a fresh charger one second apart; return (event, actions) pairs."""
    charger = Charger.new(count, policy, inoperative)
    now = 0.0
    results: Run = []
    for item in events:
        if isinstance(item, At):
            now = item.t
            continue
        charger, actions = step(charger, item, now)
        results.append((item, actions))
        now += 1.0
    return results


def last(results: Run) -> list[Action]:
    return results[-1][1]


def actions(results: Run) -> list[Action]:
    return [action for _, acts in results for action in acts]


def history(results: Run, connector: int) -> list[Status | tuple[Status, str]]:
    """Every status reported for the connector, in order; with its error code when not NoError."""
    out: list[Status | tuple[Status, str]] = []
    for action in actions(results):
        if isinstance(action, ReportStatus) and action.connector == connector:
            out.append(action.status if action.error_code == "NoError" else (action.status, action.error_code))
    return out


def starts(results: Run) -> list[StartTransaction]:
    return [a for a in actions(results) if isinstance(a, StartTransaction)]


def stops(results: Run) -> list[StopTransaction]:
    return [a for a in actions(results) if isinstance(a, StopTransaction)]


def contactor(results: Run, connector: int) -> bool:
    """The contactor's commanded position after the run (open at power-up)."""
    closed = False
    for action in actions(results):
        if isinstance(action, SwitchContactor) and action.connector == connector:
            closed = action.closed
    return closed


# Short names so each table row reads as a story.
def pilot(connector: int, state: CP) -> PilotChanged:
    return PilotChanged(connector, state)


def card(tag: str) -> CardPresented:
    return CardPresented(tag)


def accepted(tag: str, parent: str | None = None) -> AuthorizationResolved:
    return AuthorizationResolved(tag, AuthStatus.ACCEPTED, parent)


def refused(tag: str, status: AuthStatus = AuthStatus.INVALID, parent: str | None = None) -> AuthorizationResolved:
    return AuthorizationResolved(tag, status, parent)


def remote_start(tag: str, connector: int | None) -> RemoteStartRequested:
    return RemoteStartRequested(tag, connector)


def charging(connector: int = 1, tag: str = "T1", parent: str | None = None) -> list[Event]:
    """Plug-in first, card accepted, EV asks for power: the connector is Charging."""
    return [pilot(connector, CP.B), card(tag), accepted(tag, parent), pilot(connector, CP.C)]


STARTED: list[Event] = [Started()]
NO_STOP_ON_UNPLUG = Policy(stop_on_ev_disconnect=False)
NO_UNLOCK_ON_UNPLUG = Policy(unlock_on_ev_disconnect=False)
KEEP_INVALID = Policy(stop_on_invalid_id=False)
AUTHORIZE_REMOTE = Policy(authorize_remote_start=True)

# What opening connector 1 (or 2) for safety looks like: contactor first, then no offer.
OPEN_1: list[Action] = [SwitchContactor(1, False), OfferCurrent(1, 0.0)]
OPEN_2: list[Action] = [SwitchContactor(2, False), OfferCurrent(2, 0.0)]


# ---------------------------------------------------------------- last-event tables


@dataclass(frozen=True)
class Case:
    name: str
    events: Sequence[Event | At]
    expected: list[Action]
    count: int = 2
    policy: Policy = Policy()
    inoperative: frozenset[int] = frozenset()


def _check(case: Case) -> Run:
    results = run(case.events, case.count, case.policy, case.inoperative)
    assert last(results) == case.expected
    return results


def _ids(cases: Sequence[Case]) -> list[str]:
    return [c.name for c in cases]


START_CASES = [
    Case(
        "power_up_reports_charger_and_every_connector",
        STARTED,
        [ReportStatus(0, AVAILABLE), ReportStatus(1, AVAILABLE), ReportStatus(2, AVAILABLE)],
    ),
    Case("tc_003_plug_in_is_preparing", [*STARTED, pilot(1, CP.B)], [ReportStatus(1, PREPARING)], count=1),
    Case("tc_003_card_asks_authorization", [*STARTED, pilot(1, CP.B), card("T1")], [Authorize("T1")], count=1),
    Case(
        "tc_003_accepted_card_starts_and_offers_current",
        [*STARTED, pilot(1, CP.B), card("T1"), accepted("T1")],
        [StartTransaction(1, "T1"), OfferCurrent(1, MAX_A)],
        count=1,
    ),
    Case(
        "tc_003_ev_in_c_closes_contactor_and_charges",
        [*STARTED, *charging(1)],
        [SwitchContactor(1, True), ReportStatus(1, CHARGING)],
        count=1,
    ),
    Case(
        "tc_003_two_connectors_card_goes_to_the_plugged_one",
        [*STARTED, pilot(2, CP.B), card("T1"), accepted("T1")],
        [StartTransaction(2, "T1"), OfferCurrent(2, MAX_A)],
    ),
    Case(
        "tc_003_two_connectors_ev_on_2_charges",
        [*STARTED, *charging(2)],
        [SwitchContactor(2, True), ReportStatus(2, CHARGING)],
    ),
    Case(
        "tc_004_1_accepted_card_without_ev_is_preparing",
        [*STARTED, card("T1"), accepted("T1")],
        [ReportStatus(1, PREPARING)],
        count=1,
    ),
    Case(
        "tc_004_1_plug_after_card_starts",
        [*STARTED, card("T1"), accepted("T1"), pilot(1, CP.B)],
        [StartTransaction(1, "T1"), OfferCurrent(1, MAX_A)],
        count=1,
    ),
    Case(
        "tc_004_1_then_ev_in_c_charges",
        [*STARTED, card("T1"), accepted("T1"), pilot(1, CP.B), pilot(1, CP.C)],
        [SwitchContactor(1, True), ReportStatus(1, CHARGING)],
        count=1,
    ),
    Case(
        "tc_004_1_ev_already_asking_for_power_starts_then_charges",
        [*STARTED, card("T1"), accepted("T1"), pilot(1, CP.C)],
        [StartTransaction(1, "T1"), OfferCurrent(1, MAX_A), SwitchContactor(1, True), ReportStatus(1, CHARGING)],
        count=1,
    ),
    Case(
        "tc_004_1_two_connectors_plug_on_1",
        [*STARTED, card("T1"), accepted("T1"), pilot(1, CP.B)],
        [StartTransaction(1, "T1"), OfferCurrent(1, MAX_A)],
    ),
    Case(
        "tc_004_1_two_connectors_authorization_follows_ev_to_2",
        [*STARTED, card("T1"), accepted("T1"), pilot(2, CP.B)],
        # Connector 2 is no longer available, and its EV has yet to answer the offer:
        # Preparing, as on connector 1 in TC_004_1 (SuspendedEV only after the grace).
        [
            StartTransaction(2, "T1"),
            OfferCurrent(2, MAX_A),
            ReportStatus(1, AVAILABLE),
            ReportStatus(2, PREPARING),
        ],
    ),
    Case(
        "tc_023_4_invalid_card_is_rejected",
        [*STARTED, pilot(1, CP.B), card("T9"), refused("T9")],
        [CardRejected("T9", ANY_TEXT)],
        count=1,
    ),
    Case(
        "blocked_card_without_ev_leaves_connector_available",
        [*STARTED, card("T9"), refused("T9", AuthStatus.BLOCKED)],
        [CardRejected("T9", ANY_TEXT)],
        count=1,
    ),
    Case(
        "card_while_the_only_connector_is_busy_is_rejected",
        [*STARTED, *charging(1), card("T2"), accepted("T2")],
        [CardRejected("T2", ANY_TEXT)],
        count=1,
    ),
    Case(
        "same_card_again_before_the_ev_arrives_cancels",
        [*STARTED, card("T1"), accepted("T1"), card("T1")],
        [ReportStatus(1, AVAILABLE)],
        count=1,
    ),
]


@pytest.mark.parametrize("case", START_CASES, ids=_ids(START_CASES))
def test_start_session(case: Case) -> None:
    _check(case)


def test_tc_004_2_connection_timeout_cancels_identification_first() -> None:
    policy = Policy(connection_timeout=30.0)
    # The card is accepted at t=10: the EV has until t=40.
    head: list[Event | At] = [*STARTED, card("T1"), At(10.0), accepted("T1")]
    assert history(run(head, 1, policy), 1) == [AVAILABLE, PREPARING]

    before = run([*head, At(39.0), Tick()], 1, policy)
    assert last(before) == []
    assert history(before, 1) == [AVAILABLE, PREPARING]

    after = run([*head, At(41.0), Tick()], 1, policy)
    assert last(after) == [ReportStatus(1, AVAILABLE)]

    late_ev = run([*head, At(41.0), Tick(), pilot(1, CP.B), pilot(1, CP.C)], 1, policy)
    assert last(late_ev) == []
    assert history(late_ev, 1) == [AVAILABLE, PREPARING, AVAILABLE, PREPARING]
    assert starts(late_ev) == []
    assert not contactor(late_ev, 1)


def test_tc_004_2_ev_in_time_starts() -> None:
    policy = Policy(connection_timeout=30.0)
    # Plugged in at t=40, before the deadline; the EV then stays in B past the grace.
    events = [*STARTED, card("T1"), At(10.0), accepted("T1"), At(39.0), Tick(), pilot(1, CP.B), At(43.0), Tick()]
    results = run(events, 1, policy)
    assert starts(results) == [StartTransaction(1, "T1")]
    assert history(results, 1) == [AVAILABLE, PREPARING, SUSPENDED_EV]


# ---------------------------------------------------------------- the EV's answer to a new offer

# IEC 61851-1: an EV in B answers a new PWM offer by moving to C within a few seconds.
# Until it has had that time, a backend must not hear SuspendedEV ("the EV refuses
# energy"): TC_003 and TC_004_1 expect Preparing then Charging. An EV that stays in B
# past the grace is reported SuspendedEV by the next event (the shell ticks every second).
GRACE_S = 3.0
T0 = 10.0  # when each start path below starts its transaction


@dataclass(frozen=True)
class StartPath:
    """A way a transaction starts with the EV in B; the last event happens at T0."""

    name: str
    head: Sequence[Event | At]
    connector: int
    #: What the starting event does: start, then offer, no contactor, no report yet.
    start: list[Action]
    policy: Policy = Policy()


START_PATHS = [
    StartPath(
        "tc_003_plug_then_card",
        [*STARTED, pilot(1, CP.B), card("T1"), At(T0), accepted("T1")],
        1,
        [StartTransaction(1, "T1"), OfferCurrent(1, MAX_A)],
    ),
    StartPath(
        "tc_004_1_card_then_plug",
        [*STARTED, card("T1"), accepted("T1"), At(T0), pilot(1, CP.B)],
        1,
        [StartTransaction(1, "T1"), OfferCurrent(1, MAX_A)],
    ),
    StartPath(
        "tc_010_plug_then_remote_start",
        [*STARTED, pilot(1, CP.B), At(T0), remote_start("R1", 1)],
        1,
        [Reply("Accepted"), StartTransaction(1, "R1"), OfferCurrent(1, MAX_A)],
    ),
    StartPath(
        "tc_011_1_remote_start_then_plug",
        [*STARTED, remote_start("R1", 1), At(T0), pilot(1, CP.B)],
        1,
        [StartTransaction(1, "R1"), OfferCurrent(1, MAX_A)],
    ),
    StartPath(
        "tc_007_2_remote_start_authorized",
        [*STARTED, pilot(1, CP.B), remote_start("R1", 1), At(T0), accepted("R1")],
        1,
        [StartTransaction(1, "R1"), OfferCurrent(1, MAX_A)],
        policy=AUTHORIZE_REMOTE,
    ),
    StartPath(
        "second_connector_while_the_first_charges",
        [*STARTED, *charging(1, "T1", "P1"), pilot(2, CP.B), card("T2"), At(T0), accepted("T2", "P2")],
        2,
        [StartTransaction(2, "T2"), OfferCurrent(2, MAX_A)],
    ),
]


def _after_start(path: StartPath, *tail: Event | At) -> Run:
    return run([*path.head, *tail], policy=path.policy)


def _events_after_start(path: StartPath, results: Run) -> Run:
    """The steps that follow the starting event."""
    return results[len([e for e in path.head if not isinstance(e, At)]) :]


@pytest.mark.parametrize("path", START_PATHS, ids=[p.name for p in START_PATHS])
def test_start_offers_current_and_holds_the_suspended_ev_report(path: StartPath) -> None:
    results = _after_start(path)
    assert last(results) == path.start
    assert history(results, path.connector)[-1] == PREPARING
    assert not contactor(results, path.connector)


@pytest.mark.parametrize("path", START_PATHS, ids=[p.name for p in START_PATHS])
def test_ev_answering_within_the_grace_goes_preparing_to_charging(path: StartPath) -> None:
    n = path.connector
    results = _after_start(path, At(T0 + 0.8), pilot(n, CP.C), At(T0 + 60.0), Tick())
    assert history(results, n) == [AVAILABLE, PREPARING, CHARGING]
    after = _events_after_start(path, results)
    assert [acts for _, acts in after] == [[SwitchContactor(n, True), ReportStatus(n, CHARGING)], []]
    assert contactor(results, n)


@pytest.mark.parametrize("path", START_PATHS, ids=[p.name for p in START_PATHS])
def test_ev_staying_in_b_is_suspended_ev_once_the_grace_is_over(path: StartPath) -> None:
    n = path.connector
    ticks: list[Event | At] = []
    for t in (0.5, 1.0, 2.0, 2.9, GRACE_S, GRACE_S + 1.0):
        ticks += [At(T0 + t), Tick()]
    results = _after_start(path, *ticks)
    held = [acts for _, acts in _events_after_start(path, results)]
    assert held == [[], [], [], [], [ReportStatus(n, SUSPENDED_EV)], []]
    assert history(results, n) == [AVAILABLE, PREPARING, SUSPENDED_EV]
    assert not contactor(results, n)

    # The EV asks for power later on: the contactor closes then, and not before.
    late = _after_start(path, *ticks, At(T0 + 20.0), pilot(n, CP.C))
    assert last(late) == [SwitchContactor(n, True), ReportStatus(n, CHARGING)]
    assert history(late, n) == [AVAILABLE, PREPARING, SUSPENDED_EV, CHARGING]


def test_any_event_after_the_grace_reports_the_suspended_ev() -> None:
    """Not only a Tick: every event settles the statuses, so the report is never stale."""
    path = START_PATHS[0]
    results = _after_start(path, At(T0 + 1.0), Tick(), At(T0 + 4.0), pilot(2, CP.B))
    assert last(results) == [ReportStatus(1, SUSPENDED_EV), ReportStatus(2, PREPARING)]


# What the other changes within the grace do: reported at once, nothing held back.
PLUG_THEN_CARD = [*STARTED, pilot(1, CP.B), card("T1"), At(T0), accepted("T1"), At(T0 + 1.0)]

IN_GRACE_CASES = [
    Case(
        "unplug_stops_and_is_available",
        [*PLUG_THEN_CARD, pilot(1, CP.A)],
        [OfferCurrent(1, 0.0), StopTransaction(1, StopReason.EV_DISCONNECTED), Unlock(1), ReportStatus(1, AVAILABLE)],
    ),
    Case(
        "unplug_keeping_the_transaction_is_suspended_ev",
        [*PLUG_THEN_CARD, pilot(1, CP.A)],
        [ReportStatus(1, SUSPENDED_EV)],
        policy=NO_STOP_ON_UNPLUG,
    ),
    Case(
        "same_card_stops_and_is_finishing",
        [*PLUG_THEN_CARD, card("T1")],
        [OfferCurrent(1, 0.0), StopTransaction(1, StopReason.LOCAL, "T1"), Unlock(1), ReportStatus(1, FINISHING)],
    ),
    Case(
        "fault_is_faulted",
        [*PLUG_THEN_CARD, FaultRaised(1, "GroundFailure")],
        [OfferCurrent(1, 0.0), ReportStatus(1, FAULTED, "GroundFailure")],
    ),
    Case(
        "pilot_error_is_suspended_evse_with_warning",
        [*PLUG_THEN_CARD, pilot(1, CP.E)],
        [OfferCurrent(1, 0.0), ReportStatus(1, SUSPENDED_EVSE, EV_COMM)],
    ),
    Case(
        "ventilation_asked_is_suspended_evse",
        [*PLUG_THEN_CARD, pilot(1, CP.D)],
        [ReportStatus(1, SUSPENDED_EVSE)],
    ),
    Case(
        "refused_idtag_kept_is_suspended_evse",
        [*PLUG_THEN_CARD, TransactionRefused(1, AuthStatus.INVALID)],
        [OfferCurrent(1, 0.0), ReportStatus(1, SUSPENDED_EVSE)],
        policy=KEEP_INVALID,
    ),
    Case(
        "remote_stop_is_finishing",
        [*PLUG_THEN_CARD, RemoteStopRequested(1)],
        [
            OfferCurrent(1, 0.0),
            Reply("Accepted"),
            StopTransaction(1, StopReason.REMOTE),
            Unlock(1),
            ReportStatus(1, FINISHING),
        ],
    ),
]


@pytest.mark.parametrize("case", IN_GRACE_CASES, ids=_ids(IN_GRACE_CASES))
def test_other_changes_within_the_grace_are_reported_at_once(case: Case) -> None:
    _check(case)


@pytest.mark.parametrize("paused_after", [0.5, 1.0, 2.0, 60.0])
def test_ev_pausing_during_charging_is_suspended_ev_at_once(paused_after: float) -> None:
    """The grace covers the EV's first answer only; a pause later is the EV's choice,
    even while the offer is still younger than the grace."""
    head: list[Event | At] = [*PLUG_THEN_CARD[:-1], At(T0 + 0.2), pilot(1, CP.C)]
    results = run([*head, At(T0 + paused_after), pilot(1, CP.B)], 1)
    assert last(results) == [SwitchContactor(1, False), ReportStatus(1, SUSPENDED_EV)]
    assert history(results, 1) == [AVAILABLE, PREPARING, CHARGING, SUSPENDED_EV]
    # Resuming and pausing again: each pause is reported when it happens.
    again = run([*head, At(T0 + paused_after), pilot(1, CP.B), pilot(1, CP.C), pilot(1, CP.B)], 1)
    assert last(again) == [SwitchContactor(1, False), ReportStatus(1, SUSPENDED_EV)]


def test_new_session_on_a_finishing_connector_gets_the_grace_too() -> None:
    """The EV stayed plugged after a stop (Finishing); a new card starts a new transaction.
    OCPP 1.6 4.9 F2: Finishing goes to Preparing when the user restarts a session; the
    EV answering the new offer within the grace then makes it Charging."""
    head: list[Event | At] = [*STARTED, *charging(1), card("T1"), pilot(1, CP.B), card("T2"), At(T0), accepted("T2")]
    results = run([*head, At(T0 + 0.8), pilot(1, CP.C)], 1)
    assert starts(results) == [StartTransaction(1, "T1"), StartTransaction(1, "T2")]
    assert history(results, 1) == [AVAILABLE, PREPARING, CHARGING, FINISHING, PREPARING, CHARGING]
    stays = run([*head, At(T0 + GRACE_S), Tick()], 1)
    assert history(stays, 1) == [AVAILABLE, PREPARING, CHARGING, FINISHING, PREPARING, SUSPENDED_EV]


def test_holding_the_suspended_ev_report_never_keeps_a_cleared_warning() -> None:
    """The pilot read E while the card waited for the EV (Preparing with the
    EVCommunicationError warning); it now reads B and the transaction starts. The backend
    must learn at once that the warning is gone, grace or not."""
    results = run([*STARTED, card("T1"), accepted("T1"), pilot(1, CP.E), At(T0), pilot(1, CP.B)], 1)
    assert history(results, 1)[:3] == [AVAILABLE, PREPARING, (PREPARING, EV_COMM)]
    assert starts(results) == [StartTransaction(1, "T1")]
    assert last(results) == [StartTransaction(1, "T1"), OfferCurrent(1, MAX_A), ReportStatus(1, PREPARING)]


STOP_CASES = [
    Case(
        "tc_068_same_idtag_stops_without_authorize",
        [*STARTED, *charging(1), card("T1")],
        [*OPEN_1, StopTransaction(1, StopReason.LOCAL, "T1"), Unlock(1), ReportStatus(1, FINISHING)],
    ),
    Case(
        "tc_068_unplug_after_stop_is_available",
        [*STARTED, *charging(1), card("T1"), pilot(1, CP.A)],
        [ReportStatus(1, AVAILABLE)],
    ),
    Case(
        "tc_069_other_idtag_asks_authorization",
        [*STARTED, *charging(1, "T1", "P1"), card("T2")],
        [Authorize("T2")],
    ),
    Case(
        "tc_069_other_idtag_with_same_parent_stops",
        [*STARTED, *charging(1, "T1", "P1"), card("T2"), accepted("T2", "P1")],
        [*OPEN_1, StopTransaction(1, StopReason.LOCAL, "T2"), Unlock(1), ReportStatus(1, FINISHING)],
    ),
    Case(
        "tc_069_parent_from_the_start_transaction_answer_stops",
        [*STARTED, *charging(1, "T1"), TransactionConfirmed(1, "P1"), card("T2"), accepted("T2", "P1")],
        [*OPEN_1, StopTransaction(1, StopReason.LOCAL, "T2"), Unlock(1), ReportStatus(1, FINISHING)],
    ),
    Case(
        "tc_069_a_start_answer_without_parent_keeps_the_authorize_parent",
        [*STARTED, *charging(1, "T1", "P1"), TransactionConfirmed(1, None), card("T2"), accepted("T2", "P1")],
        [*OPEN_1, StopTransaction(1, StopReason.LOCAL, "T2"), Unlock(1), ReportStatus(1, FINISHING)],
    ),
    Case(
        "tc_069_same_parent_stops_the_matching_connector_only",
        [*STARTED, *charging(1, "T1", "P1"), *charging(2, "T3", "P3"), card("T4"), accepted("T4", "P3")],
        [*OPEN_2, StopTransaction(2, StopReason.LOCAL, "T4"), Unlock(2), ReportStatus(2, FINISHING)],
    ),
    Case(
        "other_parent_single_connector_is_rejected",
        [*STARTED, *charging(1, "T1", "P1"), card("T2"), accepted("T2", "P2")],
        [CardRejected("T2", ANY_TEXT)],
        count=1,
    ),
    Case(
        "no_parent_single_connector_is_rejected",
        [*STARTED, *charging(1, "T1", "P1"), card("T2"), accepted("T2")],
        [CardRejected("T2", ANY_TEXT)],
        count=1,
    ),
    Case(
        "other_parent_two_connectors_prepares_a_new_session",
        [*STARTED, *charging(1, "T1", "P1"), card("T2"), accepted("T2", "P2")],
        [ReportStatus(2, PREPARING)],
    ),
    Case(
        "other_parent_with_ev_waiting_on_2_starts_there",
        [*STARTED, *charging(1, "T1", "P1"), pilot(2, CP.B), card("T2"), accepted("T2", "P2")],
        [StartTransaction(2, "T2"), OfferCurrent(2, MAX_A)],
    ),
    Case(
        "invalid_idtag_with_matching_parent_does_not_stop",
        [*STARTED, *charging(1, "T1", "P1"), card("T2"), refused("T2", AuthStatus.INVALID, "P1")],
        [CardRejected("T2", ANY_TEXT)],
    ),
    Case(
        "transaction_without_parent_is_not_stopped_by_a_tag_without_parent",
        [*STARTED, *charging(1, "T1", None), card("T2"), accepted("T2")],
        [CardRejected("T2", ANY_TEXT)],
        count=1,
    ),
    Case(
        "ev_full_goes_to_b_suspended_ev",
        [*STARTED, *charging(1), pilot(1, CP.B)],
        [SwitchContactor(1, False), ReportStatus(1, SUSPENDED_EV)],
    ),
    Case(
        "ev_asks_again_resumes",
        [*STARTED, *charging(1), pilot(1, CP.B), pilot(1, CP.C)],
        [SwitchContactor(1, True), ReportStatus(1, CHARGING)],
    ),
    Case(
        "tc_005_1_ev_side_disconnect_stops_and_unlocks",
        [*STARTED, *charging(1), pilot(1, CP.A)],
        [*OPEN_1, StopTransaction(1, StopReason.EV_DISCONNECTED), Unlock(1), ReportStatus(1, AVAILABLE)],
    ),
    Case(
        "tc_005_2_ev_side_disconnect_stops_keeps_lock",
        [*STARTED, *charging(1), pilot(1, CP.A)],
        [*OPEN_1, StopTransaction(1, StopReason.EV_DISCONNECTED), ReportStatus(1, AVAILABLE)],
        policy=NO_UNLOCK_ON_UNPLUG,
    ),
    Case(
        "tc_005_3_ev_side_disconnect_keeps_transaction_suspended_ev",
        [*STARTED, *charging(1), pilot(1, CP.A)],
        [SwitchContactor(1, False), ReportStatus(1, SUSPENDED_EV)],
        policy=NO_STOP_ON_UNPLUG,
    ),
    Case(
        "tc_005_3_replug_in_b_changes_nothing",
        [*STARTED, *charging(1), pilot(1, CP.A), pilot(1, CP.B)],
        [],
        policy=NO_STOP_ON_UNPLUG,
    ),
    Case(
        "tc_005_3_replug_resumes_charging_in_the_same_transaction",
        [*STARTED, *charging(1), pilot(1, CP.A), pilot(1, CP.B), pilot(1, CP.C)],
        [SwitchContactor(1, True), ReportStatus(1, CHARGING)],
        policy=NO_STOP_ON_UNPLUG,
    ),
    Case(
        "tc_005_3_remote_stop_while_unplugged",
        [*STARTED, *charging(1), pilot(1, CP.A), RemoteStopRequested(1)],
        [OfferCurrent(1, 0.0), Reply("Accepted"), StopTransaction(1, StopReason.REMOTE), Unlock(1), ReportStatus(1, AVAILABLE)],
        policy=NO_STOP_ON_UNPLUG,
    ),
    Case(
        "tc_037_2_refused_idtag_keeps_transaction_suspended_evse",
        [*STARTED, *charging(1), TransactionRefused(1, AuthStatus.INVALID)],
        [*OPEN_1, ReportStatus(1, SUSPENDED_EVSE)],
        policy=KEEP_INVALID,
    ),
    Case(
        "tc_037_2_refused_transaction_ignores_ev_asking",
        [*STARTED, *charging(1), TransactionRefused(1, AuthStatus.INVALID), pilot(1, CP.B), pilot(1, CP.C)],
        [],
        policy=KEEP_INVALID,
    ),
    Case(
        "tc_037_2_refused_transaction_stops_on_unplug",
        [*STARTED, *charging(1), TransactionRefused(1, AuthStatus.INVALID), pilot(1, CP.A)],
        [StopTransaction(1, StopReason.EV_DISCONNECTED), Unlock(1), ReportStatus(1, AVAILABLE)],
        policy=KEEP_INVALID,
    ),
    Case(
        "tc_037_2_refused_transaction_stopped_by_its_card",
        [*STARTED, *charging(1), TransactionRefused(1, AuthStatus.BLOCKED), card("T1")],
        [StopTransaction(1, StopReason.LOCAL, "T1"), Unlock(1), ReportStatus(1, FINISHING)],
        policy=KEEP_INVALID,
    ),
    Case(
        "tc_037_3_refused_idtag_stops_deauthorized",
        [*STARTED, *charging(1), TransactionRefused(1, AuthStatus.INVALID)],
        [*OPEN_1, StopTransaction(1, StopReason.DE_AUTHORIZED), Unlock(1), ReportStatus(1, FINISHING)],
    ),
    Case(
        "refusal_without_transaction_is_ignored",
        [*STARTED, pilot(1, CP.B), TransactionRefused(1, AuthStatus.INVALID)],
        [],
    ),
]


@pytest.mark.parametrize("case", STOP_CASES, ids=_ids(STOP_CASES))
def test_stop_session(case: Case) -> None:
    _check(case)


def test_refused_transaction_unplugged_is_suspended_evse() -> None:
    """OCPP 1.6 4.9: suspended by both EV and EVSE reports SuspendedEVSE."""
    policy = Policy(stop_on_invalid_id=False, stop_on_ev_disconnect=False)
    results = run([*STARTED, *charging(1), TransactionRefused(1, AuthStatus.INVALID), pilot(1, CP.A)], 1, policy)
    assert history(results, 1)[-1] == SUSPENDED_EVSE
    assert stops(results) == []


REMOTE_CASES = [
    Case(
        "tc_010_remote_start_cable_plugged_first",
        [*STARTED, pilot(1, CP.B), remote_start("R1", 1)],
        [Reply("Accepted"), StartTransaction(1, "R1"), OfferCurrent(1, MAX_A)],
    ),
    Case(
        "tc_011_1_remote_start_first_is_preparing",
        [*STARTED, remote_start("R1", 1)],
        [Reply("Accepted"), ReportStatus(1, PREPARING)],
    ),
    Case(
        "tc_011_1_plug_after_remote_start_starts",
        [*STARTED, remote_start("R1", 1), pilot(1, CP.B)],
        [StartTransaction(1, "R1"), OfferCurrent(1, MAX_A)],
    ),
    Case(
        "remote_start_for_2_waits_for_an_ev_on_2",
        [*STARTED, remote_start("R1", 2), pilot(1, CP.B)],
        [ReportStatus(1, PREPARING)],
    ),
    Case(
        "remote_start_without_connector_picks_the_plugged_one",
        [*STARTED, pilot(2, CP.B), remote_start("R1", None)],
        [Reply("Accepted"), StartTransaction(2, "R1"), OfferCurrent(2, MAX_A)],
    ),
    Case("tc_026_remote_start_busy_connector_rejected", [*STARTED, *charging(1), remote_start("R1", 1)], [Reply("Rejected")]),
    Case(
        "remote_start_on_connector_promised_to_a_card_rejected",
        [*STARTED, card("T1"), accepted("T1"), remote_start("R1", 1)],
        [Reply("Rejected")],
    ),
    Case("tc_027_remote_start_connector_0_rejected", [*STARTED, remote_start("R1", 0)], [Reply("Rejected")]),
    Case("remote_start_unknown_connector_rejected", [*STARTED, remote_start("R1", 3)], [Reply("Rejected")]),
    Case(
        "remote_start_unavailable_connector_rejected",
        [*STARTED, AvailabilityRequested(1, False), remote_start("R1", 1)],
        [Reply("Rejected")],
    ),
    Case(
        "remote_start_faulted_connector_rejected",
        [*STARTED, FaultRaised(1, "GroundFailure"), remote_start("R1", 1)],
        [Reply("Rejected")],
    ),
    Case(
        "remote_start_nothing_free_rejected",
        [*STARTED, *charging(1, "T1"), *charging(2, "T2"), remote_start("R1", None)],
        [Reply("Rejected")],
    ),
    Case(
        "authorize_remote_tx_requests_asks_first",
        [*STARTED, pilot(1, CP.B), remote_start("R1", 1)],
        [Reply("Accepted"), Authorize("R1")],
        policy=AUTHORIZE_REMOTE,
    ),
    Case(
        "authorize_remote_tx_requests_without_ev_is_preparing",
        [*STARTED, remote_start("R1", 1)],
        [Reply("Accepted"), Authorize("R1"), ReportStatus(1, PREPARING)],
        policy=AUTHORIZE_REMOTE,
    ),
    Case(
        "tc_007_2_authorize_remote_accepted_starts",
        [*STARTED, pilot(1, CP.B), remote_start("R1", 1), accepted("R1")],
        [StartTransaction(1, "R1"), OfferCurrent(1, MAX_A)],
        policy=AUTHORIZE_REMOTE,
    ),
    Case(
        "tc_023_5_authorize_remote_invalid_does_not_start",
        [*STARTED, pilot(1, CP.B), remote_start("R1", 1), refused("R1")],
        [CardRejected("R1", ANY_TEXT)],
        policy=AUTHORIZE_REMOTE,
    ),
    Case(
        "tc_023_5_authorize_remote_invalid_without_ev_is_available_again",
        [*STARTED, remote_start("R1", 1), refused("R1")],
        [CardRejected("R1", ANY_TEXT), ReportStatus(1, AVAILABLE)],
        policy=AUTHORIZE_REMOTE,
    ),
    Case(
        "authorize_remote_parent_never_stops_another_transaction",
        [*STARTED, *charging(1, "T1", "P1"), pilot(2, CP.B), remote_start("R1", 2), accepted("R1", "P1")],
        [StartTransaction(2, "R1"), OfferCurrent(2, MAX_A)],
        policy=AUTHORIZE_REMOTE,
    ),
    Case(
        "tc_012_remote_stop",
        [*STARTED, *charging(1), RemoteStopRequested(1)],
        [*OPEN_1, Reply("Accepted"), StopTransaction(1, StopReason.REMOTE), Unlock(1), ReportStatus(1, FINISHING)],
    ),
    Case("tc_028_remote_stop_without_transaction_rejected", [*STARTED, RemoteStopRequested(1)], [Reply("Rejected")]),
    Case(
        "tc_028_remote_stop_of_an_idle_connector_rejected",
        [*STARTED, *charging(1), RemoteStopRequested(2)],
        [Reply("Rejected")],
    ),
    Case("remote_stop_unknown_connector_rejected", [*STARTED, RemoteStopRequested(3)], [Reply("Rejected")]),
]


@pytest.mark.parametrize("case", REMOTE_CASES, ids=_ids(REMOTE_CASES))
def test_remote(case: Case) -> None:
    _check(case)


def test_tc_011_2_remote_start_time_out() -> None:
    policy = Policy(connection_timeout=30.0)
    head: list[Event | At] = [*STARTED, At(5.0), remote_start("R1", 1)]
    assert last(run([*head, At(34.0), Tick()], 2, policy)) == []
    late = run([*head, At(36.0), Tick(), pilot(1, CP.B)], 2, policy)
    assert history(late, 1) == [AVAILABLE, PREPARING, AVAILABLE, PREPARING]
    assert starts(late) == []


def test_remote_start_for_connector_1_does_not_follow_an_ev_into_2() -> None:
    """RemoteStartTransaction names the connector the transaction starts on (OCPP 1.6 5.11)."""
    results = run([*STARTED, remote_start("R1", 1), pilot(2, CP.B), pilot(2, CP.C)])
    assert starts(results) == []
    assert not contactor(results, 2)
    assert history(results, 1) == [AVAILABLE, PREPARING]
    results = run([*STARTED, remote_start("R1", 1), pilot(2, CP.B), pilot(1, CP.B)])
    assert starts(results) == [StartTransaction(1, "R1")]


def test_card_authorization_does_not_take_a_connector_awaiting_a_remote_authorization() -> None:
    """Connector 2 is Preparing for a remote start being authorized; an EV there is its EV."""
    results = run(
        [*STARTED, remote_start("R1", 2), card("T1"), accepted("T1"), pilot(2, CP.B), accepted("R1")],
        policy=AUTHORIZE_REMOTE,
    )
    assert starts(results) == [StartTransaction(2, "R1")]
    assert history(results, 1) == [AVAILABLE, PREPARING]


AVAILABILITY_CASES = [
    Case(
        "idle_connector_inoperative_accepted_and_persisted",
        [*STARTED, AvailabilityRequested(2, False)],
        [Reply("Accepted"), PersistAvailability(2, False), ReportStatus(2, UNAVAILABLE)],
    ),
    Case(
        "inoperative_connector_back_to_operative",
        [*STARTED, AvailabilityRequested(2, False), AvailabilityRequested(2, True)],
        [Reply("Accepted"), PersistAvailability(2, True), ReportStatus(2, AVAILABLE)],
    ),
    Case(
        "already_operative_is_accepted_without_change",
        [*STARTED, AvailabilityRequested(2, True)],
        [Reply("Accepted")],
    ),
    Case(
        "inoperative_with_ev_plugged_but_no_transaction_is_immediate",
        [*STARTED, pilot(1, CP.B), AvailabilityRequested(1, False)],
        [Reply("Accepted"), PersistAvailability(1, False), ReportStatus(1, UNAVAILABLE)],
    ),
    Case(
        "during_a_transaction_is_scheduled_and_charging_goes_on",
        [*STARTED, *charging(1), AvailabilityRequested(1, False)],
        [Reply("Scheduled"), PersistAvailability(1, False)],
    ),
    Case(
        "scheduled_change_applies_when_the_transaction_ends",
        [*STARTED, *charging(1), AvailabilityRequested(1, False), card("T1")],
        [
            *OPEN_1,
            StopTransaction(1, StopReason.LOCAL, "T1"),
            Unlock(1),
            ReportStatus(1, UNAVAILABLE),
        ],
    ),
    Case(
        "operative_again_during_the_transaction_is_persisted_too",
        [*STARTED, *charging(1), AvailabilityRequested(1, False), AvailabilityRequested(1, True)],
        [Reply("Accepted"), PersistAvailability(1, True)],
    ),
    Case(
        "operative_again_cancels_the_scheduled_change",
        [*STARTED, *charging(1), AvailabilityRequested(1, False), AvailabilityRequested(1, True), card("T1")],
        [*OPEN_1, StopTransaction(1, StopReason.LOCAL, "T1"), Unlock(1), ReportStatus(1, FINISHING)],
    ),
    Case(
        "connector_0_means_every_connector",
        [*STARTED, AvailabilityRequested(0, False)],
        [
            Reply("Accepted"),
            PersistAvailability(1, False),
            PersistAvailability(2, False),
            ReportStatus(0, UNAVAILABLE),
            ReportStatus(1, UNAVAILABLE),
            ReportStatus(2, UNAVAILABLE),
        ],
    ),
    Case(
        "connector_0_with_one_transaction_is_scheduled_for_it_only",
        [*STARTED, *charging(1), AvailabilityRequested(0, False)],
        [Reply("Scheduled"), PersistAvailability(1, False), PersistAvailability(2, False), ReportStatus(2, UNAVAILABLE)],
    ),
    Case(
        "connector_0_scheduled_part_applies_at_the_end",
        [*STARTED, *charging(1), AvailabilityRequested(0, False), RemoteStopRequested(1)],
        [
            *OPEN_1,
            Reply("Accepted"),
            StopTransaction(1, StopReason.REMOTE),
            Unlock(1),
            ReportStatus(0, UNAVAILABLE),
            ReportStatus(1, UNAVAILABLE),
        ],
    ),
    Case("unknown_connector_rejected", [*STARTED, AvailabilityRequested(3, False)], [Reply("Rejected")]),
    Case(
        "unavailable_connector_gets_no_session_from_a_card",
        [*STARTED, AvailabilityRequested(1, False), pilot(1, CP.B), card("T1"), accepted("T1")],
        [CardRejected("T1", ANY_TEXT)],
        count=1,
    ),
    Case(
        "unavailable_connector_ignores_an_ev",
        [*STARTED, AvailabilityRequested(1, False), pilot(1, CP.B), pilot(1, CP.C)],
        [],
    ),
    Case(
        "inoperative_cancels_an_identification_first_authorization",
        [*STARTED, card("T1"), accepted("T1"), AvailabilityRequested(1, False), AvailabilityRequested(1, True), pilot(1, CP.B)],
        [ReportStatus(1, PREPARING)],
        count=1,
    ),
    Case(
        "tc_034_inoperative_persisted_across_power_cycles",
        STARTED,
        [ReportStatus(0, AVAILABLE), ReportStatus(1, UNAVAILABLE), ReportStatus(2, AVAILABLE)],
        inoperative=frozenset({1}),
    ),
]


@pytest.mark.parametrize("case", AVAILABILITY_CASES, ids=_ids(AVAILABILITY_CASES))
def test_change_availability(case: Case) -> None:
    _check(case)


def test_unavailable_connector_never_starts_or_closes() -> None:
    results = run([*STARTED, AvailabilityRequested(1, False), pilot(1, CP.B), remote_start("R1", 1), card("T1"), accepted("T1"), pilot(1, CP.C)], 1)
    assert starts(results) == []
    assert not contactor(results, 1)
    assert history(results, 1) == [AVAILABLE, UNAVAILABLE]


FAULT_CASES = [
    Case(
        "tc_041_fault_while_charging_opens_first_then_reports",
        [*STARTED, *charging(1), FaultRaised(1, "GroundFailure")],
        [*OPEN_1, ReportStatus(1, FAULTED, "GroundFailure")],
    ),
    Case(
        "tc_041_fault_cleared_resumes_charging",
        [*STARTED, *charging(1), FaultRaised(1, "GroundFailure"), FaultCleared(1, "GroundFailure")],
        [OfferCurrent(1, MAX_A), SwitchContactor(1, True), ReportStatus(1, CHARGING)],
    ),
    Case(
        "fault_on_idle_connector",
        [*STARTED, FaultRaised(2, "HighTemperature")],
        [ReportStatus(2, FAULTED, "HighTemperature")],
    ),
    Case(
        "fault_cleared_on_idle_connector",
        [*STARTED, FaultRaised(2, "HighTemperature"), FaultCleared(2, "HighTemperature")],
        [ReportStatus(2, AVAILABLE)],
    ),
    Case(
        "one_of_two_faults_cleared_stays_faulted",
        [*STARTED, *charging(1), FaultRaised(1, "OverCurrentFailure"), FaultRaised(1, "GroundFailure"), FaultCleared(1, "GroundFailure")],
        [ReportStatus(1, FAULTED, "OverCurrentFailure")],
    ),
    Case(
        "clearing_a_fault_never_raised_changes_nothing",
        [*STARTED, *charging(1), FaultCleared(1, "GroundFailure")],
        [],
    ),
    Case(
        "fault_on_one_connector_leaves_the_other_charging",
        [*STARTED, *charging(2), FaultRaised(1, "GroundFailure")],
        [ReportStatus(1, FAULTED, "GroundFailure")],
    ),
    Case(
        "charger_wide_fault_faults_every_connector",
        [*STARTED, FaultRaised(0, "InternalError")],
        [
            ReportStatus(0, FAULTED, "InternalError"),
            ReportStatus(1, FAULTED, "InternalError"),
            ReportStatus(2, FAULTED, "InternalError"),
        ],
    ),
    Case(
        "charger_wide_fault_while_charging_opens_first",
        [*STARTED, *charging(1), FaultRaised(0, "InternalError")],
        [
            *OPEN_1,
            ReportStatus(0, FAULTED, "InternalError"),
            ReportStatus(1, FAULTED, "InternalError"),
            ReportStatus(2, FAULTED, "InternalError"),
        ],
    ),
    Case(
        "charger_wide_fault_cleared_resumes",
        [*STARTED, *charging(1), FaultRaised(0, "InternalError"), FaultCleared(0, "InternalError")],
        [
            OfferCurrent(1, MAX_A),
            SwitchContactor(1, True),
            ReportStatus(0, AVAILABLE),
            ReportStatus(1, CHARGING),
            ReportStatus(2, AVAILABLE),
        ],
    ),
    Case(
        "faulted_connector_gets_no_session_from_a_card",
        [*STARTED, pilot(1, CP.B), FaultRaised(1, "GroundFailure"), card("T1"), accepted("T1")],
        [CardRejected("T1", ANY_TEXT)],
        count=1,
    ),
    Case(
        "card_goes_to_the_healthy_connector",
        [*STARTED, pilot(1, CP.B), FaultRaised(1, "GroundFailure"), card("T1"), accepted("T1")],
        [ReportStatus(2, PREPARING)],
    ),
    Case(
        "fault_cancels_an_identification_first_authorization",
        [*STARTED, card("T1"), accepted("T1"), FaultRaised(1, "GroundFailure"), pilot(1, CP.B)],
        [],
        count=1,
    ),
    Case(
        "after_the_fault_the_ev_needs_a_new_authorization",
        [*STARTED, card("T1"), accepted("T1"), FaultRaised(1, "GroundFailure"), FaultCleared(1, "GroundFailure"), pilot(1, CP.B)],
        [ReportStatus(1, PREPARING)],
        count=1,
    ),
    # IEC 61851-1 E (0 V) and F (-12 V) while charging: energy stops at once. OCPP 1.6
    # 4.9: EVCommunicationError is a warning, used only with Preparing, SuspendedEV,
    # SuspendedEVSE and Finishing, never with Faulted.
    Case(
        "pilot_e_while_charging_opens_and_warns",
        [*STARTED, *charging(1), pilot(1, CP.E)],
        [*OPEN_1, ReportStatus(1, SUSPENDED_EVSE, EV_COMM)],
    ),
    Case(
        "pilot_f_while_charging_opens_and_warns",
        [*STARTED, *charging(1), pilot(1, CP.F)],
        [*OPEN_1, ReportStatus(1, SUSPENDED_EVSE, EV_COMM)],
    ),
    Case(
        "pilot_back_to_c_resumes_charging",
        [*STARTED, *charging(1), pilot(1, CP.E), pilot(1, CP.C)],
        [OfferCurrent(1, MAX_A), SwitchContactor(1, True), ReportStatus(1, CHARGING)],
    ),
    Case(
        "pilot_error_before_a_transaction_warns_in_preparing",
        [*STARTED, pilot(1, CP.B), pilot(1, CP.F)],
        [ReportStatus(1, PREPARING, EV_COMM)],
    ),
    Case(
        "pilot_error_after_a_transaction_warns_in_finishing",
        [*STARTED, *charging(1), card("T1"), pilot(1, CP.E)],
        [ReportStatus(1, FINISHING, EV_COMM)],
    ),
    Case(
        "pilot_error_cleared_reports_no_error",
        [*STARTED, pilot(1, CP.B), pilot(1, CP.F), pilot(1, CP.B)],
        [ReportStatus(1, PREPARING)],
    ),
    Case(
        "real_fault_outranks_the_pilot_warning",
        [*STARTED, *charging(1), pilot(1, CP.E), FaultRaised(1, "GroundFailure")],
        [ReportStatus(1, FAULTED, "GroundFailure")],
    ),
    Case(
        "no_card_session_while_the_pilot_is_in_error",
        [*STARTED, pilot(1, CP.F), card("T1"), accepted("T1")],
        [CardRejected("T1", ANY_TEXT)],
        count=1,
    ),
    Case(
        "pilot_d_ventilation_is_not_offered",
        [*STARTED, pilot(1, CP.B), card("T1"), accepted("T1"), pilot(1, CP.D)],
        [ReportStatus(1, SUSPENDED_EVSE)],
    ),
    Case(
        "pilot_d_while_charging_opens",
        [*STARTED, *charging(1), pilot(1, CP.D)],
        [SwitchContactor(1, False), ReportStatus(1, SUSPENDED_EVSE)],
    ),
    Case(
        "fault_on_an_unknown_connector_is_ignored",
        [*STARTED, FaultRaised(7, "GroundFailure")],
        [],
    ),
]


@pytest.mark.parametrize("case", FAULT_CASES, ids=_ids(FAULT_CASES))
def test_faults(case: Case) -> None:
    _check(case)


def test_fault_cancelled_authorization_never_starts() -> None:
    results = run([*STARTED, card("T1"), accepted("T1"), FaultRaised(1, "GroundFailure"), pilot(1, CP.B), pilot(1, CP.C)], 1)
    assert starts(results) == []
    assert not contactor(results, 1)


@pytest.mark.parametrize("reason", [StopReason.SOFT_RESET, StopReason.HARD_RESET])
def test_tc_015_016_reset_with_transactions_stops_every_one(reason: StopReason) -> None:
    results = run([*STARTED, *charging(1, "T1"), *charging(2, "T2"), StopAllRequested(reason)])
    assert last(results) == [
        *OPEN_1,
        *OPEN_2,
        StopTransaction(1, reason),
        Unlock(1),
        StopTransaction(2, reason),
        Unlock(2),
        ReportStatus(1, FINISHING),
        ReportStatus(2, FINISHING),
    ]


@pytest.mark.parametrize("reason", [StopReason.SOFT_RESET, StopReason.HARD_RESET])
def test_tc_013_014_reset_without_transaction(reason: StopReason) -> None:
    assert last(run([*STARTED, pilot(1, CP.B), StopAllRequested(reason)])) == []
    # An incipient session (card accepted, no EV yet) does not survive the reset.
    assert last(run([*STARTED, card("T1"), accepted("T1"), StopAllRequested(reason)])) == [ReportStatus(1, AVAILABLE)]


UNLOCK_CASES = [
    Case("tc_031_unlock_unknown_connector", [*STARTED, UnlockRequested(3)], [Reply("NotSupported")]),
    Case("tc_031_unlock_connector_0", [*STARTED, UnlockRequested(0)], [Reply("NotSupported")]),
    Case("tc_017_1_unlock_without_session", [*STARTED, UnlockRequested(1)], [Unlock(1, answer=True)]),
    Case(
        "tc_018_1_unlock_with_session_stops_first",
        [*STARTED, *charging(1), UnlockRequested(1)],
        [*OPEN_1, StopTransaction(1, StopReason.UNLOCK_COMMAND), Unlock(1, answer=True), ReportStatus(1, FINISHING)],
    ),
    Case(
        "unlock_of_the_other_connector_leaves_the_session",
        [*STARTED, *charging(1), UnlockRequested(2)],
        [Unlock(2, answer=True)],
    ),
]


@pytest.mark.parametrize("case", UNLOCK_CASES, ids=_ids(UNLOCK_CASES))
def test_unlock(case: Case) -> None:
    _check(case)


# ---------------------------------------------------------------- whole-session status flows


@dataclass(frozen=True)
class Flow:
    name: str
    events: Sequence[Event | At]
    connector: int
    expected: list[Status | tuple[Status, str]]
    count: int = 2
    policy: Policy = Policy()


FLOWS = [
    Flow("a_no_ev_available", STARTED, 1, [AVAILABLE]),
    Flow("b_without_session_preparing", [*STARTED, pilot(1, CP.B)], 1, [AVAILABLE, PREPARING]),
    Flow("c_without_session_stays_preparing", [*STARTED, pilot(1, CP.B), pilot(1, CP.C)], 1, [AVAILABLE, PREPARING]),
    Flow("unplug_without_session_available", [*STARTED, pilot(1, CP.B), pilot(1, CP.A)], 1, [AVAILABLE, PREPARING, AVAILABLE]),
    Flow(
        "plug_in_first_whole_session",
        [*STARTED, *charging(1), pilot(1, CP.B), card("T1"), pilot(1, CP.A)],
        1,
        [AVAILABLE, PREPARING, CHARGING, SUSPENDED_EV, FINISHING, AVAILABLE],
    ),
    Flow(
        "identification_first_whole_session",
        [*STARTED, card("T1"), accepted("T1"), pilot(1, CP.B), pilot(1, CP.C), pilot(1, CP.A)],
        1,
        [AVAILABLE, PREPARING, CHARGING, AVAILABLE],
    ),
    Flow(
        "identification_first_ev_on_2_connector_1_back_to_available",
        [*STARTED, card("T1"), accepted("T1"), pilot(2, CP.B), pilot(2, CP.C)],
        1,
        [AVAILABLE, PREPARING, AVAILABLE],
    ),
    Flow(
        "identification_first_ev_on_2_charges_there",
        [*STARTED, card("T1"), accepted("T1"), pilot(2, CP.B), pilot(2, CP.C)],
        2,
        [AVAILABLE, PREPARING, CHARGING],  # the EV answered within the grace
    ),
    Flow(
        "suspended_evse_on_refused_idtag",
        [*STARTED, *charging(1), TransactionRefused(1, AuthStatus.EXPIRED), card("T1"), pilot(1, CP.A)],
        1,
        [AVAILABLE, PREPARING, CHARGING, SUSPENDED_EVSE, FINISHING, AVAILABLE],
        policy=KEEP_INVALID,
    ),
    Flow(
        "unavailable_and_back",
        [*STARTED, AvailabilityRequested(1, False), AvailabilityRequested(1, True)],
        1,
        [AVAILABLE, UNAVAILABLE, AVAILABLE],
    ),
    Flow(
        "faulted_and_back_to_charging",
        [*STARTED, *charging(1), FaultRaised(1, "PowerMeterFailure"), FaultCleared(1, "PowerMeterFailure")],
        1,
        [AVAILABLE, PREPARING, CHARGING, (FAULTED, "PowerMeterFailure"), CHARGING],
    ),
    Flow(
        "pilot_error_warning_and_back",
        [*STARTED, *charging(1), pilot(1, CP.E), pilot(1, CP.C)],
        1,
        [AVAILABLE, PREPARING, CHARGING, (SUSPENDED_EVSE, EV_COMM), CHARGING],
    ),
    Flow(
        "restart_reports_every_status_again",
        [*STARTED, *charging(1), Started()],
        1,
        [AVAILABLE, PREPARING, CHARGING, CHARGING],
    ),
    # Connector 0 only ever reports Available, Unavailable or Faulted (OCPP 1.6 4.9).
    Flow("connector_0_available", [*STARTED, *charging(1)], 0, [AVAILABLE]),
    Flow("connector_0_unmoved_by_a_connector_fault", [*STARTED, FaultRaised(1, "GroundFailure")], 0, [AVAILABLE]),
    Flow(
        "connector_0_unmoved_while_some_connector_operative",
        [*STARTED, AvailabilityRequested(1, False)],
        0,
        [AVAILABLE],
    ),
    Flow(
        "connector_0_unavailable_when_every_connector_is",
        [*STARTED, AvailabilityRequested(1, False), AvailabilityRequested(2, False), AvailabilityRequested(0, True)],
        0,
        [AVAILABLE, UNAVAILABLE, AVAILABLE],
    ),
    Flow(
        "connector_0_faulted_with_the_charger",
        [*STARTED, FaultRaised(0, "OtherError"), FaultCleared(0, "OtherError")],
        0,
        [AVAILABLE, (FAULTED, "OtherError"), AVAILABLE],
    ),
    Flow(
        "a_failed_card_reader_is_a_warning_on_connector_0",
        [*STARTED, FaultRaised(0, "ReaderFailure"), FaultCleared(0, "ReaderFailure")],
        0,
        [AVAILABLE, (AVAILABLE, "ReaderFailure"), AVAILABLE],
    ),
    Flow(
        "a_failed_card_reader_leaves_a_remote_start_charging",
        [*STARTED, FaultRaised(0, "ReaderFailure"), remote_start("TAG", 1), pilot(1, CP.B),
         pilot(1, CP.C)],
        1,
        [AVAILABLE, PREPARING, CHARGING],
    ),
    Flow(
        "a_failed_meter_withholds_energy_by_default",
        [*STARTED, *charging(1), FaultRaised(1, "PowerMeterFailure"), FaultCleared(1, "PowerMeterFailure")],
        1,
        [AVAILABLE, PREPARING, CHARGING, (FAULTED, "PowerMeterFailure"), CHARGING],
    ),
    Flow(
        "a_failed_meter_is_a_warning_when_charging_continues",
        [*STARTED, *charging(1), FaultRaised(1, "PowerMeterFailure"), FaultCleared(1, "PowerMeterFailure")],
        1,
        [AVAILABLE, PREPARING, CHARGING, (CHARGING, "PowerMeterFailure"), CHARGING],
        policy=Policy(warning_faults=frozenset({"PowerMeterFailure"})),
    ),
]


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_status_flow(flow: Flow) -> None:
    assert history(run(flow.events, flow.count, flow.policy), flow.connector) == flow.expected


# ---------------------------------------------------------------- two connectors at once


def test_two_connectors_charge_independently() -> None:
    results = run([*STARTED, *charging(1, "T1", "P1"), *charging(2, "T2", "P2")])
    assert starts(results) == [StartTransaction(1, "T1"), StartTransaction(2, "T2")]
    assert contactor(results, 1) and contactor(results, 2)
    assert history(results, 1) == [AVAILABLE, PREPARING, CHARGING]
    assert history(results, 2) == [AVAILABLE, PREPARING, CHARGING]

    # The EV on 2 pauses and resumes: connector 1 sees nothing of it.
    paused = run([*STARTED, *charging(1, "T1"), *charging(2, "T2"), pilot(2, CP.B)])
    assert last(paused) == [SwitchContactor(2, False), ReportStatus(2, SUSPENDED_EV)]

    # Stopping 1 leaves 2 charging, untouched.
    stopped = run([*STARTED, *charging(1, "T1"), *charging(2, "T2"), card("T1")])
    assert last(stopped) == [*OPEN_1, StopTransaction(1, StopReason.LOCAL, "T1"), Unlock(1), ReportStatus(1, FINISHING)]
    assert contactor(stopped, 2)

    # Each card stops its own session, whichever order.
    both = run([*STARTED, *charging(1, "T1"), *charging(2, "T2"), card("T2"), card("T1")])
    assert [(s.connector, s.id_tag) for s in stops(both)] == [(2, "T2"), (1, "T1")]


def test_two_connectors_second_card_while_first_session_waits_for_its_ev() -> None:
    results = run([*STARTED, card("T1"), accepted("T1"), card("T2"), accepted("T2"), pilot(2, CP.B), pilot(1, CP.B)])
    assert starts(results) == [StartTransaction(2, "T2"), StartTransaction(1, "T1")]


def test_max_current_change_adjusts_the_offer_without_touching_the_contactor() -> None:
    results = run([*STARTED, *charging(1), PolicyChanged(Policy(max_current=16.0))])
    assert last(results) == [OfferCurrent(1, 16.0)]


def test_no_new_session_once_a_reset_has_ended_them():
    """Between a Reset's StopAll and the restart, nothing may start (it would be cut by the restart)."""
    results = run([
        *STARTED,
        *charging(1),
        StopAllRequested(StopReason.SOFT_RESET),
        PilotChanged(2, CP.B),
        card("T2"),
        AuthorizationResolved("T2", AuthStatus.ACCEPTED),
        RemoteStartRequested("T3", 2),
    ])
    assert starts(results) == [StartTransaction(1, "T1")]
    assert isinstance(results[-2][1][0], CardRejected)
    assert results[-1][1] == [Reply("Rejected")]


# ---------------------------------------------------------------- recovery policy "resume"


def test_resumed_transaction_charges_on_without_a_new_start() -> None:
    # The pilot is read before Started, so the first status reported is already Charging.
    results = run([pilot(1, CP.C), TransactionResumed(1, "T1", None), Started()], 1)
    assert results[1][1][0] == Reply("Accepted")
    assert contactor(results, 1) is True
    assert starts(results) == [] and stops(results) == []
    assert history(results, 1)[-1] == CHARGING


def test_resumed_transaction_is_stopped_by_its_card() -> None:
    results = run([pilot(1, CP.C), TransactionResumed(1, "T1", None), Started(), card("T1")], 1)
    assert stops(results) == [StopTransaction(1, StopReason.LOCAL, "T1")]
    assert contactor(results, 1) is False


@pytest.mark.parametrize(
    ("events", "inoperative"),
    [
        ([TransactionResumed(1, "T1", None)], frozenset()),  # the EV left while the agent was down
        ([pilot(1, CP.C), TransactionResumed(1, "T1", None)], frozenset({1})),  # made Inoperative meanwhile
        ([pilot(1, CP.C), TransactionResumed(1, "T1", None), TransactionResumed(1, "T2", None)], frozenset()),
        ([TransactionResumed(3, "T1", None)], frozenset()),  # no such connector
    ],
    ids=["unplugged", "inoperative", "second_on_same_connector", "unknown_connector"],
)
def test_resume_is_refused_where_the_transaction_cannot_go_on(events: list[Event], inoperative: frozenset[int]) -> None:
    results = run(events, 1, inoperative=inoperative)
    assert last(results)[0] == Reply("Rejected")
    assert not [a for a in last(results) if isinstance(a, (SwitchContactor, OfferCurrent, StartTransaction))]
    assert contactor(results, 1) is (len(events) == 3)  # only the first resume went on


# ---------------------------------------------------------------- held for maintenance


HOLD = HoldRequested(True)
RELEASE = HoldRequested(False)


def test_a_hold_makes_every_idle_connector_and_the_charger_unavailable() -> None:
    results = run([*STARTED, pilot(2, CP.B), HOLD])
    assert last(results) == [ReportStatus(0, UNAVAILABLE), ReportStatus(1, UNAVAILABLE), ReportStatus(2, UNAVAILABLE)]


def test_a_hold_lets_the_running_transaction_finish_and_holds_its_connector_after() -> None:
    results = run([*STARTED, *charging(1, "T1"), HOLD])
    assert last(results) == [ReportStatus(0, UNAVAILABLE), ReportStatus(2, UNAVAILABLE)]
    assert contactor(results, 1)
    # The driver ends the session as usual; the connector then stays Unavailable, not Finishing.
    results = run([*STARTED, *charging(1, "T1"), HOLD, card("T1")])
    assert last(results) == [*OPEN_1, StopTransaction(1, StopReason.LOCAL, "T1"), Unlock(1), ReportStatus(1, UNAVAILABLE)]


def test_no_session_starts_while_held() -> None:
    # A card: asked (it might stop a session of its group), then refused for want of a connector.
    results = run([*STARTED, HOLD, pilot(1, CP.B), card("T1"), accepted("T1"), pilot(1, CP.C)])
    assert starts(results) == []
    assert CardRejected("T1", ANY_TEXT) in actions(results)
    assert not contactor(results, 1)
    assert last(run([*STARTED, HOLD, pilot(1, CP.B), remote_start("T1", 1)])) == [Reply("Rejected")]
    assert last(run([*STARTED, HOLD, pilot(1, CP.B), remote_start("T1", None)])) == [Reply("Rejected")]


def test_a_hold_ends_a_session_not_yet_begun() -> None:
    """A card accepted before the hold, with no EV yet: the EV plugging in after it must not
    start a transaction the restart would cut."""
    results = run([*STARTED, card("T1"), accepted("T1"), HOLD, pilot(1, CP.B), pilot(1, CP.C)], 1)
    assert starts(results) == []
    assert history(results, 1) == [AVAILABLE, PREPARING, UNAVAILABLE]


def test_a_release_gives_the_connectors_back_as_they_are() -> None:
    results = run([*STARTED, pilot(1, CP.B), HOLD, RELEASE])
    assert last(results) == [ReportStatus(0, AVAILABLE), ReportStatus(1, PREPARING), ReportStatus(2, AVAILABLE)]
    results = run([*STARTED, pilot(1, CP.B), HOLD, RELEASE, card("T1"), accepted("T1"), pilot(1, CP.C)])
    assert starts(results) == [StartTransaction(1, "T1")]
    assert contactor(results, 1)


def test_a_hold_is_not_changeavailability() -> None:
    """Not persisted, and an Inoperative connector stays so after the release."""
    results = run([*STARTED, AvailabilityRequested(2, False), HOLD, RELEASE])
    assert not any(isinstance(a, PersistAvailability) for a in actions(results[2:]))
    assert history(results, 2) == [AVAILABLE, UNAVAILABLE]
    assert last(results) == [ReportStatus(0, AVAILABLE), ReportStatus(1, AVAILABLE)]


def test_a_transaction_cut_by_a_restart_may_resume_while_held() -> None:
    """A release on trial starts held; a transaction the restart cut goes on (with the
    "resume" policy) rather than ending: the hold only keeps new sessions out."""
    charger = Charger.new(1, Policy(), held=True)
    charger, _ = step(charger, pilot(1, CP.C), 0.0)
    charger, acts = step(charger, TransactionResumed(1, "T1", None), 0.0)
    assert acts[0] == Reply("Accepted")
    assert SwitchContactor(1, True) in acts
    charger, acts = step(charger, Started(), 0.0)
    assert acts == [ReportStatus(0, UNAVAILABLE), ReportStatus(1, CHARGING)]


def test_faulted_outranks_held() -> None:
    results = run([*STARTED, HOLD, FaultRaised(1, "GroundFailure")])
    assert last(results) == [ReportStatus(1, FAULTED, "GroundFailure")]


def test_a_session_that_ended_while_held_is_over_when_the_hold_ends() -> None:
    """OCPP 1.6 (4.9) allows no Unavailable -> Finishing: the EV still plugged in shows Preparing."""
    results = run([*STARTED, *charging(1, "T1"), HOLD, card("T1"), RELEASE], 1)
    assert history(results, 1)[-3:] == [CHARGING, UNAVAILABLE, PREPARING]


def test_change_availability_to_operative_while_held_is_scheduled_for_the_end_of_the_hold() -> None:
    results = run([*STARTED, AvailabilityRequested(2, False), HOLD, AvailabilityRequested(2, True)])
    assert last(results) == [Reply("Scheduled"), PersistAvailability(2, True)]
    assert last(run([*STARTED, AvailabilityRequested(2, False), HOLD, AvailabilityRequested(2, True), RELEASE])) == [
        ReportStatus(0, AVAILABLE), ReportStatus(1, AVAILABLE), ReportStatus(2, AVAILABLE)]


def test_back_to_operative_after_a_scheduled_inoperative_the_plugged_ev_shows_preparing() -> None:
    results = run([*STARTED, *charging(1, "T1"), AvailabilityRequested(1, False), card("T1"),
                   AvailabilityRequested(1, True)])
    assert history(results, 1)[-3:] == [CHARGING, UNAVAILABLE, PREPARING]


# ---------------------------------------------------------------- master pass (OCPP 2.0.1 C16)
def master_pass(tag: str) -> AuthorizationResolved:
    return AuthorizationResolved(tag, AuthStatus.MASTER_PASS, "MASTER")


def test_a_master_pass_stops_every_transaction() -> None:
    results = run([*STARTED, *charging(1, "T1"), *charging(2, "T2", "P2"), card("M"), master_pass("M")])
    assert stops(results[-1:]) == [StopTransaction(1, StopReason.MASTER_PASS, "M"),
                                   StopTransaction(2, StopReason.MASTER_PASS, "M")]
    assert not contactor(results, 1) and not contactor(results, 2)


def test_a_master_pass_starts_no_transaction() -> None:
    results = run([*STARTED, pilot(1, CP.B), card("M"), master_pass("M"), pilot(1, CP.C)], count=1)
    assert starts(results) == []
    assert CardRejected("M", ANY_TEXT) in actions(results)


def test_a_remote_start_of_a_master_pass_starts_nothing() -> None:
    results = run([*STARTED, *charging(1, "T1"), remote_start("M", 2), master_pass("M"), pilot(2, CP.B)],
                  policy=AUTHORIZE_REMOTE)
    assert starts(results) == [StartTransaction(1, "T1")]
    assert stops(results) == []
