"""Answers to the backend's OCPP 2.0.1 requests.

Each handler translates the request into a call on the charger runtime (neutral terms,
the same calls the 1.6 handlers make) and the answer back. Handlers never send a CALL
themselves (the reply could not be received while they wait): work that must follow the
reply, such as a triggered message or a reset, is queued with ``after_reply``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog
from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from .. import clock
from ..link.dialect import ErrorKind
from ..link.frames import Error, Result, RpcError
from ..redaction import register_secret
from .certificate_handlers import CertificateHandlers
from .own_certificate_handlers import SIGN_TRIGGER, OwnCertificateHandlers
from .charging_handlers import SMART_CHARGING_ACTIONS, SmartChargingHandlers
from .customer_handlers import CustomerHandlers
from .display_handlers import DisplayMessageHandlers
from .firmware_handlers import FirmwareHandlers
from .local_list import LocalListHandlers
from .log_handlers import LogHandlers
from .network_handlers import NetworkProfileHandlers
from .outbound import core_token_type
from .reservations import ReservationHandlers
from .rpc import Rpc
from .tariff_handlers import TariffCostHandlers
from .variables import report_pages

if TYPE_CHECKING:
    from .session import Ocpp201Link

log = structlog.get_logger(__name__)

VENDOR_ID = "org.ladda"
#: How long a RequestStartTransaction's answer may wait for the start of the transaction
#: it names the token of to be on record (the meter is read first; its timeout is 1.5 s).
START_ON_RECORD_S = 3.0
#: F06: the messages a backend may trigger that this charger sends.
TRIGGERABLE = frozenset({"BootNotification", "FirmwareStatusNotification", "Heartbeat", "LogStatusNotification",
                         "MeterValues", "StatusNotification", "TransactionEvent"})
#: Id token types a remote start may name: every type but eMAID, which needs ISO 15118.
REMOTE_TOKEN_TYPES = frozenset({"Central", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization"})


def _info(reason: str, detail: str = "") -> dict[str, str]:
    """A StatusInfo: a reason code and, when it helps, a few words why."""
    info = {"reason_code": reason}
    if detail:
        info["additional_info"] = detail[:512]
    return info


class Handlers(
    SmartChargingHandlers,
    LocalListHandlers,
    ReservationHandlers,
    CustomerHandlers,
    DisplayMessageHandlers,
    TariffCostHandlers,
    CertificateHandlers,
    OwnCertificateHandlers,
    LogHandlers,
    FirmwareHandlers,
    NetworkProfileHandlers,
    Rpc,
):
    """Every 2.0.1 request this charger answers. Blocks with much of their own (smart
    charging, the local list, reservations, customer information, display messages,
    tariffs and costs, certificates, logs, firmware) live in modules of their own as
    mixins of this class; the library's routing finds their ``@on`` methods through it."""

    def __init__(self, cp_id: str, connection: Any, response_timeout: float, session: Ocpp201Link) -> None:
        super().__init__(cp_id, connection, response_timeout, session.throttle)
        self.session = session
        self.runtime = session.runtime
        #: This connection's last BootNotification answer (None: none yet).
        self._registration: str | None = None
        if not session.config.offers("SmartCharging"):
            self.declined = SMART_CHARGING_ACTIONS  # CALLERROR NotSupported, as for 1.6

    def answered(self, action: str, frame: Result | Error) -> None:
        # The registration as soon as its answer is read: a request the CSMS sends right
        # after a Rejected must already meet it.
        if action == "BootNotification" and isinstance(frame, Result):
            self._registration = frame.payload.get("status")

    def admit(self, action: str) -> None:
        """B03.FR.08: while its BootNotification is Rejected, the station answers every
        request of the CSMS with CALLERROR SecurityError (TC_B_30_CS); Pending ones are
        served (B02.FR.09)."""
        if self._registration == "Rejected":
            raise RpcError(ErrorKind.SECURITY, f"{action} refused: this station's registration was Rejected")

    def _evse_known(self, evse_id: int) -> bool:
        return evse_id in self.runtime.numbers

    # ------------------------------------------------------------ F: remote control
    @on(Action.request_start_transaction)
    async def on_request_start(self, id_token: dict[str, Any], remote_start_id: int, evse_id: int | None = None,
                               group_id_token: dict[str, Any] | None = None,
                               charging_profile: dict[str, Any] | None = None, **_: Any) -> Any:
        token, kind = id_token.get("id_token", ""), id_token.get("type", "")
        if kind not in REMOTE_TOKEN_TYPES:
            log.info("remote start refused", id_token=token, type=kind, why="token type not supported")
            return call_result.RequestStartTransaction(status="Rejected", status_info=_info(
                "InvalidIdToken", f"idToken type {kind} is not supported"))
        if evse_id is not None and not self._evse_known(evse_id):
            return call_result.RequestStartTransaction(status="Rejected", status_info=_info(
                "UnknownEvse", f"this charger has EVSEs 1 to {len(self.runtime.numbers)}"))
        profile = None
        if charging_profile is not None:
            profile, refused = self._start_profile(charging_profile, evse_id)
            if refused is not None:
                log.warning("remote start refused: its charging profile cannot be used", id_token=token,
                            evse=evse_id, reason=refused[1])
                return call_result.RequestStartTransaction(status="Rejected", status_info=_info(*refused))
        if not self.session.booted:
            return call_result.RequestStartTransaction(status="Rejected")
        # K05: the TxProfile is installed for the transaction this request starts; the
        # token's type and remoteStartId go to its Started event.
        waiting = self.runtime.awaiting_token()
        status = self.runtime.remote_start(token, evse_id, profile, remote_start_id, core_token_type(kind))
        log.info("remote start", id_token=token, type=kind, evse=evse_id, remote_start_id=remote_start_id,
                 answer=status, charging_profile=None if profile is None else profile.id)
        running = None
        if status == "Accepted":
            # F01: a transaction already begun (by the EV, TxStartPoint EVConnected) that the
            # request named the token of is answered with its id; one this request begins is not.
            named = [n for n in waiting if n not in self.runtime.awaiting_token()]
            if named:
                running = await self._running_uid(named[0], wait_s=START_ON_RECORD_S)
        return call_result.RequestStartTransaction(status=status, transaction_id=running)

    async def _running_uid(self, evse_id: int, wait_s: float = 0.0) -> str | None:
        """The charger's id of the transaction running on ``evse_id``, if one runs; waiting
        up to ``wait_s`` for a start the machine made to be on record (the worker reads the
        meter first)."""
        deadline = asyncio.get_running_loop().time() + wait_s
        while (local := self.runtime.local_tx.get(evse_id)) is None and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        if local is None:
            return None
        records = await self.runtime.db.run(self.runtime.journal.open_transactions)
        return next((r.tx_uid for r in records if r.local_id == local), None)

    @on(Action.request_stop_transaction)
    async def on_request_stop(self, transaction_id: str, **_: Any) -> Any:
        status = await self.runtime.remote_stop_by_uid(transaction_id)
        log.info("remote stop", transaction_id=transaction_id, answer=status)
        return call_result.RequestStopTransaction(status=status)

    @on(Action.get_transaction_status)
    async def on_get_transaction_status(self, transaction_id: str | None = None, **_: Any) -> Any:
        """E14: whether messages of the transaction (or of any, without an id) still wait
        in the journal, and whether it is still running."""
        journal, db = self.runtime.journal, self.runtime.db
        if transaction_id is None:
            waiting = await db.run(_transaction_messages_waiting, journal)
            return call_result.GetTransactionStatus(messages_in_queue=waiting)
        record = await db.run(journal.by_uid, transaction_id)
        if record is None:
            return call_result.GetTransactionStatus(messages_in_queue=False)
        queued = await db.run(journal.undelivered_of, record.local_id)
        return call_result.GetTransactionStatus(messages_in_queue=queued > 0, ongoing_indicator=record.stopped_at is None)

    @on(Action.unlock_connector)
    async def on_unlock(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        if not self._evse_known(evse_id) or connector_id != 1:
            return call_result.UnlockConnector(status="UnknownConnector")
        if self.runtime.local_tx.get(evse_id) is not None and evse_id not in self.runtime.awaiting_token():
            # F05.FR.02: a cable under a running authorized transaction is not released
            # remotely; one an EV began that no token was authorized for ends (UnlockCommand).
            return call_result.UnlockConnector(status="OngoingAuthorizedTransaction")
        status = await self.runtime.unlock(evse_id)
        if status == "NotSupported":
            status = "UnlockFailed"  # a tethered cable: there is no lock to release (2.0.1 has no NotSupported)
        return call_result.UnlockConnector(status=status)

    @on(Action.trigger_message)
    async def on_trigger_message(self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any) -> Any:
        if requested_message == SIGN_TRIGGER:
            return self._trigger_signing()
        if requested_message not in TRIGGERABLE:
            return call_result.TriggerMessage(status="NotImplemented")
        evse_id = None if evse is None else evse.get("id")
        if evse_id is not None and not self._evse_known(evse_id):
            return call_result.TriggerMessage(status="Rejected", status_info=_info("UnknownEvse"))
        if requested_message == "BootNotification" and self.session.booted:
            # F06.FR.17 (TC_F_26_CS): once the boot is Accepted, a triggered boot is refused.
            return call_result.TriggerMessage(status="Rejected")
        if requested_message == "TransactionEvent" and not (
                self.runtime.local_tx.get(evse_id) if evse_id else self.runtime.local_tx):
            return call_result.TriggerMessage(status="Rejected", status_info=_info("NoTransaction"))
        self.after_reply(lambda: self.session.trigger(requested_message, evse_id))
        return call_result.TriggerMessage(status="Accepted")

    # ------------------------------------------------------------ B, G: reset and availability
    @on(Action.reset)
    async def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> Any:
        if evse_id is not None:
            return self._reset_evse(type, evse_id)
        busy = bool(self.runtime.local_tx)
        log.warning("reset requested", type=type, transactions=len(self.runtime.local_tx))
        if type == "OnIdle" and busy:
            # m5: noted when the reset is carried out: a power cut before it is no RemoteReset.
            self.after_reply(lambda: self.runtime.reset_when_idle(
                lambda: self.runtime.db.run(self.session.restart_reason, "RemoteReset")))
            return call_result.Reset(status="Scheduled")
        await self.runtime.db.run(self.session.restart_reason, "RemoteReset")
        self.after_reply(lambda: self.runtime.request_reset(False))
        return call_result.Reset(status="Accepted")

    def _reset_evse(self, kind: str, evse_id: int) -> Any:
        """B11/B12 with an evseId: that EVSE alone is reset, the station and the other EVSEs
        run on (no reboot, the link stays). Immediate ends its transaction first
        (ImmediateReset, B12.FR.08); OnIdle with one running is Scheduled and follows its
        end, which keeps its own reason (B12.FR.01, B12.FR.07)."""
        if not self._evse_known(evse_id):
            return call_result.Reset(status="Rejected", status_info=_info(
                "UnknownEvse", f"this charger has EVSEs 1 to {len(self.runtime.numbers)}"))
        status = self.runtime.reset_connector(evse_id, immediate=kind == "Immediate")
        log.warning("EVSE reset requested", type=kind, evse=evse_id, answer=status)
        return call_result.Reset(status=status)

    @on(Action.change_availability)
    async def on_change_availability(self, operational_status: str, evse: dict[str, Any] | None = None,
                                     **_: Any) -> Any:
        evse_id = 0 if evse is None else evse.get("id", 0)
        if evse_id and (not self._evse_known(evse_id) or evse.get("connector_id", 1) != 1):  # type: ignore[union-attr]
            return call_result.ChangeAvailability(status="Rejected", status_info=_info("UnknownEvse"))
        status = self.runtime.change_availability(evse_id, operational_status == "Operative")
        log.info("availability", evse=evse_id, operational_status=operational_status, answer=status)
        return call_result.ChangeAvailability(status=status)

    # ------------------------------------------------------------ B05-B08: the device model
    @on(Action.get_variables)
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        results = self.session.device_model.get_variables(get_variable_data)
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    async def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        for value in self.session.device_model.write_only_values(set_variable_data):
            register_secret(value)  # before anything could log it, whether it is taken or not (as 1.6)
        results = await self.session.device_model.set_variables(set_variable_data)
        for request, result in zip(set_variable_data, results, strict=True):
            log.info("set variable", component=request["component"].get("name"),
                     variable=request["variable"].get("name"), answer=result["attribute_status"])
        return call_result.SetVariables(set_variable_result=results)

    @on(Action.get_base_report)
    async def on_get_base_report(self, request_id: int, report_base: str, **_: Any) -> Any:
        data = self.session.device_model.base_report(report_base)
        if data is None:
            return call_result.GetBaseReport(status="NotSupported")
        self._report(request_id, data)
        return call_result.GetBaseReport(status="Accepted")

    @on(Action.get_report)
    async def on_get_report(self, request_id: int, component_variable: list[dict[str, Any]] | None = None,
                            component_criteria: list[str] | None = None, **_: Any) -> Any:
        data = self.session.device_model.custom_report(component_variable, component_criteria)
        if not data:
            return call_result.GetReport(status="EmptyResultSet")
        self._report(request_id, data)
        return call_result.GetReport(status="Accepted")

    def _report(self, request_id: int, data: list[dict[str, Any]]) -> None:
        """NotifyReport after the reply, split into pages of ItemsPerMessage (B07/B08)."""
        per_page = max(1, self.session.config.int("DeviceDataCtrlr.ItemsPerMessage.GetReport"))
        pages = report_pages(data, request_id, clock.current().now(), per_page)
        self.after_reply(lambda: self.session.send_later("NotifyReport", pages))

    # ------------------------------------------------------------ C, P
    @on(Action.clear_cache)
    async def on_clear_cache(self, **_: Any) -> Any:
        if not self.session.config.bool("AuthorizationCacheEnabled"):
            return call_result.ClearCache(status="Rejected")  # C11: no cache in use, none cleared
        await self.runtime.clear_cache()
        return call_result.ClearCache(status="Accepted")

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, message_id: str | None = None, data: Any = None,
                               **_: Any) -> Any:
        if vendor_id != VENDOR_ID:
            return call_result.DataTransfer(status="UnknownVendorId")
        return call_result.DataTransfer(status="UnknownMessageId")


def _transaction_messages_waiting(journal: Any) -> bool:
    """Whether any transaction's message waits in the journal."""
    return any(e.local_tx is not None for e in journal.pending(0, 10_000))
