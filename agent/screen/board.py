"""The backend's messages for the screen, kept in the state database (they survive a
reboot: OCPP 2.0.1 O01.FR.?? / TC_O_20_CS) and chosen by priority, state and time window.

CONTRACT STUB: the 2.0.1 DisplayMessage work implements the bodies (and may add
methods, never rename these); the screen work reads :meth:`showing`.
"""

from __future__ import annotations

from datetime import datetime

from . import DriverMessage


class MessageBoard:
    """Messages by id; a message put with an id already held replaces it (O06)."""

    def put(self, message: DriverMessage) -> None:
        """Keep ``message`` (durably) in place of any with its id."""
        raise NotImplementedError

    def remove(self, message_id: int) -> bool:
        """Forget one message; False when none has that id."""
        raise NotImplementedError

    def messages(self) -> list[DriverMessage]:
        """Every message held, by id."""
        raise NotImplementedError

    def end_transaction(self, transaction: str) -> None:
        """Forget the messages limited to a transaction that has ended."""
        raise NotImplementedError

    def showing(self, now: datetime, connector: int, state: str, transaction: str | None) -> list[DriverMessage]:
        """The messages to show now on ``connector`` whose screen state is ``state``
        ("Charging", "Faulted", "Idle", "Unavailable") and whose running transaction is
        ``transaction``: inside their time window, matching state, connector and
        transaction; AlwaysFront first, then InFront, then NormalCycle (the screen cycles
        NormalCycle ones with its own pages)."""
        raise NotImplementedError
