"""The backend's messages for the screen (OCPP 2.0.1 DisplayMessage, O01-O06), spelled
over the core's :class:`agent.screen.board.MessageBoard` (``runtime.message_board``),
which keeps them in the state database and picks what the screen shows.

SetDisplayMessage (O01, O02, O06) is answered, in this order:

- **Rejected** while ``DisplayMessageCtrlr.Enabled`` is false, for a time that cannot be
  read, for a ``display`` naming an EVSE this charger does not have, for a new id when
  ``DisplayMessageCtrlr.DisplayMessages`` maxLimit messages are held, or when the state
  database cannot take it;
- **NotSupportedMessageFormat** for a format ``DisplayMessageCtrlr.SupportedFormats``
  does not list (a character LCD renders neither HTML nor a URI, TC_O_19_CS);
- **NotSupportedPriority** for a priority ``SupportedPriorities`` does not list (TC_O_17_CS);
- **UnknownTransaction** for a ``transactionId`` that names no running transaction (O02,
  TC_O_10_CS);
- **Accepted** otherwise: the message is stored (durably, before the answer) in place of
  any with its id (O06). Every state of MessageStateEnumType is supported, so
  NotSupportedState is never the answer (TC_O_18_CS).

A message limited to a transaction shows on that transaction's EVSE and is removed when
the transaction ends (O02); one whose ``endDateTime`` passed is removed too (the schema:
"after this date/time this message SHALL be removed"), so GetDisplayMessages no longer
reports it. A message given without a language takes ``DisplayMessageCtrlr.Language``.

GetDisplayMessages (O03, O04) answers Accepted when a message matches all the criteria
given (ids, priority, state), then sends them in NotifyDisplayMessages pages after the
reply (``tbc`` true on all but the last); Unknown when none does (and sends nothing).
ClearDisplayMessage (O05) answers Accepted or Unknown.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import structlog
from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from .. import clock
from ..screen import DriverMessage
from ..store import StoreError, iso
from .device_model import DISPLAY_MESSAGES_MAX

if TYPE_CHECKING:
    from ..charger import ChargerRuntime
    from ..screen.board import MessageBoard
    from .session import Ocpp201Link

log = structlog.get_logger(__name__)

#: Messages per NotifyDisplayMessages (each up to 512 characters of content).
NOTIFY_PAGE = 10


def _info(reason: str, detail: str) -> dict[str, str]:
    return {"reason_code": reason, "additional_info": detail[:512]}


def parse_time(text: str | None) -> datetime | None:
    """A MessageInfo time, aware (a time without a zone is read as UTC); ValueError if unreadable."""
    if text is None:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def message_info(message: DriverMessage) -> dict[str, Any]:
    """A held message as a MessageInfo (snake_case, as the library serialises it)."""
    content: dict[str, Any] = {"format": message.format, "content": message.text}
    if message.language:
        content["language"] = message.language
    info: dict[str, Any] = {"id": message.id, "priority": message.priority, "message": content}
    if message.state is not None:
        info["state"] = message.state
    if message.start is not None:
        info["start_date_time"] = iso(message.start)
    if message.end is not None:
        info["end_date_time"] = iso(message.end)
    if message.transaction is not None:
        info["transaction_id"] = message.transaction
    if message.evse and message.transaction is None:
        info["display"] = {"name": "Display", "evse": {"id": message.evse}}
    return info


def notify_pages(messages: list[DriverMessage], request_id: int) -> list[dict[str, Any]]:
    """NotifyDisplayMessages payloads for ``messages``, NOTIFY_PAGE to a page."""
    chunks = [messages[i:i + NOTIFY_PAGE] for i in range(0, len(messages), NOTIFY_PAGE)]
    return [{"request_id": request_id, "message_info": [message_info(m) for m in chunk], "tbc": n < len(chunks) - 1}
            for n, chunk in enumerate(chunks)]


def matching(messages: list[DriverMessage], ids: list[int] | None, priority: str | None,
             state: str | None) -> list[DriverMessage]:
    """The messages meeting every criterion given (O04)."""
    return [m for m in messages if (not ids or m.id in ids) and (priority is None or m.priority == priority)
            and (state is None or m.state == state)]


class DisplayMessageHandlers:
    """The block's requests; a mixin of :class:`agent.ocpp201.handlers.Handlers`."""

    session: Ocpp201Link
    runtime: ChargerRuntime

    if TYPE_CHECKING:
        def after_reply(self, callback: Any) -> None: ...

    @property
    def _board(self) -> MessageBoard:
        return self.runtime.message_board

    async def _tidy(self) -> dict[str, int]:
        """Drop what expired or whose transaction ended; the running transactions' ids
        and their EVSEs."""
        running = {r.tx_uid: r.connector for r in await self.runtime.db.run(self.runtime.journal.open_transactions)
                   if r.tx_uid is not None}
        board = self._board
        await self.runtime.db.run(board.expire, clock.current().now())
        for ended in {m.transaction for m in board.messages() if m.transaction is not None} - running.keys():
            await self.runtime.db.run(board.end_transaction, ended)  # type: ignore[arg-type]
        return running

    @on(Action.set_display_message)
    async def on_set_display_message(self, message: dict[str, Any], **_: Any) -> Any:
        config = self.session.config
        content = message.get("message") or {}
        message_id, priority = message.get("id"), message.get("priority")
        answer, why = self._refusal(message, content)
        if answer is not None:
            log.info("display message refused", id=message_id, answer=answer, why=why)
            return call_result.SetDisplayMessage(status=answer, status_info=_info(
                "Disabled" if answer == "Rejected" else "UnsupportedParam", why))
        try:
            start, end = parse_time(message.get("start_date_time")), parse_time(message.get("end_date_time"))
        except ValueError as exc:
            log.info("display message refused", id=message_id, answer="Rejected", why=str(exc))
            return call_result.SetDisplayMessage(status="Rejected", status_info=_info("InvalidValue", str(exc)))
        try:
            running = await self._tidy()
        except StoreError as exc:
            return self._store_failed(message_id, exc)
        transaction = message.get("transaction_id")
        evse = (message.get("display") or {}).get("evse", {}).get("id")
        if transaction is not None:
            if transaction not in running:
                log.info("display message refused", id=message_id, answer="UnknownTransaction",
                         transaction_id=transaction)
                return call_result.SetDisplayMessage(status="UnknownTransaction", status_info=_info(
                    "InvalidValue", f"no transaction {transaction} runs on this charger"))
            evse = running[transaction]
        elif evse and evse not in self.runtime.numbers:
            return call_result.SetDisplayMessage(status="Rejected", status_info=_info(
                "UnknownEvse", f"this charger has EVSEs 1 to {len(self.runtime.numbers)}"))
        board = self._board
        if board.get(message_id) is None and len(board) >= DISPLAY_MESSAGES_MAX:
            return call_result.SetDisplayMessage(status="Rejected", status_info=_info(
                "InvalidValue", f"{DISPLAY_MESSAGES_MAX} messages are held (DisplayMessages maxLimit): clear one first"))
        held = DriverMessage(
            id=message_id, text=content.get("content", ""), priority=priority, format=content.get("format", "UTF8"),
            language=content.get("language") or str(config["DisplayMessageCtrlr.Language"]) or None,
            state=message.get("state"), start=start, end=end, transaction=transaction, evse=evse)
        try:
            await self.runtime.db.run(board.put, held)
        except StoreError as exc:
            return self._store_failed(message_id, exc)
        log.info("display message set", id=message_id, priority=priority, state=held.state, evse=evse,
                 transaction_id=transaction, start=message.get("start_date_time"), end=message.get("end_date_time"))
        return call_result.SetDisplayMessage(status="Accepted")

    def _refusal(self, message: dict[str, Any], content: dict[str, Any]) -> tuple[str | None, str]:
        """The answer to a message this charger will not take, and why; (None, "") if it will."""
        config = self.session.config
        if not config.bool("DisplayMessageCtrlr.Enabled"):
            return "Rejected", "DisplayMessageCtrlr.Enabled is false: no message is taken"
        formats = config.list("DisplayMessageCtrlr.SupportedFormats")
        if content.get("format") not in formats:
            return "NotSupportedMessageFormat", f"format {content.get('format')} is not one of {', '.join(formats)}"
        priorities = config.list("DisplayMessageCtrlr.SupportedPriorities")
        if message.get("priority") not in priorities:
            return "NotSupportedPriority", f"priority {message.get('priority')} is not one of {', '.join(priorities)}"
        return None, ""

    @staticmethod
    def _store_failed(message_id: Any, exc: StoreError) -> Any:
        log.error("display message not kept: state database", id=message_id, error=str(exc))
        return call_result.SetDisplayMessage(status="Rejected", status_info=_info(
            "InternalError", "the charger cannot store messages now"))

    @on(Action.get_display_messages)
    async def on_get_display_messages(self, request_id: int, id: list[int] | None = None,  # noqa: A002 - the field's name
                                      priority: str | None = None, state: str | None = None, **_: Any) -> Any:
        try:
            await self._tidy()
        except StoreError as exc:
            log.error("display messages not tidied: state database", error=str(exc))
        found = matching(self._board.messages(), id, priority, state)
        log.info("display messages asked for", request_id=request_id, ids=id, priority=priority, state=state,
                 found=len(found))
        if not found:
            return call_result.GetDisplayMessages(status="Unknown")
        pages = notify_pages(found, request_id)
        self.after_reply(lambda: self.session.send_later("NotifyDisplayMessages", pages))
        return call_result.GetDisplayMessages(status="Accepted")

    @on(Action.clear_display_message)
    async def on_clear_display_message(self, id: int, **_: Any) -> Any:  # noqa: A002 - the field's name
        try:
            removed = await self.runtime.db.run(self._board.remove, id)
        except StoreError as exc:
            log.error("display message not cleared: state database", id=id, error=str(exc))
            return call_result.ClearDisplayMessage(status="Unknown", status_info=_info(
                "InternalError", "the charger cannot change its messages now"))
        log.info("display message cleared", id=id, answer="Accepted" if removed else "Unknown")
        return call_result.ClearDisplayMessage(status="Accepted" if removed else "Unknown")
