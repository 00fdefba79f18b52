"""A register-level ADS1115 on a fake I2C bus, and the pilot front end that feeds it.

:class:`FakeSMBus` implements the ``SMBusLike`` calls the drivers make, routing them
by address to devices (this ADS1115, the display of simulators/hd44780.py); an address nobody answers raises ``OSError(EREMOTEIO)`` as
the kernel does. :class:`FakeAds1115` keeps the chip's registers (pointer, config
with OS/MUX/PGA/MODE/DR, conversion, thresholds) and converts the voltage of
whatever callable is attached to the selected input, with the configured gain and
full-scale clipping. :class:`PilotFrontEnd` turns an EV (its pilot state, diode,
cable) and the PWM duty into those pin voltages, through the circuit of
docs/hardware.md, so the real driver can be run against a simulated EV.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from drivers.pilot import circuit
from drivers.protocols import PilotState

FULL_SCALES = (6.144, 4.096, 2.048, 1.024, 0.512, 0.256, 0.256, 0.256)  # PGA field -> volts
POWER_ON_CONFIG = 0x8583
# MUX field -> (positive input, negative input or None for GND)
MUX: dict[int, tuple[int, int | None]] = {
    0: (0, 1), 1: (0, 3), 2: (1, 3), 3: (2, 3), 4: (0, None), 5: (1, None), 6: (2, None), 7: (3, None),
}


@dataclass(frozen=True, slots=True)
class Transfer:
    """One register access as the chip saw it."""

    op: str  # "write" or "read"
    register: int
    value: int


class FakeAds1115:
    """The chip. ``inputs`` maps AIN0-AIN3 to callables returning volts (0 V if absent).

    A single-shot conversion started by writing OS=1 stays busy (OS reads 0) for
    ``busy_reads`` reads of the config register, then latches its result; with
    ``stuck`` set it never finishes. Every access is kept in ``transfers``.
    """

    def __init__(self, inputs: dict[int, Callable[[], float]] | None = None, *, busy_reads: int = 1) -> None:
        self.inputs: dict[int, Callable[[], float]] = dict(inputs or {})
        self.busy_reads = busy_reads
        self.stuck = False
        self.registers = {0: 0, 1: POWER_ON_CONFIG, 2: 0x8000, 3: 0x7FFF}
        self.pointer = 0
        self.transfers: list[Transfer] = []
        self.conversions = 0
        #: Conversions per positive input: how often a reader has looked at each signal.
        self.conversions_of: dict[int, int] = {}
        self._busy = 0
        self._lock = threading.Lock()

    def volts(self, channel: int) -> float:
        source = self.inputs.get(channel)
        return float(source()) if source is not None else 0.0

    def encode(self, volts: float, full_scale: float) -> int:
        """The conversion register for ``volts``: two's complement, clipped at full scale."""
        code = max(-32768, min(32767, round(volts / full_scale * 32768)))
        return code & 0xFFFF

    def write(self, register: int, data: Sequence[int]) -> None:
        with self._lock:
            self.pointer = register & 0x03
            if len(data) < 2:
                return  # a pointer write only
            value = data[0] << 8 | data[1]
            self.transfers.append(Transfer("write", self.pointer, value))
            if self.pointer == 0:
                return  # the conversion register is read-only
            if self.pointer != 1:
                self.registers[self.pointer] = value
                return
            self.registers[1] = value & 0x7FFF | self.registers[1] & 0x8000
            if value & 0x8000 and value & 0x0100:  # OS=1 in single-shot mode: start
                self.registers[1] &= 0x7FFF
                self._busy = self.busy_reads
                if self._busy == 0 and not self.stuck:
                    self._finish()

    def read(self, register: int, length: int) -> list[int]:
        with self._lock:
            self.pointer = register & 0x03
            if self.pointer == 1 and not self.registers[1] & 0x8000 and not self.stuck:
                if self._busy > 0:
                    self._busy -= 1
                else:
                    self._finish()
            elif self.pointer == 0 and not self.registers[1] & 0x0100:
                self._convert()  # continuous mode: always the latest conversion
            value = self.registers[self.pointer]
            self.transfers.append(Transfer("read", self.pointer, value))
            data = [value >> 8, value & 0xFF]
            return (data * (length // 2 + 1))[:length]

    def _finish(self) -> None:
        self._convert()
        self.registers[1] |= 0x8000

    def _convert(self) -> None:
        config = self.registers[1]
        positive, negative = MUX[config >> 12 & 0b111]
        volts = self.volts(positive) - (self.volts(negative) if negative is not None else 0.0)
        self.registers[0] = self.encode(volts, FULL_SCALES[config >> 9 & 0b111])
        self.conversions += 1
        self.conversions_of[positive] = self.conversions_of.get(positive, 0) + 1


class I2cDevice(Protocol):
    """A device model on :class:`FakeSMBus`: register transfers, and plain byte writes."""

    def read(self, register: int, length: int) -> list[int]: ...

    def write(self, register: int, data: Sequence[int]) -> None: ...


class FakeSMBus:
    """An I2C bus with devices attached by address (implements ``SMBusLike``).

    :meth:`write_bytes` is a plain write (no register byte): a device with its own
    ``write_bytes`` (a port expander) takes the bytes as they are; a register device
    takes the first as its pointer, as the chip would.
    """

    def __init__(self, devices: dict[int, I2cDevice] | None = None) -> None:
        self.devices: dict[int, I2cDevice] = dict(devices or {})
        self.closed = False

    def _device(self, address: int) -> I2cDevice:
        if self.closed:
            raise OSError(errno.EBADF, "Bad file descriptor")
        device = self.devices.get(address)
        if device is None:
            raise OSError(errno.EREMOTEIO, "Remote I/O error")
        return device

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int, force: bool | None = None) -> list[int]:
        return self._device(i2c_addr).read(register, length)

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None:
        self._device(i2c_addr).write(register, data)

    def read_byte(self, i2c_addr: int, force: bool | None = None) -> int:
        """A plain one-byte read, no register: what a port expander answers with its pins."""
        device = self._device(i2c_addr)
        own = getattr(device, "read_byte", None)
        if own is None:
            raise OSError(errno.EIO, f"the device at 0x{i2c_addr:02X} has no plain read here")
        return int(own())

    def write_bytes(self, i2c_addr: int, data: Sequence[int]) -> None:
        device = self._device(i2c_addr)
        plain = getattr(device, "write_bytes", None)
        if plain is not None:
            plain(data)
        elif data:
            device.write(data[0], data[1:])

    def close(self) -> None:
        self.closed = True


# -- the EV side of the pilot --------------------------------------------------------

PILOT_HIGH_V = 12.0
PILOT_LOW_V = -12.0
SOURCE_OHM = 1000.0  # the EVSE's pilot source resistor
DIODE_DROP_V = 0.7  # the EV's pilot diode
#: The EV's load from CP (after its diode) to PE per state: R2 2.74 kOhm alone in B,
#: in parallel with R3 1.3 kOhm in C or 270 Ohm in D (IEC 61851-1 Annex A).
EV_LOAD_OHM = {PilotState.B: 2740.0, PilotState.C: 882.0, PilotState.D: 246.0}


def pilot_levels(state: PilotState, duty_percent: float, *, diode_ok: bool = True) -> tuple[float | None, float | None]:
    """The pilot's (high, low) levels for an EV in ``state``; None for a half-wave
    the waveform does not have (duty 100 %: no low phase; 0 %: no high phase).

    E is the pilot shorted to PE; F a line held at -12 V whatever the generator does.
    """
    high: float | None = PILOT_HIGH_V if duty_percent > 0 else None
    low: float | None = PILOT_LOW_V if duty_percent < 100 else None
    if state is PilotState.E:
        return (0.0 if high is not None else None), (0.0 if low is not None else None)
    if state is PilotState.F:
        return None, PILOT_LOW_V
    load = EV_LOAD_OHM.get(state)
    if load is None:  # A: nothing connected
        return high, low
    if high is not None:
        current = (high - DIODE_DROP_V) / (SOURCE_OHM + load)
        high = high - current * SOURCE_OHM
    if low is not None and not diode_ok:  # a shorted diode lets the load pull the low phase up
        low = low * load / (SOURCE_OHM + load)
    return high, low


@dataclass
class PilotFrontEnd:
    """Pin voltages of one connector's ADS1115 for a simulated EV.

    ``duty`` returns the PWM duty in percent (e.g. read back from the fake sysfs
    tree); ``state``, ``diode_ok`` and ``proximity_ohm`` (None: no plug) are what the
    EV model or a test sets. Attach :meth:`positive_pin`, :meth:`negative_pin` and
    :meth:`proximity_pin` to the ADS1115's inputs. The pins give the settled levels:
    the peak detectors' hold and bleed (docs/hardware.md) are not modelled.
    """

    duty: Callable[[], float]
    state: PilotState = PilotState.A
    diode_ok: bool = True
    proximity_ohm: float | None = None
    divider: float = circuit.CP_DIVIDER

    def pins(self) -> tuple[float, float]:
        high, low = pilot_levels(self.state, self.duty(), diode_ok=self.diode_ok)
        return circuit.detector_pins(high, low, self.divider)

    def positive_pin(self) -> float:
        return self.pins()[0]

    def negative_pin(self) -> float:
        return self.pins()[1]

    def proximity_pin(self) -> float:
        return circuit.proximity_pin(self.proximity_ohm)

    def inputs(self, positive: int = 0, negative: int = 1, proximity: int = 2) -> dict[int, Callable[[], float]]:
        """The ``FakeAds1115`` inputs for the documented wiring (AIN0, AIN1, AIN2)."""
        return {positive: self.positive_pin, negative: self.negative_pin, proximity: self.proximity_pin}
