"""The charging station's own certificate in OCPP 2.0.1 (A02 Update Charging Station
Certificate by request of CSMS): TriggerMessage SignChargingStationCertificate starts a
request (after the reply), CertificateSigned delivers the signed chain.

The work is the core's (:mod:`agent.certificates.signing`); this module spells it. A
chain that is not valid is Rejected and raises InvalidChargingStationCertificate. There
is no ISO 15118 here: a V2GCertificate is Rejected without a security event (nothing
is wrong with it, the charger has no use for it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

if TYPE_CHECKING:
    from .session import Ocpp201Link

INVALID_EVENT = "InvalidChargingStationCertificate"
SIGN_TRIGGER = "SignChargingStationCertificate"


class OwnCertificateHandlers:
    """CertificateSigned (a mixin of :class:`agent.ocpp201.handlers.Handlers`)."""

    session: Ocpp201Link
    if TYPE_CHECKING:
        def after_reply(self, callback: Callable[[], None]) -> None: ...

    def _trigger_signing(self) -> Any:
        """TriggerMessage SignChargingStationCertificate: Accepted, the CSR follows the reply."""
        self.after_reply(self.session.signing.request)
        return call_result.TriggerMessage(status="Accepted")

    @on(Action.certificate_signed)
    async def on_certificate_signed(self, certificate_chain: str, certificate_type: str | None = None,
                                    **_: Any) -> Any:
        if certificate_type not in (None, "ChargingStationCertificate"):
            return call_result.CertificateSigned(
                status="Rejected", status_info={"reason_code": "NotSupported",
                                                "additional_info": f"no {certificate_type} on this charger"})
        verdict = await self.session.signing.certificate_signed(certificate_chain, INVALID_EVENT)
        if verdict.accepted:
            return call_result.CertificateSigned(status="Accepted")
        reason = "InvalidCertificate" if verdict.invalid else "NoCSR" if "no certificate signing" in verdict.why \
            else "InternalError"
        return call_result.CertificateSigned(status="Rejected",
                                             status_info={"reason_code": reason, "additional_info": verdict.why[:512]})
