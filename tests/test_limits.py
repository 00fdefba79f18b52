"""The limit core: which limit wins, why, and that installed profiles outlive a restart.

Real SQLite for persistence; the clock is given, so period boundaries are exact.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent.charging_profiles import (
    Electrical,
    Kind,
    Period,
    Profile,
    ProfileLimits,
    Purpose,
    RateUnit,
    Recurrency,
    Schedule,
)
from agent.limits import LimitCore
from agent.store import ChargerState, Database

T0 = datetime(2026, 12, 7, 17, 59, 30, tzinfo=timezone.utc)
LIMITS = ProfileLimits(max_stack_level=10, allowed_units=frozenset(RateUnit), max_periods=48, max_installed=32)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def absolute(pid: int, purpose: Purpose, connector: int, periods: list[tuple[int, float]], *, level: int = 0,
             start: datetime = T0, unit: RateUnit = RateUnit.AMPS, tx: int | None = None) -> Profile:
    return Profile(pid, connector, purpose, level, Kind.ABSOLUTE,
                   Schedule(unit, tuple(Period(s, v) for s, v in periods), start=start), transaction_id=tx)


@pytest.fixture
def db(tmp_path: Path):
    database = Database(tmp_path)
    database.open()
    yield database
    database.close()


def make(db: Database | None = None, *, count: int = 2, clock: Clock | None = None, max_current: float = 32.0):
    published: list[tuple[int, float | None]] = []
    core = LimitCore(
        numbers=range(1, count + 1), electrical=Electrical(3, 230.0), max_current=max_current,
        state=None if db is None else ChargerState(db), limits=lambda: LIMITS,
        publish=lambda n, a: published.append((n, a)), clock=clock or Clock(),
    )
    return core, published


async def test_a_tx_default_for_every_connector_limits_each() -> None:
    core, published = make()
    await core.install(absolute(1, Purpose.TX_DEFAULT, 0, [(0, 16.0)]))
    assert published == [(1, 16.0), (2, 16.0)]
    assert core.decided(1).source == "charging profile 1 (TxDefaultProfile, stack level 0)"


async def test_watts_are_turned_into_amperes_per_phase() -> None:
    core, published = make()
    await core.install(absolute(1, Purpose.TX_DEFAULT, 1, [(0, 6900.0)], unit=RateUnit.WATTS))
    assert published == [(1, pytest.approx(10.0))]


async def test_a_charge_point_max_is_shared_by_the_connectors_charging() -> None:
    core, published = make()
    await core.install(absolute(1, Purpose.CHARGER_MAX, 0, [(0, 20.0)]))
    assert core.decided(1).amps == 20.0 and core.decided(2).amps == 20.0  # nobody charges: either may take it
    core.transaction_started(1, 11, T0)
    assert core.decided(1).amps == 20.0
    core.transaction_started(2, 12, T0)
    assert core.decided(1).amps == 10.0 and core.decided(2).amps == 10.0
    assert core.decided(2).source.endswith("shared by 2 connectors")
    await core.transaction_ended(1, 11)
    assert core.decided(2).amps == 20.0


async def test_a_connector_offering_before_its_transaction_takes_its_share_of_the_cap() -> None:
    """OCPP 2.0.1 TxStartPoint EnergyTransfer: an authorized EV is offered current before
    its transaction begins; it must not be offered the whole cap while another charges."""
    core, _ = make()
    await core.install(absolute(1, Purpose.CHARGER_MAX, 0, [(0, 20.0)]))
    core.transaction_started(1, 11, T0)
    core.offering_before_start(2, True)
    assert core.decided(1).amps == 10.0 and core.decided(2).amps == 10.0
    core.transaction_started(2, 12, T0)  # it began: still one share, now as a transaction
    assert core.decided(2).amps == 10.0
    await core.transaction_ended(2, 12)
    assert core.decided(1).amps == 20.0
    core.offering_before_start(2, True)
    core.offering_before_start(2, False)  # the EV left before drawing
    assert core.decided(1).amps == 20.0


async def test_the_lowest_source_wins_and_says_so() -> None:
    core, _ = make()
    await core.install(absolute(1, Purpose.TX_DEFAULT, 0, [(0, 16.0)]))
    core.set_cable(1, 13.0)
    assert (core.decided(1).amps, core.decided(1).source) == (13.0, "cable rated 13 A")
    core.set_site({1: 8.5, 2: 8.5}, "site 32 A - house 15 A")
    assert core.decided(1).amps == 8.5 and core.decided(1).source == "site limit: site 32 A - house 15 A"
    core.set_site(None, "")
    core.set_cable(1, None)
    assert core.decided(1).amps == 16.0


async def test_nothing_but_the_connector_maximum_is_no_limit() -> None:
    core, published = make(max_current=16.0)
    core.update()
    assert core.decided(1).amps is None and core.decided(1).source == "connector maximum 16 A"
    await core.install(absolute(1, Purpose.TX_DEFAULT, 0, [(0, 20.0)]))  # above the maximum: not a limit
    assert core.decided(1).amps is None


async def test_a_tx_profile_ends_with_its_transaction() -> None:
    core, _ = make()
    core.transaction_started(1, 7, T0)
    profile = absolute(3, Purpose.TX, 1, [(0, 10.0)], tx=7)
    assert core.refusal(profile) is None
    await core.install(profile)
    assert core.decided(1).amps == 10.0
    await core.transaction_ended(1, 7)
    assert core.profiles == () and core.decided(1).amps is None


async def test_a_remote_starts_profile_limits_the_first_offer() -> None:
    core, published = make()
    tx = Profile(9, 0, Purpose.TX, 0, Kind.RELATIVE, Schedule(RateUnit.AMPS, (Period(0, 7.0),)))
    core.expect("04A1B2C3", 2, tx, 120)
    assert core.decided(2).amps == 7.0 and core.decided(1).amps is None
    core.forget_expected("04A1B2C3")
    assert core.decided(2).amps is None


async def test_a_remote_starts_profile_waits_only_for_its_own_transaction() -> None:
    clock = Clock()
    core, published = make(clock=clock)
    tx = Profile(9, 0, Purpose.TX, 0, Kind.RELATIVE, Schedule(RateUnit.AMPS, (Period(0, 7.0),)))
    core.expect("A", 1, tx, 120)
    core.transaction_started(2, 20, T0, "A")  # the same card, on the other connector
    assert await core.install_expected(2) == (None, None)
    assert core.decided(2).amps is None
    core.transaction_started(1, 10, T0, "A")
    profile, why = await core.install_expected(1)
    assert why is None and profile is not None and profile.transaction_id == 10
    assert [p.id for p in core.profiles] == [9] and core.waiting_tags() == set()
    # The limit never went back to the maximum between the start and the install.
    assert [a for n, a in published if n == 1] == [7.0]
    await core.transaction_ended(1, 10)
    core.expect("B", None, tx, 120)  # no connector named: whichever the driver plugs into
    core.transaction_started(1, 11, T0, "B")
    assert core.decided(1).amps == 7.0  # found by its card before it is installed
    clock.now = T0 + timedelta(seconds=121)
    assert await core.install_expected(1) == (None, None)  # too late: the remote start lapsed
    core.expect("C", 2, tx, 120)
    assert await core.clear(profile_id=9) == (tx,)  # cleared before its transaction started
    assert core.waiting_tags() == set() and core.decided(2).amps is None


async def test_changes_to_the_set_happen_one_at_a_time(db: Database) -> None:
    """A clear and a transaction's end racing on a slow disk lose neither change."""
    core, _ = make(db)
    core.transaction_started(1, 7, T0)
    await core.install(absolute(1, Purpose.TX_DEFAULT, 0, [(0, 16.0)]))
    await core.install(absolute(2, Purpose.TX, 1, [(0, 10.0)], tx=7))
    slow = db.run

    async def slower(func, *args, **kwargs):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.05)
        return await slow(func, *args, **kwargs)

    db.run = slower  # type: ignore[method-assign]
    await asyncio.gather(core.clear(profile_id=1), core.transaction_ended(1, 7),
                         core.install(absolute(4, Purpose.TX_DEFAULT, 2, [(0, 12.0)])))
    assert [p.id for p in core.profiles] == [4]
    again, _ = make(db)
    again.load()
    assert [p.id for p in again.profiles] == [4]


def test_a_charge_point_max_too_small_to_share_serves_the_first_come() -> None:
    from agent.limits import share_cap

    assert share_cap(10.0, {1: 32.0, 2: 32.0}, [2, 1]) == {2: 10.0, 1: 0.0}
    assert share_cap(20.0, {1: 32.0, 2: 32.0}, [1, 2]) == {1: 10.0, 2: 10.0}
    assert share_cap(20.0, {1: 6.0, 2: 32.0}, [1, 2]) == {1: 6.0, 2: 14.0}  # a capped one gives the rest back
    assert share_cap(20.0, {1: 0.0, 2: 32.0}, [1, 2]) == {1: 0.0, 2: 20.0}  # a suspended one takes nothing
    assert share_cap(14.0, {1: 32.0, 2: 32.0, 3: 32.0}, [3, 1, 2]) == {3: 8.0, 1: 6.0, 2: 0.0}


async def test_expired_profiles_leave_with_the_next_change() -> None:
    clock = Clock()
    core, _ = make(clock=clock)
    done = absolute(1, Purpose.TX_DEFAULT, 0, [(0, 16.0)], start=T0 - timedelta(hours=2))
    done = Profile(done.id, 0, done.purpose, 1, done.kind, Schedule(RateUnit.AMPS, done.schedule.periods,
                                                                       duration_s=3600, start=done.schedule.start))
    await core.install(done)
    await core.install(absolute(2, Purpose.TX_DEFAULT, 1, [(0, 10.0)]))
    assert [p.id for p in core.profiles] == [2]


async def test_a_refused_profile_changes_nothing() -> None:
    core, published = make()
    bad = absolute(1, Purpose.CHARGER_MAX, 1, [(0, 10.0)])
    assert core.refusal(bad) == "a ChargePointMaxProfile applies to the whole charger: connector must be 0, not 1"
    assert core.profiles == () and published == []


async def test_profiles_outlive_a_restart_and_cleared_ones_do_not_come_back(db: Database) -> None:
    core, _ = make(db)
    await core.install(absolute(1, Purpose.TX_DEFAULT, 0, [(0, 16.0)]))
    await core.install(absolute(2, Purpose.CHARGER_MAX, 0, [(0, 40.0), (3600, 20.0)], level=2))
    await core.install(absolute(3, Purpose.TX_DEFAULT, 1, [(0, 12.0)], level=1))
    assert await core.clear(profile_id=3) != ()
    again, _ = make(db)
    again.load()
    assert sorted(p.id for p in again.profiles) == [1, 2]
    assert {p.id: p for p in again.profiles} == {p.id: p for p in core.profiles}


async def test_same_stack_level_and_purpose_replaces_across_a_restart(db: Database) -> None:
    core, _ = make(db)
    await core.install(absolute(1, Purpose.TX_DEFAULT, 0, [(0, 16.0)], level=3))
    await core.install(absolute(2, Purpose.TX_DEFAULT, 0, [(0, 11.0)], level=3))
    again, _ = make(db)
    again.load()
    assert [p.id for p in again.profiles] == [2]


async def test_tx_profiles_of_transactions_gone_after_a_restart_are_removed(db: Database) -> None:
    core, _ = make(db)
    core.transaction_started(1, 7, T0)
    await core.install(absolute(3, Purpose.TX, 1, [(0, 10.0)], tx=7))
    await core.install(absolute(4, Purpose.TX_DEFAULT, 0, [(0, 16.0)]))
    again, _ = make(db)
    again.load()
    await again.forget_orphans()  # the transaction was closed by the restart's recovery
    assert [p.id for p in again.profiles] == [4]
    third, _ = make(db)
    third.load()
    assert [p.id for p in third.profiles] == [4]


async def test_the_timer_wakes_at_the_next_boundary() -> None:
    clock = Clock()
    core, published = make(clock=clock)
    # From 18:00, 10 A (the documented scenario: the backend caps a charging car at 18:00).
    await core.install(absolute(1, Purpose.TX_DEFAULT, 0, [(0, 32.0), (30, 10.0)]))
    assert core.seconds_to_next_change() == 30.0
    clock.now = T0 + timedelta(seconds=29, microseconds=600_000)
    assert core.seconds_to_next_change() == pytest.approx(0.4)
    clock.now = T0 + timedelta(seconds=30)
    core.update()
    assert published[-2:] == [(1, 10.0), (2, 10.0)]


async def test_a_daily_profile_turns_over_at_midnight() -> None:
    midnight = datetime(2026, 12, 8, tzinfo=timezone.utc)
    clock = Clock(midnight - timedelta(seconds=2))
    core, published = make(count=1, clock=clock)
    night = Profile(1, 0, Purpose.TX_DEFAULT, 0, Kind.RECURRING,
                    Schedule(RateUnit.AMPS, (Period(0, 32.0), Period(7 * 3600, 8.0)), start=midnight - timedelta(days=5)),
                    recurrency=Recurrency.DAILY)
    await core.install(night)
    assert core.decided(1).amps == 8.0
    assert core.seconds_to_next_change() == 2.0
    clock.now = midnight
    core.update()
    assert core.decided(1).amps is None and published[-1] == (1, None)


async def test_run_publishes_a_boundary_within_a_second() -> None:
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=2)
    core, published = make(count=1, clock=lambda: datetime.now(timezone.utc))
    await core.install(absolute(1, Purpose.TX_DEFAULT, 0, [(0, 20.0)], start=start))
    assert published == []  # not yet valid
    task = asyncio.create_task(core.run())
    try:
        while not published:
            await asyncio.sleep(0.01)
        late = (datetime.now(timezone.utc) - start).total_seconds()
        assert published == [(1, 20.0)]
        assert 0 <= late < 1.0
    finally:
        task.cancel()


async def test_the_limit_without_the_site_share_is_what_the_site_limiter_shares_by() -> None:
    core, _ = make()
    assert core.limit_without_site(1) == 32.0
    core.set_site({1: 8.0, 2: 8.0}, "site")
    assert core.limit_without_site(1) == 32.0 and core.decided(1).amps == 8.0  # its own share is left out
    core.set_cable(1, 20.0)
    await core.install(absolute(1, Purpose.TX_DEFAULT, 2, [(0, 16.0)]))
    assert (core.limit_without_site(1), core.limit_without_site(2)) == (20.0, 16.0)
    # A ChargePointMaxProfile's share counts, figured without the site's shares.
    core.transaction_started(1, 7, T0)
    core.transaction_started(2, 8, T0)
    await core.install(absolute(2, Purpose.CHARGER_MAX, 0, [(0, 30.0)]))
    assert (core.limit_without_site(1), core.limit_without_site(2)) == (15.0, 15.0)


async def test_a_change_cancelled_while_it_is_written_still_applies_what_was_stored(db: Database) -> None:
    """The link drops while SetChargingProfile or ClearChargingProfile is being written:
    the handler is cancelled, the database thread commits anyway; the set in force must be
    the stored one, or a cleared profile would keep limiting until a restart."""
    core, _ = make(db)
    await core.install(absolute(1, Purpose.TX_DEFAULT, 0, [(0, 10.0)]))
    slow = db.run

    async def slower(func, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = await slow(func, *args, **kwargs)
        await asyncio.sleep(0.05)  # an SD card's fsync
        return result

    db.run = slower  # type: ignore[method-assign]
    clearing = asyncio.create_task(core.clear(profile_id=1))
    await asyncio.sleep(0.01)
    clearing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await clearing
    again, _ = make(db)
    again.load()
    assert again.profiles == () and core.profiles == ()
    assert core.decided(1).amps is None
