"""What one full meter reading costs on the line, per model and transport.

Runs the real driver against the simulated meter over Modbus TCP and over RTU on a
socat pty pair, and sets the measured requests and bytes per reading next to the
minimum the register map allows, computed here independently of the driver's planner
(every split of the needed registers into consecutive requests is tried). A pty moves
bytes at memory speed whatever the baud rate, so for RTU the time the same frames take
on a real 9600 baud line is also given (11 bits per byte with parity or two stop bits,
10 with 8N1, plus the 3.5-character silence that ends each frame).

    python -m benchmarks.meter_cycle
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from drivers.modbus import ModbusBus, ModbusMeter, known_models, load_meter_model
from drivers.modbus.registers import MeterModel
from simulators.modbus_meter import MeterSimulator, PtyPair

READINGS = 50
BAUD = 9600


def _frame_bytes(counts: list[int], framing: str) -> int:
    """Request plus reply ADU bytes for reads of ``counts`` registers."""
    request, reply = (12, 9) if framing == "tcp" else (8, 5)
    return sum(request + reply + 2 * n for n in counts)


def cheapest_split(spans: list[tuple[int, int]], max_registers: int, max_gap: int) -> list[int]:
    """Register counts of the cheapest way to read ``spans`` (address, count): fewest
    requests, then fewest registers, found by trying every split of the sorted spans into
    consecutive groups. Independent of the driver's planner, so it can judge it."""
    spans = sorted(set(spans))
    best: tuple[int, int, list[int]] | None = None
    for cuts in itertools.product((False, True), repeat=len(spans) - 1):
        groups, current = [], [spans[0]]
        for span, cut in zip(spans[1:], cuts):
            if cut:
                groups.append(current)
                current = [span]
            else:
                current.append(span)
        groups.append(current)
        widths = [group[-1][0] + group[-1][1] - group[0][0] for group in groups]
        fits = all(
            width <= max_registers and all(b[0] - (a[0] + a[1]) <= max_gap for a, b in zip(group, group[1:]))
            for width, group in zip(widths, groups)
        )
        if fits and (best is None or (len(widths), sum(widths)) < best[:2]):
            best = (len(widths), sum(widths), widths)
    assert best is not None, "no split fits the limits"
    return best[2]


def minimum_plan(model: MeterModel) -> list[int]:
    """Register counts of the cheapest plan the model's register map allows."""
    return cheapest_split(list(model.spans()), model.max_registers, model.max_gap)


async def _measure(meter: ModbusMeter, framing: str) -> dict[str, Any]:
    await meter.open()
    try:
        requests, sent, received = meter.requests, meter.bytes_sent, meter.bytes_received
        started = time.perf_counter()
        for _ in range(READINGS):
            await meter.read()
        elapsed = time.perf_counter() - started
    finally:
        await meter.close()
    plan = minimum_plan(meter.model)
    result = {
        "requests": (meter.requests - requests) / READINGS,
        "bytes": (meter.bytes_sent - sent + meter.bytes_received - received) / READINGS,
        "min_requests": len(plan),
        "min_bytes": _frame_bytes(plan, framing),
        "mean_ms": elapsed / READINGS * 1000,
    }
    if framing == "rtu":
        bits = 10  # 8N1, as on the pty
        wire = result["bytes"] * bits / BAUD + 2 * result["requests"] * 3.5 * bits / BAUD
        result["wire_ms_9600_baud"] = wire * 1000
    return result


async def measure_read_cycle(model_name: str) -> dict[str, Any]:
    """Per transport ("tcp", "rtu"): requests and bytes per reading, the map's minimum, mean time."""
    model = load_meter_model(model_name)
    results: dict[str, Any] = {"model": model_name}
    async with MeterSimulator(model, units=[1], seed=1) as sim:
        port = await sim.start_tcp()
        results["tcp"] = await _measure(ModbusMeter(ModbusBus.tcp("127.0.0.1", port), 1, model), "tcp")
    async with PtyPair() as (server_end, client_end), MeterSimulator(model, units=[1], seed=1) as sim:
        await sim.start_rtu(server_end, baudrate=BAUD)
        results["rtu"] = await _measure(ModbusMeter(ModbusBus.serial(client_end, baudrate=BAUD), 1, model), "rtu")
    return results


def main() -> None:
    rows = [asyncio.run(measure_read_cycle(name)) for name in known_models()]
    print(f"Full meter reading, mean of {READINGS} readings, driver vs the register map's minimum")
    print(f"{'model':<14}{'tcp req':>8}{'min':>5}{'bytes':>7}{'min':>6}{'ms':>7}  "
          f"{'rtu req':>8}{'min':>5}{'bytes':>7}{'min':>6}{'ms':>7}{'9600 bd ms':>12}")
    for row in rows:
        t, r = row["tcp"], row["rtu"]
        print(f"{row['model']:<14}{t['requests']:>8g}{t['min_requests']:>5}{t['bytes']:>7g}{t['min_bytes']:>6}"
              f"{t['mean_ms']:>7.2f}  {r['requests']:>8g}{r['min_requests']:>5}{r['bytes']:>7g}{r['min_bytes']:>6}"
              f"{r['mean_ms']:>7.2f}{r['wire_ms_9600_baud']:>12.1f}")


if __name__ == "__main__":
    main()
