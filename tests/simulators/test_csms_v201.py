"""The test CSMS serving OCPP 2.0.1: a real process, a real websocket offering ``ocpp2.0.1``,
frames written by hand, answers held against the official 2.0.1 schemas."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import fastjsonschema
import ocpp
import pytest
from websockets.asyncio.client import ClientConnection, connect

from simulators.control import ControlClient, ControlError
from simulators.csms.ledger import CALL, Frame
from simulators.csms.server import Csms
from simulators.csms.v201 import CALLABLE, HANDLERS, Responder201
from tests.simulators.test_csms import (  # noqa: F401 (fixtures)
    TIMESTAMP,
    CsmsProcess,
    at,
    csms,
    ctl,
    start_csms,
)

SCHEMAS = Path(ocpp.__file__).parent / "v201" / "schemas"
BOOT = {"reason": "PowerUp", "chargingStation": {"model": "Probe", "vendorName": "Ladda"}}


def schema_problem(action: str, kind: str, payload: dict[str, Any]) -> str | None:
    """The official schema's verdict, read here independently of the CSMS's own check."""
    schema = json.loads((SCHEMAS / f"{action}{kind}.json").read_text(encoding="utf-8-sig"))
    try:
        fastjsonschema.compile(schema, use_default=False)(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        return exc.message
    return None


class Station:
    """A 2.0.1 charging station reduced to frames: send a CALL, read what answers it."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.sent = 0

    async def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        self.sent += 1
        unique_id = f"{action[:8]}-{self.sent}"
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        reply = json.loads(await asyncio.wait_for(self.ws.recv(), 5))
        assert reply[1] == unique_id
        return list(reply)

    async def result(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload of a CALLRESULT, checked against the official response schema."""
        reply = await self.call(action, payload)
        assert reply[0] == 3, reply
        assert schema_problem(action, "Response", reply[2]) is None
        return dict(reply[2])

    async def answer_next(self, payload: dict[str, Any]) -> list[Any]:
        """Read the CSMS's next CALL, answer it with ``payload``; return the CALL."""
        request = json.loads(await asyncio.wait_for(self.ws.recv(), 5))
        await self.ws.send(json.dumps([3, request[1], payload]))
        return list(request)


@contextlib.asynccontextmanager
async def station(
    csms: CsmsProcess, cp_id: str = "CS-1", offer: tuple[str, ...] = ("ocpp2.0.1",)
) -> AsyncIterator[Station]:
    async with connect(csms.url(cp_id), subprotocols=list(offer)) as ws:  # type: ignore[arg-type]
        yield Station(ws)


def event(
    kind: str, seq: int, when: str, trigger: str = "Authorized", tx: str = "TX-1", **more: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "eventType": kind, "timestamp": at(when), "triggerReason": trigger, "seqNo": seq,
        "transactionInfo": {"transactionId": tx},
    }
    payload.update(more)
    return payload


def register(value: float, context: str, when: str, unit: str = "Wh") -> dict[str, Any]:
    sample = {"value": value, "context": context, "measurand": "Energy.Active.Import.Register",
              "unitOfMeasure": {"unit": unit}}
    return {"timestamp": at(when), "sampledValue": [sample]}


async def test_the_subprotocol_is_chosen_from_the_offer_preferring_201(
    csms: CsmsProcess, ctl: ControlClient
) -> None:
    async with station(csms, "CS-BOTH", ("ocpp1.6", "ocpp2.0.1")) as both:
        async with station(csms, "CP-OLD", ("ocpp1.6",)) as old:
            chosen = (both.ws.subprotocol, old.ws.subprotocol)
            booted = await both.result("BootNotification", BOOT)
            await old.ws.send('[2,"b-1","BootNotification",{"chargePointModel":"M","chargePointVendor":"V"}]')
            old_reply = json.loads(await asyncio.wait_for(old.ws.recv(), 5))
            status = await ctl.request("status")
    events = (await ctl.request("messages", cp="CS-BOTH", direction=["event"]))["messages"]

    assert chosen == ("ocpp2.0.1", "ocpp1.6")
    assert booted["status"] == "Accepted" and TIMESTAMP.match(booted["currentTime"])
    assert old_reply[2]["status"] == "Accepted"
    assert status["versions"] == {"CS-BOTH": "2.0.1", "CP-OLD": "1.6"}
    assert status["schema_violations"] == {"CS-BOTH": 0, "CP-OLD": 0}
    assert events[0]["payload"]["subprotocol"] == "ocpp2.0.1"


async def test_boot_is_accepted_or_pending_as_the_policy_says(
    start_csms: Any,
) -> None:
    csms = start_csms("--heartbeat-interval", "42")
    ctl = ControlClient(csms.control)
    try:
        async with station(csms) as cs:
            accepted = await cs.result("BootNotification", BOOT)
            await ctl.request("set_boot", status="Pending", interval=7)
            pending = await cs.result("BootNotification", BOOT)
            heartbeat = await cs.result("Heartbeat", {})
            status = await ctl.request("status")
    finally:
        await ctl.close()

    assert (accepted["status"], accepted["interval"]) == ("Accepted", 42)
    assert (pending["status"], pending["interval"]) == ("Pending", 7)
    assert TIMESTAMP.match(heartbeat["currentTime"])
    assert status["charge_points"] == [{"id": "CS-1", "connected": True, "boot_status": "Pending"}]


async def test_authorize_answers_from_the_id_token_table(csms: CsmsProcess, ctl: ControlClient) -> None:
    long_token = "T" * 36
    await ctl.request("set_id_tag", id_tag=long_token, status="NoCredit", group_id_token="GROUP-1",
                      cache_expiry_date_time=at("12:00"), personal_message="Top up first")
    await ctl.request("set_id_tag", id_tag="OLD16", status="Blocked", parent_id_tag="FLEET",
                      expiry_date=at("13:00"))
    await ctl.request("set_id_tag", id_tag="FREE", status="Blocked")
    with pytest.raises(ControlError, match="status must be one of Accepted, .*Unknown"):
        await ctl.request("set_id_tag", id_tag="X", status="Maybe")
    async with station(csms) as cs:
        answers = [
            (await cs.result("Authorize", {"idToken": {"idToken": token, "type": kind}}))["idTokenInfo"]
            for token, kind in [(long_token, "ISO14443"), ("OLD16", "Central"), ("NEW", "KeyCode"),
                                ("FREE", "NoAuthorization")]
        ]

    assert answers == [
        {"status": "NoCredit", "cacheExpiryDateTime": at("12:00"),
         "groupIdToken": {"idToken": "GROUP-1", "type": "Central"},
         "personalMessage": {"format": "UTF8", "content": "Top up first"}},
        {"status": "Blocked", "cacheExpiryDateTime": at("13:00"),
         "groupIdToken": {"idToken": "FLEET", "type": "Central"}},
        {"status": "Accepted"},
        {"status": "Accepted"},
    ]


async def test_a_transaction_is_booked_from_started_updated_and_ended(
    csms: CsmsProcess, ctl: ControlClient
) -> None:
    await ctl.request("set_id_tag", id_tag="CARD-1", status="Accepted", personal_message="Hi")
    token = {"idToken": "CARD-1", "type": "ISO14443"}
    started = event("Started", 0, "10:00", evse={"id": 1, "connectorId": 1}, idToken=token,
                    meterValue=[register(1.5, "Transaction.Begin", "10:00", unit="kWh")],
                    transactionInfo={"transactionId": "TX-1", "chargingState": "Charging",
                                     "remoteStartId": 7})
    periodic = register(2500, "Sample.Periodic", "10:15")
    updated = event("Updated", 1, "10:15", "MeterValuePeriodic", meterValue=[periodic], offline=True)
    ended = event("Ended", 2, "10:30", "StopAuthorized", idToken=token,
                  meterValue=[register(4500, "Transaction.End", "10:30")],
                  transactionInfo={"transactionId": "TX-1", "stoppedReason": "EVDisconnected"})
    async with station(csms) as cs:
        await cs.result("BootNotification", BOOT)
        answers = [await cs.result("TransactionEvent", e) for e in (started, updated, ended)]
        ledger = await ctl.request("ledger", cp="CS-1")

    assert answers == [
        {"idTokenInfo": {"status": "Accepted", "personalMessage": {"format": "UTF8", "content": "Hi"}}},
        {},
        {"idTokenInfo": {"status": "Accepted", "personalMessage": {"format": "UTF8", "content": "Hi"}}},
    ]
    assert ledger["anomalies"] == []
    assert ledger["transactions"] == [{
        "charge_point": "CS-1",
        "ocpp_version": "2.0.1",
        "transaction_id": "TX-1",
        "evse_id": 1,
        "connector_id": 1,
        "id_tag": "CARD-1",
        "start_time": at("10:00"),
        "meter_start": 1500,
        "reservation_id": None,
        "stopped": True,
        "stop_time": at("10:30"),
        "meter_stop": 4500,
        "reason": "EVDisconnected",
        "meter_values": [*started["meterValue"], periodic, *ended["meterValue"]],
        "energy_wh": 3000,
        "seq_nos": [0, 1, 2],
        "events": [
            {"eventType": "Started", "triggerReason": "Authorized", "chargingState": "Charging",
             "offline": False, "seqNo": 0, "timestamp": at("10:00")},
            {"eventType": "Updated", "triggerReason": "MeterValuePeriodic", "chargingState": None,
             "offline": True, "seqNo": 1, "timestamp": at("10:15")},
            {"eventType": "Ended", "triggerReason": "StopAuthorized", "chargingState": None,
             "offline": False, "seqNo": 2, "timestamp": at("10:30")},
        ],
        "remote_start_id": 7,
        "offline_events": 1,
    }]


async def test_a_seqno_gap_a_resend_and_a_conflict_are_anomalies(
    csms: CsmsProcess, ctl: ControlClient
) -> None:
    gap = event("Updated", 2, "10:10", "MeterValuePeriodic", meterValue=[register(2000, "Sample.Periodic", "10:10")])
    conflict = event("Updated", 2, "10:11", "ChargingStateChanged")
    async with station(csms) as cs:
        await cs.result("TransactionEvent", event("Started", 0, "10:00"))
        await cs.result("TransactionEvent", gap)
        await cs.result("TransactionEvent", gap)  # the same message again: at-least-once delivery
        await cs.result("TransactionEvent", conflict)
        await cs.result("TransactionEvent", conflict)
        ledger = await ctl.request("ledger")

    (tx,) = ledger["transactions"]
    assert [(a["kind"], a["transaction_id"], a["payload"]) for a in ledger["anomalies"]] == [
        ("seq_gap", "TX-1", gap), ("resend", "TX-1", gap), ("seq_conflict", "TX-1", conflict),
        ("resend", "TX-1", conflict),
    ]
    assert "1 never did" in ledger["anomalies"][0]["detail"]
    assert tx["seq_nos"] == [0, 2, 2]
    assert tx["meter_values"] == gap["meterValue"]  # booked once, not twice
    assert [e["triggerReason"] for e in tx["events"]] == ["Authorized", "MeterValuePeriodic", "ChargingStateChanged"]


async def test_events_out_of_order_are_anomalies(csms: CsmsProcess, ctl: ControlClient) -> None:
    async with station(csms) as cs:
        # TX-A: never Started; Ended without a reading; Started afterwards; an event after Ended.
        await cs.result("TransactionEvent", event("Ended", 0, "09:00", tx="TX-A"))
        await cs.result("TransactionEvent", event("Started", 1, "08:00", tx="TX-A"))
        await cs.result("TransactionEvent", event("Updated", 2, "09:05", tx="TX-A"))
        # TX-B: a second Started; a timestamp going backwards.
        await cs.result("TransactionEvent", event("Started", 0, "10:00", tx="TX-B"))
        await cs.result("TransactionEvent", event("Started", 1, "10:01", tx="TX-B"))
        await cs.result("TransactionEvent", event("Updated", 2, "09:59", tx="TX-B"))
        ledger = await ctl.request("ledger", cp="CS-1")

    assert [(a["kind"], a["transaction_id"]) for a in ledger["anomalies"]] == [
        ("unknown_transaction", "TX-A"), ("no_meter_stop", "TX-A"),
        ("time_backwards", "TX-A"), ("start_after_end", "TX-A"),
        ("after_end", "TX-A"),
        ("duplicate_start", "TX-B"), ("time_backwards", "TX-B"),
    ]
    tx_a, tx_b = ledger["transactions"]
    assert (tx_a["start_time"], tx_a["stop_time"], tx_a["meter_stop"], tx_a["energy_wh"]) == (
        at("08:00"), at("09:00"), None, None)
    assert (tx_b["start_time"], tx_b["stopped"]) == (at("10:00"), False)


async def test_a_schema_invalid_call_is_counted_and_answered_with_a_callerror(
    csms: CsmsProcess, ctl: ControlClient
) -> None:
    bad_calls = [
        ("Authorize", {"idToken": {"idToken": "X", "type": "Bogus"}}, "PropertyConstraintViolation"),
        ("Authorize", {}, "OccurrenceConstraintViolation"),
        ("Heartbeat", {"extra": 1}, "FormatViolation"),
        ("TransactionEvent", {**event("Started", "0", "10:00")}, "TypeConstraintViolation"),  # type: ignore[arg-type]
    ]
    async with station(csms) as cs:
        replies = [await cs.call(action, payload) for action, payload, _ in bad_calls]
        not_ours = await cs.call("Reset", {"type": "Immediate"})
        unknown = await cs.call("Teleport", {})
        await cs.ws.send('[2,"broken-1","Heartbeat"]')
        broken = json.loads(await asyncio.wait_for(cs.ws.recv(), 5))
        status = await ctl.request("status")
        listed = (await ctl.request("schema_violations", cp="CS-1"))["schema_violations"]
        log = (await ctl.request("messages", cp="CS-1", action="Authorize", direction=["in"]))["messages"]
        ledger = await ctl.request("ledger", cp="CS-1")

    assert [(r[0], r[2]) for r in replies] == [(4, code) for _, _, code in bad_calls]
    assert replies[0][4] == {"rule": "enum", "field": "idToken.type"}
    assert (not_ours[2], unknown[2], broken[2]) == ("NotSupported", "NotImplemented", "RpcFrameworkError")
    assert status["schema_violations"] == {"CS-1": 4}
    assert [(v["action"], v["type"], v["rule"], v["field"], v["unique_id"]) for v in listed] == [
        ("Authorize", "CALL", "enum", "idToken.type", replies[0][1]),
        ("Authorize", "CALL", "required", "", replies[1][1]),
        ("Heartbeat", "CALL", "additionalProperties", "", replies[2][1]),
        ("TransactionEvent", "CALL", "type", "seqNo", replies[3][1]),
    ]
    assert log[0]["schema_violation"]["error_code"] == "PropertyConstraintViolation"
    assert ledger["transactions"] == []  # an invalid TransactionEvent books nothing


async def test_call_sends_get_variables_and_validates_both_ways(
    csms: CsmsProcess, ctl: ControlClient
) -> None:
    request = {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}
    answer = {"getVariableResult": [{"attributeStatus": "Accepted", "attributeValue": "42",
                                     "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}
    async with station(csms) as cs:
        pending = asyncio.ensure_future(ctl.request("call", cp="CS-1", action="GetVariables", payload=request))
        seen = await cs.answer_next(answer)
        reply = await pending
        with pytest.raises(ControlError, match="not a valid OCPP 2.0.1 GetVariables payload"):
            await ctl.request("call", cp="CS-1", action="GetVariables", payload={"getVariableData": []})
        with pytest.raises(ControlError, match="'GetConfiguration' is not an OCPP 2.0.1 action a CSMS sends"):
            await ctl.request("call", cp="CS-1", action="GetConfiguration", payload={})
        status = await ctl.request("status")

    assert seen[2:] == ["GetVariables", request]
    assert reply == {"ok": True, "result": answer}
    assert status["schema_violations"] == {"CS-1": 0}
    assert {"GetVariables", "SetVariables", "RequestStartTransaction", "Reset", "DataTransfer"} <= CALLABLE
    assert "BootNotification" not in CALLABLE


async def test_an_invalid_callresult_is_counted(csms: CsmsProcess, ctl: ControlClient) -> None:
    async with station(csms) as cs:
        pending = asyncio.ensure_future(
            ctl.request("call", cp="CS-1", action="Reset", payload={"type": "Immediate"}))
        await cs.answer_next({"status": "Maybe"})
        reply = await pending
        listed = (await ctl.request("schema_violations", cp="CS-1"))["schema_violations"]
        status = await ctl.request("status")

    assert reply["result"] == {"status": "Maybe"}
    assert "not a valid OCPP 2.0.1 Reset payload" in reply["schema_error"]
    assert status["schema_violations"] == {"CS-1": 1}
    assert [(v["type"], v["action"], v["rule"], v["field"], v["version"]) for v in listed] == [
        ("CALLRESULT", "Reset", "enum", "status", "2.0.1"),
    ]


async def test_a_16_call_that_fails_its_schema_is_counted_and_answered_as_before(
    csms: CsmsProcess, ctl: ControlClient
) -> None:
    async with station(csms, "CP-16", ("ocpp1.6",)) as cp:
        reply = await cp.call("StartTransaction", {"connectorId": 1})
        listed = (await ctl.request("schema_violations", cp="CP-16"))["schema_violations"]

    assert reply[0] == 4 and reply[2] == "ProtocolError"  # the library's answer, unchanged
    assert [(v["action"], v["rule"], v["error_code"], v["version"]) for v in listed] == [
        ("StartTransaction", "required", "ProtocolError", "1.6"),
    ]


def test_every_station_to_csms_action_is_answered_schema_valid() -> None:
    """The actions OCPP 2.0.1 lets a charging station send, each answered validly (the
    answers that read the request are checked end to end above)."""
    assert set(HANDLERS) == {
        "Authorize", "BootNotification", "ClearedChargingLimit", "DataTransfer",
        "FirmwareStatusNotification", "Get15118EVCertificate", "GetCertificateStatus",
        "Heartbeat", "LogStatusNotification", "MeterValues", "NotifyChargingLimit",
        "NotifyCustomerInformation", "NotifyDisplayMessages", "NotifyEVChargingNeeds",
        "NotifyEVChargingSchedule", "NotifyEvent", "NotifyMonitoringReport", "NotifyReport",
        "PublishFirmwareStatusNotification", "ReportChargingProfiles", "ReservationStatusUpdate",
        "SecurityEventNotification", "SignCertificate", "StatusNotification", "TransactionEvent",
    }
    responder = Responder201("CS-1", None, Csms())  # type: ignore[arg-type]
    for action, handler in HANDLERS.items():
        if action in {"Authorize", "TransactionEvent"}:
            continue
        answer = handler(responder, Frame(CALL, "u-1", action, {}))
        assert schema_problem(action, "Response", answer) is None, action
