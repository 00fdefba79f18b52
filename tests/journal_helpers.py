"""What the journal's tests share: an open database, a look at the file as another
process sees it, a sample, the side file, and the state a kill leaves behind."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.journal import SIDE_FILE_SUFFIX, Journal, Sample
from agent.store import Database

ENERGY = "Energy.Active.Import.Register"
#: The side file's sync window these tests hold samples for.
WINDOW = 10.0


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path)
    database.open()
    yield database
    database.close()


def on_disk(db: Database, sql: str, params: tuple = ()) -> list[tuple]:
    """What another process (or the agent after a power cut) reads from the file."""
    conn = sqlite3.connect(db.path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def sample(journal: Journal, local: int | None, wh: int, stamp: str = "2026-01-01T10:01:00.000Z") -> None:
    """One energy sample at ``stamp``, kept for the stop too when it has a transaction."""
    journal.record_sample(local, 1, stamp, "Sample.Periodic", [Sample(ENERGY, wh, "Wh")], wh if local else None,
                          [Sample(ENERGY, wh, "Wh")] if local else None)


def side(db: Database) -> Path:
    return db.path.with_name(db.path.name + SIDE_FILE_SUFFIX)


def crashed_copy(db: Database, tmp_path: Path) -> Database:
    """The state directory as a process killed now leaves it: every file as the page cache
    has it (the database, its write-ahead log, the side file), nothing flushed on exit."""
    target = tmp_path / "after-crash"
    target.mkdir()
    for path in db.path.parent.iterdir():
        if path.name.startswith("ladda.sqlite3") and not path.name.endswith("-shm"):
            shutil.copy(path, target / path.name)
    again = Database(target)
    again.open()
    return again
