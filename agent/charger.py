"""The shell around the pure state machine: feeds it events, carries out its actions.

Events come from the drivers (pilot, cards), the backend (remote start, availability)
and the clock. :meth:`ChargerRuntime.feed` steps the machine synchronously and hands
each action to the worker of its connector, so that a connector's actions (contactor,
journal writes, status reports) happen strictly in the order the machine gave them,
and a slow device on one connector never delays another.

Transaction data goes to the journal before anything is sent: the protocol link only
ever reads from the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import structlog

from drivers.protocols import DeviceError, MeterReading, PilotState, Signal

from . import clock, live_limits, metering, security_events
from .authorization import Authorizer, AuthResult, Offline, Uplink, parse_expiry
from .charging_profiles import Electrical, Profile, ProfileLimits, RateUnit
from .hardware import Hardware
from .indicator import signal_for
from .limits import Decision, LimitCore
from .safety import SafetyPath
from .screen import DriverFeedback
from .screen.board import MessageBoard
from .tariff import Cost, Point, Tariff, cost_of
from .tariff.running import RunningCount
from .journal import STARTED_STATES, Journal, Sample, TransactionRecord
from .runtime_settings.configuration import Configuration
from .runtime_settings.keys import RATE_UNIT_WORDS
from .session import step
from .session.model import (
    CARD,
    AuthorizationResolved,
    Authorize,
    AuthStatus,
    AvailabilityRequested,
    CancelReservationRequested,
    CardPresented,
    CardRejected,
    Charger,
    ConnectorResetDone,
    ConnectorResetRequested,
    EnergyDelivered,
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
    ResetConnector,
    Started,
    RecordAuthorization,
    StartTransaction,
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
from .store import ChargerState, Database, StoreError, iso, parse_iso, utc_now

log = structlog.get_logger(__name__)

#: How often a running transaction's meter value is noted in the journal, at the least,
#: when no sample noted it meanwhile: what a crash or power cut followed by a meter that
#: cannot be read at the next start can lose (a readable meter gives the stop its true
#: value). With periodic samples the value is noted once per sample interval instead, if
#: that is longer: each note is a write to the SD card.
CHECKPOINT_S = 10.0
#: Reads of a cable's proximity pilot at plug-in before it counts as unreadable, and the pause between.
CABLE_READS = 3
CABLE_RETRY_S = 0.2
#: How much longer than ConnectionTimeOut a remote start's TxProfile waits for its transaction.
REMOTE_PROFILE_MARGIN_S = 60
#: How long a remote start's TxProfile waits with TxStartPoint EnergyTransfer at most.
ENERGY_START_PROFILE_WAIT_S = 24 * 3600
#: How long a reset waits for the backend to acknowledge the stops before restarting.
RESET_SETTLE_S = 10.0
#: How long the start-up waits for each pilot's first state before going on without it.
PILOT_FIRST_S = 3.0
#: How long the workers may take to finish what the last stop queued before a firmware switch.
IDLE_FLUSH_S = 30.0
METER_FAILURE = "PowerMeterFailure"
SWITCH_FAILURE = "PowerSwitchFailure"
LOCK_FAILURE = "ConnectorLockFailure"
STORAGE_FAILURE = "InternalError"
LIST_CONFLICT = "LocalListConflict"
#: Connector 0's warning while the grid meter is silent (the site limit shares its fallback).
GRID_METER_ERROR = "OtherError"
GRID_METER_VENDOR_CODE = "GridMeterFailure"
GRID_METER_INFO = "grid meter not answering: fallback"
#: The context of the meter value that tells the backend of an idle alert: "Other" in 1.6
#: MeterValues and in the 2.0.1 sampledValue, whose TransactionEvent Updated says
#: triggerReason ChargingStateChanged with the chargingState (SuspendedEV, EVConnected).
#: Not "Trigger": both protocols spell the answer to a TriggerMessage so.
IDLE_CONTEXT = "Other"
#: The note (state database) of a connector's last idle alert, "<local_tx> <time>": a
#: restart does not alert again for the same idle stretch.
IDLE_NOTE = "idle_alert.{connector}"
ENERGY_REGISTER = "Energy.Active.Import.Register"


@dataclass(frozen=True, slots=True)
class MeterPolicy:
    """How meters are read and when one counts as failed (``[meter]`` in the configuration)."""

    poll_interval: float = 1.0
    #: A meter silent, or returning the very same frame, for this long is a PowerMeterFailure.
    fault_after: float = 5.0
    #: False: a failed meter is only a warning and charging goes on (``on_failure = "continue"``).
    failure_stops: bool = True


@dataclass(frozen=True, slots=True)
class ListConflict:
    """Internal job: report that the backend contradicted the local authorization list."""


@dataclass(frozen=True, slots=True)
class CableMoved:
    """Internal job: the EV left or came back to a running transaction; its charging state
    is journaled even when the connector's status stays the same (SuspendedEV either way)."""

    connector: int


@dataclass(frozen=True, slots=True)
class GridMeterWarning:
    """Internal job: the grid meter went silent (``failing``) or answers again; connector
    0's status carries the warning meanwhile."""

    failing: bool


@dataclass(frozen=True, slots=True)
class RecordSample:
    """Internal job: journal a meter sample on a connector's worker, in order with its transaction."""

    connector: int
    reading: MeterReading
    context: str
    measurands: tuple[str, ...]  # sent now, as MeterValues
    for_stop: tuple[str, ...]  # kept for the transaction's StopTransaction
    timestamp: str


@dataclass(frozen=True, slots=True)
class MeterGapNote:
    """Internal job: under ``on_failure = "continue"``, flag the connector's running
    transaction as its meter fails (``failing``), or end the flag as it answers again.
    Runs on the connector's worker, so it falls in order with the transaction's start and
    stop; ``energy_wh`` is the last good reading before, or the first one after."""

    connector: int
    failing: bool
    timestamp: str
    energy_wh: int | None


@dataclass(frozen=True, slots=True)
class Probe:
    """Internal job: proves to the service watchdog that a connector's worker still
    takes jobs (it is answered in turn, after whatever the worker was doing)."""


@dataclass(frozen=True, slots=True)
class StatusEntry:
    connector: int
    status: str
    error_code: str
    timestamp: str
    info: str = ""
    vendor_error_code: str = ""


#: A running transaction's charging state for each connector status that says one (the
#: words of OCPP 2.0.1's ChargingStateEnumType; a transaction starts EVConnected).
CHARGING_STATES = {
    "Preparing": "EVConnected",
    "Charging": "Charging",
    "SuspendedEV": "SuspendedEV",
    "SuspendedEVSE": "SuspendedEVSE",
}


class RestartRequested(Exception):
    """Leave the run loop so the process restarts (Reset) after a clean shutdown."""

    def __init__(self, hard: bool) -> None:
        super().__init__("hard reset" if hard else "soft reset")
        self.hard = hard


def _charger_time() -> datetime:
    return clock.current().now()


def profile_limits(config: Configuration) -> ProfileLimits:
    """What SetChargingProfile may install, from the Smart Charging keys."""
    units = frozenset(RateUnit(RATE_UNIT_WORDS[u]) for u in config.list("ChargingScheduleAllowedChargingRateUnit"))
    return ProfileLimits(
        max_stack_level=config.int("ChargeProfileMaxStackLevel"),
        allowed_units=units,
        max_periods=config.int("ChargingScheduleMaxPeriods"),
        max_installed=config.int("MaxChargingProfilesInstalled"),
    )


@dataclass(frozen=True)
class ProtocolRules:
    """Where the OCPP versions ask the core for different behaviour; the adapter in use
    hands its rules over (:meth:`ChargerRuntime.adopt`), so the core never asks which
    protocol it speaks."""

    #: Charging state changes are journaled (TX_EVENT): only a protocol that reports them
    #: needs them, and each is a durable write.
    journal_charging_states: bool = False
    #: Several reservations of the charger as a whole, each keeping a connector.
    several_wide_reservations: bool = False
    #: The setting naming a start's meter values (the Transaction.Begin sample): 1.6's
    #: StopTxnSampledData; 2.0.1 says them in the Started event, by TxStartedMeasurands.
    start_measurands: str = "StopTxnSampledData"
    #: The setting naming where a transaction begins (2.0.1's TxCtrlr.TxStartPoint: an EV
    #: plugged in, a token authorized, or both together), or None for 1.6's fixed rule
    #: (both together: an EV and an authorization).
    start_points: str | None = None
    #: The setting naming where a transaction stops besides the loss of its EV or its
    #: authorization (2.0.1's TxCtrlr.TxStopPoint: EnergyTransfer), or None (1.6).
    stop_points: str | None = None
    #: A transaction kept open without its EV ends after the connection timeout (2.0.1
    #: E10.FR.02, EVConnectionTimeOut); 1.6 keeps it open (see Policy.ev_away_timeout).
    ev_away_timeout: bool = False
    #: Its connector reports Available while the EV is away (2.0.1 E10; 1.6: SuspendedEV).
    ev_away_available: bool = False


#: The TxStartPoint members that let one of the two begin a transaction alone, and the
#: TxStopPoint member that ends it with its energy transfer.
EV_CONNECTED, AUTHORIZED, ENERGY_TRANSFER = "EVConnected", "Authorized", "EnergyTransfer"


def policy_from(config: Configuration, max_current: float, meter: MeterPolicy = MeterPolicy(),
                rules: ProtocolRules = ProtocolRules()) -> Policy:
    return Policy(
        warning_faults=frozenset() if meter.failure_stops else frozenset({METER_FAILURE}),
        connection_timeout=float(config.int("ConnectionTimeOut")),
        stop_on_ev_disconnect=config.bool("StopTransactionOnEVSideDisconnect"),
        unlock_on_ev_disconnect=config.bool("UnlockConnectorOnEVSideDisconnect"),
        stop_on_invalid_id=config.bool("StopTransactionOnInvalidId"),
        authorize_remote_start=config.bool("AuthorizeRemoteTxRequests"),
        max_current=max_current,
        reserve_connector_zero=config.bool("ReserveConnectorZeroSupported"),
        several_wide_reservations=rules.several_wide_reservations,
        start_on_ev_connected=rules.start_points is not None and EV_CONNECTED in config.list(rules.start_points),
        start_on_authorized=rules.start_points is not None and AUTHORIZED in config.list(rules.start_points),
        stop_when_ev_stops_drawing=rules.stop_points is not None and ENERGY_TRANSFER in config.list(rules.stop_points),
        # EnergyTransfer decides only alone: any other point listed is reached before it.
        start_on_energy_transfer=rules.start_points is not None and config.list(rules.start_points) == (ENERGY_TRANSFER,),
        max_energy_on_invalid_id=float(config.int("TxCtrlr.MaxEnergyOnInvalidId")),
        ev_away_timeout=rules.ev_away_timeout,
        ev_away_available=rules.ev_away_available,
    )


def _refusal(record: TransactionRecord) -> AuthStatus | None:
    """The backend's refusal of a journaled transaction's idTag, or None (accepted, or not
    answered yet)."""
    if record.id_tag_status in (None, AuthStatus.ACCEPTED.value):
        return None
    try:
        return AuthStatus(record.id_tag_status)
    except ValueError:
        return AuthStatus.INVALID


class ChargerRuntime:
    def __init__(
        self,
        *,
        hardware: Hardware,
        config: Configuration,
        db: Database,
        journal: Journal,
        state: ChargerState,
        max_current: float,
        recovery: str = "stop",
        meter: MeterPolicy = MeterPolicy(),
        clock: Callable[[], float] = time.monotonic,
        held: bool = False,
        electrical: Electrical = Electrical(),
        live_limits: Path | None = None,
        feedback: DriverFeedback | None = None,
    ) -> None:
        self.hardware = hardware
        self.config = config
        self.db = db
        self.journal = journal
        self.state = state
        self.uplink: Uplink = Offline()
        self.authorizer = Authorizer(config, db, state)
        self.authorizer.on_list_conflict = self._report_list_conflict
        #: The backend's messages for the screen (2.0.1 DisplayMessage), kept in the state database.
        self.message_board = MessageBoard(db)
        self.recovery = recovery
        self.meter = meter
        self._clock = clock
        count = len(hardware.pilots)
        # ``held``: a release on trial starts with its connectors held Unavailable (see hold()).
        self.charger = Charger.new(
            count, policy_from(config, max_current, meter), state.inoperative_connectors(), held=held
        )
        self.numbers = list(range(1, count + 1))
        self._queues: dict[int, asyncio.Queue[tuple[object, asyncio.Future[str] | None]]] = {
            n: asyncio.Queue() for n in range(0, count + 1)
        }
        self.local_tx: dict[int, int] = {}
        self._tx_started_at: dict[int, float] = {}
        self.readings: dict[int, MeterReading] = {}
        #: When each connector's meter last answered a read taken for a sample, a start or
        #: a stop (our clock): the poller takes that reading as its own (see _poll_meter).
        self._taken: dict[int, tuple[float, MeterReading]] = {}
        self._lock_faults: set[int] = set()
        #: Connectors whose contactor failed a command of the workers' (PowerSwitchFailure
        #: latched here, not by a device): a reset of the connector gives it a fresh try.
        self._switch_faults: set[int] = set()
        self._meter_faults: set[int] = set()
        #: Connectors whose running transaction has an open meter gap in the journal.
        self._gaps: set[int] = set()
        #: When each connector last noted its transaction's meter value with a sample (our clock).
        self._sampled_at: dict[int, float] = {}
        self.statuses: dict[int, StatusEntry] = {}
        #: The grid meter is silent: connector 0's status carries GridMeterFailure.
        self._grid_meter_failing = False
        self._tg: asyncio.TaskGroup | None = None
        self._restart: asyncio.Future[bool] | None = None
        self._pilot_streams: dict[int, AsyncIterator[PilotState]] = {}
        self.ready = asyncio.Event()
        self.safety = SafetyPath(hardware.contactors, self.feed)
        #: Charging profiles, the site's share and the cable decide the current offered.
        self.limits = LimitCore(
            numbers=self.numbers, electrical=electrical, max_current=max_current, state=state,
            limits=lambda: profile_limits(config),
            publish=lambda n, amps: self.feed(LimitChanged(n, amps)),
            clock=_charger_time,  # the charger's clock: it may follow the backend's, not the system's
        )
        self._watts_per_amp = electrical.phases * electrical.voltage_v
        #: The idTag of the RemoteStartTransaction being handed to the machine right now.
        self._remote_starting: str | None = None
        #: The charging state last journaled for each running transaction (see TX_EVENT).
        self._charging_state: dict[int, str] = {}
        #: local transaction -> the latest stamp journaled for it by this run (see _in_order).
        self._stamped: dict[int, str] = {}
        self._running_costs: dict[int, RunningCount] = {}  # the screen's running cost, by local_tx
        #: Whether charging state changes are journaled: only a protocol that reports them
        #: (2.0.1) needs them, and each is a durable write.
        self.journal_charging_states = False
        #: The local tariff ([tariff]); None: no cost is computed (see session_cost).
        self.tariff: Tariff | None = None
        #: The setting naming a start's meter values (see ProtocolRules.start_measurands).
        self.start_measurands = ProtocolRules.start_measurands
        self._live_limits = live_limits
        self._live_failed = False
        if live_limits is not None:
            self.limits.on_change = self._show_limits
        self._max_current = max_current
        self._rules = ProtocolRules()
        #: Each running transaction's meter value at its start (Wh), from which the energy
        #: a refused transaction delivered is counted (MaxEnergyOnInvalidId).
        self._start_wh: dict[int, int] = {}
        config.subscribe(lambda name, value: self.feed(PolicyChanged(self._policy())))
        #: What the driver reads at the station (agent.screen); the adapters tell it the
        #: backend's words for the driver, the runtime what happens (see _screen_*).
        self.feedback = feedback or DriverFeedback(self.numbers)
        self.feedback.station = _ScreenStation(self)
        self.feedback.board = self.message_board
        #: Cards being decided without the backend's answer (offline, or no answer in
        #: time): a refusal of one reads "not when offline" on the screen.
        self._unanswered: set[str] = set()

    def _policy(self) -> Policy:
        return policy_from(self.config, self._max_current, self.meter, self._rules)

    def adopt(self, rules: ProtocolRules) -> None:
        """Follow the rules of the protocol the backend link speaks (before :meth:`run`)."""
        self._rules = rules
        self.journal_charging_states = rules.journal_charging_states
        self.start_measurands = rules.start_measurands
        self.feed(PolicyChanged(self._policy()))

    # ------------------------------------------------------------ running
    async def run(self) -> None:
        """Run every charger task until a reset asks for a restart (raises RestartRequested)."""
        self._restart = asyncio.get_running_loop().create_future()
        await self._restore_reservations()
        await self.db.run(self.limits.load)
        await self._learn_pilots()
        await self._recover_unfinished_transactions()
        await self.limits.forget_orphans()
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            for n in self._queues:
                tg.create_task(self._worker(n), name=f"worker-{n}")
            for n in self.numbers:
                tg.create_task(self._supervised(f"pilot {n}", lambda n=n: self._watch_pilot(n)))
                tg.create_task(self._supervised(f"meter {n}", lambda n=n: self._poll_meter(n)))
                tg.create_task(self._supervised(f"sampler {n}", lambda n=n: self._sample_periodically(n)))
            tg.create_task(self._supervised("card reader", self._watch_cards))
            for reporter in self.hardware.fault_reporters():
                name = getattr(reporter, "name", type(reporter).__name__)
                tg.create_task(self._supervised(f"faults of {name}", lambda r=reporter: self.safety.watch(r)))
            tg.create_task(self._supervised("clock-aligned sampler", self._sample_clock_aligned))
            tg.create_task(self._supervised("tick", self._tick))
            tg.create_task(self._supervised("limits", self.limits.run))
            tg.create_task(self._supervised("screen", lambda: self.feedback.run(getattr(self.hardware, "display", None))))
            self.feed(Started())
            self.ready.set()
            hard = await self._restart
            raise RestartRequested(hard)

    async def healthy(self, timeout: float) -> bool:
        """Whether every worker (the charger-wide one and each connector's) takes a job
        within ``timeout`` seconds: a worker stuck on a device or on the disk fails this,
        and the service watchdog then lets systemd restart the agent."""
        if self._tg is None:
            return False
        loop = asyncio.get_running_loop()
        probes = []
        for queue in self._queues.values():
            answered: asyncio.Future[str] = loop.create_future()
            queue.put_nowait((Probe(), answered))
            probes.append(answered)
        done, _ = await asyncio.wait(probes, timeout=timeout)
        return len(done) == len(probes)

    def hold(self, held: bool) -> None:
        """Hold every connector not in use Unavailable for maintenance, or release them
        (see :class:`HoldRequested`): running transactions go on, no new one starts."""
        if self.charger.held == held:
            return
        log.warning("connectors held for maintenance" if held else "maintenance hold released")
        self.feed(HoldRequested(held))

    def busy(self) -> bool:
        """Whether a transaction runs on any connector."""
        return bool(self.local_tx) or any(c.transaction is not None for c in self.charger.connectors)

    async def hold_until_idle(self, poll: float = 1.0, allow_new_sessions: bool = False) -> None:
        """Hold the connectors and return once no transaction runs and every stop is in
        the journal: a firmware switch waits for this, so the restart it makes never cuts
        a session, and none can begin in the moment before it (OCPP 2.0.1 L01.FR.06/07).
        ``allow_new_sessions`` (2.0.1 AllowNewSessionsPendingFirmwareUpdate): the free
        connectors stay in service while the running transactions go on, and are held
        only once none runs (a session begun in that moment is waited for, held)."""
        if allow_new_sessions:
            while self.busy():
                await asyncio.sleep(poll)
        self.hold(True)
        while self.busy():
            await asyncio.sleep(poll)
        try:
            async with asyncio.timeout(IDLE_FLUSH_S):
                for queue in self._queues.values():
                    await queue.join()  # the last stop's journal write, its status report
        except TimeoutError:
            log.error("a worker is still busy after the last transaction ended; going on", waited_s=IDLE_FLUSH_S)

    def summary(self) -> str:
        """Each connector's status in one line, e.g. "1 Charging 16 A, 2 Available", with
        the current offered in a session and what limits it, and whether the connectors
        are held for a firmware update (which is why they show Unavailable)."""
        parts = []
        for n in self.numbers:
            entry = self.statuses.get(n)
            text = entry.status if entry is not None else "starting"
            if entry is not None and entry.error_code != "NoError":
                text += f" ({entry.error_code})"
            conn = self.charger.connector(n)
            if conn is not None and conn.transaction is not None:
                decision = self.limits.decided(n)
                text += f" {conn.offer_a:g} A" if conn.offer_a else " 0 A"
                if decision.amps is not None:
                    text += f" (limit: {decision.source})"
            parts.append(f"{n} {text}")
        held = " (held for a firmware update)" if self.charger.held else ""
        return ", ".join(parts) + held

    async def _supervised(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """Run a long-lived loop; if it fails (a driver bug, a device answering nonsense),
        log it once and start it again, so one bad input never stops the charger."""
        failing = False
        while True:
            try:
                await loop()
                return
            except Exception as exc:  # noqa: BLE001 - whatever a device does, the charger carries on
                if not failing:
                    log.exception("task failed; restarting it", task=name, error=str(exc))
                failing = True
                await asyncio.sleep(1.0)

    def feed(self, event: Event, answer: asyncio.Future[str] | None = None) -> str | None:
        """Step the machine with one event and dispatch its actions; return its reply, if
        any. ``answer`` receives the result of an action a backend waits for (an unlock)."""
        self.charger, actions = step(self.charger, event, self._clock())
        reply: str | None = None
        for action in actions:
            if isinstance(action, Reply):
                reply = action.answer
            elif isinstance(action, Authorize):
                self.feedback.authorizing(action.id_tag)
                self._spawn(self._authorize(action.id_tag, action.token_type), f"authorize-{action.id_tag}")
            elif isinstance(action, CardRejected):
                log.info("card rejected", id_tag=action.id_tag, why=action.why)
                self.feedback.card_rejected(action.id_tag, action.why,
                                            self.uplink.online and action.id_tag not in self._unanswered)
                if self.hardware.indicator is not None:
                    self._spawn(self._flash_rejected(), "indicator-rejected")
            elif isinstance(action, (PersistReservation, ForgetReservation)):
                # One queue for all of them, so a reservation id reused on another
                # connector is never deleted after it was saved again.
                self._queues[0].put_nowait((action, None))
            else:
                waiting = answer if isinstance(action, Unlock) and action.answer else None
                self._queues[action.connector].put_nowait((action, waiting))
        if self.limits.waiting:  # after dispatching: it may feed a limit itself
            self._drop_lapsed_start_profiles()
        return reply

    async def _flash_rejected(self) -> None:
        """A refused card is shown on every connector a card could have been for."""
        for n in self.numbers:
            if self.statuses.get(n) is None or self.statuses[n].status in ("Available", "Preparing", "Finishing"):
                await self._show(n, Signal.REJECTED)

    def _spawn(self, coro: object, name: str) -> None:
        assert self._tg is not None, "the runtime is not running"
        self._tg.create_task(coro, name=name)  # type: ignore[arg-type]

    # ------------------------------------------------------------ requests from the backend
    def remote_start(self, id_tag: str, connector: int | None, profile: Profile | None = None,
                     remote_start_id: int | None = None, token_type: str | None = CARD) -> str:
        """RemoteStartTransaction; ``profile`` (a TxProfile) is installed for the
        transaction it starts. It waits as long as the driver may take to plug in (the
        authorization's ConnectionTimeOut, and a minute for the backend's answer first).
        ``remote_start_id`` (2.0.1) and ``token_type`` (2.0.1: a token other than a card)
        go with the authorization to the transaction it starts, and lapse with it."""
        request = RemoteStartRequested(id_tag, connector, token_type, remote_start_id)
        if profile is None:
            self.limits.forget_expected(id_tag)  # an earlier request's profile is not this one's
            return self.feed(request) or "Rejected"
        wait_s = self.config.int("ConnectionTimeOut") + REMOTE_PROFILE_MARGIN_S
        if self.charger.policy.start_on_energy_transfer:
            # An authorized EV may wait long for its first energy (a timer in the car): the
            # profile stays while the authorization does (_drop_lapsed_start_profiles).
            wait_s = max(wait_s, ENERGY_START_PROFILE_WAIT_S)
        self._remote_starting = id_tag  # the machine does not hold the idTag yet: keep its profile
        try:
            self.limits.expect(id_tag, connector, profile, wait_s)  # limits the very first offer already
            answer = self.feed(request) or "Rejected"
        finally:
            self._remote_starting = None
        if answer != "Accepted":
            self.limits.forget_expected(id_tag)
        elif self.limits.waiting:
            self._drop_lapsed_start_profiles()  # accepted, yet already over (e.g. refused at once)
        return answer

    def _show_limits(self, decisions: Mapping[int, Decision]) -> None:
        """Keep ``ladda limits``'s view of this agent current (a tmpfs file; see agent.live_limits)."""
        assert self._live_limits is not None
        offers = {c.id: c.offer_a for c in self.charger.connectors}
        try:
            live_limits.write(self._live_limits, decisions, offers)
            self._live_failed = False
        except OSError as exc:
            if not self._live_failed:
                log.warning("cannot write the live limits for `ladda limits`", path=str(self._live_limits),
                            error=str(exc))
            self._live_failed = True

    def _drop_lapsed_start_profiles(self) -> None:
        """A remote start's TxProfile goes with its authorization: once the machine no
        longer holds the idTag (no EV came within ConnectionTimeOut, the backend refused
        it), the profile is not kept for a later session of the same card."""
        held = {p.id_tag for p in self.charger.pending}
        if self._remote_starting is not None:
            held.add(self._remote_starting)
        for conn in self.charger.connectors:
            if conn.authorization is not None:
                held.add(conn.authorization.id_tag)
            if conn.transaction is not None and conn.transaction.id_tag is not None:
                held.add(conn.transaction.id_tag)
        for tag in self.limits.waiting_tags() - held:
            log.info("a remote start's charging profile is dropped: its authorization ended", id_tag=tag)
            self.limits.forget_expected(tag)

    async def _install_start_profile(self, connector: int) -> None:
        """The TxProfile a remote start brought, for the transaction it started. A failure
        here is logged and never keeps the start from being recorded."""
        try:
            profile, why = await self.limits.install_expected(connector)
        except StoreError as exc:
            profile, why = None, f"it could not be stored: {exc}"
        if why is not None:
            log.warning("the remote start's charging profile cannot be installed", connector=connector,
                        profile_id=None if profile is None else profile.id, reason=why)

    async def remote_stop(self, backend_tx: int) -> str:
        return self._remote_stop(await self.db.run(self.journal.backend_to_local, backend_tx))

    async def remote_stop_by_uid(self, tx_uid: str) -> str:
        """RequestStopTransaction (2.0.1): the transaction named by the charger's own id."""
        return self._remote_stop(await self.db.run(self.journal.by_uid, tx_uid))

    def _remote_stop(self, record: TransactionRecord | None) -> str:
        if record is None or record.stopped_at is not None:
            return "Rejected"
        if self.local_tx.get(record.connector) != record.local_id:
            return "Rejected"
        return self.feed(RemoteStopRequested(record.connector)) or "Rejected"

    def reserve(
        self, connector: int, reservation_id: int, id_tag: str, parent_id_tag: str | None, expiry: datetime
    ) -> str:
        """ReserveNow: Accepted, Faulted, Occupied, Rejected or Unavailable."""
        reservation = Reservation(
            reservation_id, connector, id_tag, parent_id_tag, self._deadline(expiry), iso(expiry)
        )
        return self.feed(ReservationRequested(reservation)) or "Rejected"

    def cancel_reservation(self, reservation_id: int) -> str:
        return self.feed(CancelReservationRequested(reservation_id)) or "Rejected"

    def _deadline(self, expiry: datetime) -> float:
        """A wall-clock expiry as the machine's monotonic time (a clock step moves neither)."""
        return self._clock() + (expiry - datetime.now(timezone.utc)).total_seconds()

    def change_availability(self, connector: int, operative: bool) -> str:
        return self.feed(AvailabilityRequested(connector, operative)) or "Rejected"

    async def unlock(self, connector: int) -> str:
        """UnlockConnector: stop the connector's transaction, then release the cable lock.

        Without a lock (a tethered cable, or no such connector) there is nothing to
        release: the answer is NotSupported and a running session goes on.
        """
        if connector not in self.hardware.locks:
            return "NotSupported"
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        reply = self.feed(UnlockRequested(connector), answer)
        return reply if reply is not None else await asyncio.wait_for(answer, 10.0)

    def reset_connector(self, connector: int, immediate: bool) -> str:
        """Reset one connector while the rest of the charger runs on (OCPP 2.0.1 Reset of
        an EVSE): Accepted, Scheduled (not ``immediate`` and a transaction runs: the reset
        follows its end, and no session begins on the connector before it) or Rejected (no
        such connector). A transaction ended by it says CONNECTOR_RESET. The connector
        shows Unavailable while it is set up afresh, then what it is."""
        return self.feed(ConnectorResetRequested(connector, immediate)) or "Rejected"

    def reset_when_idle(self, before: Callable[[], Awaitable[None]] | None = None) -> None:
        """Reset once no transaction runs (2.0.1 Reset OnIdle): the connectors are held
        meanwhile, so no new session begins before it. ``before`` runs when the reset is
        carried out (the adapter notes why the next run starts then, not when it is asked)."""

        async def when_idle() -> None:
            await self.hold_until_idle()
            if before is not None:
                await before()
            self.request_reset(False)

        self._spawn(when_idle(), "reset-on-idle")

    def request_reset(self, hard: bool) -> None:
        """End every transaction, then restart once they are journaled (after the reply)."""
        self.feed(StopAllRequested(StopReason.HARD_RESET if hard else StopReason.SOFT_RESET))
        self._spawn(self._restart_when_settled(hard), "reset")

    async def clear_cache(self) -> None:
        await self.authorizer.clear_cache()

    async def start_answered(self, local_tx: int, connector: int, result: AuthResult, id_tag: str,
                             token_type: str | None = CARD) -> None:
        """The backend answered a StartTransaction: stop if it was refused, else keep the
        parentIdTag it gave (a card of that parent may stop the transaction); cache the idTag."""
        self.act_on_verdict(local_tx, connector, result)
        if id_tag:  # not the empty idTag of a start no token was authorized for (see agent.ocpp16.outbound)
            await self.authorizer.remember(id_tag, result, token_type)

    def act_on_verdict(self, local_tx: int, connector: int, result: AuthResult) -> None:
        """What the backend's verdict on a started transaction changes, at once (no await:
        a caller may act on it while it is being cancelled, see agent.ocpp201.session)."""
        if self.local_tx.get(connector) != local_tx:
            return
        if result.status is not AuthStatus.ACCEPTED:
            self.feed(TransactionRefused(connector, result.status, self._delivered_wh(connector) or 0.0))
        elif result.parent_id_tag:
            self.feed(TransactionConfirmed(connector, result.parent_id_tag))

    def _delivered_wh(self, connector: int) -> float | None:
        """The energy the connector's running transaction delivered so far (Wh since its
        start meter value, by the last reading), or None when that is not known."""
        start = self._start_wh.get(connector)
        reading = self.readings.get(connector)
        if start is None or reading is None:
            return None
        return max(0.0, float(metering.energy_wh(reading) - start))

    def _watch_budget(self, connector: int) -> None:
        """Feed the machine the energy of a refused transaction charging on its
        MaxEnergyOnInvalidId allowance (see EnergyDelivered), at each meter reading."""
        conn = self.charger.connector(connector)
        if conn is None or conn.transaction is None or conn.transaction.budget_wh is None:
            return
        delivered = self._delivered_wh(connector)
        if delivered is not None:
            self.feed(EnergyDelivered(connector, delivered))

    def _report_list_conflict(self) -> None:
        """OCPP 1.6 3.5.2: a StatusNotification on connector 0 with the error code
        LocalListConflict, the status unchanged. It is a one-off notice, so it does not
        become connector 0's remembered status (a reconnect does not repeat it)."""
        self._queues[0].put_nowait((ListConflict(), None))

    def report_grid_meter(self, failing: bool) -> None:
        """The site limiter's grid meter went silent or answers again. While it is silent,
        connector 0's remembered status carries errorCode OtherError with vendorErrorCode
        GridMeterFailure, its status unchanged (a warning: charging goes on at the
        fallback), so the reconnect's snapshot and TriggerMessage repeat it until the
        meter answers. Written in turn with connector 0's other reports, on its worker."""
        self._queues[0].put_nowait((GridMeterWarning(failing), None))

    def _with_grid_meter_warning(self, entry: StatusEntry) -> StatusEntry:
        """Connector 0's report as it stands with the grid meter's warning on it (a real
        error of connector 0 wins), or without it once the meter answers."""
        if self._grid_meter_failing and entry.error_code == "NoError":
            return replace(entry, error_code=GRID_METER_ERROR, info=GRID_METER_INFO,
                           vendor_error_code=GRID_METER_VENDOR_CODE)
        if not self._grid_meter_failing and entry.vendor_error_code == GRID_METER_VENDOR_CODE:
            return replace(entry, error_code="NoError", info="", vendor_error_code="")
        return entry

    def shift_status_stamps(self, seconds: float) -> None:
        """The clock was corrected (see ``agent.clock``): the statuses noted before carry
        provisional times; move them so the snapshot a backend gets is stamped right."""
        if not seconds:
            return
        self.limits.shift(seconds)
        self.statuses = {
            n: replace(e, timestamp=iso(parse_iso(e.timestamp) + timedelta(seconds=seconds)))
            for n, e in self.statuses.items()
        }

    def status_snapshot(self) -> list[StatusEntry]:
        return [self.statuses[n] for n in sorted(self.statuses)]

    async def trigger_samples(self, connector: int) -> tuple[str, list[Sample], int | None] | None:
        """Current values for a triggered MeterValues: (timestamp, samples, local transaction)."""
        reading = await self._fresh_reading(connector)
        if reading is None:
            return None
        conn = self.charger.connector(connector)
        offer = conn.offer_a if conn else 0.0
        measurands = self.config.list("MeterValuesSampledData")
        return utc_now(), metering.samples(reading, measurands, offer, self._watts_per_amp), self.local_tx.get(connector)

    async def sample_now(self, connector: int, context: str) -> bool:
        """Journal a sample of the running transaction on ``connector`` now (its
        MeterValuesSampledData), in order with it, as a backend's pricing trigger asks;
        False when no transaction runs or no fresh reading is to be had."""
        if connector not in self.local_tx:
            return False
        reading = await self._fresh_reading(connector)
        if reading is None or connector not in self.local_tx:
            return False
        job = RecordSample(connector, reading, context, self.config.list("MeterValuesSampledData"), (), utc_now())
        self._queues[connector].put_nowait((job, None))
        return True

    # ------------------------------------------------------------ carrying out actions
    async def _show(self, connector: int, signal: Signal) -> None:
        """Tell the driver through the LEDs; an indicator failing never stops a session."""
        indicator = self.hardware.indicator
        if indicator is None or connector == 0:
            return
        try:
            await indicator.show(connector, signal)
        except DeviceError as exc:
            log.warning("indicator failed", connector=connector, error=str(exc))

    # ------------------------------------------------------------ the screen (agent.screen)
    def _screen_status(self, entry: StatusEntry) -> None:
        """A reported status, for the screen (with whether a car is plugged in)."""
        conn = self.charger.connector(entry.connector)
        self.feedback.status(entry.connector, entry.status, entry.error_code, entry.vendor_error_code,
                             conn is not None and conn.pilot.plugged)

    async def _screen_started(self, n: int, local: int) -> None:
        """A transaction began: the screen counts its time, and keeps the backend's
        messages limited to it by the charger's own transaction id."""
        try:
            records = await self.db.run(self.journal.open_transactions)
        except StoreError as exc:  # the screen's want never faults a start that is on record
            log.warning("transaction id for the screen unknown", connector=n, local_tx=local, error=str(exc))
            records = []
        record = next((r for r in records if r.local_id == local), None)
        began = 0.0
        if record is not None:
            with contextlib.suppress(ValueError):  # a resumed session's time counts from its start
                began = (_charger_time() - parse_iso(record.started_at)).total_seconds()
        self.feedback.transaction_started(n, record.tx_uid if record is not None else None, began)

    def _idle_alert(self, n: int) -> None:
        """The car on ``n`` idles after charging (agent.screen.idle): the LEDs ask the
        driver to move it, and the backend gets the transaction's totals as a meter value
        with context IDLE_CONTEXT, once per idle stretch (see :meth:`_tell_idle`)."""
        if self.hardware.indicator is not None:
            self._spawn(self._show(n, Signal.MOVE_CAR), f"indicator-move-car-{n}")
        local = self.local_tx.get(n)
        if local is not None:
            self._spawn(self._tell_idle(n, local), f"idle-alert-{n}")

    async def _tell_idle(self, n: int, local: int) -> None:
        """Note the alert durably (a restart does not repeat it for the same stretch), and
        journal a reading taken now (a stale one would put an old register at the time
        now) on the connector's worker, in order with the rest."""
        try:
            await self.db.run(self.state.leave_note, IDLE_NOTE.format(connector=n), f"{local} {utc_now()}")
        except StoreError as exc:  # the alert itself goes on; a restart may repeat it
            log.warning("idle alert not noted", connector=n, error=str(exc))
        reading = await self._fresh_reading(n)
        if self.local_tx.get(n) != local:
            return  # the transaction ended meanwhile: its stop has the totals
        if reading is None:
            log.warning("idle alert not told to the backend: no fresh meter reading", connector=n, local_tx=local)
            return
        measurands = self.config.list("MeterValuesSampledData")
        if ENERGY_REGISTER not in measurands:
            measurands = (ENERGY_REGISTER, *measurands)
        job = RecordSample(n, reading, IDLE_CONTEXT, tuple(measurands), (), utc_now())
        self._queues[n].put_nowait((job, None))

    async def _restore_idle(self, n: int, record: TransactionRecord) -> None:
        """A transaction resumed after a restart: the screen learns whether it had charged
        (the idle alert needs it) and whether its present idle stretch was alerted already
        (noted at the alert, and no Charging in its timeline since)."""
        try:
            note = await self.db.run(self.state.read_note, IDLE_NOTE.format(connector=n))
            points = await self.db.run(self.journal.timeline, record.local_id)
        except (StoreError, ValueError) as exc:  # never a reason not to resume
            log.warning("idle alert state of a resumed transaction unknown", connector=n, error=str(exc))
            return
        charged = any(p.state == "Charging" for p in points) or (record.last_meter_wh or 0) > record.meter_start_wh
        alerted = False
        local, _, at = (note or "").partition(" ")
        if charged and local == str(record.local_id) and at:
            alerted_at = parse_iso(at)
            alerted = not any(p.state == "Charging" and p.at > alerted_at for p in points)
        self.feedback.idle_restored(n, charged=charged, alerted=alerted)

    async def _worker(self, connector: int) -> None:
        queue = self._queues[connector]
        while True:
            item, future = await queue.get()
            try:
                await self._execute(item, future)
            except DeviceError as exc:
                log.error("device failed", connector=connector, error=str(exc))
                if isinstance(item, SwitchContactor):
                    self._switch_faults.add(connector)
                    self.feed(FaultRaised(connector, SWITCH_FAILURE))
            except StoreError as exc:
                # Nothing may be charged that is not on record: stop offering energy.
                log.critical("cannot write the journal; charging suspended", error=str(exc))
                self.feed(FaultRaised(0, STORAGE_FAILURE))
            except Exception as exc:  # noqa: BLE001 - a bug in one action must not stop the others
                log.exception("action failed", connector=connector, action=repr(item), error=str(exc))
            finally:
                if future is not None and not future.done():
                    future.set_result("UnlockFailed")
                queue.task_done()

    async def _execute(self, item: object, future: asyncio.Future[str] | None) -> None:
        if isinstance(item, SwitchContactor):
            n = item.connector
            if item.closed and not await self._may_still_close(n):
                return
            await self.hardware.contactors[n].switch(item.closed)
            log.info("contactor", connector=n, closed=item.closed)
            conn = self.charger.connector(n)
            if item.closed and (n in self.safety.held or conn is None or not conn.contactor_closed):
                # A fault arrived while it was closing: the safety path wants it open.
                await self.hardware.contactors[n].switch(False)
                log.warning("contactor reopened: a fault arrived while it closed", connector=n)
        elif isinstance(item, OfferCurrent):
            # An offer to an EV with no transaction yet (TxStartPoint EnergyTransfer) takes a
            # share of the charger's cap at once; the share comes back as a lower offer.
            self.limits.offering_before_start(item.connector, item.current_a > 0 and item.connector not in self.local_tx)
            await self.hardware.pilots[item.connector].offer(item.current_a)
            if self._live_limits is not None:
                self._show_limits(self.limits.decisions())
        elif isinstance(item, StartTransaction):
            await self._journal_start(item)
        elif isinstance(item, RecordAuthorization):
            await self._journal_authorization(item)
        elif isinstance(item, StopTransaction):
            await self._journal_stop(item)
        elif isinstance(item, ReportStatus):
            info, vendor = self.safety.details(item.connector, item.error_code)
            entry = StatusEntry(item.connector, item.status.value, item.error_code, utc_now(), info, vendor)
            if item.connector == 0:
                entry = self._with_grid_meter_warning(entry)
            self.statuses[item.connector] = entry
            log.info("status", connector=item.connector, status=entry.status, error_code=entry.error_code)
            self._screen_status(entry)
            await self._show(item.connector, signal_for(entry.status))
            if self.journal_charging_states:  # 2.0.1: the change is its own TransactionEvent
                await self.db.run(self.journal.record_status, entry.connector, entry.status, entry.error_code,
                                  entry.timestamp, entry.info, entry.vendor_error_code)
                await self._journal_charging_state(item.connector, entry)
            else:  # 1.6 tells the change by this status: its timeline row goes in the same commit
                local, steps = self._charging_steps(item.connector, entry)
                noted = await self.db.run(
                    self.journal.record_status, entry.connector, entry.status, entry.error_code, entry.timestamp,
                    entry.info, entry.vendor_error_code, [(local, stamp, step, wh) for step, _, stamp, wh in steps])
                if noted and local is not None:
                    self._charging_state[local] = steps[-1][0]
            self.uplink.wake()
        elif isinstance(item, CableMoved):
            entry = self.statuses.get(item.connector)
            if entry is not None:
                await self._journal_charging_state(item.connector, entry)
                self.uplink.wake()
        elif isinstance(item, GridMeterWarning):
            self._grid_meter_failing = item.failing
            current = self.statuses.get(0) or StatusEntry(0, "Available", "NoError", utc_now())
            entry = replace(self._with_grid_meter_warning(current), timestamp=utc_now())
            if entry.error_code == current.error_code and entry.vendor_error_code == current.vendor_error_code:
                return  # connector 0 has an error of its own: it stands, and says more than a warning
            self.statuses[0] = entry
            log.info("status", connector=0, status=entry.status, error_code=entry.error_code,
                     vendor_error_code=entry.vendor_error_code)
            await self.db.run(self.journal.record_status, 0, entry.status, entry.error_code, entry.timestamp,
                              entry.info, entry.vendor_error_code)
            self.uplink.wake()
        elif isinstance(item, ListConflict):
            current = self.statuses.get(0)
            status = current.status if current is not None else "Available"
            await self.db.run(self.journal.record_status, 0, status, LIST_CONFLICT, utc_now())
            self.uplink.wake()
        elif isinstance(item, PersistAvailability):
            await self.db.run(self.state.set_availability, item.connector, item.operative)
        elif isinstance(item, PersistReservation):
            r = item.reservation
            await self.db.run(self.state.save_reservation, r.id, r.connector, r.id_tag, r.parent_id_tag, r.expiry_date)
            log.info("reservation made", reservation_id=r.id, connector=r.connector, id_tag=r.id_tag, expiry=r.expiry_date)
        elif isinstance(item, ForgetReservation):
            await self.db.run(self.state.delete_reservation, item.reservation_id)
            log.info("reservation ended", reservation_id=item.reservation_id, why=item.why.value)
            # A link that reports ends of reservations (2.0.1's ReservationStatusUpdate) hears of it.
            ended: Callable[[int, ReservationEnd], None] | None = getattr(self.uplink, "reservation_ended", None)
            if ended is not None:
                ended(item.reservation_id, item.why)
        elif isinstance(item, ResetConnector):
            await self._set_up_afresh(item.connector)
        elif isinstance(item, Unlock):
            answer = await self._unlock_cable(item.connector)
            if future is not None:
                future.set_result(answer)
        elif isinstance(item, RecordSample):
            await self._journal_sample(item)
        elif isinstance(item, MeterGapNote):
            await self._journal_gap(item)
        elif isinstance(item, Probe):
            if future is not None:
                future.set_result("alive")

    async def _set_up_afresh(self, n: int) -> None:
        """Carry out a reset of connector ``n`` (ResetConnector; the machine holds it
        Unavailable meanwhile, with no transaction): its outputs are commanded to the safe
        state again (no PWM, contactor open), its meter and cable rating are read anew,
        and faults latched here rather than reported by a device (a failed cable lock, a
        contactor that failed a command and now opens) get a fresh try. A device that still
        fails raises its fault again. It serves again whatever happened."""
        try:
            try:
                await self.hardware.pilots[n].offer(0.0)
            except DeviceError as exc:
                log.error("pilot failed during the connector's reset", connector=n, error=str(exc))
            contactor_open = True
            try:
                await self.hardware.contactors[n].switch(False)
            except DeviceError as exc:
                contactor_open = False
                log.error("contactor failed during the connector's reset", connector=n, error=str(exc))
                self._switch_faults.add(n)
                self.feed(FaultRaised(n, SWITCH_FAILURE))
            if contactor_open and n in self._switch_faults and not self.safety.reporting(n, SWITCH_FAILURE):
                self._switch_faults.discard(n)
                self.feed(FaultCleared(n, SWITCH_FAILURE))
            if n in self._lock_faults:
                self._lock_faults.discard(n)
                self.feed(FaultCleared(n, LOCK_FAILURE))
            if n in self.hardware.meters:
                await self._fresh_reading(n)
            conn = self.charger.connector(n)
            if conn is not None and conn.pilot.plugged:
                await self._learn_cable(n)
        finally:
            log.warning("connector reset", connector=n)
            self.feed(ConnectorResetDone(n))

    async def _may_still_close(self, n: int) -> bool:
        """Last check before energising: actions run in order, so by now the machine may
        have changed its mind (EV gone, fault), or the start may not be on record."""
        conn = self.charger.connector(n)
        if n in self.safety.held:
            log.warning("contactor stays open: a fault is being handled", connector=n)
            return False
        if conn is None or not conn.contactor_closed or n not in self.local_tx:
            log.info("contactor stays open: no longer wanted or not on record", connector=n)
            return False
        if not await self._lock_cable(n):
            return False
        conn = self.charger.connector(n)  # the lock may have taken a while
        return conn is not None and conn.contactor_closed

    async def _lock_cable(self, n: int) -> bool:
        """Lock a socket outlet's cable before energising it; a lock that fails is a fault."""
        lock = self.hardware.locks.get(n)
        if lock is None or await lock.set_locked(True):
            return True
        log.error("cable lock failed; not energising", connector=n)
        self._lock_faults.add(n)
        self.feed(FaultRaised(n, LOCK_FAILURE))
        return False

    async def _unlock_cable(self, n: int) -> str:
        """Unlocked, UnlockFailed, or NotSupported for a tethered cable (no lock fitted)."""
        lock = self.hardware.locks.get(n)
        if lock is None:
            return "NotSupported"
        if await lock.set_locked(False):
            return "Unlocked"
        log.error("cable lock does not release", connector=n)
        return "UnlockFailed"

    async def _journal_start(self, action: StartTransaction) -> None:
        """Journal the start with a fresh meter value. With ``on_failure = "continue"`` a
        meter already failing does not stop it: the last good reading is the start value
        and the transaction is flagged with a meter gap from its start."""
        n = action.connector
        reading = await self._fresh_reading(n)
        last = self.readings.get(n)
        failing = reading is None
        if failing:
            self._meter_fault(n)
            if self.meter.failure_stops or last is None:
                # A start without a meter value would bill the meter's whole register at the stop.
                log.error("no meter reading: transaction not started", connector=n, id_tag=action.id_tag)
                return
            reading = last
        meter_wh = metering.energy_wh(reading)
        # Values of a failed meter's last frame are not the start's: none go with it.
        begin = [] if failing else self._samples(reading, self.start_measurands, n)
        timestamp = utc_now()
        local = await self.db.run(
            self.journal.begin_transaction, n, action.id_tag, meter_wh, timestamp, begin, action.reservation_id,
            failing, action.remote_start_id, action.token_type, action.started_by,
        )
        self.local_tx[n] = local
        self._stamped[local] = timestamp
        if action.started_by in STARTED_STATES:  # begun before its EV, or as it asked for energy
            self._charging_state[local] = STARTED_STATES[action.started_by]
        self._tx_started_at[n] = self._clock()
        self._start_wh[n] = meter_wh
        self.limits.transaction_started(n, local, parse_iso(timestamp), action.id_tag)
        await self._screen_started(n, local)
        await self._install_start_profile(n)
        if failing:
            self._gaps.add(n)
            log.warning("transaction started while the meter fails: flagged", connector=n, local_tx=local,
                        id_tag=action.id_tag, meter_wh=meter_wh)
        else:
            log.info("transaction started", connector=n, local_tx=local, id_tag=action.id_tag, meter_wh=meter_wh)
        self.uplink.wake()

    async def _journal_authorization(self, action: RecordAuthorization) -> None:
        """A token authorized for a running transaction an EV began: journaled (the
        backend is told whose it is) before the machine's offer reaches the pilot, since
        the worker runs the actions in order."""
        local = self.local_tx.get(action.connector)
        if local is None:
            return  # its start is not on record (no meter reading): nothing to identify
        await self.db.run(self.journal.record_authorization, local, action.connector,
                          self._in_order(local, utc_now()), action.id_tag,
                          action.token_type, action.remote_start_id, action.reservation_id)
        self.limits.transaction_identified(action.connector, local, action.id_tag)
        await self._install_start_profile(action.connector)  # a remote start's TxProfile, if it brought one
        log.info("transaction authorized", connector=action.connector, local_tx=local, id_tag=action.id_tag)
        self.uplink.wake()

    async def _journal_stop(self, action: StopTransaction) -> None:
        n = action.connector
        local = self.local_tx.pop(n, None)
        start_wh = self._start_wh.pop(n, None)
        if local is None:
            return
        # Even a stale reading beats none; the journal's checkpoint is the floor (energy
        # reported never goes backwards).
        fresh = await self._fresh_reading(n)
        reading = fresh or self.readings.get(n)
        record = next((r for r in await self.db.run(self.journal.open_transactions) if r.local_id == local), None)
        floor_wh = 0 if record is None else max(record.meter_start_wh, record.last_meter_wh or 0)
        meter_wh = max(metering.energy_wh(reading), floor_wh) if reading else floor_wh
        end = self._samples(reading, "StopTxnSampledData", n)
        timestamp = self._in_order(local, utc_now())
        if n in self._gaps:
            self._gaps.discard(n)
            if fresh is not None:  # the meter answers again just as the transaction stops
                await self.db.run(self.journal.close_meter_gap, local, timestamp, metering.energy_wh(fresh))
        # A gap still open is closed by the stop itself, with no reading after it.
        conn = self.charger.connector(n)
        await self.db.run(
            self.journal.end_transaction, local, meter_wh, timestamp, action.reason.value, action.id_tag, end,
            conn is not None and conn.pilot.plugged,
        )
        log.info("transaction stopped", connector=n, local_tx=local, reason=action.reason.value, meter_wh=meter_wh)
        final = await self._final_figures(local)  # before the screen hears of the stop: no stale figure between
        self.feedback.transaction_stopped(n, None if start_wh is None else max(0, meter_wh - start_wh) / 1000)
        if final is not None:
            self.feedback.final_figures(n, *final)
        self.uplink.wake()
        await self.limits.transaction_ended(n, local)

    def _in_order(self, local: int, stamp: str) -> str:
        """``stamp``, or the latest one already journaled for the transaction if that is
        later: a sample's reading is taken before it reaches the connector's worker, which
        may journal a charging-state change stamped in between, and a backend must never
        see a transaction's event times go backwards (the register only rises, so a reading
        stamped a few milliseconds late bills nothing wrong)."""
        before = self._stamped.get(local)
        if before is not None and parse_iso(before) > parse_iso(stamp):
            stamp = before
        self._stamped = {tx: s for tx, s in self._stamped.items() if tx in self.local_tx.values()}
        self._stamped[local] = stamp
        return stamp

    def awaiting_token(self) -> frozenset[int]:
        """Connectors whose transaction an EV began and no token was authorized for yet."""
        return frozenset(c.id for c in self.charger.connectors
                         if c.transaction is not None and not c.transaction.identified)

    def charging_state(self, n: int) -> str:
        """Where a running transaction on connector ``n`` stands now, in the words of
        CHARGING_STATES: Idle without its EV (not come yet, or away), else by the status."""
        conn = self.charger.connector(n)
        if conn is None or not conn.pilot.plugged:
            return "Idle"
        status = self.statuses.get(n)
        return CHARGING_STATES.get(status.status, "EVConnected") if status is not None else "EVConnected"

    async def _journal_charging_state(self, n: int, entry: StatusEntry) -> None:
        """A running transaction's charging state, journaled when it changes (TX_EVENT).
        A transaction kept open without its EV (StopTransactionOnEVSideDisconnect false)
        is Idle, and the EV's return is EVConnected: each says the cable event behind it.
        (Its connector may report Available meanwhile: see Policy.ev_away_available.)"""
        local, steps = self._charging_steps(n, entry)
        if local is None:
            return
        for step, cause, stamp, wh in steps:
            if self.journal_charging_states:
                noted = await self.db.run(self.journal.record_tx_event, local, n, stamp, step, cause, wh)
            else:  # the protocol does not report it: the timeline alone keeps it
                noted = await self.db.run(self.journal.record_charging_state, local, stamp, step, wh)
            if not noted:
                return  # the transaction has ended meanwhile
            self._charging_state[local] = step

    def _charging_steps(self, n: int,
                        entry: StatusEntry) -> tuple[int | None, list[tuple[str, str | None, str, int | None]]]:
        """The running transaction on connector ``n`` and the changes of its charging state
        ``entry`` makes, to journal in order: (state, cable cause, stamp, register or None)."""
        local = self.local_tx.get(n)
        if local is None:
            return None, []
        conn = self.charger.connector(n)
        plugged = conn is not None and conn.pilot.plugged
        previous = self._charging_state.get(local, "EVConnected")
        state = CHARGING_STATES.get(entry.status)
        steps: list[tuple[str, str | None]] = []
        if not plugged and (state is not None or entry.status == "Available"):
            steps.append(("Idle", "ev_unplugged"))
        else:
            if previous == "Idle" and plugged:
                steps.append(("EVConnected", "ev_plugged"))  # the EV is back, then what it does
            if state is not None:
                steps.append((state, None))
        self._charging_state = {tx: s for tx, s in self._charging_state.items() if tx in self.local_tx.values()}
        changes: list[tuple[str, str | None, str, int | None]] = []
        current = previous
        for step, cause in steps:
            if current == step:
                continue
            current = step
            changes.append((step, cause, self._in_order(local, entry.timestamp), self._register_now(n)))
        return local, changes

    def _register_now(self, n: int) -> int | None:
        """Connector ``n``'s energy register from its latest reading if that is fresh (the
        poller's), else None: the timeline interpolates a change's register then."""
        reading = self.readings.get(n)
        return metering.energy_wh(reading) if reading is not None and self._is_fresh(reading) else None

    async def session_cost(self, connector: int) -> Cost | None:
        """What the session running on ``connector`` costs now under the local tariff: its
        journaled timeline carried on to now, in the state it is in, with the latest fresh
        reading (without one, the energy journaled so far: the time-priced parts, an idle
        fee among them, still run). None without a tariff or a running session. Async: the
        timeline is read on the database thread."""
        local = self.local_tx.get(connector)
        if self.tariff is None or local is None:
            return None
        points = await self.db.run(self.journal.timeline, local)
        if not points:
            return None
        wh = self._register_now(connector)
        now = _charger_time()
        if now > points[-1].at:  # time-priced parts run on without a fresh reading: the energy known so far
            points.append(Point(now, max(float(wh), points[-1].wh) if wh is not None else points[-1].wh,
                                points[-1].state))
        self._running_costs = {tx: c for tx, c in self._running_costs.items() if tx in self.local_tx.values()}
        counter = self._running_costs.setdefault(local, RunningCount())
        cost = counter.cost(self.tariff, points)
        if cost.uncertain and not counter.flagged:
            counter.flagged = True
            log.warning("session cost: part of the session's time is not known (stamped by a run that never learnt "
                        "the time); its energy is counted, its time is not", connector=connector, local_tx=local)
        return cost

    async def _final_figures(self, local: int) -> tuple[Decimal | None, float, float] | None:
        """An ended transaction's cost under the local tariff (None without one), energy
        (kWh) and length (s) from its journaled timeline, for the screen's final figures:
        the same the record (``ladda sessions``) gives, where the running cost the screen
        polled is seconds old at the stop. None when the timeline says nothing (the screen
        keeps its own figures); a failure is logged and never stops the stop."""
        try:
            points = await self.db.run(self.journal.timeline, local)
            if len(points) < 2:
                return None
            counted = cost_of(self.tariff or Tariff(), points)
        except Exception as exc:  # noqa: BLE001 - the screen's figures never hold a stop up
            log.warning("final cost not computed; the screen keeps its running figures", local_tx=local,
                        error=str(exc) or type(exc).__name__)
            return None
        seconds = (points[-1].at - points[0].at).total_seconds()
        return (counted.total if self.tariff is not None else None), counted.energy_wh / 1000, seconds

    async def _journal_sample(self, job: RecordSample) -> None:
        n = job.connector
        local = self.local_tx.get(n)
        if job.context != "Sample.Clock" and local is None:
            return  # the transaction ended while the reading was taken (only clock-aligned ones go without)
        conn = self.charger.connector(n)
        offer = conn.offer_a if conn else 0.0
        values = metering.samples(job.reading, job.measurands, offer, self._watts_per_amp)
        for_stop = metering.samples(job.reading, job.for_stop, offer, self._watts_per_amp) if local is not None else []
        if not values and not for_stop:
            return
        energy = metering.energy_wh(job.reading) if local is not None else None
        stamp = self._in_order(local, job.timestamp) if local is not None else job.timestamp
        state = self.charging_state(n) if job.context == IDLE_CONTEXT and local is not None else None
        await self.db.run(self.journal.record_sample, local, n, stamp, job.context, values, energy, for_stop, state)
        if energy is not None:
            self._sampled_at[n] = self._clock()
        if values:
            self.uplink.wake()

    async def _journal_gap(self, job: MeterGapNote) -> None:
        """Open or close the running transaction's meter gap (see :class:`MeterGapNote`)."""
        n = job.connector
        local = self.local_tx.get(n)
        if local is None or job.failing == (n in self._gaps):
            return  # no transaction, or it is flagged (or not) already
        if job.failing:
            await self.db.run(self.journal.open_meter_gap, local, job.timestamp, job.energy_wh)
            self._gaps.add(n)
            log.warning("meter failing during a transaction: flagged", connector=n, local_tx=local,
                        wh_before=job.energy_wh)
        else:
            await self.db.run(self.journal.close_meter_gap, local, job.timestamp, job.energy_wh)
            self._gaps.discard(n)
            log.info("meter gap of the transaction ended", connector=n, local_tx=local, wh_after=job.energy_wh)

    def _note_gap(self, n: int, failing: bool) -> None:
        """Queue a :class:`MeterGapNote` with the reading around it. Only "continue" flags:
        with "stop" the connector is Faulted, no energy flows, and nothing goes unmeasured
        (a gap left open by a run under "continue" still ends with the next good reading)."""
        if failing and self.meter.failure_stops:
            return
        reading = self.readings.get(n)
        energy = metering.energy_wh(reading) if reading is not None else None
        self._queues[n].put_nowait((MeterGapNote(n, failing, utc_now(), energy), None))

    def _samples(self, reading: MeterReading | None, key: str, connector: int) -> list[Sample]:
        if reading is None:
            return []
        conn = self.charger.connector(connector)
        return metering.samples(reading, self.config.list(key), conn.offer_a if conn else 0.0, self._watts_per_amp)

    # ------------------------------------------------------------ authorization
    async def _authorize(self, id_tag: str, token_type: str | None = CARD) -> None:
        try:
            result = await self.authorizer.decide(id_tag, self.uplink, token_type)
        except Exception as exc:  # noqa: BLE001 - a card must never take the charger down
            log.exception("authorization failed; card refused", id_tag=id_tag, error=str(exc))
            result = AuthResult(AuthStatus.INVALID)
        log.info("authorization", id_tag=id_tag, status=result.status.value)
        self.feedback.authorized(id_tag, result.status is AuthStatus.ACCEPTED)
        if result.unanswered:
            self._unanswered.add(id_tag)
        try:
            self.feed(AuthorizationResolved(id_tag, result.status, result.parent_id_tag, token_type))
        finally:
            self._unanswered.discard(id_tag)

    # ------------------------------------------------------------ inputs and timers
    async def _watch_pilot(self, n: int) -> None:
        stream = self._pilot_streams.pop(n, None) or aiter(self.hardware.pilots[n].states())
        plugged = False
        async for state in stream:
            if state.plugged and not plugged:
                await self._learn_cable(n)  # before the EV is offered anything
            elif state is PilotState.A and plugged:
                self.limits.set_cable(n, None)
            moved = state.plugged != plugged
            plugged = state.plugged
            self.feed(PilotChanged(n, state))
            if moved and n in self.local_tx:
                self._queues[n].put_nowait((CableMoved(n), None))
            if state is PilotState.A and n in self._lock_faults:
                self._lock_faults.discard(n)  # the cable is out: the next one gets a fresh try
                self.feed(FaultCleared(n, LOCK_FAILURE))

    async def _learn_cable(self, n: int) -> None:
        """A socket outlet's cable rating (proximity pilot) limits the offer while it is
        plugged in. A pilot without a proximity input (a tethered cable) has none. With
        one, a rating that cannot be read, or no cable seen while the pilot says plugged,
        offers nothing (IEC 61851-1: a guessed rating could overload the cable) until the
        cable is plugged in again."""
        pilot = self.hardware.pilots[n]
        rating = getattr(pilot, "cable_rating", None)
        if rating is None or getattr(pilot, "proximity_input", None) is None:
            return
        problem = "no cable seen by the proximity pilot"
        for attempt in range(CABLE_READS):
            if attempt:
                await asyncio.sleep(CABLE_RETRY_S)
            try:
                amps = await rating()
            except DeviceError as exc:
                problem = str(exc)
                continue
            if amps is not None:
                log.info("cable rating", connector=n, amps=amps)
                self.limits.set_cable(n, amps)
                return
        log.error("cable rating unknown: nothing offered until the cable is plugged in again", connector=n,
                  problem=problem)
        self.limits.set_cable(n, 0.0)

    async def _watch_cards(self) -> None:
        async for uid in self.hardware.reader.cards():
            log.info("card presented", id_tag=uid)
            self.feed(CardPresented(uid))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.feed(Tick())

    async def _poll_meter(self, n: int) -> None:
        """Keep a fresh reading. A meter that has not answered, or has kept returning the
        very same frame (its readings' timestamps stop advancing), for ``fault_after``
        seconds is a PowerMeterFailure; logged when it starts and when it ends.

        A reading a sample took less than 1.5 ``poll_interval`` ago serves as this poll's: at
        a sample interval of the poll's or shorter the meter is read once per sample, not
        twice (an RS-485 line at 9600 baud spends about 175 ms on one SDM630 reading).
        Only a sample's reading, never the poll's own earlier one, and only while its frame
        is younger than ``fault_after``: the poll still reads the meter itself at its pace
        whenever no sample did, and judges a frozen frame on a reading of its own."""
        policy = self.meter
        last_answer = self._clock()
        checkpointed = self._clock()
        trouble: str | None = None
        while True:
            problem: str | None = None
            try:
                # asyncio.timeout, not wait_for: in a loop, Python 3.11's wait_for could
                # swallow the cancellation that ends the agent and keep polling.
                # 1.5 polls: a sample due at the very instant of the poll still serves it.
                taken = self._taken_reading(n, 1.5 * policy.poll_interval)
                if taken is not None:
                    answered_at, reading = taken
                else:
                    async with asyncio.timeout(max(2 * policy.poll_interval, 2.0)):
                        reading = await self.hardware.read_meter(n)
                    answered_at = self._clock()
            except (DeviceError, asyncio.TimeoutError) as exc:
                problem = f"not answering ({exc or 'timeout'})"
                age = self._clock() - last_answer
            else:
                self.readings[n] = reading
                self._watch_budget(n)
                last_answer = answered_at
                age = max(0.0, time.time() - reading.timestamp)
                if age >= policy.fault_after:
                    problem = f"returns the same frame for {age:.0f} s"
                elif n in self.local_tx and self._clock() - max(checkpointed, self._sampled_at.get(n, 0.0)) >= max(
                    CHECKPOINT_S, self.config.int("MeterValueSampleInterval")
                ):
                    checkpointed = self._clock()
                    wh = metering.energy_wh(reading)
                    await self.db.run(self.journal.checkpoint, self.local_tx[n], wh, utc_now())
            if problem is not None:
                if trouble is None:
                    log.warning("meter failing", connector=n, problem=problem)
                trouble = problem
                if age >= policy.fault_after:
                    self._meter_fault(n)
            elif trouble is not None:
                log.info("meter answering again", connector=n)
                trouble = None
            if problem is None and n in self._meter_faults:
                self._meter_faults.discard(n)
                self._note_gap(n, failing=False)
                self.feed(FaultCleared(n, METER_FAILURE))
            await asyncio.sleep(policy.poll_interval)

    def _meter_fault(self, n: int) -> None:
        """Raise PowerMeterFailure once; the poller clears it when the meter answers again.
        The flag on a running transaction is queued first, so it is on record before the
        status that reports the failure."""
        if n not in self._meter_faults:
            self._meter_faults.add(n)
            self._note_gap(n, failing=True)
            self.feed(FaultRaised(n, METER_FAILURE))

    async def _fresh_reading(self, n: int) -> MeterReading | None:
        """A reading taken now, else the last one if it is not stale, else None."""
        try:
            async with asyncio.timeout(1.5):  # not wait_for: in 3.11 a task per read, once a second
                reading = await self.hardware.read_meter(n)
        except (DeviceError, asyncio.TimeoutError):
            last = self.readings.get(n)
            return last if last is not None and self._is_fresh(last) else None
        self.readings[n] = reading
        self._taken[n] = (self._clock(), reading)
        return reading if self._is_fresh(reading) else None

    def _taken_reading(self, n: int, within: float) -> tuple[float, MeterReading] | None:
        """(when, reading) of the reading a sample (or a start or stop) took less than
        ``within`` seconds ago, if its frame is younger than ``fault_after``; else None
        (the poll reads the meter itself)."""
        taken = self._taken.get(n)
        if taken is None or self._clock() - taken[0] >= within or not self._is_fresh(taken[1]):
            return None
        return taken

    def _is_fresh(self, reading: MeterReading) -> bool:
        return time.time() - reading.timestamp < self.meter.fault_after

    async def _sample_periodically(self, n: int) -> None:
        """MeterValues every MeterValueSampleInterval seconds, counted from the transaction start."""
        while True:
            interval = self.config.int("MeterValueSampleInterval")
            local = self.local_tx.get(n)
            if interval <= 0 or local is None:
                await asyncio.sleep(0.5)
                continue
            started = self._tx_started_at[n]
            now = self._clock()
            due = started + interval * (math.floor((now - started) / interval) + 1)
            await asyncio.sleep(max(0.0, due - now))
            if self.local_tx.get(n) != local:
                continue
            reading = await self._fresh_reading(n)
            if reading is not None:
                job = RecordSample(
                    n, reading, "Sample.Periodic", self.config.list("MeterValuesSampledData"),
                    self.config.list("StopTxnSampledData"), utc_now(),
                )
                self._queues[n].put_nowait((job, None))

    async def _sample_clock_aligned(self) -> None:
        """MeterValues at every ClockAlignedDataInterval boundary, stamped with the boundary itself."""
        while True:
            interval = self.config.int("ClockAlignedDataInterval")
            if interval <= 0:
                await asyncio.sleep(1.0)
                continue
            # On the charger's clock (which may follow the backend's), not the raw system clock.
            boundary = metering.next_aligned(clock.current().now().timestamp(), interval)
            await asyncio.sleep(max(0.0, boundary - clock.current().now().timestamp()))
            if self.config.int("ClockAlignedDataInterval") != interval:
                continue
            stamp = iso(datetime.fromtimestamp(boundary, timezone.utc))
            measurands = self.config.list("MeterValuesAlignedData")
            for_stop = self.config.list("StopTxnAlignedData")
            readings = await asyncio.gather(*(self._fresh_reading(n) for n in self.numbers))
            for n, reading in zip(self.numbers, readings):
                if reading is not None:
                    job = RecordSample(n, reading, "Sample.Clock", measurands, for_stop, stamp)
                    self._queues[n].put_nowait((job, None))

    async def checkpoint_running(self) -> None:
        """On the way down: note each running transaction's meter value now, so the
        PowerLoss stop made at the next start is as close to the truth as it can be."""
        for n, local in list(self.local_tx.items()):
            reading = await self._fresh_reading(n)
            if reading is not None:
                await self.db.run(self.journal.checkpoint, local, metering.energy_wh(reading), utc_now())

    # ------------------------------------------------------------ start and reset
    async def _learn_pilots(self) -> None:
        """Read each pilot's present state before anything is reported, so the first
        statuses are true and a transaction can be resumed only where an EV really is."""
        for n in self.numbers:
            stream = aiter(self.hardware.pilots[n].states())
            try:
                state = await asyncio.wait_for(anext(stream), PILOT_FIRST_S)
            except (TimeoutError, StopAsyncIteration, DeviceError) as exc:
                log.warning("pilot state unknown at start-up", connector=n, error=str(exc) or type(exc).__name__)
                continue  # the watcher opens a fresh stream
            self._pilot_streams[n] = stream
            self.feed(PilotChanged(n, state))

    async def _recover_unfinished_transactions(self) -> None:
        """A transaction still open at start-up was cut by a power loss or crash. With the
        "resume" policy it carries on if its EV is still plugged in and its idTag was not
        refused; otherwise it ends with reason PowerLoss and the last meter value on record,
        so nothing billed is lost. The stop is stamped with the latest time any of its
        journaled events carries (a charging-state change may follow the last meter
        value), so that the backend never sees its events' times go backwards."""
        for record in await self.db.run(self.journal.open_transactions):
            if self.recovery == "resume" and await self._resume(record):
                continue
            meter_wh = record.last_meter_wh if record.last_meter_wh is not None else record.meter_start_wh
            stamp = await self.db.run(self.journal.latest_stamp, record.local_id) or record.last_meter_at \
                or record.started_at
            # The register has not moved since the power went (no session ran since), so
            # reading it now recovers what the last checkpoint missed.
            reading = await self._fresh_reading(record.connector) if record.connector in self.hardware.meters else None
            if reading is not None and metering.energy_wh(reading) >= meter_wh:
                meter_wh = metering.energy_wh(reading)
            await self.db.run(
                self.journal.end_transaction, record.local_id, meter_wh, stamp, StopReason.POWER_LOSS.value, None, []
            )
            log.warning("closed a transaction cut by a restart", local_tx=record.local_id, meter_wh=meter_wh)

    async def _resume(self, record: TransactionRecord) -> bool:
        n = record.connector
        refused = _refusal(record)
        # A refused transaction resumes only on a MaxEnergyOnInvalidId allowance: the
        # machine is told of the refusal again, with the energy delivered since its start.
        if n in self.local_tx or (refused is not None and self.charger.policy.max_energy_on_invalid_id <= 0):
            return False
        if record.id_tag is None and not self.charger.policy.start_on_ev_connected:
            # An EV began it with no token yet (2.0.1 TxStartPoint EVConnected), and the
            # protocol now spoken (1.6) or the start point set has no way to name one later.
            return False
        delivered = 0.0
        if refused is not None:
            reading = await self._fresh_reading(n) if n in self.hardware.meters else None
            now_wh = metering.energy_wh(reading) if reading is not None else record.last_meter_wh
            delivered = max(0.0, float((now_wh or record.meter_start_wh) - record.meter_start_wh))
        # Only a card is in the cache (agent.authorization): another kind of token with
        # the same characters is not that card's, nor its group's.
        # (An EV began a transaction with no token yet: it has no cache entry to look for.)
        card = record.id_tag if record.token_type is CARD else None
        cached = await self.authorizer.cached(card) if card is not None else None
        parent = cached.parent_id_tag if cached is not None else None
        if self.feed(TransactionResumed(n, record.id_tag, parent, record.token_type)) != "Accepted":
            return False
        if refused is not None:  # before any action runs: the outputs never close for it
            self.feed(TransactionRefused(n, refused, delivered))
        self._start_wh[n] = record.meter_start_wh
        self.local_tx[n] = record.local_id
        self._tx_started_at[n] = self._clock()
        # Where the backend last heard it stand (an EV that came during the outage is then
        # told as CablePluggedIn, not a jump from Idle to Charging).
        told = await self.db.run(self.journal.last_charging_state if self.journal_charging_states
                                 else self.journal.last_timeline_state, record.local_id)
        if told is not None:
            self._charging_state[record.local_id] = told
        self.limits.transaction_started(n, record.local_id, parse_iso(record.started_at), record.id_tag)
        self.feedback.transaction_started(
            n, record.tx_uid, (_charger_time() - parse_iso(record.started_at)).total_seconds())  # its time goes on
        await self._restore_idle(n, record)
        log.warning("resumed a transaction cut by a restart", connector=n, local_tx=record.local_id,
                    id_tag=record.id_tag, meter_wh=record.last_meter_wh)
        if record.meter_gaps and record.meter_gaps[-1].ended_at is None:
            # Its meter was failing when the agent went down: the gap ends with the first
            # good reading, now or once the meter poller sees one.
            reading = await self._fresh_reading(n)
            if reading is None:
                self._gaps.add(n)
            else:
                await self.db.run(self.journal.close_meter_gap, record.local_id, utc_now(), metering.energy_wh(reading))
        return True

    async def _restore_reservations(self) -> None:
        """Reservations outlive a restart; one whose expiry passed meanwhile (or whose
        connector is gone) ends at the machine's first event, and leaves the database then."""
        restored = []
        for row in await self.db.run(self.state.reservations):
            expiry = parse_expiry(row["expiry"])
            expires = self._deadline(expiry) if expiry is not None else self._clock()
            restored.append(
                Reservation(row["reservation_id"], row["connector"], row["id_tag"], row["parent_id_tag"], expires, row["expiry"])
            )
        if restored:
            log.info("reservations restored", count=len(restored))
            self.charger = replace(self.charger, reservations=tuple(restored))

    async def _restart_when_settled(self, hard: bool) -> None:
        # Recorded before the transactions settle, so that the backend hears it before the restart.
        try:
            await self.db.run(self.journal.record_security_event, security_events.RESET_OR_REBOOT,
                              f"{'hard' if hard else 'soft'} reset requested by the backend")
        except StoreError as exc:  # the reset goes on: a full disk must not keep the charger from it
            log.error("reset not journaled as a security event", error=str(exc))
        await self.settle(RESET_SETTLE_S)
        if self._restart is not None and not self._restart.done():
            self._restart.set_result(hard)

    async def power_down(self, within: float) -> None:
        """The supply is failing (SIGPWR from a UPS or power-fail detector): end every
        transaction with reason PowerLoss now, while there is still power to record and
        send the stops, and give the link up to ``within`` seconds to deliver them."""
        log.warning("power failing: ending every transaction", grace_s=within)
        self.feed(StopAllRequested(StopReason.POWER_LOSS))
        await self.settle(within)

    async def settle(self, within: float) -> None:
        """Wait until every queued action ran and, while online, until the backend has the
        transaction messages (at most ``within`` seconds): what is not sent by then stays
        in the journal for the next start."""
        for queue in self._queues.values():
            await queue.join()
        self.uplink.wake()
        deadline = self._clock() + within
        while self._clock() < deadline and self.uplink.online:
            pending = await self.db.run(self.journal.open_transactions)
            unsent = sum(1 for e in await self.db.run(self.journal.pending) if e.kind != "status")
            if not pending and unsent == 0:
                break
            await asyncio.sleep(0.2)


class _ScreenStation:
    """What the screen reads from the runtime (agent.screen.feedback.Station)."""

    def __init__(self, runtime: ChargerRuntime) -> None:
        self._runtime = runtime

    def online(self) -> bool:
        return bool(self._runtime.uplink.online)

    def meter(self, connector: int) -> tuple[float | None, float | None]:
        reading = self._runtime.readings.get(connector)
        if reading is None:
            return None, None
        delivered = self._runtime._delivered_wh(connector)
        return reading.power_w / 1000, None if delivered is None else delivered / 1000

    def authorized(self, connector: int) -> bool:
        conn = self._runtime.charger.connector(connector)
        return conn is not None and conn.transaction is not None and conn.transaction.identified \
            and not conn.transaction.refused

    def idle_alert(self, connector: int) -> None:
        self._runtime._idle_alert(connector)

    def session_cost(self, connector: int) -> object:
        """The running session's cost by the local tariff (an awaitable; None without one)."""
        return self._runtime.session_cost(connector)
