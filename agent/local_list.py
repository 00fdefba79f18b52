"""The local authorization list: idTags the backend sends for the charger to decide on its own.

The backend owns this list; the charger changes it only when a SendLocalList asks
(OCPP 1.6 section 3.5.2) and keeps it in the state database, so it survives restarts.
The rules below are those of OCPP 1.6 edition 2, sections 3.5.2 to 3.5.4, 5.10 (Get
Local List Version), 5.15 (Send Local List), 6.41 (SendLocalList.req) and the
UpdateStatus type, checked against the OCA test cases TC_042_2 and TC_043 to TC_043_3:

- **Full** replaces the whole list; a Full update without entries empties it.
- **Differential** adds or replaces each entry sent with an idTagInfo and removes each
  idTag sent without one. Its listVersion must be greater than the current version,
  otherwise the answer is VersionMismatch ("less or equal than the version number of
  the current list"). Without entries it changes nothing but the version.
- An empty list has version 0 (section 5.10), so an update that leaves the list empty
  leaves version 0, and a non-empty list cannot take version 0. OCPP 2.0.1 numbers
  every list from 1 (D01.FR.18) and an emptied list keeps the version it was sent with:
  its adapter asks for that with ``keep_empty_version``.
- **Failed**, with nothing changed: more entries in one request than
  ``SendLocalListMaxLength``, a resulting list longer than ``LocalAuthListMaxLength``, a
  request the specification forbids (the same idTag twice, a Full entry without
  idTagInfo, a negative listVersion) or one the charger cannot read (an unreadable
  expiryDate), or a storage failure.
- Each update is one SQLite transaction: a power cut mid-update leaves the old list or
  the new one, never a mix.
- idTags are compared case-insensitively, as OCPP's CiString20Type says.
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import structlog

from .session.model import AuthStatus
from .store import Database, StoreError, iso

log = structlog.get_logger(__name__)


class UpdateStatus(enum.Enum):
    """The answer to a SendLocalList."""

    ACCEPTED = "Accepted"
    FAILED = "Failed"
    NOT_SUPPORTED = "NotSupported"
    VERSION_MISMATCH = "VersionMismatch"


class UpdateRefused(Exception):
    """The request breaks a rule of the specification or a limit; it is answered Failed."""


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One idTag's idTagInfo as the backend gave it; ``expiry`` in the agent's ISO form."""

    id_tag: str
    status: AuthStatus
    parent_id_tag: str | None = None
    expiry: str | None = None

    def as_of(self, moment: datetime | None = None) -> ListEntry:
        """The entry as it stands at ``moment`` (now): an Accepted entry whose
        expiryDate has passed is Expired (section 3.5.4)."""
        if self.status is not AuthStatus.ACCEPTED or self.expiry is None:
            return self
        moment = moment or datetime.now(timezone.utc)
        if _parse_time(self.expiry) < moment:
            return ListEntry(self.id_tag, AuthStatus.EXPIRED, self.parent_id_tag, self.expiry)
        return self


@dataclass(frozen=True, slots=True)
class ListUpdate:
    """A SendLocalList that passed every check that needs no database: what to change.

    ``changes`` pairs each idTag with its new entry, or None to remove it.
    """

    full: bool
    version: int
    changes: tuple[tuple[str, ListEntry | None], ...]
    #: An update that leaves the list empty still sets ``version`` (OCPP 2.0.1), not 0.
    keep_empty_version: bool = False


def parse_update(update_type: str, list_version: int, entries: Iterable[Mapping[str, Any]] | None) -> ListUpdate:
    """Check a SendLocalList as the library hands it over (snake_case keys; the JSON
    schema already checked types and enums); raise UpdateRefused saying why not."""
    if update_type not in ("Full", "Differential"):
        raise UpdateRefused(f"updateType {update_type!r} is neither Full nor Differential")
    full = update_type == "Full"
    if isinstance(list_version, bool) or not isinstance(list_version, int) or list_version < 0:
        raise UpdateRefused(f"listVersion {list_version!r} is not a version number (0 or more)")
    changes: list[tuple[str, ListEntry | None]] = []
    seen: set[str] = set()
    for raw in entries or ():
        id_tag = raw.get("id_tag")
        if not isinstance(id_tag, str) or not id_tag.strip():
            raise UpdateRefused(f"an entry has no idTag: {dict(raw)!r}")
        folded = _fold(id_tag)
        if folded in seen:
            raise UpdateRefused(f"idTag {id_tag!r} appears more than once")
        seen.add(folded)
        info = raw.get("id_tag_info")
        if info is None:
            if full:
                raise UpdateRefused(f"idTag {id_tag!r} has no idTagInfo in a Full update")
            changes.append((id_tag, None))
            continue
        changes.append((id_tag, _entry(id_tag, info)))
    return ListUpdate(full, list_version, tuple(changes))


def _entry(id_tag: str, info: Mapping[str, Any]) -> ListEntry:
    try:
        status = AuthStatus(info.get("status"))
    except ValueError:
        raise UpdateRefused(f"idTag {id_tag!r} has status {info.get('status')!r}") from None
    expiry_text = info.get("expiry_date")
    expiry: str | None = None
    if expiry_text is not None:
        try:
            expiry = iso(_parse_time(str(expiry_text)))
        except ValueError:
            raise UpdateRefused(f"idTag {id_tag!r} has an unreadable expiryDate {expiry_text!r}") from None
    parent = info.get("parent_id_tag")
    return ListEntry(id_tag, status, str(parent) if parent is not None else None, expiry)


def _parse_time(text: str) -> datetime:
    """An ISO 8601 time as an aware UTC time; a time without an offset is UTC (as OCPP's are)."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _fold(id_tag: str) -> str:
    """The case-insensitive form of an idTag, as SQLite's NOCASE compares it (ASCII only)."""
    return id_tag.translate(_ASCII_FOLD)


_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class LocalList:
    """The list in the state database. Blocking methods run on the database thread;
    the async ones hand them to it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        #: How many entries the list holds, as last counted (:meth:`count`, and after each
        #: update): a device model report reads it on the event loop, never the database.
        self.size: int | None = None

    # ------------------------------------------------------------ async API
    async def current_version(self) -> int:
        return await self.db.run(self.version)

    async def lookup(self, id_tag: str) -> ListEntry | None:
        """The list's entry for ``id_tag`` as it stands now (expired when its time passed)."""
        entry = await self.db.run(self.entry, id_tag)
        return entry.as_of() if entry is not None else None

    async def update(
        self,
        update_type: str,
        list_version: int,
        entries: Iterable[Mapping[str, Any]] | None,
        *,
        max_length: int,
        max_request: int,
        keep_empty_version: bool = False,
    ) -> UpdateStatus:
        """SendLocalList: check the request, then apply it atomically. With
        ``keep_empty_version`` an emptied list keeps the version sent (OCPP 2.0.1)."""
        entries = list(entries or ())
        try:
            if len(entries) > max_request:
                raise UpdateRefused(f"{len(entries)} entries in one request; SendLocalListMaxLength is {max_request}")
            update = parse_update(update_type, list_version, entries)
            if keep_empty_version:
                update = replace(update, keep_empty_version=True)
        except UpdateRefused as exc:
            log.warning("local list update refused", update_type=update_type, list_version=list_version,
                        reason=str(exc))
            return UpdateStatus.FAILED
        return await self.db.run(self.apply, update, max_length)

    # ------------------------------------------------------------ database thread
    def version(self) -> int:
        rows = self.db.read("SELECT version FROM local_auth_list_version WHERE only_row = 1")
        return int(rows[0]["version"]) if rows else 0

    def entry(self, id_tag: str) -> ListEntry | None:
        rows = self.db.read("SELECT * FROM local_auth_list WHERE id_tag = ?", (id_tag,))
        if not rows:
            return None
        row = rows[0]
        return ListEntry(row["id_tag"], AuthStatus(row["status"]), row["parent_id_tag"], row["expiry"])

    def count(self) -> int:
        """How many entries the list holds (and :attr:`size` from now on)."""
        self.size = int(self.db.read("SELECT COUNT(*) AS n FROM local_auth_list")[0]["n"])
        return self.size

    def entries(self) -> list[ListEntry]:
        rows = self.db.read("SELECT * FROM local_auth_list ORDER BY id_tag")
        return [ListEntry(r["id_tag"], AuthStatus(r["status"]), r["parent_id_tag"], r["expiry"]) for r in rows]

    def apply(self, update: ListUpdate, max_length: int) -> UpdateStatus:
        """Apply a checked update in one transaction; on any refusal nothing changes."""
        try:  # the size read meanwhile is the old one: on a refusal nothing changed
            status = self.db.transaction(lambda conn: _apply(conn, update, max_length))
            self.count()
            return status
        except UpdateRefused as exc:
            log.warning("local list update refused", full=update.full, list_version=update.version, reason=str(exc))
            return UpdateStatus.FAILED
        except StoreError as exc:
            log.error("local list update failed; the list is unchanged", list_version=update.version, error=str(exc))
            return UpdateStatus.FAILED


def _apply(conn: sqlite3.Connection, update: ListUpdate, max_length: int) -> UpdateStatus:
    """The update inside its transaction; raising rolls every write back."""
    rows = conn.execute("SELECT version FROM local_auth_list_version WHERE only_row = 1").fetchall()
    current = int(rows[0][0]) if rows else 0
    if not update.full and update.version <= current:
        return UpdateStatus.VERSION_MISMATCH
    if update.full:
        conn.execute("DELETE FROM local_auth_list")
    for id_tag, entry in update.changes:
        if entry is None:
            conn.execute("DELETE FROM local_auth_list WHERE id_tag = ?", (id_tag,))
        else:
            conn.execute(
                "INSERT INTO local_auth_list(id_tag, status, parent_id_tag, expiry) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id_tag) DO UPDATE SET id_tag = excluded.id_tag, status = excluded.status, "
                "parent_id_tag = excluded.parent_id_tag, expiry = excluded.expiry",
                (id_tag, entry.status.value, entry.parent_id_tag, entry.expiry),
            )
    size = int(conn.execute("SELECT COUNT(*) FROM local_auth_list").fetchone()[0])
    if size > max_length:
        raise UpdateRefused(f"the list would hold {size} entries; LocalAuthListMaxLength is {max_length}")
    if size and update.version == 0:
        raise UpdateRefused("version 0 is reserved for an empty list")
    conn.execute(
        "INSERT INTO local_auth_list_version(only_row, version) VALUES (1, ?) "
        "ON CONFLICT(only_row) DO UPDATE SET version = excluded.version",
        (update.version if size or update.keep_empty_version else 0,),
    )
    # Section 3.5.3: identifiers known in the list are not kept in the authorization cache.
    conn.execute(
        "DELETE FROM auth_cache WHERE EXISTS "
        "(SELECT 1 FROM local_auth_list l WHERE l.id_tag = auth_cache.id_tag)"
    )
    return UpdateStatus.ACCEPTED
