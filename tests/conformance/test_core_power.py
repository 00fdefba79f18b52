"""The agent goes down during a session: the transaction is closed on restart with the energy on record."""

from __future__ import annotations

import signal

from .helpers import last_seq, ledger, plug_and_charge, wait_energy, wait_for, wait_rebooted


async def _charge_then_go_down(stack, sig: int) -> tuple[float, int]:
    await plug_and_charge(stack)
    await wait_energy(stack, 1, 30.0, timeout=15)
    since = await last_seq(stack)
    await stack.stop_agent(sig)
    # A controller that goes away cuts the power (the bench opens its contactor).
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=10)
    delivered = (await stack.bench_request("status"))["connectors"][0]["energy_wh"]
    return delivered, since


async def test_a_graceful_stop_keeps_the_energy_up_to_the_stop(charger):
    # No periodic samples at all: only the checkpoint taken on the way down can know the energy.
    stack = await charger(ocpp={"MeterValueSampleInterval": 0})
    delivered, since = await _charge_then_go_down(stack, signal.SIGTERM)
    await stack.start_agent()
    await wait_rebooted(stack, since)
    stop = (await wait_for(stack, "StopTransaction", since=since))[0]
    assert stop["reason"] == "PowerLoss"
    (tx,) = await ledger(stack)
    # Within the last meter poll (1 s) of what the EV really got: at 22 kW, < 7 Wh.
    assert delivered - 7 <= stop["meterStop"] <= delivered
    assert tx["energy_wh"] == stop["meterStop"] - tx["meter_start"] > 25


async def test_a_kill_during_charging_closes_with_the_last_sample(charger):
    stack = await charger(ocpp={"MeterValueSampleInterval": 1})
    delivered, since = await _charge_then_go_down(stack, signal.SIGKILL)
    await stack.start_agent()
    await wait_rebooted(stack, since)
    stop = (await wait_for(stack, "StopTransaction", since=since))[0]
    assert stop["reason"] == "PowerLoss"
    # The last sample was journaled at most one sample interval before the kill.
    assert delivered - 2 * 7 <= stop["meterStop"] <= delivered
    (tx,) = await ledger(stack)
    assert tx["stop_time"] is not None
