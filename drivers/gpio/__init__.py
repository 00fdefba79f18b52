"""GPIO drivers: contactor with mirror contact, safety inputs, cable lock, status LEDs.

Every driver takes a gpiozero pin factory (:func:`drivers.gpio.pins.pin_factory`):
lgpio, RPi.GPIO or the native factory on a charger, the mock factory in simulations.
That factory is the only difference between a real and a simulated charger.
"""

from drivers.gpio.contactor import GpioContactor
from drivers.gpio.indicator import Colour, GpioIndicator, LedPins, Pattern
from drivers.gpio.lock import GpioLock
from drivers.gpio.pins import pin_factory
from drivers.gpio.safety import GpioSafetyInputs

__all__ = [
    "Colour",
    "GpioContactor",
    "GpioIndicator",
    "GpioLock",
    "GpioSafetyInputs",
    "LedPins",
    "Pattern",
    "pin_factory",
]
