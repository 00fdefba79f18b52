"""The transaction journal: the source of truth for money.

Every transaction event (start, meter sample, stop) is committed here *before*
anything is sent: a transaction row plus an outbox entry, in one SQLite transaction.
The protocol link drains the outbox in sequence order, at least once, and marks each
entry done when the backend acknowledged it. Entries are neutral records (what
happened on the charger), not protocol frames; the OCPP adapter maps them when it
sends them, filling in the backend's transaction id, which may only become known
after the entry was written.

Status entries are kept in the same sequence so that a backend sees statuses and
transaction messages in the order they happened, but a status that could not be sent
is history, not money: on reconnect it is superseded by the current status.

What reaches the disk when (the card's wear, the meter's window): a start, a stop, a
status and every other entry are committed with fsync before anything is sent, and so is
the backend's acknowledgement of a start or a stop. Meter samples, the values a stop will
carry, and the meter readings of running transactions are *held*: each is appended, as
it happens, to a small side file next to the database (``ladda.sqlite3-held``, one JSON
line each, a plain write), and the side file is made durable (fdatasync) at most once
every ``sync_seconds`` (``[state] sample_sync_seconds``): at once for a sample when the
last time is that long ago, else when it is. A held sample is sent only once it is
durable, so the backend never has a value the charger could lose: a stop made after a
power cut is never earlier, nor lower, than what the backend was sent. What is held is
committed to the database (and the side file emptied) before any durable write, so the
database is always a prefix of what happened, in order, and at the latest ``KEPT_SYNC_S``
after the first held item, or sooner when the side file grows past ``SIDE_FILE_MAX``.
A sample the backend acknowledged by then is not written as an outbox row (its
transaction keeps its value for the stop); acknowledgements of samples already in the
database are committed without fsync. The acknowledgement of a held sample is noted in
memory that outlives the process (agent.ack_notes, a tmpfs) and joins the side file with
the next line written there, so it never dirties a page of its own.

So a crash of the process (kill -9) loses nothing: the page cache keeps the side file,
and the next start rebuilds what was held from it; at most the message that was in
flight is sent again. A power cut loses at most the samples of the last
``sync_seconds`` (none of which was sent), and may resend the MeterValues whose answers
were not yet carried into a durable side file (those of the last sync window or so);
never a start or a stop, nor the acknowledgement of one. Rebuilding is idempotent
(samples and values keep the numbers they were given when held), so a side file whose
emptying the cut undid is harmless.

Meter gaps are local only: a transaction that went on charging while its meter failed
(``[meter] on_failure = "continue"``) carries each such stretch, so that whoever bills
from this record sees which energy no reading covers. OCPP 1.6 has no field for it; the
backend hears of the failure as a PowerMeterFailure status only.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from datetime import datetime, timedelta, timezone
from pathlib import Path

from . import clock, security_events
from .ack_notes import AckNotes, read_notes, remove_notes
from .redaction import redact_text
from .store import ChargerState, Database, StoreError, iso, parse_iso, utc_now
from .tariff.model import ENDED, EV_CONNECTED, Point

log = structlog.get_logger(__name__)

TX_STARTED = "tx_started"
METER_SAMPLE = "meter_sample"
TX_STOPPED = "tx_stopped"
STATUS = "status"
#: Firmware update progress and security events: not transaction messages, but a backend
#: must hear them even across a restart (the whitepaper asks for security events to be
#: queued), so they wait in the outbox in order with the rest.
FIRMWARE = "firmware"
SECURITY_EVENT = "security_event"
#: A change within a running transaction that is neither a sample nor its end (its
#: charging state: the EV started or stopped drawing, the charger suspended it). OCPP
#: 2.0.1 reports it (TransactionEvent Updated); OCPP 1.6 has no message for it (its
#: StatusNotification says the same, and is sent as a status).
TX_EVENT = "tx_event"
#: The cable of a connector was pulled after its transaction ended (or as it ended): the
#: end of the time the EV held the connector. Not numbered within the transaction; queued
#: only where a protocol tells the backend (OCPP 1.6 California Pricing with
#: CustomIdleFeeAfterStop: DataTransfer ConnectorUnplugged).
TX_UNPLUGGED = "tx_unplugged"
#: Kinds that belong to a transaction: each is numbered within it (``n`` in the body,
#: from 0 for the start), the order a backend can check for gaps (2.0.1 seqNo).
TX_KINDS = frozenset({"tx_started", "meter_sample", "tx_stopped", TX_EVENT})
#: The charging state a transaction begins in, by what alone began it (a start's
#: ``started_by``): a token before any EV (Idle), the EV asking for energy (Charging).
#: Absent: it began EVConnected.
STARTED_STATES = {"authorization": "Idle", "energy": "Charging"}
#: The measurand of the energy register, which a session's timeline takes from samples.
ENERGY_REGISTER = "Energy.Active.Import.Register"

#: At most this many sampled values go into one StopTransaction's transactionData besides
#: its begin and end; a long session at a short interval is thinned evenly to fit, so the
#: message stays a size every backend accepts. All samples also went out as MeterValues.
TRANSACTION_DATA_MAX = 200
#: The side file where held items are noted (next to the database, this suffix).
#: The notes row (agent.store) that keeps Journal.mark_loaded's mark.
LOADED_NOTE = "journal.loaded_up_to"
#: The notes row listing the tokens a customer's erasure (agent.customer_data) still has to
#: clear from transactions, as JSON ``[[local_id, token], ...]``: each transaction keeps its
#: token until it has ended and no message of it waits to be sent (see erase_token).
ERASE_NOTE = "journal.erase_token_when_delivered"
SIDE_FILE_SUFFIX = "-held"
#: What is held is committed to the database at most this long after the first of it.
KEPT_SYNC_S = 300.0
#: ... or once the side file holds this much (a long offline stretch).
SIDE_FILE_MAX = 256 * 1024


@dataclass(frozen=True, slots=True)
class Sample:
    """One sampled value, in the vocabulary shared by OCPP 1.6 and 2.0.1."""

    measurand: str
    value: float
    unit: str
    phase: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"measurand": self.measurand, "value": self.value, "unit": self.unit}
        if self.phase:
            data["phase"] = self.phase
        return data


@dataclass(frozen=True, slots=True)
class Entry:
    """An outbox entry waiting to be delivered."""

    seq: int
    kind: str
    local_tx: int | None
    body: dict[str, Any]
    attempts: int
    backend_tx: int | None  # the backend's id for local_tx, when known
    #: The charger's own id for local_tx (OCPP 2.0.1 transactionId).
    tx_uid: str | None = None


@dataclass(slots=True)
class _HeldSample:
    """A meter sample's outbox row, kept in memory until the next sync (see the module)."""

    seq: int
    local_tx: int | None
    body: str  # the JSON stored in the outbox
    created_at: str
    clock: str
    taken: float  # time.monotonic() when it was recorded
    durable: bool = False  # its side-file line was made durable: it may be sent
    noted: bool = True  # its line is in the side file (False: in memory only, not sendable)
    attempts: int = 0
    done_at: str | None = None
    outcome: str | None = None


@dataclass(frozen=True, slots=True)
class MeterGap:
    """A stretch of a transaction during which its meter failed and charging went on."""

    began_at: str
    #: When the meter answered again, or the transaction stopped; None while it still fails.
    ended_at: str | None
    #: The last good reading before the failure (Wh), if one was known.
    wh_before: int | None
    #: The first good reading after it (Wh); None if the transaction stopped first.
    wh_after: int | None

    @property
    def seconds(self) -> float | None:
        """How long the meter failed; None while it still does."""
        if self.ended_at is None:
            return None
        return (parse_iso(self.ended_at) - parse_iso(self.began_at)).total_seconds()


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    local_id: int
    connector: int
    #: None: an EV began it and no token was authorized for it (yet); see record_authorization.
    id_tag: str | None
    started_at: str
    meter_start_wh: int
    backend_id: int | None
    #: The backend's answer to the start's idTag (None until the start is acknowledged).
    id_tag_status: str | None
    stopped_at: str | None
    meter_stop_wh: int | None
    stop_reason: str | None
    last_meter_wh: int | None
    last_meter_at: str | None
    pending_messages: int
    #: Messages the backend refused until the attempts ran out (see the outbox's outcome).
    abandoned_messages: int
    #: Where the meter failed during the transaction, oldest first (empty: fully measured).
    meter_gaps: tuple[MeterGap, ...] = ()
    #: The charger's own id of the transaction (OCPP 2.0.1 transactionId).
    tx_uid: str | None = None
    #: The kind of token that started it when not a card (agent.session.model.CARD: None),
    #: as its start was journaled.
    token_type: str | None = None


class Journal:
    """Transactions and the outbox. Blocking: call through ``Database.run`` from async code."""

    def __init__(self, db: Database, sync_seconds: float = 0.0, side_file: Path | None = None,
                 ack_notes: Path | None = None) -> None:
        """With ``sync_seconds`` > 0 samples are held (see the module), noted in
        ``side_file`` (by default next to the database), and the backend's answers to
        them first in ``ack_notes`` (agent.ack_notes; None: in the side file at once). A
        reader of the journal, like the CLI, holds nothing (0)."""
        self.db = db
        #: Held samples reach the disk at most this long after the first was taken; 0:
        #: each sample is committed (with fsync) as it is recorded.
        self.sync_seconds = sync_seconds
        self._held: list[_HeldSample] = []
        #: local_tx -> (rows read, highest seq read, their sample points (moment, Wh, clock)):
        #: the timeline parses each committed sample once, not on every running-cost look.
        self._sample_points: dict[int, tuple[int, int, list[tuple[datetime, float, str]]]] = {}
        #: transaction_values rows (id, local_tx, timestamp, context, samples, clock) held.
        self._held_values: list[tuple[int, int, str, str, str, str]] = []
        #: The latest meter value (Wh, stamp) of running transactions, held.
        self._held_meter: dict[int, tuple[int, str]] = {}
        #: time.monotonic() when the oldest held item was taken; None: nothing held.
        self._held_since: float | None = None
        #: time.monotonic() of the oldest side-file line not yet made durable.
        self._undurable_since: float | None = None
        self._side_synced_at = float("-inf")  # when the side file was last made durable
        self._last_sample: dict[int, float] = {}  # time.monotonic() of each connector's last sample
        self._side_bytes = 0
        self._next_seq: int | None = None
        self._next_value_id: int | None = None
        self._side: int | None = None  # the side file's descriptor
        self._torn = False  # the side file ends in part of a line (a short write)
        self._acks: AckNotes | None = None
        #: Acknowledgement lines noted in ``_acks`` only: they join the side file with the
        #: next line written there (see agent.ack_notes).
        self._acks_pending: list[str] = []
        #: The next event number of each transaction this run numbered (see TX_KINDS).
        self._events: dict[int, int] = {}
        #: Whether the backend link is up now: what happens while it is not is flagged
        #: ``offline`` (OCPP 2.0.1 tells the backend so). The agent sets it to its link's.
        self.online: Callable[[], bool] = lambda: True
        #: How many of the first undelivered entries the link may hold loaded, and so may
        #: be sending now or next, with the numbers they had when loaded (its drain's
        #: batch): the cap never sheds nor renumbers them (see shed_to). 1: the entry in
        #: flight only; the OCPP 2.0.1 link sets its batch, where the numbers are seqNo.
        self.sending_window = 1
        #: Hears every security event recorded, after the journal's commit (the agent
        #: wires the security log here, agent/security_log.py): (type, techInfo, timestamp).
        self.security_event_heard: Callable[[str, str, str], object] | None = None
        #: The highest outbox seq a link ever loaded to send (mark_loaded), kept durably:
        #: an answer to a sample is not made durable at once, so after a power cut an
        #: entry the backend has may look unsent; the cap never renumbers up to here.
        rows = db.read("SELECT value FROM notes WHERE name = ?", (LOADED_NOTE,))
        self._loaded_up_to = int(rows[0]["value"]) if rows else 0
        #: Whether ERASE_NOTE may list a transaction (so a delivery must look at it).
        self._erasing = bool(db.read("SELECT 1 FROM notes WHERE name = ?", (ERASE_NOTE,)))
        db.before_close(self._close)
        if side_file is None and sync_seconds > 0:
            side_file = db.path.with_name(db.path.name + SIDE_FILE_SUFFIX)
        kept = False
        if side_file is None:
            ack_notes = None  # nothing is held, so no answer to note
        if side_file is not None:
            self._number_unnumbered()
            # Also when this run writes at once: an earlier one held.
            kept = self._recover(side_file, read_notes(ack_notes) if ack_notes is not None else [])
        if side_file is not None and (sync_seconds > 0 or kept):
            self._side = os.open(side_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            if ack_notes is not None:
                self._acks = AckNotes(ack_notes)
                if not kept:
                    self._acks.clear()  # all it named is in the database now
        elif ack_notes is not None:
            remove_notes(ack_notes)

    # holding and syncing ------------------------------------------------
    def sync(self) -> None:
        """Commit everything held, with fsync (a no-op when nothing is held)."""
        if self._held_since is not None:
            self._commit(lambda conn: None)

    def _close(self) -> None:
        try:
            self.sync()
        finally:
            # The notes go only once nothing is held and the side file is empty: a side
            # file that could not be emptied repeats samples whose answers only they hold.
            settled = self._held_since is None and self._side_bytes == 0
            if self._side is not None:
                os.close(self._side)
                self._side = None
            if self._acks is not None:
                self._acks.close(remove=settled)
                self._acks = None

    def sync_due(self, now: float | None = None) -> float | None:
        """Seconds until what is held must be committed to the database (0 or less: now);
        None if nothing is held. Read from the event loop: no database access."""
        since = self._held_since
        if since is None:
            return None
        if self._side_bytes >= SIDE_FILE_MAX:
            return 0.0
        return since + KEPT_SYNC_S - (time.monotonic() if now is None else now)

    def side_due(self, now: float | None = None) -> float | None:
        """Seconds until the side file must be made durable; None if all of it is."""
        if self._undurable_since is None:
            return None
        return self._side_synced_at + self.sync_seconds - (time.monotonic() if now is None else now)

    def make_durable(self) -> int:
        """fdatasync the side file: what it holds survives a power cut, and the held
        samples in it may be sent. Returns how many samples became sendable."""
        if self._side is None or self._undurable_since is None:
            return 0
        try:
            os.fdatasync(self._side)
        except OSError as exc:
            log.error("journal side file cannot be made durable; committing instead", error=str(exc))
            self.sync()
            return 0
        self._side_synced_at = time.monotonic()
        self._undurable_since = None
        ready = 0
        for held in self._held:
            if not held.durable and held.noted:
                held.durable = True
                ready += 1
        return ready

    def _hold(self) -> None:
        if self._held_since is None:
            self._held_since = time.monotonic()

    def _note(self, *records: dict[str, Any] | str, must_last: bool = True) -> bool:
        """Append held items (records, or their JSON lines) to the side file, after the
        acknowledgements noted elsewhere so far (one write call, no fsync). ``must_last``:
        it must survive a power cut within the window (an acknowledgement need not: a
        MeterValues sent again is no loss). Returns whether the lines are in the file (else
        what is held was committed, or, if that failed too, the error is raised)."""
        if self._side is None:
            return True
        text = "".join((r if isinstance(r, str) else _dump(r)) + "\n" for r in records)
        # After a short write the file ends in part of a line: end it first, so that
        # these lines are read whole at the next start.
        line = (("\n" if self._torn else "") + "".join(self._acks_pending) + text).encode()
        try:
            written = os.write(self._side, line)
        except OSError as exc:
            written, error = 0, str(exc)
        else:
            error = "short write"
        if written != len(line):
            if written:
                self._side_bytes += written
                self._torn = True
            # Disk full or failing: what is held (these items too) is committed now, the
            # durable way.
            log.error("journal side file not writable; committing at once", error=error)
            self._hold()
            self.sync()
            return False
        self._torn = False
        self._side_bytes += len(line)
        self._acks_pending.clear()
        if must_last and self._undurable_since is None:
            self._undurable_since = time.monotonic()
        return True

    def _recover(self, side_file: Path, acks: list[dict[str, Any]]) -> bool:
        """Rebuild what a crashed run held from its side file and the acknowledgements it
        noted in memory (``acks``), sync it, empty the file. Returns True when the
        database took no write: what was rebuilt stays held."""
        try:
            raw = side_file.read_bytes()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.error("journal side file unreadable; what it held is lost", path=str(side_file), error=str(exc))
            return False
        lines = raw.splitlines()
        now, seqs, ids = time.monotonic(), [], []
        by_seq: dict[int, _HeldSample] = {}
        # Only what names a transaction the database has: a line left from before its
        # transaction was pruned, or a garbled one, would fail the commit at every start.
        counted = {int(r[0]): int(r[1]) for r in self.db.read("SELECT local_id, events FROM transactions")}
        known = set(counted)
        dropped = 0
        for line in lines:
            try:
                item = json.loads(line)
                kind = item["k"]
                if kind == "s":
                    seq, tx, body = item["seq"], item["tx"], item["body"]
                    if isinstance(body, dict):  # compact samples (older side files: the JSON text)
                        body = _dump({**body, "samples": _expand(body["samples"])})
                    if not (_is_int(seq) and (tx is None or tx in known) and isinstance(body, str)
                            and all(isinstance(item[f], str) for f in ("at", "clock"))):
                        raise TypeError("not a sample line")
                    held = _HeldSample(seq, tx, body, item["at"], item["clock"], now, True)
                    by_seq[held.seq] = held
                    seqs.append(held.seq)
                elif kind == "v":
                    row = tuple(item["row"])
                    if len(row) == 6 and isinstance(row[4], list):  # older side files: the JSON text
                        row = (*row[:4], _dump(_expand(row[4])), row[5])
                    if not (len(row) == 6 and _is_int(row[0]) and row[1] in known
                            and all(isinstance(f, str) for f in row[2:])):
                        raise TypeError("not a value line")
                    self._held_values.append(row)  # type: ignore[arg-type]
                    ids.append(row[0])
                elif kind == "m":
                    tx, wh, stamp = item["tx"], item["wh"], item["at"]
                    if not (tx in known and _is_int(wh) and isinstance(stamp, str)):
                        raise TypeError("not a meter line")
                    if tx not in self._held_meter or self._held_meter[tx][0] <= wh:
                        self._held_meter[tx] = (wh, stamp)
                elif kind == "d" and item["seq"] in by_seq:
                    held = by_seq[item["seq"]]
                    held.done_at, held.outcome, held.attempts = item["at"], item["outcome"], item["attempts"]
            except (ValueError, KeyError, TypeError):
                if line.strip():
                    dropped += 1
                continue  # a line torn by a power cut
        for item in acks:
            seq, at, outcome, attempts = item.get("seq"), item.get("at"), item.get("outcome"), item.get("attempts")
            if not (_is_int(seq) and isinstance(at, str) and isinstance(outcome, str) and _is_int(attempts)):
                continue  # not a note this journal wrote
            held = by_seq.get(seq)  # type: ignore[arg-type]
            if held is not None and item.get("taken") == held.created_at and held.done_at is None:
                held.done_at, held.outcome, held.attempts = at, outcome, attempts
        if dropped:
            log.warning("journal side file: lines that cannot be rebuilt were dropped", dropped=dropped)
        self._held = [by_seq[s] for s in sorted(by_seq)]
        self._number_held(counted)
        # Entries go out strictly in order: a sample before an entry the backend answered
        # was delivered, even if its acknowledgement did not outlive a power cut (or the
        # side file outlived the commit that had settled it).
        answered = int(self.db.read(
            "SELECT MAX(seq) FROM outbox WHERE done_at IS NOT NULL AND kind != ?", (METER_SAMPLE,)
        )[0][0] or 0)
        for held in self._held:
            if held.done_at is None and held.seq < answered:
                held.done_at, held.outcome = utc_now(), "acked"
        if seqs or ids or self._held_meter:
            self._next_seq = max([*seqs, self._top_seq()]) + 1
            self._next_value_id = max([*ids, self._top_value_id()]) + 1
            self._held_since = now
            try:
                self._commit(lambda conn: None)
            except StoreError as exc:
                # The database takes no write now (disk full): the agent starts all the
                # same, with what was rebuilt held and still in the side file; a sample
                # goes out only once that file is durable again (make_durable).
                log.error("journal: what was held when the agent stopped cannot be committed yet",
                          error=str(exc))
                for held in self._held:
                    held.durable = False
                self._undurable_since = now
                self._side_bytes = len(raw)
                self._torn = not raw.endswith(b"\n")
                return True
            log.warning("recovered what the journal held when the agent stopped", samples=len(seqs),
                        values=len(ids), meter_values=len(self._held_meter))
        with open(side_file, "wb") as emptied:  # only once all of it is in the database
            emptied.truncate()
        return False

    def _number_held(self, counted: dict[int, int]) -> None:
        """Give the held samples rebuilt from a side file that carry no event number the
        next numbers of their transaction, in order, after its durable events
        (``counted``: transactions.events). An earlier release (schema 7) wrote its side
        file before events were numbered; the upgrade numbered only the database's
        entries, and these would otherwise go out with no seqNo of their own."""
        following = dict(counted)
        numbered = 0
        for held in self._held:  # in seq order
            if held.local_tx is None:
                continue
            body = json.loads(held.body)
            n = body.get("n")
            if _is_int(n):
                following[held.local_tx] = max(following.get(held.local_tx, 0), n + 1)
                continue
            body["n"] = following.get(held.local_tx, 0)
            following[held.local_tx] = body["n"] + 1
            held.body = _dump(body)
            numbered += 1
        if numbered:
            log.warning("journal: held samples from an earlier release numbered", samples=numbered)

    def _number_unnumbered(self) -> None:
        """Number the undelivered events of a transaction that have no number, after its
        numbered ones, in order, and count them: those an earlier release queued after
        the upgrade had numbered the journal (a rollback runs on this schema: see
        Database.open). Logged, so that a missing number is never a silent 0."""
        kinds = sorted(TX_KINDS)
        marks = ", ".join("?" * len(kinds))
        # At every start, over what may be the whole offline backlog: a substring test
        # first (bodies are written compact, and no other key of theirs is "n"), JSON
        # only for the few that lack it.
        rows = self.db.read(
            f"SELECT seq, local_tx, body FROM outbox WHERE done_at IS NULL AND local_tx IS NOT NULL "
            f"AND kind IN ({marks}) AND instr(body, '\"n\":') = 0 AND json_valid(body) "
            "AND json_type(body, '$.n') IS NULL ORDER BY seq", tuple(kinds),
        )
        if not rows:
            return

        def work(conn: sqlite3.Connection) -> None:
            following: dict[int, int] = {}
            for row in rows:
                tx = int(row["local_tx"])
                if tx not in following:
                    top = conn.execute(
                        "SELECT MAX(json_extract(body, '$.n')) FROM outbox WHERE local_tx = ? AND json_valid(body) "
                        "AND json_type(body, '$.n') = 'integer'", (tx,)
                    ).fetchone()[0]
                    counted = conn.execute("SELECT events FROM transactions WHERE local_id = ?", (tx,)).fetchone()
                    following[tx] = 0 if top is None else int(top) + 1
                    if counted is not None:
                        following[tx] = max(following[tx], int(counted[0]))
                body = json.loads(row["body"])
                if not isinstance(body, dict):
                    continue  # not an entry this journal wrote: the adapter refuses it
                body["n"] = following[tx]
                following[tx] += 1
                conn.execute("UPDATE outbox SET body = ? WHERE seq = ?", (_dump(body), row["seq"]))
            conn.executemany("UPDATE transactions SET events = MAX(events, ?) WHERE local_id = ?",
                             [(n, tx) for tx, n in following.items()])

        try:
            self.db.transaction(work)
        except StoreError as exc:
            log.error("journal: events without a number cannot be numbered now; they will not be sent over 2.0.1",
                      events=len(rows), error=str(exc))
            return
        log.warning("journal: events queued without a number (by an earlier release) numbered", events=len(rows))

    def _top_seq(self) -> int:
        return int(self.db.read(
            "SELECT MAX(n) FROM (SELECT MAX(seq) AS n FROM outbox "
            "UNION ALL SELECT seq FROM sqlite_sequence WHERE name = 'outbox')"
        )[0][0] or 0)

    def _top_value_id(self) -> int:
        return int(self.db.read("SELECT MAX(id) FROM transaction_values")[0][0] or 0)

    def _take_seq(self, conn: sqlite3.Connection | None = None) -> int:
        """The next outbox sequence number. Held samples take theirs when recorded, so that
        they keep their place among durable entries written before they are synced."""
        if self._next_seq is None:
            sql = ("SELECT MAX(n) FROM (SELECT MAX(seq) AS n FROM outbox "
                   "UNION ALL SELECT seq FROM sqlite_sequence WHERE name = 'outbox')")
            top = conn.execute(sql).fetchone()[0] if conn is not None else self.db.read(sql)[0][0]
            self._next_seq = int(top or 0) + 1
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def _write_held(self, conn: sqlite3.Connection) -> None:
        skipped = 0
        numbered: dict[int, int] = {}
        for h in self._held:
            if h.local_tx is not None:
                n = int(json.loads(h.body).get("n", -1)) + 1
                numbered[h.local_tx] = max(numbered.get(h.local_tx, 0), n)
            if h.outcome == "acked":
                skipped = max(skipped, h.seq)
                # Delivered before it needed the disk: the backend has it, so no outbox row.
                # Its register stays on the timeline all the same: the cost must not depend
                # on when the backend answered.
                _note_register(conn, h)
                continue
            conn.execute(  # OR IGNORE: rebuilt from a side file that may repeat a sync
                "INSERT OR IGNORE INTO outbox(seq, kind, local_tx, body, created_at, attempts, done_at, outcome, clock) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (h.seq, METER_SAMPLE, h.local_tx, h.body, h.created_at, h.attempts, h.done_at, h.outcome, h.clock),
            )
        if skipped:
            # Its number is used up all the same: the next run must not give it again.
            if not conn.execute(
                "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'outbox'", (skipped,)
            ).rowcount:
                conn.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('outbox', ?)", (skipped,))
        conn.executemany("UPDATE transactions SET events = MAX(events, ?) WHERE local_id = ?",
                         [(n, tx) for tx, n in numbered.items()])
        conn.executemany(
            "INSERT OR IGNORE INTO transaction_values(id, local_tx, timestamp, context, samples, clock) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            self._held_values,
        )
        for local_tx, (wh, stamp) in self._held_meter.items():
            conn.execute(
                "UPDATE transactions SET last_meter_wh = ?, last_meter_at = ? WHERE local_id = ? "
                "AND stopped_at IS NULL AND (last_meter_wh IS NULL OR last_meter_wh <= ?)",
                (wh, stamp, local_tx, wh),
            )

    def _commit(self, work: Any, durable: bool = True) -> Any:
        """Run ``work`` in one transaction. A durable one (fsync) first writes what is
        held, so the disk never holds an entry without those before it; a lazy one (a
        MeterValues acknowledgement) leaves it held."""
        if not durable:
            return self.db.transaction(work, durable=False)

        def with_held(conn: sqlite3.Connection) -> Any:
            self._write_held(conn)
            return work(conn)

        result = self.db.transaction(with_held)
        self._held.clear()
        self._held_values.clear()
        self._held_meter.clear()
        self._held_since = self._undurable_since = None
        self._acks_pending.clear()
        if self._side is not None:
            try:
                os.ftruncate(self._side, 0)
                self._side_bytes = 0
                self._torn = False
            except OSError as exc:
                # A longer file only repeats what is now in the database, except the
                # answered samples (not written as rows): the notes keep their answers.
                log.warning("journal side file not emptied", error=str(exc))
        if self._acks is not None and self._side_bytes == 0:
            self._acks.clear()
        return result

    def _queue(self, conn: sqlite3.Connection, kind: str, local_tx: int | None, body: dict[str, Any]) -> None:
        if not self.online():
            body["offline"] = True
        conn.execute(
            "INSERT INTO outbox(seq, kind, local_tx, body, created_at, clock) VALUES (?, ?, ?, ?, ?, ?)",
            (self._take_seq(conn), kind, local_tx, _dump(body), utc_now(), clock.current().tag),
        )

    def _take_value_id(self) -> int:
        """The id of a held transaction_values row, fixed when held (see _take_seq)."""
        if self._next_value_id is None:
            self._next_value_id = self._top_value_id() + 1
        value_id = self._next_value_id
        self._next_value_id += 1
        return value_id

    def _find_held(self, seq: int) -> _HeldSample | None:
        return next((h for h in self._held if h.seq == seq), None)

    def _event_number(self, local_tx: int) -> int:
        """The next number within transaction ``local_tx`` (see TX_KINDS): after every
        event numbered so far, the durable ones and those held. A number held but lost in
        a power cut is given again: it was never sent (only durable entries are)."""
        n = self._events.get(local_tx)
        if n is None:
            rows = self.db.read("SELECT events FROM transactions WHERE local_id = ?", (local_tx,))
            n = int(rows[0]["events"]) if rows else 0
            for h in self._held:
                if h.local_tx == local_tx:
                    n = max(n, int(json.loads(h.body).get("n", -1)) + 1)
        self._events[local_tx] = n + 1
        return n

    def _committed_number(self, conn: sqlite3.Connection, local_tx: int) -> int:
        """The next number within ``local_tx`` for an event committed in this transaction
        (``conn``): its count on disk, which by now includes the held samples (written
        first, see _commit). Taken inside the commit, so that a commit that fails (disk
        full, I/O error) gives no number away and leaves no gap."""
        row = conn.execute("SELECT events FROM transactions WHERE local_id = ?", (local_tx,)).fetchone()
        return int(row[0]) if row is not None else 0

    # writing ------------------------------------------------------------
    def begin_transaction(
        self,
        connector: int,
        id_tag: str | None,
        meter_wh: int,
        timestamp: str,
        begin_values: list[Sample],
        reservation_id: int | None = None,
        meter_failing: bool = False,
        remote_start_id: int | None = None,
        token_type: str | None = None,
        started_by: str | None = None,
    ) -> int:
        """Record a started transaction and queue its start message; return its local id.
        ``reservation_id`` names the reservation the transaction used up, if any.
        ``meter_failing``: the meter was failing at the start, so ``meter_wh`` is its last
        good reading and the transaction is flagged with a meter gap from its start.
        ``remote_start_id``: the backend's number of the remote start that began it (2.0.1).
        ``token_type``: the kind of token that began it when not a card (a remote start's
        Central, KeyCode, ... token in 2.0.1; None: a card, and 1.6's idTags).
        ``started_by``: what alone began it (``"ev"``: an EV plugged in, ``id_tag`` None
        until :meth:`record_authorization`; ``"authorization"``: a token before any EV);
        None: both together, as always in 1.6.
        The transaction gets the charger's own id (``tx_uid``), random so that no other
        transaction of this charger ever had it, even after a reinstall."""
        tx_uid = str(uuid.uuid4())

        def work(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO transactions(connector, id_tag, started_at, meter_start_wh, begin_values, "
                "last_meter_wh, last_meter_at, clock, tx_uid, events) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (connector, id_tag or "", timestamp, meter_wh, _dump([s.to_json() for s in begin_values]), meter_wh,
                 timestamp, clock.current().tag, tx_uid),
            )
            local_id = int(cur.lastrowid or 0)
            body: dict[str, Any] = {"connector": connector, "meter_wh": meter_wh, "timestamp": timestamp, "n": 0}
            if id_tag is not None:
                body["id_tag"] = id_tag
            if started_by is not None:
                body["started_by"] = started_by
            if begin_values:
                body["begin_samples"] = [s.to_json() for s in begin_values]
            if reservation_id is not None:
                body["reservation_id"] = reservation_id
            if remote_start_id is not None:
                body["remote_start_id"] = remote_start_id
            if token_type is not None:
                body["token_type"] = token_type
            self._queue(conn, TX_STARTED, local_id, body)
            _note_state(conn, local_id, timestamp, STARTED_STATES.get(started_by or "", EV_CONNECTED), meter_wh)
            if meter_failing:
                conn.execute(
                    "INSERT INTO meter_gaps(local_tx, began_at, wh_before, clock) VALUES (?, ?, ?, ?)",
                    (local_id, timestamp, meter_wh, clock.current().tag),
                )
            return local_id

        local_id = int(self._commit(work))
        self._events[local_id] = 1
        return local_id

    def record_sample(
        self,
        local_tx: int | None,
        connector: int,
        timestamp: str,
        context: str,
        samples: list[Sample],
        energy_wh: int | None,
        for_stop: list[Sample] | None = None,
        charging_state: str | None = None,
    ) -> None:
        """Queue a meter sample; for a transaction, also checkpoint its last meter value and
        keep ``for_stop`` (StopTxn*Data measurands) for its StopTransaction. All of it is
        held until the next sync (see the module). ``charging_state``: the transaction's
        state when the sample was asked for (a triggered one says it)."""
        tag = clock.current().tag
        lines: list[dict[str, Any]] = []  # noted together: one write call
        if local_tx is not None and energy_wh is not None:
            self._held_meter[local_tx] = (energy_wh, timestamp)
            lines.append({"k": "m", "tx": local_tx, "wh": energy_wh, "at": timestamp})
        if local_tx is not None and for_stop:
            row = (self._take_value_id(), local_tx, timestamp, context, _dump([s.to_json() for s in for_stop]), tag)
            self._held_values.append(row)
            lines.append({"k": "v", "row": [*row[:4], _compact(for_stop), row[5]]})
        held = None
        if samples:
            body: dict[str, Any] = {"connector": connector, "timestamp": timestamp, "context": context,
                                    "samples": [s.to_json() for s in samples]}
            if charging_state is not None:
                body["charging_state"] = charging_state
            seq, created = self._take_seq(), utc_now()  # what may fail (a read) before the number is taken
            if local_tx is not None:
                body["n"] = self._event_number(local_tx)  # held at once: the next commit writes it
            if not self.online():
                body["offline"] = True
            now = time.monotonic()
            held = _HeldSample(seq, local_tx, _dump(body), created, tag, now, noted=False)
            self._held.append(held)
            lines.append({"k": "s", "seq": held.seq, "tx": local_tx, "at": held.created_at, "clock": tag,
                          "body": {**body, "samples": _compact(samples)}})
        if lines:
            noted = self._note(*lines)
            if held is not None:
                held.noted = noted  # not sendable until its line is in the side file (see make_durable)
        self._hold()
        if self.sync_seconds <= 0:
            self.sync()
        elif samples:
            # At once for the first sample of a while, on the charger or on this connector
            # (clock-aligned samples of several connectors are taken at one instant).
            now = time.monotonic()
            last = self._last_sample.get(connector, float("-inf"))
            self._last_sample[connector] = now
            if now - self._side_synced_at >= self.sync_seconds or now - last >= self.sync_seconds:
                self.make_durable()

    def end_transaction(
        self,
        local_tx: int,
        meter_wh: int,
        timestamp: str,
        reason: str,
        id_tag: str | None,
        end_values: list[Sample],
        ev_connected: bool | None = None,
    ) -> None:
        """Record the end of a transaction and queue its stop message (with its begin/end data).
        ``ev_connected``: whether its EV was plugged in when it ended, when known (a
        transaction may end before its EV came, or while it was away)."""
        numbered: list[int] = []

        def work(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT * FROM transactions WHERE local_id = ?", (local_tx,)).fetchone()
            if row is None:
                raise KeyError(f"no transaction {local_tx}")
            if row["stopped_at"] is not None:
                return  # already ended: the stop is recorded once
            n = self._committed_number(conn, local_tx)
            numbered.append(n)
            conn.execute(
                "UPDATE transactions SET stopped_at = ?, meter_stop_wh = ?, stop_reason = ?, stop_id_tag = ?, "
                "last_meter_wh = ?, last_meter_at = ?, stop_clock = ? WHERE local_id = ?",
                (timestamp, meter_wh, reason, id_tag, meter_wh, timestamp, clock.current().tag, local_tx),
            )
            # A meter still failing at the stop: its gap ends with the transaction, with no
            # reading after it. (A stop recovered after a crash is stamped with the last
            # value on record, which may predate the gap: the gap then ends where it began.)
            conn.execute(
                "UPDATE meter_gaps SET ended_at = MAX(began_at, ?), end_clock = ? "
                "WHERE local_tx = ? AND ended_at IS NULL",
                (timestamp, clock.current().tag, local_tx),
            )
            data = []
            begin = json.loads(row["begin_values"])
            if begin:
                data.append({"timestamp": row["started_at"], "context": "Transaction.Begin", "samples": begin})
            kept = conn.execute(
                "SELECT timestamp, context, samples FROM transaction_values WHERE local_tx = ? ORDER BY id",
                (local_tx,),
            ).fetchall()
            data += [
                {"timestamp": k["timestamp"], "context": k["context"], "samples": json.loads(k["samples"])}
                for k in _thin(kept, TRANSACTION_DATA_MAX)
            ]
            if end_values:
                data.append(
                    {"timestamp": timestamp, "context": "Transaction.End", "samples": [s.to_json() for s in end_values]}
                )
            body = {
                "connector": row["connector"],
                "id_tag": id_tag,
                "meter_wh": meter_wh,
                "timestamp": timestamp,
                "reason": reason,
                "transaction_data": data,
                "n": n,
            }
            if ev_connected is not None:
                body["ev_connected"] = ev_connected
            conn.execute("UPDATE transactions SET events = MAX(events, ?) WHERE local_id = ?", (n + 1, local_tx))
            self._queue(conn, TX_STOPPED, local_tx, body)

        self._commit(work)
        for n in numbered:
            self._events[local_tx] = n + 1  # only once committed: a failed commit gives nothing away

    def open_meter_gap(self, local_tx: int, timestamp: str, wh_before: int | None) -> bool:
        """Flag a running transaction: its meter failed at ``timestamp`` and charging goes on.
        ``wh_before`` is the last good reading (else the last value on record is taken).
        Returns False, changing nothing, if the transaction has stopped or a gap is open."""

        def work(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT COALESCE(last_meter_wh, meter_start_wh) AS noted FROM transactions "
                "WHERE local_id = ? AND stopped_at IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM meter_gaps WHERE local_tx = ? AND ended_at IS NULL)",
                (local_tx, local_tx),
            ).fetchone()
            if row is None:
                return False
            conn.execute(
                "INSERT INTO meter_gaps(local_tx, began_at, wh_before, clock) VALUES (?, ?, ?, ?)",
                (local_tx, timestamp, row["noted"] if wh_before is None else wh_before, clock.current().tag),
            )
            return True

        return self._commit(work)

    def close_meter_gap(self, local_tx: int, timestamp: str, wh_after: int | None) -> bool:
        """The meter answers again: end the transaction's open gap at ``timestamp`` with the
        first good reading after it. Returns False if no gap was open."""
        return bool(self._commit(lambda conn: conn.execute(
            "UPDATE meter_gaps SET ended_at = MAX(began_at, ?), wh_after = ?, end_clock = ? "
            "WHERE local_tx = ? AND ended_at IS NULL",
            (timestamp, wh_after, clock.current().tag, local_tx),
        ).rowcount > 0))

    def checkpoint(self, local_tx: int, energy_wh: int, timestamp: str) -> None:
        """Remember a running transaction's latest meter value without queueing a message
        (held until the next sync, like a sample)."""
        held = self._held_meter.get(local_tx)
        if held is None or held[0] <= energy_wh:
            self._held_meter[local_tx] = (energy_wh, timestamp)
            self._note({"k": "m", "tx": local_tx, "wh": energy_wh, "at": timestamp})
        self._hold()
        if self.sync_seconds <= 0:
            self.sync()

    def record_status(self, connector: int, status: str, error_code: str, timestamp: str, info: str = "",
                      vendor_error_code: str = "",
                      timeline: Sequence[tuple[int | None, str, str, int | None]] = ()) -> bool:
        """Queue a StatusNotification. ``timeline``: the changes of a running transaction's
        charging state it tells, (local_tx, stamp, state, register or None) each, written in
        the same commit (see record_charging_state: one fsync for both, where 1.6 tells
        the change by this status). Returns whether they were written (False when none was
        given or the transaction has stopped; the status is queued all the same)."""
        body: dict[str, object] = {"connector": connector, "status": status, "error_code": error_code,
                                   "timestamp": timestamp}
        if info:
            body["info"] = info
        if vendor_error_code:
            body["vendor_error_code"] = vendor_error_code

        def work(conn: sqlite3.Connection) -> bool:
            self._queue(conn, STATUS, None, body)
            noted = False
            for local_tx, stamp, state, wh in timeline:
                if local_tx is None or conn.execute(
                        "SELECT 1 FROM transactions WHERE local_id = ? AND stopped_at IS NULL", (local_tx,)
                ).fetchone() is None:
                    return False
                _note_state(conn, local_tx, stamp, state, wh)
                noted = True
            return noted

        return bool(self._commit(work))

    def record_unplugged(self, local_tx: int, connector: int, timestamp: str) -> None:
        """Queue the unplug that ended the time transaction ``local_tx``'s EV held the connector (TX_UNPLUGGED)."""
        body: dict[str, object] = {"connector": connector, "timestamp": timestamp}
        self._commit(lambda conn: self._queue(conn, TX_UNPLUGGED, local_tx, body))

    def unplug_recorded(self, local_tx: int) -> bool:
        """Whether the unplug after transaction ``local_tx`` was queued (TX_UNPLUGGED)."""
        return bool(self.db.read("SELECT 1 FROM outbox WHERE kind = ? AND local_tx = ? LIMIT 1",
                                 (TX_UNPLUGGED, local_tx)))

    def record_tx_event(self, local_tx: int, connector: int, timestamp: str, charging_state: str,
                        cause: str | None = None, wh: int | None = None) -> bool:
        """Queue a change of a running transaction's charging state (see TX_EVENT):
        Charging, EVConnected, SuspendedEV, SuspendedEVSE or Idle. ``cause``: the cable
        event behind it, when there is one (``ev_unplugged``, ``ev_plugged``: the EV left a
        transaction kept open, or came back to it). ``wh``: the meter register then, when
        known; the change joins the transaction's timeline (see record_charging_state) in
        the same commit. Returns False, queueing nothing, once the transaction has stopped."""
        numbered: list[int] = []

        def work(conn: sqlite3.Connection) -> bool:
            n = self._committed_number(conn, local_tx)
            if not conn.execute("UPDATE transactions SET events = MAX(events, ?) WHERE local_id = ? "
                                "AND stopped_at IS NULL", (n + 1, local_tx)).rowcount:
                return False
            body = {"connector": connector, "timestamp": timestamp, "charging_state": charging_state, "n": n}
            if cause is not None:
                body["cause"] = cause
            self._queue(conn, TX_EVENT, local_tx, body)
            _note_state(conn, local_tx, timestamp, charging_state, wh)
            numbered.append(n)
            return True

        queued = bool(self._commit(work))
        for n in numbered:
            self._events[local_tx] = n + 1  # only once committed: a failed commit gives nothing away
        return queued

    def record_authorization(self, local_tx: int, connector: int, timestamp: str, id_tag: str,
                             token_type: str | None = None, remote_start_id: int | None = None,
                             reservation_id: int | None = None) -> bool:
        """A token authorized for a running transaction an EV began without one: it becomes
        the transaction's token (a restart resumes it as the token's), and a TX_EVENT with
        ``cause`` ``authorized`` and the token tells the backend (2.0.1: an Updated event,
        triggerReason Authorized or RemoteStart, with the idToken). Returns False, queueing
        nothing, once the transaction has stopped."""
        numbered: list[int] = []

        def work(conn: sqlite3.Connection) -> bool:
            n = self._committed_number(conn, local_tx)
            if not conn.execute("UPDATE transactions SET events = MAX(events, ?), id_tag = ? WHERE local_id = ? "
                                "AND stopped_at IS NULL", (n + 1, id_tag, local_tx)).rowcount:
                return False
            body: dict[str, Any] = {"connector": connector, "timestamp": timestamp, "cause": "authorized",
                                    "id_tag": id_tag, "n": n}
            for key, value in (("token_type", token_type), ("remote_start_id", remote_start_id),
                               ("reservation_id", reservation_id)):
                if value is not None:
                    body[key] = value
            self._queue(conn, TX_EVENT, local_tx, body)
            numbered.append(n)
            return True

        queued = bool(self._commit(work))
        for n in numbered:
            self._events[local_tx] = n + 1  # only once committed
        return queued

    def record_charging_state(self, local_tx: int, timestamp: str, charging_state: str, wh: int | None) -> bool:
        """Add a change of a running transaction's charging state to its timeline, and send
        nothing: for a protocol that does not report the change (1.6 tells it by its
        StatusNotification, a status entry). ``wh``: the meter register then, when known.
        The timeline is what a session's cost and times are computed from (agent/tariff).
        Returns False, writing nothing, once the transaction has stopped."""

        def work(conn: sqlite3.Connection) -> bool:
            if conn.execute("SELECT 1 FROM transactions WHERE local_id = ? AND stopped_at IS NULL",
                            (local_tx,)).fetchone() is None:
                return False
            _note_state(conn, local_tx, timestamp, charging_state, wh)
            return True

        return bool(self._commit(work))

    def last_timeline_state(self, local_tx: int) -> str | None:
        """The charging state a transaction's timeline holds last (see
        record_charging_state); None for one journaled before timelines were kept."""
        rows = self.db.read("SELECT state FROM charging_states WHERE local_tx = ? ORDER BY id DESC LIMIT 1",
                            (local_tx,))
        return str(rows[0]["state"]) if rows else None

    def timeline(self, local_tx: int) -> list[Point]:
        """The known instants of transaction ``local_tx``, oldest first, for its cost and
        times (agent/tariff): its start, each change of its charging state, every meter
        sample of its energy register the journal holds (delivered or not, held in memory
        or rebuilt from the side file), the values kept for its stop, its latest meter value
        and, once it has ended, the stop ("Ended"). Each point carries the state in force
        from it on. A change whose register was not known gets the value interpolated
        between its neighbours; the register never runs back (a change noted from a
        reading a moment older than a sample before it takes the sample's value). Empty
        for an unknown transaction. A transaction journaled before timelines were kept
        takes its changes from the 2.0.1 events it has, if any."""
        found = self.db.read("SELECT * FROM transactions WHERE local_id = ?", (local_tx,))
        if not found:
            return []
        row = found[0]
        start = _moment(row["started_at"])
        if start is None:
            return []
        # (moment, rank, wh or None, state or None, clock tag or None): the rank orders what
        # shares an instant; the tag says which clock stamped it (None: not known).
        events: list[tuple[datetime, int, float | None, str | None, str | None]] = []
        states = self.db.read("SELECT at, state, wh, clock FROM charging_states WHERE local_tx = ? ORDER BY id",
                              (local_tx,))
        if states:
            changes = [(r["at"], r["state"], r["wh"], r["clock"]) for r in states]
        else:
            began = self.db.read(
                f"SELECT json_extract(body, '$.started_by') AS began FROM outbox WHERE local_tx = ? "
                f"AND kind = '{TX_STARTED}' AND json_valid(body)", (local_tx,))
            first = STARTED_STATES.get(began[0]["began"], EV_CONNECTED) if began else EV_CONNECTED
            changes = [(row["started_at"], first, row["meter_start_wh"], row["clock"])] + [
                (r["at"], r["state"], None, r["clock"]) for r in self.db.read(
                    "SELECT json_extract(body, '$.timestamp') AS at, json_extract(body, '$.charging_state') AS state, "
                    f"clock FROM outbox WHERE local_tx = ? AND kind = '{TX_EVENT}' AND json_valid(body) "
                    "AND json_extract(body, '$.charging_state') IS NOT NULL ORDER BY seq", (local_tx,))]
        events.append((start, 0, float(row["meter_start_wh"]), None, row["clock"]))
        for at, state, wh, tag in changes:
            moment = _moment(at)
            if moment is not None:
                events.append((max(moment, start), 1, None if wh is None else float(wh), str(state), tag))
        for moment, wh, tag in self._committed_samples(local_tx):
            events.append((moment, 2, wh, None, tag))
        for moment, wh, tag in _sample_points([(h.body, h.clock) for h in self._held if h.local_tx == local_tx]):
            events.append((moment, 2, wh, None, tag))
        for r in self.db.read("SELECT at, wh, clock FROM meter_points WHERE local_tx = ?", (local_tx,)):
            moment = _moment(r["at"])
            if moment is not None:
                events.append((moment, 2, float(r["wh"]), None, r["clock"]))
        kept = [(r["timestamp"], r["samples"], r["clock"]) for r in self.db.read(
            "SELECT timestamp, samples, clock FROM transaction_values WHERE local_tx = ?", (local_tx,))]
        kept += [(v[2], v[4], v[5]) for v in self._held_values if v[1] == local_tx]
        for stamp, samples, tag in kept:
            try:
                moment, wh = _moment(stamp), _energy_register(json.loads(samples))
            except (ValueError, TypeError):
                continue
            if moment is not None and wh is not None:
                events.append((moment, 2, wh, None, tag))
        stop = _moment(row["stopped_at"])
        if stop is None:
            last = self._last_meter(row)
            moment = _moment(last["last_meter_at"])
            if moment is not None and last["last_meter_wh"] is not None:
                events.append((moment, 2, float(last["last_meter_wh"]), None, None))
        else:
            events.append((stop, 3, float(row["meter_stop_wh"]), ENDED, row["stop_clock"] or row["clock"]))
        events = [e for e in events if e[0] >= start and (stop is None or e[0] <= stop)]
        events.sort(key=lambda e: (e[0], e[1]))
        return _points(events)

    def _committed_samples(self, local_tx: int) -> list[tuple[datetime, float, str]]:
        """The energy points of a transaction's committed samples, oldest first: parsed once
        and kept, only the rows added since read again (all again when a row went, or a
        clock correction or a pruning changed them)."""
        where = f"FROM outbox WHERE local_tx = ? AND kind = '{METER_SAMPLE}'"
        count, top, points = self._sample_points.get(local_tx, (0, 0, []))
        if count and self.db.read(f"SELECT COUNT(*) {where} AND seq <= ?", (local_tx, top))[0][0] != count:
            count, top, points = 0, 0, []
        rows = self.db.read(f"SELECT seq, body, clock {where} AND seq > ? ORDER BY seq", (local_tx, top))
        if rows:
            points = points + _sample_points([(r["body"], r["clock"]) for r in rows])
            count, top = count + len(rows), int(rows[-1]["seq"])
            self._sample_points[local_tx] = (count, top, points)
        return points

    def last_charging_state(self, local_tx: int) -> str | None:
        """The charging state last journaled for a transaction (a TX_EVENT's), else the one
        its start says: Idle for one begun by its token before any EV, Charging for one begun
        by the energy transfer, else None (it began EVConnected)."""
        rows = self.db.read(
            "SELECT json_extract(body, '$.charging_state') AS state, json_extract(body, '$.started_by') AS began "
            f"FROM outbox WHERE local_tx = ? AND (kind = '{TX_STARTED}' OR (kind = '{TX_EVENT}' "
            "AND json_extract(body, '$.charging_state') IS NOT NULL)) ORDER BY seq DESC LIMIT 1",
            (local_tx,),
        )
        if not rows:
            return None
        if rows[0]["state"] is not None:
            return str(rows[0]["state"])
        return STARTED_STATES.get(rows[0]["began"])

    def record_firmware_status(self, status: str, request_id: int | None) -> None:
        """A FirmwareStatusNotification, or a SignedFirmwareStatusNotification with ``request_id``."""
        body: dict[str, object] = {"status": status, "timestamp": utc_now()}
        if request_id is not None:
            body["request_id"] = request_id
        self._commit(lambda conn: self._queue(conn, FIRMWARE, None, body))

    def record_security_event(self, kind: str, tech_info: str, send: bool | None = None) -> None:
        """A security event: queued for the backend when it is one a backend is told (the
        critical ones, see agent/security_events.py, unless ``send`` says otherwise: a
        change the backend asked for), and handed to ``security_event_heard`` in any case. The journal's commit comes first: a failing security log cannot lose
        it, and an event the journal could not take (a full disk) still reaches the log.
        ``kind`` may be spelled either protocol's way; the journal keeps the neutral name."""
        kind = security_events.canonical(kind)
        tech_info = redact_text(tech_info)[:255]
        body = {"type": kind, "tech_info": tech_info, "timestamp": utc_now()}
        try:
            if security_events.sent_to_backend(kind) if send is None else send:
                self._commit(lambda conn: self._queue(conn, SECURITY_EVENT, None, body))
        finally:
            heard = self.security_event_heard
            if heard is not None:
                try:
                    heard(kind, tech_info, str(body["timestamp"]))
                except Exception as exc:  # noqa: BLE001 - a copy for people never fails the record
                    log.error("security event not logged", type=kind, error=str(exc) or type(exc).__name__)

    # customer data (agent.customer_data) ---------------------------------
    def commit(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``work`` in one durable commit, after what the journal holds (see _commit):
        for a change that spans the journal and tables of other owners, all or nothing."""
        return self._commit(work)

    def token_transactions(self, token: str) -> list[TransactionRecord]:
        """The transactions ``token`` began or stopped (compared case-insensitively, as
        tokens are), oldest first; none for an empty token."""
        if not token:
            return []
        return self._records("WHERE t.id_tag = ?1 COLLATE NOCASE OR t.stop_id_tag = ?1 COLLATE NOCASE "
                             "ORDER BY t.local_id", (token,))

    def erase_token(self, conn: sqlite3.Connection, token: str) -> tuple[list[int], list[int]]:
        """Clear ``token`` from the transactions it began or stopped, inside the caller's
        commit (``conn``, from :meth:`commit`). A transaction that has ended and has no
        message left to send (each was delivered, or given up) loses it now: from its row
        and from its delivered entries. One still running, or with a message still to
        send, keeps it (the backend must receive the transaction whole, and a running one
        is stopped by its token) and is noted in ERASE_NOTE: the delivery that settles it
        clears it (:meth:`mark_done`), in the same commit. Returns the local ids cleared
        now and those kept until then."""
        if not token:
            return [], []
        rows = conn.execute("SELECT local_id FROM transactions WHERE id_tag = ?1 COLLATE NOCASE "
                            "OR stop_id_tag = ?1 COLLATE NOCASE ORDER BY local_id", (token,)).fetchall()
        now: list[int] = []
        later: list[int] = []
        for (local,) in rows:
            if self._settled(conn, local):
                _anonymise(conn, local, token)
                now.append(local)
            else:
                later.append(local)
        if later:
            noted = conn.execute("SELECT value FROM notes WHERE name = ?", (ERASE_NOTE,)).fetchone()
            waiting = json.loads(noted[0]) if noted else []
            waiting += [[local, token] for local in later if [local, token] not in waiting]
            _write_note(conn, ERASE_NOTE, waiting)
            self._erasing = True
        return now, later

    def settle_erasures(self) -> bool:
        """Clear what ERASE_NOTE waits for from every transaction settled by now (the
        housekeeping's look, for a transaction settled by other means than a delivery,
        e.g. an older release's); returns whether any still waits."""
        if not self._erasing:
            return False
        self._erasing = bool(self._commit(self._settle_erasures))
        return self._erasing

    def erasures_waiting(self) -> list[tuple[int, str]]:
        """The (local id, token) pairs an erasure still waits to clear."""
        rows = self.db.read("SELECT value FROM notes WHERE name = ?", (ERASE_NOTE,))
        return [(int(local), str(token)) for local, token in json.loads(rows[0]["value"])] if rows else []

    def _settled(self, conn: sqlite3.Connection, local_tx: int) -> bool:
        """Whether a transaction has ended and no message of it waits to be sent."""
        row = conn.execute("SELECT stopped_at FROM transactions WHERE local_id = ?", (local_tx,)).fetchone()
        if row is None or row[0] is None:
            return False
        if conn.execute("SELECT 1 FROM outbox WHERE local_tx = ? AND done_at IS NULL LIMIT 1", (local_tx,)).fetchone():
            return False
        return not any(h.local_tx == local_tx and h.done_at is None for h in self._held)

    def _settle_erasures(self, conn: sqlite3.Connection) -> bool:
        """Inside a commit: clear each token ERASE_NOTE lists from its transaction once that
        is settled (and the token from the authorization cache, which the backend's answer
        to the transaction's start may have filled again meanwhile); a transaction pruned
        meanwhile is gone with its token. Returns whether any still waits."""
        noted = conn.execute("SELECT value FROM notes WHERE name = ?", (ERASE_NOTE,)).fetchone()
        if noted is None:
            return False
        waiting = json.loads(noted[0])
        left = []
        for local, token in waiting:
            if not conn.execute("SELECT 1 FROM transactions WHERE local_id = ?", (local,)).fetchone():
                continue
            if self._settled(conn, local):
                _anonymise(conn, local, token)
                ChargerState.forget_authorization(conn, token)
            else:
                left.append([local, token])
        if not left:
            conn.execute("DELETE FROM notes WHERE name = ?", (ERASE_NOTE,))
        elif len(left) < len(waiting):  # unchanged: no write (a status's acknowledgement dirties no page for it)
            _write_note(conn, ERASE_NOTE, left)
        return bool(left)

    # delivering ---------------------------------------------------------
    def pending(self, after_seq: int = 0, limit: int = 50) -> list[Entry]:
        rows = self.db.read(
            "SELECT o.*, t.backend_id, t.tx_uid FROM outbox o LEFT JOIN transactions t ON t.local_id = o.local_tx "
            "WHERE o.done_at IS NULL AND o.seq > ? ORDER BY o.seq LIMIT ?",
            (after_seq, limit),
        )
        entries = [
            Entry(
                seq=r["seq"],
                kind=r["kind"],
                local_tx=r["local_tx"],
                body=json.loads(r["body"]),
                attempts=r["attempts"],
                backend_tx=r["backend_id"],
                tx_uid=r["tx_uid"],
            )
            for r in rows
        ]
        # Held samples come after everything on disk (any durable write syncs them first).
        ids: dict[int, tuple[int | None, str | None]] = {}
        for h in self._held:
            if len(entries) >= limit or not h.durable:
                break  # in order: nothing after a sample that may not be sent yet
            if h.done_at is not None or h.seq <= after_seq:
                continue
            if h.local_tx is not None and h.local_tx not in ids:
                found = self.db.read("SELECT backend_id, tx_uid FROM transactions WHERE local_id = ?", (h.local_tx,))
                ids[h.local_tx] = (found[0]["backend_id"], found[0]["tx_uid"]) if found else (None, None)
            backend_tx, tx_uid = ids.get(h.local_tx, (None, None)) if h.local_tx is not None else (None, None)
            entries.append(Entry(h.seq, METER_SAMPLE, h.local_tx, json.loads(h.body), h.attempts, backend_tx, tx_uid))
        return entries

    def mark_done(self, seq: int, outcome: str = "acked", kind: str | None = None) -> None:
        """The entry is delivered (or given up). A meter sample's acknowledgement is
        committed without fsync (a power cut may resend it); any other with fsync, so a
        start or a stop acknowledged before a power cut is never sent again."""
        held = self._find_held(seq)
        if held is not None:
            held.done_at, held.outcome = utc_now(), outcome
            line = _dump({"k": "d", "seq": seq, "at": held.done_at, "outcome": outcome, "attempts": held.attempts,
                          "taken": held.created_at}) + "\n"
            if self._acks is not None and self._side is not None and self._acks.note(line.encode()):
                self._acks_pending.append(line)  # to the side file with its next line
            else:
                self._note(line[:-1], must_last=False)
            return
        if kind is None:
            found = self.db.read("SELECT kind FROM outbox WHERE seq = ?", (seq,))
            kind = found[0]["kind"] if found else None
        lazy = kind == METER_SAMPLE

        erasing = self._erasing and not lazy  # a sample carries no token, and never ends a transaction

        def work(conn: sqlite3.Connection) -> bool:
            conn.execute("UPDATE outbox SET done_at = ?, outcome = ? WHERE seq = ?", (utc_now(), outcome, seq))
            if not lazy:
                _settle_earlier_samples(conn, seq)
            # The delivery that settles a transaction clears the token an erasure waits for,
            # in the same commit: it never outlives the last message that needed it.
            return self._settle_erasures(conn) if erasing else self._erasing

        self._erasing = bool(self._commit(work, durable=not lazy))

    def count_attempt(self, seq: int) -> int:
        held = self._find_held(seq)
        if held is not None:
            held.attempts += 1  # not noted: after a crash the count starts again, as for a resend
            return held.attempts
        self._commit(lambda conn: conn.execute("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?", (seq,)))
        return int(self.db.read("SELECT attempts FROM outbox WHERE seq = ?", (seq,))[0]["attempts"])

    def acknowledge_start(self, seq: int, local_tx: int, backend_id: int, id_tag_status: str) -> None:
        """The backend accepted a start: remember its transaction id with the acknowledgement."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE transactions SET backend_id = ?, id_tag_status = ? WHERE local_id = ?",
                (backend_id, id_tag_status, local_tx),
            )
            conn.execute("UPDATE outbox SET done_at = ?, outcome = 'acked' WHERE seq = ?", (utc_now(), seq))
            _settle_earlier_samples(conn, seq)

        self._commit(work)

    def acknowledge_verdict(self, seq: int, local_tx: int, id_tag_status: str) -> None:
        """The backend answered a start with its verdict on the token (OCPP 2.0.1's
        Started TransactionEvent and its idTokenInfo; the transaction has the charger's
        own id, so no backend id is kept): the verdict is stored in the commit that marks
        the start delivered, so neither a restart nor a link lost right after the answer
        forgets a refusal (see ``acknowledge_start`` for 1.6)."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE transactions SET id_tag_status = ? WHERE local_id = ?", (id_tag_status, local_tx))
            conn.execute("UPDATE outbox SET done_at = ?, outcome = 'acked' WHERE seq = ?", (utc_now(), seq))
            _settle_earlier_samples(conn, seq)

        self._commit(work)

    def adopt_older_entries(self) -> int:
        """Give what an older release journaled the charger's own transaction id and event
        numbers; once, at the agent's start. Returns how many transactions it changed.

        A release from before them may have run on this database after a rollback (the
        schema stays: its changes are additive, see ``agent.store``). The transactions it
        began have no ``tx_uid`` and its entries no number, which OCPP 2.0.1 cannot send
        (no transactionId, no seqNo): they would be dropped. They get them as the schema 8
        migration gave what was there then: a random id, and numbers in journal order after
        the transaction's last one."""
        # Only what is still to be sent: a delivered entry keeps what it had, and one the
        # size cap shed (done, body '{}') is no event any more (shed_to renumbered past it).
        unnumbered = "json_extract(o.body, '$.n') IS NULL AND o.done_at IS NULL"
        # One pass over the outbox (the IN list is built once), not one per transaction.
        older = ("SELECT local_id, tx_uid, events FROM transactions WHERE tx_uid IS NULL OR local_id IN "
                 f"(SELECT o.local_tx FROM outbox o WHERE o.local_tx IS NOT NULL AND {unnumbered})")
        held = any(h.local_tx is not None and "n" not in json.loads(h.body) for h in self._held)
        if not held and not self.db.read(older):
            return 0  # the usual start: no write

        def work(conn: sqlite3.Connection) -> int:
            found = conn.execute(older).fetchall()  # what was held (rebuilt at start) is written by now
            for row in found:
                local = int(row["local_id"])
                if row["tx_uid"] is None:
                    conn.execute("UPDATE transactions SET tx_uid = ? WHERE local_id = ?", (str(uuid.uuid4()), local))
                top = conn.execute("SELECT MAX(json_extract(body, '$.n')) FROM outbox WHERE local_tx = ?",
                                   (local,)).fetchone()[0]
                n = max(int(row["events"]), 0 if top is None else int(top) + 1)
                for (seq,) in conn.execute(
                    f"SELECT seq FROM outbox o WHERE local_tx = ? AND {unnumbered} ORDER BY seq", (local,)
                ).fetchall():
                    conn.execute("UPDATE outbox SET body = json_set(body, '$.n', ?) WHERE seq = ?", (n, seq))
                    n += 1
                conn.execute("UPDATE transactions SET events = ? WHERE local_id = ?", (n, local))
                self._events.pop(local, None)
            return len(found)

        try:
            adopted = int(self._commit(work))
        except StoreError as exc:
            log.error("journal: what an older release journaled cannot be numbered yet", error=str(exc))
            return 0
        if adopted:
            log.warning("gave transactions an older release journaled their id and event numbers",
                        transactions=adopted)
        return adopted

    def supersede_statuses(self) -> int:
        """Drop undelivered status entries: after a reconnect the current status is sent instead."""
        return int(self._commit(lambda conn: conn.execute(
            "UPDATE outbox SET done_at = ?, outcome = 'superseded' WHERE done_at IS NULL AND kind = ?",
            (utc_now(), STATUS),
        ).rowcount))

    def correct_provisional(self, tag: str, shift_s: float, source: str) -> int:
        """The clock learned the time (``agent.clock``): move every stamp this process made
        provisionally (``tag``) by ``shift_s`` seconds and record ``source`` as how it is now
        known. Only what is still undelivered is rewritten; what was sent stays on record
        as sent. Returns how many entries changed."""
        self._sample_points.clear()  # rewritten or removed rows: the timeline reads them again

        def work(conn: sqlite3.Connection) -> int:
            changed = 0
            rows = conn.execute(
                "SELECT seq, body FROM outbox WHERE clock = ? AND done_at IS NULL", (tag,)
            ).fetchall()
            for row in rows:
                body = json.loads(row["body"])
                if "timestamp" in body:
                    body["timestamp"] = _shifted(body["timestamp"], shift_s)
                for item in body.get("transaction_data", []):
                    item["timestamp"] = _shifted(item["timestamp"], shift_s)
                conn.execute("UPDATE outbox SET body = ?, clock = ? WHERE seq = ?", (_dump(body), source, row["seq"]))
                changed += 1
            for row in conn.execute(
                "SELECT local_id, started_at, last_meter_at, stopped_at, clock, stop_clock FROM transactions "
                "WHERE clock = ? OR stop_clock = ?", (tag, tag)
            ).fetchall():
                started, start_clock = row["started_at"], row["clock"]
                stopped, stop_clock = row["stopped_at"], row["stop_clock"]
                last = row["last_meter_at"]
                if start_clock == tag:
                    started, start_clock = _shifted(started, shift_s), source
                if stop_clock == tag:
                    stopped, stop_clock = _shifted(stopped, shift_s), source
                    last = stopped  # a stop's meter value is the last one noted
                elif row["stopped_at"] is None and last is not None and row["clock"] == tag:
                    last = _shifted(last, shift_s)
                conn.execute(
                    "UPDATE transactions SET started_at = ?, clock = ?, stopped_at = ?, stop_clock = ?, "
                    "last_meter_at = ? WHERE local_id = ?",
                    (started, start_clock, stopped, stop_clock, last, row["local_id"]),
                )
            for row in conn.execute("SELECT id, timestamp FROM transaction_values WHERE clock = ?", (tag,)).fetchall():
                conn.execute(
                    "UPDATE transaction_values SET timestamp = ?, clock = ? WHERE id = ?",
                    (_shifted(row["timestamp"], shift_s), source, row["id"]),
                )
            for row in conn.execute("SELECT id, at FROM charging_states WHERE clock = ?", (tag,)).fetchall():
                conn.execute("UPDATE charging_states SET at = ?, clock = ? WHERE id = ?",
                             (_shifted(row["at"], shift_s), source, row["id"]))
            for row in conn.execute("SELECT id, at FROM meter_points WHERE clock = ?", (tag,)).fetchall():
                conn.execute("UPDATE meter_points SET at = ?, clock = ? WHERE id = ?",
                             (_shifted(row["at"], shift_s), source, row["id"]))
            for row in conn.execute(
                "SELECT id, began_at, ended_at, clock, end_clock FROM meter_gaps WHERE clock = ? OR end_clock = ?",
                (tag, tag),
            ).fetchall():
                began, began_clock = row["began_at"], row["clock"]
                ended, end_clock = row["ended_at"], row["end_clock"]
                if began_clock == tag:
                    began, began_clock = _shifted(began, shift_s), source
                if end_clock == tag:
                    ended, end_clock = _shifted(ended, shift_s), source
                conn.execute(
                    "UPDATE meter_gaps SET began_at = ?, clock = ?, ended_at = ?, end_clock = ? WHERE id = ?",
                    (began, began_clock, ended, end_clock, row["id"]),
                )
            return changed

        try:
            return self._commit(work)  # what is held is synced first, and corrected with the rest
        finally:
            self._sample_points.clear()

    # keeping the journal bounded -------------------------------------------
    def undelivered_bytes(self) -> int:
        """Size of what waits to be sent (message bodies): the measure the cap applies to."""
        on_disk = int(self.db.read("SELECT COALESCE(SUM(LENGTH(body)), 0) AS n FROM outbox WHERE done_at IS NULL")[0]["n"])
        return on_disk + sum(len(h.body) for h in self._held if h.done_at is None)

    def shed_to(self, max_bytes: int) -> int:
        """Bring the undelivered data under ``max_bytes`` by thinning meter values; return
        how many were shed.

        The policy, cheapest loss first: past status reports (a reconnect replaces them
        with the current status anyway), then every second undelivered meter sample,
        oldest first, pass after pass, so what remains still covers the whole offline
        period evenly. Starts and stops are never shed: if they alone exceed the cap, the
        journal grows past it (and charging stops only when the disk itself is full). A
        shed entry keeps its row with outcome 'shed', so the loss is on record.

        Event numbers stay gapless (OCPP 2.0.1 seqNo): the events of a thinned
        transaction that were never sent are numbered again, in order, from the first
        number not sent yet. What may have been sent keeps its number and is never shed:
        everything delivered, and the first ``sending_window`` undelivered entries (the
        link's loaded batch, the entry in flight among them) or any entry tried already.
        Energy is a register, so the events kept (and the stop, with its values kept for
        the end, which are never thinned) still carry every kWh; only the readings between
        them are lost.
        """

        if self.undelivered_bytes() <= max_bytes:
            return 0  # the usual case: no write at all
        thinned: set[int] = set()

        def work(conn: sqlite3.Connection) -> int:
            shed = 0
            size = _undelivered(conn)
            if size <= max_bytes:
                return 0
            now = utc_now()
            cut = self._on_its_way(conn)
            # The first number not sent yet of each transaction with events past the cut.
            bases = {
                int(r[0]): int(r[1]) for r in conn.execute(
                    "SELECT local_tx, MIN(json_extract(body, '$.n')) FROM outbox WHERE done_at IS NULL AND seq > ? "
                    "AND local_tx IS NOT NULL AND json_valid(body) GROUP BY local_tx", (cut,)
                ) if r[1] is not None
            }
            cur = conn.execute(
                "UPDATE outbox SET done_at = ?, outcome = 'superseded' WHERE done_at IS NULL AND kind = ?",
                (now, STATUS),
            )
            shed += cur.rowcount
            while (size := _undelivered(conn)) > max_bytes:
                rows = conn.execute(
                    "SELECT seq, local_tx FROM outbox WHERE done_at IS NULL AND kind = ? AND seq > ? ORDER BY seq",
                    (METER_SAMPLE, cut),
                ).fetchall()
                if not rows:
                    break
                # Every second one, starting with the oldest; a single one left goes too.
                victims = rows[0::2] if len(rows) > 1 else rows
                freed = 0
                for seq, local_tx in victims:
                    freed += conn.execute(
                        "SELECT LENGTH(body) AS n FROM outbox WHERE seq = ?", (seq,)
                    ).fetchone()["n"]
                    conn.execute(
                        "UPDATE outbox SET done_at = ?, outcome = 'shed', body = '{}' WHERE seq = ?", (now, seq)
                    )
                    shed += 1
                    if local_tx is not None:
                        thinned.add(int(local_tx))
                    if size - freed <= max_bytes:
                        break
            for local_tx in sorted(thinned & bases.keys()):
                _renumber(conn, local_tx, cut, bases[local_tx])
            return shed

        shed = int(self._commit(work))
        for local_tx in thinned:
            self._events.pop(local_tx, None)  # read again from the transaction's count
        return shed

    def mark_loaded(self, seq: int) -> None:
        """A link loaded the entries up to ``seq`` to send them: from now on their event
        numbers may be at the backend, whatever a power cut does to the record of its
        answers. Written (durably) only when it moves on: once per batch the link loads."""
        if seq <= self._loaded_up_to:
            return
        self._commit(lambda conn: conn.execute(
            "INSERT INTO notes (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (LOADED_NOTE, str(seq))))
        self._loaded_up_to = seq

    def _on_its_way(self, conn: sqlite3.Connection) -> int:
        """The highest outbox seq that may be on its way to the backend, or at it (see
        shed_to): the last of the first ``sending_window`` undelivered entries, one tried
        already, or the last a link ever loaded (mark_loaded)."""
        window = max(1, self.sending_window)
        row = conn.execute(
            "SELECT seq FROM outbox WHERE done_at IS NULL ORDER BY seq LIMIT 1 OFFSET ?", (window - 1,)
        ).fetchone()
        if row is None:  # all that waits fits in the window
            row = conn.execute("SELECT MAX(seq) FROM outbox").fetchone()
        tried = conn.execute("SELECT MAX(seq) FROM outbox WHERE done_at IS NULL AND attempts > 0").fetchone()
        return max(int(row[0] or 0), int(tried[0] or 0), self._loaded_up_to)

    def prune_delivered(self, before: str) -> int:
        """Forget what the backend acknowledged before ``before`` (an ISO time): delivered
        messages, and transactions that are stopped with every message delivered. Anything
        undelivered, shed or abandoned stays: it is the record of what the backend lacks."""
        self._sample_points.clear()  # rewritten or removed rows: the timeline reads them again

        def work(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "DELETE FROM outbox WHERE done_at IS NOT NULL AND done_at < ? AND outcome IN ('acked', 'superseded') "
                "AND (local_tx IS NULL OR local_tx IN (SELECT local_id FROM transactions WHERE stopped_at < ?))",
                (before, before),
            )
            removed = cur.rowcount
            done = (
                "SELECT local_id FROM transactions t WHERE t.stopped_at IS NOT NULL AND t.stopped_at < ? "
                "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.local_tx = t.local_id)"
            )
            conn.execute(f"DELETE FROM transaction_values WHERE local_tx IN ({done})", (before,))
            conn.execute(f"DELETE FROM meter_gaps WHERE local_tx IN ({done})", (before,))
            conn.execute(f"DELETE FROM charging_states WHERE local_tx IN ({done})", (before,))
            conn.execute(f"DELETE FROM meter_points WHERE local_tx IN ({done})", (before,))
            removed += conn.execute(f"DELETE FROM transactions WHERE local_id IN ({done})", (before,)).rowcount
            return removed

        try:
            return self.db.transaction(work)
        finally:
            self._sample_points.clear()

    def pending_count(self) -> int:
        on_disk = int(self.db.read("SELECT COUNT(*) AS n FROM outbox WHERE done_at IS NULL")[0]["n"])
        return on_disk + sum(1 for h in self._held if h.done_at is None)

    # reading ------------------------------------------------------------
    def open_transactions(self) -> list[TransactionRecord]:
        return self._records("WHERE t.stopped_at IS NULL ORDER BY t.local_id")

    def transactions(self, limit: int = 100) -> list[TransactionRecord]:
        return self._records("ORDER BY t.local_id DESC LIMIT ?", (limit,))

    def backend_to_local(self, backend_id: int) -> TransactionRecord | None:
        # Open first, then newest: a backend that reuses ids (after its database was reset)
        # must still reach the transaction running now.
        records = self._records("WHERE t.backend_id = ? ORDER BY t.stopped_at IS NOT NULL, t.local_id DESC", (backend_id,))
        return records[0] if records else None

    def by_uid(self, tx_uid: str) -> TransactionRecord | None:
        """The transaction with the charger's own id ``tx_uid`` (OCPP 2.0.1 transactionId)."""
        records = self._records("WHERE t.tx_uid = ?", (tx_uid,))
        return records[0] if records else None

    def latest_stamp(self, local_tx: int) -> str | None:
        """The latest time anything journaled for transaction ``local_tx`` carries: its
        start, its samples and charging-state changes (whether delivered or not), the
        values kept for its stop, its last meter value, held ones included. A stop made
        for it without a clock of its own (the PowerLoss close at start-up) is stamped no
        earlier, so that its events' times never go backwards. None: no such transaction.
        Stamps are compared as times, not as text: ``...:00Z`` and ``...:00.500Z`` sort
        the wrong way round as strings."""
        stamps = [r[0] for r in self.db.read(
            "SELECT started_at FROM transactions WHERE local_id = ?1 "
            "UNION ALL SELECT last_meter_at FROM transactions WHERE local_id = ?1 "
            "UNION ALL SELECT json_extract(body, '$.timestamp') FROM outbox WHERE local_tx = ?1 "
            "AND json_valid(body) "
            "UNION ALL SELECT timestamp FROM transaction_values WHERE local_tx = ?1",
            (local_tx,),
        )]
        if not stamps:
            return None
        stamps += [json.loads(h.body).get("timestamp") for h in self._held if h.local_tx == local_tx]
        stamps += [v[2] for v in self._held_values if v[1] == local_tx]
        if local_tx in self._held_meter:
            stamps.append(self._held_meter[local_tx][1])
        latest: tuple[Any, str] | None = None
        for stamp in stamps:
            try:
                moment = parse_iso(stamp) if isinstance(stamp, str) else None
            except ValueError:
                moment = None
            if moment is not None and moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)  # the journal's stamps are UTC
            if moment is not None and (latest is None or moment > latest[0]):
                latest = (moment, stamp)
        return latest[1] if latest is not None else None

    def undelivered_of(self, local_tx: int) -> int:
        """How many messages of transaction ``local_tx`` still wait to be delivered."""
        on_disk = int(self.db.read("SELECT COUNT(*) AS n FROM outbox WHERE done_at IS NULL AND local_tx = ?",
                                   (local_tx,))[0]["n"])
        return on_disk + sum(1 for h in self._held if h.done_at is None and h.local_tx == local_tx)

    def _records(self, where: str, params: tuple[Any, ...] = ()) -> list[TransactionRecord]:
        rows = self.db.read(
            "SELECT t.*, "
            "(SELECT COUNT(*) FROM outbox o WHERE o.local_tx = t.local_id AND o.done_at IS NULL) AS pending_messages, "
            "(SELECT COUNT(*) FROM outbox o WHERE o.local_tx = t.local_id AND o.outcome LIKE 'abandoned%') "
            "AS abandoned_messages, "
            # The token's type is in its start, or in the event that named the token later.
            "(SELECT json_extract(o.body, '$.token_type') FROM outbox o WHERE o.local_tx = t.local_id "
            f"AND (o.kind = '{TX_STARTED}' OR (o.kind = '{TX_EVENT}' AND json_extract(o.body, '$.cause') = "
            f"'authorized')) ORDER BY o.seq DESC LIMIT 1) AS token_type FROM transactions t {where}",
            params,
        )
        gaps = self._meter_gaps(where, params)
        held_pending: dict[int, int] = {}
        for h in self._held:
            if h.done_at is None and h.local_tx is not None:
                held_pending[h.local_tx] = held_pending.get(h.local_tx, 0) + 1
        return [
            TransactionRecord(
                local_id=r["local_id"],
                connector=r["connector"],
                id_tag=r["id_tag"] or None,  # '' in the table: no token (the column is NOT NULL)
                started_at=r["started_at"],
                meter_start_wh=r["meter_start_wh"],
                backend_id=r["backend_id"],
                id_tag_status=r["id_tag_status"],
                stopped_at=r["stopped_at"],
                meter_stop_wh=r["meter_stop_wh"],
                stop_reason=r["stop_reason"],
                **self._last_meter(r),
                pending_messages=r["pending_messages"] + held_pending.get(r["local_id"], 0),
                abandoned_messages=r["abandoned_messages"],
                meter_gaps=tuple(gaps.get(r["local_id"], ())),
                tx_uid=r["tx_uid"],
                token_type=r["token_type"],
            )
            for r in rows
        ]

    def _last_meter(self, row: sqlite3.Row) -> dict[str, Any]:
        """The last meter value of a transaction: the one held in memory when newer."""
        wh, stamp = row["last_meter_wh"], row["last_meter_at"]
        held = self._held_meter.get(row["local_id"]) if row["stopped_at"] is None else None
        if held is not None and (wh is None or held[0] >= wh):
            wh, stamp = held
        return {"last_meter_wh": wh, "last_meter_at": stamp}

    def _meter_gaps(self, where: str, params: tuple[Any, ...]) -> dict[int, list[MeterGap]]:
        """The gaps of the transactions ``where`` selects, by local id, oldest first."""
        found: dict[int, list[MeterGap]] = {}
        for g in self.db.read(
            f"SELECT * FROM meter_gaps WHERE local_tx IN (SELECT t.local_id FROM transactions t {where}) ORDER BY id",
            params,
        ):
            found.setdefault(g["local_tx"], []).append(MeterGap(g["began_at"], g["ended_at"], g["wh_before"], g["wh_after"]))
        return found


def _note_state(conn: sqlite3.Connection, local_tx: int, timestamp: str, state: str, wh: int | None) -> None:
    """One row of a transaction's timeline (see Journal.timeline), in the caller's commit."""
    conn.execute("INSERT INTO charging_states(local_tx, at, state, wh, clock) VALUES (?, ?, ?, ?, ?)",
                 (local_tx, timestamp, state, wh, clock.current().tag))


def _note_register(conn: sqlite3.Connection, held: _HeldSample) -> None:
    """The energy register of an answered held sample of a transaction, as a timeline point
    (meter_points), in the caller's commit; nothing for a sample without one."""
    if held.local_tx is None:
        return
    try:
        body = json.loads(held.body)
        wh = _energy_register(body.get("samples"))
        at = body.get("timestamp")
    except (ValueError, TypeError, AttributeError):
        return
    if wh is None or not isinstance(at, str):
        return
    conn.execute(  # OR IGNORE: the id is the sample's seq, so a repeated sync writes it once
        "INSERT OR IGNORE INTO meter_points(id, local_tx, at, wh, clock) "
        "SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM transactions WHERE local_id = ?)",
        (held.seq, held.local_tx, at, wh, held.clock, held.local_tx))


def _sample_points(bodies: list[tuple[str, str]]) -> list[tuple[datetime, float, str]]:
    """(moment, energy register, clock) of each sample body (JSON, clock tag) that has both."""
    found: list[tuple[datetime, float, str]] = []
    for text, tag in bodies:
        try:
            body = json.loads(text)
            moment, wh = _moment(body.get("timestamp")), _energy_register(body.get("samples"))
        except (ValueError, TypeError, AttributeError):
            continue
        if moment is not None and wh is not None:
            found.append((moment, wh, tag))
    return found


def _moment(stamp: Any) -> datetime | None:
    """A journal stamp as an aware UTC datetime; None when it is not one."""
    if not isinstance(stamp, str):
        return None
    try:
        moment = parse_iso(stamp)
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _energy_register(samples: Any) -> float | None:
    """The energy register (Wh) among a sample's values, if it has it."""
    if not isinstance(samples, list):
        return None
    for item in samples:
        if (isinstance(item, dict) and item.get("measurand") == ENERGY_REGISTER and not item.get("phase")
                and isinstance(item.get("value"), int | float) and not isinstance(item.get("value"), bool)):
            unit = item.get("unit", "Wh")
            if unit == "Wh":
                return float(item["value"])
            if unit == "kWh":
                return float(item["value"]) * 1000
    return None


def _provisional(tag: str | None) -> bool:
    """Whether a clock tag is a provisional stamp's that was never corrected (agent/clock.py)."""
    return tag is not None and tag.startswith(f"{clock.UNSYNCHRONISED}:")


def _points(events: list[tuple[datetime, int, float | None, str | None, str | None]]) -> list[Point]:
    """Points from time-ordered events: each takes the state last set; a register not
    known is interpolated between its known neighbours (or the one before); the register
    never runs back; events at one instant make one point, in the state they end in. A
    point whose clock differs from the point's before it, one of the two provisional, is
    ``unsure``: the time between two clocks, one of which never had the right time, is not
    known (a process that died before it learnt the time)."""
    known = [(e[0], e[2]) for e in events if e[2] is not None]
    points: list[Point] = []
    state = EV_CONNECTED
    top = float("-inf")
    k = 0  # index in known of the first known at or after this event
    last_tag: str | None = None  # the clock of the latest point
    for moment, _rank, wh, new_state, tag in events:
        if new_state is not None:
            state = new_state
        while k < len(known) and known[k][0] < moment:
            k += 1
        if wh is None:
            before = known[k - 1] if k else None  # the last known before this instant
            after = known[k] if k < len(known) else None
            if before is None and after is None:
                continue
            if before is None or after is None or after[0] == before[0]:
                wh = (before or after)[1]  # type: ignore[index]
            else:
                share = (moment - before[0]) / (after[0] - before[0])
                wh = before[1] + (after[1] - before[1]) * share
        top = max(top, wh)
        unsure = False
        if points and points[-1].at == moment:
            unsure = points.pop().unsure  # one point per instant: what it ends in (a change at the start, the stop)
        elif points and tag is not None and last_tag is not None and tag != last_tag:
            unsure = _provisional(tag) or _provisional(last_tag)
        if tag is not None:
            last_tag = tag
        points.append(Point(moment, top, state, unsure))
    return points


def _anonymise(conn: sqlite3.Connection, local_tx: int, token: str) -> None:
    """Clear ``token`` from one transaction: its row (the token that began it becomes ''
    as for a transaction no token began, the one that stopped it NULL) and every entry of
    it that names it (only delivered ones are left by then; see Journal.erase_token)."""
    conn.execute(
        "UPDATE transactions SET id_tag = CASE WHEN id_tag = ?1 COLLATE NOCASE THEN '' ELSE id_tag END, "
        "stop_id_tag = CASE WHEN stop_id_tag = ?1 COLLATE NOCASE THEN NULL ELSE stop_id_tag END WHERE local_id = ?2",
        (token, local_tx),
    )
    conn.execute(
        "UPDATE outbox SET body = json_remove(body, '$.id_tag') WHERE local_tx = ?2 AND done_at IS NOT NULL "
        "AND json_valid(body) AND json_extract(body, '$.id_tag') = ?1 COLLATE NOCASE",
        (token, local_tx),
    )


def _write_note(conn: sqlite3.Connection, name: str, value: Any) -> None:
    conn.execute("INSERT INTO notes(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                 (name, _dump(value)))


def _settle_earlier_samples(conn: sqlite3.Connection, seq: int) -> None:
    """Entries are delivered strictly in order, so a durable acknowledgement of ``seq``
    proves every meter sample before it was answered too: their lazily committed
    acknowledgements, which a power cut may have taken, are made durable with it, so
    that no MeterValues is sent again after its transaction's stop."""
    conn.execute(
        "UPDATE outbox SET done_at = ?, outcome = 'acked' WHERE seq < ? AND done_at IS NULL AND kind = ?",
        (utc_now(), seq, METER_SAMPLE),
    )


def _renumber(conn: sqlite3.Connection, local_tx: int, cut: int, base: int) -> None:
    """Number the undelivered events of ``local_tx`` after outbox seq ``cut`` (none of
    them sent yet) in order from ``base``, closing the gaps shedding left, and count them
    in the transaction's events."""
    rows = conn.execute(
        "SELECT seq, body FROM outbox WHERE local_tx = ? AND done_at IS NULL AND seq > ? ORDER BY seq",
        (local_tx, cut),
    ).fetchall()
    for n, row in enumerate(rows, start=base):
        body = json.loads(row["body"])
        if body.get("n") != n:
            body["n"] = n
            conn.execute("UPDATE outbox SET body = ? WHERE seq = ?", (_dump(body), row["seq"]))
    conn.execute("UPDATE transactions SET events = ? WHERE local_id = ?", (base + len(rows), local_tx))


def _thin(rows: list[Any], limit: int) -> list[Any]:
    """At most ``limit`` rows, evenly spread over the whole list, the last one included."""
    if len(rows) <= limit:
        return rows
    step = len(rows) / limit
    return [rows[min(len(rows) - 1, int((i + 1) * step) - 1)] for i in range(limit)]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _compact(samples: list[Sample]) -> list[list[Any]]:
    """Samples as the side file notes them: ``[measurand, value, unit(, phase)]``, a
    third of the bytes of their JSON objects (most of what a charger sampling every
    second writes)."""
    return [[s.measurand, s.value, s.unit, s.phase] if s.phase else [s.measurand, s.value, s.unit] for s in samples]


def _expand(noted: Any) -> list[dict[str, Any]]:
    """The samples' JSON objects (Sample.to_json) from a side-file line; TypeError if
    the line does not hold samples."""
    if not isinstance(noted, list):
        raise TypeError("not a list of samples")
    samples = []
    for item in noted:
        if not (isinstance(item, list) and len(item) in (3, 4) and isinstance(item[0], str)
                and isinstance(item[1], (int, float)) and not isinstance(item[1], bool)
                and all(isinstance(f, str) and f for f in item[2:])):
            raise TypeError("not a sample")
        samples.append(Sample(*item).to_json())
    return samples


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _undelivered(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(SUM(LENGTH(body)), 0) FROM outbox WHERE done_at IS NULL").fetchone()[0])


def _shifted(stamp: str, seconds: float) -> str:
    return iso(parse_iso(stamp) + timedelta(seconds=seconds))
