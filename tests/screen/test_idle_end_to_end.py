"""The idle alert end to end on the 1.6 bench: a car that stops drawing after it charged
is asked to move after the configured time, and the backend gets the transaction's
totals once, as a MeterValues with context Trigger; the LEDs show red and blue in turn,
and the bench's display asks the driver to move the car."""

from __future__ import annotations

import asyncio

from tests.conformance.helpers import expect_none, last_seq, messages, parse_time, plug_and_charge, wait_energy
from tests.conformance.helpers import transaction, wait_for, wait_status

IDLE_S = 3.0  # idle_alert_minutes = 0.05


async def test_idle_alert_tells_the_backend_once_with_the_totals(charger) -> None:
    stack = await charger(sections={"screen": {"idle_alert_minutes": IDLE_S / 60}})
    await plug_and_charge(stack, id_tag="04ADE100")
    start = (await messages(stack, "StartTransaction"))[-1]["payload"]
    await wait_energy(stack, 1, start["meterStart"] + 10)
    since = await last_seq(stack)
    await stack.bench_request("pause", connector=1)  # the car is full: it stops drawing
    suspended = await wait_status(stack, 1, "SuspendedEV", since)
    suspended_at = parse_time((await messages(stack, "StatusNotification", since))[-1]["payload"]["timestamp"])

    [alert] = await wait_for(stack, "MeterValues", since=suspended, timeout=IDLE_S + 15)
    values = alert["meterValue"][0]["sampledValue"]
    assert {v["context"] for v in values} == {"Trigger"}
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
    screen = await stack.wait_screen("Move your car")
    assert screen.splitlines()[:2] == ["Move your car", "Charging done"], screen


async def test_idle_alert_in_201_is_an_updated_event_with_trigger_reason_trigger(charger) -> None:
    """The same alert as OCPP 2.0.1 spells it: a TransactionEvent Updated, triggerReason
    Trigger, with the energy register, for the transaction that idles."""
    from tests.conformance201.helpers import V201, schema_violations, wait_event

    stack = await charger(backend=V201, sections={"screen": {"idle_alert_minutes": IDLE_S / 60}})
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid="04ADE201")
    started = await wait_event(stack, "Started", since)
    await wait_energy(stack, 1, 10)
    await stack.bench_request("pause", connector=1)
    alert = await wait_event(stack, "Updated", since, trigger="Trigger", timeout=IDLE_S + 15)
    assert alert["transactionInfo"]["transactionId"] == started["transactionInfo"]["transactionId"]
    sampled = alert["meterValue"][0]["sampledValue"]
    assert {s.get("measurand", "Energy.Active.Import.Register") for s in sampled} >= {"Energy.Active.Import.Register"}
    assert await schema_violations(stack) == []
