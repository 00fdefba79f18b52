"""What a remote start hands the machine besides the token's value: the token's type
(OCPP 2.0.1 IdTokenEnumType; None, a card, for 1.6 and the reader) and the backend's
number of the request (2.0.1 remoteStartId). Both live with the authorization (or the
pending one), so they reach the transaction the request starts and lapse with it."""

from __future__ import annotations

from agent.session.machine import step
from agent.session.model import (
    CARD,
    AuthorizationResolved,
    Authorize,
    AuthStatus,
    CardPresented,
    Charger,
    Event,
    PilotChanged,
    Policy,
    RemoteStartRequested,
    StartTransaction,
    StopTransaction,
    Tick,
)
from drivers.protocols import PilotState as CP


def run(charger: Charger, events: list[Event], now: float = 0.0) -> tuple[Charger, list[object]]:
    actions: list[object] = []
    for event in events:
        charger, more = step(charger, event, now)
        actions += more
    return charger, actions


def starts(actions: list[object]) -> list[StartTransaction]:
    return [a for a in actions if isinstance(a, StartTransaction)]


def test_the_start_carries_the_requests_token_type_and_id() -> None:
    charger = Charger.new(1, Policy())
    _, actions = run(charger, [RemoteStartRequested("T", 1, "Central", 42), PilotChanged(1, CP.B)])
    assert starts(actions) == [StartTransaction(1, "T", None, "Central", 42)]


def test_a_card_starts_as_a_card_without_a_remote_start_id() -> None:
    charger = Charger.new(1, Policy())
    charger, actions = run(charger, [PilotChanged(1, CP.B), CardPresented("T")])
    assert Authorize("T") in actions
    _, actions = run(charger, [AuthorizationResolved("T", AuthStatus.ACCEPTED)])
    assert starts(actions) == [StartTransaction(1, "T", None, CARD, None)]


def test_a_lapsed_remote_start_leaves_nothing_for_the_next_start_of_the_token() -> None:
    charger = Charger.new(1, Policy(connection_timeout=2.0))
    charger, _ = run(charger, [RemoteStartRequested("T", 1, CARD, 77)], now=0.0)
    charger, _ = run(charger, [Tick()], now=3.0)  # no EV within ConnectionTimeOut
    charger, _ = run(charger, [PilotChanged(1, CP.B), CardPresented("T")], now=4.0)
    _, actions = run(charger, [AuthorizationResolved("T", AuthStatus.ACCEPTED)], now=4.0)
    assert starts(actions) == [StartTransaction(1, "T", None, CARD, None)]


def test_a_refused_remote_start_leaves_nothing_for_the_next_start_of_the_token() -> None:
    charger = Charger.new(1, Policy(authorize_remote_start=True))
    charger, actions = run(charger, [RemoteStartRequested("T", 1, CARD, 78)])
    assert Authorize("T", CARD) in actions
    charger, _ = run(charger, [AuthorizationResolved("T", AuthStatus.BLOCKED)])
    charger, _ = run(charger, [PilotChanged(1, CP.B), CardPresented("T")])
    _, actions = run(charger, [AuthorizationResolved("T", AuthStatus.ACCEPTED)])
    assert starts(actions) == [StartTransaction(1, "T", None, CARD, None)]


def test_an_authorized_remote_start_asks_with_its_type_and_keeps_its_id() -> None:
    charger = Charger.new(1, Policy(authorize_remote_start=True))
    charger, actions = run(charger, [RemoteStartRequested("T", 1, "KeyCode", 5)])
    assert Authorize("T", "KeyCode") in actions
    charger, _ = run(charger, [AuthorizationResolved("T", AuthStatus.ACCEPTED, None, "KeyCode")])
    _, actions = run(charger, [PilotChanged(1, CP.B)])
    assert starts(actions) == [StartTransaction(1, "T", None, "KeyCode", 5)]


def test_two_remote_starts_of_one_token_keep_their_own_ids() -> None:
    charger = Charger.new(2, Policy())
    charger, _ = run(charger, [RemoteStartRequested("T", 1, "Central", 11), RemoteStartRequested("T", 2, "Central", 22)])
    _, actions = run(charger, [PilotChanged(2, CP.B), PilotChanged(1, CP.B)])
    assert starts(actions) == [StartTransaction(2, "T", None, "Central", 22), StartTransaction(1, "T", None, "Central", 11)]


def test_an_unpinned_remote_start_follows_the_ev_with_its_type_and_id() -> None:
    charger = Charger.new(2, Policy())
    charger, _ = run(charger, [RemoteStartRequested("T", None, "Central", 9)])  # given connector 1
    _, actions = run(charger, [PilotChanged(2, CP.B)])
    assert starts(actions) == [StartTransaction(2, "T", None, "Central", 9)]


def test_a_card_with_the_same_characters_does_not_stop_another_kind_of_token() -> None:
    charger = Charger.new(1, Policy())
    charger, _ = run(charger, [RemoteStartRequested("T", 1, "Central", 1), PilotChanged(1, CP.B)])
    charger, actions = run(charger, [CardPresented("T")])
    assert not [a for a in actions if isinstance(a, StopTransaction)]
    assert charger.connectors[0].transaction is not None


def test_a_card_stops_a_remote_start_of_the_same_card() -> None:
    """OCPP 1.6 (no types) and a 2.0.1 remote start of an ISO14443 token: the card is the token."""
    charger = Charger.new(1, Policy())
    charger, _ = run(charger, [RemoteStartRequested("T", 1), PilotChanged(1, CP.B)])
    _, actions = run(charger, [CardPresented("T")])
    assert [a for a in actions if isinstance(a, StopTransaction)][0].id_tag == "T"


def test_a_resumed_transaction_keeps_its_token_type() -> None:
    # After a restart (recovery "resume") a Central token's transaction is still not a
    # card's: a tap of a card with the same characters does not stop it; its own kind
    # of stop (the backend's) still does, and a card's transaction resumed stops by tap.
    from agent.session.model import Started, TransactionResumed

    charger = Charger.new(2, Policy())
    charger, _ = run(charger, [Started(), PilotChanged(1, CP.C), PilotChanged(2, CP.C),
                               TransactionResumed(1, "T", None, "Central"), TransactionResumed(2, "C", None, CARD)])
    _, actions = run(charger, [CardPresented("T")])
    assert not [a for a in actions if isinstance(a, StopTransaction)]
    _, actions = run(charger, [CardPresented("C")])
    assert [a.connector for a in actions if isinstance(a, StopTransaction)] == [2]
