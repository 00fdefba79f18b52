"""OCPP 1.6 and 2.0.1 side by side: what speaking the other protocol costs the agent.

The same agent, on the same wired bench and against the same test CSMS, configured with
``[backend] ocpp = "1.6"`` and then ``"2.0.1"`` (only the configured protocol's modules
are loaded: the figures show what each adapter brings). For each version:

- process start to BootNotification Accepted, median of ``runs`` fresh agents;
- resident memory (RSS) after boot, once it idled for a few seconds (``make bench``'s
  moment: :data:`benchmarks.memory.SETTLE_S`);
- the replay of a day offline (:mod:`benchmarks.replay`): the agent's drain of the same
  journal, and a bare ``ocpp`` library client of the same version sending the same
  messages back to back; their ratio.

    python -m benchmarks.protocols [--runs 5]

``make bench`` prints the same table.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psutil

from simulators.harness import Csms, Stack

from .memory import SETTLE_S
from .replay import ReplayFigures, replay

VERSIONS = ("1.6", "2.0.1")
MIB = 2**20


@dataclass(frozen=True)
class ProtocolFigures:
    version: str
    boots_s: list[float]
    rss_bytes: int
    replay: ReplayFigures


def _backend(version: str) -> dict[str, str]:
    return {"ocpp": version} if version != "1.6" else {}


async def _boot_seconds(csms: Csms, root: Path, version: str, n: int) -> float:
    """Seconds from spawning one fresh agent to the CSMS answering its BootNotification
    (the answer's log time; the same clock)."""
    stack = Stack(root / f"boot-{version}-{n}", csms, cp_id=f"BENCH-BOOT-{version}-{n}", backend=_backend(version))
    try:
        await stack.start_bench()
        stack.write_config()
        t0 = datetime.now().timestamp()
        await stack.start_agent()
        reply = await csms.request("wait_for", cp=stack.cp_id, action="BootNotification", timeout=30)
        boot_seq = reply["messages"][0]["seq"]
        while True:  # the answer is logged just after the request
            log = await csms.request("messages", cp=stack.cp_id, since_seq=boot_seq)
            answered = next((m for m in log["messages"] if m["direction"] == "out"), None)
            if answered is not None:
                break
            await asyncio.sleep(0.05)
        assert answered["payload"].get("status") == "Accepted", answered
        return datetime.fromisoformat(answered["time"].replace("Z", "+00:00")).timestamp() - t0
    finally:
        await stack.stop()


async def _rss_after_boot(csms: Csms, root: Path, version: str) -> int:
    stack = Stack(root / f"rss-{version}", csms, cp_id=f"BENCH-RSS-{version}", backend=_backend(version))
    try:
        await stack.start()
        await stack.wait_booted()
        await asyncio.sleep(SETTLE_S)
        assert stack.agent_process is not None and stack.agent_process.proc is not None
        return int(psutil.Process(stack.agent_process.proc.pid).memory_info().rss)
    finally:
        await stack.stop()


async def measure_protocols(csms: Csms, root: Path, runs: int) -> list[ProtocolFigures]:
    """Each version's figures; the boots alternate between versions, so a busy moment of
    the machine falls on both alike."""
    boots: dict[str, list[float]] = {v: [] for v in VERSIONS}
    for n in range(runs):
        for version in VERSIONS:
            boots[version].append(await _boot_seconds(csms, root, version, n))
    figures = []
    for version in VERSIONS:
        rss = await _rss_after_boot(csms, root, version)
        drained = await replay(csms, root, ocpp=version)
        figures.append(ProtocolFigures(version, boots[version], rss, drained))
    return figures


def table(figures: list[ProtocolFigures]) -> str:
    """The side-by-side table (Markdown)."""
    runs = len(figures[0].boots_s)
    header = "| figure | " + " | ".join(f"OCPP {f.version}" for f in figures) + " |"
    rows = [
        header,
        "|---|" + "---|" * len(figures),
        f"| resident memory (RSS) at idle after boot | "
        + " | ".join(f"{f.rss_bytes / MIB:.1f} MiB" for f in figures) + " |",
        f"| process start to BootNotification Accepted, median of {runs} (min-max) | "
        + " | ".join(f"{statistics.median(f.boots_s):.3f} s ({min(f.boots_s):.3f}-{max(f.boots_s):.3f})"
                     for f in figures) + " |",
        "| replay after 24 h offline: journal messages (transactions) | "
        + " | ".join(f"{f.replay.messages} ({f.replay.transactions})" for f in figures) + " |",
        "| replay drain, the agent (BootNotification Accepted to the last transaction message answered) | "
        + " | ".join(f"{f.replay.agent_s:.2f} s" for f in figures) + " |",
        "| the same messages from a bare `ocpp` library client of that version | "
        + " | ".join(f"{f.replay.library_s:.2f} s" for f in figures) + " |",
        "| **replay ratio, agent / library** | " + " | ".join(f"**{f.replay.ratio:.2f}**" for f in figures) + " |",
    ]
    return "\n".join(rows)


async def main(runs: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="ladda-bench-protocols-"))
    csms = Csms(root / "csms")
    await csms.start()
    try:
        figures = await measure_protocols(csms, root, runs)
    finally:
        await csms.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"OCPP 1.6 and 2.0.1 side by side, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"machine: {platform.machine()}, {psutil.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}; wired bench")
    print()
    print(table(figures))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.protocols", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh agents booted per version (default 5)")
    asyncio.run(main(parser.parse_args().runs))
