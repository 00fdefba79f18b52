"""Journal entries and charger facts as OCPP 2.0.1 requests.

The journal keeps neutral records; this is the one place that knows how OCPP 2.0.1
spells them. A transaction is told as TransactionEvents: Started, Updated (a sample, a
charging state change) and Ended, each with the charger's own transaction id and the
event's number within the transaction (``seqNo``, numbered when it was journaled, so a
resend carries the same number). What happened while the backend link was down carries
``offline`` true, with its original timestamp.
"""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call

from ..journal import (
    FIRMWARE,
    METER_SAMPLE,
    SECURITY_EVENT,
    STARTED_STATES,
    STATUS,
    TX_EVENT,
    TX_STARTED,
    TX_STOPPED,
    Entry,
)

#: The register every transaction's start and end carry, whatever the measurand settings.
REGISTER = "Energy.Active.Import.Register"
#: One connector per EVSE on this charger: the connector's number is its EVSE's.
CONNECTOR_ID = 1

#: OCPP 2.0.1 ConnectorStatusEnumType for each connector status the charger reports.
CONNECTOR_STATUS = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}

#: How a transaction ended (the charger's stop reason) in 2.0.1: stoppedReason and the
#: triggerReason of the Ended event.
STOPPED = {
    "Local": ("Local", "StopAuthorized"),
    "Remote": ("Remote", "RemoteStop"),
    "EVDisconnected": ("EVDisconnected", "EVCommunicationLost"),
    "DeAuthorized": ("DeAuthorized", "Deauthorized"),
    "EmergencyStop": ("EmergencyStop", "AbnormalCondition"),
    "PowerLoss": ("PowerLoss", "AbnormalCondition"),
    "Reboot": ("Reboot", "ResetCommand"),
    "HardReset": ("ImmediateReset", "ResetCommand"),
    "SoftReset": ("ImmediateReset", "ResetCommand"),
    "UnlockCommand": ("Remote", "UnlockCommand"),
    "MasterPass": ("MasterPass", "StopAuthorized"),
    "StoppedByEV": ("StoppedByEV", "ChargingStateChanged"),
    "ConnectorReset": ("ImmediateReset", "ResetCommand"),
    "Other": ("Other", "AbnormalCondition"),
    # No EV in time: the EV a token waited for (TxStartPoint Authorized), or one that
    # stayed away from a transaction kept open (E10.FR.02).
    "Timeout": ("Timeout", "EVConnectTimeout"),
}

#: Where a transaction stands when it ends for a reason that says so (the Ended event's
#: chargingState, which 2.0.1 wants whenever it changed): the EV is gone, or still
#: plugged in after a stop at the charger. Other reasons (a power loss, a reboot) leave
#: it unknown, and then it is left out.
ENDED_STATES = {
    "EVDisconnected": "Idle",
    "Local": "EVConnected",
    "Remote": "EVConnected",
    "DeAuthorized": "EVConnected",
    "HardReset": "EVConnected",
    "SoftReset": "EVConnected",
    "MasterPass": "EVConnected",
    "ConnectorReset": "EVConnected",
    "StoppedByEV": "SuspendedEV",
    "Timeout": "Idle",
}

#: The cable event behind a charging state change (a TX_EVENT's ``cause``) as the
#: Updated event's triggerReason (E10: the EV left a transaction kept open, or came back).
CABLE_TRIGGER = {"ev_unplugged": "EVCommunicationLost", "ev_plugged": "CablePluggedIn"}

#: A sample's context as the Updated event's triggerReason. "Other" is the idle alert's
#: (agent.charger.IDLE_CONTEXT): it goes with the chargingState the car idles in.
SAMPLE_TRIGGER = {"Sample.Periodic": "MeterValuePeriodic", "Sample.Clock": "MeterValueClock", "Trigger": "Trigger",
                  "Other": "ChargingStateChanged"}

#: OCPP 2.0.1 FirmwareStatusEnumType: the statuses the charger's updater reports that
#: 2.0.1 spells the same.
FIRMWARE_STATUSES = frozenset({
    "Downloaded", "DownloadFailed", "Downloading", "DownloadScheduled", "DownloadPaused", "Idle",
    "InstallationFailed", "Installing", "Installed", "InstallRebooting", "InstallScheduled",
    "InstallVerificationFailed", "InvalidSignature", "SignatureVerified",
})


class NotSendable(Exception):
    """An entry that OCPP 2.0.1 has no message for (it is done without sending)."""


class Unnumbered(NotSendable):
    """A transaction event without the charger's transaction id or its event number (an
    older release journaled it, and numbering it failed so far, e.g. on a full disk): it
    waits to be numbered, never dropped."""


def sampled_values(samples: list[dict[str, Any]], context: str) -> list[dict[str, Any]]:
    """The charger's samples as 2.0.1 SampledValues (numbers, with a unitOfMeasure)."""
    out = []
    for sample in samples:
        value: dict[str, Any] = {
            "value": _number(sample["value"]),
            "context": context,
            "measurand": sample["measurand"],
            "location": "Outlet",
            "unitOfMeasure": {"unit": sample["unit"]},
        }
        if sample.get("phase"):
            value["phase"] = sample["phase"]
        out.append(value)
    return out


def meter_value(timestamp: str, samples: list[dict[str, Any]], context: str) -> dict[str, Any]:
    return {"timestamp": timestamp, "sampledValue": sampled_values(samples, context)}


def with_register(samples: list[dict[str, Any]], wh: int) -> list[dict[str, Any]]:
    """``samples`` with the energy register at ``wh`` (the start's or the stop's reading,
    which is what a backend bills from) unless they carry it already."""
    if any(s["measurand"] == REGISTER and not s.get("phase") for s in samples):
        return samples
    return [{"measurand": REGISTER, "value": wh, "unit": "Wh"}, *samples]


#: The idToken type of a card: the reader presents ISO 14443 UIDs (the core's CARD).
CARD_TYPE = "ISO14443"


def id_token(id_tag: str, token_type: str | None = None) -> dict[str, str]:
    """The idToken of a card (ISO14443 UID, the reader's kind) unless the entry says which type."""
    return {"idToken": id_tag, "type": token_type or CARD_TYPE}


def core_token_type(kind: str) -> str | None:
    """A 2.0.1 idToken type as the core keeps it: None for a card (ISO14443, what the
    reader presents), else the type itself (Central, KeyCode, MacAddress, ...)."""
    return None if kind == CARD_TYPE else kind


def request_for(entry: Entry) -> Any:
    """The OCPP 2.0.1 request for one journal entry."""
    body = entry.body
    if entry.kind in (TX_STARTED, TX_EVENT, TX_STOPPED) or (entry.kind == METER_SAMPLE and entry.local_tx is not None):
        if entry.tx_uid is None:
            raise Unnumbered("the transaction has no id of the charger's (it predates this journal)")
        return _transaction_event(entry)
    if entry.kind == METER_SAMPLE:
        return call.MeterValues(evse_id=body["connector"],
                                meter_value=[meter_value(body["timestamp"], body["samples"], body["context"])])
    if entry.kind == STATUS:
        request = status_notification(body["connector"], body["status"], body["timestamp"])
        if request is None:
            raise NotSendable("a status of the station as a whole has no StatusNotification in 2.0.1")
        return request
    if entry.kind == FIRMWARE:
        if body["status"] not in FIRMWARE_STATUSES:
            raise NotSendable(f"firmware status {body['status']} has no 2.0.1 spelling")
        return call.FirmwareStatusNotification(status=body["status"], request_id=body.get("request_id"))
    if entry.kind == SECURITY_EVENT:
        return call.SecurityEventNotification(type=body["type"], timestamp=body["timestamp"],
                                              tech_info=body.get("tech_info") or None)
    raise NotSendable(f"unknown journal entry kind {entry.kind!r}")


def _transaction_event(entry: Entry) -> Any:
    body = entry.body
    n = body.get("n")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        # The journal numbers every event of a transaction (agent.journal.TX_KINDS), also
        # those an earlier release queued; a default would repeat another event's seqNo.
        raise Unnumbered(f"the transaction event has no event number (seqNo): {n!r}")
    info: dict[str, Any] = {"transactionId": entry.tx_uid}
    fields: dict[str, Any] = {}
    if entry.kind == TX_STARTED:
        event, trigger = "Started", "RemoteStart" if "remote_start_id" in body else "Authorized"
        # Begun by the EV alone (TxStartPoint EVConnected) it has no token yet; by the
        # token alone (Authorized), no EV yet.
        info["chargingState"] = STARTED_STATES.get(body.get("started_by"), "EVConnected")
        if body.get("started_by") == "ev":
            trigger = "CablePluggedIn"
        elif body.get("started_by") == "energy":
            trigger = "ChargingStateChanged"
        if "remote_start_id" in body:
            info["remoteStartId"] = body["remote_start_id"]
        fields["evse"] = {"id": body["connector"], "connectorId": CONNECTOR_ID}
        if "id_tag" in body:
            fields["id_token"] = id_token(body["id_tag"], body.get("token_type"))
        fields["reservation_id"] = body.get("reservation_id")
        samples = with_register(body.get("begin_samples", []), body["meter_wh"])
        fields["meter_value"] = [meter_value(body["timestamp"], samples, "Transaction.Begin")]
    elif entry.kind == TX_EVENT and body.get("cause") == "authorized":
        # The token authorized for a transaction the EV began (E02): whose it is now.
        event, trigger = "Updated", "RemoteStart" if "remote_start_id" in body else "Authorized"
        if "remote_start_id" in body:
            info["remoteStartId"] = body["remote_start_id"]
        fields["id_token"] = id_token(body["id_tag"], body.get("token_type"))
        fields["reservation_id"] = body.get("reservation_id")
    elif entry.kind == TX_EVENT:
        event, trigger = "Updated", CABLE_TRIGGER.get(body.get("cause", ""), "ChargingStateChanged")
        info["chargingState"] = body["charging_state"]
    elif entry.kind == METER_SAMPLE:
        event, trigger = "Updated", SAMPLE_TRIGGER.get(body["context"], "MeterValuePeriodic")
        fields["meter_value"] = [meter_value(body["timestamp"], body["samples"], body["context"])]
        if "charging_state" in body:  # asked for by the backend (F06): it says where it stands
            info["chargingState"] = body["charging_state"]
            fields["evse"] = {"id": body["connector"], "connectorId": CONNECTOR_ID}
    else:
        stopped, trigger = STOPPED.get(body["reason"], ("Other", "AbnormalCondition"))
        event = "Ended"
        info["stoppedReason"] = stopped
        if body["reason"] in ENDED_STATES:
            info["chargingState"] = ENDED_STATES[body["reason"]]
        if body.get("ev_connected") is False:
            info["chargingState"] = "Idle"  # its EV never came, or was away: whatever ended it
        if body.get("id_tag") and body["reason"] in ("Local", "DeAuthorized", "MasterPass"):
            fields["id_token"] = id_token(body["id_tag"], body.get("token_type"))
        fields["meter_value"] = _ended_values(body)
    return call.TransactionEvent(
        event_type=event,
        timestamp=body["timestamp"],
        trigger_reason=trigger,
        seq_no=n,
        transaction_info=info,
        offline=True if body.get("offline") else None,
        **fields,
    )


def _ended_values(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The Ended event's meter values: those kept for the end of the transaction (its
    begin, the samples kept, its end), the end always with the register reading."""
    kept = [d for d in body.get("transaction_data", []) if d["context"] != "Transaction.End"]
    end = next((d["samples"] for d in body.get("transaction_data", []) if d["context"] == "Transaction.End"), [])
    values = [meter_value(d["timestamp"], d["samples"], d["context"]) for d in kept if d["samples"]]
    values.append(meter_value(body["timestamp"], with_register(end, body["meter_wh"]), "Transaction.End"))
    return values


def status_notification(connector: int, status: str, timestamp: str) -> Any | None:
    """StatusNotification of one connector; None for connector 0 (2.0.1 reports no
    status of the station as a whole: its faults go out as events)."""
    if connector == 0:
        return None
    return call.StatusNotification(timestamp=timestamp, connector_status=CONNECTOR_STATUS.get(status, "Unavailable"),
                                   evse_id=connector, connector_id=CONNECTOR_ID)


def _number(value: float | int) -> float | int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
