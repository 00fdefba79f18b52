"""The OCPP 1.6J link: boot, heartbeat, status, and draining the journal, spelled in 1.6.

One :class:`Ocpp16Link` lives as long as the agent. The connection itself (reconnect,
security profiles, the boot's retry rules, the backend's time) is
:class:`agent.link.connection.BackendLink`'s; each connection gets fresh
:class:`Handlers` and its own TaskGroup (reader, heartbeat, triggered messages, journal
drain). Charger state never lives here: it is in the runtime and the journal.

Work the backend asks for that outlives a connection (a diagnostics or log upload) is a
job owned by the agent's TaskGroup, given to :meth:`Ocpp16Link.run`: a reconnect does not
touch it, a shutdown cancels it. What it has to report waits for a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from ocpp.v16 import call
from websockets.asyncio.client import ClientConnection

from .. import __version__
from ..authorization import AuthResult
from ..charger import ChargerRuntime, StatusEntry
from ..diagnostics import Diagnostics, Progress, Request
from ..journal import FIRMWARE, SECURITY_EVENT, STATUS, TX_EVENT, TX_STARTED, TX_STOPPED, Entry, Journal
from ..link.connection import BackendLink
from ..link.log_statuses import deliver_log_statuses, start_log_upload
from ..log_jobs import LogJobs, Status
from ..runtime_settings.configuration import Configuration
from ..session.model import AuthStatus
from ..settings import Settings
from ..store import Database
from .handlers import Handlers
from .outbound import NotSendable, meter_value, request_for, status_notification
from .pricing import Pricing
from .rpc import CallFailed

log = structlog.get_logger(__name__)

DRAIN_BATCH = 50
#: DiagnosticsStatusNotification's status for each stage of a GetDiagnostics upload (a
#: replaced one says nothing more: 1.6 has no word for it).
DIAGNOSTICS_STATUS = {Progress.UPLOADING: "Uploading", Progress.UPLOADED: "Uploaded", Progress.FAILED: "UploadFailed",
                      Progress.PERMISSION_DENIED: "UploadFailed", Progress.NOT_SUPPORTED: "UploadFailed",
                      Progress.BAD_MESSAGE: "UploadFailed"}
#: LogStatusNotification's (security whitepaper) for a GetLog upload. A replaced one ends
#: UploadFailure with its own requestId: its file was not uploaded, the whitepaper's
#: UploadLogStatusEnumType has no AcceptedCanceled, and without a final status a backend
#: that does not read the new request's AcceptedCanceled as that end would wait for it
#: for good. (GetDiagnostics has no requestId: an UploadFailed there would read as the
#: new upload's, so a replaced one says nothing more.)
LOG_STATUS = {Progress.UPLOADING: "Uploading", Progress.UPLOADED: "Uploaded", Progress.FAILED: "UploadFailure",
              Progress.PERMISSION_DENIED: "PermissionDenied", Progress.NOT_SUPPORTED: "NotSupportedOperation",
              Progress.BAD_MESSAGE: "BadMessage", Progress.CANCELLED: "UploadFailure"}


class Ocpp16Link(BackendLink):
    """Keeps the charger connected to its backend and the journal flowing to it."""

    SUBPROTOCOL = "ocpp1.6"

    def __init__(
        self,
        settings: Settings,
        runtime: ChargerRuntime,
        journal: Journal,
        db: Database,
        config: Configuration,
        diagnostics: Diagnostics,
    ) -> None:
        super().__init__(settings, runtime, journal, db, config)
        self.diagnostics = diagnostics
        #: GetDiagnostics and GetLog uploads, one at a time, and their statuses to send.
        self.logs = LogJobs(diagnostics)
        self._triggers: asyncio.Queue[tuple[str, int | None]] = asyncio.Queue()
        #: The California Pricing whitepaper's state: driver texts, cost triggers, time offset.
        self.pricing = Pricing(runtime, config)

    # ------------------------------------------------------------ the adapter's part of the link
    def _endpoint(self, ws: ClientConnection) -> Handlers:
        return Handlers(self.settings.charge_point.id, ws, self.backend.call_timeout, self)

    def _before_first_connection(self) -> None:
        self.logs.resume()
        self.pricing.announce_fallback()  # offline until the boot is accepted
        assert self._jobs is not None
        self._jobs.create_task(self.pricing.run(), name="ocpp-pricing")

    def _sign_certificate_request(self, csr: str) -> Any:
        return call.SignCertificate(csr=csr)

    def _heartbeat_request(self) -> Any:
        return call.Heartbeat()

    # ------------------------------------------------------------ Uplink protocol
    async def authorize(self, id_tag: str, token_type: str | None = None) -> AuthResult | None:
        """Authorize; 1.6 has cards only (``token_type`` is always None here)."""
        cp = self._cp
        if cp is None or not self._accepted:
            return None
        # California Pricing: the backend follows an accepted Authorize with the driver's
        # price (SetUserPrice); the session waits for it (WaitForSetUserPriceTimeout), so
        # the driver sees the price before energy flows.
        waiter = self.pricing.expect_user_price(id_tag)
        try:
            answer = await cp.request(call.Authorize(id_tag=id_tag))
        except CallFailed as exc:
            self.pricing.forget_user_price(id_tag, waiter)
            log.warning("authorize failed", id_tag=id_tag, error=str(exc))
            return None
        result = _auth_result(answer.id_tag_info)
        if result.status is AuthStatus.ACCEPTED and self.config.bool("CustomDisplayCostAndPrice"):
            await self.pricing.wait_user_price(id_tag, waiter)
        else:
            self.pricing.forget_user_price(id_tag, waiter)
        return result

    def trigger(self, message: str, connector: int | None) -> None:
        if message == "BootNotification" and not self._booted:
            self._boot_now.set()  # a backend provisioning a Pending charger wants it now
            return
        self._triggers.put_nowait((message, connector))

    # ------------------------------------------------------------ diagnostics and logs
    @property
    def get_diagnostics_running(self) -> bool:
        """A GetDiagnostics upload is under way (what a triggered DiagnosticsStatusNotification says)."""
        running = self.logs.running
        return running is not None and running.request_id is None

    def start_log_upload(self, request: Request) -> Request | None:
        """Start uploading (after the GetDiagnostics or GetLog reply went out); a running
        upload is replaced: cancelled, and its archive removed, before the new one starts.
        Returns the request replaced, if any."""
        return start_log_upload(self.logs, self._jobs, request)

    @staticmethod
    def _log_status_request(status: Status) -> Any:
        """The 1.6 message for a job's status; None when 1.6 has none for it."""
        if status.request_id is None:
            word = DIAGNOSTICS_STATUS.get(status.progress)
            return None if word is None else call.DiagnosticsStatusNotification(status=word)
        word = LOG_STATUS.get(status.progress)
        return None if word is None else call.LogStatusNotification(status=word, request_id=status.request_id)

    async def _operate(self, cp: Handlers, tg: asyncio.TaskGroup) -> None:
        if not self._booted:
            await self._boot(cp)
        self._accepted = True
        self.pricing.online(True)
        try:
            await self._operate_accepted(cp, tg)
        finally:
            self.pricing.online(False)

    async def _operate_accepted(self, cp: Handlers, tg: asyncio.TaskGroup) -> None:
        dropped = await self.db.run(self.journal.supersede_statuses)
        if dropped:
            log.info("superseded status reports from while offline", count=dropped)
        for entry in self.runtime.status_snapshot():
            await self._send_status(cp, entry)
        tg.create_task(self._heartbeat(cp), name="ocpp-heartbeat")
        tg.create_task(self._send_triggered(cp), name="ocpp-triggers")
        tg.create_task(deliver_log_statuses(self.logs, cp, self._log_status_request), name="ocpp-log-status")
        await self._drain(cp)

    def _boot_request(self) -> Any:
        # chargeBoxSerialNumber is deprecated in 1.6 but still what some backends read: both carry the serial.
        cp = self.settings.charge_point
        return call.BootNotification(
            charge_point_vendor=cp.vendor,
            charge_point_model=cp.model,
            charge_point_serial_number=cp.serial_number or None,
            charge_box_serial_number=cp.serial_number or None,
            firmware_version=f"ladda {__version__}",
        )

    async def _send_status(self, cp: Handlers, entry: StatusEntry) -> None:
        try:
            await cp.request(status_notification(entry.connector, entry.status, entry.error_code, entry.timestamp,
                                                 entry.info, entry.vendor_error_code))
        except CallFailed as exc:
            log.warning("status notification failed", connector=entry.connector, error=str(exc))

    # ------------------------------------------------------------ triggered messages
    async def _send_triggered(self, cp: Handlers) -> None:
        while True:
            message, connector = await self._triggers.get()
            try:
                await self._send_one_triggered(cp, message, connector)
            except CallFailed as exc:
                log.warning("triggered message failed", message=message, error=str(exc))

    async def _send_one_triggered(self, cp: Handlers, message: str, connector: int | None) -> None:
        if message == "BootNotification":
            await cp.request(self._boot_request())
        elif message == "Heartbeat":
            await self._heartbeat_once(cp)  # its currentTime is checked and learnt like any other
        elif message == "StatusNotification":
            for entry in self.runtime.status_snapshot():
                if connector is None or entry.connector == connector:
                    await cp.request(status_notification(entry.connector, entry.status, entry.error_code,
                                                         entry.timestamp, entry.info, entry.vendor_error_code))
        elif message == "MeterValues":
            for n in [connector] if connector else self.runtime.numbers:
                current = await self.runtime.trigger_samples(n)
                if current is None:
                    continue
                stamp, samples, local_tx = current
                backend_tx = await self._backend_id(local_tx)
                await cp.request(
                    call.MeterValues(
                        connector_id=n,
                        transaction_id=backend_tx,
                        meter_value=[meter_value(stamp, [s.to_json() for s in samples], "Trigger")],
                    )
                )
        elif message == "DiagnosticsStatusNotification":
            status = "Uploading" if self.get_diagnostics_running else "Idle"
            await cp.request(call.DiagnosticsStatusNotification(status=status))
        elif message == "FirmwareStatusNotification":
            status = self.firmware.plain_status if self.firmware is not None else "Idle"
            await cp.request(call.FirmwareStatusNotification(status=status))
        elif message == "LogStatusNotification":  # ExtendedTriggerMessage
            running = self.logs.running
            if running is not None and running.request_id is not None:
                await cp.request(call.LogStatusNotification(status="Uploading", request_id=running.request_id))
            else:  # N01.FR.12: Idle, without a requestId, only when triggered and no GetLog upload runs
                await cp.request(call.LogStatusNotification(status="Idle", request_id=None))  # type: ignore[arg-type]
        elif message == "SignedFirmwareStatusNotification":  # ExtendedTriggerMessage FirmwareStatusNotification
            await cp.request(self._signed_firmware_status())

    def _signed_firmware_status(self) -> Any:
        """ExtendedTriggerMessage FirmwareStatusNotification: the signed update's last status
        with its requestId, also after the job ended (a failed one stays visible); Idle
        without one after Installed, before any signed update, and for a plain job."""
        status, request_id = self.firmware.current() if self.firmware is not None else ("Idle", None)
        if request_id is None:
            return call.SignedFirmwareStatusNotification(status="Idle", request_id=None)  # type: ignore[arg-type]
        return call.SignedFirmwareStatusNotification(status=status, request_id=request_id)

    async def _backend_id(self, local_tx: int | None) -> int | None:
        if local_tx is None:
            return None
        records = await self.db.run(self.journal.transactions, 1000)
        return next((r.backend_id for r in records if r.local_id == local_tx), None)

    # ------------------------------------------------------------ journal drain
    async def _drain(self, cp: Handlers) -> None:
        """Send the journal's entries in order, each until acknowledged (at least once)."""
        while True:
            self._wake.clear()
            entries = await self.db.run(self.journal.pending, 0, DRAIN_BATCH)
            if not entries:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5.0):
                        await self._wake.wait()
                continue
            for entry in entries:
                await self._deliver(cp, entry)
                if entry.kind == TX_STARTED:
                    break  # later entries of this batch need the transaction id just learned

    async def _deliver(self, cp: Handlers, entry: Entry) -> None:
        """Send one entry until answered, and mark it done the moment it is: each
        acknowledgement is committed before the next message goes out, so a crash resends
        at most the one message that was in flight."""
        if entry.kind == TX_EVENT:
            # A charging state change: 1.6 has no message for it (the StatusNotification
            # that went with it says the same), so it is done without sending.
            await self.db.run(self.journal.mark_done, entry.seq, "not sent: no such message in OCPP 1.6")
            return
        try:
            request = request_for(entry)
        except NotSendable as exc:
            log.error("journal entry cannot be sent", seq=entry.seq, kind=entry.kind, why=str(exc))
            await self.db.run(self.journal.mark_done, entry.seq, f"abandoned: {exc}")
            return
        if entry.kind == TX_STOPPED and entry.local_tx is not None:
            self.pricing.stopped(entry.body["connector"], entry.local_tx)  # before the backend's answer
        if entry.kind != TX_STARTED:
            if await self._send_entry(cp, entry, request) is not None:
                await self.db.run(self.journal.mark_done, entry.seq, "acked", entry.kind)
            return
        assert entry.local_tx is not None
        # A RunningCost the backend sends right after its answer waits (pricing.starts_*)
        # until the answer's transactionId is recorded here, or the start failed.
        try:
            answer = await self._send_entry(cp, entry, request)
            if answer is None:
                return
            result = _auth_result(answer.id_tag_info)
            await self.db.run(
                self.journal.acknowledge_start, entry.seq, entry.local_tx, int(answer.transaction_id), result.status.value
            )
        finally:
            self.pricing.starts_recorded()
        log.info("transaction accepted by backend", local_tx=entry.local_tx, transaction_id=answer.transaction_id)
        await self.runtime.start_answered(entry.local_tx, entry.body["connector"], result, entry.body.get("id_tag") or "")

    async def _send_entry(self, cp: Handlers, entry: Entry, request: Any) -> Any:
        """Send one entry's request until answered; None when it was given up (marked done)."""
        while True:
            try:
                return await cp.request(request)
            except CallFailed as exc:
                if entry.kind == STATUS:
                    await self.db.run(self.journal.mark_done, entry.seq, f"failed: {exc.code}")
                    return None
                if exc.code in ("Timeout", "ConnectionLost"):
                    # Not the backend refusing the message: the link is not working. Drop
                    # it and reconnect; the entry stays first in line and is not counted.
                    raise ConnectionError(f"{exc}; reconnecting") from exc
                if entry.kind in (FIRMWARE, SECURITY_EVENT):
                    # A backend that refuses these (one without the security extension) will
                    # not take them later either.
                    log.warning("backend refused a notification", kind=entry.kind, error=str(exc))
                    await self.db.run(self.journal.mark_done, entry.seq, f"failed: {exc.code}")
                    return None
                attempts = await self.db.run(self.journal.count_attempt, entry.seq)
                if attempts >= self.config.int("TransactionMessageAttempts"):
                    log.error("backend refused a transaction message", seq=entry.seq, error=str(exc), attempts=attempts)
                    await self.db.run(self.journal.mark_done, entry.seq, f"abandoned: {exc.code}")
                    return None
                log.warning("transaction message failed; retrying", seq=entry.seq, error=str(exc), attempts=attempts)
                await asyncio.sleep(self.config.int("TransactionMessageRetryInterval") * attempts)


def _auth_result(info: dict[str, Any] | None) -> AuthResult:
    info = info or {}
    try:
        status = AuthStatus(info.get("status", "Invalid"))
    except ValueError:
        status = AuthStatus.INVALID
    return AuthResult(status, info.get("parent_id_tag"), info.get("expiry_date"))


