"""Log volume under hostile frames: bytes the agent logs per 10,000 of them.

The frames are the fuzzer's (simulators/fuzz), sent back to back over the test CSMS's
real websocket to the real agent process, a liveness call after each keeping pace.
What counts is the agent's stdout (JSON lines, what journald stores under systemd); the
bound is 1 MB per 10,000 frames, so that a hostile backend cannot wear out an SD card.
"""

from __future__ import annotations

from pathlib import Path

from simulators.fuzz.campaign import FUZZ_OCPP, Campaign
from simulators.fuzz.frames import draw_probes
from simulators.harness import Csms, Stack

HOSTILE_FRAMES = 10_000
BOUND_BYTES = 1_000_000


async def measure_log_volume(csms: Csms, root: Path, frames: int = HOSTILE_FRAMES) -> dict[str, float]:
    """Log bytes per ``frames`` hostile frames (valid ones left out), and the time they took."""
    hostile = [p for p in draw_probes(frames + frames // 4) if p.kind != "valid"][:frames]
    stack = Stack(root / "fuzz", csms, cp_id="BENCH-FUZZ", ocpp=FUZZ_OCPP)
    await stack.start()
    try:
        await stack.wait_booted()
        figures = await Campaign(stack).flood(hostile)
    finally:
        await stack.stop()
    return {
        "frames": figures.frames,
        "log_bytes": figures.log_bytes,
        "per_10k": figures.log_bytes * 10_000 / max(figures.frames, 1),
        "seconds": figures.seconds,
        "link_drops": figures.link_drops,
        "crashes": figures.crashes,
    }
