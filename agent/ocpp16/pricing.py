"""What the 1.6 California Pricing messages leave behind: driver texts, running-cost
triggers, the default price texts and the planned time offset change.

One :class:`Pricing` lives as long as the 1.6 link (not a connection): a trigger armed
by a RunningCost still fires while the link is down (its MeterValues is journaled and
sent on reconnect). Everything the driver is to see goes to ``runtime.feedback`` (the
screen); the decisions (which text, which trigger is due) are pure functions here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import structlog

from .. import clock
from ..runtime_settings.configuration import Configuration
from ..store import utc_now
from ..runtime_settings.price_settings import (
    LANGUAGES,
    VALUE_MAX,
    DefaultPrice,
    PriceValueError,
    object_of,
    offset_of,
    load_json,
    parse_default_price,
    parse_instant,
    primary_language,
    text_of,
)
from ..runtime_settings.keys import Value
from .costmsg import RunningCost, Text, Triggers, pick
from .running_cost import CostBasis, basis_of, estimate, rebased

log = structlog.get_logger(__name__)

#: The whitepaper's per-language default price keys: ``DefaultPriceText,<language>``.
PRICE_TEXT_KEY = "DefaultPriceText"
#: A power trigger fires on the way down only once the power fell this far below the
#: threshold: 5 % of it, and at least 200 W (a car hovering around it would otherwise
#: send a MeterValues at each swing).
POWER_HYSTERESIS = Decimal("0.05")
POWER_HYSTERESIS_MIN_W = Decimal(200)
#: The least time between two MeterValues the triggers of one connector send: a trigger
#: due sooner waits (it is not lost), so no backend's triggers can flood the link.
TRIGGER_MIN_INTERVAL_S = 10.0
#: How often the triggers and the planned time offset change are looked at.
WATCH_INTERVAL_S = 1.0
#: The reading context of a MeterValues a pricing trigger asks for.
TRIGGER_CONTEXT = "Other"
#: How long a RunningCost for a transaction whose StartTransaction answer was just read
#: waits for the charger to have recorded that answer (the backend sends it right after).
START_RECORDED_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class Armed:
    """A RunningCost's triggers on one connector, and what has fired of them."""

    local_tx: int
    triggers: Triggers
    time_done: bool = False
    energy_done: bool = False
    #: The power is at or above atPowerkW (None: not known yet).
    power_above: bool | None = None
    #: The connector's status when last looked at (atCPStatus fires on a change into one).
    status: str | None = None


def due(armed: Armed, now: datetime, energy_wh: float | None, power_w: float | None,
        status: str | None) -> tuple[bool, Armed]:
    """Whether a trigger of ``armed`` fires now, and what it remembers from this look.

    atTime and atEnergykWh (the meter register, as RunningCost's meterValue) fire once;
    atPowerkW fires at each crossing of the threshold (up at it, down 5 % and at least
    200 W below it); atCPStatus at each change into one of the statuses named."""
    t = armed.triggers
    fire = False
    if t.at_time is not None and not armed.time_done and now >= t.at_time:
        armed, fire = replace(armed, time_done=True), True
    if t.at_energy_kwh is not None and not armed.energy_done and energy_wh is not None \
            and Decimal(str(energy_wh)) >= t.at_energy_kwh * 1000:
        armed, fire = replace(armed, energy_done=True), True
    if t.at_power_kw is not None and power_w is not None:
        watts, threshold = Decimal(str(power_w)), t.at_power_kw * 1000
        if armed.power_above is None:
            armed = replace(armed, power_above=watts >= threshold)
        elif not armed.power_above and watts >= threshold:
            armed, fire = replace(armed, power_above=True), True
        elif armed.power_above and watts < threshold - max(threshold * POWER_HYSTERESIS, POWER_HYSTERESIS_MIN_W):
            armed, fire = replace(armed, power_above=False), True
    if t.at_status and status is not None and status != armed.status:
        if armed.status is not None and status in t.at_status:
            fire = True
        armed = replace(armed, status=status)
    return fire, armed


def shown_cost(cost: Decimal, decimals: int) -> Decimal:
    """A backend's cost as the driver is shown it: ``decimals`` places, rounded half up
    (NumberOfDecimalsForCostValues); ``1.345`` with 2 is ``1.35``."""
    return cost.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def fallback_text(default: DefaultPrice | None, by_language: Mapping[str, DefaultPrice], language: str,
                  online: bool) -> str | None:
    """The default price text to show now: the Language's ``DefaultPriceText,<language>``
    if set, else ``DefaultPrice``'s; while offline its priceTextOffline (None without one:
    the backend did not say what charging costs offline)."""
    chosen = by_language.get(primary_language(language), default)
    if chosen is None:
        return None
    return chosen.text if online else chosen.offline


class Pricing:
    """The 1.6 pricing state of the agent (see the module)."""

    def __init__(self, runtime: Any, config: Configuration) -> None:
        self.runtime = runtime
        self.config = config
        self._armed: dict[int, Armed] = {}
        #: Authorizations waiting for their driver's SetUserPrice: idTag (upper case) -> futures.
        self._price_waiters: dict[str, list[asyncio.Future[None]]] = {}
        #: StartTransaction answers read but not yet recorded: backend transactionId -> set once recorded.
        self._starts: dict[int, asyncio.Event] = {}
        #: Each connector's latest RunningCost to count the cost on from, and the cost last shown.
        self._bases: dict[int, CostBasis] = {}
        self._shown: dict[int, Decimal] = {}
        #: CustomIdleFeeAfterStop: each connector's ended transaction whose unplug the backend
        #: waits for; those of before this run are added at the first look.
        self._awaiting: dict[int, int] = {}
        self._looked = False
        self._unplug_lock = asyncio.Lock()  # the watcher's look and a handler's may meet
        self._online = False
        #: Each connector's last MeterValues sent for its triggers: (transaction, when).
        self._last_sample: dict[int, tuple[int, datetime]] = {}
        #: The parts of the watch failing now (logged once, not at every look).
        self._failing: set[str] = set()
        self._texts: dict[str, DefaultPrice] = {}
        self._raw_texts: dict[str, str] = {}
        stored = config.state.config_values() if config.state is not None else {}
        for name, raw in stored.items():
            language = language_of(name)
            if language is None:
                continue
            try:
                parsed = parse_price_text(raw)
            except PriceValueError as exc:
                log.warning("ignoring a stored default price text", key=name, reason=str(exc))
                continue
            self._raw_texts[language] = raw
            if parsed is not None:
                self._texts[language] = parsed
        config.add_check("Language", self._language_supported)
        config.subscribe(self._changed)

    # ------------------------------------------------------------ what the driver sees
    @property
    def language(self) -> str:
        return str(self.config["Language"])

    def personal_message(self, connector: int | None, texts: tuple[Text, ...], id_tag: str | None = None) -> None:
        """SetUserPrice's text for the driver of ``id_tag``: on ``connector``'s session, or
        (None) for the session that driver's card starts."""
        text = pick(texts, self.language)
        if text is None:
            return
        log.info("driver price", connector=connector, text=text.content, language=text.language or self.language)
        self.runtime.feedback.personal_message(connector, text.content, text.language or self.language,
                                               id_tag=id_tag)

    def backend_cost(self, connector: int, cost: Decimal, texts: tuple[Text, ...], final: bool,
                     transaction: str | None = None, local_tx: int | None = None) -> None:
        """The backend's cost to the screen, with NumberOfDecimalsForCostValues decimals.
        ``transaction``: the charger's id of the session it is for (the screen shows no
        cost of a session other than the one it shows); ``local_tx``: its journal id, so
        that a late FinalCost of an earlier session never stops the count of the next
        one's running cost."""
        text = pick(texts, self.language)
        shown = shown_cost(cost, self.config.int("NumberOfDecimalsForCostValues"))
        basis = self._bases.get(connector)
        if final and basis is not None and (local_tx is None or basis.local_tx == local_tx):
            del self._bases[connector]  # the final cost stands: nothing counts on from here
        log.info("driver cost", connector=connector, cost=str(shown), backend_cost=str(cost), final=final,
                 text=None if text is None else text.content)
        self.runtime.feedback.backend_cost(connector, shown, None if text is None else text.content, final=final,
                                           transaction=transaction)

    def follow(self, connector: int, local_tx: int, message: RunningCost) -> None:
        """Count the cost on from this RunningCost (shown already) until the next one."""
        text = pick(message.texts, self.language)
        basis = basis_of(message, local_tx, self._bases.get(connector), None if text is None else text.content)
        if basis is None:
            self._bases.pop(connector, None)
        else:
            self._bases[connector] = basis
        self._shown[connector] = shown_cost(message.cost, self.config.int("NumberOfDecimalsForCostValues"))

    def carry_costs(self, now: datetime) -> list[int]:
        """One look: each running transaction's cost counted on from its last RunningCost,
        to the screen when the shown value changed (not logged: it changes every few
        seconds). Returns the connectors told."""
        told = []
        for connector, basis in list(self._bases.items()):
            if self.runtime.local_tx.get(connector) != basis.local_tx \
                    and self.awaiting_unplug(connector) != basis.local_tx:
                del self._bases[connector]  # its transaction ended: the final cost comes next
                self._shown.pop(connector, None)
                continue
            try:
                reading = self.runtime.readings.get(connector)
                energy = None if reading is None else Decimal(str(reading.energy_wh))
                basis = rebased(basis, now, energy)
                shown = shown_cost(estimate(basis, now, energy), self.config.int("NumberOfDecimalsForCostValues"))
            except Exception as exc:  # noqa: BLE001 - one connector's count must not stop the others'
                del self._bases[connector]  # shown as the backend last sent it, until its next RunningCost
                log.warning("running cost no longer counted on until the next RunningCost", connector=connector,
                            error=repr(exc))
                continue
            self._bases[connector] = basis
            if shown != self._shown.get(connector):
                self._shown[connector] = shown
                self.runtime.feedback.backend_cost(connector, shown, basis.text, final=False)
                told.append(connector)
        return told

    # ------------------------------------------------------------ idle fees after the stop
    def awaiting_unplug(self, connector: int) -> int | None:
        """The ended transaction on ``connector`` whose idle time the backend bills until
        the cable is pulled (CustomIdleFeeAfterStop), if any."""
        return self._awaiting.get(connector)

    def stopped(self, connector: int, local_tx: int) -> None:
        """Transaction ``local_tx`` ended and its StopTransaction is being sent: with
        CustomIdleFeeAfterStop the backend bills its idle time on until its cable is pulled."""
        if self.config.bool("CustomIdleFeeAfterStop"):
            self._awaiting[connector] = local_tx

    async def follow_unplugs(self) -> list[int]:
        """One look (CustomIdleFeeAfterStop): an ended transaction is awaited until its cable
        is pulled (or a new session starts on the connector), then its unplug is journaled
        (sent as ConnectorUnplugged, in order after its StopTransaction, also after an
        outage). Returns the transactions done."""
        async with self._unplug_lock:
            return await self._follow_unplugs()

    async def _follow_unplugs(self) -> list[int]:
        runtime = self.runtime
        if not self.config.bool("CustomIdleFeeAfterStop"):
            self._awaiting.clear()
            self._looked = True
            return []
        if not self._looked:
            self._looked = True
            for n, tx in (await self._awaited_after_restart()).items():
                self._awaiting.setdefault(n, tx)
        done = []
        for n, tx in list(self._awaiting.items()):
            running = runtime.local_tx.get(n)
            if running == tx:
                continue  # its StopTransaction is being sent before the charger let go of it
            connector = runtime.charger.connector(n)
            status = runtime.statuses.get(n)
            if running is not None:
                # A new session on the connector: the old one's idle time ended as it began.
                stamp = await self._started_at(running)
            elif connector is not None and connector.pilot.plugged:
                continue
            else:
                stamp = status.timestamp if status is not None and status.status == "Available" else utc_now()
            del self._awaiting[n]
            if await runtime.db.run(runtime.journal.unplug_recorded, tx):
                continue  # its StopTransaction was sent again (after a link failure): once is enough
            await runtime.db.run(runtime.journal.record_unplugged, tx, n, stamp)
            log.info("connector unplugged after its transaction", connector=n, local_tx=tx, at=stamp)
            runtime.uplink.wake()
            done.append(tx)
        return done

    async def _started_at(self, local_tx: int) -> str:
        records = await self.runtime.db.run(self.runtime.journal.transactions, 50)
        return next((r.started_at for r in records if r.local_id == local_tx), utc_now())

    async def _awaited_after_restart(self) -> dict[int, int]:
        """The transactions that ended before this run and whose unplug was not journaled:
        each connector's latest, if it ended within a day."""
        records = await self.runtime.db.run(self.runtime.journal.transactions, 50)
        found: dict[int, int] = {}
        since = clock.current().now() - timedelta(days=1)
        for record in records:  # newest first
            if record.connector in found or record.connector in self.runtime.local_tx:
                continue
            found[record.connector] = record.local_id
        awaited = {}
        for n, local in found.items():
            record = next(r for r in records if r.local_id == local)
            if record.stopped_at is None or parse_instant(record.stopped_at) < since:
                continue
            if not await self.runtime.db.run(self.runtime.journal.unplug_recorded, local):
                awaited[n] = local
        return awaited

    # ------------------------------------------------------------ the price with the authorization
    def expect_user_price(self, id_tag: str) -> asyncio.Future[None]:
        """A future done when a SetUserPrice for ``id_tag`` arrives (registered before the
        Authorize is sent, so a price read before its answer counts too)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._price_waiters.setdefault(id_tag.upper(), []).append(waiter)
        return waiter

    def forget_user_price(self, id_tag: str, waiter: asyncio.Future[None]) -> None:
        waiters = self._price_waiters.get(id_tag.upper(), [])
        if waiter in waiters:
            waiters.remove(waiter)
        if not waiters:
            self._price_waiters.pop(id_tag.upper(), None)
        waiter.cancel()

    def user_price_received(self, id_tag: str) -> bool:
        """A SetUserPrice for ``id_tag`` was taken: the authorizations waiting for it go on.
        Returns whether one was waiting."""
        waiters = self._price_waiters.pop(id_tag.upper(), [])
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        return bool(waiters)

    async def wait_user_price(self, id_tag: str, waiter: asyncio.Future[None]) -> bool:
        """Wait up to WaitForSetUserPriceTimeout for the driver's SetUserPrice; whether it came."""
        timeout_ms = self.config.int("WaitForSetUserPriceTimeout")
        try:
            if waiter.done():
                return not waiter.cancelled()
            if timeout_ms <= 0:
                return False
            try:
                async with asyncio.timeout(timeout_ms / 1000):
                    await asyncio.shield(waiter)
                return True
            except TimeoutError:
                log.info("no user price from the backend in time; the session goes on", id_tag=id_tag,
                         waited_ms=timeout_ms)
                return False
        finally:
            self.forget_user_price(id_tag, waiter)

    # ------------------------------------------------------------ the cost right after StartTransaction
    def start_answered(self, transaction_id: int) -> None:
        """A StartTransaction answer naming ``transaction_id`` was read (before any frame
        after it is routed): a RunningCost for it waits until the charger recorded it."""
        self._starts.setdefault(transaction_id, asyncio.Event())

    def starts_recorded(self) -> None:
        """The StartTransaction in flight was recorded (or failed): nothing to wait for."""
        for event in self._starts.values():
            event.set()
        self._starts.clear()

    async def wait_start_recorded(self, transaction_id: int) -> bool:
        """Whether ``transaction_id`` was a start being recorded (then waited for, up to
        START_RECORDED_WAIT_S)."""
        event = self._starts.get(transaction_id)
        if event is None:
            return False
        try:
            async with asyncio.timeout(START_RECORDED_WAIT_S):
                await event.wait()
        except TimeoutError:
            log.warning("the start of a transaction was not recorded in time", transaction_id=transaction_id)
        return True

    def online(self, online: bool) -> None:
        """The link to the backend is (or is no longer) up: the default price text follows."""
        if online != self._online:
            self._online = online
            self.announce_fallback()

    def announce_fallback(self) -> None:
        """Tell the screen the default price text that applies now (at start and on each change)."""
        try:
            default = parse_default_price(str(self.config["DefaultPrice"]))
        except PriceValueError:
            default = None  # never stored: the table refuses it
        text = fallback_text(default, self._texts, self.language, self._online)
        log.info("default price text", text=text, online=self._online)
        self.runtime.feedback.fallback_texts(price=text)

    def _changed(self, name: str, value: Value) -> None:
        if name in ("DefaultPrice", "Language"):
            self.announce_fallback()

    def _language_supported(self, value: Value) -> str | None:
        supported = self.config.list("SupportedLanguages")
        return None if primary_language(str(value)) in supported \
            else f"not one of SupportedLanguages ({', '.join(supported)}); a region may follow (en-US)"

    # ------------------------------------------------------------ DefaultPriceText,<language>
    def price_text_keys(self) -> list[tuple[str, str]]:
        """(key, value) of every ``DefaultPriceText,<language>`` of the supported languages."""
        return [(f"{PRICE_TEXT_KEY},{lang}", self._raw_texts.get(lang, ""))
                for lang in self.config.list("SupportedLanguages")]

    def price_text_value(self, key: str) -> str | None:
        """A ``DefaultPriceText,<language>`` key's value; None when the key does not exist
        (not such a key, or a language this charger does not support)."""
        language = language_of(key)
        if language is None or language not in self.config.list("SupportedLanguages"):
            return None
        return self._raw_texts.get(language, "")

    async def change_price_text(self, key: str, raw: str) -> str:
        """ChangeConfiguration of a ``DefaultPriceText,<language>``: Accepted, or Rejected
        (a language not supported, a value that breaks the shape), stored like any key."""
        language = language_of(key)
        assert language is not None
        if language not in self.config.list("SupportedLanguages"):
            log.info("configuration change rejected", key=key, reason="language not in SupportedLanguages")
            return "Rejected"
        try:
            parsed = parse_price_text(raw)
        except PriceValueError as exc:
            log.info("configuration change rejected", key=key, value=raw, reason=str(exc))
            return "Rejected"
        state = self.config.state
        if state is not None:
            await state.db.run(state.set_config_value, key, raw)
        self._raw_texts[language] = raw
        if parsed is None:
            self._texts.pop(language, None)
        else:
            self._texts[language] = parsed
        self.announce_fallback()
        return "Accepted"

    # ------------------------------------------------------------ running-cost triggers
    def arm(self, connector: int, local_tx: int, triggers: Triggers) -> None:
        """The triggers of the latest RunningCost replace the connector's earlier ones.

        A trigger the backend repeats (the same atTime, atEnergykWh or atPowerkW in the
        same transaction, as each RunningCost after a MeterValues does) keeps what it
        did: an atTime already past or an atEnergykWh already reached that fired does not
        fire again, a power threshold keeps its side (only a new crossing fires)."""
        if not triggers.any:
            self._armed.pop(connector, None)
            return
        status = self.runtime.statuses.get(connector)
        reading = self.runtime.readings.get(connector)
        before = self._armed.get(connector)
        if before is not None and before.local_tx != local_tx:
            before = None
        time_done = before is not None and before.time_done and before.triggers.at_time == triggers.at_time
        energy_done = before is not None and before.energy_done \
            and before.triggers.at_energy_kwh == triggers.at_energy_kwh
        if before is not None and before.power_above is not None and triggers.at_power_kw is not None \
                and before.triggers.at_power_kw == triggers.at_power_kw:
            above: bool | None = before.power_above
        else:
            # The side of the power threshold as the backend saw it (its meter value is that recent).
            above = None if triggers.at_power_kw is None or reading is None \
                else Decimal(str(reading.power_w)) >= triggers.at_power_kw * 1000
        self._armed[connector] = Armed(local_tx, triggers, time_done=time_done, energy_done=energy_done,
                                       power_above=above, status=None if status is None else status.status)
        log.info("running cost triggers armed", connector=connector, local_tx=local_tx,
                 at_time=None if triggers.at_time is None else triggers.at_time.isoformat(),
                 at_energy_kwh=None if triggers.at_energy_kwh is None else str(triggers.at_energy_kwh),
                 at_power_kw=None if triggers.at_power_kw is None else str(triggers.at_power_kw),
                 at_status=list(triggers.at_status) or None)

    @property
    def armed(self) -> Mapping[int, Armed]:
        return dict(self._armed)

    async def run(self) -> None:
        """Watch the armed triggers and the planned time offset change until cancelled."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            await self.look(clock.current().now())

    async def look(self, now: datetime) -> None:
        """One look of the watch: each part on its own, so one failing cannot stop the
        others; a failure is logged once, not at every look, until the part works again."""
        async def carry() -> None:
            self.carry_costs(now)

        parts = (("time offset", lambda: self._follow_time_offset(now)), ("triggers", lambda: self.check(now)),
                 ("unplugs", self.follow_unplugs), ("running cost", carry))
        for name, part in parts:
            try:
                await part()
            except Exception as exc:  # noqa: BLE001 - a price trigger must never stop the agent
                if name not in self._failing:
                    self._failing.add(name)
                    log.exception("pricing watch failed; said again only once it worked", part=name, error=str(exc))
            else:
                self._failing.discard(name)

    async def check(self, now: datetime) -> list[int]:
        """One look at every armed trigger; returns the connectors sampled. A connector
        sends at most one MeterValues per TRIGGER_MIN_INTERVAL_S for its triggers (one due
        sooner waits); a connector whose triggers cannot be judged is disarmed with one
        warning, and the others' still fire."""
        sampled = []
        for connector, armed in list(self._armed.items()):
            if self.runtime.local_tx.get(connector) != armed.local_tx:
                del self._armed[connector]  # its transaction ended
                continue
            try:
                reading = self.runtime.readings.get(connector)
                status = self.runtime.statuses.get(connector)
                fire, after = due(armed, now, None if reading is None else reading.energy_wh,
                                  None if reading is None else reading.power_w,
                                  None if status is None else status.status)
            except Exception as exc:  # noqa: BLE001 - one connector's triggers must not stop the others'
                del self._armed[connector]
                log.warning("running cost triggers dropped until the next RunningCost", connector=connector,
                            local_tx=armed.local_tx, error=repr(exc))
                continue
            last = self._last_sample.get(connector)
            if fire and last is not None and last[0] == armed.local_tx \
                    and timedelta(0) <= now - last[1] < timedelta(seconds=TRIGGER_MIN_INTERVAL_S):
                continue  # too soon after the last one (a clock set back does not count): judged again next look
            self._armed[connector] = armed = after
            if fire:
                self._last_sample[connector] = (armed.local_tx, now)
                if await self.runtime.sample_now(connector, TRIGGER_CONTEXT):
                    sampled.append(connector)
                    log.info("meter values sent for the running cost", connector=connector, local_tx=armed.local_tx)
                else:
                    log.warning("running cost trigger: no fresh meter reading to send", connector=connector)
        return sampled

    async def _follow_time_offset(self, now: datetime) -> None:
        """From NextTimeOffsetTransitionDateTime on, TimeOffsetNextTransition is the TimeOffset
        (stored, so GetConfiguration says so), and no transition is planned any more."""
        at = str(self.config["NextTimeOffsetTransitionDateTime"])
        if at and now >= parse_instant(at):
            new = str(self.config["TimeOffsetNextTransition"])
            log.info("time offset changed as planned", time_offset=new, at=at)
            await self.config.set("TimeOffset", new)
            await self.config.set("NextTimeOffsetTransitionDateTime", "")

    def shown_offset(self, now: datetime) -> timedelta:
        """The offset of the times shown to drivers at ``now`` (TimeOffset and its planned change)."""
        return offset_of(self.config, now)


def language_of(key: str) -> str | None:
    """The language of a ``DefaultPriceText,<language>`` key (None: not such a key)."""
    name, _, language = key.partition(",")
    if name != PRICE_TEXT_KEY or language not in LANGUAGES:
        return None
    return language


def parse_price_text(raw: str) -> DefaultPrice | None:
    """A ``DefaultPriceText,<language>`` value: {"priceText", "priceTextOffline"}; "" means none."""
    if raw == "":
        return None
    if len(raw) > VALUE_MAX:
        raise PriceValueError(f"must be at most {VALUE_MAX} characters")
    obj = object_of(load_json(raw, "the value"), "the value")
    unknown = sorted(set(obj) - {"priceText", "priceTextOffline"})
    if unknown:
        raise PriceValueError(f"unknown field(s) {', '.join(unknown)}; allowed: priceText, priceTextOffline")
    text = text_of(obj, "priceText", required=True)
    assert text is not None
    return DefaultPrice(text, text_of(obj, "priceTextOffline"))
