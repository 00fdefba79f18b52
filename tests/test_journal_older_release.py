"""A journal an older release wrote to after a rollback (schema 8 kept, its changes
additive): transactions without the charger's own id, entries without event numbers.
At start-up they get both, numbered in journal order after what a transaction had."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agent.journal import Journal, Sample
from agent.ocpp201 import outbound
from agent.store import Database

E = [Sample("Energy.Active.Import.Register", 1000.0, "Wh")]


def _numbers(journal: Journal, local: int) -> list[int]:
    return [e.body["n"] for e in journal.pending(0, 1000) if e.local_tx == local]


def test_what_an_older_release_journaled_gets_an_id_and_numbers(tmp_path: Path) -> None:
    db = Database(tmp_path)
    db.open()
    journal = Journal(db)
    old = journal.begin_transaction(1, "AA", 1000, "2026-12-06T10:00:00.000Z", [])
    journal.record_sample(old, 1, "2026-12-06T10:01:00.000Z", "Sample.Periodic", E, 1100)
    journal.end_transaction(old, 1200, "2026-12-06T10:03:00.000Z", "Local", "AA", [])
    mixed = journal.begin_transaction(2, "BB", 500, "2026-12-06T10:00:01.000Z", [])  # begun by this release
    journal.record_sample(mixed, 2, "2026-12-06T10:02:00.000Z", "Sample.Periodic", E, 600)
    kept = journal.begin_transaction(1, "CC", 1200, "2026-12-06T10:04:00.000Z", [])
    db.close()
    with sqlite3.connect(db.path) as conn:  # the older release: no ids, no numbers
        conn.execute("UPDATE transactions SET tx_uid = NULL, events = 0 WHERE local_id = ?", (old,))
        conn.execute("UPDATE outbox SET body = json_remove(body, '$.n') WHERE local_tx = ?", (old,))
        conn.execute("INSERT INTO outbox(kind, local_tx, body, created_at) VALUES ('meter_sample', ?, ?, 'x')",
                     (mixed, '{"connector": 2, "timestamp": "2026-12-06T10:05:00.000Z", '
                             '"context": "Sample.Periodic", "samples": []}'))
    conn.close()
    db = Database(tmp_path)
    db.open()
    journal = Journal(db)
    before = {r.local_id: r.tx_uid for r in journal.transactions()}
    assert journal.adopt_older_entries() == 2
    assert _numbers(journal, old) == [0, 1, 2]
    assert _numbers(journal, mixed) == [0, 1, 2]
    assert _numbers(journal, kept) == [0]
    after = {r.local_id: r.tx_uid for r in journal.transactions()}
    assert before[old] is None and len(after[old] or "") == 36
    assert after[mixed] == before[mixed] and after[kept] == before[kept]
    sent = [outbound.request_for(e) for e in journal.pending(0, 100) if e.local_tx == old]
    assert [(r.event_type, r.seq_no) for r in sent] == [("Started", 0), ("Updated", 1), ("Ended", 2)]
    journal.record_sample(mixed, 2, "2026-12-06T10:06:00.000Z", "Sample.Periodic", E, 700)
    assert _numbers(journal, mixed) == [0, 1, 2, 3]
    assert journal.adopt_older_entries() == 0  # nothing left to adopt
    db.close()
