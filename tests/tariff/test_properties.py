"""Properties of the cost: a session cut by a kill or a power cut and carried on by a new
journal costs what it costs uncut, whether or not the backend answered its samples before
they reached the disk (real SQLite, the real side file and acknowledgement notes); a first
run that never learnt the time changes only the span across the cut; and the exact parts
add up over any split of a timeline."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from decimal import Context, localcontext
from decimal import Decimal as D
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent import clock as charger_clock
from agent.journal import METER_SAMPLE, Journal, Sample
from agent.store import Database, iso
from agent.tariff import Band, Point, Tariff, cost_of, exact_amounts
from agent.tariff.running import RunningCount

E = "Energy.Active.Import.Register"
T0 = datetime(2026, 3, 28, 20, 0, tzinfo=timezone.utc)  # the night of a daylight saving change in Berlin
STATES = ["Charging", "SuspendedEV", "SuspendedEVSE", "EVConnected", "Idle"]
#: Bands with edges across midnight and one inside the hour the clock skips (02:30 on 2026-03-29).
TARIFF = Tariff(per_kwh=D("0.3917"), per_hour_charging=D("0.75"), per_hour_idle=D("9.60"), idle_grace_minutes=20,
                session_fee=D("0.35"), timezone="Europe/Berlin", tax_percent=D(19), prices_include_tax=False,
                bands=(Band(time(2, 30), time(4), per_hour_charging=D("3.10"), per_kwh=D("0.1333")),
                       Band(time(22), time(6), per_kwh=D("0.2149")),
                       Band(time(17), time(19), per_hour_idle=D("14.40"), per_kwh=D("0.52"))))

#: One step of a session: seconds after the one before, then either a sample with the
#: energy drawn since (Wh) and whether the backend answers it before the next sync, a
#: charging-state change with the energy drawn since (its register may be unknown), or a
#: checkpoint.
step = st.one_of(
    st.tuples(st.just("sample"), st.integers(1, 3600), st.integers(0, 8000), st.booleans()),
    st.tuples(st.just("state"), st.integers(0, 3600), st.integers(0, 5000), st.sampled_from(STATES), st.booleans()),
    st.tuples(st.just("checkpoint"), st.integers(1, 600), st.integers(0, 2000)),
)


def _play(journal: Journal, local: int, steps: list[tuple], clock: list[datetime], wh: list[int],
          reports: bool, answers: bool) -> None:
    """Journal ``steps`` as the runtime does, moving the session's ``clock`` and register ``wh``;
    ``reports``: the protocol reports charging-state changes (2.0.1) or not (1.6); ``answers``:
    the backend answers the samples a step says it does (as soon as they may be sent)."""
    for kind, seconds, drawn, *rest in steps:
        clock[0] += timedelta(seconds=seconds)
        wh[0] += drawn
        stamp = iso(clock[0])
        if kind == "sample":
            journal.record_sample(local, 1, stamp, "Sample.Periodic", [Sample(E, wh[0], "Wh")], wh[0])
            if answers and rest[0]:
                journal.make_durable()  # a held sample is sent once durable, then answered
                for entry in journal.pending(0, 100):
                    if entry.kind == METER_SAMPLE:
                        journal.mark_done(entry.seq, "acked", METER_SAMPLE)
        elif kind == "state":
            state, known = rest
            if reports:
                journal.record_tx_event(local, 1, stamp, state, None, wh[0] if known else None)
            else:
                journal.record_charging_state(local, stamp, state, wh[0] if known else None)
        else:
            journal.checkpoint(local, wh[0], stamp)


def _open(directory: Path) -> tuple[Database, Journal]:
    db = Database(directory)
    db.open()
    # Samples held in memory and the side file, answers noted on a "tmpfs", as on a charger.
    return db, Journal(db, sync_seconds=30.0, ack_notes=directory / "run" / "acks")


def _journaled(directory: Path, steps: list[tuple], cut: int | None, reports: bool, answers: bool = True,
               power_cut: bool = False, next_clock: charger_clock.Clock | None = None) -> list[Point]:
    """The timeline of a session journaled into ``directory``; when it is ``cut`` after that
    many steps by a kill (the files as the page cache has them) or a power cut (after the
    side file's last sync: what the disk has; the answers noted on the tmpfs are gone), the
    new journal must read right after the restart the timeline the old one had just before."""
    (directory / "run1" / "run").mkdir(parents=True)
    db, journal = _open(directory / "run1")
    clock, wh = [T0], [1_000_000]
    local = journal.begin_transaction(1, "AA", wh[0], iso(T0), [])
    _play(journal, local, steps[:cut] if cut is not None else steps, clock, wh, reports, answers)
    if cut is not None:
        if power_cut:
            journal.make_durable()  # the sync window ended just before the cut: nothing held is lost
        before = journal.timeline(local)
        again = directory / "run2"
        (again / "run").mkdir(parents=True)
        for path in (directory / "run1").iterdir():
            if path.name.startswith("ladda.sqlite3") and not path.name.endswith("-shm"):
                shutil.copy(path, again / path.name)
        if not power_cut:  # a kill leaves the tmpfs as it was
            for path in (directory / "run1" / "run").iterdir():
                shutil.copy(path, again / "run" / path.name)
        db.close()
        if next_clock is not None:  # the next process's clock
            charger_clock.install(next_clock)
        db, journal = _open(again)  # rebuilt from the side file (and the notes a kill left)
        assert [replace(p, unsure=False) for p in journal.timeline(local)] == before, "the restart lost a point"
        _play(journal, local, steps[cut:], clock, wh, reports, answers)
    clock[0] += timedelta(seconds=60)
    journal.end_transaction(local, wh[0], iso(clock[0]), "Local", "AA", [])
    points = journal.timeline(local)
    db.close()
    return points


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=14), data=st.data())
def test_a_session_cut_by_a_kill_or_a_power_cut_costs_what_it_costs_uncut(steps: list[tuple],
                                                                        data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(steps)), label="cut after step")
    reports = data.draw(st.booleans(), label="the protocol reports state changes (2.0.1)")
    power_cut = data.draw(st.booleans(), label="a power cut (else a kill)")
    with tempfile.TemporaryDirectory() as whole_dir, tempfile.TemporaryDirectory() as cut_dir, \
            tempfile.TemporaryDirectory() as unanswered_dir:
        whole = _journaled(Path(whole_dir), steps, None, reports)
        carried = _journaled(Path(cut_dir), steps, cut, reports, power_cut=power_cut)
        # The same session with a backend that answered nothing (offline all along).
        unanswered = _journaled(Path(unanswered_dir), steps, None, reports, answers=False)
    assert carried == whole == unanswered
    assert cost_of(TARIFF, carried) == cost_of(TARIFF, whole) == cost_of(TARIFF, unanswered)
    assert whole[-1].state == "Ended" and whole[-1].wh == 1_000_000 + sum(s[2] for s in steps)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=10), data=st.data())
def test_a_first_run_that_never_learnt_the_time_changes_only_the_span_across_the_cut(
        steps: list[tuple], data: st.DataObject) -> None:
    """The first run stamps provisionally (no NTP, no backend yet) and dies; the next one has
    the right time. The span between them has no known length: flagged, its energy counted,
    its time not; everything else is as uncut."""
    cut = data.draw(st.integers(0, len(steps)), label="cut after step")
    reports = data.draw(st.booleans(), label="the protocol reports state changes (2.0.1)")
    previous = charger_clock.current()
    unsynchronised = charger_clock.Clock("auto", synchronised=lambda: False)
    try:
        with tempfile.TemporaryDirectory() as whole_dir, tempfile.TemporaryDirectory() as cut_dir:
            charger_clock.install(unsynchronised)
            whole = _journaled(Path(whole_dir), steps, None, reports)  # one run: all its stamps agree
            charger_clock.install(unsynchronised)
            carried = _journaled(Path(cut_dir), steps, cut, reports,
                                 next_clock=charger_clock.Clock("auto", synchronised=lambda: True))
    finally:
        charger_clock.install(previous)
    assert [replace(p, unsure=False) for p in carried] == whole
    unsure = [i for i, p in enumerate(carried) if p.unsure]
    assert len(unsure) <= 1
    uncut, cost = cost_of(TARIFF, whole), cost_of(TARIFF, carried)
    assert cost.energy_wh == uncut.energy_wh and cost.uncertain == bool(unsure)
    if not unsure:
        assert cost == uncut
    else:
        i = unsure[0]
        lost = (carried[i].at - carried[i - 1].at).total_seconds()
        assert cost.plugged_s == uncut.plugged_s - (lost if carried[i - 1].state not in ("Idle", "Ended") else 0)
        assert cost.charging_s <= uncut.charging_s and cost.idle_s <= uncut.idle_s


timelines = st.lists(
    st.tuples(st.integers(0, 7200), st.integers(0, 9000), st.sampled_from(STATES)), min_size=2, max_size=12,
).map(lambda raw: _points(raw))


def _points(raw: list[tuple[int, int, str]]) -> list[Point]:
    at, wh, out = T0, 0, []
    for seconds, drawn, state in raw:
        at += timedelta(seconds=seconds)
        wh += drawn
        out.append(Point(at, wh, state))
    return out


@settings(max_examples=150, deadline=None)
@given(points=timelines, data=st.data())
def test_counting_on_from_a_split_is_counting_the_whole(points: list[Point], data: st.DataObject) -> None:
    """A running session's cost carried on from its last count (exact_amounts ``after``)
    is the cost of its whole timeline, to the last digit, grace and all."""
    k = data.draw(st.integers(0, len(points) - 1), label="split at point")
    first = exact_amounts(TARIFF, points[: k + 1])
    assert exact_amounts(TARIFF, points[k:], after=first) == exact_amounts(TARIFF, points)


@settings(max_examples=100, deadline=None)
@given(points=timelines, grows=st.lists(st.integers(0, 3), min_size=1, max_size=8), data=st.data())
def test_the_running_count_is_cost_of_whatever_the_timeline_does(points: list[Point], grows: list[int],
                                                                data: st.DataObject) -> None:
    """The screen's running cost, counted incrementally as the timeline grows (and now and
    then changes before its end, as a clock correction does), is always cost_of's."""
    counter, shown = RunningCount(), 1
    for more in grows:
        shown = min(len(points), shown + more)
        now = points[:shown]
        if data.draw(st.booleans(), label="an earlier point changes") and len(now) > 1:
            i = data.draw(st.integers(0, len(now) - 2), label="which")
            now = [*now[:i], Point(now[i].at, now[i].wh, "SuspendedEVSE"), *now[i + 1:]]
        assert counter.cost(TARIFF, now) == cost_of(TARIFF, now)
