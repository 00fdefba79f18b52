"""Core modules 07 and 13 on a socket outlet with a cable lock: TC_017_1, TC_018_1, TC_024, TC_030."""

from __future__ import annotations

from .helpers import actions, call, expect_none, last_seq, messages, plug_and_charge, wait_energy, wait_for, wait_status


async def test_tc_017_1_unlock_connector_no_charging_session_running_not_fixed_cable(charger):
    stack = await charger(lock=True)
    await stack.bench_request("lock_set", connector=1, locked=True)  # e.g. left locked by a power cut
    assert await call(stack, "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
    status = await stack.bench_request("status")
    assert status["connectors"][0]["locked"] is False


async def test_the_cable_is_locked_before_energy_flows_and_released_at_the_end(charger):
    stack = await charger(lock=True)
    await plug_and_charge(stack)
    status = (await stack.bench_request("status"))["connectors"][0]
    assert status["locked"] is True and status["contactor_closed"] is True
    await stack.bench_request("tap", uid="04A1B2C3")
    await wait_status(stack, 1, "Finishing")
    await stack.bench_request("wait_for", connector=1, field="locked", value=False, timeout=5)


async def test_tc_018_1_unlock_connector_with_charging_session_not_fixed_cable(charger):
    stack = await charger(lock=True)
    await plug_and_charge(stack)
    since = await last_seq(stack)
    assert await call(stack, "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
    stop = (await wait_for(stack, "StopTransaction", since=since))[0]
    assert stop["reason"] == "UnlockCommand"
    status = (await stack.bench_request("status"))["connectors"][0]
    assert status["contactor_closed"] is False and status["locked"] is False


async def test_tc_030_unlock_failure(charger):
    stack = await charger(lock=True)
    await plug_and_charge(stack)
    await stack.bench_request("lock_jam", connector=1, jammed=True)
    since = await last_seq(stack)
    assert await call(stack, "UnlockConnector", {"connectorId": 1}) == {"status": "UnlockFailed"}
    # The session still ended: energy is off even though the cable stays locked.
    stop = (await wait_for(stack, "StopTransaction", since=since))[0]
    assert stop["reason"] == "UnlockCommand"
    assert (await stack.bench_request("status"))["connectors"][0]["contactor_closed"] is False


async def test_tc_024_start_charging_session_lock_failure(charger):
    stack = await charger(lock=True)
    await stack.bench_request("lock_jam", connector=1, jammed=True)  # jammed open: cannot lock
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await wait_status(stack, 1, "Preparing", since)
    await stack.bench_request("tap", uid="04A1B2C3")
    await wait_status(stack, 1, "Faulted", since)
    faulted = [m["payload"] for m in await messages(stack, "StatusNotification", since) if m["payload"]["status"] == "Faulted"]
    assert faulted[0]["errorCode"] == "ConnectorLockFailure"
    status = (await stack.bench_request("status"))["connectors"][0]
    assert status["contactor_closed"] is False and status["current_a"] == 0
    # Unplugging clears the fault.
    await stack.bench_request("unplug", connector=1)
    await wait_status(stack, 1, "Available", since)


async def test_tc_018_2_unlock_connector_with_charging_session_fixed_cable(charger):
    stack = await charger()  # tethered cable: no lock fitted
    await plug_and_charge(stack)
    since = await last_seq(stack)
    assert await call(stack, "UnlockConnector", {"connectorId": 1}) == {"status": "NotSupported"}
    # Nothing to release, so the driver's session goes on.
    await expect_none(stack, "StopTransaction", since, within=2.0)
    energy = (await stack.bench_request("status"))["connectors"][0]["energy_wh"]
    await wait_energy(stack, 1, energy + 10)
    assert (await stack.bench_request("status"))["connectors"][0]["contactor_closed"] is True
