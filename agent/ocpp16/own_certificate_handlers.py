"""The charge point's own certificate in OCPP 1.6 (security whitepaper edition 3, "Update
Charge Point Certificate by request of Central System"): ExtendedTriggerMessage
SignChargePointCertificate starts a request (after the reply), CertificateSigned
delivers the signed chain.

The work is the core's (:mod:`agent.certificates.signing`), shared with OCPP 2.0.1; a
chain that is not valid is Rejected and raises InvalidChargePointCertificate (TC_077).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

if TYPE_CHECKING:
    from .session import Ocpp16Link

INVALID_EVENT = "InvalidChargePointCertificate"
SIGN_TRIGGER = "SignChargePointCertificate"


class OwnCertificateHandlers:
    """CertificateSigned (a mixin of :class:`agent.ocpp16.handlers.Handlers`)."""

    session: Ocpp16Link

    @on(Action.certificate_signed)
    async def on_certificate_signed(self, certificate_chain: str, **_: Any) -> Any:
        verdict = await self.session.signing.certificate_signed(certificate_chain, INVALID_EVENT)
        return call_result.CertificateSigned(status="Accepted" if verdict.accepted else "Rejected")
