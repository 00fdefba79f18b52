"""The bench's grid meter: the building's connection, as a Modbus unit like the connector meters.

It measures what a meter after the main fuse would: the house's own load (set by a
person or a test, ``ladda-sim house-load 20``) plus every bench EV's current, per
phase. Its energy register counts both. Pure apart from the Modbus unit it fills:
the bench feeds it time and the EVs' currents.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from simulators.modbus_meter import SimulatedMeter

#: The grid meter's unit id on the bench's Modbus server unless told otherwise: far from
#: the connector meters' 1..N, as an installer would address it on a shared line.
DEFAULT_GRID_UNIT = 100


class GridMeter:
    """House load and the EVs' currents, shown on one Modbus unit."""

    def __init__(self, unit: SimulatedMeter, voltage: float = 230.0) -> None:
        self.unit = unit
        self.voltage = voltage
        self.phases = unit.model.phases
        self.house_a = [0.0] * self.phases
        self.house_energy_wh = 0.0
        self._evs_a = [0.0] * self.phases
        self._evs_energy_wh = 0.0
        self._last: float | None = None

    @property
    def unit_id(self) -> int:
        return self.unit.unit_id

    @property
    def silent(self) -> bool:
        return self.unit.silent

    def set_silent(self, silent: bool) -> None:
        """The grid meter stops answering at all (a cut RS-485 pair, no supply), or answers again."""
        self.unit.silent = silent

    def set_house_load(self, amperes: float | Sequence[float], now: float) -> None:
        """The house's own current, the same on every phase or one value per phase."""
        values = [float(amperes)] * self.phases if isinstance(amperes, int | float) else [float(a) for a in amperes]
        if len(values) != self.phases:
            raise ValueError(f"house load needs 1 or {self.phases} values (one per phase), not {len(values)}")
        if any(a < 0 or a != a for a in values):
            raise ValueError(f"house load must not be negative, not {values}")
        self.advance(now)
        self.house_a = values

    def advance(self, now: float) -> None:
        """Count the house's energy at its present load up to ``now``."""
        if self._last is not None and now > self._last:
            self.house_energy_wh += sum(self.house_a) * self.voltage * (now - self._last) / 3600.0
        if self._last is None or now > self._last:
            self._last = now

    @property
    def current_a(self) -> list[float]:
        """What the grid meter reads per phase now."""
        return [h + e for h, e in zip(self.house_a, self._evs_a)]

    def show(self, ev_currents: Iterable[Sequence[float]], ev_energy_wh: float) -> None:
        """Fill the Modbus unit: the house plus the EVs (each EV's currents by phase, phase 1 first)."""
        evs = [0.0] * self.phases
        for row in ev_currents:
            for p, amperes in enumerate(row[: self.phases]):
                evs[p] += amperes
        self._evs_a = evs
        self._evs_energy_wh = ev_energy_wh
        values = self.unit.values
        values.currents = self.current_a
        values.voltages = [self.voltage] * self.phases
        values.power_w = sum(self.current_a) * self.voltage
        values.energy_wh = self.house_energy_wh + ev_energy_wh

    def status(self) -> dict[str, Any]:
        return {
            "grid_unit_id": self.unit_id,
            "house_load_a": list(self.house_a),
            "grid_current_a": [round(a, 3) for a in self.current_a],
            "grid_max_a": round(max(self.current_a, default=0.0), 3),
            "grid_silent": self.silent,
        }


#: The bench-wide status fields the grid meter adds (None on a bench without one).
GRID_FIELDS = ("grid_unit_id", "house_load_a", "grid_current_a", "grid_max_a", "grid_silent")
