"""The idle alert end to end on the 1.6 bench: a car that stops drawing after it charged
is asked to move after the configured time, and the backend gets the transaction's
totals once, as a MeterValues with context Other (Trigger is the answer to a
TriggerMessage); the LEDs show red and blue in turn, and the bench's display asks the
driver to move the car. A restart does not alert again for the
same idle stretch."""

from __future__ import annotations

import asyncio
import signal

from tests.conformance.helpers import expect_none, last_seq, messages, parse_time, plug_and_charge, wait_energy
from tests.conformance.helpers import restart_agent_and_wait, transaction, wait_for, wait_status

IDLE_S = 3.0  # idle_alert_minutes = 0.05


async def test_idle_alert_tells_the_backend_once_with_the_totals(charger) -> None:
    stack = await charger(sections={"screen": {"idle_alert_minutes": IDLE_S / 60}}, unfinished_transactions="resume")
    await plug_and_charge(stack, id_tag="04ADE100")
    start = (await messages(stack, "StartTransaction"))[-1]["payload"]
    await wait_energy(stack, 1, start["meterStart"] + 10)
    since = await last_seq(stack)
    await stack.bench_request("pause", connector=1)  # the car is full: it stops drawing
    suspended = await wait_status(stack, 1, "SuspendedEV", since)
    suspended_at = parse_time((await messages(stack, "StatusNotification", since))[-1]["payload"]["timestamp"])

    [alert] = await wait_for(stack, "MeterValues", since=suspended, timeout=IDLE_S + 15)
    values = alert["meterValue"][0]["sampledValue"]
    assert {v["context"] for v in values} == {"Other"}
    energy = [v for v in values if v.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register"]
    assert energy and float(energy[0]["value"]) >= start["meterStart"] + 10  # the totals so far
    assert alert["transactionId"] == (await transaction(stack))["transaction_id"]
    assert (parse_time(alert["meterValue"][0]["timestamp"]) - suspended_at).total_seconds() >= IDLE_S - 0.5

    lit = set()  # the LEDs ask too: red and blue in turn
    for _ in range(15):
        lit.add(tuple((await stack.bench_request("status"))["connectors"][0]["leds"]))
        await asyncio.sleep(0.1)
    assert lit == {("red",), ("blue",)}, lit

    told = (await messages(stack, "MeterValues", suspended))[-1]["seq"]
    await expect_none(stack, "MeterValues", told, within=IDLE_S + 2)  # once per idle stretch
    await asyncio.sleep(0.5)
    await stack.wait_screen("Move your car")

    # The process dies (a crash, a watchdog): the transaction resumes and the same idle
    # stretch goes on, so no second alert.
    boot = await restart_agent_and_wait(stack, signal.SIGKILL)
    await asyncio.sleep(IDLE_S + 3)
    assert await _idle_alerts(stack, boot) == []
    assert await messages(stack, "StopTransaction", boot) == []
    await stack.wait_screen("Move your car")  # still asked

    # It charges again, stops drawing, and the process dies before the alert: the resumed
    # transaction had charged, so its new stretch is alerted, once.
    since = await last_seq(stack)
    await stack.bench_request("resume", connector=1)
    await wait_status(stack, 1, "Charging", since)
    since = await last_seq(stack)
    await stack.bench_request("pause", connector=1)
    await wait_status(stack, 1, "SuspendedEV", since)
    boot = await restart_agent_and_wait(stack, signal.SIGKILL)
    await asyncio.sleep(IDLE_S + 4)
    assert len(await _idle_alerts(stack, boot)) == 1
    assert await messages(stack, "StopTransaction", boot) == []


async def _idle_alerts(stack, since: int) -> list[dict]:  # type: ignore[no-untyped-def]
    """The MeterValues with context Other (the idle alert's) received after ``since``."""
    return [m for m in await messages(stack, "MeterValues", since)
            if any(v.get("context") == "Other" for mv in m["payload"]["meterValue"] for v in mv["sampledValue"])]


async def test_idle_alert_in_201_is_an_updated_event_with_trigger_reason_charging_state_changed(charger) -> None:
    """The same alert as OCPP 2.0.1 spells it: a TransactionEvent Updated, triggerReason
    ChargingStateChanged with the chargingState the car idles in and the energy register
    in context Other, for the transaction that idles (Trigger is a TriggerMessage's)."""
    from tests.conformance201.helpers import V201, events, schema_violations, wait_event

    stack = await charger(backend=V201, sections={"screen": {"idle_alert_minutes": IDLE_S / 60}})
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid="04ADE201")
    started = await wait_event(stack, "Started", since)
    await wait_energy(stack, 1, 10)
    await stack.bench_request("pause", connector=1)
    for _ in range(int((IDLE_S + 15) / 0.1)):
        alerts = [e for e in await events(stack, since) if e["triggerReason"] == "ChargingStateChanged"
                  and any(s.get("context") == "Other" for mv in e.get("meterValue", []) for s in mv["sampledValue"])]
        if alerts:
            break
        await asyncio.sleep(0.1)
    [alert] = alerts
    assert alert["transactionInfo"]["transactionId"] == started["transactionInfo"]["transactionId"]
    assert alert["transactionInfo"]["chargingState"] == "SuspendedEV"
    sampled = alert["meterValue"][0]["sampledValue"]
    assert {s["context"] for s in sampled} == {"Other"}
    assert {s.get("measurand", "Energy.Active.Import.Register") for s in sampled} >= {"Energy.Active.Import.Register"}
    assert await schema_violations(stack) == []
