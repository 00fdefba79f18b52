"""Properties of the session state machine over thousands of random event sequences.

Each sequence is drawn from a seeded generator (so a failure names its seed and
replays exactly) and is biased toward what really happens at a charger: cards get
an answer to their Authorize, EVs plug, pause and leave, faults come and go, the
backend sends commands, time passes past the connection timeout and the grace an EV
has to answer a new offer. The properties are
safety rules (IEC 61851-1, the project's single safety path) and OCPP 1.6 rules that
a backend relies on; each is checked against an observer that rebuilds what the
outside world knows from the events and actions alone, not from the machine's state.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from agent.session.machine import step
from agent.session.model import (
    Action,
    AuthorizationResolved,
    Authorize,
    AuthStatus,
    AvailabilityRequested,
    CancelReservationRequested,
    CardPresented,
    Charger,
    Event,
    FaultCleared,
    FaultRaised,
    ForgetReservation,
    HoldRequested,
    LimitChanged,
    OfferCurrent,
    PersistAvailability,
    PersistReservation,
    PilotChanged,
    Policy,
    PolicyChanged,
    RemoteStartRequested,
    RemoteStopRequested,
    Reply,
    ReportStatus,
    Reservation,
    ReservationEnd,
    ReservationRequested,
    Started,
    StartTransaction,
    Status,
    StopAllRequested,
    StopReason,
    StopTransaction,
    SwitchContactor,
    Tick,
    TransactionRefused,
    Unlock,
    UnlockRequested,
)
from drivers.protocols import PilotState as CP

SEQUENCES = 2000
EVENTS_PER_SEQUENCE = 50

TAGS = ("T1", "T2", "T3")
PARENTS = (None, "P1", "P2")
CODES = ("GroundFailure", "OverCurrentFailure", "PowerMeterFailure")
PILOT_WEIGHTS = {CP.A: 3, CP.B: 4, CP.C: 4, CP.D: 1, CP.E: 1, CP.F: 1}
WARNING_STATUSES = {Status.PREPARING, Status.SUSPENDED_EV, Status.SUSPENDED_EVSE, Status.FINISHING}
CHARGER_STATUSES = {Status.AVAILABLE, Status.UNAVAILABLE, Status.FAULTED}
REQUESTS = (
    RemoteStartRequested,
    RemoteStopRequested,
    AvailabilityRequested,
    UnlockRequested,
    ReservationRequested,
    CancelReservationRequested,
)
#: The time an EV in B has to answer a first offer by moving to C before a backend hears
#: SuspendedEV (IEC 61851-1 gives the EV a few seconds; OCPP TC_003/TC_004_1 expect
#: Preparing then Charging).
EV_ANSWER_GRACE_S = 3.0
NO_ERROR = "NoError"
#: IEC 61851-1: a pilot offers 6 A or more, or nothing.
MIN_OFFER_A = 6.0
#: How long a contactor may stay closed after a limit withdrew the offer (the EV stops
#: drawing first, so the contactor does not break the load).
LIMIT_OPEN_GRACE_S = 6.0
LIMITS = (None, None, 0.0, 5.9, 6.0, 10.0, 13.37, 40.0)


def random_policy(rng: random.Random) -> Policy:
    return Policy(
        connection_timeout=rng.choice((10.0, 60.0)),
        stop_on_ev_disconnect=rng.random() < 0.7,
        unlock_on_ev_disconnect=rng.random() < 0.7,
        stop_on_invalid_id=rng.random() < 0.5,
        authorize_remote_start=rng.random() < 0.4,
        max_current=rng.choice((16.0, 32.0)),
        reserve_connector_zero=rng.random() < 0.8,
    )


@dataclass
class Trace:
    """One random run: its seed, set-up and every (event, actions) step."""

    seed: int
    count: int
    inoperative: frozenset[int]
    max_current: float = 32.0  # the policy's at boot
    steps: list[tuple[Event, list[Action]]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # when each step happened
    error: BaseException | None = None

    def where(self, index: int) -> str:
        lines = [f"seed {self.seed}, {self.count} connector(s), inoperative at boot {set(self.inoperative) or '{}'}"]
        for i, (event, acts) in enumerate(self.steps[: index + 1]):
            lines.append(f"  {i:2d} t={self.times[i]:.1f} {event!r}\n       -> {acts!r}")
        return "\n".join(lines)


class Generator:
    """Random events with a bias toward the real flow of a charger."""

    def __init__(self, rng: random.Random, count: int) -> None:
        self.rng = rng
        self.count = count
        self.asked: list[str] = []  # idTags the machine sent an Authorize for, unanswered
        self.now = 0.0  # when the next event happens (a reservation's expiry is counted from it)

    def connector(self, lowest: int = 1) -> int:
        if self.rng.random() < 0.08:
            return self.rng.choice((0, self.count + 1))
        return self.rng.randint(lowest, self.count)

    def event(self) -> Event:
        rng = self.rng
        roll = rng.random()
        if self.asked and roll < 0.2:
            tag = self.asked.pop(rng.randrange(len(self.asked)))
            status = AuthStatus.ACCEPTED if rng.random() < 0.8 else rng.choice(list(AuthStatus))
            return AuthorizationResolved(tag, status, rng.choice(PARENTS))
        kinds = (
            (30, lambda: PilotChanged(self.connector(), rng.choices(list(PILOT_WEIGHTS), list(PILOT_WEIGHTS.values()))[0])),
            (12, lambda: CardPresented(rng.choice(TAGS))),
            (2, lambda: AuthorizationResolved(rng.choice(TAGS), rng.choice(list(AuthStatus)), rng.choice(PARENTS))),
            (6, lambda: RemoteStartRequested(rng.choice(TAGS), rng.choice((None, self.connector())))),
            (4, lambda: RemoteStopRequested(self.connector())),
            (4, lambda: TransactionRefused(self.connector(), rng.choice(list(AuthStatus)[1:]))),
            (5, lambda: FaultRaised(self.connector(0), rng.choice(CODES))),
            (6, lambda: FaultCleared(self.connector(0), rng.choice(CODES))),
            (4, lambda: AvailabilityRequested(self.connector(0), rng.random() < 0.5)),
            (2, lambda: StopAllRequested(rng.choice((StopReason.SOFT_RESET, StopReason.HARD_RESET)))),
            (2, lambda: HoldRequested(rng.random() < 0.5)),
            (3, lambda: UnlockRequested(self.connector())),
            (2, lambda: PolicyChanged(random_policy(rng))),
            (6, lambda: LimitChanged(self.connector(), rng.choice(LIMITS))),
            (5, self.reservation),
            (2, lambda: CancelReservationRequested(rng.randint(1, 4))),
            (10, Tick),
            (1, Started),
        )
        make = rng.choices([k for _, k in kinds], [w for w, _ in kinds])[0]
        return make()

    def reservation(self) -> ReservationRequested:
        rng = self.rng
        expires = self.now + rng.choice((-1.0, 3.0, 30.0, 300.0))
        connector = 0 if rng.random() < 0.3 else self.connector()
        reservation = Reservation(rng.randint(1, 3), connector, rng.choice(TAGS), rng.choice(PARENTS), expires, "-")
        return ReservationRequested(reservation)

    def saw(self, actions: list[Action]) -> None:
        self.asked += [a.id_tag for a in actions if isinstance(a, Authorize)]


def record(seed: int) -> Trace:
    rng = random.Random(seed)
    count = rng.choice((1, 2, 2))
    inoperative = frozenset(n for n in range(1, count + 1) if rng.random() < 0.1)
    policy = random_policy(rng)
    trace = Trace(seed, count, inoperative, policy.max_current)
    charger = Charger.new(count, policy, inoperative)
    generator = Generator(rng, count)
    now = 0.0
    for _ in range(EVENTS_PER_SEQUENCE):
        now += rng.choice((0.1, 1.0, 1.0, 5.0, 40.0))
        generator.now = now
        event = generator.event()
        try:
            charger, actions = step(charger, event, now)
        except Exception as exc:  # the property under test: never raises
            trace.steps.append((event, []))
            trace.times.append(now)
            trace.error = exc
            break
        trace.steps.append((event, actions))
        trace.times.append(now)
        generator.saw(actions)
    return trace


@pytest.fixture(scope="module")
def traces() -> list[Trace]:
    return [record(seed) for seed in range(SEQUENCES)]


@dataclass
class World:
    """What the outside world knows after each step, rebuilt from events and actions."""

    count: int
    pilot: dict[int, CP]
    faults: dict[int, set[str]]  # 0 = the whole charger
    operative: dict[int, bool]
    in_transaction: dict[int, bool]
    refused: dict[int, bool]
    closed: dict[int, bool]
    offer: dict[int, float]
    offered_at: dict[int, float]  # when the current offer last went up from zero
    reported: dict[int, tuple[Status, str]]
    now: float = 0.0
    #: Inoperative persisted while a transaction runs: it applies when that transaction stops.
    scheduled_off: set[int] = field(default_factory=set)
    #: A reset stopped every transaction: no new one may start until the restart.
    closing: bool = False
    #: Reservations the shell was told to keep, by id (and not yet told to forget).
    reservations: dict[int, Reservation] = field(default_factory=dict)
    #: Held for maintenance: connectors not in use Unavailable, no new session.
    held: bool = False
    max_current: float = 32.0
    #: The limit core's current per connector (None: none).
    limit: dict[int, float | None] = field(default_factory=dict)
    #: Since when a limit under 6 A keeps energy from each connector's transaction.
    limited_since: dict[int, float] = field(default_factory=dict)

    @classmethod
    def at_boot(cls, trace: Trace) -> World:
        ids = range(1, trace.count + 1)
        return cls(
            count=trace.count,
            pilot={n: CP.A for n in ids},
            faults={n: set() for n in range(0, trace.count + 1)},
            operative={n: n not in trace.inoperative for n in ids},
            in_transaction={n: False for n in ids},
            refused={n: False for n in ids},
            closed={n: False for n in ids},
            offer={n: 0.0 for n in ids},
            offered_at={},
            reported={},
            max_current=trace.max_current,
        )

    def copy(self) -> World:
        return World(
            count=self.count,
            pilot=dict(self.pilot),
            faults={k: set(v) for k, v in self.faults.items()},
            operative=dict(self.operative),
            in_transaction=dict(self.in_transaction),
            refused=dict(self.refused),
            closed=dict(self.closed),
            offer=dict(self.offer),
            scheduled_off=set(self.scheduled_off),
            closing=self.closing,
            offered_at=dict(self.offered_at),
            reported=dict(self.reported),
            now=self.now,
            reservations=dict(self.reservations),
            held=self.held,
            max_current=self.max_current,
            limit=dict(self.limit),
            limited_since=dict(self.limited_since),
        )

    def see_event(self, event: Event) -> None:
        if isinstance(event, PilotChanged) and event.connector in self.pilot:
            self.pilot[event.connector] = event.state
        elif isinstance(event, FaultRaised) and event.connector in self.faults:
            self.faults[event.connector].add(event.code)
        elif isinstance(event, FaultCleared) and event.connector in self.faults:
            self.faults[event.connector].discard(event.code)
        elif isinstance(event, PolicyChanged):
            self.max_current = event.policy.max_current
        elif isinstance(event, LimitChanged) and event.connector in self.pilot:
            self.limit[event.connector] = event.limit_a

    def allowed_offer(self, connector: int) -> float:
        """The most the connector may offer: its maximum, or a lower limit."""
        limit = self.limit.get(connector)
        return self.max_current if limit is None else min(self.max_current, limit)

    def limited(self, connector: int) -> bool:
        """A live transaction that a limit under 6 A keeps from energy."""
        return (
            self.in_transaction[connector] and not self.refused[connector] and not self.faulted(connector)
            and self.pilot[connector] not in (CP.E, CP.F) and self.allowed_offer(connector) < MIN_OFFER_A
        )

    def note_limits(self) -> None:
        for n in self.pilot:
            if not self.limited(n):
                self.limited_since.pop(n, None)
            else:
                self.limited_since.setdefault(n, self.now)

    def see_actions(self, event: Event, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, StartTransaction):
                self.in_transaction[action.connector] = True
                self.refused[action.connector] = False
            elif isinstance(action, StopTransaction):
                self.in_transaction[action.connector] = False
                if action.connector in self.scheduled_off:
                    self.scheduled_off.discard(action.connector)
                    self.operative[action.connector] = False
            elif isinstance(action, SwitchContactor):
                self.closed[action.connector] = action.closed
            elif isinstance(action, OfferCurrent):
                if action.current_a and not self.offer[action.connector]:
                    self.offered_at[action.connector] = self.now
                self.offer[action.connector] = action.current_a
            elif isinstance(action, PersistAvailability):
                if self.in_transaction.get(action.connector) and not action.operative:
                    self.scheduled_off.add(action.connector)
                else:
                    self.operative[action.connector] = action.operative
                    self.scheduled_off.discard(action.connector)
            elif isinstance(action, ReportStatus):
                self.reported[action.connector] = (action.status, action.error_code)
            elif isinstance(action, PersistReservation):
                self.reservations[action.reservation.id] = action.reservation
            elif isinstance(action, ForgetReservation):
                self.reservations.pop(action.reservation_id, None)
        if isinstance(event, StopAllRequested):
            self.closing = True
        if isinstance(event, HoldRequested):
            self.held = event.held
        if isinstance(event, TransactionRefused) and self.in_transaction.get(event.connector):
            self.refused[event.connector] = True

    def faulted(self, connector: int) -> bool:
        return bool(self.faults[connector] or self.faults[0])

    def in_grace(self, connector: int) -> bool:
        """Whether the EV is still within its time to answer the offer it was first given."""
        since = self.offered_at.get(connector)
        return since is not None and self.pilot[connector] is CP.B and self.now - since < EV_ANSWER_GRACE_S

    def transaction_status(self, connector: int) -> tuple[Status, str]:
        """What OCPP 1.6 (4.9) says a connector with a live, unfaulted transaction is."""
        pilot_error = self.pilot[connector] in (CP.E, CP.F)
        if self.refused[connector] or pilot_error:  # SuspendedEVSE outranks SuspendedEV
            return Status.SUSPENDED_EVSE, "EVCommunicationError" if pilot_error else NO_ERROR
        if self.limited(connector):  # a limit under what a pilot may offer
            return Status.SUSPENDED_EVSE, NO_ERROR
        if self.pilot[connector] is CP.C:
            return Status.CHARGING, NO_ERROR
        if self.pilot[connector] is CP.D:  # ventilation is not offered
            return Status.SUSPENDED_EVSE, NO_ERROR
        return Status.SUSPENDED_EV, NO_ERROR

    def reserved_on(self, connector: int) -> Reservation | None:
        return next((r for r in self.reservations.values() if r.connector == connector), None)

    def may_close(self, connector: int) -> bool:
        return (
            self.in_transaction[connector]
            and not self.refused[connector]
            and self.pilot[connector] is CP.C
            and not self.faulted(connector)
            and not self.limited(connector)
        )

    def may_stay_closed(self, connector: int) -> bool:
        """A limit withdrew the offer: an EV still drawing has a few seconds to stop."""
        since = self.limited_since.get(connector)
        return self.may_close(connector) or (
            since is not None and self.pilot[connector] is CP.C and self.now - since < LIMIT_OPEN_GRACE_S
        )


def replay(trace: Trace) -> Iterator[tuple[int, Event, list[Action], World, World]]:
    """Each step with the world before and after it."""
    world = World.at_boot(trace)
    for index, (event, actions) in enumerate(trace.steps):
        before = world.copy()
        world.now = trace.times[index]
        world.see_event(event)
        world.see_actions(event, actions)
        world.note_limits()
        yield index, event, actions, before, world


# ---------------------------------------------------------------- the properties


def test_the_machine_never_raises(traces: list[Trace]) -> None:
    for trace in traces:
        assert trace.error is None, f"{trace.error!r}\n{trace.where(len(trace.steps) - 1)}"


def test_contactor_closed_only_for_a_live_transaction_pilot_c_and_no_fault(traces: list[Trace]) -> None:
    for trace in traces:
        for index, _, actions, before, world in replay(trace):
            for action in actions:
                if isinstance(action, SwitchContactor) and action.closed:
                    assert world.may_close(action.connector), trace.where(index)
            for n in range(1, trace.count + 1):
                if world.closed[n]:
                    assert world.may_stay_closed(n), f"connector {n} left closed\n{trace.where(index)}"


def test_the_pilot_offers_nothing_or_between_6_a_and_the_limit(traces: list[Trace]) -> None:
    """IEC 61851-1: 6 A at least; never more than the connector maximum or the limit."""
    for trace in traces:
        for index, _, _, _, world in replay(trace):
            for n in range(1, trace.count + 1):
                offer = world.offer[n]
                if offer:
                    assert MIN_OFFER_A <= offer <= world.allowed_offer(n), f"connector {n}\n{trace.where(index)}"


def test_a_limit_never_ends_a_transaction(traces: list[Trace]) -> None:
    for trace in traces:
        for index, event, actions, _, _ in replay(trace):
            if isinstance(event, LimitChanged):
                assert not [a for a in actions if isinstance(a, StopTransaction)], trace.where(index)


def test_contactor_opens_before_any_report_or_stop_transaction(traces: list[Trace]) -> None:
    for trace in traces:
        for index, _, actions, _, _ in replay(trace):
            opens = [i for i, a in enumerate(actions) if isinstance(a, SwitchContactor) and not a.closed]
            later = [i for i, a in enumerate(actions) if isinstance(a, (ReportStatus, StopTransaction))]
            if opens and later:
                assert max(opens) < min(later), trace.where(index)


def test_each_start_is_followed_by_exactly_one_stop_before_the_next(traces: list[Trace]) -> None:
    for trace in traces:
        open_tx = {n: False for n in range(1, trace.count + 1)}
        for index, (_, actions) in enumerate(trace.steps):
            for action in actions:
                if isinstance(action, StartTransaction):
                    assert not open_tx[action.connector], f"second start\n{trace.where(index)}"
                    open_tx[action.connector] = True
                elif isinstance(action, StopTransaction):
                    assert open_tx[action.connector], f"stop without start\n{trace.where(index)}"
                    open_tx[action.connector] = False


def test_transactions_start_only_with_an_ev_on_an_operative_healthy_connector(traces: list[Trace]) -> None:
    for trace in traces:
        for index, _, actions, before, world in replay(trace):
            for action in actions:
                if isinstance(action, StartTransaction):
                    n = action.connector
                    assert world.pilot[n].plugged, trace.where(index)
                    assert before.operative[n] and not world.faulted(n), trace.where(index)
                    assert not before.closing, f"started during a reset\n{trace.where(index)}"
                    assert not before.held, f"started while held for maintenance\n{trace.where(index)}"


def test_reported_statuses_follow_ocpp_16(traces: list[Trace]) -> None:
    for trace in traces:
        for index, event, actions, before, world in replay(trace):
            for action in actions:
                if not isinstance(action, ReportStatus):
                    continue
                if action.connector == 0:
                    assert action.status in CHARGER_STATUSES, trace.where(index)
                if action.error_code == "EVCommunicationError":
                    assert action.status in WARNING_STATUSES, trace.where(index)
                if action.status is Status.FAULTED:
                    assert action.error_code != "NoError", trace.where(index)
                if not isinstance(event, Started):
                    # A StatusNotification tells of a change, never repeats the last one.
                    assert before.reported.get(action.connector) != (action.status, action.error_code), trace.where(index)
                    # Section 4.9: Unavailable never goes to Finishing (no H6).
                    was = before.reported.get(action.connector, (None, ""))[0]
                    assert not (was is Status.UNAVAILABLE and action.status is Status.FINISHING), trace.where(index)
            for n in range(1, trace.count + 1):
                status, _ = world.reported[n]
                # "Charging: when the contactor of a Connector closes." (A limit that withdrew
                # the offer shows SuspendedEVSE at once, while the EV stops drawing.)
                if status is Status.CHARGING:
                    assert world.closed[n], trace.where(index)
                elif world.closed[n]:
                    assert status is Status.SUSPENDED_EVSE and n in world.limited_since, trace.where(index)
                # "Faulted: a connector has reported an error and is not available for energy."
                assert (status is Status.FAULTED) == world.faulted(n), trace.where(index)
            assert (world.reported[0][0] is Status.FAULTED) == bool(world.faults[0]), trace.where(index)


def test_while_held_every_connector_not_in_use_is_unavailable(traces: list[Trace]) -> None:
    """A charger held for maintenance (a firmware switch waiting for transactions to end, a
    release on trial) shows every connector without a transaction, and itself, Unavailable
    unless Faulted; the statuses come back when the hold is released."""
    for trace in traces:
        for index, _, _, _, world in replay(trace):
            if not world.held:
                continue
            for n in range(trace.count + 1):
                if n and world.in_transaction[n]:
                    continue
                expected = Status.FAULTED if world.faulted(n) else Status.UNAVAILABLE
                assert world.reported[n][0] is expected, f"connector {n}\n{trace.where(index)}"


def test_a_transaction_reports_why_energy_flows_or_not(traces: list[Trace]) -> None:
    """After every step a live transaction's status is Charging, SuspendedEV or SuspendedEVSE
    as the pilot, the idTag and the faults say; the one lag allowed is Preparing while the
    EV, still in B, has not had the grace to answer its first offer."""
    for trace in traces:
        for index, _, _, _, world in replay(trace):
            for n in range(1, trace.count + 1):
                if not world.in_transaction[n] or world.faulted(n):
                    continue
                expected = world.transaction_status(n)
                reported = world.reported[n]
                if reported != expected:
                    # Preparing for a new session, SuspendedEVSE for one a limit gave back.
                    assert reported in ((Status.PREPARING, NO_ERROR), (Status.SUSPENDED_EVSE, NO_ERROR)), trace.where(index)
                    assert expected == (Status.SUSPENDED_EV, NO_ERROR), trace.where(index)
                    assert world.in_grace(n), f"{reported[0].value} kept past the grace\n{trace.where(index)}"


def test_no_suspended_ev_while_the_ev_may_still_answer_its_first_offer(traces: list[Trace]) -> None:
    """A connector the backend saw Preparing goes to Charging if the EV answers in time."""
    for trace in traces:
        for index, event, actions, before, world in replay(trace):
            if isinstance(event, Started):
                continue  # the agent came up: every status is reported as it is
            for action in actions:
                if isinstance(action, ReportStatus) and action.status is Status.SUSPENDED_EV:
                    n = action.connector
                    held = before.reported.get(n, (None, ""))[0] is Status.PREPARING and world.in_grace(n)
                    assert not held, trace.where(index)


def test_every_backend_request_gets_exactly_one_answer_before_any_start(traces: list[Trace]) -> None:
    for trace in traces:
        for index, event, actions, _, _ in replay(trace):
            answers = [
                i
                for i, a in enumerate(actions)
                if isinstance(a, Reply) or (isinstance(a, Unlock) and a.answer)
            ]
            assert len(answers) == (1 if isinstance(event, REQUESTS) else 0), trace.where(index)
            started = [i for i, a in enumerate(actions) if isinstance(a, StartTransaction)]
            if answers and started:
                assert answers[0] < started[0], trace.where(index)


def test_the_sequences_reach_the_interesting_states(traces: list[Trace]) -> None:
    """Guards the generator: properties over sequences that never charge prove nothing."""
    seen: set[str] = set()
    for trace in traces:
        for _, event, actions, before, world in replay(trace):
            for action in actions:
                if isinstance(action, SwitchContactor) and action.closed:
                    seen.add("charging")
                elif isinstance(action, StopTransaction):
                    seen.add(action.reason.value)
                elif isinstance(action, ReportStatus):
                    seen.add(action.status.value)
                    n = action.connector
                    if n and before.in_transaction.get(n) and before.reported.get(n, (None, ""))[0] is Status.PREPARING:
                        # The end of a grace: the EV answered, or stayed in B until a Tick.
                        if action.status is Status.CHARGING:
                            seen.add("answered in the grace")
                        elif action.status is Status.SUSPENDED_EV and isinstance(event, Tick):
                            seen.add("suspended after the grace")
            for n in range(1, trace.count + 1):
                if world.in_transaction[n] and world.reported[n][0] is Status.PREPARING:
                    seen.add("in the grace")
                if world.held and world.in_transaction[n] and world.closed[n]:
                    seen.add("charging while held")
            if before.held and not world.held:
                seen.add("released")
            for n in range(1, trace.count + 1):
                if n in world.limited_since and world.closed[n]:
                    seen.add("drawing under a withdrawn offer")
                if n in world.limited_since and isinstance(event, Tick) and before.closed[n] and not world.closed[n]:
                    seen.add("opened after the limit's grace")
                if n in before.limited_since and n not in world.limited_since and world.in_transaction[n]:
                    seen.add("limit lifted")
                if world.offer[n] and world.offer[n] < world.max_current:
                    seen.add("offer under the maximum")
    expected = {"charging", "Local", "Remote", "EVDisconnected", "DeAuthorized", "UnlockCommand", "SoftReset"}
    expected |= {"drawing under a withdrawn offer", "opened after the limit's grace", "limit lifted",
                 "offer under the maximum"}
    expected |= {"in the grace", "answered in the grace", "suspended after the grace"}
    expected |= {"charging while held", "released"}
    expected |= {s.value for s in Status}
    assert expected <= seen, expected - seen


def test_the_sequences_reach_every_end_of_a_reservation_and_every_answer(traces: list[Trace]) -> None:
    seen: set[str] = set()
    for trace in traces:
        for _, event, actions, _, _ in replay(trace):
            for action in actions:
                if isinstance(action, ForgetReservation):
                    seen.add(action.why.value)
                elif isinstance(action, Reply) and isinstance(event, ReservationRequested):
                    seen.add(f"{action.answer} connector {'0' if event.reservation.connector == 0 else 'n'}")
                elif isinstance(action, StartTransaction) and action.reservation_id is not None:
                    seen.add("start with a reservation")
    expected = {e.value for e in ReservationEnd} | {"start with a reservation"}
    expected |= {f"{a} connector n" for a in ("Accepted", "Faulted", "Occupied", "Rejected", "Unavailable")}
    expected |= {f"{a} connector 0" for a in ("Accepted", "Faulted", "Occupied", "Rejected", "Unavailable")}
    assert expected <= seen, expected - seen


# ---------------------------------------------------------------- reservations (OCPP 1.6 section 5.13)


def test_a_reserved_connector_starts_only_the_transaction_that_uses_its_reservation(traces: list[Trace]) -> None:
    """A start on a connector reserved on its own names that reservation and ends it; a
    start naming a reservation names a live one, for that connector or for connector 0,
    and ends it in the same step."""
    for trace in traces:
        for index, _, actions, before, _ in replay(trace):
            used = {a.reservation_id for a in actions if isinstance(a, ForgetReservation) and a.why is ReservationEnd.USED}
            # One that expired (or lost its connector) by the time of the event ended before it.
            gone = {a.reservation_id for a in actions if isinstance(a, ForgetReservation) and a.why is not ReservationEnd.USED}
            for action in actions:
                if not isinstance(action, StartTransaction):
                    continue
                own = before.reserved_on(action.connector)
                if own is not None and own.id not in gone:
                    assert action.reservation_id == own.id, trace.where(index)
                if action.reservation_id is not None:
                    reservation = before.reservations.get(action.reservation_id)
                    assert reservation is not None, trace.where(index)
                    assert reservation.connector in (0, action.connector), trace.where(index)
                    if reservation.parent_id_tag is None:
                        assert action.id_tag == reservation.id_tag, trace.where(index)
                    assert action.reservation_id in used, trace.where(index)


def test_reserved_is_reported_only_while_a_reservation_holds(traces: list[Trace]) -> None:
    for trace in traces:
        for index, _, _, _, world in replay(trace):
            for n in range(1, trace.count + 1):
                if world.reported[n][0] is Status.RESERVED:
                    kept = world.reserved_on(n) is not None or world.reserved_on(0) is not None
                    assert kept, f"connector {n} Reserved without a reservation\n{trace.where(index)}"


def test_a_reservation_never_outlives_its_expiry_or_its_connector(traces: list[Trace]) -> None:
    """Section 5.13: it ends when expiryDate is reached, or when the charge point or the
    connector becomes Faulted or Unavailable."""
    for trace in traces:
        for index, _, _, _, world in replay(trace):
            for reservation in world.reservations.values():
                assert reservation.expires > world.now, trace.where(index)
                assert not world.held, f"a reservation kept while held Unavailable\n{trace.where(index)}"
                assert not world.faults[0], trace.where(index)
                if reservation.connector:
                    n = reservation.connector
                    assert world.operative[n] and not world.faults[n], trace.where(index)
            # Connector 0 is "reserved" for at most one idTag at a time.
            assert sum(1 for r in world.reservations.values() if r.connector == 0) <= 1, trace.where(index)


def test_reserve_now_keeps_exactly_the_reservations_it_accepts(traces: list[Trace]) -> None:
    for trace in traces:
        for index, event, actions, _, _ in replay(trace):
            kept = [a for a in actions if isinstance(a, PersistReservation)]
            if isinstance(event, ReservationRequested):
                answer = next(a.answer for a in actions if isinstance(a, Reply))
                assert kept == ([PersistReservation(event.reservation)] if answer == "Accepted" else []), trace.where(index)
            else:
                assert kept == [], trace.where(index)
