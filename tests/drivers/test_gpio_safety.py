"""GpioSafetyInputs against the bench's RCDs and emergency stop on mock pins."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from gpiozero.pins.mock import MockFactory

from drivers.gpio import GpioSafetyInputs
from drivers.protocols import DeviceError, Fault, SafetyInputs
from simulators.gpio_bench import GpioBench

from .faults import next_fault, watching

RCD1, RCD2, ESTOP = 5, 6, 13
DEBOUNCE = 0.02


@contextlib.asynccontextmanager
async def opened(inputs: GpioSafetyInputs) -> AsyncIterator[GpioSafetyInputs]:
    await inputs.open()
    try:
        yield inputs
    finally:
        await inputs.close()


def make(factory: MockFactory, **kwargs: object) -> GpioSafetyInputs:
    options: dict[str, object] = {"rcd_pins": {1: RCD1, 2: RCD2}, "estop_pin": ESTOP, "debounce": DEBOUNCE}
    options.update(kwargs)
    return GpioSafetyInputs(factory=factory, **options)  # type: ignore[arg-type]


async def test_rcd_trip_is_reported_after_the_debounce_and_clears(factory: MockFactory, bench: GpioBench) -> None:
    rcd1, rcd2 = bench.rcd(RCD1), bench.rcd(RCD2)
    bench.estop(ESTOP)
    inputs = make(factory)
    assert isinstance(inputs, SafetyInputs)
    async with opened(inputs), watching(inputs) as faults:
        await asyncio.sleep(0.03)
        assert faults.empty()  # nothing tripped at open
        started = time.monotonic()
        rcd2.trip()
        fault = await next_fault(faults)
        latency = time.monotonic() - started
        assert fault == Fault(2, "GroundFailure", True, f"RCD tripped (GPIO{RCD2})")
        assert DEBOUNCE <= latency < DEBOUNCE + 0.03, latency  # ~1 ms beyond the debounce on an idle machine
        rcd2.reset()
        assert await next_fault(faults) == Fault(2, "GroundFailure", False, f"RCD reset (GPIO{RCD2})")
        rcd1.trip()
        assert (await next_fault(faults)).connector == 1


async def test_glitch_shorter_than_the_debounce_is_ignored(factory: MockFactory, bench: GpioBench) -> None:
    rcd = bench.rcd(RCD1)
    async with opened(make(factory, rcd_pins={1: RCD1}, estop_pin=None, debounce=0.05)) as inputs, \
            watching(inputs) as faults:
        glitch = rcd.glitch(0.005)  # both edges reach the loop while it runs
        await asyncio.sleep(0.1)
        glitch.join()
        assert faults.empty()
        rcd.trip()  # a real trip still counts
        assert (await next_fault(faults)).active


async def test_emergency_stop_normally_closed(factory: MockFactory, bench: GpioBench) -> None:
    estop = bench.estop(ESTOP)  # normally closed: released holds the input high
    stop_pin = bench.pin(ESTOP)
    assert stop_pin.state == 1
    async with opened(make(factory, rcd_pins={})) as inputs, watching(inputs) as faults:
        stop_pin.drive_low()  # pressed, or a cut wire: both read low and both stop the charger
        fault = await next_fault(faults)
        assert (fault.connector, fault.error_code, fault.active, fault.vendor_error_code) == \
            (0, "OtherError", True, "EmergencyStop")
        assert len(fault.info) <= 50
        estop.reset()
        cleared = await next_fault(faults)
        assert (cleared.connector, cleared.active, cleared.vendor_error_code) == (0, False, "EmergencyStop")


async def test_inputs_already_tripped_at_open_are_reported_at_once(factory: MockFactory, bench: GpioBench) -> None:
    bench.rcd(RCD1)
    bench.rcd(RCD2).trip()
    bench.estop(ESTOP).trip()
    inputs = make(factory)
    await inputs.open()
    try:
        reported = inputs.faults()
        # Queued by open() itself: these awaits return without the loop running a timer,
        # so the asyncio.timeout(0) can only fire if a fault had to wait for the debounce.
        async with asyncio.timeout(0):
            first, second = await anext(reported), await anext(reported)
        assert {(first.connector, first.error_code), (second.connector, second.error_code)} == \
            {(2, "GroundFailure"), (0, "OtherError")}
        assert first.active and second.active
        async with watching(inputs) as faults:
            await asyncio.sleep(0.05)
            assert faults.empty()  # nothing reported twice
    finally:
        await inputs.close()


async def test_active_low_rcd(factory: MockFactory, bench: GpioBench) -> None:
    rcd = bench.rcd(RCD1, active_high=False)
    assert bench.pin(RCD1).state == 1  # healthy: high
    async with opened(make(factory, rcd_pins={1: RCD1}, rcd_active_high=False, estop_pin=None)) as inputs, \
            watching(inputs) as faults:
        rcd.trip()
        assert (await next_fault(faults)).active


async def test_bad_pins_are_clear_errors(factory: MockFactory, bench: GpioBench) -> None:
    with pytest.raises(ValueError, match="own pin"):
        make(factory, rcd_pins={1: RCD1}, estop_pin=RCD1)
    with pytest.raises(DeviceError, match="RCD input of connector 2 on GPIO77") as raised:
        await make(factory, rcd_pins={1: RCD1, 2: 77}).open()
    assert raised.value.device == "safety inputs" and raised.value.retry is False
    async with opened(make(factory)):  # the failed open released what it had claimed
        pass
