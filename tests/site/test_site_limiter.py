"""The site limiter against a real grid meter: the Modbus driver over TCP to the meter
simulator, the session machine's own connector records, time passed in.

What a technician would see: the shares follow the house load, a silent grid meter
gives the fallback (logged and reported once), and its return restores the sharing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace

import pytest
import structlog

from agent.charging_profiles import Electrical, ProfileLimits, RateUnit
from agent.limits import Decision, LimitCore
from agent.session.model import Connector, Transaction
from agent.site_limit import SiteLimit
from agent.site_limiter import SiteLimiter
from drivers.modbus import ModbusBus, ModbusMeter, load_meter_model
from drivers.protocols import MeterReading, PilotState
from simulators.modbus_meter import MeterSimulator

GRID_UNIT = 100


@dataclass
class Charger:
    connectors: tuple[Connector, ...]


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
    runtime = Runtime(Charger((charging(1), charging(2))))
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
    assert len(core.calls) == 1

    # The house steps up to 14 A: from its second poll, 16 A are left, 8 A each.
    house(sim, 14.0, chargers=20.0)
    clock.now += 1
    await limiter.poll()
    assert len(core.calls) == 1
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
        "grid meter silent; the chargers share the fallback current"]

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
    assert core.calls == [({1: 6.0, 2: 6.0}, "site limit failed: fallback 12 A, equal share of 2")]
    assert [e["event"] for e in logs if e["log_level"] == "error"] == [
        "site limit failed; the chargers share the fallback current"]
    assert not meter.bus.connected  # the grid meter was closed on the way out
