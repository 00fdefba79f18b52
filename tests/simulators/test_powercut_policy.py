"""The power-cut policy on hand-made ledgers: what a cut may cost, and what it may not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from simulators.ledger_audit import ENERGY, KILLED, AuditInput, KillRecord, SessionRecord
from simulators.powercut.policy import judge

T0 = 1_800_000_000.0
POWER_W = 3600.0  # 1 Wh a second: a sample's energy is its second


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def meter_value(t: float) -> dict[str, Any]:
    return {"timestamp": iso(t), "sampledValue": [{"value": str(int(t - T0)), "measurand": ENERGY}]}


class Log:
    """A CSMS message log, built in order."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = [self.entry("connected", "in", None, {}, T0 - 1)]

    def entry(self, type_: str, direction: str, action: str | None, payload: dict[str, Any], t: float,
              uid: str = "") -> dict[str, Any]:
        return {"seq": 0, "type": type_, "direction": direction, "action": action, "payload": payload,
                "unique_id": uid, "time": iso(t)}

    def call(self, action: str, payload: dict[str, Any], t: float, answered_at: float | None = None) -> None:
        uid = f"u{len(self.messages)}"
        self.messages.append(self.entry("CALL", "in", action, payload, t, uid))
        if answered_at is not None:
            self.messages.append(self.entry("CALLRESULT", "out", action, {}, answered_at, uid))

    def connected(self, t: float) -> None:
        self.messages.append(self.entry("connected", "in", None, {}, t))

    def numbered(self) -> list[dict[str, Any]]:
        self.messages.sort(key=lambda m: m["time"])
        for i, m in enumerate(self.messages, 1):
            m["seq"] = i
        return self.messages


def campaign(sample_times: list[float], cut_at: float, log: Log | None = None) -> AuditInput:
    """One session on connector 1, charging from T0 until a cut at ``cut_at``."""
    session = SessionRecord(tag="A1", connector=1, ev_max_current=16.0, power_w=POWER_W, tapped_at=T0,
                            tap_energy_wh=0.0, plug_energy_wh=0.0, link_at_tap="up", charging_seen=True,
                            end=KILLED, end_energy_wh=cut_at - T0, ended_at=cut_at, kill=0)
    stop = int(cut_at - T0)
    tx = {"transaction_id": 7, "id_tag": "A1", "connector_id": 1, "stopped": True, "meter_start": 0,
          "meter_stop": stop, "reason": "PowerLoss", "start_time": iso(T0), "stop_time": iso(cut_at - 0.2),
          "meter_values": [meter_value(t) for t in sample_times]}
    log = log or Log()
    return AuditInput(sessions=[session], kills=[KillRecord(0, "mid-session", cut_at, "up", ["A1"])],
                      dead_links=[], ledger=[tx], anomalies=[], messages=log.numbered(), local_records=None,
                      outbox=None, interval_s=1.0, registers_before={1: 0.0}, registers_after={1: cut_at - T0})


def kinds(data: AuditInput, window_s: float) -> list[str]:
    result, _ = judge(data, window_s)
    return [v.kind for v in result.violations]


def test_samples_missing_before_a_cut_are_counted_and_allowed_only_within_the_window() -> None:
    samples = [T0 + k for k in range(1, 21)]  # one a second for 20 s, then nothing for 8 s before the cut
    data = campaign(samples, T0 + 28.2)
    result, findings = judge(data, window_s=10.0)
    assert [v.kind for v in result.violations] == []
    assert findings.samples_lost == 7 and findings.samples_lost_outside_window == 0
    assert "meter values lost beyond the window" in kinds(campaign(samples, T0 + 28.2), window_s=0.0)
    complete = [T0 + k for k in range(1, 28)]
    _, none_lost = judge(campaign(complete, T0 + 28.2), window_s=0.0)
    assert none_lost.samples_lost == 0


def test_a_start_acknowledged_before_the_cut_must_not_come_again() -> None:
    samples = [T0 + k for k in range(1, 10)]
    start = {"connectorId": 1, "idTag": "A1", "meterStart": 0, "timestamp": iso(T0)}
    log = Log()
    log.call("StartTransaction", start, T0 + 0.1, answered_at=T0 + 0.12)
    log.call("MeterValues", {"connectorId": 1, "transactionId": 7, "meterValue": [meter_value(T0 + 1)]}, T0 + 1.01,
             answered_at=T0 + 1.02)  # the charger went on: it had the answer
    log.connected(T0 + 12)
    log.call("StartTransaction", start, T0 + 12.1, answered_at=T0 + 12.12)
    assert "acknowledged message sent again after a cut" in kinds(campaign(samples, T0 + 10.2, log), 0.0)

    log = Log()  # answered, but the charger sent nothing after it: it may never have had the answer
    log.call("StartTransaction", start, T0 + 0.1, answered_at=T0 + 0.12)
    log.connected(T0 + 12)
    log.call("StartTransaction", start, T0 + 12.1, answered_at=T0 + 12.12)
    result, findings = judge(campaign(samples, T0 + 10.2, log), 0.0)
    assert [v.kind for v in result.violations] == [] and findings.start_stop_resends_after_cut == 1


def test_meter_values_may_come_again_after_a_cut_but_not_without_one() -> None:
    samples = [T0 + k for k in range(1, 10)]
    log = Log()
    for t in (T0 + 8, T0 + 9):
        log.call("MeterValues", {"connectorId": 1, "transactionId": 7, "meterValue": [meter_value(t)]}, t + 0.01,
                 answered_at=t + 0.02)
    log.connected(T0 + 12)
    for t in (T0 + 8, T0 + 9):  # both acknowledged, both sent again: their answers were not durable
        log.call("MeterValues", {"connectorId": 1, "transactionId": 7, "meterValue": [meter_value(t)]}, t + 4.5)
    result, findings = judge(campaign(samples, T0 + 10.2, log), 10.0)
    assert [v.kind for v in result.violations] == [] and findings.meter_value_resends_after_cut == 2

    result, _ = judge(campaign(samples, T0 + 30.0, log), 30.0)  # the same repeats with no cut between
    assert "duplicate beyond the resend policy" in [v.kind for v in result.violations]
