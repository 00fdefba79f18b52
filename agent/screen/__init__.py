"""What the driver at the station is told: the screen, in words, per connector.

:class:`DriverFeedback` (agent.screen.feedback) owns the screen: the protocol adapters
call its ``personal_message``, ``backend_cost`` and ``fallback_texts`` with what the
backend says to the driver, and reach it as ``runtime.feedback``. The backend's messages
(OCPP 2.0.1 DisplayMessage) live on the board (agent.screen.board), which the screen reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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


from .feedback import DriverFeedback  # noqa: E402 - it composes DriverMessage, defined above

__all__ = ["DriverFeedback", "DriverMessage"]
