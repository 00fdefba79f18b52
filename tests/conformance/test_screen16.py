"""What the driver reads at an OCPP 1.6 charger, step by step, on the bench's real display
(the 20x4 HD44780 behind its PCF8574 at 0x27, read back from the bus by the bench): the
default price (DefaultPrice, DefaultPriceText,<language>, and offline its
priceTextOffline), a card being checked, a refused card and why, the driver's price
(SetUserPrice) once the card is accepted, the running cost (RunningCost), the final cost
(FinalCost), a fault in words with the operator's phone, the offline mode, the idle alert,
and the display unplugged and plugged back in the middle of a session.

The backend's texts are the California Pricing whitepaper's DataTransfer messages (vendor
``org.openchargealliance.costmsg``), sent by the test CSMS. One charger (bench and agent)
serves the whole module: each start costs seconds, and every test leaves it idle and
ready again. Each screen is compared whole, row by row, as a driver reads it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from simulators.harness import Stack

from ..shared_stack import shared_stack
from .helpers import call_checked, last_seq, ledger, messages, new_id_tag, plug_and_charge, wait_for, wait_status

pytestmark = pytest.mark.asyncio(loop_scope="module")

COSTMSG = "org.openchargealliance.costmsg"
PHONE = "+46 8 123 45"
IDLE_S = 3.0  # [screen] idle_alert_minutes = 0.05
PRICE = {"priceText": "0.30 $/kWh", "priceTextOffline": "Offline: 0.40 $/kWh"}
BLANK = ["", "", "", ""]
#: What the agent logs when its display stops answering, and when it answers again.
DISPLAY_FAILING = "display failing; the screen is drawn again when it answers"
DISPLAY_BACK = "display answering again"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(csms_server: tuple[int, Path]) -> AsyncIterator[Stack]:
    async with shared_stack(
        csms_server, "SCREEN16", backend={}, connectors=1,
        ocpp={"SupportedLanguages": "en,de", "LocalAuthorizeOffline": False, "AllowOfflineTxForUnknownId": False},
        sections={"operator": {"name": "Ladda", "phone": PHONE},
                  "screen": {"finished_seconds": 2, "language_seconds": 1, "idle_alert_minutes": IDLE_S / 60}},
    ) as started:
        assert await change(started, "DefaultPrice", json.dumps(PRICE)) == "Accepted"
        yield started


# ---------------------------------------------------------------- reading the screen


#: Rows whose numbers move while a session runs: the session's time (the session is
#: younger than ten minutes here), its energy, and power with energy on one row.
TIME = re.compile(r"Time 0:0\d h")
KWH = re.compile(r"\d+\.\d\d kWh")
KW_KWH = re.compile(r"\d+\.\d kW \d+\.\d\d kWh")

Row = str | re.Pattern[str] | None


def _fits(want: Row, got: str) -> bool:
    if want is None:
        return True
    if isinstance(want, re.Pattern):
        return want.fullmatch(got) is not None
    return want == got


async def shows(stack: Stack, rows: list[Row], timeout: float = 10.0) -> list[str]:
    """Wait until the display shows ``rows`` (a text exactly, a pattern entirely, None:
    anything); the screen. The screen cycles through pages, so every screen seen is kept
    for the failure."""
    wanted = [*rows, *[None] * (4 - len(rows))]
    seen: list[list[str]] = []
    deadline = time.monotonic() + timeout
    while True:
        screen = await stack.screen()
        if not seen or seen[-1] != screen:
            seen.append(screen)
        if all(_fits(want, got) for want, got in zip(wanted, screen, strict=True)):
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"the display never showed {rows}; it showed, in turn: {seen[-12:]}; "
                                 f"the agent's last warnings: {warnings(stack)[-5:]}")
        await asyncio.sleep(0.05)


def ready(price: str | None = PRICE["priceText"], offline: bool = False) -> list[Row]:
    """The idle screen: the price before anyone starts, and how to start."""
    return ["Ready to use", *([price] if price else []), "Tap your card", *(["Offline mode"] if offline else [])]


async def idle_again(stack: Stack) -> None:
    """The charger waits for the next driver, online, with the default price."""
    await shows(stack, [*ready(), ""], timeout=20.0)


# ---------------------------------------------------------------- the backend's side


async def change(stack: Stack, key: str, value: str) -> str:
    reply = await call_checked(stack, "ChangeConfiguration", {"key": key, "value": value})
    return str(reply["status"])


async def transfer(stack: Stack, message_id: str, data: dict[str, Any]) -> str:
    reply = await call_checked(stack, "DataTransfer", {"vendorId": COSTMSG, "messageId": message_id,
                                                       "data": json.dumps(data)})
    return str(reply["status"])


async def running_transaction(stack: Stack) -> int:
    running = [t for t in await ledger(stack) if not t["stopped"]]
    return int(running[-1]["transaction_id"])


async def unplug(stack: Stack) -> None:
    since = await last_seq(stack)
    await stack.bench_request("unplug", connector=1)
    await wait_status(stack, 1, "Available", since)


def agent_events(stack: Stack, event: str | None) -> list[dict[str, Any]]:
    """The agent's JSON log lines of ``event`` (None: all), from its whole log."""
    found = []
    for line in (stack.workdir / "agent.log").read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and (event is None or entry.get("event") == event):
            found.append(entry)
    return found


def warnings(stack: Stack) -> list[dict[str, Any]]:
    """The agent's warnings and errors (what a failed step most likely comes from)."""
    return [e for e in agent_events(stack, None) if e.get("level") in ("warning", "error", "critical")]


async def logged(stack: Stack, event: str, count: int, timeout: float = 5.0) -> None:
    """Wait until the agent has logged ``event`` ``count`` times."""
    deadline = time.monotonic() + timeout
    while len(agent_events(stack, event)) < count:
        assert time.monotonic() < deadline, f"the agent logged {event!r} {len(agent_events(stack, event))} times"
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------- the steps


async def test_ready_shows_the_default_price_and_its_text_in_the_charger_s_language(stack: Stack) -> None:
    await idle_again(stack)  # DefaultPrice's priceText, set by the backend after the boot
    german = {"priceText": "0,30 €/kWh", "priceTextOffline": "Offline: 0,40 €/kWh"}
    english = {"priceText": "0.28 $/kWh member"}
    assert await change(stack, "DefaultPriceText,de", json.dumps(german)) == "Accepted"
    assert await change(stack, "DefaultPriceText,en", json.dumps(english)) == "Accepted"
    await shows(stack, [*ready(english["priceText"]), ""])  # the Language's own text comes first
    assert await change(stack, "Language", "de") == "Accepted"
    await shows(stack, [*ready(german["priceText"]), ""])
    # Back to DefaultPrice: no per-language texts, the charger's language English.
    assert await change(stack, "Language", "en") == "Accepted"
    assert await change(stack, "DefaultPriceText,en", "") == "Accepted"
    assert await change(stack, "DefaultPriceText,de", "") == "Accepted"
    await idle_again(stack)


async def test_offline_mode_shows_the_offline_price_and_refuses_an_unknown_card_in_words(stack: Stack) -> None:
    await idle_again(stack)
    await stack.bench_request("link", state="cut")
    try:
        await shows(stack, ready(PRICE["priceTextOffline"], offline=True), timeout=30.0)
        await stack.bench_request("tap", uid=new_id_tag())  # unknown here, and no backend to ask
        await shows(stack, ["Card refused", "Not when offline", "", ""])
        await shows(stack, ready(PRICE["priceTextOffline"], offline=True), timeout=15.0)
    finally:
        await stack.bench_request("link", state="up")
    await idle_again(stack)


async def test_a_card_being_checked_says_so_and_no_answer_is_not_an_unknown_card(stack: Stack) -> None:
    """The backend does not answer (a link that passes nothing, which the agent cannot
    tell from a slow backend): the driver reads that the card is being checked; when the
    Authorize times out, the offline rules refuse it, in those words (the backend never
    said the card is unknown)."""
    await idle_again(stack)
    await stack.bench_request("link", state="stall")
    try:
        await stack.bench_request("tap", uid=new_id_tag())
        await shows(stack, ["Checking card", "Please wait", "", ""])
        await shows(stack, ["Card refused", "Not when offline", "", ""], timeout=20.0)  # call_timeout 10 s
    finally:
        await stack.bench_request("link", state="up")
    await idle_again(stack)


@pytest.mark.parametrize(("status", "why"), [("Invalid", "Unknown card"), ("Blocked", "Card blocked"),
                                             ("Expired", "Card expired")])
async def test_a_refused_card_says_why(stack: Stack, status: str, why: str) -> None:
    await idle_again(stack)
    card = new_id_tag()
    await stack.csms.request("set_id_tag", id_tag=card, status=status)
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=card)
    await wait_for(stack, "Authorize", since=since)
    await shows(stack, ["Card refused", why, "", ""])
    await idle_again(stack)  # the answer stays a few seconds, then the price again


async def test_the_driver_s_price_running_cost_and_final_cost(stack: Stack) -> None:
    """SetUserPrice while the card is accepted, then the session with the RunningCost the
    backend sends, the stop, and the FinalCost: each on the display as the backend wrote it."""
    await idle_again(stack)
    card = new_id_tag()
    since = await last_seq(stack)
    await stack.bench_request("tap", uid=card)  # the card first: the driver has not plugged in yet
    await wait_for(stack, "Authorize", since=since)
    await shows(stack, ["Card accepted", "Plug in car", "", ""])
    user_price = {"idToken": card, "priceText": "Your price: 0.25 $/kWh",
                  "priceTextExtra": [{"format": "UTF8", "language": "de", "content": "Ihr Preis: 0,25 €/kWh"}]}
    assert await transfer(stack, "SetUserPrice", user_price) == "Accepted"
    await shows(stack, ["Your price: 0.25", "$/kWh", "", ""])  # a page of its own, word-wrapped

    await stack.bench_request("plug", connector=1, max_current=16)
    await wait_status(stack, 1, "Charging", since)
    await shows(stack, ["Charging", KW_KWH, TIME, ""])
    await shows(stack, ["Your price: 0.25", "$/kWh", "", ""])  # the driver's price stays in the cycle

    transaction_id = await running_transaction(stack)
    running = {"transactionId": transaction_id, "timestamp": "2026-01-01T12:00:00Z", "meterValue": 1234,
               "cost": 1.23, "state": "Charging", "priceText": "$1.23 so far"}
    assert await transfer(stack, "RunningCost", running) == "Accepted"
    await shows(stack, ["Charging", KW_KWH, "Cost $1.23 so far", TIME])
    # Without a text the amount itself is shown.
    assert await transfer(stack, "RunningCost", {k: v for k, v in running.items() if k != "priceText"}
                          | {"cost": 1.5}) == "Accepted"
    await shows(stack, ["Charging", KW_KWH, "Cost 1.50", TIME])

    since = await last_seq(stack)
    await stack.bench_request("tap", uid=card)  # the driver ends the session; the cable stays in
    await wait_for(stack, "StopTransaction", since=since)
    await shows(stack, ["Finished", KWH, "Cost 1.50", TIME])  # the last running cost, no total yet
    final = {"transactionId": transaction_id, "cost": 2.5, "priceText": "$2.50"}
    assert await transfer(stack, "FinalCost", final) == "Accepted"
    await shows(stack, ["Finished", KWH, "Total $2.50", TIME])
    await shows(stack, ["Finished", "Please unplug", "", ""])
    await unplug(stack)
    await idle_again(stack)


async def test_a_fault_in_words_with_the_operator_s_phone(stack: Stack) -> None:
    await idle_again(stack)
    since = await last_seq(stack)
    await stack.bench_request("rcd", connector=1, tripped=True)
    try:
        await wait_status(stack, 1, "Faulted", since)
        await shows(stack, ["Out of order", "Earth fault", "Ladda", f"Call {PHONE}"])
    finally:
        await stack.bench_request("rcd", connector=1, tripped=False)
    await wait_status(stack, 1, "Available", since)
    await idle_again(stack)


async def test_the_idle_alert_asks_the_driver_to_move_the_car(stack: Stack) -> None:
    await idle_again(stack)
    since = await last_seq(stack)
    await plug_and_charge(stack, id_tag=new_id_tag(), max_current=16)
    await shows(stack, ["Charging", KW_KWH, TIME, ""])
    await stack.bench_request("pause", connector=1)  # the car is full: it stops drawing
    await wait_status(stack, 1, "SuspendedEV", since)
    await shows(stack, ["Car paused", KWH, TIME, ""])
    await shows(stack, ["Move your car", "Charging done", KWH, TIME], timeout=IDLE_S + 10)
    [alert] = await wait_for(stack, "MeterValues", since=since)  # the backend is told too
    assert {v["context"] for v in alert["meterValue"][0]["sampledValue"]} == {"Other"}  # not Trigger: that answers a TriggerMessage
    await unplug(stack)
    await idle_again(stack)


async def test_the_display_unplugged_and_plugged_back_mid_session(stack: Stack) -> None:
    """The display falls off the bus while a car charges: one warning, the session goes on,
    and the screen is drawn again when the display is back."""
    await idle_again(stack)
    failing, back = len(agent_events(stack, DISPLAY_FAILING)), len(agent_events(stack, DISPLAY_BACK))
    since = await last_seq(stack)
    await plug_and_charge(stack, id_tag=new_id_tag(), max_current=16)
    await shows(stack, ["Charging", KW_KWH, TIME, ""])
    before = float((await stack.bench_request("status"))["connectors"][0]["energy_wh"])

    await stack.bench_request("display", plugged=False)
    assert (await stack.screen()) == BLANK
    await logged(stack, DISPLAY_FAILING, failing + 1, timeout=15.0)  # the next screen's write fails
    await asyncio.sleep(3.0)  # several more screens go nowhere
    assert len(agent_events(stack, DISPLAY_FAILING)) == failing + 1  # logged once

    status = (await stack.bench_request("status"))["connectors"][0]
    assert status["contactor_closed"] is True and float(status["energy_wh"]) > before  # it charges on
    assert await messages(stack, "StopTransaction", since) == []

    await stack.bench_request("display", plugged=True)  # powered up blank
    await shows(stack, ["Charging", KW_KWH, TIME, ""])
    assert (await stack.bench_request("screen"))["initialised"] is True
    await logged(stack, DISPLAY_BACK, back + 1)  # (written just after the screen it drew)
    assert len(agent_events(stack, DISPLAY_FAILING)) == failing + 1

    await unplug(stack)
    await idle_again(stack)

