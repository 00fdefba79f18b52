"""The bench's card reader on PC/SC: a real pcscd, vpcd's virtual reader and a virtual card.

With ``ladda-sim bench --reader pcsc`` the agent's real PC/SC driver reads the cards a
person taps at the bench: pyscard talks to pcscd, pcscd drives vpcd's slot, and
:class:`~simulators.virtual_card.VirtualCard` answers on vpcd's socket. The bench's
control channel can also pull the reader out and put it back, and restart pcscd, as
a technician or a crashing service would; see :mod:`simulators.pcscd` for how pcscd
is made to show those (and why they need a pcscd started here, i.e. root).

There is one pcscd per machine and one vpcd slot 0, so one bench at a time can hold
this reader.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from simulators.pcscd import VPCD_PORT, VPCD_READER, PcscDaemon
from simulators.virtual_card import VirtualCard, VirtualCardError

log = structlog.get_logger(__name__)

#: The agent's [reader] name for vpcd's first slot (pcscd names it "Virtual PCD 00 00").
READER_NAME = f"{VPCD_READER} 00 00"
#: How long a tapped card waits on the reader for pcscd to notice it (it polls vpcd
#: every 0.4 s and reports 0.2 s later) and then for a driver to read its UID; a
#: person holds a card about this long when nothing beeps.
NOTICE_S = 2.0
READ_S = 1.5
#: How long the card stays after its UID was read (the person lifts it after the beep).
LIFT_AFTER_READ_S = 0.1


class PcscCardDesk:
    """The reader a person taps cards on: pcscd with vpcd's slot ``port`` and one card.

    ``start`` finds or starts pcscd (raising :class:`~simulators.pcscd.PcscdError`
    with what to install or do when it cannot); ``close`` stops a pcscd it started.
    Taps are serialised: a person has one hand for cards.
    """

    def __init__(self, port: int = VPCD_PORT) -> None:
        self.daemon = PcscDaemon(vpcd_port=port)
        self.card = VirtualCard(port=port)
        self.taps = 0
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        await asyncio.to_thread(self.daemon.ensure)

    async def close(self) -> None:
        await self.card.remove()
        await asyncio.to_thread(self.daemon.close)

    @property
    def plugged(self) -> bool:
        return self.daemon.reader_plugged

    async def tap(self, uid: str) -> int:
        """Hold card ``uid`` on the reader until a driver read its UID (or a person
        would give up); returns how many times the UID was read: 0 means no agent
        read the card (none running, the reader unplugged, or pcscd down)."""
        async with self._lock:
            self.taps += 1
            try:
                await self.card.insert(uid)
                await self.card.wait_noticed(NOTICE_S)
                async with asyncio.timeout(READ_S):
                    while self.card.uid_reads == 0:
                        await asyncio.sleep(0.02)
                await asyncio.sleep(LIFT_AFTER_READ_S)
            except (VirtualCardError, TimeoutError) as exc:
                log.info("card not read", uid=uid, why=str(exc) or "no driver asked for its UID")
            finally:
                reads = self.card.uid_reads
                await self.card.remove()
            return reads

    async def set_plugged(self, plugged: bool) -> None:
        """Pull the reader's USB plug (pcscd loses the reader) or plug it back."""
        async with self._lock:
            if plugged != self.daemon.reader_plugged:
                await asyncio.to_thread(self.daemon.plug_reader if plugged else self.daemon.unplug_reader)
            log.info("card reader " + ("plugged in" if plugged else "unplugged"))

    async def restart_pcscd(self) -> None:
        """pcscd stops and starts again (a crash, or an upgrade restarting the service)."""
        async with self._lock:
            await asyncio.to_thread(self.daemon.restart)
            log.info("pcscd restarted")

    def status(self) -> dict[str, Any]:
        return {"reader": "pcsc", "reader_plugged": self.plugged}
