"""The ledger audit names each way a backend's ledger can disagree with what happened.

The crash campaign and the link chaos test pass only if the audit finds nothing, so here
each defect it must catch is planted in an otherwise correct record: a session billed
twice, a session never billed, energy lost, a resend that repeats an older message, a
journaled sample that never arrived, values out of order.
"""

from __future__ import annotations

import copy
from typing import Any

from simulators.ledger_audit import KILLED, STOPPED, AuditInput, KillRecord, SessionRecord, audit

T0 = 1_800_000_000.0  # epoch seconds
POWER_W = 7360.0  # 32 A on one phase at 230 V: 2.04 Wh a second


def stamp(t: float) -> str:
    from datetime import datetime, timezone

    moment = datetime.fromtimestamp(t, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def meter_value(t: float, wh: int) -> dict[str, Any]:
    return {"timestamp": stamp(t), "sampledValue": [{"value": str(wh), "measurand": "Energy.Active.Import.Register",
                                                     "unit": "Wh", "context": "Sample.Periodic"}]}


def scenario() -> tuple[AuditInput, dict[str, Any]]:
    """One session on connector 1 (card AA, 10 s, stopped by a tap) and one on connector 2
    (card BB, 5 s, cut by kill 0), each delivered at 2.04 Wh a second; all consistent."""
    rate = POWER_W / 3600
    s1 = SessionRecord("AA", 1, 32, POWER_W, T0, 100.0, 100.0, "up", charging_seen=True, stop_how="tap",
                       stop_requested_at=T0 + 10, end=STOPPED, end_energy_wh=100 + 10 * rate, ended_at=T0 + 10.1)
    s2 = SessionRecord("BB", 2, 32, POWER_W, T0 + 1, 0.0, 0.0, "up", charging_seen=True, end=KILLED,
                       end_energy_wh=5 * rate, ended_at=T0 + 6, kill=0)
    tx1 = {"transaction_id": 1, "connector_id": 1, "id_tag": "AA", "start_time": stamp(T0 + 0.2), "meter_start": 100,
           "stopped": True, "stop_time": stamp(T0 + 10.05), "meter_stop": 120, "reason": "Local",
           "meter_values": [meter_value(T0 + 0.2 + k, 100 + int(k * rate)) for k in range(1, 10)]}
    tx2 = {"transaction_id": 2, "connector_id": 2, "id_tag": "BB", "start_time": stamp(T0 + 1.2), "meter_start": 0,
           "stopped": True, "stop_time": stamp(T0 + 5.2), "meter_stop": 10, "reason": "PowerLoss",
           "meter_values": [meter_value(T0 + 1.2 + k, int(k * rate)) for k in range(1, 5)]}
    messages: list[dict[str, Any]] = [{"seq": 1, "type": "connected", "direction": "event", "action": "", "payload": {}}]
    for tx in (tx1, tx2):
        for mv in tx["meter_values"]:
            messages.append({"seq": len(messages) + 1, "type": "CALL", "direction": "in", "action": "MeterValues",
                             "time": mv["timestamp"], "payload": {"connectorId": tx["connector_id"],
                                                                  "transactionId": tx["transaction_id"],
                                                                  "meterValue": [mv]}})
    outbox = [{"seq": i, "kind": "meter_sample", "local_tx": tx["transaction_id"], "backend_id": tx["transaction_id"],
               "done_at": "x", "outcome": "acked",
               "body": {"timestamp": mv["timestamp"], "samples": [{"measurand": "Energy.Active.Import.Register",
                                                                   "value": int(mv["sampledValue"][0]["value"])}]}}
              for i, (tx, mv) in enumerate((tx, mv) for tx in (tx1, tx2) for mv in tx["meter_values"])]
    data = AuditInput(
        sessions=[s1, s2], kills=[KillRecord(0, "mid-session", T0 + 6, "up", ["BB"])], dead_links=[],
        ledger=[tx1, tx2], anomalies=[], messages=messages, local_records=None, outbox=outbox, interval_s=1.0,
        registers_before={1: 100.0, 2: 0.0}, registers_after={1: s1.end_energy_wh, 2: s2.end_energy_wh},
    )
    return data, {"tx1": tx1, "tx2": tx2}


def kinds(data: AuditInput) -> list[str]:
    return sorted({v.kind for v in audit(data).violations})


def test_a_consistent_record_has_no_findings():
    data, _ = scenario()
    result = audit(data)
    assert result.violations == []
    assert result.transactions == 2 and result.meter_values == 13
    # Delivered minus billed: the floor of the register at the stop, no more.
    assert [round(e.error_wh, 2) for e in result.energy] == [0.44, 0.22]
    assert [round(e.error_intervals, 2) for e in result.energy] == [0.22, 0.11]


def test_a_session_billed_twice_is_found():
    data, txs = scenario()
    again = copy.deepcopy(txs["tx2"])
    again.update(transaction_id=3, start_time=stamp(T0 + 6.5), stop_time=stamp(T0 + 6.6), meter_start=10)
    data.ledger.append(again)
    assert "transaction billed twice" in kinds(data)


def test_a_session_that_delivered_energy_but_was_never_billed_is_found():
    data, _ = scenario()
    data.ledger.pop()
    data.outbox = [r for r in data.outbox or [] if r["local_tx"] != 2]
    assert kinds(data) == ["missing transaction"]


def test_energy_lost_beyond_one_sample_interval_is_found():
    data, _ = scenario()
    # The EV got 6 Wh (three seconds) more than the transaction says: more than one
    # interval (2.04 Wh) plus a second's allowance plus 1 Wh of rounding.
    data.sessions[0].end_energy_wh = (data.sessions[0].end_energy_wh or 0) + 6
    data.registers_after[1] += 6
    assert kinds(data) == ["energy lost"]
    data.sessions[0].end_energy_wh -= 2  # 4 Wh: within the allowance
    data.registers_after[1] -= 2
    assert kinds(data) == []


def test_billing_more_than_the_meter_counted_is_found():
    data, txs = scenario()
    txs["tx1"]["meter_stop"] = 125
    assert "billed energy never delivered" in kinds(data)


def test_a_killed_session_must_stop_with_power_loss():
    data, txs = scenario()
    txs["tx2"]["reason"] = "Local"
    assert kinds(data) == ["wrong stop reason"]


def test_a_resend_of_the_last_message_on_a_new_connection_is_allowed_but_an_older_repeat_is_not():
    data, _ = scenario()
    last = data.messages[-1]
    data.messages += [{"seq": 100, "type": "connected", "direction": "event", "action": "", "payload": {}},
                      {**last, "seq": 101}]
    result = audit(data)
    assert result.violations == [] and result.duplicates["MeterValues"] == 1
    data.messages.append({**data.messages[3], "seq": 102})  # an old value, mid-connection
    assert kinds(data) == ["duplicate beyond the resend policy"]


def test_a_journaled_sample_that_never_reached_the_backend_is_found():
    data, txs = scenario()
    lost = txs["tx1"]["meter_values"].pop(4)
    found = audit(data).violations
    assert [v.kind for v in found] == ["journaled sample lost"] and lost["timestamp"] in found[0].detail


def test_values_out_of_order_or_outside_the_transaction_are_found():
    data, txs = scenario()
    values = txs["tx1"]["meter_values"]
    values[2], values[3] = values[3], values[2]
    assert "meter values out of order" in kinds(data)
    data, txs = scenario()
    txs["tx2"]["meter_values"].append(meter_value(T0 + 5.9, 10))
    assert "meter value outside its transaction" in kinds(data)


def test_energy_that_flowed_outside_every_session_is_found():
    data, _ = scenario()
    data.registers_after[1] += 5
    assert kinds(data) == ["energy outside any session"]


def test_a_delivered_sample_kept_only_as_stop_data_is_on_record_and_one_kept_nowhere_is_not():
    data, _ = scenario()
    rows = data.outbox or []
    # The journal wrote no outbox row for samples answered before its sync: their record
    # is the value kept for the stop.
    kept = [{**r, "seq": -r["seq"] - 1, "kind": "kept_value", "done_at": None, "outcome": None} for r in rows]
    data.outbox = kept
    assert kinds(data) == []
    data.outbox = kept[1:]
    assert kinds(data) == ["value the charger never journaled"]


def _tokenless(meter_stop: int, stopped: bool = True) -> dict[str, Any]:
    """A transaction no card was ever authorized for (an EV began it, OCPP 2.0.1
    TxStartPoint EVConnected, and it ended before any card)."""
    return {"transaction_id": 3, "connector_id": 1, "id_tag": None, "start_time": stamp(T0 + 20),
            "meter_start": 120, "stopped": stopped, "stop_time": stamp(T0 + 25), "meter_stop": meter_stop,
            "reason": "EVDisconnected", "meter_values": []}


def test_a_transaction_without_a_token_is_fine_while_it_delivered_nothing():
    data, _ = scenario()
    data.ledger.append(_tokenless(120))
    assert kinds(data) == []


def test_energy_without_a_token_is_found():
    data, _ = scenario()
    data.ledger.append(_tokenless(150))
    assert kinds(data) == ["energy without a token"]


def test_a_transaction_without_a_token_left_open_is_found():
    data, _ = scenario()
    data.ledger.append(_tokenless(120, stopped=False))
    assert kinds(data) == ["transaction never stopped"]


def test_a_transaction_may_start_at_the_plug_in_before_the_tap():
    data, _ = scenario()
    data.sessions[0].plugged_at = T0
    data.sessions[0].tapped_at = T0 + 5  # the transaction began with the EV, the card came after
    assert kinds(data) == []
    data.sessions[0].plugged_at = None
    assert kinds(data) == ["start time outside the session"]
