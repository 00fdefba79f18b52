"""Getting the charger's certificate signed (OCPP 2.0.1 A02/A03, 1.6 whitepaper), in
neutral terms: when to make a request, sending it until a backend answers it with a
certificate, and taking that certificate.

A request starts when the backend triggers it (2.0.1 TriggerMessage
SignChargingStationCertificate, 1.6 ExtendedTriggerMessage SignChargePointCertificate:
after the reply to it) or when the certificate in use comes within the renewal margin of
its expiry (checked at start and once a day). The adapter sends the CSR (``send``: True
when the backend answered Accepted). No certificate within CertSigningWaitMinimum
seconds after that (or a Rejected answer) sends the same CSR again, the wait doubled each
time, CertSigningRepeatTimes times at most (A02.FR.17, TC_A_15_CS, TC_A_23_CS). The key
and the CSR are kept on disk, so a restart resumes the request rather than lose it.

The job is one long-lived task, owned by the agent's TaskGroup through the link.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from .own import OwnCertificate, Verdict

if TYPE_CHECKING:
    from cryptography import x509

log = structlog.get_logger(__name__)

#: How often the certificate in use is checked against the renewal margin (s): once a day.
RENEWAL_CHECK_S = 86_400.0


class CertificateSigning:
    """The request for a new client certificate, from the CSR to the stored pair."""

    def __init__(self, own: OwnCertificate, *, send: Callable[[str], Awaitable[bool]],
                 subject: Callable[[], tuple[str, str]], wait_minimum: Callable[[], int],
                 repeat_times: Callable[[], int], trusted: Callable[[], list[x509.Certificate]],
                 max_chain: Callable[[], int], record_event: Callable[[str, str], Awaitable[None]],
                 now: Callable[[], datetime], renew_days: int | None = None) -> None:
        self.own = own
        self._send = send
        self._subject = subject
        self._wait_minimum = wait_minimum
        self._repeat_times = repeat_times
        self._trusted = trusted
        self._max_chain = max_chain
        self._record_event = record_event
        self._now = now
        self.renew_days = renew_days
        self._wake = asyncio.Event()
        #: A new key pair and CSR are wanted (a trigger or the renewal margin).
        self._fresh = False

    def request(self) -> None:
        """Start a new request: a new key pair, a new CSR (called after the trigger's reply)."""
        self._fresh = True
        self._wake.set()

    async def run(self) -> None:
        """The request job and the daily renewal check, until cancelled."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._requests(), name="certificate-requests")
            if self.renew_days is not None:
                tg.create_task(self._renewal(), name="certificate-renewal")

    async def certificate_signed(self, chain: str, invalid_event: str) -> Verdict:
        """Take the backend's certificate chain; a certificate at fault raises ``invalid_event``."""
        now, most = self._now(), self._max_chain()
        # The trusted CAs are read from files: in the worker thread too, not on the event loop.
        verdict = await asyncio.to_thread(lambda: self.own.accept(chain, now, self._trusted(), most))
        if verdict.invalid:
            await self._record_event(invalid_event, verdict.why)
        if verdict.accepted:
            self._wake.set()  # the request is answered: no more retries
        return verdict

    # ------------------------------------------------------------------ the job
    async def _requests(self) -> None:
        if await asyncio.to_thread(self.own.pending_csr) is not None:
            log.info("resuming a certificate signing request an earlier run left")
            self._wake.set()
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._fresh:
                self._fresh = False
                common_name, organization = self._subject()
                await asyncio.to_thread(self.own.new_request, common_name, organization)
            await self._send_until_signed()

    async def _send_until_signed(self) -> None:
        tries = 0
        while True:
            csr = await asyncio.to_thread(self.own.pending_csr)
            if csr is None or self._fresh:
                return  # signed, or a newer request replaces this one (the outer loop takes it)
            accepted = await self._send(csr)
            if self._fresh:
                return
            wait = max(1, self._wait_minimum()) * 2 ** tries
            if tries >= self._repeat_times():
                log.warning("certificate signing request unanswered; giving up until the next trigger or renewal",
                            accepted=accepted, tries=tries + 1)
                # Wait for a late answer: a CertificateSigned that still fits the key is taken.
                return
            tries += 1
            log.info("certificate signing request: waiting for the certificate", accepted=accepted, seconds=wait)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):  # not 3.11's wait_for, which can swallow a stop
                    await self._wake.wait()
            if self._fresh:
                self._wake.set()  # let the outer loop start the new request
                return

    async def _renewal(self) -> None:
        assert self.renew_days is not None
        while True:
            due = await asyncio.to_thread(self.own.renewal_due, self._now(), self.renew_days)
            pending = await asyncio.to_thread(self.own.pending_csr)
            if due and pending is None:
                leaf = self.own.leaf()
                log.info("client certificate expires within the renewal margin: requesting a new one",
                         not_after=None if leaf is None else f"{leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}",
                         margin_days=self.renew_days)
                self.request()
            await asyncio.sleep(RENEWAL_CHECK_S)
