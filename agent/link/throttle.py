"""Bad input from a backend is logged once a minute per kind, with a count.

A backend that sends a broken frame every second (or a fuzzer, or an attacker) must not
write megabytes an hour to the SD card and journald: the first occurrence of each kind
is logged, later ones within the minute are only counted, and the count is logged with
the next occurrence after the minute (or when the connection ends). The number of kinds
is bounded too, so varying the input cannot grow the table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.get_logger("agent.link")

WINDOW_S = 60.0
MAX_KINDS = 64


@dataclass
class _Tally:
    window_start: float
    suppressed: int = 0


class Throttle:
    """Rate-limits log lines by kind: one line per kind per window, then a count."""

    def __init__(self, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._tallies: dict[str, _Tally] = {}
        self._flushed_at: float | None = None

    def note(self, kind: str, event: str, level: str = "warning", **fields: Any) -> bool:
        """Log ``event`` unless this ``kind`` was logged less than a window ago; True if logged."""
        now = self._clock()
        tally = self._tallies.get(kind)
        if tally is not None and now - tally.window_start < self.window_s:
            tally.suppressed += 1
            return False
        if tally is None and len(self._tallies) >= MAX_KINDS:
            kind = "(other kinds)"
            tally = self._tallies.get(kind)
            if tally is not None and now - tally.window_start < self.window_s:
                tally.suppressed += 1
                return False
        if tally is not None and tally.suppressed:
            fields["similar_since_last_logged"] = tally.suppressed
        self._tallies[kind] = _Tally(now)
        getattr(log, level)(event, **fields)
        return True

    def flush(self) -> None:
        """Log the counts not logged yet (a connection is ending), at most once a window:
        a backend that reconnects after every bad frame gets no more lines for it. The
        windows go on, so a kind seen again soon is still only counted."""
        now = self._clock()
        if self._flushed_at is not None and now - self._flushed_at < self.window_s:
            return
        counts = {kind: tally.suppressed for kind, tally in self._tallies.items() if tally.suppressed}
        if not counts:
            return
        self._flushed_at = now
        for tally in self._tallies.values():
            tally.suppressed = 0
        log.info("bad input from the backend, not logged one by one", counts=counts)
