"""One I2C bus, one thread: every smbus2 call of every device on the bus runs there.

smbus2 blocks in ioctl(), so it must stay off the event loop; a single worker also
serialises the bus, so that a conversion's register sequence on one device is never
interleaved with another device's traffic in a way the caller did not ask for.
Several devices (one ADS1115 per connector, a character display) share one
:class:`I2cBus`: it opens the bus with its first user and closes it with its last.

Register devices (the ADS1115) use SMBus block transfers; port expanders (the PCF8574
behind a character display) take plain bytes, written by :func:`write_bytes`, and answer
a plain read with their pins (:func:`read_byte`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from drivers.protocols import DeviceError

T = TypeVar("T")


class SMBusLike(Protocol):
    """The part of ``smbus2.SMBus`` the I2C drivers use (and simulators provide)."""

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int, force: bool | None = None) -> list[int]:
        ...

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None:
        ...

    def read_byte(self, i2c_addr: int, force: bool | None = None) -> int:
        ...

    def close(self) -> None:
        ...


class ByteWriter(Protocol):
    """A bus that writes plain bytes to an address in one transfer (the simulated buses;
    smbus2 does it with ``i2c_rdwr``, see :func:`write_bytes`)."""

    def write_bytes(self, i2c_addr: int, data: Sequence[int]) -> None:
        ...


def write_bytes(bus: SMBusLike, address: int, data: Sequence[int]) -> None:
    """Write ``data`` to ``address`` as one I2C message: a start, the address, the bytes,
    a stop; no register byte. A PCF8574 latches each byte onto its pins as it arrives,
    so one message carries a whole sequence of pin states (an enable pulse, a nibble).

    Runs on the bus thread. A bus with ``write_bytes`` (the simulators) takes the bytes
    itself; ``smbus2.SMBus`` gets one ``i2c_rdwr`` write message.
    """
    if not data:
        return
    own = getattr(bus, "write_bytes", None)
    if own is not None:
        own(address, data)
        return
    from smbus2 import i2c_msg

    bus.i2c_rdwr(i2c_msg.write(address, list(data)))  # type: ignore[attr-defined]


def read_byte(bus: SMBusLike, address: int) -> int:
    """One plain byte from ``address``: a start, the address with the read bit, one byte,
    a stop. A PCF8574 answers with the level of its eight pins. Runs on the bus thread."""
    return bus.read_byte(address)


class I2cBus:
    """An I2C bus behind its own thread. Constructing it does no I/O.

    ``opener`` creates the bus handle and runs on the bus thread at :meth:`open`;
    real hardware: ``I2cBus(lambda: smbus2.SMBus(1), "/dev/i2c-1")``. ``name`` is what
    error messages call the bus.
    """

    def __init__(self, opener: Callable[[], SMBusLike], name: str) -> None:
        self.name = name
        self._opener = opener
        self._bus: SMBusLike | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._users = 0
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Open the bus for one more user (the first one really opens it)."""
        async with self._lock:
            if self._users == 0:
                executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"i2c {self.name}")
                try:
                    self._bus = await asyncio.wrap_future(executor.submit(self._opener))
                except FileNotFoundError:
                    executor.shutdown(wait=False)
                    raise DeviceError(
                        self.name, "no such I2C bus: enable I2C (dtparam=i2c_arm=on on a Raspberry Pi)", retry=False
                    ) from None
                except OSError as exc:
                    executor.shutdown(wait=False)
                    raise DeviceError(self.name, f"cannot open the I2C bus: {exc.strerror or exc}") from exc
                self._executor = executor
            self._users += 1

    async def call(self, fn: Callable[[SMBusLike], T]) -> T:
        """Run ``fn(bus)`` on the bus thread and return its result.

        Exceptions raised by ``fn`` reach the caller unchanged (devices know best what
        an errno means for them); a closed bus is a :class:`DeviceError`.
        """
        bus, executor = self._bus, self._executor
        if bus is None or executor is None:
            raise DeviceError(self.name, "the I2C bus is not open")
        try:
            future = executor.submit(fn, bus)
        except RuntimeError:  # shut down between the check and the submit
            raise DeviceError(self.name, "the I2C bus is closed") from None
        return await asyncio.wrap_future(future)

    async def close(self) -> None:
        """Release one user; the last one closes the handle and ends the thread."""
        async with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users > 0:
                return
            bus, executor = self._bus, self._executor
            self._bus = self._executor = None
            if bus is not None and executor is not None:
                try:
                    await asyncio.wrap_future(executor.submit(bus.close))
                except OSError:
                    pass  # nothing left to do with a handle that will not close
                finally:
                    executor.shutdown(wait=False)
