"""The journal spares the SD card: meter samples are held in memory and synced together,
while a start, a stop and their acknowledgements are on disk before anything else."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import time

import pytest

from agent.journal import KEPT_SYNC_S, METER_SAMPLE, STATUS, TX_STARTED, TX_STOPPED, Journal, Sample
from agent.store import PAGE_SIZE, Database

from .journal_helpers import ENERGY, WINDOW, crashed_copy, db, on_disk, sample, side  # noqa: F401 - db is a fixture


def test_a_held_sample_is_sent_at_once_but_written_only_at_the_sync(db):
    journal = Journal(db, WINDOW)
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    sample(journal, local, 1100)
    # The drain sees it at once...
    assert [e.kind for e in journal.pending()] == [TX_STARTED, METER_SAMPLE]
    assert journal.pending_count() == 2
    # ...the disk does not, yet: only the start, which was committed before it.
    assert on_disk(db, "SELECT kind FROM outbox ORDER BY seq") == [(TX_STARTED,)]
    assert journal.open_transactions()[0].last_meter_wh == 1100  # the held value is the one reported
    journal.sync()
    assert on_disk(db, "SELECT kind FROM outbox ORDER BY seq") == [(TX_STARTED,), (METER_SAMPLE,)]
    assert on_disk(db, "SELECT last_meter_wh FROM transactions") == [(1100,)]
    assert on_disk(db, "SELECT COUNT(*) FROM transaction_values") == [(1,)]


def test_a_sample_acknowledged_before_the_sync_is_never_written_but_its_traces_are(db):
    journal = Journal(db, WINDOW)
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    start = journal.pending()[0]
    journal.acknowledge_start(start.seq, local, 77, "Accepted")
    sample(journal, local, 1100)
    held = journal.pending()[0]
    assert held.kind == METER_SAMPLE and held.backend_tx == 77
    journal.mark_done(held.seq)
    assert journal.pending() == []
    journal.sync()
    assert on_disk(db, "SELECT kind FROM outbox ORDER BY seq") == [(TX_STARTED,)]
    # The stop still carries the value, and the meter value on record moved on.
    assert on_disk(db, "SELECT last_meter_wh FROM transactions") == [(1100,)]
    journal.end_transaction(local, 1200, "2026-01-01T10:02:00.000Z", "Local", "TAG1", [])
    stop = journal.pending()[0]
    assert [d["samples"][0]["value"] for d in stop.body["transaction_data"]] == [1100]


def test_a_durable_write_syncs_what_is_held_first_so_the_disk_keeps_the_order(db):
    journal = Journal(db, WINDOW)
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    sample(journal, local, 1100)
    sample(journal, local, 1200, "2026-01-01T10:02:00.000Z")
    journal.record_status(1, "SuspendedEV", "NoError", "2026-01-01T10:02:30.000Z")
    rows = on_disk(db, "SELECT seq, kind FROM outbox ORDER BY seq")
    assert [k for _, k in rows] == [TX_STARTED, METER_SAMPLE, METER_SAMPLE, STATUS]
    assert [s for s, _ in rows] == sorted(s for s, _ in rows)
    assert [e.seq for e in journal.pending()] == [s for s, _ in rows]


def test_a_failed_sync_keeps_what_is_held_for_the_next_one(db):
    journal = Journal(db, WINDOW)
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    sample(journal, local, 1100)
    blocker = sqlite3.connect(db.path, timeout=0)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the database
    db.conn.execute("PRAGMA busy_timeout=50")
    with pytest.raises(Exception):
        journal.sync()
    blocker.rollback()
    blocker.close()
    assert journal.pending_count() == 2
    journal.sync()
    assert on_disk(db, "SELECT kind FROM outbox ORDER BY seq") == [(TX_STARTED,), (METER_SAMPLE,)]


def test_a_sample_is_sent_only_once_durable_and_the_side_file_is_synced_at_most_once_a_window(db):
    journal = Journal(db, WINDOW)
    assert journal.sync_due() is None and journal.side_due() is None
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    now = time.monotonic()
    sample(journal, local, 1100)
    # The first sample of a while is made durable at once, and may go out.
    assert journal.side_due() is None
    assert [e.kind for e in journal.pending()] == [TX_STARTED, METER_SAMPLE]
    sample(journal, local, 1200, "2026-01-01T10:01:01.000Z")
    # The next one waits for the window: it is not sent before it could survive a cut.
    assert [e.body["samples"][0]["value"] for e in journal.pending() if e.kind == METER_SAMPLE] == [1100]
    due = journal.side_due(now)
    assert due is not None and WINDOW - 1 <= due <= WINDOW + 0.5
    assert journal.make_durable() == 1
    assert [e.body["samples"][0]["value"] for e in journal.pending() if e.kind == METER_SAMPLE] == [1100, 1200]
    # An acknowledgement need not survive a power cut: it asks for no sync of its own.
    journal.mark_done(journal.pending()[-1].seq)
    assert journal.side_due() is None
    # A meter checkpoint must: within the window.
    journal.checkpoint(local, 1250, "2026-01-01T10:01:30.000Z")
    assert journal.side_due(now) <= WINDOW + 0.5
    full = journal.sync_due(now)
    assert full is not None and KEPT_SYNC_S - 1 <= full <= KEPT_SYNC_S + 0.5


def test_with_a_window_of_zero_every_sample_is_written_at_once(db):
    journal = Journal(db, 0)
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    sample(journal, local, 1100)
    assert on_disk(db, "SELECT kind FROM outbox ORDER BY seq") == [(TX_STARTED,), (METER_SAMPLE,)]
    journal.checkpoint(local, 1150, "2026-01-01T10:01:30.000Z")
    assert on_disk(db, "SELECT last_meter_wh FROM transactions") == [(1150,)]
    assert journal.sync_due() is None


def test_closing_the_database_writes_what_is_held(tmp_path):
    db = Database(tmp_path)
    db.open()
    journal = Journal(db, WINDOW)
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    sample(journal, local, 1100)
    journal.checkpoint(local, 1180, "2026-01-01T10:01:40.000Z")
    db.close()
    assert on_disk(db, "SELECT kind FROM outbox ORDER BY seq") == [(TX_STARTED,), (METER_SAMPLE,)]
    assert on_disk(db, "SELECT last_meter_wh FROM transactions") == [(1180,)]


def test_sequence_numbers_go_on_after_a_restart_and_after_pruned_entries(db, tmp_path):
    journal = Journal(db, WINDOW)
    journal.record_status(1, "Available", "NoError", "2026-01-01T09:00:00.000Z")
    journal.record_status(1, "Preparing", "NoError", "2026-01-01T09:00:01.000Z")
    last = max(e.seq for e in journal.pending())
    db.write("DELETE FROM outbox")  # everything delivered and pruned
    db.close()
    again = Database(tmp_path)
    again.open()
    try:
        journal = Journal(again, WINDOW)
        sample(journal, None, 0)
        journal.record_status(1, "Available", "NoError", "2026-01-01T09:00:02.000Z")
        seqs = [e.seq for e in journal.pending()]
        assert seqs == sorted(seqs) and seqs[0] > last
    finally:
        again.close()


def test_a_meter_sample_acknowledgement_on_disk_leaves_the_database_in_full_sync(db):
    journal = Journal(db, 0)
    sample(journal, None, 0)
    entry = journal.pending()[0]
    journal.mark_done(entry.seq)
    assert journal.pending() == []
    assert on_disk(db, "SELECT outcome FROM outbox") == [("acked",)]
    assert db.read("PRAGMA synchronous")[0][0] == 2  # back to FULL for whatever comes next


def test_new_databases_use_small_pages_and_old_ones_are_rewritten_with_their_data(tmp_path):
    fresh = Database(tmp_path / "fresh")
    fresh.open()
    assert fresh.read("PRAGMA page_size")[0][0] == PAGE_SIZE
    fresh.close()

    old_dir = tmp_path / "old"
    old_dir.mkdir()
    old = sqlite3.connect(old_dir / "ladda.sqlite3")
    old.execute("PRAGMA page_size=4096")
    old.execute("PRAGMA journal_mode=WAL")
    old.close()
    db = Database(old_dir)
    db.open()
    Journal(db).record_status(1, "Available", "NoError", "2026-01-01T09:00:00.000Z")
    assert db.read("PRAGMA page_size")[0][0] == 4096
    db.use_small_pages()
    assert db.read("PRAGMA page_size")[0][0] == PAGE_SIZE
    assert db.read("PRAGMA journal_mode")[0][0] == "wal"
    assert [e.kind for e in Journal(db).pending()] == [STATUS]
    db.close()


def test_a_stop_written_with_held_samples_carries_them_all_in_order(db):
    journal = Journal(db, WINDOW)
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    for n in range(5):
        sample(journal, local, 1100 + n, f"2026-01-01T10:0{n + 1}:00.000Z")
    journal.end_transaction(local, 1200, "2026-01-01T10:07:00.000Z", "Local", "TAG1", [])
    kinds = [k for (k,) in on_disk(db, "SELECT kind FROM outbox ORDER BY seq")]
    assert kinds == [TX_STARTED] + [METER_SAMPLE] * 5 + [TX_STOPPED]
    stop = journal.pending()[-1]
    assert [d["samples"][0]["value"] for d in stop.body["transaction_data"]] == [1100, 1101, 1102, 1103, 1104]


def test_a_crash_loses_nothing_that_was_held_and_resends_no_acknowledged_sample(db, tmp_path):
    journal = Journal(db, WINDOW, side(db))
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    sample(journal, local, 1100)
    sample(journal, local, 1200, "2026-01-01T10:02:00.000Z")
    journal.mark_done(journal.pending()[1].seq)  # the first sample was answered
    journal.checkpoint(local, 1250, "2026-01-01T10:02:30.000Z")
    assert on_disk(db, "SELECT kind FROM outbox ORDER BY seq") == [(TX_STARTED,)]

    restarted = crashed_copy(db, tmp_path)
    try:
        recovered = Journal(restarted, WINDOW, side(restarted))
        pending = recovered.pending()
        assert [e.kind for e in pending] == [TX_STARTED, METER_SAMPLE]
        assert pending[1].body["samples"][0]["value"] == 1200  # the unanswered one only
        record = recovered.open_transactions()[0]
        assert (record.last_meter_wh, record.last_meter_at) == (1250, "2026-01-01T10:02:30.000Z")
        assert side(restarted).read_bytes() == b""  # synced, then emptied
        # Rebuilt again (the emptying lost to a power cut): nothing is doubled.
        recovered.end_transaction(local, 1300, "2026-01-01T10:03:00.000Z", "Local", "TAG1", [])
        stop = recovered.pending()[-1]
        assert [d["samples"][0]["value"] for d in stop.body["transaction_data"]] == [1100, 1200]
    finally:
        restarted.close()


def test_a_side_file_rebuilt_twice_or_torn_by_a_power_cut_doubles_nothing(db, tmp_path):
    journal = Journal(db, WINDOW, side(db))
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    sample(journal, local, 1100)
    noted = side(db).read_bytes()
    journal.sync()  # in the database now; the side file emptied
    assert side(db).read_bytes() == b""
    side(db).write_bytes(noted + b'{"k": "s", "seq": 9')  # the emptying undone, and a torn line
    restarted = crashed_copy(db, tmp_path)
    try:
        Journal(restarted, WINDOW, side(restarted))
        assert on_disk(restarted, "SELECT kind FROM outbox ORDER BY seq") == [(TX_STARTED,), (METER_SAMPLE,)]
        assert on_disk(restarted, "SELECT COUNT(*) FROM transaction_values") == [(1,)]
    finally:
        restarted.close()


def test_a_durable_acknowledgement_settles_every_sample_before_it(db):
    """A power cut may take the lazy acknowledgement of a MeterValues; the stop after it
    was answered with fsync, so the sample must not be sent again after the stop."""
    journal = Journal(db, 0)
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    journal.acknowledge_start(journal.pending()[0].seq, local, 5, "Accepted")
    sample(journal, local, 1100)
    journal.end_transaction(local, 1200, "2026-01-01T10:02:00.000Z", "Local", "TAG1", [])
    sample_entry, stop = journal.pending()
    # The sample's acknowledgement is lost (as a power cut can lose a lazy commit) ...
    journal.mark_done(stop.seq, "acked", TX_STOPPED)
    assert journal.pending() == []
    assert on_disk(db, "SELECT outcome FROM outbox WHERE seq = ?", (sample_entry.seq,)) == [("acked",)]


def test_a_sample_rebuilt_from_the_side_file_before_an_answered_stop_is_not_sent_again(db, tmp_path):
    """A power cut took the sample's acknowledgement and the emptying of the side file,
    but the stop after it was answered with fsync: the sample went out before the stop."""
    journal = Journal(db, WINDOW, side(db))
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    journal.acknowledge_start(journal.pending()[0].seq, local, 5, "Accepted")
    sample(journal, local, 1100)
    noted = side(db).read_bytes()  # the sample's line, durable; its acknowledgement never was
    journal.mark_done(journal.pending()[0].seq)
    journal.end_transaction(local, 1200, "2026-01-01T10:02:00.000Z", "Local", "TAG1", [])
    journal.mark_done(journal.pending()[0].seq, "acked", TX_STOPPED)
    side(db).write_bytes(noted)  # the cut undid the emptying and took the acknowledgement line
    restarted = crashed_copy(db, tmp_path)
    try:
        assert Journal(restarted, WINDOW, side(restarted)).pending() == []
    finally:
        restarted.close()


def notes(tmp_path, name: str = "notes"):
    """An acknowledgement notes file in a directory standing in for the tmpfs."""
    directory = tmp_path / "run"
    directory.mkdir(exist_ok=True)
    return directory / name


def with_a_held_sample(db: Database, tmp_path) -> tuple[Journal, int]:
    """A journal noting answers on the tmpfs, a running transaction and one held sample
    (1100 Wh) that the backend has not answered yet."""
    journal = Journal(db, WINDOW, side(db), notes(tmp_path))
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    sample(journal, local, 1100)
    return journal, local


def test_a_meter_values_answer_dirties_no_page_of_the_side_file_and_survives_a_crash(db, tmp_path):
    """At 60 s sampling most of what reached the card was the answer's line, written
    into the page the sample's fdatasync had just cleaned. It goes to memory that
    outlives the process, and into the side file only with the next sample's lines."""
    journal, _ = with_a_held_sample(db, tmp_path)
    before = side(db).stat().st_size
    journal.mark_done(journal.pending()[1].seq)
    assert side(db).stat().st_size == before
    assert b'"k":"d"' in notes(tmp_path).read_bytes()

    restarted = crashed_copy(db, tmp_path)  # killed: the tmpfs keeps its notes
    try:
        recovered = Journal(restarted, WINDOW, side(restarted), notes(tmp_path))
        assert [e.kind for e in recovered.pending()] == [TX_STARTED]  # the answered sample is not sent again
        assert notes(tmp_path).read_bytes() == b""  # what it named is in the database now
    finally:
        restarted.close()


def test_after_a_power_cut_an_answer_is_kept_once_the_next_sample_is_durable(db, tmp_path):
    journal, local = with_a_held_sample(db, tmp_path)
    journal.mark_done(journal.pending()[1].seq)
    sample(journal, local, 1200, "2026-01-01T10:02:00.000Z")  # carries the answer into the side file
    journal.make_durable()

    restarted = crashed_copy(db, tmp_path)
    notes(tmp_path).unlink()  # a power cut empties the tmpfs
    try:
        recovered = Journal(restarted, WINDOW, side(restarted), notes(tmp_path))
        pending = recovered.pending()
        assert [e.kind for e in pending] == [TX_STARTED, METER_SAMPLE]
        assert pending[1].body["samples"][0]["value"] == 1200
    finally:
        restarted.close()


def test_a_note_left_by_another_journal_at_the_same_path_settles_nothing(db, tmp_path):
    """A state directory wiped without a reboot: the tmpfs still names its sequence numbers."""
    notes(tmp_path).write_text(
        '{"k":"d","seq":2,"at":"2026-01-01T09:00:00.000Z","outcome":"acked","attempts":1,'
        '"taken":"2025-06-01T00:00:00.000Z"}\n')
    journal = Journal(db, WINDOW, side(db), notes(tmp_path))
    assert notes(tmp_path).read_bytes() == b""  # the stale note is dropped at the start
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    sample(journal, local, 1100)
    assert journal.pending()[1].seq == 2
    notes(tmp_path).write_text(  # and would not match the sample anyway
        '{"k":"d","seq":2,"at":"2026-01-01T09:00:00.000Z","outcome":"acked","attempts":1,'
        '"taken":"2025-06-01T00:00:00.000Z"}\n')
    restarted = crashed_copy(db, tmp_path)
    try:
        recovered = Journal(restarted, WINDOW, side(restarted), notes(tmp_path))
        assert [e.kind for e in recovered.pending()] == [TX_STARTED, METER_SAMPLE]
    finally:
        restarted.close()


def test_a_side_file_written_by_the_previous_release_is_rebuilt(db, tmp_path):
    """Lines used to carry the sample's JSON as a string: an update restarts the agent
    onto a side file the old release wrote."""
    journal = Journal(db, 0)
    local = journal.begin_transaction(1, "TAG1", 1000, "2026-01-01T10:00:00.000Z", [])
    body = ('{"connector":1,"timestamp":"2026-01-01T10:01:00.000Z","context":"Sample.Periodic",'
            '"samples":[{"measurand":"Energy.Active.Import.Register","value":1100,"unit":"Wh"}]}')
    stop_values = '[{"measurand":"Energy.Active.Import.Register","value":1100,"unit":"Wh"}]'
    lines = [
        {"k": "m", "tx": local, "wh": 1100, "at": "2026-01-01T10:01:00.000Z"},
        {"k": "v", "row": [1, local, "2026-01-01T10:01:00.000Z", "Sample.Periodic", stop_values, "ntp"]},
        {"k": "s", "seq": 2, "tx": local, "body": body, "at": "2026-01-01T10:01:00.100Z", "clock": "ntp"},
    ]
    side(db).write_text("".join(json.dumps(line) + "\n" for line in lines))
    restarted = crashed_copy(db, tmp_path)
    try:
        recovered = Journal(restarted, WINDOW, side(restarted), notes(tmp_path))
        pending = recovered.pending()
        assert [e.kind for e in pending] == [TX_STARTED, METER_SAMPLE]
        assert pending[1].body == {**json.loads(body), "n": 1}  # numbered after the start (no seqNo 0 twice)
        recovered.end_transaction(local, 1200, "2026-01-01T10:02:00.000Z", "Local", "TAG1", [])
        stop = recovered.pending()[-1]
        assert [d["samples"][0]["value"] for d in stop.body["transaction_data"]] == [1100]
    finally:
        restarted.close()


def test_a_clean_stop_leaves_no_notes_behind(db, tmp_path):
    journal, _ = with_a_held_sample(db, tmp_path)
    journal.mark_done(journal.pending()[1].seq)
    db.close()
    assert not notes(tmp_path).exists()
    assert on_disk(db, "SELECT outcome FROM outbox WHERE kind = ?", (METER_SAMPLE,)) == []  # answered: not kept


def test_a_note_torn_by_a_full_tmpfs_costs_no_later_answer(db, tmp_path, monkeypatch):
    """A short write leaves part of a line in the notes; the next note must still be read
    whole after a kill (the torn answer went to the side file instead)."""
    journal, local = with_a_held_sample(db, tmp_path)
    real_write = os.write

    def short(fd, data):
        if data.startswith(b'{"k":"d"'):
            return real_write(fd, data[:20])  # the tmpfs filled up mid-line
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", short)
    journal.mark_done(journal.pending()[1].seq)
    monkeypatch.setattr(os, "write", real_write)
    sample(journal, local, 1200, "2026-01-01T10:02:00.000Z")
    journal.make_durable()
    second = journal.pending()[-1].seq
    journal.mark_done(second)

    restarted = crashed_copy(db, tmp_path)
    try:
        recovered = Journal(restarted, WINDOW, side(restarted), notes(tmp_path))
        assert [e.kind for e in recovered.pending()] == [TX_STARTED]  # neither answered sample again
    finally:
        restarted.close()


def test_answers_noted_on_the_tmpfs_stay_while_the_side_file_could_not_be_emptied(db, tmp_path, monkeypatch):
    """An answered sample is not written as a row; if the side file keeps its line, the
    note is what keeps it from being sent again."""
    journal, _ = with_a_held_sample(db, tmp_path)
    journal.mark_done(journal.pending()[1].seq)
    real_ftruncate = os.ftruncate

    def failing(fd, size):
        if fd == journal._side:
            raise OSError(errno.EIO, "I/O error")
        return real_ftruncate(fd, size)

    monkeypatch.setattr(os, "ftruncate", failing)
    journal.sync()
    monkeypatch.setattr(os, "ftruncate", real_ftruncate)
    restarted = crashed_copy(db, tmp_path)
    try:
        recovered = Journal(restarted, WINDOW, side(restarted), notes(tmp_path))
        assert [e.kind for e in recovered.pending()] == [TX_STARTED]
    finally:
        restarted.close()


def test_a_note_this_journal_did_not_write_is_ignored_and_the_agent_starts(db, tmp_path):
    journal, _ = with_a_held_sample(db, tmp_path)
    notes(tmp_path).write_text('{"k":"d","seq":[2],"taken":"x"}\n{"seq":2,"at":1}\n[1,2]\nnot json\n')
    restarted = crashed_copy(db, tmp_path)
    try:
        recovered = Journal(restarted, WINDOW, side(restarted), notes(tmp_path))
        assert [e.kind for e in recovered.pending()] == [TX_STARTED, METER_SAMPLE]
    finally:
        restarted.close()
