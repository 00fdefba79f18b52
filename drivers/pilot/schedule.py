"""How often the pilot is sampled: slowly while nothing can flow, fast around a change.

Every sample costs two I2C conversions and a wake-up of the agent, so the pilot is
read only as often as what is at stake needs (docs/hardware.md, "Sampling"):

* ``idle_s`` while nothing is offered and the EV does not ask for energy (no cable,
  or a cable waiting for authorization): only a plug-in is to be noticed, and no
  energy can flow until the agent offers it;
* ``active_s`` while an offer is out (PWM running) or the EV is in C or D: the EV may
  stop or ask for energy at any moment, and the contactor may be closed;
* ``watch_every_s`` for ``watch_s`` after the agent started offering (the EV answers
  an offer by asking for energy, and a card tap waits for that answer);
* while a change is suspected (a sample disagreed with the confirmed state) or no
  state is confirmed yet, the reads that confirm it: ``confirm`` samples, the next
  one due as soon as the run can span ``confirm_span_s`` (:meth:`confirm_due`).

Pure, so the rule can be read and tested on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.protocols import PilotState

#: States in which the EV asks for energy: the contactor may be closed.
ENERGY_STATES = frozenset({PilotState.C, PilotState.D})


@dataclass(frozen=True, slots=True)
class SampleSchedule:
    """The pauses between pilot samples, and the debounce rule they serve."""

    idle_s: float = 1.0
    active_s: float = 0.1
    confirm: int = 3
    confirm_span_s: float = 0.04
    watch_s: float = 3.0
    watch_every_s: float = 0.005

    def __post_init__(self) -> None:
        for label, value in (("idle_s", self.idle_s), ("active_s", self.active_s), ("watch_s", self.watch_s),
                             ("watch_every_s", self.watch_every_s)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{label} must be a positive number of seconds, not {value}")
        if not (math.isfinite(self.confirm_span_s) and self.confirm_span_s >= 0):
            raise ValueError(f"confirm_span_s must be 0 s or more, not {self.confirm_span_s}")
        if self.confirm < 1:
            raise ValueError(f"confirm must be at least 1 sample, not {self.confirm}")

    def confirm_due(self, first_finished: float, run: int) -> float:
        """When the sample after the ``run``-th one of a run should start: the ``confirm``
        samples are spread evenly so that the last starts ``confirm_span_s`` after the
        first finished (plus 1 ms, so that a timer firing early costs no extra sample)."""
        if self.confirm < 2:
            return first_finished
        step = self.confirm_span_s / (self.confirm - 1)
        return first_finished + step * min(run, self.confirm - 1) + (0.001 if self.confirm_span_s else 0.0)

    def pause(self, *, confirmed: PilotState | None, watching: bool, offering: bool) -> float:
        """Seconds to wait before the next sample when no change is being confirmed."""
        if watching:
            return min(self.watch_every_s, self.active_s)
        if offering or confirmed in ENERGY_STATES:
            return self.active_s
        return self.idle_s
