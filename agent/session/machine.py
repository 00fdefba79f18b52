"""The charging session state machine: ``step(charger, event, now) -> (charger, actions)``.

Pure on purpose: no I/O, no clock reads (``now`` is a monotonic time fed in by the
shell), so every scenario is a table of events and expected actions that runs in
microseconds. The outputs (contactor, current offer) and the reported status are not
stored decisions but *derived* from the state after each event by :func:`_settle`,
which makes the safety rule hold by construction: the contactor is closed only for
an authorized transaction, a pilot asking for power and no fault.

Reservations (OCPP 1.6 sections 3.11 and 5.13) are checked the same way: whether a
connector shows Reserved, and who may start on it, is derived from the reservations
held, and a reservation that no longer holds (expired, charge point or connector
Faulted or Unavailable) is ended before and after every event.

Action order matters and is fixed: contactors that must open come first (before any
report), then what the event itself asks (transactions, authorization, replies),
then offers and contactors that may close, then status reports.
"""

from __future__ import annotations

import math
from dataclasses import replace

from drivers.protocols import PilotState

from .model import (
    CARD,
    NO_ERROR,
    PILOT_ERROR,
    Action,
    Authorization,
    AuthorizationResolved,
    Authorize,
    AuthStatus,
    AvailabilityRequested,
    CancelReservationRequested,
    CardPresented,
    CardRejected,
    Charger,
    Connector,
    ConnectorResetDone,
    ConnectorResetRequested,
    EnergyDelivered,
    Event,
    FaultCleared,
    FaultRaised,
    ForgetReservation,
    HoldRequested,
    OfferCurrent,
    Pending,
    PersistAvailability,
    PersistReservation,
    PilotChanged,
    PolicyChanged,
    RecordAuthorization,
    RemoteStartRequested,
    RemoteStopRequested,
    Reply,
    ReportStatus,
    Reservation,
    ReservationEnd,
    ReservationRequested,
    ResetConnector,
    LimitChanged,
    LIMIT_OPEN_GRACE_S,
    MIN_OFFER_A,
    Started,
    StartTransaction,
    Status,
    StopAllRequested,
    StopReason,
    StopTransaction,
    SwitchContactor,
    Tick,
    Transaction,
    TransactionConfirmed,
    TransactionRefused,
    TransactionResumed,
    Unlock,
    UnlockRequested,
)


#: How long an EV may take to answer a new current offer before it counts as suspended.
EV_ANSWER_GRACE_S = 3.0


def step(charger: Charger, event: Event, now: float) -> tuple[Charger, list[Action]]:
    """Apply one event; return the new state and the actions to carry out, in order."""
    handler = _HANDLERS[type(event)]
    charger, ended = _end_reservations(charger, now)  # an expired one is gone before the event
    changed, actions = handler(charger, event, now)
    changed, ended_by_event = _end_reservations(changed, now)
    changed, begun = _begin_where_evs_wait(changed)
    changed = _track_ev_away(changed, now)
    return _settle(changed, ended + actions + ended_by_event + begun, now)


# ---------------------------------------------------------------- derived outputs


def connector_error(charger: Charger, conn: Connector) -> str | None:
    """The error code that withholds energy from the connector, or None."""
    withholds = charger.policy.withholds
    own = sorted(c for c in conn.faults if withholds(c))
    if own:
        return own[0]
    shared = sorted(c for c in charger.faults if withholds(c))
    if shared:
        return shared[0]
    if conn.pilot in (PilotState.E, PilotState.F):
        return PILOT_ERROR
    return None


def offer_limit(charger: Charger, conn: Connector) -> float:
    """The most the connector may offer now: its configured maximum, or the limit core's
    current when lower, in steps of 0.1 A (a limit that wobbles in the second decimal,
    like a share of a measured house load, does not rewrite the PWM each second)."""
    limit = charger.policy.max_current
    if conn.limit_a is not None:
        limit = min(limit, max(0.0, conn.limit_a))
    return math.floor(limit * 10 + 1e-9) / 10


def energy_allowed(charger: Charger, conn: Connector) -> bool:
    """Whether the connector may offer energy at all (before looking at the EV): only to a
    transaction with an authorized token, whose EV has come (one begun by an
    authorization offers nothing before), and no fault."""
    tx = conn.transaction
    return (
        tx is not None
        and tx.identified
        and not tx.refused
        and tx.ev_deadline is None
        and connector_error(charger, conn) is None
    )


def derive_status(charger: Charger, conn: Connector) -> tuple[Status, str]:
    """The connector's OCPP status and error code; a fault that does not withhold energy
    (a warning) shows as the error code of the status the connector has anyway."""
    status, code = _status(charger, conn)
    if code == NO_ERROR:
        warnings = sorted(c for c in conn.faults if not charger.policy.withholds(c))
        if warnings:
            return status, warnings[0]
    return status, code


def _status(charger: Charger, conn: Connector) -> tuple[Status, str]:
    error = connector_error(charger, conn)
    if error is not None and error != PILOT_ERROR:
        return Status.FAULTED, error
    # A pilot in E or F withholds energy like a fault, but OCPP 1.6 (4.9) allows
    # EVCommunicationError only as a warning with Preparing, SuspendedEV, SuspendedEVSE
    # or Finishing, never with Faulted.
    pilot_error = error is not None
    warning = PILOT_ERROR if pilot_error else NO_ERROR
    tx = conn.transaction
    if tx is not None and (not tx.identified or tx.ev_deadline is not None):
        # A transaction begun by the EV or by the token alone is still being set up.
        return Status.PREPARING, warning
    if tx is not None:
        # Suspended by the EVSE (refused idTag, pilot error) outranks SuspendedEV (4.9).
        if not energy_allowed(charger, conn):
            return Status.SUSPENDED_EVSE, warning
        if conn.limited_since is not None:  # a limit under the pilot's minimum
            return Status.SUSPENDED_EVSE, NO_ERROR
        if conn.pilot is PilotState.C:
            return Status.CHARGING, NO_ERROR
        if conn.pilot is PilotState.D:  # ventilation asked for: not supported here
            return Status.SUSPENDED_EVSE, NO_ERROR
        return Status.SUSPENDED_EV, NO_ERROR  # B, or A with the transaction kept open
    if not conn.operative or charger.held or conn.resetting:
        return Status.UNAVAILABLE, NO_ERROR
    if conn.finishing and (conn.pilot.plugged or pilot_error):
        return Status.FINISHING, warning
    if _reserved(charger, conn):
        # An EV plugged in (even one in error) leaves it Reserved: only the reservation's
        # own card moves it on (section 4.9: Reserved goes to Preparing when the
        # reservation identity is presented).
        return Status.RESERVED, NO_ERROR
    if pilot_error or conn.pilot.plugged or conn.authorization is not None or _pending_for(charger, conn.id):
        return Status.PREPARING, warning
    return Status.AVAILABLE, NO_ERROR


def derive_charger_status(charger: Charger) -> tuple[Status, str]:
    withholding = sorted(c for c in charger.faults if charger.policy.withholds(c))
    if withholding:
        return Status.FAULTED, withholding[0]
    warning = min(charger.faults, default=NO_ERROR)
    if charger.held or not any(c.operative for c in charger.connectors):
        return Status.UNAVAILABLE, warning
    return Status.AVAILABLE, warning


def _settle(charger: Charger, event_actions: list[Action], now: float) -> tuple[Charger, list[Action]]:
    opening: list[Action] = []
    closing: list[Action] = []
    reports: list[Action] = []
    connectors = []
    for conn in charger.connectors:
        allowed = energy_allowed(charger, conn)
        offers = allowed or offers_before_start(charger, conn)
        limit = offer_limit(charger, conn)
        limited = offers and limit < MIN_OFFER_A
        since = (conn.limited_since if conn.limited_since is not None else now) if limited else None
        offer = limit if offers and not limited else 0.0
        closed = allowed and conn.pilot is PilotState.C
        if limited:
            # The offer is withdrawn at once; the contactor waits for the EV to stop
            # drawing (it leaves C), or opens anyway once the grace is over.
            assert since is not None
            closed = closed and conn.contactor_closed and now - since < LIMIT_OPEN_GRACE_S
        if conn.limited_since is not None and since is None:
            conn = replace(conn, limit_lifted_at=now)
        conn = replace(conn, limited_since=since)
        if conn.contactor_closed and not closed:
            opening.append(SwitchContactor(conn.id, False))
        if offer != conn.offer_a:
            (closing if offer else opening).append(OfferCurrent(conn.id, offer))
        if closed and not conn.contactor_closed:
            closing.append(SwitchContactor(conn.id, True))
        if offer and not conn.offer_a:
            conn = replace(conn, offered_at=now)
        conn = replace(conn, contactor_closed=closed, offer_a=offer)
        status = _shown(charger, conn, derive_status(charger, conn))
        if _ev_still_answering(conn, status, now):
            assert conn.reported is not None
            # A new session shows Preparing; one resuming after a limit stays SuspendedEVSE.
            status = (Status.PREPARING, NO_ERROR) if conn.reported[0] in _NOT_IN_SESSION else conn.reported
        if status != conn.reported:
            reports.append(ReportStatus(conn.id, *status))
            conn = replace(conn, reported=status)
        connectors.append(conn)
    charger = replace(charger, connectors=tuple(connectors))
    overall = derive_charger_status(charger)
    if overall != charger.reported:
        reports.insert(0, ReportStatus(0, *overall))
        charger = replace(charger, reported=overall)
    return charger, opening + event_actions + closing + reports


_NOT_IN_SESSION = (Status.AVAILABLE, Status.PREPARING, Status.FINISHING, Status.RESERVED)


def offers_before_start(charger: Charger, conn: Connector) -> bool:
    """Policy.start_on_energy_transfer: an authorized EV is offered current before its
    transaction, which begins as it asks for energy; the contactor still closes only for
    the transaction (see _settle)."""
    return (
        charger.policy.start_on_energy_transfer
        and conn.transaction is None
        and conn.authorization is not None
        and conn.pilot.plugged
        and conn.operative
        and not charger.held
        and not charger.closing
        and connector_error(charger, conn) is None
    )


def _begin_with(charger: Charger, conn: Connector, auth: Authorization) -> Result:
    """An authorization meets its EV on ``conn``: the transaction begins, or with
    Policy.start_on_energy_transfer the authorization waits there, offering current, for
    the EV to ask for energy."""
    offered = offer_limit(charger, conn) >= MIN_OFFER_A  # an EV in C under a limit draws nothing yet
    if charger.policy.start_on_energy_transfer and (conn.pilot is not PilotState.C or not offered):
        return _update(charger, replace(conn, authorization=replace(auth, pinned=True), finishing=False)), []
    started_by = "energy" if charger.policy.start_on_energy_transfer else None  # an EV asking already
    return _start(charger, conn, auth.id_tag, auth.parent_id_tag, auth, started_by=started_by)


def _shown(charger: Charger, conn: Connector, status: tuple[Status, str]) -> tuple[Status, str]:
    """The status reported for the connector: with ``Policy.ev_away_available`` a
    transaction kept open while its EV is away leaves the connector Available (OCPP 2.0.1
    E10: nothing is plugged in; the transaction's chargingState Idle says the rest).
    Only the report changes: the machine's own rules (reservations, who may start) still
    see the connector in use."""
    if (
        charger.policy.ev_away_available
        and conn.transaction is not None
        and conn.pilot is PilotState.A
        and status[0] in (Status.SUSPENDED_EV, Status.SUSPENDED_EVSE)
    ):
        return Status.AVAILABLE, status[1]
    return status


def _track_ev_away(charger: Charger, now: float) -> Charger:
    """Note since when the EV of each open transaction is away (pilot A), for the
    connection timeout that ends such a transaction (see :func:`_ev_away_timeouts`); an EV
    coming back, or the transaction's end, clears it."""
    connectors = list(charger.connectors)
    changed = False
    for i, conn in enumerate(connectors):
        tx = conn.transaction
        # One begun by its token still waits for its first EV: its own deadline applies.
        away = tx is not None and tx.ev_deadline is None and conn.pilot is PilotState.A
        left = (conn.ev_left_at if conn.ev_left_at is not None else now) if away else None
        if left != conn.ev_left_at:
            connectors[i] = replace(conn, ev_left_at=left)
            changed = True
    return replace(charger, connectors=tuple(connectors)) if changed else charger


def _ev_still_answering(conn: Connector, status: tuple[Status, str], now: float) -> bool:
    """Whether a new session still shows Preparing because the EV has not answered yet.

    An EV answers a new PWM offer by moving from B to C within a few seconds (IEC 61851
    allows it time); reporting SuspendedEV in that gap would tell the backend the EV
    refused energy when it simply had not answered yet. Preparing (without any earlier
    warning) stands until the EV answers or the grace ends; a Tick then reports
    SuspendedEV if the EV stays in B. Likewise SuspendedEVSE stands while an EV answers
    an offer that a rising limit gave back.
    """
    return (
        status[0] is Status.SUSPENDED_EV
        and conn.pilot is PilotState.B
        and conn.offered_at is not None
        and now - conn.offered_at < EV_ANSWER_GRACE_S
        and conn.reported is not None
        and (conn.reported[0] in _NOT_IN_SESSION or _limit_just_lifted(conn, now))
    )


def _limit_just_lifted(conn: Connector, now: float) -> bool:
    return (
        conn.reported == (Status.SUSPENDED_EVSE, NO_ERROR)
        and conn.limit_lifted_at is not None
        and now - conn.limit_lifted_at < EV_ANSWER_GRACE_S
    )


# ---------------------------------------------------------------- helpers

Result = tuple[Charger, list[Action]]


def _pending_for(charger: Charger, number: int) -> bool:
    return any(p.connector == number for p in charger.pending)


def _update(charger: Charger, conn: Connector) -> Charger:
    items = list(charger.connectors)
    items[conn.id - 1] = conn
    return replace(charger, connectors=tuple(items))


def _can_start(charger: Charger, conn: Connector) -> bool:
    """Free for a new session: operative, not held, healthy, no transaction, not promised to someone."""
    return (
        not charger.closing
        and not charger.held
        and conn.operative
        and not conn.resetting
        and conn.transaction is None
        and conn.authorization is None
        and not _pending_for(charger, conn.id)
        and connector_error(charger, conn) is None
    )


def _awaits_token(charger: Charger, conn: Connector) -> bool:
    """An EV began a transaction here and it waits for a token (Policy.start_on_ev_connected):
    a card or a remote start may identify it, as they would start one on a free connector."""
    tx = conn.transaction
    return (
        tx is not None
        and not tx.identified
        and not charger.closing
        and not charger.held
        and conn.operative
        and not _pending_for(charger, conn.id)
        and not conn.reset_scheduled  # an EVSE reset waits for it: nothing more begins there
        and connector_error(charger, conn) is None
    )


def _open_to_token(charger: Charger, conn: Connector) -> bool:
    """Where a token may set up a session: a free connector, or a transaction awaiting one."""
    return _can_start(charger, conn) or _awaits_token(charger, conn)


def _start(
    charger: Charger, conn: Connector, id_tag: str | None, parent: str | None, auth: Authorization | None = None,
    *, started_by: str | None = None,
) -> Result:
    """Start a transaction; a reservation it fulfils ends, and the start names it. The
    authorization it comes from, if any, gives the token's type and remote start; begun by
    it alone (``started_by="authorization"``), the EV must come by the authorization's deadline."""
    used = None if id_tag is None else _used_reservation(charger, conn.id, id_tag, parent)
    token_type = auth.token_type if auth is not None else CARD
    remote_start_id = auth.remote_start_id if auth is not None else None
    ev_deadline = auth.deadline if auth is not None and started_by == "authorization" else None
    conn = replace(
        conn,
        authorization=None,
        finishing=False,
        transaction=Transaction(id_tag=id_tag, parent_id_tag=parent, token_type=token_type, ev_deadline=ev_deadline),
    )
    charger = _update(charger, conn)
    reservation_id = None if used is None else used.id
    start = StartTransaction(conn.id, id_tag, reservation_id, token_type, remote_start_id, started_by)
    if used is None:
        return charger, [start]
    charger = replace(charger, reservations=tuple(r for r in charger.reservations if r.id != used.id))
    return charger, [start, ForgetReservation(used.id, ReservationEnd.USED)]


def _identify(charger: Charger, conn: Connector, auth: Authorization) -> Result:
    """A token authorized for the transaction an EV began here: the transaction is the
    token's from now on (energy may flow), and a reservation it fulfils ends."""
    assert conn.transaction is not None
    used = _used_reservation(charger, conn.id, auth.id_tag, auth.parent_id_tag)
    tx = replace(conn.transaction, id_tag=auth.id_tag, parent_id_tag=auth.parent_id_tag, token_type=auth.token_type)
    charger = _update(charger, replace(conn, transaction=tx, finishing=False))
    record = RecordAuthorization(conn.id, auth.id_tag, auth.token_type, auth.remote_start_id,
                                 None if used is None else used.id)
    if used is None:
        return charger, [record]
    charger = replace(charger, reservations=tuple(r for r in charger.reservations if r.id != used.id))
    return charger, [record, ForgetReservation(used.id, ReservationEnd.USED)]


def _stop(
    charger: Charger, conn: Connector, reason: StopReason, id_tag: str | None = None, *, unlock: bool = True
) -> Result:
    """End the connector's transaction, release the cable (unless told not to) and apply
    an availability change, or begin a reset of the connector, that was waiting for the
    transaction to end."""
    operative = conn.operative if conn.scheduled_operative is None else conn.scheduled_operative
    actions: list[Action] = [StopTransaction(conn.id, reason, id_tag)]
    if unlock:
        actions.append(Unlock(conn.id))
    # A scheduled change was persisted when it was scheduled (see _on_availability).
    conn = replace(
        conn,
        transaction=None,
        finishing=conn.pilot.plugged,
        operative=operative,
        scheduled_operative=None,
    )
    charger = _update(charger, conn)
    if conn.reset_scheduled:
        charger, reset = _begin_reset(charger, conn)
        actions += reset
    return charger, actions


def _begin_reset(charger: Charger, conn: Connector) -> Result:
    """Reset a connector without a transaction: what it held for a session to come (an
    authorization waiting for an EV, one being asked for it, the end of the last one) is
    dropped, and it shows Unavailable until the shell has set it up afresh."""
    conn = replace(conn, resetting=True, reset_scheduled=False, authorization=None, finishing=False)
    charger = _update(charger, conn)
    charger = replace(charger, pending=tuple(p for p in charger.pending if p.connector != conn.id))
    return charger, [ResetConnector(conn.id)]


def _authorize_on(
    charger: Charger, conn: Connector, id_tag: str, parent: str | None, now: float, *, pinned: bool = False,
    token_type: str | None = CARD, remote_start_id: int | None = None,
) -> Result:
    """Grant ``id_tag`` the connector: identify the transaction an EV began here, start at
    once if an EV is there, or (Policy.start_on_authorized) start without it; else wait
    for one."""
    deadline = now + charger.policy.connection_timeout
    auth = Authorization(id_tag, parent, deadline, pinned, token_type, remote_start_id)
    if conn.transaction is not None:
        return _identify(charger, conn, auth)
    if conn.pilot.plugged and not charger.policy.start_on_authorized:
        return _begin_with(charger, conn, auth)
    if conn.pilot.plugged:
        return _start(charger, conn, id_tag, parent, auth)
    if charger.policy.start_on_authorized:
        return _start(charger, conn, id_tag, parent, auth, started_by="authorization")
    conn = replace(conn, authorization=auth, finishing=False)
    return _update(charger, conn), []


def _pick_connector(charger: Charger, id_tag: str, parent: str | None, known: bool = True) -> Connector | None:
    """Where a card applies: a waiting EV first (lowest number), else the card's own
    reserved connector, else a free connector; never where reservations keep it out."""
    free = [c for c in charger.connectors if _open_to_token(charger, c) and _may_take(charger, c, id_tag, parent, known)]
    for conn in free:
        if conn.pilot.plugged and not conn.finishing:
            return conn
    for conn in free:
        if conn.pilot.plugged:
            return conn
    for conn in free:
        own = _reservation_on(charger, conn.id)
        if own is not None and own.admits(id_tag, parent):
            return conn
    return free[0] if free else None


# ---------------------------------------------------------------- reservations


def _reservation_on(charger: Charger, number: int) -> Reservation | None:
    return next((r for r in charger.reservations if r.connector == number), None)


def _charger_wide(charger: Charger) -> list[Reservation]:
    return [r for r in charger.reservations if r.connector == 0]


def _spare(charger: Charger, conn: Connector) -> bool:
    """Could serve a charger-wide reservation: operative, not Faulted, not reserved on its
    own and no session on it (an EV plugged in without one does not count, so plugging in
    never releases a connector kept for a reservation)."""
    error = connector_error(charger, conn)
    return (
        conn.operative
        and (error is None or error == PILOT_ERROR)
        and conn.transaction is None
        and conn.authorization is None
        and not conn.finishing
        and not _pending_for(charger, conn.id)
        and _reservation_on(charger, conn.id) is None
    )


def _held(charger: Charger) -> frozenset[int]:
    """Connectors kept for charger-wide reservations. Section 5.13: with connector 0 no
    specific connector is reserved, but one connector must remain available for the
    idTag at any time; so the spare connectors are held once there are no more of them
    than such reservations, and are open to anyone while there are more."""
    wide = len(_charger_wide(charger))
    if not wide:
        return frozenset()
    spare = frozenset(c.id for c in charger.connectors if _spare(charger, c))
    return spare if len(spare) <= wide else frozenset()


def _reserved(charger: Charger, conn: Connector) -> bool:
    """Shown as Reserved: kept for a reservation, and no session is being set up on it."""
    if conn.authorization is not None or _pending_for(charger, conn.id):
        return False
    return _reservation_on(charger, conn.id) is not None or conn.id in _held(charger)


def _admits(reservation: Reservation, id_tag: str, parent: str | None, known: bool) -> bool:
    """Whether the reservation lets the card in; before the card's parent is ``known``, a
    reservation with a parentIdTag might."""
    return reservation.admits(id_tag, parent) or (not known and reservation.parent_id_tag is not None)


def _may_take(charger: Charger, conn: Connector, id_tag: str, parent: str | None, known: bool = True) -> bool:
    """Whether reservations let ``id_tag`` set up a session on the connector: its own
    reservation's card only; or, while charger-wide reservations exist, their cards, or
    anyone who leaves a spare connector for each of them."""
    own = _reservation_on(charger, conn.id)
    if own is not None:
        return _admits(own, id_tag, parent, known)
    wide = _charger_wide(charger)
    if not wide or any(_admits(r, id_tag, parent, known) for r in wide):
        return True
    others = sum(1 for c in charger.connectors if c.id != conn.id and _spare(charger, c))
    return others >= len(wide)


def _used_reservation(charger: Charger, number: int, id_tag: str, parent: str | None) -> Reservation | None:
    """The reservation a transaction of ``id_tag`` on the connector fulfils: the
    connector's own, else a charger-wide one (which any connector fulfils)."""
    own = _reservation_on(charger, number)
    if own is not None and own.admits(id_tag, parent):
        return own
    return next((r for r in _charger_wide(charger) if r.admits(id_tag, parent)), None)


def _why_ended(charger: Charger, reservation: Reservation, now: float) -> ReservationEnd | None:
    """Section 5.13: a reservation ends at its expiryDate, or when the charge point or its
    connector becomes Faulted or Unavailable."""
    if now >= reservation.expires:
        return ReservationEnd.EXPIRED
    if _charger_faulted(charger):
        return ReservationEnd.FAULTED
    if charger.held or not any(c.operative for c in charger.connectors):
        return ReservationEnd.UNAVAILABLE
    if reservation.connector == 0:
        return None
    conn = charger.connector(reservation.connector)
    if conn is None or not conn.operative:
        return ReservationEnd.UNAVAILABLE
    error = connector_error(charger, conn)
    if error is not None and error != PILOT_ERROR:
        return ReservationEnd.FAULTED
    return None


def _end_reservations(charger: Charger, now: float) -> Result:
    if not charger.reservations:
        return charger, []
    kept: list[Reservation] = []
    actions: list[Action] = []
    for reservation in charger.reservations:
        why = _why_ended(charger, reservation, now)
        if why is None:
            kept.append(reservation)
        else:
            actions.append(ForgetReservation(reservation.id, why))
    return (replace(charger, reservations=tuple(kept)), actions) if actions else (charger, [])


def _reservation_answer(charger: Charger, new: Reservation, now: float) -> str:
    """ReserveNow's status for a reservation, judged without the one it replaces."""
    if new.expires <= now:
        return "Rejected"  # already over: it could never be used
    if new.connector == 0:
        if not charger.policy.reserve_connector_zero:
            return "Rejected"
        if _charger_faulted(charger):
            return "Faulted"
        wide = _charger_wide(charger)
        if wide and not charger.policy.several_wide_reservations:
            return "Occupied"  # the charge point is already reserved (section 5.13)
        if wide:  # each reservation keeps a connector: one more needs one more spare
            spare = sum(1 for c in charger.connectors if _spare(charger, c))
            return "Accepted" if spare > len(wide) else "Occupied"
        statuses = [derive_status(charger, c)[0] for c in charger.connectors]
        if Status.AVAILABLE in statuses:
            return "Accepted"
        if all(s is Status.FAULTED for s in statuses):
            return "Faulted"
        if all(s in (Status.FAULTED, Status.UNAVAILABLE) for s in statuses):
            return "Unavailable"
        return "Occupied"
    conn = charger.connector(new.connector)
    if conn is None:
        return "Rejected"
    status = derive_status(charger, conn)[0]
    if status in (Status.FAULTED, Status.UNAVAILABLE):
        return status.value
    # Only an Available connector can be reserved: any other is in someone's session,
    # finishing one, or already reserved (or held for a charger-wide reservation).
    return "Accepted" if status is Status.AVAILABLE else "Occupied"


# ---------------------------------------------------------------- event handlers


def _on_started(charger: Charger, event: Started, now: float) -> Result:
    # From now on an EV plugged in begins a transaction (see _begin_where_evs_wait): one
    # found at start-up whose transaction was not resumed begins one with this event.
    return replace(charger, reported=None, up=True,
                   connectors=tuple(replace(c, reported=None) for c in charger.connectors)), []


def _begin_where_evs_wait(charger: Charger) -> Result:
    """TxStartPoint EVConnected is a condition, not a moment (E01.FR.02: an EV connected
    and no transaction on the EVSE): checked after every event, so an EV plugged in begins
    a transaction as soon as nothing keeps it (the plug-in itself, or later: a fault
    cleared, a reservation ended, the EVSE operative again or reset, the setting changed,
    the agent's start-up over). Not while the EV is still plugged in after its transaction
    ended (``finishing``): that session is over, the next begins with the next EV."""
    actions: list[Action] = []
    for number in range(1, len(charger.connectors) + 1):
        conn = charger.connectors[number - 1]
        auth = conn.authorization
        if auth is not None and auth.pinned and conn.pilot.plugged and not charger.policy.start_on_energy_transfer \
                and _can_start(charger, replace(conn, authorization=None)):
            # An authorization that met its EV waiting for its first energy, and the start
            # point changed meanwhile: the transaction begins now.
            charger, started = _start(charger, conn, auth.id_tag, auth.parent_id_tag, auth)
            actions += started
        elif (charger.policy.start_on_ev_connected and charger.up and conn.pilot.plugged and not conn.finishing
              and _can_start(charger, conn) and _open_to_anyone(charger, conn)):
            charger, started = _start(charger, conn, None, None, started_by="ev")
            actions += started
    return charger, actions


def _open_to_anyone(charger: Charger, conn: Connector) -> bool:
    """No reservation keeps the connector from a session of whoever comes: it has none of
    its own, and reservations without a connector leave a spare connector for each of them
    without it (the rule of :func:`_may_take` for a token no reservation admits)."""
    if _reservation_on(charger, conn.id) is not None:
        return False
    wide = _charger_wide(charger)
    others = sum(1 for c in charger.connectors if c.id != conn.id and _spare(charger, c))
    return not wide or others >= len(wide)


def _on_pilot(charger: Charger, event: PilotChanged, now: float) -> Result:
    conn = charger.connector(event.connector)
    if conn is None:
        return charger, []
    was_plugged = conn.pilot.plugged
    # Drawing what was offered: not an EV that stops because a limit withdrew the offer.
    drew = conn.contactor_closed and conn.offer_a > 0 and energy_allowed(charger, conn)
    conn = replace(conn, pilot=event.state)
    charger = _update(charger, conn)
    actions: list[Action] = []
    if event.state is PilotState.A:
        # An authorization that met this EV (TxStartPoint EnergyTransfer) leaves with it:
        # the next EV is not offered current on the last driver's token.
        met = charger.policy.start_on_energy_transfer and was_plugged and conn.authorization is not None
        conn = replace(conn, finishing=False, authorization=None if met else conn.authorization)
        charger = _update(charger, conn)
        tx = conn.transaction
        # A transaction nobody authorized has nothing to wait for once its EV left; with
        # TxStopPoint EnergyTransfer, the energy transfer ends with the EV pulled away too.
        ends = (charger.policy.stop_on_ev_disconnect or not tx.identified
                or (charger.policy.stop_when_ev_stops_drawing and drew)) if tx is not None else False
        if tx is not None and tx.ev_deadline is None and ends:
            return _stop(charger, conn, StopReason.EV_DISCONNECTED, unlock=charger.policy.unlock_on_ev_disconnect)
        return charger, actions
    tx = conn.transaction
    if event.state is PilotState.B and tx is not None and drew and charger.policy.stop_when_ev_stops_drawing:
        # TxStopPoint EnergyTransfer: the energy transfer is over, and the transaction with it.
        return _stop(charger, conn, StopReason.STOPPED_BY_EV)
    if event.state.plugged and tx is not None and tx.ev_deadline is not None:
        # The EV a transaction begun by its authorization waited for.
        return _update(charger, replace(conn, transaction=replace(tx, ev_deadline=None))), actions
    auth = conn.authorization
    if event.state is PilotState.C and tx is None and auth is not None and offers_before_start(charger, conn) \
            and offer_limit(charger, conn) >= MIN_OFFER_A:
        # TxStartPoint EnergyTransfer: the EV asks for the energy offered; the start is
        # journaled before the contactor closes (the actions run in order).
        return _start(charger, conn, auth.id_tag, auth.parent_id_tag, auth, started_by="energy")
    if event.state.plugged and not was_plugged and conn.transaction is None:
        if conn.authorization is not None:
            return _begin_with(charger, conn, conn.authorization)
        # Identification first on another connector: the card follows the EV, unless
        # the backend named the connector or this one awaits its own authorization.
        for other in charger.connectors:
            auth = other.authorization
            if auth is not None and not auth.pinned and not other.pilot.plugged and _can_start(charger, conn):
                moved = _update(charger, replace(other, authorization=None))
                here = moved.connectors[conn.id - 1]
                if _may_take(moved, here, auth.id_tag, auth.parent_id_tag):
                    return _begin_with(moved, here, auth)
    return charger, actions  # with TxStartPoint EVConnected the EV alone begins one (step)


def _on_card(charger: Charger, event: CardPresented, now: float) -> Result:
    tag = event.id_tag
    # A card is the same token only as a card's: a remote start's Central or KeyCode
    # token with the same characters is another one.
    for conn in charger.connectors:
        tx = conn.transaction
        if tx is not None and tx.id_tag == tag and tx.token_type == CARD:
            return _stop(charger, conn, StopReason.LOCAL, tag)
    for conn in charger.connectors:
        auth = conn.authorization
        if auth is not None and auth.id_tag == tag and auth.token_type == CARD:
            # The same card again before an EV arrived: the driver changed their mind.
            return _update(charger, replace(conn, authorization=None)), []
    if any(p.id_tag == tag and p.token_type == CARD for p in charger.pending):
        return charger, []
    if _kept_out(charger, tag):
        return charger, [CardRejected(tag, "connector reserved")]
    pending = replace(charger, pending=charger.pending + (Pending(tag, None, remote=False),))
    return pending, [Authorize(tag)]


def _kept_out(charger: Charger, tag: str) -> bool:
    """Whether reservations alone keep the card from every free connector, whatever its
    parent: then it is refused without asking the backend (TC_046_1). Not when it might
    stop a transaction of its group, which only the backend's parentIdTag can tell."""
    free = [c for c in charger.connectors if _open_to_token(charger, c)]
    grouped = any(c.transaction is not None and c.transaction.parent_id_tag for c in charger.connectors)
    return bool(free) and not grouped and not any(_may_take(charger, c, tag, None, known=False) for c in free)


def _on_authorization(charger: Charger, event: AuthorizationResolved, now: float) -> Result:
    match = next(
        (p for p in charger.pending if p.id_tag == event.id_tag and p.token_type == event.token_type), None
    )
    if match is None:
        return charger, []
    charger = replace(charger, pending=tuple(p for p in charger.pending if p is not match))
    if event.status is AuthStatus.MASTER_PASS:
        return _master_pass(charger, event.id_tag, remote=match.remote)
    if event.status is not AuthStatus.ACCEPTED:
        return charger, [CardRejected(event.id_tag, event.status.value)]
    parent = event.parent_id_tag
    if not match.remote and parent:
        for conn in charger.connectors:
            tx = conn.transaction
            if tx is not None and tx.parent_id_tag == parent:
                return _stop(charger, conn, StopReason.LOCAL, event.id_tag)
    if match.connector is not None:
        target = charger.connector(match.connector)
        if target is None or not _open_to_token(charger, target) or not _may_take(charger, target, event.id_tag, parent):
            return charger, [CardRejected(event.id_tag, "connector no longer free")]
    else:
        target = _pick_connector(charger, event.id_tag, parent)
        if target is None:
            return charger, [CardRejected(event.id_tag, "no connector free")]
    return _authorize_on(charger, target, event.id_tag, parent, now, pinned=match.pinned,
                         token_type=match.token_type, remote_start_id=match.remote_start_id)


def _master_pass(charger: Charger, id_tag: str, *, remote: bool) -> Result:
    """A master pass card presented stops every transaction (a station without a display
    to choose one, OCPP 2.0.1 C16.FR.02); it never starts one, nor does a remote start
    of it."""
    running = [c for c in charger.connectors if c.transaction is not None]
    if remote or not running:
        return charger, [CardRejected(id_tag, "a master pass starts no transaction")]
    actions: list[Action] = []
    for conn in running:
        charger, stopped = _stop(charger, charger.connectors[conn.id - 1], StopReason.MASTER_PASS, id_tag)
        actions += stopped
    return charger, actions


def _on_remote_start(charger: Charger, event: RemoteStartRequested, now: float) -> Result:
    # With AuthorizeRemoteTxRequests the idTag's parent is learnt before the start.
    known = not charger.policy.authorize_remote_start
    if event.connector is not None:
        target = charger.connector(event.connector)
        if target is None or not _open_to_token(charger, target) or not _may_take(charger, target, event.id_tag, None, known):
            return charger, [Reply("Rejected")]
    else:
        target = _pick_connector(charger, event.id_tag, None, known)
        if target is None:
            return charger, [Reply("Rejected")]
    pinned = event.connector is not None
    if charger.policy.authorize_remote_start:
        pending = Pending(event.id_tag, target.id, remote=True, pinned=pinned, token_type=event.token_type,
                          remote_start_id=event.remote_start_id)
        authorize = Authorize(event.id_tag, event.token_type)
        return replace(charger, pending=charger.pending + (pending,)), [Reply("Accepted"), authorize]
    charger, actions = _authorize_on(charger, target, event.id_tag, None, now, pinned=pinned,
                                     token_type=event.token_type, remote_start_id=event.remote_start_id)
    return charger, [Reply("Accepted"), *actions]


def _on_remote_stop(charger: Charger, event: RemoteStopRequested, now: float) -> Result:
    conn = charger.connector(event.connector)
    if conn is None or conn.transaction is None:
        return charger, [Reply("Rejected")]
    charger, actions = _stop(charger, conn, StopReason.REMOTE)
    return charger, [Reply("Accepted"), *actions]


def _on_refused(charger: Charger, event: TransactionRefused, now: float) -> Result:
    """The backend refused the idTag of a started transaction. With a MaxEnergyOnInvalidId
    allowance left (counted from the transaction's start, as the energy a refused idTag
    had), charging goes on until it is used up (OCPP 2.0.1 C15.FR.07, E05.FR.03; TC_C_15,
    TC_C_18); then, or at once without one, the refusal acts (:func:`_refusal_acts`)."""
    conn = charger.connector(event.connector)
    if conn is None or conn.transaction is None or conn.transaction.refused:
        return charger, []  # refused already: the Started event was answered again
    budget = charger.policy.max_energy_on_invalid_id
    if budget > 0 and event.energy_wh < budget:
        return _update(charger, replace(conn, transaction=replace(conn.transaction, budget_wh=budget))), []
    return _refusal_acts(charger, conn)


def _refusal_acts(charger: Charger, conn: Connector) -> Result:
    """StopTransactionOnInvalidId true ends the refused transaction (DeAuthorized); false
    keeps it open without energy (SuspendedEVSE) until the driver or the backend ends it."""
    assert conn.transaction is not None
    if charger.policy.stop_on_invalid_id:
        return _stop(charger, conn, StopReason.DE_AUTHORIZED)
    tx = replace(conn.transaction, refused=True, budget_wh=None)
    return _update(charger, replace(conn, transaction=tx)), []


def _on_energy(charger: Charger, event: EnergyDelivered, now: float) -> Result:
    """A refused transaction's MaxEnergyOnInvalidId allowance is used up once the energy
    it delivered reaches it ("has been reached", the requirement's own words)."""
    conn = charger.connector(event.connector)
    if conn is None or conn.transaction is None or conn.transaction.budget_wh is None:
        return charger, []
    if event.energy_wh < conn.transaction.budget_wh:
        return charger, []
    return _refusal_acts(charger, conn)


def _on_confirmed(charger: Charger, event: TransactionConfirmed, now: float) -> Result:
    conn = charger.connector(event.connector)
    if conn is None or conn.transaction is None or not event.parent_id_tag:
        return charger, []
    return _update(charger, replace(conn, transaction=replace(conn.transaction, parent_id_tag=event.parent_id_tag))), []


def _on_resumed(charger: Charger, event: TransactionResumed, now: float) -> Result:
    conn = charger.connector(event.connector)
    if (
        conn is None
        or conn.transaction is not None
        or not conn.operative
        or not conn.pilot.plugged
        or charger.closing
    ):
        return charger, [Reply("Rejected")]
    tx = Transaction(event.id_tag, event.parent_id_tag, token_type=event.token_type)
    return _update(charger, replace(conn, transaction=tx, authorization=None, finishing=False)), [Reply("Accepted")]


def _charger_faulted(charger: Charger) -> bool:
    """Whether a charger-wide fault withholds energy (a warning such as ReaderFailure does not)."""
    return any(charger.policy.withholds(c) for c in charger.faults)


def _on_fault(charger: Charger, event: FaultRaised | FaultCleared, now: float) -> Result:
    """Record the fault; a raised one that withholds energy also ends an incipient session
    (card accepted, no EV yet), so a connector that was not available for energy never
    starts a transaction when the EV arrives."""
    raised = isinstance(event, FaultRaised)
    ends_incipient = raised and charger.policy.withholds(event.code)
    if event.connector == 0:
        faults = charger.faults | {event.code} if raised else charger.faults - {event.code}
        connectors = (
            tuple(replace(c, authorization=None) for c in charger.connectors) if ends_incipient else charger.connectors
        )
        return replace(charger, faults=faults, connectors=connectors), []
    conn = charger.connector(event.connector)
    if conn is None:
        return charger, []
    faults = conn.faults | {event.code} if raised else conn.faults - {event.code}
    conn = replace(conn, faults=faults, authorization=None if ends_incipient else conn.authorization)
    return _update(charger, conn), []


def _on_availability(charger: Charger, event: AvailabilityRequested, now: float) -> Result:
    if event.connector == 0:
        targets = list(charger.connectors)
    else:
        conn = charger.connector(event.connector)
        if conn is None:
            return charger, [Reply("Rejected")]
        targets = [conn]
    scheduled = False
    actions: list[Action] = []
    for conn in targets:
        if conn.transaction is not None and not event.operative:
            # Persisted now: should the agent restart before the transaction ends, the
            # connector comes back Inoperative, as it would have become.
            if conn.operative:
                actions.append(PersistAvailability(conn.id, False))
            conn = replace(conn, scheduled_operative=False)
            scheduled = True
        else:
            if conn.operative != event.operative or conn.scheduled_operative is not None:
                actions.append(PersistAvailability(conn.id, event.operative))
            if event.operative and not conn.operative:
                # Back from Unavailable a session's end is over: OCPP 1.6 (4.9) has no
                # Unavailable -> Finishing; an EV still plugged in shows Preparing.
                conn = replace(conn, finishing=False)
            conn = replace(conn, operative=event.operative, scheduled_operative=None)
            if not event.operative:
                conn = replace(conn, authorization=None)
            elif charger.held:
                scheduled = True  # stored now; shown once the hold for a firmware update ends
        charger = _update(charger, conn)
    if not event.operative:
        dropped = {c.id for c in targets}
        charger = replace(charger, pending=tuple(p for p in charger.pending if p.connector not in dropped))
    return charger, [Reply("Scheduled" if scheduled else "Accepted"), *actions]


def _on_stop_all(charger: Charger, event: StopAllRequested, now: float) -> Result:
    actions: list[Action] = []
    for conn in charger.connectors:
        # The whole charger restarts: a reset of one connector waiting for it is part of that.
        conn = replace(conn, reset_scheduled=False)
        if conn.transaction is not None:
            charger, more = _stop(charger, conn, event.reason)
            actions += more
        charger = _update(charger, replace(charger.connectors[conn.id - 1], authorization=None))
    return replace(charger, pending=(), closing=True), actions


def _on_hold(charger: Charger, event: HoldRequested, now: float) -> Result:
    """Hold or release the connectors; a card accepted for a connector that has no EV yet
    loses it (its session has not begun, and would be cut). On release, a session that
    ended while held is over: OCPP 1.6 (4.9) has no Unavailable -> Finishing, so an EV
    still plugged in shows Preparing."""
    if not event.held:
        connectors = tuple(replace(c, finishing=False) for c in charger.connectors)
        return replace(charger, held=False, connectors=connectors), []
    connectors = tuple(replace(c, authorization=None) for c in charger.connectors)
    return replace(charger, held=True, connectors=connectors), []


def _on_connector_reset(charger: Charger, event: ConnectorResetRequested, now: float) -> Result:
    """Accepted (reset now, a running transaction ended first when ``immediate``),
    Scheduled (the reset follows the end of the running transaction) or Rejected (no
    such connector). Asked again while scheduled it stays scheduled, or goes ahead at
    once when ``immediate``; asked while under way, the reset under way is the answer."""
    conn = charger.connector(event.connector)
    if conn is None:
        return charger, [Reply("Rejected")]
    if conn.resetting:
        return charger, [Reply("Accepted")]
    if conn.transaction is None:
        charger, actions = _begin_reset(charger, conn)
        return charger, [Reply("Accepted"), *actions]
    conn = replace(conn, reset_scheduled=True)
    if not event.immediate:
        return _update(charger, conn), [Reply("Scheduled")]
    charger, actions = _stop(charger, conn, StopReason.CONNECTOR_RESET)
    return charger, [Reply("Accepted"), *actions]


def _on_connector_reset_done(charger: Charger, event: ConnectorResetDone, now: float) -> Result:
    conn = charger.connector(event.connector)
    if conn is None or not conn.resetting:
        return charger, []
    return _update(charger, replace(conn, resetting=False)), []


def _on_unlock(charger: Charger, event: UnlockRequested, now: float) -> Result:
    conn = charger.connector(event.connector)
    if conn is None:
        return charger, [Reply("NotSupported")]
    actions: list[Action] = []
    if conn.transaction is not None:
        charger, actions = _stop(charger, conn, StopReason.UNLOCK_COMMAND, unlock=False)
    return charger, [*actions, Unlock(conn.id, answer=True)]


def _on_policy(charger: Charger, event: PolicyChanged, now: float) -> Result:
    return replace(charger, policy=event.policy), []


def _on_reserve(charger: Charger, event: ReservationRequested, now: float) -> Result:
    """ReserveNow. A reservation with a known id is replaced (section 5.13); one that
    cannot be made is answered with why, and the reservation it would replace stays."""
    new = event.reservation
    rest = replace(charger, reservations=tuple(r for r in charger.reservations if r.id != new.id))
    answer = _reservation_answer(rest, new, now)
    if answer != "Accepted":
        return charger, [Reply(answer)]
    return replace(rest, reservations=rest.reservations + (new,)), [Reply(answer), PersistReservation(new)]


def _on_cancel_reservation(charger: Charger, event: CancelReservationRequested, now: float) -> Result:
    found = next((r for r in charger.reservations if r.id == event.reservation_id), None)
    if found is None:
        return charger, [Reply("Rejected")]
    kept = tuple(r for r in charger.reservations if r is not found)
    return replace(charger, reservations=kept), [Reply("Accepted"), ForgetReservation(found.id, ReservationEnd.CANCELLED)]


def _on_limit(charger: Charger, event: LimitChanged, now: float) -> Result:
    conn = charger.connector(event.connector)
    if conn is None or conn.limit_a == event.limit_a:
        return charger, []
    return _update(charger, replace(conn, limit_a=event.limit_a)), []


def _on_tick(charger: Charger, event: Tick, now: float) -> Result:
    actions: list[Action] = []
    for conn in charger.connectors:
        auth = conn.authorization
        if auth is not None and not conn.pilot.plugged and now >= auth.deadline:
            charger = _update(charger, replace(conn, authorization=None))
        tx = conn.transaction
        if tx is not None and tx.ev_deadline is not None and not conn.pilot.plugged and now >= tx.ev_deadline:
            charger, stopped = _stop(charger, conn, StopReason.TIMEOUT)
            actions += stopped
    charger, away = _ev_away_timeouts(charger, now)
    return charger, actions + away


def _ev_away_timeouts(charger: Charger, now: float) -> Result:
    """With ``Policy.ev_away_timeout``, a transaction kept open without its EV ends once
    the EV stayed away the connection timeout (OCPP 2.0.1 EVConnectionTimeOut, E10.FR.02:
    the transaction is deauthorized, and with TxStopPoint Authorized that ends it; Ended
    with triggerReason EVConnectTimeout, stoppedReason Timeout). The cable is released as
    at the EV's leaving (UnlockOnEVSideDisconnect)."""
    if not charger.policy.ev_away_timeout:
        return charger, []
    actions: list[Action] = []
    for conn in charger.connectors:
        left = conn.ev_left_at
        if conn.transaction is None or left is None or now - left < charger.policy.connection_timeout:
            continue
        current = charger.connectors[conn.id - 1]
        charger, stopped = _stop(charger, current, StopReason.TIMEOUT, unlock=charger.policy.unlock_on_ev_disconnect)
        actions += stopped
    return charger, actions


_HANDLERS = {
    Started: _on_started,
    PilotChanged: _on_pilot,
    CardPresented: _on_card,
    AuthorizationResolved: _on_authorization,
    RemoteStartRequested: _on_remote_start,
    RemoteStopRequested: _on_remote_stop,
    TransactionRefused: _on_refused,
    TransactionConfirmed: _on_confirmed,
    TransactionResumed: _on_resumed,
    EnergyDelivered: _on_energy,
    FaultRaised: _on_fault,
    FaultCleared: _on_fault,
    AvailabilityRequested: _on_availability,
    StopAllRequested: _on_stop_all,
    HoldRequested: _on_hold,
    ConnectorResetRequested: _on_connector_reset,
    ConnectorResetDone: _on_connector_reset_done,
    UnlockRequested: _on_unlock,
    PolicyChanged: _on_policy,
    ReservationRequested: _on_reserve,
    CancelReservationRequested: _on_cancel_reservation,
    LimitChanged: _on_limit,
    Tick: _on_tick,
}
