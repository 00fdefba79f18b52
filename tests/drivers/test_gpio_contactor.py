"""GpioContactor against the bench's contactor model on mock pins."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from gpiozero.pins.mock import MockFactory

from drivers.gpio import GpioContactor
from drivers.protocols import Contactor, DeviceError, FaultReporter
from simulators.gpio_bench import GpioBench

from .faults import next_fault, watching

COIL, MIRROR = 17, 27
TIMEOUT = 0.15  # feedback timeout: long enough for the model's 5 ms, short enough to keep tests fast


@contextlib.asynccontextmanager
async def opened(contactor: GpioContactor) -> AsyncIterator[GpioContactor]:
    await contactor.open()
    try:
        yield contactor
    finally:
        await contactor.close()


def make(factory: MockFactory, **kwargs: object) -> GpioContactor:
    options: dict[object, object] = {"pin": COIL, "feedback_pin": MIRROR, "feedback_timeout": TIMEOUT}
    options.update(kwargs)
    return GpioContactor(1, factory=factory, **options)  # type: ignore[arg-type]


async def test_closes_and_opens_with_feedback(factory: MockFactory, bench: GpioBench) -> None:
    model = bench.contactor(pin=COIL, feedback_pin=MIRROR)
    contactor = make(factory)
    assert isinstance(contactor, Contactor) and isinstance(contactor, FaultReporter)
    async with opened(contactor), watching(contactor) as faults:
        assert not model.energised and not model.closed  # safe state from open() on
        started = time.monotonic()
        await contactor.switch(True)
        took = time.monotonic() - started
        assert model.energised and model.closed
        assert took < TIMEOUT  # returned once the mirror agreed, not at the timeout
        await contactor.switch(False)
        assert not model.energised and not model.closed
        await asyncio.sleep(0.05)
        assert faults.empty()


async def test_welded_contactor_raises_and_reports_until_repaired(factory: MockFactory, bench: GpioBench) -> None:
    model = bench.contactor(pin=COIL, feedback_pin=MIRROR)
    async with opened(make(factory)) as contactor, watching(contactor) as faults:
        await contactor.switch(True)
        model.weld()
        with pytest.raises(DeviceError, match="welded") as raised:
            await contactor.switch(False)
        assert raised.value.retry is False
        assert not model.energised and model.closed
        fault = await next_fault(faults)
        assert (fault.connector, fault.error_code, fault.active) == (1, "PowerSwitchFailure", True)
        assert "welded" in fault.info and len(fault.info) <= 50
        model.repair()  # the contacts open at last: feedback and command agree again
        cleared = await next_fault(faults)
        assert (cleared.error_code, cleared.active) == ("PowerSwitchFailure", False)


async def test_contactor_that_fails_to_close_raises(factory: MockFactory, bench: GpioBench) -> None:
    model = bench.contactor(pin=COIL, feedback_pin=MIRROR)
    model.fail_to_close()
    async with opened(make(factory)) as contactor, watching(contactor) as faults:
        started = time.monotonic()
        with pytest.raises(DeviceError, match="fails to close") as raised:
            await contactor.switch(True)
        assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 0.1
        assert raised.value.retry is False and "GPIO17" in str(raised.value)
        assert (await next_fault(faults)).active
        await contactor.switch(False)  # the agent opens it: that proves nothing about the fault
        with pytest.raises(TimeoutError):
            await next_fault(faults, 0.2)  # still faulted: no retry loop of closes
        model.repair()
        await contactor.switch(True)  # a close that succeeds (a technician's test) clears it
        assert not (await next_fault(faults)).active


async def test_contact_dropping_out_while_closed_is_a_fault(factory: MockFactory, bench: GpioBench) -> None:
    model = bench.contactor(pin=COIL, feedback_pin=MIRROR)
    async with opened(make(factory)) as contactor, watching(contactor) as faults:
        await contactor.switch(True)
        model.fail_to_close()  # e.g. the coil supply fuse blows: the contacts drop out
        fault = await next_fault(faults)
        assert (fault.error_code, fault.active, fault.info) == ("PowerSwitchFailure", True, "open while commanded closed")
        await contactor.switch(False)
        with pytest.raises(TimeoutError):
            await next_fault(faults, 0.2)  # latched, as a contactor that failed to close


async def test_bouncing_mirror_is_not_a_fault(factory: MockFactory, bench: GpioBench) -> None:
    model = bench.contactor(pin=COIL, feedback_pin=MIRROR)
    mirror = bench.pin(MIRROR)
    async with opened(make(factory)) as contactor, watching(contactor) as faults:
        await contactor.switch(True)
        assert model.closed
        for _ in range(3):  # contact bounce, far shorter than the 10 ms debounce
            mirror.drive_low()
            mirror.drive_high()
        await asyncio.sleep(0.05)
        assert faults.empty()


async def test_without_feedback_pin_nothing_is_checked(factory: MockFactory, bench: GpioBench) -> None:
    model = bench.contactor(pin=COIL, feedback_pin=MIRROR)  # the mirror exists but is not wired
    model.weld()
    contactor = GpioContactor(1, factory=factory, pin=COIL)
    async with opened(contactor), watching(contactor) as faults:
        await contactor.switch(True)
        assert model.energised
        await contactor.switch(False)  # no error: nothing tells the driver about the weld
        assert not model.energised
        await asyncio.sleep(0.03)
        assert faults.empty()


async def test_active_low_coil(factory: MockFactory, bench: GpioBench) -> None:
    model = bench.contactor(pin=COIL, active_high=False, feedback_pin=MIRROR, feedback_active_high=False)
    coil = bench.pin(COIL)
    async with opened(make(factory, active_high=False, feedback_active_high=False)) as contactor:
        assert coil.state == 1 and not model.energised  # de-energised from open() on
        await contactor.switch(True)
        assert coil.state == 0 and model.closed
        await contactor.switch(False)
        assert coil.state == 1 and not model.closed


async def test_close_leaves_the_coil_de_energised_and_is_idempotent(factory: MockFactory, bench: GpioBench) -> None:
    model = bench.contactor(pin=COIL, feedback_pin=MIRROR)
    contactor = make(factory)
    await contactor.open()
    await contactor.switch(True)
    await contactor.close()
    await contactor.close()
    assert not model.energised
    await asyncio.sleep(0.02)
    assert not model.closed
    await contactor.open()  # the pins were released: opening again works
    await contactor.close()


async def test_pin_in_use_is_a_clear_error(factory: MockFactory, bench: GpioBench) -> None:
    bench.contactor(pin=COIL, feedback_pin=MIRROR)
    async with opened(make(factory)):
        with pytest.raises(DeviceError, match="contactor 2: coil output on GPIO17") as raised:
            await GpioContactor(2, factory=factory, pin=COIL).open()
        assert raised.value.device == "contactor 2"
    with pytest.raises(DeviceError, match="mirror contact on GPIO99"):
        await make(factory, feedback_pin=99).open()
    async with opened(make(factory)):  # the failed open released the coil it had claimed
        pass


async def test_switch_before_open_is_an_error(factory: MockFactory) -> None:
    with pytest.raises(DeviceError, match="before open"):
        await make(factory).switch(True)


async def test_contacts_already_closed_at_open_are_a_weld_fault(factory: MockFactory, bench: GpioBench) -> None:
    bench.contactor(pin=COIL, feedback_pin=MIRROR)
    bench.pin(MIRROR).drive_high()  # welded before the agent started: closed with the coil off
    async with opened(make(factory)) as contactor, watching(contactor) as faults:
        fault = await next_fault(faults, timeout=0.05)
        assert (fault.error_code, fault.active) == ("PowerSwitchFailure", True) and "welded" in fault.info
