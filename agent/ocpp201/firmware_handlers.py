"""Firmware updates over OCPP 2.0.1 (block L: L01 secure and L02 non-secure UpdateFirmware),
spelled over the core's updater (:mod:`agent.firmware.updater`).

The updater decides everything once for both protocols: which answer a request gets
(a signing certificate no manufacturer root issued: InvalidCertificate and a security
event; firmware without signature while a root is configured: Rejected; a second request
while one runs: AcceptedCanceled, or Rejected once the root installer has it), and the
statuses the job goes through, journaled and spelled by :mod:`agent.ocpp201.outbound` as
FirmwareStatusNotification with the request's id. This module only reads the request
and writes the answer, with a statusInfo saying why for a refusal.

RevokedCertificate is never answered: the charger has no revocation list to consult. A
charger whose maker left FirmwareManagement out of SupportedFeatureProfiles answers every
request Rejected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog
from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from .. import locations

if TYPE_CHECKING:
    from .session import Ocpp201Link

log = structlog.get_logger(__name__)


class FirmwareHandlers:
    """UpdateFirmware; a mixin of :class:`agent.ocpp201.handlers.Handlers`."""

    session: Ocpp201Link

    @on(Action.update_firmware)
    async def on_update_firmware(self, request_id: int, firmware: dict[str, Any], retries: int | None = None,
                                 retry_interval: int | None = None, **_: Any) -> Any:
        updater = self.session.firmware
        location = str(firmware.get("location", ""))
        if updater is None or not self.session.config.offers("FirmwareManagement"):
            # A charger whose maker does not offer remote updates (SupportedFeatureProfiles
            # without FirmwareManagement): UpdateFirmware is Core in 2.0.1, so it is
            # answered in band rather than with 1.6's CALLERROR NotSupported.
            return call_result.UpdateFirmware(status="Rejected", status_info={
                "reason_code": "NotOffered", "additional_info": "this charger takes no firmware updates"})
        try:
            locations.check_url(location)
        except locations.TransferError as exc:
            log.warning("firmware update refused", location=locations.masked_url(location), reason=str(exc))
            return call_result.UpdateFirmware(status="Rejected", status_info={
                "reason_code": "InvalidURL", "additional_info": str(exc)[:512]})
        answer = await updater.request(
            request_id, location, firmware["retrieve_date_time"], firmware.get("signing_certificate"),
            firmware.get("signature"), retries, retry_interval, firmware.get("install_date_time"))
        log.info("firmware update requested", location=locations.masked_url(location), request_id=request_id,
                 signed=firmware.get("signature") is not None, install_date=firmware.get("install_date_time"),
                 answer=answer.status)
        info = None
        if answer.reason:
            info = {"reason_code": answer.reason, "additional_info": answer.detail[:512]}
        return call_result.UpdateFirmware(status=answer.status, status_info=info)
