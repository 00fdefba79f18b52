"""OCPP 2.0.1 N01 Retrieve Log Information: GetLog, spelled over the core's log job.

A mixin of :class:`agent.ocpp201.handlers.Handlers`. The job (:mod:`agent.log_jobs`) is
the one OCPP 1.6's GetDiagnostics and GetLog use: DiagnosticsLog uploads the diagnostics
archive, SecurityLog the security log, each within oldestTimestamp/latestTimestamp. The
answer names the file; the upload follows after the reply, its statuses go out as
LogStatusNotification with the request's requestId. A request while one runs cancels it
(N01.FR.12): AcceptedCanceled, and the cancelled one's LogStatusNotification says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog
from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from .. import locations

if TYPE_CHECKING:
    from .session import Ocpp201Link

logger = structlog.get_logger(__name__)



class LogHandlers:
    """GetLog; needs ``session`` and ``after_reply`` of the class it is mixed into."""

    session: Ocpp201Link
    if TYPE_CHECKING:
        def after_reply(self, callback: Callable[[], None]) -> None: ...

    @on(Action.get_log)
    async def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int, retries: int | None = None,
                         retry_interval: int | None = None, **_: Any) -> Any:
        # A location this station cannot upload to, or a window it cannot act on, is
        # Rejected with the reason (not a CALLERROR, which the library would log with the
        # whole request, the location's password included).
        location = str(log.get("remote_location", ""))
        shown = locations.masked_url(location)
        try:
            if self.session.logs is None:
                raise ValueError("this station uploads no logs")
            request, cancels = self.session.logs.accept(log_type, location, log.get("oldest_timestamp"),
                                                        log.get("latest_timestamp"), retries, retry_interval,
                                                        request_id)
        except ValueError as exc:  # JobRefused: the reason is the answer's
            logger.warning("get log rejected", log_type=log_type, request_id=request_id, location=shown,
                           reason=str(exc))
            return call_result.GetLog(status="Rejected", status_info={"reason_code": "InvalidValue",
                                                                      "additional_info": str(exc)[:512]})
        status = "AcceptedCanceled" if cancels else "Accepted"
        logger.info("get log", log_type=log_type, request_id=request_id, location=shown, file_name=request.file_name,
                    retries=request.retries, retry_interval=request.retry_interval, answer=status,
                    oldest=log.get("oldest_timestamp"), latest=log.get("latest_timestamp"))
        self.after_reply(lambda: self.session.start_log_upload(request))
        return call_result.GetLog(status=status, filename=request.file_name)
