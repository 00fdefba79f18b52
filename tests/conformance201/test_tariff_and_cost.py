"""OCPP 2.0.1 TariffAndCost (block I: I01-I06) over the real agent and the test CSMS.

The backend's side is checked from the CSMS (the answers; no schema violation in
anything the charger sent). What the charger made of the prices and costs is read from
its log, where every personal message and cost the backend gave is written as it is
handed to the screen (``agent/ocpp201/tariff_handlers.py``; the screen itself has its
own tests). The costs a CSMS answers TransactionEvents with are played with
``answer_raw`` (the test CSMS's own answers carry none). One charger serves the module.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from simulators.harness import Stack
from tests.conformance.helpers import new_id_tag
from tests.conformance201.helpers import call, events, last_seq, schema_violations, wait_event
from tests.conformance201.shared_stack import shared_stack

shared = pytest.mark.asyncio(loop_scope="module")
COST = "backend's cost for the driver"
PERSONAL = "backend's message for the driver"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(csms_server: tuple[int, Path]) -> AsyncIterator[Stack]:
    async with shared_stack(csms_server, "TCI") as started:
        yield started


def logged(stack: Stack, event: str) -> list[dict[str, Any]]:
    """The agent's log lines (JSON) of ``event``, oldest first."""
    lines = []
    for line in stack.agent_log().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == event:
            lines.append(entry)
    return lines


async def wait_logged(stack: Stack, event: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    for _ in range(int(timeout * 10)):
        found = logged(stack, event)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{event!r} logged {len(logged(stack, event))} times, not {count}\n{stack.agent_log()}")


async def start(stack: Stack, tag: str | None = None) -> tuple[str, int]:
    """A session on EVSE 1, charging (its events settled: the next TransactionEvent is
    the one a test provokes): its transactionId and the seq before it."""
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=tag or new_id_tag())
    started = await wait_event(stack, "Started", since)
    charging = await wait_event(stack, "Updated", since, trigger="ChargingStateChanged")
    assert charging["transactionInfo"]["chargingState"] == "Charging"
    return started["transactionInfo"]["transactionId"], since


async def end(stack: Stack, since: int) -> None:
    await stack.bench_request("unplug", connector=1)
    await wait_event(stack, "Ended", since)


def _answer(payload: dict[str, Any]) -> str:
    """A CALLRESULT frame for answer_raw ($ID: the CALL's unique id)."""
    return f'[3,"$ID",{json.dumps(payload)}]'


@shared
async def test_tc_i_01_cs_running_total_cost_by_cost_updated_and_the_tariff_of_the_token(stack: Stack) -> None:
    tag = new_id_tag()
    await stack.csms.request("set_id_tag", id_tag=tag, status="Accepted", personal_message="0.35 EUR/kWh")
    personal_before, costs_before = len(logged(stack, PERSONAL)), len(logged(stack, COST))
    tx, since = await start(stack, tag)
    # I01: the tariff, from the Authorize answer (the EVSE not known yet) and the Started one's.
    told = (await wait_logged(stack, PERSONAL, personal_before + 2))[personal_before:]
    assert [(t["connector"], t["characters"]) for t in told] == [(None, 12), (1, 12)]
    assert await call(stack, "CostUpdated", {"totalCost": 1.25, "transactionId": tx}) == {}
    assert await call(stack, "CostUpdated", {"totalCost": 9, "transactionId": "no-such-transaction"}) == {}
    cost = (await wait_logged(stack, COST, costs_before + 1))[costs_before:]
    assert [(c["connector"], c["total_cost"], c["final"]) for c in cost] == [(1, "1.25 EUR", False)]
    assert logged(stack, "cost for a transaction this charger does not know: not shown")
    await end(stack, since)
    assert await schema_violations(stack) == []


@shared
async def test_tc_i_07_cs_running_total_cost_in_the_transaction_event_response(stack: Stack) -> None:
    tx, since = await start(stack)
    before = len(logged(stack, COST))
    await stack.csms.request("answer_raw", cp=stack.cp_id, action="TransactionEvent", frames=[_answer({
        "totalCost": 2.5, "updatedPersonalMessage": {"format": "UTF8", "content": "2.50 EUR so far"}})])
    answer = await call(stack, "TriggerMessage", {"requestedMessage": "TransactionEvent", "evse": {"id": 1}})
    assert answer["status"] == "Accepted"
    updated = await wait_event(stack, "Updated", since, trigger="Trigger")
    assert updated["transactionInfo"]["transactionId"] == tx
    cost = (await wait_logged(stack, COST, before + 1))[before:]
    assert [(c["connector"], c["total_cost"], c["final"]) for c in cost] == [(1, "2.50 EUR", False)]
    await end(stack, since)
    assert await schema_violations(stack) == []


@shared
async def test_tc_i_02_cs_final_total_cost_after_charging(stack: Stack) -> None:
    answer = await call(stack, "SetVariables", {"setVariableData": [
        {"component": {"name": "TariffCostCtrlr"}, "variable": {"name": "Currency"}, "attributeValue": "SEK"},
        {"component": {"name": "TariffCostCtrlr"}, "variable": {"name": "TotalCostFallbackMessage"},
         "attributeValue": "See your invoice"}]})
    assert [r["attributeStatus"] for r in answer["setVariableResult"]] == ["Accepted", "Accepted"]
    _tx, since = await start(stack)
    before, queued = len(logged(stack, COST)), await last_seq(stack)
    await stack.csms.request("answer_raw", cp=stack.cp_id, action="TransactionEvent",
                             frames=[_answer({"totalCost": 4.75})])
    await end(stack, since)
    assert [e["eventType"] for e in await events(stack, queued)] == ["Ended"]  # the one the cost answered
    cost = (await wait_logged(stack, COST, before + 1))[before:]
    assert [(c["connector"], c["total_cost"], c["final"]) for c in cost] == [(1, "4.75 SEK", True)]
    answer = await call(stack, "GetVariables", {"getVariableData": [
        {"component": {"name": "TariffCostCtrlr"}, "variable": {"name": "TotalCostFallbackMessage"}}]})
    assert answer["getVariableResult"][0]["attributeValue"] == "See your invoice"
    assert await schema_violations(stack) == []
