"""The OCPP 2.0.1 link: boot, heartbeat, connector statuses, and the journal as
TransactionEvents.

One :class:`Ocpp201Link` lives as long as the agent. The connection itself (reconnect,
security profiles, the boot's retry rules, the backend's time) is
:class:`agent.link.connection.BackendLink`'s, shared with OCPP 1.6; this module only
says what 2.0.1 sends over it. Charger state never lives here: it is in the runtime and
the journal, whose neutral entries ``outbound`` spells in 2.0.1 at send time.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from typing import Any

import structlog
from ocpp.v201 import call
from websockets.asyncio.client import ClientConnection

from .. import __version__
from ..authorization import AuthResult
from ..charger import ChargerRuntime, StatusEntry
from ..diagnostics import Diagnostics, Progress, Request
from ..journal import STATUS, TX_EVENT, TX_KINDS, TX_STARTED, TX_STOPPED, Entry, Journal
from ..link.connection import BackendLink, raise_if_cancelled
from ..link.log_statuses import deliver_log_statuses, start_log_upload
from ..log_jobs import LogJobs, Status
from ..runtime_settings.configuration import Configuration
from ..session.model import AuthStatus
from ..settings import Settings
from ..store import ChargerState, Database, StoreError
from .charging_limits import ChargingLimitNotifier
from .device_model import StationFacts
from .handlers import Handlers
from .reservations import ReservationReports
from .station import RuntimeFacts
from .variables import DeviceModel
from .outbound import (
    CONNECTOR_STATUS, FIRMWARE_STATUSES, NotSendable, Unnumbered, id_token, meter_value, request_for, status_notification,
)
from .problems import NO_ERROR, ProblemReports
from .rpc import CallFailed
from .tariff_handlers import follow_fallback_texts, tell_fallback_texts, tell_personal_message, transaction_event_answered

log = structlog.get_logger(__name__)

DRAIN_BATCH = 50
#: How long an event without its number waits before numbering is tried again (s).
UNNUMBERED_RETRY_S = 30.0
#: B02.FR.09: what a Pending station may send besides the boot: what TriggerMessage asked
#: for (queued by ``trigger``) and the reports GetBaseReport/GetReport asked for.
SENT_WHILE_PENDING = frozenset({"NotifyReport"})
#: Where a run notes why the next one starts (BootNotification's reason).
BOOT_REASON_NOTE = "boot_reason"
#: LogStatusNotification's status for each stage of a GetLog upload (N01).
LOG_STATUS = {Progress.UPLOADING: "Uploading", Progress.UPLOADED: "Uploaded", Progress.FAILED: "UploadFailure",
              Progress.PERMISSION_DENIED: "PermissionDenied", Progress.NOT_SUPPORTED: "NotSupportedOperation",
              Progress.BAD_MESSAGE: "BadMessage", Progress.CANCELLED: "AcceptedCanceled"}
BOOT_REASONS = frozenset({
    "ApplicationReset", "FirmwareUpdate", "LocalReset", "PowerUp", "RemoteReset", "ScheduledReset", "Triggered",
    "Unknown", "Watchdog",
})


class Ocpp201Link(ReservationReports, BackendLink):
    """Keeps the charger connected to a 2.0.1 backend and the journal flowing to it."""

    SUBPROTOCOL = "ocpp2.0.1"
    PASSWORDS_AS_WRITTEN = True  # BasicAuthPassword: 16 to 40 characters, no hexadecimal form

    def __init__(self, settings: Settings, runtime: ChargerRuntime, journal: Journal, db: Database,
                 config: Configuration, state: ChargerState, start: str = "PowerUp",
                 diagnostics: Diagnostics | None = None) -> None:
        super().__init__(settings, runtime, journal, db, config)
        self.state = state
        #: N01 GetLog uploads, one at a time, and their statuses to send (None: GetLog is
        #: Rejected, there is nothing to build archives with).
        self.logs = None if diagnostics is None else LogJobs(diagnostics)
        # Kept until the boot is Accepted: a run that ends before it still says why.
        noted = state.read_note(BOOT_REASON_NOTE)
        #: Whether this run noted a reason for the next one (then it is not forgotten).
        self._noted_restart = False
        #: Why this run started, as the first BootNotification says: what the run before
        #: noted (a reset the backend asked for), else what the agent saw (``start``).
        self.boot_reason = noted if noted in BOOT_REASONS else start if start in BOOT_REASONS else "Unknown"
        #: What ``trigger`` and ``send_later`` queued, oldest first: (message, EVSE) or
        #: (action, pages). Pages a dropped link cut short are put back at the front.
        self._triggers: collections.deque[tuple[str, Any]] = collections.deque()
        self._triggered = asyncio.Event()
        facts: StationFacts = RuntimeFacts(settings, runtime, self.certificates)
        #: Components and variables (B05-B08), read through the settings and the station.
        self.device_model = DeviceModel(config, facts)
        #: The connector status each connector's last StatusNotification said: 2.0.1
        #: reports a change of it, not each 1.6-sized step (Preparing, Charging). Kept
        #: across a short outage (B04: only what changed is told after it).
        self._told: dict[int, str] = {}
        #: The problems told with NotifyEvent: kept across every outage and restart (a
        #: raised Problem stays raised at the backend until it is told cleared).
        self._problems = ProblemReports.load(state)
        #: time.monotonic() when the last connection ended; None: none has yet.
        self._lost_at: float | None = None
        #: K12/K13: NotifyChargingLimit / ClearedChargingLimit as the site limit comes and goes.
        self.charging_limits = ChargingLimitNotifier(self) if config.offers("SmartCharging") else None
        follow_fallback_texts(runtime, config)

    # ------------------------------------------------------------ the adapter's part of the link
    def _endpoint(self, ws: ClientConnection) -> Handlers:
        return Handlers(self.settings.charge_point.id, ws, self.backend.call_timeout, self)

    def _boot_request(self) -> Any:
        cp = self.settings.charge_point
        station: dict[str, Any] = {"model": cp.model, "vendorName": cp.vendor, "firmwareVersion": f"ladda {__version__}"}
        if cp.serial_number:
            station["serialNumber"] = cp.serial_number
        return call.BootNotification(charging_station=station, reason=self.boot_reason)

    def _sign_certificate_request(self, csr: str) -> Any:
        return call.SignCertificate(csr=csr, certificate_type="ChargingStationCertificate")

    def _heartbeat_request(self) -> Any:
        return call.Heartbeat()

    def _before_first_connection(self) -> None:
        if self.logs is not None:
            self.logs.resume()
        tell_fallback_texts(self.runtime, self.config)  # I01-I06: the screen has them before any price

    def restart_reason(self, reason: str) -> None:
        """Note why the next run starts (blocking: a database write)."""
        self._noted_restart = True
        self.state.leave_note(BOOT_REASON_NOTE, reason)

    # ------------------------------------------------------------ Uplink protocol
    async def authorize(self, id_tag: str, token_type: str | None = None) -> AuthResult | None:
        cp = self._cp
        if cp is None or not self._accepted:
            return None
        try:
            answer = await cp.request(call.Authorize(id_token=id_token(id_tag, token_type)))
        except CallFailed as exc:
            log.warning("authorize failed", id_tag=id_tag, error=str(exc))
            return None
        tell_personal_message(self.runtime, self.config, None, (answer.id_token_info or {}).get("personal_message"))
        return auth_result(answer.id_token_info)

    def trigger(self, message: str, evse: int | None) -> None:
        if message == "BootNotification":
            # Only while not Accepted (F06.FR.17: the handler refuses it after): a backend
            # provisioning a Pending charger wants the boot now, and says why it comes.
            self.boot_reason = "Triggered"
            self._boot_now.set()
            return
        self._triggers.append((message, evse))
        self._triggered.set()

    def send_later(self, action: str, payloads: list[dict[str, Any]]) -> None:
        """Send these requests (e.g. a report's NotifyReport pages; ``action`` names the
        ``ocpp.v201.call`` class) on this connection, in order, after the reply that asked for them."""
        self._triggers.append((action, payloads))
        self._triggered.set()

    # ------------------------------------------------------------ one connection
    def _on_connection_end(self) -> None:
        self._lost_at = time.monotonic()

    def _on_registration(self) -> None:
        self._triggered.set()  # Pending lets what was asked for before the answer go now

    async def _operate(self, cp: Handlers, tg: asyncio.TaskGroup) -> None:
        # B02.FR.09: what TriggerMessage, GetBaseReport and GetReport ask for goes out while
        # Pending too. (The boot still goes first: it takes the call lock before this task runs.)
        tg.create_task(self._send_triggered(cp), name="ocpp-triggers")
        if not self._booted:
            await self._boot(cp)
            if not self._noted_restart:  # the reason reached the backend: the next run has its own
                await self.db.run(self.state.drop_note, BOOT_REASON_NOTE)
        self._accepted = True
        self._triggered.set()  # what waited for the Accepted
        # B04: after an outage longer than OfflineThreshold (or at start) every
        # connector's status is told again; after a shorter one, only what changed.
        offline_s = None if self._lost_at is None else time.monotonic() - self._lost_at
        if offline_s is None or offline_s > self.config.int("OCPPCommCtrlr.OfflineThreshold"):
            self._told.clear()
        dropped = await self.db.run(self.journal.supersede_statuses)
        if dropped:
            log.info("superseded status reports from while offline", count=dropped)
        for entry in self.runtime.status_snapshot():
            await self._send_status(cp, entry)
        tg.create_task(self._heartbeat(cp), name="ocpp-heartbeat")
        if self.logs is not None:
            tg.create_task(deliver_log_statuses(self.logs, cp, self._log_status_request), name="ocpp-log-status")
        await self._drain(cp)

    async def _send_status(self, cp: Handlers, entry: StatusEntry, always: bool = False) -> None:
        """A connector's status, if it changed since it was last told (or ``always``: a
        TriggerMessage asks for it; then a CALL left unanswered is the caller's to handle,
        not a dead link), and its problems as events (only once the boot is Accepted)."""
        if self._accepted:
            await self._tell_problems(cp, entry.connector, entry.error_code, entry.timestamp, entry.info,
                                      entry.vendor_error_code)
        request = status_notification(entry.connector, entry.status, entry.timestamp)
        if request is None or (not always and self._told.get(entry.connector) == request.connector_status):
            return
        try:
            await cp.request(request)
            if self._accepted:  # one told while Pending (triggered) does not spare the B04 round
                self._told[entry.connector] = request.connector_status
        except CallFailed as exc:
            if exc.code == "ConnectionLost" or (exc.code == "Timeout" and not always):
                raise ConnectionError(f"{exc}; reconnecting") from exc
            log.warning("status notification failed", evse=entry.connector, error=str(exc))

    async def _tell_problems(self, cp: Handlers, place: int, error_code: str, timestamp: str, info: str = "",
                             vendor_error_code: str = "") -> None:
        """NotifyEvent for a fault raised or cleared at ``place`` (see agent.ocpp201.problems)."""
        before = self._problems.told.get(place, NO_ERROR)
        events = self._problems.events(place, error_code, timestamp, info, vendor_error_code)
        if not events:
            return
        try:
            await cp.request(call.NotifyEvent(generated_at=timestamp, seq_no=0, event_data=events))
        except asyncio.CancelledError:
            self._problems.restore(place, before)  # the link went down meanwhile: told again on the next one
            raise
        except CallFailed as exc:
            if exc.code in ("Timeout", "ConnectionLost"):
                self._problems.restore(place, before)  # told again on the next connection
                raise ConnectionError(f"{exc}; reconnecting") from exc
            log.warning("fault event not taken by the backend", place=place, error_code=error_code, error=str(exc))
        # Kept once told (or refused for good), not before: a crash or power cut before this
        # leaves the earlier record, so the next run tells the change again (at least once,
        # the same eventIds), whether it was a raise or a clear.
        await self.db.run(self._problems.save, self.state)

    # ------------------------------------------------------------ triggered messages
    async def _send_triggered(self, cp: Handlers) -> None:
        """Send what ``trigger`` and ``send_later`` queued, in order. Before the boot is
        Accepted only what B02.FR.09 lets a Pending station send goes; the rest waits, in
        order, for the Accepted. A message left unanswered (a CALL timeout) is given up, as
        in 1.6: the link that carries everything else stays up; only a lost one ends it."""
        while True:
            message, evse = await self._next_triggered()
            try:
                await self._send_one_triggered(cp, message, evse)
            except CallFailed as exc:
                if exc.code == "ConnectionLost":
                    raise ConnectionError(f"{exc}; reconnecting") from exc
                log.warning("triggered message failed", message=message, error=str(exc))

    async def _next_triggered(self) -> tuple[str, Any]:
        """The oldest queued item that may go now (taken off the queue), once there is one.
        Before the boot is Accepted only what a Pending charger may send goes (B02.FR.09);
        a Rejected one sends nothing but its BootNotification (B03)."""
        while True:
            for item in self._triggers:
                message, evse = item
                if self._accepted or (self.registration == "Pending" and (
                        not isinstance(evse, list) or message in SENT_WHILE_PENDING)):
                    self._triggers.remove(item)
                    return item
            self._triggered.clear()
            await self._triggered.wait()

    async def _send_one_triggered(self, cp: Handlers, message: str, evse: Any) -> None:
        if isinstance(evse, list):  # send_later's pages (NotifyReport, ReportChargingProfiles, ...)
            await self._send_pages(cp, message, evse)
        elif message == "Heartbeat":
            await self._heartbeat_once(cp)
        elif message == "StatusNotification":
            for entry in self.runtime.status_snapshot():
                if entry.connector != 0 and (evse is None or entry.connector == evse):
                    await self._send_status(cp, entry, always=True)
        elif message == "MeterValues":
            for n in [evse] if evse else self.runtime.numbers:
                current = await self.runtime.trigger_samples(n)
                if current is not None:
                    stamp, samples, _ = current
                    await cp.request(call.MeterValues(
                        evse_id=n, meter_value=[meter_value(stamp, [s.to_json() for s in samples], "Trigger")]))
        elif message == "TransactionEvent":
            for n in [evse] if evse else self.runtime.numbers:
                await self._trigger_transaction_event(cp, n)
        elif message == "FirmwareStatusNotification":
            # F06/L01.FR.25-26: the update's last status with its request id; Idle without one between updates.
            status, request_id = self.firmware.current() if self.firmware is not None else ("Idle", None)
            if status not in FIRMWARE_STATUSES:
                status, request_id = "Idle", None
            await cp.request(call.FirmwareStatusNotification(status=status, request_id=request_id))
        elif message == "LogStatusNotification":
            # F06/TC_F_16: Uploading with the requestId while a GetLog upload runs; else Idle,
            # without one (N01.FR.13 allows it only here).
            running = None if self.logs is None else self.logs.running
            if running is not None and running.request_id is not None:
                await cp.request(call.LogStatusNotification(status="Uploading", request_id=running.request_id))
            else:
                await cp.request(call.LogStatusNotification(status="Idle"))

    # ------------------------------------------------------------ N01: log uploads
    def start_log_upload(self, request: Request) -> None:
        """Start uploading (after the GetLog reply went out); a running upload is
        cancelled first (it ends AcceptedCanceled)."""
        start_log_upload(self.logs, self._jobs, request)

    @staticmethod
    def _log_status_request(status: Status) -> Any:
        """LogStatusNotification for a GetLog job's status; None for a GetDiagnostics job
        a 1.6 run left (2.0.1 has no message for it)."""
        word = LOG_STATUS.get(status.progress)
        if status.request_id is None or word is None:
            return None
        return call.LogStatusNotification(status=word, request_id=status.request_id)

    async def _send_pages(self, cp: Handlers, action: str, pages: list[dict[str, Any]]) -> None:
        """A report's pages in order. A page the backend refuses or leaves unanswered is
        skipped (the rest still ends the report); those a lost link did not carry are put
        back first in line for the next connection, not lost."""
        sent = 0
        try:
            for page in pages:
                try:
                    await cp.request(getattr(call, action)(**page))
                except CallFailed as exc:
                    if exc.code == "ConnectionLost":
                        raise
                    log.warning("report page not taken by the backend", action=action, error=str(exc))
                sent += 1
        finally:
            if sent < len(pages):
                self._triggers.appendleft((action, pages[sent:]))
                self._triggered.set()

    async def _trigger_transaction_event(self, cp: Handlers, evse: int) -> None:
        """TriggerMessage TransactionEvent (F06): an Updated event of the EVSE's running
        transaction, with its meter values, numbered like any other of its events."""
        current = await self.runtime.trigger_samples(evse)
        if current is None or current[2] is None:
            return
        stamp, samples, local_tx = current
        state = self.runtime.charging_state(evse)
        await self.db.run(self.journal.record_sample, local_tx, evse, stamp, "Trigger", samples, None, None, state)
        self.wake()

    # ------------------------------------------------------------ journal drain
    async def _drain(self, cp: Handlers) -> None:
        """Send the journal's entries in order, each until acknowledged (at least once)."""
        while True:
            self._wake.clear()
            entries = await self.db.run(self.journal.pending, 0, DRAIN_BATCH)
            if len(entries) > 1:
                # A backlog: their seqNo may reach the backend from now on, and after a power
                # cut their answers may be lost: the cap keeps them (one durable write per
                # batch). A live trickle of single entries needs no mark (no write per
                # sample): the few whose answers a power cut loses are within the cap's
                # sending window (Journal.shed_to).
                await self.db.run(self.journal.mark_loaded, entries[-1].seq)
            if not entries:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5.0):
                        await self._wake.wait()
                continue
            for entry in entries:
                await self._deliver(cp, entry)

    async def _deliver(self, cp: Handlers, entry: Entry) -> None:
        """Send one entry until answered, and mark it done the moment it is: a crash
        resends at most the one message that was in flight (with the same seqNo)."""
        if entry.kind == STATUS:
            body = entry.body
            await self._tell_problems(cp, body["connector"], body["error_code"], body["timestamp"],
                                      body.get("info", ""), body.get("vendor_error_code", ""))
        try:
            request = request_for(entry)
        except Unnumbered as exc:
            # Number what an older release left (it failed at start-up, e.g. disk full);
            # until that works the entry waits first in line: its energy is on record.
            if not await self.db.run(self.journal.adopt_older_entries):
                log.error("transaction event waits for its number", seq=entry.seq, why=str(exc))
                await asyncio.sleep(UNNUMBERED_RETRY_S)
            return
        except NotSendable as exc:
            level = log.info if entry.kind == STATUS else log.error
            level("journal entry not sent", seq=entry.seq, kind=entry.kind, why=str(exc))
            await self.db.run(self.journal.mark_done, entry.seq, f"not sent: {exc}")
            return
        if entry.kind == STATUS:
            if self._told.get(entry.body["connector"]) == request.connector_status:
                await self.db.run(self.journal.mark_done, entry.seq, "not sent: connector status unchanged")
                return
        while True:
            try:
                answer = await cp.request(request)
                break
            except CallFailed as exc:
                if exc.code == "ConnectionLost" or (exc.code == "Timeout" and (
                        entry.kind not in TX_KINDS or not await cp.answers_pings(self.settings.backend.ping_timeout))):
                    # The link is not working: drop it and reconnect; the entry stays first
                    # in line and is not counted. (E13: a TransactionEvent left unanswered on
                    # a link that still answers pings is a failed attempt, counted below.)
                    raise ConnectionError(f"{exc}; reconnecting") from exc
                if entry.kind not in TX_KINDS:
                    log.warning("backend refused a notification", kind=entry.kind, error=str(exc))
                    await self.db.run(self.journal.mark_done, entry.seq, f"failed: {exc.code}")
                    return
                attempts = await self.db.run(self.journal.count_attempt, entry.seq)
                if attempts >= self.config.int("TransactionMessageAttempts"):
                    log.error("backend refused a transaction message", seq=entry.seq, error=str(exc), attempts=attempts)
                    await self.db.run(self.journal.mark_done, entry.seq, f"abandoned: {exc.code}")
                    return
                log.warning("transaction message failed; retrying", seq=entry.seq, error=str(exc), attempts=attempts)
                await asyncio.sleep(self.config.int("TransactionMessageRetryInterval") * attempts)
        raise_if_cancelled()
        if entry.kind == STATUS:
            self._told[entry.body["connector"]] = request.connector_status
        if entry.kind in TX_KINDS:
            transaction_event_answered(self.runtime, self.config, entry, answer)
        if entry.kind == TX_STOPPED and entry.tx_uid is not None:
            # O02: the messages limited to a transaction go with it (a failure only leaves
            # them hidden: the board shows none of an ended transaction's, and the next
            # GetDisplayMessages or SetDisplayMessage drops them).
            try:
                await self.db.run(self.runtime.message_board.end_transaction, entry.tx_uid)
            except StoreError as exc:
                log.warning("display messages of an ended transaction kept for now", error=str(exc))
        info = getattr(answer, "id_token_info", None)
        # The verdict on the token: given with the Started event, or with the Updated one
        # that named the token of a transaction an EV began (both carry its idToken).
        if entry.local_tx is not None and info and "id_tag" in entry.body and entry.kind in (TX_STARTED, TX_EVENT):
            await self._started_answered(entry, entry.local_tx, auth_result(info))
            return
        await self.db.run(self.journal.mark_done, entry.seq, "acked", entry.kind)

    async def _started_answered(self, entry: Entry, local_tx: int, result: AuthResult) -> None:
        """The backend's verdict on a Started event's idToken: stored with the
        acknowledgement in one commit (a refused transaction is then not resumed after a
        restart, as under 1.6), then the runtime is told (it stops or suspends a refused
        one, caches a card). The link ending meanwhile cannot split the two: the runtime
        acts on the verdict even then (the commit runs on to its end in the database
        thread; if it did not happen, the Started event is sent again and answered again,
        and acting twice changes nothing)."""
        try:
            await self.db.run(self.journal.acknowledge_verdict, entry.seq, local_tx, result.status.value)
        finally:
            self.runtime.act_on_verdict(local_tx, entry.body["connector"], result)
        await self.runtime.authorizer.remember(entry.body["id_tag"], result, entry.body.get("token_type"))


def auth_result(info: dict[str, Any] | None) -> AuthResult:
    """An IdTokenInfo as the charger's authorization result: the statuses 1.6 also has
    keep their meaning, every other refusal (Unknown, NoCredit, NotAtThisTime, ...) is
    Invalid; the group id stands where 1.6 has the parent idTag."""
    info = info or {}
    try:
        status = AuthStatus(info.get("status", "Invalid"))
    except ValueError:
        status = AuthStatus.INVALID
    if status is AuthStatus.MASTER_PASS:
        status = AuthStatus.INVALID  # the charger's own verdict, never the backend's word
    group = info.get("group_id_token") or {}
    return AuthResult(status, group.get("id_token"), info.get("cache_expiry_date_time"))


def connector_status(status: str) -> str:
    """A connector's 2.0.1 status (Available, Occupied, Reserved, Unavailable, Faulted)."""
    return CONNECTOR_STATUS.get(status, "Unavailable")
