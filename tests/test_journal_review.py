"""The journal's held samples and side file on the failure paths: a side file the agent
did not write as it expects, a write to it that fails or stops short, and sequence
numbers of samples that never reached the database."""

from __future__ import annotations

import json
import os

import pytest

from agent.journal import METER_SAMPLE, TX_STARTED, Journal, Sample
from agent.store import Database, StoreError

from .journal_helpers import ENERGY, WINDOW, crashed_copy, db, on_disk, sample, side  # noqa: F401 - db is a fixture


def _line(item: dict) -> bytes:
    return (json.dumps(item, separators=(",", ":")) + "\n").encode()


def test_a_side_file_naming_a_transaction_the_database_no_longer_has_does_not_stop_the_start(db):
    """A side file left from before the transaction was pruned (or a garbled one) must not
    keep the agent from starting: the foreign key would fail the recovery commit at every
    start. What can be recovered is, the rest is dropped."""
    journal = Journal(db, WINDOW, side(db))
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    journal.sync()
    body = json.dumps({"connector": 1, "timestamp": "2026-01-01T10:01:00.000Z", "context": "Sample.Periodic",
                       "samples": [{"measurand": ENERGY, "value": 1, "unit": "Wh"}]}, separators=(",", ":"))
    at = "2026-01-01T10:01:00.000Z"
    side(db).write_bytes(
        _line({"k": "s", "seq": 50, "tx": 999, "body": body, "at": at, "clock": "system"})  # gone transaction
        + _line({"k": "v", "row": [60, 999, at, "Sample.Periodic", "[]", "system"]})
        + _line({"k": "v", "row": [61, local, at]})  # garbled: too short
        + _line({"k": "s", "seq": "x", "tx": local, "body": body, "at": at, "clock": "system"})  # garbled seq
        + _line({"k": "s", "seq": 52, "tx": local, "body": body, "at": at, "clock": "system"})  # good
        + _line({"k": "v", "row": [62, local, at, "Sample.Periodic", "[]", "system"]})  # good
    )
    recovered = Journal(db, WINDOW, side(db))
    assert [(e.seq, e.kind) for e in recovered.pending()][-1] == (52, METER_SAMPLE)
    assert on_disk(db, "SELECT seq FROM outbox WHERE kind = ?", (METER_SAMPLE,)) == [(52,)]
    assert on_disk(db, "SELECT id FROM transaction_values") == [(62,)]
    assert side(db).read_bytes() == b""


def test_a_sample_not_noted_in_the_side_file_is_not_sent_when_the_side_file_is_synced(db, monkeypatch):
    """Disk full: the side file cannot be appended to and the database cannot commit. The
    sample stays in memory only; syncing the side file must not make it sendable, since a
    power cut would lose a value the backend has."""
    journal = Journal(db, WINDOW, side(db))
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    sample(journal, local, 1100)  # noted, durable at once (the first of a while)
    assert [e.kind for e in journal.pending()] == [TX_STARTED, METER_SAMPLE]
    sample(journal, local, 1150, "2026-01-01T10:01:30.000Z")  # noted, waits for the window

    real_write = os.write

    def full(fd, data):
        if b'"k":"s"' in data:  # the sample's line, the longest, no longer fits
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    def no_commit(work, durable=True):
        raise StoreError("database or disk is full")

    monkeypatch.setattr(os, "write", full)
    monkeypatch.setattr(db, "transaction", no_commit)
    with pytest.raises(StoreError):
        sample(journal, local, 1200, "2026-01-01T10:02:00.000Z")
    monkeypatch.setattr(os, "write", real_write)
    journal._side_synced_at = float("-inf")  # the window has passed
    journal.make_durable()
    sent = [e.body["samples"][0]["value"] for e in journal.pending() if e.kind == METER_SAMPLE]
    assert 1150 in sent
    assert 1200 not in sent  # only in memory: it may not go out


def test_a_short_write_to_the_side_file_does_not_cost_the_next_line(db, tmp_path, monkeypatch):
    """os.write may write part of a line (disk full at that moment). The torn line must
    not be taken as noted, nor swallow the line after it at the next start."""
    journal = Journal(db, WINDOW, side(db))
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    real_write = os.write
    calls = {"n": 0}

    def short_once(fd, data):
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, data[: len(data) // 2])
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", short_once)
    sample(journal, local, 1100)
    sample(journal, local, 1200, "2026-01-01T10:02:00.000Z")
    monkeypatch.setattr(os, "write", real_write)
    # Killed now: the next start rebuilds what was held from the side file.
    restarted = crashed_copy(db, tmp_path)
    try:
        recovered = Journal(restarted, WINDOW, side(restarted))
        kept = [json.loads(r[0])[0]["value"] for r in on_disk(restarted, "SELECT samples FROM transaction_values ORDER BY id")]
        assert kept == [1100, 1200]
        sent = [e.body["samples"][0]["value"] for e in recovered.pending() if e.kind == METER_SAMPLE]
        assert sent == [1100, 1200]
    finally:
        restarted.close()


def test_a_sample_acknowledged_while_held_keeps_its_sequence_number_after_a_restart(tmp_path):
    """A sample answered before the sync is never written; the number it was given must
    still not be given again after a restart."""
    db = Database(tmp_path)
    db.open()
    journal = Journal(db, WINDOW, side(db))
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    start = journal.pending()[0]
    journal.acknowledge_start(start.seq, local, 77, "Accepted")
    sample(journal, local, 1100)
    held = journal.pending()[0]
    assert held.kind == METER_SAMPLE
    journal.mark_done(held.seq, "acked", METER_SAMPLE)
    db.close()  # orderly stop: what is held is committed, the answered sample is not written

    again = Database(tmp_path)
    again.open()
    try:
        journal = Journal(again, WINDOW, side(again))
        journal.record_status(1, "Charging", "NoError", "2026-01-01T10:03:00.000Z")
        assert journal.pending()[0].seq > held.seq
    finally:
        again.close()


def test_a_database_that_takes_no_write_at_the_start_keeps_what_the_side_file_held(tmp_path, monkeypatch):
    """Disk full at the start: the side file of a killed run cannot be committed. The
    agent must start all the same (not fail at every start), keep what it rebuilt, send
    a sample only once the side file is durable, and commit it all once it can."""
    db = Database(tmp_path)
    db.open()
    journal = Journal(db, WINDOW, side(db))
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    journal.acknowledge_start(journal.pending()[0].seq, local, 77, "Accepted")
    sample(journal, local, 1100)
    noted = side(db).read_bytes()
    db._close_hooks.clear()  # killed: nothing committed on the way out
    db.close()

    again = Database(tmp_path)
    again.open()
    try:
        real = again.transaction

        def full(work, durable=True):
            raise StoreError("database or disk is full")

        monkeypatch.setattr(again, "transaction", full)
        recovered = Journal(again, WINDOW, side(again))  # does not raise
        assert side(again).read_bytes() == noted  # kept: the database has none of it
        assert recovered.pending() == []  # not sent before the side file is durable
        assert recovered.open_transactions()[0].last_meter_wh == 1100
        assert recovered.make_durable() == 1
        assert [e.kind for e in recovered.pending()] == [METER_SAMPLE]
        monkeypatch.setattr(again, "transaction", real)
        recovered.sync()
        assert on_disk(again, "SELECT kind FROM outbox WHERE done_at IS NULL") == [(METER_SAMPLE,)]
        assert on_disk(again, "SELECT last_meter_wh FROM transactions") == [(1100,)]
        assert side(again).read_bytes() == b""
    finally:
        again.close()
