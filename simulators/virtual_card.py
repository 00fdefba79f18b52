"""A virtual contactless card on vsmartcard-vpcd's socket, so tests and the bench
drive the real pcscd, the real PC/SC client library and the real reader driver.

vpcd (the virtual reader driver loaded by pcscd) listens on TCP port 35963 for slot 0.
The card is the client: connecting inserts it, closing the connection removes it.
Every message either way is a 2-byte big-endian length and a payload. From vpcd, a
1-byte payload is a control code (0 power off, 1 power on, 2 reset, 4 "send your
ATR"), anything longer an APDU; only the ATR request and APDUs get an answer. pcscd
polls for the card by asking for its ATR every few hundred milliseconds.

vpcd binds all addresses; we always connect through the loopback. Debian's own
virtual card (vicc) crashes on the UID command, hence this small one.

A card put on a slot less than one pcscd poll after the previous one left can go
unnoticed: vpcd may drop the old connection outside pcscd's presence check (when pcscd
powers an idle card down) and hand the new card to the next check, so pcscd never sees
the slot empty and takes the new card for the old one. A real reader always passes
through "no card" (the field is empty), so :meth:`VirtualCard.insert` waits until
:data:`SWAP_GAP` has passed since any card left the same slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from types import TracebackType

VPCD_PORT = 35963

# PC/SC Part 3 ATR of a contactless storage card (ISO 14443-A, MIFARE Classic 1K), what
# a PC/SC contactless reader reports for a typical access badge.
STORAGE_CARD_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")

GET_UID = bytes.fromhex("FFCA000000")
SW_OK = b"\x90\x00"
SW_FUNCTION_NOT_SUPPORTED = b"\x6a\x81"  # e.g. a GET DATA variant this card does not know
SW_INS_NOT_SUPPORTED = b"\x6d\x00"

SWAP_GAP = 0.5  # s: pcscd checks vpcd's slot every 0.4 s
_removed_at: dict[tuple[str, int], float] = {}  # slot -> when its last card left (monotonic)

# vpcd's control codes: 0 power off, 1 power on, 2 reset, 4 ATR request (the only one answered).
_CTRL_POWER_ON, _CTRL_RESET, _CTRL_ATR = 1, 2, 4


class VirtualCardError(Exception):
    """The virtual card could not be inserted (vpcd not listening, bad UID)."""


def parse_uid(uid_hex: str) -> bytes:
    """The UID bytes of ``uid_hex`` (4, 7 or 10 bytes, as ISO 14443-3 allows)."""
    try:
        uid = bytes.fromhex(uid_hex)
    except ValueError:
        raise VirtualCardError(f"card UID {uid_hex!r} is not hexadecimal") from None
    if len(uid) not in (4, 7, 10):
        raise VirtualCardError(f"card UID {uid_hex!r} is {len(uid)} bytes; ISO 14443 UIDs are 4, 7 or 10")
    return uid


class VirtualCard:
    """One card presented to vpcd's slot at ``host:port``.

    ``insert``/``remove`` hold the card on the reader and take it away; ``tap`` does
    both. The task answering vpcd lives from ``insert`` to ``remove`` and is awaited
    there; ``async with VirtualCard() as card`` removes the card on exit whatever happens.
    ``answer_uid=False`` makes a card that refuses the UID command (a card type the
    reader cannot read). ``uid_reads`` counts the UID commands answered since insertion.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = VPCD_PORT, *, answer_uid: bool = True) -> None:
        self.host = host
        self.port = port
        self.answer_uid = answer_uid
        self.uid_reads = 0
        self._uid = b""
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._noticed = asyncio.Event()

    async def insert(self, uid_hex: str) -> None:
        """Put the card with UID ``uid_hex`` on the reader (removing any card held before)."""
        uid = parse_uid(uid_hex)
        await self.remove()
        left = _removed_at.get((self.host, self.port))
        if left is not None:
            await asyncio.sleep(max(0.0, left + SWAP_GAP - time.monotonic()))
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise VirtualCardError(
                f"vpcd not listening on {self.host}:{self.port} ({exc.strerror or exc}); "
                "is pcscd running with vsmartcard-vpcd installed?"
            ) from None
        self._uid, self._writer, self.uid_reads = uid, writer, 0
        self._noticed = asyncio.Event()
        self._task = asyncio.create_task(self._serve(reader, writer), name=f"virtual card {uid_hex}")

    async def remove(self) -> None:
        """Take the card off the reader; nothing happens if it is not there."""
        task, writer = self._task, self._writer
        self._task = self._writer = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            _removed_at[(self.host, self.port)] = time.monotonic()
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def tap(self, uid_hex: str, hold: float = 0.3, *, notice_timeout: float = 2.0) -> None:
        """Hold the card on the reader for ``hold`` seconds, then take it away.

        As a person waits for the reader's beep, ``hold`` counts from the moment the
        reader noticed the card: pcscd looks at vpcd's slot only every 400 ms and then
        waits 200 ms more before it powers the card and reports it, so a card lifted
        sooner would never have been seen. Raises :class:`VirtualCardError` if the reader
        does not notice the card within ``notice_timeout`` seconds.
        """
        await self.insert(uid_hex)
        try:
            await self.wait_noticed(notice_timeout)
            await asyncio.sleep(hold)
        finally:
            await self.remove()

    async def wait_noticed(self, timeout: float = 2.0) -> None:
        """Wait until the reader has noticed the inserted card: pcscd powered it up,
        which it does just before it reports the card to its clients."""
        try:
            async with asyncio.timeout(timeout):
                await self._noticed.wait()
        except TimeoutError:
            raise VirtualCardError(
                f"the reader did not notice the card on {self.host}:{self.port} within {timeout} s; "
                "is pcscd running with the vpcd reader?"
            ) from None

    async def __aenter__(self) -> VirtualCard:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.remove()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer vpcd until it closes the connection (pcscd stopped) or we are removed."""
        try:
            while True:
                (length,) = struct.unpack(">H", await reader.readexactly(2))
                payload = await reader.readexactly(length)
                answer = self._answer(payload)
                if answer is not None:
                    writer.write(struct.pack(">H", len(answer)) + answer)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return  # vpcd went away: for the reader, the card is gone

    def _answer(self, payload: bytes) -> bytes | None:
        if len(payload) == 1:
            if payload[0] in (_CTRL_POWER_ON, _CTRL_RESET):
                self._noticed.set()
            return STORAGE_CARD_ATR if payload[0] == _CTRL_ATR else None
        if payload == GET_UID:
            if not self.answer_uid:
                return SW_FUNCTION_NOT_SUPPORTED
            self.uid_reads += 1
            return self._uid + SW_OK
        if payload[:2] == GET_UID[:2]:
            return SW_FUNCTION_NOT_SUPPORTED  # GET DATA for something other than the UID
        return SW_INS_NOT_SUPPORTED
