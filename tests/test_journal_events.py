"""The journal's facts for OCPP 2.0.1: each transaction's own id, its events numbered
from 0 without a gap (held samples, a crash and a restart included), and what happened
while the backend link was down flagged offline. A journal written before these facts
existed (schema 7) is numbered when it is opened."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from agent import store
from agent.journal import METER_SAMPLE, TX_EVENT, Entry, Journal, Sample
from agent.ocpp201.outbound import Unnumbered, request_for
from agent.store import Database

E = [Sample("Energy.Active.Import.Register", 1000.0, "Wh")]


def _numbers(journal: Journal, local: int) -> list[int]:
    return [e.body["n"] for e in journal.pending(0, 1000) if e.local_tx == local]


def test_events_are_numbered_per_transaction_and_carry_the_chargers_own_id(tmp_path: Path) -> None:
    db = Database(tmp_path)
    db.open()
    journal = Journal(db)
    first = journal.begin_transaction(1, "AA", 1000, "2026-12-06T10:00:00.000Z", [])
    second = journal.begin_transaction(2, "BB", 500, "2026-12-06T10:00:01.000Z", [])
    journal.record_sample(first, 1, "2026-12-06T10:01:00.000Z", "Sample.Periodic", E, 1100)
    assert journal.record_tx_event(first, 1, "2026-12-06T10:01:30.000Z", "SuspendedEV")
    journal.record_sample(second, 2, "2026-12-06T10:02:00.000Z", "Sample.Periodic", E, 600)
    journal.end_transaction(first, 1200, "2026-12-06T10:03:00.000Z", "Local", "AA", [])
    assert not journal.record_tx_event(first, 1, "2026-12-06T10:04:00.000Z", "Charging")  # it has ended
    assert _numbers(journal, first) == [0, 1, 2, 3]
    assert _numbers(journal, second) == [0, 1]
    kinds = [e.kind for e in journal.pending(0, 1000) if e.local_tx == first]
    assert TX_EVENT in kinds
    uids = {e.tx_uid for e in journal.pending(0, 1000)}
    assert len(uids) == 2 and all(u and len(u) == 36 for u in uids)
    db.close()


def test_numbering_goes_on_after_a_crash_with_held_samples(tmp_path: Path) -> None:
    db = Database(tmp_path)
    db.open()
    journal = Journal(db, sync_seconds=60.0)
    local = journal.begin_transaction(1, "AA", 1000, "2026-12-06T10:00:00.000Z", [])
    for i in range(3):
        journal.record_sample(local, 1, f"2026-12-06T10:0{i + 1}:00.000Z", "Sample.Periodic", E, 1100 + i)
    assert journal.pending(0, 100)[-1].body["n"] in (0, 1)  # the rest are held, not yet sendable
    # A kill -9: nothing is closed; the held samples are in the side file only.
    db = Database(tmp_path)
    db.open()
    journal = Journal(db, sync_seconds=60.0)  # rebuilt from the side file
    journal.record_sample(local, 1, "2026-12-06T10:05:00.000Z", "Sample.Periodic", E, 1200)
    journal.end_transaction(local, 1300, "2026-12-06T10:06:00.000Z", "Local", "AA", [])
    assert _numbers(journal, local) == [0, 1, 2, 3, 4, 5]
    db.close()


def test_what_happens_offline_is_flagged(tmp_path: Path) -> None:
    db = Database(tmp_path)
    db.open()
    journal = Journal(db)
    online = [True]
    journal.online = lambda: online[0]
    local = journal.begin_transaction(1, "AA", 1000, "2026-12-06T10:00:00.000Z", [])
    online[0] = False
    journal.record_sample(local, 1, "2026-12-06T10:01:00.000Z", "Sample.Periodic", E, 1100)
    journal.end_transaction(local, 1200, "2026-12-06T10:03:00.000Z", "Local", "AA", [])
    assert [e.body.get("offline", False) for e in journal.pending(0, 100)] == [False, True, True]
    db.close()


def test_a_schema_7_journal_is_numbered_when_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "_SCHEMA", store._SCHEMA[:7])
    db = Database(tmp_path)
    db.open()
    with sqlite3.connect(db.path) as conn:
        for n in (1, 2):
            conn.execute("INSERT INTO transactions(connector, id_tag, started_at, meter_start_wh, begin_values) "
                         "VALUES (1, 'AA', '2026-12-06T10:00:00.000Z', 1000, '[]')")
        for local, kind in ((1, "tx_started"), (2, "tx_started"), (1, "meter_sample"), (1, "tx_stopped")):
            conn.execute("INSERT INTO outbox(kind, local_tx, body, created_at) VALUES (?, ?, ?, ?)",
                         (kind, local, json.dumps({"connector": 1}), "2026-12-06T10:00:00.000Z"))
        conn.execute("INSERT INTO outbox(kind, local_tx, body, created_at) VALUES ('status', NULL, '{}', 'x')")
    db.close()
    monkeypatch.undo()
    db = Database(tmp_path)
    db.open()
    journal = Journal(db)
    assert _numbers(journal, 1) == [0, 1, 2]
    assert _numbers(journal, 2) == [0]
    assert "n" not in next(e for e in journal.pending(0, 100) if e.kind == "status").body
    records = {r.local_id: r for r in journal.transactions()}
    assert records[1].tx_uid != records[2].tx_uid and all(len(r.tx_uid or "") == 36 for r in records.values())
    journal.record_sample(2, 1, "2026-12-06T10:05:00.000Z", "Sample.Periodic", E, 1200)
    assert _numbers(journal, 2) == [0, 1]
    db.close()


def test_the_latest_stamp_of_a_transaction_counts_every_event_as_a_time(tmp_path: Path) -> None:
    """What a PowerLoss stop at start-up is stamped with (m10): the latest of its events,
    a charging-state change after the last sample included, compared as times."""
    db = Database(tmp_path)
    db.open()
    journal = Journal(db, sync_seconds=60.0)
    local = journal.begin_transaction(1, "AA", 1000, "2026-12-06T10:00:00.000Z", [])
    journal.record_sample(local, 1, "2026-12-06T10:01:00Z", "Sample.Periodic", E, 1100)  # held
    assert journal.latest_stamp(local) == "2026-12-06T10:01:00Z"
    assert journal.record_tx_event(local, 1, "2026-12-06T10:01:00.500Z", "SuspendedEV")  # later, sorts earlier as text
    assert journal.latest_stamp(local) == "2026-12-06T10:01:00.500Z"
    assert journal.open_transactions()[0].last_meter_at == "2026-12-06T10:01:00Z"  # the meter checkpoint is older
    assert journal.latest_stamp(local + 1) is None
    db.close()


def _old_sample_line(seq: int, local: int, wh: int, stamp: str) -> str:
    """A held sample as the schema-7 release noted it in the side file: no event number."""
    body = {"connector": 1, "timestamp": stamp, "context": "Sample.Periodic",
            "samples": [["Energy.Active.Import.Register", wh, "Wh"]]}
    return json.dumps({"k": "s", "seq": seq, "tx": local, "at": stamp, "clock": "system", "body": body})


def test_a_schema_7_journal_with_held_samples_is_numbered_when_opened(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An upgrade after a kill: the samples the old release held in its side file
    take the numbers after the database's events, and nothing goes out as seqNo 0 twice."""
    monkeypatch.setattr(store, "_SCHEMA", store._SCHEMA[:7])
    db = Database(tmp_path)
    db.open()
    with sqlite3.connect(db.path) as conn:
        conn.execute("INSERT INTO transactions(connector, id_tag, started_at, meter_start_wh, begin_values) "
                     "VALUES (1, 'AA', '2026-12-06T10:00:00.000Z', 1000, '[]')")
        for kind, body in (("tx_started", {"connector": 1, "id_tag": "AA", "meter_wh": 1000,
                                           "timestamp": "2026-12-06T10:00:00.000Z"}),
                           ("meter_sample", {"connector": 1, "timestamp": "2026-12-06T10:01:00.000Z",
                                             "context": "Sample.Periodic", "samples": [E[0].to_json()]})):
            conn.execute("INSERT INTO outbox(kind, local_tx, body, created_at) VALUES (?, 1, ?, ?)",
                         (kind, json.dumps(body), body["timestamp"]))
        conn.execute("INSERT INTO outbox(kind, local_tx, body, created_at) VALUES ('status', NULL, ?, 'x')",
                     (json.dumps({"connector": 1, "status": "Charging", "error_code": "NoError",
                                  "timestamp": "2026-12-06T10:01:30.000Z"}),))
    db.close()
    # Killed with two samples held: only in the side file.
    lines = [_old_sample_line(4, 1, 1200, "2026-12-06T10:02:00.000Z"),
             _old_sample_line(5, 1, 1300, "2026-12-06T10:03:00.000Z"),
             json.dumps({"k": "m", "tx": 1, "wh": 1300, "at": "2026-12-06T10:03:00.000Z"})]
    (tmp_path / "ladda.sqlite3-held").write_text("".join(line + "\n" for line in lines))
    monkeypatch.undo()
    db = Database(tmp_path)
    db.open()
    journal = Journal(db, sync_seconds=60.0)  # the upgrade, then the side file rebuilt
    journal.record_sample(1, 1, "2026-12-06T10:10:00.000Z", "Sample.Periodic", E, 1400)
    journal.end_transaction(1, 1500, "2026-12-06T10:11:00.000Z", "Local", "AA", [])
    entries = [e for e in journal.pending(0, 100) if e.local_tx == 1]
    assert [e.body["n"] for e in entries] == [0, 1, 2, 3, 4, 5]
    assert [e.body["timestamp"][11:16] for e in entries] == ["10:00", "10:01", "10:02", "10:03", "10:10", "10:11"]
    assert [request_for(e).seq_no for e in entries] == [0, 1, 2, 3, 4, 5]
    assert db.read("SELECT events FROM transactions WHERE local_id = 1")[0][0] == 6
    db.close()


def test_events_queued_without_a_number_after_the_upgrade_are_numbered_when_opened(tmp_path: Path) -> None:
    """A rollback to the release before runs on the new schema (Database.open) and queues
    events without a number; the next start of this release numbers them, after the rest."""
    db = Database(tmp_path)
    db.open()
    journal = Journal(db, sync_seconds=60.0)
    local = journal.begin_transaction(1, "AA", 1000, "2026-12-06T10:00:00.000Z", [])
    journal.record_sample(local, 1, "2026-12-06T10:01:00.000Z", "Sample.Periodic", E, 1100)
    db.close()
    with sqlite3.connect(db.path) as conn:  # the earlier release, on this database
        conn.execute("INSERT INTO outbox(kind, local_tx, body, created_at) VALUES ('meter_sample', ?, ?, 'x')",
                     (local, json.dumps({"connector": 1, "timestamp": "2026-12-06T10:02:00.000Z",
                                         "context": "Sample.Periodic", "samples": [E[0].to_json()]})))
        conn.execute("INSERT INTO outbox(kind, local_tx, body, created_at) VALUES ('tx_stopped', ?, ?, 'x')",
                     (local, json.dumps({"connector": 1, "id_tag": "AA", "meter_wh": 1200, "reason": "Local",
                                         "timestamp": "2026-12-06T10:03:00.000Z", "transaction_data": []})))
    db = Database(tmp_path)
    db.open()
    journal = Journal(db, sync_seconds=60.0)
    assert _numbers(journal, local) == [0, 1, 2, 3]
    assert db.read("SELECT events FROM transactions WHERE local_id = ?", (local,))[0][0] == 4
    db.close()


def test_a_transaction_event_without_a_number_is_held_back_not_sent_as_0() -> None:
    body = {"connector": 1, "timestamp": "2026-12-06T10:02:00.000Z", "context": "Sample.Periodic",
            "samples": [E[0].to_json()]}
    with pytest.raises(Unnumbered, match="no event number"):  # it waits to be numbered, never dropped
        request_for(Entry(7, METER_SAMPLE, 1, body, 0, None, "b6f0c7e2-0000-4000-8000-000000000000"))
    assert request_for(Entry(7, METER_SAMPLE, 1, {**body, "n": 3}, 0, None, "b6f0c7e2")).seq_no == 3


def test_a_commit_that_fails_gives_its_event_number_back(tmp_path: Path) -> None:
    """The disk fills up: the events whose commit failed take no number, so the next
    ones close up and the backend sees no seqNo gap (it would wait for the lost one)."""
    db = Database(tmp_path)
    db.open()
    journal = Journal(db)
    local = journal.begin_transaction(1, "AA", 1000, "2026-12-06T10:00:00.000Z", [])
    db.write(f"PRAGMA max_page_count = {db.read('PRAGMA page_count')[0][0]}")  # the disk is full now
    states = ["Charging", "SuspendedEV"]
    with pytest.raises(store.StoreError):
        for i in range(1000):  # until the pages there are run out
            journal.record_tx_event(local, 1, f"2026-12-06T10:01:{i % 60:02d}.000Z", states[i % 2])
    with pytest.raises(store.StoreError):
        journal.end_transaction(local, 1200, "2026-12-06T10:03:00.000Z", "Local", "AA", [])
    db.write("PRAGMA max_page_count = 1073741823")  # space again
    assert journal.record_tx_event(local, 1, "2026-12-06T10:04:00.000Z", "Charging")
    journal.record_sample(local, 1, "2026-12-06T10:05:00.000Z", "Sample.Periodic", E, 1300)
    journal.end_transaction(local, 1400, "2026-12-06T10:06:00.000Z", "Local", "AA", [])
    numbers = _numbers(journal, local)
    assert len(numbers) >= 4 and numbers == list(range(len(numbers)))
    db.close()
