"""The agent's side of UpdateFirmware and SignedUpdateFirmware.

A job (kept in ``<state>/firmware/job.json`` so that it outlives restarts) goes:

1. wait for ``retrieveDate`` (DownloadScheduled); download the bundle, ``1 + retries``
   attempts ``retryInterval`` apart (Downloading, then Downloaded or DownloadFailed).
   Retries, interval and dates are bounded (:mod:`agent.jobs`): an unreadable or absurd
   ``retrieveDate`` ends a 1.6 UpdateFirmware at once with DownloadFailed (its
   confirmation has no status), and gets a request with a status answered Rejected.
   Attempts are counted in the job file, so restarts during the download do not start
   them afresh;
2. signed updates: check the signature with the certificate accepted with the request
   (SignatureVerified, or InvalidSignature and a security event);
3. ask the root installer to build a release (Installing; InstallScheduled instead when
   ``installDateTime`` is still ahead: the release is built meanwhile); it answers with
   ``prepared.json``, or ``outcome.json`` when it failed (InstallationFailed);
4. wait for ``installDateTime``; hold the connectors not in use Unavailable (unless the
   backend allows new sessions meanwhile: the ``hold`` callable decides) and wait until
   no transaction runs (never restart under a charging car, nor start a session the
   restart would cut; InstallScheduled while one runs), then ask for the switch
   (InstallRebooting). The installer restarts the service into the new release;
5. the new release starts held too (a rollback would restart it) and, once ready and
   accepted by the backend, writes its health marker; the installer then writes
   ``outcome.json`` (Installed), or rolls back and writes InstallationFailed. Whichever
   release runs then reports it, ends the job and releases the hold.

Statuses are neutral words (those of OCPP 2.0.1's FirmwareStatusEnumType, which the 1.6
security extension shares); they go out through ``report(status, request_id)`` and each
adapter's outbound spells them. A job with a request id (1.6 SignedUpdateFirmware, every
2.0.1 UpdateFirmware) goes through the whole set; one without (1.6 UpdateFirmware) only
through the statuses 1.6's FirmwareStatusNotification knows. Which answer a request gets
(Accepted, AcceptedCanceled, InvalidCertificate, Rejected) is decided here once for both
protocols. Files and their owners are listed in :mod:`agent.firmware.layout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import structlog

from .. import clock, jobs
from ..locations import masked_url
from .layout import ATTEMPT, OUTCOME, PREPARED, REQUEST, SWITCH, Layout, read_json, write_json

if TYPE_CHECKING:
    from cryptography import x509

log = structlog.get_logger(__name__)

JOB = "job.json"
BUNDLE = "bundle.tar.gz"
#: How often the files the installer writes are looked for.
POLL_S = 1.0
#: When the backend does not say: how often to try the download again, how long apart.
DEFAULT_RETRIES = 0
DEFAULT_RETRY_INTERVAL_S = 60
#: One download attempt as a whole may not take longer (a server sending a byte a minute).
ATTEMPT_LIMIT_S = 7200.0
#: A release on trial stops holding its connectors this long after the trial's deadline
#: even without a verdict (the installer died): a charger must not stay out of service.
TRIAL_GRACE_S = 30.0
#: The trial's length when the installer did not note its deadline (an older installer):
#: its default wait for the health marker.
TRIAL_DEFAULT_S = 180.0

Download = Callable[[str, Path], Awaitable[object]]
Report = Callable[[str, "int | None"], Awaitable[None]]
SecurityEvent = Callable[[str, str], Awaitable[None]]
#: The manufacturer root certificates installed over OCPP (used when `[firmware] signing_ca` is not set).
Roots = Callable[[], "list[x509.Certificate]"]
#: A FirmwareStatusNotification (1.6 without the security extension) has fewer statuses
#: than the signed variant; a trigger during a signed update shows the nearest one.
PLAIN_STATUS = {"DownloadScheduled": "Downloading", "SignatureVerified": "Downloaded",
                "InstallScheduled": "Installing", "InstallRebooting": "Installing",
                "InvalidSignature": "InstallationFailed", "DownloadPaused": "Downloading",
                "InstallVerificationFailed": "InstallationFailed"}


class Answer(NamedTuple):
    """The answer to an update request: its status and, for a refusal, why (a short
    reason code for 2.0.1's statusInfo and a sentence for the log)."""

    status: str
    reason: str = ""
    detail: str = ""


@dataclass
class Job:
    location: str
    retrieve_at: str  # ISO 8601 UTC
    retries: int
    retry_interval: float
    #: Set for 1.6 SignedUpdateFirmware and every 2.0.1 UpdateFirmware: the job reports
    #: the whole status set, each status with this id.
    request_id: int | None = None
    signature: str | None = None
    certificate: str | None = None
    install_at: str | None = None
    stage: str = "download"  # download, build, switch, restart
    #: Download attempts made so far (kept across restarts: the bound holds across them).
    attempts: int = 0
    #: Names this job in the files the installer answers with, so that a file left by an
    #: earlier job (a power cut, a crashed installer) is never taken for this one's.
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def signed(self) -> bool:
        """Whether the firmware comes with a signature to verify before installing it."""
        return self.signature is not None

    @property
    def detailed(self) -> bool:
        """Whether the job reports the whole status set (it has a request id)."""
        return self.request_id is not None


def on_trial(layout: Layout, version: str) -> bool:
    """Whether ``version`` runs as a release on trial: the installer switched to it and
    waits for its health marker, and may roll it back (restarting the service) any moment."""
    attempt = read_json(layout.file(ATTEMPT))
    return attempt is not None and attempt.get("version") == version and read_json(layout.file(OUTCOME)) is None


def _parse(stamp: str | None) -> float:
    if not stamp:
        return time.time()
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class FirmwareUpdater:
    """One update at a time. ``hold()`` holds the connectors for maintenance and returns
    once no transaction runs; ``release()`` ends the hold; ``busy()`` says whether a
    transaction runs; ``version`` is the running release's; ``install_timeout`` bounds
    each wait for the installer. Signing certificates are trusted when one of the
    manufacturer roots issued them: ``signing_ca`` (the technician's file) when it is set,
    as the root installer trusts it alone, else ``extra_roots()`` (those the backend installed)."""

    def __init__(self, layout: Layout, version: str, *, download: Download, report: Report,
                 security_event: SecurityEvent, hold: Callable[[], Awaitable[None]],
                 release: Callable[[], None], signing_ca: Path | None = None,
                 install_timeout: float = 1800.0, extra_roots: Roots | None = None,
                 busy: Callable[[], bool] | None = None,
                 told: Callable[[], Awaitable[None]] | None = None) -> None:
        self.layout = layout
        self.version = version
        self._download = download
        self._report = report
        self._security_event = security_event
        self._hold = hold
        self._release = release
        self._busy = busy or (lambda: False)
        #: Waits (bounded) until the statuses reported so far have reached the backend.
        self._told = told
        self.signing_ca = signing_ca
        self._extra_roots: Roots = extra_roots or (lambda: [])
        self.install_timeout = install_timeout
        self.status = "Idle"
        #: The requestId of the last status told (None for a plain 1.6 job, or none yet):
        #: it outlives the job, so a trigger after a failed update can still name it.
        self.status_request_id: int | None = None
        self.job: Job | None = self._load()
        self._wake = asyncio.Event()
        self._booted = asyncio.Event()

    # -- requests from the backend --------------------------------------------------------
    def update(self, location: str, retrieve_date: str, retries: int | None, retry_interval: int | None) -> None:
        """UpdateFirmware (answered with an empty confirmation): replaces a job still
        downloading; one being installed is left to finish and the new request ignored."""
        bounded = jobs.bounded_retries("firmware update", retries, retry_interval, DEFAULT_RETRIES,
                                       DEFAULT_RETRY_INTERVAL_S)
        self._start(Job(location, retrieve_date, bounded.count, bounded.interval))

    async def signed_update(self, request_id: int, location: str, retrieve_date: str, certificate: str,
                            signature: str, retries: int | None, retry_interval: int | None,
                            install_date: str | None) -> str:
        """SignedUpdateFirmware: the answer (Accepted, AcceptedCanceled, InvalidCertificate or Rejected)."""
        answer = await self.request(request_id, location, retrieve_date, certificate, signature, retries,
                                    retry_interval, install_date)
        return answer.status

    async def request(self, request_id: int, location: str, retrieve_date: str, certificate: str | None,
                      signature: str | None, retries: int | None, retry_interval: int | None,
                      install_date: str | None) -> Answer:
        """An update with a request id (1.6 SignedUpdateFirmware, 2.0.1 UpdateFirmware, L01/L02).

        A signing certificate is checked before anything else (InvalidCertificate and a
        security event when no manufacturer root issued it). Firmware without a signature
        and certificate is refused while a manufacturer root is configured (the charger
        then installs only signed firmware: TC_L_18_CS); without any root it is the
        non-secure update of L02. A job still downloading, or waiting for its install
        time or for transactions to end, is cancelled for the new one (AcceptedCanceled,
        L01.FR.24); one the root installer is building, or has been asked to switch to,
        cannot be stopped (Rejected, L01.FR.27)."""
        if certificate is not None:
            refused = await self._check_certificate(certificate)
            if refused is not None:
                return refused
        if certificate is None or signature is None:
            what = "a signature" if certificate is not None else "a signing certificate"
            if certificate is not None or signature is not None or self.secure:
                detail = (f"firmware without {what} refused: only signed firmware is installed"
                          if self.secure else f"firmware without {what} cannot be verified")
                log.warning("firmware update refused", location=masked_url(location), reason=detail)
                return Answer("Rejected", "UnsignedFirmware", detail)
        if self._installing:
            log.warning("firmware update refused: the one being installed cannot be stopped",
                        location=masked_url(location))
            return Answer("Rejected", "InstallInProgress", "the firmware being installed cannot be stopped")
        try:
            now = clock.current().now()
            jobs.parse_time("retrieveDateTime", retrieve_date, now)
            if install_date is not None:
                jobs.parse_time("installDateTime", install_date, now)
        except jobs.JobRefused as exc:
            log.warning("firmware update refused", location=masked_url(location), reason=str(exc))
            return Answer("Rejected", "InvalidValue", str(exc))
        canceled = self.job is not None
        bounded = jobs.bounded_retries("firmware update", retries, retry_interval, DEFAULT_RETRIES,
                                       DEFAULT_RETRY_INTERVAL_S)
        self._start(Job(location, retrieve_date, bounded.count, bounded.interval, request_id,
                        signature, certificate, install_date))
        return Answer("AcceptedCanceled" if canceled else "Accepted")

    @property
    def secure(self) -> bool:
        """Whether a manufacturer root is configured: then only signed firmware is installed."""
        return self.signing_ca is not None or bool(self._extra_roots())

    def _trusted(self) -> list[x509.Certificate]:
        """The manufacturer roots: ``[firmware] signing_ca`` when the file sets it (alone, as
        the root installer trusts it: a root the backend installed would pass here and be
        refused there, after the whole download), else those installed over OCPP."""
        from .signature import CertificateRejected, load_trusted

        roots = load_trusted(self.signing_ca) if self.signing_ca is not None else list(self._extra_roots())
        if not roots:
            raise CertificateRejected("no manufacturer root certificate is configured ([firmware] signing_ca) "
                                      "or installed: no signing certificate is trusted")
        return roots

    async def _check_certificate(self, certificate: str) -> Answer | None:
        """None if a manufacturer root issued ``certificate``, else the InvalidCertificate answer."""
        # Imported here: the X.509 library costs several MiB, and most chargers never see this request.
        from .signature import CertificateRejected, check_certificate

        try:
            check_certificate(certificate, self._trusted())
        except CertificateRejected as exc:
            log.warning("firmware signing certificate refused", reason=str(exc))
            await self._security_event("InvalidFirmwareSigningCertificate", str(exc)[:255])
            return Answer("InvalidCertificate", "InvalidCertificate", str(exc))
        return None

    def booted(self) -> None:
        """The backend accepted our BootNotification: a release on trial is healthy."""
        self._booted.set()

    @property
    def _installing(self) -> bool:
        """Handed to the installer: a release is being built, or the switch to it was
        asked for. (A built release waiting for its install time or for transactions to
        end can still be given up: the switch stage.)"""
        return self.job is not None and self.job.stage in ("build", "restart")

    def _start(self, job: Job) -> None:
        if self._installing:
            log.warning("firmware update refused: another one is being installed", location=masked_url(job.location))
            return
        self._save(job)
        self._wake.set()

    # -- the job ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Carry out the jobs until cancelled; first the end of one a restart interrupted."""
        await self._finish_after_restart()
        while True:
            job = self.job
            if job is None:
                await self._wake.wait()
                self._wake.clear()
                continue
            self._wake.clear()
            runner = asyncio.ensure_future(self._carry_out(job))
            wake = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({runner, wake}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                wake.cancel()
                if not runner.done():  # a newer request replaced this job, or the agent stops
                    runner.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await runner
                    if self._wake.is_set():
                        log.info("firmware update replaced by a newer request", location=masked_url(job.location))
                elif (error := runner.exception()) is not None:
                    # A fault in the update must never stop the charger, nor come back
                    # with the job file at every start: end the job and say so.
                    log.error("firmware update failed unexpectedly", error=repr(error),
                              location=masked_url(job.location))
                    self._release()
                    await self._set("InstallationFailed" if job.stage != "download" else "DownloadFailed", job)
                    self._clear()

    @property
    def plain_status(self) -> str:
        """The status for a triggered 1.6 FirmwareStatusNotification: Idle between jobs."""
        if self.job is None:
            return "Idle"
        return PLAIN_STATUS.get(self.status, self.status)

    def current(self) -> tuple[str, int | None]:
        """The status for a triggered 2.0.1 FirmwareStatusNotification or 1.6
        SignedFirmwareStatusNotification, with its request id: the last one told, kept
        after the job ended until a new job tells its own (L01.FR.26; the whitepaper's
        ExtendedTriggerMessage alike), so a failed update stays visible; Idle without an
        id after Installed, before any, and after a job with no request id (L01.FR.25,
        L01.FR.20). It is kept in memory: after a restart a trigger says Idle."""
        request_id = self.job.request_id if self.job is not None else self.status_request_id
        if self.status in ("Idle", "Installed") or request_id is None:
            return "Idle", None
        return self.status, request_id

    async def _set(self, status: str, job: Job | None) -> None:
        self.status = status
        self.status_request_id = job.request_id if job is not None else None
        log.info("firmware status", status=status)
        await self._report(status, job.request_id if job is not None else None)

    async def _carry_out(self, job: Job) -> None:
        bundle = self.layout.firmware / BUNDLE
        if job.stage == "download" and not job.signed and self.secure:
            # A charger set up to trust only signed firmware (the root installer would
            # refuse it too): no point downloading it.
            log.warning("unsigned firmware refused: a manufacturer root certificate is configured",
                        location=masked_url(job.location))
            await self._set("InstallationFailed", job)
            self._clear()
            return
        if job.stage == "download":
            now = clock.current().now()
            try:
                retrieve_at = jobs.parse_time("retrieveDate", job.retrieve_at, now)
            except jobs.JobRefused as exc:
                log.warning("firmware update refused", location=masked_url(job.location), reason=str(exc))
                await self._set("DownloadFailed", job)
                self._clear()
                return
            delay = (retrieve_at - now).total_seconds()
            if delay > 0:
                if job.detailed:
                    await self._set("DownloadScheduled", job)
                await asyncio.sleep(delay)
            if not await self._fetch(job, bundle):
                await self._set("DownloadFailed", job)
                self._clear()
                return
            await self._set("Downloaded", job)
            if job.signed:
                from .signature import CertificateRejected, SignatureRejected, check_certificate, verify_file

                try:
                    signer = check_certificate(job.certificate or "", self._trusted())
                    await asyncio.to_thread(verify_file, bundle, job.signature or "", signer)
                except (SignatureRejected, CertificateRejected) as exc:
                    log.warning("firmware signature refused", reason=str(exc))
                    await self._set("InvalidSignature", job)
                    await self._security_event("InvalidFirmwareSignature", str(exc)[:255])
                    bundle.unlink(missing_ok=True)
                    self._clear()
                    return
                await self._set("SignatureVerified", job)
            job.stage = "build"
            self._save(job)
        if job.stage == "build":
            await self._build(job, bundle)
        if job.stage == "switch":
            await self._switch(job)

    async def _fetch(self, job: Job, bundle: Path) -> bool:
        """Up to 1 + retries attempts in all, restarts included; a failure is logged when
        it first happens and when it changes, not at every attempt."""
        attempts = min(job.retries, jobs.MAX_RETRIES) + 1
        interval = min(max(job.retry_interval, jobs.MIN_RETRY_INTERVAL_S), jobs.MAX_RETRY_INTERVAL_S)
        said: str | None = None
        resumed = job.attempts > 0  # after a restart: the restart was the wait
        while job.attempts < attempts:
            if job.attempts and not resumed:
                await asyncio.sleep(interval)
            resumed = False
            job.attempts += 1
            self._save(job)
            await self._set("Downloading", job)
            try:
                async with asyncio.timeout(ATTEMPT_LIMIT_S):
                    await self._download(job.location, bundle)
                return True
            except Exception as exc:  # noqa: BLE001 - every failure is one failed attempt
                error = str(exc) if not isinstance(exc, TimeoutError) else \
                    f"the download took longer than {ATTEMPT_LIMIT_S:g} s"
                last = job.attempts >= attempts or getattr(exc, "retry", True) is False
                if last:
                    log.warning("firmware download failed", attempt=job.attempts, of=attempts, error=error,
                                location=masked_url(job.location))
                    return False  # (too large, no room, a URL it cannot use: trying again cannot help)
                if error != said:
                    log.warning("firmware download failed; trying again", attempt=job.attempts, of=attempts,
                                error=error, retry_interval_s=interval, location=masked_url(job.location))
                    said = error
        log.warning("firmware download failed: no attempt left after a restart", of=attempts,
                    location=masked_url(job.location))
        return False

    async def _build(self, job: Job, bundle: Path) -> None:
        # With an install time ahead, or a transaction running, the release is built
        # meanwhile, quietly: the backend hears Installing when the install begins.
        scheduled = job.detailed and (self._install_ahead(job) or self._busy())
        await self._set("InstallScheduled" if scheduled else "Installing", job)
        self._drop_stale(job)
        asked = any((read_json(self.layout.file(name)) or {}).get("job") == job.id
                    for name in (PREPARED, REQUEST, REQUEST + ".taken"))
        if not asked:  # (after a restart in this stage the request may be pending or built already)
            write_json(self.layout.file(REQUEST), {
                "bundle": bundle.name, "job": job.id, "version": None, "request_id": job.request_id,
                "signature": job.signature, "certificate": job.certificate, "at": _now()})
        answer = await self._await_installer(PREPARED, job)
        if answer is None:
            return
        job.stage = "switch"
        self._save(job)

    def _drop_stale(self, job: Job) -> None:
        """Answers the installer left for an earlier job are not this job's: remove them."""
        for name in (PREPARED, OUTCOME):
            found = read_json(self.layout.file(name))
            if found is not None and found.get("job") != job.id:
                log.info("stale firmware file removed", file=name, job=found.get("job"))
                self.layout.file(name).unlink(missing_ok=True)

    @staticmethod
    def _install_ahead(job: Job) -> bool:
        return bool(job.install_at) and _stamp(job.install_at) > time.time()

    async def _switch(self, job: Job) -> None:
        if self._install_ahead(job):
            if self.status != "InstallScheduled":
                await self._set("InstallScheduled", job)
            await asyncio.sleep(min(_stamp(job.install_at) - time.time(), jobs.MAX_AHEAD.total_seconds()))
        if job.detailed and self._busy() and self.status != "InstallScheduled":
            await self._set("InstallScheduled", job)  # until the transactions end (L01.FR.06)
        try:
            await self._hold()  # never under a charging car, and no session begins from now on
            if self.status != "Installing":
                await self._set("Installing", job)
        except asyncio.CancelledError:
            self._release()  # a newer request replaced this job before its switch: no hold left behind
            raise
        if job.detailed:
            await self._set("InstallRebooting", job)  # L01.FR.15: before the restart
        if self._told is not None:
            # The backend hears Installing and InstallRebooting before the restart cuts the
            # link: told after it, they would come again (delivery survives a restart).
            await self._told()
        job.stage = "restart"  # with the switch asked right after: a kill before both redoes them
        self._save(job)
        log.warning("firmware installed; asking for the switch to the new release and a restart")
        write_json(self.layout.file(SWITCH), {"at": _now()})
        await self._await_installer(None, job)  # the installer restarts us; only a failure gets here
        self._release()

    async def _await_installer(self, wanted: str | None, job: Job | None) -> dict[str, Any] | None:
        """Wait for ``wanted`` (or the outcome) for ``job``: returns it, or None after
        reporting a failure. Files of another job are stale and ignored."""
        deadline = time.monotonic() + self.install_timeout
        while time.monotonic() < deadline:
            outcome = read_json(self.layout.file(OUTCOME))
            if outcome is not None and (job is None or outcome.get("job") in (job.id, None)):
                await self._report_outcome(outcome)
                return None
            if wanted is not None and (found := read_json(self.layout.file(wanted))) is not None \
                    and (job is None or found.get("job") == job.id):
                return found
            await asyncio.sleep(POLL_S)
        for name in (REQUEST, SWITCH):
            self.layout.file(name).unlink(missing_ok=True)
        log.error("firmware installer did not answer", waited_s=self.install_timeout)
        await self._set("InstallationFailed", self.job)
        self._clear()
        return None

    async def _finish_after_restart(self) -> None:
        """After a restart in the middle of a job: report how the install ended, or prove
        this release healthy (the installer is waiting for that), or take the job up again."""
        outcome = read_json(self.layout.file(OUTCOME))
        if outcome is not None:  # even if the job file was lost: the backend must hear of it
            # The runtime may have started held (the trial was still on when it looked), and
            # the verdict came meanwhile: this release runs on, so the hold ends.
            self._release()
            await self._booted.wait()
            await self._report_outcome(outcome)
            return
        attempt = read_json(self.layout.file(ATTEMPT))
        if attempt is not None and attempt.get("version") == self.version:
            # On trial: prove it whatever became of the job file (another release's format).
            # The runtime started held; the hold ends with the verdict, or soon after the
            # trial's deadline if no verdict comes.
            deadline = _number(attempt.get("deadline"), _stamp(attempt.get("at")) + TRIAL_DEFAULT_S)
            async with asyncio.TaskGroup() as tg:
                guard = tg.create_task(self._release_after(deadline + TRIAL_GRACE_S), name="trial-hold-guard")
                await self._booted.wait()
                self.layout.healthy_marker(self.version).touch()
                log.info("this release is healthy; waiting for the installer's verdict", version=self.version)
                await self._await_installer(None, None)
                if self.status == "Installed":
                    guard.cancel()
                    self._release()
                # Otherwise the installer is rolling back and restarts the service any
                # moment: a session started now would be cut. The guard is the backstop.
            return
        job = self.job
        if job is None:
            return
        if job.stage == "restart":
            # The switch was asked for but no attempt is on record: the installer never ran.
            await self._booted.wait()
            self.layout.file(SWITCH).unlink(missing_ok=True)
            await self._set("InstallationFailed", job)
            self._clear()
            return
        self._wake.set()  # download or build stage: carry on

    async def _release_after(self, wall_time: float) -> None:
        await asyncio.sleep(max(0.0, wall_time - time.time()))
        log.error("no verdict on this release by the trial's deadline; connectors released", version=self.version)
        self._release()

    async def _report_outcome(self, outcome: dict[str, Any]) -> None:
        request = outcome.get("request") if isinstance(outcome.get("request"), dict) else {}
        request_id = request.get("request_id") if self.job is None else self.job.request_id
        status = str(outcome.get("status"))
        if status != "Installed":
            # The bundle failing the installer's checks (signature, manifest, version) is
            # InstallVerificationFailed for a job with the whole status set; a plain 1.6
            # job, and any other failure, InstallationFailed.
            if status != "InstallVerificationFailed" or not isinstance(request_id, int):
                status = "InstallationFailed"
            log.error("firmware installation failed", status=status, reason=outcome.get("reason"))
        else:
            log.info("firmware installed", version=outcome.get("version"))
        self.status = status
        self.status_request_id = request_id if isinstance(request_id, int) else None
        await self._report(status, self.status_request_id)
        self.layout.file(OUTCOME).unlink(missing_ok=True)
        self._clear()

    # -- the job file ------------------------------------------------------------------------
    def _load(self) -> Job | None:
        data = read_json(self.layout.file(JOB))
        if data is None:
            return None
        known = {f.name for f in fields(Job)}
        try:
            return Job(**{key: value for key, value in data.items() if key in known})
        except TypeError:
            log.warning("firmware job file unreadable; forgotten", path=str(self.layout.file(JOB)))
            return None

    def _save(self, job: Job) -> None:
        self.job = job
        write_json(self.layout.file(JOB), asdict(job))

    def _clear(self) -> None:
        self.job = None
        self.layout.file(JOB).unlink(missing_ok=True)


def _stamp(value: object) -> float:
    """A time the installer wrote (ISO 8601), or now if it is missing or unreadable."""
    try:
        return _parse(value) if isinstance(value, str) else time.time()
    except ValueError:
        return time.time()


def _number(value: object, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
