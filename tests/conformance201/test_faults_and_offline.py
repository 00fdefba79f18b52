"""Faults and outages as a 2.0.1 backend sees them: a failed meter is Faulted and a
NotifyEvent on the metering component (cleared when it answers again); after a short
outage only what changed is told, after a long one everything (B04); what happened
offline reaches the backend with ``offline`` true and its own time."""

from __future__ import annotations

import asyncio
import signal

from tests.conformance.helpers import new_id_tag, wait_rebooted
from tests.conformance201.helpers import (
    V201,
    call,
    events,
    last_seq,
    messages,
    schema_violations,
    wait_connector,
    wait_event,
    wait_for,
)


async def test_a_failed_meter_is_faulted_and_an_event_on_the_fiscal_meter(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=new_id_tag())
    await wait_event(stack, "Started", since)
    await stack.bench_request("meter_silent", connector=1, silent=True)
    await wait_connector(stack, 1, "Faulted", since, timeout=12)
    raised = (await wait_for(stack, "NotifyEvent", since=since, timeout=5))[0]["eventData"][0]
    assert raised["component"] == {"name": "FiscalMetering", "evse": {"id": 1, "connectorId": 1}}
    assert (raised["variable"], raised["actualValue"], raised["techCode"]) == (
        {"name": "Problem"}, "true", "PowerMeterFailure")
    await stack.bench_request("meter_silent", connector=1, silent=False)
    await wait_connector(stack, 1, "Occupied", since, timeout=10)
    both = await wait_for(stack, "NotifyEvent", count=2, since=since, timeout=10)
    cleared = both[1]["eventData"][0]
    assert (cleared["actualValue"], cleared.get("cleared")) == ("false", True)
    assert [e["eventType"] for e in await events(stack, since)].count("Ended") == 0  # the session is kept
    assert await schema_violations(stack) == []


async def test_tc_b_04_after_a_short_outage_only_changes_are_told(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201)
    since = await last_seq(stack)
    await csms.request("disconnect", cp=stack.cp_id)
    await stack.bench_request("plug", connector=2, max_current=16)  # while the link is down
    await wait_connector(stack, 2, "Occupied", since, timeout=15)
    told = [(m["payload"]["evseId"], m["payload"]["connectorStatus"])
            for m in await messages(stack, "StatusNotification", since)]
    assert told == [(2, "Occupied")], told  # EVSE 1 did not change: not told again
    assert await schema_violations(stack) == []


async def test_tc_b_04_after_a_long_outage_every_status_is_told(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(connectors=2, backend=V201, ocpp={"OCPPCommCtrlr.OfflineThreshold": 0})
    since = await last_seq(stack)
    await csms.request("disconnect", cp=stack.cp_id)
    await wait_for(stack, "StatusNotification", count=2, since=since, timeout=15)
    told = sorted(m["payload"]["evseId"] for m in await messages(stack, "StatusNotification", since))
    assert told == [1, 2]


async def test_a_transaction_ended_offline_is_told_with_the_offline_flag(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"AllowOfflineTxForUnknownId": True})  # C15: unknown ids charge offline
    since = await last_seq(stack)
    await csms.request("refuse", cp=stack.cp_id, status=404)
    await csms.request("disconnect", cp=stack.cp_id)
    tag = new_id_tag()
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=tag)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
    await stack.bench_request("unplug", connector=1)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=15)
    await csms.request("refuse", cp=stack.cp_id, status=None)
    ended = await wait_event(stack, "Ended", since, timeout=20)
    tx = ended["transactionInfo"]["transactionId"]
    mine = [e for e in await events(stack, since) if e["transactionInfo"]["transactionId"] == tx]
    assert [e["eventType"] for e in mine][0] == "Started" and mine[-1]["eventType"] == "Ended"
    assert all(e.get("offline") is True for e in mine), [(e["eventType"], e.get("offline")) for e in mine]
    assert [e["seqNo"] for e in mine] == list(range(len(mine)))
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    status = await call(stack, "GetTransactionStatus", {"transactionId": tx})
    assert status == {"messagesInQueue": False, "ongoingIndicator": False}
    assert await schema_violations(stack) == []


async def _raise_meter_fault(stack) -> dict:  # type: ignore[no-untyped-def]
    """Silence EVSE 1's meter until the backend hears FiscalMetering's Problem raised."""
    since = await last_seq(stack)
    await stack.bench_request("meter_silent", connector=1, silent=True)
    await wait_connector(stack, 1, "Faulted", since, timeout=12)
    raised = (await wait_for(stack, "NotifyEvent", since=since, timeout=5))[0]["eventData"][0]
    assert (raised["component"]["name"], raised["actualValue"]) == ("FiscalMetering", "true")
    return raised


def _told(notify: list[dict]) -> list[tuple[str, str, int]]:  # type: ignore[type-arg]
    return [(d["component"]["name"], d["actualValue"], d["eventId"]) for m in notify for d in m["payload"]["eventData"]]


async def test_a_fault_cleared_during_a_long_outage_is_told_cleared(charger, csms) -> None:  # type: ignore[no-untyped-def]
    """B04 re-tells every status after an outage longer than OfflineThreshold, but the
    backend still holds the Problem raised before it: its clear is told, with a new eventId."""
    stack = await charger(backend=V201, ocpp={"OCPPCommCtrlr.OfflineThreshold": 0})
    since = await last_seq(stack)
    raised = await _raise_meter_fault(stack)
    await csms.request("refuse", cp=stack.cp_id, status=404)
    await csms.request("disconnect", cp=stack.cp_id)
    await stack.bench_request("meter_silent", connector=1, silent=False)  # repaired while offline
    await asyncio.sleep(6)  # the charger sees its meter again while the link is down
    back = await last_seq(stack)
    await csms.request("refuse", cp=stack.cp_id, status=None)
    await wait_connector(stack, 1, "Available", back, timeout=30)
    cleared = (await wait_for(stack, "NotifyEvent", since=back, timeout=10))[0]["eventData"][0]
    assert (cleared["component"], cleared["actualValue"], cleared.get("cleared")) == (
        raised["component"], "false", True)
    assert cleared["eventId"] > raised["eventId"]  # the count goes on across the outage
    assert _told(await messages(stack, "NotifyEvent", since)) == [
        ("FiscalMetering", "true", raised["eventId"]), ("FiscalMetering", "false", cleared["eventId"])]
    assert await schema_violations(stack) == []


async def test_a_fault_cleared_across_a_restart_is_told_cleared(charger) -> None:  # type: ignore[no-untyped-def]
    """A Problem raised before a restart is cleared after it when the fault is gone, and the
    eventIds of the new run go on from the last run's."""
    stack = await charger(backend=V201)
    raised = await _raise_meter_fault(stack)
    stopped = await last_seq(stack)
    await stack.stop_agent(signal.SIGTERM)
    await stack.bench_request("meter_silent", connector=1, silent=False)  # repaired while the agent is down
    await stack.start_agent()
    boot = await wait_rebooted(stack, stopped, timeout=30)
    cleared = (await wait_for(stack, "NotifyEvent", since=boot, timeout=10))[0]["eventData"][0]
    assert (cleared["component"], cleared["actualValue"], cleared.get("cleared")) == (
        raised["component"], "false", True)
    assert cleared["eventId"] > raised["eventId"]
    assert await schema_violations(stack) == []
