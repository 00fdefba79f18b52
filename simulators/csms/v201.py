"""How the test CSMS answers an OCPP 2.0.1 charging station.

Every charging-station-to-CSMS action of 2.0.1 has a handler here that returns a
schema-valid answer; the answers come from the same :class:`Policy` as the 1.6 ones.
The library's 2.0.1 routing is not used: it would convert keys to snake_case and back,
while the ledger must book each payload exactly as sent, and its schema check names
neither the rule nor the field that failed. So every CALL is checked here against the
official schema first; a failing one is counted and answered as a strict backend would
(OCPP-J 2.0.1 section 4.3), and reaches no handler.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simulators.csms import schemas
from simulators.csms.ledger import Entry, Frame

if TYPE_CHECKING:
    from simulators.csms.server import Csms, Session

log = logging.getLogger("simulators.csms")

Payload = dict[str, Any]
Handler = Callable[["Responder201", Frame], Payload]

#: OCPP-J 2.0.1 CALLERROR descriptions are at most 255 characters.
MAX_DESCRIPTION = 255


def _empty(_: Responder201, __: Frame) -> Payload:
    return {}


def _status(status: str, **more: Any) -> Handler:
    answer = {"status": status, **more}
    return lambda _, __: dict(answer)


def _boot(r: Responder201, _: Frame) -> Payload:
    status, interval = r.csms.policy.boot_reply()
    r.csms.boot_status[r.cp_id] = status
    log.info("%s booted (2.0.1): %s, interval %d s", r.cp_id, status, interval)
    return {"currentTime": r.csms.policy.current_time(), "interval": interval, "status": status}


def _heartbeat(r: Responder201, _: Frame) -> Payload:
    return {"currentTime": r.csms.policy.current_time()}


def _authorize(r: Responder201, frame: Frame) -> Payload:
    return {"idTokenInfo": r.csms.policy.id_token_info(frame.payload["idToken"])}


def _transaction_event(r: Responder201, frame: Frame) -> Payload:
    payload = frame.payload
    r.csms.ledger201.event(r.cp_id, frame.unique_id, payload)
    info = payload["transactionInfo"]
    log.info("%s transaction %s: %s", r.cp_id, info["transactionId"], payload["eventType"])
    if "idToken" in payload:
        return {"idTokenInfo": r.csms.policy.id_token_info(payload["idToken"])}
    return {}


#: Every action a charging station sends to a CSMS in OCPP 2.0.1, with its answer.
HANDLERS: dict[str, Handler] = {
    "Authorize": _authorize,
    "BootNotification": _boot,
    "ClearedChargingLimit": _empty,
    "DataTransfer": _status("UnknownVendorId"),
    "FirmwareStatusNotification": _empty,
    "Get15118EVCertificate": _status("Failed", exiResponse=""),
    "GetCertificateStatus": _status("Failed"),
    "Heartbeat": _heartbeat,
    "LogStatusNotification": _empty,
    "MeterValues": _empty,  # outside a transaction: nothing to bill
    "NotifyChargingLimit": _empty,
    "NotifyCustomerInformation": _empty,
    "NotifyDisplayMessages": _empty,
    "NotifyEVChargingNeeds": _status("Rejected"),
    "NotifyEVChargingSchedule": _status("Accepted"),
    "NotifyEvent": _empty,
    "NotifyMonitoringReport": _empty,
    "NotifyReport": _empty,
    "PublishFirmwareStatusNotification": _empty,
    "ReportChargingProfiles": _empty,
    "ReservationStatusUpdate": _empty,
    "SecurityEventNotification": _empty,
    "SignCertificate": _status("Accepted"),
    "StatusNotification": _empty,
    "TransactionEvent": _transaction_event,
}

#: What the ``call`` command may send a 2.0.1 station: every action with a request
#: schema that a station receives (DataTransfer goes both ways).
CALLABLE = (schemas.v201_actions("Request") - HANDLERS.keys()) | {"DataTransfer"}


class Responder201:
    """Answers one 2.0.1 charging station's CALLs and books them; holds no state of its own."""

    def __init__(self, cp_id: str, session: Session, csms: Csms) -> None:
        self.cp_id = cp_id
        self.session = session
        self.csms = csms

    async def handle_call(self, entry: Entry, frame: Frame, raw: str) -> None:
        await self.session.send(json.dumps(self.answer(entry, frame)))

    def answer(self, entry: Entry, frame: Frame) -> list[Any]:
        """The CALLRESULT or CALLERROR (as a JSON array) for one inbound CALL."""
        action, unique_id = frame.action, frame.unique_id
        handler = HANDLERS.get(action)
        if handler is None:
            if action in schemas.v201_actions("Request"):
                return _error(unique_id, "NotSupported", f"{action} is sent by a CSMS, not to one")
            return _error(unique_id, "NotImplemented", f"{action!r} is not an OCPP 2.0.1 action")
        violation = schemas.check_v201(action, "Request", frame.payload)
        if violation is not None:
            self.csms.record_violation(self.cp_id, entry, violation)
            details = {"rule": violation.rule, "field": violation.field}
            return _error(unique_id, violation.error_code, violation.detail, details)
        try:
            return [3, unique_id, handler(self, frame)]
        except Exception:  # a fault of this backend, not of the charger: say so, keep serving
            log.exception("%s: answering %s failed", self.cp_id, action)
            return _error(unique_id, "InternalError", f"the test CSMS failed to answer {action}")


def _error(unique_id: str, code: str, description: str, details: Payload | None = None) -> list[Any]:
    return [4, unique_id, code, description[:MAX_DESCRIPTION], details or {}]


def frame_error(frame: Frame) -> str | None:
    """The CALLERROR for a frame that is no valid OCPP-J message but names a unique id:
    a broken CALL is an RpcFrameworkError, an unknown message type MessageTypeNotSupported.
    Without a readable id there is nobody to answer."""
    parsed = frame.parsed
    if not (isinstance(parsed, list) and parsed and frame.unique_id):
        return None
    if parsed[0] == 2:
        return json.dumps(_error(frame.unique_id, "RpcFrameworkError", "not a valid OCPP-J CALL frame"))
    if type(parsed[0]) is int and parsed[0] not in (3, 4):
        return json.dumps(
            _error(frame.unique_id, "MessageTypeNotSupported", f"message type {parsed[0]} is not OCPP-J 2.0.1")
        )
    return None
