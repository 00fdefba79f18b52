"""Reservations in the session state machine, as tables.

Expectations come from OCPP 1.6: section 5.13 (ReserveNow answers, who may use a
reserved connector, when a reservation ends, connector 0), section 5.1
(CancelReservation), section 4.9 (Reserved goes to Available when the reservation
expires or is cancelled, to Preparing when its identity is presented) and the
conformance cases TC_046 to TC_053 named in each row.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from agent.session.machine import step
from agent.session.model import (
    Action,
    Authorize,
    AvailabilityRequested,
    CancelReservationRequested,
    CardRejected,
    Charger,
    Event,
    FaultCleared,
    FaultRaised,
    ForgetReservation,
    OfferCurrent,
    PersistAvailability,
    PersistReservation,
    Policy,
    Reply,
    ReportStatus,
    Reservation,
    ReservationEnd,
    ReservationRequested,
    Started,
    StartTransaction,
    Status,
    Tick,
)
from drivers.protocols import PilotState as CP

from .test_machine import (
    ANY_TEXT,
    AUTHORIZE_REMOTE,
    MAX_A,
    STARTED,
    At,
    Case,
    _check,
    _ids,
    accepted,
    actions,
    card,
    charging,
    history,
    pilot,
    remote_start,
    run,
    starts,
)

AVAILABLE = Status.AVAILABLE
PREPARING = Status.PREPARING
CHARGING = Status.CHARGING
RESERVED = Status.RESERVED
UNAVAILABLE = Status.UNAVAILABLE
FAULTED = Status.FAULTED
UNTIL = 1000.0  # the runs last a few seconds: far enough away


def res(rid: int, connector: int, tag: str = "R", parent: str | None = None, expires: float = UNTIL) -> Reservation:
    return Reservation(rid, connector, tag, parent, expires, "2030-01-01T00:00:00.000Z")


def reserve(rid: int, connector: int, tag: str = "R", parent: str | None = None, expires: float = UNTIL) -> ReservationRequested:
    return ReservationRequested(res(rid, connector, tag, parent, expires))


def cancel(rid: int) -> CancelReservationRequested:
    return CancelReservationRequested(rid)


def made(rid: int, connector: int, tag: str = "R", parent: str | None = None) -> list[Action]:
    """What an Accepted ReserveNow gives: the answer, then the reservation kept on record."""
    return [Reply("Accepted"), PersistReservation(res(rid, connector, tag, parent))]


def forgotten(rid: int, why: ReservationEnd) -> ForgetReservation:
    return ForgetReservation(rid, why)


ZERO_OFF = Policy(reserve_connector_zero=False)
#: OCPP 2.0.1's reading (H01, TC_H_14_CS): several reservations without an EVSE.
SEVERAL = Policy(several_wide_reservations=True)

# ---------------------------------------------------------------- ReserveNow answers (section 5.13)

RESERVE_CASES = [
    Case(
        "tc_046_free_connector_is_reserved",
        [*STARTED, reserve(7, 1)],
        [*made(7, 1), ReportStatus(1, RESERVED)],
    ),
    Case(
        "tc_048_1_faulted_connector",
        [*STARTED, FaultRaised(1, "GroundFailure"), reserve(7, 1)],
        [Reply("Faulted")],
    ),
    Case(
        "tc_048_1_faulted_charge_point",
        [*STARTED, FaultRaised(0, "OtherError"), reserve(7, 1)],
        [Reply("Faulted")],
    ),
    Case(
        "tc_048_2_ev_plugged_in_is_occupied",
        [*STARTED, pilot(1, CP.B), reserve(7, 1)],
        [Reply("Occupied")],
    ),
    Case(
        "tc_048_2_card_accepted_waiting_for_its_ev_is_occupied",
        [*STARTED, card("T1"), accepted("T1"), reserve(7, 1)],
        [Reply("Occupied")],
        count=1,
    ),
    Case("tc_048_2_charging_is_occupied", [*STARTED, *charging(1), reserve(7, 1)], [Reply("Occupied")]),
    Case(
        "tc_048_2_finishing_is_occupied",
        [*STARTED, *charging(1), card("T1"), reserve(7, 1)],
        [Reply("Occupied")],
    ),
    Case(
        "tc_048_2_reserved_for_another_reservation_is_occupied",
        [*STARTED, reserve(7, 1), reserve(8, 1, "S")],
        [Reply("Occupied")],
    ),
    Case(
        "tc_048_2_reserved_for_the_same_idtag_under_another_id_is_occupied",
        [*STARTED, reserve(7, 1), reserve(8, 1)],
        [Reply("Occupied")],
    ),
    Case(
        "same_reservation_id_replaces_the_reservation",
        [*STARTED, reserve(7, 1), reserve(7, 1, "S", "P")],
        made(7, 1, "S", "P"),
    ),
    Case(
        "same_reservation_id_moves_the_reservation",
        [*STARTED, reserve(7, 1), reserve(7, 2)],
        [*made(7, 2), ReportStatus(1, AVAILABLE), ReportStatus(2, RESERVED)],
    ),
    Case(
        "a_replacement_that_cannot_be_made_keeps_the_reservation",
        [*STARTED, reserve(7, 1), FaultRaised(2, "GroundFailure"), reserve(7, 2)],
        [Reply("Faulted")],
    ),
    Case(
        "tc_048_3_unavailable_connector",
        [*STARTED, AvailabilityRequested(1, False), reserve(7, 1)],
        [Reply("Unavailable")],
    ),
    Case("unknown_connector_is_rejected", [*STARTED, reserve(7, 3)], [Reply("Rejected")]),
    Case("negative_connector_is_rejected", [*STARTED, reserve(7, -1)], [Reply("Rejected")]),
    Case("expiry_already_past_is_rejected", [*STARTED, At(10.0), reserve(7, 1, expires=9.0)], [Reply("Rejected")]),
    # Connector 0 (TC_049, TC_050).
    Case(
        "connector_0_with_two_free_connectors_reserves_none_of_them",
        [*STARTED, reserve(7, 0)],
        made(7, 0),
    ),
    Case(
        "tc_049_connector_0_with_one_free_connector_keeps_it_reserved",
        [*STARTED, AvailabilityRequested(2, False), reserve(7, 0)],
        [*made(7, 0), ReportStatus(1, RESERVED)],
    ),
    Case(
        "connector_0_not_supported_is_rejected",
        [*STARTED, reserve(7, 0)],
        [Reply("Rejected")],
        policy=ZERO_OFF,
    ),
    Case(
        "connector_0_when_the_charge_point_is_already_reserved_is_occupied",
        [*STARTED, reserve(7, 0), reserve(8, 0, "S")],
        [Reply("Occupied")],
    ),
    Case(
        "tc_h_14_several_charger_wide_reservations_hold_every_spare_connector",
        [*STARTED, reserve(7, 0), reserve(8, 0, "S")],
        [*made(8, 0, "S"), ReportStatus(1, RESERVED), ReportStatus(2, RESERVED)],
        policy=SEVERAL,
    ),
    Case(
        "tc_h_14_one_more_than_the_spare_connectors_is_occupied",
        [*STARTED, reserve(7, 0), reserve(8, 0, "S"), reserve(9, 0, "T")],
        [Reply("Occupied")],
        policy=SEVERAL,
    ),
    Case(
        "tc_h_14_a_connector_in_a_session_is_not_spare",
        [*STARTED, *charging(1, "T1"), reserve(7, 0), reserve(8, 0, "S")],
        [Reply("Occupied")],
        policy=SEVERAL,
    ),
    Case(
        "tc_h_14_a_replacement_is_not_one_more",
        [*STARTED, reserve(7, 0), reserve(8, 0, "S"), reserve(8, 0, "U")],
        [*made(8, 0, "U")],
        policy=SEVERAL,
    ),
    Case(
        "tc_050_2_connector_0_with_every_connector_in_use_is_occupied",
        [*STARTED, *charging(1, "T1"), pilot(2, CP.B), reserve(7, 0)],
        [Reply("Occupied")],
    ),
    Case(
        "tc_050_1_connector_0_with_every_connector_faulted",
        [*STARTED, FaultRaised(1, "GroundFailure"), FaultRaised(2, "GroundFailure"), reserve(7, 0)],
        [Reply("Faulted")],
    ),
    Case(
        "tc_050_1_connector_0_with_the_charge_point_faulted",
        [*STARTED, FaultRaised(0, "OtherError"), reserve(7, 0)],
        [Reply("Faulted")],
    ),
    Case(
        "tc_050_3_connector_0_with_the_charge_point_unavailable",
        [*STARTED, AvailabilityRequested(0, False), reserve(7, 0)],
        [Reply("Unavailable")],
    ),
    Case(
        "tc_050_3_connector_0_with_connectors_faulted_or_unavailable",
        [*STARTED, FaultRaised(1, "GroundFailure"), AvailabilityRequested(2, False), reserve(7, 0)],
        [Reply("Unavailable")],
    ),
    Case(
        "a_connector_kept_for_connector_0_cannot_be_reserved_by_itself",
        [*STARTED, *charging(1), reserve(7, 0), reserve(8, 2, "S")],
        [Reply("Occupied")],
    ),
    Case(
        "reserving_a_connector_leaves_the_other_for_connector_0",
        [*STARTED, reserve(7, 0), reserve(8, 1, "S")],
        [*made(8, 1, "S"), ReportStatus(1, RESERVED), ReportStatus(2, RESERVED)],
    ),
    # CancelReservation (section 5.1).
    Case(
        "tc_051_cancel_makes_the_connector_available",
        [*STARTED, reserve(7, 1), cancel(7)],
        [Reply("Accepted"), forgotten(7, ReservationEnd.CANCELLED), ReportStatus(1, AVAILABLE)],
    ),
    Case("tc_052_cancel_of_an_unknown_id_is_rejected", [*STARTED, reserve(7, 1), cancel(8)], [Reply("Rejected")]),
    Case(
        "cancel_of_a_used_reservation_is_rejected",
        [*STARTED, reserve(7, 1), card("R"), accepted("R"), pilot(1, CP.B), cancel(7)],
        [Reply("Rejected")],
    ),
]


@pytest.mark.parametrize("case", RESERVE_CASES, ids=_ids(RESERVE_CASES))
def test_reserve_and_cancel(case: Case) -> None:
    _check(case)


# ---------------------------------------------------------------- who may use a reserved connector

USE_CASES = [
    Case(
        "tc_046_1_another_card_is_refused_without_asking_the_backend",
        [*STARTED, reserve(7, 1), card("X")],
        [CardRejected("X", ANY_TEXT)],
        count=1,
    ),
    Case(
        "another_card_still_goes_to_a_free_connector",
        [*STARTED, reserve(7, 1), card("X"), accepted("X")],
        [ReportStatus(2, PREPARING)],
    ),
    Case(
        "tc_046_1_the_reserved_card_is_authorized_and_prepares_the_connector",
        [*STARTED, reserve(7, 1), card("R"), accepted("R")],
        [ReportStatus(1, PREPARING)],
        count=1,
    ),
    Case(
        "tc_046_1_plugging_in_starts_and_names_the_reservation",
        [*STARTED, reserve(7, 1), card("R"), accepted("R"), pilot(1, CP.B)],
        [StartTransaction(1, "R", 7), forgotten(7, ReservationEnd.USED), OfferCurrent(1, MAX_A)],
    ),
    Case(
        "the_reserved_card_goes_to_its_own_connector_before_a_free_one",
        [*STARTED, reserve(7, 2), card("R"), accepted("R")],
        [ReportStatus(2, PREPARING)],
    ),
    Case(
        "the_reserved_card_starts_on_a_waiting_ev_elsewhere_and_keeps_the_reservation",
        [*STARTED, reserve(7, 2), pilot(1, CP.B), card("R"), accepted("R")],
        [StartTransaction(1, "R"), OfferCurrent(1, MAX_A)],
    ),
    Case(
        "a_cable_plugged_into_a_reserved_connector_keeps_it_reserved",
        [*STARTED, reserve(7, 1), pilot(1, CP.B)],
        [],
    ),
    Case(
        "a_pilot_error_on_a_reserved_connector_keeps_it_reserved",
        [*STARTED, reserve(7, 1), pilot(1, CP.E)],
        [],
    ),
    Case(
        "another_card_on_a_plugged_reserved_connector_is_refused",
        [*STARTED, reserve(7, 1), pilot(1, CP.B), card("X")],
        [CardRejected("X", ANY_TEXT)],
        count=1,
    ),
    Case(
        "the_reserved_card_on_a_plugged_reserved_connector_starts_preparing",
        [*STARTED, reserve(7, 1), pilot(1, CP.B), card("R"), accepted("R")],
        [StartTransaction(1, "R", 7), forgotten(7, ReservationEnd.USED), OfferCurrent(1, MAX_A), ReportStatus(1, PREPARING)],
        count=1,
    ),
    Case(
        "an_authorized_card_does_not_follow_an_ev_into_a_reserved_connector",
        [*STARTED, card("X"), accepted("X"), reserve(7, 2), pilot(2, CP.B)],
        [],
    ),
    # parentIdTag (TC_053): only the backend knows a card's group, so it is asked.
    Case(
        "tc_053_a_card_is_authorized_when_the_reservation_has_a_parent",
        [*STARTED, reserve(7, 1, "R", "G"), card("M")],
        [Authorize("M")],
        count=1,
    ),
    Case(
        "tc_053_a_card_of_another_group_is_refused",
        [*STARTED, reserve(7, 1, "R", "G"), card("M"), accepted("M", "H")],
        [CardRejected("M", ANY_TEXT)],
        count=1,
    ),
    Case(
        "tc_053_a_card_without_a_group_is_refused",
        [*STARTED, reserve(7, 1, "R", "G"), card("M"), accepted("M")],
        [CardRejected("M", ANY_TEXT)],
        count=1,
    ),
    Case(
        "tc_053_a_card_of_the_group_uses_the_reservation",
        [*STARTED, reserve(7, 1, "R", "G"), card("M"), accepted("M", "G"), pilot(1, CP.B)],
        [StartTransaction(1, "M", 7), forgotten(7, ReservationEnd.USED), OfferCurrent(1, MAX_A)],
        count=1,
    ),
    # Remote start (TC_046_2).
    Case(
        "tc_046_2_remote_start_for_another_idtag_is_rejected",
        [*STARTED, reserve(7, 1), remote_start("X", 1)],
        [Reply("Rejected")],
    ),
    Case(
        "remote_start_without_connector_avoids_the_reserved_one",
        [*STARTED, reserve(7, 1), remote_start("X", None)],
        [Reply("Accepted"), ReportStatus(2, PREPARING)],
    ),
    Case(
        "tc_046_2_remote_start_for_the_reserved_idtag",
        [*STARTED, reserve(7, 1), remote_start("R", 1), pilot(1, CP.B)],
        [StartTransaction(1, "R", 7), forgotten(7, ReservationEnd.USED), OfferCurrent(1, MAX_A)],
    ),
    Case(
        "remote_start_authorized_first_learns_the_group",
        [*STARTED, reserve(7, 1, "R", "G"), remote_start("M", 1), accepted("M", "G"), pilot(1, CP.B)],
        [StartTransaction(1, "M", 7), forgotten(7, ReservationEnd.USED), OfferCurrent(1, MAX_A)],
        policy=AUTHORIZE_REMOTE,
    ),
    Case(
        "remote_start_authorized_first_refuses_another_group",
        [*STARTED, reserve(7, 1, "R", "G"), remote_start("M", 1), accepted("M", "H")],
        [CardRejected("M", ANY_TEXT), ReportStatus(1, RESERVED)],  # Preparing while it was asked
        policy=AUTHORIZE_REMOTE,
    ),
    # Connector 0 (TC_049): one connector stays free for the idTag.
    Case(
        "connector_0_another_card_may_take_one_of_two",
        [*STARTED, reserve(7, 0), card("X"), accepted("X")],
        [ReportStatus(1, PREPARING), ReportStatus(2, RESERVED)],
    ),
    Case(
        "connector_0_the_last_free_connector_refuses_another_card",
        [*STARTED, reserve(7, 0), *charging(1, "X"), card("Y")],
        [CardRejected("Y", ANY_TEXT)],
    ),
    Case(
        "connector_0_an_ev_plugged_into_the_last_free_connector_keeps_it_reserved",
        [*STARTED, reserve(7, 0), *charging(1, "X"), pilot(2, CP.B)],
        [],
    ),
    Case(
        "connector_0_the_idtag_starts_on_any_connector",
        [*STARTED, reserve(7, 0), pilot(2, CP.B), card("R"), accepted("R")],
        [StartTransaction(2, "R", 7), forgotten(7, ReservationEnd.USED), OfferCurrent(2, MAX_A)],
    ),
    Case(
        "connector_0_the_idtag_starts_on_the_last_free_connector",
        [*STARTED, reserve(7, 0), *charging(1, "X"), pilot(2, CP.B), card("R"), accepted("R")],
        [StartTransaction(2, "R", 7), forgotten(7, ReservationEnd.USED), OfferCurrent(2, MAX_A), ReportStatus(2, PREPARING)],
    ),
    Case(
        "connector_0_released_when_a_connector_frees_up",
        [*STARTED, reserve(7, 0), *charging(1, "X"), card("X"), pilot(1, CP.A)],
        [ReportStatus(1, AVAILABLE), ReportStatus(2, AVAILABLE)],
    ),
]


@pytest.mark.parametrize("case", USE_CASES, ids=_ids(USE_CASES))
def test_who_may_use_a_reservation(case: Case) -> None:
    _check(case)


# ---------------------------------------------------------------- how a reservation ends

END_CASES = [
    Case(
        "tc_047_expiry_makes_the_connector_available",
        [*STARTED, reserve(7, 1, expires=5.0), At(5.0), Tick()],
        [forgotten(7, ReservationEnd.EXPIRED), ReportStatus(1, AVAILABLE)],
    ),
    Case("tc_047_not_before_its_expiry", [*STARTED, reserve(7, 1, expires=5.0), At(4.9), Tick()], []),
    Case(
        "an_expired_reservation_is_gone_before_the_next_event_is_judged",
        [*STARTED, reserve(7, 1, expires=5.0), At(6.0), cancel(7)],
        [forgotten(7, ReservationEnd.EXPIRED), Reply("Rejected"), ReportStatus(1, AVAILABLE)],
    ),
    Case(
        "a_fault_on_the_connector_ends_it",
        [*STARTED, reserve(7, 1), FaultRaised(1, "GroundFailure")],
        [forgotten(7, ReservationEnd.FAULTED), ReportStatus(1, FAULTED, "GroundFailure")],
    ),
    Case(
        "after_the_fault_the_connector_is_available_not_reserved",
        [*STARTED, reserve(7, 1), FaultRaised(1, "GroundFailure"), FaultCleared(1, "GroundFailure")],
        [ReportStatus(1, AVAILABLE)],
    ),
    Case(
        "a_charge_point_fault_ends_every_reservation",
        [*STARTED, reserve(7, 1), reserve(8, 0, "S"), FaultRaised(0, "OtherError")],
        [
            forgotten(7, ReservationEnd.FAULTED),
            forgotten(8, ReservationEnd.FAULTED),
            ReportStatus(0, FAULTED, "OtherError"),
            ReportStatus(1, FAULTED, "OtherError"),
            ReportStatus(2, FAULTED, "OtherError"),
        ],
    ),
    Case(
        "a_connector_set_inoperative_ends_its_reservation",
        [*STARTED, reserve(7, 1), AvailabilityRequested(1, False)],
        [
            Reply("Accepted"),
            PersistAvailability(1, False),
            forgotten(7, ReservationEnd.UNAVAILABLE),
            ReportStatus(1, UNAVAILABLE),
        ],
    ),
    Case(
        "the_charge_point_set_inoperative_ends_a_connector_0_reservation",
        [*STARTED, reserve(7, 0), AvailabilityRequested(0, False)],
        [
            Reply("Accepted"),
            PersistAvailability(1, False),
            PersistAvailability(2, False),
            forgotten(7, ReservationEnd.UNAVAILABLE),
            ReportStatus(0, UNAVAILABLE),
            ReportStatus(1, UNAVAILABLE),
            ReportStatus(2, UNAVAILABLE),
        ],
    ),
    Case(
        "a_connector_0_reservation_outlives_a_fault_on_one_connector",
        [*STARTED, reserve(7, 0), FaultRaised(1, "GroundFailure")],
        [ReportStatus(1, FAULTED, "GroundFailure"), ReportStatus(2, RESERVED)],
    ),
    Case(
        "an_authorization_timing_out_leaves_the_connector_reserved_again",
        [*STARTED, reserve(7, 1), card("R"), accepted("R"), At(100.0), Tick()],
        [ReportStatus(1, RESERVED)],
        policy=Policy(connection_timeout=30.0),
    ),
]


@pytest.mark.parametrize("case", END_CASES, ids=_ids(END_CASES))
def test_how_a_reservation_ends(case: Case) -> None:
    _check(case)


def test_tc_046_1_status_flow_reserved_preparing_charging() -> None:
    results = run([*STARTED, reserve(7, 1), card("R"), accepted("R"), pilot(1, CP.B), pilot(1, CP.C)], count=1)
    assert history(results, 1) == [AVAILABLE, RESERVED, PREPARING, CHARGING]
    assert starts(results) == [StartTransaction(1, "R", 7)]


def test_a_start_without_a_reservation_names_none() -> None:
    results = run([*STARTED, reserve(7, 2), *charging(1, "T1")])
    assert starts(results) == [StartTransaction(1, "T1")]
    assert not any(isinstance(a, ForgetReservation) for a in actions(results))


def test_reservations_restored_at_boot_hold_and_an_expired_one_ends_at_the_first_event() -> None:
    restored = (res(7, 1, expires=50.0), res(8, 2, expires=-1.0))
    charger, acts = step(Charger.new(2, Policy(), reservations=restored), Started(), 0.0)
    assert acts == [
        forgotten(8, ReservationEnd.EXPIRED),
        ReportStatus(0, AVAILABLE),
        ReportStatus(1, RESERVED),
        ReportStatus(2, AVAILABLE),
    ]
    assert charger.reservations == (restored[0],)


def test_a_restored_reservation_for_a_connector_no_longer_fitted_ends() -> None:
    _, acts = step(Charger.new(1, Policy(), reservations=(res(7, 2),)), Started(), 0.0)
    assert acts[0] == forgotten(7, ReservationEnd.UNAVAILABLE)


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([reserve(7, 1), card("X"), accepted("X")], [StartTransaction(2, "X")]),
        ([reserve(7, 1), remote_start("X", 1)], []),
        ([reserve(7, 1), pilot(1, CP.B), card("X"), accepted("X")], [StartTransaction(2, "X")]),
        ([reserve(7, 0), *charging(1, "X"), card("Y"), accepted("Y")], [StartTransaction(1, "X")]),
    ],
    ids=["card", "remote_start", "plugged_in_first", "connector_0"],
)
def test_no_other_idtag_ever_starts_on_a_reserved_connector(events: Sequence[Event], expected: list[StartTransaction]) -> None:
    """Whatever EVs then do on both connectors, another idTag never charges where it is kept out."""
    results = run([*STARTED, *events, pilot(1, CP.B), pilot(1, CP.C), pilot(2, CP.B), pilot(2, CP.C)])
    assert starts(results) == expected
