"""Kept for old imports: the I2C bus thread lives in :mod:`drivers.i2c` (the display shares it)."""

from drivers.i2c import I2cBus, SMBusLike

__all__ = ["I2cBus", "SMBusLike"]
