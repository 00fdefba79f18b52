"""An energy meter on a Modbus line, described by a meter model file.

Two rules protect the money: a reading's timestamp is when its exact register contents
were first seen, so a meter whose firmware froze (same frame again and again) produces
readings that age and the agent can call it stale; and the energy reported never goes
backwards (a register glitch or a swapped meter is an error, never a negative session).
"""

from __future__ import annotations

import math
import time

import structlog

from drivers.protocols import DeviceError, MeterReading

from .bus import BusError, ModbusBus
from .registers import MeterModel

log = structlog.get_logger(__name__)

#: Beyond these a value is a decoding or wiring error, not a measurement: no charger
#: connection reaches 1000 V to neutral or 1000 A.
_MAX_VOLTAGE_V = 1000.0
MAX_CURRENT_A = 1000.0


class ModbusMeter:
    """An :class:`~drivers.protocols.EnergyMeter` reading ``model``'s registers at ``unit_id``."""

    def __init__(self, bus: ModbusBus, unit_id: int, model: MeterModel) -> None:
        if not 1 <= unit_id <= 247:
            raise ValueError(f"{bus.name}: unit id {unit_id} is not allowed (1 to 247)")
        self.bus = bus
        self.unit_id = unit_id
        self.model = model
        self.name = f"meter {model.key} unit {unit_id} on {bus.name}"
        # Counters for the benchmark: Modbus frames (ADUs) exchanged by this meter.
        self.requests = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self._open = False
        self._failing = False
        self._last_frame: bytes | None = None
        self._first_seen = 0.0
        self._max_energy_wh: float | None = None

    async def open(self) -> None:
        """Take a share of the bus and read one block to prove the meter answers.

        A meter that does not answer (not powered yet, wrong unit id) is a retryable
        DeviceError; a meter answering with an exception (wrong model) is not.
        """
        if self._open:
            return
        try:
            await self.bus.open()
        except BusError as exc:
            raise DeviceError(self.name, str(exc), retry=exc.retry) from None
        try:
            await self._read_block(0)
        except DeviceError:
            await self.bus.close()
            raise
        self._open = True
        if self.model.source.unverified:
            log.warning("meter model has unverified registers", meter=self.name,
                        unverified=list(self.model.source.unverified))

    async def read(self) -> MeterReading:
        """A full reading (as few requests as the model allows); DeviceError on any failure."""
        if not self._open:
            raise DeviceError(self.name, "read before open()", retry=False)
        try:
            reading = await self._read()
        except DeviceError as exc:
            if not self._failing:
                self._failing = True
                log.warning("meter failing", meter=self.name, error=str(exc))
            raise
        if self._failing:
            self._failing = False
            log.info("meter recovered", meter=self.name)
        return reading

    async def close(self) -> None:
        """Give back the bus share; a meter has no outputs to make safe."""
        if self._open:
            self._open = False
            await self.bus.close()

    async def _read_block(self, index: int) -> list[int]:
        block = self.model.blocks[index]
        try:
            exchange = await self.bus.read(self.unit_id, block.function_code, block.start, block.count)
        except BusError as exc:
            raise DeviceError(self.name, str(exc), retry=exc.retry) from None
        self.requests += exchange.requests
        self.bytes_sent += exchange.bytes_sent
        self.bytes_received += exchange.bytes_received
        return exchange.registers

    async def _read(self) -> MeterReading:
        registers: dict[int, int] = {}
        frame = bytearray()
        for index, block in enumerate(self.model.blocks):
            words = await self._read_block(index)
            registers.update(zip(range(block.start, block.start + block.count), words))
            frame += b"".join(w.to_bytes(2, "big") for w in words)
        now = time.time()
        if bytes(frame) != self._last_frame:
            self._last_frame = bytes(frame)
            self._first_seen = now
        model = self.model
        (energy,) = model.energy.decode(registers)
        (power,) = model.power.decode(registers)
        currents = model.current.decode(registers)
        voltages = model.voltage.decode(registers)
        self._check(energy, power, currents, voltages)
        if self._max_energy_wh is not None and energy < self._max_energy_wh:
            raise DeviceError(self.name, f"energy register went backwards from {self._max_energy_wh:.0f} Wh "
                              f"to {energy:.0f} Wh (register glitch or meter replaced); not reported")
        self._max_energy_wh = energy
        return MeterReading(timestamp=self._first_seen, energy_wh=energy, power_w=power,
                            current_a=currents, voltage_v=voltages)

    def _check(self, energy: float, power: float, currents: tuple[float, ...],
               voltages: tuple[float, ...]) -> None:
        """Reject values no meter measures: they come from a wrong model or word order."""
        problems = []
        for label, value in [("energy", energy), ("power", power), *(("current", a) for a in currents),
                             *(("voltage", v) for v in voltages)]:
            if not math.isfinite(value):
                problems.append(f"{label} is {value}")
        if energy < 0:
            problems.append(f"energy {energy:g} Wh is negative")
        problems += [f"voltage {v:g} V is out of range (0 to {_MAX_VOLTAGE_V:g})"
                     for v in voltages if not 0 <= v <= _MAX_VOLTAGE_V]
        problems += [f"current {a:g} A is out of range (-{MAX_CURRENT_A:g} to {MAX_CURRENT_A:g})"
                     for a in currents if not abs(a) <= MAX_CURRENT_A]
        if problems:
            raise DeviceError(self.name, "implausible reading: " + ", ".join(problems)
                              + f" (check that the meter is a {self.model.name} and its settings)")
