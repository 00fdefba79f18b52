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
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

import structlog

from .charging_profiles import (
    CompositeSchedule,
    Electrical,
    Kind,
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
from .session.model import MIN_OFFER_A
from .store import ChargerState

log = structlog.get_logger(__name__)

#: How far ahead the timer looks for the next period boundary.
LOOKAHEAD_S = 86_400
#: The longest the timer sleeps without looking again (a clock step, a missed wake-up).
RECHECK_S = 10.0
#: The transaction id an expected TxProfile is laid out with until its transaction has one.
_EXPECTED = -1
#: Woken this long after a boundary, so the second it names has begun.
AFTER_EDGE_S = 0.02


@dataclass(frozen=True, slots=True)
class _Waiting:
    """A remote start's TxProfile until its transaction starts, or ``deadline`` passes."""

    id_tag: str
    connector: int | None
    profile: Profile
    deadline: datetime


def _still_applying(profiles: Iterable[Profile], now: datetime) -> tuple[Profile, ...]:
    """Profiles that may apply at ``now`` or later: not past validTo, and not an absolute
    schedule that has run its duration."""
    def over(p: Profile) -> bool:
        if p.valid_to is not None and p.valid_to <= now:
            return True
        s = p.schedule
        return (p.kind is Kind.ABSOLUTE and s.start is not None and s.duration_s is not None
                and s.start + timedelta(seconds=s.duration_s) <= now)

    return tuple(p for p in profiles if not over(p))


@dataclass(frozen=True, slots=True)
class Decision:
    """A connector's current limit now and where it comes from, in words a technician reads."""

    amps: float | None  # amperes per phase; None: only the connector's own maximum applies
    source: str
    #: Whether the site's share (an energy manager outside the backend) is what limits it
    #: (alone or tied with another limit): what a 2.0.1 backend hears of as an EMS limit.
    #: Not compared: the source's words already differ whenever it does.
    by_site: bool = field(default=False, compare=False)


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
        #: connector -> since when it offers current before its transaction (OCPP 2.0.1
        #: TxStartPoint EnergyTransfer): it shares the charger's cap as one in a transaction.
        self._offering: dict[int, datetime] = {}
        self._site: Mapping[int, float] | None = None
        self._site_reason = ""
        self._cable: dict[int, float] = {}
        #: RemoteStartTransaction TxProfiles waiting for their transactions.
        self._pending: list[_Waiting] = []
        #: Whose transaction runs on each connector (for a remote start naming no connector).
        self._tags: dict[int, str] = {}
        #: Held while the profile set is computed and stored: one change at a time.
        self._changing = asyncio.Lock()
        self._decided: dict[int, Decision] = {}
        self._wake = asyncio.Event()
        #: Called after any connector's decision (or its source) changed.
        self.on_change: Callable[[Mapping[int, Decision]], None] | None = None
        #: Told the same as ``on_change``: what an adapter reports of the limits (2.0.1's
        #: NotifyChargingLimit) listens here, beside the runtime's own view.
        self.listeners: list[Callable[[Mapping[int, Decision]], None]] = []

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

    def refusal(self, profile: Profile, *, by_level: bool = True) -> str | None:
        """Why ``profile`` may not be installed, or None."""
        return check(profile, self.profiles, connectors=self.numbers, transactions=self.transactions,
                     limits=self._limits(), by_level=by_level)

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

    async def install(self, profile: Profile, *, by_level: bool = True) -> str | None:
        """Check ``profile`` and, if it may be installed, store the new set with it in
        (replacing by id, and with ``by_level`` by purpose and stack level on its
        connector: see :func:`agent.charging_profiles.install`) and apply it.
        Returns why it was refused, or None. Profiles that can never apply again (past
        their validTo or their absolute schedule's end) leave with the change."""
        async with self._changing:
            why = self.refusal(profile, by_level=by_level)
            if why is not None:
                return why
            current = _still_applying(self.profiles, self._clock())
            await self._store(install(profile, current, by_level=by_level))
        log.info("charging profile installed", profile_id=profile.id, connector=profile.connector,
                 purpose=profile.purpose.value, stack_level=profile.stack_level)
        return None

    async def clear(
        self,
        *,
        profile_id: int | None = None,
        connector: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
    ) -> tuple[Profile, ...]:
        """Remove the matching profiles (see :func:`agent.charging_profiles.clear`), a
        remote start's TxProfile still waiting for its transaction included; the removed ones."""
        async with self._changing:
            kept, removed = clear(self.profiles, profile_id=profile_id, connector=connector, purpose=purpose,
                                  stack_level=stack_level)
            waiting = [w.profile for w in self._pending]
            _, unstarted = clear(waiting, profile_id=profile_id, connector=connector, purpose=purpose,
                                 stack_level=stack_level)
            if unstarted:
                self._pending = [w for w in self._pending if w.profile not in unstarted]
            if removed:
                await self._store(kept)
            elif unstarted:
                self.update()
        if removed or unstarted:
            log.info("charging profiles cleared", ids=[p.id for p in (*removed, *unstarted)])
        return (*removed, *unstarted)

    async def _store(self, profiles: tuple[Profile, ...], done: _Waiting | None = None) -> None:
        """Write the whole set, then use it (hold ``_changing``: the set is computed from
        ``self.profiles`` and must not change while the write is awaited). ``done``: a
        remote start's profile that this set installs, no longer waiting once it applies."""
        if self._state is not None:
            records = [(p.id, json.dumps(to_record(p), separators=(",", ":"))) for p in profiles]
            write = asyncio.ensure_future(self._state.db.run(self._state.replace_charging_profiles, records))
            try:
                await asyncio.shield(write)
            except asyncio.CancelledError:
                # The request's handler was cancelled (the link dropped) while the database
                # thread wrote: the stored set and the set in force must not part ways, so
                # the write is waited for (still holding the lock) and applied if it landed.
                await asyncio.wait([write])
                if not write.cancelled() and write.exception() is None:
                    self._apply(profiles, done)
                raise
        self._apply(profiles, done)

    def _apply(self, profiles: tuple[Profile, ...], done: _Waiting | None) -> None:
        self.profiles = profiles
        if done is not None and done in self._pending:
            self._pending.remove(done)
        self.update()

    # ------------------------------------------------------------ transactions
    def transaction_started(
        self, connector: int, transaction_id: int, started_at: datetime, id_tag: str | None = None
    ) -> None:
        """A transaction started (``id_tag``: whose, so a remote start's TxProfile that named
        no connector finds it)."""
        self.transactions[connector] = (transaction_id, started_at)
        self._offering.pop(connector, None)
        if id_tag is not None:
            self._tags[connector] = id_tag
        self.update()

    def offering_before_start(self, connector: int, offering: bool) -> None:
        """The connector offers current to an authorized EV before its transaction begins
        (OCPP 2.0.1 TxStartPoint EnergyTransfer), or no longer does: while it does, it takes
        its share of the charger's cap, so two EVs are never offered the whole cap each."""
        if offering == (connector in self._offering):
            return
        if offering:
            self._offering[connector] = self._clock()
        else:
            del self._offering[connector]
        self.update()

    def transaction_identified(self, connector: int, transaction_id: int, id_tag: str) -> None:
        """A token was authorized for a transaction an EV began without one: a remote
        start's TxProfile that named no connector finds it by that token from now on."""
        if self.transactions.get(connector, (None,))[0] == transaction_id:
            self._tags[connector] = id_tag
            self.update()

    def shift(self, seconds: float) -> None:
        """The charger's clock was corrected: transaction starts noted on the old one move
        with the journal's stamps (relative schedules count from them)."""
        if seconds:
            delta = timedelta(seconds=seconds)
            self.transactions = {c: (tx, at + delta) for c, (tx, at) in self.transactions.items()}
            self.update()

    async def transaction_ended(self, connector: int, transaction_id: int) -> None:
        """The transaction's TX profiles end with it (OCPP 1.6 §3.13.3)."""
        async with self._changing:
            if self.transactions.get(connector, (None,))[0] == transaction_id:
                del self.transactions[connector]
                self._tags.pop(connector, None)
            kept = end_transaction(self.profiles, connector, transaction_id)
            if len(kept) != len(self.profiles):
                await self._store(kept)
            else:
                self.update()

    async def forget_orphans(self) -> None:
        """At start, once the unfinished transactions are settled: TX profiles of
        transactions that no longer run are gone."""
        async with self._changing:
            ids = {tx for tx, _ in self.transactions.values()}
            kept = tuple(p for p in self.profiles if p.purpose is not Purpose.TX or p.transaction_id in ids)
            if len(kept) != len(self.profiles):
                log.info("charging profiles of ended transactions removed",
                         ids=[p.id for p in self.profiles if p not in kept])
                await self._store(kept)

    # ------------------------------------------------------------ a remote start's TxProfile
    def expect(self, id_tag: str, connector: int | None, profile: Profile, wait_s: float) -> None:
        """A RemoteStartTransaction for ``id_tag`` brought ``profile``: it waits (at most
        ``wait_s``) for the transaction that request starts, and limits the connector's
        first offer already when the request named it. A newer request for the idTag replaces it."""
        self._pending = [w for w in self._pending if w.id_tag != id_tag]
        deadline = self._clock() + timedelta(seconds=wait_s)
        self._pending.append(_Waiting(id_tag, connector, profile, deadline))
        self.update()

    @property
    def waiting(self) -> bool:
        """Whether a remote start's TxProfile waits (checked on every event: no set built)."""
        return bool(self._pending)

    def waiting_tags(self) -> set[str]:
        """The idTags whose remote start's TxProfile waits for its transaction."""
        return {w.id_tag for w in self._pending}

    def forget_expected(self, id_tag: str) -> None:
        """The remote start did not happen (refused): its profile goes."""
        before = len(self._pending)
        self._pending = [w for w in self._pending if w.id_tag != id_tag]
        if len(self._pending) != before:
            self.update()

    async def install_expected(self, connector: int) -> tuple[Profile | None, str | None]:
        """Install the TxProfile a remote start left for the transaction just started on
        ``connector`` (:meth:`transaction_started` first): (the profile, why it was refused).
        It limits the connector until it is installed, and is no longer waiting once it is
        in force, in the same step: the offer never goes back to the maximum between."""
        async with self._changing:
            now = self._clock()
            waiting = self._waiting_for(connector, now)
            if waiting is None:
                return None, None
            running = self.transactions.get(connector)
            assert running is not None, "transaction_started first"
            profile = replace(waiting.profile, connector=connector, transaction_id=running[0])
            why = self.refusal(profile)
            if why is None:
                await self._store(install(profile, _still_applying(self.profiles, now)), done=waiting)
            else:
                self._pending.remove(waiting)
                self.update()
            return profile, why

    def _waiting_for(self, connector: int, now: datetime) -> _Waiting | None:
        """The remote start's TxProfile waiting for ``connector``: asked for it by number, or
        asked for no connector by the idTag whose transaction runs there."""
        tag = self._tags.get(connector) if connector in self.transactions else None
        return next((w for w in self._pending if w.deadline > now
                     and (w.connector == connector or (w.connector is None and tag is not None and w.id_tag == tag))),
                    None)

    def _waiting_on(self, connector: int, now: datetime) -> Profile | None:
        waiting = self._waiting_for(connector, now)
        return None if waiting is None else waiting.profile

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
        own = self._own(connector, moment)
        if own is not None:
            candidates.append(own)
        share = self._cap_shares(moment).get(connector)
        if share is not None:
            candidates.append(share)
        if not candidates:
            return Decision(None, f"connector maximum {self.max_current:g} A")
        amps, source = min(candidates, key=lambda c: c[0])
        if amps >= self.max_current:
            return Decision(None, f"connector maximum {self.max_current:g} A")
        site = None if self._site is None else self._site.get(connector)
        return Decision(amps, source, by_site=site is not None and site <= amps)

    def limit_without_site(self, connector: int, moment: datetime | None = None) -> float:
        """The most ``connector`` may offer by every limit but the site's share: its
        maximum, its profiles, the ChargePointMaxProfile's share, the cable. The site
        limiter shares the building by it, so that no share is given that the connector
        could not use (it would be stranded there)."""
        moment = _second(moment or self._clock())
        amps = self.max_current
        own = self._own(connector, moment, with_site=False)
        if own is not None:
            amps = min(amps, own[0])
        share = self._cap_shares(moment, with_site=False).get(connector)
        if share is not None:
            amps = min(amps, share[0])
        return amps

    def _own(self, connector: int, moment: datetime, *, with_site: bool = True) -> tuple[float, str] | None:
        """The lowest limit of the connector's own: its profiles, the site's share (unless
        ``with_site`` is False), the cable."""
        candidates: list[tuple[float, str]] = []
        profiles = [p for p in self.profiles if p.purpose is not Purpose.CHARGER_MAX]
        transactions = self.transactions
        expected = self._waiting_on(connector, moment)
        if expected is not None:
            # The TxProfile its transaction will have (as if it started now, until it has).
            if connector in transactions:
                profiles.append(replace(expected, connector=connector, transaction_id=transactions[connector][0]))
            else:
                profiles.append(replace(expected, connector=connector, transaction_id=_EXPECTED))
                transactions = {**transactions, connector: (_EXPECTED, moment)}
        found = limit_now(profiles, connector, moment, RateUnit.AMPS, connectors=self.connectors,
                          transactions=transactions)
        if found is not None:
            candidates.append((found[0], describe(found[1])))
        if with_site and self._site is not None and connector in self._site:
            candidates.append((self._site[connector], f"site limit: {self._site_reason}" if self._site_reason
                               else "site limit"))
        if connector in self._cable:
            candidates.append((self._cable[connector], f"cable rated {self._cable[connector]:g} A"))
        return min(candidates, key=lambda c: c[0]) if candidates else None

    def _cap_shares(self, moment: datetime, *, with_site: bool = True) -> dict[int, tuple[float, str]]:
        """The ChargePointMaxProfile's current per connector: shared between the
        connectors in a transaction (:func:`share_cap`); a connector without one could
        take it whole."""
        whole = self._charger_max(moment)
        if whole is None:
            return {}
        cap, profile = whole
        text = describe(profile)
        since = {**self._offering, **{c: at for c, (_, at) in self.transactions.items()}}
        shares = {c: (cap, text) for c in self.numbers if c not in since}
        active = sorted((c for c in self.numbers if c in since), key=lambda c: since[c])
        if not active:
            return shares
        needs = {}
        for c in active:
            own = self._own(c, moment, with_site=with_site)
            needs[c] = min(self.max_current, own[0] if own is not None else math.inf)
        if len(active) > 1:
            text = f"{text}: {cap:g} A shared by {len(active)} connectors"
        for c, amps in share_cap(cap, needs, active).items():
            shares[c] = (amps, text)
        return shares

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
        self._pending = [w for w in self._pending if w.deadline > moment]
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
        if changed:
            decided = dict(self._decided)
            if self.on_change is not None:
                self.on_change(decided)
            for listener in self.listeners:
                listener(decided)
        self._wake.set()

    def decisions(self) -> dict[int, Decision]:
        return {n: self.decided(n) for n in self.numbers}

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
        ahead = [(base + timedelta(seconds=e) - now).total_seconds() for e in edges]
        ahead += [(w.deadline - now).total_seconds() for w in self._pending]
        return max(0.0, min(ahead)) if ahead else None

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


def share_cap(cap: float, needs: Mapping[int, float], order: Iterable[int]) -> dict[int, float]:
    """Share ``cap`` amperes between connectors that could each take ``needs[c]``.

    Equal shares, and a connector that needs less than its share gives the rest back to
    the others. When an equal share would be under the 6 A a pilot may offer, the
    connectors are served in ``order`` (first come, first served): 6 A to as many as the
    cap allows, the rest topping up the first ones, and nothing to the others: two cars
    at 5 A each would both be suspended, one at 10 A charges."""
    order = list(order)
    need = {c: (needs[c] if needs[c] >= MIN_OFFER_A else 0.0) for c in order}
    out: dict[int, float] = {}
    left = max(0.0, cap)
    waiting = list(order)
    while waiting:
        equal = left / len(waiting)
        modest = [c for c in waiting if need[c] <= equal]
        if not modest:
            break
        for c in modest:
            out[c] = need[c]
            left -= need[c]
            waiting.remove(c)
    if waiting and left / len(waiting) >= MIN_OFFER_A:
        for c in waiting:
            out[c] = left / len(waiting)
    else:
        # As many as 6 A each allows, in order; what is left tops them up in order.
        served = [c for c in waiting if need[c] >= MIN_OFFER_A][: int(left // MIN_OFFER_A + 1e-9)]
        for c in waiting:
            out[c] = MIN_OFFER_A if c in served else 0.0
        left -= MIN_OFFER_A * len(served)
        for c in served:
            more = min(need[c] - MIN_OFFER_A, left)
            out[c] += more
            left -= more
    return out


def _second(moment: datetime) -> datetime:
    """Profiles count in whole seconds: the second ``moment`` is in."""
    return moment.replace(microsecond=0)


def _rounded(amps: float | None) -> float | None:
    return None if amps is None or not math.isfinite(amps) else round(amps, 2)
