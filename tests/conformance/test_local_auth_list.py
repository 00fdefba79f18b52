"""Local Auth List Management profile: TC_008_1, TC_008_2, TC_042_1, TC_042_2, TC_043,
TC_043_1, TC_043_2, TC_043_3, and what a malformed SendLocalList gets."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from simulators.harness import Stack

from .helpers import (
    actions,
    call_checked,
    last_seq,
    ledger,
    messages,
    new_id_tag,
    restart_agent_and_wait,
    wait_for,
    wait_status,
)


def entry(id_tag: str, status: str | None = "Accepted", **info: Any) -> dict[str, Any]:
    """One localAuthorizationList element; ``status=None`` removes the idTag (Differential)."""
    if status is None:
        return {"idTag": id_tag}
    return {"idTag": id_tag, "idTagInfo": {"status": status, **info}}


async def send_list(stack: Stack, update_type: str, version: int, entries: list[dict[str, Any]] | None) -> str:
    payload: dict[str, Any] = {"listVersion": version, "updateType": update_type}
    if entries is not None:
        payload["localAuthorizationList"] = entries
    result = await call_checked(stack, "SendLocalList", payload)
    assert "error" not in result, f"SendLocalList answered {result}"
    return str(result["status"])


async def list_version(stack: Stack) -> int:
    result = await call_checked(stack, "GetLocalListVersion", {})
    assert "error" not in result, f"GetLocalListVersion answered {result}"
    return int(result["listVersion"])


async def cut_link(stack: Stack) -> None:
    await stack.bench_request("link", state="cut")
    await stack.bench_request("wait_for", field="link", value="cut")


async def restore_link(stack: Stack) -> None:
    await stack.bench_request("link", state="up")


# ---------------------------------------------------------------- TC_008: start with an idTag from the list


async def test_tc_008_1_start_charging_session_id_in_local_authorization_list(csms, charger):
    # LocalPreAuthorize with the cache off: only the list can let the card start without Authorize.
    stack = await charger(ocpp={"LocalPreAuthorize": True, "AuthorizationCacheEnabled": False})
    tag = new_id_tag()
    assert await list_version(stack) == 0
    assert await send_list(stack, "Full", 1, [entry(tag, parentIdTag="FLEET-8")]) == "Accepted"
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await wait_status(stack, 1, "Preparing", since)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Charging", since)
    assert await actions(stack, since) == [
        "StatusNotification:1:Preparing", "StartTransaction", "StatusNotification:1:Charging",
    ]
    (start,) = await messages(stack, "StartTransaction", since)
    assert start["payload"]["idTag"] == tag and start["payload"]["connectorId"] == 1


async def test_tc_008_2_start_charging_session_id_in_local_authorization_list_offline(charger):
    stack = await charger(ocpp={"AuthorizationCacheEnabled": False, "LocalAuthorizeOffline": True})
    listed, stranger = new_id_tag(), new_id_tag()
    assert await send_list(stack, "Full", 4, [entry(listed)]) == "Accepted"
    since = await last_seq(stack)
    await cut_link(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    # A card the charger does not know is refused offline (AllowOfflineTxForUnknownId is false) ...
    await stack.bench_request("tap", uid=stranger)
    await asyncio.sleep(1.0)
    assert (await stack.bench_request("status"))["connectors"][0]["contactor_closed"] is False
    # ... the one on the list starts at once.
    await stack.bench_request("tap", uid=listed)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=10)
    await restore_link(stack)
    (start,) = await wait_for(stack, "StartTransaction", since=since, timeout=20)
    assert start["idTag"] == listed
    await wait_status(stack, 1, "Charging", since)
    assert [t["id_tag"] for t in await ledger(stack)] == [listed]
    assert await messages(stack, "Authorize", since) == []


async def test_offline_an_idtag_blocked_on_the_list_is_refused_even_when_unknown_ids_are_allowed(charger):
    # OCPP 1.6 section 3.5.4: a card on the list that is not Accepted is not "unknown".
    stack = await charger(ocpp={"AllowOfflineTxForUnknownId": True})
    blocked, stranger = new_id_tag(), new_id_tag()
    assert await send_list(stack, "Full", 1, [entry(blocked, "Blocked")]) == "Accepted"
    since = await last_seq(stack)
    await cut_link(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await stack.bench_request("tap", uid=blocked)
    await asyncio.sleep(1.0)
    assert (await stack.bench_request("status"))["connectors"][0]["contactor_closed"] is False
    await stack.bench_request("tap", uid=stranger)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=10)
    await restore_link(stack)
    await wait_for(stack, "StartTransaction", since=since, timeout=20)
    assert [t["id_tag"] for t in await ledger(stack)] == [stranger]


# ---------------------------------------------------------------- TC_042: GetLocalListVersion


async def test_tc_042_1_get_local_list_version_not_supported(charger):
    # With LocalAuthListEnabled false the list is not in use: -1, as for a charge point without it.
    stack = await charger(ocpp={"LocalAuthListEnabled": False})
    assert await list_version(stack) == -1
    result = await call_checked(stack, "ChangeConfiguration", {"key": "LocalAuthListEnabled", "value": "true"})
    assert result == {"status": "Accepted"}
    assert await list_version(stack) == 0


async def test_tc_042_2_get_local_list_version_empty(charger):
    stack = await charger()
    assert await list_version(stack) == 0  # never set
    assert await send_list(stack, "Full", 3, [entry(new_id_tag())]) == "Accepted"
    assert await list_version(stack) == 3
    # The case itself: a Full update with listVersion 1 and no list empties it; an empty list is version 0.
    assert await send_list(stack, "Full", 1, None) == "Accepted"
    assert await list_version(stack) == 0


async def test_the_local_list_and_its_version_survive_a_restart(charger):
    stack = await charger(ocpp={"LocalPreAuthorize": True, "AuthorizationCacheEnabled": False})
    tag = new_id_tag()
    assert await send_list(stack, "Full", 17, [entry(tag)]) == "Accepted"
    await restart_agent_and_wait(stack, signal.SIGKILL)
    assert await list_version(stack) == 17
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Charging", since)
    assert await messages(stack, "Authorize", since) == []


# ---------------------------------------------------------------- TC_043: SendLocalList


async def test_tc_043_send_local_authorization_list(csms, charger):
    stack = await charger(ocpp={"LocalPreAuthorize": True, "AuthorizationCacheEnabled": False})
    first, second, third = new_id_tag(), new_id_tag(), new_id_tag()
    assert await send_list(stack, "Full", 1, [entry(first), entry(second)]) == "Accepted"
    assert await send_list(stack, "Differential", 2, [entry(first, None), entry(third)]) == "Accepted"
    assert await list_version(stack) == 2
    # The card the differential update removed is no longer known locally: the backend is
    # asked, and refuses it ...
    await csms.request("set_id_tag", id_tag=first, status="Invalid")
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=first)
    (asked,) = await wait_for(stack, "Authorize", since=since, timeout=5)
    assert asked["idTag"] == first
    # ... the card it added starts from the list, without Authorize.
    await stack.bench_request("tap", uid=third)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Charging", since)
    assert [m["payload"]["idTag"] for m in await messages(stack, "Authorize", since)] == [first]
    assert [m["payload"]["idTag"] for m in await messages(stack, "StartTransaction", since)] == [third]


async def test_tc_043_1_send_local_authorization_list_not_supported(charger):
    stack = await charger(ocpp={"LocalAuthListEnabled": False, "LocalPreAuthorize": True,
                                "AuthorizationCacheEnabled": False})
    tag = new_id_tag()
    assert await send_list(stack, "Full", 1, [entry(tag)]) == "NotSupported"
    # The list was not taken: the card is not authorized locally.
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    (asked,) = await wait_for(stack, "Authorize", since=since, timeout=5)
    assert asked["idTag"] == tag


async def test_tc_043_2_send_local_authorization_list_version_mismatch(charger):
    stack = await charger()
    assert await send_list(stack, "Full", 2, [entry(new_id_tag())]) == "Accepted"
    assert await list_version(stack) == 2
    assert await send_list(stack, "Differential", 5, [entry(new_id_tag())]) == "Accepted"
    assert await list_version(stack) == 5
    assert await send_list(stack, "Differential", 4, [entry(new_id_tag())]) == "VersionMismatch"
    assert await send_list(stack, "Differential", 5, [entry(new_id_tag())]) == "VersionMismatch"
    assert await list_version(stack) == 5


async def test_tc_043_3_send_local_authorization_list_failed(charger):
    # The state in which the charge point fails: a list longer than it takes in one request.
    stack = await charger()
    known, _ = await _configuration(stack, ["SendLocalListMaxLength", "LocalAuthListMaxLength"])
    limit = int(known["SendLocalListMaxLength"])
    assert int(known["LocalAuthListMaxLength"]) >= limit
    tags = [f"T{i:06d}" for i in range(limit + 1)]
    assert await send_list(stack, "Full", 2, [entry(t) for t in tags]) == "Failed"
    assert await list_version(stack) == 0
    # Nothing was taken; exactly the limit is fine.
    assert await send_list(stack, "Full", 2, [entry(t) for t in tags[:limit]]) == "Accepted"
    assert await list_version(stack) == 2
    # A request the specification forbids fails too and changes nothing.
    assert await send_list(stack, "Differential", 3, [entry("DUP"), entry("dup", "Blocked")]) == "Failed"
    assert await send_list(stack, "Full", 3, [entry("A"), entry("B", None)]) == "Failed"
    assert await list_version(stack) == 2
    # An expiryDate that is no RFC 3339 time breaks the schema's date-time format: a CALLERROR.
    payload = {"listVersion": 3, "updateType": "Differential",
               "localAuthorizationList": [entry("A", expiryDate="next tuesday")]}
    answer = await stack.csms.request("call", cp=stack.cp_id, action="SendLocalList", payload=payload)
    assert answer["error"]["code"] == "PropertyConstraintViolation"
    assert await list_version(stack) == 2


async def _configuration(stack: Stack, keys: list[str]) -> tuple[dict[str, str], list[str]]:
    result = await call_checked(stack, "GetConfiguration", {"key": keys})
    known = {k["key"]: k["value"] for k in result.get("configurationKey", [])}
    for key in keys:
        assert key in known, f"{key} not reported: {result}"
    return known, list(result.get("unknownKey", []))


async def test_a_malformed_send_local_list_gets_a_call_error_and_changes_nothing(charger):
    stack = await charger()
    assert await send_list(stack, "Full", 2, [entry("KEEP")]) == "Accepted"
    bad = [
        {"listVersion": 3, "updateType": "Differential", "localAuthorizationList": [entry("X", "Sideways")]},
        {"listVersion": 3, "updateType": "Sometimes"},
        {"listVersion": "three", "updateType": "Full"},
        {"updateType": "Full", "localAuthorizationList": [entry("X")]},
        {"listVersion": 3, "updateType": "Full", "localAuthorizationList": [{"idTag": "X" * 21}]},
    ]
    for payload in bad:
        reply = await stack.csms.request("call", cp=stack.cp_id, action="SendLocalList", payload=payload,
                                         validate=False, timeout=10)
        assert "error" in reply, f"{payload} answered {reply}"
        assert reply["error"]["code"] in {"FormationViolation", "PropertyConstraintViolation",
                                          "TypeConstraintViolation", "ProtocolError",
                                          "OccurenceConstraintViolation"}, reply
        assert reply["error"]["description"], reply
    assert await list_version(stack) == 2
    capabilities, _ = await _configuration(stack, ["SupportedFeatureProfiles", "LocalAuthListEnabled"])
    assert "LocalAuthListManagement" in capabilities["SupportedFeatureProfiles"].split(",")
    assert capabilities["LocalAuthListEnabled"] == "true"


async def test_a_backend_answer_contradicting_the_list_is_reported_as_local_list_conflict(csms, charger):
    # OCPP 1.6 3.5.2: the list says Accepted, the backend (asked because LocalPreAuthorize
    # is off) says Invalid: the charger obeys the backend and reports LocalListConflict.
    stack = await charger(ocpp={"LocalPreAuthorize": False, "AuthorizationCacheEnabled": False})
    tag = new_id_tag()
    await csms.request("set_id_tag", id_tag=tag, status="Invalid")
    assert await send_list(stack, "Full", 1, [entry(tag)]) == "Accepted"
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await wait_for(stack, "Authorize", since=since)
    notices = await wait_for(stack, "StatusNotification", since=since)
    assert {"connectorId": 0, "errorCode": "LocalListConflict", "status": "Available"}.items() <= notices[0].items()
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Preparing", since)
    await asyncio.sleep(1.0)
    assert await messages(stack, "StartTransaction", since) == []
