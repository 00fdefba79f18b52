"""``make bench``: measure the agent as a process, the way it runs on a charger.

Every figure is measured on the real agent process (psutil reads its RSS and CPU
times from /proc) driven through the simulated bench against the test CSMS:

- resident memory at idle after boot;
- CPU seconds per hour, idle and while charging with 1 s meter sampling, and by part
  (``idle_breakdown.py``);
- time from process start to BootNotification Accepted;
- time from a card tap to the contactor closing, for a card the agent authorizes
  locally (LocalPreAuthorize with the authorization cache);
- time from an RCD trip to the contactor open, through the real drivers;
- the Modbus meter read cycle per shipped model: requests and bytes per full reading
  next to the minimum the register map allows;
- replay after a day offline: how long the journal takes to drain on reconnect, next
  to a bare ``ocpp`` library client sending the same messages (``replay.py``);
- OCPP 1.6 and 2.0.1 side by side: RSS after boot, boot to Accepted and the replay
  ratio of each (``protocols.py``);
- log bytes per 10,000 hostile OCPP frames, the fuzzer's (``log_volume.py``): under 1 MB;
- the composite schedule of 100 charging profiles over a day (``charging_profiles.py``);
- time from SetChargingProfile to the pilot's PWM duty changing (``profile_latency.py``);
- disk bytes and write calls per hour, idle and charging at 1 s and 60 s sampling, online
  and offline, from /proc, by file when strace is installed (``disk_writes.py``).

Each figure is printed with its goal beside it (docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psutil

from agent import logs
from simulators.harness import Csms, Stack

from .disk_writes import DiskFigures, endurance_years, measure_disk_writes
from .fault_response import measure_fault_response
from .charging_profiles import benchmark_composite
from .profile_latency import measure_profile_latency
from .idle_breakdown import measure_idle_breakdown, table
from .memory import measure_memory, print_memory
from .protocols import measure_protocols
from .protocols import table as protocols_table
from .log_volume import BOUND_BYTES, measure_log_volume
from .meter_cycle import measure_read_cycle
from .replay import replay

METER_MODELS = ("sdm630", "sdm120", "sdm72d-m", "abb-b23", "em340", "iskra-wm3m4c")


def _agent(stack: Stack) -> psutil.Process:
    assert stack.agent_process is not None and stack.agent_process.proc is not None
    return psutil.Process(stack.agent_process.proc.pid)


async def _cpu_per_hour(proc: psutil.Process, seconds: float) -> float:
    before = proc.cpu_times()
    await asyncio.sleep(seconds)
    after = proc.cpu_times()
    used = (after.user + after.system) - (before.user + before.system)
    return used * 3600.0 / seconds


async def boot_time(csms: Csms, root: Path, runs: int) -> list[float]:
    """Seconds from spawning the agent to the backend answering BootNotification Accepted."""
    times = []
    for n in range(runs):
        stack = Stack(root / f"boot{n}", csms, cp_id=f"BENCH-BOOT-{n}")
        await stack.start_bench()
        stack.write_config()
        t0 = time.time()
        await stack.start_agent()
        reply = await csms.request("wait_for", cp=stack.cp_id, action="BootNotification", timeout=30)
        boot_seq = reply["messages"][0]["seq"]
        answered = None
        while answered is None:  # the reply is logged just after the request
            log = await csms.request("messages", cp=stack.cp_id, since_seq=boot_seq)
            answered = next((m for m in log["messages"] if m["direction"] == "out"), None)
            await asyncio.sleep(0.05)
        at = datetime.fromisoformat(answered["time"].replace("Z", "+00:00")).timestamp()
        times.append(at - t0)
        await stack.stop()
    return times


async def tap_to_contactor(stack: Stack, runs: int) -> list[float]:
    """Seconds from a tap of a cached card to the contactor closing (EV already plugged)."""
    await stack.bench_request("plug", connector=1, max_current=16)
    # First session: authorized by the backend, which fills the cache.
    await stack.bench_request("tap", uid="BE0C0001")
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
    await stack.bench_request("tap", uid="BE0C0001")
    await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=15)
    times = []
    for _ in range(runs):
        await asyncio.sleep(0.5)
        t0 = time.perf_counter()
        await stack.bench_request("tap", uid="BE0C0001")
        await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
        times.append(time.perf_counter() - t0)
        await stack.bench_request("tap", uid="BE0C0001")
        await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=False, timeout=15)
    return times


#: The goals each figure is held to (docs/performance.md), as printed beside it.
GOALS = {
    "rss": 40 * 1024 * 1024,
    "cpu_idle": 10.0,
    "cpu_charging": 30.0,
    "tap_ms": 100.0,
    "drain_ratio": 1.1,
    "disk_idle": 0.0,
    "charging, 1 s sampling": 10e6,
    "charging, 60 s sampling": 1e6,
}


def _mark(value: float, goal: float) -> str:
    return "met" if value <= goal else "**not met**"


def _disk_rows(disk: list[DiskFigures]) -> None:
    print("| disk writes per hour (agent process, /proc) | write_bytes | write(2) bytes | write calls | goal | "
          "SD card life, 10 TB written, 4x amplification, 24 h a day |")
    print("|---|---|---|---|---|---|")
    for d in disk:
        goal = GOALS.get(d.name, GOALS["disk_idle"] if d.name == "idle" else None)
        shown = "" if goal is None else f"<= {goal / 1e6:g} MB ({_mark(d.write_bytes_per_h, goal)})"
        years = endurance_years(d.write_bytes_per_h)
        print(f"| {d.name} (over {d.seconds:.0f} s) | {d.write_bytes_per_h / 1e6:.2f} MB | {d.wchar_per_h / 1e6:.2f} MB | "
              f"{d.write_calls_per_h:.0f} | {shown} | {'forever' if years == float('inf') else f'{years:,.0f} years'} |")
    print()
    for d in disk:
        if not d.by_file:
            continue
        print(f"{d.name}, by file (strace): " + "; ".join(
            f"{path}: {b / 1e6:.2f} MB in {c:.0f} writes, {syncs:.0f} fsyncs"
            for path, (b, c, syncs) in sorted(d.by_file.items(), key=lambda kv: -kv[1][0])))
    print()


async def main(seconds: float, runs: int, disk_seconds: float) -> None:
    root = Path(tempfile.mkdtemp(prefix="ladda-bench-"))
    csms = Csms(root / "csms")
    await csms.start()
    try:
        boots = await boot_time(csms, root, runs)

        ocpp = {"MeterValueSampleInterval": 1, "LocalPreAuthorize": True, "AuthorizationCacheEnabled": True,
                "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage"}
        stack = Stack(root / "main", csms, cp_id="BENCH-MAIN", ocpp=ocpp)
        await stack.start()
        await stack.wait_booted()
        proc = _agent(stack)
        await asyncio.sleep(3)
        rss_idle = proc.memory_info().rss
        cpu_idle = await _cpu_per_hour(proc, seconds)
        taps = await tap_to_contactor(stack, runs)
        await stack.bench_request("tap", uid="BE0C0001")
        await stack.bench_request("wait_for", connector=1, field="contactor_closed", value=True, timeout=15)
        cpu_charging = await _cpu_per_hour(proc, seconds)
        rss_charging = proc.memory_info().rss
        samples = await csms.request("messages", cp=stack.cp_id, action="MeterValues")
        await stack.stop()
        drained = await replay(csms, root)
        volume = await measure_log_volume(csms, root)
        disk = await measure_disk_writes(csms, root, disk_seconds) if disk_seconds > 0 else []
        memory = await measure_memory(csms, root)
        idle_parts = await measure_idle_breakdown(csms, root, seconds)
        charging_parts = await measure_idle_breakdown(csms, root, seconds, charging=True)
        profile_latency = await measure_profile_latency(csms, root, 10)
        protocols = await measure_protocols(csms, root, runs)
    finally:
        await csms.stop()
    logs.configure("error", "console", [])  # the in-process measurements below log every step otherwise
    fault = await measure_fault_response(runs * 2)
    cycles = {model: await measure_read_cycle(model) for model in METER_MODELS}

    mib = 1024 * 1024
    print(f"Ladda benchmarks, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"machine: {platform.machine()}, {psutil.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} {platform.release()}")
    print()
    tap_ms = statistics.median(taps) * 1000
    print("| figure | value | goal |")
    print("|---|---|---|")
    print(f"| resident memory (RSS) at idle after boot | {rss_idle / mib:.1f} MiB | "
          f"<= {GOALS['rss'] / mib:g} MiB ({_mark(rss_idle, GOALS['rss'])}) |")
    print(f"| resident memory while charging | {rss_charging / mib:.1f} MiB | |")
    print(f"| CPU time per hour, idle (measured over {seconds:g} s) | {cpu_idle:.1f} s | "
          f"<= {GOALS['cpu_idle']:g} s ({_mark(cpu_idle, GOALS['cpu_idle'])}) |")
    print(f"| CPU time per hour, charging, 1 s sampling (over {seconds:g} s) | {cpu_charging:.1f} s | "
          f"<= {GOALS['cpu_charging']:g} s ({_mark(cpu_charging, GOALS['cpu_charging'])}) |")
    print(f"| process start to BootNotification Accepted, median of {runs} (min-max) | "
          f"{statistics.median(boots):.3f} s ({min(boots):.3f}-{max(boots):.3f}) | |")
    print(f"| card tap to contactor closed, cached card, median of {runs} (min-max) | "
          f"{tap_ms:.0f} ms ({min(taps) * 1000:.0f}-{max(taps) * 1000:.0f}) | "
          f"<= {GOALS['tap_ms']:g} ms ({_mark(tap_ms, GOALS['tap_ms'])}) |")
    print(f"| replay drain after 24 h offline, agent / bare ocpp library | {drained.ratio:.2f} | "
          f"<= {GOALS['drain_ratio']:g} ({_mark(drained.ratio, GOALS['drain_ratio'])}) |")
    print(f"| MeterValues received by the backend during the run | {len(samples['messages'])} | |")
    composite_s = benchmark_composite(100, 24)
    print(f"| composite schedule of 100 installed charging profiles over 24 h, connector 0, median of 5 | "
          f"{composite_s * 1000:.1f} ms | < 50 ms ({_mark(composite_s, 0.05)}) |")
    sent, accepted = profile_latency["from_request"], profile_latency["from_accepted"]
    print(f"| SetChargingProfile to the PWM duty changing, median of {len(sent)}: from Accepted at the backend "
          f"(from the request sent) | {statistics.median(accepted) * 1000:.1f} ms "
          f"({statistics.median(sent) * 1000:.1f} ms) | < 1 s ({_mark(max(sent), 1.0)}) |")
    print(f"| log bytes per 10,000 hostile OCPP frames ({volume['frames']:.0f} sent in {volume['seconds']:.0f} s) | "
          f"{volume['per_10k'] / 1e6:.2f} MB | <= {BOUND_BYTES / 1e6:g} MB ({_mark(volume['per_10k'], BOUND_BYTES)}) |")
    print()
    if disk:
        _disk_rows(disk)
    print(f"Idle CPU by part (over {seconds:g} s each):")
    print()
    print(table(idle_parts))
    print()
    print(f"Charging CPU by part, 1 s sampling (over {seconds:g} s each):")
    print()
    print(table(charging_parts))
    print()
    print("Resident memory at idle by library:")
    print()
    print_memory(memory)
    print()
    print("OCPP 1.6 and 2.0.1 side by side (benchmarks/protocols.py):")
    print()
    print(protocols_table(protocols))
    print()
    print(f"Replay after 24 h offline: {drained.messages} journal messages ({drained.transactions} transactions, "
          "MeterValues every 30 s), drained on reconnect, in order, each acknowledged:")
    print()
    print("| sender | time | messages per second |")
    print("|---|---|---|")
    print(f"| the agent, BootNotification Accepted to last StopTransaction | {drained.agent_s:.2f} s | "
          f"{drained.messages / drained.agent_s:.0f} |")
    print(f"| bare ocpp library, same messages back to back | {drained.library_s:.2f} s | "
          f"{drained.messages / drained.library_s:.0f} |")
    print(f"| ratio agent / library | {drained.ratio:.2f} | |")
    print()
    print(f"Fault to contactor open (RCD trip, real drivers on simulated pins, {fault['trips']:.0f} trips, "
          "20 ms input debounce included):")
    print()
    print("| step | median | max |")
    print("|---|---|---|")
    print(f"| RCD contact to coil output off | {fault['coil_median_ms']:.1f} ms | {fault['coil_max_ms']:.1f} ms |")
    print(f"| RCD contact to mirror contact open | {fault['open_median_ms']:.1f} ms | {fault['open_max_ms']:.1f} ms |")
    print()
    print("Meter read cycle (the real Modbus driver against the simulator), per full reading:")
    print()
    print("| model | transport | requests (minimum) | bytes (minimum) | mean time |")
    print("|---|---|---|---|---|")
    for model, result in cycles.items():
        for transport in ("tcp", "rtu"):
            row = result[transport]
            print(f"| {model} | {transport} | {row['requests']:g} ({row['min_requests']}) | "
                  f"{row['bytes']:g} ({row['min_bytes']}) | {row['mean_ms']:.1f} ms"
                  + (f", {row['wire_ms_9600_baud']:.0f} ms on the wire at 9600 baud |" if transport == "rtu" else " |"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="CPU measurement window (default 30)")
    parser.add_argument("--runs", type=int, default=5, help="repetitions of the timed figures (default 5)")
    parser.add_argument("--disk-seconds", type=float, default=600.0,
                        help="disk-write window per scenario, all scenarios at once (default 600; 0 skips)")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.runs, args.disk_seconds))
