"""Core module 06 (reset: TC_013 to TC_016) and availability (ChangeAvailability, TC_034's
persistence): what the backend sees around a reset and an availability change."""

from __future__ import annotations

import asyncio
import signal
import sys
import time

import pytest

from simulators.harness import Stack

from .helpers import (
    actions,
    all_frames,
    call_checked,
    last_seq,
    messages,
    plug_and_charge,
    restart_agent_and_wait,
    statuses,
    wait_for,
    wait_rebooted,
    wait_status,
)

BOOT_SEQUENCE = [
    "BootNotification",
    "StatusNotification:0:Available",
    "StatusNotification:1:Available",
    "StatusNotification:2:Available",
]


async def reset(stack: Stack, kind: str) -> int:
    """Send Reset; return the seq just before it. The answer must be Accepted."""
    since = await last_seq(stack)
    assert await call_checked(stack, "Reset", {"type": kind}) == {"status": "Accepted"}
    return since


async def change_availability(stack: Stack, connector: int, kind: str) -> str:
    result = await call_checked(stack, "ChangeAvailability", {"connectorId": connector, "type": kind})
    assert "error" not in result, f"ChangeAvailability {connector} {kind} answered {result}"
    return str(result["status"])


async def assert_reset_without_transaction(stack: Stack, kind: str) -> None:
    since = await reset(stack, kind)
    boot_seq = await wait_rebooted(stack, since)
    # The connection really went down and came back: the agent restarted.
    events = [f["type"] for f in await all_frames(stack, since) if f["direction"] == "event" and f["seq"] < boot_seq]
    assert "disconnected" in events and "connected" in events, events
    assert await actions(stack, since) == BOOT_SEQUENCE
    assert await messages(stack, "StopTransaction") == []


async def assert_reset_with_transaction(stack: Stack, kind: str, reason: str) -> None:
    await plug_and_charge(stack, connector=1)
    start = await messages(stack, "StartTransaction")
    assert len(start) == 1
    tx_id = next(
        f["payload"]["transactionId"]
        for f in await all_frames(stack)
        if f["type"] == "CALLRESULT" and f["action"] == "StartTransaction"
    )
    since = await reset(stack, kind)
    boot_seq = await wait_rebooted(stack, since)
    stops = await messages(stack, "StopTransaction", since)
    assert len(stops) == 1, f"expected one StopTransaction, got {stops}"
    stop = stops[0]
    assert stop["payload"]["transactionId"] == tx_id
    assert stop["payload"]["reason"] == reason
    assert stop["seq"] < boot_seq, "StopTransaction must be sent before the new BootNotification"
    # The reset ended the session for good: nothing restarts it after the boot.
    seen = await actions(stack, boot_seq - 1)
    assert seen[0] == "BootNotification"
    assert "StartTransaction" not in seen
    assert "StatusNotification:1:Charging" not in seen
    state = await stack.bench_request("status")
    assert state["connectors"][0]["contactor_closed"] is False
    tx = [t for t in (await stack.csms.request("ledger", cp=stack.cp_id))["transactions"] if t["transaction_id"] == tx_id]
    assert tx and tx[0]["stop_time"] is not None


async def test_tc_013_hard_reset_without_transaction(charger):
    stack = await charger(connectors=2)
    await assert_reset_without_transaction(stack, "Hard")


async def test_tc_014_soft_reset_without_transaction(charger):
    stack = await charger(connectors=2)
    await assert_reset_without_transaction(stack, "Soft")


async def test_tc_015_hard_reset_with_transaction(charger):
    stack = await charger(connectors=2)
    await assert_reset_with_transaction(stack, "Hard", "HardReset")


async def test_tc_016_soft_reset_with_transaction(charger):
    stack = await charger(connectors=2)
    await assert_reset_with_transaction(stack, "Soft", "SoftReset")


async def test_change_availability_inoperative_when_idle(charger):
    stack = await charger(connectors=2)
    since = await last_seq(stack)
    assert await change_availability(stack, 1, "Inoperative") == "Accepted"
    await wait_status(stack, 1, "Unavailable", since)
    assert await statuses(stack, 2, since) == []  # the other connector is untouched

    # An unavailable connector cannot be used.
    remote = await call_checked(stack, "RemoteStartTransaction", {"idTag": "04A1B2C3", "connectorId": 1})
    assert remote == {"status": "Rejected"}

    since = await last_seq(stack)
    assert await change_availability(stack, 1, "Operative") == "Accepted"
    await wait_status(stack, 1, "Available", since)


async def test_tc_034_unavailable_persists_across_power_cycle(charger):
    stack = await charger(connectors=2)
    since = await last_seq(stack)
    assert await change_availability(stack, 1, "Inoperative") == "Accepted"
    await wait_status(stack, 1, "Unavailable", since)

    boot_seq = await restart_agent_and_wait(stack, signal.SIGKILL)  # a power cut
    assert await actions(stack, boot_seq - 1) == [
        "BootNotification",
        "StatusNotification:0:Available",
        "StatusNotification:1:Unavailable",
        "StatusNotification:2:Available",
    ]

    since = await last_seq(stack)
    assert await change_availability(stack, 1, "Operative") == "Accepted"
    await wait_status(stack, 1, "Available", since)
    boot_seq = await restart_agent_and_wait(stack)
    assert await actions(stack, boot_seq - 1) == BOOT_SEQUENCE


async def test_change_availability_during_transaction_is_scheduled(charger):
    stack = await charger(connectors=2)
    await plug_and_charge(stack, connector=1)
    since = await last_seq(stack)
    assert await change_availability(stack, 1, "Inoperative") == "Scheduled"
    # The running transaction is not disturbed ...
    state = await stack.bench_request("status")
    assert state["connectors"][0]["contactor_closed"] is True
    assert await statuses(stack, 1, since) == []
    assert await messages(stack, "StopTransaction", since) == []

    # ... and once it ends, the connector becomes Unavailable, never Available in between.
    await stack.bench_request("unplug", connector=1)
    stop = (await wait_for(stack, "StopTransaction", since=since))[0]
    assert stop["reason"] == "EVDisconnected"
    unavailable_seq = await wait_status(stack, 1, "Unavailable", since)
    stop_seq = (await messages(stack, "StopTransaction", since))[0]["seq"]
    assert stop_seq < unavailable_seq
    assert "Available" not in await statuses(stack, 1, since)

    # The scheduled change is as durable as an immediate one.
    boot_seq = await restart_agent_and_wait(stack)
    assert "StatusNotification:1:Unavailable" in await actions(stack, boot_seq - 1)


async def test_change_availability_connector_0_applies_to_all(charger):
    stack = await charger(connectors=2)
    since = await last_seq(stack)
    assert await change_availability(stack, 0, "Inoperative") == "Accepted"
    for connector in (0, 1, 2):
        await wait_status(stack, connector, "Unavailable", since)

    since = await last_seq(stack)
    assert await change_availability(stack, 0, "Operative") == "Accepted"
    for connector in (0, 1, 2):
        await wait_status(stack, connector, "Available", since)


async def test_change_availability_unknown_connector_rejected(charger):
    stack = await charger(connectors=2)
    since = await last_seq(stack)
    assert await change_availability(stack, 3, "Inoperative") == "Rejected"
    assert await change_availability(stack, 99, "Operative") == "Rejected"
    # Nothing changed: a known connector still answers and reports as before.
    assert await change_availability(stack, 2, "Inoperative") == "Accepted"
    await wait_status(stack, 2, "Unavailable", since)
    assert await statuses(stack, 1, since) == []


# ---------------------------------------------------------------- a stop during a reset


async def assert_stops_at_once(stack: Stack, since: int) -> None:
    """SIGTERM now: the agent exits 0 within a few seconds and does not come back (no
    restart, no reboot, no BootNotification), wherever the reset had got to."""
    began = time.monotonic()
    code = await stack.stop_agent(signal.SIGTERM)
    assert code == 0, f"exit status {code}\n{stack.agent_log()}"
    assert time.monotonic() - began < 5.0, stack.agent_log()
    await asyncio.sleep(1.0)
    assert "BootNotification" not in await actions(stack, since)
    assert "rebooting the controller" not in stack.agent_log()


@pytest.mark.parametrize("delay", [0.01, 0.1])
@pytest.mark.parametrize("kind", ["Hard", "Soft"])
async def test_sigterm_right_after_a_reset_ends_the_agent(charger, kind, delay):
    # systemctl stop during a reset: the stop wins over the reset's restart, whether it
    # comes while the charger is made safe or once the agent re-executes itself.
    stack = await charger(connectors=2)
    since = await reset(stack, kind)
    await asyncio.sleep(delay)
    await assert_stops_at_once(stack, since)


async def test_sigterm_while_a_reset_ends_a_transaction_ends_the_agent(charger):
    stack = await charger(connectors=2)
    await plug_and_charge(stack, connector=1)
    since = await reset(stack, "Soft")
    await asyncio.sleep(0.01)
    await assert_stops_at_once(stack, since)
    assert (await stack.bench_request("status"))["connectors"][0]["contactor_closed"] is False


async def test_sigterm_while_the_reboot_command_runs_ends_the_agent(charger, tmp_path):
    # A reboot command that hangs: the stop still ends the agent, which then neither
    # waits for the command nor falls back to restarting itself.
    started = tmp_path / "reboot-started"
    hang = f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(60)"
    stack = await charger(connectors=2, sections={"system": {"reboot_command": [sys.executable, "-c", hang]}})
    since = await reset(stack, "Hard")
    for _ in range(100):
        if started.exists():
            break
        await asyncio.sleep(0.05)
    assert started.exists(), stack.agent_log()
    began = time.monotonic()
    code = await stack.stop_agent(signal.SIGTERM)
    assert code == 0, f"exit status {code}\n{stack.agent_log()}"
    assert time.monotonic() - began < 5.0, stack.agent_log()
    await asyncio.sleep(1.0)
    assert "BootNotification" not in await actions(stack, since)
    assert '"restarting the agent"' not in stack.agent_log()
