"""Drivers for the simulated bench (simulators/bench.py), over its hardware socket.

One :class:`BenchLink` per agent is shared by every sim driver; run
``BenchLink.run()`` in the agent's TaskGroup.
"""

from drivers.sim.contactor import SimContactor
from drivers.sim.lock import SimLock
from drivers.sim.meter import SimMeter
from drivers.sim.pilot import SimPilot
from drivers.sim.reader import SimCardReader
from drivers.sim.transport import BenchLink

__all__ = ["BenchLink", "SimCardReader", "SimContactor", "SimLock", "SimMeter", "SimPilot"]
