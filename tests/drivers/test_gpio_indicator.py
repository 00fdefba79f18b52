"""GpioIndicator read through the bench's LED panel on mock pins."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from gpiozero.pins.mock import MockFactory

from drivers.gpio import Colour, GpioIndicator, LedPins, Pattern
from drivers.gpio.indicator import SIGNALS
from drivers.protocols import DeviceError, Indicator, Signal
from simulators.gpio_bench import GpioBench

BLINK, FLASH = 0.02, 0.12  # fast timings keep the tests short; the defaults are 0.5 s and 1.5 s
WATCH = BLINK * 5  # long enough to see a blinking LED change at least four times
RGB1 = LedPins(red=5, green=6, blue=13)
RGB2 = LedPins(red=19, green=26, blue=12)


@contextlib.asynccontextmanager
async def opened(indicator: GpioIndicator) -> AsyncIterator[GpioIndicator]:
    await indicator.open()
    try:
        yield indicator
    finally:
        await indicator.close()


def make(factory: MockFactory, leds: dict[int, LedPins] | None = None, **kwargs: object) -> GpioIndicator:
    return GpioIndicator(factory=factory, leds=leds or {1: RGB1, 2: RGB2}, blink=BLINK, flash=FLASH,
                         **kwargs)  # type: ignore[arg-type]


EXPECTED = {  # the table in drivers/gpio/indicator.py, as a driver sees it
    Signal.OFF: (None, Pattern.OFF),
    Signal.AVAILABLE: (Colour.GREEN, Pattern.STEADY),
    Signal.AUTHORIZING: (Colour.BLUE, Pattern.BLINKING),
    Signal.CHARGING: (Colour.BLUE, Pattern.STEADY),
    Signal.SUSPENDED: (Colour.GREEN, Pattern.BLINKING),
    Signal.UNAVAILABLE: (None, Pattern.OFF),
    Signal.FAULT: (Colour.RED, Pattern.STEADY),
}


async def test_each_signal_shows_its_documented_colour_and_pattern(factory: MockFactory, bench: GpioBench) -> None:
    assert set(EXPECTED) | {Signal.REJECTED, Signal.MOVE_CAR} == set(Signal) == set(SIGNALS)
    panel1, panel2 = bench.leds(RGB1), bench.leds(RGB2)
    indicator = make(factory)
    assert isinstance(indicator, Indicator)
    async with opened(indicator):
        await indicator.show(2, Signal.FAULT)  # the other connector keeps its own signal throughout
        for signal, (colour, pattern) in EXPECTED.items():
            await indicator.show(1, signal)
            await asyncio.sleep(BLINK / 2)  # the change itself is not part of what is watched
            assert await panel1.watch(WATCH) == (colour, pattern), signal
            assert len(panel1.lit()) <= 1  # one colour at a time
        assert panel2.lit() == {Colour.RED}


async def test_rejected_flashes_red_then_returns_to_the_previous_signal(factory: MockFactory, bench: GpioBench) -> None:
    panel = bench.leds(RGB1)
    async with opened(make(factory, {1: RGB1})) as indicator:
        await indicator.show(1, Signal.AUTHORIZING)
        await indicator.show(1, Signal.REJECTED)
        assert panel.lit() == {Colour.RED}
        assert await panel.watch(FLASH / 2) == (Colour.RED, Pattern.STEADY)
        await asyncio.sleep(FLASH / 2 + BLINK)
        assert await panel.watch(WATCH) == (Colour.BLUE, Pattern.BLINKING)


async def test_signal_during_the_flash_shows_when_it_ends(factory: MockFactory, bench: GpioBench) -> None:
    panel = bench.leds(RGB1)
    async with opened(make(factory, {1: RGB1})) as indicator:
        await indicator.show(1, Signal.AVAILABLE)
        await indicator.show(1, Signal.REJECTED)
        await indicator.show(1, Signal.CHARGING)
        assert panel.lit() == {Colour.RED}  # the flash is not cut short
        await asyncio.sleep(FLASH + 0.05)
        assert panel.lit() == {Colour.BLUE}


async def test_move_car_alternates_red_and_blue_one_at_a_time(factory: MockFactory, bench: GpioBench) -> None:
    panel = bench.leds(RGB1)
    async with opened(make(factory, {1: RGB1})) as indicator:
        await indicator.show(1, Signal.CHARGING)
        await indicator.show(1, Signal.MOVE_CAR)
        seen: list[frozenset[Colour]] = []
        for _ in range(8):
            seen.append(frozenset(panel.lit()))
            await asyncio.sleep(BLINK / 2)
        assert {frozenset({Colour.RED}), frozenset({Colour.BLUE})} == set(seen), seen  # both, never together
        await indicator.show(1, Signal.AVAILABLE)  # the car left: back to a plain signal, no timer left over
        await asyncio.sleep(BLINK * 3)
        assert panel.lit() == {Colour.GREEN}


async def test_move_car_without_a_blue_led_blinks_red(factory: MockFactory, bench: GpioBench) -> None:
    pins = LedPins(red=5, green=6)
    panel = bench.leds(pins)
    async with opened(make(factory, {1: pins})) as indicator:
        await indicator.show(1, Signal.MOVE_CAR)
        since = time.monotonic()
        assert await panel.watch(WATCH) == (Colour.RED, Pattern.BLINKING)
        assert not any(float(level) > 0 for t, level in bench.pin(6).history if t > since)  # green (GPIO6) stays dark


async def test_close_turns_every_led_off(factory: MockFactory, bench: GpioBench) -> None:
    panel1, panel2 = bench.leds(RGB1, active_high=False), bench.leds(RGB2, active_high=False)
    indicator = make(factory, active_high=False)  # a common-anode RGB LED: the pin sinks the current
    await indicator.open()
    assert panel1.lit() == set() and panel2.lit() == set()  # dark from open() on
    await indicator.show(1, Signal.AUTHORIZING)
    await indicator.show(2, Signal.CHARGING)
    assert panel1.lit() == {Colour.BLUE} and panel2.lit() == {Colour.BLUE}
    await indicator.close()
    await indicator.close()
    await asyncio.sleep(BLINK * 2)  # no blink timer survives close()
    assert panel1.lit() == set() and panel2.lit() == set()


async def test_missing_colour_falls_back(factory: MockFactory, bench: GpioBench) -> None:
    pins = LedPins(red=5, green=6)  # no blue LED
    panel = bench.leds(pins)
    async with opened(make(factory, {1: pins})) as indicator:
        await indicator.show(1, Signal.AUTHORIZING)
        assert await panel.watch(WATCH) == (Colour.GREEN, Pattern.BLINKING)


async def test_pwm_leds_are_dimmed(factory: MockFactory, bench: GpioBench) -> None:
    pins = LedPins(red=5, green=6, blue=13, pwm=True, brightness=0.25)
    panel = bench.leds(pins)
    async with opened(make(factory, {1: pins})) as indicator:
        await indicator.show(1, Signal.AVAILABLE)
        assert panel.brightness(Colour.GREEN) == pytest.approx(0.25)
        assert panel.brightness(Colour.BLUE) == 0


async def test_bad_configuration_is_a_clear_error(factory: MockFactory, bench: GpioBench) -> None:
    with pytest.raises(ValueError, match="needs pwm=True"):
        LedPins(green=6, brightness=0.5)
    with pytest.raises(ValueError, match="at least one"):
        LedPins()
    with pytest.raises(DeviceError, match="before open"):
        await make(factory).show(1, Signal.AVAILABLE)
    async with opened(make(factory, {1: RGB1})) as indicator:
        with pytest.raises(DeviceError, match="no LEDs for connector 3"):
            await indicator.show(3, Signal.AVAILABLE)
    with pytest.raises(DeviceError, match="connector 2 blue LED on GPIO5"):  # red of connector 1
        await make(factory, {1: RGB1, 2: LedPins(blue=5)}).open()
    async with opened(make(factory, {1: RGB1})):  # the failed open released what it had claimed
        pass
