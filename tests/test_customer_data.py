"""A customer's data (agent.customer_data) against a real SQLite journal: what is found for
a token, what a clear removes at once, what it keeps until the backend has the
transaction whole, and that a clear is one commit."""

from __future__ import annotations

import json
import sqlite3

import pytest

from agent.customer_data import CustomerRecords, describe, describe_erasure
from agent.journal import ERASE_NOTE, TX_STARTED, TX_STOPPED, Journal, Sample
from agent.local_list import LocalList
from agent.store import ChargerState, Database, StoreError

from .journal_helpers import ENERGY, db, on_disk  # noqa: F401 - db is a fixture

T0 = "2026-01-01T10:00:00.000Z"
T1 = "2026-01-01T11:00:00.000Z"


def records(db: Database, journal: Journal | None = None) -> CustomerRecords:
    return CustomerRecords(db, ChargerState(db), journal or Journal(db), LocalList(db))


def finished(journal: Journal, token: str, wh: int = 1500, stop_token: str | None = None) -> int:
    """A transaction of ``token`` that began and ended; its messages are still to send."""
    local = journal.begin_transaction(1, token, 1000, T0, [Sample(ENERGY, 1000, "Wh")])
    journal.end_transaction(local, 1000 + wh, T1, "EVDisconnected", stop_token or token, [])
    return local


def deliver_all(journal: Journal) -> None:
    for entry in journal.pending(0, 1000):
        journal.mark_done(entry.seq, "acked", entry.kind)


def bodies(db: Database, local: int) -> list[dict]:
    return [json.loads(b) for (b,) in on_disk(db, "SELECT body FROM outbox WHERE local_tx = ? ORDER BY seq", (local,))]


def row(db: Database, local: int) -> tuple:
    return on_disk(db, "SELECT id_tag, stop_id_tag FROM transactions WHERE local_id = ?", (local,))[0]


async def list_of(db: Database, *tags: str) -> None:
    entries = [{"id_tag": t, "id_tag_info": {"status": "Accepted", "parent_id_tag": "FLEET"}} for t in tags]
    await LocalList(db).update("Full", 3, entries, max_length=100, max_request=100)


async def test_everything_held_about_a_token_is_found_whatever_its_case(db):
    journal = Journal(db)
    state = ChargerState(db)
    await list_of(db, "04aabbcc")
    # Written after the list (whose updates drop cached tokens it names): both found.
    state.cache_authorization("04AABBCC", "Accepted", "FLEET", "2030-01-01T00:00:00.000Z")
    mine = finished(journal, "04AABBCC", wh=2500)
    stopped_by_me = finished(journal, "OTHER", stop_token="04aabbcc")
    finished(journal, "STRANGER")
    state.save_reservation(7, 2, "04AaBbCc", None, "2030-01-01T00:00:00.000Z")
    data = await records(db, journal).find("04aabbcc")
    assert [c.status for c in data.cached] == ["Accepted"] and data.cached[0].group == "FLEET"
    assert data.listed is not None and data.list_version == 3
    assert [t.local_id for t in data.transactions] == [mine, stopped_by_me]
    assert [r.reservation_id for r in data.reservations] == [7]
    lines = describe(data)
    assert lines[0].startswith("authorization cache: Accepted, group FLEET, expires 2030-01-01")
    assert lines[1] == "local authorization list (version 3): Accepted, group FLEET"
    assert "begun with this token" in lines[2] and "2.500 kWh" in lines[2] and "(EVDisconnected)" in lines[2]
    assert "stopped with this token" in lines[3]
    assert lines[4].startswith("reservation 7 of connector 2 until 2030-01-01")
    assert not data.empty


async def test_nothing_is_found_for_an_unknown_or_an_empty_token(db):
    journal = Journal(db)
    local = journal.begin_transaction(1, None, 0, T0, [], started_by="ev")  # no token: '' in the table
    journal.end_transaction(local, 10, T1, "EVDisconnected", None, [])
    for token in ("NOBODY", ""):
        data = await records(db, journal).find(token)
        assert data.empty and describe(data) == []
    assert await records(db, journal).clear("") == await records(db, journal).clear("NOBODY")


async def test_a_clear_forgets_what_the_charger_gathered_and_keeps_what_the_backend_owns(db):
    journal = Journal(db)
    state = ChargerState(db)
    await list_of(db, "04AABBCC")
    state.cache_authorization("04AABBCC", "Accepted", None, None)
    state.cache_authorization("STRANGER", "Accepted", None, None)
    mine = finished(journal, "04AABBCC")
    theirs = finished(journal, "STRANGER")
    deliver_all(journal)
    state.save_reservation(7, 1, "04AABBCC", None, "2030-01-01T00:00:00.000Z")
    found = await records(db, journal).find("04aabbcc")
    erasure = await records(db, journal).clear("04aabbcc")
    assert (erasure.cache_entries, erasure.cleared, erasure.kept_until_delivered) == (1, (mine,), ())
    assert erasure.list_entry_kept and erasure.reservations_kept == (7,)
    # On disk, for the next process: the token is gone from the transaction and its messages.
    assert row(db, mine) == ("", None)
    assert all("id_tag" not in b for b in bodies(db, mine))
    assert on_disk(db, "SELECT id_tag FROM auth_cache") == [("STRANGER",)]
    # The stranger's data, the list and the reservation are untouched.
    assert row(db, theirs) == ("STRANGER", "STRANGER")
    assert [b.get("id_tag") for b in bodies(db, theirs)] == ["STRANGER", "STRANGER"]
    assert await LocalList(db).lookup("04AABBCC") is not None
    assert [r["reservation_id"] for r in state.reservations()] == [7]
    # What is left is what the backend owns; the transaction is there without its token.
    after = await records(db, journal).find("04AABBCC")
    assert after.transactions == () and after.cached == () and after.listed is not None
    assert journal.transactions()[-1].id_tag is None and journal.transactions()[-1].meter_stop_wh == 2500
    words = describe_erasure(erasure, found)
    assert words[0].startswith("cleared: the authorization cache entry; the token of transaction ")
    assert any(w.startswith("kept: the local authorization list entry") for w in words)
    assert any(w.startswith("kept: reservation 7") for w in words)


async def test_an_undelivered_transaction_keeps_its_token_until_the_backend_has_it(db):
    journal = Journal(db)
    state = ChargerState(db)
    local = finished(journal, "04AABBCC")
    erasure = await records(db, journal).clear("04AABBCC")
    assert erasure.cleared == () and erasure.kept_until_delivered == (local,)
    assert journal.erasures_waiting() == [(local, "04AABBCC")]
    assert describe(await records(db, journal).find("04AABBCC"))[0].endswith(
        "(its token goes once the backend has it whole)")
    # What is still to be sent is sent exactly as it was journaled.
    start, stop = journal.pending()
    assert (start.kind, start.body["id_tag"]) == (TX_STARTED, "04AABBCC")
    assert (stop.kind, stop.body["id_tag"]) == (TX_STOPPED, "04AABBCC")
    # The backend's answer to the start may fill the cache again meanwhile.
    journal.mark_done(start.seq, "acked", start.kind)
    state.cache_authorization("04AABBCC", "Accepted", None, None)
    assert row(db, local) == ("04AABBCC", "04AABBCC")
    # The delivery of the last message clears the token, in its own commit.
    journal.mark_done(stop.seq, "acked", stop.kind)
    assert row(db, local) == ("", None)
    assert all("id_tag" not in b for b in bodies(db, local))
    assert on_disk(db, "SELECT * FROM auth_cache") == []
    assert on_disk(db, "SELECT * FROM notes WHERE name = ?", (ERASE_NOTE,)) == []
    assert journal.erasures_waiting() == []


async def test_a_running_transaction_keeps_its_token_until_it_ended_and_was_delivered(db):
    journal = Journal(db)
    local = journal.begin_transaction(1, "04AABBCC", 1000, T0, [])
    deliver_all(journal)
    erasure = await records(db, journal).clear("04AABBCC")
    assert erasure.kept_until_delivered == (local,)
    assert journal.open_transactions()[0].id_tag == "04AABBCC"  # still stopped by its card
    journal.record_sample(local, 1, "2026-01-01T10:30:00.000Z", "Sample.Periodic", [Sample(ENERGY, 1200, "Wh")], 1200)
    deliver_all(journal)  # a sample delivered settles nothing
    assert row(db, local)[0] == "04AABBCC"
    journal.end_transaction(local, 1400, T1, "Local", "04AABBCC", [])
    (stop,) = journal.pending()
    assert stop.body["id_tag"] == "04AABBCC"  # the Ended message carries it
    journal.mark_done(stop.seq, "acked", stop.kind)
    assert row(db, local) == ("", None)
    assert journal.transactions()[0].meter_stop_wh == 1400


async def test_a_message_given_up_settles_the_transaction_too(db):
    journal = Journal(db)
    local = finished(journal, "04AABBCC")
    await records(db, journal).clear("04AABBCC")
    for entry in journal.pending():
        journal.mark_done(entry.seq, "abandoned: InternalError", entry.kind)
    assert row(db, local) == ("", None)


async def test_a_clear_waiting_for_delivery_survives_a_restart(db):
    journal = Journal(db)
    local = finished(journal, "04AABBCC")
    await records(db, journal).clear("04AABBCC")
    again = Database(db.path.parent)  # the next run, on the same file
    again.open()
    try:
        restarted = Journal(again)
        assert restarted.erasures_waiting() == [(local, "04AABBCC")]
        for entry in restarted.pending():
            restarted.mark_done(entry.seq, "acked", entry.kind)
        assert on_disk(again, "SELECT id_tag FROM transactions WHERE local_id = ?", (local,)) == [("",)]
    finally:
        again.close()


async def test_a_clear_is_one_commit_all_or_nothing(db, monkeypatch):
    journal = Journal(db)
    state = ChargerState(db)
    state.cache_authorization("04AABBCC", "Accepted", None, None)
    done = finished(journal, "04AABBCC")
    deliver_all(journal)
    waiting = finished(journal, "04AABBCC")
    real = journal.erase_token

    def fails_after_writing(conn: sqlite3.Connection, token: str) -> tuple[list[int], list[int]]:
        real(conn, token)  # every write made, then the commit fails (a full disk, a kill)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(journal, "erase_token", fails_after_writing)
    with pytest.raises(StoreError):
        await records(db, journal).clear("04AABBCC")
    assert on_disk(db, "SELECT id_tag FROM auth_cache") == [("04AABBCC",)]
    assert row(db, done) == ("04AABBCC", "04AABBCC")
    assert on_disk(db, "SELECT * FROM notes WHERE name = ?", (ERASE_NOTE,)) == []
    assert waiting  # untouched as well: nothing noted for it


async def test_housekeeping_settles_what_no_delivery_settled_and_forgets_pruned_ones(db):
    journal = Journal(db)
    local = finished(journal, "04AABBCC")
    gone = finished(journal, "04AABBCC")
    await records(db, journal).clear("04AABBCC")
    # Settled behind the journal's back (as an older release's acknowledgement would), and one pruned.
    db.write("UPDATE outbox SET done_at = ?, outcome = 'acked' WHERE local_tx IN (?, ?)", (T1, local, gone))
    db.write("DELETE FROM outbox WHERE local_tx = ?", (gone,))
    db.write("DELETE FROM transactions WHERE local_id = ?", (gone,))
    assert journal.settle_erasures() is False
    assert row(db, local) == ("", None)
    assert journal.erasures_waiting() == []


async def test_a_clear_leaves_the_token_nowhere_in_the_database_files(db):
    """Neither in free pages nor in old WAL frames: secure_delete for the commit, and the
    WAL checkpointed and truncated after it."""
    journal = Journal(db)
    token = "04C0FFEE5EC2E7"
    local = finished(journal, token)
    deliver_all(journal)
    ChargerState(db).cache_authorization(token, "Accepted", None, None)
    assert token.encode() in _database_bytes(db)
    data, erasure = await records(db, journal).gather(token, clear=True)
    assert erasure is not None and erasure.cleared == (local,) and erasure.cache_entries == 1
    assert len(data.transactions) == 1  # what was held, read in the same call
    assert token.encode() not in _database_bytes(db)
    assert token.casefold().encode() not in _database_bytes(db).lower()


def _database_bytes(db: Database) -> bytes:
    files = [db.path, db.path.with_name(db.path.name + "-wal")]
    return b"".join(p.read_bytes() for p in files if p.exists())


async def test_find_and_clear_are_one_call_on_the_database_thread(db, monkeypatch):
    calls = []
    real = db.run

    async def counted(fn, *args):  # type: ignore[no-untyped-def]
        calls.append(fn)
        return await real(fn, *args)

    monkeypatch.setattr(db, "run", counted)
    await records(db).gather("NOBODY", clear=True)
    assert len(calls) == 1
