"""What the test CSMS saw: every frame per charge point, and the transactions they add up to.

Pure data (no I/O, no asyncio) so that the server stays a thin shell and the bookkeeping
is easy to read. The ledger is built only from what the charge point actually sent, so a
test can compare it with the charger's own record of the same sessions.
"""

from __future__ import annotations

import bisect

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Entry = dict[str, Any]

CALL, CALLRESULT, CALLERROR, INVALID = "CALL", "CALLRESULT", "CALLERROR", "INVALID"
_TYPE_IDS = {2: CALL, 3: CALLRESULT, 4: CALLERROR}


def utc_now() -> str:
    """Now as OCPP timestamps should look: UTC, milliseconds, ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Frame:
    """One OCPP-J frame taken apart, or marked ``INVALID`` when it is not one."""

    type: str
    unique_id: str = ""
    action: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    parsed: Any = None


def parse_frame(raw: str) -> Frame:
    """Classify a text frame; never raises, because a test backend must log garbage too."""
    try:
        msg = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to parse
        return Frame(INVALID)
    if not (isinstance(msg, list) and len(msg) >= 3 and isinstance(msg[1], str)):
        return Frame(INVALID, parsed=msg)
    kind = _TYPE_IDS.get(msg[0]) if type(msg[0]) is int else None
    if kind == CALL and len(msg) == 4 and isinstance(msg[2], str) and isinstance(msg[3], dict):
        return Frame(CALL, msg[1], msg[2], msg[3], msg)
    if kind == CALLRESULT and len(msg) == 3 and isinstance(msg[2], dict):
        return Frame(CALLRESULT, msg[1], payload=msg[2], parsed=msg)
    if kind == CALLERROR and len(msg) in (4, 5) and isinstance(msg[2], str):
        error = {
            "errorCode": msg[2],
            "errorDescription": msg[3],
            "errorDetails": msg[4] if len(msg) == 5 else {},
        }
        return Frame(CALLERROR, msg[1], payload=error, parsed=msg)
    return Frame(INVALID, msg[1], parsed=msg)


class MessageLog:
    """Every frame in both directions, per charge point, numbered from 1 in arrival order.

    A result carries the action of the call it answers, so a reader can filter a
    conversation by action without pairing unique ids by hand.
    """

    def __init__(self) -> None:
        self._entries: dict[str, list[Entry]] = {}
        self._open_calls: dict[tuple[str, str], dict[str, str]] = {}

    @property
    def charge_points(self) -> list[str]:
        return list(self._entries)

    def record_frame(
        self, cp: str, direction: str, raw: str, binary: bool = False
    ) -> tuple[Entry, Frame]:
        """Log one frame sent (``out``) or received (``in``); OCPP-J frames are text only."""
        frame = Frame(INVALID) if binary else parse_frame(raw)
        action = frame.action
        if frame.type == CALL:
            self._open_calls.setdefault((cp, direction), {})[frame.unique_id] = frame.action
        elif frame.type in (CALLRESULT, CALLERROR):
            answered = "out" if direction == "in" else "in"
            action = self._open_calls.get((cp, answered), {}).pop(frame.unique_id, "")
        extra = {"raw": raw} if frame.type == INVALID else {}
        entry = self._append(
            cp, direction, frame.type, action, frame.unique_id, frame.payload, extra
        )
        return entry, frame

    def record_event(self, cp: str, kind: str, **details: Any) -> Entry:
        """Log a connection event (``connected``, ``disconnected``, ``rejected``)."""
        return self._append(cp, "event", kind, "", "", details, {})

    def messages(self, cp: str, since_seq: int = 0, action: str | None = None) -> list[Entry]:
        entries = self._entries.get(cp, [])
        # In seq order: start after since_seq without reading what came before (a long
        # conversation is read often, by every wait).
        start = bisect.bisect_right(entries, since_seq, key=lambda e: e["seq"])
        return [e for e in entries[start:] if action is None or e["action"] == action]

    def inbound_calls(self, cp: str, action: str, since_seq: int = 0) -> list[Entry]:
        return [
            e
            for e in self.messages(cp, since_seq, action)
            if e["direction"] == "in" and e["type"] == CALL
        ]

    def _append(
        self,
        cp: str,
        direction: str,
        kind: str,
        action: str,
        unique_id: str,
        payload: dict[str, Any],
        extra: dict[str, Any],
    ) -> Entry:
        entries = self._entries.setdefault(cp, [])
        entry: Entry = {
            "seq": len(entries) + 1,
            "time": utc_now(),
            "received_at": time.time(),  # the same instant to the microsecond, for ordering across processes
            "direction": direction,
            "type": kind,
            "action": action,
            "unique_id": unique_id,
            "payload": payload,
            **extra,
        }
        entries.append(entry)
        return entry


class TransactionLedger:
    """Transactions as the backend would bill them, plus everything that did not add up.

    Transaction ids are global and increase from 1, like a real backend's. A message that
    names a transaction this charge point never started is an anomaly, never an error:
    the point of a test backend is to notice, not to crash.
    """

    def __init__(self) -> None:
        self._next_id = 1
        self._transactions: dict[str, dict[int, Entry]] = {}
        self._anomalies: list[Entry] = []

    def start(self, cp: str, unique_id: str, payload: dict[str, Any]) -> int:
        """Record a StartTransaction; return the transaction id to answer with.

        A repeat of an existing start (same connector, idTag and timestamp: a retry after
        a lost reply) is answered with the original id, and noted as an anomaly.
        """
        txs = self._transactions.setdefault(cp, {})
        for tx in txs.values():
            if (tx["connector_id"], tx["id_tag"], tx["start_time"]) == (
                payload["connectorId"],
                payload["idTag"],
                payload["timestamp"],
            ):
                self._anomaly(
                    cp, "duplicate_start", "StartTransaction", unique_id, tx["transaction_id"],
                    f"repeats the start of transaction {tx['transaction_id']}", payload,
                )
                return int(tx["transaction_id"])
        tx_id = self._next_id
        self._next_id += 1
        txs[tx_id] = {
            "charge_point": cp,
            "transaction_id": tx_id,
            "connector_id": payload["connectorId"],
            "id_tag": payload["idTag"],
            "start_time": payload["timestamp"],
            "meter_start": payload["meterStart"],
            "reservation_id": payload.get("reservationId"),
            "stopped": False,
            "stop_time": None,
            "meter_stop": None,
            "reason": None,
            "stop_id_tag": None,
            "transaction_data": [],
            "meter_values": [],
            "energy_wh": None,
        }
        return tx_id

    def meter_values(self, cp: str, unique_id: str, payload: dict[str, Any]) -> None:
        """Attach MeterValues sent for a transaction; samples without one are not billed."""
        tx_id = payload.get("transactionId")
        if tx_id is None:
            return
        tx = self._find(cp, tx_id, "MeterValues", unique_id, payload)
        if tx is None:
            return
        if tx["stopped"]:
            self._anomaly(
                cp, "after_stop", "MeterValues", unique_id, tx_id,
                f"meter values for transaction {tx_id} arrived after its stop", payload,
            )
        tx["meter_values"].extend(payload.get("meterValue", []))

    def stop(self, cp: str, unique_id: str, payload: dict[str, Any]) -> None:
        tx_id = payload["transactionId"]
        tx = self._find(cp, tx_id, "StopTransaction", unique_id, payload)
        if tx is None:
            return
        if tx["stopped"]:
            self._anomaly(
                cp, "duplicate_stop", "StopTransaction", unique_id, tx_id,
                f"transaction {tx_id} was already stopped; the first stop is kept", payload,
            )
            return
        tx.update(
            stopped=True,
            stop_time=payload["timestamp"],
            meter_stop=payload["meterStop"],
            reason=payload.get("reason", "Local"),
            stop_id_tag=payload.get("idTag"),
            transaction_data=list(payload.get("transactionData", [])),
            energy_wh=payload["meterStop"] - tx["meter_start"],
        )

    def transactions(self, cp: str | None = None) -> list[Entry]:
        cps = [cp] if cp is not None else list(self._transactions)
        found = [tx for c in cps for tx in self._transactions.get(c, {}).values()]
        return sorted(found, key=lambda tx: int(tx["transaction_id"]))

    def anomalies(self, cp: str | None = None) -> list[Entry]:
        return [a for a in self._anomalies if cp is None or a["charge_point"] == cp]

    def _find(
        self, cp: str, tx_id: int, action: str, unique_id: str, payload: dict[str, Any]
    ) -> Entry | None:
        tx = self._transactions.get(cp, {}).get(tx_id)
        if tx is None:
            owner = next((c for c, txs in self._transactions.items() if tx_id in txs), None)
            detail = f"transaction {tx_id} is unknown on this charge point"
            if owner is not None:
                detail += f" (it belongs to {owner})"
            self._anomaly(cp, "unknown_transaction", action, unique_id, tx_id, detail, payload)
        return tx

    def note_anomaly(
        self,
        cp: str,
        kind: str,
        action: str,
        unique_id: str,
        tx_id: int | str | None,
        detail: str,
        payload: dict[str, Any],
    ) -> None:
        """Add an anomaly found elsewhere (the 2.0.1 ledger) to this list, in arrival order."""
        self._anomaly(cp, kind, action, unique_id, tx_id, detail, payload)

    def _anomaly(
        self,
        cp: str,
        kind: str,
        action: str,
        unique_id: str,
        tx_id: int | str | None,
        detail: str,
        payload: dict[str, Any],
    ) -> None:
        self._anomalies.append(
            {
                "charge_point": cp,
                "kind": kind,
                "action": action,
                "unique_id": unique_id,
                "transaction_id": tx_id,
                "detail": detail,
                "payload": payload,
                "time": utc_now(),
            }
        )
