"""Certificate management (OCPP 2.0.1 block M, the Core use cases: M03 GetInstalledCertificateIds,
M04 DeleteCertificate, M05 InstallCertificate), spelled over the core's certificate store.

What is accepted, refused and kept is the store's (``agent.certificates``, shared with
OCPP 1.6); 2.0.1 adds only its words: the ISO 15118 uses (V2G, MO roots, the V2G chain)
exist in its enumerations but not on this charger, so installing one is Rejected and
listing one finds nothing. The charging station certificate is not among the uses
GetInstalledCertificateIds lists; deleting it is Failed (TC_M_23_CS).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog
from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from .. import clock
from ..certificates import ROOT_USES, Deleted, HashData, Installed, InstallOutcome

if TYPE_CHECKING:
    from .session import Ocpp201Link

log = structlog.get_logger(__name__)


def _status_info(reason: str, detail: str) -> dict[str, str]:
    info = {"reason_code": reason}
    if detail:
        info["additional_info"] = detail[:512]
    return info


def _install_reason(use: str, outcome: InstallOutcome) -> str | None:
    """statusInfo's reasonCode for an install not plainly Accepted (None: none given)."""
    if outcome.status is Installed.ACCEPTED:
        return None
    if outcome.status is Installed.FAILED:
        return "WriteFailed"
    if outcome.invalid:
        return "InvalidCertificate"
    return "NotSupported" if use not in ROOT_USES else "StoreFull"


class CertificateHandlers:
    """InstallCertificate, GetInstalledCertificateIds and DeleteCertificate (a mixin of
    :class:`agent.ocpp201.handlers.Handlers`)."""

    session: Ocpp201Link

    @on(Action.install_certificate)
    async def on_install_certificate(self, certificate_type: str, certificate: str, **_: Any) -> Any:
        outcome = await asyncio.to_thread(self.session.certificates.install, certificate_type, certificate,
                                          clock.current().now())
        reason = _install_reason(certificate_type, outcome)
        return call_result.InstallCertificate(status=outcome.status.value,
                                              status_info=_status_info(reason, outcome.why) if reason else None)

    @on(Action.get_installed_certificate_ids)
    async def on_get_installed_certificate_ids(self, certificate_type: list[str] | None = None, **_: Any) -> Any:
        store = self.session.certificates
        entries = store.entries(frozenset(certificate_type) if certificate_type else None)
        log.info("get installed certificate ids", certificate_type=certificate_type, found=len(entries))
        if not entries:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        chain = [{"certificate_type": e.use, "certificate_hash_data": e.hash_data().wire()} for e in entries]
        return call_result.GetInstalledCertificateIds(status="Accepted", certificate_hash_data_chain=chain)

    @on(Action.delete_certificate)
    async def on_delete_certificate(self, certificate_hash_data: dict[str, Any], **_: Any) -> Any:
        status, why = await asyncio.to_thread(self.session.certificates.delete, HashData.from_wire(certificate_hash_data))
        reason = {Deleted.NOT_FOUND: "NotFound", Deleted.FAILED: "DeleteFailed"}.get(status)
        info = _status_info(reason, why) if reason else None
        return call_result.DeleteCertificate(status=status.value, status_info=info)
