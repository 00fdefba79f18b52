"""OCPP 2.0.1 MeterValues (block J) inside a transaction, from the official cases: the
measurands configured for the start (``SampledDataCtrlr.TxStartedMeasurands``, context
Transaction.Begin), the periodic samples (``TxUpdatedMeasurands`` every
``TxUpdatedInterval``, Sample.Periodic) and what the Ended event carries
(``TxEndedMeasurands`` at Transaction.End, with the samples taken every
``SampledDataCtrlr.TxEndedInterval`` and the clock-aligned ones every
``AlignedDataCtrlr.TxEndedInterval``). TC_J_01/J_02 are in test_meter_values.py.
Every test ends with no schema violation in what the charger sent.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from tests.conformance.helpers import new_id_tag, parse_time
from tests.conformance201.helpers import V201, events, last_seq, schema_violations, wait_event, wait_for


def _sampled(event: dict[str, Any], context: str) -> list[tuple[str, dict[str, Any]]]:
    """(meterValue timestamp, sampledValue) of every sample of ``context`` in ``event``."""
    return [(mv["timestamp"], s) for mv in event.get("meterValue", []) for s in mv["sampledValue"]
            if s.get("context", "Sample.Periodic") == context]


def _measurands(samples: list[tuple[str, dict[str, Any]]]) -> set[str]:
    return {s.get("measurand", "Energy.Active.Import.Register") for _, s in samples}


def _register_wh(sample: dict[str, Any]) -> float:
    unit = sample.get("unitOfMeasure", {})
    factor = (1000.0 if unit.get("unit") == "kWh" else 1.0) * 10 ** unit.get("multiplier", 0)
    return float(sample["value"]) * factor


async def _charge(stack: Any, tag: str) -> tuple[dict[str, Any], int]:
    """Plug in and tap; return the Started event and the log position before it."""
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=tag)
    started = await wait_event(stack, "Started", since)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
    return started, since


async def _stop(stack: Any, tag: str) -> dict[str, Any]:
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    return await wait_event(stack, "Ended", since)


async def test_tc_j_07_cs_sampled_values_started_evse_known(charger) -> None:  # type: ignore[no-untyped-def]
    measurands = {"Energy.Active.Import.Register", "Current.Import", "Voltage"}
    stack = await charger(backend=V201, ocpp={"SampledDataCtrlr.TxStartedMeasurands": ",".join(sorted(measurands))})
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)  # the EVSE is known first
    await stack.bench_request("tap", uid=new_id_tag())
    started = await wait_event(stack, "Started", since)
    assert started["evse"]["id"] == 1
    begin = _sampled(started, "Transaction.Begin")
    assert begin and len(begin) == sum(len(mv["sampledValue"]) for mv in started["meterValue"])  # nothing else
    assert _measurands(begin) == measurands
    units = {s.get("measurand", "Energy.Active.Import.Register"): s.get("unitOfMeasure", {}).get("unit")
             for _, s in begin}
    assert units["Voltage"] == "V" and units["Current.Import"] == "A"
    assert await schema_violations(stack) == []


async def test_tc_j_08_cs_transaction_begin_when_the_evse_becomes_known(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=new_id_tag())  # authorized before any EVSE is chosen
    await wait_for(stack, "Authorize", since=since)
    await stack.bench_request("plug", connector=1, max_current=16)
    first = await wait_event(stack, "Started", since)
    # The first event of the transaction names the EVSE and carries the Transaction.Begin values.
    assert first["seqNo"] == 0
    assert first["evse"] == {"id": 1, "connectorId": 1}
    assert _measurands(_sampled(first, "Transaction.Begin")) == {"Energy.Active.Import.Register"}
    assert await schema_violations(stack) == []


async def test_tc_j_09_cs_sampled_values_updated(charger) -> None:  # type: ignore[no-untyped-def]
    measurands = {"Energy.Active.Import.Register", "Power.Active.Import"}
    stack = await charger(backend=V201, ocpp={"MeterValueSampleInterval": 1,
                                              "MeterValuesSampledData": ",".join(sorted(measurands))})
    started, since = await _charge(stack, new_id_tag())
    tx = started["transactionInfo"]["transactionId"]
    await wait_event(stack, "Updated", since, trigger="MeterValuePeriodic")
    deadline = asyncio.get_running_loop().time() + 10
    while len(periodic := [e for e in await _events_of(stack, tx, since)
                           if e["triggerReason"] == "MeterValuePeriodic"]) < 3:
        assert asyncio.get_running_loop().time() < deadline, periodic
        await asyncio.sleep(0.2)
    for event in periodic:
        assert event["eventType"] == "Updated"
        samples = _sampled(event, "Sample.Periodic")
        assert samples and _measurands(samples) == measurands
        assert {s.get("context") for mv in event["meterValue"] for s in mv["sampledValue"]} == {"Sample.Periodic"}
    stamps: list[datetime] = [parse_time(e["meterValue"][0]["timestamp"]) for e in periodic]
    gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:])]
    assert all(0.5 <= gap <= 2.5 for gap in gaps), gaps  # every TxUpdatedInterval (1 s)
    assert await schema_violations(stack) == []


async def _events_of(stack: Any, tx: str, since: int) -> list[dict[str, Any]]:
    return [e for e in await events(stack, since) if e["transactionInfo"]["transactionId"] == tx]


async def test_tc_j_10_cs_sampled_values_ended(charger) -> None:  # type: ignore[no-untyped-def]
    measurands = {"Energy.Active.Import.Register", "Current.Import"}
    # TxEndedInterval is read-only here: it follows the sampling interval (MeterValueSampleInterval,
    # shared with 1.6), which the device model reports as it (docs/ocpp201-device-model.md).
    stack = await charger(backend=V201, ocpp={"StopTxnSampledData": ",".join(sorted(measurands)),
                                              "MeterValueSampleInterval": 1})
    tag = new_id_tag()
    await _charge(stack, tag)
    await stack.bench_request("wait_for", connector=1, field="energy_wh", value=5, op="ge", timeout=15)
    await asyncio.sleep(2.5)  # a few TxEndedInterval samples
    ended = await _stop(stack, tag)
    end = _sampled(ended, "Transaction.End")
    assert _measurands(end) == measurands
    periodic = _sampled(ended, "Sample.Periodic")
    assert _measurands(periodic) == measurands
    stamps = sorted({parse_time(t) for t, _ in periodic})
    assert len(stamps) >= 2, stamps  # one set per TxEndedInterval while it ran
    registers = [_register_wh(s) for _, s in periodic if s.get("measurand", "Energy.Active.Import.Register")
                 == "Energy.Active.Import.Register"]
    final = [_register_wh(s) for _, s in end if s.get("measurand", "Energy.Active.Import.Register")
             == "Energy.Active.Import.Register"]
    assert registers == sorted(registers) and final[0] >= registers[-1] > 0
    assert await schema_violations(stack) == []


async def test_tc_j_03_cs_clock_aligned_values_ended(charger) -> None:  # type: ignore[no-untyped-def]
    interval = 2
    # AlignedDataCtrlr.TxEndedInterval is read-only here: it follows ClockAlignedDataInterval.
    stack = await charger(backend=V201, ocpp={"StopTxnAlignedData": "Energy.Active.Import.Register",
                                              "ClockAlignedDataInterval": interval})
    tag = new_id_tag()
    await _charge(stack, tag)
    await asyncio.sleep(2 * interval + 1.0)  # at least two clock-aligned instants while it runs
    ended = await _stop(stack, tag)
    clock = _sampled(ended, "Sample.Clock")
    assert _measurands(clock) == {"Energy.Active.Import.Register"}
    stamps = sorted({parse_time(t) for t, _ in clock})
    assert len(stamps) >= 2, stamps
    for stamp in stamps:  # on the clock: a whole multiple of the interval past midnight
        past = stamp.hour * 3600 + stamp.minute * 60 + stamp.second + stamp.microsecond / 1e6
        offset = past % interval
        assert min(offset, interval - offset) < 0.5, stamp
    assert _sampled(ended, "Transaction.End")  # the register at the end too
    assert await schema_violations(stack) == []
