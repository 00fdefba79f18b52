"""Where a transaction begins (OCPP 2.0.1 TxStartPoint, the machine's
``Policy.start_on_ev_connected`` / ``start_on_authorized``): at the EV plugged in, its
token identified later; or at the token authorized, its EV to come within the connection
timeout. Whatever begins it, energy flows only to an identified transaction with its EV
there, and every start is followed by exactly one stop. And where it also ends (TxStopPoint
EnergyTransfer, ``Policy.stop_when_ev_stops_drawing``): when the EV stops drawing."""

from __future__ import annotations

import random

from agent.session.machine import step
from agent.session.model import (
    CARD,
    Action,
    AuthorizationResolved,
    AuthStatus,
    CancelReservationRequested,
    CardPresented,
    CardRejected,
    Charger,
    ConnectorResetDone,
    ConnectorResetRequested,
    Event,
    FaultCleared,
    FaultRaised,
    LimitChanged,
    OfferCurrent,
    PilotChanged,
    Policy,
    PolicyChanged,
    RecordAuthorization,
    RemoteStartRequested,
    RemoteStopRequested,
    Reply,
    ReportStatus,
    Reservation,
    ReservationRequested,
    Started,
    StartTransaction,
    Status,
    StopReason,
    StopTransaction,
    SwitchContactor,
    Tick,
    TransactionRefused,
)
from drivers.protocols import PilotState as CP

EV_FIRST = Policy(start_on_ev_connected=True, stop_on_ev_disconnect=False)
TOKEN_FIRST = Policy(start_on_authorized=True, connection_timeout=30.0)


def up(count: int, policy: Policy) -> Charger:
    """A charger whose start-up is over (the Started event)."""
    return step(Charger.new(count, policy), Started(), 0.0)[0]


def run(charger: Charger, events: list[Event], now: float = 0.0) -> tuple[Charger, list[Action]]:
    actions: list[Action] = []
    for event in events:
        charger, more = step(charger, event, now)
        actions += more
    return charger, actions


def of(kind: type, actions: list[Action]) -> list[Action]:
    return [a for a in actions if isinstance(a, kind)]


def statuses(actions: list[Action], connector: int = 1) -> list[Status]:
    return [a.status for a in of(ReportStatus, actions) if a.connector == connector]  # type: ignore[attr-defined]


def accepted(charger: Charger, tag: str, now: float = 0.0) -> tuple[Charger, list[Action]]:
    """A card presented and accepted by the backend."""
    return run(charger, [CardPresented(tag), AuthorizationResolved(tag, AuthStatus.ACCEPTED)], now)


# -- EVConnected ----------------------------------------------------------------------------------

def test_the_ev_plugged_in_begins_the_transaction_and_the_card_identifies_it() -> None:
    charger, actions = run(up(1, EV_FIRST), [PilotChanged(1, CP.B)])
    assert of(StartTransaction, actions) == [StartTransaction(1, None, None, CARD, None, "ev")]
    assert not of(OfferCurrent, actions)  # nobody authorized: no energy offered
    assert statuses(actions)[-1] is Status.PREPARING

    charger, actions = accepted(charger, "A")
    assert of(RecordAuthorization, actions) == [RecordAuthorization(1, "A", CARD, None, None)]
    assert not of(StartTransaction, actions)  # the same transaction, now the card's
    assert of(OfferCurrent, actions) and of(OfferCurrent, actions)[0].current_a > 0  # type: ignore[attr-defined]

    charger, actions = run(charger, [PilotChanged(1, CP.C)])
    assert SwitchContactor(1, True) in actions
    _, actions = run(charger, [CardPresented("A")])  # the same card stops it
    assert of(StopTransaction, actions) == [StopTransaction(1, StopReason.LOCAL, "A")]


def test_a_transaction_nobody_authorized_ends_when_its_ev_leaves() -> None:
    charger, _ = run(up(1, EV_FIRST), [PilotChanged(1, CP.B)])
    # StopTxOnEVSideDisconnect is false here, yet there is no one to keep it open for.
    _, actions = run(charger, [PilotChanged(1, CP.A)])
    assert of(StopTransaction, actions) == [StopTransaction(1, StopReason.EV_DISCONNECTED, None)]


def test_an_identified_transaction_stays_open_without_its_ev_as_stop_tx_on_ev_side_disconnect_says() -> None:
    charger, _ = run(up(1, EV_FIRST), [PilotChanged(1, CP.B)])
    charger, _ = accepted(charger, "A")
    _, actions = run(charger, [PilotChanged(1, CP.A)])
    assert not of(StopTransaction, actions)


def test_a_remote_start_on_the_evse_identifies_the_transaction_the_ev_began() -> None:
    charger, _ = run(up(2, EV_FIRST), [PilotChanged(2, CP.B)])
    _, actions = run(charger, [RemoteStartRequested("R", 2, "Central", 9)])
    assert actions[0] == Reply("Accepted")
    assert of(RecordAuthorization, actions) == [RecordAuthorization(2, "R", "Central", 9, None)]
    assert not of(StartTransaction, actions)


def test_a_card_goes_to_the_transaction_awaiting_a_token_before_a_free_connector() -> None:
    charger, _ = run(up(2, EV_FIRST), [PilotChanged(2, CP.B)])
    _, actions = accepted(charger, "A")
    assert of(RecordAuthorization, actions) == [RecordAuthorization(2, "A", CARD, None, None)]


def test_a_refused_card_leaves_the_transaction_waiting_without_energy() -> None:
    charger, _ = run(up(1, EV_FIRST), [PilotChanged(1, CP.B)])
    charger, actions = run(charger, [CardPresented("X"), AuthorizationResolved("X", AuthStatus.INVALID)])
    assert not of(RecordAuthorization, actions) and not of(OfferCurrent, actions)
    _, actions = accepted(charger, "A")  # a good card after it still identifies it
    assert of(RecordAuthorization, actions) == [RecordAuthorization(1, "A", CARD, None, None)]


def test_the_backend_refusing_the_token_later_suspends_or_stops_as_stop_tx_on_invalid_id_says() -> None:
    for stop, expected in ((True, [StopTransaction(1, StopReason.DE_AUTHORIZED, None)]), (False, [])):
        policy = Policy(start_on_ev_connected=True, stop_on_invalid_id=stop)
        charger, _ = run(up(1, policy), [PilotChanged(1, CP.C)])
        charger, _ = accepted(charger, "A")
        charger, actions = run(charger, [TransactionRefused(1, AuthStatus.BLOCKED)])
        assert of(StopTransaction, actions) == expected
        assert SwitchContactor(1, False) in actions


def test_a_reserved_connector_does_not_begin_a_transaction_for_any_ev() -> None:
    reservation = Reservation(1, 1, "OWNER", None, expires=100.0, expiry_date="2030-01-01T00:00:00Z")
    charger, _ = run(up(1, EV_FIRST), [ReservationRequested(reservation), PilotChanged(1, CP.B)])
    assert charger.connectors[0].transaction is None
    _, actions = accepted(charger, "OWNER")  # its own card starts it, and uses the reservation up
    assert [a.started_by for a in of(StartTransaction, actions)] == [None]  # type: ignore[attr-defined]
    assert of(StartTransaction, actions)[0].reservation_id == 1  # type: ignore[attr-defined]


def test_a_faulted_connector_begins_once_the_fault_clears_with_the_ev_still_plugged_in() -> None:
    # E01.FR.02 is a condition: an EV connected and no transaction on the EVSE.
    charger, _ = run(up(1, EV_FIRST), [FaultRaised(1, "GroundFailure"), PilotChanged(1, CP.B)])
    assert charger.connectors[0].transaction is None
    _, actions = run(charger, [FaultCleared(1, "GroundFailure")])
    assert [a.started_by for a in of(StartTransaction, actions)] == ["ev"]  # type: ignore[attr-defined]


def test_a_cancelled_reservation_lets_the_ev_plugged_in_there_begin() -> None:
    reservation = Reservation(1, 1, "OWNER", None, expires=100.0, expiry_date="2030-01-01T00:00:00Z")
    charger, _ = run(up(1, EV_FIRST), [ReservationRequested(reservation), PilotChanged(1, CP.B)])
    _, actions = run(charger, [CancelReservationRequested(1)])
    assert [a.started_by for a in of(StartTransaction, actions)] == ["ev"]  # type: ignore[attr-defined]


def test_a_reset_evse_begins_again_for_the_ev_still_plugged_in() -> None:
    charger, _ = run(up(1, EV_FIRST), [PilotChanged(1, CP.B)])
    charger, actions = run(charger, [ConnectorResetRequested(1, True)])
    assert of(StopTransaction, actions) and not of(StartTransaction, actions)  # Unavailable meanwhile
    _, actions = run(charger, [ConnectorResetDone(1)])
    assert [a.started_by for a in of(StartTransaction, actions)] == ["ev"]  # type: ignore[attr-defined]


def test_the_ev_still_plugged_in_after_its_transaction_ended_begins_nothing() -> None:
    charger, _ = run(up(1, EV_FIRST), [PilotChanged(1, CP.B)])
    charger, _ = accepted(charger, "A")
    charger, actions = run(charger, [CardPresented("A")])  # stopped at the charger, the EV stays
    assert of(StopTransaction, actions) and not of(StartTransaction, actions)
    _, actions = run(charger, [PilotChanged(1, CP.A), PilotChanged(1, CP.B)])  # the next EV
    assert [a.started_by for a in of(StartTransaction, actions)] == ["ev"]  # type: ignore[attr-defined]


def test_a_reservation_on_another_evse_does_not_keep_a_card_from_the_transaction_the_ev_began() -> None:
    reservation = Reservation(1, 2, "OWNER", None, expires=100.0, expiry_date="2030-01-01T00:00:00Z")
    charger, _ = run(up(2, EV_FIRST), [ReservationRequested(reservation), PilotChanged(1, CP.B)])
    _, actions = accepted(charger, "A")
    assert not of(CardRejected, actions)
    assert of(RecordAuthorization, actions) == [RecordAuthorization(1, "A", CARD, None, None)]


def test_a_reservation_without_an_evse_leaves_the_spare_evses_to_the_ev() -> None:
    policy = Policy(start_on_ev_connected=True, several_wide_reservations=True)
    reservation = Reservation(1, 0, "OWNER", None, expires=100.0, expiry_date="2030-01-01T00:00:00Z")
    charger, actions = run(up(3, policy), [ReservationRequested(reservation)])
    assert actions[0] == Reply("Accepted")
    charger, actions = run(charger, [PilotChanged(1, CP.B), PilotChanged(2, CP.B)])  # spares left besides
    assert [a.connector for a in of(StartTransaction, actions)] == [1, 2]  # type: ignore[attr-defined]
    _, actions = run(charger, [PilotChanged(3, CP.B)])  # the last spare is kept for the reservation
    assert not of(StartTransaction, actions)
    _, actions = accepted(charger, "Y")  # and a card still identifies the first EV's transaction
    assert of(RecordAuthorization, actions) == [RecordAuthorization(1, "Y", CARD, None, None)]


def test_an_evse_reset_scheduled_keeps_a_card_from_the_waiting_transaction() -> None:
    charger, _ = run(up(1, EV_FIRST), [PilotChanged(1, CP.B)])
    charger, actions = run(charger, [ConnectorResetRequested(1, False)])
    assert actions[0] == Reply("Scheduled")
    _, actions = accepted(charger, "A")
    assert not of(RecordAuthorization, actions) and not of(OfferCurrent, actions)


def test_an_ev_plugged_in_at_start_up_begins_a_transaction_only_once_start_up_is_over() -> None:
    charger, actions = run(Charger.new(1, EV_FIRST), [PilotChanged(1, CP.B)])
    assert not of(StartTransaction, actions)  # a transaction cut by the restart may be resumed here
    _, actions = run(charger, [Started()])
    assert of(StartTransaction, actions) == [StartTransaction(1, None, None, CARD, None, "ev")]


def test_without_the_start_point_the_ev_alone_begins_nothing() -> None:
    charger, actions = run(up(1, Policy()), [PilotChanged(1, CP.B)])
    assert not of(StartTransaction, actions)


# -- Authorized -----------------------------------------------------------------------------------

def test_the_token_authorized_begins_the_transaction_and_the_ev_has_the_connection_timeout() -> None:
    charger, actions = accepted(up(1, TOKEN_FIRST), "A", now=0.0)
    assert of(StartTransaction, actions) == [StartTransaction(1, "A", None, CARD, None, "authorization")]
    assert not of(OfferCurrent, actions)  # no EV: nothing offered yet
    assert statuses(actions)[-1] is Status.PREPARING
    charger, actions = run(charger, [Tick()], now=29.0)
    assert not of(StopTransaction, actions)
    charger, actions = run(charger, [PilotChanged(1, CP.B)], now=29.5)
    assert of(OfferCurrent, actions)
    _, actions = run(charger, [Tick()], now=60.0)  # the EV came: no timeout any more
    assert not of(StopTransaction, actions)


def test_no_ev_within_the_connection_timeout_ends_the_transaction_with_timeout() -> None:
    charger, _ = accepted(up(1, TOKEN_FIRST), "A", now=0.0)
    charger, actions = run(charger, [Tick()], now=30.0)
    assert of(StopTransaction, actions) == [StopTransaction(1, StopReason.TIMEOUT, None)]
    assert charger.connectors[0].transaction is None
    assert statuses(actions)[-1] is Status.AVAILABLE


def test_the_same_card_again_before_the_ev_ends_the_transaction() -> None:
    charger, _ = accepted(up(1, TOKEN_FIRST), "A")
    _, actions = run(charger, [CardPresented("A")])
    assert of(StopTransaction, actions) == [StopTransaction(1, StopReason.LOCAL, "A")]


def test_a_remote_start_begins_at_once_and_a_remote_stop_ends_it_before_the_ev() -> None:
    charger, actions = run(up(1, TOKEN_FIRST), [RemoteStartRequested("R", 1, "Central", 4)])
    assert of(StartTransaction, actions) == [StartTransaction(1, "R", None, "Central", 4, "authorization")]
    _, actions = run(charger, [RemoteStopRequested(1)])
    assert of(StopTransaction, actions) == [StopTransaction(1, StopReason.REMOTE, None)]


def test_an_ev_plugged_in_first_starts_as_before() -> None:
    charger, _ = run(up(1, TOKEN_FIRST), [PilotChanged(1, CP.B)])
    _, actions = accepted(charger, "A")
    assert [a.started_by for a in of(StartTransaction, actions)] == [None]  # type: ignore[attr-defined]


def test_both_start_points_the_ev_begins_it_and_the_card_identifies_it() -> None:
    policy = Policy(start_on_ev_connected=True, start_on_authorized=True)
    charger, actions = run(up(1, policy), [PilotChanged(1, CP.B)])
    assert [a.started_by for a in of(StartTransaction, actions)] == ["ev"]  # type: ignore[attr-defined]
    _, actions = accepted(charger, "A")
    assert not of(StartTransaction, actions) and of(RecordAuthorization, actions)


# -- EnergyTransfer as a start point --------------------------------------------------------------

ENERGY_FIRST = Policy(start_on_energy_transfer=True)


def test_the_authorized_ev_is_offered_current_and_the_transaction_begins_as_it_draws() -> None:
    charger, _ = run(up(1, ENERGY_FIRST), [PilotChanged(1, CP.B)])
    charger, actions = accepted(charger, "A")
    assert not of(StartTransaction, actions)  # no energy yet: no transaction
    assert of(OfferCurrent, actions) and SwitchContactor(1, True) not in actions
    _, actions = run(charger, [PilotChanged(1, CP.C)])
    assert of(StartTransaction, actions) == [StartTransaction(1, "A", None, CARD, None, "energy")]
    # Journaled first: the contactor closes after the start (the shell runs actions in order).
    assert actions.index(of(StartTransaction, actions)[0]) < actions.index(SwitchContactor(1, True))


def test_a_card_before_the_ev_waits_for_it_and_for_its_first_energy() -> None:
    charger, actions = accepted(up(1, ENERGY_FIRST), "A")
    assert not of(StartTransaction, actions) and not of(OfferCurrent, actions)
    charger, actions = run(charger, [PilotChanged(1, CP.B)])
    assert not of(StartTransaction, actions) and of(OfferCurrent, actions)
    _, actions = run(charger, [PilotChanged(1, CP.C)])
    assert [a.started_by for a in of(StartTransaction, actions)] == ["energy"]  # type: ignore[attr-defined]


def test_an_ev_already_asking_begins_as_the_card_is_accepted() -> None:
    charger, _ = run(up(1, ENERGY_FIRST), [PilotChanged(1, CP.C)])
    _, actions = accepted(charger, "A")
    assert [a.started_by for a in of(StartTransaction, actions)] == ["energy"]  # type: ignore[attr-defined]
    assert SwitchContactor(1, True) in actions


def test_an_ev_that_leaves_before_drawing_leaves_no_transaction() -> None:
    charger, _ = run(up(1, ENERGY_FIRST), [PilotChanged(1, CP.B)])
    charger, _ = accepted(charger, "A")
    charger, actions = run(charger, [PilotChanged(1, CP.A)])
    assert not of(StartTransaction, actions) and not of(StopTransaction, actions)
    assert of(OfferCurrent, actions) == [OfferCurrent(1, 0.0)]


def test_the_same_card_again_before_any_energy_cancels_it() -> None:
    charger, _ = run(up(1, ENERGY_FIRST), [PilotChanged(1, CP.B)])
    charger, _ = accepted(charger, "A")
    charger, actions = run(charger, [CardPresented("A")])
    assert of(OfferCurrent, actions) == [OfferCurrent(1, 0.0)]
    _, actions = run(charger, [PilotChanged(1, CP.C)])
    assert not of(StartTransaction, actions)


def test_an_authorization_leaves_with_the_ev_that_never_drew() -> None:
    charger, _ = run(up(1, ENERGY_FIRST), [PilotChanged(1, CP.B)])
    charger, _ = accepted(charger, "A")
    charger, _ = run(charger, [PilotChanged(1, CP.A)])
    _, actions = run(charger, [PilotChanged(1, CP.B), PilotChanged(1, CP.C)])  # the next driver's EV
    assert not of(OfferCurrent, actions) or all(a.current_a == 0 for a in of(OfferCurrent, actions))  # type: ignore[attr-defined]
    assert not of(StartTransaction, actions)


def test_a_start_point_changed_while_an_ev_waits_for_energy_starts_its_transaction() -> None:
    charger, _ = run(up(1, ENERGY_FIRST), [PilotChanged(1, CP.B)])
    charger, _ = accepted(charger, "A")
    _, actions = run(charger, [PolicyChanged(Policy())])  # back to PowerPathClosed
    assert [a.started_by for a in of(StartTransaction, actions)] == [None]  # type: ignore[attr-defined]


def test_an_ev_asking_under_a_limit_that_offers_nothing_starts_nothing() -> None:
    charger, _ = run(up(1, ENERGY_FIRST), [LimitChanged(1, 0.0), PilotChanged(1, CP.C)])
    charger, actions = accepted(charger, "A")
    assert not of(StartTransaction, actions)
    _, actions = run(charger, [LimitChanged(1, 16.0)])  # the limit rises: it is offered, then draws
    assert of(OfferCurrent, actions) == [OfferCurrent(1, 16.0)]


# -- EnergyTransfer as a stop point ---------------------------------------------------------------

def _drawing(policy: Policy) -> Charger:
    charger, _ = run(up(1, policy), [PilotChanged(1, CP.B)])
    charger, _ = accepted(charger, "A")
    charger, actions = run(charger, [PilotChanged(1, CP.C)], now=5.0)
    assert SwitchContactor(1, True) in actions
    return charger


def test_the_ev_that_stops_drawing_ends_the_transaction_with_energy_transfer() -> None:
    charger = _drawing(Policy(stop_when_ev_stops_drawing=True))
    charger, actions = run(charger, [PilotChanged(1, CP.B)], now=9.0)
    assert of(StopTransaction, actions) == [StopTransaction(1, StopReason.STOPPED_BY_EV, None)]
    assert actions.index(SwitchContactor(1, False)) < actions.index(of(StopTransaction, actions)[0])
    _, actions = run(charger, [PilotChanged(1, CP.C)], now=10.0)  # it asks again: a new token is needed
    assert not of(StartTransaction, actions) and SwitchContactor(1, True) not in actions


def test_the_ev_pulled_away_while_drawing_ends_the_energy_transfer_and_the_transaction() -> None:
    policy = Policy(stop_when_ev_stops_drawing=True, stop_on_ev_disconnect=False)
    charger = _drawing(policy)
    _, actions = run(charger, [PilotChanged(1, CP.A)], now=9.0)
    assert of(StopTransaction, actions) == [StopTransaction(1, StopReason.EV_DISCONNECTED, None)]


def test_without_energy_transfer_the_ev_pausing_only_suspends() -> None:
    charger = _drawing(Policy())
    _, actions = run(charger, [PilotChanged(1, CP.B)], now=9.0)
    assert not of(StopTransaction, actions)


def test_a_limit_that_withdraws_the_offer_ends_nothing_when_the_ev_stops_drawing() -> None:
    charger = _drawing(Policy(stop_when_ev_stops_drawing=True))
    charger, _ = run(charger, [LimitChanged(1, 0.0)], now=9.0)  # a smart-charging pause
    _, actions = run(charger, [PilotChanged(1, CP.B)], now=10.0)
    assert not of(StopTransaction, actions)


def test_an_ev_that_never_drew_is_not_stopped_by_energy_transfer() -> None:
    charger, _ = run(up(1, Policy(stop_when_ev_stops_drawing=True)), [PilotChanged(1, CP.B)])
    charger, _ = accepted(charger, "A")
    _, actions = run(charger, [PilotChanged(1, CP.B)], now=9.0)
    assert not of(StopTransaction, actions)


# -- over random sequences ------------------------------------------------------------------------

def _random_events(rng: random.Random, count: int) -> list[tuple[float, Event]]:
    now, events = 0.0, []
    tags = ("A", "B", "C")
    for _ in range(60):
        now += rng.choice((0.5, 2.0, 20.0))
        pick = rng.random()
        n = rng.randint(1, count)
        if pick < 0.3:
            event: Event = PilotChanged(n, rng.choice((CP.A, CP.B, CP.C)))
        elif pick < 0.45:
            event = CardPresented(rng.choice(tags))
        elif pick < 0.65:
            event = AuthorizationResolved(rng.choice(tags), rng.choice((AuthStatus.ACCEPTED, AuthStatus.INVALID)))
        elif pick < 0.72:
            event = RemoteStartRequested(rng.choice(tags), rng.choice((None, n)), rng.choice((CARD, "Central")), 1)
        elif pick < 0.77:
            event = RemoteStopRequested(n)
        elif pick < 0.82:
            event = TransactionRefused(n, AuthStatus.BLOCKED)
        elif pick < 0.87:
            event = FaultRaised(n, "GroundFailure")
        elif pick < 0.92:
            event = FaultCleared(n, "GroundFailure")
        else:
            event = Tick()
        events.append((now, event))
    return events


def test_over_random_sequences_energy_flows_only_to_an_identified_transaction_with_its_ev() -> None:
    seen: set[object] = set()  # the kinds of starts and stops the sequences reached
    for seed in range(400):
        rng = random.Random(seed)
        count = rng.randint(1, 2)
        energy_only = rng.random() < 0.25  # TxStartPoint EnergyTransfer decides only alone
        policy = Policy(start_on_ev_connected=not energy_only and rng.random() < 0.6,
                        start_on_authorized=not energy_only and rng.random() < 0.6,
                        start_on_energy_transfer=energy_only, stop_when_ev_stops_drawing=rng.random() < 0.4,
                        stop_on_ev_disconnect=rng.random() < 0.5, stop_on_invalid_id=rng.random() < 0.5,
                        connection_timeout=30.0)
        charger = up(count, policy)
        open_tx: dict[int, bool] = {n: False for n in range(1, count + 1)}
        identified: dict[int, bool] = {n: False for n in range(1, count + 1)}
        ev_came: dict[int, bool] = {n: False for n in range(1, count + 1)}  # since the transaction began
        pilot = {n: CP.A for n in range(1, count + 1)}
        for now, event in _random_events(rng, count):
            charger, actions = step(charger, event, now)
            if isinstance(event, PilotChanged) and 1 <= event.connector <= count:
                pilot[event.connector] = event.state
                ev_came[event.connector] = ev_came[event.connector] or event.state.plugged
            where = f"seed {seed}: {event!r} -> {actions!r}"
            for action in actions:
                if isinstance(action, StartTransaction):
                    assert not open_tx[action.connector], where
                    open_tx[action.connector] = True
                    identified[action.connector] = action.id_tag is not None
                    ev_came[action.connector] = pilot[action.connector].plugged
                    assert action.id_tag is not None or action.started_by == "ev", where
                    assert pilot[action.connector].plugged or action.started_by == "authorization", where
                    assert action.started_by != "energy" or pilot[action.connector] is CP.C, where
                    seen.add(action.started_by)
                elif isinstance(action, RecordAuthorization):
                    assert open_tx[action.connector] and not identified[action.connector], where
                    identified[action.connector] = True
                elif isinstance(action, StopTransaction):
                    assert open_tx[action.connector], where
                    open_tx[action.connector] = False
                    seen.add(action.reason)
                elif isinstance(action, SwitchContactor) and action.closed:
                    n = action.connector
                    assert open_tx[n] and identified[n] and pilot[n] is CP.C, where
                elif isinstance(action, OfferCurrent) and action.current_a:
                    n = action.connector
                    # Or, starting with the energy transfer, to an authorized EV before it asks.
                    assert (open_tx[n] and identified[n] and ev_came[n]) or (
                        policy.start_on_energy_transfer and not open_tx[n] and pilot[n].plugged), where
    assert {None, "ev", "authorization", "energy", StopReason.TIMEOUT, StopReason.EV_DISCONNECTED, StopReason.STOPPED_BY_EV} <= seen
