"""The site limiter: reads the grid meter and gives each connector its share of the building.

Each poll (``[grid_meter] poll_interval``, 1 s by default) it reads the grid meter, takes
the connectors' own latest readings and states from the runtime, works out the budget
and the shares with :mod:`agent.site_limit` (pure), and hands them to the limit core
(``set_site``), which alone decides what the pilots offer. A house load step therefore
reaches the pilots within a poll, and the EVs within the 5 s IEC 61851-1 gives them.

A grid meter that stops answering (or repeats the very same frame) for ``fault_after``
makes the chargers share ``[site] fallback_current``: logged as a warning when it goes
silent and when it answers again. Meanwhile connector 0's remembered status carries
errorCode OtherError with vendorErrorCode GridMeterFailure, its status unchanged
(``ChargerRuntime.report_grid_meter``), so the reconnect's snapshot and TriggerMessage
repeat it until the meter answers:
the one OCPP 1.6 way to tell the backend of a problem that does not stop charging
(a fault through the state machine would make the charger Faulted, and the e-stop
already uses OtherError as a fault there, so the two must not share a fault code).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import structlog

from drivers.protocols import DeviceError, EnergyMeter, MeterReading

from .session.machine import offers_before_start
from .site_limit import (
    Budget,
    Demand,
    SiteLimit,
    explain,
    fallback_budget,
    house_load,
    metered_budget,
    phase_sum,
    share,
    held_cap,
    raise_spare,
    steady,
    underuse_cap,
    underuse_since,
    unmetered_budget,
)

if TYPE_CHECKING:
    from .charger import ChargerRuntime
    from .settings import Settings

log = structlog.get_logger(__name__)

#: Polls whose house load is remembered; their median is planned with, so that one poll
#: taken while an EV's own meter lags behind its change is outvoted (see house_load).
HOUSE_WINDOW = 3
#: How a grid meter that gives no usable reading is named in the log and the site's reason.
FAULTS = {
    "silent": "grid meter silent",  # no answer (or no answer in time)
    "error": "grid meter answers with an error",  # a Modbus exception: wrong model, unit id, register map
    "frozen": "grid meter frozen",  # the very same registers again and again
    "phases": "grid meter reads too few phases",
}
#: The shortest time a grid meter read is given (one Modbus reply on a slow line).
MIN_READ_BOUND_S = 0.05


class LimitSink(Protocol):
    """The limit core's door for the building's share (``agent.limits.LimitCore``)."""

    def set_site(self, limits: Mapping[int, float] | None, reason: str) -> None: ...

    def limit_without_site(self, connector: int) -> float: ...


class ConnectorState(Protocol):
    """What the limiter reads of a connector (``agent.session.model.Connector``)."""

    @property
    def id(self) -> int: ...

    @property
    def transaction(self) -> object | None: ...

    @property
    def pilot(self) -> object: ...

    @property
    def offer_a(self) -> float: ...


class ChargerView(Protocol):
    @property
    def connectors(self) -> Sequence[ConnectorState]: ...


class RuntimeView(Protocol):
    """What the limiter reads of the runtime (``agent.charger.ChargerRuntime``)."""

    @property
    def charger(self) -> ChargerView: ...

    @property
    def readings(self) -> Mapping[int, MeterReading]: ...


Report = Callable[[bool], Awaitable[None]]


class SiteLimiter:
    """Owns the grid meter (opened, read, closed here) and publishes the site's shares."""

    def __init__(
        self,
        site: SiteLimit,
        runtime: RuntimeView,
        limits: LimitSink,
        grid_meter: EnergyMeter | None = None,
        *,
        connector_max: float,
        poll_interval: float = 1.0,
        fault_after: float = 3.0,
        reading_max_age: float = 5.0,
        phases: int = 3,
        report: Report | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.site = site
        self.runtime = runtime
        self.limits = limits
        self.grid_meter = grid_meter
        self.connector_max = connector_max
        self.poll_interval = poll_interval
        self.fault_after = fault_after
        self.reading_max_age = reading_max_age
        #: Phases the connectors use: a grid reading with fewer misses house load.
        self.phases = phases
        #: What is wrong with the grid meter's answers now ("": nothing), logged when it changes,
        #: and which kind of fault it is (a key of FAULTS).
        self._problem = ""
        self._fault = "silent"
        self._report = report
        self._clock = clock
        self._wall = wall_clock
        self._opened = False
        self._started = clock()
        #: When the grid meter last gave a fresh reading (our clock); None: never yet.
        self._last_good: float | None = None
        self.silent = False
        self._house: deque[tuple[float, ...]] = deque(maxlen=HOUSE_WINDOW)
        self._sessions: dict[int, float] = {}  # connector -> when its session was first seen
        self._underuse: dict[int, float] = {}  # connector -> since when it draws much less than offered
        #: connector -> (its cap, polls running it drew near it): see site_limit.held_cap.
        self._caps: dict[int, tuple[float, int]] = {}
        self._budget: Budget | None = None
        #: The last grid reading had a phase above ``max_current - margin``: no raise then.
        self._grid_over = False
        #: Charging connectors without a fresh reading of their own (see _blind_connectors).
        self._blind: tuple[int, ...] = ()
        #: The budget shared last (it rises only in steps, see site_limit.steady).
        self._planned: float | None = None
        #: What was last published (the technician's view: ``reason`` says why).
        self.shares: dict[int, float] | None = None
        self.reason = ""
        # The limit core is limited from the start, before any await: a transaction resumed
        # at start-up is never offered the connector's maximum while the first poll waits
        # for the grid meter.
        first = unmetered_budget(site) if grid_meter is None else fallback_budget(site, "grid meter not read yet")
        self._publish_plain(first)

    async def run(self) -> None:
        """Poll until cancelled (owned by the agent's TaskGroup); the grid meter is closed on the way out."""
        failing = False
        try:
            while True:
                try:
                    await self.poll()
                    failing = False
                except Exception as exc:  # noqa: BLE001 - a bug here must not stop the charger, nor lift the limit
                    if not failing:
                        log.exception("site limit failed; the chargers share the fallback current", error=str(exc))
                    failing = True
                    with contextlib.suppress(Exception):  # nothing safer is left to do; the next poll tries again
                        self._publish_fallback()
                await asyncio.sleep(self.poll_interval)
        finally:
            if self.grid_meter is not None and self._opened:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.grid_meter.close(), 2.0)

    async def poll(self) -> None:
        """One round: read the grid meter, decide the budget, share it, publish what changed."""
        now = self._clock()
        budget = await self._budget_now(now)
        if budget is None:
            return  # a missed reading within fault_after: the last shares stand
        demands = self._demands(now)
        if self._grid_over and self._planned is not None and budget.amperes > self._planned:
            # The grid still draws more than the fuse allows the chargers: an EV is still
            # following a lower offer. Raising now would undo the cut.
            budget = Budget(self._planned, budget.reason)
        sharing_evs = sum(1 for d in demands if d.session and d.charging)
        self._planned = steady(self._planned, budget.amperes, raise_spare(sharing_evs))
        shares = share(self._planned, demands, self.site.sharing)
        reason = explain(budget, shares, demands, self.site.sharing)
        self._budget = budget
        if shares != self.shares or _shape(reason) != _shape(self.reason):
            if shares != self.shares:
                log.info("site limit", shares={n: round(a, 1) for n, a in shares.items()}, reason=reason)
            self.shares, self.reason = shares, reason
            self.limits.set_site(shares, reason)
        else:
            self.reason = reason  # same shares, only the house's numbers moved: no update, no log line

    def _publish_fallback(self) -> None:
        self._publish_plain(fallback_budget(self.site, "site limit failed"))

    def _publish_plain(self, budget: Budget) -> None:
        """Share ``budget`` with nothing but the connectors' sessions known (no readings, no
        history): at creation, and when a poll failed."""
        demands = [Demand(c.id, max_a=self.connector_max, session=c.transaction is not None, started=c.id)
                   for c in self.runtime.charger.connectors]
        shares = share(budget.amperes, demands, self.site.sharing)
        if shares != self.shares:
            self.shares, self.reason = shares, explain(budget, shares, demands, self.site.sharing)
            self.limits.set_site(shares, self.reason)

    # ------------------------------------------------------------ the budget
    async def _budget_now(self, now: float) -> Budget | None:
        if self.grid_meter is None:
            return unmetered_budget(self.site)
        reading = await self._read_grid(now)
        now = self._clock()  # the read may have taken long: judge the silence at its end
        if reading is not None:
            self._last_good = now
            self._grid_over = any(abs(g) > self.site.max_current - self.site.margin for g in reading.current_a)
            if self.silent:
                self.silent = False
                log.info("grid meter answers again; sharing what the fuse leaves", meter=self._meter_name)
                await self._tell(False)
            blind = self._blind_connectors()
            if blind:
                # An EV charging through a meter that gives no fresh reading: its draw
                # cannot be taken off the grid's current, and counted as house load it
                # would cut its own share, then raise it when it followed: the EV would be
                # suspended and resumed every other poll. The safe current instead.
                # The grid meter still answers, though: the fallback never goes above what
                # it shows the fuse leaves, each blind connector counted at its offer (the
                # most it may draw), so a blind meter never lifts an overloaded site.
                self._house.clear()
                fallback = fallback_budget(self.site, f"connector {', '.join(map(str, blind))} meter not read")
                offers = {c.id: max(0.0, c.offer_a) for c in self.runtime.charger.connectors}
                counted = dict(self._chargers_draw())
                for n in blind:
                    counted[n] = (offers.get(n, 0.0),) * len(reading.current_a)
                measured = metered_budget(self.site, reading.current_a, phase_sum(counted.values()))
                return measured if measured.amperes < fallback.amperes else fallback
            chargers = phase_sum(self._chargers_draw().values())
            self._house.append(tuple(max(0.0, abs(g) - (chargers[p] if p < len(chargers) else 0.0))
                                     for p, g in enumerate(reading.current_a)))
            house = house_load(self._house)
            return metered_budget(self.site, house, ())
        since = self._last_good if self._last_good is not None else self._started
        if now - since < self.fault_after and self._budget is not None:
            return None
        what = FAULTS[self._fault]
        if not self.silent and now - since >= self.fault_after:
            self.silent = True
            self._house.clear()
            log.warning(f"{what}; the chargers share the fallback current", meter=self._meter_name,
                        fallback_a=self.site.fallback_current, silent_s=round(now - since, 1), problem=self._problem)
            await self._tell(True)
        self._grid_over = False
        return fallback_budget(self.site, what)

    @property
    def _meter_name(self) -> str:
        return str(getattr(self.grid_meter, "name", "grid meter"))

    async def _read_grid(self, now: float) -> MeterReading | None:
        """The grid meter's reading, opening it first if needed; None when it does not
        answer (the driver logs its own failure and recovery once).

        Open and read are bounded in time: a read that never returns (a half-open TCP
        link, a bus wedged by another device) must not hold the last shares beyond
        ``fault_after``. The bound is what is left of ``fault_after`` since the last good
        reading, so the fallback comes at ``fault_after`` whatever the meter does; once
        that has passed (the fallback applies already) a read is given ``fault_after``,
        so a meter that answers slowly can still come back."""
        assert self.grid_meter is not None
        since = self._last_good if self._last_good is not None else self._started
        left = since + self.fault_after - now
        bound = left if left > 0 else self.fault_after
        try:
            async with asyncio.timeout(max(bound, MIN_READ_BOUND_S)):
                if not self._opened:
                    await self.grid_meter.open()
                    self._opened = True
                reading = await self.grid_meter.read()
        except DeviceError as exc:
            # retry=False: it answered, with a Modbus exception (a wrong model, unit id or
            # register map); an implausible reading is an answer too (a wrong model or word order).
            answered = not exc.retry or "implausible reading" in str(exc)
            self._note_problem("error" if answered else "silent", str(exc))
            return None
        except TimeoutError:
            self._note_problem("silent", "no answer: the read did not return in time (the link or the bus is stuck)")
            return None
        if self._wall() - reading.timestamp > self.fault_after:
            self._note_problem("frozen", f"the very same registers for more than {self.fault_after:g} s (a hung meter)")
            return None
        if len(reading.current_a) < self.phases:
            self._note_problem("phases", f"the reading has {len(reading.current_a)} phase currents, the connectors "
                                         f"use {self.phases} phases: the house's load on the others is unseen")
            return None
        self._note_problem("silent", "")
        return reading

    def _note_problem(self, fault: str, problem: str) -> None:
        """Note what is wrong with the grid meter (``fault``: a key of FAULTS; ``problem``: its
        own words, "" when nothing is), logged when the words change, not every poll (nor
        when only numbers in them change: a wrong model's values move with every read)."""
        if _gist(problem) != _gist(self._problem) and problem:
            log.warning("grid meter not usable", meter=self._meter_name, fault=FAULTS[fault], problem=problem)
        self._problem = problem
        if problem:
            self._fault = fault

    async def _tell(self, silent: bool) -> None:
        if self._report is None:
            return
        try:
            await self._report(silent)
        except Exception as exc:  # noqa: BLE001 - a report that failed never stops the limit
            log.error("could not report the grid meter to the backend", error=str(exc) or type(exc).__name__)

    # ------------------------------------------------------------ the connectors
    def _fresh_readings(self) -> dict[int, MeterReading]:
        """The connectors' own readings young enough to take off the grid's current; an old
        one is left out, which overstates the house: the safe side."""
        wall = self._wall()
        return {n: r for n, r in self.runtime.readings.items() if wall - r.timestamp <= self.reading_max_age}

    def _blind_connectors(self) -> tuple[int, ...]:
        """Connectors whose EV asks for energy (in a session) while their own meter has
        no fresh reading; logged when the set changes."""
        readings = self._fresh_readings()
        blind = tuple(c.id for c in self.runtime.charger.connectors
                      if c.transaction is not None and bool(getattr(c.pilot, "wants_power", False))
                      and c.id not in readings)
        if blind != self._blind:
            if blind:
                log.warning("a charging connector's meter gives no fresh reading; the chargers share the fallback "
                            "current", connectors=list(blind), fallback_a=self.site.fallback_current)
            else:
                log.info("every charging connector's meter reads again; sharing what the fuse leaves")
            self._blind = blind
        return blind

    def _cap(self, n: int, conn: ConnectorState, drawn: float | None, charging: bool, now: float) -> float | None:
        """Connector ``n``'s underuse cap this poll (None: none). Uncapped, underuse is
        judged against the site's share (what this limiter gave), not the pilot's offer,
        which may lag a change or come from another limit; capped, against the cap."""
        held = self._caps.get(n)
        if held is not None and charging:
            cap, near = held_cap(held[0], held[1], drawn)
            if cap is not None:
                self._caps[n] = (cap, near)
                return cap
            self._caps.pop(n, None)  # it wants more: a new underuse must last UNDERUSE_AFTER_S again
            self._underuse.pop(n, None)
            return None
        self._caps.pop(n, None)
        given = (self.shares or {}).get(n, conn.offer_a)
        since = underuse_since(self._underuse.get(n), drawn, given, charging, now)
        if since is None:
            self._underuse.pop(n, None)
            return None
        self._underuse[n] = since
        cap = underuse_cap(since, drawn, now)
        if cap is not None:
            self._caps[n] = (cap, 0)
            self._underuse.pop(n, None)
        return cap

    def _own_limit(self, n: int) -> float:
        """The most connector ``n`` could take by its own limits (cable, profiles, the
        ChargePointMaxProfile's share, its maximum): its share is never more."""
        return min(self.connector_max, self.limits.limit_without_site(n))

    def _chargers_draw(self) -> dict[int, tuple[float, ...]]:
        """What each connector counts for in the grid's current, per phase: its own
        reading, but never more than it is offered now. After a cut the EV takes seconds
        to ramp down and its meter lags the grid meter; counting the old draw would show
        the house lighter than it is and raise the budget while the grid is still over the
        fuse. Counting the new offer overstates the house for those seconds: the safe side."""
        offers = {c.id: max(0.0, c.offer_a) for c in self.runtime.charger.connectors}
        return {n: tuple(min(abs(a), offers.get(n, 0.0)) for a in r.current_a)
                for n, r in self._fresh_readings().items()}

    def _demands(self, now: float) -> list[Demand]:
        readings = self._fresh_readings()
        demands = []
        for conn in self.runtime.charger.connectors:
            n = conn.id
            tx = conn.transaction
            # An authorized EV offered current before its transaction (2.0.1 TxStartPoint
            # EnergyTransfer) shares the site like one in a transaction.
            session = (tx is not None and not getattr(tx, "refused", False)) or offers_before_start(
                self.runtime.charger, conn)
            if not session:
                self._sessions.pop(n, None)
                self._underuse.pop(n, None)
                self._caps.pop(n, None)
                demands.append(Demand(n, max_a=self.connector_max, session=False))
                continue
            started = self._sessions.setdefault(n, now)
            charging = bool(getattr(conn.pilot, "wants_power", False))
            reading = readings.get(n)
            drawn = max((abs(a) for a in reading.current_a), default=0.0) if reading is not None else None
            # Underuse is judged against the site's share (what this limiter gave), not the
            # pilot's offer, which may lag a change or come from another limit.
            demands.append(Demand(n, max_a=self._own_limit(n), session=True, charging=charging, started=started,
                                  cap_a=self._cap(n, conn, drawn, charging, now)))
        return demands


_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def _gist(problem: str) -> frozenset[str]:
    """A device error without its numbers, as a set of clauses: whether it says something
    new, or only that a wrong model's values moved (``voltage 6.3e+07 V is out of range,
    voltage -5e+07 V is out of range`` says the same as one such clause)."""
    return frozenset(_NUMBER.sub("#", problem).split(", ")) if problem else frozenset()


def _shape(reason: str) -> str:
    """A reason without its numbers: whether it says something new (a session more, the
    fallback) or only that the house's load moved a little."""
    return "".join(c for c in reason if not c.isdigit() and c != ".")


def backend_warning(runtime: ChargerRuntime) -> Report:
    """The grid meter's report to the backend: connector 0's remembered status carries
    the GridMeterFailure warning while the meter is silent (see
    ``ChargerRuntime.report_grid_meter`` and the module's docstring)."""

    async def report(silent: bool) -> None:
        runtime.report_grid_meter(silent)

    return report


def site_limiter(settings: Settings, runtime: ChargerRuntime, grid_meter: EnergyMeter | None) -> SiteLimiter | None:
    """The limiter ``[site]`` and ``[grid_meter]`` describe, feeding the runtime's limit
    core; None without a ``[site]`` table (then nothing changes)."""
    if settings.site is None:
        return None
    cfg, grid = settings.site, settings.grid_meter
    return SiteLimiter(
        SiteLimit(cfg.max_current, cfg.margin, cfg.fallback_current, cfg.sharing), runtime,
        runtime.limits,
        grid_meter, connector_max=settings.connectors.max_current,
        poll_interval=grid.poll_interval if grid is not None else 1.0,
        fault_after=grid.fault_after if grid is not None else 3.0,
        reading_max_age=settings.meter.fault_after, phases=settings.connectors.phases,
        report=backend_warning(runtime),
    )
