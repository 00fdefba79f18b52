"""GPIO drivers: contactor with mirror contact, safety inputs, cable lock, status LEDs.

Every driver takes a gpiozero pin factory (:func:`drivers.gpio.pins.pin_factory`):
lgpio, RPi.GPIO or the native factory on a charger, the mock factory in simulations.
That factory is the only difference between a real and a simulated charger.

Each driver's module is imported when its name is first used: a charger loads the
drivers of the roles it has (one without a cable lock never loads the lock's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.lazy import lazy_exports

if TYPE_CHECKING:
    from drivers.gpio.contactor import GpioContactor
    from drivers.gpio.indicator import Colour, GpioIndicator, LedPins, Pattern
    from drivers.gpio.lock import GpioLock
    from drivers.gpio.pins import pin_factory
    from drivers.gpio.safety import GpioSafetyInputs

_MODULE_OF = {
    "Colour": "indicator",
    "GpioContactor": "contactor",
    "GpioIndicator": "indicator",
    "GpioLock": "lock",
    "GpioSafetyInputs": "safety",
    "LedPins": "indicator",
    "Pattern": "indicator",
    "pin_factory": "pins",
}

__all__ = sorted(_MODULE_OF)
__getattr__ = lazy_exports(__name__, _MODULE_OF)
