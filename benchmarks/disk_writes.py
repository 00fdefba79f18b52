"""Disk writes of the agent process: what wears a charger's SD card.

Four agents run side by side on the wired bench, each for the same window: idle; charging
with a MeterValues every second; charging with one every 60 s; charging with one every
second while the backend is unreachable. The figures come from the kernel's accounting
of each process (``/proc/PID/io``):

- ``write_bytes``: bytes of page cache the process dirtied, i.e. what goes to the device
  (the issue's figure). The kernel counts whole folios: on kernels whose ext4 uses large
  folios (6.16 and later) a 100-byte write into a fresh 16 KiB folio counts 16 KiB, so
  this overstates small writes against a Raspberry Pi kernel with 4 KiB pages;
- ``wchar`` and ``syscw``: bytes and calls handed to write(2) and its kin.

When ``strace`` is installed the write calls and fsyncs are also broken down by file.
The agent's stdout is a pipe here (under systemd it goes to journald, another process);
its own log file in the state directory is counted.

The journal's rhythm (agent.journal): samples the backend has acknowledged are synced at
most every ``KEPT_SYNC_S`` (300 s), unacknowledged ones within ``[state]
sample_sync_seconds``; so a window shorter than 600 s cannot give a fair hourly figure.
"""

from __future__ import annotations

import asyncio
import collections
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from simulators.harness import Csms, Stack

MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage"
#: (name, sample interval in s or None for idle, backend reachable)
SCENARIOS = (
    ("idle", None, True),
    ("charging, 1 s sampling", 1, True),
    ("charging, 60 s sampling", 60, True),
    ("charging offline, 1 s sampling", 1, False),
)
_STRACE_LINE = re.compile(r"(write|pwrite64|writev|pwritev2?|fsync|fdatasync)\((\d+)<([^>]*)>.*= (\d+)$")


@dataclass
class DiskFigures:
    name: str
    seconds: float
    write_bytes_per_h: float
    wchar_per_h: float
    write_calls_per_h: float
    #: file (relative to the state directory) -> (bytes, write calls, syncs) per hour
    by_file: dict[str, tuple[float, float, float]] = field(default_factory=dict)


def _io(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/io") as f:
        return {k: int(v) for k, v in (line.split(":") for line in f)}


def _by_file(trace: Path, state_dir: Path, scale: float) -> dict[str, tuple[float, float, float]]:
    written: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()
    syncs: collections.Counter[str] = collections.Counter()
    for line in trace.read_text(errors="replace").splitlines():
        m = _STRACE_LINE.search(line)
        if m is None:
            continue
        path = m.group(3)
        path = path[len(str(state_dir)) + 1:] if path.startswith(str(state_dir)) else path
        if m.group(1) in ("fsync", "fdatasync"):
            syncs[path] += 1
        else:
            written[path] += int(m.group(4))
            calls[path] += 1
    return {p: (written[p] * scale, calls[p] * scale, syncs[p] * scale) for p in set(written) | set(syncs)}


async def _one(csms: Csms, root: Path, name: str, interval: int | None, online: bool, seconds: float) -> DiskFigures:
    ocpp = {"MeterValueSampleInterval": interval or 60, "MeterValuesSampledData": MEASURANDS,
            "LocalPreAuthorize": True, "AuthorizationCacheEnabled": True, "AllowOfflineTxForUnknownId": True,
            "LocalAuthorizeOffline": True}
    cp_id = "BENCH-DISK-" + re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").upper()
    stack = Stack(root / cp_id, csms, cp_id=cp_id, ocpp=ocpp)
    tracer: subprocess.Popen[bytes] | None = None
    try:
        await stack.start()
        await stack.wait_booted()
        if interval is not None:
            if not online:
                await stack.bench_request("link", state="cut")
            await stack.bench_request("plug", connector=1, max_current=16)
            await stack.bench_request("tap", uid="BE0C0D15")
            await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=30)
        await asyncio.sleep(5)  # past the start's own writes
        assert stack.agent_process is not None and stack.agent_process.proc is not None
        pid = stack.agent_process.proc.pid
        trace = stack.workdir / "writes.strace"
        if shutil.which("strace"):
            tracer = subprocess.Popen(
                ["strace", "-f", "-y", "-qq", "-e", "trace=write,pwrite64,writev,pwritev,pwritev2,fsync,fdatasync",
                 "-o", str(trace), "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await asyncio.sleep(1)
        before, t0 = _io(pid), time.monotonic()
        await asyncio.sleep(seconds)
        after, took = _io(pid), time.monotonic() - t0
        scale = 3600.0 / took
        by_file: dict[str, tuple[float, float, float]] = {}
        if tracer is not None:
            tracer.terminate()
            tracer.wait(10)
            tracer = None
            by_file = _by_file(trace, stack.state_dir, scale)
        return DiskFigures(
            name=name, seconds=took,
            write_bytes_per_h=(after["write_bytes"] - before["write_bytes"]) * scale,
            wchar_per_h=(after["wchar"] - before["wchar"]) * scale,
            write_calls_per_h=(after["syscw"] - before["syscw"]) * scale,
            by_file=by_file,
        )
    finally:
        if tracer is not None:
            tracer.terminate()
        await stack.stop()


async def measure_disk_writes(csms: Csms, root: Path, seconds: float) -> list[DiskFigures]:
    """Every scenario at once, each in its own agent and bench, over ``seconds``."""
    return list(await asyncio.gather(
        *(_one(csms, root, name, interval, online, seconds) for name, interval, online in SCENARIOS)
    ))


def endurance_years(bytes_per_hour: float, card_tbw: float = 10e12, amplification: float = 4.0) -> float:
    """Years until a card rated ``card_tbw`` bytes written wears out, charging 24 h a day
    (the worst case), with ``amplification`` for the card's own write amplification of
    small writes (an SD card erases in blocks of a few MiB)."""
    if bytes_per_hour <= 0:
        return float("inf")
    return card_tbw / (bytes_per_hour * amplification * 24 * 365)
