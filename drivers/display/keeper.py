"""Keeps showing screens on a display that may come and go, logging it once each way.

A display is a convenience, not a safety device: one that fails must never stop the
charger, and one that stays unplugged for a week must not write a log line per screen
(DESIGN.md 3.5). The driver raises :class:`DeviceError` on each failed show and
initialises the display again on the next; this wrapper turns that into one warning
when it fails and one note when it is back.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from drivers.protocols import DeviceError, Display

log = structlog.get_logger(__name__)


class DisplayKeeper:
    """Shows screens on ``display``; :meth:`open` and :meth:`show` never raise a DeviceError."""

    def __init__(self, display: Display) -> None:
        self.display = display
        #: The error the display last failed with; None while it works.
        self.failure: str | None = None

    async def open(self) -> bool:
        """Open the display; False (logged) when it does not answer yet."""
        try:
            await self.display.open()
        except DeviceError as exc:
            self._failed(exc)
            return False
        self._working()
        return True

    async def show(self, lines: Sequence[str]) -> bool:
        """Show ``lines``; False while the display does not answer (the next call tries again)."""
        try:
            await self.display.show(lines)
        except DeviceError as exc:
            self._failed(exc)
            return False
        self._working()
        return True

    async def close(self) -> None:
        await self.display.close()

    def _failed(self, exc: DeviceError) -> None:
        if self.failure is None:
            log.warning("display not answering; the charger works on, the screen is redrawn when it is back",
                        error=str(exc))
        self.failure = str(exc)

    def _working(self) -> None:
        if self.failure is not None:
            log.info("display answering again; screen redrawn", was=self.failure)
        self.failure = None
