"""A running session's cost, counted again every few seconds for the screen: only the
new tail of its timeline is counted each time, so a long session costs no more to show
at its twelfth hour than at its first."""

from __future__ import annotations

from collections.abc import Sequence

from agent.tariff.cost import Exact, exact_amounts, priced
from agent.tariff.model import Cost, Point, Tariff

#: Points at the end of a running session's timeline that may still change (a latest
#: reading replaced by the next, a change whose register is interpolated until a reading
#: after it is known); they are counted afresh each time.
TAIL = 4


class RunningCount:
    """One running session's count, carried on from the points that no longer change.
    Exact: whatever the timeline does, the cost is cost_of's (when the settled points
    turn out to have changed, as after a clock correction, it counts them all again)."""

    def __init__(self) -> None:
        self._tariff: Tariff | None = None
        self._settled: list[Point] = []  # the timeline's first points, counted in _exact
        self._exact: Exact | None = None
        #: The session's cost was found uncertain and said so (the charger logs it once).
        self.flagged = False

    def cost(self, tariff: Tariff, points: Sequence[Point]) -> Cost:
        """The cost of the session whose timeline is now ``points`` (see cost_of)."""
        k = len(self._settled)
        if not (self._exact is not None and tariff is self._tariff and k and list(points[:k]) == self._settled):
            k, self._exact, self._settled = 1, None, []
        settle = max(k, len(points) - TAIL)
        if not points:
            return priced(tariff, exact_amounts(tariff, points), False)
        settled = (exact_amounts(tariff, points[k - 1:settle], after=self._exact) if self._exact is not None
                   else exact_amounts(tariff, points[:settle]))
        self._tariff, self._settled, self._exact = tariff, list(points[:settle]), settled
        return priced(tariff, exact_amounts(tariff, points[settle - 1:], after=settled), True)
