"""A session on the bench, under OCPP 1.6 and 2.0.1: the real agent journals its timeline
(charging, the EV pausing, the EV leaving), and ``ladda sessions`` gives its times and its
cost under the configured tariff, the same way under both protocols."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from decimal import Decimal as D
from typing import Any

import pytest

from agent.journal import Journal
from agent.store import Database
from agent.tariff import Point, Tariff, cost_of
from tests.conformance.helpers import new_id_tag

TARIFF = {"currency": "EUR", "per_kwh": "0.40", "per_hour_charging": "3.60", "per_hour_idle": "36.00",
          "idle_grace": 0, "session_fee": "0.10"}


def _timeline(stack: Any) -> list[Point]:
    """The timeline of the stack's newest transaction, as another process reads the journal."""
    db = Database(stack.state_dir)
    db.open()
    try:
        journal = Journal(db)
        records = journal.transactions(1)
        return journal.timeline(records[0].local_id) if records else []
    finally:
        db.close()


async def _wait_state(stack: Any, state: str, timeout: float = 15.0) -> list[Point]:
    deadline = time.monotonic() + timeout
    while True:
        points = await asyncio.to_thread(_timeline, stack)
        if points and points[-1].state == state:
            return points
        if time.monotonic() > deadline:
            raise AssertionError(f"the timeline did not reach {state}: {points}")
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("ocpp", ["1.6", "2.0.1"])
async def test_a_session_is_timed_and_costed_from_its_journal(charger, ocpp: str) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend={"ocpp": ocpp}, sections={"tariff": TARIFF})
    # The agent took the tariff (its runtime's, which the screen asks the running cost of).
    assert "local tariff" in stack.agent_log() and "0.40 EUR/kWh; 3.60 EUR/h; idle 36.00 EUR/h" in stack.agent_log()
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=new_id_tag())
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
    await _wait_state(stack, "Charging")
    await asyncio.sleep(3.0)
    await stack.bench_request("pause", connector=1)  # the EV is full
    await _wait_state(stack, "SuspendedEV")
    await asyncio.sleep(2.0)
    await stack.bench_request("unplug", connector=1)
    points = await _wait_state(stack, "Ended")
    states = [p.state for p in points]
    assert "Charging" in states and states.index("Charging") < states.index("SuspendedEV") < len(states) - 1
    assert all(a.at <= b.at and a.wh <= b.wh for a, b in zip(points, points[1:]))
    assert points[-1].wh > points[0].wh  # energy flowed while charging
    cost = cost_of(Tariff(per_kwh=D("0.40"), per_hour_charging=D("3.60"), per_hour_idle=D(36), session_fee=D("0.10")),
                   points)
    assert 2.5 < cost.charging_s < 8 and 1.5 < cost.idle_s < 6
    # ladda sessions, as an operator runs it with the charger's configuration.
    shown = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "agent", "sessions", "-c", str(stack.config_path), "--json"],
        capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    session = json.loads(shown.stdout)[-1]
    assert session["cost"]["total"] == str(cost.total) and session["cost"]["currency"] == "EUR"
    assert (session["charging_s"], session["idle_s"]) == (round(cost.charging_s, 3), round(cost.idle_s, 3))
    assert session["energy_wh"] == points[-1].wh - points[0].wh
