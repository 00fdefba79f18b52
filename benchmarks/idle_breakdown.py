"""Where the agent's CPU goes, idle and charging, on the wired bench.

The agent process is started three times against the same test CSMS, each time idle
after boot (nothing plugged), and its CPU time (user + system, psutil) is read over
``seconds``; then the same three again while an EV charges (cached card, a MeterValues
every second with the four measurands ``make bench`` uses):

1. as ``make bench`` runs it: the real Modbus meter driver, ADS1115 pilot and GPIO
   drivers on the bench's transports;
2. the same with the meter read once a minute (``[meter] poll_interval = 60``): the
   difference is what reading the meter every second costs;
3. the sim contactor and pilot drivers (``Stack(wired=False)``), meter as in 1: the
   difference is what the real pilot and GPIO drivers cost, their bench transports
   (I2C and pins over a Unix socket, JSON lines) included.

For each run it also splits the agent's time between its event loop (the main
thread) and its other threads (the I2C bus thread, the GPIO pins' reader, the
database thread), and reads the bench process's time: that is the far side of the
simulated transports, which a charger does not run at all.

Run: ``python -m benchmarks.idle_breakdown [--seconds 60]``; ``make bench`` can call
:func:`measure_idle_breakdown` with its CSMS and print :func:`table`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from simulators.harness import Csms, Stack

OCPP: dict[str, Any] = {"MeterValueSampleInterval": 1, "LocalPreAuthorize": True, "AuthorizationCacheEnabled": True,
                        "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import,Current.Import,"
                                                  "Voltage"}


@dataclass(frozen=True)
class IdleRun:
    """CPU seconds per hour of one idle agent, and of the bench beside it."""

    label: str
    agent: float
    event_loop: float
    other_threads: float
    bench: float


def _thread_times(proc: psutil.Process) -> tuple[float, float]:
    """(main thread, all other threads) CPU seconds so far."""
    main = other = 0.0
    for thread in proc.threads():
        used = thread.user_time + thread.system_time
        if thread.id == proc.pid:
            main += used
        else:
            other += used
    return main, other


async def _idle_run(csms: Csms, workdir: Path, label: str, seconds: float, charging: bool = False,
                    **stack_args: Any) -> IdleRun:
    stack = Stack(workdir, csms, cp_id=f"BENCH-IDLE-{workdir.name}", ocpp=OCPP, **stack_args)
    await stack.start()
    try:
        await stack.wait_booted()
        if charging:
            await stack.bench_request("plug", connector=1, max_current=16)
            await stack.bench_request("tap", uid="BE0C0001")
            await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
        assert stack.agent_process is not None and stack.agent_process.proc is not None
        assert stack.bench_process is not None and stack.bench_process.proc is not None
        agent = psutil.Process(stack.agent_process.proc.pid)
        bench = psutil.Process(stack.bench_process.proc.pid)
        await asyncio.sleep(3)  # past the boot's burst
        a0, b0, (m0, o0) = agent.cpu_times(), bench.cpu_times(), _thread_times(agent)
        await asyncio.sleep(seconds)
        a1, b1, (m1, o1) = agent.cpu_times(), bench.cpu_times(), _thread_times(agent)
    finally:
        await stack.stop()
    per_hour = 3600.0 / seconds
    return IdleRun(
        label,
        agent=((a1.user + a1.system) - (a0.user + a0.system)) * per_hour,
        event_loop=(m1 - m0) * per_hour,
        other_threads=(o1 - o0) * per_hour,
        bench=((b1.user + b1.system) - (b0.user + b0.system)) * per_hour,
    )


async def measure_idle_breakdown(csms: Csms, root: Path, seconds: float = 60.0,
                                 charging: bool = False) -> list[IdleRun]:
    """The three runs described in the module docstring, in that order, idle or charging.
    Charging, the meter is read every second in the second run too: the samples need it."""
    what = "charging" if charging else "idle"
    return [
        await _idle_run(csms, root / f"{what}-shipped", "as shipped (real drivers on the wired bench)", seconds,
                        charging),
        await _idle_run(csms, root / f"{what}-meter60", "meter read once a minute", seconds, charging,
                        meter_settings={"poll_interval": 60.0}),
        await _idle_run(csms, root / f"{what}-unwired", "sim pilot and contactor instead of the real drivers",
                        seconds, charging, wired=False),
    ]


def table(runs: list[IdleRun]) -> str:
    """A Markdown table of the runs and the shares they imply."""
    shipped, meter60, unwired = runs
    meter, drivers = shipped.agent - meter60.agent, shipped.agent - unwired.agent
    lines = [
        "| run | agent CPU s/h | event loop | other threads | bench process |",
        "|---|---|---|---|---|",
        *(f"| {r.label} | {r.agent:.1f} | {r.event_loop:.1f} | {r.other_threads:.1f} | {r.bench:.1f} |" for r in runs),
        "",
        f"Reading the meter every second: {meter:.1f} s/h; the real pilot and GPIO drivers with their bench "
        f"transports: {drivers:.1f} s/h; the rest (link, timers): {shipped.agent - meter - drivers:.1f} s/h. "
        "Differences of single windows: take several runs on a shared machine.",
    ]
    return "\n".join(lines)


async def main(seconds: float) -> None:
    root = Path(tempfile.mkdtemp(prefix="ladda-idle-"))
    csms = Csms(root / "csms")
    await csms.start()
    try:
        runs = await measure_idle_breakdown(csms, root, seconds)
    finally:
        await csms.stop()
    print(table(runs))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.idle_breakdown", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="CPU measurement window per run (default 60)")
    asyncio.run(main(parser.parse_args().seconds))
