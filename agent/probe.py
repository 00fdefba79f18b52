"""``ladda probe``: one-shot checks a technician runs while wiring a charger.

Each probe builds the drivers exactly as the service would, from the same file, and
talks to the device once (or, for inputs such as cards, until interrupted). A failure
prints one line naming the device, its address and what failed, and exits 1, so the
technician knows which wire or setting to look at. The service must not be running:
two programs on one serial port or GPIO line disturb each other.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TextIO

from drivers.protocols import DeviceError, EnergyMeter, MeterReading

from .settings import Settings

#: Exit status when the device could not be reached or answered wrongly.
PROBE_FAILED = 1


def _fmt(values: tuple[float, ...], digits: int) -> str:
    return " ".join(f"{v:.{digits}f}" for v in values) or "-"


def meter_table(rows: list[tuple[int, str, MeterReading | str]]) -> list[str]:
    """One line per connector: the reading, or what failed."""
    header = ("conn", "meter", "energy kWh", "power W", "current A", "voltage V")
    lines = [header]
    for connector, name, result in rows:
        if isinstance(result, MeterReading):
            lines.append((str(connector), name, f"{result.energy_wh / 1000:.3f}", f"{result.power_w:.1f}",
                          _fmt(result.current_a, 2), _fmt(result.voltage_v, 1)))
        else:
            lines.append((str(connector), name, "FAILED", result, "", ""))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines]


async def probe_meters(meters: dict[int, EnergyMeter], out: TextIO) -> int:
    """Open and read every connector's meter once; print a table; 0 when all answered."""
    rows: list[tuple[int, str, MeterReading | str]] = []
    for connector, meter in sorted(meters.items()):
        name = getattr(meter, "name", f"meter {connector}")
        try:
            await meter.open()
            rows.append((connector, name, await meter.read()))
        except DeviceError as exc:
            rows.append((connector, name, str(exc).removeprefix(f"{name}: ")))
        finally:
            await meter.close()
    for line in meter_table(rows):
        print(line, file=out)
    return 0 if all(isinstance(r, MeterReading) for _, _, r in rows) else PROBE_FAILED


def run_probe(device: str, settings: Settings, out: TextIO = sys.stdout) -> int:
    """Run one probe by name; the exit status for the command line."""
    from . import logs

    # Warnings only, readable: the probe's own table says what failed, once.
    logs.configure("warning", "console", [])
    probes: dict[str, Callable[[Settings, TextIO], int]] = {"meter": _meter}
    return probes[device](settings, out)


def _meter(settings: Settings, out: TextIO) -> int:
    from .hardware import build_modbus_meters

    if settings.meter.driver != "modbus":
        print(f'meter.driver is "{settings.meter.driver}": nothing to probe on this machine', file=out)
        return PROBE_FAILED
    return asyncio.run(probe_meters(build_modbus_meters(settings), out))
