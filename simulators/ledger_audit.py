"""Auditing a backend's ledger against what the bench's meters and EVs really did.

The crash campaign and the link chaos test keep their own record of every session
(connector, card, the meter register when the card was tapped and once the power was
off again) and of every kill and dead link. Afterwards this module compares that
record with the test CSMS's ledger and message log, with the charger's own session
list (``ladda sessions --json``) and with its journal's outbox, and names every place
where they disagree. Pure: data in, findings out, so a finding can be re-checked from
a saved report without running anything.

The policy the ledger is held to:

- every session that delivered energy is exactly one transaction, on its connector,
  with its card, stopped, ``meterStart <= meterStop``; nothing else is billed;
- the billed energy is the energy delivered, never more (1 Wh of rounding aside) and
  never less than one sample interval's worth (plus a short allowance for the meter
  poll and scheduling); the stop reason says what ended it (PowerLoss for a kill);
- timestamps are monotonic: start <= meter values <= stop, and a connector's
  transactions do not overlap in time or in meter register;
- every journaled message reaches the backend; a resend (at least once delivery) may
  repeat ONE message per connection, and only the last one of the connection before;
- the charger's journal ends empty: nothing pending, nothing abandoned.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

#: Energy allowance on top of one sample interval, in seconds of charging: the meter is
#: polled once a second and the sampler runs on a busy event loop.
SAMPLE_SLACK_S = 1.0
#: Register rounding: OCPP carries whole Wh and the agent floors the meter's register.
ROUNDING_WH = 1.0
#: A gap between consecutive samples of a running transaction longer than this many
#: intervals plus SAMPLE_GAP_SLACK_S means values that should exist are missing.
SAMPLE_GAP_INTERVALS = 2.0
SAMPLE_GAP_SLACK_S = 2.0
#: Wall clocks of the harness and the agent are the same machine's; this covers the
#: time between an event and the harness noticing it.
CLOCK_SLACK_S = 2.0

TRANSACTION_ACTIONS = ("StartTransaction", "StopTransaction", "MeterValues")
ENERGY = "Energy.Active.Import.Register"

# How a session ended, as the harness saw it.
RUNNING = "running"
STOPPED = "stopped"  # the driver tapped the card again or pulled the cable
KILLED = "killed"  # the agent was killed while it ran
KILLED_STOPPING = "killed_stopping"  # killed right after the driver asked it to stop
ABANDONED = "abandoned"  # the charger never started charging; the driver pulled the cable

STOP_REASONS = {"tap": "Local", "unplug": "EVDisconnected"}
DEAD_LINK_KINDS = ("stall", "cut", "drop", "drop-clean")


@dataclass
class SessionRecord:
    """One driver's visit, as the harness saw it from outside."""

    tag: str
    connector: int
    ev_max_current: float
    power_w: float  # what this EV draws on this charger (W)
    tapped_at: float  # wall clock, epoch seconds
    tap_energy_wh: float  # register when the card was tapped (contactor still open)
    plug_energy_wh: float
    link_at_tap: str
    charging_seen: bool = False
    stop_how: str | None = None  # "tap" or "unplug" when the driver ended it
    stop_requested_at: float | None = None
    stop_energy_wh: float | None = None  # register when the driver asked to stop
    end: str = RUNNING
    end_energy_wh: float | None = None  # register once the power was off
    ended_at: float | None = None
    kill: int | None = None  # index of the kill that ended it
    meter_silent_on_restart: bool = False
    #: Wall clock of the plug-in just before the tap: a charger whose transactions begin
    #: with the EV (OCPP 2.0.1 TxStartPoint EVConnected) starts this one then.
    plugged_at: float | None = None

    @property
    def delivered_wh(self) -> float:
        return (self.end_energy_wh if self.end_energy_wh is not None else self.tap_energy_wh) - self.tap_energy_wh


@dataclass
class KillRecord:
    index: int
    phase: str
    at: float  # wall clock of the SIGKILL
    link: str
    sessions: list[str]  # tags running at the kill
    recovery: bool = False  # a kill the harness needed to get unstuck, not a planned one


@dataclass
class DeadLink:
    """A link that died under the agent: when, how, and how long until it noticed."""

    kind: str  # "stall" (half-open), "cut" (connections reset), "drop" (backend closed it)
    at: float
    noticed_after_s: float | None
    bound_s: float


#: A backend's transaction id: a number the backend gave (1.6), or the charger's own
#: string (2.0.1).
TransactionId = int | str


def transaction_id(value: Any) -> TransactionId:
    """A ledger's transaction id as compared: 1.6 numbers as ints, 2.0.1 ids as given."""
    return value if isinstance(value, str) else int(value)


@dataclass
class Violation:
    kind: str
    detail: str
    tag: str | None = None
    transaction_id: TransactionId | None = None


@dataclass
class AuditInput:
    sessions: list[SessionRecord]
    kills: list[KillRecord]
    dead_links: list[DeadLink]
    ledger: list[dict[str, Any]]  # the CSMS ledger's transactions of this charge point
    anomalies: list[dict[str, Any]]
    messages: list[dict[str, Any]]  # the CSMS message log of this charge point
    local_records: list[dict[str, Any]] | None  # ``ladda sessions --json``
    outbox: list[dict[str, Any]] | None  # the journal's outbox rows, with backend_id
    interval_s: float  # MeterValueSampleInterval
    registers_before: dict[int, float]
    registers_after: dict[int, float]


@dataclass
class EnergyError:
    tag: str
    transaction_id: TransactionId
    how: str  # "stopped", "killed, meter read at restart", ...
    delivered_wh: float
    billed_wh: float
    error_wh: float  # delivered - billed: positive means under-billed
    error_intervals: float  # error in sample intervals of this EV's power
    interval_wh: float  # what this EV draws in one sample interval


@dataclass
class AuditResult:
    violations: list[Violation] = field(default_factory=list)
    transactions: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)
    duplicate_details: list[dict[str, Any]] = field(default_factory=list)
    energy: list[EnergyError] = field(default_factory=list)
    meter_values: int = 0
    max_sample_gap_s: float = 0.0
    connections: int = 0
    journal_rows_checked: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_time(stamp: str) -> float:
    """An OCPP timestamp as epoch seconds."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def energy_of(meter_value: dict[str, Any]) -> float | None:
    for sv in meter_value.get("sampledValue", []):
        if sv.get("measurand", ENERGY) == ENERGY and not sv.get("phase"):
            return float(sv["value"])
    return None


def _brief(m: dict[str, Any]) -> str:
    """One log entry in a line, for a finding's context."""
    what = m["action"] or m["type"]
    if m["type"] in ("connected", "disconnected", "rejected"):
        what = f"{m['type']} {m['payload'].get('code', '')}".strip()
    return f"{m['seq']} {m.get('time', '')} {m['direction']} {m['type']} {what}"


@dataclass(frozen=True)
class TransactionCall:
    """A transaction message the charger sent, as the resend policy sees it."""

    message: dict[str, Any]
    key: str  # the action and its payload: equal keys are the same message sent again
    connection: int  # which connection (1, 2, ...) carried it
    #: The crash policy allows it to repeat an earlier one: it is the first transaction
    #: message of its connection and repeats the last one of the connection before.
    may_repeat: bool


def transaction_calls(messages: list[dict[str, Any]],
                      actions: tuple[str, ...] = TRANSACTION_ACTIONS) -> Iterator[TransactionCall]:
    """The transaction messages (``actions``) the charger sent, in order (MeterValues
    outside a transaction left out: they are not transaction data)."""
    connection = 0
    first_on_connection = True
    last_key: str | None = None
    for m in messages:
        if m["type"] == "connected":
            connection += 1
            first_on_connection = True
            continue
        if m["direction"] != "in" or m["type"] != "CALL" or m["action"] not in actions:
            continue
        if m["action"] == "MeterValues" and m["payload"].get("transactionId") is None:
            continue
        key = m["action"] + _key(m["payload"])
        yield TransactionCall(m, key, connection, first_on_connection and key == last_key)
        last_key = key
        first_on_connection = False


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class _Auditor:
    #: The actions that carry transaction data (the resend policy's messages).
    actions: tuple[str, ...] = TRANSACTION_ACTIONS

    def __init__(self, data: AuditInput) -> None:
        self.d = data
        self.r = AuditResult()

    def flag(self, kind: str, detail: str, tag: str | None = None, tx: TransactionId | None = None) -> None:
        self.r.violations.append(Violation(kind, detail, tag, tx))

    def run(self) -> AuditResult:
        d = self.d
        self.r.transactions = len(d.ledger)
        by_tag: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
        for tx in d.ledger:
            by_tag[tx["id_tag"]].append(tx)
        known = {s.tag for s in d.sessions}
        for tag, group in by_tag.items():
            if tag is None:
                self.tokenless(group)
            elif tag not in known:
                for tx in group:
                    self.flag("phantom transaction", f"transaction {tx['transaction_id']} for card {tag}, "
                              "which no session of the harness used", tag, tx["transaction_id"])
        for session in d.sessions:
            self.session(session, by_tag.get(session.tag, []))
        self.connector_order()
        self.register_balance()
        self.anomalies()
        self.duplicates()
        if d.local_records is not None:
            self.local_records(d.local_records)
        if d.outbox is not None:
            self.outbox(d.outbox)
        return self.r

    def tokenless(self, group: list[dict[str, Any]]) -> None:
        """Transactions no card was ever authorized for: an EV began them (OCPP 2.0.1
        TxStartPoint EVConnected) and left, or a kill cut them, before any card. Such a
        transaction may exist but must have delivered nothing (no energy without a token)
        and be stopped."""
        for tx in group:
            tid = tx["transaction_id"]
            if not tx["stopped"]:
                self.flag("transaction never stopped", "a transaction without a token is still open", None, tid)
                continue
            billed = int(tx["meter_stop"]) - int(tx["meter_start"])
            if billed > ROUNDING_WH:
                self.flag("energy without a token", f"transaction {tid} delivered {billed} Wh and no card was "
                          "ever authorized for it", None, tid)

    # -- one session against its transaction ------------------------------------------
    def session(self, s: SessionRecord, group: list[dict[str, Any]]) -> None:
        if s.end == RUNNING:
            self.flag("session never ended", "the harness lost track of this session", s.tag)
            return
        if len(group) > 1:
            ids = [tx["transaction_id"] for tx in group]
            self.flag("transaction billed twice", f"one session on connector {s.connector} became "
                      f"transactions {ids}", s.tag, ids[1])
        if not group:
            if s.delivered_wh > 0.5 or s.charging_seen:
                self.flag("missing transaction", f"{s.delivered_wh:.1f} Wh delivered on connector "
                          f"{s.connector} (session ended: {s.end}) and no transaction in the ledger", s.tag)
            return
        tx = group[0]
        tid = transaction_id(tx["transaction_id"])
        if tx["connector_id"] != s.connector:
            self.flag("wrong connector", f"on connector {tx['connector_id']}, the EV was on {s.connector}", s.tag, tid)
        if not tx["stopped"]:
            self.flag("transaction never stopped", f"delivered {s.delivered_wh:.1f} Wh; the ledger has no stop",
                      s.tag, tid)
            return
        start, stop = int(tx["meter_start"]), int(tx["meter_stop"])
        if start > stop:
            self.flag("meterStart > meterStop", f"meterStart {start} > meterStop {stop}", s.tag, tid)
        self.reason(s, tx)
        self.times(s, tx)
        self.energy(s, tx)
        self.meter_values(s, tx)

    def reason(self, s: SessionRecord, tx: dict[str, Any]) -> None:
        reason = tx["reason"]
        if s.end == STOPPED:
            allowed = {STOP_REASONS[s.stop_how or "tap"]}
        elif s.end == KILLED:
            allowed = {"PowerLoss"}
        elif s.end == KILLED_STOPPING:
            allowed = {"PowerLoss", STOP_REASONS[s.stop_how or "tap"]}
        else:  # abandoned: whatever ended a session that never charged
            return
        if reason not in allowed:
            self.flag("wrong stop reason", f"reason {reason}, expected {' or '.join(sorted(allowed))} "
                      f"(session {s.end})", s.tag, tx["transaction_id"])

    def times(self, s: SessionRecord, tx: dict[str, Any]) -> None:
        tid = tx["transaction_id"]
        started, stopped = parse_time(tx["start_time"]), parse_time(tx["stop_time"])
        ended = s.ended_at if s.ended_at is not None else started
        began = min(s.tapped_at, s.plugged_at) if s.plugged_at is not None else s.tapped_at
        if not began - CLOCK_SLACK_S <= started <= ended + CLOCK_SLACK_S:
            self.flag("start time outside the session", f"started {tx['start_time']}, the EV was plugged in at "
                      f"{began:.3f}, the session ended at {ended:.3f}", s.tag, tid)
        if stopped < started:
            self.flag("stop before start", f"stop {tx['stop_time']} < start {tx['start_time']}", s.tag, tid)
        if stopped > ended + CLOCK_SLACK_S:
            self.flag("stop time after the session", f"stopped {tx['stop_time']}, the power was off at "
                      f"{ended:.3f}", s.tag, tid)

    def energy(self, s: SessionRecord, tx: dict[str, Any]) -> None:
        tid = transaction_id(tx["transaction_id"])
        start, stop = int(tx["meter_start"]), int(tx["meter_stop"])
        assert s.end_energy_wh is not None
        if abs(start - s.tap_energy_wh) > ROUNDING_WH:
            self.flag("meterStart is not the register", f"meterStart {start}, the register read "
                      f"{s.tap_energy_wh:.3f} Wh when the card was tapped", s.tag, tid)
        if stop > s.end_energy_wh + ROUNDING_WH:
            self.flag("billed energy never delivered", f"meterStop {stop} > register {s.end_energy_wh:.3f} Wh "
                      "once the power was off", s.tag, tid)
        delivered, billed = s.delivered_wh, float(stop - start)
        error = delivered - billed
        per_interval = s.power_w * self.d.interval_s / 3600.0
        how = self.energy_class(s, tx)
        self.r.energy.append(EnergyError(s.tag, tid, how, round(delivered, 3), billed, round(error, 3),
                                         round(error / per_interval, 3) if per_interval > 0 else 0.0,
                                         round(per_interval, 3)))
        allowed = per_interval + s.power_w * SAMPLE_SLACK_S / 3600.0 + ROUNDING_WH
        if error > allowed:
            self.flag("energy lost", f"delivered {delivered:.1f} Wh, billed {billed:.0f} Wh: {error:.1f} Wh "
                      f"({error / per_interval:.2f} sample intervals at {s.power_w:.0f} W) missing, more than "
                      f"one interval ({allowed:.1f} Wh allowed); {how}", s.tag, tid)

    @staticmethod
    def energy_class(s: SessionRecord, tx: dict[str, Any]) -> str:
        if tx["reason"] != "PowerLoss":
            return "stopped by the driver"
        if s.meter_silent_on_restart:
            return "killed, meter silent at restart (checkpoint)"
        return "killed, meter read at restart"

    def meter_values(self, s: SessionRecord, tx: dict[str, Any]) -> None:
        tid = transaction_id(tx["transaction_id"])
        values = self.sampled_values(tx)
        self.r.meter_values += len(values)
        start, stop = int(tx["meter_start"]), int(tx["meter_stop"])
        started, stopped = parse_time(tx["start_time"]), parse_time(tx["stop_time"])
        times = [parse_time(mv["timestamp"]) for mv in values]
        if times != sorted(times):
            self.flag("meter values out of order", f"timestamps {[mv['timestamp'] for mv in values]}", s.tag, tid)
        for mv, t in zip(values, times):
            if not started - 0.001 <= t <= stopped + 0.001:
                self.flag("meter value outside its transaction", f"value at {mv['timestamp']}, transaction "
                          f"{tx['start_time']}..{tx['stop_time']}", s.tag, tid)
        energies = [e for e in (energy_of(mv) for mv in values) if e is not None]
        if energies != sorted(energies):
            self.flag("meter register went backwards", f"energy values {energies}", s.tag, tid)
        if energies and not (start <= energies[0] and energies[-1] <= stop):
            self.flag("meter value outside meterStart..meterStop", f"values {energies[0]}..{energies[-1]}, "
                      f"transaction {start}..{stop}", s.tag, tid)
        # Sampling ran from the start until the stop, or until the kill that cut it.
        end = stopped
        if tx["reason"] == "PowerLoss" and s.ended_at is not None:
            end = s.stop_requested_at if s.stop_requested_at is not None else s.ended_at
        points = sorted([started, *times, max(end, started)])
        gaps = [b - a for a, b in zip(points, points[1:])]
        gap = max(gaps, default=0.0)
        self.r.max_sample_gap_s = max(self.r.max_sample_gap_s, round(gap, 3))
        if self.d.interval_s > 0 and gap > SAMPLE_GAP_INTERVALS * self.d.interval_s + SAMPLE_GAP_SLACK_S:
            self.flag("meter values missing", f"{gap:.1f} s without a value (sample interval "
                      f"{self.d.interval_s:g} s) in {tx['start_time']}..{tx['stop_time']}", s.tag, tid)

    def sampled_values(self, tx: dict[str, Any]) -> list[dict[str, Any]]:
        """The transaction's sampled meter values, each once, in the order booked."""
        seen: set[str] = set()
        values: list[dict[str, Any]] = []
        for mv in tx["meter_values"]:
            key = _key(mv)
            if key not in seen:  # repeats are counted from the message log (duplicates())
                seen.add(key)
                values.append(mv)
        return values

    # -- across transactions -----------------------------------------------------------
    def connector_order(self) -> None:
        per: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for tx in self.d.ledger:
            if tx["stopped"]:
                per[tx["connector_id"]].append(tx)
        for connector, txs in per.items():
            txs.sort(key=lambda tx: (parse_time(tx["start_time"]), tx["transaction_id"]))
            for a, b in zip(txs, txs[1:]):
                if parse_time(b["start_time"]) < parse_time(a["stop_time"]):
                    self.flag("transactions overlap in time", f"connector {connector}: {a['transaction_id']} "
                              f"stopped {a['stop_time']}, {b['transaction_id']} started {b['start_time']}",
                              b["id_tag"], b["transaction_id"])
                if int(b["meter_start"]) < int(a["meter_stop"]):
                    self.flag("transactions overlap in energy", f"connector {connector}: {a['transaction_id']} "
                              f"meterStop {a['meter_stop']}, {b['transaction_id']} meterStart {b['meter_start']}",
                              b["id_tag"], b["transaction_id"])

    def register_balance(self) -> None:
        """The register moves only while a contactor is closed, that is, inside sessions:
        what the sessions delivered must add up to what the meters counted."""
        for connector, before in self.d.registers_before.items():
            after = self.d.registers_after.get(connector, before)
            recorded = sum(s.delivered_wh for s in self.d.sessions if s.connector == connector)
            if abs((after - before) - recorded) > 0.5:
                self.flag("energy outside any session", f"connector {connector}: the meter counted "
                          f"{after - before:.3f} Wh, the sessions account for {recorded:.3f} Wh")

    def anomalies(self) -> None:
        for a in self.d.anomalies:
            if a["kind"] in ("duplicate_start", "duplicate_stop"):
                continue  # judged with the message log in duplicates()
            self.flag(f"ledger anomaly: {a['kind']}", f"{a['action']}: {a['detail']}", None, a.get("transaction_id"))

    def duplicates(self) -> None:
        """At least once delivery: each connection may repeat one transaction message,
        the one the connection before sent last (its answer, or the journal's note of
        it, was lost with the connection or the process)."""
        seen: dict[str, int] = {}
        sent_at: dict[str, str] = {}
        counts: Counter[str] = Counter()
        connection = 0
        for call in transaction_calls(self.d.messages, self.actions):
            m, key, connection = call.message, call.key, call.connection
            payload = m["payload"]
            if key in seen:
                counts[self.label(m)] += 1
                detail = {"action": self.label(m), "seq": m["seq"], "original_seq": seen[key],
                          "connection": connection, "time": m["time"], "after": self.cause(sent_at[key], m["time"]),
                          "between": [_brief(x) for x in self.d.messages if seen[key] <= x["seq"] <= m["seq"]]}
                self.r.duplicate_details.append(detail)
                if not call.may_repeat:
                    self.flag("duplicate beyond the resend policy", f"{m['action']} at seq {m['seq']} repeats "
                              f"seq {seen[key]}, but it is not the first transaction message of connection "
                              f"{connection} repeating the last one before it", None, payload.get("transactionId"))
            seen[key] = m["seq"]
            sent_at[key] = m["time"]
        self.r.connections = connection
        self.r.duplicates = {a: counts.get(a, 0) for a in self.labels()}

    def label(self, message: dict[str, Any]) -> str:
        """How a transaction message is named in the resend counts."""
        return str(message["action"])

    def labels(self) -> tuple[str, ...]:
        return self.actions

    def cause(self, original: str, resend: str) -> str:
        """What lost the original's acknowledgement: the first kill or dead link after it
        was sent (and before the resend)."""
        sent, again = parse_time(original) - 0.001, parse_time(resend)
        events = [(k.at, f"kill ({k.phase})") for k in self.d.kills if sent <= k.at <= again]
        events += [(d.at, f"dead link ({d.kind})") for d in self.d.dead_links
                   if sent <= d.at <= again and d.kind in DEAD_LINK_KINDS]
        return min(events)[1] if events else "unknown"

    def local_records(self, records: list[dict[str, Any]]) -> None:
        """The charger's own session list must agree with the backend's ledger."""
        ledger = {int(tx["transaction_id"]): tx for tx in self.d.ledger}
        matched: set[int] = set()
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
            tid = r["backend_id"]
            tx = ledger.get(int(tid)) if tid is not None else None
            if tx is None:
                self.flag("charger and backend disagree", f"{where} has backend id {tid}, not in the ledger",
                          r["id_tag"])
                continue
            matched.add(int(tid))
            mine = (r["connector"], r["id_tag"], r["meter_start_wh"], r["meter_stop_wh"], r["stop_reason"])
            theirs = (tx["connector_id"], tx["id_tag"], tx["meter_start"], tx["meter_stop"], tx["reason"])
            if mine != theirs:
                self.flag("charger and backend disagree", f"{where}: charger {mine}, backend {theirs}",
                          r["id_tag"], int(tid))
        for tid in sorted(set(ledger) - matched):
            self.flag("charger and backend disagree", f"ledger transaction {tid} has no record on the charger",
                      ledger[tid]["id_tag"], tid)

    def outbox(self, rows: list[dict[str, Any]]) -> None:
        """Every journaled transaction message reached the backend, and nothing else did."""
        ledger = {int(tx["transaction_id"]): tx for tx in self.d.ledger}
        journaled: dict[int, set[tuple[float, float | None]]] = defaultdict(set)
        for row in rows:
            if row["kind"] == "status":
                continue
            if row["kind"] == "kept_value":  # a value kept for the stop: the record of a sample
                if row["backend_id"] is not None:
                    body = row["body"]
                    energy = next((float(v["value"]) for v in body["samples"] if v["measurand"] == ENERGY), None)
                    journaled[int(row["backend_id"])].add((parse_time(body["timestamp"]), energy))
                continue
            self.r.journal_rows_checked += 1
            if row["done_at"] is None or row["outcome"] != "acked":
                self.flag("journal entry not delivered", f"outbox seq {row['seq']} ({row['kind']}, local "
                          f"transaction {row['local_tx']}): done_at {row['done_at']}, outcome {row['outcome']}")
                continue
            if row["kind"] != "meter_sample" or row["local_tx"] is None:
                continue
            tid = row["backend_id"]
            tx = ledger.get(int(tid)) if tid is not None else None
            body = row["body"]
            stamp = parse_time(body["timestamp"])
            energy = next((float(s["value"]) for s in body["samples"] if s["measurand"] == ENERGY), None)
            if tx is None:
                self.flag("journaled sample lost", f"outbox seq {row['seq']}: its transaction (backend id {tid}) "
                          "is not in the ledger")
                continue
            journaled[int(tid)].add((stamp, energy))
            if not any(math.isclose(parse_time(mv["timestamp"]), stamp, abs_tol=0.0005) and energy_of(mv) == energy
                       for mv in tx["meter_values"]):
                self.flag("journaled sample lost", f"outbox seq {row['seq']}: value {energy} Wh at "
                          f"{body['timestamp']} never reached the ledger", tx["id_tag"], int(tid))
        for tid, tx in ledger.items():
            for mv in tx["meter_values"]:
                point = (parse_time(mv["timestamp"]), energy_of(mv))
                if not any(math.isclose(point[0], t, abs_tol=0.0005) and point[1] == e for t, e in journaled[tid]):
                    self.flag("value the charger never journaled", f"{mv['timestamp']}: {point[1]} Wh",
                              tx["id_tag"], tid)


def audit(data: AuditInput) -> AuditResult:
    """Compare the harness's record, the backend's ledger and the charger's journal."""
    return _Auditor(data).run()


def quantiles(values: list[float], points: tuple[float, ...] = (0.0, 0.5, 0.9, 0.99, 1.0)) -> list[float]:
    """Nearest-rank quantiles (empty list for no values)."""
    if not values:
        return []
    ordered = sorted(values)
    return [ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))] for p in points]
