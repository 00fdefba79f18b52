"""An RFID reader reached through PC/SC (pcscd), e.g. an ACR122U or any CCID contactless reader.

pyscard is blocking, and pcscd comes and goes (package upgrades, crashes, a reader
unplugged and plugged back), so one thread of ours owns the PC/SC context for the
driver's whole life: it waits for cards, reads each UID with the PC/SC "get data" command
``FF CA 00 00 00`` and hands it to the event loop. Errors never leave that thread: it
drops the context, reports a ReaderFailure fault, and tries again every
``poll_interval`` until the reader answers, then clears the fault. pyscard's own
``CardMonitor`` is not used because its thread dies for good when pcscd restarts.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import structlog

from drivers.pcsc.uid import UID_FORMATS, format_uid
from drivers.protocols import DeviceError, Fault

try:
    from smartcard import scard
except ImportError as _import_error:  # libpcsclite missing: open() says so, the agent still starts
    scard = None
    _SCARD_IMPORT_ERROR: ImportError | None = _import_error
else:
    _SCARD_IMPORT_ERROR = None

log = structlog.get_logger(__name__)

GET_UID = [0xFF, 0xCA, 0x00, 0x00, 0x00]
INFO_MAX_LENGTH = 50  # StatusNotification.info


class _ServiceDown(Exception):
    """pcscd does not answer, or our context is no longer valid: start again from a new context."""


class _ReaderGone(Exception):
    """pcscd answers but the reader is not (or no longer) there."""


class PcscCardReader:
    """A :class:`~drivers.protocols.CardReader` and :class:`~drivers.protocols.FaultReporter` over PC/SC.

    ``reader_name`` selects the reader by a case-insensitive part of its PC/SC name
    (empty: the first reader). ``uid_format`` is one of :data:`~drivers.pcsc.uid.UID_FORMATS`.
    A card held on the reader is reported once; the same card again only after it has
    been away for ``debounce`` seconds (a hand hovering over the reader is not a new tap).
    ``poll_interval`` is how long the reader thread waits for a change in one call, and
    how often it retries while the reader or pcscd is missing.
    """

    def __init__(
        self, *, reader_name: str = "", uid_format: str = "hex", poll_interval: float = 0.2, debounce: float = 0.5
    ) -> None:
        if uid_format not in UID_FORMATS:
            raise ValueError(f"unknown UID format {uid_format!r}; allowed: {', '.join(UID_FORMATS)}")
        if not poll_interval > 0:
            raise ValueError(f"poll_interval {poll_interval} s must be positive")
        if debounce < 0:
            raise ValueError(f"debounce {debounce} s must not be negative")
        self.reader_name = reader_name
        self.uid_format = uid_format
        self.poll_interval = poll_interval
        self.debounce = debounce
        self.name = f"PC/SC card reader {reader_name!r}" if reader_name else "PC/SC card reader (first found)"
        self._cards: asyncio.Queue[str] = asyncio.Queue()
        self._faults: asyncio.Queue[Fault] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._context: Any = None  # the thread's PC/SC context, for close() to cancel its wait
        # Owned by the reader thread from here on.
        self._reader_ok: bool | None = None  # None until the first attempt
        self._card_here = False
        self._card_events = 0  # pcsc-lite's card event count when the card was last seen
        self._handled = False  # the card now on the reader was read, refused or ignored
        self._read_error_logged = False
        self._last_uid: str | None = None
        self._gone_since: float | None = None  # when the last card read left; None while it is there

    async def open(self) -> None:
        """Start the reader thread. A missing reader or pcscd is a fault, not an error:
        only an unusable PC/SC library raises :class:`DeviceError`."""
        if scard is None:
            raise DeviceError(
                self.name, f"PC/SC library unusable ({_SCARD_IMPORT_ERROR}); install libpcsclite1 and pcscd",
                retry=False,
            )
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pcsc-reader", daemon=True)
        self._thread.start()

    async def cards(self) -> AsyncIterator[str]:
        """Each card UID once per tap, formatted as ``uid_format``; never raises."""
        while True:
            yield await self._cards.get()

    async def faults(self) -> AsyncIterator[Fault]:
        """ReaderFailure raised when the reader or pcscd goes away, cleared when it is back."""
        while True:
            yield await self._faults.get()

    async def close(self) -> None:
        """Stop and join the reader thread; idempotent. Cancelling the thread's wait for
        a card makes this take milliseconds whatever ``poll_interval`` is."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        await asyncio.to_thread(self._stop_thread, thread)

    def _stop_thread(self, thread: threading.Thread) -> None:
        self._stop.set()
        context = self._context
        if context is not None:
            scard.SCardCancel(context)  # harmless if the thread released it meanwhile
        thread.join(self.poll_interval + 1.0)
        if thread.is_alive():
            log.warning("card reader thread did not stop", reader=self.name)

    # --- the reader thread ----------------------------------------------------------

    def _run(self) -> None:
        context: Any = None
        reader: str | None = None
        state = scard.SCARD_STATE_UNAWARE
        try:
            while not self._stop.is_set():
                try:
                    if context is None:
                        context = self._context = self._establish()
                    if reader is None:
                        reader = self._find_reader(context)
                        state = scard.SCARD_STATE_UNAWARE
                        self._report(ok=True, info=reader, reason="")
                    state = self._watch(context, reader, state)
                except _ReaderGone as exc:
                    reader = None
                    self._lost(info=str(exc), reason=str(exc))
                except Exception as exc:  # _ServiceDown, or anything unforeseen: it must not end the thread
                    self._context = None
                    self._release(context)
                    context = reader = None
                    if isinstance(exc, _ServiceDown):
                        self._lost(info="PC/SC service unavailable", reason=str(exc))
                    else:
                        self._lost(info="card reader error", reason=repr(exc))
        finally:
            self._context = None
            self._release(context)

    def _lost(self, *, info: str, reason: str) -> None:
        """The reader is out of reach: report it, forget what it showed, wait before trying again.

        The last card read stays remembered, so a card held through a pcscd restart is
        not reported twice, while another card put down meanwhile is read at once.
        """
        self._card_here = False
        self._report(ok=False, info=info, reason=reason)
        self._stop.wait(self.poll_interval)

    def _establish(self) -> Any:
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            raise _ServiceDown(_message(hresult))
        return context

    @staticmethod
    def _release(context: Any) -> None:
        if context is not None:
            scard.SCardReleaseContext(context)  # fails harmlessly when pcscd is gone

    def _find_reader(self, context: Any) -> str:
        hresult, readers = scard.SCardListReaders(context, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
            readers = []
        elif hresult != scard.SCARD_S_SUCCESS:
            raise _ServiceDown(_message(hresult))
        wanted = self.reader_name.lower()
        for name in readers:
            if wanted in name.lower():
                return str(name)
        raise _ReaderGone(f"no reader matching {self.reader_name!r}" if self.reader_name else "no card reader found")

    def _watch(self, context: Any, reader: str, state: int) -> int:
        """Wait up to ``poll_interval`` for a change on ``reader``; act on it; return the new state."""
        timeout_ms = max(1, int(self.poll_interval * 1000))
        hresult, changes = scard.SCardGetStatusChange(context, timeout_ms, [(reader, state)])
        if hresult == scard.SCARD_S_SUCCESS:
            state = changes[0][1] & ~scard.SCARD_STATE_CHANGED
        elif hresult not in (scard.SCARD_E_TIMEOUT, scard.SCARD_E_CANCELLED):
            _raise_for(hresult)
        if state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
            raise _ReaderGone("card reader removed")
        if state & scard.SCARD_STATE_PRESENT:
            # pcsc-lite counts card insertions and removals in the upper 16 bits: a card
            # swapped while we were busy reading shows as "still present" with a new count.
            events = state >> 16
            if not self._card_here or events != self._card_events:
                self._card_here, self._handled, self._read_error_logged = True, False, False
            self._card_events = events
            if not self._handled:
                self._read_card(context, reader)
        elif self._card_here:
            self._card_here = False
            if self._gone_since is None:
                self._gone_since = time.monotonic()
        return state

    def _read_card(self, context: Any, reader: str) -> None:
        """Read the UID of the card on ``reader`` and pass it on unless it is a repeat."""
        hresult, card, protocol = scard.SCardConnect(
            context, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
        )
        if hresult != scard.SCARD_S_SUCCESS:
            self._read_failed(hresult)
            return
        try:
            hresult, response = scard.SCardTransmit(card, protocol, GET_UID)
        finally:
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
        if hresult != scard.SCARD_S_SUCCESS or len(response) < 2:  # vpcd: empty when the card left mid-read
            self._read_failed(hresult)
            return
        self._handled = True
        if response[-2:] != [0x90, 0x00]:
            log.warning("card did not answer the UID command; ignored", reader=reader,
                        answer=bytes(response).hex().upper())
            return
        try:
            tag = format_uid(bytes(response[:-2]), self.uid_format)
        except ValueError as exc:
            log.warning("card UID unusable; ignored", reader=reader, reason=str(exc))
            return
        now = time.monotonic()
        repeat = tag == self._last_uid and (self._gone_since is None or now - self._gone_since < self.debounce)
        self._last_uid, self._gone_since = tag, None
        if not repeat:
            self._post(self._cards, tag)

    def _read_failed(self, hresult: int) -> None:
        """A card that left mid-read, or would not talk: try again while it stays, log once."""
        _raise_for(hresult, card_errors_pass=True)
        if not self._read_error_logged:
            self._read_error_logged = True
            reason = _message(hresult) if hresult != scard.SCARD_S_SUCCESS else "no status word in the answer"
            log.info("card could not be read", reader=self.name, reason=reason)

    def _report(self, *, ok: bool, info: str, reason: str) -> None:
        """Raise or clear ReaderFailure on a change only, and log it once."""
        if ok == self._reader_ok:
            return
        first = self._reader_ok is None
        self._reader_ok = ok
        if ok:
            log.info("card reader ready", reader=info)
            if not first:
                self._post(self._faults, Fault(0, "ReaderFailure", active=False, info=info[:INFO_MAX_LENGTH]))
        else:
            log.warning("card reader failed", reader=self.name, reason=reason)
            self._post(self._faults, Fault(0, "ReaderFailure", active=True, info=info[:INFO_MAX_LENGTH]))

    def _post(self, queue: asyncio.Queue[Any], item: Any) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:
            pass  # the event loop is closing: nobody is listening any more


def _raise_for(hresult: int, *, card_errors_pass: bool = False) -> None:
    """Turn a PC/SC error into the recovery it needs; other errors are the card's when
    ``card_errors_pass``, else the context's (start again from a new one)."""
    if hresult in (scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE, scard.SCARD_E_NO_READERS_AVAILABLE):
        raise _ReaderGone("card reader removed")
    service_gone = hresult in (scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_F_COMM_ERROR)
    if service_gone or not card_errors_pass:
        raise _ServiceDown(_message(hresult))


def _message(hresult: int) -> str:
    return f"{scard.SCardGetErrorMessage(hresult).rstrip('. ')} (0x{hresult & 0xFFFFFFFF:08X})"
