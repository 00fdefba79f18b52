"""docs/reliability.md holds both crash campaigns: each run rewrites its own part only."""

from __future__ import annotations

from pathlib import Path

from simulators.crash_campaign import report_text
from simulators.crash_report import BEGIN_201, END_201, CampaignResult
from simulators.ledger_audit import AuditResult

MACHINE = {"platform": "Linux", "cpus": 2, "python": "3.11"}


def result(kills: int, ocpp: str) -> CampaignResult:
    return CampaignResult(seed=1, kills_planned=kills, duration_s=60.0, rounds=0, sessions=[], kills=[], dead_links=[],
                          drain_s=[], final_drain_s=None, harness_problems=[], audit=AuditResult(), interval_s=1.0,
                          workdir="/tmp/x", machine=MACHINE, ocpp=ocpp)


def test_each_version_rewrites_only_its_own_section(tmp_path: Path):
    page = tmp_path / "reliability.md"
    page.write_text("# old top\n\nold 1.6 run\n\n## The OCPP frame fuzzer (`make fuzz`)\n\nfuzz figures\n")
    page.write_text(report_text(page, result(7, "2.0.1"), "python -m simulators.crash_campaign --ocpp 2.0.1", "2.0.1"))
    text = page.read_text()
    assert text.startswith("# old top\n\nold 1.6 run\n") and text.endswith("fuzz figures\n")
    assert text.index(BEGIN_201) < text.index("## The OCPP frame fuzzer") and "| OCPP | 2.0.1 |" in text
    section = text[text.index(BEGIN_201):text.index(END_201)]

    page.write_text(report_text(page, result(9, "1.6"), "python -m simulators.crash_campaign", "1.6"))
    text = page.read_text()
    assert text.startswith("# Reliability: the crash campaign") and "old 1.6 run" not in text
    assert section in text and text.endswith("fuzz figures\n")  # the 2.0.1 run and the fuzzer's stay
    assert text.index("## This run") < text.index(BEGIN_201) < text.index("## The OCPP frame fuzzer")
    assert text.count(BEGIN_201) == 1 and "| OCPP |" not in text.split(BEGIN_201)[0]

    page.write_text(report_text(page, result(11, "2.0.1"), "again", "2.0.1"))
    again = page.read_text()
    assert again.count(BEGIN_201) == 1 and "`again`" in again and section not in again
    assert again.split(BEGIN_201)[0] == text.split(BEGIN_201)[0]  # the 1.6 run untouched
