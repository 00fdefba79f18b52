"""Power failure (module 14): warned by SIGPWR, the agent stops its transactions with reason
PowerLoss before going down (TC_032_1); cut without warning, it closes them at the next start
with the energy on record (TC_032_2: stopped after going down).

After the restart the meter is made silent, so the stop can only use what the journal kept.
"""

from __future__ import annotations

import asyncio
import signal

from .helpers import wait_status, last_seq, ledger, messages, plug_and_charge, wait_energy, wait_for, wait_rebooted

# 32 A x 3 phases x 230 V = 22 kW, about 6.1 Wh a second.
WH_PER_S = 32 * 3 * 230 / 3600


async def _charge_then_go_down(stack, sig: int, seconds_of_charge: float) -> tuple[float, int]:
    await plug_and_charge(stack)
    await wait_energy(stack, 1, WH_PER_S * seconds_of_charge, timeout=seconds_of_charge + 15)
    since = await last_seq(stack)
    await stack.stop_agent(sig)
    # A controller that goes away cuts the power (the bench opens its contactor).
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=10)
    delivered = (await stack.bench_request("status"))["connectors"][0]["energy_wh"]
    await stack.bench_request("meter_silent", connector=1, silent=True)
    await stack.start_agent()
    await wait_rebooted(stack, since)
    return delivered, since


async def _power_loss_stop(stack, since: int) -> dict:
    stop = (await wait_for(stack, "StopTransaction", since=since, timeout=20))[0]
    assert stop["reason"] == "PowerLoss"
    (tx,) = await ledger(stack)
    assert tx["stop_time"] is not None and tx["energy_wh"] == stop["meterStop"] - tx["meter_start"]
    return stop


async def test_tc_032_2_graceful_stop_keeps_the_energy_up_to_the_stop(charger):
    # No periodic samples at all: only the checkpoint taken on the way down knows the energy.
    stack = await charger(ocpp={"MeterValueSampleInterval": 0})
    delivered, since = await _charge_then_go_down(stack, signal.SIGTERM, seconds_of_charge=3)
    stop = await _power_loss_stop(stack, since)
    # Within the last meter poll (1 s) of what the EV got.
    assert delivered - 1.5 * WH_PER_S <= stop["meterStop"] <= delivered


async def test_tc_032_2_kill_closes_with_the_last_sample(charger):
    stack = await charger(ocpp={"MeterValueSampleInterval": 1})
    delivered, since = await _charge_then_go_down(stack, signal.SIGKILL, seconds_of_charge=3)
    stop = await _power_loss_stop(stack, since)
    # The last sample was journaled at most one sample interval (plus a poll) before the kill.
    assert delivered - 2.5 * WH_PER_S <= stop["meterStop"] <= delivered


async def test_tc_032_2_kill_without_samples_closes_with_the_periodic_checkpoint(charger):
    stack = await charger(ocpp={"MeterValueSampleInterval": 0})
    delivered, since = await _charge_then_go_down(stack, signal.SIGKILL, seconds_of_charge=12)
    stop = await _power_loss_stop(stack, since)
    # Checkpoints every 10 s whatever the sample interval: never more than 10 s (+ a poll) behind.
    assert delivered - 11.5 * WH_PER_S <= stop["meterStop"] <= delivered
    assert stop["meterStop"] > 0


async def test_tc_032_1_power_failure_stop_transactions_before_going_down(charger):
    # SIGPWR (from a UPS or a power-fail detector): the transactions end with reason PowerLoss
    # and their stops reach the backend before the agent goes down.
    stack = await charger(connectors=2, ocpp={"MeterValueSampleInterval": 0})
    await plug_and_charge(stack, connector=1)
    await plug_and_charge(stack, connector=2, id_tag="04B2C3D4")
    await wait_energy(stack, 2, WH_PER_S * 2, timeout=15)
    since = await last_seq(stack)
    assert stack.agent_process is not None and stack.agent_process.proc is not None
    stack.agent_process.proc.send_signal(signal.SIGPWR)
    stops = await wait_for(stack, "StopTransaction", count=2, since=since, timeout=15)
    assert {s["reason"] for s in stops} == {"PowerLoss"}
    exit_code = await asyncio.wait_for(stack.agent_process.proc.wait(), 15)
    assert exit_code == 0
    bench = (await stack.bench_request("status"))["connectors"]
    records = await ledger(stack)
    assert len(records) == 2 and all(r["stop_time"] is not None for r in records)
    for record in records:
        delivered = bench[record["connector_id"] - 1]["energy_wh"]
        assert delivered - 1.5 * WH_PER_S <= record["meter_stop"] <= delivered
    # Back with the supply: nothing is left to close, so no second stop.
    restart = await last_seq(stack)
    await stack.start_agent()
    await wait_rebooted(stack, restart)
    assert await messages(stack, "StopTransaction", restart) == []


async def test_tc_032_2_resume_policy_carries_the_transaction_on_when_the_ev_is_still_there(charger):
    # [state] unfinished_transactions = "resume": after a kill, the same transaction goes on
    # (no stop, no second start) because the EV is still plugged in and its card was accepted.
    stack = await charger(ocpp={"MeterValueSampleInterval": 1}, unfinished_transactions="resume")
    await plug_and_charge(stack)
    await wait_energy(stack, 1, WH_PER_S * 2, timeout=15)
    since = await last_seq(stack)
    await stack.stop_agent(signal.SIGKILL)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=10)
    await stack.start_agent()
    boot_seq = await wait_rebooted(stack, since)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=10)
    await wait_status(stack, 1, "Charging", boot_seq)
    after_boot = [
        m["payload"]["status"] for m in await messages(stack, "StatusNotification", boot_seq)
        if m["payload"]["connectorId"] == 1
    ]
    # Never Available, Preparing or Finishing: the session carries on. The pilot's PWM was
    # withdrawn while the agent was down, so an EV may still be in B when the first status
    # goes out (SuspendedEV) and answer the restored offer a moment later.
    assert after_boot in (["Charging"], ["SuspendedEV", "Charging"]), after_boot
    energy = (await stack.bench_request("status"))["connectors"][0]["energy_wh"]
    await wait_energy(stack, 1, energy + WH_PER_S * 2, timeout=15)
    # The driver stops it as usual; the backend sees one transaction, stopped once.
    await stack.bench_request("tap", uid="04A1B2C3")
    stop = (await wait_for(stack, "StopTransaction", since=since, timeout=15))[0]
    assert stop["reason"] == "Local"
    assert await messages(stack, "StartTransaction", since) == []
    (tx,) = await ledger(stack)
    delivered = (await stack.bench_request("status"))["connectors"][0]["energy_wh"]
    assert tx["meter_stop"] == stop["meterStop"] and abs(stop["meterStop"] - delivered) <= 1
    # Values sampled after the restart carry the same transaction.
    after = await messages(stack, "MeterValues", boot_seq)
    assert after and {m["payload"].get("transactionId") for m in after} == {tx["transaction_id"]}


async def test_tc_032_2_resume_policy_stops_when_the_ev_left_meanwhile(charger):
    stack = await charger(unfinished_transactions="resume")
    await plug_and_charge(stack)
    await wait_energy(stack, 1, WH_PER_S * 2, timeout=15)
    since = await last_seq(stack)
    await stack.stop_agent(signal.SIGKILL)
    await stack.bench_request("unplug", connector=1)
    await stack.start_agent()
    await wait_rebooted(stack, since)
    stop = (await wait_for(stack, "StopTransaction", since=since, timeout=15))[0]
    assert stop["reason"] == "PowerLoss"
    assert (await stack.bench_request("status"))["connectors"][0]["contactor_closed"] is False
