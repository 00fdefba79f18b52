"""A charger moved from a 1.6 backend to a 2.0.1 one keeps its journal: the transaction
it recorded while its 1.6 backend was out of reach is delivered to the 2.0.1 backend,
spelled in 2.0.1 (Started, Updated, Ended, numbered from 0, flagged offline)."""

from __future__ import annotations

from tests.conformance.helpers import new_id_tag
from tests.conformance201.helpers import events, last_seq, ledger, schema_violations, wait_event


async def test_a_transaction_queued_under_16_is_delivered_over_201(charger, csms) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(ocpp={"AllowOfflineTxForUnknownId": True})  # a 1.6 charger
    await csms.request("refuse", cp=stack.cp_id, status=404)
    await csms.request("disconnect", cp=stack.cp_id)
    tag = new_id_tag()
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid=tag)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
    await stack.bench_request("tap", uid=tag)
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=15)
    await stack.stop_agent()
    stack.backend["ocpp"] = "2.0.1"  # the operator moves the charger to a 2.0.1 backend
    stack.write_config()
    since = await last_seq(stack)
    await csms.request("refuse", cp=stack.cp_id, status=None)
    await stack.start_agent()
    ended = await wait_event(stack, "Ended", since, timeout=20)
    tx = ended["transactionInfo"]["transactionId"]
    mine = [e for e in await events(stack, since) if e["transactionInfo"]["transactionId"] == tx]
    assert [e["eventType"] for e in mine][0] == "Started" and mine[0]["idToken"]["idToken"] == tag
    assert [e["seqNo"] for e in mine] == list(range(len(mine)))
    assert all(e.get("offline") is True for e in mine)
    booked = next(t for t in await ledger(stack) if t["transaction_id"] == tx)
    assert booked["stopped"] and booked["energy_wh"] is not None and booked["energy_wh"] >= 0
    assert await schema_violations(stack) == []
