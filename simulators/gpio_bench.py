"""The far side of the GPIO pins: contactor, RCD, emergency stop, cable lock and LEDs.

Works on gpiozero's mock pin factory. Wire the bench *before* opening the drivers: it
claims the output pins as :class:`BenchPin` so that it hears every change the driver
makes, and it drives the input pins from its own timer threads, as real hardware would
(edges then reach the drivers from a foreign thread, exactly as lgpio delivers them).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from gpiozero.pins.mock import MockFactory, MockPin, MockPWMPin

from drivers.gpio.indicator import Colour, LedPins, Pattern
from drivers.gpio.remote import DrivenInputPin


class BenchPin(DrivenInputPin):
    """A mock pin that tells the bench about every change of its level and keeps a
    timestamped history (``time.monotonic()``, level)."""

    def __init__(self, factory: MockFactory, info: object) -> None:
        super().__init__(factory, info)
        self.listeners: list[Callable[[float], None]] = []
        self.history: list[tuple[float, float]] = [(time.monotonic(), float(self._state))]

    def _change_state(self, value: float) -> bool:
        changed = super()._change_state(value)
        if changed:
            self.history.append((time.monotonic(), float(value)))
            for listener in self.listeners:
                listener(float(value))
        return changed


class GpioBench:
    """Builds device models on one mock factory's pins and stops their timers at ``close()``."""

    def __init__(self, factory: MockFactory) -> None:
        if not issubclass(factory.pin_class, MockPWMPin):
            raise ValueError("the bench needs a MockFactory with pin_class=MockPWMPin (pin_factory('mock'))")
        self.factory = factory
        self._timers: set[threading.Timer] = set()
        self._timers_lock = threading.Lock()

    def pin(self, number: int) -> BenchPin:
        """Claim ``number`` for the bench; it must not be in use by a driver yet."""
        pin = self.factory.pin(number, pin_class=BenchPin)
        if not isinstance(pin, BenchPin):
            raise RuntimeError(f"GPIO{number} was claimed before the bench was wired: wire the bench first")
        return pin

    def contactor(self, *, pin: int, active_high: bool = True, feedback_pin: int, feedback_active_high: bool = True,
                  delay: float = 0.005) -> ContactorModel:
        return ContactorModel(self, self.pin(pin), active_high, self.pin(feedback_pin), feedback_active_high, delay)

    def rcd(self, pin: int, *, active_high: bool = True) -> SafetyInputModel:
        return SafetyInputModel(self, self.pin(pin), active_high)

    def estop(self, pin: int, *, active_high: bool = False) -> SafetyInputModel:
        return SafetyInputModel(self, self.pin(pin), active_high)

    def lock(self, *, lock_pin: int, unlock_pin: int | None = None, feedback_pin: int,
             feedback_active_high: bool = True, travel: float = 0.02) -> LockModel:
        return LockModel(self, self.pin(lock_pin), None if unlock_pin is None else self.pin(unlock_pin),
                         self.pin(feedback_pin), feedback_active_high, travel)

    def leds(self, pins: LedPins, *, active_high: bool = True) -> LedPanel:
        return LedPanel({colour: self.pin(n) for colour, n in pins.pins().items()}, active_high)

    def after(self, delay: float, action: Callable[[], None]) -> threading.Timer:
        """Run ``action`` on a timer thread after ``delay`` seconds (cancelled at close())."""
        def run() -> None:
            with self._timers_lock:
                self._timers.discard(timer)
            action()
        timer = threading.Timer(delay, run)
        timer.daemon = True
        with self._timers_lock:
            self._timers.add(timer)
        timer.start()
        return timer

    def close(self) -> None:
        with self._timers_lock:
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()


def _drive(pin: MockPin, level: bool) -> None:
    if level:
        pin.drive_high()
    else:
        pin.drive_low()


class ContactorModel:
    """A contactor whose mirror contact follows the coil ``delay`` seconds later.

    Faults: ``weld()`` keeps the main contacts closed once they close (already closed:
    they stay closed); ``fail_to_close()`` keeps them open (already closed: they drop
    out); ``repair()`` makes them follow the coil again.
    """

    def __init__(self, bench: GpioBench, coil: BenchPin, active_high: bool, mirror: BenchPin,
                 mirror_active_high: bool, delay: float) -> None:
        self._bench = bench
        self._coil = coil
        self._active_high = active_high
        self._mirror = mirror
        self._mirror_active_high = mirror_active_high
        self.delay = delay
        self.fault: str | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self.closed = False
        _drive(mirror, not mirror_active_high)  # main contacts open
        coil.listeners.append(lambda _level: self._settle())

    @property
    def coil_pin(self) -> BenchPin:
        return self._coil

    @property
    def mirror_pin(self) -> BenchPin:
        return self._mirror

    @property
    def energised(self) -> bool:
        """A released pin (an input again) drives nothing: the coil driver's own pull keeps it off."""
        return self._coil.function == "output" and (self._coil.state > 0) == self._active_high

    def weld(self) -> None:
        self._inject("welded")

    def fail_to_close(self) -> None:
        self._inject("fails_to_close")

    def repair(self) -> None:
        self._inject(None)

    def _inject(self, fault: str | None) -> None:
        self.fault = fault
        self._settle()

    def _settle(self) -> None:
        """The contacts move ``delay`` after the coil (or a fault) changed."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._bench.after(self.delay, self._move)

    def _move(self) -> None:
        with self._lock:
            target = self.energised
            if self.fault == "welded" and self.closed:
                target = True
            elif self.fault == "fails_to_close":
                target = False
            self.closed = target
            _drive(self._mirror, target == self._mirror_active_high)


class SafetyInputModel:
    """An RCD/RCM trip contact or an emergency stop; ``active_high`` is its tripped level."""

    def __init__(self, bench: GpioBench, pin: BenchPin, active_high: bool) -> None:
        self._bench = bench
        self._pin = pin
        self._active_high = active_high
        self.reset()

    @property
    def tripped(self) -> bool:
        return bool(self._pin.state) == self._active_high

    def trip(self) -> None:
        _drive(self._pin, self._active_high)

    def reset(self) -> None:
        _drive(self._pin, not self._active_high)

    def glitch(self, seconds: float) -> threading.Thread:
        """Trip for ``seconds`` and return, on a thread of its own (a spike on the wire)."""
        def run() -> None:
            self.trip()
            time.sleep(seconds)
            self.reset()
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


class LockModel:
    """A cable lock actuator with a position feedback contact (active = locked).

    Solenoid (no unlock pin): locked ``travel`` seconds after the lock output goes
    active, unlocked ``travel`` after it drops. Motor: a pulse on the lock (unlock)
    output that lasts at least ``travel`` moves it to locked (unlocked); a shorter pulse
    leaves it where it was. ``jam()`` stops it moving; ``shorted`` records whether both
    motor outputs were ever active at once (a short through the H-bridge).
    """

    def __init__(self, bench: GpioBench, lock_out: BenchPin, unlock_out: BenchPin | None, feedback: BenchPin,
                 feedback_active_high: bool, travel: float) -> None:
        self._bench = bench
        self._lock_out = lock_out
        self._unlock_out = unlock_out
        self._feedback = feedback
        self._feedback_active_high = feedback_active_high
        self.travel = travel
        self.jammed = False
        self.shorted = False
        self.locked = False
        self.moves = 0
        self._lock = threading.Lock()
        _drive(feedback, not feedback_active_high)
        lock_out.listeners.append(lambda level: self._output_changed(True, level > 0))
        if unlock_out is not None:
            unlock_out.listeners.append(lambda level: self._output_changed(False, level > 0))

    @property
    def feedback_pin(self) -> BenchPin:
        return self._feedback

    def jam(self) -> None:
        self.jammed = True

    def place(self, locked: bool) -> None:
        """Put the lock where a person (or a power cut) left it, whatever its outputs say."""
        with self._lock:
            if self.locked != locked:
                self.locked = locked
                self.moves += 1
            _drive(self._feedback, locked == self._feedback_active_high)

    def free(self) -> None:
        """Unjam; a solenoid still energised then completes its stroke."""
        self.jammed = False
        if self._unlock_out is None and self._lock_out.function == "output":
            self._output_changed(True, self._lock_out.state > 0)

    def _output_changed(self, lock_output: bool, active: bool) -> None:
        if self._unlock_out is None:
            self._bench.after(self.travel, lambda: self._arrive(active, self._lock_out, active))
            return
        if self._lock_out.state > 0 and self._unlock_out.state > 0:
            self.shorted = True
        if active:
            pin = self._lock_out if lock_output else self._unlock_out
            self._bench.after(self.travel, lambda: self._arrive(lock_output, pin, True))

    def _arrive(self, locked: bool, output: BenchPin, still: bool) -> None:
        """The end of a movement: it completes only if the output still drives it."""
        with self._lock:
            if self.jammed or (output.state > 0) != still or self.locked == locked:
                return
            self.locked = locked
            self.moves += 1
            _drive(self._feedback, locked == self._feedback_active_high)


class LedPanel:
    """Reads a connector's LEDs the way a driver standing in front of the charger would."""

    def __init__(self, pins: dict[Colour, BenchPin], active_high: bool) -> None:
        self._pins = pins
        self._active_high = active_high

    def pins(self) -> list[BenchPin]:
        return list(self._pins.values())

    def _is_lit(self, level: float) -> bool:
        return level > 0 if self._active_high else level < 1

    def lit(self) -> set[Colour]:
        """The colours lit at this instant (a released pin sinks and sources nothing: dark)."""
        return {colour for colour, pin in self._pins.items()
                if pin.function == "output" and self._is_lit(float(pin.state))}

    def brightness(self, colour: Colour) -> float:
        level = float(self._pins[colour].state)
        return level if self._active_high else 1 - level

    def seen(self, since: float) -> tuple[Colour | None, Pattern]:
        """What was shown since ``since`` (``time.monotonic()``): the colour that was lit,
        steady if it never went dark, blinking if it went on and off at least twice."""
        for colour, pin in self._pins.items():
            levels = [self._is_lit(level) for t, level in pin.history if t > since]
            before = [self._is_lit(level) for t, level in pin.history if t <= since]
            start = before[-1] if before else False
            if not levels and start:
                return colour, Pattern.STEADY
            if levels:
                changes = sum(1 for a, b in zip([start, *levels], levels) if a != b)
                if changes >= 2:
                    return colour, Pattern.BLINKING
                if levels[-1]:
                    return colour, Pattern.STEADY
        return None, Pattern.OFF

    async def watch(self, seconds: float) -> tuple[Colour | None, Pattern]:
        """Look at the LEDs for ``seconds`` and say what they showed."""
        since = time.monotonic()
        await asyncio.sleep(seconds)
        return self.seen(since)
