"""OCPP 2.0.1 DisplayMessage (block O: O01-O06 SetDisplayMessage, GetDisplayMessages,
ClearDisplayMessage, NotifyDisplayMessages) over the real agent and the test CSMS.

What the backend sees is checked from its side: the answers, and the
NotifyDisplayMessages that follow an Accepted GetDisplayMessages. What the driver sees
is read from the bench's display (20x4; connector 1 on the top two rows, connector 2 on
the bottom two; ``tests/conformance201/screen_helpers.py``): a message appears, at its
start time, in its state, on its EVSE, in front of what it outranks, and is gone after
its end time or its transaction. The exact order of priorities, which the screen's
turning pages hide, is read from the message board in the agent's state database
(``agent.screen.board``). Most cases share one started charger (two EVSEs) to keep the
module fast; each uses its own message ids and clears the board where it reads the
screen. Every test ends with no schema violation in what the charger sent (its answers
included).
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from agent.screen import DriverMessage
from agent.screen.board import MessageBoard
from agent.store import Database
from simulators.harness import Stack
from tests.conformance.helpers import new_id_tag
from tests.conformance201.helpers import V201, call, last_seq, messages, schema_violations, wait_event, wait_for
from tests.conformance201.screen_helpers import FAST_PAGES, seen, wait_rows, watch
from tests.shared_stack import shared_stack

#: The tests run on the module's event loop, which owns the shared charger.
shared = pytest.mark.asyncio(loop_scope="module")
_request_ids = itertools.count(100)
#: How late a change may reach the display: the screen redraws every second; a loaded machine.
SLACK = timedelta(seconds=3)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(csms_server: tuple[int, Path]) -> AsyncIterator[Stack]:
    """One booted 2.0.1 charger with two EVSEs for the module."""
    async with shared_stack(csms_server, "TCO", connectors=2, sections=FAST_PAGES) as started:
        yield started


def _wire(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def info(message_id: int, text: str = "Welcome", priority: str = "NormalCycle", fmt: str = "UTF8",
         **more: Any) -> dict[str, Any]:
    """A MessageInfo; ``more`` in camelCase (state, startDateTime, transactionId, ...)."""
    return {"id": message_id, "priority": priority, "message": {"format": fmt, "content": text}, **more}


async def set_message(stack: Stack, message: dict[str, Any]) -> str:
    answer = await call(stack, "SetDisplayMessage", {"message": message})
    assert "error" not in answer, answer
    return str(answer["status"])


async def get_messages(stack: Stack, **criteria: Any) -> tuple[str, list[dict[str, Any]]]:
    """GetDisplayMessages: its status and, when Accepted, every MessageInfo the
    NotifyDisplayMessages pages carried (checked: this request's id, tbc on all but the last)."""
    request_id = next(_request_ids)
    since = await last_seq(stack)
    answer = await call(stack, "GetDisplayMessages", {"requestId": request_id, **criteria})
    assert "error" not in answer, answer
    if answer["status"] != "Accepted":
        await asyncio.sleep(0.3)
        assert [m for m in await _notified(stack, since) if m["requestId"] == request_id] == []
        return str(answer["status"]), []
    pages: list[dict[str, Any]] = []
    for _ in range(50):
        pages = [p for p in await _notified(stack, since) if p["requestId"] == request_id]
        if pages and not pages[-1].get("tbc", False):
            break
        await asyncio.sleep(0.1)
    assert pages and not pages[-1].get("tbc", False), f"NotifyDisplayMessages incomplete: {pages}"
    assert all(p.get("tbc") for p in pages[:-1])
    return "Accepted", [m for p in pages for m in p.get("messageInfo", [])]


async def _notified(stack: Stack, since: int) -> list[dict[str, Any]]:
    return [m["payload"] for m in await messages(stack, "NotifyDisplayMessages", since)]


async def clear_all(stack: Stack) -> None:
    """Clear every message held (cases that need an empty board)."""
    status, held = await get_messages(stack)
    for message in held:
        assert (await call(stack, "ClearDisplayMessage", {"id": message["id"]}))["status"] == "Accepted"


def board(stack: Stack) -> MessageBoard:
    """The message board as the agent keeps it, read from its state database."""
    db = Database(stack.state_dir)
    db.open()
    try:
        return MessageBoard(db)
    finally:
        db.close()


def ids(messages: list[DriverMessage]) -> list[int]:
    return [m.id for m in messages]


async def _clean(stack: Stack) -> None:
    assert await schema_violations(stack) == []


@shared
async def test_tc_o_01_cs_o_02_cs_o_07_cs_o_12_cs_set_get_and_replace(stack: Stack) -> None:
    await clear_all(stack)
    assert await set_message(stack, info(1, "Welcome at Ladda", state="Idle")) == "Accepted"  # O01
    for connector in (1, 2):  # a message for the whole charger: on both connectors' rows
        await wait_rows(stack, "Welcome at Ladda", connector)
    status, held = await get_messages(stack)  # O03: all of them
    assert status == "Accepted"
    assert {"id": 1, "priority": "NormalCycle", "state": "Idle",
            "message": {"format": "UTF8", "content": "Welcome at Ladda", "language": "en"}} in held
    # O06: the same id again replaces the message (language: the station's, none was given).
    assert await set_message(stack, info(1, "Now 0.30 EUR/kWh", "InFront",
                                         message={"format": "ASCII", "content": "Now 0.30 EUR/kWh",
                                                  "language": "de"})) == "Accepted"
    replaced = await wait_rows(stack, "Now 0.30 EUR/kWh", 1)  # TC_O_12_CS: the new text is shown ...
    samples = await watch(stack, 5)  # ... and the old one no more (a cycle: the message, the status)
    assert not seen(samples, "Welcome at Ladda", after=replaced + timedelta(seconds=1.5)), samples
    assert seen(samples, "Now 0.30 EUR/kWh", 1) and seen(samples, "Ready to use", 1), samples
    status, held = await get_messages(stack, id=[1])  # O04 by id
    assert (status, held) == ("Accepted", [{"id": 1, "priority": "InFront", "message": {
        "format": "ASCII", "content": "Now 0.30 EUR/kWh", "language": "de"}}])
    assert ids(board(stack).messages()).count(1) == 1
    await clear_all(stack)
    await _clean(stack)


@shared
async def test_tc_o_03_cs_and_o_33_cs_no_display_messages_configured(stack: Stack) -> None:
    await clear_all(stack)
    assert await get_messages(stack) == ("Unknown", [])  # O03: nothing at all
    assert await get_messages(stack, id=[5]) == ("Unknown", [])  # O04: nothing to match
    assert await get_messages(stack, priority="AlwaysFront") == ("Unknown", [])
    await _clean(stack)


@shared
async def test_tc_o_08_cs_o_09_cs_o_11_cs_o_34_cs_o_35_cs_get_by_criteria(stack: Stack) -> None:
    assert await set_message(stack, info(21, "Charging here", "InFront", state="Charging")) == "Accepted"
    assert await set_message(stack, info(22, "Plug in to start", "NormalCycle", state="Idle")) == "Accepted"
    status, held = await get_messages(stack, priority="InFront")  # TC_O_08_CS
    assert status == "Accepted" and 21 in [m["id"] for m in held] and 22 not in [m["id"] for m in held]
    status, held = await get_messages(stack, state="Idle")  # TC_O_09_CS
    assert status == "Accepted" and 22 in [m["id"] for m in held] and 21 not in [m["id"] for m in held]
    assert all(m["state"] == "Idle" for m in held)
    assert await get_messages(stack, id=[99]) == ("Unknown", [])  # TC_O_11_CS: an id not held
    assert await get_messages(stack, id=[21], state="Idle") == ("Unknown", [])  # TC_O_34_CS
    assert await get_messages(stack, id=[22], priority="AlwaysFront") == ("Unknown", [])  # TC_O_35_CS
    status, held = await get_messages(stack, id=[21, 22], state="Charging")
    assert (status, [m["id"] for m in held]) == ("Accepted", [21])
    await _clean(stack)


@shared
async def test_tc_o_04_cs_and_o_05_cs_clear_display_message(stack: Stack) -> None:
    assert await set_message(stack, info(31)) == "Accepted"
    assert await call(stack, "ClearDisplayMessage", {"id": 31}) == {"status": "Accepted"}
    assert await call(stack, "ClearDisplayMessage", {"id": 31}) == {"status": "Unknown"}  # TC_O_05_CS
    assert await get_messages(stack, id=[31]) == ("Unknown", [])
    assert 31 not in ids(board(stack).messages())
    await _clean(stack)


@shared
async def test_tc_o_13_cs_and_o_14_cs_display_from_start_time_removed_after_end_time(stack: Stack) -> None:
    await clear_all(stack)
    now = datetime.now(UTC)
    # AlwaysFront: each fills the screen alone while it is in its window, so what shows
    # when is read without waiting for the pages' turn. A slow machine has SLACK to redraw.
    end, start = now + timedelta(seconds=4), now + timedelta(seconds=10)
    assert await set_message(stack, info(42, "Until soon", "AlwaysFront", endDateTime=_wire(end))) == "Accepted"
    assert await set_message(stack, info(41, "Maintenance tonight", "AlwaysFront",
                                         startDateTime=_wire(start))) == "Accepted"
    samples = await watch(stack, 20, until="Maintenance tonight")
    assert seen(samples, "Until soon", 1, before=end) and seen(samples, "Until soon", 2, before=end), samples
    assert not seen(samples, "Until soon", after=end + SLACK), samples  # TC_O_14_CS: gone after its end
    assert seen(samples, "Ready to use", 1, after=end, before=start), samples  # the usual screen between
    assert not seen(samples, "Maintenance tonight", before=start), samples  # TC_O_13_CS: not before its start
    assert seen(samples, "Maintenance tonight", 1, after=start, before=start + SLACK), samples  # but from it
    assert await get_messages(stack, id=[42]) == ("Unknown", [])  # removed after its end, not only hidden
    assert 42 not in ids(board(stack).messages())
    status, held_41 = await get_messages(stack, id=[41])
    assert status == "Accepted" and held_41[0]["startDateTime"] == _wire(start)
    await clear_all(stack)
    await _clean(stack)


@shared
async def test_tc_o_19_cs_not_supported_message_format_every_state_supported(stack: Stack) -> None:
    for fmt in ("HTML", "URI"):  # a character display renders neither
        assert await set_message(stack, info(43, "<b>hi</b>", fmt=fmt)) == "NotSupportedMessageFormat"
    assert await get_messages(stack, id=[43]) == ("Unknown", [])
    # Every MessageStateEnumType value is supported (TC_O_18_CS does not apply).
    for n, state in enumerate(("Charging", "Faulted", "Idle", "Unavailable")):
        assert await set_message(stack, info(44 + n, state, state=state)) == "Accepted"
    await _clean(stack)


@shared
async def test_tc_o_22_cs_o_24_cs_and_o_36_to_o_39_priorities_and_states(stack: Stack) -> None:
    await clear_all(stack)
    for message in (info(51, "front 1", "InFront"), info(52, "front 2", "InFront"),
                    info(53, "always 1", "AlwaysFront"), info(54, "always 2", "AlwaysFront"),
                    info(55, "while charging", state="Charging"), info(56, "while idle", state="Idle"),
                    info(57, "while unavailable", state="Unavailable"), info(58, "while faulted", state="Faulted")):
        assert await set_message(stack, message) == "Accepted"
    now, held = datetime.now(UTC), board(stack)
    mine = set(range(51, 59))

    def shown(state: str) -> list[int]:
        return [i for i in ids(held.showing(now, 1, state, None)) if i in mine]

    # TC_O_24_CS: the second AlwaysFront leads; TC_O_22_CS: InFront ones follow in turn.
    assert shown("Idle") == [54, 53, 51, 52, 56]
    assert shown("Charging") == [54, 53, 51, 52, 55]  # TC_O_36_CS
    assert shown("Unavailable") == [54, 53, 51, 52, 57]  # TC_O_38_CS
    assert shown("Faulted") == [54, 53, 51, 52, 58]  # TC_O_39_CS
    status, listed = await get_messages(stack, state="Idle")  # TC_O_37_CS
    assert status == "Accepted" and 56 in [m["id"] for m in listed]

    # On the display: the AlwaysFront messages take it whole, in turn ...
    await wait_rows(stack, "always", 1)
    samples = await watch(stack, 5)
    for text in ("always 1", "always 2"):
        assert seen(samples, text, 1) and seen(samples, text, 2), samples
    for text in ("front 1", "front 2", "Ready to use", "while idle"):
        assert not seen(samples, text), samples
    # ... once they are cleared, the InFront ones come before the connector's own pages,
    # and of the messages limited to a state only the Idle one shows on idle connectors.
    for message_id in (53, 54):
        assert (await call(stack, "ClearDisplayMessage", {"id": message_id}))["status"] == "Accepted"
    await wait_rows(stack, "front", 1)
    samples = await watch(stack, 10)  # a cycle: 4 pages of 2 s
    for text in ("front 1", "front 2", "Ready to use", "while idle"):  # TC_O_37_CS
        assert seen(samples, text, 1) and seen(samples, text, 2), (text, samples)
    for text in ("always", "while charging", "while unavailable", "while faulted"):
        assert not seen(samples, text), (text, samples)

    # TC_O_38_CS, TC_O_39_CS: EVSE 2 taken out of service, EVSE 1 faulted (its RCD tripped).
    for message_id in (51, 52):
        assert (await call(stack, "ClearDisplayMessage", {"id": message_id}))["status"] == "Accepted"
    answer = await call(stack, "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 2}})
    assert answer["status"] == "Accepted"
    await stack.bench_request("rcd", connector=1, tripped=True)
    try:
        await wait_rows(stack, "Not in service", 2)
        await wait_rows(stack, "Out of order", 1)
        samples = await watch(stack, 5)
    finally:
        await stack.bench_request("rcd", connector=1, tripped=False)
        await call(stack, "ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 2}})
    assert seen(samples, "while faulted", 1) and seen(samples, "while unavailable", 2), samples
    assert not seen(samples, "while faulted", 2) and not seen(samples, "while unavailable", 1), samples
    for text in ("while idle", "while charging"):
        assert not seen(samples, text), (text, samples)
    for connector in (1, 2):
        await wait_rows(stack, "Ready to use", connector)
    await clear_all(stack)
    await _clean(stack)


@shared
async def test_tc_o_06_cs_o_10_cs_o_27_cs_o_28_cs_o_30_cs_o_32_cs_messages_of_a_transaction(stack: Stack) -> None:
    await clear_all(stack)
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=new_id_tag())
    tx = (await wait_event(stack, "Started", since))["transactionInfo"]["transactionId"]
    await wait_rows(stack, "Charging", 1)
    assert await set_message(stack, info(60, "yours", transactionId="no-such-transaction")) == "UnknownTransaction"
    now = datetime.now(UTC)
    soon, later = now + timedelta(seconds=4), now + timedelta(seconds=14)  # room for a slow machine
    for message in (info(61, "Charging for you", transactionId=tx),  # TC_O_06_CS
                    info(68, "while charging", state="Charging"),  # TC_O_36_CS: any charging connector
                    info(63, "Soon gone", "AlwaysFront", transactionId=tx, endDateTime=_wire(soon)),  # TC_O_28_CS
                    info(62, "Later", "AlwaysFront", transactionId=tx, startDateTime=_wire(later))):  # TC_O_27_CS
        assert await set_message(stack, message) == "Accepted"
    # The display: the transaction's EVSE only; "Soon gone" alone until its end, then the
    # session's pages with the transaction's message, then "Later" alone from its start.
    samples = await watch(stack, 25, until="Later")
    assert seen(samples, "Soon gone", 1, before=soon), samples
    assert not seen(samples, "Soon gone", after=soon + SLACK), samples
    for text in ("Charging for you", "while charging", "Charging"):
        assert seen(samples, text, 1, after=soon, before=later), (text, samples)
    assert not seen(samples, "Later", before=later), samples
    assert seen(samples, "Later", 1, after=later, before=later + SLACK), samples
    for text in ("Soon gone", "Charging for you", "while charging", "Later"):  # EVSE 2: idle, no transaction
        assert not seen(samples, text, 2), (text, samples)
    assert seen(samples, "2 Ready to use", 2), samples
    assert await get_messages(stack, id=[63]) == ("Unknown", [])  # TC_O_28_CS: removed after its end

    for message in (info(64, "front 1", "InFront", transactionId=tx), info(65, "front 2", "InFront", transactionId=tx),
                    info(66, "always 1", "AlwaysFront", transactionId=tx),
                    info(67, "always 2", "AlwaysFront", transactionId=tx)):
        assert await set_message(stack, message) == "Accepted"
    mine = {61, 62, 64, 65, 66, 67, 68}
    now, held = datetime.now(UTC), board(stack)
    on_evse_1 = [i for i in ids(held.showing(now, 1, "Charging", tx)) if i in mine]
    assert on_evse_1 == [67, 66, 62, 64, 65, 61, 68]  # TC_O_32_CS, TC_O_30_CS
    assert [i for i in ids(held.showing(now, 2, "Charging", None)) if i in mine] == [68]  # the other EVSE
    assert [i for i in ids(held.showing(now, 1, "Charging", "another")) if i in mine] == [68]
    status, listed = await get_messages(stack, id=[61])
    assert status == "Accepted" and listed[0]["transactionId"] == tx
    await wait_rows(stack, "always", 1)
    samples = await watch(stack, 5)  # the AlwaysFront ones in turn, in front of every other
    assert seen(samples, "always 2", 1) and seen(samples, "always 1", 1), samples
    for text in ("front 1", "front 2", "Charging for you"):
        assert not seen(samples, text), (text, samples)

    await stack.bench_request("unplug", connector=1)
    await wait_event(stack, "Ended", since)
    tx_only = mine - {68}
    for _ in range(50):  # O02: removed once the transaction ended (its Ended event answered)
        if not tx_only & set(ids(board(stack).messages())):
            break
        await asyncio.sleep(0.1)
    assert not tx_only & set(ids(board(stack).messages())), "the ended transaction's messages are still held"
    assert await get_messages(stack, id=sorted(tx_only)) == ("Unknown", [])
    await wait_rows(stack, "Finished", 1)
    samples = await watch(stack, 5)  # the finished session's pages; none of the transaction's messages
    for text in ("always", "front", "Charging for you", "Later", "while charging"):
        assert not seen(samples, text), (text, samples)
    await clear_all(stack)
    await _clean(stack)


@shared
async def test_tc_o_20_cs_display_messages_persistent_over_reboot(stack: Stack) -> None:
    await clear_all(stack)
    end = datetime.now(UTC) + timedelta(days=1)
    kept = info(71, "Fermé demain", "AlwaysFront", state="Idle", endDateTime=_wire(end),
                message={"format": "UTF8", "content": "Fermé demain", "language": "fr"})
    assert await set_message(stack, kept) == "Accepted"
    await wait_rows(stack, "Fermé demain", 1)
    since = await last_seq(stack)
    await stack.stop_agent(signal.SIGKILL)  # a power cut right after the answer
    await stack.start_agent()
    await stack.wait_booted(since_seq=since)
    assert await get_messages(stack, id=[71]) == ("Accepted", [kept])
    for connector in (1, 2):  # shown again after the restart, with its accent
        await wait_rows(stack, "Fermé demain", connector)
    await clear_all(stack)
    await _clean(stack)


@shared
async def test_display_messages_variable_counts_what_is_held_up_to_its_max_limit(stack: Stack) -> None:
    await clear_all(stack)
    assert await set_message(stack, info(81)) == "Accepted"
    assert await set_message(stack, info(82)) == "Accepted"
    asked = {"getVariableData": [{"component": {"name": "DisplayMessageCtrlr"}, "variable": {"name": "DisplayMessages"}}]}
    assert (await call(stack, "GetVariables", asked))["getVariableResult"][0]["attributeValue"] == "2"
    since = await last_seq(stack)
    report = await call(stack, "GetReport", {"requestId": 9, "componentVariable": [
        {"component": {"name": "DisplayMessageCtrlr"}, "variable": {"name": "DisplayMessages"}}]})
    assert report["status"] == "Accepted"
    reported = (await wait_for(stack, "NotifyReport", since=since))[0]["reportData"][0]
    limit = int(reported["variableCharacteristics"]["maxLimit"])
    for message_id in range(83, 81 + limit):
        assert await set_message(stack, info(message_id)) == "Accepted"
    assert await set_message(stack, info(81 + limit)) == "Rejected"  # full: a new id is refused
    assert await set_message(stack, info(81, "replaced")) == "Accepted"  # replacing one is not a new one
    assert (await call(stack, "GetVariables", asked))["getVariableResult"][0]["attributeValue"] == str(limit)
    await clear_all(stack)
    await _clean(stack)


@shared
async def test_a_message_for_one_evse_shows_there_only(stack: Stack) -> None:
    await clear_all(stack)
    display = {"name": "Display", "evse": {"id": 2}}
    assert await set_message(stack, info(91, "EVSE 2 only", display=display)) == "Accepted"
    assert await set_message(stack, info(92, display={"name": "Display", "evse": {"id": 3}})) == "Rejected"
    await wait_rows(stack, "EVSE 2 only", 2)
    samples = await watch(stack, 5)  # a whole cycle of connector 1's pages
    assert seen(samples, "1 Ready to use", 1) and not seen(samples, "EVSE 2 only", 1), samples
    now, held = datetime.now(UTC), board(stack)
    assert 91 in ids(held.showing(now, 2, "Idle", None)) and 91 not in ids(held.showing(now, 1, "Idle", None))
    assert await get_messages(stack, id=[91]) == ("Accepted", [info(91, "EVSE 2 only", display=display) | {
        "message": {"format": "UTF8", "content": "EVSE 2 only", "language": "en"}}])
    await clear_all(stack)
    await _clean(stack)


async def test_tc_o_17_cs_not_supported_priority_language_and_a_disabled_board(charger) -> None:  # type: ignore[no-untyped-def]
    """A charger whose maker left InFront out (SupportedPriorities), with Swedish as its
    language; then a backend switches the board off (DisplayMessageCtrlr.Enabled)."""
    stack = await charger(backend=V201, ocpp={"DisplayMessageCtrlr.SupportedPriorities": "AlwaysFront,NormalCycle",
                                              "DisplayMessageCtrlr.Language": "sv"})
    assert await set_message(stack, info(1, priority="InFront")) == "NotSupportedPriority"
    assert await set_message(stack, info(2, "Välkommen")) == "Accepted"
    assert await get_messages(stack, id=[2]) == ("Accepted", [{
        "id": 2, "priority": "NormalCycle", "message": {"format": "UTF8", "content": "Välkommen", "language": "sv"}}])
    answer = await call(stack, "SetVariables", {"setVariableData": [{
        "component": {"name": "DisplayMessageCtrlr"}, "variable": {"name": "Enabled"}, "attributeValue": "false"}]})
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
    assert await set_message(stack, info(3)) == "Rejected"
    assert await get_messages(stack, id=[3]) == ("Unknown", [])
    await _clean(stack)
