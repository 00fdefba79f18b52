"""Status LEDs per connector: separate red/green/blue LEDs or one RGB LED.

What each :class:`Signal` looks like (``SIGNALS``):

============  ======  ==========================================================
Signal        Colour  Pattern
============  ======  ==========================================================
OFF           -       off
AVAILABLE     green   steady
AUTHORIZING   blue    blinking
CHARGING      blue    steady
SUSPENDED     green   blinking
REJECTED      red     steady for ``flash`` seconds, then the previous signal again
UNAVAILABLE   -       off
FAULT         red     steady
MOVE_CAR      red     alternating with blue, ``blink`` seconds each
============  ======  ==========================================================

Blinking is ``blink`` seconds on, ``blink`` seconds off. A connector without a blue LED
shows blue on green and one without green shows green on blue; a missing red shows
nothing. Only one colour is lit at a time, so an RGB LED and three separate LEDs are
driven the same way.

Timing runs on event-loop timers (``call_later``), not threads or tasks: nothing blocks,
nothing outlives ``close()``, and a pin write takes microseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from dataclasses import dataclass

from gpiozero import LED, PWMLED, GPIOZeroError
from gpiozero.pins import Factory

from drivers.protocols import DeviceError, Signal

NAME = "indicator"


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Pattern(enum.Enum):
    OFF = "off"
    STEADY = "steady"
    BLINKING = "blinking"
    FLASH = "flash"  # steady for a short time, then back to the previous signal
    ALTERNATE = "alternate"  # the colour and its partner (ALTERNATE_WITH) in turn


SIGNALS: dict[Signal, tuple[Colour | None, Pattern]] = {
    Signal.OFF: (None, Pattern.OFF),
    Signal.AVAILABLE: (Colour.GREEN, Pattern.STEADY),
    Signal.AUTHORIZING: (Colour.BLUE, Pattern.BLINKING),
    Signal.CHARGING: (Colour.BLUE, Pattern.STEADY),
    Signal.SUSPENDED: (Colour.GREEN, Pattern.BLINKING),
    Signal.REJECTED: (Colour.RED, Pattern.FLASH),
    Signal.UNAVAILABLE: (None, Pattern.OFF),
    Signal.FAULT: (Colour.RED, Pattern.STEADY),
    Signal.MOVE_CAR: (Colour.RED, Pattern.ALTERNATE),
}
#: The second colour of an alternating signal: red and blue in turn read "attention" and
#: differ from every steady or blinking signal, also where one LED shows a single colour.
ALTERNATE_WITH: dict[Signal, Colour] = {Signal.MOVE_CAR: Colour.BLUE}
FALLBACK: dict[Colour, Colour | None] = {Colour.BLUE: Colour.GREEN, Colour.GREEN: Colour.BLUE, Colour.RED: None}


@dataclass(frozen=True, slots=True)
class LedPins:
    """The LED pins of one connector: separate LEDs (any may be absent) or the three pins
    of one RGB LED. ``pwm`` drives them as PWM outputs at ``brightness`` (0..1], for pins
    (and a pin factory) that can do PWM; without it they are simply on or off."""

    red: int | None = None
    green: int | None = None
    blue: int | None = None
    pwm: bool = False
    brightness: float = 1.0

    def __post_init__(self) -> None:
        pins = [p for p in (self.red, self.green, self.blue) if p is not None]
        if not pins:
            raise ValueError("LedPins: at least one of red, green, blue is needed")
        if len(set(pins)) != len(pins):
            raise ValueError(f"LedPins: each colour needs its own pin, got {self}")
        if not 0 < self.brightness <= 1:
            raise ValueError(f"LedPins: brightness must be in (0, 1], got {self.brightness}")
        if self.brightness < 1 and not self.pwm:
            raise ValueError("LedPins: brightness below 1 needs pwm=True")

    def pins(self) -> dict[Colour, int]:
        found = {Colour.RED: self.red, Colour.GREEN: self.green, Colour.BLUE: self.blue}
        return {colour: pin for colour, pin in found.items() if pin is not None}


class _Lamp:
    """The LEDs of one connector and what they show now."""

    def __init__(self, connector: int, pins: LedPins, leds: dict[Colour, LED | PWMLED], blink: float,
                 flash: float) -> None:
        self.connector = connector
        self.pins = pins
        self.leds = leds
        self.blink = blink
        self.flash = flash
        self.signal = Signal.OFF  # the signal shown (REJECTED while flashing)
        self.resume = Signal.OFF  # what to show when the flash ends
        self._timer: asyncio.TimerHandle | None = None
        self._lit: LED | PWMLED | None = None

    def show(self, signal: Signal) -> None:
        if signal is Signal.REJECTED:
            if self.signal is not Signal.REJECTED:
                self.resume = self.signal
            self._apply(signal)  # a second rejection restarts the flash
        elif self.signal is Signal.REJECTED:
            self.resume = signal  # the flash always completes, then this shows
        elif signal is not self.signal:
            self._apply(signal)

    def off(self) -> None:
        self._cancel()
        for led in self.leds.values():
            led.off()
        self._lit = None

    def _apply(self, signal: Signal) -> None:
        self.off()
        self.signal = signal
        colour, pattern = SIGNALS[signal]
        led = self._led(colour)
        if led is None:
            if pattern is Pattern.FLASH:
                self._timer = asyncio.get_running_loop().call_later(self.flash, self._end_flash)
            return
        self._lit = led
        self._on(led)
        if pattern is Pattern.ALTERNATE:
            partner = self.leds.get(ALTERNATE_WITH[signal])  # no stand-in: green would read "available"
            if partner is not None and partner is not led:
                self._timer = asyncio.get_running_loop().call_later(self.blink, self._swap, led, partner)
            else:  # no second colour fitted: blink the one there is
                self._timer = asyncio.get_running_loop().call_later(self.blink, self._toggle, False)
        elif pattern is Pattern.BLINKING:
            self._timer = asyncio.get_running_loop().call_later(self.blink, self._toggle, False)
        elif pattern is Pattern.FLASH:
            self._timer = asyncio.get_running_loop().call_later(self.flash, self._end_flash)

    def _led(self, colour: Colour | None) -> LED | PWMLED | None:
        if colour is None or colour in self.leds:
            return None if colour is None else self.leds[colour]
        fallback = FALLBACK[colour]
        return None if fallback is None else self.leds.get(fallback)

    def _on(self, led: LED | PWMLED) -> None:
        led.value = self.pins.brightness if self.pins.pwm else 1

    def _toggle(self, on: bool) -> None:
        if self._lit is None:
            return
        if on:
            self._on(self._lit)
        else:
            self._lit.off()
        self._timer = asyncio.get_running_loop().call_later(self.blink, self._toggle, not on)

    def _swap(self, lit: LED | PWMLED, other: LED | PWMLED) -> None:
        """Alternate: the lit colour goes dark and the other lights, one at a time."""
        lit.off()
        self._lit = other
        self._on(other)
        self._timer = asyncio.get_running_loop().call_later(self.blink, self._swap, other, lit)

    def _end_flash(self) -> None:
        self._timer = None
        self._apply(self.resume)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class GpioIndicator:
    """An :class:`~drivers.protocols.Indicator`: the LEDs of every connector.

    ``active_high=False`` suits LEDs wired from 3.3 V to the pin, such as a common-anode
    RGB LED. ``blink`` (half period) and ``flash`` (REJECTED) are in seconds.
    """

    def __init__(self, *, factory: Factory, leds: dict[int, LedPins], active_high: bool = True,
                 blink: float = 0.5, flash: float = 1.5) -> None:
        if blink <= 0 or flash <= 0:
            raise ValueError(f"{NAME}: blink and flash must be positive, got blink={blink}, flash={flash}")
        self.leds = leds
        self.active_high = active_high
        self.blink = blink
        self.flash = flash
        self._factory = factory
        self._lamps: dict[int, _Lamp] = {}

    async def open(self) -> None:
        """Claim every LED pin, all dark."""
        try:
            for connector, pins in sorted(self.leds.items()):
                devices: dict[Colour, LED | PWMLED] = {}
                # Registered before the next LED is claimed, so a failure releases the ones claimed so far.
                self._lamps[connector] = _Lamp(connector, pins, devices, self.blink, self.flash)
                for colour, pin in pins.pins().items():
                    devices[colour] = self._claim(connector, colour, pin, pins.pwm)
        except DeviceError:
            await self.close()
            raise

    async def show(self, connector: int, signal: Signal) -> None:
        if connector not in self.leds:
            known = ", ".join(map(str, sorted(self.leds))) or "none"
            raise DeviceError(NAME, f"no LEDs for connector {connector} (configured: {known})", retry=False)
        lamp = self._lamps.get(connector)
        if lamp is None:
            raise DeviceError(NAME, f"connector {connector}: show() before open()", retry=False)
        lamp.show(signal)

    async def close(self) -> None:
        """Turn every LED off and release the pins; safe to call twice."""
        for lamp in self._lamps.values():
            with contextlib.suppress(Exception):  # a pin that is gone must not keep the others lit
                lamp.off()
            for led in lamp.leds.values():
                led.close()
        self._lamps.clear()

    def _claim(self, connector: int, colour: Colour, pin: int, pwm: bool) -> LED | PWMLED:
        try:
            if pwm:
                return PWMLED(pin, active_high=self.active_high, initial_value=0, pin_factory=self._factory)
            return LED(pin, active_high=self.active_high, initial_value=False, pin_factory=self._factory)
        except GPIOZeroError as exc:
            raise DeviceError(NAME, f"connector {connector} {colour.value} LED on GPIO{pin}: {exc}",
                              retry=False) from exc
