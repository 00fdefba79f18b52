"""The building's limit as arithmetic: what the connection leaves the chargers, and who gets it.

Pure on purpose (no I/O, no clock: time is passed in), like the session state machine,
so every rule reads as a table and is tested in microseconds. The task that reads the
grid meter and publishes the shares is :mod:`agent.site_limiter`.

Rules, in the order they apply:

1. **Budget.** With a grid meter, the house's own load on each phase is the grid
   current less what the chargers themselves draw (each connector's own meter, at most
   its offer now: see ``SiteLimiter._chargers_draw``); the chargers get
   ``max_current - margin - house`` and the worst phase decides, and it is not raised
   while any grid phase reads above ``max_current - margin``. Without
   a grid meter they share ``max_current`` alone (the margin covers the grid meter's
   error and the house's moves between polls, which do not exist then). While the grid
   meter is silent they share ``fallback_current``.
2. **Who shares.** Connectors with a running transaction the backend did not refuse.
   One whose EV asks for energy (pilot C or D) takes part fully. One whose EV paused
   (pilot B) may resume at any moment, and an EV can only resume when it sees an offer:
   it keeps the 6 A minimum, but only after every charging EV got its own minimum. One
   whose EV has drawn much less than its share (``UNDERUSE_A``) for ``UNDERUSE_AFTER_S``
   (a full battery tapering, a car with a small on-board charger) is capped at what it
   draws plus ``HEADROOM_A``, rounded up: the rest goes to the others. The cap holds
   while the draw wobbles, and is lifted once the EV draws near it for ``LIFT_POLLS``
   polls running (:func:`held_cap`).
3. **The minimum first.** Below 6 A (IEC 61851-1) a pilot offers nothing, so shares
   start with 6 A each, charging EVs first, then paused ones, each group in the order
   their sessions started; a connector the budget cannot give 6 A gets 0 (it is
   suspended, its transaction stays open).
4. **The rest by the policy.** ``equal``: the remainder is spread evenly (an EV capped
   below its equal share gives the difference to the others). ``first_come``: sessions
   that started earlier are topped up to their own limit (``Demand.max_a``) first.
5. **Connectors without a session** share what is left over, so that a new session
   never starts above the budget; their next poll brings them into rule 2.
6. **Steady.** Shares are whole amperes; a budget that falls counts at once, one that
   rises only once it is a whole ampere per charging EV up (:func:`steady`,
   :func:`raise_spare`), so a house load wandering
   by tenths neither re-drives the pilots every second nor flips an EV at the 6 A edge
   between suspended and charging.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

#: IEC 61851-1: the lowest current a control pilot may offer.
MIN_CURRENT_A = 6.0
#: An EV drawing this much less than it is offered (per phase) is not using its share.
UNDERUSE_A = 2.0
#: How long it must do so before its share goes to others: longer than an EV's ramp
#: after a new offer (IEC 61851-1 gives it 5 s to follow a change).
UNDERUSE_AFTER_S = 15.0
#: What a capped EV is offered above its draw (then rounded up to a whole ampere).
HEADROOM_A = 3.0
#: A capped EV drawing more than its cap less this wants more ...
LIFT_A = 1.0
#: ... once it did so this many polls running (one noisy reading lifts nothing).
LIFT_POLLS = 2
#: A cap comes down to a lower draw only when that frees this much: a draw wobbling by
#: tenths does not move it.
LOWER_A = 2.0
#: Shares are rounded down to whole amperes, so the total never exceeds the budget and
#: a house load wandering by tenths does not re-drive the pilots (nor write a log line)
#: every second.
STEP_A = 1.0
#: A budget is raised only when it grew by this much per EV sharing it (see
#: :func:`raise_spare`): one hovering at a step does not flip shares up and down.
RAISE_SPARE_A = 1.0
SHARING_POLICIES = ("equal", "first_come")


@dataclass(frozen=True, slots=True)
class SiteLimit:
    """``[site]``: the building's connection and how it is shared."""

    max_current: float
    margin: float = 2.0
    fallback_current: float = 6.0
    sharing: str = "equal"

    def __post_init__(self) -> None:
        if self.sharing not in SHARING_POLICIES:
            raise ValueError(f"sharing must be one of {', '.join(SHARING_POLICIES)}, not {self.sharing!r}")


@dataclass(frozen=True, slots=True)
class Budget:
    """The current per phase the chargers may draw together, and how it was found."""

    amperes: float
    reason: str


@dataclass(frozen=True, slots=True)
class Demand:
    """One connector's claim on the budget."""

    connector: int
    #: The most the connector may take by its own limits: ``[connectors] max_current``, the
    #: cable, its profiles, its share of a ChargePointMaxProfile (``LimitCore.limit_without_site``).
    max_a: float
    #: A session runs (and was not refused): without one the connector only gets leftovers.
    session: bool = True
    #: The EV asks for energy (pilot C or D); False: it paused (pilot B) and may resume.
    charging: bool = True
    #: When the session started (any clock, earlier is smaller): the first-come order and
    #: the tie-break of who gets the minimum when not everyone can.
    started: float = 0.0
    #: What an EV drawing much less than offered is capped at (see :func:`underuse_cap`); None: no cap.
    cap_a: float | None = None

    @property
    def wants(self) -> float:
        """The most this connector could use now."""
        if not self.charging:
            return MIN_CURRENT_A
        wanted = self.max_a if self.cap_a is None else min(self.max_a, self.cap_a)
        return max(wanted, MIN_CURRENT_A)


def _a(x: float) -> str:
    return f"{x:.1f}".removesuffix(".0") + " A"


def metered_budget(site: SiteLimit, grid_a: Sequence[float], chargers_a: Sequence[float]) -> Budget:
    """What the fuse leaves the chargers: ``max_current - margin`` less the house load on
    the worst phase, the house being ``grid_a`` (currents per phase) less ``chargers_a``
    (the chargers' part of them, summed per phase; empty when ``grid_a`` is the house load
    already, as the site limiter passes it after taking the median of a few polls). A
    house that seems to feed power back (negative) counts as no load."""
    if not grid_a:
        raise ValueError("the grid meter reading has no phase currents")
    house = [max(0.0, abs(grid) - (chargers_a[p] if p < len(chargers_a) else 0.0)) for p, grid in enumerate(grid_a)]
    worst = max(house)
    amperes = max(0.0, site.max_current - site.margin - worst)
    reason = f"site {_a(site.max_current)} - house {_a(worst)} - margin {_a(site.margin)} = {_a(amperes)}"
    return Budget(amperes, reason)


def unmetered_budget(site: SiteLimit) -> Budget:
    """No grid meter: the connection's current is the chargers' alone."""
    return Budget(site.max_current, f"site {_a(site.max_current)}, no grid meter")


def fallback_budget(site: SiteLimit, why: str = "grid meter silent") -> Budget:
    """The grid meter is silent (or the house cannot be known for another reason): the configured safe current."""
    return Budget(site.fallback_current, f"{why}: fallback {_a(site.fallback_current)}")


def house_load(history: Iterable[Sequence[float]]) -> tuple[float, ...]:
    """The house load to plan with from the last few polls: per phase the median (with an
    even count, the lower of the middle two: a step still counts from its second poll).
    The grid meter and the connectors' own
    meters are not read at the same instant: for a poll after an EV started or stopped
    drawing, the difference is off by that EV's current (a spike in the house load, or a
    dip). One such poll is outvoted; a real step shows in two polls running and counts
    from the second, within 2 s at the default poll interval."""
    rows = [tuple(row) for row in history]
    if not rows:
        return ()
    width = max(len(r) for r in rows)
    out = []
    for p in range(width):
        values = sorted(r[p] for r in rows if p < len(r))
        out.append(values[(len(values) - 1) // 2])
    return tuple(out)


def phase_sum(currents: Iterable[Sequence[float]]) -> tuple[float, ...]:
    """Per-phase sum of several connectors' currents (phase 1 with phase 1, ...)."""
    total: list[float] = []
    for row in currents:
        for p, amperes in enumerate(row):
            if p == len(total):
                total.append(0.0)
            total[p] += abs(amperes)
    return tuple(total)


def underuse_since(since: float | None, drawn_a: float | None, offered_a: float, charging: bool,
                   now: float) -> float | None:
    """Since when an EV has been drawing much less than it is offered (None: it is not).
    Unknown draw (its meter is silent) is not underuse: the share is kept."""
    if not charging or drawn_a is None or offered_a < MIN_CURRENT_A or drawn_a >= offered_a - UNDERUSE_A:
        return None
    return now if since is None else since


def underuse_cap(since: float | None, drawn_a: float | None, now: float) -> float | None:
    """The cap of an EV that has underused its share for long enough, else None: its draw
    plus HEADROOM_A, rounded up to a whole ampere (a share is whole amperes: a cap
    rounded down would leave the EV less headroom than meant)."""
    if since is None or drawn_a is None or now - since < UNDERUSE_AFTER_S:
        return None
    return max(MIN_CURRENT_A, _ceil(drawn_a + HEADROOM_A))


def held_cap(cap: float, near: int, drawn_a: float | None) -> tuple[float | None, int]:
    """A capped EV's cap after one more poll, and for how many polls running it has drawn
    near the cap. Judged against the cap itself: it is lifted (None) once the EV drew
    more than ``cap - LIFT_A`` for LIFT_POLLS polls running (it wants more); it comes down
    only when the draw fell so far that LOWER_A or more is freed; otherwise it holds, so
    a draw wobbling by tenths moves nothing. An unknown draw lifts it (the share is kept)."""
    if drawn_a is None:
        return None, 0
    if drawn_a > cap - LIFT_A:
        near += 1
        return (None, 0) if near >= LIFT_POLLS else (cap, near)
    lower = max(MIN_CURRENT_A, _ceil(drawn_a + HEADROOM_A))
    return (lower, 0) if lower <= cap - LOWER_A else (cap, 0)


def raise_spare(sharing_evs: int) -> float:
    """How much a budget must grow before it is raised: RAISE_SPARE_A per EV sharing it,
    so that each share can grow by about a whole ampere and a house load wobbling by
    less than that between polls changes no share."""
    return RAISE_SPARE_A * max(1, sharing_evs)


def _floor(x: float) -> float:
    return math.floor(x / STEP_A + 1e-9) * STEP_A


def _ceil(x: float) -> float:
    return math.ceil(x / STEP_A - 1e-9) * STEP_A


def share(budget_a: float, demands: Iterable[Demand], sharing: str) -> dict[int, float]:
    """Amperes per phase for each connector (0: suspended); the sum never exceeds ``budget_a``."""
    if sharing not in SHARING_POLICIES:
        raise ValueError(f"sharing must be one of {', '.join(SHARING_POLICIES)}, not {sharing!r}")
    demands = list(demands)
    left = max(0.0, budget_a)
    sessions = sorted((d for d in demands if d.session), key=lambda d: (not d.charging, d.started, d.connector))
    granted: dict[int, float] = {}
    for d in sessions:
        if d.max_a + 1e-9 < MIN_CURRENT_A:
            granted[d.connector] = 0.0  # its own limit offers nothing: a share would be stranded
        elif left + 1e-9 >= MIN_CURRENT_A:
            granted[d.connector] = MIN_CURRENT_A
            left -= MIN_CURRENT_A
        else:
            granted[d.connector] = 0.0
    takers = [d for d in sessions if granted[d.connector] > 0]
    if sharing == "first_come":
        for d in sorted(takers, key=lambda d: (d.started, d.connector)):
            more = min(d.wants - granted[d.connector], left)
            granted[d.connector] += more
            left -= more
    else:
        left = _fill_evenly(granted, takers, left)
    idle = [d for d in demands if not d.session]
    spare = _floor(left / len(idle)) if idle else 0.0
    for d in idle:
        granted[d.connector] = min(d.max_a, spare) if spare >= MIN_CURRENT_A else 0.0
    return {n: _floor(a) for n, a in granted.items()}


def steady(planned: float | None, budget_a: float, spare_a: float = RAISE_SPARE_A) -> float:
    """The budget to share, given the one shared last: a lower budget counts at once (the
    fuse comes first), a higher one only once it is ``spare_a`` above (:func:`raise_spare`),
    so a budget hovering at a step does not flip shares (or suspend and resume an EV)
    every poll."""
    if planned is None or budget_a < planned or budget_a >= planned + spare_a:
        return budget_a
    return planned


def _fill_evenly(granted: dict[int, float], takers: list[Demand], left: float) -> float:
    """Water-filling: raise every taker's share evenly, each stopping at what it wants."""
    open_ = [d for d in takers if d.wants > granted[d.connector]]
    while open_ and left > 1e-9:
        portion = left / len(open_)
        filled = [d for d in open_ if d.wants - granted[d.connector] <= portion]
        if not filled:
            for d in open_:
                granted[d.connector] += portion
            return 0.0
        for d in filled:
            left -= d.wants - granted[d.connector]
            granted[d.connector] = d.wants
        open_ = [d for d in open_ if d not in filled]
    return left


def explain(budget: Budget, shares: Mapping[int, float], demands: Iterable[Demand], sharing: str) -> str:
    """The technician's one line: where the budget came from and how it was split, e.g.
    "site 32 A - house 14.2 A - margin 2 A = 15.8 A, equal share of 2"."""
    sessions = [d.connector for d in demands if d.session]
    given = sum(1 for n in sessions if shares.get(n, 0.0) > 0)
    if not sessions:
        return f"{budget.reason}, no session"
    text = f"{budget.reason}, {'equal share' if sharing == 'equal' else 'first come first served'} of {given}"
    suspended = len(sessions) - given
    return text + (f", {suspended} suspended (under {MIN_CURRENT_A:g} A)" if suspended else "")
