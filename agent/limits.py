"""The limit core: every source of a limit feeds it, and it alone decides what current
each connector may offer.

Sources: the charging profiles installed by a backend (``agent.charging_profiles``,
whatever protocol brought them), the building's share (the site limiter), and the
plugged cable's rating (proximity pilot). The connector's configured maximum is the
session machine's own ceiling (:class:`agent.session.model.Policy`); this core hands it
the lowest of the rest as a :class:`LimitChanged` event, and the machine offers the
minimum, or nothing under IEC 61851's 6 A.

The profiles are held here and stored durably: each change is written whole before it
applies, so a restart or a power cut finds the set before or the set after it. A
ChargePointMaxProfile limits the whole charger: it is shared equally between the
connectors running a transaction. The runtime's timer wakes at the next instant a
profile's period starts or ends (a recurrence turning over at midnight included), so
a change reaches the pilot within a second of its time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import structlog

from .charging_profiles import (
    CompositeSchedule,
    Electrical,
    Profile,
    ProfileLimits,
    Purpose,
    RateUnit,
    check,
    clear,
    composite_schedule,
    end_transaction,
    install,
)
from .charging_profiles.composite import limit_now, next_change
from .charging_profiles.records import from_record, to_record
from .store import ChargerState

log = structlog.get_logger(__name__)

#: How far ahead the timer looks for the next period boundary.
LOOKAHEAD_S = 86_400
#: The longest the timer sleeps without looking again (a clock step, a missed wake-up).
RECHECK_S = 30.0
#: The transaction id an expected TxProfile is laid out with until its transaction has one.
_EXPECTED = -1
#: Woken this long after a boundary, so the second it names has begun.
AFTER_EDGE_S = 0.02


@dataclass(frozen=True, slots=True)
class Decision:
    """A connector's current limit now and where it comes from, in words a technician reads."""

    amps: float | None  # amperes per phase; None: only the connector's own maximum applies
    source: str


def describe(profile: Profile) -> str:
    return f"charging profile {profile.id} ({profile.purpose.value}, stack level {profile.stack_level})"


class LimitCore:
    """Profiles, site share and cable rating in; one :class:`Decision` per connector out."""

    def __init__(
        self,
        *,
        numbers: Iterable[int],
        electrical: Electrical,
        max_current: float,
        state: ChargerState | None,
        limits: Callable[[], ProfileLimits],
        publish: Callable[[int, float | None], None],
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.numbers = list(numbers)
        self.electrical = electrical
        self.max_current = max_current
        self._state = state
        self._limits = limits
        self._publish = publish
        self._clock = clock
        self.profiles: tuple[Profile, ...] = ()
        #: connector -> (the core's transaction id, when it started): what TX profiles and
        #: relative schedules follow.
        self.transactions: dict[int, tuple[int, datetime]] = {}
        self._site: Mapping[int, float] | None = None
        self._site_reason = ""
        self._cable: dict[int, float] = {}
        #: A RemoteStartTransaction's TxProfile, by connector, until its transaction starts.
        self._expected: dict[int, Profile] = {}
        self._decided: dict[int, Decision] = {}
        self._wake = asyncio.Event()
        #: Called after any connector's decision (or its source) changed.
        self.on_change: Callable[[Mapping[int, Decision]], None] | None = None

    @property
    def connectors(self) -> dict[int, Electrical]:
        return {n: self.electrical for n in self.numbers}

    # ------------------------------------------------------------ profiles
    def load(self) -> None:
        """Read the stored profiles (at start, on the database thread or before the loop runs)."""
        if self._state is None:
            return
        loaded = []
        for text in self._state.charging_profiles():
            try:
                loaded.append(from_record(json.loads(text)))
            except (KeyError, ValueError, TypeError) as exc:
                log.error("a stored charging profile cannot be read; it is dropped", record=text[:200], error=str(exc))
        self.profiles = tuple(loaded)
        if loaded:
            log.info("charging profiles restored", count=len(loaded), ids=[p.id for p in loaded])

    def refusal(self, profile: Profile) -> str | None:
        """Why ``profile`` may not be installed, or None."""
        return check(profile, self.profiles, connectors=self.numbers, transactions=self.transactions,
                     limits=self._limits())

    def refusal_at_start(self, profile: Profile) -> str | None:
        """Why a RemoteStartTransaction's TxProfile could not be installed once its
        transaction starts on ``profile.connector``, or None."""
        started = {**self.transactions, profile.connector: (_EXPECTED, self._clock())}
        return check(replace(profile, transaction_id=_EXPECTED), self.profiles, connectors=self.numbers,
                     transactions=started, limits=self._limits())

    def maximum(self, connector: int, unit: RateUnit) -> float:
        """The connector's own maximum (connector 0: the connectors' together) in ``unit``."""
        count = len(self.numbers) if connector == 0 else 1
        amps = self.max_current * count
        return amps if unit is RateUnit.AMPS else amps * self.electrical.phases * self.electrical.voltage_v

    async def install(self, profile: Profile) -> None:
        """Store the new set with ``profile`` in (replacing by id, or by purpose and stack
        level on its connector), then apply it. Check :meth:`refusal` first."""
        await self._store(install(profile, self.profiles))
        log.info("charging profile installed", profile_id=profile.id, connector=profile.connector,
                 purpose=profile.purpose.value, stack_level=profile.stack_level)

    async def clear(
        self,
        *,
        profile_id: int | None = None,
        connector: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
    ) -> tuple[Profile, ...]:
        """Remove the matching profiles (see :func:`agent.charging_profiles.clear`); the removed ones."""
        kept, removed = clear(self.profiles, profile_id=profile_id, connector=connector, purpose=purpose,
                              stack_level=stack_level)
        if removed:
            await self._store(kept)
            log.info("charging profiles cleared", ids=[p.id for p in removed])
        return removed

    async def _store(self, profiles: tuple[Profile, ...]) -> None:
        if self._state is not None:
            records = [(p.id, json.dumps(to_record(p), separators=(",", ":"))) for p in profiles]
            await self._state.db.run(self._state.replace_charging_profiles, records)
        self.profiles = profiles
        self.update()

    # ------------------------------------------------------------ transactions
    def transaction_started(self, connector: int, transaction_id: int, started_at: datetime) -> None:
        self.transactions[connector] = (transaction_id, started_at)
        self.update()

    async def transaction_ended(self, connector: int, transaction_id: int) -> None:
        """The transaction's TX profiles end with it (OCPP 1.6 §3.13.3)."""
        if self.transactions.get(connector, (None,))[0] == transaction_id:
            del self.transactions[connector]
        kept = end_transaction(self.profiles, connector, transaction_id)
        if len(kept) != len(self.profiles):
            await self._store(kept)
        else:
            self.update()

    async def forget_orphans(self) -> None:
        """At start, once the unfinished transactions are settled: TX profiles of
        transactions that no longer run are gone."""
        running = set(self.transactions.values())
        ids = {tx for tx, _ in running}
        kept = tuple(p for p in self.profiles if p.purpose is not Purpose.TX or p.transaction_id in ids)
        if len(kept) != len(self.profiles):
            log.info("charging profiles of ended transactions removed",
                     ids=[p.id for p in self.profiles if p not in kept])
            await self._store(kept)

    def expect(self, connector: int, profile: Profile | None) -> None:
        """A remote start brought ``profile`` for the transaction about to start on
        ``connector``: it limits the first offer already (None: no longer expected)."""
        if profile is None:
            if self._expected.pop(connector, None) is not None:
                self.update()
            return
        self._expected[connector] = profile
        self.update()

    # ------------------------------------------------------------ other sources
    def set_site(self, limits: Mapping[int, float] | None, reason: str) -> None:
        """The building's share per connector, amperes per phase (None: no site limit)."""
        self._site = None if limits is None else dict(limits)
        self._site_reason = reason
        self.update()

    def set_cable(self, connector: int, amps: float | None) -> None:
        """The plugged cable's rating (proximity pilot); None when unplugged or unknown."""
        if amps is None:
            self._cable.pop(connector, None)
        else:
            self._cable[connector] = amps
        self.update()

    # ------------------------------------------------------------ deciding
    def composite(self, connector: int, start: datetime, duration_s: int, unit: RateUnit) -> CompositeSchedule:
        """What the installed profiles give ``connector`` (0: the whole charger) from ``start``."""
        return composite_schedule(self.profiles, connector, start, duration_s, unit,
                                  connectors=self.connectors, transactions=self.transactions)

    def decide(self, connector: int, moment: datetime | None = None) -> Decision:
        """The lowest of every limit on ``connector`` at ``moment`` (now), with its source."""
        moment = _second(moment or self._clock())
        candidates: list[tuple[float, str]] = []
        profiles = [p for p in self.profiles if p.purpose is not Purpose.CHARGER_MAX]
        transactions = self.transactions
        expected = self._expected.get(connector)
        if expected is not None and connector not in transactions:
            # As if its transaction started now: the TxProfile it will have.
            profiles.append(replace(expected, connector=connector, transaction_id=_EXPECTED))
            transactions = {**transactions, connector: (_EXPECTED, moment)}
        own = limit_now(profiles, connector, moment, RateUnit.AMPS, connectors=self.connectors,
                        transactions=transactions)
        if own is not None:
            candidates.append((own[0], describe(own[1])))
        whole = self._charger_max(moment)
        if whole is not None:
            value, profile = whole
            sharing = max(1, len(self.transactions)) if connector in self.transactions else 1
            text = describe(profile) if sharing == 1 else f"{describe(profile)}, shared by {sharing} connectors"
            candidates.append((value / sharing, text))
        if self._site is not None and connector in self._site:
            candidates.append((self._site[connector], f"site limit: {self._site_reason}" if self._site_reason
                               else "site limit"))
        if connector in self._cable:
            candidates.append((self._cable[connector], f"cable rated {self._cable[connector]:g} A"))
        if not candidates:
            return Decision(None, f"connector maximum {self.max_current:g} A")
        amps, source = min(candidates, key=lambda c: c[0])
        if amps >= self.max_current:
            return Decision(None, f"connector maximum {self.max_current:g} A")
        return Decision(amps, source)

    def _charger_max(self, moment: datetime) -> tuple[float, Profile] | None:
        """The ChargePointMaxProfile in force, in amperes per phase of a connector."""
        caps = [p for p in self.profiles if p.purpose is Purpose.CHARGER_MAX]
        if not caps or not self.numbers:
            return None
        # Connector 0's caps convert with the charger's supply: through any one connector
        # (they share it), as the composite schedule does.
        return limit_now(caps, self.numbers[0], moment, RateUnit.AMPS, connectors=self.connectors,
                         transactions={})

    def update(self) -> None:
        """Decide every connector again and publish what changed; wake the timer."""
        moment = self._clock()
        changed = False
        for n in self.numbers:
            decision = self.decide(n, moment)
            previous = self._decided.get(n)
            if previous == decision:
                continue
            changed = True
            self._decided[n] = decision
            # The machine starts without a limit: nothing to tell it until there is one.
            if (None if previous is None else previous.amps) != decision.amps:
                log.info("current limit", connector=n, amps=_rounded(decision.amps), source=decision.source)
                self._publish(n, decision.amps)
        if changed and self.on_change is not None:
            self.on_change(dict(self._decided))
        self._wake.set()

    def decided(self, connector: int) -> Decision:
        return self._decided.get(connector) or self.decide(connector)

    def seconds_to_next_change(self, moment: datetime | None = None) -> float | None:
        """Until the next period boundary of any connector's profiles, or None."""
        now = moment or self._clock()
        base = _second(now)
        edges = []
        for n in self.numbers:
            edge = next_change(self.profiles, n, base, LOOKAHEAD_S, connectors=self.connectors,
                               transactions=self.transactions)
            if edge is not None:
                edges.append(edge)
        if not edges:
            return None
        return max(0.0, (base + timedelta(seconds=min(edges)) - now).total_seconds())

    async def run(self) -> None:
        """Publish the limits now, then again at every period boundary (owned by the
        runtime's TaskGroup)."""
        while True:
            self._wake.clear()
            self.update()
            self._wake.clear()
            wait = self.seconds_to_next_change()
            pause = RECHECK_S if wait is None else min(RECHECK_S, wait + AFTER_EDGE_S)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._wake.wait()


def _second(moment: datetime) -> datetime:
    """Profiles count in whole seconds: the second ``moment`` is in."""
    return moment.replace(microsecond=0)


def _rounded(amps: float | None) -> float | None:
    return None if amps is None or not math.isfinite(amps) else round(amps, 2)
