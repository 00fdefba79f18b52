"""Drivers for the simulated bench (simulators/bench.py), over its hardware socket.

One :class:`BenchLink` per agent is shared by every sim driver; run
``BenchLink.run()`` in the agent's TaskGroup. Each driver's module is imported when its
name is first used: a charger loads the sim drivers of its sim roles only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

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


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
