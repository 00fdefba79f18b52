"""The grid meter's warning to the backend is part of connector 0's remembered status:
the real runtime (wired charger, SQLite journal), a real grid meter (the Modbus driver
over TCP to the meter simulator) and the real site limiter.

OCPP 1.6 §4.9: a StatusNotification's errorCode with an unchanged status is a warning.
A report written only to the journal is superseded on reconnect (the snapshot is sent
instead) and TriggerMessage sends the snapshot too: the snapshot must carry it.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from agent.site_limit import SiteLimit
from agent.site_limiter import SiteLimiter, backend_warning
from drivers.modbus import ModbusBus, ModbusMeter, load_meter_model
from simulators.modbus_meter import MeterSimulator
from simulators.wired_charger import until, wired_charger

GRID_UNIT = 100


def zero(charger):  # type: ignore[no-untyped-def]
    entry = charger.runtime.statuses[0]
    return entry.status, entry.error_code, entry.vendor_error_code


async def test_a_silent_grid_meter_stays_in_connector_zeros_status_across_reconnects_and_triggers(
        tmp_path: Path) -> None:
    async with wired_charger(tmp_path) as charger, MeterSimulator("sdm630", units=[GRID_UNIT]) as sim:
        port = await sim.start_tcp()
        meter = ModbusMeter(ModbusBus.tcp("127.0.0.1", port, timeout=0.1), GRID_UNIT, load_meter_model("sdm630"))
        runtime = charger.runtime
        limiter = SiteLimiter(SiteLimit(32, 2, 12), runtime, runtime.limits, meter, connector_max=16,
                              poll_interval=0.05, fault_after=0.3, report=backend_warning(runtime))
        task = asyncio.create_task(limiter.run())
        try:
            await until(lambda: 0 in runtime.statuses and limiter.reason.startswith("site 32 A"))
            assert zero(charger) == ("Available", "NoError", "")

            sim[GRID_UNIT].silent = True
            await until(lambda: runtime.statuses[0].error_code == "OtherError")
            assert zero(charger) == ("Available", "OtherError", "GridMeterFailure")
            assert runtime.statuses[0].info == "grid meter not answering: fallback"
            # A reconnect drops the undelivered reports and sends the snapshot instead: it still says so.
            await runtime.db.run(charger.journal.supersede_statuses)
            assert [(e.connector, e.error_code, e.vendor_error_code) for e in runtime.status_snapshot()
                    if e.connector == 0] == [(0, "OtherError", "GridMeterFailure")]
            # Connector 0's own status changes (ChangeAvailability): the warning goes with it.
            assert runtime.change_availability(0, False) == "Accepted"
            await until(lambda: runtime.statuses[0].status == "Unavailable")
            assert zero(charger) == ("Unavailable", "OtherError", "GridMeterFailure")

            # It answers again: connector 0's own report, without the warning, once.
            sim[GRID_UNIT].silent = False
            await until(lambda: runtime.statuses[0].error_code == "NoError")
            assert zero(charger) == ("Unavailable", "NoError", "")
            await asyncio.sleep(0.3)
            zero_reports = [(e.body["status"], e.body["error_code"], e.body.get("vendor_error_code"))
                            for e in charger.journal.pending() if e.kind == "status" and e.body["connector"] == 0]
            assert zero_reports == [("Unavailable", "OtherError", "GridMeterFailure"), ("Unavailable", "NoError", None)]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
