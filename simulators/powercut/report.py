"""The power-cut campaign's results as Markdown, between markers in docs/reliability.md."""

from __future__ import annotations

import time
from typing import Any

from simulators.crash_report import _git_commit

from .campaign import PowerCutResult
from .policy import ACK_GRACE_S, NOT_YET_DUE_S

BEGIN, END = "<!-- powercut:begin -->", "<!-- powercut:end -->"
HEADING = "## Power cuts (`make power-cut`)"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def _spread(s: dict[str, float] | None, unit: str = "") -> str:
    if not s:
        return "none"
    return f"n {s['n']}, min {s['min']}{unit}, median {s['p50']}{unit}, p90 {s['p90']}{unit}, max {s['max']}{unit}"


def render(result: PowerCutResult, command: str) -> str:
    """The block that goes between the markers."""
    s: dict[str, Any] = result.summary()
    machine = s["machine"]
    window = s["sample_sync_window_s"]
    window_note = ("every sample committed at once: this release's settings have no `[state] sample_sync_seconds`"
                   if window == 0 else "`[state] sample_sync_seconds`")
    lines = [
        BEGIN,
        "",
        "Written by `make power-cut`; do not edit by hand.",
        "",
        "| | |",
        "|---|---|",
        f"| command | `{command}` |",
        f"| date | {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} |",
        f"| commit | {_git_commit() or 'unknown'} |",
        f"| seed | {s['seed']} |",
        f"| duration | {s['duration_s'] / 60:.1f} min ({s['duration_s'] / max(1, s['cuts']):.1f} s per cut) |",
        f"| machine | {machine.get('platform')}, {machine.get('cpus')} CPUs, Python {machine.get('python')} "
        "(shared with other work) |",
        f"| sample interval | {s['interval_s']:g} s (`MeterValueSampleInterval`) |",
        f"| window of samples a cut may lose | {window:g} s ({window_note}) + {NOT_YET_DUE_S:g} s |",
        f"| **cuts** | **{s['cuts']}** ({_counts(s['kills_by_phase'])}; the harness's own: {s['recovery_kills']}) |",
        f"| model per cut | {_counts(s['cuts_by_model'])} (lose: every unsynced write lost; prefix: a random "
        "in-order prefix of each file's unsynced writes landed) |",
        f"| sessions | {s['sessions']} ({_counts(s['sessions_by_end'])}); {s['sessions_charged']} delivered energy |",
        f"| transactions in the ledger | {s['transactions']} |",
        f"| meter values in the ledger | {s['meter_values']} (distinct) |",
        f"| journal after each cut | {s['cuts'] - s['journal_integrity_failures']} of {s['cuts']} passed "
        "`PRAGMA integrity_check` and were opened by the restarted agent |",
        f"| unsynced writes at a cut | {_spread(s['unsynced_ops_at_cut'])}; {s['unsynced_ops_lost']} lost in all, in "
        f"{_counts(s['files_losing_writes'])} |",
        f"| journal rows the cuts took | {_counts(s['journal_rows_lost_at_cuts'])} |",
        f"| acknowledgements the cuts took | {_counts(s['journal_acks_lost_at_cuts'])} |",
        f"| **meter samples missing in the ledger** | **{s['samples_missing_in_ledger']}** "
        f"({s['samples_missing_beyond_window']} beyond the window; oldest due {s['oldest_missing_sample_age_s']} s "
        "before its cut) |",
        f"| MeterValues sent again after a cut | {s['meter_value_resends_after_cut']} |",
        f"| Start/StopTransaction sent again after a cut | {s['start_stop_resends_after_cut_unacknowledged']} "
        f"(unacknowledged at the cut); **{s['start_stop_resent_after_acknowledgement']}** acknowledged more than "
        f"{ACK_GRACE_S:g} s before it |",
        f"| values at the backend the journal lost | {s['values_sent_not_journaled']} |",
        f"| duplicates seen (resends) | {_counts(s['duplicates'])} |",
        f"| energy error per transaction, Wh | {_spread(s['energy_error_wh'])} |",
        f"| energy error, sample intervals | {_spread(s['energy_error_intervals'])} |",
        f"| **violations** | **{s['violations']}** |",
        "",
    ]
    if result.violations:
        lines += ["Violations:", ""]
        lines += [f"- {v.kind}: {v.detail}" + (f" [card {v.tag}]" if v.tag else "") for v in result.violations[:50]]
        lines.append("")
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_report(text: str, block: str) -> str:
    """``text`` with the block between the markers replaced (appended under its heading
    when the file has no markers yet); the file's other sections stay."""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + block.rstrip("\n") + rest.split(END, 1)[1]
    return text.rstrip("\n") + f"\n\n{HEADING}\n\n" + block
