"""A long offline stretch over OCPP 2.0.1: what the journal's cap does to seqNo.

Beyond ``[state] journal_max_mb`` the journal thins undelivered meter samples (every
second one, oldest first: agent.journal.Journal.shed_to); starts and stops are kept.
Over 1.6 the loss is on record in the outbox and the backend sees fewer MeterValues.
Over 2.0.1 every sample is a TransactionEvent numbered when it was journaled, so the
events left reach the backend with seqNo gaps: a CSMS that checks seqNo continuity (what
2.0.1 gives it seqNo for) takes them for lost events, and no event says they were
dropped on purpose. Real parts: the journal on SQLite, the 2.0.1 adapter's own
spelling of each entry, and the test CSMS's 2.0.1 ledger booking them.
"""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case

from agent.journal import Journal, Sample
from agent.ocpp201.outbound import request_for
from simulators.csms.ledger201 import TransactionLedger201
from tests.journal_helpers import ENERGY, db  # noqa: F401 - db is a fixture


def _offline_session(journal: Journal, samples: int) -> None:
    local = journal.begin_transaction(1, "CAP201", 0, "2026-01-01T00:00:00.000Z", [Sample(ENERGY, 0, "Wh")])
    for i in range(1, samples + 1):
        stamp = f"2026-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z"
        journal.record_sample(local, 1, stamp, "Sample.Periodic", [Sample(ENERGY, i, "Wh")], i)
    journal.end_transaction(local, samples, "2026-01-01T23:00:00.000Z", "Local", "CAP201", [Sample(ENERGY, samples, "Wh")])


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


@pytest.mark.xfail(strict=True, reason="agent defect: the journal cap sheds 2.0.1 TransactionEvents (meter samples) "
                                       "after their seqNo was given, so the backend sees seqNo gaps (Journal.shed_to)")
def test_thinning_over_the_cap_leaves_no_seq_no_gap(db):  # noqa: F811 - the fixture
    journal = Journal(db)
    journal.online = lambda: False
    _offline_session(journal, 200)
    assert journal.shed_to(journal.undelivered_bytes() // 2) > 0
    [tx], anomalies = _book(journal)
    assert tx["stopped"] and tx["meter_stop"] == 200  # the start and the stop are kept...
    assert anomalies == [], f"the backend's ledger noted {sorted(set(anomalies))}"  # ...but seqNos now have gaps
    assert tx["seq_nos"] == list(range(len(tx["seq_nos"])))
