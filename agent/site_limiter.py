"""The site limiter: reads the grid meter and gives each connector its share of the building.

Each poll (``[grid_meter] poll_interval``, 1 s by default) it reads the grid meter, takes
the connectors' own latest readings and states from the runtime, works out the budget
and the shares with :mod:`agent.site_limit` (pure), and hands them to the limit core
(``set_site``), which alone decides what the pilots offer. A house load step therefore
reaches the pilots within a poll, and the EVs within the 5 s IEC 61851-1 gives them.

A grid meter that stops answering (or repeats the very same frame) for ``fault_after``
makes the chargers share ``[site] fallback_current``: logged once as a warning, and
reported once to the backend, then logged and reported once more when it answers again.
The report is a StatusNotification on connector 0 that keeps connector 0's status and
its standing, only adding errorCode OtherError with vendorErrorCode GridMeterFailure:
the one OCPP 1.6 way to tell the backend of a problem that does not stop charging
(a fault through the state machine would make the charger Faulted, and the e-stop
already uses OtherError as a fault there, so the two must not share a fault code).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import structlog

from drivers.protocols import DeviceError, EnergyMeter, MeterReading

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
#: The errorCode and vendorErrorCode of the backend report while the grid meter is silent.
GRID_METER_ERROR = "OtherError"
GRID_METER_VENDOR_CODE = "GridMeterFailure"
GRID_METER_INFO = "grid meter not answering: fallback"


class LimitSink(Protocol):
    """The limit core's door for the building's share (``agent.limits.LimitCore``)."""

    def set_site(self, limits: Mapping[int, float] | None, reason: str) -> None: ...


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
        self._budget: Budget | None = None
        #: The budget shared last (it rises only in steps, see site_limit.steady).
        self._planned: float | None = None
        #: What was last published (the technician's view: ``reason`` says why).
        self.shares: dict[int, float] | None = None
        self.reason = ""

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
        self._planned = steady(self._planned, budget.amperes)
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
        budget = fallback_budget(self.site, "site limit failed")
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
        reading = await self._read_grid()
        if reading is not None and self._wall() - reading.timestamp <= self.fault_after:
            self._last_good = now
            chargers = phase_sum(r.current_a for r in self._fresh_readings().values())
            self._house.append(tuple(max(0.0, abs(g) - (chargers[p] if p < len(chargers) else 0.0))
                                     for p, g in enumerate(reading.current_a)))
            if self.silent:
                self.silent = False
                log.info("grid meter answers again; sharing what the fuse leaves", meter=self._meter_name)
                await self._tell(False)
            house = house_load(self._house)
            return metered_budget(self.site, house, ())
        since = self._last_good if self._last_good is not None else self._started
        if now - since < self.fault_after and self._budget is not None:
            return None
        if not self.silent and now - since >= self.fault_after:
            self.silent = True
            self._house.clear()
            log.warning("grid meter silent; the chargers share the fallback current", meter=self._meter_name,
                        fallback_a=self.site.fallback_current, silent_s=round(now - since, 1))
            await self._tell(True)
        return fallback_budget(self.site)

    @property
    def _meter_name(self) -> str:
        return str(getattr(self.grid_meter, "name", "grid meter"))

    async def _read_grid(self) -> MeterReading | None:
        """The grid meter's reading, opening it first if needed; None when it does not
        answer (the driver logs its own failure and recovery once)."""
        assert self.grid_meter is not None
        try:
            if not self._opened:
                await self.grid_meter.open()
                self._opened = True
            return await self.grid_meter.read()
        except DeviceError:
            return None

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

    def _demands(self, now: float) -> list[Demand]:
        readings = self._fresh_readings()
        demands = []
        for conn in self.runtime.charger.connectors:
            n = conn.id
            tx = conn.transaction
            session = tx is not None and not getattr(tx, "refused", False)
            if not session:
                self._sessions.pop(n, None)
                self._underuse.pop(n, None)
                demands.append(Demand(n, max_a=self.connector_max, session=False))
                continue
            started = self._sessions.setdefault(n, now)
            charging = bool(getattr(conn.pilot, "wants_power", False))
            reading = readings.get(n)
            drawn = max((abs(a) for a in reading.current_a), default=0.0) if reading is not None else None
            since = underuse_since(self._underuse.get(n), drawn, conn.offer_a, charging, now)
            if since is None:
                self._underuse.pop(n, None)
            else:
                self._underuse[n] = since
            demands.append(Demand(n, max_a=self.connector_max, session=True, charging=charging, started=started,
                                  cap_a=underuse_cap(since, drawn, now)))
        return demands


def _shape(reason: str) -> str:
    """A reason without its numbers: whether it says something new (a session more, the
    fallback) or only that the house's load moved a little."""
    return "".join(c for c in reason if not c.isdigit() and c != ".")


def backend_warning(runtime: ChargerRuntime) -> Report:
    """The grid meter's report to the backend: connector 0's status as it stands, with
    errorCode OtherError and vendorErrorCode GridMeterFailure while the meter is silent,
    and connector 0's own report again once it answers (see the module's docstring)."""

    async def report(silent: bool) -> None:
        from .store import utc_now

        current = runtime.statuses.get(0)
        status = current.status if current is not None else "Available"
        if silent:
            code, info, vendor = GRID_METER_ERROR, GRID_METER_INFO, GRID_METER_VENDOR_CODE
        elif current is not None:
            code, info, vendor = current.error_code, current.info, current.vendor_error_code
        else:
            code, info, vendor = "NoError", "", ""
        await runtime.db.run(runtime.journal.record_status, 0, status, code, utc_now(), info, vendor)
        runtime.uplink.wake()

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
        reading_max_age=settings.meter.fault_after, report=backend_warning(runtime),
    )
