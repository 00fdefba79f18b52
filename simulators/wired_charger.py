"""A one-connector charger wired in this process: every real driver on its simulator.

The real GPIO contactor and RCD input on gpiozero's mock pins (with the GPIO bench's
contactor and RCD models), the real Modbus meter against the Modbus simulator over TCP,
and the real ADS1115/PWM pilot against the register-level ADS1115 and a fake sysfs
tree, under the real ``ChargerRuntime`` with its SQLite journal and no backend
(offline). What a driver does reaches the runtime through exactly the path it takes on
a charger; used by the safety-path tests and the fault-response benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from agent.charger import ChargerRuntime, MeterPolicy
from agent.hardware import Hardware, NoCardReader
from agent.journal import Journal
from agent.runtime_settings.configuration import Configuration
from agent.store import ChargerState, Database
from drivers.gpio import GpioContactor, GpioSafetyInputs, pin_factory
from drivers.modbus import ModbusBus, ModbusMeter, load_meter_model
from drivers.pilot import AdcPilot, Ads1115, I2cBus, SysfsPwm
from drivers.protocols import PilotState

from .ads1115 import FakeAds1115, FakeSMBus, PilotFrontEnd
from .gpio_bench import ContactorModel, GpioBench, SafetyInputModel
from .modbus_meter import MeterSimulator
from .sysfs_pwm import FakePwmTree

COIL, MIRROR, RCD = 17, 27, 22


@dataclass
class WiredCharger:
    runtime: ChargerRuntime
    journal: Journal
    contactor: ContactorModel
    rcd: SafetyInputModel
    ev: PilotFrontEnd
    meters: MeterSimulator

    async def charge(self, id_tag: str) -> None:
        """Plug in, start remotely, and wait until energy flows."""
        self.ev.state = PilotState.B
        assert self.runtime.remote_start(id_tag, 1) == "Accepted"
        await until(lambda: 1 in self.runtime.local_tx)
        self.ev.state = PilotState.C
        await until(lambda: self.contactor.closed)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def wired_charger(workdir: Path, *, meter_poll_s: float = 0.2, meter: MeterPolicy | None = None,
                        recovery: str = "stop", initial_pilot: PilotState = PilotState.A,
                        socket_outlet: bool = False) -> AsyncIterator[WiredCharger]:
    """``meter`` overrides the meter policy (``meter_poll_s`` sets only its poll interval),
    ``recovery`` is ``[state] unfinished_transactions``, ``initial_pilot`` the EV's state
    when the agent starts (B: an EV plugged in across a restart); ``socket_outlet``: the
    pilot reads a proximity pilot (ADS1115 input 2; the cable is ``ev.proximity_ohm``)."""
    factory = pin_factory("mock")
    bench = GpioBench(factory)
    contactor = bench.contactor(pin=COIL, feedback_pin=MIRROR)
    rcd = bench.rcd(RCD)
    tree = FakePwmTree(workdir / "pwm")
    ev = PilotFrontEnd(duty=lambda: tree.duty_percent(0, 0), state=initial_pilot)
    i2c = I2cBus(lambda: FakeSMBus({0x48: FakeAds1115(ev.inputs())}), "/dev/i2c-1")
    pilot = AdcPilot(1, adc=Ads1115(i2c, 0x48), positive_input=0, negative_input=1,
                     proximity_input=2 if socket_outlet else None, pwm=SysfsPwm(0, 0, workdir / "pwm"))
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
    db = Database(workdir / "state")
    db.open()
    state = ChargerState(db)
    journal = Journal(db)
    runtime = ChargerRuntime(hardware=hardware, config=Configuration({}, state, 1), db=db, journal=journal,
                             state=state, max_current=16.0, recovery=recovery,
                             meter=meter if meter is not None else MeterPolicy(poll_interval=meter_poll_s))
    try:
        async with asyncio.TaskGroup() as tg:
            services = [tg.create_task(s()) for s in hardware.services]
            await hardware.open()
            running = tg.create_task(runtime.run())
            await runtime.ready.wait()
            yield WiredCharger(runtime, journal, contactor, rcd, ev, meters)
            running.cancel()
            for task in services:
                task.cancel()
    finally:
        await hardware.close()
        await meters.stop()
        db.close()
        bench.close()
        factory.close()
