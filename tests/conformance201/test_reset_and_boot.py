"""OCPP 2.0.1 B11/B12 Reset of the station, and the boot reasons a backend reads: why
the charger (re)started, said in its BootNotification."""

from __future__ import annotations

import signal

from tests.conformance.helpers import new_id_tag, restart_agent_and_wait, wait_rebooted
from tests.conformance201.helpers import V201, call, last_seq, messages, schema_violations, wait_event


async def _boot_reason(stack, since: int) -> str:  # type: ignore[no-untyped-def]
    return str((await messages(stack, "BootNotification", since))[0]["payload"]["reason"])


async def test_tc_b_20_cs_reset_without_ongoing_transaction_on_idle(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    assert (await call(stack, "Reset", {"type": "OnIdle"}))["status"] == "Accepted"
    await wait_rebooted(stack, since)
    assert await _boot_reason(stack, since) == "RemoteReset"
    assert await schema_violations(stack) == []


async def test_tc_b_21_cs_reset_with_ongoing_transaction_on_idle(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    tag = new_id_tag()
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=tag)
    await wait_event(stack, "Started", since)
    assert (await call(stack, "Reset", {"type": "OnIdle"}))["status"] == "Scheduled"
    assert await messages(stack, "BootNotification", since) == []  # the transaction goes on
    await stack.bench_request("tap", uid=tag)  # the driver stops: now the station is idle
    ended = await wait_event(stack, "Ended", since)
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    await wait_rebooted(stack, since)
    assert await _boot_reason(stack, since) == "RemoteReset"
    assert await schema_violations(stack) == []


async def test_tc_b_22_cs_reset_with_ongoing_transaction_immediate(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=new_id_tag())
    started = await wait_event(stack, "Started", since)
    assert (await call(stack, "Reset", {"type": "Immediate"}))["status"] == "Accepted"
    boot = await wait_rebooted(stack, since)
    ended = await wait_event(stack, "Ended", since)
    assert ended["transactionInfo"]["transactionId"] == started["transactionInfo"]["transactionId"]
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == ("ResetCommand", "ImmediateReset")
    ended_seq = next(m["seq"] for m in await messages(stack, "TransactionEvent", since)
                     if m["payload"]["eventType"] == "Ended")
    assert ended_seq < boot, "the transaction's end is told before the new boot"
    assert await schema_violations(stack) == []


async def test_boot_reason_after_a_kill_is_watchdog_and_after_a_clean_stop_power_up(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    boot = await restart_agent_and_wait(stack, signal.SIGKILL)
    assert await _boot_reason(stack, boot - 1) == "Watchdog"
    boot = await restart_agent_and_wait(stack, signal.SIGTERM)
    assert await _boot_reason(stack, boot - 1) == "PowerUp"
    assert await schema_violations(stack) == []
