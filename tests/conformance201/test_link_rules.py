"""OCPP 2.0.1 rules of the link itself: what a Pending charger may send (B02.FR.09), a
triggered boot (F06.FR.17), a TransactionEvent the CSMS leaves unanswered (E13), report
pages across a dropped link, and the boot reason across restarts."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from simulators.harness import Stack
from tests.conformance.helpers import all_frames, new_id_tag, restart_agent_and_wait, wait_rebooted
from tests.conformance201.helpers import V201, call, last_seq, ledger, messages, schema_violations, wait_event, wait_for


async def connections(stack: Stack, since: int) -> list[dict[str, Any]]:
    """The CSMS's connection events (opened, closed) after ``since``: none on a steady link."""
    return [f for f in await all_frames(stack, since) if f["direction"] == "event"]


async def test_tc_f_26_cs_trigger_boot_notification_rejected_once_accepted(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    answer = await call(stack, "TriggerMessage", {"requestedMessage": "BootNotification"})
    assert answer["status"] == "Rejected"  # F06.FR.17
    await asyncio.sleep(1.5)
    assert [b["payload"]["reason"] for b in await messages(stack, "BootNotification")] == ["PowerUp"]
    assert await schema_violations(stack) == []


async def test_a_triggered_boot_while_pending_comes_at_once_with_reason_triggered(charger, csms) -> None:  # type: ignore[no-untyped-def]
    await csms.request("set_boot", status="Pending", interval=60)
    stack = await charger(backend=V201, boot=False)
    await wait_for(stack, "BootNotification", count=1, timeout=20)
    answer = await call(stack, "TriggerMessage", {"requestedMessage": "BootNotification"})
    assert answer["status"] == "Accepted"
    await csms.request("set_boot", status="Accepted", interval=300)
    await wait_for(stack, "BootNotification", count=2, timeout=5)  # not after the 60 s interval
    reasons = [b["payload"]["reason"] for b in await messages(stack, "BootNotification")]
    assert reasons == ["PowerUp", "Triggered"]
    assert await schema_violations(stack) == []


async def test_tc_b_02_cs_pending_sends_what_the_csms_asked_for(charger, csms) -> None:  # type: ignore[no-untyped-def]
    """B02.FR.09: a Pending station sends what GetBaseReport, GetReport and TriggerMessage
    asked for (a CSMS may provision it before accepting it); its statuses and the journal
    wait for the Accepted."""
    await csms.request("set_boot", status="Pending", interval=60)
    stack = await charger(backend=V201, boot=False)
    await wait_for(stack, "BootNotification", count=1, timeout=20)
    answer = await call(stack, "GetBaseReport", {"requestId": 9, "reportBase": "ConfigurationInventory"})
    assert answer["status"] == "Accepted"
    answer = await call(stack, "GetReport", {"requestId": 10, "componentVariable": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"}}]})
    assert answer["status"] == "Accepted"
    assert (await call(stack, "TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
    assert (await call(stack, "TriggerMessage", {"requestedMessage": "StatusNotification",
                                                 "evse": {"id": 1, "connectorId": 1}}))["status"] == "Accepted"
    for _ in range(100):  # both reports, to their last page (tbc false)
        reports = [m["payload"] for m in await messages(stack, "NotifyReport")]
        if {r["requestId"] for r in reports if not r.get("tbc", False)} == {9, 10}:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"reports not complete while Pending: {[(r['requestId'], r.get('tbc')) for r in reports]}")
    await wait_for(stack, "Heartbeat", count=1, timeout=10)
    triggered = await wait_for(stack, "StatusNotification", count=1, timeout=10)
    assert (triggered[0]["evseId"], triggered[0]["connectorStatus"]) == (1, "Available")
    await asyncio.sleep(1)
    assert [m["payload"]["reason"] for m in await messages(stack, "BootNotification")] == ["PowerUp"]
    assert len(await messages(stack, "StatusNotification")) == 1  # no status of its own while Pending
    assert await messages(stack, "TransactionEvent") == []
    await csms.request("set_boot", status="Accepted", interval=300)
    assert (await call(stack, "TriggerMessage", {"requestedMessage": "BootNotification"}))["status"] == "Accepted"
    await wait_for(stack, "BootNotification", count=2, timeout=10)
    await wait_for(stack, "StatusNotification", count=2, timeout=10)  # now the station's own
    assert await schema_violations(stack) == []


async def test_tc_b_03_cs_and_b_30_cs_rejected_sends_nothing_the_csms_asks_for(charger, csms) -> None:  # type: ignore[no-untyped-def]
    """B03: a Rejected station sends nothing but its BootNotification until the interval
    is over, even when a CSMS asks it anyway (unlike Pending, B02.FR.09); TC_B_30_CS
    (B03.FR.08): it answers each such request with CALLERROR SecurityError."""
    await csms.request("set_boot", status="Rejected", interval=60)
    stack = await charger(backend=V201, boot=False)
    await wait_for(stack, "BootNotification", count=1, timeout=20)
    since = await last_seq(stack)
    report = await call(stack, "GetBaseReport", {"requestId": 11, "reportBase": "FullInventory"})
    trigger = await call(stack, "TriggerMessage", {"requestedMessage": "Heartbeat"})
    assert report.get("error", {}).get("code") == trigger.get("error", {}).get("code") == "SecurityError", (report, trigger)
    await asyncio.sleep(2)
    assert await messages(stack, "NotifyReport", since) == []
    assert await messages(stack, "Heartbeat", since) == []
    await csms.request("set_boot", status="Accepted", interval=300)
    assert await schema_violations(stack) == []


async def _unanswered_started(charger, csms, attempts: int, unanswered: int):  # type: ignore[no-untyped-def]
    """A charger whose first ``unanswered`` TransactionEvents get an answer to no CALL (so
    each times out, call_timeout 10 s, on a websocket that still answers pings), then a
    local start. Returns the stack, the seq before the start and the events sent."""
    stack = await charger(backend=V201, ocpp={"TransactionMessageAttempts": attempts,
                                              "TransactionMessageRetryInterval": 1})
    since = await last_seq(stack)
    await csms.request("answer_raw", cp=stack.cp_id, action="TransactionEvent",
                       frames=['[3,"not-$ID",{}]'] * unanswered)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=new_id_tag())
    return stack, since


async def test_tc_e_41_cs_unanswered_transaction_event_max_retry_count_reached(charger, csms) -> None:  # type: ignore[no-untyped-def]
    """E13: a TransactionEvent the CSMS leaves unanswered is a failed attempt; it is sent
    again on the same connection after MessageAttemptInterval x attempts, and after
    MessageAttempts attempts it is given up and the next message follows."""
    stack, since = await _unanswered_started(charger, csms, attempts=2, unanswered=2)
    after = await wait_event(stack, "Updated", since, timeout=40)
    sent = await messages(stack, "TransactionEvent", since)
    tried = [m for m in sent if m["payload"]["eventType"] == "Started"]
    assert [m["payload"]["seqNo"] for m in tried] == [0, 0]  # MessageAttempts = 2, then given up
    assert after["seqNo"] > 0
    assert await connections(stack, since) == []  # the websocket was never dropped
    assert await messages(stack, "BootNotification", since) == []
    assert await schema_violations(stack) == []


async def test_tc_e_42_cs_unanswered_transaction_event_success_before_max_retry_count(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack, since = await _unanswered_started(charger, csms, attempts=3, unanswered=2)
    await wait_event(stack, "Updated", since, timeout=40)
    tried = [m for m in await messages(stack, "TransactionEvent", since) if m["payload"]["eventType"] == "Started"]
    assert [m["payload"]["seqNo"] for m in tried] == [0, 0, 0]  # the third is answered
    assert await connections(stack, since) == []
    tx = tried[0]["payload"]["transactionInfo"]["transactionId"]
    assert [t for t in await ledger(stack) if t["transaction_id"] == tx], "the third Started was booked"
    assert await schema_violations(stack) == []


async def _boot_reasons(stack: Stack, since: int) -> list[str]:
    return [str(m["payload"]["reason"]) for m in await messages(stack, "BootNotification", since)]


async def test_the_remote_reset_reason_survives_a_restart_before_the_boot_is_accepted(charger, csms) -> None:  # type: ignore[no-untyped-def]
    """B11/B12 then B02: the RemoteReset reason is told until a boot carrying it is Accepted
    (here the backend keeps the charger Pending, and the charger is killed meanwhile);
    after the Accepted the next start has its own reason."""
    stack = await charger(backend=V201)
    await csms.request("set_boot", status="Pending", interval=2)
    since = await last_seq(stack)
    assert (await call(stack, "Reset", {"type": "Immediate"}))["status"] == "Accepted"
    await wait_for(stack, "BootNotification", since=since, timeout=20)
    assert (await _boot_reasons(stack, since))[0] == "RemoteReset"
    since = await last_seq(stack)
    await stack.stop_agent(signal.SIGKILL)  # a power cut while still Pending
    await stack.start_agent()
    await wait_for(stack, "BootNotification", since=since, timeout=20)
    assert (await _boot_reasons(stack, since))[0] == "RemoteReset"
    await csms.request("set_boot", status="Accepted", interval=300)
    await wait_rebooted(stack, since)
    assert (await _boot_reasons(stack, since))[-1] == "RemoteReset"  # Accepted, and the note is done
    boot = await restart_agent_and_wait(stack, signal.SIGTERM)
    assert await _boot_reasons(stack, boot - 1) == ["PowerUp"]
    assert await schema_violations(stack) == []


async def test_a_scheduled_reset_is_no_remote_reset_if_the_power_fails_before_it(charger) -> None:  # type: ignore[no-untyped-def]
    """B12: Reset OnIdle with a transaction running is Scheduled; a power cut before the
    transaction ends is a power cut, not the reset the backend asked for."""
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=new_id_tag())
    await wait_event(stack, "Started", since)
    assert (await call(stack, "Reset", {"type": "OnIdle"}))["status"] == "Scheduled"
    await asyncio.sleep(0.5)
    boot = await restart_agent_and_wait(stack, signal.SIGKILL)
    assert await _boot_reasons(stack, boot - 1) == ["Watchdog"]
    assert await schema_violations(stack) == []


async def test_report_pages_a_dropped_link_did_not_carry_follow_after_the_reconnect(charger, csms) -> None:  # type: ignore[no-untyped-def]
    """B07/B08 across a lost link: the CSMS takes page 0, page 1 is in flight when the link
    drops; page 1 and the rest come after the reconnect, to the last (tbc false)."""
    stack = await charger(backend=V201, ocpp={"DeviceDataCtrlr.ItemsPerMessage.GetReport": 5})
    since = await last_seq(stack)
    await csms.request("answer_raw", cp=stack.cp_id, action="NotifyReport",
                       frames=['[3,"$ID",{}]', '[3,"not-$ID",{}]'])  # page 1 is left unanswered
    answer = await call(stack, "GetBaseReport", {"requestId": 31, "reportBase": "FullInventory"})
    assert answer["status"] == "Accepted"
    for _ in range(100):
        if len(await messages(stack, "NotifyReport", since)) >= 2:
            break
        await asyncio.sleep(0.1)
    await csms.request("disconnect", cp=stack.cp_id)  # while page 1 waits for its answer
    dropped = await last_seq(stack)
    for _ in range(200):
        pages = [m["payload"] for m in await messages(stack, "NotifyReport", dropped)]
        if pages and not pages[-1].get("tbc", False):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"the report never ended after the reconnect: {[p['seqNo'] for p in pages]}")
    assert await connections(stack, since)  # the link did drop and come back
    assert [p["seqNo"] for p in pages] == list(range(1, len(pages) + 1))
    assert all(p["requestId"] == 31 for p in pages) and len(pages) >= 2
    assert await schema_violations(stack) == []


async def test_a_triggered_meter_values_left_unanswered_does_not_drop_the_link(charger, csms) -> None:  # type: ignore[no-untyped-def]
    """F06 (TC_F_11_CS's message) with a CSMS that never answers it: the call times out
    (call_timeout 10 s) and is given up; the link, which answers everything else, stays."""
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    await csms.request("answer_raw", cp=stack.cp_id, action="MeterValues", frames=['[3,"not-$ID",{}]'])
    trigger = {"requestedMessage": "MeterValues", "evse": {"id": 1}}
    assert (await call(stack, "TriggerMessage", trigger))["status"] == "Accepted"
    for _ in range(100):
        if await messages(stack, "MeterValues", since):
            break
        await asyncio.sleep(0.1)
    assert len(await messages(stack, "MeterValues", since)) == 1
    await asyncio.sleep(12)  # past the call timeout
    assert await connections(stack, since) == []
    assert await messages(stack, "BootNotification", since) == []
    assert (await call(stack, "TriggerMessage", trigger))["status"] == "Accepted"  # and it still works
    await wait_for(stack, "MeterValues", since=since, timeout=10)
    assert await schema_violations(stack) == []
