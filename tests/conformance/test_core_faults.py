"""A meter that stops answering, or answers with a frozen register: energy that cannot be
measured is not delivered. The agent reads the bench's meters with its Modbus driver."""

from __future__ import annotations

import time

from simulators.harness import TEST_METER_TIMINGS

from .helpers import expect_none, last_seq, messages, plug_and_charge, wait_for, wait_status


async def test_tc_041_fault_behavior(charger):
    """A meter that stops answering: Faulted with PowerMeterFailure, the contactor open, and
    back to Charging (same transaction) once it answers again."""
    stack = await charger()
    await plug_and_charge(stack)
    since = await last_seq(stack)
    await stack.bench_request("meter_silent", connector=1, silent=True)
    # Reported within the stale bound (5 s) plus the driver's timeout, and the contactor opens.
    await wait_status(stack, 1, "Faulted", since, timeout=12)
    faulted = [m["payload"] for m in await messages(stack, "StatusNotification", since) if m["payload"]["status"] == "Faulted"]
    assert faulted[0]["errorCode"] == "PowerMeterFailure"
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=5)
    assert await messages(stack, "StopTransaction", since) == []  # the session is kept

    recovered = await last_seq(stack)
    await stack.bench_request("meter_silent", connector=1, silent=False)
    await wait_status(stack, 1, "Charging", recovered, timeout=10)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=5)


async def test_no_session_starts_without_a_meter_reading(charger):
    stack = await charger()
    await stack.bench_request("meter_silent", connector=1, silent=True)
    await wait_status(stack, 1, "Faulted", timeout=12)
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await stack.bench_request("tap", uid="04A1B2C3")
    await wait_for(stack, "Authorize", since=since)
    await expect_none(stack, "StartTransaction", since, within=2.0)
    assert (await stack.bench_request("status"))["connectors"][0]["contactor_closed"] is False


async def test_a_meter_repeating_the_same_frame_is_a_power_meter_failure_until_the_frame_changes(charger):
    stack = await charger()
    await plug_and_charge(stack)
    since = await last_seq(stack)
    fault_after, poll = TEST_METER_TIMINGS["fault_after"], TEST_METER_TIMINGS["poll_interval"]
    requests = (await stack.bench_request("status"))["connectors"][0]["meter_requests"]
    frozen_at = time.monotonic()
    await stack.bench_request("meter_stale", connector=1, stale=True)
    # The frame was first seen at most one poll before it froze; it is called stale at the
    # first poll after fault_after, so the fault comes between these bounds (plus delivery).
    await wait_status(stack, 1, "Faulted", since, timeout=fault_after + poll + 3)
    elapsed = time.monotonic() - frozen_at
    assert fault_after - poll - 0.2 <= elapsed <= fault_after + poll + 1.0, f"Faulted after {elapsed:.1f} s"
    faulted = [m["payload"] for m in await messages(stack, "StatusNotification", since) if m["payload"]["status"] == "Faulted"]
    assert faulted[0]["errorCode"] == "PowerMeterFailure"
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=5)
    # The meter kept answering all along: this was the frozen frame, not a silent meter.
    status = (await stack.bench_request("status"))["connectors"][0]
    assert status["meter_requests"] >= requests + fault_after / poll - 1, status
    assert await messages(stack, "StopTransaction", since) == []  # the session is kept

    recovered = await last_seq(stack)
    await stack.bench_request("meter_stale", connector=1, stale=False)
    await wait_status(stack, 1, "Charging", recovered, timeout=poll + 5)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=5)
