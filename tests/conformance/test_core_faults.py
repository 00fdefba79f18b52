"""A meter that stops answering: energy that cannot be measured is not delivered."""

from __future__ import annotations

from .helpers import expect_none, last_seq, messages, plug_and_charge, wait_for, wait_status


async def test_a_silent_meter_is_a_power_meter_failure_and_charging_resumes_when_it_answers(charger):
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
