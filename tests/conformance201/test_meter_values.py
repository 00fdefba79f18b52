"""OCPP 2.0.1 J01/J02: clock-aligned values outside a transaction (MeterValues) and
sampled values inside one (TransactionEvent Updated), the same measurands as in 1.6,
per phase where the meter gives phases."""

from __future__ import annotations

from tests.conformance.helpers import new_id_tag
from tests.conformance201.helpers import V201, last_seq, schema_violations, wait_event, wait_for


async def test_tc_j_01_cs_clock_aligned_values_outside_a_transaction(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"ClockAlignedDataInterval": 2,
                                              "MeterValuesAlignedData": "Energy.Active.Import.Register,Voltage"})
    since = await last_seq(stack)
    values = (await wait_for(stack, "MeterValues", since=since, timeout=10))[0]
    assert values["evseId"] == 1
    sampled = values["meterValue"][0]["sampledValue"]
    assert {s["context"] for s in sampled} == {"Sample.Clock"}
    assert {s["measurand"] for s in sampled} == {"Energy.Active.Import.Register", "Voltage"}
    assert {s["unitOfMeasure"]["unit"] for s in sampled if s["measurand"] == "Voltage"} == {"V"}
    assert await schema_violations(stack) == []


async def test_tc_j_02_cs_sampled_values_in_a_transaction_per_phase(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"MeterValueSampleInterval": 2,
                                              "MeterValuesSampledData": "Energy.Active.Import.Register,Current.Import"})
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=new_id_tag())
    started = await wait_event(stack, "Started", since)
    periodic = await wait_event(stack, "Updated", since, trigger="MeterValuePeriodic", timeout=10)
    assert periodic["transactionInfo"]["transactionId"] == started["transactionInfo"]["transactionId"]
    sampled = periodic["meterValue"][0]["sampledValue"]
    assert {s["context"] for s in sampled} == {"Sample.Periodic"}
    phases = {s.get("phase") for s in sampled if s["measurand"] == "Current.Import"}
    assert phases == {"L1", "L2", "L3"}
    assert await schema_violations(stack) == []
