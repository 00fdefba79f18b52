"""The backend link cut during a session (module 15, TC_036): charging goes on, nothing is lost."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

from .helpers import all_frames, anomalies, last_seq, ledger, messages, parse_time, plug_and_charge, wait_for, wait_status


async def test_tc_036_connection_loss_during_transaction(charger):
    stack = await charger(ocpp={"MeterValueSampleInterval": 1})
    await plug_and_charge(stack)
    await wait_for(stack, "MeterValues", count=2)
    await stack.bench_request("link", state="cut")
    await stack.bench_request("wait_for", field="link", value="cut")
    cut_at = datetime.now(timezone.utc)
    cut_seq = await last_seq(stack)

    # Offline: the EV keeps charging, and the driver ends the session with the same card
    # (no Authorize is needed to stop one's own session).
    status = await stack.bench_request("status")
    energy_at_cut = status["connectors"][0]["energy_wh"]
    await stack.bench_request("wait_for", connector=1, field="energy_wh", value=energy_at_cut + 20, op="ge", timeout=15)
    await stack.bench_request("tap", uid="04A1B2C3")
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=10)
    meter_at_stop = (await stack.bench_request("status"))["connectors"][0]["energy_wh"]
    await asyncio.sleep(1.5)
    assert await messages(stack, since=cut_seq) == []  # nothing got through the cut link

    restored_at = datetime.now(timezone.utc)
    await stack.bench_request("link", state="up")
    stop = (await wait_for(stack, "StopTransaction", since=cut_seq, timeout=20))[0]
    await wait_status(stack, 1, "Finishing", since=cut_seq)

    # Everything sampled while offline arrived, in order, stamped when it was measured.
    (tx,) = await ledger(stack)
    assert tx["stop_time"] is not None and tx["reason"] == "Local"
    assert stop["meterStop"] == tx["meter_stop"] and abs(stop["meterStop"] - meter_at_stop) <= 1
    samples = [parse_time(mv["timestamp"]) for mv in tx["meter_values"]]
    assert samples == sorted(samples)
    offline = [t for t in samples if cut_at < t < restored_at]
    assert len(offline) >= 3  # one a second was taken while the link was cut, and none was lost
    energies = [
        float(sv["value"])
        for mv in tx["meter_values"]
        for sv in mv["sampledValue"]
        if sv.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register"
    ]
    assert energies == sorted(energies) and energies[-1] <= stop["meterStop"]
    assert parse_time(stop["timestamp"]) < parse_time((await messages(stack, "StopTransaction"))[0]["time"])
    assert await anomalies(stack) == []
    # The reconnect did not pretend to be a reboot.
    assert await messages(stack, "BootNotification", since=cut_seq) == []


async def test_a_half_open_link_is_noticed_within_the_ping_bound_and_nothing_is_lost(charger):
    # WebSocketPingInterval 1 s and ping_timeout 2 s: a link that goes quiet without closing
    # must be given up within about 1 + 2 s (+ a short close wait and the first backoff).
    stack = await charger(ocpp={"WebSocketPingInterval": 1, "MeterValueSampleInterval": 1}, ping_timeout=2.0)
    await plug_and_charge(stack)
    accepted = (await stack.bench_request("status"))["link_accepted"]
    await stack.bench_request("link", state="stall")
    stalled_at = time.monotonic()
    stall_seq = await last_seq(stack)
    # The agent notices and dials again (the bench's proxy counts the new connection).
    await stack.bench_request("wait_for", field="link_accepted", value=accepted + 1, op="ge", timeout=20)
    noticed = time.monotonic() - stalled_at
    assert noticed <= 1 + 2 + 2 + 0.5 + 2.5, f"dead link noticed after {noticed:.1f} s"

    # Meanwhile charging goes on; the driver stops while the link is still dead.
    await stack.bench_request("tap", uid="04A1B2C3")
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=10)
    await stack.bench_request("link", state="up")
    stop = (await wait_for(stack, "StopTransaction", since=stall_seq, timeout=20))[0]
    (tx,) = await ledger(stack)
    assert tx["stop_time"] is not None and stop["meterStop"] == tx["meter_stop"]
    samples = [parse_time(mv["timestamp"]) for mv in tx["meter_values"]]
    assert samples == sorted(samples)
    assert len(samples) >= int(noticed) - 1  # one a second, those taken while stalled included
    assert await anomalies(stack) == []


async def test_a_refused_handshake_is_retried_at_the_slowest_pace_until_accepted(csms, charger):
    stack = await charger()  # reconnect_initial 0.2 s, reconnect_max 2 s in the harness
    since = await last_seq(stack)
    await csms.request("refuse", cp=stack.cp_id, status=401)
    await csms.request("disconnect", cp=stack.cp_id)  # it must dial again, and is refused
    await asyncio.sleep(6.5)
    rejected = [parse_time(m["time"]) for m in await all_frames(stack, since) if m["type"] == "rejected"]
    assert len(rejected) >= 2
    gaps = [(b - a).total_seconds() for a, b in zip(rejected, rejected[1:])]
    assert all(gap >= 1.9 for gap in gaps), f"refused attempts {gaps} s apart; reconnect_max is 2 s"
    accepted_again = await last_seq(stack)
    await csms.request("refuse", cp=stack.cp_id, status=None)
    # Back: no new BootNotification (the agent did not restart), the current statuses.
    await wait_for(stack, "StatusNotification", count=2, since=accepted_again, timeout=10)
    assert await messages(stack, "BootNotification", since) == []
