"""The one safety path, end to end through the real drivers on their simulators.

The charger runs in this process (no backend: offline) with the real GPIO contactor and
RCD input on gpiozero's mock pins, the real Modbus meter against the Modbus simulator
over TCP, and the real ADS1115/PWM pilot against the register-level ADS1115 and a fake
sysfs tree. A tripped RCD must open the contactor before GroundFailure is on record.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.charger import ChargerRuntime, MeterPolicy
from agent.hardware import Hardware, NoCardReader
from agent.journal import Journal
from agent.ocpp16.configuration import Configuration
from agent.store import ChargerState, Database
from drivers.gpio import GpioContactor, GpioSafetyInputs, pin_factory
from drivers.modbus import ModbusBus, ModbusMeter, load_meter_model
from drivers.pilot import AdcPilot, Ads1115, I2cBus, SysfsPwm
from drivers.protocols import PilotState
from simulators.ads1115 import FakeAds1115, FakeSMBus, PilotFrontEnd
from simulators.gpio_bench import GpioBench
from simulators.modbus_meter import MeterSimulator
from simulators.sysfs_pwm import FakePwmTree

COIL, MIRROR, RCD = 17, 27, 22


async def until(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


@pytest.fixture
async def charger(tmp_path: Path):  # type: ignore[no-untyped-def]
    factory = pin_factory("mock")
    bench = GpioBench(factory)
    contactor = bench.contactor(pin=COIL, feedback_pin=MIRROR)
    rcd = bench.rcd(RCD)
    tree = FakePwmTree(tmp_path / "pwm")
    ev = PilotFrontEnd(duty=lambda: tree.duty_percent(0, 0))
    i2c = I2cBus(lambda: FakeSMBus({0x48: FakeAds1115(ev.inputs())}), "/dev/i2c-1")
    pilot = AdcPilot(1, adc=Ads1115(i2c, 0x48), positive_input=0, negative_input=1,
                     pwm=SysfsPwm(0, 0, tmp_path / "pwm"), poll_interval=0.01)
    meters = MeterSimulator("sdm630", units=[1])
    port = await meters.start_tcp()
    hardware = Hardware(
        meters={1: ModbusMeter(ModbusBus.tcp("127.0.0.1", port, timeout=0.3), 1, load_meter_model("sdm630"))},
        pilots={1: pilot},
        contactors={1: GpioContactor(1, factory=factory, pin=COIL, feedback_pin=MIRROR)},
        reader=NoCardReader(),
        safety=GpioSafetyInputs(factory=factory, rcd_pins={1: RCD}),
        services=[pilot.run],
    )
    db = Database(tmp_path / "state")
    db.open()
    state = ChargerState(db)
    journal = Journal(db)
    runtime = ChargerRuntime(hardware=hardware, config=Configuration({}, state, 1), db=db, journal=journal,
                             state=state, max_current=16.0, meter=MeterPolicy(poll_interval=0.2))
    try:
        async with asyncio.TaskGroup() as tg:
            services = [tg.create_task(s()) for s in hardware.services]
            await hardware.open()
            running = tg.create_task(runtime.run())
            await runtime.ready.wait()
            yield runtime, journal, contactor, rcd, ev, meters
            running.cancel()
            for task in services:
                task.cancel()
    finally:
        await hardware.close()
        await meters.stop()
        db.close()
        bench.close()
        factory.close()


async def test_an_rcd_trip_opens_the_contactor_before_ground_failure_is_reported(charger):
    runtime, journal, contactor, rcd, ev, meters = charger
    ev.state = PilotState.B
    assert runtime.remote_start("TAG-1", 1) == "Accepted"
    await until(lambda: 1 in runtime.local_tx)
    ev.state = PilotState.C
    await until(lambda: contactor.closed)

    contactor_when_reported: list[bool] = []
    record_status = journal.record_status

    def noting(connector: int, status: str, error_code: str, timestamp: str) -> None:
        if error_code == "GroundFailure":
            contactor_when_reported.append(contactor.closed)
        record_status(connector, status, error_code, timestamp)

    journal.record_status = noting  # type: ignore[method-assign]
    rcd.trip()
    await until(lambda: contactor_when_reported)
    assert contactor_when_reported == [False]  # open before the status was put on record
    assert runtime.statuses[1].status == "Faulted" and runtime.statuses[1].error_code == "GroundFailure"
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
