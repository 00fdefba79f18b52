"""The journal: committed before sent, drained in order, nothing held only in memory."""

from __future__ import annotations

import sqlite3

import pytest

from agent import clock
from agent.clock import Clock
from agent.journal import METER_SAMPLE, STATUS, TX_STARTED, TX_STOPPED, Journal, MeterGap, Sample
from agent.store import ChargerState, Database, StoreError, utc_now

from .journal_helpers import ENERGY, db  # noqa: F401 - db is a fixture


def reopen(db: Database) -> Database:
    """A second, independent connection: what a restarted process would see."""
    other = Database(db.path.parent)
    other.open()
    return other


def test_database_uses_wal_and_full_sync(db):
    assert db.read("PRAGMA journal_mode")[0][0] == "wal"
    assert db.read("PRAGMA synchronous")[0][0] == 2  # FULL


def test_a_transaction_and_its_messages_are_on_disk_for_the_next_process(db):
    journal = Journal(db)
    local = journal.begin_transaction(1, "TAG1", 1200, "2026-01-01T10:00:00.000Z", [Sample(ENERGY, 1200, "Wh")])
    journal.record_sample(local, 1, "2026-01-01T10:01:00.000Z", "Sample.Periodic", [Sample(ENERGY, 1300, "Wh")], 1300)
    journal.end_transaction(local, 1400, "2026-01-01T10:02:00.000Z", "Local", "TAG1", [Sample(ENERGY, 1400, "Wh")])
    other = reopen(db)
    try:
        pending = Journal(other).pending()
        assert [e.kind for e in pending] == [TX_STARTED, METER_SAMPLE, TX_STOPPED]
        assert all(e.local_tx == local for e in pending)
        stop = pending[2].body
        assert stop["meter_wh"] == 1400 and stop["reason"] == "Local"
        assert [d["context"] for d in stop["transaction_data"]] == ["Transaction.Begin", "Transaction.End"]
        record = Journal(other).transactions()[0]
        assert (record.meter_start_wh, record.meter_stop_wh, record.last_meter_wh) == (1200, 1400, 1400)
    finally:
        other.close()


def test_backend_transaction_id_is_filled_in_after_the_start_is_acknowledged(db):
    journal = Journal(db)
    local = journal.begin_transaction(1, "TAG1", 0, "2026-01-01T10:00:00.000Z", [])
    journal.end_transaction(local, 50, "2026-01-01T10:02:00.000Z", "Local", "TAG1", [])
    start, stop = journal.pending()
    assert stop.backend_tx is None
    journal.acknowledge_start(start.seq, local, 4711, "Accepted")
    (stop_again,) = journal.pending()
    assert stop_again.seq == stop.seq and stop_again.backend_tx == 4711
    assert journal.backend_to_local(4711).local_id == local


def test_pending_is_in_order_and_acknowledged_entries_leave(db):
    journal = Journal(db)
    for n in range(5):
        journal.record_status(1, "Available" if n % 2 else "Preparing", "NoError", f"2026-01-01T10:00:0{n}.000Z")
    seqs = [e.seq for e in journal.pending()]
    assert seqs == sorted(seqs) and len(seqs) == 5
    journal.mark_done(seqs[0])
    assert [e.seq for e in journal.pending()] == seqs[1:]
    assert journal.pending_count() == 4


def test_statuses_not_sent_are_superseded_but_transaction_messages_never(db):
    journal = Journal(db)
    journal.record_status(1, "Preparing", "NoError", "2026-01-01T10:00:00.000Z")
    local = journal.begin_transaction(1, "TAG1", 0, "2026-01-01T10:00:01.000Z", [])
    journal.record_status(1, "Charging", "NoError", "2026-01-01T10:00:02.000Z")
    assert journal.supersede_statuses() == 2
    assert [(e.kind, e.local_tx) for e in journal.pending()] == [(TX_STARTED, local)]
    assert STATUS not in {e.kind for e in journal.pending()}


def test_a_stop_is_recorded_once(db):
    journal = Journal(db)
    local = journal.begin_transaction(2, "TAG1", 10, "2026-01-01T10:00:00.000Z", [])
    journal.end_transaction(local, 20, "2026-01-01T10:01:00.000Z", "Local", "TAG1", [])
    journal.end_transaction(local, 30, "2026-01-01T10:02:00.000Z", "PowerLoss", None, [])
    assert [e.kind for e in journal.pending()].count(TX_STOPPED) == 1
    assert journal.transactions()[0].meter_stop_wh == 20


def test_open_transactions_and_checkpoint_survive_a_crash(db):
    journal = Journal(db)
    local = journal.begin_transaction(1, "TAG1", 100, "2026-01-01T10:00:00.000Z", [])
    journal.record_sample(local, 1, "2026-01-01T10:05:00.000Z", "Sample.Periodic", [Sample(ENERGY, 900, "Wh")], 900)
    other = reopen(db)  # nothing is closed: as after kill -9
    try:
        (record,) = Journal(other).open_transactions()
        assert record.local_id == local and record.last_meter_wh == 900
        assert record.last_meter_at == "2026-01-01T10:05:00.000Z"
    finally:
        other.close()


def test_a_failed_write_leaves_nothing_half_written(db):
    journal = Journal(db)
    db.write("CREATE TRIGGER refuse BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(StoreError, match="disk full"):
        journal.begin_transaction(1, "TAG1", 0, "2026-01-01T10:00:00.000Z", [])
    assert journal.transactions() == []  # the transaction row was rolled back with its message


def test_an_unwritable_state_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match=str(blocker)):
        Database(blocker / "state").open()


def test_charger_state_persists_availability_configuration_and_cache(db):
    state = ChargerState(db)
    state.set_availability(2, False)
    state.set_config_value("MeterValueSampleInterval", "30")
    state.cache_authorization("TAG1", "Accepted", "PARENT", None)
    other = reopen(db)
    try:
        again = ChargerState(other)
        assert again.inoperative_connectors() == frozenset({2})
        assert again.config_values() == {"MeterValueSampleInterval": "30"}
        row = again.cached_authorization("TAG1")
        assert row["status"] == "Accepted" and row["parent_id_tag"] == "PARENT"
        again.clear_authorization_cache()
        assert again.cached_authorization("TAG1") is None
    finally:
        other.close()


def test_schema_version_is_recorded(db):
    conn = sqlite3.connect(db.path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1
    finally:
        conn.close()


def test_a_checkpoint_moves_forward_only_and_only_for_running_transactions(db):
    journal = Journal(db)
    local = journal.begin_transaction(1, "TAG1", 100, "2026-01-01T10:00:00.000Z", [])
    journal.checkpoint(local, 250, "2026-01-01T10:00:30.000Z")
    journal.checkpoint(local, 240, "2026-01-01T10:00:31.000Z")  # a stale reading never goes back
    (record,) = journal.open_transactions()
    assert (record.last_meter_wh, record.last_meter_at) == (250, "2026-01-01T10:00:30.000Z")
    assert [e.kind for e in journal.pending()] == [TX_STARTED]  # nothing queued for the backend
    journal.end_transaction(local, 300, "2026-01-01T10:01:00.000Z", "Local", None, [])
    journal.checkpoint(local, 999, "2026-01-01T10:02:00.000Z")
    assert journal.transactions()[0].last_meter_wh == 300


def test_abandoned_messages_stay_visible_on_their_transaction(db):
    journal = Journal(db)
    local = journal.begin_transaction(1, "TAG1", 0, "2026-01-01T10:00:00.000Z", [])
    (start,) = journal.pending()
    journal.mark_done(start.seq, "abandoned: FormationViolation")
    (record,) = journal.transactions()
    assert (record.pending_messages, record.abandoned_messages) == (0, 1)
    assert record.local_id == local


def test_stop_transaction_data_carries_the_values_kept_for_it_in_order(db):
    journal = Journal(db)
    local = journal.begin_transaction(1, "TAG1", 100, "2026-01-01T10:00:00.000Z", [Sample(ENERGY, 100, "Wh")])
    journal.record_sample(local, 1, "2026-01-01T10:01:00.000Z", "Sample.Periodic", [], 200, [Sample(ENERGY, 200, "Wh")])
    journal.record_sample(local, 1, "2026-01-01T10:01:30.000Z", "Sample.Clock", [], 250, [Sample(ENERGY, 250, "Wh")])
    journal.end_transaction(local, 300, "2026-01-01T10:02:00.000Z", "Local", "TAG1", [Sample(ENERGY, 300, "Wh")])
    (stop,) = [e for e in journal.pending() if e.kind == TX_STOPPED]
    data = stop.body["transaction_data"]
    assert [(d["context"], d["samples"][0]["value"]) for d in data] == [
        ("Transaction.Begin", 100), ("Sample.Periodic", 200), ("Sample.Clock", 250), ("Transaction.End", 300),
    ]
    # Values kept only for the stop are not sent on their own.
    assert [e.kind for e in journal.pending()] == [TX_STARTED, TX_STOPPED]


def test_a_long_session_is_thinned_evenly_in_its_stop(db):
    from agent.journal import TRANSACTION_DATA_MAX

    journal = Journal(db)
    local = journal.begin_transaction(1, "TAG1", 0, "2026-01-01T00:00:00.000Z", [])
    for n in range(1, 1001):
        stamp = f"2026-01-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000Z"
        journal.record_sample(local, 1, stamp, "Sample.Periodic", [], n, [Sample(ENERGY, n, "Wh")])
    journal.end_transaction(local, 1000, "2026-01-01T01:00:00.000Z", "Local", None, [])
    (stop,) = [e for e in journal.pending() if e.kind == TX_STOPPED]
    values = [d["samples"][0]["value"] for d in stop.body["transaction_data"]]
    assert len(values) == TRANSACTION_DATA_MAX
    assert values == sorted(values) and values[-1] == 1000 and values[0] <= 1000 // TRANSACTION_DATA_MAX


def test_a_database_from_an_earlier_version_is_migrated_in_place(tmp_path):
    from agent.store import _SCHEMA, DB_NAME

    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.executescript(f"{_SCHEMA[0]}; PRAGMA user_version=1;")
    conn.execute("INSERT INTO transactions(connector, id_tag, started_at, meter_start_wh) VALUES (1, 'OLD', 'x', 5)")
    conn.commit()
    conn.close()
    db = Database(tmp_path)
    db.open()
    try:
        assert db.read("PRAGMA user_version")[0][0] == len(_SCHEMA)
        assert Journal(db).transactions()[0].id_tag == "OLD"  # nothing lost
        db.write("INSERT INTO transaction_values(local_tx, timestamp, context, samples) VALUES (1, 't', 'c', '[]')")
    finally:
        db.close()


# ---------------------------------------------------------------- bounded by a cap, not a count


def _offline_week(journal: Journal, samples: int) -> int:
    """A transaction with ``samples`` periodic values, stopped, nothing delivered."""
    local = journal.begin_transaction(1, "TAG1", 0, "2026-01-01T00:00:00.000Z", [])
    for i in range(samples):
        stamp = f"2026-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z"
        journal.record_sample(local, 1, stamp, "Sample.Periodic", [Sample(ENERGY, i, "Wh")], i)
    journal.end_transaction(local, samples, "2026-01-02T00:00:00.000Z", "Local", "TAG1", [])
    return local


def test_shedding_thins_meter_values_evenly_and_never_drops_a_start_or_a_stop(db):
    journal = Journal(db)
    journal.record_status(1, "Charging", "NoError", "2026-01-01T00:00:00.000Z")
    _offline_week(journal, 1000)
    before = journal.undelivered_bytes()
    cap = before // 3
    shed = journal.shed_to(cap)
    assert journal.undelivered_bytes() <= cap
    pending = journal.pending(limit=10_000)
    kinds = [e.kind for e in pending]
    assert kinds[0] == TX_STARTED and kinds[-1] == TX_STOPPED and STATUS not in kinds
    values = [e.body["samples"][0]["value"] for e in pending if e.kind == METER_SAMPLE]
    assert shed == 1 + (1000 - len(values))  # the status, and the values thinned
    # What is left still spans the whole session, in order, with no big hole at one end.
    assert values == sorted(values) and values[-1] >= 990 and values[0] <= 8
    gaps = [b - a for a, b in zip(values, values[1:])]
    assert max(gaps) <= 8
    # The loss is on record, not silent.
    assert db.read("SELECT COUNT(*) AS n FROM outbox WHERE outcome = 'shed'")[0]["n"] == 1000 - len(values)


def test_shedding_keeps_starts_and_stops_even_over_the_cap(db):
    journal = Journal(db)
    for _ in range(20):
        _offline_week(journal, 3)
    journal.shed_to(1)  # an impossible cap
    kinds = [e.kind for e in journal.pending(limit=1000)]
    assert kinds.count(TX_STARTED) == 20 and kinds.count(TX_STOPPED) == 20 and METER_SAMPLE not in kinds


def test_shedding_does_nothing_under_the_cap(db):
    journal = Journal(db)
    _offline_week(journal, 10)
    assert journal.shed_to(10**9) == 0
    assert len(journal.pending(limit=1000)) == 12


def test_pruning_forgets_only_what_was_delivered_before_the_retention(db):
    journal = Journal(db)
    delivered = _offline_week(journal, 3)
    for entry in journal.pending(limit=100):
        if entry.kind == TX_STARTED:
            journal.acknowledge_start(entry.seq, delivered, 7, "Accepted")
        else:
            journal.mark_done(entry.seq)
    waiting = _offline_week(journal, 3)  # never delivered
    removed = journal.prune_delivered("2999-01-01T00:00:00.000Z")
    assert removed == 5 + 1  # five messages and the transaction
    assert [r.local_id for r in journal.transactions()] == [waiting]
    assert len(journal.pending(limit=100)) == 5
    # Nothing newer than the cutoff is touched.
    assert journal.prune_delivered("2000-01-01T00:00:00.000Z") == 0


# ---------------------------------------------------------------- meter gaps


def test_meter_gaps_are_kept_per_transaction_and_a_stop_ends_an_open_one(db):
    journal = Journal(db)
    local = journal.begin_transaction(1, "TAG1", 100, "2026-01-01T10:00:00.000Z", [])
    other = journal.begin_transaction(2, "TAG2", 7, "2026-01-01T10:00:00.000Z", [])
    assert journal.open_meter_gap(local, "2026-01-01T10:05:00.000Z", 150)
    assert not journal.open_meter_gap(local, "2026-01-01T10:06:00.000Z", 160)  # one open gap at a time
    assert journal.close_meter_gap(local, "2026-01-01T10:07:00.000Z", 400)
    assert not journal.close_meter_gap(local, "2026-01-01T10:08:00.000Z", 410)  # none open
    assert journal.open_meter_gap(local, "2026-01-01T10:20:00.000Z", None)  # the last value on record
    journal.end_transaction(local, 900, "2026-01-01T10:30:00.000Z", "Local", None, [])
    assert not journal.open_meter_gap(local, "2026-01-01T10:40:00.000Z", 950)  # stopped
    restarted = reopen(db)
    try:
        flagged, clean = reversed(Journal(restarted).transactions())
        assert flagged.meter_gaps == (
            MeterGap("2026-01-01T10:05:00.000Z", "2026-01-01T10:07:00.000Z", 150, 400),
            MeterGap("2026-01-01T10:20:00.000Z", "2026-01-01T10:30:00.000Z", 100, None),
        )
        assert [g.seconds for g in flagged.meter_gaps] == [120.0, 600.0]
        assert (clean.local_id, clean.meter_gaps) == (other, ())
    finally:
        restarted.close()


def test_a_start_while_the_meter_fails_is_flagged_in_the_same_commit(db):
    journal = Journal(db)
    local = journal.begin_transaction(1, "TAG1", 300, "2026-01-01T10:00:00.000Z", [], meter_failing=True)
    (record,) = journal.open_transactions()
    assert record.local_id == local
    assert record.meter_gaps == (MeterGap("2026-01-01T10:00:00.000Z", None, 300, None),)
    assert record.meter_gaps[0].seconds is None  # still failing


def test_pruning_takes_a_transactions_meter_gaps_with_it(db):
    journal = Journal(db)
    local = journal.begin_transaction(1, "TAG1", 0, "2026-01-01T00:00:00.000Z", [])
    journal.open_meter_gap(local, "2026-01-01T00:10:00.000Z", 10)
    journal.end_transaction(local, 50, "2026-01-01T01:00:00.000Z", "Local", None, [])
    start, stop = journal.pending()
    journal.acknowledge_start(start.seq, local, 7, "Accepted")
    journal.mark_done(stop.seq)
    assert journal.prune_delivered("2999-01-01T00:00:00.000Z") == 3
    assert journal.transactions() == []
    assert db.read("SELECT COUNT(*) AS n FROM meter_gaps")[0]["n"] == 0


def test_provisional_meter_gap_stamps_are_corrected_with_the_rest(db):
    mono = [0.0]  # a charger without a real-time clock, booted at 1970-01-01T00:01:00Z
    previous = clock.current()
    provisional = clock.install(Clock("auto", synchronised=lambda: False, wall=lambda: 60.0, monotonic=lambda: mono[0]))
    try:
        journal = Journal(db)
        local = journal.begin_transaction(1, "TAG1", 0, utc_now(), [])
        mono[0] = 300.0
        journal.open_meter_gap(local, utc_now(), 10)
        mono[0] = 420.0
        journal.close_meter_gap(local, utc_now(), 20)
        changed = journal.correct_provisional(provisional.provisional_tag, 86400.0, "backend")
    finally:
        clock.install(previous)
    assert changed == 1  # the start message; the gap is no message, but its stamps move too
    ((gap,),) = [r.meter_gaps for r in journal.transactions()]
    assert (gap.began_at, gap.ended_at) == ("1970-01-02T00:06:00.000Z", "1970-01-02T00:08:00.000Z")
    tags = db.read("SELECT clock FROM meter_gaps UNION SELECT end_clock FROM meter_gaps")
    assert {r["clock"] for r in tags} == {"backend"}


def test_a_release_rolled_back_runs_on_the_newer_schema_a_later_one_left(tmp_path):
    # A firmware update migrated the database, then was rolled back: the older release
    # must start on it (schema changes are additive) and keep its journal going.
    first = Database(tmp_path)
    first.open()
    journal = Journal(first)
    journal.record_status(1, "Available", "NoError", utc_now())
    first.close()
    with sqlite3.connect(tmp_path / "ladda.sqlite3") as conn:
        conn.execute("CREATE TABLE from_a_later_release (x INTEGER DEFAULT 0)")
        conn.execute("PRAGMA user_version = 99")
    older = Database(tmp_path)
    older.open()
    try:
        journal = Journal(older)
        journal.record_status(1, "Preparing", "NoError", utc_now())
        assert [e.body["status"] for e in journal.pending()] == ["Available", "Preparing"]
    finally:
        older.close()
