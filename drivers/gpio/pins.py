"""Pin factories, outputs and debounced inputs shared by the GPIO drivers.

gpiozero reports input edges on its own threads (lgpio's callback thread on a Pi, the
thread that drove the pin with the mock factory). A :class:`WatchedInput` hands each edge
to the event loop with ``call_soon_threadsafe`` and debounces it there, so every driver
sees its inputs change on the loop thread only and never needs a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Callable
from pathlib import Path

from gpiozero import DigitalInputDevice, DigitalOutputDevice, GPIOZeroError
from gpiozero.pins import Factory

from drivers.protocols import DeviceError

# What to install for each real factory; "native" is pure Python and needs nothing.
_FACTORIES: dict[str, tuple[str, str, str]] = {
    "lgpio": (
        "gpiozero.pins.lgpio",
        "LGPIOFactory",
        "install it with `apt install python3-lgpio` or `pip install 'ladda[pi]'`",
    ),
    "rpigpio": (
        "gpiozero.pins.rpigpio",
        "RPiGPIOFactory",
        "install it with `apt install python3-rpi.gpio` or `pip install RPi.GPIO`",
    ),
    "native": ("gpiozero.pins.native", "NativeFactory", ""),
}
FACTORY_NAMES = (*_FACTORIES, "mock", "bench")


def pin_factory(name: str, bench_socket: Path | None = None) -> Factory:
    """The gpiozero pin factory called ``name``: lgpio, rpigpio, native, mock or bench.

    Each driver receives the factory instead of using gpiozero's global default, so a
    simulation and a charger run the same driver code. "mock" gives PWM-capable mock
    pins (the LEDs may be dimmed); "bench" gives pins whose far side is the simulated
    bench listening on ``bench_socket`` (drivers/gpio/remote.py). A missing library, a
    machine without GPIO or an absent bench raises :class:`DeviceError` saying what to
    install or check.
    """
    if name == "mock":
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        return MockFactory(pin_class=MockPWMPin)
    if name == "bench":
        from drivers.gpio.remote import RemotePinFactory

        if bench_socket is None:
            raise DeviceError("gpio", "the bench pin factory needs the bench's socket", retry=False)
        return RemotePinFactory(bench_socket)
    if name not in _FACTORIES:
        raise DeviceError("gpio", f"unknown pin factory {name!r}; allowed: {', '.join(FACTORY_NAMES)}", retry=False)
    module_name, class_name, install = _FACTORIES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DeviceError("gpio", f"pin factory {name!r} needs a library that is missing ({exc}); {install}",
                          retry=False) from exc
    try:
        return getattr(module, class_name)()
    except Exception as exc:  # each library raises its own types (lgpio.error, PinUnknownPi, OSError ...)
        hint = " (lgpio needs a writable working directory or LG_WD for its notification pipe)" if name == "lgpio" else ""
        raise DeviceError("gpio", f"pin factory {name!r} cannot reach the GPIO: {exc}{hint}", retry=False) from exc


def open_output(device: str, role: str, factory: Factory, pin: int, active_high: bool) -> DigitalOutputDevice:
    """Claim ``pin`` as an output that starts inactive (the safe state of every output here)."""
    try:
        return DigitalOutputDevice(pin, active_high=active_high, initial_value=False, pin_factory=factory)
    except GPIOZeroError as exc:
        raise DeviceError(device, f"{role} on GPIO{pin}: {exc}", retry=False) from exc


class Debouncer:
    """Turns a bouncing level into clean changes: a new level counts once it has held
    for ``delay`` seconds without interruption.

    Runs on the event loop (timers via ``call_later``), so it costs nothing between edges
    and reports a change exactly ``delay`` after the last edge: no polling interval adds
    to the delay. Feed it from the loop thread only.
    """

    def __init__(self, delay: float, level: bool, on_change: Callable[[bool], None]) -> None:
        if delay < 0:
            raise ValueError(f"debounce delay must not be negative, got {delay}")
        self.delay = delay
        self.level = level
        self._on_change = on_change
        self._timer: asyncio.TimerHandle | None = None

    def feed(self, level: bool) -> None:
        """One raw edge: restart the wait for a new level, or cancel it if the level came back."""
        self.cancel()
        if level == self.level:
            return
        if self.delay == 0:
            self._commit(level)
        else:
            self._timer = asyncio.get_running_loop().call_later(self.delay, self._commit, level)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _commit(self, level: bool) -> None:
        self._timer = None
        self.level = level
        self._on_change(level)


class WatchedInput:
    """One digital input, debounced on the event loop.

    ``active_high`` is the level that means *active* (tripped, closed, locked: the
    driver says which). No internal pull resistor is set: the input circuit (an opto
    coupler board, or an external pull resistor) defines the level, because a weak
    on-chip pull is not reliable over cabinet wiring.
    """

    def __init__(self, device: str, role: str, factory: Factory, pin: int, *, active_high: bool,
                 debounce: float, on_change: Callable[[bool], None]) -> None:
        self.device = device
        self.role = role
        self.pin = pin
        self._factory = factory
        self._active_high = active_high
        self._input: DigitalInputDevice | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._debouncer = Debouncer(debounce, False, on_change)

    @property
    def address(self) -> str:
        return f"GPIO{self.pin}"

    @property
    def active(self) -> bool:
        """The debounced level: what the driver acts on."""
        return self._debouncer.level

    def open(self) -> bool:
        """Claim the pin and start watching; return its level now (not debounced), which
        also becomes the debounced level so a driver can act on it at once."""
        self._loop = asyncio.get_running_loop()
        try:
            self._input = DigitalInputDevice(self.pin, pull_up=None, active_state=self._active_high,
                                             pin_factory=self._factory)
        except GPIOZeroError as exc:
            raise DeviceError(self.device, f"{self.role} on {self.address}: {exc}", retry=False) from exc
        # Callbacks first, level second: an edge in between is queued behind this call and
        # fed afterwards, so none is lost.
        self._input.when_activated = self._activated
        self._input.when_deactivated = self._deactivated
        self._debouncer.level = bool(self._input.is_active)
        return self._debouncer.level

    def close(self) -> None:
        self._debouncer.cancel()
        if self._input is not None:
            self._input.close()
            self._input = None

    # gpiozero threads -> event loop
    def _activated(self) -> None:
        self._to_loop(True)

    def _deactivated(self) -> None:
        self._to_loop(False)

    def _to_loop(self, level: bool) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already closed: nobody is listening
            loop.call_soon_threadsafe(self._feed, level)

    def _feed(self, level: bool) -> None:
        if self._input is not None:  # an edge queued just before close() is dropped
            self._debouncer.feed(level)
