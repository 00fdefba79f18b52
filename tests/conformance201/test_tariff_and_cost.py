"""OCPP 2.0.1 TariffAndCost (block I: I01-I06) over the real agent and the test CSMS.

The backend's side is checked from the CSMS (the answers; no schema violation in
anything the charger sent). What the driver reads is checked on the bench's display
(20x4, one connector: ``tests/conformance201/screen_helpers.py``): the tariff of the
token before the session starts, the running and the final cost, and the fallback texts
while the backend is out of reach. The log says which connector each backend cost and
personal message went to (``agent/ocpp201/tariff_handlers.py``). The costs a CSMS
answers TransactionEvents with are played with ``answer_raw`` (the test CSMS's own
answers carry none). One charger serves the module.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from simulators.control import ControlError
from simulators.harness import Stack
from tests.conformance.helpers import new_id_tag
from tests.conformance201.helpers import call, events, last_seq, schema_violations, wait_event
from tests.conformance201.screen_helpers import FAST_PAGES, seen, wait_rows, watch
from tests.shared_stack import shared_stack

shared = pytest.mark.asyncio(loop_scope="module")
COST = "backend's cost for the driver"
PERSONAL = "backend's message for the driver"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(csms_server: tuple[int, Path]) -> AsyncIterator[Stack]:
    # A finished session's summary stays 6 s after the unplug: long enough to read, short
    # enough that the next case starts on a ready screen.
    sections = {"screen": {**FAST_PAGES["screen"], "finished_seconds": 6}}
    async with shared_stack(csms_server, "TCI", sections=sections) as started:
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


async def tariff_settings(stack: Stack, **values: str) -> None:
    """Set TariffCostCtrlr variables (Currency, TariffFallbackMessage, ...)."""
    answer = await call(stack, "SetVariables", {"setVariableData": [
        {"component": {"name": "TariffCostCtrlr"}, "variable": {"name": name}, "attributeValue": value}
        for name, value in values.items()]})
    assert [r["attributeStatus"] for r in answer["setVariableResult"]] == ["Accepted"] * len(values), answer


def rows_of(samples: list[tuple[Any, list[str]]]) -> list[str]:
    return [" | ".join(line for line in lines if line) for _, lines in samples]


def _answer(payload: dict[str, Any]) -> str:
    """A CALLRESULT frame for answer_raw ($ID: the CALL's unique id)."""
    return f'[3,"$ID",{json.dumps(payload)}]'


@shared
async def test_tc_i_01_cs_running_total_cost_by_cost_updated_and_the_tariff_of_the_token(stack: Stack) -> None:
    await tariff_settings(stack, Currency="EUR")
    await wait_rows(stack, "Ready to use", connectors=1)
    tag = new_id_tag()
    await stack.csms.request("set_id_tag", id_tag=tag, status="Accepted", personal_message="0.35 EUR/kWh")
    personal_before, costs_before = len(logged(stack, PERSONAL)), len(logged(stack, COST))
    # I01: the driver taps first and reads the tariff of the card (the Authorize answer's
    # personalMessage) before plugging in, while the screen asks for the car.
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=tag)
    await wait_rows(stack, "Plug in car", connectors=1)
    samples = await watch(stack, 5)
    assert seen(samples, "0.35 EUR/kWh", connectors=1) and seen(samples, "Card accepted", connectors=1), \
        rows_of(samples)
    assert await events(stack, since) == []  # before any transaction
    await stack.bench_request("plug", connector=1, max_current=16)
    tx = (await wait_event(stack, "Started", since))["transactionInfo"]["transactionId"]
    await wait_event(stack, "Updated", since, trigger="ChargingStateChanged")
    told = (await wait_logged(stack, PERSONAL, personal_before + 1))[personal_before:]
    assert [(t["connector"], t["characters"]) for t in told][0] == (None, 12)  # the Authorize answer's
    await wait_rows(stack, "0.35 EUR/kWh", connectors=1)  # and while it charges, a page of its own
    assert await call(stack, "CostUpdated", {"totalCost": 1.25, "transactionId": tx}) == {}
    assert await call(stack, "CostUpdated", {"totalCost": 9, "transactionId": "no-such-transaction"}) == {}
    cost = (await wait_logged(stack, COST, costs_before + 1))[costs_before:]
    assert [(c["connector"], c["total_cost"], c["final"]) for c in cost] == [(1, "1.25 EUR", False)]
    assert logged(stack, "cost for a transaction this charger does not know: not shown")
    screen = "\n".join(await rows_after(stack, "Cost 1.25 EUR"))  # TC_I_01_CS: the running cost
    assert "Charging" in screen and "kWh" in screen and "Time 0:0" in screen, screen
    samples = await watch(stack, 5)
    assert not seen(samples, "9.00", connectors=1), rows_of(samples)  # the unknown transaction's cost
    await end(stack, since)
    assert await schema_violations(stack) == []


async def rows_after(stack: Stack, text: str) -> list[str]:
    """The display's rows once ``text`` is on it."""
    await wait_rows(stack, text, connectors=1)
    return await stack.screen()


@shared
async def test_tc_i_07_cs_running_total_cost_in_the_transaction_event_response(stack: Stack) -> None:
    await tariff_settings(stack, Currency="EUR")
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
    screen = "\n".join(await rows_after(stack, "Cost 2.50 EUR"))  # the running cost with the session's
    assert "Charging" in screen and "kWh" in screen, screen
    await wait_rows(stack, "2.50 EUR so far", connectors=1)  # the updatedPersonalMessage, a page of its own
    await end(stack, since)
    assert await schema_violations(stack) == []


@shared
async def test_tc_i_02_cs_final_total_cost_after_charging(stack: Stack) -> None:
    await tariff_settings(stack, Currency="SEK", TotalCostFallbackMessage="See your invoice")
    try:
        _tx, since = await start(stack)
        before, queued = len(logged(stack, COST)), await last_seq(stack)
        await stack.csms.request("answer_raw", cp=stack.cp_id, action="TransactionEvent",
                                 frames=[_answer({"totalCost": 4.75})])
        await end(stack, since)
        assert [e["eventType"] for e in await events(stack, queued)] == ["Ended"]  # the one the cost answered
        cost = (await wait_logged(stack, COST, before + 1))[before:]
        assert [(c["connector"], c["total_cost"], c["final"]) for c in cost] == [(1, "4.75 SEK", True)]
        screen = "\n".join(await rows_after(stack, "Total 4.75 SEK"))  # the final cost, with the session's
        assert "Finished" in screen and "kWh" in screen and "Time 0:0" in screen, screen
        assert "See your invoice" not in screen  # the cost is known: no fallback
        answer = await call(stack, "GetVariables", {"getVariableData": [
            {"component": {"name": "TariffCostCtrlr"}, "variable": {"name": "TotalCostFallbackMessage"}}]})
        assert answer["getVariableResult"][0]["attributeValue"] == "See your invoice"
    finally:
        await tariff_settings(stack, Currency="EUR", TotalCostFallbackMessage="")
    assert await schema_violations(stack) == []


@shared
async def test_tariff_and_total_cost_fallback_messages_while_offline(stack: Stack) -> None:
    """TariffFallbackMessage is the price a driver reads when the backend gives none for
    the token; TotalCostFallbackMessage what a session's cost reads while the backend
    cannot give it: the link is cut while the car charges (the last running cost shows,
    with the offline mode) and still when the session ends (that running cost is no
    total: it reads as the cost so far, with the fallback beside it)."""
    await tariff_settings(stack, Currency="EUR", TariffFallbackMessage="Price: see app",
                          TotalCostFallbackMessage="See your invoice")
    try:
        screen = "\n".join(await rows_after(stack, "Price: see app"))
        assert "Ready to use" in screen, screen
        tx, since = await start(stack)
        assert await call(stack, "CostUpdated", {"totalCost": 1.1, "transactionId": tx}) == {}
        await wait_rows(stack, "Cost 1.10 EUR", connectors=1)
        await stack.bench_request("link", state="cut")
        try:
            await wait_rows(stack, "Offline mode", connectors=1, timeout=30)
            samples = await watch(stack, 5)  # the session's pages: its values, its cost so far, offline
            for text in ("Charging", "kWh", "Cost 1.10 EUR", "Offline mode"):
                assert seen(samples, text, connectors=1), (text, rows_of(samples))
            assert not seen(samples, "See your invoice", connectors=1), rows_of(samples)
            await stack.bench_request("unplug", connector=1)
            await wait_rows(stack, "Finished", connectors=1)
            finished = await watch(stack, 4)
            assert seen(finished, "See your invoice", connectors=1), rows_of(finished)
            assert seen(finished, "Cost 1.10 EUR", connectors=1), rows_of(finished)  # the cost so far,
            assert not seen(finished, "Total", connectors=1), rows_of(finished)  # which is no total
            lines = await rows_after(stack, "Ready to use")  # the price the backend left, and why
            assert lines == ["Ready to use", "Price: see app", "Tap your card", "Offline mode"], lines
        finally:
            await stack.bench_request("link", state="up")
        await wait_event(stack, "Ended", since, timeout=60)  # sent once the link is back
    finally:
        await reconnected(stack)
        await tariff_settings(stack, TariffFallbackMessage="", TotalCostFallbackMessage="")
    assert await schema_violations(stack) == []


async def reconnected(stack: Stack, timeout: float = 60.0) -> None:
    """Wait until the CSMS can reach the charger again (after a cut link)."""
    for _ in range(int(timeout * 2)):
        try:
            await call(stack, "GetVariables", {"getVariableData": [
                {"component": {"name": "TariffCostCtrlr"}, "variable": {"name": "Currency"}}]})
            return
        except ControlError:
            await asyncio.sleep(0.5)
    raise AssertionError(f"the charger did not come back in {timeout} s")
