"""DriverFeedback: what the runtime and the adapters tell it, and what the screen shows.

The display here is a recording double (the HD44780 driver and its simulator are tested
on their own); the station, the tariff's running cost and the message board are small
doubles of the runtime's and the board's contracts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from structlog.testing import capture_logs

from agent.screen import DriverFeedback, DriverMessage
from agent.settings.screen import OperatorSettings, ScreenSettings
from drivers.protocols import DeviceError


@dataclass
class Station:
    """The runtime as the screen reads it."""

    is_online: bool = True
    readings: dict[int, tuple[float | None, float | None]] = field(default_factory=dict)
    identified: set[int] = field(default_factory=lambda: {1, 2})
    alerts: list[int] = field(default_factory=list)
    costs: dict[int, Decimal] = field(default_factory=dict)

    def online(self) -> bool:
        return self.is_online

    def meter(self, connector: int) -> tuple[float | None, float | None]:
        return self.readings.get(connector, (None, None))

    def authorized(self, connector: int) -> bool:
        return connector in self.identified

    def idle_alert(self, connector: int) -> None:
        self.alerts.append(connector)

    async def session_cost(self, connector: int) -> object:
        total = self.costs.get(connector)
        return None if total is None else type("Cost", (), {"total": total})()


class Display:
    """Records what it was asked to show; fails while ``broken``."""

    columns, rows = 16, 2

    def __init__(self) -> None:
        self.shown: list[list[str]] = []
        self.broken = False

    async def open(self) -> None: ...

    async def show(self, lines: Sequence[str]) -> None:
        if self.broken:
            raise DeviceError("display", "no ACK from PCF8574 at 0x27")
        self.shown.append(list(lines))

    async def close(self) -> None: ...


class Board:
    """The message board's reading side (agent.screen.board.MessageBoard.showing)."""

    def __init__(self, *messages: DriverMessage) -> None:
        self.messages = list(messages)
        self.asked: list[tuple[int, str, str | None]] = []
        self.ended: list[str] = []

    def showing(self, now: datetime, connector: int, state: str, transaction: str | None) -> list[DriverMessage]:
        self.asked.append((connector, state, transaction))
        return [m for m in self.messages if m.transaction in (None, transaction)]

    async def forget_transaction(self, transaction: str) -> None:
        self.ended.append(transaction)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(connectors: int = 1, station: Station | None = None, **screen: object) -> tuple[DriverFeedback, Clock]:
    clock = Clock()
    settings = ScreenSettings(**{"language_seconds": 4.0, **screen})  # type: ignore[arg-type]
    feedback = DriverFeedback(range(1, connectors + 1), settings, OperatorSettings("Ladda", "+46 8 123"),
                              price=lambda at: "0.35 EUR/kWh", money=lambda amount: f"{amount:.2f} EUR",
                              clock=clock)
    feedback.station = station or Station()
    return feedback, clock


def test_a_session_from_price_to_final_cost() -> None:
    station = Station(readings={1: (7.4, 1.5)})
    feedback, clock = make(station=station)
    feedback.status(1, "Available")
    assert feedback.lines(16, 2) == ["Ready to use", "0.35 EUR/kWh"]
    feedback.status(1, "Preparing", plugged=True)
    assert feedback.lines(16, 2) == ["Tap your card", "0.35 EUR/kWh"]
    feedback.authorizing("04A1B2C3")
    assert feedback.lines(16, 2) == ["Checking card", "Please wait"]
    feedback.authorized("04A1B2C3", True)
    assert feedback.lines(16, 2) == ["Card accepted", "Please wait"]
    feedback.transaction_started(1, "tx-1")
    feedback.status(1, "Charging", plugged=True)
    clock.now += 600
    assert feedback.lines(16, 2, page_at=0.0) == ["Charging", "7.4 kW 1.50 kWh"]
    assert feedback.lines(16, 2, page_at=4.0) == ["Charging", "Time 0:10 h"]  # no cost known yet
    feedback.backend_cost(1, Decimal("0.53"))
    assert feedback.lines(16, 2, page_at=4.0) == ["Charging", "Cost 0.53 EUR"]
    feedback.transaction_stopped(1, 2.25)
    feedback.backend_cost(1, Decimal("0.79"), final=True)
    feedback.status(1, "Finishing", plugged=True)
    assert [feedback.lines(16, 2, page_at=t) for t in (0.0, 4.0, 8.0, 12.0)] == [
        ["Finished", "2.25 kWh"], ["Finished", "Total 0.79 EUR"], ["Finished", "Time 0:10 h"],
        ["Finished", "Please unplug"]]
    feedback.status(1, "Available")  # unplugged: the summary stays a while, then the price again
    clock.now += 59
    assert feedback.lines(16, 2, page_at=0.0) == ["Finished", "2.25 kWh"]
    clock.now += 2
    assert feedback.lines(16, 2, page_at=0.0) == ["Ready to use", "0.35 EUR/kWh"]


def test_the_last_running_cost_is_no_total_until_the_final_cost_comes() -> None:
    feedback, clock = make()
    feedback.status(1, "Charging", plugged=True)
    feedback.transaction_started(1, "tx-1")
    feedback.backend_cost(1, Decimal("0.53"), "$0.53 so far", transaction="tx-1")
    assert feedback.lines(16, 2, page_at=0.0) == ["Charging", "$0.53 so far"]  # too wide with its word
    feedback.transaction_stopped(1, 2.25)
    feedback.status(1, "Finishing", plugged=True)
    assert feedback.lines(16, 2, page_at=4.0) == ["Finished", "$0.53 so far"]  # no FinalCost yet: no total
    feedback.backend_cost(1, Decimal("0.79"), "$0.79", final=True, transaction="tx-1")
    assert feedback.lines(16, 2, page_at=4.0) == ["Finished", "Total $0.79"]


def test_a_backend_cost_of_another_session_is_not_shown() -> None:
    """A FinalCost that comes after the next driver started (the link was down) is not
    the new driver's; nor is a late cost of a session older than the last one."""
    feedback, clock = make()
    feedback.status(1, "Charging", plugged=True)
    feedback.transaction_started(1, "tx-1")
    feedback.transaction_stopped(1, 2.25)
    feedback.transaction_started(1, "tx-2")
    with capture_logs() as logs:
        feedback.backend_cost(1, Decimal("9.99"), final=True, transaction="tx-1")
    assert [e["event"] for e in logs] == ["backend cost for a session no longer on the screen dropped"]
    feedback.backend_cost(1, Decimal("0.10"), transaction="tx-2")
    assert feedback.lines(16, 2, page_at=0.0) == ["Charging", "Cost 0.10 EUR"]
    feedback.transaction_stopped(1, 1.0)
    feedback.status(1, "Finishing", plugged=True)
    feedback.backend_cost(1, Decimal("9.99"), final=True, transaction="tx-1")
    feedback.backend_cost(1, Decimal("0.20"), final=True, transaction="tx-2")
    assert feedback.lines(16, 2, page_at=4.0) == ["Finished", "Total 0.20 EUR"]


def test_a_price_told_to_a_driver_who_walked_away_is_not_the_next_driver_s() -> None:
    feedback, clock = make()
    feedback.status(1, "Available")
    feedback.authorizing("04AAAA01")
    feedback.personal_message(None, "0.25 $/kWh for A")  # with the card's answer (2.0.1), or
    feedback.authorized("04AAAA01", True)                # SetUserPrice naming it (1.6)
    clock.now += 120  # A never plugs in
    feedback.authorizing("04BBBB02")
    feedback.authorized("04BBBB02", True)
    feedback.transaction_started(1, "tx-b")
    feedback.status(1, "Charging", plugged=True)
    assert all("for A" not in " ".join(feedback.lines(16, 2, page_at=t)) for t in range(0, 40, 4))
    # The same card tapped again keeps its price; one the backend names keeps it too.
    feedback.personal_message(None, "0.20 $/kWh for C", id_tag="04CCCC03")
    feedback.authorizing("04cccc03")
    feedback.authorized("04cccc03", True)
    feedback.transaction_started(1, "tx-c")
    assert any("for C" in " ".join(feedback.lines(16, 2, page_at=t)) for t in range(0, 40, 4))


def test_a_personal_message_of_a_refused_card_is_dropped() -> None:
    feedback, clock = make()
    feedback.status(1, "Available")
    feedback.authorizing("04AAAA01")
    feedback.personal_message(None, "Your card is blocked", id_tag="04AAAA01")
    feedback.card_rejected("04AAAA01", "Blocked")
    feedback.transaction_started(1, "tx-remote")  # a remote start, no card checked
    feedback.status(1, "Charging", plugged=True)
    assert all("blocked" not in " ".join(feedback.lines(16, 2, page_at=t)) for t in range(0, 40, 4))


def test_a_card_refused_says_why_and_offline_is_told_apart() -> None:
    feedback, clock = make(connectors=2)
    feedback.status(1, "Available")
    feedback.status(2, "Charging", plugged=True)
    feedback.transaction_started(2, "tx-2")
    feedback.card_rejected("04A1B2C3", "Blocked")
    assert feedback.lines(20, 4, page_at=0.0) == ["1 Card refused", "Card blocked", "2 Charging", "Time 0:00 h"]
    feedback.card_rejected("04A1B2C3", "Invalid", online=False)
    assert feedback.lines(20, 4, page_at=0.0)[:2] == ["1 Card refused", "Not when offline"]
    clock.now += 9  # shown a while, then the connector's own page again
    assert feedback.lines(20, 4, page_at=0.0)[:2] == ["1 Ready to use", "0.35 EUR/kWh"]


def test_the_local_running_cost_unless_the_backend_gives_one() -> None:
    station = Station(costs={1: Decimal("1.20")})
    feedback, clock = make(station=station)
    feedback.status(1, "Charging", plugged=True)
    feedback.transaction_started(1, "tx")

    async def refresh() -> None:
        await feedback._refresh_costs(clock.now)

    asyncio.run(refresh())
    assert feedback.lines(16, 2, page_at=0.0) == ["Charging", "Cost 1.20 EUR"]
    feedback.backend_cost(1, Decimal("2"), text="2.00 EUR incl. VAT")
    assert feedback.lines(20, 4, page_at=0.0) == ["Charging", "2.00 EUR incl. VAT", "Time 0:00 h", ""]


def test_fallback_texts_when_there_is_no_local_tariff() -> None:
    feedback, _ = make()
    feedback.price = None
    feedback.status(1, "Available")
    assert feedback.lines(16, 2) == ["Ready to use", "Tap your card"]
    feedback.fallback_texts(price="See price list", total_cost="Cost shown in the app")
    assert feedback.lines(16, 2) == ["Ready to use", "See price list"]
    feedback.station.is_online = False  # type: ignore[union-attr]
    feedback.status(1, "Charging", plugged=True)
    feedback.transaction_started(1, "tx")
    assert "Cost shown in the app" in " ".join(" ".join(feedback.lines(40, 8)).split())


def test_a_personal_message_goes_with_the_session_it_authorized() -> None:
    feedback, _ = make()
    feedback.status(1, "Preparing", plugged=True)
    feedback.authorizing("04A1B2C3")
    feedback.personal_message(None, "Hello Anna")
    feedback.authorized("04A1B2C3", True)
    assert feedback.lines(16, 2, page_at=4.0) == ["Hello Anna", ""]
    feedback.transaction_started(1, "tx")
    feedback.status(1, "Charging", plugged=True)
    assert feedback.lines(16, 2, page_at=0.0) == ["Charging", "Time 0:00 h"]
    assert feedback.lines(16, 2, page_at=4.0) == ["Hello Anna", ""]
    feedback.transaction_stopped(1, 1.0)
    feedback.status(1, "Available")
    feedback._clock.now += 61  # type: ignore[attr-defined]
    feedback.lines(16, 2)
    assert feedback.lines(16, 2, page_at=4.0) == ["Ready to use", "Tap your card"]  # gone with the session


async def test_backend_messages_from_the_board_and_forgotten_with_their_transaction() -> None:
    feedback, _ = make()
    board = Board(DriverMessage(7, "Welcome", priority="AlwaysFront", transaction="tx-9"))
    feedback.board = board
    feedback.status(1, "Charging", plugged=True)
    feedback.transaction_started(1, "tx-9")
    assert feedback.lines(16, 2) == ["Welcome", ""]
    assert board.asked[-1] == (1, "Charging", "tx-9")
    feedback.transaction_stopped(1, 1.0)
    assert board.ended == []  # not on the event loop: the screen task forgets them
    await feedback.forget_ended()
    assert board.ended == ["tx-9"]


def test_a_charger_wide_fault_shows_on_every_connector() -> None:
    feedback, _ = make(connectors=2)
    feedback.status(1, "Available")
    feedback.status(2, "Available")
    feedback.status(0, "Faulted", "InternalError")
    assert feedback.lines(20, 4, page_at=0.0) == ["1 Out of order", "Internal error", "2 Out of order",
                                                  "Internal error"]


def test_a_broken_card_reader_is_said_instead_of_asking_for_a_card() -> None:
    feedback, _ = make(connectors=2)
    feedback.status(1, "Available")
    feedback.status(2, "Preparing", plugged=True)
    feedback.status(0, "Available", "ReaderFailure")  # a warning of the charger's: charging goes on
    assert feedback.lines(20, 4, page_at=4.0) == ["1 Ready to use", "Reader broken", "2 Ready to use", "Reader broken"]
    feedback.status(0, "Available")
    assert feedback.lines(20, 4, page_at=4.0) == ["1 Ready to use", "Tap your card", "2 Tap your card", "0.35 EUR/kWh"]


def test_the_idle_alert_fires_once_per_stretch() -> None:
    station = Station()
    feedback, clock = make(station=station, idle_alert_minutes=1.0)
    feedback.transaction_started(1, "tx")
    feedback.status(1, "Charging", plugged=True)
    feedback._watch_idle(clock.now)
    feedback.status(1, "SuspendedEV", plugged=True)
    for _ in range(130):
        clock.now += 1
        feedback._watch_idle(clock.now)
    assert station.alerts == [1]
    assert feedback.lines(16, 2, page_at=0.0) == ["Move your car", "Charging done"]


async def test_the_screen_task_redraws_on_change_and_survives_a_failing_display() -> None:
    feedback, _ = make(connectors=1)
    display = Display()
    with capture_logs() as logs:
        task = asyncio.create_task(feedback.run(display))
        await asyncio.sleep(0.05)
        feedback.status(1, "Available")
        await asyncio.sleep(0.05)
        assert display.shown[-1] == ["Ready to use", "0.35 EUR/kWh"]
        display.broken = True
        feedback.status(1, "Faulted", "GroundFailure")
        await asyncio.sleep(0.05)
        feedback.status(1, "Faulted", "GroundFailure")  # a redraw tried again: still failing, not logged again
        await asyncio.sleep(1.1)
        display.broken = False
        await asyncio.sleep(1.1)  # the next redraw draws the screen again
        task.cancel()
    assert display.shown[-1][0] == "Out of order" and display.shown[-1] == feedback.lines(16, 2)
    assert len(display.shown) == 3  # starting, ready, and the fault once the display answered again
    events = [e["event"] for e in logs]
    assert events.count("display failing; the screen is drawn again when it answers") == 1
    assert events.count("display answering again") == 1


async def test_without_a_display_each_change_is_logged_once() -> None:
    feedback, _ = make(connectors=1)
    with capture_logs() as logs:
        task = asyncio.create_task(feedback.run(None))
        feedback.status(1, "Available")
        await asyncio.sleep(0.05)
        feedback.status(1, "Available")
        await asyncio.sleep(0.05)
        feedback.status(1, "Faulted", "GroundFailure")
        await asyncio.sleep(0.05)
        task.cancel()
    screens = [e["text"] for e in logs if e["event"] == "screen"]
    assert screens == ["Ready to use | 0.35 EUR/kWh | Tap your card",
                       "Out of order | Earth fault | Ladda | Call +46 8 123"]
    assert feedback.status_text() == "1: Out of order | Earth fault | Ladda | Call +46 8 123"


def test_a_transaction_resumed_after_a_restart_is_not_alerted_again_for_the_same_stretch() -> None:
    station = Station()
    feedback, clock = make(station=station, idle_alert_minutes=1.0)
    feedback.transaction_started(1, "tx")  # resumed: the restart's first look, no status yet
    feedback.idle_restored(1, charged=True, alerted=True)
    feedback._watch_idle(clock.now)
    feedback.status(1, "SuspendedEV", plugged=True)
    for _ in range(130):
        clock.now += 1
        feedback._watch_idle(clock.now)
    assert station.alerts == []
    assert feedback.lines(16, 2, page_at=0.0) == ["Move your car", "Charging done"]  # still asked
    feedback.status(1, "Charging", plugged=True)  # charging again: a new stretch may alert
    feedback._watch_idle(clock.now)
    feedback.status(1, "SuspendedEV", plugged=True)
    for _ in range(70):
        clock.now += 1
        feedback._watch_idle(clock.now)
    assert station.alerts == [1]


def test_a_resumed_transaction_that_had_charged_is_alerted_when_it_idles() -> None:
    station = Station()
    feedback, clock = make(station=station, idle_alert_minutes=1.0)
    feedback.transaction_started(1, "tx")
    feedback.idle_restored(1, charged=True, alerted=False)
    feedback.status(1, "SuspendedEV", plugged=True)
    for _ in range(70):
        clock.now += 1
        feedback._watch_idle(clock.now)
    assert station.alerts == [1]


def test_a_resumed_session_s_time_counts_from_its_start() -> None:
    """After a restart a resumed session shows the time since it began, not since the restart."""
    feedback, clock = make()
    feedback.status(1, "Charging", plugged=True)
    feedback.transaction_started(1, "tx-1", began_s_ago=3725.0)
    assert any("1:02 h" in line for n in range(4) for line in feedback.lines(20, 4, page_at=n * 4.0))
