"""A session's timeline in the journal (real SQLite): the same under both protocols, with
what is held in memory or the side file, and pruned only with its transaction."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from decimal import Decimal as D
from pathlib import Path

import pytest

from agent import clock
from agent.journal import METER_SAMPLE, TX_EVENT, Journal, Sample
from agent.session_costs import figures as session_figures
from agent.store import Database, iso
from agent.tariff import Band, Point, Tariff, cost_of
from tests.test_clock import TRUE_START, backend_time, fake, installed  # noqa: F401 - fake, installed: fixtures

E = "Energy.Active.Import.Register"
TARIFF = Tariff(per_kwh=D("0.40"), per_hour_idle=D(6), idle_grace_minutes=10)


def at(minute: int, second: int = 0) -> datetime:
    return datetime(2026, 12, 6, 10, minute, second, tzinfo=timezone.utc)


def stamp(minute: int, second: int = 0) -> str:
    return f"2026-12-06T10:{minute:02d}:{second:02d}.000Z"


def _open(path: Path, sync_seconds: float = 0.0) -> tuple[Database, Journal]:
    db = Database(path)
    db.open()
    return db, Journal(db, sync_seconds)


def _sample(journal: Journal, local: int, minute: int, wh: int) -> None:
    journal.record_sample(local, 1, stamp(minute), "Sample.Periodic", [Sample(E, wh, "Wh")], wh)


def _session(journal: Journal, reports_states: bool) -> int:
    """Charging 10:00-10:30 (0 -> 6000 Wh), SuspendedEV until 10:50, ended at 10:50."""
    local = journal.begin_transaction(1, "AA", 0, stamp(0), [])
    change = ((lambda m, s, wh: journal.record_tx_event(local, 1, stamp(m), s, None, wh)) if reports_states
              else (lambda m, s, wh: journal.record_charging_state(local, stamp(m), s, wh)))
    assert change(0, "Charging", 0)
    _sample(journal, local, 15, 3000)
    assert change(30, "SuspendedEV", 6000)
    _sample(journal, local, 40, 6000)
    journal.end_transaction(local, 6000, stamp(50), "EVDisconnected", "AA", [])
    assert not change(51, "Charging", 6000)  # once ended, nothing more
    return local


EXPECTED = [Point(at(0), 0, "Charging"), Point(at(15), 3000, "Charging"),
            Point(at(30), 6000, "SuspendedEV"), Point(at(40), 6000, "SuspendedEV"), Point(at(50), 6000, "Ended")]


def test_both_protocols_keep_the_same_timeline_and_only_2_0_1_sends_the_changes(tmp_path: Path) -> None:
    db16, j16 = _open(tmp_path / "v16")
    db201, j201 = _open(tmp_path / "v201")
    a, b = _session(j16, reports_states=False), _session(j201, reports_states=True)
    assert j16.timeline(a) == j201.timeline(b) == EXPECTED
    assert [e.kind for e in j16.pending(0, 100)].count(TX_EVENT) == 0  # 1.6 is sent nothing new
    assert [e.kind for e in j201.pending(0, 100)].count(TX_EVENT) == 2
    cost = cost_of(TARIFF, j16.timeline(a))
    # 6 kWh at 0.40 = 2.40; idle 20 min, 10 of them billed at 6/h = 1.00.
    assert (cost.total, cost.charging_s, cost.idle_s, cost.idle_billed_s) == (D("3.40"), 1800, 1200, 600)
    assert j16.last_timeline_state(a) == "SuspendedEV"
    db16.close()
    db201.close()


def test_a_running_session_includes_samples_still_held_and_its_latest_reading(tmp_path: Path) -> None:
    db, journal = _open(tmp_path, sync_seconds=60.0)
    local = journal.begin_transaction(1, "AA", 100, stamp(0), [], started_by=None)
    journal.record_charging_state(local, stamp(1), "Charging", None)  # no fresh reading then
    _sample(journal, local, 11, 2100)
    journal.checkpoint(local, 2600, stamp(12))
    points = journal.timeline(local)
    # The change's register is interpolated between the start (100 at :00) and the sample (2100 at :11).
    assert points == [Point(at(0), 100, "EVConnected"), Point(at(1), 100 + 2000 / 11, "Charging"),
                      Point(at(11), 2100, "Charging"), Point(at(12), 2600, "Charging")]
    # Nothing of it was committed: it was read from what the journal holds.
    assert db.read("SELECT COUNT(*) FROM outbox WHERE kind = 'meter_sample'")[0][0] == 0
    db.close()


def test_a_change_noted_from_an_older_reading_never_makes_the_register_run_back(tmp_path: Path) -> None:
    db, journal = _open(tmp_path)
    local = journal.begin_transaction(1, "AA", 0, stamp(0), [])
    journal.record_charging_state(local, stamp(0), "Charging", 0)
    _sample(journal, local, 10, 1000)
    journal.record_charging_state(local, stamp(10, 1), "SuspendedEV", 990)  # the poller's reading, a moment older
    journal.end_transaction(local, 1000, stamp(20), "Local", "AA", [])
    assert [p.wh for p in journal.timeline(local)] == [0, 1000, 1000, 1000]
    assert cost_of(Tariff(per_kwh=D(1)), journal.timeline(local)).energy_wh == 1000
    db.close()


def test_the_timeline_goes_with_its_transaction_only(tmp_path: Path) -> None:
    db, journal = _open(tmp_path)
    local = _session(journal, reports_states=False)
    assert journal.prune_delivered("2100-01-01T00:00:00.000Z") == 0  # its messages are not delivered yet
    assert journal.timeline(local) == EXPECTED
    for entry in journal.pending(0, 100):
        journal.mark_done(entry.seq)
    journal.prune_delivered("2026-12-06T10:00:00.000Z")  # delivered, but stopped after the cut: kept
    assert journal.timeline(local) == EXPECTED
    journal.prune_delivered("2100-01-01T00:00:00.000Z")
    assert journal.timeline(local) == []
    assert db.read("SELECT COUNT(*) FROM charging_states")[0][0] == 0
    db.close()


def test_a_transaction_journaled_before_timelines_takes_its_2_0_1_events(tmp_path: Path) -> None:
    db, journal = _open(tmp_path)
    local = journal.begin_transaction(1, "AA", 0, stamp(0), [], started_by="authorization")
    journal.record_tx_event(local, 1, stamp(5), "Charging")
    _sample(journal, local, 10, 1000)
    journal.end_transaction(local, 2000, stamp(20), "Local", "AA", [])
    db.write("DELETE FROM charging_states")  # as an earlier release left it
    # The change's register was not journaled then: interpolated between its neighbours.
    assert journal.timeline(local) == [Point(at(0), 0, "Idle"), Point(at(5), 500, "Charging"),
                                       Point(at(10), 1000, "Charging"), Point(at(20), 2000, "Ended")]
    db.close()


def test_an_unknown_transaction_has_no_timeline(tmp_path: Path) -> None:
    db, journal = _open(tmp_path)
    assert journal.timeline(42) == []
    db.close()


async def test_the_running_sessions_cost_for_the_screen_adds_the_latest_fresh_reading(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from agent.charger import ChargerRuntime

    db, journal = _open(tmp_path)
    local = journal.begin_transaction(1, "AA", 0, stamp(0), [])
    journal.record_charging_state(local, stamp(0), "Charging", 0)
    _sample(journal, local, 10, 2000)
    runtime = SimpleNamespace(tariff=Tariff(per_kwh=D("0.50"), session_fee=D(1)), local_tx={1: local}, db=db,
                              journal=journal, _register_now=lambda n: 3000, _running_costs={})
    cost = await ChargerRuntime.session_cost(runtime, 1)  # type: ignore[arg-type]
    assert cost is not None and cost.total == D("2.50") and cost.energy_wh == 3000  # 3 kWh x 0.50 + 1
    runtime._register_now = lambda n: None  # no fresh reading: what the journal has
    assert (await ChargerRuntime.session_cost(runtime, 1)).total == D("2.00")  # type: ignore[arg-type, union-attr]
    assert await ChargerRuntime.session_cost(runtime, 2) is None  # type: ignore[arg-type]  # no session there
    runtime.tariff = None
    assert await ChargerRuntime.session_cost(runtime, 1) is None  # type: ignore[arg-type]  # no tariff
    db.close()


def test_a_clock_corrected_later_moves_the_timeline_with_everything_else(tmp_path: Path, installed, fake) -> None:
    """Stamps made before the clock was known (no NTP, no backend yet) are moved when it is."""
    db, journal = _open(tmp_path)
    local = journal.begin_transaction(1, "TAG", 100, iso(installed.now()), [])
    fake.mono += 30
    journal.record_charging_state(local, iso(installed.now()), "Charging", 100)
    fake.mono += 30
    journal.record_sample(local, 1, iso(installed.now()), "Sample.Periodic", [Sample(E, 150, "Wh")], 150)
    shift = installed.adopt_backend_time(backend_time(fake), fake.mono, fake.mono)
    assert shift is not None
    journal.correct_provisional(installed.provisional_tag, shift, installed.tag)
    fake.mono += 30
    journal.end_transaction(local, 200, iso(installed.now()), "Local", "TAG", [])
    points = journal.timeline(local)
    assert [p.state for p in points] == ["EVConnected", "Charging", "Charging", "Ended"]
    assert [p.at.timestamp() for p in points] == pytest.approx(
        [TRUE_START, TRUE_START + 30, TRUE_START + 60, TRUE_START + 90], abs=0.01)
    db.close()


NIGHT_BAND = Tariff(per_kwh=D("0.50"), timezone="Europe/Berlin",
                    bands=(Band(time(22), time(6), per_kwh=D("0.20")),))
EVENING = datetime(2026, 6, 1, 19, 0, tzinfo=timezone.utc)  # 21:00 in Berlin


def _evening_session(journal: Journal, acknowledge: bool) -> tuple[int, D]:
    """11 kWh from 21:00 to 22:00 Berlin at 0.50 (a sample at 22:00), nothing more to 00:00.
    Returns the transaction and the running cost before the stop."""
    local = journal.begin_transaction(1, "AA", 0, iso(EVENING), [])
    journal.record_charging_state(local, iso(EVENING), "Charging", 0)
    journal.record_sample(local, 1, iso(EVENING + timedelta(hours=1)), "Sample.Periodic",
                          [Sample(E, 11_000, "Wh")], 11_000)
    if acknowledge:  # the backend answered the sample before the next sync: it is never written
        for entry in journal.pending(0, 100):
            if entry.kind == METER_SAMPLE:
                journal.mark_done(entry.seq, "acked", METER_SAMPLE)
    running = cost_of(NIGHT_BAND, journal.timeline(local)).total
    journal.end_transaction(local, 11_000, iso(EVENING + timedelta(hours=3)), "Local", "AA", [])
    return local, running


def test_the_cost_does_not_depend_on_when_the_backend_answered_the_samples(tmp_path: Path) -> None:
    """A sample answered while held gets no outbox row; its register stays on the timeline,
    so the final cost is the running cost, online or offline, and after a restart."""
    db_on, online = _open(tmp_path / "online", sync_seconds=300.0)
    db_off, offline = _open(tmp_path / "offline", sync_seconds=300.0)
    a, running_on = _evening_session(online, acknowledge=True)
    b, running_off = _evening_session(offline, acknowledge=False)
    assert db_on.read(f"SELECT COUNT(*) FROM outbox WHERE kind = '{METER_SAMPLE}'")[0][0] == 0  # spared the card
    assert running_on == running_off == D("5.50")
    assert cost_of(NIGHT_BAND, online.timeline(a)).total == cost_of(NIGHT_BAND, offline.timeline(b)).total == D("5.50")
    assert online.timeline(a) == offline.timeline(b)
    db_on.close()
    again, reopened = _open(tmp_path / "online")
    assert cost_of(NIGHT_BAND, reopened.timeline(a)).total == D("5.50")
    # Pruned with its transaction only.
    for entry in reopened.pending(0, 100):
        reopened.mark_done(entry.seq)
    reopened.prune_delivered("2100-01-01T00:00:00.000Z")
    assert reopened.timeline(a) == [] and again.read("SELECT COUNT(*) FROM meter_points")[0][0] == 0
    again.close()
    db_off.close()


def test_a_register_that_runs_back_costs_the_same_through_the_journal_and_alone(tmp_path: Path) -> None:
    db, journal = _open(tmp_path)
    local = journal.begin_transaction(1, "AA", 5000, stamp(0), [])
    journal.record_charging_state(local, stamp(0), "Charging", 5000)
    _sample(journal, local, 10, 0)  # a glitch reading
    _sample(journal, local, 20, 6000)
    journal.end_transaction(local, 6000, stamp(30), "Local", "AA", [])
    raw = [Point(at(0), 5000, "Charging"), Point(at(10), 0, "Charging"), Point(at(20), 6000, "Charging"),
           Point(at(30), 6000, "Ended")]
    tariff = Tariff(per_kwh=D(1))
    assert cost_of(tariff, journal.timeline(local)).total == cost_of(tariff, raw).total == D("1.00")
    db.close()


def test_stamps_of_a_process_that_died_unsynchronised_count_no_time_and_are_flagged(
        tmp_path: Path, installed, fake) -> None:  # noqa: F811 - fixtures
    """A Pi without a clock began the session in 1970 and died before it learnt the time;
    the next process has the right time. The 56 years between are not charging time."""
    tariff = Tariff(per_kwh=D("0.50"), per_hour_charging=D(2))
    db, journal = _open(tmp_path)
    local = journal.begin_transaction(1, "TAG", 0, iso(installed.now()), [])
    journal.record_charging_state(local, iso(installed.now()), "Charging", 0)
    fake.mono += 1800
    journal.record_sample(local, 1, iso(installed.now()), "Sample.Periodic", [Sample(E, 3000, "Wh")], 3000)
    journal.sync()
    db.close()  # the process dies: its stamps stay provisional

    true_now = datetime.fromtimestamp(TRUE_START, timezone.utc)
    clock.install(clock.Clock("auto", synchronised=lambda: True, wall=lambda: TRUE_START, monotonic=lambda: 0.0))
    db, journal = _open(tmp_path)
    journal.record_charging_state(local, iso(true_now), "Charging", 4000)
    journal.end_transaction(local, 7000, iso(true_now + timedelta(minutes=30)), "Local", "TAG", [])
    points = journal.timeline(local)
    assert [p.unsure for p in points] == [False, False, True, False]  # the start and its change are one
    cost = cost_of(tariff, points)
    # 7 kWh at 0.50 = 3.50; charging 30 min before the crash and 30 after at 2/h = 2.00.
    assert cost.uncertain and cost.total == D("5.50") and cost.charging_s == 3600
    figures = session_figures(journal, journal.transactions(10)[0], tariff)
    assert figures.uncertain and figures.charging_s == 3600
    db.close()


def test_a_1_6_status_and_the_change_it_tells_are_one_durable_commit(tmp_path: Path) -> None:
    db, journal = _open(tmp_path)
    local = journal.begin_transaction(1, "AA", 0, stamp(0), [])
    commits: list[bool] = []
    real = db.transaction

    def counted(work, durable=True):  # type: ignore[no-untyped-def]
        commits.append(durable)
        return real(work, durable=durable)

    db.transaction = counted  # type: ignore[method-assign]
    assert journal.record_status(1, "Charging", "NoError", stamp(1), timeline=[(local, stamp(1), "Charging", 0)])
    assert commits == [True]
    assert journal.last_timeline_state(local) == "Charging"
    assert [e.kind for e in journal.pending(0, 100)][-1] == "status"
    journal.end_transaction(local, 100, stamp(2), "Local", "AA", [])
    assert not journal.record_status(1, "Finishing", "NoError", stamp(3), timeline=[(local, stamp(3), "Idle", 100)])
    assert journal.last_timeline_state(local) == "Charging"  # once ended, nothing more; the status still goes
    db.close()


def test_the_timeline_parses_each_committed_sample_once_and_follows_changes(tmp_path: Path, installed,
                                                                           fake) -> None:  # noqa: F811
    db, journal = _open(tmp_path)
    local = journal.begin_transaction(1, "AA", 0, stamp(0), [])
    for minute in range(1, 31):
        _sample(journal, local, minute, 100 * minute)
    journal.timeline(local)
    read: list[str] = []
    real = db.read

    def spy(sql, params=()):  # type: ignore[no-untyped-def]
        rows = real(sql, params)
        if "body" in sql and "meter_sample" in sql:
            read.extend(str(r["body"]) for r in rows)
        return rows

    db.read = spy  # type: ignore[method-assign]
    _sample(journal, local, 31, 3100)
    points = journal.timeline(local)
    assert len(read) == 1 and points[-1] == Point(at(31), 3100, "EVConnected")  # only the new one parsed
    db.read = real  # type: ignore[method-assign]
    # A clock correction rewrites the rows: the timeline follows.
    shift = installed.adopt_backend_time(backend_time(fake), fake.mono, fake.mono)
    db.write("UPDATE outbox SET clock = ? WHERE kind = 'meter_sample'", (installed.provisional_tag,))
    journal.correct_provisional(installed.provisional_tag, shift, installed.tag)
    assert journal.timeline(local)[-1].at == at(31) + timedelta(seconds=shift)
    db.close()
