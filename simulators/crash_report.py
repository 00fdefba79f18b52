"""The figures of a crash campaign or link chaos run, as data and as docs/reliability.md.

Kept apart from the driver (:mod:`simulators.crash_campaign`) so that the page's wording
and the summary's shape can change without touching how the processes are played.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .ledger_audit import AuditResult, DeadLink, KillRecord, SessionRecord, Violation, quantiles

@dataclass
class CampaignResult:
    seed: int
    kills_planned: int
    duration_s: float
    rounds: int
    sessions: list[SessionRecord]
    kills: list[KillRecord]
    dead_links: list[DeadLink]
    drain_s: list[float]
    final_drain_s: float | None
    harness_problems: list[Violation]
    audit: AuditResult
    interval_s: float
    workdir: str
    ping_interval_s: float = 0.0
    ping_timeout_s: float = 0.0
    cycles: int = 0
    machine: dict[str, Any] = field(default_factory=dict)
    ocpp: str = "1.6"  # the OCPP version the charger spoke

    @property
    def violations(self) -> list[Violation]:
        return [*self.harness_problems, *self.audit.violations]

    def summary(self) -> dict[str, Any]:
        """The figures of the run, as JSON-able data."""
        energy = self.audit.energy
        by_class: dict[str, list[float]] = {}
        for e in energy:
            by_class.setdefault(e.how, []).append(e.error_wh)
        return {
            "ocpp": self.ocpp,
            "seed": self.seed,
            "kills": len([k for k in self.kills if not k.recovery]),
            "recovery_kills": len([k for k in self.kills if k.recovery]),
            "kills_by_phase": dict(Counter(k.phase for k in self.kills if not k.recovery)),
            "rounds": self.rounds,
            "chaos_cycles": self.cycles,
            "sessions": len(self.sessions),
            "sessions_by_end": dict(Counter(s.end for s in self.sessions)),
            "sessions_charged": sum(1 for s in self.sessions if s.delivered_wh > 0.5),
            "energy_delivered_wh": round(sum(s.delivered_wh for s in self.sessions), 1),
            "transactions": self.audit.transactions,
            "meter_values": self.audit.meter_values,
            "connections": self.audit.connections,
            "duplicates": self.audit.duplicates,
            "duplicates_by_cause": dict(Counter(f"{d['action']} after a {d['after']}"
                                                for d in self.audit.duplicate_details)),
            "journal_rows_checked": self.audit.journal_rows_checked,
            "energy_error_wh": _spread([e.error_wh for e in energy]),
            "energy_error_intervals": _spread([e.error_intervals for e in energy]),
            # OCPP carries whole Wh: up to 1 Wh of an error is the register's floor, not a loss.
            "energy_error_intervals_beyond_rounding": _spread(
                [max(0.0, e.error_wh - 1.0) / e.interval_wh for e in energy if e.interval_wh > 0]),
            "energy_error_wh_by_end": {k: _spread(v) for k, v in sorted(by_class.items())},
            "max_sample_gap_s": self.audit.max_sample_gap_s,
            "drain_after_reconnect_s": _spread(self.drain_s),
            "final_drain_s": None if self.final_drain_s is None else round(self.final_drain_s, 2),
            "dead_links": {
                kind: {"count": len(v), "noticed_after_s": _spread([d.noticed_after_s for d in v
                                                                     if d.noticed_after_s is not None]),
                       "bound_s": v[0].bound_s}
                for kind, v in _group(self.dead_links).items()
            },
            "violations": len(self.violations),
            "duration_s": round(self.duration_s, 1),
            "interval_s": self.interval_s,
            "machine": self.machine,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "violations": [asdict(v) for v in self.violations],
            "kills": [asdict(k) for k in self.kills],
            "sessions": [asdict(s) for s in self.sessions],
            "dead_links": [asdict(d) for d in self.dead_links],
            "energy": [asdict(e) for e in self.audit.energy],
            "duplicates": self.audit.duplicate_details,
            "workdir": self.workdir,
        }


def _group(links: list[DeadLink]) -> dict[str, list[DeadLink]]:
    out: dict[str, list[DeadLink]] = {}
    for d in links:
        out.setdefault(d.kind, []).append(d)
    return out


def _spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    q = quantiles(values)
    return {"n": len(values), "min": round(q[0], 3), "p50": round(q[1], 3), "p90": round(q[2], 3),
            "p99": round(q[3], 3), "max": round(q[4], 3), "mean": round(sum(values) / len(values), 3)}


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent, check=False)
    except OSError:
        return None
    return out.stdout.strip() or None


# -- the report ---------------------------------------------------------------------


#: Where the 2.0.1 campaign's section sits in docs/reliability.md (after the 1.6 run's).
BEGIN_201, END_201 = "<!-- crash201:begin -->", "<!-- crash201:end -->"
HEADING_201 = "## OCPP 2.0.1: the crash campaign"

RESENDS_16 = [
    "Delivery is at least once: when a connection dies or the agent is killed after the",
    "backend answered but before the journal noted the answer, the message is sent again",
    "as the first transaction message of the next connection. The audit allows exactly",
    "that (one repeat per connection, of the last message before it) and nothing else.",
    "The test CSMS answers a repeated StartTransaction (same connector, idTag and",
    "timestamp) with the original transaction id and notes a `duplicate_start` anomaly,",
    "so no second transaction appears; it keeps the first of two StopTransactions",
    "(`duplicate_stop`); a repeated MeterValues is listed twice in the transaction's",
    "values (register readings: the billed energy does not change). A backend that does",
    "not recognise a repeated StartTransaction would open a second transaction for it.",
]
RESENDS_201 = [
    "Delivery is at least once: a TransactionEvent whose answer was lost with the connection",
    "or the process is sent again, the same payload with the same `seqNo`, as the first",
    "transaction message of the next connection. The test CSMS books it once (a `resend`",
    "anomaly, the only one the audit allows); the audit also holds the repeats to the 1.6",
    "policy: one per connection, of the last event sent before it.",
]
INTRO_201 = [
    "The same campaign (`make crash-test OCPP=2.0.1`, `--ocpp 2.0.1`) with the agent speaking",
    "OCPP 2.0.1 (`[backend] ocpp = \"2.0.1\"`): transactions are TransactionEvents",
    "(Started, Updated, Ended) named by the charger's own id, booked by the test CSMS's",
    "2.0.1 ledger. Besides every check of the 1.6 audit (on the EVSE as the connector),",
    "`simulators/ledger_audit201.py` holds each transaction to 2.0.1's promises: one",
    "Started (seqNo 0) and one Ended, the last; seqNos gapless from 0 and booked in order;",
    "every event the journal queued reached the ledger under its number, with its type and",
    "its offline flag; an event flagged offline did not happen while the connection that",
    "carried it was up, one sent live happened while a connection was, and not between a",
    "kill (or the agent giving up a cut or stalled link) and its next connection; no",
    "ledger anomaly but resends; the charger's session list agrees (registers, energy,",
    "stop reason).",
]


def render_markdown(result: CampaignResult, command: str, ocpp: str | None = None) -> str:
    """The whole page for a 1.6 run; for a 2.0.1 run (``ocpp``, by default the run's
    version) its section, between markers (:func:`place_section` puts it into the page)."""
    ocpp = ocpp or result.ocpp
    s = result.summary()
    lines = [
        "# Reliability: the crash campaign",
        "",
        "Written by `make crash-test` (`python -m simulators.crash_campaign`); do not edit by hand.",
        "",
        "The campaign runs the real agent, bench and test CSMS processes, plays drivers on a",
        "two-connector charger (sessions of random length, EVs of 6-32 A), cuts and stalls the",
        "backend link under them, and SIGKILLs the agent at random instants of six kinds:",
        "during boot (while it closes the cut session and reconnects), mid-session, right after",
        "a card tap, during a stop, while offline, and while the journal drains after a",
        "reconnect. After each kill the agent is restarted; after some, the meter is silent",
        "during the restart, so the PowerLoss stop must come from the journal's checkpoint.",
        "At the end the link comes up, every session ends and the journal drains. Then the",
        "backend's ledger is audited against what the bench's meters and EVs did",
        "(`simulators/ledger_audit.py` lists the invariants): every session that delivered",
        "energy is exactly one transaction; `meterStart <= meterStop`; the billed energy is",
        "the delivered energy within one sample interval (plus 1 s of charging for the meter",
        "poll and 1 Wh of rounding), never more; the stop reason is what ended it (PowerLoss",
        "for a kill); timestamps are monotonic and a connector's transactions never overlap;",
        "a resend repeats at most one message per connection, the last one sent before it;",
        "every message the journal queued was acknowledged and is in the ledger; the",
        "charger's own session list (`ladda sessions`) agrees with the ledger.",
        "",
        "## This run",
        "",
        "| | |",
        "|---|---|",
        *([f"| OCPP | {ocpp} |"] if ocpp != "1.6" else []),
        f"| command | `{command}` |",
        f"| date | {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} |",
        f"| commit | {_git_commit() or 'unknown'} |",
        f"| seed | {s['seed']} |",
        f"| duration | {s['duration_s'] / 60:.1f} min ({s['duration_s'] / max(1, s['kills']):.1f} s per kill) |",
        f"| machine | {s['machine']['platform']}, {s['machine']['cpus']} CPUs, Python {s['machine']['python']} |",
        f"| sample interval | {s['interval_s']:g} s (`MeterValueSampleInterval`), `WebSocketPingInterval` "
        f"{result.ping_interval_s:g} s, `ping_timeout` {result.ping_timeout_s:g} s |",
        f"| **kills** | **{s['kills']}** ({_counts(s['kills_by_phase'])}) |",
        f"| recovery kills | {s['recovery_kills']} (the harness's own, after a step went wrong) |",
        f"| rounds | {s['rounds']} |",
        f"| sessions | {s['sessions']} ({_counts(s['sessions_by_end'])}); {s['sessions_charged']} delivered energy |",
        f"| energy delivered | {s['energy_delivered_wh'] / 1000:.2f} kWh |",
        f"| transactions in the ledger | {s['transactions']} |",
        f"| meter values in the ledger | {s['meter_values']} (distinct) |",
        f"| websocket connections | {s['connections']} |",
        f"| journal entries checked | {s['journal_rows_checked']} |",
        f"| duplicates seen (resends) | {_counts(s['duplicates'])} |",
        f"| longest gap between samples | {s['max_sample_gap_s']} s |",
        f"| **violations** | **{s['violations']}** |",
        "",
        "## Energy error per transaction",
        "",
        "Delivered (the bench's register) minus billed (`meterStop - meterStart`): positive is",
        "energy the backend never billed. In Wh, and in sample intervals of that EV's power.",
        "",
        "| | n | min | median | p90 | p99 | max | mean |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines.append(_row("all transactions, Wh", s["energy_error_wh"]))
    lines.append(_row("all transactions, intervals", s["energy_error_intervals"]))
    lines.append(_row("all transactions, intervals beyond 1 Wh of rounding",
                      s["energy_error_intervals_beyond_rounding"]))
    for how, spread in s["energy_error_wh_by_end"].items():
        lines.append(_row(f"{how}, Wh", spread))
    lines += [
        "",
        "## The link",
        "",
        "| | n | min | median | p90 | p99 | max | mean |",
        "|---|---|---|---|---|---|---|---|",
        _row("backend caught up after a reconnect, s", s["drain_after_reconnect_s"]),
    ]
    for kind, info in s["dead_links"].items():
        lines.append(_row(f"{kind}: noticed after, s (bound {info['bound_s']} s)", info["noticed_after_s"]))
    lines += ["", f"Final drain (every session ended until the journal was empty): {s['final_drain_s']} s.", ""]
    lines += [
        "## Resends",
        "",
        *(RESENDS_201 if ocpp == "2.0.1" else RESENDS_16),
        "",
        "| resent | times |",
        "|---|---|",
    ]
    lines += [f"| {cause} | {n} |" for cause, n in sorted(s["duplicates_by_cause"].items())] or ["| none | 0 |"]
    lines.append("")
    lines += ["## Violations", ""]
    if not result.violations:
        lines.append("None.")
    else:
        for v in result.violations:
            where = ", ".join(x for x in (f"card {v.tag}" if v.tag else "",
                                          f"transaction {v.transaction_id}" if v.transaction_id else "") if x)
            lines.append(f"- **{v.kind}**{f' ({where})' if where else ''}: {v.detail}")
    lines += ["", "## Reproducing", "",
              "`make crash-test CRASH_KILLS=N CRASH_SEED=S` or",
              "`python -m simulators.crash_campaign --kills N --seed S --report FILE.md --json FILE.json`.",
              "A seed replays the same plan; where exactly each instant falls depends on the machine's",
              "timing. `--keep` keeps the processes' logs and the charger's state directory.", ""]
    if ocpp != "2.0.1":
        return "\n".join(lines)
    # The 2.0.1 section: its own introduction, the rest one heading level down.
    body = lines[lines.index("## This run"):]
    body = [("#" + line if line.startswith("## ") else line) for line in body]
    body = [line.replace("`make crash-test CRASH_KILLS=N CRASH_SEED=S`",
                         "`make crash-test OCPP=2.0.1 CRASH_KILLS=N CRASH_SEED=S`")
            .replace("`python -m simulators.crash_campaign --kills", "`python -m simulators.crash_campaign --ocpp 2.0.1 "
                     "--kills") for line in body]
    return "\n".join([BEGIN_201, HEADING_201, "", *INTRO_201, "", *body]).rstrip("\n") + "\n" + END_201 + "\n"


def place_section(page: str, section: str) -> str:
    """``page`` with its 2.0.1 section replaced by ``section`` (put before the fuzzer's
    section, or at the end, when it has none yet); the other sections stay."""
    if BEGIN_201 in page and END_201 in page:
        head, rest = page.split(BEGIN_201, 1)
        return head + section.rstrip("\n") + rest.split(END_201, 1)[1]
    fuzzer = "\n## The OCPP frame fuzzer"
    if fuzzer in page:
        at = page.index(fuzzer)
        return page[:at].rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n" + page[at:]
    return page.rstrip("\n") + "\n\n" + section


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


def _row(label: str, spread: dict[str, float] | None) -> str:
    if not spread:
        return f"| {label} | 0 | | | | | | |"
    return (f"| {label} | {spread['n']} | {spread['min']} | {spread['p50']} | {spread['p90']} | {spread['p99']} "
            f"| {spread['max']} | {spread['mean']} |")
