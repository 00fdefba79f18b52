"""Drivers for the simulated bench (simulators/bench.py), over its hardware socket.

One :class:`BenchLink` per agent is shared by every sim driver; run
``BenchLink.run()`` in the agent's TaskGroup. Each driver's module is imported when its
name is first used: a charger loads the sim drivers of its sim roles only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from drivers.lazy import lazy_exports

if TYPE_CHECKING:
    from drivers.sim.contactor import SimContactor
    from drivers.sim.lock import SimLock
    from drivers.sim.meter import SimMeter
    from drivers.sim.pilot import SimPilot
    from drivers.sim.reader import SimCardReader
    from drivers.sim.transport import BenchLink

_MODULE_OF = {
    "BenchLink": "transport",
    "SimCardReader": "reader",
    "SimContactor": "contactor",
    "SimLock": "lock",
    "SimMeter": "meter",
    "SimPilot": "pilot",
}

__all__ = sorted(_MODULE_OF)
__getattr__ = lazy_exports(__name__, _MODULE_OF)
