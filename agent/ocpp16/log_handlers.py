"""OCPP 1.6 security extension (whitepaper edition 3): GetLog and ExtendedTriggerMessage.

A mixin of :class:`agent.ocpp16.handlers.Handlers`. GetLog is the neutral log job
(:mod:`agent.log_jobs`) spelled in 1.6: the answer names the file at once, the upload
follows after the reply, its statuses go out as LogStatusNotification with the request's
requestId. ExtendedTriggerMessage is TriggerMessage with the extension's messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from .. import locations

if TYPE_CHECKING:
    from ..charger import ChargerRuntime
    from .session import Ocpp16Link

logger = structlog.get_logger(__name__)

#: What ExtendedTriggerMessage may ask for, and the message that answers it (its
#: FirmwareStatusNotification is the signed update's status: SignedFirmwareStatusNotification).
EXTENDED_TRIGGERS = {
    "BootNotification": "BootNotification",
    "Heartbeat": "Heartbeat",
    "LogStatusNotification": "LogStatusNotification",
    "FirmwareStatusNotification": "SignedFirmwareStatusNotification",
    "MeterValues": "MeterValues",
    "StatusNotification": "StatusNotification",
}
#: Starts a certificate signing request (agent.certificates.signing) after the reply.
SIGN_TRIGGER = "SignChargePointCertificate"


class LogHandlers:
    """GetLog and ExtendedTriggerMessage; needs ``session``, ``runtime`` and ``after_reply``
    of the class it is mixed into."""

    session: Ocpp16Link
    runtime: ChargerRuntime
    if TYPE_CHECKING:
        def after_reply(self, callback: Callable[[], None]) -> None: ...

    @on(Action.get_log)
    async def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int, retries: int | None = None,
                         retry_interval: int | None = None) -> Any:
        # A location this charger cannot upload to, or a window it cannot act on, is
        # Rejected (not a CALLERROR, which the library would log with the whole request,
        # the location's password included).
        location = str(log.get("remote_location", ""))
        shown = locations.masked_url(location)
        try:
            request, cancels = self.session.logs.accept(log_type, location, log.get("oldest_timestamp"),
                                                        log.get("latest_timestamp"), retries, retry_interval,
                                                        request_id)
        except ValueError as exc:  # JobRefused: the reason is the answer's
            logger.warning("get log rejected", log_type=log_type, request_id=request_id, location=shown,
                           reason=str(exc))
            return call_result.GetLog(status="Rejected")
        status = "AcceptedCanceled" if cancels else "Accepted"
        logger.info("get log", log_type=log_type, request_id=request_id, location=shown, file_name=request.file_name,
                    retries=request.retries, retry_interval=request.retry_interval, answer=status,
                    oldest=log.get("oldest_timestamp"), latest=log.get("latest_timestamp"))
        self.after_reply(lambda: self.session.start_log_upload(request))
        return call_result.GetLog(status=status, filename=request.file_name)

    @on(Action.extended_trigger_message)
    async def on_extended_trigger_message(self, requested_message: str, connector_id: int | None = None) -> Any:
        if requested_message == SIGN_TRIGGER:
            self.after_reply(self.session.signing.request)
            return call_result.ExtendedTriggerMessage(status="Accepted")
        message = EXTENDED_TRIGGERS.get(requested_message)
        if message is None:
            return call_result.ExtendedTriggerMessage(status="NotImplemented")
        # connectorId > 0 when present (the whitepaper's definition); an unknown one is Rejected.
        if connector_id is not None and not 1 <= connector_id <= len(self.runtime.numbers):
            return call_result.ExtendedTriggerMessage(status="Rejected")
        self.after_reply(lambda: self.session.trigger(message, connector_id))
        return call_result.ExtendedTriggerMessage(status="Accepted")
