"""The limit core's current reaching the pilot, through the pure machine.

IEC 61851-1: a pilot offers at least 6 A or nothing; the EV must follow a lower offer
within a few seconds. OCPP 1.6 §3.13 and §4.9: a limit of 0 A does not end the
transaction, the connector shows SuspendedEVSE while no energy may be offered.
"""

from __future__ import annotations

from drivers.protocols import PilotState as CP

from agent.session.machine import step
from agent.session.model import (
    LIMIT_OPEN_GRACE_S,
    AuthorizationResolved,
    AuthStatus,
    CardPresented,
    Charger,
    LimitChanged,
    OfferCurrent,
    PilotChanged,
    Policy,
    ReportStatus,
    Started,
    Status,
    StopTransaction,
    SwitchContactor,
    Tick,
)

TAG = "04A1B2C3"


def charging(max_a: float = 32.0) -> tuple[Charger, float]:
    """A connector charging at ``max_a``; returns the charger and the time now."""
    charger = Charger.new(1, Policy(max_current=max_a))
    now = 0.0
    for event in (Started(), PilotChanged(1, CP.B), CardPresented(TAG),
                  AuthorizationResolved(TAG, AuthStatus.ACCEPTED), PilotChanged(1, CP.C)):
        now += 0.1
        charger, _ = step(charger, event, now)
    conn = charger.connector(1)
    assert conn is not None and conn.contactor_closed and conn.offer_a == max_a
    return charger, now


def kinds(actions: list[object], kind: type) -> list[object]:
    return [a for a in actions if isinstance(a, kind)]


def test_a_lower_limit_lowers_the_offer_and_charging_goes_on() -> None:
    charger, now = charging()
    charger, actions = step(charger, LimitChanged(1, 10.0), now + 1)
    assert actions == [OfferCurrent(1, 10.0)]
    conn = charger.connector(1)
    assert conn is not None and conn.contactor_closed and conn.reported == (Status.CHARGING, "NoError")


def test_a_limit_above_the_connector_maximum_offers_the_maximum() -> None:
    charger, now = charging(max_a=16.0)
    charger, actions = step(charger, LimitChanged(1, 40.0), now + 1)
    assert actions == []
    assert charger.connector(1).offer_a == 16.0  # type: ignore[union-attr]


def test_the_offer_moves_in_tenths_of_an_ampere() -> None:
    charger, now = charging()
    charger, actions = step(charger, LimitChanged(1, 11.87), now + 1)
    assert actions == [OfferCurrent(1, 11.8)]
    charger, actions = step(charger, LimitChanged(1, 11.83), now + 2)
    assert actions == []  # the same tenth: the PWM is not rewritten


def test_under_six_amperes_nothing_is_offered_and_the_transaction_stays_open() -> None:
    charger, now = charging()
    charger, actions = step(charger, LimitChanged(1, 5.9), now + 1)
    assert OfferCurrent(1, 0.0) in actions
    assert ReportStatus(1, Status.SUSPENDED_EVSE) in actions
    assert not kinds(actions, StopTransaction)
    # The contactor waits for the EV to stop drawing rather than break the load.
    assert not kinds(actions, SwitchContactor)
    charger, actions = step(charger, PilotChanged(1, CP.B), now + 2)
    assert actions == [SwitchContactor(1, False)]
    conn = charger.connector(1)
    assert conn is not None and conn.transaction is not None


def test_an_ev_that_keeps_drawing_has_its_contactor_opened_after_the_grace() -> None:
    charger, now = charging()
    charger, _ = step(charger, LimitChanged(1, 0.0), now)
    charger, actions = step(charger, Tick(), now + LIMIT_OPEN_GRACE_S - 0.5)
    assert not kinds(actions, SwitchContactor)
    charger, actions = step(charger, Tick(), now + LIMIT_OPEN_GRACE_S + 0.1)
    assert actions == [SwitchContactor(1, False)]


def test_the_limit_rising_again_resumes_charging() -> None:
    charger, now = charging()
    charger, _ = step(charger, LimitChanged(1, 0.0), now)
    charger, _ = step(charger, PilotChanged(1, CP.B), now + 1)
    charger, actions = step(charger, LimitChanged(1, 8.0), now + 60)
    assert actions == [OfferCurrent(1, 8.0)]
    charger, actions = step(charger, PilotChanged(1, CP.C), now + 61)
    assert actions == [SwitchContactor(1, True), ReportStatus(1, Status.CHARGING)]


def test_no_limit_restores_the_connector_maximum() -> None:
    charger, now = charging()
    charger, _ = step(charger, LimitChanged(1, 10.0), now)
    charger, actions = step(charger, LimitChanged(1, None), now + 1)
    assert actions == [OfferCurrent(1, 32.0)]


def test_a_limit_set_before_the_session_applies_from_its_first_offer() -> None:
    charger = Charger.new(1, Policy(max_current=32.0))
    charger, _ = step(charger, Started(), 0.0)
    charger, _ = step(charger, LimitChanged(1, 13.0), 0.1)
    charger, _ = step(charger, PilotChanged(1, CP.B), 0.2)
    charger, _ = step(charger, CardPresented(TAG), 0.3)
    charger, actions = step(charger, AuthorizationResolved(TAG, AuthStatus.ACCEPTED), 0.4)
    assert OfferCurrent(1, 13.0) in actions


def test_a_zero_limit_before_the_session_shows_suspended_evse_once_it_starts() -> None:
    charger = Charger.new(1, Policy(max_current=32.0))
    charger, _ = step(charger, Started(), 0.0)
    charger, _ = step(charger, LimitChanged(1, 0.0), 0.1)
    charger, _ = step(charger, PilotChanged(1, CP.B), 0.2)
    charger, _ = step(charger, CardPresented(TAG), 0.3)
    charger, actions = step(charger, AuthorizationResolved(TAG, AuthStatus.ACCEPTED), 0.4)
    assert not kinds(actions, OfferCurrent)
    assert ReportStatus(1, Status.SUSPENDED_EVSE) in actions
    charger, actions = step(charger, PilotChanged(1, CP.C), 0.5)  # an EV that tries anyway
    assert not kinds(actions, SwitchContactor)
