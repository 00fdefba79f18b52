"""Pin factories by name, and the debouncer the input drivers share."""

from __future__ import annotations

import asyncio

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from drivers.gpio import pin_factory
from drivers.gpio.pins import Debouncer
from drivers.protocols import DeviceError


def test_mock_factory_has_pwm_pins() -> None:
    factory = pin_factory("mock")
    assert isinstance(factory, MockFactory) and factory.pin_class is MockPWMPin


def test_unknown_factory_lists_the_allowed_names() -> None:
    with pytest.raises(DeviceError, match="unknown pin factory 'pigpio'; allowed: lgpio, rpigpio, native, mock") as raised:
        pin_factory("pigpio")
    assert raised.value.device == "gpio" and raised.value.retry is False


@pytest.mark.parametrize("name", ["lgpio", "rpigpio", "native"])
def test_real_factory_without_gpio_says_what_is_missing(name: str) -> None:
    # This machine has neither the Pi libraries nor any GPIO: each name must fail with a
    # message naming the factory and either what to install or what it could not reach.
    with pytest.raises(DeviceError, match=rf"gpio: pin factory '{name}' (needs a library .*install|cannot reach)"):
        pin_factory(name)


async def test_debouncer_ignores_a_glitch() -> None:
    changes: list[bool] = []
    debouncer = Debouncer(0.03, False, changes.append)
    debouncer.feed(True)
    debouncer.feed(False)  # back before the delay: nothing happened
    await asyncio.sleep(0.06)
    assert changes == [] and debouncer.level is False


async def test_debouncer_counts_a_level_once_it_held_since_the_last_edge() -> None:
    loop = asyncio.get_running_loop()
    changes: list[tuple[bool, float]] = []
    changed = asyncio.Event()

    def record(level: bool) -> None:
        changes.append((level, loop.time()))
        changed.set()

    debouncer = Debouncer(0.03, False, record)
    debouncer.feed(True)
    await asyncio.sleep(0.02)
    debouncer.feed(False)  # a bounce restarts the wait
    debouncer.feed(True)
    last_edge = loop.time()
    async with asyncio.timeout(1):
        await changed.wait()
    [(level, when)] = changes
    assert level is True and debouncer.level is True
    assert when - last_edge >= 0.03 - 0.002  # counted from the last edge, not the first (timer resolution)
    debouncer.feed(True)  # the same level again is no edge
    await asyncio.sleep(0.06)
    assert len(changes) == 1
