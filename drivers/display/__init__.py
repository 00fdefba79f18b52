"""Displays for the driver at the charger (the ``Display`` role of drivers.protocols).

Real hardware, a 20x4 character LCD on a PCF8574 backpack at 0x27 on /dev/i2c-1::

    bus = I2cBus(lambda: smbus2.SMBus(1), "/dev/i2c-1")
    display = Hd44780Display(bus, 0x27, columns=20, rows=4)

Wiring: docs/hardware.md.
"""

from .charmap import CharMap
from .hd44780 import SIZES, Hd44780Display, row_addresses
from .keeper import DisplayKeeper
from .pins import PIN_MAPS, PinMap

__all__ = ["CharMap", "DisplayKeeper", "Hd44780Display", "PIN_MAPS", "PinMap", "SIZES", "row_addresses"]
