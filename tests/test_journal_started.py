"""A transaction's start in the journal, as OCPP 2.0.1 needs it: the kind of token that
began it (a neutral ``token_type`` that 1.6 ignores) and the backend's verdict on that
token, stored with the start's acknowledgement."""

from __future__ import annotations

from pathlib import Path

from agent.journal import TX_STARTED, Journal
from agent.ocpp16 import outbound as outbound16
from agent.ocpp201 import outbound
from agent.store import Database


def test_the_start_keeps_a_remote_starts_token_type(tmp_path: Path) -> None:
    db = Database(tmp_path)
    db.open()
    journal = Journal(db)
    remote = journal.begin_transaction(1, "APP-1", 1000, "2026-12-06T10:00:00.000Z", [], remote_start_id=4,
                                       token_type="Central")
    card = journal.begin_transaction(2, "04A1B2C3", 500, "2026-12-06T10:00:01.000Z", [])
    entries = {e.local_tx: e for e in journal.pending(0, 100) if e.kind == TX_STARTED}
    assert entries[remote].body["token_type"] == "Central"
    assert "token_type" not in entries[card].body  # a card: the reader's kind
    started = outbound.request_for(entries[remote])
    assert started.id_token == {"idToken": "APP-1", "type": "Central"}
    assert (started.trigger_reason, started.transaction_info["remoteStartId"]) == ("RemoteStart", 4)
    assert outbound.request_for(entries[card]).id_token == {"idToken": "04A1B2C3", "type": "ISO14443"}
    assert outbound16.request_for(entries[remote]).id_tag == "APP-1"  # 1.6 reads what it knows
    # What a restart reads back to resume them: the kind of token with each.
    kinds = {r.local_id: r.token_type for r in journal.open_transactions()}
    assert kinds == {remote: "Central", card: None}
    db.close()


def test_the_verdict_is_stored_with_the_acknowledgement(tmp_path: Path) -> None:
    db = Database(tmp_path)
    db.open()
    journal = Journal(db)
    local = journal.begin_transaction(1, "APP-1", 1000, "2026-12-06T10:00:00.000Z", [], token_type="Central")
    (start,) = journal.pending(0, 100)
    journal.acknowledge_verdict(start.seq, local, "Invalid")
    assert journal.pending(0, 100) == []
    db.close()
    db = Database(tmp_path)  # what a restart (or `ladda sessions`) finds
    db.open()
    (record,) = Journal(db).open_transactions()
    assert (record.id_tag_status, record.backend_id) == ("Invalid", None)
    db.close()
