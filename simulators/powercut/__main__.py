"""``python -m simulators.powercut``: the power-cut campaign (``make power-cut``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .campaign import PREFIX_P, run_power_cuts
from .report import render, write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.powercut",
                                     description="Cut the charger's power at random instants and audit the ledger.")
    parser.add_argument("--cuts", type=int, default=12, help="planned power cuts (default 12)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", type=Path, help="Markdown file whose powercut markers get the results")
    parser.add_argument("--json", type=Path, help="also write everything recorded, as JSON")
    parser.add_argument("--workdir", type=Path, help="where the processes run (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, state, trace)")
    parser.add_argument("--sample-sync", type=float, default=None,
                        help="write [state] sample_sync_seconds into the charger's configuration (only for a "
                             "release that knows the key; default: the release's default)")
    parser.add_argument("--prefix-share", type=float, default=PREFIX_P,
                        help=f"share of cuts where a prefix of the unsynced writes landed (default {PREFIX_P})")
    parser.add_argument("--wiring", choices=("gpio", "none"), default="gpio")
    args = parser.parse_args(argv)
    if args.cuts < 1:
        parser.error("--cuts must be at least 1")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ladda-cut-"))
    workdir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - began:7.1f} s] {line}", file=sys.stderr, flush=True)

    try:
        result = asyncio.run(run_power_cuts(args.cuts, args.seed, workdir, progress, wired=args.wiring == "gpio",
                                            sample_sync_seconds=args.sample_sync, prefix_p=args.prefix_share))
    except ValueError as exc:
        parser.error(str(exc))
    command = "python -m simulators.powercut " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.report:
        old = args.report.read_text() if args.report.exists() else ""
        args.report.write_text(write_report(old, render(result, command)))
    if args.json:
        args.json.write_text(json.dumps(result.as_json(), indent=2, default=str) + "\n")
    print(json.dumps(result.summary(), indent=2))
    for v in result.violations:
        print(f"VIOLATION {v.kind}: {v.detail}" + (f" [card {v.tag}]" if v.tag else ""), file=sys.stderr)
    if result.violations or args.keep:
        print(f"logs, state and trace kept in {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if result.violations else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
