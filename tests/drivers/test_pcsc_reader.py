"""The PC/SC reader driver against a real pcscd, the real vpcd reader driver and a virtual card.

Nothing is mocked between the driver and the card: pyscard talks to pcscd over its
socket, pcscd drives vpcd, and vpcd talks to :class:`VirtualCard` over TCP. pcscd is
started here when none runs (it needs root and the Debian packages pcscd and
vsmartcard-vpcd); when that is impossible every test fails saying what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from drivers.pcsc import PcscCardReader
from drivers.pcsc import reader as reader_module
from drivers.protocols import CardReader, DeviceError, Fault, FaultReporter
from simulators.pcscd import PcscDaemon, PcscdError
from simulators.virtual_card import VirtualCard, VirtualCardError

CARD_A = "04A1B2C3D4E5F6"
CARD_B = "A1B2C3D4"
POLL = 0.05  # short, to keep the tests fast
DEBOUNCE = 0.3
# pcscd looks at vpcd's slot every 400 ms: this is ample to see a card come or go.
SETTLE = 0.6


@pytest.fixture(scope="module")
def pcscd() -> Iterator[PcscDaemon]:
    daemon = PcscDaemon()
    try:
        daemon.ensure()
    except PcscdError as exc:
        pytest.fail(f"these tests need a real pcscd with the vpcd virtual reader: {exc}", pytrace=False)
    yield daemon
    daemon.close()


@pytest.fixture(scope="module", autouse=True)
def plain_structlog() -> Iterator[None]:
    """Log capture needs loggers that are not cached; another test may have configured caching."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    structlog.configure(**saved)


@pytest.fixture
async def card() -> AsyncIterator[VirtualCard]:
    async with VirtualCard() as virtual:
        yield virtual


class Watched:
    """What a reader yielded, collected as the agent would (one task per iterator)."""

    def __init__(self, reader: PcscCardReader) -> None:
        self.reader = reader
        self.cards: list[str] = []
        self.faults: list[Fault] = []

    async def collect(self) -> None:
        async def cards() -> None:
            async for uid in self.reader.cards():
                self.cards.append(uid)

        async def faults() -> None:
            async for fault in self.reader.faults():
                self.faults.append(fault)

        async with asyncio.TaskGroup() as tg:
            tg.create_task(cards())
            tg.create_task(faults())

    async def until(self, what: str, condition: Callable[[], bool], timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: cards={self.cards} faults={self.faults}")
            await asyncio.sleep(0.01)

    async def cards_read(self, count: int) -> list[str]:
        await self.until(f"{count} card(s)", lambda: len(self.cards) >= count)
        return self.cards

    async def faults_seen(self, count: int) -> list[tuple[bool, str]]:
        await self.until(f"{count} fault event(s)", lambda: len(self.faults) >= count)
        return [(fault.active, fault.error_code) for fault in self.faults]


@contextlib.asynccontextmanager
async def watching(**options: Any) -> AsyncIterator[Watched]:
    """An opened reader with its cards and faults collected; closed on exit."""
    options = {"poll_interval": POLL, "debounce": DEBOUNCE, **options}
    reader = PcscCardReader(**options)
    await reader.open()
    watched = Watched(reader)
    try:
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(watched.collect())
            try:
                yield watched
            finally:
                task.cancel()
    finally:
        await reader.close()


async def in_thread(action: Callable[[], None]) -> None:
    """pcscd control blocks; the event loop must keep serving the virtual card meanwhile."""
    await asyncio.to_thread(action)


# --- construction --------------------------------------------------------------------


def test_it_fills_both_roles_and_construction_does_no_io() -> None:
    reader = PcscCardReader(reader_name="ACR122", uid_format="decimal-reversed")
    assert isinstance(reader, CardReader)
    assert isinstance(reader, FaultReporter)
    assert not [t for t in threading.enumerate() if t.name == "pcsc-reader"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"uid_format": "dec"}, "unknown UID format 'dec'; allowed: hex, hex-reversed, decimal, decimal-reversed"),
        ({"poll_interval": 0}, "poll_interval 0 s must be positive"),
        ({"debounce": -1}, "debounce -1 s must not be negative"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PcscCardReader(**options)


async def test_an_unusable_pcsc_library_fails_open_naming_the_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader_module, "scard", None)  # as when libpcsclite cannot be loaded
    monkeypatch.setattr(reader_module, "_SCARD_IMPORT_ERROR", ImportError("libpcsclite.so.1: cannot open"))
    reader = PcscCardReader(reader_name="ACR122")
    with pytest.raises(DeviceError, match=r"PC/SC card reader 'ACR122': PC/SC library unusable .*libpcsclite") as info:
        await reader.open()
    assert info.value.retry is False
    await reader.close()  # nothing was started: still fine


# --- reading cards -------------------------------------------------------------------


async def test_a_tap_yields_the_uid_once_in_each_format(pcscd: PcscDaemon, card: VirtualCard) -> None:
    expected = {
        "hex": "04A1B2C3D4E5F6",
        "hex-reversed": "F6E5D4C3B2A104",
        "decimal": "1303689068602870",
        "decimal-reversed": "69495546249912580",
    }
    async with contextlib.AsyncExitStack() as stack:  # four readers share the one reader, as PC/SC allows
        watched = {fmt: await stack.enter_async_context(watching(uid_format=fmt)) for fmt in expected}
        await card.tap(CARD_A)
        for fmt, uid in expected.items():
            assert await watched[fmt].cards_read(1) == [uid], fmt
        await asyncio.sleep(SETTLE / 2)
        assert {fmt: w.cards for fmt, w in watched.items()} == {fmt: [uid] for fmt, uid in expected.items()}
        assert all(w.faults == [] for w in watched.values())


async def test_a_card_held_on_the_reader_yields_once(pcscd: PcscDaemon, card: VirtualCard) -> None:
    async with watching() as watched:
        await card.insert(CARD_A)
        assert await watched.cards_read(1) == [CARD_A]
        await asyncio.sleep(SETTLE)  # a dozen polls
        assert watched.cards == [CARD_A]
        assert card.uid_reads == 1  # read once, not once per poll


async def test_the_same_card_taken_away_and_tapped_again_yields_again(pcscd: PcscDaemon, card: VirtualCard) -> None:
    async with watching() as watched:
        await card.tap(CARD_A)
        assert await watched.cards_read(1) == [CARD_A]
        await asyncio.sleep(SETTLE)  # away longer than the debounce
        await card.tap(CARD_A)
        assert await watched.cards_read(2) == [CARD_A, CARD_A]


async def test_a_quick_second_tap_of_the_same_card_is_debounced(pcscd: PcscDaemon, card: VirtualCard) -> None:
    async with watching(debounce=5.0) as watched:
        await card.tap(CARD_A)
        assert await watched.cards_read(1) == [CARD_A]
        await card.tap(CARD_A)  # away for less than 5 s
        await asyncio.sleep(SETTLE / 2)
        assert watched.cards == [CARD_A]
        assert card.uid_reads == 1  # it was read, and recognised as the same card


async def test_two_different_cards_in_a_row_are_both_read_whatever_the_debounce(
    pcscd: PcscDaemon, card: VirtualCard
) -> None:
    async with watching(uid_format="hex-reversed", debounce=5.0) as watched:
        await card.tap(CARD_A)
        await card.tap(CARD_B)
        assert await watched.cards_read(2) == ["F6E5D4C3B2A104", "D4C3B2A1"]


async def test_a_card_refusing_the_uid_command_is_logged_once_and_ignored(pcscd: PcscDaemon) -> None:
    async with watching() as watched, VirtualCard(answer_uid=False) as refusing, VirtualCard() as good:
        with capture_logs() as logs:
            await refusing.insert(CARD_A)
            await refusing.wait_noticed()
            await asyncio.sleep(8 * POLL)  # held over several polls: one log line
            await refusing.remove()
        refused = [e for e in logs if e["event"] == "card did not answer the UID command; ignored"]
        assert len(refused) == 1, logs
        assert refused[0]["answer"] == "6A81"
        await good.tap(CARD_B)
        assert await watched.cards_read(1) == [CARD_B]


# --- reader and pcscd failures ---------------------------------------------------------


async def test_pcscd_restart_raises_and_clears_reader_failure_then_reads(pcscd: PcscDaemon, card: VirtualCard) -> None:
    async with watching() as watched:
        await card.tap(CARD_A)
        assert await watched.cards_read(1) == [CARD_A]
        await asyncio.sleep(SETTLE)
        await in_thread(pcscd.restart)
        assert await watched.faults_seen(2) == [(True, "ReaderFailure"), (False, "ReaderFailure")]
        assert watched.faults[0].info == "PC/SC service unavailable"
        assert watched.faults[0].connector == 0
        await card.tap(CARD_A)
        assert await watched.cards_read(2) == [CARD_A, CARD_A]


async def test_a_card_held_through_a_pcscd_restart_is_not_reported_twice(pcscd: PcscDaemon, card: VirtualCard) -> None:
    async with watching() as watched:
        await card.insert(CARD_A)
        assert await watched.cards_read(1) == [CARD_A]
        await in_thread(pcscd.restart)  # pcscd drops the card's connection: put it back at once
        await card.insert(CARD_A)
        await watched.faults_seen(2)
        await card.wait_noticed()
        await asyncio.sleep(SETTLE / 2)
        assert card.uid_reads == 1  # read again after the restart...
        assert watched.cards == [CARD_A]  # ...but not reported again


async def test_reader_absent_at_open_is_a_fault_not_an_error_and_its_arrival_clears_it(
    pcscd: PcscDaemon, card: VirtualCard
) -> None:
    await in_thread(pcscd.unplug_reader)
    try:
        with capture_logs() as logs:
            async with watching(reader_name="virtual PCD 00 00") as watched:  # matched ignoring case
                assert await watched.faults_seen(1) == [(True, "ReaderFailure")]
                assert watched.faults[0].info == "no reader matching 'virtual PCD 00 00'"
                await asyncio.sleep(10 * POLL)  # ten more attempts: still one fault, one log line
                assert len(watched.faults) == 1
                await in_thread(pcscd.plug_reader)
                assert await watched.faults_seen(2) == [(True, "ReaderFailure"), (False, "ReaderFailure")]
                await card.tap(CARD_B)
                assert await watched.cards_read(1) == [CARD_B]
        assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["card reader failed"]
    finally:
        if not pcscd.reader_plugged:
            await in_thread(pcscd.plug_reader)


async def test_reader_unplugged_and_plugged_back_while_running(pcscd: PcscDaemon, card: VirtualCard) -> None:
    try:
        async with watching() as watched:
            await in_thread(pcscd.unplug_reader)
            assert await watched.faults_seen(1) == [(True, "ReaderFailure")]
            await asyncio.sleep(5 * POLL)
            await in_thread(pcscd.plug_reader)
            assert await watched.faults_seen(2) == [(True, "ReaderFailure"), (False, "ReaderFailure")]
            await card.tap(CARD_A)
            assert await watched.cards_read(1) == [CARD_A]
    finally:
        if not pcscd.reader_plugged:
            await in_thread(pcscd.plug_reader)


async def test_no_pcscd_at_open_is_a_fault_cleared_when_it_starts(pcscd: PcscDaemon, card: VirtualCard) -> None:
    await in_thread(pcscd.stop)
    try:
        async with watching() as watched:
            assert await watched.faults_seen(1) == [(True, "ReaderFailure")]
            assert watched.faults[0].info == "PC/SC service unavailable"
            await in_thread(pcscd.ensure)
            assert await watched.faults_seen(2) == [(True, "ReaderFailure"), (False, "ReaderFailure")]
            await card.tap(CARD_B)
            assert await watched.cards_read(1) == [CARD_B]
    finally:
        await in_thread(pcscd.ensure)


async def test_a_reader_name_that_matches_nothing_is_a_fault(pcscd: PcscDaemon) -> None:
    async with watching(reader_name="ACR122") as watched:
        assert await watched.faults_seen(1) == [(True, "ReaderFailure")]
        assert watched.faults[0].info == "no reader matching 'ACR122'"


async def test_close_is_prompt_and_idempotent(pcscd: PcscDaemon) -> None:
    reader = PcscCardReader(poll_interval=5.0)  # a long wait for a card is cancelled, not sat out
    await reader.open()
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await reader.close()
    assert time.monotonic() - started < 0.5
    assert not [t for t in threading.enumerate() if t.name == "pcsc-reader"]
    await reader.close()


# --- the virtual card itself -----------------------------------------------------------


async def test_virtual_card_errors_say_what_is_wrong() -> None:
    with pytest.raises(VirtualCardError, match="'04A1B2' is 3 bytes; ISO 14443 UIDs are 4, 7 or 10"):
        await VirtualCard().insert("04A1B2")
    with pytest.raises(VirtualCardError, match="'XYZ' is not hexadecimal"):
        await VirtualCard().insert("XYZ")
    with pytest.raises(VirtualCardError, match="vpcd not listening on 127.0.0.1:9 .*is pcscd running"):
        await VirtualCard(port=9).insert(CARD_A)
