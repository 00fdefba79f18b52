"""What a power cut may cost, and the audit of a campaign against it.

The kill campaign's audit (:mod:`simulators.ledger_audit`) holds the ledger to a policy
for crashes, where every committed row survives. A power cut also loses what was
written but not yet made durable, so four of its rules are judged again here:

- *meter values missing*: after a cut, the samples of the last ``window_s`` seconds
  (``[state] sample_sync_seconds``; 0 when every sample is committed at once) before
  the cut may be missing, plus one second in which a sample may not even have been
  taken; anything older missing is a finding, and every missing sample is counted;
- *resends*: MeterValues the backend acknowledged shortly before a cut may come again
  (their acknowledgement was committed without fsync); a StartTransaction or
  StopTransaction whose answer the charger surely had (it sent the next transaction
  message on that connection) more than :data:`ACK_GRACE_S` before a cut must never
  come again; other repeats follow the crash policy (one per connection, the last one);
- *values sent but not journaled*: a sample sent within the window before a cut may be
  missing from the journal afterwards (counted, not a finding);
- *energy*: when the meter is silent at restart, the PowerLoss stop comes from the
  meter checkpoint, which may be ``window_s`` old.

Pure, like the audit it extends: data in, findings out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from simulators.ledger_audit import (
    ENERGY,
    ROUNDING_WH,
    SAMPLE_GAP_INTERVALS,
    SAMPLE_GAP_SLACK_S,
    SAMPLE_SLACK_S,
    TRANSACTION_ACTIONS,
    AuditInput,
    AuditResult,
    EnergyError,
    SessionRecord,
    Violation,
    audit,
    energy_of,
    parse_time,
    transaction_calls,
)

#: The crash audit's rules that a power cut changes; their findings are judged again here.
REJUDGED = frozenset({"meter values missing", "duplicate beyond the resend policy",
                      "value the charger never journaled", "energy lost"})
#: A sample due less than this long before the cut may not have been taken yet (the
#: sampler runs on a busy event loop); it is not counted as lost.
NOT_YET_DUE_S = 1.0
#: The agent commits a StartTransaction/StopTransaction acknowledgement (with fsync) the
#: moment it arrives; one it surely had (it went on to the next message) this long
#: before a cut must have survived it.
ACK_GRACE_S = 0.5


@dataclass
class LostSamples:
    """Samples missing at the end of one transaction a cut ended."""

    tag: str
    transaction_id: int
    cut_at: float
    count: int
    oldest_age_s: float  # how long before the cut the oldest missing one was due


@dataclass
class PowerCutFindings:
    window_s: float
    cuts: int = 0
    samples_lost: int = 0
    samples_lost_outside_window: int = 0
    lost: list[LostSamples] = field(default_factory=list)
    oldest_lost_age_s: float = 0.0
    meter_value_resends_after_cut: int = 0
    start_stop_resends_after_cut: int = 0  # unacknowledged at the cut: allowed
    start_stop_acked_then_resent: int = 0  # acknowledged before the cut: a finding
    values_sent_not_journaled: int = 0
    violations: list[Violation] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _PowerCutAuditor:
    def __init__(self, data: AuditInput, window_s: float) -> None:
        self.d = data
        self.window_s = window_s
        self.cut_times = sorted(k.at for k in data.kills)
        self.f = PowerCutFindings(window_s=window_s, cuts=len(self.cut_times))

    def flag(self, kind: str, detail: str, tag: str | None = None, tx: int | None = None) -> None:
        self.f.violations.append(Violation(kind, detail, tag, tx))

    @property
    def loss_bound_s(self) -> float:
        return self.window_s + NOT_YET_DUE_S

    def run(self, energy: list[EnergyError]) -> PowerCutFindings:
        by_tag: dict[str, list[dict[str, Any]]] = {}
        for tx in self.d.ledger:
            by_tag.setdefault(tx["id_tag"], []).append(tx)
        sessions = {s.tag: s for s in self.d.sessions}
        for s in self.d.sessions:
            group = by_tag.get(s.tag, [])
            if group and group[0]["stopped"] and s.end != "running":
                self.gaps(s, group[0])
        self.duplicates()
        if self.d.outbox is not None:
            self.unjournaled(self.d.outbox)
        for e in energy:
            self.energy(sessions[e.tag], e)
        self.f.oldest_lost_age_s = round(max((x.oldest_age_s for x in self.f.lost), default=0.0), 3)
        return self.f

    def gaps(self, s: SessionRecord, tx: dict[str, Any]) -> None:
        tid = int(tx["transaction_id"])
        interval = self.d.interval_s
        started, stopped = parse_time(tx["start_time"]), parse_time(tx["stop_time"])
        times = sorted({parse_time(mv["timestamp"]) for mv in tx["meter_values"]})
        cut = tx["reason"] == "PowerLoss" and s.ended_at is not None
        end = (s.stop_requested_at if s.stop_requested_at is not None else s.ended_at) if cut else stopped
        assert end is not None
        points = [started, *times]
        for a, b in zip(points, points[1:] + [max(end, started)]):  # the crash policy, but for the last stretch
            last = b == max(end, started) and a == points[-1]
            if interval > 0 and not (cut and last) and b - a > SAMPLE_GAP_INTERVALS * interval + SAMPLE_GAP_SLACK_S:
                self.flag("meter values missing", f"{b - a:.1f} s without a value (sample interval {interval:g} s) "
                          f"in {tx['start_time']}..{tx['stop_time']}", s.tag, tid)
        if not cut or interval <= 0:
            return
        last_value = points[-1]
        due = [last_value + k * interval for k in range(1, int((end - last_value) / interval) + 2)]
        missing = [t for t in due if t < end - NOT_YET_DUE_S]
        if not missing:
            return
        oldest = end - missing[0]
        self.f.samples_lost += len(missing)
        self.f.lost.append(LostSamples(s.tag, tid, round(end, 3), len(missing), round(oldest, 3)))
        outside = [t for t in missing if end - t > self.loss_bound_s]
        if outside:
            self.f.samples_lost_outside_window += len(outside)
            self.flag("meter values lost beyond the window", f"{len(missing)} samples missing before the cut, the "
                      f"oldest due {oldest:.1f} s before it; only {self.window_s:g} s (sample_sync_seconds) "
                      f"+ {NOT_YET_DUE_S:g} s may be lost", s.tag, tid)

    def cuts_between(self, a: float, b: float) -> list[float]:
        return [t for t in self.cut_times if a <= t <= b]

    def received_acks(self) -> dict[str, float]:
        """CALL unique id -> when the charger surely had the answer: the CSMS answered it
        and the charger then sent the next transaction message on the same connection
        (it drains in order, one call at a time). An answer the CSMS sent into a stalled
        link, or just before the link or the power went, proves nothing."""
        answered = {m["unique_id"]: parse_time(m["time"]) for m in self.d.messages
                    if m["direction"] == "out" and m["type"] == "CALLRESULT"}
        proof: dict[str, float] = {}
        waiting: list[tuple[str, float]] = []  # (unique id, answer time) on this connection
        for m in self.d.messages:
            if m["type"] == "connected":
                waiting = []
                continue
            if m["direction"] != "in" or m["type"] != "CALL" or m["action"] not in TRANSACTION_ACTIONS:
                continue
            now = parse_time(m["time"])
            for uid, at in waiting:
                if at <= now:
                    proof.setdefault(uid, now)
            waiting = [(uid, at) for uid, at in waiting if uid not in proof]
            if m["unique_id"] in answered:
                waiting.append((m["unique_id"], answered[m["unique_id"]]))
        return proof

    def duplicates(self) -> None:
        acked = self.received_acks()
        seen: dict[str, dict[str, Any]] = {}
        for call in transaction_calls(self.d.messages):
            m, key, payload = call.message, call.key, call.message["payload"]
            now = parse_time(m["time"])
            if key in seen:
                original = seen[key]
                cuts = self.cuts_between(parse_time(original["time"]) - 0.001, now)
                ack = acked.get(original["unique_id"])
                tid = payload.get("transactionId")
                if m["action"] != "MeterValues" and ack is not None and any(ack < t - ACK_GRACE_S for t in cuts):
                    self.f.start_stop_acked_then_resent += 1
                    self.flag("acknowledged message sent again after a cut", f"{m['action']} at seq {m['seq']} "
                              f"repeats seq {original['seq']} (sent {original['time']}), whose answer the charger "
                              f"had by {ack:.3f}, more than {ACK_GRACE_S:g} s before the cut at "
                              f"{min(cuts):.3f}", None, tid)
                elif cuts and m["action"] == "MeterValues":
                    self.f.meter_value_resends_after_cut += 1
                elif cuts:
                    self.f.start_stop_resends_after_cut += 1
                elif not call.may_repeat:
                    self.flag("duplicate beyond the resend policy", f"{m['action']} at seq {m['seq']} repeats seq "
                              f"{original['seq']} with no cut between, and it is not the first transaction message "
                              "of its connection repeating the last one before it", None, tid)
            seen[key] = m

    def unjournaled(self, rows: list[dict[str, Any]]) -> None:
        journaled: set[tuple[int, float, float | None]] = set()
        for row in rows:
            # A sample answered before the journal's sync is on record as its stop value.
            if row["kind"] in ("meter_sample", "kept_value") and row["backend_id"] is not None:
                body = row["body"]
                energy = next((float(x["value"]) for x in body["samples"] if x["measurand"] == ENERGY), None)
                journaled.add((int(row["backend_id"]), round(parse_time(body["timestamp"]), 3), energy))
        for tx in self.d.ledger:
            tid = int(tx["transaction_id"])
            for mv in tx["meter_values"]:
                t = parse_time(mv["timestamp"])
                if (tid, round(t, 3), energy_of(mv)) in journaled:
                    continue
                if any(0 <= cut - t <= self.loss_bound_s for cut in self.cut_times):
                    self.f.values_sent_not_journaled += 1
                else:
                    self.flag("value the charger never journaled", f"{mv['timestamp']}: {energy_of(mv)} Wh, not "
                              "within the window before any cut", tx["id_tag"], tid)

    def energy(self, s: SessionRecord, e: EnergyError) -> None:
        allowed = e.interval_wh + s.power_w * SAMPLE_SLACK_S / 3600.0 + ROUNDING_WH
        if s.meter_silent_on_restart:
            allowed += s.power_w * self.window_s / 3600.0  # the checkpoint may be that old
        if e.error_wh > allowed:
            per = e.interval_wh
            self.flag("energy lost", f"delivered {e.delivered_wh:.1f} Wh, billed {e.billed_wh:.0f} Wh: "
                      f"{e.error_wh:.1f} Wh ({e.error_wh / per if per else math.inf:.2f} sample intervals) missing, "
                      f"more than allowed ({allowed:.1f} Wh); {e.how}", s.tag, e.transaction_id)


def judge(data: AuditInput, window_s: float) -> tuple[AuditResult, PowerCutFindings]:
    """The crash audit with the power-cut policy: its findings on the rules a cut
    changes are replaced by this module's."""
    result = audit(data)
    findings = _PowerCutAuditor(data, window_s).run(result.energy)
    result.violations = [v for v in result.violations if v.kind not in REJUDGED] + findings.violations
    return result, findings
