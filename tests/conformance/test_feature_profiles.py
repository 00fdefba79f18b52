"""The feature profiles the charger maker offers ([ocpp] SupportedFeatureProfiles) are what
the backend reads in GetConfiguration and what the charger really does: the requests of a
profile not offered get the answer OCPP 1.6 gives for an unsupported feature."""

from __future__ import annotations

from .helpers import call_checked, get_configuration

EXPIRY = "2099-01-01T00:00:00Z"


async def test_a_charger_without_local_list_and_reservations(charger):
    stack = await charger(ocpp={"SupportedFeatureProfiles": "Core,FirmwareManagement,RemoteTrigger"})

    known, unknown = await get_configuration(stack)
    assert known["SupportedFeatureProfiles"] == {"readonly": True, "value": "Core,FirmwareManagement,RemoteTrigger"}
    assert not {"LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength",
                "ReserveConnectorZeroSupported"} & set(known)
    known, unknown = await get_configuration(stack, ["LocalAuthListEnabled", "ReserveConnectorZeroSupported"])
    assert known == {} and unknown == ["LocalAuthListEnabled", "ReserveConnectorZeroSupported"]
    change = await call_checked(stack, "ChangeConfiguration", {"key": "LocalAuthListEnabled", "value": "true"})
    assert change == {"status": "NotSupported"}

    # Local Auth List Management not offered: the answers the profile defines for it (6.33, 7.44).
    sent = await call_checked(stack, "SendLocalList", {"listVersion": 1, "updateType": "Full",
                                                       "localAuthorizationList": [{"idTag": "CARD1"}]})
    assert sent == {"status": "NotSupported"}
    assert await call_checked(stack, "GetLocalListVersion", {}) == {"listVersion": -1}
    # Reservation not offered: known requests, not supported (OCPP-J 4.2.3).
    reserve = await call_checked(stack, "ReserveNow", {"connectorId": 1, "expiryDate": EXPIRY, "idTag": "CARD1",
                                                       "reservationId": 7})
    assert reserve["error"]["code"] == "NotSupported"
    cancel = await call_checked(stack, "CancelReservation", {"reservationId": 7})
    assert cancel["error"]["code"] == "NotSupported"
    # What is offered still works.
    assert await call_checked(stack, "TriggerMessage", {"requestedMessage": "Heartbeat"}) == {"status": "Accepted"}


async def test_a_charger_with_core_and_reservations_only(charger):
    stack = await charger(ocpp={"SupportedFeatureProfiles": "Core,Reservation", "ReserveConnectorZeroSupported": False})

    known, _ = await get_configuration(stack, ["SupportedFeatureProfiles", "ReserveConnectorZeroSupported",
                                               "LocalAuthListEnabled"])
    assert known == {"SupportedFeatureProfiles": {"readonly": True, "value": "Core,Reservation"},
                     "ReserveConnectorZeroSupported": {"readonly": True, "value": "false"}}
    zero = await call_checked(stack, "ReserveNow", {"connectorId": 0, "expiryDate": EXPIRY, "idTag": "CARD1",
                                                    "reservationId": 8})
    assert zero == {"status": "Rejected"}
    one = await call_checked(stack, "ReserveNow", {"connectorId": 1, "expiryDate": EXPIRY, "idTag": "CARD1",
                                                   "reservationId": 9})
    assert one == {"status": "Accepted"}
    assert await call_checked(stack, "CancelReservation", {"reservationId": 9}) == {"status": "Accepted"}
    for action, payload in (("TriggerMessage", {"requestedMessage": "Heartbeat"}),
                            ("UpdateFirmware", {"location": "http://127.0.0.1:9/fw", "retrieveDate": EXPIRY}),
                            ("GetDiagnostics", {"location": "ftp://127.0.0.1:9/"})):
        answer = await call_checked(stack, action, payload)
        assert answer.get("error", {}).get("code") == "NotSupported", f"{action}: {answer}"
