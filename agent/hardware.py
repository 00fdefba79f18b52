"""The charger's devices, built from the configuration's driver sections.

The only place that maps ``[meter] driver = "..."`` to a driver class. Each driver
gets its transport injected, so real and simulated hardware differ only here, in
which transport and driver the name selects.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from drivers.protocols import (
    CardReader,
    Contactor,
    ConnectorLock,
    EnergyMeter,
    FaultReporter,
    Indicator,
    Pilot,
    SafetyInputs,
)

from .settings import Settings


@dataclass
class Hardware:
    """Every device of one charger; per-connector devices are keyed by connector number."""

    meters: dict[int, EnergyMeter]
    pilots: dict[int, Pilot]
    contactors: dict[int, Contactor]
    reader: CardReader
    #: Cable locks of socket outlets; empty for a tethered cable.
    locks: dict[int, ConnectorLock] = field(default_factory=dict)
    #: RCD/RCM and emergency stop inputs; None when they act on the supply by themselves.
    safety: SafetyInputs | None = None
    #: LEDs for the driver; None when the charger has none.
    indicator: Indicator | None = None
    #: Long-running transport tasks (bus pollers, bench link) the app must run.
    services: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def devices(self) -> list[object]:
        """In opening order: outputs first so they are driven safe before anything else,
        then the safety inputs, so a tripped RCD is known before any input asks for energy."""
        optional = [d for d in (self.safety, self.indicator) if d is not None]
        return [*self.contactors.values(), *self.pilots.values(), *self.locks.values(), *optional,
                *self.meters.values(), self.reader]

    def fault_reporters(self) -> list[FaultReporter]:
        """Every device that notices faults by itself; each is watched by the runtime."""
        return [d for d in self.devices() if isinstance(d, FaultReporter)]

    async def open(self) -> None:
        for device in self.devices():
            await device.open()  # type: ignore[attr-defined]

    async def close(self) -> None:
        """Close outputs first (contactors, then pilots, then locks); never raises, so
        every device gets its chance."""
        for device in self.devices():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(device.close(), 2.0)  # type: ignore[attr-defined]


def build_hardware(settings: Settings, state_dir: Path) -> Hardware:
    """Construct (without I/O) the drivers the configuration names."""
    count = settings.connectors.count
    # Only the simulated bench exists so far; every driver section names "sim".
    from drivers.sim import BenchLink, SimCardReader, SimContactor, SimLock, SimMeter, SimPilot

    link = BenchLink(str(settings.sim.socket_path(state_dir)))
    numbers = range(1, count + 1)
    return Hardware(
        meters={n: SimMeter(link, n) for n in numbers},
        pilots={n: SimPilot(link, n) for n in numbers},
        contactors={n: SimContactor(link, n) for n in numbers},
        reader=SimCardReader(link),
        locks={n: SimLock(link, n) for n in numbers} if settings.lock.driver == "sim" else {},
        services=[link.run],
    )
