"""Certificate management in OCPP 1.6 (the Security whitepaper, edition 3: InstallCertificate,
GetInstalledCertificateIds, DeleteCertificate), spelled over the core's certificate store.

What is accepted, refused and kept is the store's (``agent.certificates``, shared with
OCPP 2.0.1); 1.6 names the CSMS root ``CentralSystemRootCertificate``. A CSMS root that
is refused raises the security event InvalidCentralSystemCertificate (TC_078), queued in
the journal like every other, so it reaches the backend after an outage too.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from .. import clock
from ..certificates import CSMS_ROOT, MANUFACTURER_ROOT, HashData

if TYPE_CHECKING:
    from .session import Ocpp16Link

log = structlog.get_logger(__name__)

#: 1.6's CertificateUse words for the core's uses.
USES = {"CentralSystemRootCertificate": CSMS_ROOT, "ManufacturerRootCertificate": MANUFACTURER_ROOT}
INVALID_CSMS_ROOT_EVENT = "InvalidCentralSystemCertificate"


class CertificateHandlers:
    """The whitepaper's certificate requests (a mixin of :class:`agent.ocpp16.handlers.Handlers`)."""

    session: Ocpp16Link

    @on(Action.install_certificate)
    async def on_install_certificate(self, certificate_type: str, certificate: str) -> Any:
        use = USES.get(certificate_type, certificate_type)
        outcome = await asyncio.to_thread(self.session.certificates.install, use, certificate,
                                          clock.current().now())
        if outcome.invalid and use == CSMS_ROOT:
            await self.session.db.run(self.session.journal.record_security_event, INVALID_CSMS_ROOT_EVENT,
                                      outcome.why)
            self.session.wake()
        return call_result.InstallCertificate(status=outcome.status.value)

    @on(Action.get_installed_certificate_ids)
    async def on_get_installed_certificate_ids(self, certificate_type: str) -> Any:
        entries = self.session.certificates.entries(frozenset({USES.get(certificate_type, certificate_type)}))
        log.info("get installed certificate ids", certificate_type=certificate_type, found=len(entries))
        if not entries:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(
            status="Accepted", certificate_hash_data=[e.hash_data().wire() for e in entries])

    @on(Action.delete_certificate)
    async def on_delete_certificate(self, certificate_hash_data: dict[str, Any]) -> Any:
        status, _ = await asyncio.to_thread(self.session.certificates.delete,
                                            HashData.from_wire(certificate_hash_data))
        return call_result.DeleteCertificate(status=status.value)
