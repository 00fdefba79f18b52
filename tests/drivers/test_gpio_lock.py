"""GpioLock against the bench's lock actuator on mock pins (solenoid and motor)."""

from __future__ import annotations

import time

import pytest
from gpiozero.pins.mock import MockFactory

from drivers.gpio import GpioLock
from drivers.protocols import ConnectorLock, DeviceError
from simulators.gpio_bench import GpioBench

LOCK, UNLOCK, FEEDBACK = 20, 21, 16
TRAVEL, PULSE, TIMEOUT = 0.02, 0.04, 0.12


def solenoid(factory: MockFactory) -> GpioLock:
    return GpioLock(1, factory=factory, lock_pin=LOCK, feedback_pin=FEEDBACK, timeout=TIMEOUT)


def motor(factory: MockFactory) -> GpioLock:
    return GpioLock(1, factory=factory, lock_pin=LOCK, unlock_pin=UNLOCK, feedback_pin=FEEDBACK, pulse=PULSE,
                    timeout=TIMEOUT)


async def test_solenoid_locks_and_unlocks_with_feedback(factory: MockFactory, bench: GpioBench) -> None:
    model = bench.lock(lock_pin=LOCK, feedback_pin=FEEDBACK, travel=TRAVEL)
    lock = solenoid(factory)
    assert isinstance(lock, ConnectorLock)
    await lock.open()
    try:
        assert not model.locked
        started = time.monotonic()
        assert await lock.set_locked(True) is True
        assert model.locked and bench.pin(LOCK).state == 1  # held while locked
        assert time.monotonic() - started < TIMEOUT  # confirmed by the feedback, not the timeout
        assert await lock.set_locked(False) is True
        assert not model.locked and bench.pin(LOCK).state == 0
    finally:
        await lock.close()


async def test_jammed_lock_answers_false(factory: MockFactory, bench: GpioBench) -> None:
    model = bench.lock(lock_pin=LOCK, feedback_pin=FEEDBACK, travel=TRAVEL)
    lock = solenoid(factory)
    await lock.open()
    try:
        model.jam()
        started = time.monotonic()
        assert await lock.set_locked(True) is False
        assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 0.1
        assert not model.locked
        model.free()
        assert await lock.set_locked(True) is True
    finally:
        await lock.close()
    assert not model.locked  # close() released the cable


async def test_motor_lock_is_pulsed(factory: MockFactory, bench: GpioBench) -> None:
    model = bench.lock(lock_pin=LOCK, unlock_pin=UNLOCK, feedback_pin=FEEDBACK, travel=TRAVEL)
    lock = motor(factory)
    lock_pin, unlock_pin = bench.pin(LOCK), bench.pin(UNLOCK)
    await lock.open()
    try:
        assert await lock.set_locked(True) is True
        assert model.locked
        assert lock_pin.state == 0 and unlock_pin.state == 0  # nothing stays powered
        (on, _), (off, _) = lock_pin.history[-2:]
        assert PULSE <= off - on < PULSE + 0.05  # one pulse of the configured length, not held
        assert await lock.set_locked(False) is True
        assert not model.locked
        assert not model.shorted  # never both outputs at once
    finally:
        await lock.close()
    assert lock_pin.function == "input" and unlock_pin.function == "input"  # pins released


async def test_jammed_motor_lock_answers_false(factory: MockFactory, bench: GpioBench) -> None:
    model = bench.lock(lock_pin=LOCK, unlock_pin=UNLOCK, feedback_pin=FEEDBACK, travel=TRAVEL)
    lock = motor(factory)
    await lock.open()
    try:
        model.jam()
        assert await lock.set_locked(True) is False
        assert bench.pin(LOCK).state == 0  # the pulse ended even though the motor did not move
    finally:
        await lock.close()


async def test_lock_that_cannot_unlock_at_open_is_an_error(factory: MockFactory, bench: GpioBench) -> None:
    model = bench.lock(lock_pin=LOCK, unlock_pin=UNLOCK, feedback_pin=FEEDBACK, travel=TRAVEL)
    first = motor(factory)
    await first.open()
    assert await first.set_locked(True)
    model.jam()
    await first.close()  # best effort: logs, releases the pins, does not raise
    assert model.locked
    with pytest.raises(DeviceError, match="lock 1: feedback GPIO16 still says locked") as raised:
        await motor(factory).open()
    assert raised.value.retry is True
    model.free()
    second = motor(factory)
    await second.open()  # the failed open released its pins; now the lock moves again
    assert not model.locked
    await second.close()


async def test_bad_configuration_is_a_clear_error(factory: MockFactory, bench: GpioBench) -> None:
    with pytest.raises(ValueError, match="shorter than the pulse"):
        GpioLock(1, factory=factory, lock_pin=LOCK, unlock_pin=UNLOCK, feedback_pin=FEEDBACK, pulse=1.0, timeout=0.5)
    with pytest.raises(DeviceError, match="lock 2: unlock output on GPIO88"):
        await GpioLock(2, factory=factory, lock_pin=LOCK, unlock_pin=88, feedback_pin=FEEDBACK).open()
    with pytest.raises(DeviceError, match="before open"):
        await solenoid(factory).set_locked(True)
