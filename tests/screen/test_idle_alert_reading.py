"""The idle alert's meter value (agent.charger.ChargerRuntime._tell_idle): a reading taken
now, never a stale one stamped now, in context Other; the alert noted durably in the real
state database so that a restart does not repeat it. The runtime around the method is a
small double: only the meter's answer and the connector's worker queue are needed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from structlog.testing import capture_logs

from agent.charger import IDLE_CONTEXT, IDLE_NOTE, ChargerRuntime, RecordSample
from agent.store import ChargerState, Database
from drivers.protocols import MeterReading


class _Db:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def run(self, func: Any, *args: Any) -> Any:
        return await asyncio.to_thread(func, *args)


def _runtime(tmp_path: Path, reading: MeterReading | None) -> tuple[Any, Database]:
    db = Database(tmp_path)
    db.open()

    async def fresh(n: int) -> MeterReading | None:
        return reading  # what ChargerRuntime._fresh_reading found: None when only a stale one

    runtime = SimpleNamespace(db=_Db(db), state=ChargerState(db), local_tx={1: 7}, _fresh_reading=fresh,
                              config=SimpleNamespace(list=lambda name: ("Power.Active.Import",)),
                              _queues={1: asyncio.Queue()})
    return runtime, db


def _reading(energy_wh: float) -> MeterReading:
    return MeterReading(timestamp=time.time(), energy_wh=energy_wh, power_w=0.0, current_a=(0.0,),
                        voltage_v=(230.0,))


async def test_the_idle_alert_journals_a_reading_taken_now_in_context_other(tmp_path: Path) -> None:
    runtime, db = _runtime(tmp_path, _reading(12_345.0))
    try:
        await ChargerRuntime._tell_idle(runtime, 1, 7)
        job, _ = runtime._queues[1].get_nowait()
        assert isinstance(job, RecordSample) and job.context == IDLE_CONTEXT == "Other"
        assert job.reading.energy_wh == 12_345.0
        assert job.measurands == ("Energy.Active.Import.Register", "Power.Active.Import")
        note = ChargerState(db).read_note(IDLE_NOTE.format(connector=1))
        assert note is not None and note.split(" ")[0] == "7"
    finally:
        db.close()


async def test_without_a_fresh_reading_the_alert_sends_no_old_register(tmp_path: Path) -> None:
    runtime, db = _runtime(tmp_path, None)
    runtime.readings = {1: _reading(10_000.0)}  # an old one is still held: it is not sent
    try:
        with capture_logs() as logs:
            await ChargerRuntime._tell_idle(runtime, 1, 7)
        assert runtime._queues[1].empty()
        assert [e["event"] for e in logs] == ["idle alert not told to the backend: no fresh meter reading"]
        assert ChargerState(db).read_note(IDLE_NOTE.format(connector=1)) is not None  # alerted all the same
    finally:
        db.close()
