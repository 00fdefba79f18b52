"""A transaction an older release journaled (after a rollback, on the same database)
reaches a 2.0.1 backend all the same: at start-up it gets the charger's own id and its
events their numbers, as the schema 8 migration gave what was there then, instead of
its events being dropped as unsendable."""

from __future__ import annotations

import sqlite3

from agent.store import DB_NAME
from tests.conformance.helpers import new_id_tag
from tests.conformance201.helpers import events, last_seq, ledger, schema_violations, wait_event


async def test_a_transaction_of_an_older_release_is_delivered_over_201(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(ocpp={"AllowOfflineTxForUnknownId": True})  # 1.6, as the older release spoke
    await csms.request("refuse", cp=stack.cp_id, status=404)
    await csms.request("disconnect", cp=stack.cp_id)
    tag = new_id_tag()
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=tag)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
    await stack.bench_request("tap", uid=tag)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=15)
    await stack.stop_agent()
    # What the older release wrote: no charger's own id, no event numbers (schema 8 stays).
    with sqlite3.connect(stack.state_dir / DB_NAME) as conn:
        conn.execute("UPDATE transactions SET tx_uid = NULL, events = 0")
        conn.execute("UPDATE outbox SET body = json_remove(body, '$.n')")
    conn.close()
    stack.backend["ocpp"] = "2.0.1"  # the release that knows 2.0.1 is back
    stack.write_config()
    since = await last_seq(stack)
    await csms.request("refuse", cp=stack.cp_id, status=None)
    await stack.start_agent()
    ended = await wait_event(stack, "Ended", since, timeout=20)
    tx = ended["transactionInfo"]["transactionId"]
    assert len(tx) == 36
    mine = [e for e in await events(stack, since) if e["transactionInfo"]["transactionId"] == tx]
    assert mine[0]["eventType"] == "Started" and mine[0]["idToken"]["idToken"] == tag
    assert [e["seqNo"] for e in mine] == list(range(len(mine)))
    booked = next(t for t in await ledger(stack) if t["transaction_id"] == tx)
    assert booked["stopped"]
    assert await schema_violations(stack) == []
