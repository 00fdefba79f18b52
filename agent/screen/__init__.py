"""What the driver at the station is told: the screen, in words, per connector.

CONTRACT STUB: :class:`DriverFeedback`'s methods below are what the protocol adapters
call with what the backend says to the driver; the screen work implements them (and the
message board under O01-O06 / the 1.6 pricing texts). Adapters reach it as
``runtime.feedback``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class DriverMessage:
    """A message from the backend for the screen (OCPP 2.0.1 MessageInfo, in neutral terms).

    ``priority``: "AlwaysFront", "InFront" or "NormalCycle". ``state``: shown only while
    the charger/connector is "Charging", "Faulted", "Idle" or "Unavailable" (None: any).
    ``transaction``: the charger's transaction id (2.0.1 transactionId) it is limited to.
    ``evse``: the connector it is for (None or 0: the whole charger)."""

    id: int
    text: str
    priority: str = "NormalCycle"
    format: str = "UTF8"
    language: str | None = None
    state: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    transaction: str | None = None
    evse: int | None = None


class DriverFeedback:
    """The screen's owner (see the module). Every method is synchronous and cheap: it
    records what to show and wakes the screen task; none does I/O."""

    def personal_message(self, connector: int | None, text: str, language: str | None = None) -> None:
        """A text about the driver's token from the backend (2.0.1 personalMessage in an
        IdTokenInfo; 1.6 SetUserPrice's priceText): shown with the authorization's
        answer and while the session runs. ``connector`` None: the one being authorized."""
        raise NotImplementedError

    def backend_cost(self, connector: int, total: Decimal, text: str | None = None, final: bool = False) -> None:
        """The backend's cost of the running (``final`` False) or just ended session on
        ``connector``: shown instead of the local tariff's (2.0.1 CostUpdated/totalCost,
        1.6 RunningCost/FinalCost). ``text``: the backend's own words for it, if any."""
        raise NotImplementedError

    def fallback_texts(self, price: str | None = None, total_cost: str | None = None) -> None:
        """The texts shown when the backend cannot give prices (offline): 2.0.1
        TariffFallbackMessage/TotalCostFallbackMessage, 1.6 DefaultPriceText."""
        raise NotImplementedError
