"""Energy meter of one bench connector."""

from __future__ import annotations

from drivers.protocols import DeviceError, MeterReading
from drivers.sim.transport import BenchLink


class SimMeter:
    """Reads the bench's meter register for one connector (an :class:`EnergyMeter`)."""

    def __init__(self, link: BenchLink, connector: int) -> None:
        self.link = link
        self.connector = connector
        self.name = f"sim meter {connector}"

    async def open(self) -> None:
        """Check the connector exists. A meter that does not answer is not a reason to stay
        down: the agent comes up and reports PowerMeterFailure, so the backend hears of it."""
        await self.link.probe(self.name, self.connector)

    async def read(self) -> MeterReading:
        reply = await self.link.request_as(self.name, "read_meter", connector=self.connector)
        try:
            raw = reply["reading"]
            return MeterReading(
                timestamp=float(raw["timestamp"]),
                energy_wh=float(raw["energy_wh"]),
                power_w=float(raw["power_w"]),
                current_a=tuple(float(a) for a in raw["current_a"]),
                voltage_v=tuple(float(v) for v in raw["voltage_v"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DeviceError(self.name, f"malformed reading {reply.get('reading')!r}") from exc

    async def close(self) -> None:
        """Nothing to release: the link belongs to the agent."""
