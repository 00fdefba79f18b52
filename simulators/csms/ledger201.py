"""OCPP 2.0.1 transactions as the test CSMS books them from TransactionEvent messages.

A 2.0.1 transaction is told in events (Started, Updated..., Ended), each with a sequence
number that counts from 0 within the transaction; the charge point names the
transaction itself (a string). The records have the fields of the 1.6 ledger's records
that mean the same (so one table prints both) plus what only 2.0.1 says: the sequence
numbers, every event, the remote start id, how many events were sent offline.

Delivery is at least once, so a TransactionEvent may arrive twice: a repeat of a
``seqNo`` with the same payload is a resend and is booked once. Everything else that
does not add up is an anomaly, in the shared anomaly list of :class:`TransactionLedger`.
Pure data, like :mod:`simulators.csms.ledger`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from simulators.csms.ledger import Entry

#: ``(cp, kind, action, unique_id, transaction_id, detail, payload)``: TransactionLedger.note_anomaly.
AnomalySink = Callable[[str, str, str, str, int | str | None, str, dict[str, Any]], None]

ACTION = "TransactionEvent"
REGISTER = "Energy.Active.Import.Register"


@dataclass
class _Transaction:
    """A record as shown, and what the ledger needs to judge the next event."""

    record: Entry
    #: Every payload booked under each seqNo, to tell a resend from a conflicting repeat.
    by_seq: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    next_seq: int = 0
    latest: datetime | None = None
    started: bool = False


class TransactionLedger201:
    """2.0.1 transactions per charge point, in the order their first event arrived."""

    def __init__(self, note_anomaly: AnomalySink) -> None:
        self._note = note_anomaly
        self._transactions: dict[str, dict[str, _Transaction]] = {}

    def event(self, cp: str, unique_id: str, payload: dict[str, Any]) -> None:
        """Book one schema-valid TransactionEventRequest, exactly as sent."""
        tx_id = str(payload["transactionInfo"]["transactionId"])
        kind = payload["eventType"]

        def anomaly(name: str, detail: str) -> None:
            self._note(cp, name, ACTION, unique_id, tx_id, detail, payload)

        txs = self._transactions.setdefault(cp, {})
        tx = txs.get(tx_id)
        if tx is None:
            tx = txs[tx_id] = _Transaction(_new_record(cp, tx_id))
        if not self._check_sequence(tx, payload, anomaly):
            return
        self._check_time(tx, payload, anomaly)
        record = tx.record
        if kind == "Started":
            if tx.started:
                anomaly("duplicate_start", f"a second Started for transaction {tx_id}; the first is kept")
            else:
                if record["stopped"]:
                    anomaly("start_after_end", f"transaction {tx_id} Started after it Ended")
                tx.started = True
                record["start_time"] = payload["timestamp"]
                record["meter_start"] = register_wh(payload.get("meterValue", []), "Transaction.Begin")
        elif not tx.started:
            anomaly("unknown_transaction", f"{kind} for transaction {tx_id}, which never Started")
        if kind != "Started" and record["stopped"]:
            anomaly("after_end", f"{kind} for transaction {tx_id} after it Ended; the first Ended is kept")
        elif kind == "Ended":
            meter_stop = register_wh(payload.get("meterValue", []), "Transaction.End")
            record.update(
                stopped=True,
                stop_time=payload["timestamp"],
                meter_stop=meter_stop,
                reason=payload["transactionInfo"].get("stoppedReason", "Local"),
            )
            if meter_stop is None:
                anomaly("no_meter_stop", f"transaction {tx_id} Ended without a Transaction.End {REGISTER}")
        _book_facts(record, payload)
        if record["meter_start"] is not None and record["meter_stop"] is not None:
            record["energy_wh"] = _number(Decimal(str(record["meter_stop"])) - Decimal(str(record["meter_start"])))

    def transactions(self, cp: str | None = None) -> list[Entry]:
        cps = [cp] if cp is not None else list(self._transactions)
        return [tx.record for c in cps for tx in self._transactions.get(c, {}).values()]

    @staticmethod
    def _check_sequence(
        tx: _Transaction, payload: dict[str, Any], anomaly: Callable[[str, str], None]
    ) -> bool:
        """Whether to book the event: not when it resends one already booked."""
        seq = payload["seqNo"]
        booked = tx.by_seq.setdefault(seq, [])
        if payload in booked:
            anomaly("resend", f"seqNo {seq} again with the same payload (a resend); booked once")
            return False
        if booked:
            anomaly("seq_conflict", f"seqNo {seq} again with a different payload")
        elif seq > tx.next_seq:
            missing = f"{tx.next_seq}" if seq == tx.next_seq + 1 else f"{tx.next_seq}..{seq - 1}"
            anomaly("seq_gap", f"seqNo {seq} arrived, {missing} never did (so far)")
        booked.append(payload)
        tx.next_seq = max(tx.next_seq, seq + 1)
        return True

    @staticmethod
    def _check_time(
        tx: _Transaction, payload: dict[str, Any], anomaly: Callable[[str, str], None]
    ) -> None:
        moment = _parse_time(payload["timestamp"])
        if moment is None:
            return
        if tx.latest is not None and moment < tx.latest:
            anomaly(
                "time_backwards",
                f"timestamp {payload['timestamp']} is earlier than an event received before it",
            )
        tx.latest = moment if tx.latest is None else max(tx.latest, moment)


def _new_record(cp: str, tx_id: str) -> Entry:
    return {
        "charge_point": cp,
        "ocpp_version": "2.0.1",
        "transaction_id": tx_id,
        "evse_id": None,
        "connector_id": None,
        "id_tag": None,
        "start_time": None,
        "meter_start": None,
        "reservation_id": None,
        "stopped": False,
        "stop_time": None,
        "meter_stop": None,
        "reason": None,
        "meter_values": [],
        "energy_wh": None,
        "seq_nos": [],
        "events": [],
        "remote_start_id": None,
        "offline_events": 0,
    }


def _book_facts(record: Entry, payload: dict[str, Any]) -> None:
    """What every booked event adds, and what the first event to carry it sets."""
    info = payload["transactionInfo"]
    offline = bool(payload.get("offline", False))
    record["seq_nos"].append(payload["seqNo"])
    record["events"].append(
        {
            "eventType": payload["eventType"],
            "triggerReason": payload["triggerReason"],
            "chargingState": info.get("chargingState"),
            "offline": offline,
            "seqNo": payload["seqNo"],
            "timestamp": payload["timestamp"],
        }
    )
    record["meter_values"].extend(payload.get("meterValue", []))
    record["offline_events"] += offline
    evse = payload.get("evse")
    if evse is not None and record["evse_id"] is None:
        record["evse_id"] = evse["id"]
        record["connector_id"] = evse.get("connectorId")
    if "idToken" in payload and record["id_tag"] is None:
        record["id_tag"] = payload["idToken"]["idToken"]
    if "remoteStartId" in info and record["remote_start_id"] is None:
        record["remote_start_id"] = info["remoteStartId"]
    if "reservationId" in payload and record["reservation_id"] is None:
        record["reservation_id"] = payload["reservationId"]


def register_wh(meter_values: list[dict[str, Any]], context: str) -> int | float | None:
    """The whole-EVSE energy register (no phase) sampled in ``context``, in Wh.

    2.0.1 defaults: measurand Energy.Active.Import.Register, context Sample.Periodic,
    unit Wh, multiplier 0 (the value is ``value * 10^multiplier`` of the unit). A sample
    in a unit other than Wh or kWh is not an energy reading and is passed over.
    """
    for meter_value in meter_values:
        for sample in meter_value.get("sampledValue", []):
            if sample.get("measurand", REGISTER) != REGISTER or sample.get("phase") is not None:
                continue
            if sample.get("context", "Sample.Periodic") != context:
                continue
            unit = sample.get("unitOfMeasure", {})
            scale = {"Wh": Decimal(1), "kWh": Decimal(1000)}.get(unit.get("unit", "Wh"))
            if scale is None:
                continue
            try:
                value = Decimal(str(sample["value"])).scaleb(int(unit.get("multiplier", 0)))
            except (InvalidOperation, ValueError):
                continue
            return _number(value * scale)
    return None


def _number(value: Decimal) -> int | float:
    """Whole watt-hours as an int (as 1.6 meters report), anything else as a float."""
    return int(value) if value == value.to_integral_value() else float(value)


def _parse_time(stamp: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
