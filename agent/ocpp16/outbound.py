"""Journal entries and charger facts as OCPP 1.6 requests.

The journal keeps neutral records; this is the one place that knows how OCPP 1.6
spells them. The backend's transaction id is filled in here, at send time, because a
transaction started offline only learns it when its StartTransaction is answered.
"""

from __future__ import annotations

import json
from typing import Any

from ocpp.v16 import call

from ..journal import FIRMWARE, METER_SAMPLE, SECURITY_EVENT, STATUS, TX_STARTED, TX_STOPPED, TX_UNPLUGGED, Entry
from ..security_events import spelled_16

#: Stop reasons of the charger's that 1.6 has no word for, as its closest reason: a
#: master pass card (a 2.0.1 setting) stopped it locally; a reset of its connector alone
#: (a 2.0.1 request) is a reset command that ended it at once; a transaction begun by its
#: token (2.0.1 TxStartPoint Authorized) that saw no EV in time, or one that ended as its
#: EV stopped drawing (TxStopPoint EnergyTransfer), ended for another reason.
V16_REASONS = {"MasterPass": "Local", "ConnectorReset": "HardReset", "Timeout": "Other", "StoppedByEV": "Other"}


class NotSendable(Exception):
    """An entry that cannot be expressed in OCPP 1.6 (e.g. a stop whose start was never accepted)."""


def sampled_values(samples: list[dict[str, Any]], context: str) -> list[dict[str, Any]]:
    out = []
    for sample in samples:
        value: dict[str, Any] = {
            "value": _number(sample["value"]),
            "context": context,
            "format": "Raw",
            "measurand": sample["measurand"],
            "location": "Outlet",
            "unit": sample["unit"],
        }
        if sample.get("phase"):
            value["phase"] = sample["phase"]
        out.append(value)
    return out


def meter_value(timestamp: str, samples: list[dict[str, Any]], context: str) -> dict[str, Any]:
    return {"timestamp": timestamp, "sampledValue": sampled_values(samples, context)}


def request_for(entry: Entry) -> Any:
    """The OCPP 1.6 request for one journal entry."""
    body = entry.body
    if entry.kind == TX_STARTED:
        return call.StartTransaction(
            connector_id=body["connector"],
            # A start journaled under 2.0.1's TxStartPoint EVConnected has no token: 1.6
            # has no start without one, so the backend is asked with an empty idTag.
            id_tag=body.get("id_tag") or "",
            meter_start=body["meter_wh"],
            timestamp=body["timestamp"],
            reservation_id=body.get("reservation_id"),
        )
    if entry.kind == METER_SAMPLE:
        if entry.local_tx is not None and entry.backend_tx is None:
            # Entries are sent in order, so the start was abandoned: without its id these
            # values would read as values of no transaction.
            raise NotSendable("the backend never accepted this transaction's start")
        return call.MeterValues(
            connector_id=body["connector"],
            transaction_id=entry.backend_tx if entry.local_tx is not None else None,
            meter_value=[meter_value(body["timestamp"], body["samples"], body["context"])],
        )
    if entry.kind == TX_STOPPED:
        if entry.backend_tx is None:
            raise NotSendable("the backend never accepted this transaction's start")
        data = [meter_value(d["timestamp"], d["samples"], d["context"]) for d in body["transaction_data"]]
        return call.StopTransaction(
            meter_stop=body["meter_wh"],
            timestamp=body["timestamp"],
            transaction_id=entry.backend_tx,
            reason=V16_REASONS.get(body["reason"], body["reason"]),
            id_tag=body["id_tag"],
            transaction_data=data or None,
        )
    if entry.kind == TX_UNPLUGGED:
        # The California Pricing whitepaper's notice that idle billing after the stop ends.
        if entry.backend_tx is None:
            raise NotSendable("the backend never accepted this transaction's start")
        return call.DataTransfer(vendor_id="org.openchargealliance.costmsg", message_id="ConnectorUnplugged",
                                 data=json.dumps({"transactionId": entry.backend_tx, "timestamp": body["timestamp"]},
                                                 separators=(",", ":")))
    if entry.kind == STATUS:
        return status_notification(body["connector"], body["status"], body["error_code"], body["timestamp"],
                                   body.get("info", ""), body.get("vendor_error_code", ""))
    if entry.kind == FIRMWARE:
        if "request_id" in body:
            return call.SignedFirmwareStatusNotification(status=body["status"], request_id=body["request_id"])
        return call.FirmwareStatusNotification(status=body["status"])
    if entry.kind == SECURITY_EVENT:
        # The journal keeps the neutral (2.0.1) name; the whitepaper spells four differently.
        return call.SecurityEventNotification(type=spelled_16(body["type"]), timestamp=body["timestamp"],
                                              tech_info=body.get("tech_info") or None)
    raise NotSendable(f"unknown journal entry kind {entry.kind!r}")


def status_notification(connector: int, status: str, error_code: str, timestamp: str, info: str = "",
                        vendor_error_code: str = "") -> Any:
    """StatusNotification; ``info`` and ``vendorErrorCode`` (at most 50 characters each) only when known."""
    return call.StatusNotification(
        connector_id=connector, error_code=error_code, status=status, timestamp=timestamp,
        info=info[:50] or None, vendor_error_code=vendor_error_code[:50] or None,
    )


def _number(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)
