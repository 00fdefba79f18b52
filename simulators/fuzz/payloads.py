"""Valid OCPP 1.6 payloads to mutate, one per CSMS-to-charge-point action, and the secrets in them.

Each base payload is chosen to be harmless to a charging session when a charger carries
it out (a transaction id that is not running, a configuration key that does not exist,
an upload to a closed port). Actions that cannot be made harmless (a reset, a firmware
update, a new AuthorizationKey, unlocking the charging connector) are in ``UNSAFE``:
only their malformed forms are sent, which a charger must refuse without acting.
"""

from __future__ import annotations

from typing import Any

#: Values that must never appear in a log: the AuthorizationKey a ChangeConfiguration sets,
#: and the passwords in upload and download URLs.
SECRET_KEY = "f0221a9c5eC4e7b3d8a64c1e2f9d07b5"
SECRET_PASSWORD = "Pw9q7Z3kX2fuzz"
SECRETS = {"the AuthorizationKey": SECRET_KEY, "a URL password": SECRET_PASSWORD}

_UPLOAD = f"ftp://fuzz:{SECRET_PASSWORD}@127.0.0.1:1/diagnostics"
_FIRMWARE = f"https://fuzz:{SECRET_PASSWORD}@127.0.0.1:1/firmware.bin"
_PEM = "-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
#: A transaction id no test backend hands out early, so a stop of it stops nothing.
IDLE_TRANSACTION = 2_000_000_017

#: (name, action, payload): ``name`` tells apart two bases of one action.
BASES: list[tuple[str, str, dict[str, Any]]] = [
    ("CancelReservation", "CancelReservation", {"reservationId": 424242}),
    ("ChangeAvailability", "ChangeAvailability", {"connectorId": 0, "type": "Operative"}),
    ("ChangeConfiguration", "ChangeConfiguration", {"key": "FuzzNoSuchKey", "value": "1"}),
    ("ChangeConfiguration/AuthorizationKey", "ChangeConfiguration",
     {"key": "AuthorizationKey", "value": SECRET_KEY}),
    ("ClearCache", "ClearCache", {}),
    ("ClearChargingProfile", "ClearChargingProfile",
     {"id": 9999, "connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 7}),
    ("DataTransfer", "DataTransfer", {"vendorId": "se.ladda.fuzz", "messageId": "Probe", "data": "x"}),
    ("GetCompositeSchedule", "GetCompositeSchedule",
     {"connectorId": 1, "duration": 60, "chargingRateUnit": "A"}),
    ("GetConfiguration", "GetConfiguration", {"key": ["HeartbeatInterval"]}),
    ("GetDiagnostics", "GetDiagnostics",
     {"location": _UPLOAD, "retries": 0, "retryInterval": 1,
      "startTime": "2020-01-01T00:00:00Z", "stopTime": "2020-01-02T00:00:00Z"}),
    ("GetLocalListVersion", "GetLocalListVersion", {}),
    ("RemoteStartTransaction", "RemoteStartTransaction", {"connectorId": 1, "idTag": "FUZZ0001"}),
    ("RemoteStopTransaction", "RemoteStopTransaction", {"transactionId": IDLE_TRANSACTION}),
    ("ReserveNow", "ReserveNow",
     {"connectorId": 1, "expiryDate": "2020-01-01T00:00:00Z", "idTag": "FUZZ0001",
      "parentIdTag": "FUZZ0000", "reservationId": 77}),
    ("Reset", "Reset", {"type": "Soft"}),
    ("SendLocalList", "SendLocalList",
     {"listVersion": 3, "updateType": "Differential",
      "localAuthorizationList": [{"idTag": "FUZZ0001", "idTagInfo": {
          "status": "Accepted", "expiryDate": "2099-01-01T00:00:00Z", "parentIdTag": "FUZZ0000"}}]}),
    ("SetChargingProfile", "SetChargingProfile",
     {"connectorId": 1, "csChargingProfiles": {
         "chargingProfileId": 9999, "stackLevel": 7, "chargingProfilePurpose": "TxDefaultProfile",
         "chargingProfileKind": "Absolute", "validFrom": "2020-01-01T00:00:00Z",
         "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": "2020-01-01T00:00:00Z",
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32, "numberPhases": 3}]}}}),
    ("TriggerMessage", "TriggerMessage", {"requestedMessage": "Heartbeat"}),
    ("UnlockConnector", "UnlockConnector", {"connectorId": 1}),
    ("UpdateFirmware", "UpdateFirmware",
     {"location": _FIRMWARE, "retrieveDate": "2020-01-01T00:00:00Z", "retries": 0, "retryInterval": 1}),
    # The security whitepaper's actions (the ``ocpp`` library knows them as 1.6 actions).
    ("CertificateSigned", "CertificateSigned", {"certificateChain": _PEM}),
    ("DeleteCertificate", "DeleteCertificate",
     {"certificateHashData": {"hashAlgorithm": "SHA256", "issuerNameHash": "aa11",
                              "issuerKeyHash": "bb22", "serialNumber": "01"}}),
    ("ExtendedTriggerMessage", "ExtendedTriggerMessage", {"requestedMessage": "Heartbeat"}),
    ("GetInstalledCertificateIds", "GetInstalledCertificateIds",
     {"certificateType": "CentralSystemRootCertificate"}),
    ("GetLog", "GetLog",
     {"logType": "DiagnosticsLog", "requestId": 5, "retries": 0, "retryInterval": 1,
      "log": {"remoteLocation": _UPLOAD, "oldestTimestamp": "2020-01-01T00:00:00Z"}}),
    ("InstallCertificate", "InstallCertificate",
     {"certificateType": "ManufacturerRootCertificate", "certificate": _PEM}),
    ("SignedUpdateFirmware", "SignedUpdateFirmware",
     {"requestId": 6, "retries": 0, "retryInterval": 1, "firmware": {
         "location": _FIRMWARE, "retrieveDateTime": "2020-01-01T00:00:00Z",
         "signingCertificate": _PEM, "signature": "c2lnbmF0dXJl"}}),
]

#: Bases never sent in their valid form during a campaign (see the module docstring).
UNSAFE = frozenset({
    "Reset", "UpdateFirmware", "SignedUpdateFirmware", "ChangeConfiguration/AuthorizationKey",
    "UnlockConnector",
})

#: Actions OCPP 1.6 defines in the other direction: a charge point does not handle them
#: (NotSupported), with a valid payload so that only the direction is wrong.
CHARGE_POINT_ACTIONS: list[tuple[str, dict[str, Any]]] = [
    ("Authorize", {"idTag": "FUZZ0001"}),
    ("BootNotification", {"chargePointVendor": "Fuzz", "chargePointModel": "Fuzz"}),
    ("DiagnosticsStatusNotification", {"status": "Idle"}),
    ("FirmwareStatusNotification", {"status": "Idle"}),
    ("Heartbeat", {}),
    ("MeterValues", {"connectorId": 1, "meterValue": [
        {"timestamp": "2020-01-01T00:00:00Z", "sampledValue": [{"value": "1"}]}]}),
    ("StartTransaction", {"connectorId": 1, "idTag": "FUZZ0001", "meterStart": 0,
                          "timestamp": "2020-01-01T00:00:00Z"}),
    ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
    ("StopTransaction", {"meterStop": 0, "timestamp": "2020-01-01T00:00:00Z", "transactionId": 1}),
    ("LogStatusNotification", {"status": "Idle"}),
    ("SecurityEventNotification", {"type": "FuzzEvent", "timestamp": "2020-01-01T00:00:00Z"}),
    ("SignCertificate", {"csr": "x"}),
    ("SignedFirmwareStatusNotification", {"status": "Idle"}),
]

#: Charge-point CALLs a backend can provoke with TriggerMessage, and the connector to name.
TRIGGERABLE = {"Heartbeat": None, "StatusNotification": 1, "MeterValues": 1}
