"""TI ADS1115 16-bit ADC: single-shot, single-ended conversions over I2C.

Register map (ADS1115 datasheet, SBAS444, section 9.6): pointer 0x00 conversion
(16-bit big-endian two's complement), 0x01 config, 0x02 Lo_thresh, 0x03 Hi_thresh.
Config bits: OS (15: write 1 starts a conversion, reads 1 when idle), MUX (14:12,
0b1xx = AINx against GND), PGA (11:9, full scale), MODE (8: 1 = single-shot), DR
(7:5, samples per second), comparator (4:0; COMP_QUE 0b11 disables it).

A whole conversion (write config, poll OS, read the result) runs as one job on the
bus thread: the poll is a few short sleeps of the conversion time, and nothing can
write this chip's config in between.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from drivers.protocols import DeviceError

from drivers.i2c import I2cBus, SMBusLike

T = TypeVar("T")

CONVERSION = 0x00
CONFIG = 0x01
LO_THRESH = 0x02
HI_THRESH = 0x03

OS = 1 << 15
MODE_SINGLE = 1 << 8
COMP_DISABLE = 0b11
#: Full-scale range in volts -> PGA field.
GAINS: dict[float, int] = {6.144: 0, 4.096: 1, 2.048: 2, 1.024: 3, 0.512: 4, 0.256: 5}
#: Samples per second -> DR field.
DATA_RATES: dict[int, int] = {8: 0, 16: 1, 32: 2, 64: 3, 128: 4, 250: 5, 475: 6, 860: 7}
#: Threshold registers after power-on; this driver never writes them, so they tell an
#: ADS1115 (or its 12-bit sibling ADS1015) from another chip at the same address
#: (a TMP102 at 0x48 reads 0x4B00/0x5000 there).
POWER_ON_THRESHOLDS = (0x8000, 0x7FFF)
#: Data rate tolerance is +-10 %; allow twice the nominal conversion time plus the
#: wake-up from power-down before calling the chip stuck.
TIMEOUT_MARGIN_S = 0.005


class Ads1115:
    """One ADS1115 on an :class:`I2cBus`. Constructing it does no I/O."""

    def __init__(self, bus: I2cBus, address: int = 0x48) -> None:
        if not 0x48 <= address <= 0x4B:
            raise ValueError(f"ADS1115 on {bus.name}: address 0x{address:02X} is not 0x48-0x4B (ADDR pin)")
        self.bus = bus
        self.address = address
        self.name = f"ADS1115 at 0x{address:02X} on {bus.name}"
        self._holds_bus = False
        self._configs: dict[tuple[int, float, int], int] = {}

    async def open(self) -> None:
        """Open the bus and check that an ADS1115 answers at the address."""
        if self._holds_bus:
            return
        await self.bus.open()
        self._holds_bus = True
        try:
            lo, hi = await self._call(self._read_thresholds)
        except DeviceError:
            await self.close()
            raise
        if (lo, hi) != POWER_ON_THRESHOLDS:
            await self.close()
            raise DeviceError(
                self.name,
                f"not an ADS1115: threshold registers read 0x{lo:04X}/0x{hi:04X}, an ADS1115 reads "
                f"0x{POWER_ON_THRESHOLDS[0]:04X}/0x{POWER_ON_THRESHOLDS[1]:04X} (another chip at this address?)",
                retry=False,
            )

    async def read(self, channel: int, *, full_scale: float = 4.096, data_rate: int = 860) -> float:
        """One single-shot conversion of AIN``channel`` against GND, in volts.

        ``full_scale`` picks the PGA (6.144 ... 0.256 V); inputs beyond it read as the
        full-scale value (the chip clips at 0x7FFF). The pin itself must stay within
        GND - 0.3 V and VDD + 0.3 V whatever the gain.
        """
        config = self._config(channel, full_scale, data_rate)
        raw = await self._call(lambda bus: self._convert(bus, config, 1.0 / data_rate))
        return raw * full_scale / 32768

    async def read_sequence(self, channels: Sequence[int], *, full_scale: float = 4.096, data_rate: int = 860,
                            enough: Callable[[list[float]], bool] | None = None) -> list[float]:
        """Convert ``channels`` one after the other in one job on the bus thread, in volts.

        One hand-off to the bus thread for the lot instead of one per conversion (a
        sampler that reads two inputs twenty times a second wakes the event loop half
        as often). ``enough`` sees the volts read so far after each conversion and may
        end the sequence early: an input whose reading cannot change the outcome is
        not converted at all.
        """
        configs = [self._config(channel, full_scale, data_rate) for channel in channels]
        scale, period_s = full_scale / 32768, 1.0 / data_rate

        def job(bus: SMBusLike) -> list[float]:
            volts: list[float] = []
            for config in configs:
                volts.append(self._convert(bus, config, period_s) * scale)
                if enough is not None and enough(volts):
                    break
            return volts

        return await self._call(job)

    async def close(self) -> None:
        """Release the bus (the chip powers itself down after each single shot)."""
        if self._holds_bus:
            self._holds_bus = False
            await self.bus.close()

    def _config(self, channel: int, full_scale: float, data_rate: int) -> int:
        """The config word that starts a single shot of AIN``channel`` (cached: sampled often)."""
        key = (channel, full_scale, data_rate)
        config = self._configs.get(key)
        if config is not None:
            return config
        if channel not in range(4):
            raise DeviceError(self.name, f"input AIN{channel} does not exist (AIN0-AIN3)", retry=False)
        if full_scale not in GAINS:
            raise DeviceError(self.name, f"full scale {full_scale} V is not one of {sorted(GAINS)}", retry=False)
        if data_rate not in DATA_RATES:
            raise DeviceError(self.name, f"data rate {data_rate} SPS is not one of {sorted(DATA_RATES)}", retry=False)
        config = (
            OS | (0b100 | channel) << 12 | GAINS[full_scale] << 9 | MODE_SINGLE | DATA_RATES[data_rate] << 5
            | COMP_DISABLE
        )
        self._configs[key] = config
        return config

    # -- on the bus thread ---------------------------------------------------------

    def _read_thresholds(self, bus: SMBusLike) -> tuple[int, int]:
        return self._get(bus, LO_THRESH), self._get(bus, HI_THRESH)

    def _convert(self, bus: SMBusLike, config: int, period_s: float) -> int:
        bus.write_i2c_block_data(self.address, CONFIG, [config >> 8, config & 0xFF])
        deadline = time.monotonic() + 2 * period_s + TIMEOUT_MARGIN_S
        time.sleep(period_s)
        while True:
            # Judge the deadline before the read: a thread that was descheduled past it
            # still gets one look at a conversion that has long finished.
            expired = time.monotonic() > deadline
            status = self._get(bus, CONFIG)
            if status & OS:
                break
            if expired:
                raise DeviceError(
                    self.name,
                    f"conversion not finished after {(2 * period_s + TIMEOUT_MARGIN_S) * 1000:.0f} ms "
                    f"(config reads 0x{status:04X})",
                )
            time.sleep(period_s / 8)
        raw = self._get(bus, CONVERSION)
        return raw - 0x10000 if raw & 0x8000 else raw

    def _get(self, bus: SMBusLike, register: int) -> int:
        data = bus.read_i2c_block_data(self.address, register, 2)
        if len(data) != 2:
            raise DeviceError(self.name, f"register 0x{register:02X}: {len(data)} bytes instead of 2")
        return data[0] << 8 | data[1]

    async def _call(self, job: Callable[[SMBusLike], T]) -> T:
        """Run ``job`` on the bus thread; I/O errors become a DeviceError naming the chip."""
        try:
            return await self.bus.call(job)
        except OSError as exc:
            if exc.errno in (errno.EREMOTEIO, errno.ENXIO, errno.EIO):
                raise DeviceError(self.name, "no answer (check the wiring, the ADDR pin and VDD)") from exc
            raise DeviceError(self.name, f"I2C error: {exc.strerror or exc}") from exc
