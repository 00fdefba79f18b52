"""The fuzzer's own footing: its expected answers follow OCPP-J 1.6, and its frames cover
every CSMS-to-charge-point action and come out the same on every run."""

from __future__ import annotations

import json

import pytest
from ocpp.v16.enums import Action

from simulators.fuzz import oracle
from simulators.fuzz.frames import CLASSES, draw_probes
from simulators.fuzz.payloads import BASES, CHARGE_POINT_ACTIONS, UNSAFE

SECURITY_ACTIONS = {"ExtendedTriggerMessage", "CertificateSigned", "InstallCertificate",
                    "GetInstalledCertificateIds", "DeleteCertificate", "GetLog", "SignedUpdateFirmware"}


@pytest.mark.parametrize(("action", "payload", "codes"), [
    ("Reset", {"type": "Sideways"}, {oracle.PROPERTY}),
    ("Reset", {"type": 1}, {oracle.TYPE}),
    ("Reset", {}, {"ProtocolError"}),  # 1.6: "Payload for Action is incomplete"
    ("SendLocalList", {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [{}] * 2}, {"ProtocolError"}),
    ("Reset", {"type": "Soft", "extra": 1}, {oracle.FORMATION}),
    ("RemoteStopTransaction", {"transactionId": 2**63}, {oracle.PROPERTY}),
    ("RemoteStopTransaction", {"transactionId": 2**63 - 1}, set()),
    ("ReserveNow", {"connectorId": 1, "expiryDate": "2024-02-30T00:00:00Z", "idTag": "A", "reservationId": 1},
     {oracle.PROPERTY}),
    ("ReserveNow", {"connectorId": 1, "expiryDate": "9999-12-31T23:59:59Z", "idTag": "A", "reservationId": 1}, set()),
    ("ReserveNow", {"connectorId": 1, "expiryDate": "9999-12-31T23:59:59-05:00", "idTag": "A", "reservationId": 1},
     {oracle.PROPERTY}),  # no such moment in UTC
    ("ReserveNow", {"connectorId": 1, "expiryDate": "2030-01-01t00:00:00z", "idTag": "A", "reservationId": 1},
     {oracle.PROPERTY}),
    ("ReserveNow", {"connectorId": 1, "expiryDate": "2030-01-01T00:00:00", "idTag": "A", "reservationId": 1}, set()),
    ("ReserveNow", {"connectorId": 1, "expiryDate": "\uff19\uff19\uff19\uff19-12-31T00:00:00Z", "idTag": "A",
                    "reservationId": 1}, {oracle.PROPERTY}),  # full-width digits are no RFC 3339 digits
    ("ChangeConfiguration", {"key": "k" * 51, "value": "1"}, {oracle.PROPERTY}),
    ("RemoteStopTransaction", {"transactionId": True}, {oracle.TYPE}),
])
def test_expected_codes_follow_ocpp_j_16(action, payload, codes):
    assert oracle.violations(action, payload) == codes


def test_every_base_payload_is_valid_and_every_action_is_covered():
    for name, action, payload in BASES:
        assert oracle.violations(action, payload) == set(), name
    for action, payload in CHARGE_POINT_ACTIONS:
        assert oracle.violations(action, payload) == set(), action
    covered = {action for _, action, _ in BASES} | {action for action, _ in CHARGE_POINT_ACTIONS}
    assert covered == {a.value for a in Action}, "an OCPP 1.6 action has no frames"
    assert SECURITY_ACTIONS <= {action for _, action, _ in BASES}
    assert UNSAFE <= {name for name, _, _ in BASES}


def test_frames_are_the_same_on_every_run_and_cover_every_class():
    first, second = draw_probes(300), draw_probes(300)
    assert [p.frame for p in first] == [p.frame for p in second]
    assert {p.kind for p in first} >= {name for name, _ in CLASSES}
    # The unsafe actions never go out valid.
    for probe in first:
        try:
            frame = json.loads(probe.frame)
        except (ValueError, RecursionError):
            continue
        if probe.expect == "result" and isinstance(frame, list) and len(frame) == 4:
            assert frame[2] not in {"Reset", "UpdateFirmware", "SignedUpdateFirmware", "UnlockConnector"}, probe


# -- OCPP 2.0.1 ---------------------------------------------------------------------


@pytest.mark.parametrize(("action", "payload", "codes"), [
    ("Reset", {"type": "Sideways"}, {oracle.PROPERTY}),
    ("Reset", {"type": 1}, {oracle.TYPE}),
    ("Reset", {}, {oracle.OCCURRENCE_201}),  # 2.0.1: a required field is an occurrence
    ("Reset", {"type": "Immediate", "extra": 1}, {oracle.FORMAT_201}),
    ("Reset", {"type": "Immediate", "customData": {"vendorId": "x", "anything": 1}}, set()),  # customData is open
    ("GetVariables", {"getVariableData": []}, {oracle.OCCURRENCE_201}),
    ("CancelReservation", {"reservationId": 2**63}, {oracle.PROPERTY}),
    ("RequestStopTransaction", {"transactionId": "t" * 37}, {oracle.PROPERTY}),
    ("ReserveNow", {"id": 1, "expiryDateTime": "2024-02-30T00:00:00Z",
                    "idToken": {"idToken": "A", "type": "ISO14443"}}, {oracle.PROPERTY}),
    ("SetVariables", {"setVariableData": [{"attributeValue": "1", "component": {"name": "C"},
                                           "variable": {"name": "V"}, "attributeType": "Nope"}]}, {oracle.PROPERTY}),
])
def test_expected_codes_follow_ocpp_j_201(action, payload, codes):
    assert oracle.violations(action, payload, "2.0.1") == codes


def test_every_201_base_payload_is_valid_and_every_201_action_is_covered():
    from ocpp.v201.enums import Action as Action201

    from simulators.fuzz import payloads201

    for name, action, payload in payloads201.BASES:
        assert oracle.violations(action, payload, "2.0.1") == set(), name
    for action, payload in payloads201.CHARGE_POINT_ACTIONS:
        assert oracle.violations(action, payload, "2.0.1") == set(), action
    covered = {action for _, action, _ in payloads201.BASES} | {a for a, _ in payloads201.CHARGE_POINT_ACTIONS}
    assert covered == {a.value for a in Action201}, "an OCPP 2.0.1 action has no frames"
    assert payloads201.UNSAFE <= {name for name, _, _ in payloads201.BASES}


def test_201_frames_are_the_same_on_every_run_use_201_codes_and_cover_every_class():
    from simulators.fuzz import frames201

    first, second = frames201.draw_probes(300), frames201.draw_probes(300)
    assert [p.frame for p in first] == [p.frame for p in second]
    assert {p.kind for p in first} >= {name for name, _ in CLASSES}
    for probe in first:
        assert probe.codes <= oracle.ERROR_CODES_201, probe  # never a 1.6 spelling
        try:
            frame = json.loads(probe.frame)
        except (ValueError, RecursionError):
            continue
        if probe.expect == "result" and isinstance(frame, list) and len(frame) == 4:
            assert frame[2] not in {"Reset", "UpdateFirmware", "UnlockConnector", "SetNetworkProfile"}, probe
