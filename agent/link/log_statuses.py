"""The log jobs seen from the link, once for both protocols: starting an upload after the
reply that accepted it, and delivering the jobs' statuses in order. Each adapter only
spells a status (:data:`Spell`: its message, or None when its version has no word).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog

from ..diagnostics import Request
from ..log_jobs import LogJobs, Status
from .connection import raise_if_cancelled
from .rpc import CallFailed

log = structlog.get_logger("agent.link")

#: A status in the link's protocol: the CALL to send, or None when there is none for it.
Spell = Callable[[Status], Any]


def start_log_upload(jobs: LogJobs | None, group: asyncio.TaskGroup | None, request: Request) -> Request | None:
    """Start uploading (after the reply went out) in the agent's ``group``; a running
    upload is cancelled first. Returns the request it replaced, if any."""
    if jobs is None or group is None:
        log.error("log upload requested while the link is not running", file_name=request.file_name)
        return None
    try:
        return jobs.start(request, group)
    except RuntimeError:  # the group is shutting down: the agent is stopping
        log.warning("log upload not started: the agent is stopping", file_name=request.file_name)
        return None


async def deliver_log_statuses(jobs: LogJobs, cp: Any, spell: Spell) -> None:
    """Deliver the jobs' statuses, oldest first, for as long as the connection lasts. One
    the link could not carry stays for the next connection (a newer one of the same job
    replaces it); one the backend refuses, or that has no message here, is done with."""
    while True:
        status = await jobs.next_status()
        request = spell(status)
        if request is None:
            log.info("log job status not sent: no such message in this protocol version",
                     file_name=status.file_name, progress=status.progress.value)
        else:
            try:
                await cp.request(request)
            except CallFailed as exc:
                if exc.code in ("Timeout", "ConnectionLost"):
                    raise ConnectionError(f"{exc}; reconnecting") from exc
                log.warning("log status notification refused", action=type(request).__name__,
                            status=getattr(request, "status", None), request_id=status.request_id, error=str(exc))
            raise_if_cancelled()
        await jobs.sent(status)
