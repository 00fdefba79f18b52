"""A transaction's events reach the journal in order, and their stamps never go back.

A meter sample's reading is taken before its job reaches the connector's worker; a
charging-state change stamped in between is journaled first. The runtime then stamps the
sample no earlier than what it journaled last for the transaction (found by the 2.0.1
crash campaign over TxStartPoint EVConnected: a sample at .970 after a change at 30.066)."""

from __future__ import annotations

from types import SimpleNamespace

from agent.charger import ChargerRuntime


def test_a_stamp_older_than_the_last_journaled_one_is_moved_up_to_it() -> None:
    runtime = SimpleNamespace(_stamped={}, local_tx={1: 7})
    in_order = ChargerRuntime._in_order
    assert in_order(runtime, 7, "2026-12-06T20:05:30.066Z") == "2026-12-06T20:05:30.066Z"  # type: ignore[arg-type]
    assert in_order(runtime, 7, "2026-12-06T20:05:29.970Z") == "2026-12-06T20:05:30.066Z"  # type: ignore[arg-type]
    assert in_order(runtime, 7, "2026-12-06T20:05:31Z") == "2026-12-06T20:05:31Z"  # type: ignore[arg-type]
    # Compared as times, not text: "...:31Z" is before "...:31.500Z".
    assert in_order(runtime, 7, "2026-12-06T20:05:31.500Z") == "2026-12-06T20:05:31.500Z"  # type: ignore[arg-type]


def test_a_transaction_that_ended_is_forgotten() -> None:
    runtime = SimpleNamespace(_stamped={}, local_tx={1: 7})
    ChargerRuntime._in_order(runtime, 7, "2026-12-06T20:05:30Z")  # type: ignore[arg-type]
    runtime.local_tx = {1: 8}
    ChargerRuntime._in_order(runtime, 8, "2026-12-06T20:06:00Z")  # type: ignore[arg-type]
    assert set(runtime._stamped) == {8}
