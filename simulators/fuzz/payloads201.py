"""Valid OCPP 2.0.1 payloads to mutate, one per CSMS-to-charging-station action, and the secrets in them.

As for 1.6 (:mod:`simulators.fuzz.payloads`), each base is chosen to be harmless to a
charging session when a charger carries it out (a reservation, transaction or profile
that does not exist, a variable of a component no charger has, an upload to a closed
port). Actions that cannot be made harmless (a reset, a firmware update, a network
profile, a new BasicAuthPassword, unlocking the connector) are in ``UNSAFE``: only
their malformed forms are sent, which a charger must refuse without acting.
"""

from __future__ import annotations

from typing import Any

from .payloads import SECRET_KEY, SECRET_PASSWORD

_UPLOAD = f"ftp://fuzz:{SECRET_PASSWORD}@127.0.0.1:1/diagnostics"
_FIRMWARE = f"https://fuzz:{SECRET_PASSWORD}@127.0.0.1:1/firmware.bin"
_PEM = "-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
_T = "2020-01-01T00:00:00Z"
#: A transaction id of the charger's no charger gave: stopping it stops nothing.
IDLE_TRANSACTION = "fuzz-no-such-transaction"
_TOKEN = {"idToken": "FUZZ0001", "type": "ISO14443"}
_NOWHERE = {"component": {"name": "FuzzNoSuchComponent"}, "variable": {"name": "FuzzNoSuchVariable"}}
_HEARTBEAT = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
_HASH = {"hashAlgorithm": "SHA256", "issuerNameHash": "aa11", "issuerKeyHash": "bb22", "serialNumber": "01"}
_PROFILE = {"id": 9999, "stackLevel": 7, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
            "validFrom": _T, "chargingSchedule": [{"id": 1, "chargingRateUnit": "A", "startSchedule": _T,
                                                   "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32,
                                                                               "numberPhases": 3}]}]}

#: (name, action, payload): ``name`` tells apart two bases of one action.
BASES: list[tuple[str, str, dict[str, Any]]] = [
    ("CancelReservation", "CancelReservation", {"reservationId": 424242}),
    ("CertificateSigned", "CertificateSigned", {"certificateChain": _PEM}),
    ("ChangeAvailability", "ChangeAvailability", {"operationalStatus": "Operative"}),
    ("ClearCache", "ClearCache", {}),
    ("ClearChargingProfile", "ClearChargingProfile", {"chargingProfileId": 9999}),
    ("ClearDisplayMessage", "ClearDisplayMessage", {"id": 4242}),
    ("ClearVariableMonitoring", "ClearVariableMonitoring", {"id": [4242]}),
    ("CostUpdated", "CostUpdated", {"totalCost": 1.5, "transactionId": IDLE_TRANSACTION}),
    ("CustomerInformation", "CustomerInformation", {"requestId": 7, "report": False, "clear": False,
                                                    "customerIdentifier": "fuzz-nobody"}),
    ("DataTransfer", "DataTransfer", {"vendorId": "se.ladda.fuzz", "messageId": "Probe", "data": "x"}),
    ("DeleteCertificate", "DeleteCertificate", {"certificateHashData": _HASH}),
    ("GetBaseReport", "GetBaseReport", {"requestId": 11, "reportBase": "SummaryInventory"}),
    ("GetChargingProfiles", "GetChargingProfiles",
     {"requestId": 12, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}}),
    ("GetCompositeSchedule", "GetCompositeSchedule", {"duration": 60, "evseId": 1, "chargingRateUnit": "A"}),
    ("GetDisplayMessages", "GetDisplayMessages", {"requestId": 13}),
    ("GetInstalledCertificateIds", "GetInstalledCertificateIds", {}),
    ("GetLocalListVersion", "GetLocalListVersion", {}),
    ("GetLog", "GetLog", {"logType": "DiagnosticsLog", "requestId": 14, "retries": 0, "retryInterval": 1,
                          "log": {"remoteLocation": _UPLOAD, "oldestTimestamp": _T}}),
    ("GetMonitoringReport", "GetMonitoringReport", {"requestId": 15}),
    ("GetReport", "GetReport", {"requestId": 16, "componentVariable": [_HEARTBEAT]}),
    ("GetTransactionStatus", "GetTransactionStatus", {"transactionId": IDLE_TRANSACTION}),
    ("GetVariables", "GetVariables", {"getVariableData": [_HEARTBEAT]}),
    ("InstallCertificate", "InstallCertificate", {"certificateType": "ManufacturerRootCertificate",
                                                  "certificate": _PEM}),
    ("PublishFirmware", "PublishFirmware", {"location": _FIRMWARE, "checksum": "0" * 32, "requestId": 17}),
    ("RequestStartTransaction", "RequestStartTransaction", {"idToken": _TOKEN, "remoteStartId": 18, "evseId": 1}),
    ("RequestStopTransaction", "RequestStopTransaction", {"transactionId": IDLE_TRANSACTION}),
    ("ReserveNow", "ReserveNow", {"id": 77, "expiryDateTime": _T, "idToken": _TOKEN, "evseId": 1}),
    ("Reset", "Reset", {"type": "OnIdle"}),
    ("SendLocalList", "SendLocalList",
     {"versionNumber": 3, "updateType": "Differential",
      "localAuthorizationList": [{"idToken": _TOKEN, "idTokenInfo": {"status": "Accepted",
                                                                       "cacheExpiryDateTime": "2099-01-01T00:00:00Z"}}]}),
    ("SetChargingProfile", "SetChargingProfile", {"evseId": 1, "chargingProfile": _PROFILE}),
    ("SetDisplayMessage", "SetDisplayMessage",
     {"message": {"id": 4242, "priority": "NormalCycle", "message": {"format": "UTF8", "content": "fuzz"}}}),
    ("SetMonitoringBase", "SetMonitoringBase", {"monitoringBase": "All"}),
    ("SetMonitoringLevel", "SetMonitoringLevel", {"severity": 9}),
    ("SetNetworkProfile", "SetNetworkProfile",
     {"configurationSlot": 9, "connectionData": {"ocppVersion": "OCPP20", "ocppTransport": "JSON",
                                                 "ocppCsmsUrl": "wss://127.0.0.1:1/ocpp", "messageTimeout": 30,
                                                 "securityProfile": 1, "ocppInterface": "Wired0"}}),
    ("SetVariableMonitoring", "SetVariableMonitoring",
     {"setMonitoringData": [{"value": 1, "type": "Delta", "severity": 9, **_NOWHERE}]}),
    ("SetVariables", "SetVariables", {"setVariableData": [{"attributeValue": "1", **_NOWHERE}]}),
    ("SetVariables/BasicAuthPassword", "SetVariables",
     {"setVariableData": [{"attributeValue": SECRET_KEY, "component": {"name": "SecurityCtrlr"},
                           "variable": {"name": "BasicAuthPassword"}}]}),
    ("TriggerMessage", "TriggerMessage", {"requestedMessage": "Heartbeat"}),
    ("UnlockConnector", "UnlockConnector", {"evseId": 1, "connectorId": 1}),
    ("UnpublishFirmware", "UnpublishFirmware", {"checksum": "0" * 32}),
    ("UpdateFirmware", "UpdateFirmware", {"requestId": 19, "retries": 0, "retryInterval": 1,
                                          "firmware": {"location": _FIRMWARE, "retrieveDateTime": _T}}),
]

#: Bases never sent in their valid form during a campaign (see the module docstring).
UNSAFE = frozenset({"Reset", "UpdateFirmware", "SetNetworkProfile", "SetVariables/BasicAuthPassword",
                    "UnlockConnector"})

#: Actions OCPP 2.0.1 defines in the other direction: a charging station does not handle
#: them (NotSupported), with a valid payload so that only the direction is wrong.
CHARGE_POINT_ACTIONS: list[tuple[str, dict[str, Any]]] = [
    ("Authorize", {"idToken": _TOKEN}),
    ("BootNotification", {"chargingStation": {"model": "Fuzz", "vendorName": "Fuzz"}, "reason": "PowerUp"}),
    ("ClearedChargingLimit", {"chargingLimitSource": "EMS"}),
    ("FirmwareStatusNotification", {"status": "Idle"}),
    ("Get15118EVCertificate", {"iso15118SchemaVersion": "x", "action": "Install", "exiRequest": "x"}),
    ("GetCertificateStatus", {"ocspRequestData": {**_HASH, "responderURL": "http://127.0.0.1:1/"}}),
    ("Heartbeat", {}),
    ("LogStatusNotification", {"status": "Idle"}),
    ("MeterValues", {"evseId": 1, "meterValue": [{"timestamp": _T, "sampledValue": [{"value": 1}]}]}),
    ("NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": "EMS"}}),
    ("NotifyCustomerInformation", {"data": "x", "seqNo": 0, "generatedAt": _T, "requestId": 1}),
    ("NotifyDisplayMessages", {"requestId": 1}),
    ("NotifyEVChargingNeeds", {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_single_phase"}}),
    ("NotifyEVChargingSchedule", {"timeBase": _T, "evseId": 1, "chargingSchedule": {
        "id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}}),
    ("NotifyEvent", {"generatedAt": _T, "seqNo": 0, "eventData": [{
        "eventId": 1, "timestamp": _T, "trigger": "Alerting", "actualValue": "1",
        "eventNotificationType": "HardWiredNotification", **_NOWHERE}]}),
    ("NotifyMonitoringReport", {"requestId": 1, "seqNo": 0, "generatedAt": _T}),
    ("NotifyReport", {"requestId": 1, "generatedAt": _T, "seqNo": 0}),
    ("PublishFirmwareStatusNotification", {"status": "Idle"}),
    ("ReportChargingProfiles", {"requestId": 1, "chargingLimitSource": "EMS", "evseId": 1,
                                "chargingProfile": [_PROFILE]}),
    ("ReservationStatusUpdate", {"reservationId": 1, "reservationUpdateStatus": "Expired"}),
    ("SecurityEventNotification", {"type": "FuzzEvent", "timestamp": _T}),
    ("SignCertificate", {"csr": "x"}),
    ("StatusNotification", {"timestamp": _T, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}),
    ("TransactionEvent", {"eventType": "Started", "timestamp": _T, "triggerReason": "Authorized", "seqNo": 0,
                          "transactionInfo": {"transactionId": "fuzz-tx"}}),
]

#: Charging-station CALLs a backend can provoke with TriggerMessage, and the EVSE to name.
TRIGGERABLE = {"Heartbeat": None, "StatusNotification": 1, "MeterValues": 1}
