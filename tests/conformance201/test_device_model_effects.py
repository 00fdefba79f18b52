"""What the device model says is what the charger does: a writable variable changes
behaviour (set it, then watch the charger), and a fault the events name shows in
GetVariables and the SummaryInventory on the same component. The table of every writable
variable and the test that shows it is ``tests/ocpp201/test_writable_variables.py``."""

from __future__ import annotations

from typing import Any

from tests.conformance.helpers import new_id_tag
from tests.conformance201.helpers import V201, call, last_seq, schema_violations, wait_connector, wait_event, wait_for
from tests.conformance201.test_sessions import _report
from tests.conformance201.test_smart_charging import profile, refused


async def _set(stack: Any, component: str, variable: str, value: str) -> None:
    answer = await call(stack, "SetVariables", {"setVariableData": [
        {"component": {"name": component}, "variable": {"name": variable}, "attributeValue": value}]})
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted", answer


async def test_tc_j_07_cs_the_started_event_carries_the_tx_started_measurands(charger) -> None:  # type: ignore[no-untyped-def]
    """TxStartedMeasurands, not TxEndedMeasurands (1.6's StopTxnSampledData), names the
    Started event's values."""
    stack = await charger(backend=V201)
    await _set(stack, "SampledDataCtrlr", "TxStartedMeasurands", "Energy.Active.Import.Register,Voltage")
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=new_id_tag())
    started = await wait_event(stack, "Started", since)
    [begin] = started["meterValue"]
    measurands = {v.get("measurand", "Energy.Active.Import.Register") for v in begin["sampledValue"]}
    assert measurands == {"Energy.Active.Import.Register", "Voltage"}, begin
    assert {v["context"] for v in begin["sampledValue"]} == {"Transaction.Begin"}
    assert await schema_violations(stack) == []


async def test_smart_charging_ctrlr_enabled_false_refuses_profiles(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    await _set(stack, "SmartChargingCtrlr", "Enabled", "false")
    await refused(stack, 1, profile(70, "TxDefaultProfile"), "NotEnabled")
    await _set(stack, "SmartChargingCtrlr", "Enabled", "true")
    answer = await call(stack, "SetChargingProfile", {"evseId": 1, "chargingProfile": profile(70, "TxDefaultProfile")})
    assert answer["status"] == "Accepted", answer
    assert await schema_violations(stack) == []


def _where(component: dict[str, Any]) -> tuple[str, int | None]:
    return component["name"], (component.get("evse") or {}).get("id")


async def test_tc_b_14_cs_a_faulted_evse_shows_where_its_event_says(charger) -> None:  # type: ignore[no-untyped-def]
    """EVSE 2's meter fails: the NotifyEvent names FiscalMetering on EVSE 2, and GetVariables
    and the SummaryInventory report that component's Problem (and the EVSE's and the
    station's) true, nothing on EVSE 1."""
    stack = await charger(connectors=2, backend=V201)
    since = await last_seq(stack)
    await stack.bench_request("meter_silent", connector=2, silent=True)
    await wait_connector(stack, 2, "Faulted", since, timeout=12)
    raised = (await wait_for(stack, "NotifyEvent", since=since, timeout=5))[0]["eventData"][0]
    component = raised["component"]
    assert _where(component) == ("FiscalMetering", 2)
    asked = [{"component": component, "variable": {"name": "Problem"}},
             {"component": {"name": "FiscalMetering", "evse": {"id": 1, "connectorId": 1}}, "variable": {"name": "Problem"}},
             {"component": {"name": "EVSE", "evse": {"id": 2}}, "variable": {"name": "Problem"}},
             {"component": {"name": "ChargingStation"}, "variable": {"name": "Problem"}}]
    got = (await call(stack, "GetVariables", {"getVariableData": asked}))["getVariableResult"]
    assert [(r["attributeStatus"], r.get("attributeValue")) for r in got] == [
        ("Accepted", "true"), ("Accepted", "false"), ("Accepted", "true"), ("Accepted", "true")]
    summary = await _report(stack, "SummaryInventory", 21)
    problems = {_where(d["component"]) for d in summary if d["variable"]["name"] == "Problem"}
    assert problems == {("FiscalMetering", 2), ("EVSE", 2), ("ChargingStation", None)}
    await stack.bench_request("meter_silent", connector=2, silent=False)
    await wait_connector(stack, 2, "Available", since, timeout=15)
    summary = await _report(stack, "SummaryInventory", 22)
    assert not [d for d in summary if d["variable"]["name"] == "Problem"]
    assert await schema_violations(stack) == []
