"""Core modules 07, 09, 13 and the remote trigger, cache and data-transfer cases (TC_017_2,
TC_031, TC_071, TC_007_1, TC_061_2, TC_062, TC_054, TC_055), plus robustness against malformed
frames and what the agent's log may contain."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta

import pytest

from simulators.harness import Stack

from .helpers import (
    actions,
    all_frames,
    call_checked,
    get_configuration,
    last_seq,
    messages,
    plug_and_charge,
    send_raw_frame,
    wait_for,
    wait_rebooted,
    wait_status,
)

OCPP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:(\d\d)\.(\d{3})Z$")


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def assert_still_serving(stack: Stack, since: int) -> None:
    """The agent answers a normal request, and it did not restart to do so."""
    known, _ = await get_configuration(stack, ["NumberOfConnectors"])
    assert known["NumberOfConnectors"]["value"] == str(stack.connectors)
    assert stack.agent_process is not None and stack.agent_process.running
    assert await messages(stack, "BootNotification", since) == []


# ---------------------------------------------------------------- unlock


async def test_tc_017_2_unlock_connector_fixed_cable(charger):
    stack = await charger(connectors=2)
    since = await last_seq(stack)
    assert await call_checked(stack, "UnlockConnector", {"connectorId": 1}) == {"status": "NotSupported"}
    assert await call_checked(stack, "UnlockConnector", {"connectorId": 2}) == {"status": "NotSupported"}
    # Nothing else happens: no transaction message, no status change.
    assert [m["action"] for m in await messages(stack, since=since) if m["action"] != "Heartbeat"] == []


async def test_tc_031_unlock_unknown_connector(charger):
    stack = await charger(connectors=2)
    assert await call_checked(stack, "UnlockConnector", {"connectorId": 3}) == {"status": "NotSupported"}
    assert await call_checked(stack, "UnlockConnector", {"connectorId": 99}) == {"status": "NotSupported"}


# ---------------------------------------------------------------- meter values


async def test_tc_071_clock_aligned_meter_values(charger):
    measurands = {"Energy.Active.Import.Register", "Power.Active.Import"}
    stack = await charger(
        connectors=2,
        ocpp={"ClockAlignedDataInterval": 2, "MeterValuesAlignedData": ",".join(sorted(measurands))},
    )
    since = await last_seq(stack)
    await wait_for(stack, "MeterValues", count=4, since=since, timeout=10)
    received = await messages(stack, "MeterValues", since)
    boundaries: dict[str, set[int]] = {}
    for message in received:
        payload = message["payload"]
        assert payload["connectorId"] in (1, 2)
        assert "transactionId" not in payload  # no transaction is running
        assert len(payload["meterValue"]) == 1
        value = payload["meterValue"][0]
        stamp = value["timestamp"]
        match = OCPP_TIME.match(stamp)
        assert match, f"timestamp {stamp!r} is not UTC with milliseconds"
        seconds, millis = int(match.group(1)), match.group(2)
        assert millis == "000" and seconds % 2 == 0, f"{stamp} is not on a 2-second boundary"
        # Stamped with the boundary just passed, not an older or a later one. Sent once
        # durable: at an interval shorter than [state] sample_sync_seconds (5 s), up to that
        # much later (agent/journal.py).
        lag = _parse(message["time"]) - _parse(stamp)
        assert timedelta(0) <= lag < timedelta(seconds=2 + 5), f"sent at {message['time']} for boundary {stamp}"
        assert {v["context"] for v in value["sampledValue"]} == {"Sample.Clock"}
        assert {v["measurand"] for v in value["sampledValue"]} == measurands
        boundaries.setdefault(stamp, set()).add(payload["connectorId"])
    # Every boundary reports every connector, once.
    complete = [stamp for stamp, connectors in boundaries.items() if connectors == {1, 2}]
    assert len(complete) >= 1, boundaries
    assert len(received) == sum(len(c) for c in boundaries.values()), "a connector was reported twice for one boundary"


# ---------------------------------------------------------------- cache and data transfer


async def _cached_session(stack: Stack, id_tag: str) -> tuple[int, list[str]]:
    """One charging session with ``id_tag``: (how many Authorize it took, actions sent)."""
    since = await last_seq(stack)
    await plug_and_charge(stack, connector=1, id_tag=id_tag)
    await stack.bench_request("unplug", connector=1)
    await wait_for(stack, "StopTransaction", since=since)
    await wait_status(stack, 1, "Available", since)
    return len(await messages(stack, "Authorize", since)), await actions(stack, since)


async def test_tc_007_1_regular_start_charging_session_cached_id(charger):
    # With LocalPreAuthorize a cached, Accepted idTag starts at once, without Authorize.
    stack = await charger(connectors=1, ocpp={"LocalPreAuthorize": True, "AuthorizationCacheEnabled": True})
    assert (await _cached_session(stack, "04C1EA11"))[0] == 1  # first time: the backend is asked
    authorizes, sent = await _cached_session(stack, "04C1EA11")
    assert authorizes == 0
    assert sent[:3] == ["StatusNotification:1:Preparing", "StartTransaction", "StatusNotification:1:Charging"]


async def test_tc_061_2_clear_authorization_cache_remote(charger):
    # The cache is visible from the backend's side through LocalPreAuthorize.
    stack = await charger(connectors=1, ocpp={"LocalPreAuthorize": True})
    id_tag = "04C1EA12"
    assert (await _cached_session(stack, id_tag))[0] == 1
    assert (await _cached_session(stack, id_tag))[0] == 0  # cached
    assert await call_checked(stack, "ClearCache", {}) == {"status": "Accepted"}
    assert (await _cached_session(stack, id_tag))[0] == 1  # the cache was emptied


async def test_tc_062_data_transfer_unknown_vendor_id(charger):
    stack = await charger()
    reply = await call_checked(
        stack, "DataTransfer", {"vendorId": "com.example.nobody", "messageId": "Hello", "data": "{}"}
    )
    assert reply == {"status": "UnknownVendorId"}


# ---------------------------------------------------------------- remote trigger


async def trigger(stack: Stack, message: str, connector: int | None = None) -> tuple[str, int]:
    """TriggerMessage; return its status and the seq of the CALLRESULT that carried it."""
    since = await last_seq(stack)
    payload: dict[str, object] = {"requestedMessage": message}
    if connector is not None:
        payload["connectorId"] = connector
    result = await call_checked(stack, "TriggerMessage", payload)
    assert "error" not in result, f"TriggerMessage {message} answered {result}"
    answered = [
        f["seq"]
        for f in await all_frames(stack, since)
        if f["direction"] == "in" and f["type"] == "CALLRESULT" and f["action"] == "TriggerMessage"
    ]
    assert len(answered) == 1
    return str(result["status"]), answered[0]


async def test_tc_054_trigger_message(charger):
    stack = await charger(connectors=2)
    start = await last_seq(stack)

    status, answered = await trigger(stack, "Heartbeat")
    assert status == "Accepted"
    await wait_for(stack, "Heartbeat", since=answered)

    status, answered = await trigger(stack, "StatusNotification", 1)
    assert status == "Accepted"
    sent = await wait_for(stack, "StatusNotification", since=answered)
    assert sent[0]["connectorId"] == 1
    assert sent[0]["status"] == "Available"

    status, answered = await trigger(stack, "MeterValues", 1)
    assert status == "Accepted"
    sent = await wait_for(stack, "MeterValues", since=answered)
    assert sent[0]["connectorId"] == 1
    values = sent[0]["meterValue"][0]["sampledValue"]
    assert values and {v["context"] for v in values} == {"Trigger"}
    assert "Energy.Active.Import.Register" in {v.get("measurand", "Energy.Active.Import.Register") for v in values}

    status, answered = await trigger(stack, "BootNotification")
    assert status == "Accepted"
    boot = (await wait_for(stack, "BootNotification", since=answered))[0]
    assert boot["chargePointVendor"] == "Ladda"

    # Each message was sent once, after its trigger was answered, and only for the connector asked for.
    assert await actions(stack, start, ignore=()) == [
        "Heartbeat",
        "StatusNotification:1:Available",
        "MeterValues",
        "BootNotification",
    ]
    await assert_still_serving(stack, await last_seq(stack))


async def test_tc_055_trigger_message_rejected(charger):
    stack = await charger(connectors=2)
    since = await last_seq(stack)
    assert (await trigger(stack, "StatusNotification", 3))[0] == "Rejected"
    assert (await trigger(stack, "MeterValues", 7))[0] == "Rejected"
    # Triggered messages go out in order, so once a later accepted trigger has been
    # served, nothing from the rejected ones can still come.
    status, answered = await trigger(stack, "Heartbeat")
    assert status == "Accepted"
    await wait_for(stack, "Heartbeat", since=answered)
    assert [m["action"] for m in await messages(stack, since=since) if m["action"] != "Heartbeat"] == []


# ---------------------------------------------------------------- malformed frames

SCHEMA_ERRORS = {"FormationViolation", "ProtocolError", "OccurenceConstraintViolation"}
FRAME_ERRORS = {"FormationViolation", "ProtocolError"}

MALFORMED = [
    # (case, frame, unique id expected in the answer, allowed error codes)
    ("missing-required-field", '[2,"mf-1","RemoteStartTransaction",{"connectorId":1}]', "mf-1", SCHEMA_ERRORS),
    ("wrong-type", '[2,"mf-2","UnlockConnector",{"connectorId":"one"}]', "mf-2", {"TypeConstraintViolation"}),
    ("unknown-property", '[2,"mf-3","ClearCache",{"everything":true}]', "mf-3", {"FormationViolation"}),
    (
        "value-not-in-enum",
        '[2,"mf-4","ChangeAvailability",{"connectorId":1,"type":"Sideways"}]',
        "mf-4",
        {"PropertyConstraintViolation", "FormationViolation"},
    ),
    # OCPP-J 1.6, 4.2.3: NotImplemented = "Requested Action is not known by receiver",
    # NotSupported = "Requested Action is recognized but not supported by the receiver".
    ("unknown-action", '[2,"mf-5","MakeCoffee",{"sugar":2}]', "mf-5", {"NotImplemented"}),
    ("known-unsupported-action", '[2,"mf-6","Heartbeat",{}]', "mf-6",
     {"NotSupported"}),
    ("call-without-payload", '[2,"mf-7","GetConfiguration"]', "mf-7", FRAME_ERRORS),
    # Nothing to answer to: the answer uses the unique id "-1".
    ("invalid-json", '[2,"mf-8","GetConfiguration",{', "-1", FRAME_ERRORS),
    ("not-an-array", '{"action":"GetConfiguration"}', "-1", FRAME_ERRORS),
]


@pytest.mark.parametrize(("frame", "unique_id", "codes"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
async def test_malformed_frame_gets_call_error(charger, frame: str, unique_id: str, codes: set[str]):
    stack = await charger(connectors=1)
    since = await last_seq(stack)
    reply = await send_raw_frame(stack, frame)
    assert isinstance(reply, list) and len(reply) == 5, f"not a CALLERROR: {reply!r}"
    assert reply[0] == 4 and reply[1] == unique_id, f"not a CALLERROR for {unique_id}: {reply!r}"
    assert reply[2] in codes, f"error code {reply[2]!r}, expected one of {sorted(codes)}: {reply!r}"
    assert isinstance(reply[3], str) and isinstance(reply[4], dict)
    await assert_still_serving(stack, since)
    # A malformed request is not carried out in part.
    assert await messages(stack, "StatusNotification", since) == []


async def test_stray_results_are_ignored(charger):
    stack = await charger()
    since = await last_seq(stack)
    for frame in ('[3,"nobody-asked",{"status":"Accepted"}]', '[4,"nobody-asked-either","GenericError","",{}]'):
        await stack.csms.request("send_raw", cp=stack.cp_id, frame=frame, expect_reply=False)
    await assert_still_serving(stack, since)
    answers = [f for f in await all_frames(stack, since) if f["direction"] == "in" and f["type"] != "CALL"]
    assert all(f["action"] == "GetConfiguration" for f in answers), f"a stray result was answered: {answers}"


# ---------------------------------------------------------------- logging


async def test_agent_log_is_json_lines_without_authorization_key(charger):
    secret = "Ladda-S3cret-Key-4f9"
    stack = await charger(connectors=1)
    # Restart with HTTP Basic authentication and the most verbose level.
    since = await last_seq(stack)
    await stack.stop_agent()
    text = stack.config_path.read_text()
    text = text.replace("[backend]\n", f'[backend]\nauthorization_key = "{secret}"\n', 1)
    text = text.replace('level = "info"', 'level = "debug"', 1)
    stack.config_path.write_text(text)
    await stack.start_agent()
    await wait_rebooted(stack, since)
    # The key is really used: the backend saw HTTP Basic with the charge point id as user.
    connected = [m for m in await all_frames(stack, since) if m["type"] == "connected"]
    assert connected and connected[-1]["payload"]["basic_auth_user"] == stack.cp_id
    # Some traffic worth logging: a configuration change and a charging session.
    await call_checked(stack, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"})
    await plug_and_charge(stack, connector=1)
    await stack.stop_agent()

    log = (stack.workdir / "agent.log").read_text()
    token = base64.b64encode(f"{stack.cp_id}:{secret}".encode()).decode()
    assert secret not in log, "the authorization key is in the log"
    assert token not in log, "the Basic authentication token is in the log"
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) > 10
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
        assert isinstance(record, dict) and {"event", "level", "timestamp"} <= set(record), line
