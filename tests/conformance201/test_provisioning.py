"""OCPP 2.0.1 block B (Provisioning) as the OCA test tool runs it against a charging
station, and P's customData case: B01-B03 boot Rejected, B04 statuses after an outage,
B05/B06 Get/SetVariables with several values and bad input, B07 the full inventory and
the device model variables a station must report, B08 custom reports, B11/B12 what a reset keeps and when
an OnIdle reset waits, Part 4's reconnection back-off.

Written from the case list (`shared/OCPP201-TESTCASES.md`), OCPP 2.0.1 Parts 2 and 4 and
the OCTT steps; B_01, 02, 04, 06, 09, 12, 14, 20-22, 28, 32-34 and 39 are in
`test_sessions.py`, `test_reset_and_boot.py` and `test_faults_and_offline.py`. Each test
ends with no schema violation in anything the charger sent."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any


from agent.store import iso
from tests.conformance.helpers import all_frames, expect_none, new_id_tag, wait_rebooted
from tests.conformance201.helpers import (
    V201,
    call,
    last_seq,
    messages,
    schema_violations,
    wait_connector,
    wait_event,
    wait_for,
)


def _variable(component: str, variable: str, evse: dict[str, int] | None = None, instance: str | None = None,
              **extra: Any) -> dict[str, Any]:
    comp: dict[str, Any] = {"name": component}
    if evse is not None:
        comp["evse"] = evse
    var: dict[str, Any] = {"name": variable}
    if instance is not None:
        var["instance"] = instance
    return {"component": comp, "variable": var, **extra}


async def _get(stack: Any, *wanted: dict[str, Any]) -> list[dict[str, Any]]:
    answer = await call(stack, "GetVariables", {"getVariableData": list(wanted)})
    assert "error" not in answer, answer
    return list(answer["getVariableResult"])


async def _set(stack: Any, *data: dict[str, Any]) -> list[dict[str, Any]]:
    answer = await call(stack, "SetVariables", {"setVariableData": list(data)})
    assert "error" not in answer, answer
    return list(answer["setVariableResult"])


async def _statuses(stack: Any, since: int) -> list[tuple[int, int, str]]:
    return [(m["payload"]["evseId"], m["payload"]["connectorId"], m["payload"]["connectorStatus"])
            for m in await messages(stack, "StatusNotification", since)]


async def _boot_reason(stack: Any, since: int) -> str:
    return str((await messages(stack, "BootNotification", since))[0]["payload"]["reason"])


async def test_tc_b_03_cs_cold_boot_rejected(charger, csms) -> None:  # type: ignore[no-untyped-def]
    interval = 2
    await csms.request("set_boot", status="Rejected", interval=interval)
    stack = await charger(backend=V201, boot=False)
    await wait_for(stack, "BootNotification", count=2, timeout=20)
    await csms.request("set_boot", status="Accepted", interval=300)
    await wait_connector(stack, 1, "Available", timeout=20)
    frames = await all_frames(stack)
    calls = [f for f in frames if f["direction"] == "in" and f["type"] == "CALL"]
    boots = [f for f in calls if f["action"] == "BootNotification"]
    accepted = next(f for f in frames if f["direction"] == "out" and f["action"] == "BootNotification"
                    and f["type"] == "CALLRESULT" and f["payload"]["status"] == "Accepted")
    # B03.FR.02: nothing but BootNotification until one is Accepted.
    assert all(f["action"] == "BootNotification" for f in calls if f["seq"] < accepted["seq"])
    # Each retry no sooner than the interval of the Rejected answer before it.
    answers = {f["unique_id"]: f for f in frames if f["direction"] == "out" and f["action"] == "BootNotification"}
    for earlier, later in zip(boots, boots[1:]):
        answer = answers[earlier["unique_id"]]
        if answer["payload"]["status"] == "Rejected":
            assert later["received_at"] - answer["received_at"] >= interval, (earlier, later)
    # Once Accepted: the state of every connector (TC_B_03_CS step 5).
    assert (1, 1, "Available") in await _statuses(stack, accepted["seq"])
    assert await schema_violations(stack) == []


async def test_tc_b_07_cs_get_variables_multiple_values(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"ConnectionTimeOut": 45, "OCPPCommCtrlr.OfflineThreshold": 70})
    wanted = [
        _variable("OCPPCommCtrlr", "HeartbeatInterval"),
        _variable("OCPPCommCtrlr", "OfflineThreshold", attributeType="Actual"),
        _variable("TxCtrlr", "EVConnectionTimeOut"),
        _variable("AuthCtrlr", "AuthorizeRemoteStart"),
        _variable("EVSE", "AvailabilityState", evse={"id": 1}),
    ]
    results = await _get(stack, *wanted)
    assert len(results) == len(wanted)
    for asked, result in zip(wanted, results):  # each answered, naming what was asked
        assert result["attributeStatus"] == "Accepted", result
        assert result["component"]["name"] == asked["component"]["name"]
        assert result["variable"]["name"] == asked["variable"]["name"]
        assert result.get("attributeType", "Actual") == "Actual"
    assert [r["attributeValue"] for r in results] == ["300", "70", "45", "false", "Available"]
    assert await schema_violations(stack) == []


async def test_tc_b_10_cs_set_variables_multiple_values(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    results = await _set(
        stack,
        _variable("OCPPCommCtrlr", "OfflineThreshold", attributeValue="123"),
        _variable("TxCtrlr", "EVConnectionTimeOut", attributeValue="77", attributeType="Actual"),
        _variable("AuthCtrlr", "LocalPreAuthorize", attributeValue="true"),
    )
    assert [r["attributeStatus"] for r in results] == ["Accepted"] * 3
    assert [(r["component"]["name"], r["variable"]["name"]) for r in results] == [
        ("OCPPCommCtrlr", "OfflineThreshold"), ("TxCtrlr", "EVConnectionTimeOut"), ("AuthCtrlr", "LocalPreAuthorize")]
    got = await _get(stack, _variable("OCPPCommCtrlr", "OfflineThreshold"), _variable("TxCtrlr", "EVConnectionTimeOut"),
                     _variable("AuthCtrlr", "LocalPreAuthorize"))
    assert [r["attributeValue"] for r in got] == ["123", "77", "true"]
    assert await schema_violations(stack) == []


async def test_tc_b_11_cs_set_variables_invalidly_formatted_values(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    before = [r["attributeValue"] for r in await _get(
        stack, _variable("OCPPCommCtrlr", "OfflineThreshold"), _variable("AuthCtrlr", "LocalPreAuthorize"),
        _variable("OCPPCommCtrlr", "HeartbeatInterval"), _variable("TxCtrlr", "TxStopPoint"))]
    results = await _set(
        stack,
        _variable("OCPPCommCtrlr", "OfflineThreshold", attributeValue="abc"),  # not an integer
        _variable("AuthCtrlr", "LocalPreAuthorize", attributeValue="maybe"),  # not a boolean
        _variable("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="1.5"),  # not a whole number
        _variable("TxCtrlr", "TxStopPoint", attributeValue="Sometimes"),  # not a member of its list
    )
    assert [r["attributeStatus"] for r in results] == ["Rejected"] * 4
    after = [r["attributeValue"] for r in await _get(
        stack, _variable("OCPPCommCtrlr", "OfflineThreshold"), _variable("AuthCtrlr", "LocalPreAuthorize"),
        _variable("OCPPCommCtrlr", "HeartbeatInterval"), _variable("TxCtrlr", "TxStopPoint"))]
    assert after == before  # nothing was changed
    assert await schema_violations(stack) == []


async def test_tc_b_35_cs_b_36_cs_and_b_37_cs_set_variables_unknown_and_unsupported(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    results = await _set(
        stack,
        _variable("UnknownComponent", "OfflineThreshold", attributeValue="100"),  # TC_B_35_CS
        _variable("OCPPCommCtrlr", "UnknownVariable", attributeValue="100"),  # TC_B_36_CS
        _variable("OCPPCommCtrlr", "OfflineThreshold", attributeValue="100", attributeType="Target"),  # TC_B_37_CS
    )
    assert [r["attributeStatus"] for r in results] == ["UnknownComponent", "UnknownVariable", "NotSupportedAttributeType"]
    assert [(r["component"]["name"], r["variable"]["name"]) for r in results] == [
        ("UnknownComponent", "OfflineThreshold"), ("OCPPCommCtrlr", "UnknownVariable"),
        ("OCPPCommCtrlr", "OfflineThreshold")]
    assert results[2].get("attributeType") == "Target"
    assert (await _get(stack, _variable("OCPPCommCtrlr", "OfflineThreshold")))[0]["attributeValue"] != "100"
    assert await schema_violations(stack) == []


async def _full_inventory(stack: Any, request_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """GetBaseReport FullInventory: (the NotifyReport pages, every reportData in them)."""
    since = await last_seq(stack)
    answer = await call(stack, "GetBaseReport", {"requestId": request_id, "reportBase": "FullInventory"})
    assert answer["status"] == "Accepted"
    assert answer.get("statusInfo", {}).get("reasonCode", "NoError") == "NoError"
    pages = await wait_for(stack, "NotifyReport", since=since, timeout=10)
    while pages[-1].get("tbc"):
        pages = await wait_for(stack, "NotifyReport", count=len(pages) + 1, since=since, timeout=10)
    return pages, [d for p in pages for d in p.get("reportData", [])]


def _key(data: dict[str, Any]) -> tuple[str, int | None, int | None, str, str | None]:
    evse = data["component"].get("evse", {})
    return (data["component"]["name"], evse.get("id"), evse.get("connectorId"), data["variable"]["name"],
            data["variable"].get("instance"))


#: The variables OCPP 2.0.1 Part 2 ("Referenced Components and Variables") marks required for
#: a station with the Core controllers, as (component, evse, connector, variable, instance);
#: EVSE and Connector ones for every EVSE of a two-EVSE station (one connector each).
REQUIRED: list[tuple[str, int | None, int | None, str, str | None]] = [
    ("ChargingStation", None, None, "AvailabilityState", None),
    ("ChargingStation", None, None, "Available", None),
    *[(c, e, n, v, None) for e in (1, 2)
      for c, n in (("EVSE", None), ("Connector", 1)) for v in ("AvailabilityState", "Available")],
    ("OCPPCommCtrlr", None, None, "FileTransferProtocols", None),
    ("OCPPCommCtrlr", None, None, "MessageTimeout", "Default"),
    ("OCPPCommCtrlr", None, None, "MessageAttemptInterval", "TransactionEvent"),
    ("OCPPCommCtrlr", None, None, "MessageAttempts", "TransactionEvent"),
    ("OCPPCommCtrlr", None, None, "NetworkConfigurationPriority", None),
    ("OCPPCommCtrlr", None, None, "NetworkProfileConnectionAttempts", None),
    ("OCPPCommCtrlr", None, None, "OfflineThreshold", None),
    ("OCPPCommCtrlr", None, None, "ResetRetries", None),
    ("OCPPCommCtrlr", None, None, "RetryBackOffRandomRange", None),
    ("OCPPCommCtrlr", None, None, "RetryBackOffRepeatTimes", None),
    ("OCPPCommCtrlr", None, None, "RetryBackOffWaitMinimum", None),
    ("OCPPCommCtrlr", None, None, "UnlockOnEVSideDisconnect", None),
    ("OCPPCommCtrlr", None, None, "WebSocketPingInterval", None),
    ("TxCtrlr", None, None, "EVConnectionTimeOut", None),
    ("TxCtrlr", None, None, "StopTxOnEVSideDisconnect", None),
    ("TxCtrlr", None, None, "StopTxOnInvalidId", None),
    ("TxCtrlr", None, None, "TxStartPoint", None),
    ("TxCtrlr", None, None, "TxStopPoint", None),
    ("DeviceDataCtrlr", None, None, "ItemsPerMessage", "GetReport"),
    ("DeviceDataCtrlr", None, None, "ItemsPerMessage", "GetVariables"),
    ("DeviceDataCtrlr", None, None, "BytesPerMessage", "GetReport"),
    ("DeviceDataCtrlr", None, None, "BytesPerMessage", "GetVariables"),
    ("ClockCtrlr", None, None, "DateTime", None),
    ("ClockCtrlr", None, None, "TimeSource", None),
    ("SecurityCtrlr", None, None, "CertificateEntries", None),
    ("SecurityCtrlr", None, None, "OrganizationName", None),
    ("SecurityCtrlr", None, None, "SecurityProfile", None),
    ("SampledDataCtrlr", None, None, "TxEndedMeasurands", None),
    ("SampledDataCtrlr", None, None, "TxEndedInterval", None),
    ("SampledDataCtrlr", None, None, "TxStartedMeasurands", None),
    ("SampledDataCtrlr", None, None, "TxUpdatedMeasurands", None),
    ("SampledDataCtrlr", None, None, "TxUpdatedInterval", None),
    ("AlignedDataCtrlr", None, None, "Interval", None),
    ("AlignedDataCtrlr", None, None, "Measurands", None),
    ("AlignedDataCtrlr", None, None, "TxEndedInterval", None),
    ("AlignedDataCtrlr", None, None, "TxEndedMeasurands", None),
    ("AuthCtrlr", None, None, "AuthorizeRemoteStart", None),
    ("AuthCtrlr", None, None, "LocalAuthorizeOffline", None),
    ("AuthCtrlr", None, None, "LocalPreAuthorize", None),
]


async def test_tc_b_13_cs_and_b_53_cs_full_inventory_with_the_mandatory_variables(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    pages, data = await _full_inventory(stack, 53)
    # TC_B_13_CS: the report's pages are numbered from 0, carry the request's id and a time,
    # and the last one says no more follow.
    assert [p["seqNo"] for p in pages] == list(range(len(pages)))
    assert all(p["requestId"] == 53 and p["generatedAt"] for p in pages)
    assert not pages[-1].get("tbc", False)
    keys = [_key(d) for d in data]
    assert len(keys) == len(set(keys)), "a variable reported twice"
    for d in data:  # every entry with at least one attribute, each of a known type
        assert d["variableAttribute"], d
        assert all(a.get("type", "Actual") in ("Actual", "Target", "MinSet", "MaxSet") for a in d["variableAttribute"])
    # Every variable with its characteristics; a list type with the values it takes.
    assert [_key(d) for d in data if "variableCharacteristics" not in d] == []
    lists = [d for d in data if d["variableCharacteristics"]["dataType"] in ("OptionList", "SequenceList", "MemberList")]
    assert lists and [_key(d) for d in lists if not d["variableCharacteristics"].get("valuesList")] == []
    mutabilities = {a.get("mutability", "ReadWrite") for d in data for a in d["variableAttribute"]}
    assert {"ReadOnly", "ReadWrite"} <= mutabilities  # the full inventory, not only what can be set
    # TC_B_53_CS: at least every required variable of the Core controllers is reported.
    missing = [k for k in REQUIRED if k not in set(keys)]
    assert missing == [], missing
    assert await schema_violations(stack) == []


async def test_tc_b_23_cs_unavailable_persists_a_reset(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    since = await last_seq(stack)
    answer = await call(stack, "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}})
    assert answer["status"] == "Accepted"
    await wait_connector(stack, 1, "Unavailable", since)
    since = await last_seq(stack)
    assert (await call(stack, "Reset", {"type": "OnIdle"}))["status"] == "Accepted"
    boot = await wait_rebooted(stack, since)
    assert await _boot_reason(stack, since) == "RemoteReset"
    assert sorted(await _statuses(stack, boot)) == [(1, 1, "Unavailable"), (2, 1, "Available")]
    assert await schema_violations(stack) == []


async def test_tc_b_24_cs_reserved_persists_a_reset(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    since = await last_seq(stack)
    tag = new_id_tag()
    expiry = iso(datetime.now(timezone.utc) + timedelta(minutes=10))
    answer = await call(stack, "ReserveNow", {"id": 24, "expiryDateTime": expiry, "evseId": 1,
                                              "idToken": {"idToken": tag, "type": "ISO14443"}})
    assert answer["status"] == "Accepted"
    await wait_connector(stack, 1, "Reserved", since)
    since = await last_seq(stack)
    assert (await call(stack, "Reset", {"type": "OnIdle"}))["status"] == "Accepted"
    boot = await wait_rebooted(stack, since)
    assert await _boot_reason(stack, since) == "RemoteReset"
    assert sorted(await _statuses(stack, boot)) == [(1, 1, "Reserved"), (2, 1, "Available")]
    # The reservation is still the one made: its holder starts on EVSE 1 with it.
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=tag)
    started = await wait_event(stack, "Started", since)
    assert started["evse"]["id"] == 1 and started.get("reservationId") == 24
    assert await schema_violations(stack) == []


async def test_tc_b_41_cs_reset_on_idle_with_multiple_ongoing_transactions(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    tags = {}
    for connector in (1, 2):
        since = await last_seq(stack)
        tags[connector] = new_id_tag()
        await stack.bench_request("plug", connector=connector, max_current=16)
        await wait_connector(stack, connector, "Occupied", since)
        await stack.bench_request("tap", uid=tags[connector])
        await wait_event(stack, "Started", since)
    since = await last_seq(stack)
    assert (await call(stack, "Reset", {"type": "OnIdle"}))["status"] == "Scheduled"
    await stack.bench_request("tap", uid=tags[1])  # the first transaction ends ...
    first = await wait_event(stack, "Ended", since)
    assert first["transactionInfo"]["stoppedReason"] == "Local"
    await expect_none(stack, "BootNotification", since, within=2.0)  # ... the other still runs: no reset
    await stack.bench_request("tap", uid=tags[2])  # the last one ends: now the station is idle
    boot = await wait_rebooted(stack, since)
    assert await _boot_reason(stack, since) == "RemoteReset"
    ended = [m for m in await messages(stack, "TransactionEvent", since) if m["payload"]["eventType"] == "Ended"]
    assert len(ended) == 2 and all(m["seq"] < boot for m in ended)
    assert all(m["payload"]["transactionInfo"]["stoppedReason"] == "Local" for m in ended)
    assert await schema_violations(stack) == []


async def _offline(stack: Any, csms: Any) -> None:
    """The backend closes the connection and refuses the charger's reconnection attempts."""
    await csms.request("refuse", cp=stack.cp_id, status=404)
    await csms.request("disconnect", cp=stack.cp_id)


async def test_tc_b_51_cs_status_change_offline_longer_than_the_threshold(charger, csms) -> None:  # type: ignore[no-untyped-def]
    threshold = 2
    stack = await charger(connectors=2, backend=V201, ocpp={"OCPPCommCtrlr.OfflineThreshold": threshold})
    since = await last_seq(stack)
    await _offline(stack, csms)
    await stack.bench_request("plug", connector=2, max_current=16)  # while offline
    await asyncio.sleep(threshold + 2)  # longer offline than OfflineThreshold
    await csms.request("refuse", cp=stack.cp_id, status=None)
    await wait_connector(stack, 2, "Occupied", since, timeout=20)
    await wait_connector(stack, 1, "Available", since, timeout=5)
    # B04.FR.01: every connector's status, the changed one and the unchanged one.
    assert sorted(set(await _statuses(stack, since))) == [(1, 1, "Available"), (2, 1, "Occupied")]
    assert await schema_violations(stack) == []


async def test_tc_b_52_cs_status_change_offline_shorter_than_the_threshold(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201, ocpp={"OCPPCommCtrlr.OfflineThreshold": 60})
    since = await last_seq(stack)
    await _offline(stack, csms)
    await stack.bench_request("plug", connector=2, max_current=16)  # while offline
    await stack.bench_request("wait_for", connector=2, field="pilot", value="B", timeout=10)
    await asyncio.sleep(1.5)  # let the charger see it
    await csms.request("refuse", cp=stack.cp_id, status=None)
    told = await wait_connector(stack, 2, "Occupied", since, timeout=20)
    await expect_none(stack, "StatusNotification", told, within=1.5)
    # B04.FR.02: only the connector whose status changed.
    assert await _statuses(stack, since) == [(2, 1, "Occupied")]
    assert await schema_violations(stack) == []


async def _event_after(stack: Any, kind: str, since: int, timeout: float = 30.0) -> dict[str, Any]:
    """The first connection event (connected, disconnected, rejected) after ``since``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for frame in await all_frames(stack, since):
            if frame["direction"] == "event" and frame["type"] == kind:
                return frame
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {kind} event after seq {since}\n{stack.agent_log()}")
        await asyncio.sleep(0.1)


async def test_tc_b_57_cs_network_reconnection_after_connection_loss(charger, csms) -> None:  # type: ignore[no-untyped-def]
    # The backoff is set in the TOML ([backend] reconnect_initial/max, shared with 1.6); the
    # device model reports it read-only as RetryBackOffWaitMinimum and friends.
    stack = await charger(backend={**V201, "reconnect_initial": 3.0, "reconnect_max": 7.0})
    got = await call(stack, "GetVariables", {"getVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": name}}
        for name in ("RetryBackOffWaitMinimum", "RetryBackOffRepeatTimes", "RetryBackOffRandomRange")]})
    reported = {r["variable"]["name"]: int(r["attributeValue"]) for r in got["getVariableResult"]}
    assert reported == {"RetryBackOffWaitMinimum": 3, "RetryBackOffRepeatTimes": 1, "RetryBackOffRandomRange": 2}
    wait_minimum = reported["RetryBackOffWaitMinimum"]
    since = await last_seq(stack)
    await csms.request("disconnect", cp=stack.cp_id)  # step 1
    lost = await _event_after(stack, "disconnected", since)
    back = await _event_after(stack, "connected", lost["seq"])
    # Step 2: the first attempt no sooner than RetryBackOffWaitMinimum.
    assert back["received_at"] - lost["received_at"] >= wait_minimum
    await csms.request("refuse", cp=stack.cp_id, status=404)  # step 6: the next attempt is turned away
    await csms.request("disconnect", cp=stack.cp_id)  # step 4
    lost = await _event_after(stack, "disconnected", back["seq"])
    refused = await _event_after(stack, "rejected", lost["seq"])
    await csms.request("refuse", cp=stack.cp_id, status=None)
    back = await _event_after(stack, "connected", refused["seq"])
    assert refused["received_at"] - lost["received_at"] >= wait_minimum  # step 5
    assert back["received_at"] - refused["received_at"] >= 2 * wait_minimum  # step 7: doubled
    # A reconnection is not a reboot: no new BootNotification.
    assert len(await messages(stack, "BootNotification")) == 1
    assert await schema_violations(stack) == []


async def test_tc_p_04_cs_custom_data_in_a_charging_profile(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    custom = {"vendorId": "com.example", "note": "kept or ignored, never refused"}
    profile = {
        "id": 4, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
        "customData": custom,
        "chargingSchedule": [{
            "id": 40, "chargingRateUnit": "A", "startSchedule": iso(datetime.now(timezone.utc)), "customData": custom,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "customData": custom}],
        }],
    }
    answer = await call(stack, "SetChargingProfile", {"evseId": 1, "chargingProfile": profile, "customData": custom})
    assert answer == {"status": "Accepted"}, answer
    since = await last_seq(stack)
    asked = await call(stack, "GetChargingProfiles", {"requestId": 4, "chargingProfile": {"chargingProfileId": [4]}})
    assert asked["status"] == "Accepted"
    reported = (await wait_for(stack, "ReportChargingProfiles", since=since, timeout=10))[0]
    assert [p["id"] for p in reported["chargingProfile"]] == [4]
    assert await schema_violations(stack) == []


async def _custom_report(stack: Any, request_id: int, **criteria: Any) -> tuple[str, list[dict[str, Any]]]:
    """GetReport: (its status, every reportData of the NotifyReport pages that followed)."""
    since = await last_seq(stack)
    answer = await call(stack, "GetReport", {"requestId": request_id, **criteria})
    assert "error" not in answer, answer
    if answer["status"] != "Accepted":
        await expect_none(stack, "NotifyReport", since, within=1.0)  # nothing to report, nothing sent
        return str(answer["status"]), []
    pages = await wait_for(stack, "NotifyReport", since=since, timeout=10)
    while pages[-1].get("tbc"):
        pages = await wait_for(stack, "NotifyReport", count=len(pages) + 1, since=since, timeout=10)
    assert [p["seqNo"] for p in pages] == list(range(len(pages)))
    assert all(p["requestId"] == request_id for p in pages)
    return "Accepted", [d for p in pages for d in p.get("reportData", [])]


def _component_key(data: dict[str, Any]) -> tuple[str, int | None, int | None]:
    evse = data["component"].get("evse", {})
    return data["component"]["name"], evse.get("id"), evse.get("connectorId")


def _actual(data: dict[str, Any]) -> str | None:
    return next((a.get("value") for a in data["variableAttribute"] if a.get("type", "Actual") == "Actual"), None)


async def test_tc_b_16_to_b_19_and_b_54_to_b_56_cs_get_custom_reports(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    _, full = await _full_inventory(stack, 1)
    by_key = {_key(d): d for d in full}
    # TC_B_16_CS: componentCriteria Available: every component whose Available is true, all of its
    # variables, and nothing of any other component.
    available = {_component_key(d) for d in full if d["variable"]["name"] == "Available" and _actual(d) == "true"}
    assert {("ChargingStation", None, None), ("EVSE", 1, None), ("Connector", 2, 1)} <= available
    status, data = await _custom_report(stack, 16, componentCriteria=["Available"])
    assert status == "Accepted"
    assert {_component_key(d) for d in data} == available
    assert {_key(d) for d in data} == {k for k in by_key if k[:3] in available}
    # TC_B_17_CS: one component/variable: that variable only, as the full inventory has it.
    status, data = await _custom_report(stack, 17, componentVariable=[
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}])
    assert status == "Accepted"
    assert [_key(d) for d in data] == [("OCPPCommCtrlr", None, None, "HeartbeatInterval", None)]
    assert _actual(data[0]) == "300"
    # TC_B_18_CS: criteria and component/variable together: the pairs whose component matches.
    status, data = await _custom_report(stack, 18, componentCriteria=["Available"], componentVariable=[
        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "AvailabilityState"}},
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}])
    assert status == "Accepted"
    assert [_key(d) for d in data] == [("EVSE", 1, None, "AvailabilityState", None)]  # OCPPCommCtrlr has no Available
    # TC_B_19_CS: a component the station does not have: EmptyResultSet, no report.
    status, _ = await _custom_report(stack, 19, componentVariable=[{"component": {"name": "UnknownComponent"}}])
    assert status == "EmptyResultSet"
    # TC_B_54_CS: a variable with instances, asked without one: every instance.
    status, data = await _custom_report(stack, 54, componentVariable=[
        {"component": {"name": "DeviceDataCtrlr"}, "variable": {"name": "ItemsPerMessage"}}])
    assert status == "Accepted"
    assert {_key(d) for d in data} == {k for k in by_key if k[0] == "DeviceDataCtrlr" and k[3] == "ItemsPerMessage"}
    assert {k[4] for k in map(_key, data)} >= {"GetReport", "GetVariables"}
    # TC_B_55_CS: with the instance: that one only.
    status, data = await _custom_report(stack, 55, componentVariable=[
        {"component": {"name": "DeviceDataCtrlr"}, "variable": {"name": "ItemsPerMessage", "instance": "GetVariables"}}])
    assert status == "Accepted"
    assert [_key(d) for d in data] == [("DeviceDataCtrlr", None, None, "ItemsPerMessage", "GetVariables")]
    # TC_B_56_CS: an EVSE component asked without an evseId: that variable of every EVSE.
    status, data = await _custom_report(stack, 56, componentVariable=[
        {"component": {"name": "EVSE"}, "variable": {"name": "AvailabilityState"}}])
    assert status == "Accepted"
    assert sorted(_key(d) for d in data) == [("EVSE", 1, None, "AvailabilityState", None),
                                             ("EVSE", 2, None, "AvailabilityState", None)]
    assert await schema_violations(stack) == []
