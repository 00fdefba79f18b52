"""Hardware faults end to end: injected on the wired bench, seen by the agent's real GPIO
and pilot drivers, reported to the backend with their OCPP 1.6 ErrorCode, with the
contactor coil de-energised before the backend heard of it.

"Before" is measured across processes on the wall clock: the bench stamps the instant
the coil pin went low, the CSMS the instant the StatusNotification arrived. The
in-process proof of the order (journal write hooked) is tests/test_safety_path.py.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.conformance.helpers import last_seq, messages, plug_and_charge, wait_status


async def fault_report(stack: Any, since: int, connector: int, error_code: str, timeout: float = 5.0) -> dict[str, Any]:
    """The first StatusNotification of ``connector`` with ``error_code`` after ``since``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in await messages(stack, "StatusNotification", since):
            if m["payload"]["connectorId"] == connector and m["payload"]["errorCode"] == error_code:
                return m
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {error_code} on connector {connector}: "
                         f"{[m['payload'] for m in await messages(stack, 'StatusNotification', since)]}")


async def connector_status(stack: Any, connector: int = 1) -> dict[str, Any]:
    return (await stack.bench_request("status"))["connectors"][connector - 1]


async def assert_coil_off_before(stack: Any, report: dict[str, Any], connector: int = 1) -> None:
    bench = await connector_status(stack, connector)
    assert bench["coil"] is False
    assert bench["coil_off_at"] is not None and bench["coil_off_at"] <= report["received_at"], (
        f"coil off at {bench['coil_off_at']}, reported at {report['received_at']}")


async def test_an_rcd_trip_opens_the_contactor_and_is_reported_as_ground_failure(charger):
    stack = await charger()
    await plug_and_charge(stack)
    since = await last_seq(stack)
    await stack.bench_request("rcd", connector=1, tripped=True)
    await wait_status(stack, 1, "Faulted", since, timeout=5)
    report = await fault_report(stack, since, 1, "GroundFailure")
    assert report["payload"]["status"] == "Faulted"
    await assert_coil_off_before(stack, report)
    await stack.bench_request("wait_for", connector=1, field="current_a", value=0, timeout=2)
    assert await messages(stack, "StopTransaction", since) == []  # the session waits for the RCD's reset

    reset = await last_seq(stack)
    await stack.bench_request("rcd", connector=1, tripped=False)
    await wait_status(stack, 1, "Charging", reset, timeout=10)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=5)


async def test_the_emergency_stop_opens_every_contactor_and_is_reported_with_its_vendor_code(charger):
    stack = await charger(connectors=2)
    await plug_and_charge(stack, 1)
    await plug_and_charge(stack, 2, id_tag="04A1B2C4")
    since = await last_seq(stack)
    await stack.bench_request("estop", pressed=True)
    await wait_status(stack, 1, "Faulted", since, timeout=5)
    await wait_status(stack, 2, "Faulted", since, timeout=5)
    for connector in (1, 2):
        report = await fault_report(stack, since, connector, "OtherError")
        assert report["payload"]["vendorErrorCode"] == "EmergencyStop"
        await assert_coil_off_before(stack, report, connector)


async def test_a_contactor_that_fails_to_close_is_a_power_switch_failure(charger):
    stack = await charger()
    await stack.bench_request("contactor_fault", connector=1, fault="fails_to_close")
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=32)
    await stack.bench_request("tap", uid="04A1B2C3")
    await wait_status(stack, 1, "Faulted", since, timeout=10)
    report = await fault_report(stack, since, 1, "PowerSwitchFailure")
    await assert_coil_off_before(stack, report)
    assert (await connector_status(stack))["current_a"] == 0


async def test_a_welded_contactor_is_reported_when_it_does_not_open(charger):
    stack = await charger()
    await plug_and_charge(stack)
    await stack.bench_request("contactor_fault", connector=1, fault="welded")
    since = await last_seq(stack)
    await stack.bench_request("tap", uid="04A1B2C3")  # the driver ends the session: the contactor must open
    await wait_status(stack, 1, "Faulted", since, timeout=10)
    report = await fault_report(stack, since, 1, "PowerSwitchFailure")
    await assert_coil_off_before(stack, report)
    assert (await connector_status(stack))["contactor_closed"] is True  # welded: only a technician helps now
    assert len(await messages(stack, "StopTransaction", since)) == 1


async def test_a_shorted_pilot_diode_stops_the_energy_as_an_ev_communication_error(charger):
    stack = await charger()
    await plug_and_charge(stack)
    since = await last_seq(stack)
    await stack.bench_request("pilot_diode", connector=1, ok=False)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=5)
    report = await fault_report(stack, since, 1, "EVCommunicationError")
    await assert_coil_off_before(stack, report)

    repaired = await last_seq(stack)
    await stack.bench_request("pilot_diode", connector=1, ok=True)
    await wait_status(stack, 1, "Charging", repaired, timeout=10)
