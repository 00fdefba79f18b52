"""What the 1.6 California Pricing messages leave behind: driver texts, running-cost
triggers, the default price texts and the planned time offset change.

One :class:`Pricing` lives as long as the 1.6 link (not a connection): a trigger armed
by a RunningCost still fires while the link is down (its MeterValues is journaled and
sent on reconnect). Everything the driver is to see goes to ``runtime.feedback`` (the
screen, which every runtime has); the decisions (which text, which trigger is due) are pure functions here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog

from .. import clock
from ..runtime_settings.configuration import Configuration
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
    text_of,
)
from ..runtime_settings.keys import Value
from .costmsg import Text, Triggers, pick

log = structlog.get_logger(__name__)

#: The whitepaper's per-language default price keys: ``DefaultPriceText,<language>``.
PRICE_TEXT_KEY = "DefaultPriceText"
#: A power trigger fires again on the way down only once the power fell this far below
#: the threshold (a car hovering around it would otherwise send a MeterValues a second).
POWER_HYSTERESIS = Decimal("0.05")
#: How often the triggers and the planned time offset change are looked at.
WATCH_INTERVAL_S = 1.0
#: The reading context of a MeterValues a pricing trigger asks for.
TRIGGER_CONTEXT = "Other"


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
    atPowerkW fires at each crossing of the threshold (up at it, down 5 % below it);
    atCPStatus at each change into one of the statuses named."""
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
        elif armed.power_above and watts < threshold * (1 - POWER_HYSTERESIS):
            armed, fire = replace(armed, power_above=False), True
    if t.at_status and status is not None and status != armed.status:
        if armed.status is not None and status in t.at_status:
            fire = True
        armed = replace(armed, status=status)
    return fire, armed


def fallback_text(default: DefaultPrice | None, by_language: Mapping[str, DefaultPrice], language: str,
                  online: bool) -> str | None:
    """The default price text to show now: the Language's ``DefaultPriceText,<language>``
    if set, else ``DefaultPrice``'s; while offline its priceTextOffline (None without one:
    the backend did not say what charging costs offline)."""
    chosen = by_language.get(language, default)
    if chosen is None:
        return None
    return chosen.text if online else chosen.offline


class Pricing:
    """The 1.6 pricing state of the agent (see the module)."""

    def __init__(self, runtime: Any, config: Configuration) -> None:
        self.runtime = runtime
        self.config = config
        self._armed: dict[int, Armed] = {}
        self._online = False
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
                     transaction: str | None = None) -> None:
        """``transaction``: the charger's id of the session it is for (the screen shows
        no cost of a session other than the one it shows)."""
        text = pick(texts, self.language)
        log.info("driver cost", connector=connector, cost=str(cost), final=final,
                 text=None if text is None else text.content)
        self.runtime.feedback.backend_cost(connector, cost, None if text is None else text.content, final=final,
                                           transaction=transaction)

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
        return None if value in supported else f"not one of SupportedLanguages ({', '.join(supported)})"

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
        """The triggers of the latest RunningCost replace the connector's earlier ones."""
        if not triggers.any:
            self._armed.pop(connector, None)
            return
        status = self.runtime.statuses.get(connector)
        reading = self.runtime.readings.get(connector)
        # The side of the power threshold as the backend saw it (its meter value is that recent).
        above = None if triggers.at_power_kw is None or reading is None \
            else Decimal(str(reading.power_w)) >= triggers.at_power_kw * 1000
        self._armed[connector] = Armed(local_tx, triggers, power_above=above,
                                       status=None if status is None else status.status)
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
            now = clock.current().now()
            try:
                await self._follow_time_offset(now)
                await self.check(now)
            except Exception as exc:  # noqa: BLE001 - a price trigger must never stop the agent
                log.exception("pricing watch failed", error=str(exc))

    async def check(self, now: datetime) -> list[int]:
        """One look at every armed trigger; returns the connectors sampled."""
        sampled = []
        for connector, armed in list(self._armed.items()):
            if self.runtime.local_tx.get(connector) != armed.local_tx:
                del self._armed[connector]  # its transaction ended
                continue
            reading = self.runtime.readings.get(connector)
            status = self.runtime.statuses.get(connector)
            fire, armed = due(armed, now, None if reading is None else reading.energy_wh,
                              None if reading is None else reading.power_w, None if status is None else status.status)
            self._armed[connector] = armed
            if fire:
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
