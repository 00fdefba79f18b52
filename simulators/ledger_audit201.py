"""The ledger audit over OCPP 2.0.1: TransactionEvents held against the charger's journal.

The same record of what the bench's meters and EVs did (:mod:`simulators.ledger_audit`)
is compared with the test CSMS's 2.0.1 ledger (:mod:`simulators.csms.ledger201`). What
the 1.6 audit checks still holds (one transaction per session that charged, on its
connector, with its card, stopped for the right reason, the billed energy the delivered
energy within a sample interval, values in order, the charger's own session list
agreeing), and 2.0.1 adds what its events promise:

- every transaction is complete: one Started (seqNo 0) and one Ended, the last;
- its ``seqNo`` s are gapless from 0, booked in order (a resend of the same payload is
  at least once delivery and booked once: the only anomaly allowed);
- every event the charger journaled (outbox bodies carry ``n``, the seqNo, and
  ``offline`` when journaled offline) reached the ledger under its transaction's id
  (the journal's ``tx_uid``), with the same event type and the same offline flag;
- the offline flag is true to the link: an event flagged offline did not happen while
  the connection that carried it was up and accepted, and one sent live happened while
  some connection was.

Pure, like the 1.6 audit: data in, findings out.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from typing import Any

from .ledger_audit import ENERGY, AuditInput, AuditResult, SessionRecord, TransactionId, _Auditor, energy_of, parse_time

ACTION = "TransactionEvent"
EVENT_TYPES = ("Started", "Updated", "Ended")
#: The journal's kinds of transaction entries, as the event type each is sent as.
EVENT_OF_KIND = {"tx_started": "Started", "meter_sample": "Updated", "tx_event": "Updated", "tx_stopped": "Ended"}
#: Contexts of the start's and end's registers (booked as meter_start / meter_stop, and
#: repeated in the Ended event's values): not samples of the running transaction.
BOUNDARY_CONTEXTS = ("Transaction.Begin", "Transaction.End")
#: The charger's stop reasons that 2.0.1 spells differently (agent/ocpp201/outbound.py).
STOPPED_REASON = {"HardReset": "ImmediateReset", "SoftReset": "ImmediateReset", "UnlockCommand": "Remote",
                  "Reboot": "Reboot", "ConnectorReset": "ImmediateReset"}
#: Between an event's timestamp and the journal's write (which sets the offline flag),
#: and between the CSMS logging a connection and the agent counting it as accepted.
OFFLINE_SLACK_S = 1.0


def normalized(tx: dict[str, Any]) -> dict[str, Any]:
    """A 2.0.1 record with the fields the shared checks read: the connector is the EVSE
    (one connector per EVSE on this charger: ``connector_id`` is that connector's, 1)."""
    return {**tx, "connector_id": tx["evse_id"]}


class Auditor201(_Auditor):
    """The 1.6 auditor's checks on normalized records, and 2.0.1's own."""

    actions = (ACTION,)

    def __init__(self, data: AuditInput) -> None:
        ledger = [normalized(tx) for tx in data.ledger]
        super().__init__(replace(data, ledger=ledger))

    def run(self) -> AuditResult:
        super().run()
        for tx in self.d.ledger:
            self.sequence(tx)
        self.offline_flags()
        return self.r

    # -- the shared checks, as 2.0.1 says them --------------------------------------------
    def label(self, message: dict[str, Any]) -> str:
        return f"{ACTION} {message['payload'].get('eventType')}"

    def labels(self) -> tuple[str, ...]:
        return tuple(f"{ACTION} {kind}" for kind in EVENT_TYPES)

    def session(self, s: SessionRecord, group: list[dict[str, Any]]) -> None:
        """A transaction that never Started (its Updated or Ended events alone) cannot be
        billed: say so instead of reading a start it does not have."""
        for tx in group:
            if tx["start_time"] is None or tx["meter_start"] is None:
                self.flag("transaction never started", f"events {[e['eventType'] for e in tx['events']]} and no "
                          "Started with a Transaction.Begin register", s.tag, tx["transaction_id"])
                return
        super().session(s, group)

    def sampled_values(self, tx: dict[str, Any]) -> list[dict[str, Any]]:
        """The samples of the running transaction, once each, in the order booked. The
        Ended event repeats kept samples (and the start's register) as its transaction
        data: a sample is known by its timestamp, the first booking counts."""
        seen: set[str] = set()
        values: list[dict[str, Any]] = []
        for mv in tx["meter_values"]:
            sampled = [sv for sv in mv.get("sampledValue", []) if sv.get("context") not in BOUNDARY_CONTEXTS]
            if sampled and mv["timestamp"] not in seen:
                seen.add(mv["timestamp"])
                values.append({**mv, "sampledValue": sampled})
        return values

    def anomalies(self) -> None:
        for a in self.d.anomalies:
            if a["kind"] == "resend":
                continue  # at least once delivery: judged with the message log in duplicates()
            self.flag(f"ledger anomaly: {a['kind']}", f"{a['action']}: {a['detail']}", None, a.get("transaction_id"))

    def local_records(self, records: list[dict[str, Any]]) -> None:
        """The charger's own session list agrees with the ledger: each transaction by its
        own id (``tx_uid``), same EVSE, card, registers and stop reason."""
        ledger = {tx["transaction_id"]: tx for tx in self.d.ledger}
        matched: set[TransactionId] = set()
        for r in records:
            where = f"local transaction {r['local_id']} (card {r['id_tag']})"
            if r["stopped_at"] is None:
                self.flag("open on the charger", f"{where} is still open", r["id_tag"])
            if r["pending_messages"]:
                self.flag("undelivered on the charger", f"{where} has {r['pending_messages']} messages "
                          "never acknowledged", r["id_tag"])
            if r["abandoned_messages"]:
                self.flag("abandoned on the charger", f"{where}: {r['abandoned_messages']} messages given up",
                          r["id_tag"])
            uid = r.get("tx_uid")
            tx = ledger.get(uid) if uid is not None else None
            if tx is None:
                self.flag("charger and backend disagree", f"{where} has transaction id {uid}, not in the ledger",
                          r["id_tag"])
                continue
            matched.add(uid)
            reason = STOPPED_REASON.get(r["stop_reason"], r["stop_reason"])
            # No token ('' in the journal's table, no idToken in any event): an EV began it
            # (TxStartPoint EVConnected) and no card was ever authorized for it.
            mine = (r["connector"], r["id_tag"] or None, r["meter_start_wh"], r["meter_stop_wh"], reason)
            theirs = (tx["evse_id"], tx["id_tag"], tx["meter_start"], tx["meter_stop"], tx["reason"])
            if mine != theirs:
                self.flag("charger and backend disagree", f"{where}: charger {mine}, backend {theirs}",
                          r["id_tag"], uid)
            if r["meter_stop_wh"] is not None and tx["energy_wh"] != r["meter_stop_wh"] - r["meter_start_wh"]:
                self.flag("charger and backend disagree", f"{where}: the charger's journal says "
                          f"{r['meter_stop_wh'] - r['meter_start_wh']} Wh, the ledger {tx['energy_wh']} Wh",
                          r["id_tag"], uid)
        for uid in [u for u in ledger if u not in matched]:
            self.flag("charger and backend disagree", f"ledger transaction {uid} has no record on the charger",
                      ledger[uid]["id_tag"], uid)

    def outbox(self, rows: list[dict[str, Any]]) -> None:
        """Every journaled transaction event reached the ledger as the event of its number,
        with its type and offline flag; every sample in the ledger was journaled."""
        ledger = {tx["transaction_id"]: tx for tx in self.d.ledger}
        events = {(tid, e["seqNo"]): e for tid, tx in ledger.items() for e in tx["events"]}
        journaled: dict[TransactionId, set[tuple[float, float | None]]] = defaultdict(set)
        for row in rows:
            if row["kind"] == "status":
                continue
            body = row["body"]
            uid = row.get("tx_uid")
            if row["kind"] == "kept_value":  # a sample kept for the Ended event: the record of it
                if uid is not None:
                    journaled[uid].add((parse_time(body["timestamp"]), _energy(body["samples"])))
                continue
            self.r.journal_rows_checked += 1
            if row["done_at"] is None or row["outcome"] != "acked":
                self.flag("journal entry not delivered", f"outbox seq {row['seq']} ({row['kind']}, local "
                          f"transaction {row['local_tx']}): done_at {row['done_at']}, outcome {row['outcome']}")
                continue
            if row["local_tx"] is None or row["kind"] not in EVENT_OF_KIND:
                continue
            if row["kind"] == "meter_sample":
                journaled[uid].add((parse_time(body["timestamp"]), _energy(body["samples"])))
            where = f"outbox seq {row['seq']} ({row['kind']}, seqNo {body.get('n')})"
            if uid not in ledger:
                self.flag("journaled event lost", f"{where}: its transaction {uid} is not in the ledger")
                continue
            tag = ledger[uid]["id_tag"]
            event = events.get((uid, body.get("n")))
            if event is None:
                self.flag("journaled event lost", f"{where}: transaction {uid} has seqNos "
                          f"{sorted(ledger[uid]['seq_nos'])}", tag, uid)
                continue
            if event["eventType"] != EVENT_OF_KIND[row["kind"]]:
                self.flag("event is not what was journaled", f"{where}: booked as {event['eventType']}", tag, uid)
            if event["offline"] != bool(body.get("offline")):
                self.flag("offline flag is not the journal's", f"{where}: journaled "
                          f"{'offline' if body.get('offline') else 'online'}, sent with offline "
                          f"{event['offline']}", tag, uid)
            if not math.isclose(parse_time(event["timestamp"]), parse_time(body["timestamp"]), abs_tol=0.0005):
                self.flag("event is not what was journaled", f"{where}: journaled at {body['timestamp']}, "
                          f"booked at {event['timestamp']}", tag, uid)
        for tid, tx in ledger.items():
            for mv in self.sampled_values(tx):
                point = (parse_time(mv["timestamp"]), energy_of(mv))
                if not any(math.isclose(point[0], t, abs_tol=0.0005) and point[1] == e for t, e in journaled[tid]):
                    self.flag("value the charger never journaled", f"{mv['timestamp']}: {point[1]} Wh",
                              tx["id_tag"], tid)

    # -- 2.0.1's own --------------------------------------------------------------------
    def sequence(self, tx: dict[str, Any]) -> None:
        """One Started at seqNo 0, one Ended last, seqNos gapless and booked in order, and
        the energy the ledger states is its registers' difference."""
        tid, tag = tx["transaction_id"], tx["id_tag"]
        seqs: list[int] = list(tx["seq_nos"])
        if sorted(seqs) != list(range(len(seqs))):
            missing = sorted(set(range(max(seqs, default=-1) + 1)) - set(seqs))
            repeated = sorted({n for n in seqs if seqs.count(n) > 1})
            self.flag("seqNo gap", f"seqNos {sorted(seqs)}: missing {missing}, booked twice {repeated}", tag, tid)
        elif seqs != sorted(seqs):
            self.flag("seqNo out of order", f"booked in the order {seqs}", tag, tid)
        kinds = [e["eventType"] for e in sorted(tx["events"], key=lambda e: e["seqNo"])]
        if kinds.count("Started") != 1 or kinds[:1] != ["Started"]:
            self.flag("transaction incomplete", f"events by seqNo {kinds}: not one Started first", tag, tid)
        if kinds.count("Ended") != 1 or kinds[-1:] != ["Ended"]:
            self.flag("transaction incomplete", f"events by seqNo {kinds}: not one Ended last", tag, tid)
        if tx["meter_start"] is not None and tx["meter_stop"] is not None:
            if tx["meter_stop"] < tx["meter_start"]:
                self.flag("meterStart > meterStop", f"{tx['meter_start']} > {tx['meter_stop']}", tag, tid)
            if tx["energy_wh"] != tx["meter_stop"] - tx["meter_start"]:
                self.flag("ledger energy is not its registers'", f"energy_wh {tx['energy_wh']}, registers "
                          f"{tx['meter_start']}..{tx['meter_stop']}", tag, tid)

    def offline_flags(self) -> None:
        """Each TransactionEvent's offline flag against the connections the CSMS saw.

        A connection is live from its BootNotification (when the agent booted on it; else
        from its opening) until the CSMS saw it close. An event flagged offline must not
        have happened while the connection that carried it was live; an event sent live
        must have happened while some connection was (the CSMS notices a half-open link
        late, so its windows are generous), and not while the agent surely had none: from
        a kill, or from when it gave up a cut or stalled link (it dialled again), until
        the CSMS saw its next connection."""
        opened = [parse_time(m["time"]) for m in self.d.messages if m["type"] == "connected"]
        gone = [k.at for k in self.d.kills]
        gone += [d.at + d.noticed_after_s for d in self.d.dead_links
                 if d.kind in ("stall", "cut") and d.noticed_after_s is not None]
        down = [(start, min((t for t in opened if t > start), default=math.inf)) for start in gone]
        live: list[list[float]] = []  # [from, until] per connection, in order
        connection = 0
        for m in self.d.messages:
            if m["type"] == "connected":
                connection += 1
                live.append([parse_time(m["time"]), math.inf])
            elif not live:
                continue
            elif m["type"] == "disconnected":
                live[-1][1] = parse_time(m["time"])
            elif m["direction"] == "in" and m["type"] == "CALL" and m["action"] == "BootNotification":
                live[-1][0] = parse_time(m["time"])
            elif m["direction"] == "in" and m["type"] == "CALL" and m["action"] == ACTION:
                payload = m["payload"]
                at = parse_time(payload["timestamp"])
                tid = payload["transactionInfo"]["transactionId"]
                what = (f"seqNo {payload['seqNo']} ({payload['eventType']}) of {payload['timestamp']}, sent on "
                        f"connection {connection}")
                if payload.get("offline") and at > live[-1][0] + OFFLINE_SLACK_S:
                    self.flag("offline flag on a live event", f"{what}, live since "
                              f"{_iso(live[-1][0])}", None, tid)
                elif not payload.get("offline") and not any(
                        start - OFFLINE_SLACK_S <= at <= end + OFFLINE_SLACK_S for start, end in live):
                    self.flag("live event while offline", f"{what}: no connection was up then", None, tid)
                elif not payload.get("offline") and any(
                        start + OFFLINE_SLACK_S <= at <= end - OFFLINE_SLACK_S for start, end in down):
                    self.flag("live event while offline", f"{what}: the agent was killed or had given up its "
                              "link then, and not connected again", None, tid)


def _energy(samples: list[dict[str, Any]]) -> float | None:
    return next((float(v["value"]) for v in samples if v["measurand"] == ENERGY and not v.get("phase")), None)


def _iso(epoch: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def audit201(data: AuditInput) -> AuditResult:
    """Compare the harness's record, the CSMS's 2.0.1 ledger and the charger's journal."""
    return Auditor201(data).run()
