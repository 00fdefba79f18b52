"""``make fuzz``: the frame fuzzing campaign at length, its figures printed and written to a report.

    python -m simulators.fuzz --frames 10000 --report docs/reliability.md
    python -m simulators.fuzz --ocpp 2.0.1 --frames 10000 --report docs/reliability.md

Starts the test CSMS, the bench and the agent as real processes, charges a session, sends
the frames while it charges, stops the session and checks the backend's ledger. Exit 0
when every check held, 1 otherwise (the figures are written either way).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simulators.harness import Csms, Stack

from .campaign import CATEGORIES, FUZZ_OCPP, Campaign, Figures, charge, finish, verdict
from .frames import draw_probes
from .frames201 import draw_probes as draw_probes_201

BEGIN, END = "<!-- fuzz:begin -->", "<!-- fuzz:end -->"
#: The 2.0.1 run's section of the same report, and its heading.
BEGIN_201, END_201 = "<!-- fuzz201:begin -->", "<!-- fuzz201:end -->"
HEADING_201 = "## The OCPP 2.0.1 frame fuzzer (`python -m simulators.fuzz --ocpp 2.0.1`)"
ID_TAG = "F022C0DE"


def _machine() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def render(figures: Figures, broken: list[str], ledger: list[dict[str, Any]], version: str = "1.6") -> str:
    """The report section (Markdown) between the markers (the 2.0.1 run's own)."""
    per_10k = figures.log_bytes * 10_000 / figures.frames if figures.frames else 0
    rows = [
        ("frames sent", f"{figures.frames}"),
        ("garbage answers to the agent's own calls delivered", f"{figures.garbage_answers}"),
        ("link drops", f"{figures.link_drops}"),
        ("agent process deaths", f"{figures.crashes}"),
        ("frames answered wrongly", f"{figures.wrong_answers}"),
        ("secrets found in the logs", f"{len(figures.secrets_logged)}"),
        ("tracebacks in the logs", f"{figures.tracebacks}"),
        ("log bytes (stdout/journal)", f"{figures.log_bytes} ({per_10k / 1e6:.2f} MB per 10,000 frames)"),
        ("log bytes (state/logs/ladda.log)", f"{figures.file_log_bytes}"),
        ("transactions in the backend's ledger", ", ".join(
            f"{t['transaction_id']}: {'stopped' if t['stopped'] else 'open'}, {t['energy_wh']} Wh" for t in ledger)
         or "none"),
        ("duration", f"{figures.seconds:.0f} s ({figures.frames / max(figures.seconds, 1e-9):.0f} frames/s)"),
    ]
    lines = [
        BEGIN if version == "1.6" else BEGIN_201,
        f"Run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {_machine()}" + ("." if version == "1.6" else f", OCPP {version}."),
        "",
        f"**Verdict: {'all checks held' if not broken else 'FAILED: ' + '; '.join(broken)}.**",
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
        "Frames per class, and how many were answered wrongly:",
        "",
        "| class | frames | wrong |",
        "|---|---|---|",
    ]
    wrong_by_class: dict[str, int] = {}
    for failure in figures.failures:
        wrong_by_class[failure.probe.kind] = wrong_by_class.get(failure.probe.kind, 0) + 1
    for kind, count in sorted(figures.per_class.items()):
        lines.append(f"| {kind} | {count} | {wrong_by_class.get(kind, 0)} |")
    if figures.failures:
        lines += ["", "Failures by kind: " + ", ".join(
            f"{c} {figures.count(c)}" for c in CATEGORIES if figures.count(c)) + ". Examples:", "", "```"]
        lines += [line.replace("```", "'''") for line in figures.report(examples=12).splitlines()]
        lines.append("```")
    lines.append(END if version == "1.6" else END_201)
    return "\n".join(lines)


def write_report(path: Path, section: str, version: str = "1.6") -> None:
    text = path.read_text() if path.exists() else ""
    begin, end = (BEGIN, END) if version == "1.6" else (BEGIN_201, END_201)
    heading = "## The OCPP frame fuzzer (`make fuzz`)" if version == "1.6" else HEADING_201
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n" + section + "\n"
    path.write_text(text)


async def run(frames: int, report: Path | None, keep: bool, version: str = "1.6") -> int:
    print(f"drawing {frames} frames ...", flush=True)
    probes = draw_probes(frames) if version == "1.6" else draw_probes_201(frames)
    root = Path(tempfile.mkdtemp(prefix="ladda-fuzz-"))
    csms = Csms(root / "csms")
    await csms.start()
    stack = Stack(root / "agent", csms, cp_id="FUZZ-1" if version == "1.6" else "FUZZ-201", ocpp=FUZZ_OCPP,
                  backend={"ocpp": version} if version != "1.6" else {})
    try:
        await stack.start()
        await stack.wait_booted()
        await charge(stack, ID_TAG)
        print(f"charging; sending {len(probes)} frames ...", flush=True)
        campaign = Campaign(stack)
        figures = await campaign.run(probes)
        ledger = await finish(stack, ID_TAG)
        campaign.read_logs()
        anomalies = (await csms.request("ledger", cp=stack.cp_id))["anomalies"]
    finally:
        await stack.stop()
        await csms.stop()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    broken = verdict(figures, ledger, anomalies, ID_TAG)
    section = render(figures, broken, ledger, version)
    print(section)
    if report is not None:
        write_report(report, section, version)
        print(f"written to {report}")
    if keep:
        print(f"work directory kept: {root}")
    return 1 if broken else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10_000, help="frames to send (default 10000)")
    parser.add_argument("--report", type=Path, help="write the figures into this Markdown file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs) for inspection")
    parser.add_argument("--ocpp", choices=("1.6", "2.0.1"), default="1.6",
                        help="the OCPP version the agent speaks, and whose frames and answers are used (default 1.6)")
    args = parser.parse_args(argv)
    if args.frames < 1:
        parser.error("--frames must be at least 1")
    return asyncio.run(run(args.frames, args.report, args.keep, args.ocpp))


if __name__ == "__main__":
    sys.exit(main())
