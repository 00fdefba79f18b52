"""What the charger holds about one customer, and forgetting it on the backend's request
(OCPP 2.0.1 N09 Get Customer Information, N10 Clear Customer Information), said once in
neutral terms; ``agent/ocpp201/customer_handlers.py`` only spells it.

The charger knows a customer by a token only (a card's UID, a remote start's idToken);
tokens are compared case-insensitively, as everywhere else. About a token it may hold:

- its **authorization cache** entry (the backend's last answer about it);
- its **local authorization list** entry (sent by the backend, versioned);
- the **transactions** it began or stopped (the journal's records: ids, times, energy);
- **reservations** made for it.

Clearing is one durable commit (``Journal.commit``: a killed agent comes back with all of
it or none of it) and follows one rule: what the charger gathered itself it forgets, what
the backend owns or has not yet received it keeps.

- The cache entry is dropped.
- The local list entry is kept: the list is the backend's, and versioned; a charger that
  changed it on its own would make the backend's version a lie (N10.FR.02, N10.FR.03:
  the CSMS updates the list with SendLocalList).
- A reservation is kept: it is the backend's order, ended by CancelReservation, and
  leaves the charger anyway once used, cancelled or expired.
- A transaction that has ended, and whose messages the backend all has (or that will
  never be sent: given up, shed), loses the token now, from its record and its
  delivered messages. One still running keeps it (it is stopped by that token, and its
  remaining messages carry it), and so does one with a message still to send: the
  backend must receive every transaction whole. The journal notes them and clears the
  token in the commit of the delivery that settles each (``Journal.erase_token``), and
  the cache entry the backend's answer to such a transaction may have filled again with it.

The commit runs with SQLite's ``secure_delete`` on, and the WAL is checkpointed and
truncated after it, so the cleared values are overwritten in the database file rather
than left in free pages or old WAL frames. The request itself is logged with a short
salted hash of the token (:func:`token_digest`), never the token.

Matching is by token value only, whatever the idToken's type: every store here (the
cache, the local list, the journal) keys a token by its value, so two tokens of one value
and different types are one token to this charger, and a clear clears both.

Not rewritten: log lines that named the token before (they rotate away, see
``agent/logs.py``), archives already uploaded, and copies the file system or the flash
may keep below SQLite (a wear-levelled SD card keeps old blocks until it reuses them).
The report is sent from memory, not written down: a report kept on disk until delivered
would write back what a clear has just erased; one a restart cuts short is lost, and
the backend asks again.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass

from .journal import Journal, TransactionRecord
from .local_list import ListEntry, LocalList
from .store import ChargerState, Database


@dataclass(frozen=True, slots=True)
class CachedAuthorization:
    """The cache's entry for the token: the backend's last answer, as stored."""

    token: str
    status: str
    group: str | None
    expiry: str | None
    stored_at: str


@dataclass(frozen=True, slots=True)
class HeldReservation:
    reservation_id: int
    #: 0: the charger as a whole.
    connector: int
    expiry: str


@dataclass(frozen=True, slots=True)
class CustomerData:
    """Everything the charger holds about one token."""

    token: str
    cached: tuple[CachedAuthorization, ...] = ()
    listed: ListEntry | None = None
    list_version: int = 0
    transactions: tuple[TransactionRecord, ...] = ()
    reservations: tuple[HeldReservation, ...] = ()
    #: Transactions an earlier erasure of this token still waits to clear (local ids).
    waiting: tuple[int, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.cached or self.listed or self.transactions or self.reservations)


@dataclass(frozen=True, slots=True)
class Erasure:
    """What a clear did, and what it kept and why (see the module)."""

    cache_entries: int = 0
    #: Transactions whose token is gone now (local ids).
    cleared: tuple[int, ...] = ()
    #: Transactions that keep it until they ended and the backend has them (local ids).
    kept_until_delivered: tuple[int, ...] = ()
    list_entry_kept: bool = False
    reservations_kept: tuple[int, ...] = ()


#: Salts the token digests in the log: random per run, so a digest names a token within one
#: run's log (lines can be matched up) but cannot be looked up from a list of card UIDs.
_DIGEST_SALT = secrets.token_bytes(16)


def token_digest(token: str) -> str:
    """A short salted hash of ``token`` for the log, in place of the token itself."""
    return hashlib.blake2s(token.casefold().encode(), key=_DIGEST_SALT, digest_size=6).hexdigest()


class CustomerRecords:
    """Finds and clears one token's data; the journal, the cache (``ChargerState``) and
    the local list stay the owners of their tables and do the reading and writing."""

    def __init__(self, db: Database, state: ChargerState, journal: Journal, local_list: LocalList) -> None:
        self.db = db
        self.state = state
        self.journal = journal
        self.local_list = local_list

    async def find(self, token: str) -> CustomerData:
        return await self.db.run(self.find_now, token)

    async def clear(self, token: str) -> Erasure:
        return await self.db.run(self.clear_now, token)

    async def gather(self, token: str, clear: bool) -> tuple[CustomerData, Erasure | None]:
        """What is held about ``token`` and, with ``clear``, what clearing it did: read and
        cleared in one call on the database thread, so nothing the charger records in
        between (a transaction that starts) is cleared without being reported."""
        return await self.db.run(self.gather_now, token, clear)

    # ------------------------------------------------------------ database thread
    def find_now(self, token: str) -> CustomerData:
        if not token:
            return CustomerData(token)
        cached = tuple(CachedAuthorization(r["id_tag"], r["status"], r["parent_id_tag"], r["expiry"], r["updated_at"])
                       for r in self.state.authorizations_of(token))
        reservations = tuple(HeldReservation(r["reservation_id"], r["connector"], r["expiry"])
                             for r in self.state.reservations_of(token))
        folded = token.casefold()
        waiting = tuple(local for local, t in self.journal.erasures_waiting() if t.casefold() == folded)
        return CustomerData(token, cached, self.local_list.entry(token), self.local_list.version(),
                            tuple(self.journal.token_transactions(token)), reservations, waiting)

    def gather_now(self, token: str, clear: bool) -> tuple[CustomerData, Erasure | None]:
        data = self.find_now(token)
        return data, self.clear_now(token) if clear else None

    def clear_now(self, token: str) -> Erasure:
        """Clear the token's data in one durable commit (see the module), with the
        deleted values overwritten and the WAL truncated after it."""
        if not token:
            return Erasure()

        def work(conn: sqlite3.Connection) -> tuple[int, list[int], list[int]]:
            dropped = ChargerState.forget_authorization(conn, token)
            now, later = self.journal.erase_token(conn, token)
            return dropped, now, later

        dropped, now, later = self.db.erasing(lambda: self.journal.commit(work))
        return Erasure(dropped, tuple(now), tuple(later), self.local_list.entry(token) is not None,
                       tuple(r["reservation_id"] for r in self.state.reservations_of(token)))


def describe(data: CustomerData) -> list[str]:
    """What is held, one line per item, in plain words (no protocol's spelling)."""
    lines = [f"authorization cache: {c.status}{_group(c.group)}{_expiry(c.expiry)}, stored {c.stored_at}"
             for c in data.cached]
    if data.listed is not None:
        entry = data.listed
        lines.append(f"local authorization list (version {data.list_version}): {entry.status.value}"
                     f"{_group(entry.parent_id_tag)}{_expiry(entry.expiry)}")
    lines += [_transaction(t, data.token) + (" (its token goes once the backend has it whole)"
                                              if t.local_id in data.waiting else "")
              for t in data.transactions]
    lines += [f"reservation {r.reservation_id} of {'the charger' if r.connector == 0 else f'connector {r.connector}'}"
              f" until {r.expiry}" for r in data.reservations]
    return lines


def describe_erasure(erasure: Erasure, data: CustomerData) -> list[str]:
    """What a clear removed and what it kept, and why, in plain words."""
    names = {t.local_id: _name(t) for t in data.transactions}
    lines = []
    removed = []
    if erasure.cache_entries:
        removed.append("the authorization cache entry")
    if erasure.cleared:
        removed.append("the token of " + ", ".join(names.get(n, f"local {n}") for n in erasure.cleared))
    lines.append("cleared: " + ("; ".join(removed) if removed else "nothing (nothing the charger may clear)"))
    for n in erasure.kept_until_delivered:
        record = next((t for t in data.transactions if t.local_id == n), None)
        why = "running" if record is not None and record.stopped_at is None else "messages not yet delivered"
        lines.append(f"kept until the backend has it whole: the token of {names.get(n, f'local {n}')} ({why})")
    if erasure.list_entry_kept:
        lines.append("kept: the local authorization list entry (the backend's list: changed by its SendLocalList)")
    for reservation in erasure.reservations_kept:
        lines.append(f"kept: reservation {reservation} (the backend's: ended by CancelReservation, use or expiry)")
    return lines


def _name(record: TransactionRecord) -> str:
    return f"transaction {record.tx_uid or record.local_id}"


def _transaction(record: TransactionRecord, token: str) -> str:
    began = record.id_tag is not None and record.id_tag.casefold() == token.casefold()
    role = "begun" if began else "stopped"  # the journal found it by one or the other
    if record.stopped_at is None:
        wh = (record.last_meter_wh or record.meter_start_wh) - record.meter_start_wh
        span = f"running since {record.started_at}, {wh / 1000:.3f} kWh so far"
    else:
        wh = (record.meter_stop_wh or record.meter_start_wh) - record.meter_start_wh
        span = f"{record.started_at} to {record.stopped_at} ({record.stop_reason or 'Local'}), {wh / 1000:.3f} kWh"
    backend = f", backend id {record.backend_id}" if record.backend_id is not None else ""
    return f"{_name(record)}{backend} on connector {record.connector} ({role} with this token): {span}"


def _group(group: str | None) -> str:
    return f", group {group}" if group else ""


def _expiry(expiry: str | None) -> str:
    return f", expires {expiry}" if expiry else ""
