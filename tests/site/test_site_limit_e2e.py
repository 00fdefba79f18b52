"""The building's limit end to end: the real agent process, its Modbus driver reading the
bench's connector meters and grid meter over TCP, the bench's EVs following the pilot, a
real CSMS over a real websocket.

Two connectors charge; the house load steps up and both offers come down within a few
seconds, and the building's connection stays under its fuse; the grid meter goes silent
and the fallback applies (the backend is told once); it answers again and the sharing
resumes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from simulators.harness import Stack
from tests.conformance.helpers import last_seq, messages, new_id_tag, plug_and_charge, wait_status

FUSE_A = 32.0
SITE = {"max_current": FUSE_A, "margin": 2.0, "fallback_current": 12.0, "sharing": "equal"}
#: A house step reaches the EVs within a poll (1 s), the pilot update and the bench EV's
#: reaction; "a few seconds" with room for a loaded test machine.
REACT_S = 5.0
#: [grid_meter] fault_after: 2.5 s (the least 2 x poll_interval + timeout allows), so the test does not wait the default 3.
FAULT_AFTER_S = 2.5


async def offers(stack: Stack) -> list[float]:
    """What each bench EV is offered, to 0.1 A (a wired bench reads it off the PWM duty, in ns)."""
    status = await stack.bench_request("status")
    return [round(c["offer_a"], 1) for c in status["connectors"]]


async def wait_offers(stack: Stack, wanted: list[float], timeout: float) -> float:
    """Wait until the bench's EVs are offered ``wanted``; return how long it took."""
    began = time.monotonic()
    while (seen := await offers(stack)) != wanted:
        if time.monotonic() - began > timeout:
            raise AssertionError(f"offers {seen}, wanted {wanted} within {timeout:g} s\n{stack.agent_log()}")
        await asyncio.sleep(0.1)
    return time.monotonic() - began


async def grid_max(stack: Stack) -> float:
    return float((await stack.bench_request("status"))["grid_max_a"])


async def charger_zero_reports(stack: Stack, since: int) -> list[dict[str, Any]]:
    return [m["payload"] for m in await messages(stack, "StatusNotification", since)
            if m["payload"]["connectorId"] == 0]


async def test_house_load_step_grid_meter_silence_and_return(charger: Any) -> None:
    stack: Stack = await charger(connectors=2, site=SITE, grid_meter=True,
                                 grid_meter_settings={"fault_after": FAULT_AFTER_S})
    await plug_and_charge(stack, 1, new_id_tag())
    await plug_and_charge(stack, 2, new_id_tag())
    # No house load: the fuse less the margin, 30 A, shared equally.
    await wait_offers(stack, [15.0, 15.0], REACT_S)
    assert await grid_max(stack) <= FUSE_A

    # The house steps up to 14 A per phase: 16 A left, 8 A each, within a few seconds.
    await stack.bench_request("house_load", current_a=14.0)
    took = await wait_offers(stack, [8.0, 8.0], REACT_S)
    assert took <= REACT_S
    for _ in range(5):  # and it stays under the fuse while they charge
        assert await grid_max(stack) <= FUSE_A
        await asyncio.sleep(0.2)

    # The grid meter goes silent: after fault_after the 12 A fallback is shared, 6 A each.
    since = await last_seq(stack)
    await stack.bench_request("grid_meter_silent", silent=True)
    await wait_offers(stack, [6.0, 6.0], FAULT_AFTER_S + REACT_S)
    await asyncio.sleep(1.0)  # time for a second report, which must not come
    reports = await charger_zero_reports(stack, since)
    assert [(r["errorCode"], r.get("vendorErrorCode")) for r in reports] == [("OtherError", "GridMeterFailure")]
    assert reports[0]["status"] == "Available"  # a warning: connector 0's status is unchanged
    # Connectors 1 and 2 go on charging: nothing else was reported for them.
    assert [m for m in await messages(stack, "StatusNotification", since) if m["payload"]["connectorId"] != 0] == []

    # It answers again: the house is measured again and the sharing resumes; the backend hears once.
    since = await last_seq(stack)
    await stack.bench_request("grid_meter_silent", silent=False)
    await wait_offers(stack, [8.0, 8.0], REACT_S)
    await asyncio.sleep(1.0)
    assert [(r["errorCode"], r["status"]) for r in await charger_zero_reports(stack, since)] == [
        ("NoError", "Available")]
    assert await grid_max(stack) <= FUSE_A


async def test_first_come_on_a_shared_rtu_line_suspends_the_later_session_and_resumes_it(charger: Any) -> None:
    """The grid meter is one more unit on the connector meters' RS-485 line (a pseudo-
    terminal pair); the first session is topped up first, the later one gets the rest."""
    stack: Stack = await charger(connectors=2, wired=False, meter="rtu", grid_meter=True,
                                 site={**SITE, "sharing": "first_come"})
    assert "[grid_meter]" in stack.config_path.read_text() and stack.meter_info["transport"] == "rtu"
    await plug_and_charge(stack, 1, new_id_tag())
    await wait_offers(stack, [30.0, 0.0], REACT_S)  # alone: the fuse less the margin
    await plug_and_charge(stack, 2, new_id_tag())
    await wait_offers(stack, [24.0, 6.0], REACT_S)  # the later one gets the minimum, the first the rest

    # 20 A of house load leaves 10 A: the first session keeps charging, the later one is suspended.
    since = await last_seq(stack)
    await stack.bench_request("house_load", current_a=20.0)
    await wait_offers(stack, [10.0, 0.0], REACT_S)
    await wait_status(stack, 2, "SuspendedEVSE", since)
    assert await grid_max(stack) <= FUSE_A

    # The house load goes: the later session resumes by itself, its transaction never ended.
    since = await last_seq(stack)
    await stack.bench_request("house_load", current_a=0.0)
    await wait_offers(stack, [24.0, 6.0], REACT_S)
    await wait_status(stack, 2, "Charging", since)
    assert [m for m in await messages(stack, "StopTransaction")] == []
