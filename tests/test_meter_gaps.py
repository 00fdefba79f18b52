"""A meter failing during a transaction with ``on_failure = "continue"`` flags it.

The charger runs in this process on its real drivers (``simulators.wired_charger``: the
Modbus meter against the Modbus simulator over TCP, the pilot, the GPIO contactor), with
``fault_after`` shortened to keep the tests quick. What the operator sees is read back the
way they read it: from the state database by a fresh process view, and with
``ladda sessions``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.charger import MeterPolicy
from agent.cli import main as ladda
from agent.journal import Journal, MeterGap, TransactionRecord
from agent.store import _SCHEMA, DB_NAME, Database
from drivers.protocols import PilotState
from simulators.wired_charger import WiredCharger, until, wired_charger

FAULT_AFTER = 1.0
FLAGGED = FAULT_AFTER + 3.0  # the fault is raised within fault_after plus a failed read or two


@contextlib.asynccontextmanager
async def charger(workdir: Path, on_failure: str, *, resume: bool = False) -> AsyncIterator[WiredCharger]:
    """The wired charger with ``[meter] fault_after = 1`` and the given ``on_failure``;
    ``resume``: ``[state] unfinished_transactions = "resume"`` and the EV still plugged in
    when the agent starts."""
    policy = MeterPolicy(fault_after=FAULT_AFTER, failure_stops=on_failure == "stop")
    async with wired_charger(workdir, meter=policy, recovery="resume" if resume else "stop",
                             initial_pilot=PilotState.B if resume else PilotState.A) as wired:
        assert wired.runtime.meter.failure_stops is (on_failure == "stop")
        yield wired


async def energy_read(wired: WiredCharger, wh: int) -> None:
    """Set the meter's register and wait until the agent has read it."""
    wired.meters[1].values.energy_wh = wh
    await until(lambda: 1 in wired.runtime.readings and wired.runtime.readings[1].energy_wh == wh)


def saved(workdir: Path) -> list[TransactionRecord]:
    """The transactions as a restarted agent (a new connection, a new Journal) finds them."""
    db = Database(workdir / "state")
    db.open()
    try:
        return list(reversed(Journal(db).transactions()))
    finally:
        db.close()


def sessions(workdir: Path, capsys: pytest.CaptureFixture[str], *options: str) -> str:
    capsys.readouterr()
    assert ladda(["sessions", "--state-dir", str(workdir / "state"), *options]) == 0
    return capsys.readouterr().out


def warning(wired: WiredCharger) -> tuple[str, str]:
    entry = wired.runtime.statuses[1]
    return entry.status, entry.error_code


async def test_a_meter_gap_during_a_transaction_is_on_record_with_its_energy_figures(tmp_path, capsys):
    async with charger(tmp_path, "continue") as wired:
        journal = wired.journal
        flagged_when_reported: list[int] = []
        record_status = journal.record_status

        def noting(connector: int, status: str, error_code: str, *rest: str) -> None:
            if error_code == "PowerMeterFailure":
                flagged_when_reported.append(len(journal.open_transactions()[0].meter_gaps))
            record_status(connector, status, error_code, *rest)

        journal.record_status = noting  # type: ignore[method-assign]
        await energy_read(wired, 1000)
        await wired.charge("TAG-GAP")
        await energy_read(wired, 1500)

        wired.meters[1].silent = True
        await until(lambda: warning(wired) == ("Charging", "PowerMeterFailure"), timeout=FLAGGED)
        assert wired.contactor.closed  # charging goes on
        # (the status is shown before it is journaled: wait for the journal write itself)
        await until(lambda: bool(flagged_when_reported), timeout=5)
        assert flagged_when_reported == [1]  # the flag was committed before the status
        (gap,) = journal.open_transactions()[0].meter_gaps
        assert (gap.ended_at, gap.wh_before, gap.wh_after) == (None, 1500, None)

        wired.meters[1].values.energy_wh = 4250  # energy delivered while nobody read it
        wired.meters[1].silent = False
        await until(lambda: warning(wired) == ("Charging", "NoError"), timeout=5)
        (gap,) = journal.open_transactions()[0].meter_gaps
        assert (gap.wh_before, gap.wh_after) == (1500, 4250)
        assert gap.seconds is not None and 0 <= gap.seconds < 5

        await energy_read(wired, 4500)
        wired.ev.state = PilotState.A  # unplugged: the transaction stops
        await until(lambda: 1 not in wired.runtime.local_tx)
        await until(lambda: not wired.journal.open_transactions())

    (record,) = saved(tmp_path)  # a restart keeps it
    assert (record.meter_start_wh, record.meter_stop_wh) == (1000, 4500)
    assert record.meter_gaps == (gap,)

    table = sessions(tmp_path, capsys)
    row = next(line for line in table.splitlines() if "TAG-GAP" in line)
    assert "1 (" in row and "failing" not in row  # the column: one gap, with its length
    assert f"{gap.began_at} to {gap.ended_at}" in table
    assert "1500 Wh before, 4250 Wh after" in table
    (as_json,) = json.loads(sessions(tmp_path, capsys, "--json"))
    assert as_json["meter_gaps"][0]["wh_before"] == 1500 and as_json["meter_gaps"][0]["wh_after"] == 4250
    assert as_json["meter_gaps"][0]["seconds"] == gap.seconds
    header, line = sessions(tmp_path, capsys, "--csv").splitlines()
    row_csv = dict(zip(header.split(","), line.split(",")))
    assert row_csv["meter_gaps"] == "1" and row_csv["meter_gap_s"] == str(round(gap.seconds))


async def test_a_transaction_stopped_while_its_meter_fails_ends_the_gap_at_the_stop(tmp_path, capsys):
    async with charger(tmp_path, "continue") as wired:
        await energy_read(wired, 2000)
        await wired.charge("TAG-STOP")
        wired.meters[1].silent = True
        await until(lambda: warning(wired) == ("Charging", "PowerMeterFailure"), timeout=FLAGGED)
        wired.ev.state = PilotState.A
        await until(lambda: not wired.journal.open_transactions())

    (record,) = saved(tmp_path)
    (gap,) = record.meter_gaps
    assert gap.ended_at == record.stopped_at and gap.began_at < gap.ended_at
    assert (gap.wh_before, gap.wh_after) == (2000, None)
    assert record.meter_stop_wh == 2000  # the last value on record: what the gap hides is not billed
    assert "2000 Wh before, still failing at the stop" in sessions(tmp_path, capsys)


async def test_a_transaction_started_while_the_meter_fails_is_flagged_from_its_start(tmp_path, capsys):
    async with charger(tmp_path, "continue") as wired:
        await energy_read(wired, 3000)
        wired.ev.state = PilotState.B
        wired.meters[1].silent = True
        await until(lambda: warning(wired) == ("Preparing", "PowerMeterFailure"), timeout=FLAGGED)

        await wired.charge("TAG-LATE")
        (record,) = wired.journal.open_transactions()
        (gap,) = record.meter_gaps
        assert (gap.began_at, gap.wh_before, gap.ended_at) == (record.started_at, 3000, None)
        assert record.meter_start_wh == 3000  # the last good reading
        assert "1 (failing)" in sessions(tmp_path, capsys)

        wired.meters[1].values.energy_wh = 3125
        wired.meters[1].silent = False
        await until(lambda: warning(wired) == ("Charging", "NoError"), timeout=5)
        (gap,) = wired.journal.open_transactions()[0].meter_gaps
        assert (gap.wh_before, gap.wh_after) == (3000, 3125) and gap.ended_at is not None


async def cut_while_flagged(workdir: Path) -> str:
    """Charge, let the meter fail, and end the agent without stopping the transaction (as
    a crash does); return when the gap began."""
    async with charger(workdir, "continue") as wired:
        await wired.charge("TAG-CUT")
        wired.meters[1].silent = True
        await until(lambda: warning(wired) == ("Charging", "PowerMeterFailure"), timeout=FLAGGED)
        (gap,) = wired.journal.open_transactions()[0].meter_gaps
        return gap.began_at


async def test_a_transaction_cut_during_a_gap_and_closed_at_the_restart_keeps_its_gap(tmp_path):
    began = await cut_while_flagged(tmp_path)
    async with charger(tmp_path, "continue") as wired:
        assert not wired.journal.open_transactions()  # closed with reason PowerLoss
    (record,) = saved(tmp_path)
    assert record.stop_reason == "PowerLoss"
    # The stop is stamped with the last value on record, from before the meter failed:
    # the gap ends where it began, with no reading after it.
    assert record.meter_gaps[0] == MeterGap(began, began, 0, None)


async def test_a_transaction_resumed_after_a_restart_ends_its_gap_when_the_meter_answers(tmp_path):
    began = await cut_while_flagged(tmp_path)
    async with charger(tmp_path, "continue", resume=True) as wired:
        assert 1 in wired.runtime.local_tx  # resumed, and the meter answers again
        (gap,) = wired.journal.open_transactions()[0].meter_gaps
        assert gap.began_at == began and gap.ended_at is not None and gap.ended_at > began
        assert gap.wh_after == 0  # the register as read after the restart


async def test_with_stop_a_failing_meter_faults_the_connector_and_flags_nothing(tmp_path, capsys):
    async with charger(tmp_path, "stop") as wired:
        await energy_read(wired, 500)
        await wired.charge("TAG-HALT")
        wired.meters[1].silent = True
        await until(lambda: warning(wired) == ("Faulted", "PowerMeterFailure"), timeout=FLAGGED)
        assert not wired.contactor.closed  # no energy flows: nothing goes unmeasured
        wired.meters[1].silent = False
        await until(lambda: warning(wired) == ("Charging", "NoError"), timeout=5)
        wired.ev.state = PilotState.A
        await until(lambda: not wired.journal.open_transactions())

    (record,) = saved(tmp_path)
    assert record.meter_gaps == ()
    table = sessions(tmp_path, capsys).splitlines()
    row = next(line for line in table if "TAG-HALT" in line)
    column = table[0].index("meter gaps")  # the table's columns are aligned under its header
    assert row[column:].split()[0] == "-"  # the meter gaps column
    assert "meter gaps (" not in sessions(tmp_path, capsys)


def test_a_version_5_database_is_migrated_and_keeps_its_data(tmp_path):
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.executescript(";".join(_SCHEMA[:5]) + "; PRAGMA user_version=5;")
    conn.execute(
        "INSERT INTO transactions(connector, id_tag, started_at, meter_start_wh, stopped_at, meter_stop_wh, "
        "stop_reason) VALUES (1, 'OLD', '2026-01-01T10:00:00.000Z', 5, '2026-01-01T11:00:00.000Z', 905, 'Local')"
    )
    conn.execute("INSERT INTO transactions(connector, id_tag, started_at, meter_start_wh) VALUES (2, 'RUNNING', "
                 "'2026-01-01T10:30:00.000Z', 70)")
    conn.execute("INSERT INTO reservations VALUES (9, 1, 'R', NULL, '2026-02-01T00:00:00.000Z')")
    conn.commit()
    conn.close()

    db = Database(tmp_path)
    db.open()
    try:
        assert db.read("PRAGMA user_version")[0][0] == len(_SCHEMA)
        journal = Journal(db)
        old, running = reversed(journal.transactions())
        assert (old.id_tag, old.meter_start_wh, old.meter_stop_wh, old.meter_gaps) == ("OLD", 5, 905, ())
        assert db.read("SELECT id_tag FROM reservations")[0]["id_tag"] == "R"
        # A transaction from before the migration can be flagged like any other.
        assert journal.open_meter_gap(running.local_id, "2026-01-01T10:40:00.000Z", None)
        (gap,) = journal.open_transactions()[0].meter_gaps
        assert (gap.began_at, gap.wh_before) == ("2026-01-01T10:40:00.000Z", 70)  # its last value on record
    finally:
        db.close()


async def test_a_live_meter_polled_slowly_against_a_short_fault_bound_is_never_called_failing(tmp_path):
    """The poll may take a sample's fresh reading as its own, never its own earlier one:
    that one would look a whole poll old, past a ``fault_after`` shorter than the poll."""
    policy = MeterPolicy(poll_interval=2.0, fault_after=1.5, failure_stops=True)
    async with wired_charger(tmp_path, meter=policy) as wired:
        await until(lambda: 1 in wired.runtime.readings, timeout=5)
        end = time.monotonic() + 7.0
        while time.monotonic() < end:
            entry = wired.runtime.statuses.get(1)
            assert entry is None or entry.error_code != "PowerMeterFailure", entry
            await asyncio.sleep(0.1)
