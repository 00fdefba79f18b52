"""The screen's owner: what each connector shows, and the task that shows it.

The runtime tells it what happens (statuses, cards, transactions), the protocol adapters
what the backend says to the driver (personal messages, costs, fallback texts); the
methods only note it and wake the screen task, none does I/O. The task redraws on a
change and once a second while something moves (session time, the language cycle,
messages' time windows): on the display when one is fitted, else each change of a
connector's text goes to the log, and :meth:`DriverFeedback.status_text` to the systemd
status line. A display failing is logged once, tried again at each redraw, and logged
once when it answers again: a display never stops a session.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import structlog

from agent import clock as charger_clock
from agent.settings.screen import OperatorSettings, ScreenSettings
from drivers.protocols import DeviceError, Display

from .compose import READER_FAILURE, CardStep, Layout, View, compose, main_text
from .idle import Idle, idle_step

log = structlog.get_logger(__name__)

#: How long a card's answer stays on the screen; how long a check may show at most.
CARD_SHOW_S = 8.0
ASKING_SHOW_S = 30.0
#: How often a running session's local cost is asked for (it is computed from the journal).
COST_EVERY_S = 5.0
#: The size the log and the status line are composed for (no display fitted).
NO_DISPLAY = (40, 2)


def message_state(status: str | None, running: bool) -> str:
    """The screen state a backend message may be limited to (OCPP 2.0.1
    MessageStateEnumType) of a connector: "Charging" while a transaction runs, also
    before the car draws or after it stopped drawing (status Preparing: the transaction
    started at authorization or at the plug), never "Idle" then; "Faulted" and
    "Unavailable" as reported; "Idle" otherwise."""
    if status in ("Faulted", "Unavailable"):
        return status
    if running or status in ("Charging", "SuspendedEV", "SuspendedEVSE"):
        return "Charging"
    return "Idle"


class Station(Protocol):
    """What the screen reads from the charger (the runtime implements it)."""

    def online(self) -> bool: ...

    def meter(self, connector: int) -> tuple[float | None, float | None]:
        """(kW now, kWh delivered by the running transaction), each None when unknown."""
        ...

    def authorized(self, connector: int) -> bool:
        """Whether the connector's running transaction has a token that is not refused."""
        ...

    def idle_alert(self, connector: int) -> None:
        """The connector's car has idled too long after charging: tell the LEDs and the backend."""
        ...

    def session_cost(self, connector: int) -> Any:
        """The running session's local cost (agent.tariff.Cost, or an awaitable of it), or None."""
        ...


@dataclass
class _Connector:
    """What the screen knows of one connector."""

    status: str | None = None
    error_code: str = "NoError"
    vendor_error_code: str = ""
    plugged: bool = False
    transaction: str | None = None  # the charger's transaction id (2.0.1 transactionId)
    last_transaction: str | None = None  # the one that ended last, until the next starts
    #: A backend cost for a transaction the screen was not told of yet (an answer to the
    #: start can overtake the start's news): (transaction, text, final), kept until the next start.
    early_cost: tuple[str, str, bool] | None = None
    started: float | None = None
    ended: float | None = None  # when the last session ended (our clock)
    final_kwh: float | None = None
    final_s: float | None = None
    cost: str | None = None  # local, refreshed every COST_EVERY_S
    cost_at: float = -COST_EVERY_S
    backend_cost: str | None = None
    backend_final: bool = False
    final_cost: str | None = None  # the ended session's exact local cost, from its journal
    personal: str | None = None
    idle: Idle = Idle()


class DriverFeedback:
    """What the driver at the station is told, per connector (see the module)."""

    def __init__(self, connectors: Sequence[int], screen: ScreenSettings = ScreenSettings(),
                 operator: OperatorSettings = OperatorSettings(), *,
                 price: Callable[[datetime], str | None] | None = None,
                 money: Callable[[Decimal], str] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] | None = None) -> None:
        self.numbers = list(connectors)
        self.screen = screen
        self.operator = operator
        #: The local tariff's price in force (agent.tariff.price_text), or None without one.
        self.price = price
        #: An amount as displayed (agent.tariff.money), for the backend's costs.
        self.money = money or (lambda amount: f"{amount:.2f}")
        self.station: Station | None = None
        #: The backend's messages (agent.screen.board.MessageBoard), when the adapter keeps them.
        self.board: Any = None
        self._clock = clock
        self._wall = wall or (lambda: charger_clock.current().now())
        self._connectors = {n: _Connector() for n in self.numbers}
        self._card: tuple[CardStep, float] | None = None
        self._pending_personal: str | None = None
        #: The card the pending personal message is for, and the card checked last: a
        #: price told to a driver who walked away is never the next driver's.
        self._pending_for: str | None = None
        self._asking: str | None = None
        self._fallback_price: str | None = None
        self._fallback_cost: str | None = None
        self._changed = asyncio.Event()
        self._shown: dict[int, str] = {}
        self._board_failing = False
        self._price_failing = False
        #: Ended transactions whose backend messages the screen task still has to forget
        #: (on the database thread: a durable write never runs on the event loop).
        self._ended: list[str] = []
        self._forget_failing = False

    # ------------------------------------------------------------ the contract (adapters)
    def personal_message(self, connector: int | None, text: str, language: str | None = None,
                         id_tag: str | None = None) -> None:
        """The backend's words for a driver: on ``connector``'s session, or (None) for the
        session the card being checked starts; ``id_tag``: that card, when the backend
        names it (else the card checked last)."""
        if connector is None or connector not in self._connectors:
            self._pending_personal = text  # for the transaction the answer starts
            self._pending_for = id_tag if id_tag is not None else self._asking
        else:
            self._connectors[connector].personal = text
        self._wake()

    def backend_cost(self, connector: int, total: Decimal, text: str | None = None, final: bool = False,
                     transaction: str | None = None) -> None:
        """The backend's cost for ``transaction`` (the charger's id, tx_uid) on ``connector``.
        A cost is kept only for the connector's running session, or for the one that ended
        last while no other has started: a late answer for an earlier session (sent after
        a link failure) never takes over the next driver's screen. One for a transaction
        the screen was not told of yet (the answer to a start can overtake the start's
        news) waits for that transaction's start, and is dropped when another starts.
        Without ``transaction`` the cost is taken as the present session's."""
        c = self._connectors.get(connector)
        if c is None:
            log.warning("backend cost for an unknown connector ignored", connector=connector)
            return
        running = c.transaction is not None or c.started is not None
        if transaction is not None and not running and transaction != c.last_transaction:
            # Maybe a session whose start the screen has not heard of yet: kept for it.
            c.early_cost = (transaction, text if text else self.money(total), final)
            return
        if transaction is not None and running and c.transaction is not None and transaction != c.transaction:
            log.warning("backend cost for a session no longer on the screen dropped", connector=connector,
                        transaction=transaction, showing=c.transaction, final=final)
            return
        c.backend_cost = text if text else self.money(total)
        c.backend_final = final
        self._wake()

    def fallback_texts(self, price: str | None = None, total_cost: str | None = None) -> None:
        self._fallback_price = price or None
        self._fallback_cost = total_cost or None
        self._wake()

    # ------------------------------------------------------------ what the runtime tells
    def status(self, connector: int, status: str, error_code: str = "NoError", vendor_error_code: str = "",
               plugged: bool = False) -> None:
        """A status was reported (connector 0: the charger as a whole)."""
        if connector == 0:
            self._charger_status = (status, error_code, vendor_error_code)
            self._wake()
            return
        c = self._connectors.get(connector)
        if c is None:
            return
        if c.status == "Finishing" and status != "Finishing" and c.ended is not None:
            c.ended = self._clock()  # the finished summary's window runs from the unplug
        c.status, c.error_code, c.vendor_error_code, c.plugged = status, error_code, vendor_error_code, plugged
        self._wake()

    def authorizing(self, id_tag: str) -> None:
        if self._pending_for is None or self._pending_for.upper() != id_tag.upper():
            self._pending_personal = self._pending_for = None  # another driver's
        self._asking = id_tag
        self._card = (CardStep("asking"), self._clock())
        self._wake()

    def authorized(self, id_tag: str, accepted: bool) -> None:
        """The answer on a card; a refusal is told by :meth:`card_rejected` (with why)."""
        self._card = (CardStep("accepted"), self._clock()) if accepted else None
        self._wake()

    def card_rejected(self, id_tag: str, why: str, online: bool = True) -> None:
        """A card was refused: ``why`` as the CardRejected action says it. A card the
        backend could not be asked about reads "offline"."""
        if why == "Invalid" and not online:
            why = "offline"
        if self._pending_for is not None and self._pending_for.upper() == id_tag.upper():
            self._pending_personal = self._pending_for = None  # no session of theirs to show it on
        self._card = (CardStep("refused", why), self._clock())
        self._wake()

    def transaction_started(self, connector: int, transaction: str | None, began_s_ago: float = 0.0) -> None:
        """A session began on ``connector`` (``began_s_ago``: a session resumed after a
        restart began that long ago, and its time on the screen counts from then)."""
        c = self._connectors.get(connector)
        if c is None:
            return
        c.transaction, c.started, c.ended, c.last_transaction = transaction, self._clock() - max(0.0, began_s_ago), \
            None, None
        c.cost, c.backend_cost, c.backend_final, c.final_kwh, c.final_s = None, None, False, None, None
        c.final_cost = None
        if c.early_cost is not None and c.early_cost[0] == transaction:
            c.backend_cost, c.backend_final = c.early_cost[1], c.early_cost[2]
        elif c.early_cost is not None:
            log.warning("backend cost for a session no longer on the screen dropped", connector=connector,
                        transaction=c.early_cost[0], showing=transaction)
        c.early_cost = None
        c.cost_at, c.idle = -COST_EVERY_S, Idle()
        c.personal, self._pending_personal, self._pending_for = self._pending_personal, None, None
        self._card = None
        self._wake()

    def idle_restored(self, connector: int, charged: bool, alerted: bool) -> None:
        """A transaction resumed after a restart (announced by :meth:`transaction_started`):
        whether it had charged, and whether the idle alert of its present idle stretch
        was given before the restart (then it is shown, and not given again)."""
        c = self._connectors.get(connector)
        if c is None:
            return
        c.idle = Idle(charged=charged, since=self._clock() if alerted else None, alerted=alerted)
        self._wake()

    def transaction_stopped(self, connector: int, energy_kwh: float | None) -> None:
        c = self._connectors.get(connector)
        if c is None:
            return
        now = self._clock()
        c.final_kwh = energy_kwh
        c.final_s = now - c.started if c.started is not None else None
        if c.transaction is not None:
            self._ended.append(c.transaction)  # the screen task forgets its messages (O02)
        c.last_transaction = c.transaction
        c.transaction, c.started, c.ended, c.idle = None, None, now, Idle()
        self._wake()

    def final_figures(self, connector: int, total: Decimal | None, energy_kwh: float | None,
                      seconds: float | None) -> None:
        """The session that just ended on ``connector`` as its journaled record says
        (the runtime computes them at the stop, after :meth:`transaction_stopped`): its
        cost under the local tariff (None without one), energy and length. They replace
        what the screen counted itself: the running cost it polled every COST_EVERY_S
        (up to that old at the stop), its own energy and clock. Which cost the driver
        then sees is said by :meth:`_cost_shown`; the backend's final cost wins whether
        it came before this or comes after."""
        c = self._connectors.get(connector)
        if c is None or c.started is not None:
            return  # unknown, or a new session has begun since: these figures are not its
        c.final_cost = None if total is None else self.money(total)
        if energy_kwh is not None:
            c.final_kwh = energy_kwh
        if seconds is not None:
            c.final_s = seconds
        self._wake()

    @staticmethod
    def _cost_shown(c: _Connector, running: bool) -> tuple[str | None, bool]:
        """The cost a connector shows, and whether it is the session's total: the
        backend's final cost whenever it comes (it is what the driver is billed); else,
        once the session has ended, the local tariff's exact final cost; else the
        backend's running cost, or the local running cost. A running cost is never
        shown as an ended session's total: after the stop it reads as the cost so far
        until the backend's final cost arrives (offline, it may never; the backend's
        TotalCostFallbackMessage is shown beside it)."""
        if c.backend_cost is not None and c.backend_final:
            return c.backend_cost, True
        if c.final_cost is not None:
            return c.final_cost, True
        return (c.backend_cost if c.backend_cost is not None else c.cost), False

    # ------------------------------------------------------------ composing
    _charger_status: tuple[str, str, str] = ("Available", "NoError", "")

    def views(self, now: float) -> list[View]:
        """Each connector as the screen shows it at ``now`` (our clock)."""
        station = self.station
        card = self._card
        if card is not None:
            limit = ASKING_SHOW_S if card[0].step == "asking" else CARD_SHOW_S
            if now - card[1] > limit:
                self._card = card = None
        free = [n for n, c in self._connectors.items() if c.status in (None, "Available", "Preparing", "Finishing")]
        views = []
        for n, c in self._connectors.items():
            status, error, vendor = c.status, c.error_code, c.vendor_error_code
            whole = self._charger_status
            if whole[0] in ("Faulted", "Unavailable") and status not in ("Faulted",):
                status, error, vendor = whole  # the charger as a whole cannot serve
            elif whole[1] == READER_FAILURE and error == "NoError":
                error = READER_FAILURE  # the charger's one reader: no card is read on any connector
            running = c.transaction is not None or c.started is not None
            power = energy = None
            if running and station is not None:
                power, energy = station.meter(n)
            finished = not running and c.ended is not None and (
                c.status == "Finishing" or now - c.ended <= self.screen.finished_seconds)
            cost, cost_final = self._cost_shown(c, running)
            view = View(
                connector=n, status=status, error_code=error, vendor_error_code=vendor, plugged=c.plugged,
                running=running,
                card=card[0] if card is not None and (n in free or not free) else None,
                power_kw=power,
                energy_kwh=energy if running else (c.final_kwh if finished else None),
                cost=cost if running or finished else None,
                # Final when the backend said so or the local tariff's exact one; the
                # backend's last running cost stays a "cost" until its final cost comes,
                # with its TotalCostFallbackMessage (offline, it may never come).
                cost_final=cost_final,
                cost_note=self._fallback_cost if finished or (running and not self._online()) else None,
                session_s=(now - c.started) if running and c.started is not None else (c.final_s if finished else None),
                finished=finished,
                idle_alert=c.idle.alerted,
                personal=c.personal if running or finished else (self._pending_personal if card else None),
                messages=self._messages(n, status, c.transaction, running),
            )
            if not finished and not running and c.personal is not None and c.ended is not None:
                c.personal = None
            views.append(view)
        return views

    def layout(self, columns: int, rows: int) -> Layout:
        price = self._price_now() or self._fallback_price
        return Layout(columns=columns, rows=rows, languages=self.screen.languages,
                      page_s=self.screen.language_seconds, operator=self.operator.name,
                      phone=self.operator.phone, price=price, offline=not self._online())

    def lines(self, columns: int, rows: int, page_at: float | None = None) -> list[str]:
        """The display's lines now; ``page_at`` picks the page of the cycles instead of
        the time now (a technician's look at every page, a test's)."""
        now = self._clock()
        return compose(self.views(now), self.layout(columns, rows), now if page_at is None else page_at)

    def status_text(self) -> str:
        """Every connector's screen in one line, for the systemd status line."""
        now = self._clock()
        layout = self.layout(*NO_DISPLAY)
        return "; ".join(f"{v.connector}: {main_text(v, layout)}" for v in self.views(now))

    # ------------------------------------------------------------ the screen task
    async def run(self, display: Display | None) -> None:
        """Redraw on change and every second; evaluate the idle alert. Runs until cancelled."""
        shown: list[str] | None = None
        failing = False
        while True:
            now = self._clock()
            await self.forget_ended()
            self._watch_idle(now)
            await self._refresh_costs(now)
            if display is not None:
                lines = self.lines(display.columns, display.rows)
                if lines != shown or failing:
                    try:
                        await display.show(lines)
                    except DeviceError as exc:
                        if not failing:
                            log.warning("display failing; the screen is drawn again when it answers", error=str(exc))
                        failing = True
                    else:
                        if failing:
                            log.info("display answering again")
                        failing = False
                        shown = lines
            else:
                self._log_changes(now)
            self._changed.clear()
            try:
                async with asyncio.timeout(1.0):
                    await self._changed.wait()
            except TimeoutError:
                pass

    async def forget_ended(self) -> None:
        """Forget the backend messages limited to the transactions that ended (O02), on
        the database thread (:meth:`MessageBoard.forget_transaction`). One that fails is
        tried again at the next redraw; until then the board already shows none of an
        ended transaction's messages."""
        while self._ended and self.board is not None:
            try:
                await self.board.forget_transaction(self._ended[0])
            except Exception as exc:  # noqa: BLE001 - the board's trouble never stops the screen
                if not self._forget_failing:
                    log.warning("backend messages of an ended transaction not forgotten yet", error=str(exc))
                self._forget_failing = True
                return
            self._ended.pop(0)
            self._forget_failing = False

    def _log_changes(self, now: float) -> None:
        """Without a display: each change of a connector's text, once, in the log."""
        layout = self.layout(*NO_DISPLAY)
        for view in self.views(now):
            text = main_text(replace(view, session_s=None, power_kw=None, energy_kwh=None, cost=None), layout)
            if self._shown.get(view.connector) != text:
                self._shown[view.connector] = text
                log.info("screen", connector=view.connector, text=text)

    def _watch_idle(self, now: float) -> None:
        station = self.station
        if station is None:
            return
        after_s = self.screen.idle_alert_minutes * 60.0
        for n, c in self._connectors.items():
            running = c.transaction is not None or c.started is not None
            c.idle, alert = idle_step(c.idle, running=running, authorized=running and station.authorized(n),
                                      plugged=c.plugged, status=c.status, now=now, after_s=after_s)
            if alert:
                log.info("idle alert: the driver is asked to move the car", connector=n,
                         idle_minutes=self.screen.idle_alert_minutes)
                try:
                    station.idle_alert(n)
                except Exception as exc:  # noqa: BLE001 - the alert's trouble never stops a session
                    log.exception("idle alert not carried out", connector=n, error=str(exc))

    async def _refresh_costs(self, now: float) -> None:
        """The running sessions' local cost, every COST_EVERY_S, unless the backend gives it."""
        cost_of = getattr(self.station, "session_cost", None)
        if cost_of is None:
            return
        for n, c in self._connectors.items():
            if c.started is None or c.backend_cost is not None or now - c.cost_at < COST_EVERY_S:
                continue
            c.cost_at = now
            started = c.started
            try:
                cost = cost_of(n)
                if inspect.isawaitable(cost):
                    cost = await cost
            except Exception as exc:  # noqa: BLE001 - no cost shown beats no screen
                log.warning("running cost unknown", connector=n, error=str(exc) or type(exc).__name__)
                continue
            if c.started != started:
                continue  # the session ended (or another began) while its cost was computed
            total = getattr(cost, "total", None)
            c.cost = self.money(total) if isinstance(total, Decimal) else None

    def _messages(self, connector: int, status: str | None, transaction: str | None,
                  running: bool = False) -> tuple[Any, ...]:
        if self.board is None:
            return ()
        state = message_state(status, running)
        try:
            found = tuple(self.board.showing(self._wall(), connector, state, transaction))
        except Exception as exc:  # noqa: BLE001 - the screen carries on without the backend's messages
            if not self._board_failing:
                log.warning("backend messages cannot be read", error=str(exc) or type(exc).__name__)
            self._board_failing = True
            return ()
        if self._board_failing:
            log.info("backend messages readable again")
        self._board_failing = False
        return found

    def _price_now(self) -> str | None:
        if self.price is None:
            return None
        try:
            text = self.price(self._wall())
        except Exception as exc:  # noqa: BLE001 - a tariff's trouble never blanks the screen
            if not self._price_failing:
                log.warning("price text unavailable", error=str(exc) or type(exc).__name__)
            self._price_failing = True
            return None
        self._price_failing = False
        return text

    def _online(self) -> bool:
        return self.station.online() if self.station is not None else True

    def _wake(self) -> None:
        self._changed.set()
