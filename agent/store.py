"""The state database: one SQLite file under the state directory.

It holds everything that must survive a restart: the transaction journal and its
outbox (``journal.py``), OCPP configuration values the backend changed, connector
availability, and the authorization cache. SQLite runs in WAL mode with
``synchronous=FULL``, so a committed row survives a power cut. A writer may ask for a
*lazy* commit instead (``durable=False``): no fsync, so it survives a crash of the
process (the page cache keeps it) but not a power cut, until the next durable commit
syncs the write-ahead log, which holds every earlier commit in order. All access goes
through one dedicated thread, which serialises it and keeps fsync off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import structlog

from . import clock

log = structlog.get_logger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

DB_NAME = "ladda.sqlite3"
#: The database page size. Every commit writes each page it changed whole into the
#: write-ahead log, and the journal's periodic commits change a few rows in a few pages:
#: 1 KiB pages write a quarter of what SQLite's default 4 KiB pages do, which is what
#: wears an SD card (docs/performance.md).
PAGE_SIZE = 1024
#: An earlier release's database is rewritten to PAGE_SIZE at start-up only up to this size
#: (a 32 MB one took 0.24 s on the bench VM; a slow SD card is many times slower).
SMALL_PAGES_MAX_BYTES = 64 * 1024 * 1024

_SCHEMA = [
    # version 1
    """
    CREATE TABLE transactions (
        local_id        INTEGER PRIMARY KEY,
        connector       INTEGER NOT NULL,
        id_tag          TEXT NOT NULL,
        started_at      TEXT NOT NULL,
        meter_start_wh  INTEGER NOT NULL,
        begin_values    TEXT NOT NULL DEFAULT '[]',
        backend_id      INTEGER,
        id_tag_status   TEXT,
        stopped_at      TEXT,
        meter_stop_wh   INTEGER,
        stop_reason     TEXT,
        stop_id_tag     TEXT,
        last_meter_wh   INTEGER,
        last_meter_at   TEXT
    );
    CREATE TABLE outbox (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        kind        TEXT NOT NULL,
        local_tx    INTEGER REFERENCES transactions(local_id),
        body        TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        done_at     TEXT,
        outcome     TEXT
    );
    CREATE INDEX outbox_pending ON outbox(seq) WHERE done_at IS NULL;
    CREATE TABLE ocpp_config (
        name        TEXT PRIMARY KEY,
        value       TEXT NOT NULL,
        changed_at  TEXT NOT NULL
    );
    CREATE TABLE availability (
        connector   INTEGER PRIMARY KEY,
        operative   INTEGER NOT NULL
    );
    CREATE TABLE auth_cache (
        id_tag          TEXT PRIMARY KEY,
        status          TEXT NOT NULL,
        parent_id_tag   TEXT,
        expiry          TEXT,
        updated_at      TEXT NOT NULL
    );
    """,
    # version 2: values kept for a transaction's StopTransaction (StopTxnSampledData and
    # StopTxnAlignedData), sent once, with the stop
    """
    CREATE TABLE transaction_values (
        id          INTEGER PRIMARY KEY,
        local_tx    INTEGER NOT NULL REFERENCES transactions(local_id),
        timestamp   TEXT NOT NULL,
        context     TEXT NOT NULL,
        samples     TEXT NOT NULL
    );
    CREATE INDEX transaction_values_tx ON transaction_values(local_tx, id);
    """,
    # version 3: the local authorization list the backend sends (SendLocalList), and its
    # version; idTags are case-insensitive in OCPP 1.6 (CiString20Type)
    """
    CREATE TABLE local_auth_list (
        id_tag          TEXT PRIMARY KEY COLLATE NOCASE,
        status          TEXT NOT NULL,
        parent_id_tag   TEXT,
        expiry          TEXT
    );
    CREATE TABLE local_auth_list_version (
        only_row    INTEGER PRIMARY KEY CHECK (only_row = 1),
        version     INTEGER NOT NULL
    );
    """,
    # version 4: clock source of each stamp (agent/clock.py): 'system', 'backend', or
    # 'unsynchronised:<process>' for a provisional stamp that process may still correct
    """
    ALTER TABLE outbox ADD COLUMN clock TEXT NOT NULL DEFAULT 'system';
    ALTER TABLE transactions ADD COLUMN clock TEXT NOT NULL DEFAULT 'system';
    ALTER TABLE transactions ADD COLUMN stop_clock TEXT;
    ALTER TABLE transaction_values ADD COLUMN clock TEXT NOT NULL DEFAULT 'system';
    CREATE INDEX outbox_clock ON outbox(clock) WHERE clock LIKE 'unsynchronised:%';
    """,
    # version 5: reservations made by ReserveNow, kept until used, cancelled or expired
    """
    CREATE TABLE reservations (
        reservation_id  INTEGER PRIMARY KEY,
        connector       INTEGER NOT NULL,
        id_tag          TEXT NOT NULL,
        parent_id_tag   TEXT,
        expiry          TEXT NOT NULL
    );
    """,
    # version 6: stretches of a transaction during which its meter failed and charging went
    # on ([meter] on_failure = "continue"): energy flowed that no reading covers, so the
    # transaction is flagged for whoever bills from this record. ended_at is NULL while the
    # meter is still failing; wh_before is the last good reading before the failure,
    # wh_after the first good one after it (NULL if the transaction stopped first).
    """
    CREATE TABLE meter_gaps (
        id          INTEGER PRIMARY KEY,
        local_tx    INTEGER NOT NULL REFERENCES transactions(local_id),
        began_at    TEXT NOT NULL,
        ended_at    TEXT,
        wh_before   INTEGER,
        wh_after    INTEGER,
        clock       TEXT NOT NULL DEFAULT 'system',
        end_clock   TEXT
    );
    CREATE INDEX meter_gaps_tx ON meter_gaps(local_tx, id);
    """,
    # version 7: charging profiles in force (SetChargingProfile), as the limit core's own
    # records (agent/charging_profiles/records.py), replaced as a whole set at each change
    """
    CREATE TABLE charging_profiles (
        profile_id  INTEGER PRIMARY KEY,
        record      TEXT NOT NULL
    );
    """,
    # version 8: notes one run leaves the next (why it restarts: 2.0.1's boot reason);
    # the charger's own transaction id (OCPP 2.0.1 transactionId: random, so
    # unique across restarts and reinstalls) and how many events of each transaction were
    # journaled (2.0.1 numbers them, seqNo). Entries queued before are numbered in order;
    # samples the older release held in its side file are numbered when the journal
    # rebuilds them, after these (agent.journal.Journal._number_held).
    """
    ALTER TABLE transactions ADD COLUMN tx_uid TEXT;
    ALTER TABLE transactions ADD COLUMN events INTEGER NOT NULL DEFAULT 0;
    UPDATE transactions SET tx_uid = lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4'
        || substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + abs(random() % 4), 1)
        || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)));
    CREATE UNIQUE INDEX transactions_uid ON transactions(tx_uid);
    UPDATE outbox SET body = json_set(body, '$.n', (SELECT COUNT(*) FROM outbox o WHERE o.local_tx = outbox.local_tx
        AND o.seq < outbox.seq AND o.outcome IS NOT 'shed')) WHERE local_tx IS NOT NULL AND outcome IS NOT 'shed';
    UPDATE transactions SET events = (SELECT COUNT(*) FROM outbox o WHERE o.local_tx = transactions.local_id
        AND o.outcome IS NOT 'shed');
    CREATE TABLE notes (
        name        TEXT PRIMARY KEY,
        value       TEXT NOT NULL
    );
    """,
    # version 9: the backend's messages for the screen (OCPP 2.0.1 SetDisplayMessage,
    # agent/screen/board.py), kept over a reboot; placed orders them as they were set
    """
    CREATE TABLE display_messages (
        id          INTEGER PRIMARY KEY,
        placed      INTEGER NOT NULL,
        body        TEXT NOT NULL
    );
    """,
    # version 10: each transaction's timeline for its cost and times (agent/tariff), the same
    # under either protocol: its charging state from its start on, each change with the
    # meter register (Wh) at that instant when known; a few rows per session, gone with
    # their transaction (pruned, or deleted by any other way)
    """
    CREATE TABLE charging_states (
        id          INTEGER PRIMARY KEY,
        local_tx    INTEGER NOT NULL REFERENCES transactions(local_id) ON DELETE CASCADE,
        at          TEXT NOT NULL,
        state       TEXT NOT NULL,
        wh          INTEGER,
        clock       TEXT NOT NULL DEFAULT 'system'
    );
    CREATE INDEX charging_states_tx ON charging_states(local_tx, id);
    """,
    # version 11: the energy register of a transaction's meter samples the backend answered
    # before they reached the disk (their outbox rows are never written, to spare the card):
    # the timeline keeps every register it had, so the cost does not depend on delivery;
    # gone with their transaction
    """
    CREATE TABLE meter_points (
        id          INTEGER PRIMARY KEY,
        local_tx    INTEGER NOT NULL REFERENCES transactions(local_id) ON DELETE CASCADE,
        at          TEXT NOT NULL,
        wh          REAL NOT NULL,
        clock       TEXT NOT NULL DEFAULT 'system'
    );
    CREATE INDEX meter_points_tx ON meter_points(local_tx, id);
    """,
]


class StoreError(Exception):
    """The state database cannot be opened or written (disk full, read-only, corrupt)."""


def utc_now() -> str:
    """The charger's time (see ``agent.clock``) as OCPP wants it: UTC, milliseconds, 'Z'."""
    return iso(clock.current().now())


def iso(moment: datetime) -> str:
    """RFC 3339 for any datetime (strftime's %Y gives "1", not "0001", for year 1)."""
    utc = moment.astimezone(timezone.utc)
    return f"{utc.year:04d}-" + utc.strftime("%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Database:
    """The SQLite connection and the single thread that uses it."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / DB_NAME
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ladda-db")
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._close_hooks: list[Callable[[], None]] = []

    def open(self) -> None:
        """Create or migrate the database. Raises StoreError naming the file."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.row_factory = sqlite3.Row
            # Set before the first table exists (it cannot change in WAL mode afterwards).
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(_SCHEMA):
                # A newer release ran here and was rolled back: its changes are additive
                # (tables, columns with defaults), so this release goes on with them.
                log.warning("state database schema is newer than this release knows", schema=version,
                            known=len(_SCHEMA), path=str(self.path))
            for number, script in enumerate(_SCHEMA[version:], start=version + 1):
                conn.executescript(f"BEGIN IMMEDIATE; {script}; PRAGMA user_version={number}; COMMIT;")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"state database {self.path}: {exc}") from exc
        self._conn = conn

    def use_small_pages(self) -> None:
        """Rewrite a database made with larger pages (by an earlier release) to PAGE_SIZE.
        Once, at the agent's start, while nothing else uses it: VACUUM outside WAL mode,
        which a power cut cannot corrupt (rollback journal). If it cannot be done (disk
        full, another process reading) the database goes on as it is."""
        conn = self.conn
        if conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE:
            return
        size = self.path.stat().st_size
        if size > SMALL_PAGES_MAX_BYTES:
            # A rewrite this big could outlast the service's start timeout on a slow card,
            # and needs as much free space again: the database keeps its pages.
            log.warning("state database keeps its page size: too big to rewrite at start-up", bytes=size,
                        limit=SMALL_PAGES_MAX_BYTES)
            return
        began = time.monotonic()
        try:
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("VACUUM")
            log.info("state database rewritten with smaller pages", page_size=PAGE_SIZE,
                     seconds=round(time.monotonic() - began, 3))
        except sqlite3.Error as exc:
            log.warning("state database keeps its page size", error=str(exc))
        finally:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.Error as exc:
                raise StoreError(f"state database {self.path}: {exc}") from exc

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("state database is not open")
        return self._conn

    def write(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = (), durable: bool = True) -> sqlite3.Cursor:
        """Run one statement in its own committed transaction (lazily: see the module)."""
        with self._lock:
            try:
                if durable:
                    return self.conn.execute(sql, params)
                self.conn.execute("PRAGMA synchronous=NORMAL")
                try:
                    return self.conn.execute(sql, params)
                finally:
                    self.conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as exc:
                raise StoreError(f"state database {self.path}: {exc}") from exc

    def transaction(self, work: Callable[[sqlite3.Connection], T], durable: bool = True) -> T:
        """Run ``work`` atomically: all of its writes are committed together or not at all;
        with fsync unless ``durable`` is False (see the module)."""
        with self._lock:
            conn = self.conn
            try:
                if not durable:
                    conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("BEGIN IMMEDIATE")
                result = work(conn)
                conn.execute("COMMIT")
                return result
            except BaseException as exc:
                if conn.in_transaction:  # also when COMMIT itself failed (disk full)
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"state database {self.path}: {exc}") from exc
                raise
            finally:
                if not durable:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("PRAGMA synchronous=FULL")

    def erasing(self, work: Callable[[], T]) -> T:
        """Run ``work`` (commits of data to erase) with ``secure_delete`` on, so that what
        it deletes or rewrites is overwritten with zeros rather than left in free pages,
        then checkpoint the WAL and truncate it: the old page images it held are gone too.
        A checkpoint that cannot complete now (a reader holds it) is logged, not an error:
        the next one overwrites them."""
        with self._lock:
            self.conn.execute("PRAGMA secure_delete=ON")
        try:
            return work()
        finally:
            with self._lock:
                try:
                    self.conn.execute("PRAGMA secure_delete=OFF")
                    busy = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                except sqlite3.Error as exc:
                    busy, why = 1, str(exc)
                else:
                    why = "a reader holds the WAL"
                if busy:
                    log.warning("WAL not truncated after an erasure", why=why)

    def read(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"state database {self.path}: {exc}") from exc

    async def run(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking database function on the database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: func(*args, **kwargs))

    def before_close(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` (blocking, on the database thread) when the database is closed:
        how what a writer keeps in memory reaches the disk on an orderly stop."""
        self._close_hooks.append(hook)

    def close(self) -> None:
        if self._conn is not None:
            for hook in self._close_hooks:
                try:
                    self._executor.submit(hook).result()
                except Exception as exc:  # noqa: BLE001 - closing goes on; what was lost is logged
                    log.error("state database: could not save before closing", error=str(exc))
        self._executor.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class ChargerState:
    """Small persisted facts: availability, backend-changed configuration, auth cache."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # availability -------------------------------------------------------
    def inoperative_connectors(self) -> frozenset[int]:
        rows = self.db.read("SELECT connector FROM availability WHERE operative = 0")
        return frozenset(int(r["connector"]) for r in rows)

    def set_availability(self, connector: int, operative: bool) -> None:
        self.db.write(
            "INSERT INTO availability(connector, operative) VALUES (?, ?) "
            "ON CONFLICT(connector) DO UPDATE SET operative = excluded.operative",
            (connector, int(operative)),
        )

    # configuration ------------------------------------------------------
    def config_values(self) -> dict[str, str]:
        return {r["name"]: r["value"] for r in self.db.read("SELECT name, value FROM ocpp_config")}

    def set_config_value(self, name: str, value: str) -> None:
        self.db.write(
            "INSERT INTO ocpp_config(name, value, changed_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value, changed_at = excluded.changed_at",
            (name, value, utc_now()),
        )

    # notes for the next run ----------------------------------------------
    def leave_note(self, name: str, value: str) -> None:
        """Tell the next run something (durably): e.g. why the charger restarts."""
        self.db.write("INSERT INTO notes(name, value) VALUES (?, ?) "
                      "ON CONFLICT(name) DO UPDATE SET value = excluded.value", (name, value))

    def read_note(self, name: str) -> str | None:
        """What an earlier run noted under ``name``, kept until :meth:`drop_note`."""
        rows = self.db.read("SELECT value FROM notes WHERE name = ?", (name,))
        return rows[0]["value"] if rows else None

    def drop_note(self, name: str) -> None:
        """Forget a note once it served (e.g. the boot reason reached the backend)."""
        self.db.write("DELETE FROM notes WHERE name = ?", (name,))

    def take_note(self, name: str) -> str | None:
        """What an earlier run noted under ``name``, removed as it is read."""
        rows = self.db.read("SELECT value FROM notes WHERE name = ?", (name,))
        if rows:
            self.db.write("DELETE FROM notes WHERE name = ?", (name,))
        return rows[0]["value"] if rows else None

    # authorization cache ------------------------------------------------
    def cached_authorization(self, id_tag: str) -> sqlite3.Row | None:
        rows = self.db.read("SELECT * FROM auth_cache WHERE id_tag = ?", (id_tag,))
        return rows[0] if rows else None

    def cache_authorization(self, id_tag: str, status: str, parent: str | None, expiry: str | None) -> None:
        self.db.write(
            "INSERT INTO auth_cache(id_tag, status, parent_id_tag, expiry, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(id_tag) DO UPDATE SET status = excluded.status, parent_id_tag = excluded.parent_id_tag, "
            "expiry = excluded.expiry, updated_at = excluded.updated_at",
            (id_tag, status, parent, expiry, utc_now()),
        )

    def clear_authorization_cache(self) -> None:
        self.db.write("DELETE FROM auth_cache")

    def authorizations_of(self, id_tag: str) -> list[sqlite3.Row]:
        """The cache's entries for ``id_tag`` compared case-insensitively, as tokens are,
        whatever their age: what the charger holds about a card (OCPP 2.0.1 N09)."""
        return self.db.read("SELECT * FROM auth_cache WHERE id_tag = ? COLLATE NOCASE ORDER BY id_tag", (id_tag,))

    @staticmethod
    def forget_authorization(conn: sqlite3.Connection, id_tag: str) -> int:
        """Inside the caller's commit: drop the cache's entries for ``id_tag`` (compared
        case-insensitively); returns how many there were."""
        return conn.execute("DELETE FROM auth_cache WHERE id_tag = ? COLLATE NOCASE", (id_tag,)).rowcount

    # reservations -------------------------------------------------------
    def reservations(self) -> list[sqlite3.Row]:
        return self.db.read("SELECT * FROM reservations ORDER BY reservation_id")

    def save_reservation(
        self, reservation_id: int, connector: int, id_tag: str, parent: str | None, expiry: str
    ) -> None:
        """Insert, or replace the reservation with the same id (ReserveNow replaces it)."""
        self.db.write(
            "INSERT INTO reservations(reservation_id, connector, id_tag, parent_id_tag, expiry) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(reservation_id) DO UPDATE SET connector = excluded.connector, id_tag = excluded.id_tag, "
            "parent_id_tag = excluded.parent_id_tag, expiry = excluded.expiry",
            (reservation_id, connector, id_tag, parent, expiry),
        )

    def reservations_of(self, id_tag: str) -> list[sqlite3.Row]:
        """The reservations made for ``id_tag`` (compared case-insensitively)."""
        return self.db.read("SELECT * FROM reservations WHERE id_tag = ? COLLATE NOCASE ORDER BY reservation_id",
                            (id_tag,))

    def delete_reservation(self, reservation_id: int) -> None:
        self.db.write("DELETE FROM reservations WHERE reservation_id = ?", (reservation_id,))

    # charging profiles --------------------------------------------------
    def charging_profiles(self) -> list[str]:
        """The stored profiles' records (JSON text), by profile id."""
        return [r["record"] for r in self.db.read("SELECT record FROM charging_profiles ORDER BY profile_id")]

    def replace_charging_profiles(self, records: list[tuple[int, str]]) -> None:
        """Store exactly these (profile id, record) pairs, in one durable commit: a power
        cut leaves the set before or the set after a change, never half of one."""
        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM charging_profiles")
            conn.executemany("INSERT INTO charging_profiles(profile_id, record) VALUES (?, ?)", records)

        self.db.transaction(work)
