"""The backend's messages for the screen, kept in the state database (they survive a
reboot: OCPP 2.0.1 DisplayMessage, TC_O_20_CS) and chosen by priority, state and time
window.

Every message is one row (its id the key: a message put with an id already held
replaces it, O06) written durably before the backend is answered, and a copy is held in
memory so that :meth:`MessageBoard.showing`, which the screen calls on every redraw, is
cheap and does no I/O. Writes run on the database thread; the copy is replaced whole at
each write, so a reader on the event loop never sees half a change.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from ..store import Database, iso, parse_iso
from . import DriverMessage

#: The order of priorities on the screen (O01: AlwaysFront before InFront before NormalCycle).
PRIORITIES = ("AlwaysFront", "InFront", "NormalCycle")
#: The screen states a message may be limited to (2.0.1 MessageStateEnumType).
STATES = ("Charging", "Faulted", "Idle", "Unavailable")


class MessageBoard:
    """Messages by id; a message put with an id already held replaces it (O06)."""

    def __init__(self, db: Database) -> None:
        """Read what earlier runs left (blocking: the database must be open)."""
        self._db = db
        rows = db.read("SELECT id, placed, body FROM display_messages ORDER BY id")
        #: id -> (placing order, message); replaced whole on every change (see the module).
        self._held: dict[int, tuple[int, DriverMessage]] = {
            int(r["id"]): (int(r["placed"]), _message(int(r["id"]), json.loads(r["body"]))) for r in rows}

    # ------------------------------------------------------------ writes (blocking)
    def put(self, message: DriverMessage) -> None:
        """Keep ``message`` (durably) in place of any with its id. It counts as the newest
        placed: of two AlwaysFront messages the later one is in front (TC_O_24_CS)."""
        placed = max((p for p, _ in self._held.values()), default=0) + 1
        self._db.write("INSERT INTO display_messages(id, placed, body) VALUES (?, ?, ?) "
                       "ON CONFLICT(id) DO UPDATE SET placed = excluded.placed, body = excluded.body",
                       (message.id, placed, json.dumps(_body(message))))
        self._held = {**self._held, message.id: (placed, message)}

    def remove(self, message_id: int) -> bool:
        """Forget one message; False when none has that id."""
        if message_id not in self._held:
            return False
        self._db.write("DELETE FROM display_messages WHERE id = ?", (message_id,))
        self._held = {k: v for k, v in self._held.items() if k != message_id}
        return True

    def end_transaction(self, transaction: str) -> None:
        """Forget the messages limited to a transaction that has ended (O02)."""
        self._drop([m.id for _, m in self._held.values() if m.transaction == transaction])

    async def forget_transaction(self, transaction: str) -> None:
        """:meth:`end_transaction` on the database thread (for a caller on the event loop)."""
        await self._db.run(self.end_transaction, transaction)

    def expire(self, now: datetime) -> list[int]:
        """Forget the messages whose end time has passed (TC_O_14_CS: a message is removed
        after its endDateTime, not only hidden); returns their ids."""
        gone = [m.id for _, m in self._held.values() if m.end is not None and m.end <= now]
        self._drop(gone)
        return gone

    def _drop(self, ids: list[int]) -> None:
        if not ids:
            return

        def work(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM display_messages WHERE id = ?", [(i,) for i in ids])

        self._db.transaction(work)
        self._held = {k: v for k, v in self._held.items() if k not in ids}

    # ------------------------------------------------------------ reads (no I/O)
    def messages(self) -> list[DriverMessage]:
        """Every message held, by id."""
        return [m for _, (_, m) in sorted(self._held.items())]

    def get(self, message_id: int) -> DriverMessage | None:
        """The message held under ``message_id``, if any."""
        held = self._held.get(message_id)
        return None if held is None else held[1]

    def __len__(self) -> int:
        return len(self._held)

    def showing(self, now: datetime, connector: int, state: str, transaction: str | None) -> list[DriverMessage]:
        """The messages to show now on ``connector`` whose screen state is ``state``
        ("Charging", "Faulted", "Idle", "Unavailable") and whose running transaction is
        ``transaction``: inside their time window, matching state, connector and
        transaction; AlwaysFront first (the latest placed first), then InFront, then
        NormalCycle (each in the order placed; the screen cycles NormalCycle ones with its
        own pages)."""
        chosen = [(placed, m) for placed, m in self._held.values()
                  if (m.start is None or m.start <= now) and (m.end is None or now < m.end)
                  and (m.state is None or m.state == state)
                  and (not m.evse or m.evse == connector)
                  and (m.transaction is None or m.transaction == transaction)]

        def order(item: tuple[int, DriverMessage]) -> tuple[int, int]:
            placed, message = item
            rank = PRIORITIES.index(message.priority) if message.priority in PRIORITIES else len(PRIORITIES)
            return rank, -placed if message.priority == "AlwaysFront" else placed

        return [m for _, m in sorted(chosen, key=order)]


def _body(message: DriverMessage) -> dict[str, Any]:
    return {"text": message.text, "priority": message.priority, "format": message.format,
            "language": message.language, "state": message.state,
            "start": None if message.start is None else iso(message.start),
            "end": None if message.end is None else iso(message.end),
            "transaction": message.transaction, "evse": message.evse}


def _message(message_id: int, body: dict[str, Any]) -> DriverMessage:
    return DriverMessage(
        id=message_id, text=body["text"], priority=body["priority"], format=body["format"],
        language=body.get("language"), state=body.get("state"),
        start=None if body.get("start") is None else parse_iso(body["start"]),
        end=None if body.get("end") is None else parse_iso(body["end"]),
        transaction=body.get("transaction"), evse=body.get("evse"))
