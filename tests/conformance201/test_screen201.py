"""The driver's screen at each step of a session on an OCPP 2.0.1 charger, read from the
bench's display (20x4, one connector) as a driver reads it: ready, a card being checked,
refused and why, charging (kW, kWh, time), a fault in words with whom to call, finished,
and the offline mode. The same words on the 1.6 bench: tests/screen/.

One charger serves the module; each case starts and ends on the ready screen.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from simulators.harness import Stack
from tests.conformance.helpers import new_id_tag
from tests.conformance201.helpers import last_seq, schema_violations, wait_event
from tests.conformance201.screen_helpers import FAST_PAGES, seen, wait_rows, watch
from tests.shared_stack import shared_stack

shared = pytest.mark.asyncio(loop_scope="module")
PHONE = "+46 8 123 45"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(csms_server: tuple[int, Path]) -> AsyncIterator[Stack]:
    sections = {"operator": {"name": "Ladda", "phone": PHONE},
                "screen": {**FAST_PAGES["screen"], "finished_seconds": 4}}
    # Offline, a card nobody can check is refused (no local list, no cache of it).
    ocpp = {"LocalAuthorizeOffline": False, "AllowOfflineTxForUnknownId": False}
    async with shared_stack(csms_server, "TSC", ocpp=ocpp, sections=sections) as started:
        yield started


async def headed(stack: Stack, header: str, timeout: float = 15.0) -> list[str]:
    """The display's rows once its top row reads ``header``."""
    lines: list[str] = []
    for _ in range(int(timeout * 10)):
        lines = await stack.screen()
        if lines and lines[0] == header:
            return lines
        await asyncio.sleep(0.1)
    raise AssertionError(f"the screen never read {header!r} on top; it reads {lines}")


async def screen_with(stack: Stack, text: str, timeout: float = 15.0) -> str:
    """The whole display (rows joined by newlines) once ``text`` is on it."""
    await wait_rows(stack, text, connectors=1, timeout=timeout)
    return "\n".join(await stack.screen())


@shared
async def test_ready_then_refused_cards_say_why(stack: Stack) -> None:
    assert (await screen_with(stack, "Ready to use")).split("\n")[:2] == ["Ready to use", "Tap your card"]
    for status, why in (("Invalid", "Unknown card"), ("Blocked", "Card blocked"), ("Expired", "Card expired")):
        tag = new_id_tag()
        await stack.csms.request("set_id_tag", id_tag=tag, status=status)
        await stack.bench_request("tap", uid=tag)
        assert (await screen_with(stack, why)).split("\n")[:2] == ["Card refused", why]
    await wait_rows(stack, "Ready to use", connectors=1, timeout=20)  # the answer shows a while, then ready
    assert await schema_violations(stack) == []


@shared
async def test_charging_a_fault_in_words_and_finished(stack: Stack) -> None:
    await wait_rows(stack, "Ready to use", connectors=1, timeout=20)
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    try:
        await headed(stack, "Tap your card")  # plugged in: the card is what is missing
        await stack.bench_request("tap", uid=new_id_tag())
        await wait_event(stack, "Started", since)
        lines = (await screen_with(stack, " kW ")).split("\n")  # power and energy share a line
        assert lines[0] == "Charging" and lines[1].endswith(" kWh") and lines[2].startswith("Time 0:0"), lines
        await stack.bench_request("rcd", connector=1, tripped=True)
        try:
            lines = await headed(stack, "Out of order")
            assert lines == ["Out of order", "Earth fault", "Ladda", f"Call {PHONE}"], lines
        finally:
            await stack.bench_request("rcd", connector=1, tripped=False)
    finally:
        await stack.bench_request("unplug", connector=1)
    await wait_event(stack, "Ended", since)
    lines = await headed(stack, "Finished")
    assert lines[0] == "Finished" and lines[1].endswith(" kWh") and lines[2].startswith("Time 0:0"), lines
    await wait_rows(stack, "Ready to use", connectors=1, timeout=20)
    assert await schema_violations(stack) == []


@shared
async def test_a_card_being_checked_and_the_offline_mode(stack: Stack) -> None:
    await wait_rows(stack, "Ready to use", connectors=1, timeout=20)
    # A backend that does not answer (a half-open link): the card is being checked.
    await stack.bench_request("link", state="stall")
    try:
        await stack.bench_request("tap", uid=new_id_tag())
        lines = await headed(stack, "Checking card")
        assert lines[:2] == ["Checking card", "Please wait"], lines
    finally:
        await stack.bench_request("link", state="cut")
    # No backend: the screen says so, and a card nobody can check is refused in words.
    samples = await watch(stack, 40, until="Offline mode")
    assert seen(samples, "Offline mode", connectors=1), samples
    await wait_rows(stack, "Ready to use", connectors=1, timeout=20)
    lines = (await screen_with(stack, "Offline mode")).split("\n")
    assert lines[0] == "Ready to use" and "Offline mode" in lines, lines
    try:
        await stack.bench_request("tap", uid=new_id_tag())
        lines = await headed(stack, "Card refused")
        assert lines[:2] == ["Card refused", "Not when offline"], lines
    finally:
        await stack.bench_request("link", state="up")
    for _ in range(120):  # back online: the screen says so no more
        lines = await stack.screen()
        if lines[:2] == ["Ready to use", "Tap your card"] and "Offline mode" not in lines:
            break
        await asyncio.sleep(0.5)
    assert lines[:2] == ["Ready to use", "Tap your card"] and "Offline mode" not in lines, lines
    assert await schema_violations(stack) == []
