"""Tariffs and costs from a 2.0.1 backend for the driver at the station (OCPP 2.0.1
TariffAndCost, I01-I06), handed to the screen's owner (``runtime.feedback``, a
:class:`agent.screen.DriverFeedback`) in neutral terms:

- an IdTokenInfo's ``personalMessage`` (AuthorizeResponse, I01; TransactionEventResponse)
  and a TransactionEventResponse's ``updatedPersonalMessage`` (I03) ->
  ``personal_message`` (cut to ``DisplayMessageCtrlr.PersonalMessageSize`` characters);
- a TransactionEventResponse's ``totalCost`` -> ``backend_cost``, ``final`` when it
  answered the Ended event (I03, TC_I_02_CS), else the running cost (TC_I_07_CS);
- CostUpdated (I02, TC_I_01_CS) -> ``backend_cost`` for the transaction's EVSE (one that
  ended: ``final``). An unknown transaction is still answered (the response has no
  status) and logged;
- ``TariffCostCtrlr.TariffFallbackMessage`` and ``TotalCostFallbackMessage`` ->
  ``fallback_texts``, once the link starts and whenever a backend sets either.

``TariffCostCtrlr.Enabled`` (instance Tariff) false stops the personal messages, (instance
Cost) false the costs. Costs reach the screen with the text they are shown as: two
decimals and ``TariffCostCtrlr.Currency``. A screen that fails is logged; it never
costs the backend its answer nor the journal its order.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import structlog
from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from ..journal import TX_STOPPED, Entry
from ..runtime_settings.keys import Value

if TYPE_CHECKING:
    from ..charger import ChargerRuntime
    from ..runtime_settings.configuration import Configuration
    from .session import Ocpp201Link

log = structlog.get_logger(__name__)

CENTS = Decimal("0.01")
#: The settings whose change the screen is told of at once.
FALLBACK_SETTINGS = frozenset({"TariffCostCtrlr.TariffFallbackMessage", "TariffCostCtrlr.TotalCostFallbackMessage"})


def _told(what: str, call: Any, *args: Any, **kwargs: Any) -> None:
    """Hand the screen something; its failure is logged, never raised into the link."""
    try:
        call(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the screen is the driver's, the link must go on
        log.error("the screen could not take the backend's words", what=what, error=repr(exc))


def tell_personal_message(runtime: ChargerRuntime, config: Configuration, connector: int | None,
                          message: dict[str, Any] | None) -> None:
    """A personalMessage or updatedPersonalMessage (MessageContent, snake_case) to the screen."""
    if not message or not config.bool("TariffCostCtrlr.Enabled.Tariff"):
        return
    text = str(message.get("content", ""))[:config.int("DisplayMessageCtrlr.PersonalMessageSize")]
    language = message.get("language") or str(config["DisplayMessageCtrlr.Language"]) or None
    # Its length only: a personal message may say things about the driver.
    log.info("backend's message for the driver", connector=connector, characters=len(text), language=language)
    _told("personal message", runtime.feedback.personal_message, connector, text, language)


def cost_text(total: Decimal, config: Configuration) -> str:
    """A cost as shown: two decimals (rounded half up, as every other amount the driver
    sees) and the Currency, e.g. ``12.40 EUR``."""
    currency = config["TariffCostCtrlr.Currency"]
    return f"{total.quantize(CENTS, rounding=ROUND_HALF_UP)} {currency}".strip()


def tell_cost(runtime: ChargerRuntime, config: Configuration, connector: int, total: Any, final: bool,
              transaction: str | None = None) -> None:
    """A totalCost (a JSON number) to the screen, as a Decimal (money is never a float),
    for ``transaction`` (the transactionId): the screen drops one of a session it no
    longer shows (a late answer after a link failure)."""
    if not config.bool("TariffCostCtrlr.Enabled.Cost"):
        return
    try:
        amount = Decimal(str(total))
        if not amount.is_finite():
            raise InvalidOperation(total)
        text = cost_text(amount, config)  # InvalidOperation for more digits than money has
    except (InvalidOperation, ValueError):
        log.warning("backend's cost is no amount of money: not shown", connector=connector, total_cost=repr(total))
        return
    log.info("backend's cost for the driver", connector=connector, total_cost=text, final=final)
    _told("cost", runtime.feedback.backend_cost, connector, amount, text, final, transaction=transaction)


def tell_fallback_texts(runtime: ChargerRuntime, config: Configuration) -> None:
    """TariffFallbackMessage and TotalCostFallbackMessage to the screen (empty: none)."""
    price = str(config["TariffCostCtrlr.TariffFallbackMessage"]) or None
    total = str(config["TariffCostCtrlr.TotalCostFallbackMessage"]) or None
    _told("fallback texts", runtime.feedback.fallback_texts, price, total)


def follow_fallback_texts(runtime: ChargerRuntime, config: Configuration) -> None:
    """Tell the screen the fallback texts whenever a backend sets one (SetVariables)."""
    def changed(name: str, _value: Value) -> None:
        if name in FALLBACK_SETTINGS:
            tell_fallback_texts(runtime, config)
    config.subscribe(changed)


def transaction_event_answered(runtime: ChargerRuntime, config: Configuration, entry: Entry, answer: Any) -> None:
    """What a TransactionEventResponse says for the driver (its personal messages, its cost)."""
    connector = entry.body.get("connector") if isinstance(entry.body, dict) else None
    info = getattr(answer, "id_token_info", None) or {}
    tell_personal_message(runtime, config, connector, info.get("personal_message"))
    tell_personal_message(runtime, config, connector, getattr(answer, "updated_personal_message", None))
    total = getattr(answer, "total_cost", None)
    if total is not None and connector is not None:
        tell_cost(runtime, config, connector, total, final=entry.kind == TX_STOPPED, transaction=entry.tx_uid)


class TariffCostHandlers:
    """The block's request (CostUpdated); a mixin of :class:`agent.ocpp201.handlers.Handlers`."""

    session: Ocpp201Link
    runtime: ChargerRuntime

    @on(Action.cost_updated)
    async def on_cost_updated(self, total_cost: float, transaction_id: str, **_: Any) -> Any:
        record = await self.runtime.db.run(self.runtime.journal.by_uid, transaction_id)
        if record is None:
            log.warning("cost for a transaction this charger does not know: not shown", transaction_id=transaction_id,
                        total_cost=str(total_cost))
            return call_result.CostUpdated()
        tell_cost(self.runtime, self.session.config, record.connector, total_cost, final=record.stopped_at is not None,
                  transaction=transaction_id)
        return call_result.CostUpdated()
