"""Time from a fault to the contactor opening, through the real drivers.

An RCD trip on the wired charger (``simulators.wired_charger``: real GPIO contactor
and RCD input on mock pins, real Modbus meter, real ADS1115 pilot, the real runtime):
measured from the moment the RCD's contact changes to the moment the contactor's
coil output drops, and to the moment its mirror contact confirms the contacts are
open. The figures include the input debounce (20 ms by default), which is the point:
it is what a charger in the field adds too.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from simulators.wired_charger import until, wired_charger


async def measure_fault_response(trips: int = 10) -> dict[str, float]:
    coil_ms: list[float] = []
    open_ms: list[float] = []
    with tempfile.TemporaryDirectory(prefix="ladda-fault-") as tmp:
        async with wired_charger(Path(tmp)) as charger:
            for n in range(trips):
                if n == 0:
                    await charger.charge("BENCH-RCD")
                else:
                    await until(lambda: charger.contactor.closed)
                began = time.perf_counter()
                charger.rcd.trip()
                await until(lambda: not charger.contactor.energised, timeout=2.0)
                coil_ms.append((time.perf_counter() - began) * 1000)
                await until(lambda: not charger.contactor.closed, timeout=2.0)
                open_ms.append((time.perf_counter() - began) * 1000)
                charger.rcd.reset()  # the fault clears and the session carries on
    return {
        "trips": trips,
        "coil_median_ms": statistics.median(coil_ms), "coil_max_ms": max(coil_ms),
        "open_median_ms": statistics.median(open_ms), "open_max_ms": max(open_ms),
    }
