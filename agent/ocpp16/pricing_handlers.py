"""The backend's prices and costs for the driver (OCPP 1.6 California Pricing whitepaper).

DataTransfer with vendorId ``org.openchargealliance.costmsg`` carries SetUserPrice,
RunningCost and FinalCost; their answers say Accepted, Rejected (bad data, or a
transaction this charger does not know) or UnknownMessageId. The per-language default
price keys ``DefaultPriceText,<language>`` are answered here too: their number follows
SupportedLanguages, so they are not rows of the settings table. The texts and costs go
to the screen through :class:`agent.ocpp16.pricing.Pricing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from ..link.frames import Error, Result
from . import costmsg
from .pricing import language_of

if TYPE_CHECKING:
    from .session import Ocpp16Link

log = structlog.get_logger(__name__)


class PricingHandlers:
    """Mixin of :class:`agent.ocpp16.handlers.Handlers`."""

    session: Ocpp16Link
    runtime: Any

    def answered(self, action: str, frame: Result | Error) -> None:
        # Read before any frame after it is routed: the backend sends the transaction's
        # first RunningCost right after this answer, before the charger has recorded it.
        if action == "StartTransaction" and isinstance(frame, Result):
            tx = frame.payload.get("transactionId")
            if isinstance(tx, int) and not isinstance(tx, bool):
                self.session.pricing.start_answered(tx)

    def prices_shown(self) -> bool:
        """Whether this charger takes the costmsg messages (CustomDisplayCostAndPrice)."""
        return self.session.config.bool("CustomDisplayCostAndPrice")

    async def cost_message(self, message_id: str | None, data: str | None) -> str:
        """Answer one costmsg DataTransfer (its status); never raises on what the backend sent."""
        if message_id not in costmsg.MESSAGE_IDS:
            log.info("price message unknown", vendor_id=costmsg.VENDOR_ID, message_id=message_id)
            return "UnknownMessageId"
        assert message_id is not None
        try:
            message = costmsg.parse(message_id, data)
        except costmsg.CostMessageError as exc:
            log.warning("price message rejected: bad data", message_id=message_id, reason=str(exc))
            return "Rejected"
        if isinstance(message, costmsg.UserPrice):
            return await self._user_price(message)
        if isinstance(message, costmsg.RunningCost):
            return await self._running_cost(message)
        return await self._final_cost(message)

    async def _user_price(self, message: costmsg.UserPrice) -> str:
        # The driver's running transaction if there is one; else the driver being
        # authorized right now (the price comes with the Authorize answer).
        records = await self.session.db.run(self.session.journal.transactions, 50)
        connector = next((r.connector for r in records if r.stopped_at is None and r.id_tag is not None
                          and r.id_tag.upper() == message.id_token.upper()
                          and self.runtime.local_tx.get(r.connector) == r.local_id), None)
        log.info("price message", message_id="SetUserPrice", id_tag=message.id_token, connector=connector,
                 answer="Accepted")
        self.session.pricing.personal_message(connector, message.texts, id_tag=message.id_token)
        self.session.pricing.user_price_received(message.id_token)  # an authorization waiting for it goes on
        return "Accepted"

    async def _running_cost(self, message: costmsg.RunningCost) -> str:
        record = await self.session.db.run(self.session.journal.backend_to_local, message.transaction_id)
        if record is None and await self.session.pricing.wait_start_recorded(message.transaction_id):
            # The whitepaper's first RunningCost, right after the StartTransaction answer.
            record = await self.session.db.run(self.session.journal.backend_to_local, message.transaction_id)
        pricing = self.session.pricing
        # CustomIdleFeeAfterStop: an ended transaction is billed on (idle) until its cable is pulled.
        if record is not None and record.stopped_at is not None:
            await pricing.follow_unplugs()  # a look now: the cable may be out since the last one
        idle_after_stop = record is not None and record.stopped_at is not None \
            and pricing.awaiting_unplug(record.connector) == record.local_id
        if record is None or not idle_after_stop and (
                record.stopped_at is not None or self.runtime.local_tx.get(record.connector) != record.local_id):
            log.warning("price message rejected: no such transaction running", message_id="RunningCost",
                        transaction_id=message.transaction_id)
            return "Rejected"
        log.info("price message", message_id="RunningCost", transaction_id=message.transaction_id,
                 connector=record.connector, cost=str(message.cost), state=message.state, answer="Accepted",
                 after_stop=idle_after_stop or None)
        pricing.backend_cost(record.connector, message.cost, message.texts, final=False,
                             transaction=record.tx_uid)
        pricing.follow(record.connector, record.local_id, message)
        if not idle_after_stop:  # no meter values without a transaction
            pricing.arm(record.connector, record.local_id, message.triggers)
        return "Accepted"

    async def _final_cost(self, message: costmsg.FinalCost) -> str:
        # Sent after StopTransaction was answered: the transaction has (normally) ended.
        record = await self.session.db.run(self.session.journal.backend_to_local, message.transaction_id)
        if record is None:
            log.warning("price message rejected: no such transaction", message_id="FinalCost",
                        transaction_id=message.transaction_id)
            return "Rejected"
        log.info("price message", message_id="FinalCost", transaction_id=message.transaction_id,
                 connector=record.connector, cost=str(message.cost), answer="Accepted")
        self.session.pricing.backend_cost(record.connector, message.cost, message.texts, final=True,
                                          transaction=record.tx_uid, local_tx=record.local_id)
        return "Accepted"

    # ------------------------------------------------------------ DefaultPriceText,<language>
    def with_price_texts(self, asked: list[str] | None, entries: list[dict[str, Any]],
                         unknown: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
        """GetConfiguration's answer with the ``DefaultPriceText,<language>`` keys added:
        all of the supported languages when no key is asked, else those asked."""
        pricing = self.session.pricing
        if not asked:
            return entries + [{"key": k, "readonly": False, "value": v} for k, v in pricing.price_text_keys()], unknown
        still_unknown = []
        for name in unknown:
            value = pricing.price_text_value(name)
            if value is None:
                still_unknown.append(name)
            else:
                entries.append({"key": name, "readonly": False, "value": value})
        return entries, still_unknown

    @staticmethod
    def is_price_text_key(key: str) -> bool:
        return language_of(key) is not None
