"""The site limiter against a real grid meter: the Modbus driver over TCP to the meter
simulator, the session machine's own connector records, time passed in.

What a technician would see: the shares follow the house load, a silent grid meter
gives the fallback (logged and reported once), and its return restores the sharing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace

import pytest
import structlog

from agent.charging_profiles import Electrical, ProfileLimits, RateUnit
from agent.limits import Decision, LimitCore
from agent.session.model import Connector, Policy, Transaction
from agent.site_limit import SiteLimit
from agent.site_limiter import SiteLimiter
from drivers.modbus import ModbusBus, ModbusMeter, load_meter_model
from drivers.protocols import MeterReading, PilotState
from simulators.modbus_meter import MeterSimulator

GRID_UNIT = 100


@dataclass
class Charger:
    connectors: tuple[Connector, ...]
    #: What the session machine obeys: the limiter asks it whether an EV is offered
    #: current before its transaction (TxStartPoint EnergyTransfer).
    policy: Policy = field(default_factory=Policy)


@dataclass
class Runtime:
    """The two things the limiter reads of the agent's runtime."""

    charger: Charger
    readings: dict[int, MeterReading] = field(default_factory=dict)


@dataclass
class Published:
    """The real limit core, with a note of each share the limiter handed it."""

    core: LimitCore = field(default_factory=lambda: LimitCore(
        numbers=(1, 2), electrical=Electrical(), max_current=32.0, state=None,
        limits=lambda: ProfileLimits(10, frozenset({RateUnit.AMPS}), 24, 10), publish=lambda n, amps: None))
    calls: list[tuple[dict[int, float] | None, str]] = field(default_factory=list)

    def set_site(self, limits: Mapping[int, float] | None, reason: str) -> None:
        self.calls.append((None if limits is None else dict(limits), reason))
        self.core.set_site(limits, reason)

    def limit_without_site(self, connector: int) -> float:
        return self.core.limit_without_site(connector)

    @property
    def last(self) -> tuple[dict[int, float] | None, str]:
        return self.calls[-1]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def grid() -> AsyncIterator[tuple[MeterSimulator, ModbusMeter]]:
    async with MeterSimulator("sdm630", units=[GRID_UNIT], seed=7) as sim:
        port = await sim.start_tcp()
        meter = ModbusMeter(ModbusBus.tcp("127.0.0.1", port, timeout=0.2), GRID_UNIT, load_meter_model("sdm630"))
        try:
            yield sim, meter
        finally:
            await meter.close()


def charging(n: int, offer: float = 16.0) -> Connector:
    return Connector(id=n, pilot=PilotState.C, transaction=Transaction("04A1B2C3", None), offer_a=offer)


def own_reading(amperes: float) -> MeterReading:
    import time

    return MeterReading(time.time(), 1000.0, amperes * 690, (amperes,) * 3, (230.0,) * 3)


def house(sim: MeterSimulator, amperes: float, chargers: float = 0.0) -> None:
    sim[GRID_UNIT].values.currents = [amperes + chargers] * 3


async def test_shares_follow_the_house_and_a_silent_grid_meter_gives_the_fallback_once(grid):
    sim, meter = grid
    runtime = Runtime(Charger((charging(1), charging(2))), readings={1: own_reading(0.0), 2: own_reading(0.0)})
    core, reports, clock = Published(), [], Clock()

    async def report(silent: bool) -> None:
        reports.append(silent)

    site = SiteLimit(max_current=32, margin=2, fallback_current=12, sharing="equal")
    limiter = SiteLimiter(site, runtime, core, meter, connector_max=32, fault_after=3.0, report=report, clock=clock)

    house(sim, 10.0)
    await limiter.poll()
    assert core.last == ({1: 10.0, 2: 10.0}, "site 32 A - house 10 A - margin 2 A = 20 A, equal share of 2")
    # What the limit core decides from it, and the source a technician reads in `ladda limits`.
    assert core.core.decided(1) == Decision(
        10.0, "site limit: site 32 A - house 10 A - margin 2 A = 20 A, equal share of 2")

    # Both EVs draw their 10 A; the grid meter sees them on top of the house: nothing changes.
    runtime.readings = {1: own_reading(10.0), 2: own_reading(10.0)}
    house(sim, 10.0, chargers=20.0)
    clock.now += 1
    await limiter.poll()
    assert len(core.calls) == 2  # the shares at creation, then the first poll's

    # The house steps up to 14 A: from its second poll, 16 A are left, 8 A each.
    house(sim, 14.0, chargers=20.0)
    clock.now += 1
    await limiter.poll()
    assert len(core.calls) == 2  # the shares at creation, then the first poll's
    clock.now += 1
    await limiter.poll()
    assert core.last == ({1: 8.0, 2: 8.0}, "site 32 A - house 14 A - margin 2 A = 16 A, equal share of 2")

    # One poll where the EVs' own meters lag behind (read before they followed the new
    # offer: 0 A) makes the house look like 30 A: outvoted, nobody is suspended for it.
    runtime.readings = {1: own_reading(0.0), 2: own_reading(0.0)}
    house(sim, 14.0, chargers=16.0)
    clock.now += 1
    await limiter.poll()
    assert core.last[0] == {1: 8.0, 2: 8.0}
    runtime.readings = {1: own_reading(8.0), 2: own_reading(8.0)}

    # The house steps up to 20 A: 10 A left, one EV keeps charging (the other is suspended under 6 A).
    house(sim, 20.0, chargers=16.0)
    for _ in range(2):
        clock.now += 1
        await limiter.poll()
    assert core.last == ({1: 10.0, 2: 0.0}, "site 32 A - house 20 A - margin 2 A = 10 A, equal share of 1, "
                                            "1 suspended (under 6 A)")
    # The house comes back down to 4 A: 26 A left, 13 A each from its second poll.
    house(sim, 4.0, chargers=10.0)
    runtime.readings = {1: own_reading(10.0), 2: own_reading(0.0)}
    clock.now += 1
    await limiter.poll()
    assert core.last[0] == {1: 10.0, 2: 0.0}
    clock.now += 1
    await limiter.poll()
    assert core.last[0] == {1: 13.0, 2: 13.0}

    # The grid meter goes silent: the shares stand until fault_after, then the fallback applies.
    sim[GRID_UNIT].silent = True
    with structlog.testing.capture_logs() as logs:
        clock.now += 1
        await limiter.poll()
        assert core.last[0] == {1: 13.0, 2: 13.0} and reports == []
        for _ in range(3):
            clock.now += 1
            await limiter.poll()
    assert core.last == ({1: 6.0, 2: 6.0}, "grid meter silent: fallback 12 A, equal share of 2")
    assert reports == [True]
    assert [e["event"] for e in logs if e["log_level"] == "warning" and "grid meter" in e["event"]] == [
        "grid meter not usable", "grid meter silent; the chargers share the fallback current"]

    # It answers again: logged and reported once, the sharing resumes.
    sim[GRID_UNIT].silent = False
    house(sim, 4.0, chargers=12.0)
    runtime.readings = {1: own_reading(6.0), 2: own_reading(6.0)}
    with structlog.testing.capture_logs() as logs:
        for _ in range(2):
            clock.now += 1
            await limiter.poll()
    assert core.last == ({1: 13.0, 2: 13.0}, "site 32 A - house 4 A - margin 2 A = 26 A, equal share of 2")
    assert reports == [True, False]
    assert [e["event"] for e in logs if "grid meter" in e["event"]] == [
        "grid meter answers again; sharing what the fuse leaves"]


async def test_a_grid_meter_silent_from_the_start_gives_the_fallback_at_once(grid):
    sim, meter = grid
    sim[GRID_UNIT].silent = True
    runtime = Runtime(Charger((charging(1), Connector(id=2))))
    core, clock = Published(), Clock()
    limiter = SiteLimiter(SiteLimit(32, 2, 10, "equal"), runtime, core, meter, connector_max=32, clock=clock)
    await limiter.poll()
    # The safe share from the first poll on; connector 2 has no session: it gets nothing left over.
    assert core.last[0] == {1: 10.0, 2: 0.0}
    assert not limiter.silent  # not yet called silent: fault_after has not passed


async def test_without_a_grid_meter_the_fuse_is_shared_and_first_come_serves_the_earlier_session():
    conns = (charging(1), Connector(id=2))
    runtime = Runtime(Charger(conns))
    core, clock = Published(), Clock()
    limiter = SiteLimiter(SiteLimit(40, sharing="first_come"), runtime, core, None, connector_max=32, clock=clock)
    await limiter.poll()
    assert core.last == ({1: 32.0, 2: 8.0}, "site 40 A, no grid meter, first come first served of 1")
    clock.now += 1
    runtime.charger = Charger((conns[0], charging(2)))
    await limiter.poll()
    assert core.last[0] == {1: 32.0, 2: 8.0}  # connector 1 came first: it keeps its maximum


async def test_an_ev_using_less_than_offered_gives_its_share_back_and_a_paused_one_keeps_the_minimum():
    runtime = Runtime(Charger((charging(1, offer=16.0), charging(2, offer=16.0))))
    core, clock = Published(), Clock()
    limiter = SiteLimiter(SiteLimit(32), runtime, core, None, connector_max=32, clock=clock)
    await limiter.poll()
    assert core.last[0] == {1: 16.0, 2: 16.0}
    # Connector 1's car takes 6 A of its 16 A (a small on-board charger): after a while its share is capped.
    runtime.readings = {1: own_reading(6.0), 2: own_reading(16.0)}
    for _ in range(16):
        clock.now += 1
        await limiter.poll()
    assert core.last[0] == {1: 9.0, 2: 23.0}
    # Connector 2's car pauses (pilot B): it keeps 6 A to resume with; connector 1 keeps its cap.
    runtime.charger = Charger((charging(1, offer=9.0), replace(charging(2, offer=23.0), pilot=PilotState.B)))
    runtime.readings = {1: own_reading(6.0), 2: own_reading(0.0)}
    clock.now += 1
    await limiter.poll()
    assert core.last[0] == {1: 9.0, 2: 6.0}


def test_the_grid_meter_shares_the_connector_meters_line_or_gets_its_own(tmp_path):
    from agent.hardware import build_hardware
    from agent.settings import parse_settings

    head = ('[charge_point]\nid = "CP"\n[backend]\nurl = "ws://127.0.0.1:9000/ocpp"\n[connectors]\ncount = 2\n'
            '[meter]\ndriver = "modbus"\nmodel = "sdm630"\ntransport = "tcp"\nhost = "10.0.0.5"\nunit_ids = [1, 2]\n'
            '[site]\nmax_current = 32\n')
    grid = '[grid_meter]\ndriver = "modbus"\nmodel = "em340"\ntransport = "tcp"\nhost = "{host}"\nunit_id = 10\n'

    def hardware(text: str):
        return build_hardware(parse_settings(text, tmp_path / "ladda.toml"), tmp_path)

    shared = hardware(head + grid.format(host="10.0.0.5"))
    assert isinstance(shared.grid_meter, ModbusMeter)
    assert shared.grid_meter.bus is shared.meters[1].bus  # one lock: one request at a time on the line
    assert (shared.grid_meter.unit_id, shared.grid_meter.model.key) == (10, "em340")
    assert shared.grid_meter not in shared.devices()  # a silent grid meter never holds the start up
    own = hardware(head + grid.format(host="10.0.0.6"))
    assert own.grid_meter is not None and own.grid_meter.bus is not own.meters[1].bus  # type: ignore[attr-defined]
    assert own.grid_meter.name == "meter em340 unit 10 on tcp 10.0.0.6:502"  # type: ignore[attr-defined]
    assert hardware(head).grid_meter is None


class Broken(dict):
    """Readings that cannot be read (a bug somewhere in the runtime)."""

    def items(self):  # type: ignore[override]
        raise RuntimeError("readings broken")


async def test_a_failing_poll_shares_the_fallback_logs_once_and_the_task_goes_on(grid):
    import asyncio

    sim, meter = grid
    house(sim, 0.0)
    runtime = Runtime(Charger((charging(1), charging(2))), readings=Broken())
    core = Published()
    limiter = SiteLimiter(SiteLimit(32, 2, 12), runtime, core, meter, connector_max=32, poll_interval=0.02)
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(limiter.run())
        await asyncio.sleep(0.5)
        assert not task.done()  # the task (and the agent's TaskGroup) goes on
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    # Its first shares, published when it was made, are the fallback too: no change to publish.
    assert core.calls == [({1: 6.0, 2: 6.0}, "grid meter not read yet: fallback 12 A, equal share of 2")]
    assert [e["event"] for e in logs if e["log_level"] == "error"] == [
        "site limit failed; the chargers share the fallback current"]
    assert not meter.bus.connected  # the grid meter was closed on the way out


async def test_an_ev_ramping_down_after_a_cut_does_not_raise_the_budget_while_the_grid_is_over(grid):
    """The EV's own meter lags the grid meter while the car follows a lower offer: its
    old draw must not be taken off the grid's current (the house would look lighter and
    the budget rise again while the grid is still above the fuse)."""
    sim, meter = grid
    conn = charging(1, offer=30.0)
    runtime = Runtime(Charger((conn, Connector(id=2))))
    core, clock = Published(), Clock()
    site = SiteLimit(max_current=32, margin=2)
    limiter = SiteLimiter(site, runtime, core, meter, connector_max=32, clock=clock)
    draw, seen = 30.0, [30.0, 30.0]  # what the EV draws; what its own meter showed (one poll behind)
    house_a, over = 0.0, []
    for t in range(25):
        if t == 3:
            house_a = 20.0  # the oven: 50 A on the grid until the EV follows
        house(sim, house_a, chargers=draw)
        runtime.readings = {1: own_reading(seen[-2])}
        await limiter.poll()
        limit = core.core.decided(1).amps
        offer = 30.0 if limit is None else min(30.0, limit)
        offer = offer if offer >= 6 else 0.0
        runtime.charger = Charger((replace(conn, offer_a=offer), Connector(id=2)))
        if t >= 3:
            over.append((t, offer, house_a + draw))
        draw += (offer - draw) * 0.6  # the car follows 60 % of the way each second
        seen.append(draw)
        clock.now += 1
    # Once cut, the offer is never raised while the grid is still over 30 A (32 - margin).
    for (t, offer, grid_a), (_, nxt, _) in zip(over, over[1:]):
        if grid_a > 30.0:
            assert nxt <= offer, (t, over)
    assert sum(1 for _, _, grid_a in over if grid_a > 32.0) <= 4, over
    assert over[-1][1] in (9.0, 10.0)  # it settles at what the fuse leaves: 32 - 20 - 2 (less a step)


async def test_a_grid_reading_with_fewer_phases_than_the_connectors_use_is_a_grid_meter_fault():
    """A single-phase grid meter on a three-phase site never sees the other phases' house
    load: its readings are not used, and the fallback applies after fault_after."""
    async with MeterSimulator("sdm120", units=[GRID_UNIT], seed=7) as sim:
        port = await sim.start_tcp()
        meter = ModbusMeter(ModbusBus.tcp("127.0.0.1", port, timeout=0.2), GRID_UNIT, load_meter_model("sdm120"))
        try:
            runtime = Runtime(Charger((charging(1), charging(2))))
            core, clock = Published(), Clock()
            limiter = SiteLimiter(SiteLimit(32, 2, 12), runtime, core, meter, connector_max=32, fault_after=3.0,
                                  phases=3, clock=clock)
            with structlog.testing.capture_logs() as logs:
                for _ in range(5):
                    await limiter.poll()
                    clock.now += 1
            assert core.last == ({1: 6.0, 2: 6.0}, "grid meter reads too few phases: fallback 12 A, equal share of 2")
            assert limiter.silent
            assert [e["problem"] for e in logs if e["event"] == "grid meter not usable"] == [
                "the reading has 1 phase currents, the connectors use 3 phases: the house's load on the others "
                "is unseen"]
        finally:
            await meter.close()


async def test_the_limit_core_is_limited_from_the_limiters_creation_before_its_first_poll(grid):
    """A transaction resumed at start-up must not be offered the connector maximum while
    the limiter's first poll waits for the grid meter."""
    sim, meter = grid
    runtime = Runtime(Charger((charging(1), Connector(id=2))))
    core = Published()
    SiteLimiter(SiteLimit(32, 2, 12), runtime, core, meter, connector_max=32)
    # No await yet: the fallback is already in the limit core.
    assert core.core.decided(1) == Decision(12.0, "site limit: grid meter not read yet: fallback 12 A, "
                                                  "equal share of 1")
    assert core.core.decided(2).amps == 0.0
    # Without a grid meter the fuse is known at once.
    unmetered = Published()
    SiteLimiter(SiteLimit(20), runtime, unmetered, None, connector_max=32)
    assert unmetered.core.decided(1).amps == 20.0


async def test_a_grid_meter_read_that_never_returns_gives_the_fallback_after_fault_after(grid):
    """A read stuck for good (here: the shared bus wedged by another device's request)
    must not freeze the last shares: the fallback comes at fault_after all the same."""
    import asyncio

    sim, meter = grid
    house(sim, 2.0)
    runtime = Runtime(Charger((charging(1), charging(2))), readings={1: own_reading(0.0), 2: own_reading(0.0)})
    core = Published()
    limiter = SiteLimiter(SiteLimit(32, 2, 12), runtime, core, meter, connector_max=32, poll_interval=0.1,
                          fault_after=0.5)
    task = asyncio.create_task(limiter.run())
    try:
        await asyncio.sleep(0.3)
        assert limiter.shares is not None and limiter.shares[1] >= 13.0 and not limiter.silent
        with structlog.testing.capture_logs() as logs:
            async with meter.bus._lock:  # every later request waits on the line forever
                started = asyncio.get_running_loop().time()
                while not limiter.silent and asyncio.get_running_loop().time() - started < 3.0:
                    await asyncio.sleep(0.02)
                waited = asyncio.get_running_loop().time() - started
                assert limiter.silent and waited < 0.5 + 0.3, waited
                assert limiter.shares == {1: 6.0, 2: 6.0}
                await asyncio.sleep(0.5)
        assert [e["problem"] for e in logs if e["event"] == "grid meter not usable"] == [
            "no answer: the read did not return in time (the link or the bus is stuck)"]
        # Once the line is free again, the sharing resumes.
        for _ in range(100):
            if not limiter.silent:
                break
            await asyncio.sleep(0.02)
        assert not limiter.silent
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize("sharing", ["equal", "first_come"])
async def test_shares_follow_each_connectors_own_lower_limit_so_no_budget_is_stranded(sharing):
    """Connector 1's cable is rated 13 A: a bigger share would be stranded there (the
    limit core offers 13 A whatever the site gives); connector 2 gets the rest."""
    runtime = Runtime(Charger((charging(1), charging(2))))
    core, clock = Published(), Clock()
    core.core.set_cable(1, 13.0)
    limiter = SiteLimiter(SiteLimit(32, sharing=sharing), runtime, core, None, connector_max=32, clock=clock)
    await limiter.poll()
    assert core.last[0] == {1: 13.0, 2: 19.0}
    assert core.core.limit_without_site(1) == 13.0 and core.core.limit_without_site(2) == 32.0
    assert (core.core.decided(1).amps, core.core.decided(2).amps) == (13.0, 19.0)
    # A connector whose own limit offers nothing (a cable it cannot read) takes no share either.
    core.core.set_cable(1, 0.0)
    clock.now += 1
    await limiter.poll()
    assert core.last[0] == {1: 0.0, 2: 32.0}


async def test_a_charging_connector_without_a_fresh_reading_shares_the_fallback_logged_once(grid):
    """Its draw cannot be told from the house's: counted as house load, it cut its own
    share and then raised it again (the EV suspended and resumed every other poll)."""
    sim, meter = grid
    runtime = Runtime(Charger((charging(1), charging(2))), readings={2: own_reading(10.0)})
    core, clock = Published(), Clock()
    limiter = SiteLimiter(SiteLimit(32, 2, 12), runtime, core, meter, connector_max=32, clock=clock)
    with structlog.testing.capture_logs() as logs:
        for draw in (0.0, 10.0, 0.0, 10.0, 10.0):  # connector 1's EV, unseen by its own meter
            house(sim, 4.0, chargers=10.0 + draw)
            runtime.readings = {2: own_reading(10.0)}
            await limiter.poll()
            assert core.last == ({1: 6.0, 2: 6.0}, "connector 1 meter not read: fallback 12 A, equal share of 2")
            clock.now += 1
        # Its meter reads again: the sharing resumes (from the second poll of the house load).
        runtime.readings = {1: own_reading(10.0), 2: own_reading(10.0)}
        house(sim, 4.0, chargers=20.0)
        for _ in range(2):
            await limiter.poll()
            clock.now += 1
    assert core.last[0] == {1: 13.0, 2: 13.0}
    assert [e["event"] for e in logs if "meter" in e["event"] and e["event"] != "site limit"] == [
        "a charging connector's meter gives no fresh reading; the chargers share the fallback current",
        "every charging connector's meter reads again; sharing what the fuse leaves"]


async def test_an_ev_tapering_with_a_noisy_meter_keeps_one_cap():
    """Before: the cap was the draw + 3 A rounded down and lifted within 2 A of the offer,
    so an EV at 10 A whose meter wobbled by 0.1 A changed the shares every poll."""
    runtime = Runtime(Charger((charging(1), charging(2))))
    core, clock = Published(), Clock()
    limiter = SiteLimiter(SiteLimit(32), runtime, core, None, connector_max=32, clock=clock)
    for t in range(60):
        await limiter.poll()
        offers = {n: core.core.decided(n).amps for n in (1, 2)}
        runtime.charger = Charger(tuple(replace(c, offer_a=offers[c.id]) for c in runtime.charger.connectors))
        runtime.readings = {1: own_reading(min(9.9 if t % 2 else 10.1, offers[1])), 2: own_reading(offers[2])}
        clock.now += 1
        if t == 29:
            settled = len(core.calls)
    assert core.last[0] == {1: 13.0, 2: 19.0}  # 10.1 + 3 rounded up; the rest to connector 2
    assert len(core.calls) == settled  # nothing changed in the last 30 polls
    # It wants more: over cap - 1 for two polls running lifts the cap.
    runtime.readings = {1: own_reading(12.5), 2: own_reading(19.0)}
    for _ in range(2):
        await limiter.poll()
        clock.now += 1
    assert core.last[0] == {1: 16.0, 2: 16.0}


async def test_a_house_load_wobbling_by_tenths_changes_no_share(grid):
    """A house load of 10 A wobbling by +-0.8 A between polls, two EVs drawing their offers:
    50 share changes in 10 minutes before (a raise of 1 A whatever the EVs sharing)."""
    import random

    sim, meter = grid
    rng = random.Random(1)
    runtime = Runtime(Charger((charging(1), charging(2))), readings={1: own_reading(0.0), 2: own_reading(0.0)})
    core, clock = Published(), Clock()
    limiter = SiteLimiter(SiteLimit(32, margin=2), runtime, core, meter, connector_max=32, clock=clock)
    drawn = 0.0
    for _ in range(120):
        house(sim, 10.0 + rng.uniform(-0.8, 0.8), chargers=drawn)
        await limiter.poll()
        offers = {n: core.core.decided(n).amps or 32.0 for n in (1, 2)}
        runtime.charger = Charger(tuple(replace(c, offer_a=offers[c.id]) for c in runtime.charger.connectors))
        runtime.readings = {n: own_reading(a) for n, a in offers.items()}
        drawn = sum(offers.values())
        clock.now += 1
    assert len(core.calls) <= 4, core.calls


@pytest.mark.parametrize(
    ("model", "fault", "words"),
    [
        ("abb-b23", "grid meter answers with an error", "exception code 2 (illegal data address)"),
        ("em340", "grid meter answers with an error", "implausible reading"),
        ("sdm630", "grid meter frozen", "the very same registers for more than 3 s (a hung meter)"),
        ("sdm630", "grid meter silent", "no reply"),
    ],
)
async def test_a_grid_meter_in_error_frozen_or_silent_is_told_apart_and_its_error_logged_once(model, fault, words):
    """The technician reads why: a wrong model (it answers, with an exception or values
    no meter measures), a hung meter (the same frame again), or no answer at all."""
    import time as wall

    async with MeterSimulator("sdm630", units=[GRID_UNIT], seed=7) as sim:
        port = await sim.start_tcp()
        meter = ModbusMeter(ModbusBus.tcp("127.0.0.1", port, timeout=0.1), GRID_UNIT, load_meter_model(model))
        runtime = Runtime(Charger((charging(1), Connector(id=2))), readings={1: own_reading(0.0)})
        core, clock = Published(), Clock()
        offset = [0.0]
        limiter = SiteLimiter(SiteLimit(32, 2, 12), runtime, core, meter, connector_max=32, fault_after=3.0,
                              clock=clock, wall_clock=lambda: wall.time() + offset[0])
        try:
            if fault == "grid meter frozen":
                await limiter.poll()  # one good reading, then the registers freeze
                sim[GRID_UNIT].stale = True
            elif fault == "grid meter silent":
                sim[GRID_UNIT].silent = True
            with structlog.testing.capture_logs() as logs:
                for _ in range(6):
                    clock.now += 1
                    offset[0] += 1
                    runtime.readings = {1: own_reading(0.0)}
                    await limiter.poll()
            assert core.last[1] == f"{fault}: fallback 12 A, equal share of 1"
            problems = [e for e in logs if e["event"] == "grid meter not usable"]
            assert len(problems) == 1 and problems[0]["fault"] == fault and words in problems[0]["problem"], problems
            assert [e["event"] for e in logs if e["event"].endswith("the chargers share the fallback current")] == [
                f"{fault}; the chargers share the fallback current"]
        finally:
            await meter.close()


async def test_a_blind_connector_meter_never_lifts_an_overloaded_site_to_the_fallback(grid):
    """The fallback is the safe current when the house cannot be known; with the grid
    meter still answering, it never goes above what the fuse is seen to leave. Here the
    house takes 22 A of a 32 A site (2 A margin): 8 A for the chargers, whatever the
    16 A fallback says, while connector 1's own meter gives no fresh reading."""
    sim, meter = grid
    runtime = Runtime(Charger((charging(1, 8.0), charging(2, 0.0))), readings={1: own_reading(8.0), 2: own_reading(0.0)})
    core, clock = Published(), Clock()
    limiter = SiteLimiter(SiteLimit(32, 2, 16), runtime, core, meter, connector_max=32, clock=clock)
    for _ in range(3):
        house(sim, 22.0, chargers=8.0)
        await limiter.poll()
        clock.now += 1
    assert core.last[0] == {1: 8.0, 2: 0.0}
    for _ in range(4):
        runtime.readings = {2: own_reading(0.0)}  # connector 1's meter: nothing fresh
        house(sim, 22.0, chargers=8.0)
        await limiter.poll()
        clock.now += 1
        shares = core.last[0]
        assert sum(shares.values()) <= 8.0, core.last
        assert shares[2] == 0.0, core.last
