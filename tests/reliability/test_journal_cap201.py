"""A long offline stretch over OCPP 2.0.1: what the journal's cap does to seqNo.

Beyond ``[state] journal_max_mb`` the journal thins undelivered meter samples (every
second one, oldest first: agent.journal.Journal.shed_to); starts and stops are kept.
Over 1.6 the loss is on record in the outbox and the backend sees fewer MeterValues.
Over 2.0.1 every sample is a TransactionEvent numbered when it was journaled: the
events of a thinned transaction that were never sent are numbered again, so the backend
sees seqNo gapless from 0, while a number that may have been sent (delivered, in
flight, or in the link's loaded batch) never changes. Real parts: the journal on
SQLite, the 2.0.1 adapter's own spelling of each entry, and the test CSMS's 2.0.1
ledger booking them.
"""

from __future__ import annotations

from typing import Any

from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case

from agent.journal import Journal, Sample
from agent.store import Database
from agent.ocpp201.outbound import request_for
from simulators.csms.ledger201 import TransactionLedger201
from tests.journal_helpers import ENERGY, db  # noqa: F401 - db is a fixture


def _offline_session(journal: Journal, samples: int) -> None:
    local = journal.begin_transaction(1, "CAP201", 0, "2026-01-01T00:00:00.000Z", [Sample(ENERGY, 0, "Wh")])
    for i in range(1, samples + 1):
        stamp = f"2026-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z"
        journal.record_sample(local, 1, stamp, "Sample.Periodic", [Sample(ENERGY, i, "Wh")], i)
    journal.end_transaction(local, samples, "2026-01-01T23:00:00.000Z", "Local", "CAP201", [Sample(ENERGY, samples, "Wh")])


def _running_session(journal: Journal, samples: int) -> int:
    """A transaction still running, ``samples`` meter samples into it; its local id."""
    local = journal.begin_transaction(1, "CAP201", 0, "2026-01-01T00:00:00.000Z", [Sample(ENERGY, 0, "Wh")])
    for i in range(1, samples + 1):
        journal.record_sample(local, 1, f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.000Z", "Sample.Periodic",
                              [Sample(ENERGY, i, "Wh")], i)
    return local


def _book(journal: Journal) -> tuple[list[dict[str, Any]], list[str]]:
    """Send every pending entry as 2.0.1 spells it to the test CSMS's ledger."""
    anomalies: list[str] = []
    ledger = TransactionLedger201(lambda cp, kind, action, uid, tx, detail, payload: anomalies.append(kind))
    for n, entry in enumerate(journal.pending(limit=100_000)):
        payload = remove_nones(snake_to_camel_case(serialize_as_dict(request_for(entry))))
        ledger.event("CAP", str(n), payload)
    return ledger.transactions("CAP"), anomalies


def test_without_the_cap_the_offline_events_are_gapless(db):  # noqa: F811 - the fixture
    journal = Journal(db)
    journal.online = lambda: False
    _offline_session(journal, 200)
    [tx], anomalies = _book(journal)
    assert anomalies == []
    assert tx["seq_nos"] == list(range(202)) and tx["offline_events"] == 202 and tx["stopped"]


def test_thinning_over_the_cap_leaves_no_seq_no_gap(db):  # noqa: F811 - the fixture
    journal = Journal(db)
    journal.online = lambda: False
    _offline_session(journal, 200)
    assert journal.shed_to(journal.undelivered_bytes() // 2) > 0
    [tx], anomalies = _book(journal)
    assert tx["stopped"] and tx["meter_stop"] == 200  # the start and the stop are kept...
    assert anomalies == [], f"the backend's ledger noted {sorted(set(anomalies))}"  # ...but seqNos now have gaps
    assert tx["seq_nos"] == list(range(len(tx["seq_nos"])))


def test_thinning_renumbers_only_what_was_never_sent(db):  # noqa: F811 - the fixture
    journal = Journal(db)
    journal.online = lambda: False
    journal.sending_window = 5  # the link's batch
    local = journal.begin_transaction(1, "CAP201", 0, "2026-01-01T00:00:00.000Z", [Sample(ENERGY, 0, "Wh")])
    for i in range(1, 101):
        journal.record_sample(local, 1, f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.000Z", "Sample.Periodic",
                              [Sample(ENERGY, i, "Wh")], i)
    sent = journal.pending(limit=10)  # delivered
    for entry in sent:
        journal.mark_done(entry.seq, "acked", entry.kind)
    loaded = journal.pending(limit=5)  # on their way, with these numbers
    assert journal.shed_to(journal.undelivered_bytes() // 2) > 0
    after = journal.pending(limit=1000)
    assert [(e.seq, e.body) for e in after[:5]] == [(e.seq, e.body) for e in loaded]
    assert len(after) < 91
    # The transaction goes on after the thinning, numbered on from what is left.
    journal.record_sample(local, 1, "2026-01-01T00:02:00.000Z", "Sample.Periodic", [Sample(ENERGY, 101, "Wh")], 101)
    assert journal.record_tx_event(local, 1, "2026-01-01T00:02:01.000Z", "SuspendedEV")
    assert journal.shed_to(journal.undelivered_bytes() * 2 // 3) > 0  # a second pass, over the renumbered
    journal.end_transaction(local, 101, "2026-01-01T00:03:00.000Z", "Local", "CAP201", [Sample(ENERGY, 101, "Wh")])
    numbers = [e.body["n"] for e in sent] + [e.body["n"] for e in journal.pending(limit=1000)]
    assert numbers == list(range(len(numbers)))
    assert [e.body for e in journal.pending(limit=5)] == [e.body for e in loaded]
    assert db.read("SELECT events FROM transactions WHERE local_id = ?", (local,))[0][0] == len(numbers)


def test_a_restart_after_the_cap_numbers_on_without_a_gap(tmp_path):
    # The agent restarts (power cut, update, kill) with a thinned transaction still running:
    # what the start-up does for an older release's entries must not take the shed rows
    # (done, empty) for unnumbered events.
    db = Database(tmp_path)
    db.open()
    journal = Journal(db)
    journal.online = lambda: False
    local = _running_session(journal, 40)
    assert journal.shed_to(journal.undelivered_bytes() // 2) > 0
    db.close()
    db = Database(tmp_path)
    db.open()
    again = Journal(db)
    again.online = lambda: False
    assert again.adopt_older_entries() == 0
    again.record_sample(local, 1, "2026-01-01T00:01:00.000Z", "Sample.Periodic", [Sample(ENERGY, 41, "Wh")], 41)
    again.end_transaction(local, 41, "2026-01-01T00:02:00.000Z", "Local", "CAP201", [Sample(ENERGY, 41, "Wh")])
    [tx], anomalies = _book(again)
    db.close()
    assert anomalies == [] and tx["stopped"]
    assert tx["seq_nos"] == list(range(len(tx["seq_nos"])))


def test_what_a_link_loaded_keeps_its_numbers_after_a_power_cut_and_the_cap(tmp_path):
    # A backlog is being flushed: the link loaded 60 events and the backend booked them,
    # but a power cut lost the (not yet durable) record of its answers. After the restart
    # they look unsent; the cap must not renumber them (the backend has those seqNos).
    db = Database(tmp_path)
    db.open()
    journal = Journal(db)
    journal.online = lambda: False
    _running_session(journal, 100)
    booked = journal.pending(limit=30) + journal.pending(limit=60)[30:]
    journal.mark_loaded(booked[29].seq)
    journal.mark_loaded(booked[-1].seq)
    db.close()
    db = Database(tmp_path)
    db.open()
    again = Journal(db)
    again.online = lambda: False
    assert again.shed_to(again.undelivered_bytes() // 2) > 0
    after = again.pending(limit=1000)
    assert [(e.seq, e.body) for e in after[:60]] == [(e.seq, e.body) for e in booked]
    numbers = [e.body["n"] for e in after]
    db.close()
    assert numbers == list(range(len(numbers))) and len(numbers) < 101
