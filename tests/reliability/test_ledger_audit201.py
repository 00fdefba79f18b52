"""The 2.0.1 ledger audit names each way TransactionEvents can disagree with what happened.

As for 1.6 (test_ledger_audit.py), each defect is planted in an otherwise correct record;
the ledger is the test CSMS's own 2.0.1 ledger, fed the TransactionEvents as sent: a
seqNo missing, an event lost, an offline flag that is wrong or differs from the
journal, a transaction without its Ended, a resend beyond the policy, the charger's
journal and the ledger disagreeing on the energy.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

from simulators.csms.ledger201 import TransactionLedger201
from simulators.ledger_audit import KILLED, STOPPED, AuditInput, DeadLink, KillRecord, SessionRecord
from simulators.ledger_audit201 import audit201

T0 = 1_800_000_000.0  # epoch seconds
POWER_W = 7360.0  # 2.04 Wh a second
RATE = POWER_W / 3600
ENERGY = "Energy.Active.Import.Register"
CP = "CP201"


def stamp(t: float) -> str:
    moment = datetime.fromtimestamp(t, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def sampled(t: float, wh: int, context: str) -> dict[str, Any]:
    return {"timestamp": stamp(t), "sampledValue": [{"value": wh, "context": context, "measurand": ENERGY,
                                                     "unitOfMeasure": {"unit": "Wh"}}]}


def transaction(tid: str, tag: str, evse: int, start: float, start_wh: int, samples: int, end: float,
                reason: str, end_offline: bool = False) -> list[dict[str, Any]]:
    """The TransactionEvents of one transaction: Started, a sample a second, Ended (with
    the kept samples as its transaction data, as the agent sends them)."""
    values = [(start + k, start_wh + int(k * RATE)) for k in range(1, samples + 1)]
    end_wh = start_wh + int((end - start) * RATE)
    events = [{"eventType": "Started", "timestamp": stamp(start), "triggerReason": "Authorized", "seqNo": 0,
               "transactionInfo": {"transactionId": tid, "chargingState": "EVConnected"},
               "evse": {"id": evse, "connectorId": 1}, "idToken": {"idToken": tag, "type": "ISO14443"},
               "meterValue": [sampled(start, start_wh, "Transaction.Begin")]}]
    events += [{"eventType": "Updated", "timestamp": stamp(t), "triggerReason": "MeterValuePeriodic", "seqNo": n,
                "transactionInfo": {"transactionId": tid}, "meterValue": [sampled(t, wh, "Sample.Periodic")]}
               for n, (t, wh) in enumerate(values, start=1)]
    ended = {"eventType": "Ended", "timestamp": stamp(end), "triggerReason": "StopAuthorized",
             "seqNo": len(events), "transactionInfo": {"transactionId": tid, "stoppedReason": reason},
             "meterValue": [sampled(start, start_wh, "Transaction.Begin"),
                            *(sampled(t, wh, "Sample.Periodic") for t, wh in values),
                            sampled(end, end_wh, "Transaction.End")]}
    if end_offline:
        ended["offline"] = True
    return [*events, ended]


def message(seq: int, payload: dict[str, Any], at: float) -> dict[str, Any]:
    return {"seq": seq, "type": "CALL", "direction": "in", "action": "TransactionEvent", "unique_id": f"u{seq}",
            "time": stamp(at), "payload": payload}


def event_log(at: float, kind: str, seq: int) -> dict[str, Any]:
    return {"seq": seq, "type": kind, "direction": "event", "action": "", "time": stamp(at), "payload": {}}


def boot(at: float, seq: int) -> dict[str, Any]:
    return {"seq": seq, "type": "CALL", "direction": "in", "action": "BootNotification", "unique_id": f"b{seq}",
            "time": stamp(at), "payload": {"reason": "PowerUp"}}


def outbox_row(seq: int, local_tx: int, payload: dict[str, Any]) -> dict[str, Any]:
    kind = {"Started": "tx_started", "Updated": "meter_sample", "Ended": "tx_stopped"}[payload["eventType"]]
    body: dict[str, Any] = {"n": payload["seqNo"], "timestamp": payload["timestamp"]}
    if kind == "meter_sample":
        body["samples"] = [{"measurand": ENERGY, "value": payload["meterValue"][0]["sampledValue"][0]["value"],
                            "unit": "Wh"}]
    if payload.get("offline"):
        body["offline"] = True
    return {"seq": seq, "kind": kind, "local_tx": local_tx, "body": body, "done_at": "x", "outcome": "acked",
            "backend_id": None, "tx_uid": payload["transactionInfo"]["transactionId"]}


class Scenario:
    """Card AA on EVSE 1 (5 s, stopped by a tap) and card BB on EVSE 2 (cut by a kill at
    T0+6: its Ended, a PowerLoss at its last sample, journaled offline at the restart and
    sent on the next connection); connection 1 from T0-5 until the kill, 2 from T0+9."""

    def __init__(self) -> None:
        self.aa = transaction("tx-aa", "AA", 1, T0 + 0.2, 100, 4, T0 + 5.05, "Local")
        self.bb = transaction("tx-bb", "BB", 2, T0 + 1.2, 0, 4, T0 + 5.2, "PowerLoss", end_offline=True)
        self.sessions = [
            SessionRecord("AA", 1, 32, POWER_W, T0, 100.0, 100.0, "up", charging_seen=True, stop_how="tap",
                          stop_requested_at=T0 + 5, end=STOPPED, end_energy_wh=100 + 5 * RATE, ended_at=T0 + 5.1),
            SessionRecord("BB", 2, 32, POWER_W, T0 + 1, 0.0, 0.0, "up", charging_seen=True, end=KILLED,
                          end_energy_wh=5 * RATE, ended_at=T0 + 6, kill=0),
        ]
        live = sorted(self.aa + self.bb[:-1], key=lambda e: (e["timestamp"], e["seqNo"]))
        self.sent: list[tuple[dict[str, Any], float]] = [(e, 0.0) for e in live]  # (payload, when) in order
        self.messages = [event_log(T0 - 5, "connected", 1), boot(T0 - 5, 2)]
        self.messages += [message(3 + i, e, 0.0) for i, e in enumerate(live)]
        for m in self.messages[2:]:
            m["time"] = m["payload"]["timestamp"]
        self.messages += [event_log(T0 + 6, "disconnected", 100), event_log(T0 + 9, "connected", 101),
                          boot(T0 + 9, 102), message(103, self.bb[-1], T0 + 9.5)]
        self.dead_links: list[DeadLink] = []
        self.outbox = [outbox_row(i, 1 if e in self.aa else 2, e) for i, e in enumerate(self.aa + self.bb, start=1)]
        self.local = [
            {"local_id": 1, "id_tag": "AA", "connector": 1, "meter_start_wh": 100, "meter_stop_wh": 109,
             "stop_reason": "Local", "stopped_at": "x", "pending_messages": 0, "abandoned_messages": 0,
             "tx_uid": "tx-aa"},
            {"local_id": 2, "id_tag": "BB", "connector": 2, "meter_start_wh": 0, "meter_stop_wh": 8,
             "stop_reason": "PowerLoss", "stopped_at": "x", "pending_messages": 0, "abandoned_messages": 0,
             "tx_uid": "tx-bb"},
        ]

    def data(self) -> AuditInput:
        """The ledger as the test CSMS books the logged TransactionEvents, and the rest."""
        anomalies: list[dict[str, Any]] = []

        def note(cp: str, kind: str, action: str, unique_id: str, tx: Any, detail: str, payload: Any) -> None:
            anomalies.append({"kind": kind, "action": action, "transaction_id": tx, "detail": detail})

        ledger = TransactionLedger201(note)
        for m in self.messages:
            if m["type"] == "CALL" and m["action"] == "TransactionEvent":
                ledger.event(CP, m["unique_id"], copy.deepcopy(m["payload"]))
        return AuditInput(
            sessions=self.sessions, kills=[KillRecord(0, "mid-session", T0 + 6, "up", ["BB"])],
            dead_links=self.dead_links,
            ledger=ledger.transactions(CP), anomalies=anomalies, messages=self.messages, local_records=self.local,
            outbox=self.outbox, interval_s=1.0, registers_before={1: 100.0, 2: 0.0},
            registers_after={1: 100 + 5 * RATE, 2: 5 * RATE},
        )

    def call(self, tid: str, seq_no: int) -> dict[str, Any]:
        return next(m for m in self.messages if m["type"] == "CALL" and m["action"] == "TransactionEvent"
                    and m["payload"]["transactionInfo"]["transactionId"] == tid and m["payload"]["seqNo"] == seq_no)


def kinds(data: AuditInput) -> list[str]:
    return sorted({v.kind for v in audit201(data).violations})


def test_a_consistent_record_has_no_findings():
    result = audit201(Scenario().data())
    assert result.violations == []
    assert result.transactions == 2 and result.meter_values == 8
    assert result.journal_rows_checked == 12
    assert result.duplicates == {"TransactionEvent Started": 0, "TransactionEvent Updated": 0,
                                 "TransactionEvent Ended": 0}
    # Delivered minus billed: what flowed after the last whole Wh (AA) or the last sample (BB).
    assert [round(e.error_wh, 2) for e in result.energy] == [1.22, 2.22]


def test_a_seq_no_that_never_arrived_is_a_gap_and_a_lost_event():
    scenario = Scenario()
    scenario.messages.remove(scenario.call("tx-aa", 2))
    found = kinds(scenario.data())
    assert "seqNo gap" in found and "journaled event lost" in found and "ledger anomaly: seq_gap" in found


def test_an_event_flagged_offline_while_its_connection_was_live_is_found():
    scenario = Scenario()
    scenario.call("tx-aa", 3)["payload"]["offline"] = True
    assert kinds(scenario.data()) == ["offline flag is not the journal's", "offline flag on a live event"]
    scenario.outbox[3]["body"]["offline"] = True  # the journal said so too: still wrong for the link
    assert kinds(scenario.data()) == ["offline flag on a live event"]


def test_an_event_journaled_offline_but_sent_as_live_is_found():
    scenario = Scenario()
    del scenario.call("tx-bb", 5)["payload"]["offline"]
    found = audit201(scenario.data()).violations
    assert [v.kind for v in found] == ["offline flag is not the journal's"]
    assert "seqNo 5" in found[0].detail and found[0].transaction_id == "tx-bb"


def test_an_event_sent_live_that_happened_between_connections_is_found():
    scenario = Scenario()
    ended = scenario.call("tx-bb", 5)["payload"]
    ended["timestamp"] = stamp(T0 + 7.5)  # after the kill's disconnect, before the next connection
    del ended["offline"]
    scenario.outbox[-1]["body"].update(timestamp=ended["timestamp"], offline=False)
    assert "live event while offline" in kinds(scenario.data())


def test_a_transaction_without_its_ended_event_is_incomplete():
    scenario = Scenario()
    scenario.messages.remove(scenario.call("tx-bb", 5))
    found = kinds(scenario.data())
    assert "transaction never stopped" in found and "transaction incomplete" in found
    assert "journaled event lost" in found


def test_a_resend_on_a_new_connection_is_allowed_but_an_older_repeat_is_not():
    scenario = Scenario()
    last = scenario.messages[-1]
    scenario.messages += [event_log(T0 + 9, "disconnected", 200), event_log(T0 + 10, "connected", 201),
                          {**last, "seq": 202, "unique_id": "again"}]
    result = audit201(scenario.data())
    assert result.violations == [] and result.duplicates["TransactionEvent Ended"] == 1
    scenario.messages.append({**scenario.call("tx-aa", 1), "seq": 203, "unique_id": "old"})
    assert kinds(scenario.data()) == ["duplicate beyond the resend policy"]


def test_the_charger_journal_and_the_ledger_must_agree_on_the_energy():
    scenario = Scenario()
    scenario.local[0]["meter_stop_wh"] = 111
    assert kinds(scenario.data()) == ["charger and backend disagree"]


def test_an_event_after_the_end_is_an_anomaly():
    scenario = Scenario()
    late = copy.deepcopy(scenario.call("tx-aa", 1))
    late["payload"].update(seqNo=6, timestamp=stamp(T0 + 5.5))
    scenario.messages.insert(scenario.messages.index(scenario.call("tx-aa", 5)) + 1, {**late, "seq": 99})
    assert "ledger anomaly: after_end" in kinds(scenario.data())


def test_an_event_sent_live_after_the_agent_gave_up_a_stalled_link_is_found():
    """A half-open link: the CSMS still counts connection 1 as up, but the agent gave it up
    at T0+3 (it dialled again) and connected again only at T0+9: the events of T0+4.2 and
    after (AA's sample and its end, BB's last two samples), journaled then, must carry
    offline true."""
    scenario = Scenario()
    scenario.dead_links.append(DeadLink("stall", T0 + 2, 1.0, 8.4))
    found = audit201(scenario.data()).violations
    assert {v.kind for v in found} == {"live event while offline"}
    assert sorted((v.transaction_id, v.detail.split(" (")[0]) for v in found) == [
        ("tx-aa", "seqNo 4"), ("tx-aa", "seqNo 5"), ("tx-bb", "seqNo 3"), ("tx-bb", "seqNo 4")]
    scenario.dead_links[0] = DeadLink("stall", T0 + 2, 3.5, 8.4)  # given up at T0+5.5: nothing after it
    assert kinds(scenario.data()) == []
