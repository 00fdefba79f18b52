"""A backend that sends what real backends sometimes send (bugs, fuzzers, attackers):
each frame gets the CALLERROR OCPP-J 1.6 section 4.2.3 names, garbage answers fail one
call, and the websocket stays the one it was; no secret reaches the agent's log.

The 2.0.1 variants at the end: each frame gets the CALLERROR OCPP-J 2.0.1 names, in its
spelling, while a session charges, and the transaction is complete afterwards."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from simulators.harness import Stack

from .helpers import all_frames, call, get_configuration, last_seq, ledger, messages, plug_and_charge, \
    send_raw_frame, transaction, wait_for

DEEP = "[" * 200_000 + "]" * 200_000  # 400 kB, under the 1 MiB frame limit

HOSTILE = [
    # (frame, the id the CALLERROR must carry, its code, sent as a binary frame)
    ('[2,"h-1",["Reset"],{}]', "h-1", "FormationViolation", False),
    ('[2,"h-2",{"a":1},{}]', "h-2", "FormationViolation", False),
    (DEEP, "-1", "FormationViolation", False),
    ('[2,"h-4","Reset",{"type":"Sideways"}]', "h-4", "PropertyConstraintViolation", False),
    ('[0,"h-5","Reset",{"type":"Soft"}]', "h-5", "FormationViolation", False),
    ('[1,"h-6","Reset",{"type":"Soft"}]', "h-6", "FormationViolation", False),
    ('[5,"h-7","Reset",{"type":"Soft"}]', "h-7", "FormationViolation", False),
    ('["2","h-8","Reset",{"type":"Soft"}]', "h-8", "FormationViolation", False),
    ('[2.0,"h-9","Reset",{"type":"Soft"}]', "h-9", "FormationViolation", False),
    ('[2,4711,"Reset",{"type":"Soft"}]', "-1", "FormationViolation", False),
    (f'[2,"{"h" * 37}","Reset",{{"type":"Soft"}}]', "h" * 37, "FormationViolation", False),
    ('[2,"h-12","RemoteStopTransaction",{"transactionId":9223372036854775808}]', "h-12",
     "PropertyConstraintViolation", False),
    ('[2,"h-13","ReserveNow",{"connectorId":1,"expiryDate":"2030-01-01T00:00:00Z","idTag":"A",'
     '"reservationId":18446744073709551616}]', "h-13", "PropertyConstraintViolation", False),
    ('[2,"h-14","MakeCoffee",{}]', "h-14", "NotImplemented", False),
    ('[2,"h-15","Heartbeat",{}]', "h-15", "NotSupported", False),  # a charge point's request, sent to it
    ('[2,"h-16","ReserveNow",{"connectorId":1,"expiryDate":"9999-99-99T00:00:00Z","idTag":"A",'
     '"reservationId":1}]', "h-16", "PropertyConstraintViolation", False),
    ('[2,"h-17","Reset",{"type":NaN}]', "-1", "FormationViolation", False),  # NaN is not JSON
    ('[2,"h-18","Reset",{"type":"Hard"}]', "h-18", "FormationViolation", True),  # binary: never acted on
    ('[2,"h-19","RemoteStartTransaction",{"idTag":"A","chargingProfile":{"chargingProfileId":1,"stackLevel":0,'
     '"chargingProfilePurpose":"TxProfile","chargingProfileKind":"Absolute","chargingSchedule":'
     '{"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":1e30}]}}}]', "h-19",
     "PropertyConstraintViolation", False),
    ('[2,"h-20","ReserveNow",{"connectorId":1,"expiryDate":"9999-12-31T23:59:59-05:00","idTag":"A",'
     '"reservationId":1}]', "h-20", "PropertyConstraintViolation", False),
]


async def connections(stack: Stack, since: int = 0) -> list[dict[str, Any]]:
    return [f for f in await all_frames(stack, since) if f["direction"] == "event"]


async def assert_same_link(stack: Stack, since: int) -> None:
    """No disconnection, no new boot, the same process, and it still answers."""
    assert await connections(stack, since) == []
    assert await messages(stack, "BootNotification", since) == []
    assert stack.agent_process is not None and stack.agent_process.running
    known, _ = await get_configuration(stack, ["NumberOfConnectors"])
    assert known["NumberOfConnectors"]["value"] == str(stack.connectors)


async def test_hostile_frames_are_answered_on_the_same_connection(charger):
    stack = await charger()
    since = await last_seq(stack)
    wrong = []
    for frame, unique_id, code, binary in HOSTILE:
        # any_id: a frame the charger cannot read at all is answered to "-1"
        reply = (await stack.csms.request("send_raw", cp=stack.cp_id, frame=frame, timeout=5, binary=binary,
                                          any_id=True))["reply"]
        if not (isinstance(reply, list) and reply[:3] == [4, unique_id, code] and isinstance(reply[3], str)
                and reply[4] == {}):
            wrong.append((frame[:80], reply))
    assert wrong == []
    await assert_same_link(stack, since)
    # Nothing out of range was stored: the reservation 2^64 does not exist after all this.
    assert await call(stack, "CancelReservation", {"reservationId": 1}) == {"status": "Rejected"}


async def test_garbage_answers_to_the_chargers_own_calls_do_not_drop_the_link(charger):
    stack = await charger()
    since = await last_seq(stack)
    garbage = ['[4,"$ID","BogusCode","",{}]', '[4,"$ID",42,"",{}]', '[3,"$ID",{"currentTime":17}]',
               '[3,"$ID",[]]', '[4,"$ID"]', '[3,"someone-else",{"currentTime":"2026-01-01T00:00:00Z"}]']
    await stack.csms.request("answer_raw", cp=stack.cp_id, action="Heartbeat", frames=garbage)
    for n in range(len(garbage)):
        answer = await call(stack, "TriggerMessage", {"requestedMessage": "Heartbeat"})
        assert answer == {"status": "Accepted"}
        for _ in range(150):  # (the test CSMS's wait_for counts only CALLs it answered well)
            if len(await messages(stack, "Heartbeat", since)) > n:
                break
            await asyncio.sleep(0.1)
        assert len(await messages(stack, "Heartbeat", since)) == n + 1
    await assert_same_link(stack, since)


async def test_a_transaction_id_out_of_range_is_not_taken_and_the_start_is_sent_again(charger):
    stack = await charger(ocpp={"TransactionMessageRetryInterval": 1, "TransactionMessageAttempts": 3})
    since = await last_seq(stack)
    await stack.csms.request("answer_raw", cp=stack.cp_id, action="StartTransaction",
                             frames=['[3,"$ID",{"transactionId":18446744073709551617,'
                                     '"idTagInfo":{"status":"Accepted"}}]'])
    await plug_and_charge(stack)
    starts = await wait_for(stack, "StartTransaction", count=2, since=since, timeout=20)
    assert starts[0] == starts[1]  # the same start, sent again
    booked = await transaction(stack)
    assert 0 < booked["transaction_id"] < 2**63
    await stack.bench_request("unplug", connector=1)
    await wait_for(stack, "StopTransaction", since=since, timeout=20)
    stop = (await wait_for(stack, "StopTransaction", since=since))[0]
    assert stop["transactionId"] == booked["transaction_id"]
    await assert_same_link(stack, since)


async def test_extreme_dates_from_the_backend_are_taken_or_refused_cleanly(charger):
    """Year 9999 ("never expires" to some backends) and year 1 are valid RFC 3339 times:
    each is taken for what it says, and nothing later fails on it."""
    stack = await charger(connectors=2)
    since = await last_seq(stack)
    far, past = "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"
    assert await call(stack, "ReserveNow", {"connectorId": 1, "expiryDate": far, "idTag": "FAR",
                                            "reservationId": 91}) == {"status": "Accepted"}
    assert await call(stack, "ReserveNow", {"connectorId": 2, "expiryDate": past, "idTag": "PAST",
                                            "reservationId": 92}) == {"status": "Rejected"}
    assert await call(stack, "CancelReservation", {"reservationId": 91}) == {"status": "Accepted"}
    entries = [{"idTag": "0FA00002", "idTagInfo": {"status": "Accepted", "expiryDate": far}},
               {"idTag": "0FA00003", "idTagInfo": {"status": "Accepted", "expiryDate": past}}]
    assert await call(stack, "SendLocalList", {"listVersion": 7, "updateType": "Full",
                                               "localAuthorizationList": entries}) == {"status": "Accepted"}
    await stack.csms.request("set_id_tag", id_tag="0CFA0001", status="Accepted", expiry_date=far)
    await plug_and_charge(stack, connector=1, id_tag="0CFA0001")
    await stack.bench_request("unplug", connector=1)
    await wait_for(stack, "StopTransaction", since=since, timeout=20)
    await plug_and_charge(stack, connector=2, id_tag="0FA00002")
    await stack.bench_request("unplug", connector=2)
    await wait_for(stack, "StopTransaction", count=2, since=since, timeout=20)
    await assert_same_link(stack, since)


async def test_a_boot_answered_with_callerrors_is_asked_again_on_the_same_connection(csms, charger):
    cp_id = f"T-{uuid.uuid4().hex[:8]}"
    await csms.request("answer_raw", cp=cp_id, action="BootNotification",
                       frames=['[4,"$ID","InternalError","backend busy",{}]', '[4,"$ID","BogusCode","",{}]'])
    stack = await charger(cp_id=cp_id, boot=False)
    await wait_for(stack, "BootNotification", count=3, timeout=20)
    await stack.wait_booted()
    events = await connections(stack)
    assert [e["type"] for e in events] == ["connected"], events


async def test_no_secret_in_the_log_whatever_the_backend_sends(charger):
    stack = await charger()
    key = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7"
    url_password = f"pw{uuid.uuid4().hex[:10]}"
    reply = await stack.csms.request("call", cp=stack.cp_id, action="ChangeConfiguration", validate=False,
                                     payload={"key": "AuthorizationKey", "value": key, "extra": 1})
    assert reply["error"]["code"] == "FormationViolation"
    reply = await send_raw_frame(stack, json.dumps([2, "s-2", "ChangeConfiguration",
                                                    {"key": "AuthorizationKey", "value": key * 20}]))
    assert reply[:3] == [4, "s-2", "PropertyConstraintViolation"]
    # A key this charger does not know may be a vendor's password, or the secret misspelt.
    for name in ("authorizationkey", "CentralSystemPassword"):
        answer = await call(stack, "ChangeConfiguration", {"key": name, "value": f"{name}-{url_password}"})
        assert answer == {"status": "NotSupported"}
    await call(stack, "GetDiagnostics", {"location": f"ftp://user:{url_password}@127.0.0.1:1/diag/", "retries": 0})
    await call(stack, "UpdateFirmware", {"location": f"ftp://user:{url_password}@127.0.0.1:1/fw.tar.gz",
                                         "retrieveDate": "2020-01-01T00:00:00Z", "retries": 0})
    await send_raw_frame(stack, json.dumps([2, "s-5", "GetDiagnostics",
                                            {"location": f"ftp://u:{url_password}@h/", "retries": "x"}]))
    await stack.stop_agent()
    log = (stack.workdir / "agent.log").read_text() + (stack.state_dir / "logs" / "ladda.log").read_text()
    assert key not in log and url_password not in log
    assert "FormationViolation" in log  # the refusals were logged, without the values


@pytest.mark.parametrize("how", ["SIGTERM", "Reset"])
async def test_an_orderly_stop_closes_with_going_away(charger, how):
    """RFC 6455: 1001 when an endpoint is going away; 1011 would tell the backend we failed."""
    import signal

    stack = await charger()
    since = await last_seq(stack)
    if how == "SIGTERM":
        await stack.stop_agent(signal.SIGTERM)
    else:
        assert await call(stack, "Reset", {"type": "Soft"}) == {"status": "Accepted"}
    for _ in range(100):
        closed = [e for e in await connections(stack, since) if e["type"] == "disconnected"]
        if closed:
            break
        await asyncio.sleep(0.1)
    assert closed and closed[0]["payload"]["code"] == 1001, closed


# -- OCPP 2.0.1 ---------------------------------------------------------------------

FORMAT, RPC, MESSAGE_TYPE = "FormatViolation", "RpcFrameworkError", "MessageTypeNotSupported"
#: OCPP-J 2.0.1 does not tell these apart for text that is no JSON or an array that is no
#: CALL (each both "syntactically incorrect" and "not a valid RPC request").
FRAMING = {FORMAT, RPC}
_GET = '{"getVariableData":[{"component":{"name":"OCPPCommCtrlr"},"variable":{"name":"HeartbeatInterval"}}]}'
_EVENT = ('{"eventType":"Started","timestamp":"2020-01-01T00:00:00Z","triggerReason":"Authorized","seqNo":0,'
          '"transactionInfo":{"transactionId":"h"}}')

HOSTILE_201 = [
    # (frame, the id the CALLERROR must carry, the codes it may have, sent as a binary frame)
    ('[2,"h-1",["Reset"],{}]', "h-1", FRAMING, False),
    (DEEP, "-1", FRAMING, False),
    ('[2,"h-4","Reset",{"type":"Sideways"}]', "h-4", {"PropertyConstraintViolation"}, False),
    ('[2,"h-5","Reset",{"type":1}]', "h-5", {"TypeConstraintViolation"}, False),
    ('[2,"h-6","Reset",{}]', "h-6", {"OccurrenceConstraintViolation"}, False),
    ('[2,"h-7","Reset",{"type":"Immediate","extra":1}]', "h-7", {FORMAT}, False),
    ('[2,"h-8","GetVariables",[]]', "h-8", {FORMAT}, False),
    (f'[0,"h-9","GetVariables",{_GET}]', "h-9", {MESSAGE_TYPE}, False),
    (f'[5,"h-10","GetVariables",{_GET}]', "h-10", {MESSAGE_TYPE}, False),
    (f'["2","h-11","GetVariables",{_GET}]', "h-11", {RPC}, False),
    (f'[2.5,"h-12","GetVariables",{_GET}]', "h-12", {RPC}, False),
    (f'[2,4711,"GetVariables",{_GET}]', "-1", {RPC}, False),
    (f'[2,"{"h" * 37}","GetVariables",{_GET}]', "h" * 37, {RPC}, False),
    ('[2,"h-15","GetBaseReport",{"requestId":9223372036854775808,"reportBase":"SummaryInventory"}]', "h-15",
     {"PropertyConstraintViolation"}, False),
    ('[2,"h-16","RequestStartTransaction",{"idToken":{"idToken":"A","type":"ISO14443"},"remoteStartId":1,'
     '"evseId":18446744073709551616}]', "h-16", {"PropertyConstraintViolation"}, False),
    ('[2,"h-17","RequestStartTransaction",{"idToken":{"idToken":"A","type":"ISO14443"},"remoteStartId":1,'
     '"chargingProfile":{"id":1,"stackLevel":0,"chargingProfilePurpose":"TxProfile","chargingProfileKind":"Absolute",'
     '"validFrom":"9999-99-99T00:00:00Z","chargingSchedule":[{"id":1,"chargingRateUnit":"A",'
     '"chargingSchedulePeriod":[{"startPeriod":0,"limit":6}]}]}}]', "h-17", {"PropertyConstraintViolation"}, False),
    ('[2,"h-18","MakeCoffee",{}]', "h-18", {"NotImplemented"}, False),
    ('[2,"h-19","RemoteStopTransaction",{"transactionId":1}]', "h-19", {"NotImplemented"}, False),  # 1.6 only
    (f'[2,"h-20","TransactionEvent",{_EVENT}]', "h-20", {"NotSupported"}, False),  # the other direction
    ('[2,"h-21","Reset",{"type":NaN}]', "-1", FRAMING, False),  # NaN is not JSON
    ('[2,"h-22","RequestStopTransaction",{"transactionId":"x"}]', "h-22", FRAMING, True),  # binary: never acted on
    ('[2,"h-23","GetVariables",{"getVariableData":[{"component":{"name":"OCPPCommCtrlr","evse":{"id":1e400}},'
     '"variable":{"name":"HeartbeatInterval"}}]}]', "h-23", FRAMING | {"PropertyConstraintViolation"}, False),
]


async def assert_same_link_201(stack: Stack, since: int) -> None:
    """No disconnection, no new boot, the same process, and it still answers GetVariables."""
    assert await connections(stack, since) == []
    assert await messages(stack, "BootNotification", since) == []
    assert stack.agent_process is not None and stack.agent_process.running
    answer = await call(stack, "GetVariables", json.loads(_GET))
    assert answer["getVariableResult"][0]["attributeStatus"] == "Accepted", answer


async def test_hostile_frames_over_201_are_answered_on_the_same_connection_and_lose_no_transaction(charger):
    stack = await charger(backend={"ocpp": "2.0.1"})
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid="0B5711E1")
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
    wrong = []
    for frame, unique_id, codes, binary in HOSTILE_201:
        reply = (await stack.csms.request("send_raw", cp=stack.cp_id, frame=frame, timeout=5, binary=binary,
                                          any_id=True))["reply"]
        if not (isinstance(reply, list) and len(reply) == 5 and reply[:2] == [4, unique_id] and reply[2] in codes
                and isinstance(reply[3], str) and reply[4] == {}):
            wrong.append((frame[:80], reply if len(str(reply)) < 300 else str(reply)[:300]))
    assert wrong == []
    await assert_same_link_201(stack, since)
    # The session that charged through all of it is one complete transaction.
    await stack.bench_request("wait_for", connector=1, field="energy_wh", value=2, op="ge", timeout=15)
    await stack.bench_request("unplug", connector=1)
    for _ in range(150):
        booked = await ledger(stack)
        if booked and booked[0]["stopped"]:
            break
        await asyncio.sleep(0.1)
    assert len(booked) == 1 and booked[0]["stopped"] and booked[0]["id_tag"] == "0B5711E1", booked
    assert booked[0]["seq_nos"] == list(range(len(booked[0]["seq_nos"]))), booked[0]["seq_nos"]
    assert booked[0]["energy_wh"] > 0 and booked[0]["reason"] == "EVDisconnected"
    assert (await stack.csms.request("ledger", cp=stack.cp_id))["anomalies"] == []
    # Nothing was acted on: no remote start (the connector's only transaction is the card's).
    assert [e for e in booked if e.get("remote_start_id") is not None] == []


async def test_garbage_answers_over_201_to_the_chargers_own_calls_do_not_drop_the_link(charger):
    stack = await charger(backend={"ocpp": "2.0.1"})
    since = await last_seq(stack)
    garbage = ['[4,"$ID","BogusCode","",{}]', '[4,"$ID",42,"",{}]', '[3,"$ID",{"currentTime":17}]',
               '[3,"$ID",[]]', '[4,"$ID"]', '[3,"someone-else",{"currentTime":"2026-01-01T00:00:00Z"}]']
    await stack.csms.request("answer_raw", cp=stack.cp_id, action="Heartbeat", frames=garbage)
    for n in range(len(garbage)):
        answer = await call(stack, "TriggerMessage", {"requestedMessage": "Heartbeat"})
        assert answer == {"status": "Accepted"}
        for _ in range(150):
            if len(await messages(stack, "Heartbeat", since)) > n:
                break
            await asyncio.sleep(0.1)
        assert len(await messages(stack, "Heartbeat", since)) == n + 1
    await assert_same_link_201(stack, since)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_triggered_message_left_unanswered_does_not_drop_the_link(charger, version):
    """The backend answers the charger's triggered StatusNotification with something that
    is no answer at all (not JSON): the call times out (call_timeout, 10 s here) and fails;
    the link, which answers everything else, stays up."""
    backend = {"ocpp": version} if version != "1.6" else {}
    stack = await charger(backend=backend)
    since = await last_seq(stack)
    await stack.csms.request("answer_raw", cp=stack.cp_id, action="StatusNotification", frames=["not json"])
    trigger = {"requestedMessage": "StatusNotification", "connectorId": 1} if version == "1.6" else \
        {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}}
    assert await call(stack, "TriggerMessage", trigger) == {"status": "Accepted"}
    for _ in range(100):  # (the test CSMS's wait_for counts only CALLs it answered well)
        if await messages(stack, "StatusNotification", since):
            break
        await asyncio.sleep(0.1)
    assert len(await messages(stack, "StatusNotification", since)) == 1
    await asyncio.sleep(12)  # past the call timeout of the unanswered StatusNotification
    assert await connections(stack, since) == []
    assert stack.agent_process is not None and stack.agent_process.running
