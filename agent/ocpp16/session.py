"""The OCPP 1.6J link: connection, boot, heartbeat, status, and draining the journal.

One :class:`Ocpp16Link` lives as long as the agent; each websocket connection gets a
fresh library ChargePoint (:class:`Handlers`) and its own TaskGroup (reader,
heartbeat, triggered messages, journal drain), so a dropped connection cancels all of
them at once and nothing waits on a dead socket. Charger state never lives here: it
is in the runtime and the journal.

Work the backend asks for that outlives a connection (a diagnostics upload) is a job
owned by the agent's TaskGroup, given to :meth:`Ocpp16Link.run`: a reconnect does not
touch it, a shutdown cancels it. What it has to report waits for a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from typing import Any

import structlog
import websockets
from ocpp.v16 import call
from websockets.asyncio.client import ClientConnection, connect
from websockets.frames import CloseCode

from .. import __version__, clock
from ..authorization import AuthResult
from ..charger import ChargerRuntime, StatusEntry
from ..diagnostics import Diagnostics, Progress, Request
from ..firmware.updater import FirmwareUpdater
from ..errors import leaves
from ..link.throttle import Throttle
from ..redaction import register_secret
from ..journal import FIRMWARE, SECURITY_EVENT, STATUS, TX_STARTED, Entry, Journal
from ..session.model import AuthStatus
from ..settings import Settings
from ..store import Database
from ..runtime_settings.configuration import Configuration
from ..runtime_settings.keys import KEYS
from .handlers import Handlers
from .outbound import NotSendable, meter_value, request_for, status_notification
from .rpc import CallFailed
from ..link.security import SecurityError, describe_closed_handshake, describe_tls_failure, link_security

log = structlog.get_logger(__name__)

SUBPROTOCOL = "ocpp1.6"
DRAIN_BATCH = 50
#: DiagnosticsStatusNotification's status for each stage of an upload.
DIAGNOSTICS_STATUS = {Progress.UPLOADING: "Uploading", Progress.UPLOADED: "Uploaded", Progress.FAILED: "UploadFailed"}


class Ocpp16Link:
    """Keeps the charger connected to its backend and the journal flowing to it."""

    def __init__(
        self,
        settings: Settings,
        runtime: ChargerRuntime,
        journal: Journal,
        db: Database,
        config: Configuration,
        diagnostics: Diagnostics,
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.journal = journal
        self.db = db
        self.config = config
        self.diagnostics = diagnostics
        self._jobs: asyncio.TaskGroup | None = None
        self._diagnostics_job: asyncio.Task[Progress] | None = None
        # The latest diagnostics status not yet delivered, numbered so a newer one is not
        # mistaken for the one just sent, with its job's file name; only the latest is sent.
        self._diagnostics_status: tuple[int, str, str] | None = None
        self._diagnostics_reports = 0
        self._diagnostics_wake = asyncio.Event()
        #: UpdateFirmware and SignedUpdateFirmware jobs (set by the agent before run()).
        self.firmware: FirmwareUpdater | None = None
        self._cp: Handlers | None = None
        #: Bad input is logged once a minute per kind across connections, not per connection.
        self.throttle = Throttle()
        self._accepted = False
        self._booted = False
        self._wake = asyncio.Event()
        self._triggers: asyncio.Queue[tuple[str, int | None]] = asyncio.Queue()
        self._boot_now = asyncio.Event()
        self.url = settings.backend.url.rstrip("/") + "/" + settings.charge_point.id
        self.connected = asyncio.Event()
        self._redial = asyncio.Event()
        config.bind_backend_security(settings.backend.security_profile, settings.backend.authorization_key)
        config.subscribe(self._on_config_change)

    # ------------------------------------------------------------ Uplink protocol
    @property
    def online(self) -> bool:
        return self._cp is not None and self._accepted

    def wake(self) -> None:
        self._wake.set()

    async def authorize(self, id_tag: str) -> AuthResult | None:
        cp = self._cp
        if cp is None or not self._accepted:
            return None
        try:
            answer = await cp.request(call.Authorize(id_tag=id_tag))
        except CallFailed as exc:
            log.warning("authorize failed", id_tag=id_tag, error=str(exc))
            return None
        return _auth_result(answer.id_tag_info)

    @property
    def booted(self) -> bool:
        """BootNotification was Accepted since this process started."""
        return self._booted

    def trigger(self, message: str, connector: int | None) -> None:
        if message == "BootNotification" and not self._booted:
            self._boot_now.set()  # a backend provisioning a Pending charger wants it now
            return
        self._triggers.put_nowait((message, connector))

    # ------------------------------------------------------------ diagnostics
    @property
    def uploading_diagnostics(self) -> bool:
        return self._diagnostics_job is not None and not self._diagnostics_job.done()

    def start_diagnostics(self, request: Request) -> None:
        """Start uploading (after the GetDiagnostics reply went out); a running upload is
        replaced: cancelled, and its archive removed, before the new one starts."""
        if self._jobs is None:
            log.error("diagnostics requested while the link is not running", file_name=request.file_name)
            return
        try:
            self._diagnostics_job = self._jobs.create_task(
                self._replace_diagnostics(request, self._diagnostics_job), name="diagnostics-upload"
            )
        except RuntimeError:  # the group is shutting down: the agent is stopping
            log.warning("diagnostics not started: the agent is stopping", file_name=request.file_name)

    async def _replace_diagnostics(self, request: Request, previous: asyncio.Task[Progress] | None) -> Progress:
        if previous is not None and not previous.done():
            log.info("diagnostics upload replaced by a new request", file_name=request.file_name)
            previous.cancel()
            await asyncio.wait([previous])
        return await self.diagnostics.upload(request, functools.partial(self._report_diagnostics, request.file_name))

    def _report_diagnostics(self, file_name: str, progress: Progress) -> None:
        self._diagnostics_reports += 1
        self._diagnostics_status = (self._diagnostics_reports, DIAGNOSTICS_STATUS[progress], file_name)
        self._diagnostics_wake.set()

    def _resume_diagnostics(self) -> None:
        """At start: the final status of a job an earlier run did not deliver (a restart
        cut its upload short, or came before the notification went out) is sent now."""
        unfinished = self.diagnostics.unfinished()
        if unfinished is not None and self._diagnostics_status is None:
            self._report_diagnostics(*unfinished)

    async def _send_diagnostics_status(self, cp: Handlers) -> None:
        """Deliver the latest diagnostics status; one the link could not carry stays for
        the next connection (a newer one replaces it)."""
        while True:
            pending = self._diagnostics_status
            if pending is None:
                self._diagnostics_wake.clear()
                await self._diagnostics_wake.wait()
                continue
            number, status, file_name = pending
            try:
                await cp.request(call.DiagnosticsStatusNotification(status=status))
            except CallFailed as exc:
                if exc.code in ("Timeout", "ConnectionLost"):
                    raise ConnectionError(f"{exc}; reconnecting") from exc
                log.warning("diagnostics status notification refused", status=status, error=str(exc))
            _raise_if_cancelled()
            if status != "Uploading":  # the job's end reached the backend: its record goes
                self.diagnostics.delivered(file_name)
            if self._diagnostics_status is not None and self._diagnostics_status[0] == number:
                self._diagnostics_status = None

    # ------------------------------------------------------------ connection loop
    async def run(self, jobs: asyncio.TaskGroup) -> None:
        """Stay connected until cancelled; ``jobs`` (the agent's TaskGroup) owns the work
        the backend starts that must outlive a connection."""
        self._jobs = jobs
        self._resume_diagnostics()
        failures = 0
        last_problem: str | None = None
        while True:
            redial = opened = False
            try:
                # Built per attempt: a renewed certificate or a new AuthorizationKey applies at once.
                key = self.config.authorization_key()
                if key:
                    register_secret(key.decode("utf-8", "replace"))
                    register_secret(key.hex())
                security = link_security(self.settings.backend, self.settings.charge_point.id, key)
                async with connect(
                    self.url,
                    subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                    additional_headers=security.headers,
                    ssl=security.ssl,
                    proxy=None,
                    open_timeout=self.settings.backend.call_timeout,
                    ping_interval=self.config.int("WebSocketPingInterval") or None,
                    ping_timeout=self.settings.backend.ping_timeout,
                    # A dead link cannot complete a closing handshake: do not wait long for it.
                    close_timeout=min(5.0, self.settings.backend.ping_timeout),
                ) as ws:
                    opened = True
                    if ws.subprotocol != SUBPROTOCOL:
                        raise ConnectionError(f"backend did not select subprotocol {SUBPROTOCOL}")
                    log.info("connected to backend", url=self.url, security_profile=security.profile)
                    failures, last_problem = 0, None
                    await self._serve(ws)
            except Exception as exc:  # noqa: BLE001 - the link must survive anything and retry
                redial = any(isinstance(e, _Redial) for e in leaves(exc))
                problem = _describe(exc, self.settings, handshake=not opened)
                if redial:
                    log.info("reconnecting with the new authorization key", url=self.url)
                elif problem != last_problem:
                    log.warning("backend link down", url=self.url, problem=problem)
                    last_problem = problem
                refused = _refused_by_backend(exc)
            else:
                refused = False
            finally:
                self._cp = None
                self._accepted = False
                self.connected.clear()
            if redial:
                continue  # the backend asked for it (a new AuthorizationKey): no failure, no wait
            failures += 1
            # A backend that refuses this charger (HTTP 401/403/404) will not change its mind
            # in a second: ask again, but only at the slowest pace. A TLS failure is retried
            # like any link failure, always at the configured profile, never a lower one.
            await asyncio.sleep(self.settings.backend.reconnect_max if refused else self._backoff(failures))

    def _backoff(self, failures: int) -> float:
        base = self.settings.backend.reconnect_initial * 2 ** min(failures - 1, 16)
        return min(self.settings.backend.reconnect_max, base) * random.uniform(0.8, 1.2)

    def _on_config_change(self, name: str, value: object) -> None:
        """A new AuthorizationKey: answer first, then reconnect with it (security whitepaper,
        TC_073: the charge point disconnects and reconnects with the new password)."""
        if name == "AuthorizationKey" and self._cp is not None:
            self._cp.after_reply(self._redial.set)

    async def _redial_when_asked(self) -> None:
        await self._redial.wait()
        raise _Redial()

    async def _serve(self, ws: ClientConnection) -> None:
        cp = Handlers(self.settings.charge_point.id, ws, self.settings.backend.call_timeout, self)
        self._cp = cp
        self._redial.clear()
        self.connected.set()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(cp.start(), name="ocpp-reader")
                tg.create_task(self._operate(cp, tg), name="ocpp-operate")
                tg.create_task(self._redial_when_asked(), name="ocpp-redial")
        except asyncio.CancelledError:
            # The agent stops (SIGTERM, a reset): an orderly close, RFC 6455 1001 Going Away.
            await _close(ws, CloseCode.GOING_AWAY, "charge point stopping")
            raise
        except BaseExceptionGroup as group:
            if any(isinstance(e, _Redial) for e in leaves(group)):
                await _close(ws, CloseCode.NORMAL_CLOSURE, "reconnecting with new credentials")
            elif any(isinstance(e, ConnectionError) for e in leaves(group)):
                await _close(ws, CloseCode.GOING_AWAY, "the link is not answering; reconnecting")
            raise

    async def _operate(self, cp: Handlers, tg: asyncio.TaskGroup) -> None:
        if not self._booted:
            await self._boot(cp)
        self._accepted = True
        dropped = await self.db.run(self.journal.supersede_statuses)
        if dropped:
            log.info("superseded status reports from while offline", count=dropped)
        for entry in self.runtime.status_snapshot():
            await self._send_status(cp, entry)
        tg.create_task(self._heartbeat(cp), name="ocpp-heartbeat")
        tg.create_task(self._send_triggered(cp), name="ocpp-triggers")
        tg.create_task(self._send_diagnostics_status(cp), name="ocpp-diagnostics-status")
        await self._drain(cp)

    async def _boot(self, cp: Handlers) -> None:
        """BootNotification until Accepted; nothing else is sent before (OCPP 1.6, 4.2).

        A boot the backend answers with a CALLERROR, an unusable answer or no answer is
        asked again on the same connection, after a growing pause (the reconnect backoff's
        settings): dropping a link that works would restart the backoff with each new
        connection, and a backend that cannot take the boot would see one every second.
        """
        failures = 0
        while True:
            # Cleared before asking, so a trigger that arrives with (or before) the answer counts.
            self._boot_now.clear()
            sent_at = time.monotonic()
            try:
                answer = await cp.request(self._boot_request())
            except CallFailed as exc:
                if exc.code == "ConnectionLost":
                    raise ConnectionError(f"{exc}; reconnecting") from exc
                failures += 1
                pause = self._backoff(failures)
                if failures == 1 or failures % 10 == 0:
                    log.warning("boot notification not answered; asking again on this connection",
                                error=str(exc), attempts=failures, retry_in_s=round(pause, 1))
                await self._until_boot_due(pause)
                continue
            failures = 0
            await self._learn_time(answer.current_time, sent_at)
            interval = int(answer.interval)
            log.info("boot notification", status=answer.status, interval=interval)
            if answer.status == "Accepted":
                await self._adopt_heartbeat_interval(interval)
                self._booted = True
                if self.firmware is not None:
                    self.firmware.booted()  # a release on trial has proved itself
                return
            await self._until_boot_due(interval if interval > 0 else 30)

    async def _until_boot_due(self, seconds: float) -> None:
        """Until ``seconds`` pass, or the backend triggers a BootNotification.
        (asyncio.timeout, not wait_for: Python 3.11's wait_for can drop a cancellation.)"""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._boot_now.wait()

    async def _adopt_heartbeat_interval(self, interval: int) -> None:
        if interval <= 0:
            return
        try:
            value = KEYS["HeartbeatInterval"].parse(interval)
        except ValueError as exc:
            log.warning("ignoring the backend's heartbeat interval", interval=interval, reason=str(exc))
            return
        await self.config.set("HeartbeatInterval", value)

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

    async def _heartbeat(self, cp: Handlers) -> None:
        waited = 0.0
        while True:
            await asyncio.sleep(1.0)
            waited += 1.0
            interval = self.config.int("HeartbeatInterval")
            if interval > 0 and waited >= interval:
                waited = 0.0
                await self._heartbeat_once(cp)

    async def _heartbeat_once(self, cp: Handlers) -> None:
        clock.current().recheck()
        sent_at = time.monotonic()
        try:
            answer = await cp.request(call.Heartbeat())
        except CallFailed as exc:
            log.warning("heartbeat failed", error=str(exc))
            return
        await self._learn_time(answer.current_time, sent_at)

    async def _learn_time(self, current_time: str, sent_at: float) -> None:
        """The backend's time: the charger's clock follows it when the system clock is not
        synchronised, and this process's provisional stamps are corrected once. A time
        the clock refuses as implausible is reported once (a warning and a security event,
        stamped with the time kept) until the backend offers a plausible one again."""
        charger_clock = clock.current()
        try:
            shift = charger_clock.adopt_backend_time(current_time, sent_at, time.monotonic())
        except clock.ImplausibleTime as exc:
            if exc.first:
                log.warning("refused the backend's time; keeping the charger's", current_time=exc.offered[:40],
                            allowed=f"{clock.EARLIEST:%Y-%m-%d} to {clock.LATEST:%Y-%m-%d}")
                await self.db.run(self.journal.record_security_event, clock.REFUSED_EVENT, str(exc))
                self.wake()
            return
        if shift is None:
            return
        changed = await self.db.run(
            self.journal.correct_provisional, charger_clock.provisional_tag, shift, charger_clock.tag
        )
        self.runtime.shift_status_stamps(shift)
        if shift:
            log.warning("corrected provisional timestamps", shift_s=round(shift, 3), entries=changed)

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
            status = "Uploading" if self.uploading_diagnostics else "Idle"
            await cp.request(call.DiagnosticsStatusNotification(status=status))
        elif message == "FirmwareStatusNotification":
            status = self.firmware.plain_status if self.firmware is not None else "Idle"
            await cp.request(call.FirmwareStatusNotification(status=status))

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
        try:
            request = request_for(entry)
        except NotSendable as exc:
            log.error("journal entry cannot be sent", seq=entry.seq, kind=entry.kind, why=str(exc))
            await self.db.run(self.journal.mark_done, entry.seq, f"abandoned: {exc}")
            return
        while True:
            try:
                answer = await cp.request(request)
                break
            except CallFailed as exc:
                if entry.kind == STATUS:
                    await self.db.run(self.journal.mark_done, entry.seq, f"failed: {exc.code}")
                    return
                if exc.code in ("Timeout", "ConnectionLost"):
                    # Not the backend refusing the message: the link is not working. Drop
                    # it and reconnect; the entry stays first in line and is not counted.
                    raise ConnectionError(f"{exc}; reconnecting") from exc
                if entry.kind in (FIRMWARE, SECURITY_EVENT):
                    # A backend that refuses these (one without the security extension) will
                    # not take them later either.
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
        if entry.kind == TX_STARTED:
            assert entry.local_tx is not None
            result = _auth_result(answer.id_tag_info)
            await self.db.run(
                self.journal.acknowledge_start, entry.seq, entry.local_tx, int(answer.transaction_id), result.status.value
            )
            log.info("transaction accepted by backend", local_tx=entry.local_tx, transaction_id=answer.transaction_id)
            await self.runtime.start_answered(entry.local_tx, entry.body["connector"], result, entry.body["id_tag"])
        else:
            await self.db.run(self.journal.mark_done, entry.seq, "acked", entry.kind)


def _auth_result(info: dict[str, Any] | None) -> AuthResult:
    info = info or {}
    try:
        status = AuthStatus(info.get("status", "Invalid"))
    except ValueError:
        status = AuthStatus.INVALID
    return AuthResult(status, info.get("parent_id_tag"), info.get("expiry_date"))


def _refused_by_backend(error: BaseException) -> bool:
    return any(
        isinstance(e, websockets.exceptions.InvalidStatus) and e.response.status_code in (401, 403, 404)
        for e in leaves(error)
    )


def _raise_if_cancelled() -> None:
    """Python 3.11's ``asyncio.wait_for`` (the ocpp library waits for an answer with it)
    drops a cancellation that arrives together with the answer: a task that then went
    back to waiting would hold up the connection's end, and the agent's exit, for good."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError()


async def _close(ws: ClientConnection, code: CloseCode, reason: str) -> None:
    """Close with ``code`` (instead of the 1011 an exception would give), without waiting
    long on a peer that does not answer the closing handshake."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(2.0):
            await ws.close(code, reason)


class _Redial(Exception):
    """Ends a connection on purpose so the next one uses new credentials."""


def _describe_close(exc: websockets.exceptions.ConnectionClosed) -> str:
    """Why a connection closed, in words: who closed it, with which code."""
    if exc.sent is not None and exc.sent.code == CloseCode.MESSAGE_TOO_BIG:
        return ("the backend sent a message over the 1 MiB limit; the charge point closed the connection "
                "(RFC 6455 code 1009)")
    if exc.rcvd is not None:
        reason = f": {exc.rcvd.reason[:80]}" if exc.rcvd.reason else ""
        return f"connection closed by the backend (code {exc.rcvd.code}{reason})"
    if exc.sent is not None:
        return f"connection closed by the charge point (code {exc.sent.code})"
    return "connection lost (no closing handshake)"


def _describe(error: BaseException, settings: Settings, handshake: bool = False) -> str:
    """One stable line for a link failure, so a repeating failure is logged once."""
    backend = settings.backend
    for exc in leaves(error):
        if isinstance(exc, websockets.exceptions.InvalidStatus):
            return f"HTTP {exc.response.status_code}"
        if isinstance(exc, websockets.exceptions.ConnectionClosed):
            return _describe_close(exc)
        if isinstance(exc, SecurityError):
            return f"cannot secure the link: {exc}"
        tls = describe_tls_failure(exc, backend)
        if tls is not None:
            return tls
        if handshake and (isinstance(exc, ConnectionResetError) or (
                isinstance(exc, websockets.exceptions.InvalidMessage) and isinstance(exc.__cause__, EOFError))):
            return describe_closed_handshake(backend.security_profile)
    return "; ".join(f"{type(e).__name__}: {e}" for e in leaves(error)) or "unknown"
