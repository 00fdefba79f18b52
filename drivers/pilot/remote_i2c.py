"""Kept for old imports: the bench's I2C transport lives in :mod:`drivers.remote_i2c`."""

from drivers.remote_i2c import RemoteSMBus

__all__ = ["RemoteSMBus"]
