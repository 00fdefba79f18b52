"""The bench at the wire: the agent's real GPIO and pilot drivers against a bench process,
through the pin and I2C transports and the PWM tree (simulators/bench_hardware.py)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import AsyncIterator
from typing import Any

import pytest

from drivers.gpio import GpioContactor, GpioIndicator, GpioLock, GpioSafetyInputs, LedPins
from drivers.gpio.remote import RemotePinFactory
from drivers.pilot import AdcPilot, Ads1115, I2cBus, SysfsPwm
from drivers.pilot.remote_i2c import RemoteSMBus
from drivers.protocols import DeviceError, PilotState, Signal
from simulators.bench_wiring import ADS1115_ADDRESS, CONNECTORS, ESTOP_PIN, BenchWiring
from simulators.control import ControlClient
from tests.drivers.faults import next_fault, watching
from tests.simulators.test_bench import BenchProcess, running_bench

C1 = CONNECTORS[0]


@contextlib.asynccontextmanager
async def wired(*args: str) -> AsyncIterator[tuple[BenchProcess, ControlClient, RemotePinFactory]]:
    async with running_bench(*args) as bench:
        control = ControlClient(bench.control)
        factory = RemotePinFactory(bench.hardware)
        try:
            yield bench, control, factory
        finally:
            factory.close()
            await control.close()


async def status(control: ControlClient, connector: int = 1) -> dict[str, Any]:
    return (await control.request("status"))["connectors"][connector - 1]


async def wait_field(control: ControlClient, field: str, value: Any, connector: int = 1) -> None:
    await control.request("wait_for", connector=connector, field=field, value=value, timeout=3)


def contactor(factory: RemotePinFactory, wiring: Any = C1, number: int = 1) -> GpioContactor:
    return GpioContactor(number, factory=factory, pin=wiring.coil, feedback_pin=wiring.mirror, feedback_timeout=0.3)


async def test_the_contactor_driver_switches_the_bench_contactor_and_reads_its_mirror() -> None:
    async with wired("--connectors", "2") as (_bench, control, factory):
        first, second = contactor(factory), contactor(factory, CONNECTORS[1], 2)
        await first.open()
        await second.open()
        await control.request("plug", connector=1, max_current=16)
        await first.switch(True)
        assert (await status(control))["coil"] is True
        await wait_field(control, "contactor_closed", True)
        assert (await status(control, 2))["contactor_closed"] is False  # each connector on its own pins
        await first.switch(False)
        await wait_field(control, "contactor_closed", False)
        assert (await status(control))["coil_off_at"] is not None


async def test_a_welded_contactor_is_a_power_switch_failure_for_the_real_driver() -> None:
    async with wired() as (_bench, control, factory):
        driver = contactor(factory)
        await driver.open()
        await driver.switch(True)
        await control.request("contactor_fault", connector=1, fault="welded")
        with pytest.raises(DeviceError, match="PowerSwitchFailure|weld|closed"):
            await driver.switch(False)
        assert (await status(control))["contactor_closed"] is True  # current still flows: the EV model knows


async def test_a_contactor_that_fails_to_close_is_refused_by_the_real_driver() -> None:
    async with wired() as (_bench, control, factory):
        driver = contactor(factory)
        await driver.open()
        await control.request("contactor_fault", connector=1, fault="fails_to_close")
        with pytest.raises(DeviceError):
            await driver.switch(True)
        assert (await status(control))["contactor_closed"] is False


async def test_rcd_and_emergency_stop_reach_the_safety_driver_as_faults() -> None:
    async with wired() as (_bench, control, factory):
        safety = GpioSafetyInputs(factory=factory, rcd_pins={1: C1.rcd}, estop_pin=ESTOP_PIN,
                                  estop_active_high=False, debounce=0.02)
        await safety.open()
        async with watching(safety) as faults:
            await control.request("rcd", connector=1, tripped=True)
            fault = await next_fault(faults, 2.0)
            assert (fault.connector, fault.error_code, fault.active) == (1, "GroundFailure", True)
            await control.request("rcd", connector=1, tripped=False)
            assert (await next_fault(faults, 2.0)).active is False
            await control.request("estop", pressed=True)
            fault = await next_fault(faults, 2.0)
            assert (fault.error_code, fault.vendor_error_code, fault.active) == ("OtherError", "EmergencyStop", True)
        await safety.close()


async def test_an_rcd_tripped_before_the_agent_starts_is_seen_at_open() -> None:
    async with running_bench() as bench:
        control = ControlClient(bench.control)
        await control.request("rcd", connector=1, tripped=True)
        factory = RemotePinFactory(bench.hardware)
        try:
            safety = GpioSafetyInputs(factory=factory, rcd_pins={1: C1.rcd}, debounce=0.02)
            await safety.open()
            async with watching(safety) as faults:
                assert (await next_fault(faults, 1.0)).error_code == "GroundFailure"
            await safety.close()
        finally:
            factory.close()
            await control.close()


async def test_leds_show_on_the_bench_what_the_indicator_driver_lit() -> None:
    async with wired() as (_bench, control, factory):
        indicator = GpioIndicator(factory=factory, leds={1: LedPins(red=C1.red, green=C1.green, blue=C1.blue)})
        await indicator.open()
        await indicator.show(1, Signal.AVAILABLE)
        await wait_field(control, "leds", ["green"])
        await indicator.show(1, Signal.FAULT)
        await wait_field(control, "leds", ["red"])
        await indicator.close()
        await wait_field(control, "leds", [])


async def test_a_motor_lock_driven_by_the_real_driver_moves_the_bench_lock() -> None:
    async with wired() as (_bench, control, factory):
        lock = GpioLock(1, factory=factory, lock_pin=C1.lock, unlock_pin=C1.unlock, feedback_pin=C1.lock_feedback,
                        pulse=0.1, timeout=0.5)
        await lock.open()
        assert await lock.set_locked(True) is True
        assert (await status(control))["locked"] is True
        await control.request("lock_jam", connector=1, jammed=True)
        assert await lock.set_locked(False) is False  # jammed: the feedback still says locked
        await control.request("lock_jam", connector=1, jammed=False)
        assert await lock.set_locked(False) is True
        assert (await status(control))["locked"] is False
        await lock.close()


async def test_a_dead_controller_releases_its_lines_and_the_contactor_drops_out() -> None:
    async with running_bench() as bench:
        control = ControlClient(bench.control)
        factory = RemotePinFactory(bench.hardware)
        try:
            driver = contactor(factory)
            await driver.open()
            await control.request("plug", connector=1)
            await driver.switch(True)
            await wait_field(control, "contactor_closed", True)
            factory.wire.close()  # the agent's end of the socket goes, as when the process dies
            await wait_field(control, "contactor_closed", False)
            assert (await status(control))["coil"] is False
        finally:
            factory.close()
            await control.close()


async def test_a_pwm_attribute_a_killed_agent_left_half_written_gets_its_last_value_back() -> None:
    # A kernel attribute keeps its last complete value; a plain file truncated by a writer
    # killed mid-write would read '' and stop the next agent at start-up.
    async with wired() as (bench, control, factory):
        pwm = SysfsPwm(0, C1.pwm_channel, bench.directory / "pwm")
        await pwm.open()
        await pwm.set_duty(26.7)  # 16 A
        await control.request("wait_for", connector=1, field="offer_a", value=15.9, op="ge", timeout=3)
        duty = bench.directory / "pwm" / "pwmchip0" / f"pwm{C1.pwm_channel}" / "duty_cycle"
        duty.write_text("")  # what open(..., "w") leaves when the process dies before writing
        factory.close()  # the agent is gone: its pin link closes
        for _ in range(100):
            if duty.read_text().strip():
                break
            await asyncio.sleep(0.01)
        assert duty.read_text().strip() == "267000"


async def test_the_pin_factory_reconnects_to_a_restarted_bench_and_drives_it_again() -> None:
    async with wired() as (bench, control, factory):
        driver = contactor(factory)
        await driver.open()
        await control.request("plug", connector=1)
        await bench.stop()
        await bench.start()
        await control.close()
        control = ControlClient(bench.control)
        async with asyncio.timeout(5):  # reconnection backs off to at most 2 s between tries
            while not factory.wire.connected:
                await asyncio.sleep(0.02)
        await driver.switch(True)  # the restarted bench got the agent's outputs and answers
        await wait_field(control, "contactor_closed", True)
        await control.close()


def test_a_missing_bench_is_a_device_error_naming_the_socket(tmp_path: Any) -> None:
    with pytest.raises(DeviceError, match="cannot reach the simulated bench's pins at .*nowhere.sock"):
        RemotePinFactory(tmp_path / "nowhere.sock")


async def test_a_wired_bench_refuses_more_connectors_than_its_header_holds() -> None:
    with pytest.raises(RuntimeError, match="1 to 2 connectors.*--wiring none"):
        async with running_bench("--connectors", "3"):
            pass


# -- the pilot: ADS1115 over the I2C transport, PWM through the tree ---------------------------


def pilots(bench: BenchProcess, connectors: int = 1) -> list[AdcPilot]:
    """Each connector's pilot on the one ADS1115, through one bus (as agent/hardware.py builds them)."""
    adc = Ads1115(I2cBus(lambda: RemoteSMBus(bench.hardware), "bench i2c"), ADS1115_ADDRESS)
    return [AdcPilot(n, adc=adc, positive_input=w.pilot_positive, negative_input=w.pilot_negative,
                     pwm=SysfsPwm(0, w.pwm_channel, bench.directory / "pwm"))
            for n, w in enumerate(CONNECTORS[:connectors], 1)]


async def next_state(states: AsyncIterator[PilotState], timeout: float = 2.0) -> PilotState:
    async with asyncio.timeout(timeout):
        return await anext(states)


async def test_the_pilot_driver_reads_the_evs_states_and_offers_current_by_pwm() -> None:
    async with running_bench("--connectors", "2") as bench:
        control = ControlClient(bench.control)
        first, second = pilots(bench, 2)
        try:
            async with asyncio.TaskGroup() as tg:
                pollers = [tg.create_task(first.run()), tg.create_task(second.run())]
                await first.open()
                await second.open()
                states = aiter(first.states())
                assert await next_state(states) is PilotState.A
                await control.request("plug", connector=1, max_current=32)
                assert await next_state(states) is PilotState.B
                await first.offer(16)
                assert await next_state(states) is PilotState.C  # the EV read the duty cycle and asks
                assert (await status(control))["offer_a"] == pytest.approx(16, abs=0.1)
                assert (await status(control, 2))["offer_a"] == 0  # the other channel is untouched
                await control.request("pilot_diode", connector=1, ok=False)
                assert await next_state(states) is PilotState.F  # no -12 V half-wave: diode fault
                await control.request("pilot_diode", connector=1, ok=True)
                assert await next_state(states) is PilotState.C
                await control.request("pilot_error", connector=1, state="E")
                assert await next_state(states) is PilotState.E
                await first.close()
                await second.close()
                for task in pollers:
                    task.cancel()
        finally:
            await control.close()


async def test_status_counts_the_pilot_samples_taken_since_the_ev_last_changed_state() -> None:
    async with running_bench("--connectors", "2") as bench:
        control = ControlClient(bench.control)
        adc = Ads1115(I2cBus(lambda: RemoteSMBus(bench.hardware), "bench"), ADS1115_ADDRESS)
        try:
            await adc.open()
            await control.request("plug", connector=1, max_current=16)
            assert (await status(control))["pilot_reads"] == 0
            for _ in range(3):
                await adc.read(C1.pilot_positive)
            await adc.read(C1.pilot_negative)  # the negative peak is not a look at the state
            await adc.read(CONNECTORS[1].pilot_positive)  # nor is the other connector's pilot
            assert (await status(control))["pilot_reads"] == 3
            assert (await status(control, 2))["pilot_reads"] == 1
            await control.request("pause", connector=1)  # nothing offered: the EV stays in B
            assert (await status(control))["pilot_reads"] == 3
            await control.request("unplug", connector=1)
            assert (await status(control))["pilot_reads"] == 0
        finally:
            await adc.close()
            await control.close()


async def test_an_i2c_address_nobody_answers_is_the_kernels_remote_io_error() -> None:
    async with running_bench() as bench:
        bus = RemoteSMBus(bench.hardware)
        try:
            with pytest.raises(OSError) as raised:
                bus.read_i2c_block_data(0x49, 1, 2)
            assert raised.value.errno == errno.EREMOTEIO
            assert len(bus.read_i2c_block_data(ADS1115_ADDRESS, 2, 2)) == 2  # the connection is still good
        finally:
            bus.close()


async def test_the_pilot_adc_failing_with_the_bench_gone_is_a_fault_not_a_crash() -> None:
    async with running_bench() as bench:
        [driver] = pilots(bench)
        async with asyncio.TaskGroup() as tg:
            poller = tg.create_task(driver.run())
            await driver.open()
            async with watching(driver) as faults:
                await bench.stop()
                fault = await next_fault(faults, 3.0)
                assert (fault.error_code, fault.vendor_error_code) == ("InternalError", "PilotAdcFailure")
            poller.cancel()
            await driver.close()


async def test_an_unwired_bench_refuses_the_wire_roles() -> None:
    async with running_bench("--wiring", "none") as bench:
        with pytest.raises(OSError) as raised:
            RemoteSMBus(bench.hardware).read_i2c_block_data(ADS1115_ADDRESS, 1, 2)
        assert raised.value.errno == 19
        with pytest.raises(DeviceError, match="refused: this bench has no wiring"):
            RemotePinFactory(bench.hardware)


def test_the_wiring_gives_every_pin_one_job() -> None:
    wiring = BenchWiring.for_connectors(2)
    assert not wiring.agent_outputs() & wiring.bench_outputs()
    pins = [*wiring.agent_outputs(), *wiring.bench_outputs()]
    assert len(pins) == len(set(pins)) == 19
    assert not {2, 3, 14, 15, 18, 19} & set(pins)  # I2C, the RS-485 UART and hardware PWM stay free
