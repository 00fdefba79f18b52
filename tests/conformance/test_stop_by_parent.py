"""TC_069 (Stop transaction – ParentIdTag matches) when the transaction's parentIdTag
comes from the StartTransaction answer, not from an Authorize answer: the card that
started was let in by the local list (no Authorize), or remotely without authorization."""

from __future__ import annotations

from .helpers import actions, call_checked, last_seq, new_id_tag, payload_of, transaction, wait_status
from .test_local_auth_list import entry, send_list


async def test_tc_069_parent_idtag_from_the_start_transaction_answer_stops(csms, charger):
    stack = await charger(ocpp={"LocalPreAuthorize": True, "AuthorizationCacheEnabled": False})
    starter, member, fleet = new_id_tag(), new_id_tag(), "FLEET-" + new_id_tag()
    # The list lets the first card in without asking; the backend's StartTransaction
    # answer names its parent. The second card is not on the list: Authorize names the same parent.
    assert await send_list(stack, "Full", 1, [entry(starter)]) == "Accepted"
    for tag in (starter, member):
        await csms.request("set_id_tag", id_tag=tag, status="Accepted", parent_id_tag=fleet)
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await stack.bench_request("tap", uid=starter)
    await wait_status(stack, 1, "Charging", since)
    assert "Authorize" not in await actions(stack, since)
    start = await payload_of(stack, "StartTransaction", since)
    assert start["idTag"] == starter
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=member)
    await wait_status(stack, 1, "Finishing", since)
    assert await actions(stack, since) == ["Authorize", "StopTransaction", "StatusNotification:1:Finishing"]
    stop = await payload_of(stack, "StopTransaction", since)
    assert stop.get("reason", "Local") == "Local" and stop["idTag"] == member
    record = await transaction(stack)
    assert record["stopped"] and record["stop_id_tag"] == member
    assert (await stack.bench_request("status"))["connectors"][0]["contactor_closed"] is False


async def test_tc_069_parent_idtag_of_a_remote_start_stops(csms, charger):
    stack = await charger(ocpp={"AuthorizeRemoteTxRequests": False})
    starter, member, fleet = new_id_tag(), new_id_tag(), "FLEET-" + new_id_tag()
    for tag in (starter, member):
        await csms.request("set_id_tag", id_tag=tag, status="Accepted", parent_id_tag=fleet)
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Preparing", since)
    answer = await call_checked(stack, "RemoteStartTransaction", {"idTag": starter, "connectorId": 1})
    assert answer == {"status": "Accepted"}
    await wait_status(stack, 1, "Charging", since)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=member)
    await wait_status(stack, 1, "Finishing", since)
    assert await actions(stack, since) == ["Authorize", "StopTransaction", "StatusNotification:1:Finishing"]
    assert (await payload_of(stack, "StopTransaction", since))["idTag"] == member
