"""Values of the session state machine: states, events and actions.

Everything here is an immutable value so that a step of the machine is a pure
function ``(state, event, now) -> (state, actions)``: no clocks, no I/O, no awaits.
The words are the charger's (transaction started, status changed), not a protocol's;
the OCPP adapters translate them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from drivers.protocols import PilotState


class Status(enum.Enum):
    """Connector status as a driver and a backend see it (OCPP 1.6 vocabulary)."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class StopReason(enum.Enum):
    DE_AUTHORIZED = "DeAuthorized"
    EMERGENCY_STOP = "EmergencyStop"
    EV_DISCONNECTED = "EVDisconnected"
    HARD_RESET = "HardReset"
    LOCAL = "Local"
    OTHER = "Other"
    POWER_LOSS = "PowerLoss"
    REBOOT = "Reboot"
    REMOTE = "Remote"
    SOFT_RESET = "SoftReset"
    UNLOCK_COMMAND = "UnlockCommand"
    #: A card of the master pass group ended it (OCPP 2.0.1 C16).
    MASTER_PASS = "MasterPass"
    #: No EV within the connection timeout: a transaction begun by an authorization before
    #: any EV (OCPP 2.0.1 TxStartPoint Authorized), or kept open while its EV stayed away
    #: (E10.FR.02).
    TIMEOUT = "Timeout"
    #: The backend reset its connector on its own, at once (OCPP 2.0.1 B12 with an EVSE):
    #: the rest of the charger went on.
    CONNECTOR_RESET = "ConnectorReset"
    #: The EV stopped drawing and the transaction ends with the energy transfer (OCPP
    #: 2.0.1 TxStopPoint EnergyTransfer).
    STOPPED_BY_EV = "StoppedByEV"


class ReservationEnd(enum.Enum):
    """Why a reservation stopped holding a connector (OCPP 1.6 section 5.13)."""

    USED = "Used"  # its idTag (or a card of its parent) started a transaction
    CANCELLED = "Cancelled"
    EXPIRED = "Expired"
    FAULTED = "Faulted"  # the charge point or the reserved connector became Faulted
    UNAVAILABLE = "Unavailable"  # ... or Unavailable


class AuthStatus(enum.Enum):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"
    #: Never a backend's answer: the charger's verdict on an accepted card of the master
    #: pass group (OCPP 2.0.1 C16, AuthCtrlr.MasterPassGroupId), which stops every
    #: transaction and starts none.
    MASTER_PASS = "MasterPass"


#: The lowest current a control pilot may offer (IEC 61851-1: a PWM duty under 10 % is
#: not a current offer); a limit under it means no offer at all.
MIN_OFFER_A = 6.0
#: How long a contactor stays closed after a limit withdrew the offer, so the EV can
#: stop drawing first (IEC 61851-1 gives it 3 s for a lower offer, a bit more to open
#: S2) and the contactor does not break the load.
LIMIT_OPEN_GRACE_S = 6.0

#: Error code reported while the pilot reads an error level (E or F).
PILOT_ERROR = "EVCommunicationError"
NO_ERROR = "NoError"
#: Faults that never withhold energy: reported as the error code of a status that is
#: otherwise unchanged (a broken card reader leaves remote starts and running sessions be).
ALWAYS_WARNINGS: frozenset[str] = frozenset({"ReaderFailure"})


@dataclass(frozen=True, slots=True)
class Policy:
    """The settings the machine obeys; changed at run time by a PolicyChanged event."""

    connection_timeout: float = 60.0
    stop_on_ev_disconnect: bool = True
    unlock_on_ev_disconnect: bool = True
    stop_on_invalid_id: bool = True
    authorize_remote_start: bool = False
    max_current: float = 32.0
    reserve_connector_zero: bool = True
    #: Reservations of the charger as a whole (connector 0) may be several, as long as
    #: each keeps a connector of its own (OCPP 2.0.1 H01, TC_H_14_CS); else one at a time
    #: (the OCPP 1.6 reading of section 5.13: a reserved charge point is Occupied).
    several_wide_reservations: bool = False
    #: Further fault codes reported as warnings only (``[meter] on_failure = "continue"``
    #: makes PowerMeterFailure one).
    warning_faults: frozenset[str] = frozenset()
    #: Where a transaction may begin before it has both an EV and an authorization (OCPP
    #: 2.0.1 TxStartPoint; both false is OCPP 1.6's rule and TxStartPoint PowerPathClosed):
    #: at the EV plugged in (EVConnected), the token to be identified later; or at the
    #: token authorized (Authorized), the EV to come within ``connection_timeout``.
    start_on_ev_connected: bool = False
    start_on_authorized: bool = False
    #: A transaction also ends when its energy transfer does (OCPP 2.0.1 TxStopPoint
    #: EnergyTransfer): the EV stops drawing (a limit that withholds energy does not end it).
    stop_when_ev_stops_drawing: bool = False
    #: A transaction begins only with the energy transfer (OCPP 2.0.1 TxStartPoint
    #: EnergyTransfer alone): an authorized EV is offered current without a transaction,
    #: and the transaction begins as it asks for energy (pilot C), journaled before the
    #: contactor closes, so no energy flows off the record.
    start_on_energy_transfer: bool = False
    #: Energy (Wh) a transaction the backend refused after its start may still deliver
    #: (OCPP 2.0.1 TxCtrlr.MaxEnergyOnInvalidId), counted from the transaction's start;
    #: 0: none, the refusal acts at once (stop or suspend, by ``stop_on_invalid_id``).
    max_energy_on_invalid_id: float = 0.0
    #: A transaction kept open without its EV (``stop_on_ev_disconnect`` false) ends once
    #: the EV stayed away ``connection_timeout`` seconds (OCPP 2.0.1 E10.FR.02); OCPP 1.6
    #: keeps it open until the EV comes back or a stop comes.
    ev_away_timeout: bool = False
    #: Such a transaction's connector reports Available while its EV is away (OCPP 2.0.1
    #: E10: the connector has nothing plugged in); OCPP 1.6 reports SuspendedEV.
    ev_away_available: bool = False

    def withholds(self, code: str) -> bool:
        """Whether a fault with this code stops energy (Faulted) or is only reported."""
        return code not in ALWAYS_WARNINGS and code not in self.warning_faults


@dataclass(frozen=True, slots=True)
class Authorization:
    """An idTag allowed to start a transaction on a connector that has no EV yet."""

    id_tag: str
    parent_id_tag: str | None
    deadline: float  # when ConnectionTimeOut cancels it unless an EV is plugged in
    #: A RemoteStartTransaction named this connector: the transaction starts here or
    #: not at all, so the authorization does not follow an EV to another connector.
    pinned: bool = False
    #: The kind of token (see :data:`CARD`); the transaction it starts says it.
    token_type: str | None = None
    #: The backend's number of the remote start this authorization came from (OCPP 2.0.1
    #: remoteStartId): it goes with the authorization, so a remote start that lapses or
    #: is refused leaves nothing behind for a later session of the same token.
    remote_start_id: int | None = None


@dataclass(frozen=True, slots=True)
class Transaction:
    #: None: an EV plugged in began it and no token is authorized for it yet
    #: (Policy.start_on_ev_connected); it draws no energy until one is.
    id_tag: str | None
    parent_id_tag: str | None
    #: The backend refused the idTag after the start and StopTransactionOnInvalidId is
    #: false: the transaction stays open but no energy is offered.
    refused: bool = False
    #: The kind of token that started it (see :data:`CARD`): only a card stops it with a tap.
    token_type: str | None = None
    #: An authorization began it before any EV (Policy.start_on_authorized): it ends
    #: unless an EV is plugged in by then (monotonic time); None once one was.
    ev_deadline: float | None = None

    @property
    def identified(self) -> bool:
        """Whether a token is authorized for it (else it waits for one, drawing nothing)."""
        return self.id_tag is not None
    #: The backend refused the idTag, but the transaction charges on until it delivered
    #: this much energy (Wh, from its start: MaxEnergyOnInvalidId); then the refusal acts.
    budget_wh: float | None = None


#: The token type of a card as the reader presents it (an ISO 14443 UID, OCPP 1.6's
#: idTag). A remote start may name another kind (OCPP 2.0.1 IdTokenEnumType: Central,
#: KeyCode, MacAddress, ...), carried by its value's side as ``token_type``: such a token
#: is a different one from a card with the same characters (a tap does not stop its
#: transaction, and it is not cached as a card).
CARD: str | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    """An idTag whose authorization is being asked, and for which connector if known."""

    id_tag: str
    connector: int | None
    remote: bool
    pinned: bool = False  # the request named the connector (see Authorization.pinned)
    token_type: str | None = None  # see CARD
    remote_start_id: int | None = None  # see Authorization.remote_start_id


@dataclass(frozen=True, slots=True)
class Reservation:
    """A connector (or, with connector 0, any one connector) kept for an idTag until ``expires``."""

    id: int
    connector: int  # 0 = no specific connector: one connector stays free for it
    id_tag: str
    parent_id_tag: str | None
    expires: float  # monotonic time, like ``now``
    #: The backend's expiryDate, carried only so the shell can persist it as wall time.
    expiry_date: str

    def admits(self, id_tag: str, parent_id_tag: str | None) -> bool:
        """The reservation's own idTag, or a card of the same group (section 5.13)."""
        return id_tag == self.id_tag or (self.parent_id_tag is not None and parent_id_tag == self.parent_id_tag)


@dataclass(frozen=True, slots=True)
class Connector:
    id: int
    pilot: PilotState = PilotState.A
    operative: bool = True
    #: Availability to apply once the running transaction ends (ChangeAvailability
    #: answered Scheduled), else None.
    scheduled_operative: bool | None = None
    faults: frozenset[str] = frozenset()
    authorization: Authorization | None = None
    transaction: Transaction | None = None
    #: A transaction ended while the EV is still plugged in.
    finishing: bool = False
    # What the outputs were last commanded to, and what was last reported.
    contactor_closed: bool = False
    offer_a: float = 0.0
    offered_at: float | None = None  # when energy was last first offered
    reported: tuple[Status, str] | None = None
    #: The limit core's current for this connector (amperes per phase: charging profiles,
    #: the site, the cable), or None when nothing but the connector's own maximum applies.
    limit_a: float | None = None
    #: Since when a limit under MIN_OFFER_A keeps energy from a running transaction.
    limited_since: float | None = None
    #: When such a limit last rose again (the EV then has a grace to answer the new offer).
    limit_lifted_at: float | None = None
    #: A reset of this connector alone waits for its transaction to end (answered Scheduled).
    reset_scheduled: bool = False
    #: Being reset (see ConnectorResetRequested): Unavailable, no session until the shell
    #: has set it up afresh (ConnectorResetDone).
    resetting: bool = False
    #: Since when the EV of a transaction kept open is away (pilot A), else None.
    ev_left_at: float | None = None


@dataclass(frozen=True, slots=True)
class Charger:
    connectors: tuple[Connector, ...]
    policy: Policy = field(default_factory=Policy)
    #: Faults of the whole charger (connector 0), e.g. a failed card reader.
    faults: frozenset[str] = frozenset()
    pending: tuple[Pending, ...] = ()
    reported: tuple[Status, str] | None = None
    #: Every transaction was ended for a reset; no new session until the restart.
    closing: bool = False
    reservations: tuple[Reservation, ...] = ()
    #: Connectors not in use are held Unavailable for maintenance (see HoldRequested).
    held: bool = False
    #: The agent's start-up is over (the Started event). Until then an EV found plugged in
    #: begins no transaction (Policy.start_on_ev_connected): one cut by the restart may
    #: still be resumed there.
    up: bool = False

    @classmethod
    def new(
        cls,
        count: int,
        policy: Policy,
        inoperative: frozenset[int] = frozenset(),
        reservations: tuple[Reservation, ...] = (),
        held: bool = False,
    ) -> Charger:
        """A charger at power-up: no EV seen yet, outputs safe, nothing reported. Restored
        reservations that no longer hold (expired, connector gone) end at the first event.
        ``held``: the charger starts held for maintenance (a release on trial)."""
        return cls(
            connectors=tuple(Connector(id=n, operative=n not in inoperative) for n in range(1, count + 1)),
            policy=policy,
            reported=None,
            reservations=reservations,
            held=held,
        )

    def connector(self, number: int) -> Connector | None:
        if 1 <= number <= len(self.connectors):
            return self.connectors[number - 1]
        return None


# ---------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Started:
    """The agent came up; report every status once."""


@dataclass(frozen=True, slots=True)
class PilotChanged:
    connector: int
    state: PilotState


@dataclass(frozen=True, slots=True)
class CardPresented:
    id_tag: str


@dataclass(frozen=True, slots=True)
class AuthorizationResolved:
    id_tag: str
    status: AuthStatus
    parent_id_tag: str | None = None
    token_type: str | None = CARD


@dataclass(frozen=True, slots=True)
class RemoteStartRequested:
    id_tag: str
    connector: int | None = None
    token_type: str | None = CARD
    #: The backend's number of this request (OCPP 2.0.1), for the transaction it starts.
    remote_start_id: int | None = None


@dataclass(frozen=True, slots=True)
class RemoteStopRequested:
    connector: int


@dataclass(frozen=True, slots=True)
class TransactionRefused:
    """The backend answered the start of the connector's transaction with a non-Accepted idTag."""

    connector: int
    status: AuthStatus
    #: The energy the transaction delivered so far (Wh since its start), which decides
    #: whether a MaxEnergyOnInvalidId allowance is left.
    energy_wh: float = 0.0


@dataclass(frozen=True, slots=True)
class TransactionConfirmed:
    """The backend accepted the start of the connector's transaction. Its parentIdTag
    groups the transaction: a card of the same parent may stop it (OCPP 1.6 section 3.5),
    also when the Authorize answer named no parent or none was asked (list, offline)."""

    connector: int
    parent_id_tag: str | None


@dataclass(frozen=True, slots=True)
class TransactionResumed:
    """A transaction found open at start-up carries on (recovery policy "resume"); the
    machine accepts it only if an EV is still plugged in and the connector may charge."""

    connector: int
    id_tag: str | None  # None: an EV began it and no token was authorized for it yet
    parent_id_tag: str | None
    #: The kind of token that started it (see :data:`CARD`), as journaled with its start.
    token_type: str | None = None


@dataclass(frozen=True, slots=True)
class EnergyDelivered:
    """The energy a transaction charging on a MaxEnergyOnInvalidId allowance delivered so
    far (Wh since its start), measured by the shell.

    The shell measures and the machine decides: whether the allowance is used up, and
    what follows (the transaction ends, or goes on without energy), stays with the other
    rules about a refused transaction, in one pure function a table of events can test.
    The shell feeds it only while the transaction has a budget (``Transaction.budget_wh``),
    with each meter reading."""

    connector: int
    energy_wh: float


@dataclass(frozen=True, slots=True)
class FaultRaised:
    connector: int  # 0 = the whole charger
    code: str


@dataclass(frozen=True, slots=True)
class FaultCleared:
    connector: int
    code: str


@dataclass(frozen=True, slots=True)
class AvailabilityRequested:
    connector: int  # 0 = every connector
    operative: bool


@dataclass(frozen=True, slots=True)
class StopAllRequested:
    """End every transaction and start no new one: the charger is about to restart."""

    reason: StopReason


@dataclass(frozen=True, slots=True)
class HoldRequested:
    """Hold every connector not in use Unavailable, or release them.

    The agent is about to restart into other code (a firmware switch waiting for the
    running transactions to end), or runs a release on trial that a rollback may restart
    at any moment: a session started now would be cut. Running transactions go on; no
    new one starts; a reservation ends, as it does when its connector becomes
    Unavailable (OCPP 1.6 section 5.13). OCPP 2.0.1 asks the same of a firmware update
    (L01.FR.07). Not persisted: a restart ends the hold, and it is independent of
    ChangeAvailability, which is.
    """

    held: bool


@dataclass(frozen=True, slots=True)
class ConnectorResetRequested:
    """Reset one connector and nothing else: what it holds without a transaction (an
    authorization waiting for an EV, a session's end) is dropped and the shell sets it
    up afresh (ResetConnector), while it shows Unavailable. A running transaction ends
    first: at once when ``immediate``, else the reset waits for its end (Scheduled) and
    takes place in the very step that ends it, so no session begins in between."""

    connector: int
    immediate: bool


@dataclass(frozen=True, slots=True)
class ConnectorResetDone:
    """The shell has set the connector up afresh: it serves again."""

    connector: int


@dataclass(frozen=True, slots=True)
class UnlockRequested:
    connector: int


@dataclass(frozen=True, slots=True)
class PolicyChanged:
    policy: Policy


@dataclass(frozen=True, slots=True)
class ReservationRequested:
    """ReserveNow: a new reservation, or a replacement of the one with the same id."""

    reservation: Reservation


@dataclass(frozen=True, slots=True)
class CancelReservationRequested:
    reservation_id: int


@dataclass(frozen=True, slots=True)
class LimitChanged:
    """The limit core decided a new current for a connector (None: no limit of its own).
    Below MIN_OFFER_A the connector offers nothing and reports SuspendedEVSE; the
    transaction stays open and resumes when the limit rises."""

    connector: int
    limit_a: float | None


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed; lets timeouts (and reservations) expire."""


Event = (
    Started
    | PilotChanged
    | CardPresented
    | AuthorizationResolved
    | RemoteStartRequested
    | RemoteStopRequested
    | TransactionRefused
    | TransactionConfirmed
    | TransactionResumed
    | EnergyDelivered
    | FaultRaised
    | FaultCleared
    | AvailabilityRequested
    | StopAllRequested
    | HoldRequested
    | ConnectorResetRequested
    | ConnectorResetDone
    | UnlockRequested
    | PolicyChanged
    | ReservationRequested
    | CancelReservationRequested
    | LimitChanged
    | Tick
)

# ---------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class SwitchContactor:
    connector: int
    closed: bool


@dataclass(frozen=True, slots=True)
class OfferCurrent:
    connector: int
    current_a: float


@dataclass(frozen=True, slots=True)
class ReportStatus:
    connector: int  # 0 = the charger as a whole
    status: Status
    error_code: str = NO_ERROR


@dataclass(frozen=True, slots=True)
class Authorize:
    id_tag: str
    token_type: str | None = CARD


@dataclass(frozen=True, slots=True)
class StartTransaction:
    connector: int
    #: None when the EV plugged in began it (see Transaction.id_tag); RecordAuthorization
    #: names the token later.
    id_tag: str | None
    #: The reservation this transaction used up, which the backend is told of.
    reservation_id: int | None = None
    token_type: str | None = CARD
    #: The remote start that began it, if the backend numbered it (see Authorization).
    remote_start_id: int | None = None
    #: What alone began it, when not both an EV and an authorization: ``"ev"`` (plugged
    #: in, no token yet), ``"authorization"`` (a token, no EV yet) or ``"energy"`` (the EV
    #: asking for the energy it was offered); see Policy.
    started_by: str | None = None


@dataclass(frozen=True, slots=True)
class RecordAuthorization:
    """A token is authorized for a running transaction an EV began without one: it is its
    token from now on (the backend is told, and energy may flow)."""

    connector: int
    id_tag: str
    token_type: str | None = CARD
    remote_start_id: int | None = None
    #: The reservation the token used up on this connector, which the backend is told of.
    reservation_id: int | None = None


@dataclass(frozen=True, slots=True)
class StopTransaction:
    connector: int
    reason: StopReason
    id_tag: str | None = None


@dataclass(frozen=True, slots=True)
class Unlock:
    """Release the connector's cable lock; ``answer`` when a backend waits for the result."""

    connector: int
    answer: bool = False


@dataclass(frozen=True, slots=True)
class ResetConnector:
    """Set the connector up afresh: outputs commanded to the safe state again, its
    drivers read anew, latched faults given a fresh try; then ConnectorResetDone."""

    connector: int


@dataclass(frozen=True, slots=True)
class PersistAvailability:
    connector: int
    operative: bool


@dataclass(frozen=True, slots=True)
class PersistReservation:
    """Keep a reservation (new, or replacing the one with its id) across restarts."""

    reservation: Reservation


@dataclass(frozen=True, slots=True)
class ForgetReservation:
    reservation_id: int
    why: ReservationEnd


@dataclass(frozen=True, slots=True)
class CardRejected:
    """Tell the driver the card was refused (LED, display)."""

    id_tag: str
    why: str


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to a request event (RemoteStart, RemoteStop, ChangeAvailability, Unlock,
    ReserveNow, CancelReservation)."""

    answer: str


Action = (
    SwitchContactor
    | OfferCurrent
    | ReportStatus
    | Authorize
    | StartTransaction
    | RecordAuthorization
    | StopTransaction
    | Unlock
    | ResetConnector
    | PersistAvailability
    | PersistReservation
    | ForgetReservation
    | CardRejected
    | Reply
)
