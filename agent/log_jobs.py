"""Log uploads the backend asks for, one at a time, and what the backend is told of them.

One core job serves OCPP 1.6 GetDiagnostics, GetLog (1.6 security extension and 2.0.1,
DiagnosticsLog or SecurityLog): :class:`agent.diagnostics.Diagnostics` builds and uploads
the file; this module runs it as a job and keeps its statuses until the link delivers
them. The adapters only spell a status (DiagnosticsStatusNotification,
LogStatusNotification) or say that their version has no word for it.

- A request is checked here once for both protocols (:meth:`LogJobs.accept`: the log
  type, the location, the window); the adapters spell the answer.
- One upload runs at a time. A new request cancels the running one (N01.FR.11/12): its
  archive build stops, its archive is removed, it ends :attr:`Progress.CANCELLED`, and
  the new one starts once the old one's task (and build thread) has ended.
- The job is owned by the agent's TaskGroup (given to :meth:`LogJobs.start`): a reconnect
  does not touch it, a shutdown cancels it.
- What the backend has not heard yet is kept per job, the latest status only (a job that
  went from Uploading to Uploaded while the link was down says Uploaded, once), jobs in
  the order they reported. Each job's final status stays on record in the state
  directory until delivered, so a restart neither loses one (however many jobs ended
  meanwhile) nor leaves the backend waiting (:meth:`Diagnostics.unfinished`).
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import NamedTuple

import structlog

from . import clock, jobs, locations
from .diagnostics import Diagnostics, LogKind, Progress, Request, Window

log = structlog.get_logger(__name__)


#: GetLog's logType (1.6 security extension and 2.0.1 alike) and what it uploads.
LOG_TYPES = {"DiagnosticsLog": LogKind.DIAGNOSTICS, "SecurityLog": LogKind.SECURITY}


class Accepted(NamedTuple):
    """A GetLog taken: the request (its file named), and whether it replaces a running one."""

    request: Request
    cancels: bool


@dataclass(frozen=True, slots=True)
class Status:
    """One status of one job, for the backend."""

    job: str
    file_name: str
    kind: LogKind
    #: GetLog's requestId; None for a GetDiagnostics.
    request_id: int | None
    progress: Progress


class LogJobs:
    """The log upload under way and the statuses the backend has still to hear."""

    def __init__(self, diagnostics: Diagnostics) -> None:
        self.diagnostics = diagnostics
        self._task: asyncio.Task[Progress] | None = None
        #: Every upload task not finished yet, the cancelled ones until they have stopped.
        self._unfinished: set[asyncio.Task[Progress]] = set()
        self._request: Request | None = None
        self._pending: dict[str, Status] = {}
        self._wake = asyncio.Event()

    # ------------------------------------------------------------ the job
    @property
    def running(self) -> Request | None:
        """The request whose upload is under way (waiting to retry included), if any."""
        if self._task is None or self._task.done():
            return None
        return self._request

    def accept(self, log_type: str, location: str, oldest: str | None, latest: str | None,
               retries: int | None, retry_interval: int | None, request_id: int) -> Accepted:
        """A GetLog checked and turned into a request; :class:`jobs.JobRefused` (a
        ``ValueError``) says why it cannot be done, for a Rejected answer."""
        kind = LOG_TYPES.get(log_type)
        if kind is None:
            raise jobs.JobRefused(f"logType {log_type!r} is not one this charger uploads")
        try:
            locations.check_url(location)
        except locations.TransferError as exc:
            raise jobs.JobRefused(str(exc)) from None
        window = Window.parse(oldest, latest, clock.current().now(), ("oldestTimestamp", "latestTimestamp"))
        request = self.diagnostics.request(location, retries, retry_interval, window, kind=kind,
                                           request_id=request_id)
        return Accepted(request, self.running is not None)

    def resume(self) -> None:
        """At start: the final statuses of the jobs an earlier run did not deliver (a
        restart cut an upload short, or came before the notification went out) wait to
        be sent, oldest first. Reads the record once, before the link starts."""
        for unfinished in self.diagnostics.unfinished():
            if unfinished.job not in self._pending:
                self._pending[unfinished.job] = Status(unfinished.job, unfinished.file_name, unfinished.kind,
                                                       unfinished.request_id, unfinished.progress)
                self._wake.set()

    def start(self, request: Request, group: asyncio.TaskGroup) -> Request | None:
        """Start uploading (after the reply that accepted it went out), in ``group``;
        return the request of the upload this one cancels, if one ran. Raises
        RuntimeError if the group is shutting down (the agent is stopping).

        The running upload is cancelled here and now, and its end reported, not by the
        new job once it runs: a third request coming before the second started must not
        leave the first one running."""
        previous, previous_task = self.running, self._task
        task = group.create_task(self._after(set(self._unfinished), request, previous), name="log-upload")
        self._unfinished.add(task)
        task.add_done_callback(self._unfinished.discard)
        self._task, self._request = task, request
        if previous is not None and previous_task is not None:
            log.info("diagnostics upload replaced by a new request", file_name=request.file_name,
                     replaced=previous.file_name, request_id=request.request_id, replaced_request_id=previous.request_id)
            previous_task.cancel()
            self._report(previous, Progress.CANCELLED)
        return previous

    async def _after(self, earlier: set[asyncio.Task[Progress]], request: Request,
                     replaced: Request | None) -> Progress:
        """The upload of ``request``, once those it replaced have stopped (a cancelled
        task ends after its build thread: the work directory holds one job's file at a
        time). The replaced job's record says Cancelled, unless its end was delivered meanwhile."""
        if earlier:
            await asyncio.wait(earlier)
        if replaced is not None:
            await asyncio.to_thread(self.diagnostics.note, replaced, Progress.CANCELLED, only_if_recorded=True)
        return await self.diagnostics.upload(request, functools.partial(self._report, request))

    def _report(self, request: Request, progress: Progress) -> None:
        # A job's newer status replaces the one not yet sent; re-added, it goes after the
        # statuses of jobs that reported since (the order they happened in).
        self._pending.pop(request.job, None)
        self._pending[request.job] = Status(request.job, request.file_name, request.kind, request.request_id,
                                            progress)
        self._wake.set()

    # ------------------------------------------------------------ what the backend hears
    async def next_status(self) -> Status:
        """The oldest status not yet delivered, once there is one (it stays pending until
        :meth:`sent`: a link that drops meanwhile leaves it for the next one)."""
        while not self._pending:
            self._wake.clear()
            await self._wake.wait()
        return next(iter(self._pending.values()))

    async def sent(self, status: Status) -> None:
        """``status`` reached the backend (or was refused by it, or has no message in the
        link's protocol): it is not sent again, and a final one's record goes (in a worker
        thread: the record is a file)."""
        if self._pending.get(status.job) == status:
            del self._pending[status.job]
        if status.progress.final:
            await asyncio.to_thread(self.diagnostics.delivered, status.job)
