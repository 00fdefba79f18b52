"""The one safety path, end to end through the real drivers on their simulators.

The charger runs in this process (no backend: offline) with the real GPIO contactor and
RCD input on gpiozero's mock pins, the real Modbus meter against the Modbus simulator
over TCP, and the real ADS1115/PWM pilot against the register-level ADS1115 and a fake
sysfs tree. A tripped RCD must open the contactor before GroundFailure is on record.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.protocols import PilotState
from simulators.wired_charger import until, wired_charger


@pytest.fixture
async def charger(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with wired_charger(tmp_path) as wired:
        yield wired.runtime, wired.journal, wired.contactor, wired.rcd, wired.ev, wired.meters


async def test_an_rcd_trip_opens_the_contactor_before_ground_failure_is_reported(charger):
    runtime, journal, contactor, rcd, ev, meters = charger
    ev.state = PilotState.B
    assert runtime.remote_start("TAG-1", 1) == "Accepted"
    await until(lambda: 1 in runtime.local_tx)
    ev.state = PilotState.C
    await until(lambda: contactor.closed)

    contactor_when_reported: list[bool] = []
    record_status = journal.record_status

    def noting(connector: int, status: str, error_code: str, *rest: str) -> None:
        if error_code == "GroundFailure":
            contactor_when_reported.append(contactor.closed)
        record_status(connector, status, error_code, *rest)

    journal.record_status = noting  # type: ignore[method-assign]
    rcd.trip()
    await until(lambda: contactor_when_reported)
    assert contactor_when_reported == [False]  # open before the status was put on record
    assert runtime.statuses[1].status == "Faulted" and runtime.statuses[1].error_code == "GroundFailure"
    assert runtime.statuses[1].info == "RCD tripped (GPIO22)"  # StatusNotification.info tells the technician
    assert runtime.safety.last_open_s is not None and runtime.safety.last_open_s < 1.0

    rcd.reset()
    await until(lambda: runtime.statuses[1].status == "Charging")
    await until(lambda: contactor.closed)  # the session was kept and energy flows again


async def test_a_contactor_that_welds_is_a_power_switch_failure(charger):
    runtime, journal, contactor, rcd, ev, meters = charger
    ev.state = PilotState.B
    runtime.remote_start("TAG-2", 1)
    await until(lambda: 1 in runtime.local_tx)
    ev.state = PilotState.C
    await until(lambda: contactor.closed)
    contactor.weld()
    ev.state = PilotState.B  # the EV stops asking: the agent opens, the contacts stay closed
    await until(lambda: runtime.statuses[1].status == "Faulted")
    assert runtime.statuses[1].error_code == "PowerSwitchFailure"
    assert contactor.closed  # welded: only a technician can fix it, and the backend knows


async def test_a_frozen_meter_frame_is_a_power_meter_failure_within_fault_after(charger):
    runtime, journal, contactor, rcd, ev, meters = charger
    ev.state = PilotState.B
    runtime.remote_start("TAG-3", 1)
    await until(lambda: 1 in runtime.local_tx)
    ev.state = PilotState.C
    await until(lambda: contactor.closed)
    meters[1].stale = True
    await until(lambda: runtime.statuses[1].status == "Faulted", timeout=runtime.meter.fault_after + 3)
    assert runtime.statuses[1].error_code == "PowerMeterFailure"
    assert not contactor.closed
    meters[1].stale = False
    await until(lambda: runtime.statuses[1].status == "Charging", timeout=5)
