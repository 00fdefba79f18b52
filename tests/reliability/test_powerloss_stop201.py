"""A transaction cut by a kill over OCPP 2.0.1: its Ended event comes last in time too.

After a crash the agent ends the transaction it finds open (``[state]
unfinished_transactions = "stop"``) with reason PowerLoss, stamped with the last meter
value on record. Over 2.0.1 the transaction may have told more since that value: a
charging state change (TransactionEvent Updated, ChargingStateChanged) is journaled
with its own time and does not move the meter checkpoint. The Ended event must not be
stamped before an event it follows.
"""

from __future__ import annotations

import signal

from simulators.ledger_audit import parse_time
from tests.conformance201.helpers import V201, events, last_seq, wait_event


async def test_a_transaction_ended_by_a_kill_ends_no_earlier_than_its_last_event(charger):
    # No periodic samples: the meter checkpoint stays the start's, as when a kill comes
    # within the first sample interval.
    stack = await charger(backend=V201, ocpp={"MeterValueSampleInterval": 0})
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=1, max_current=16)
    await stack.bench_request("tap", uid="0BAC1A51")
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
    charging = await wait_event(stack, "Updated", since, trigger="ChargingStateChanged")
    assert charging["transactionInfo"]["chargingState"] == "Charging"

    await stack.stop_agent(signal.SIGKILL)
    await stack.bench_request("wait_for", field="agent_connected", value=False, timeout=15)
    await stack.start_agent()
    ended = await wait_event(stack, "Ended", since, timeout=30)
    assert ended["transactionInfo"]["stoppedReason"] == "PowerLoss"

    told = sorted((e for e in await events(stack, since)
                   if e["transactionInfo"]["transactionId"] == ended["transactionInfo"]["transactionId"]),
                  key=lambda e: e["seqNo"])
    assert [e["eventType"] for e in told] == ["Started", "Updated", "Ended"]
    stamps = [(e["seqNo"], e["eventType"], e["timestamp"]) for e in told]
    assert [parse_time(s[2]) for s in stamps] == sorted(parse_time(s[2]) for s in stamps), stamps
    anomalies = (await stack.csms.request("ledger", cp=stack.cp_id))["anomalies"]
    assert [a["kind"] for a in anomalies] == []
