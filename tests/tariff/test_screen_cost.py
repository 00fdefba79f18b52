"""The local tariff on the bench's real display (the HD44780 simulator, 20x4), under OCPP
1.6 and 2.0.1: the price before the start, the running cost rising while the car charges,
the idle fee running on while it stands full, and the final cost, exactly what ``ladda
sessions`` reports for the session (the real CLI, on the agent's state directory).

The prices are steep so that a few seconds of the bench's real-time energy move the cost
by cents: 10.00 EUR/kWh, 36.00 EUR/h charging, 360.00 EUR/h idle (0.10 EUR a second) with
no grace, 0.50 EUR a session. At that idle price a final cost taken from the running cost
the screen polls (every agent.screen.feedback.COST_EVERY_S) would be off by up to 0.50 EUR:
the equality with the record is the check that the final cost is computed at the stop.
The rules one by one: tests/tariff/test_final_cost.py.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from decimal import Decimal as D
from typing import Any

from simulators.harness import Stack
from tests.conformance.helpers import last_seq, new_id_tag, plug_and_charge
from tests.conformance201.helpers import V201, wait_connector, wait_event

TARIFF = {"currency": "EUR", "per_kwh": "10.00", "per_hour_charging": "36.00", "per_hour_idle": "360.00",
          "idle_grace": 0, "session_fee": "0.50"}
#: One language, pages turned each second; the finished session stays until the unplug; no idle alert.
SCREEN = {"language_seconds": 1, "finished_seconds": 600, "idle_alert_minutes": 0}
#: The screen polls the running cost this often (agent.screen.feedback.COST_EVERY_S), plus slack.
POLL_S = 6.0


async def shown(stack: Stack, pattern: str, timeout: float = 15.0) -> tuple[re.Match[str], list[str]]:
    """Wait until a row of the display matches ``pattern`` (any page of its cycle); the
    match and the whole screen then."""
    deadline = time.monotonic() + timeout
    while True:
        lines = await stack.screen()
        for line in lines:
            found = re.fullmatch(pattern, line)
            if found:
                return found, lines
        if time.monotonic() > deadline:
            raise AssertionError(f"the display never showed {pattern!r}; it shows {lines}\n{stack.agent_log()}")
        await asyncio.sleep(0.1)


async def cost_on_screen(stack: Stack, header: str, word: str = "Cost") -> tuple[D, str]:
    """The cost and the energy on the display's page under ``header``."""
    deadline = time.monotonic() + 15.0
    while True:
        lines = await stack.screen()
        cost = next((m for m in (re.fullmatch(rf"{word} (\d+\.\d\d) EUR", s) for s in lines) if m), None)
        energy = next((m for m in (re.search(r"(\d+\.\d\d) kWh", s) for s in lines) if m), None)
        if lines and lines[0] == header and cost and energy:
            return D(cost[1]), energy[1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {header!r} page with {word} and kWh; the display shows {lines}")
        await asyncio.sleep(0.1)


async def sessions(stack: Stack) -> list[dict[str, Any]]:
    """``ladda sessions --json`` as an operator runs it with the charger's configuration."""
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "agent", "sessions", "-c", str(stack.config_path), "--json"],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


async def price_before_the_start(stack: Stack) -> None:
    await shown(stack, re.escape("10.00 EUR/kWh"))
    assert (await stack.screen())[:3] == ["Ready to use", "10.00 EUR/kWh", "Tap your card"]


async def charging_then_standing(stack: Stack, offline: bool = False) -> None:
    """While charging the cost rises with the energy (and, ``offline``, goes on rising
    once the link is cut and the screen says so); paused, the energy stands and the idle
    fee alone moves it (0.10 EUR a second)."""
    first, _ = await cost_on_screen(stack, "Charging")
    assert first >= D("0.50")  # the session fee is due from the start
    await asyncio.sleep(POLL_S)
    later, _ = await cost_on_screen(stack, "Charging")
    assert later > first
    if offline:
        await stack.bench_request("link", state="cut")
        await shown(stack, "Offline mode", timeout=60)
        cut, _ = await cost_on_screen(stack, "Charging")
        await asyncio.sleep(POLL_S)
        assert (await cost_on_screen(stack, "Charging"))[0] > cut >= later

    await stack.bench_request("pause", connector=1)  # the car is full
    await shown(stack, "Car paused")
    await asyncio.sleep(1.0)  # the meter's last reading before the pause is in
    began = time.monotonic()
    standing, kwh = await cost_on_screen(stack, "Car paused")
    await asyncio.sleep(POLL_S)
    idle, kwh_after = await cost_on_screen(stack, "Car paused")
    # Each figure is at most one poll old: the fee for the time between the two polls.
    elapsed = D(str(round(time.monotonic() - began + POLL_S, 1)))
    assert kwh_after == kwh  # no energy: only the idle fee can have moved the cost
    assert D("0.30") <= idle - standing <= elapsed * D("0.10"), (standing, idle, elapsed)


async def final_cost_is_the_records(stack: Stack) -> None:
    """After the stop the display shows the session's cost, energy and time as ``ladda
    sessions`` gives them, and the cost stands still (no more polling)."""
    total, kwh = await cost_on_screen(stack, "Finished", word="Total")
    session = (await sessions(stack))[-1]
    assert session["stopped_at"] is not None and session["cost"]["currency"] == "EUR"
    assert str(total) == session["cost"]["total"], (total, session["cost"])
    assert D(session["cost"]["idle"]) > 0 and session["idle_s"] > POLL_S
    assert kwh == f"{session['energy_wh'] / 1000:.2f}"
    await asyncio.sleep(POLL_S)
    assert await cost_on_screen(stack, "Finished", word="Total") == (total, kwh)


async def test_the_local_tariff_on_the_display_under_ocpp_1_6_online_then_offline(charger) -> None:  # type: ignore[no-untyped-def]
    """The link is cut while the car charges: the local tariff is the charger's own, so the
    screen goes on costing the session, paused and ended, the same as online."""
    stack = await charger(sections={"tariff": TARIFF, "screen": SCREEN})
    await price_before_the_start(stack)
    tag = new_id_tag()
    await plug_and_charge(stack, id_tag=tag, max_current=16)
    await charging_then_standing(stack, offline=True)
    await stack.bench_request("tap", uid=tag)  # the driver ends the session with the same card
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=10)
    await final_cost_is_the_records(stack)


async def test_the_local_tariff_on_the_display_under_ocpp_2_0_1(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, sections={"tariff": TARIFF, "screen": SCREEN})
    await price_before_the_start(stack)
    tag = new_id_tag()
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await wait_connector(stack, 1, "Occupied", since)
    await stack.bench_request("tap", uid=tag)
    await wait_event(stack, "Updated", since, trigger="ChargingStateChanged")
    await charging_then_standing(stack)
    await stack.bench_request("tap", uid=tag)
    ended = await wait_event(stack, "Ended", since)
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    await final_cost_is_the_records(stack)
