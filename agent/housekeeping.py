"""Keeps the journal bounded on a small SD card, over years and over a week offline.

Two rules, both in :class:`~agent.journal.Journal`: undelivered data stays under the
configured cap by thinning meter values (never a start or a stop), and what the backend
acknowledged is forgotten after the retention period. They run at start-up and then
periodically, off the event loop like every database access.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import structlog

from . import security_events
from .journal import Journal
from .store import Database, StoreError, iso

log = structlog.get_logger(__name__)

#: How often the cap is checked: at the densest sampling (1 s, a few hundred bytes per
#: sample) a minute adds far less than any sensible cap.
CAP_CHECK_S = 60.0
#: How often acknowledged messages past the retention are removed.
PRUNE_EVERY_S = 3600.0


class JournalKeeper:
    def __init__(self, db: Database, journal: Journal, max_bytes: int, keep_days: int,
                 wake: Callable[[], None] | None = None) -> None:
        self.db = db
        #: Wakes the link's drain when held samples may be sent.
        self._wake = wake or (lambda: None)
        self.journal = journal
        self.max_bytes = max_bytes
        self.keep = timedelta(days=keep_days)
        self._warned_over = False
        #: The journal was found full at the last check (MemoryExhaustion was raised).
        self._exhausted = False

    async def run(self) -> None:
        since_prune = PRUNE_EVERY_S  # prune at start-up too
        while True:
            try:
                await self.enforce_cap()
                # A customer's erasure waiting for a transaction settled by other means than
                # a delivery (agent.customer_data): cleared within a cycle.
                await self.db.run(self.journal.settle_erasures)
                if since_prune >= PRUNE_EVERY_S:
                    await self.prune()
                    since_prune = 0.0
            except StoreError as exc:
                # The charger's own journal writes report storage trouble as a fault;
                # housekeeping just tries again later.
                log.error("journal housekeeping failed", error=str(exc))
            await asyncio.sleep(CAP_CHECK_S)
            since_prune += CAP_CHECK_S

    async def keep_synced(self) -> None:
        """Make the journal's side file durable and commit what it holds when they are due
        (see agent.journal), and wake the link when held samples may be sent."""
        window = self.journal.sync_seconds
        # A second at most between looks: a sample held meanwhile is still on time.
        nap = min(1.0, window / 2) if window > 0 else 60.0
        while True:
            full, side = self.journal.sync_due(), self.journal.side_due()
            try:
                if full is not None and full <= 0:
                    await self.db.run(self.journal.sync)
                    self._wake()
                elif side is not None and side <= 0:
                    if await self.db.run(self.journal.make_durable):
                        self._wake()
                else:
                    await asyncio.sleep(min([nap, *(d for d in (full, side) if d is not None)]))
            except StoreError as exc:
                # What is held stays held (and noted); the next durable write or this loop
                # tries again.
                log.error("journal sync failed", error=str(exc))
                await asyncio.sleep(1.0)

    async def enforce_cap(self) -> int:
        shed = await self.db.run(self.journal.shed_to, self.max_bytes)
        if shed:
            log.warning("journal over its cap: thinned undelivered meter values", shed=shed,
                        cap_bytes=self.max_bytes)
        size = await self.db.run(self.journal.undelivered_bytes)
        over = size > self.max_bytes
        if over and not self._warned_over:
            log.error("journal over its cap with only starts and stops left; keeping them all",
                      undelivered_bytes=size, cap_bytes=self.max_bytes)
        self._warned_over = over
        # Full until it has a tenth of its room back: thinning keeps it just under the cap.
        exhausted = bool(shed) or over or (self._exhausted and size > 0.9 * self.max_bytes)
        if exhausted and not self._exhausted:
            # Once each time the journal fills up (not once a minute while it stays full).
            what = f"thinned {shed} undelivered meter values" if shed else "only starts and stops left"
            await self.db.run(self.journal.record_security_event, security_events.MEMORY_EXHAUSTION,
                              f"journal over its cap of {self.max_bytes} bytes: {what}")
            self._wake()
        self._exhausted = exhausted
        return shed

    async def prune(self) -> int:
        before = iso(datetime.now(timezone.utc) - self.keep)
        removed = await self.db.run(self.journal.prune_delivered, before)
        if removed:
            log.info("forgot delivered journal entries", removed=removed, before=before)
        return removed
