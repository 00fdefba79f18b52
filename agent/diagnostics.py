"""Diagnostics: what a support engineer needs from a charger, in one archive, uploaded.

The backend asks (OCPP 1.6 GetDiagnostics, or GetLog in 1.6's security extension and in
2.0.1) and names the directory the file should go to; the charger names the file, and
uploads it into that directory. The diagnostics archive
``diagnostics-<charge point id>-<UTC yyyymmddThhmmssZ>[-<n>].tar.gz`` (GetDiagnostics, and
GetLog DiagnosticsLog) holds:

- ``logs.jsonl``: the agent's own log lines (``agent.logs``) within the requested time
  window, oldest first, each passed through the redaction step again;
- ``config.toml``: the effective configuration, secrets masked (as ``ladda check-config``
  prints it);
- ``database.json``: the state database at a glance (schema, size, transactions, the
  outbox backlog, the local authorization list and cache);
- ``version.json``: what runs here (Ladda, Python, kernel, libraries, uptime).

The security log archive ``securitylog-<charge point id>-<stamp>.tar.gz`` (GetLog
SecurityLog) holds ``security.jsonl``, the security log's lines within the window
(:mod:`agent.security_log`), cleaned the same way, and ``version.json``.

It is built in ``<state_dir>/diagnostics/`` and removed once the upload ended, whatever
happened; a leftover from a crash is removed by the next request. This module speaks in
neutral terms (:class:`Progress`); the protocol adapter reports them to the backend.

The backend waits for a final status (uploaded or failed), so each job is recorded in
``<state_dir>/diagnostics-job.json`` from its start until that status was delivered
(one entry per job: a job that ended while the link was down keeps its entry when the
next starts); a job a restart cut short (a reset, a crash, a power cut) is reported
failed after it. The record is read and written in a worker thread, never on the event
loop, and so is the archive; a cancelled build stops at its next line (a stop event), and
its job ends only once the thread has, so two builds never run at once.
Retries and the wait between them are bounded (:mod:`agent.jobs`), and so is each attempt.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import importlib.metadata
import io
import json
import platform
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import structlog

from . import __version__, clock, jobs, locations
from .transfer_failures import TransferFailure
from .firmware.layout import read_json, write_json
from .logs import kept_log_files
from .redaction import MASK, known_secrets, redact_text
from .security_log import security_log_files
from .settings import Settings, render_settings
from .store import Database, parse_iso

if TYPE_CHECKING:
    import tarfile

log = structlog.get_logger(__name__)

ARCHIVE_DIR = "diagnostics"
#: The job under way, or whose final status the backend has not received yet.
JOB_FILE = "diagnostics-job.json"
#: When the backend does not say: how often to try again, and how long to wait between tries.
DEFAULT_RETRIES = 2
DEFAULT_RETRY_INTERVAL_S = 60
#: No network operation of one upload attempt may stall longer than this.
UPLOAD_TIMEOUT_S = 60.0
#: One upload attempt as a whole (a server taking a byte a minute) may not take longer.
ATTEMPT_LIMIT_S = 1800.0
LIBRARIES = ("ocpp", "websockets", "pymodbus", "pyscard")


class Progress(enum.Enum):
    """Where an upload stands, as the backend is told."""

    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    FAILED = "failed"
    #: Failed, and the server's last answer said why: no rights, an operation it does not
    #: offer, an answer that made no sense (LogStatusNotification has a word for each;
    #: DiagnosticsStatusNotification says UploadFailed).
    PERMISSION_DENIED = "permission denied"
    NOT_SUPPORTED = "not supported"
    BAD_MESSAGE = "bad message"
    #: A newer request replaced the job before it ended (2.0.1 says AcceptedCanceled).
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self is not Progress.UPLOADING


#: The end of an upload whose last attempt failed, by the kind of failure.
FAILURES = {TransferFailure.FAILED: Progress.FAILED, TransferFailure.PERMISSION_DENIED: Progress.PERMISSION_DENIED,
            TransferFailure.NOT_SUPPORTED: Progress.NOT_SUPPORTED, TransferFailure.BAD_MESSAGE: Progress.BAD_MESSAGE}


class LogKind(enum.Enum):
    """What a job uploads: the diagnostics archive, or the security log."""

    DIAGNOSTICS = "diagnostics"
    SECURITY = "securitylog"

    @property
    def label(self) -> str:
        """How the log names such a job: "diagnostics" or "security log"."""
        return "diagnostics" if self is LogKind.DIAGNOSTICS else "security log"


class BuildStopped(Exception):
    """A cancelled job's archive build noticed its stop event and gave up."""


@dataclass(frozen=True, slots=True)
class Window:
    """The time span of the log lines asked for; either end may be open."""

    start: datetime | None = None
    stop: datetime | None = None

    @classmethod
    def parse(cls, start: str | None, stop: str | None, now: datetime,
              names: tuple[str, str] = ("startTime", "stopTime")) -> Window:
        """From the request's RFC 3339 stamps (its fields ``names``: GetDiagnostics'
        by default); :class:`jobs.JobRefused` names one that is unreadable or absurd
        (before 2000, a month past ``now``), or a window ending before it starts."""
        window = cls(None if start is None else jobs.parse_time(names[0], start, now),
                     None if stop is None else jobs.parse_time(names[1], stop, now))
        if window.start is not None and window.stop is not None and window.start > window.stop:
            raise jobs.JobRefused(f"{names[0]} {start!r} is after {names[1]} {stop!r}")
        return window

    def contains(self, moment: datetime) -> bool:
        return (self.start is None or moment >= self.start) and (self.stop is None or moment <= self.stop)

    @property
    def unbounded(self) -> bool:
        return self.start is None and self.stop is None


def _stamp(name: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not an ISO 8601 date-time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class Request:
    """One upload the backend asked for: what to upload where, and how persistently.

    ``request_id`` is GetLog's requestId; None for a GetDiagnostics (which has none).
    ``job`` names this job apart from any other, even one of the same file name (two
    requests in the same second) or requestId (a backend reusing its numbers).
    """

    location: str  # the directory the file goes to
    file_name: str
    window: Window
    retries: int = DEFAULT_RETRIES
    retry_interval: float = DEFAULT_RETRY_INTERVAL_S
    kind: LogKind = LogKind.DIAGNOSTICS
    request_id: int | None = None
    job: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True, slots=True)
class Unfinished:
    """A job whose final status the backend has not received, as found at start."""

    job: str
    file_name: str
    kind: LogKind
    request_id: int | None
    progress: Progress


def archive_name(charge_point_id: str, moment: datetime, kind: LogKind = LogKind.DIAGNOSTICS, serial: int = 1) -> str:
    """The archive's name; ``serial`` > 1 tells apart the second and later of one second."""
    suffix = f"-{serial}" if serial > 1 else ""
    return f"{kind.value}-{charge_point_id}-{moment.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}{suffix}.tar.gz"


# ------------------------------------------------------------------ the archive's parts


def write_logs(files: Iterable[Path], window: Window, out: IO[bytes], stop: threading.Event | None = None) -> int:
    """Copy the log lines stamped within ``window`` to ``out``; return how many. Raises
    :class:`BuildStopped` as soon as ``stop`` is set (the job was cancelled).

    Without a window every line is copied as it is. With one, a line that is not a JSON
    object with a readable ``timestamp`` (a line cut short by a crash) cannot be placed,
    and is left out.
    """
    count = 0
    for path in files:
        try:
            source = open(path, "rb")  # noqa: SIM115 - closed below; a file rotated away meanwhile is skipped
        except FileNotFoundError:
            continue
        with source:
            for line in source:
                if stop is not None and stop.is_set():
                    raise BuildStopped
                if not line.strip():
                    continue
                if not window.unbounded:
                    moment = _line_time(line)
                    if moment is None or not window.contains(moment):
                        continue
                # Cleaned again on the way out: a line from an older release, or logged
                # before a secret was known, must not carry it off the charger.
                line = redact_text(line.decode("utf-8", "replace")).encode("utf-8")
                out.write(line if line.endswith(b"\n") else line + b"\n")
                count += 1
    return count


def _line_time(line: bytes) -> datetime | None:
    try:
        record = json.loads(line)
        return _stamp("timestamp", record["timestamp"]) if isinstance(record, dict) else None
    except (ValueError, KeyError, TypeError):
        return None


def database_summary(db: Database, now: datetime) -> dict[str, Any]:
    """The state database at a glance. Runs on the database's thread (``db.run``)."""

    def one(sql: str) -> Any:
        return db.read(sql)[0][0]

    oldest = one("SELECT MIN(created_at) FROM outbox WHERE done_at IS NULL")
    wal = db.path.with_name(db.path.name + "-wal")
    return {
        "path": str(db.path),
        "schema_version": one("PRAGMA user_version"),
        "file_bytes": db.path.stat().st_size,
        "wal_bytes": wal.stat().st_size if wal.exists() else 0,
        "transactions": {
            "total": one("SELECT COUNT(*) FROM transactions"),
            "open": one("SELECT COUNT(*) FROM transactions WHERE stopped_at IS NULL"),
        },
        "outbox": {
            "pending": one("SELECT COUNT(*) FROM outbox WHERE done_at IS NULL"),
            "oldest_pending_age_s": round((now - parse_iso(oldest)).total_seconds(), 1) if oldest else None,
        },
        "local_list": {
            "version": one("SELECT COALESCE(MAX(version), 0) FROM local_auth_list_version"),
            "size": one("SELECT COUNT(*) FROM local_auth_list"),
        },
        "authorization_cache": {"size": one("SELECT COUNT(*) FROM auth_cache")},
    }


def version_info(started: float) -> dict[str, Any]:
    """What runs here; ``started`` is the agent's ``time.monotonic()`` at start-up."""
    libraries: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            libraries[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            libraries[name] = None
    return {
        "ladda": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "agent_uptime_s": round(time.monotonic() - started, 1),
        "system_uptime_s": _system_uptime(),
        "libraries": libraries,
    }


def _system_uptime() -> float | None:
    try:
        return round(float(Path("/proc/uptime").read_text().split()[0]), 1)
    except (OSError, ValueError, IndexError):
        return None


def _add(tar: tarfile.TarFile, name: str, data: IO[bytes], size: int, mtime: float) -> None:
    info = tar.tarinfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    tar.addfile(info, data)


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2) + "\n").encode()


# ------------------------------------------------------------------ building and uploading


class Diagnostics:
    """Builds the archive and uploads it, reporting progress; one upload at a time is the
    caller's business (a new request replaces the running one)."""

    def __init__(self, settings: Settings, state_dir: Path, db: Database, started: float) -> None:
        self.settings = settings
        self.state_dir = state_dir
        self.db = db
        self.started = started
        self.workdir = state_dir / ARCHIVE_DIR
        #: The record is read-modified-written by worker threads: one at a time.
        self._record_lock = threading.Lock()
        #: The last archive name's stem given out, and how many had it (unique names).
        self._last_name: tuple[str, int] = ("", 0)

    def request(self, location: str, retries: int | None, retry_interval: int | None, window: Window, *,
                kind: LogKind = LogKind.DIAGNOSTICS, request_id: int | None = None) -> Request:
        """A request as the backend sent it, the archive named now, the defaults filled in
        and the retries bounded."""
        bounded = jobs.bounded_retries(kind.label, retries, retry_interval, DEFAULT_RETRIES, DEFAULT_RETRY_INTERVAL_S)
        return Request(
            location=location,
            file_name=self._unique_name(kind),
            window=window,
            retries=bounded.count,
            retry_interval=bounded.interval,
            kind=kind,
            request_id=request_id,
        )

    def _unique_name(self, kind: LogKind) -> str:
        """The archive's name: two requests within one second get two names (a job's file
        is never another's)."""
        moment = clock.current().now()
        stem = archive_name(self.settings.charge_point.id, moment, kind)
        serial = self._last_name[1] + 1 if self._last_name[0] == stem else 1
        self._last_name = (stem, serial)
        return archive_name(self.settings.charge_point.id, moment, kind, serial)

    # -- the durable record (blocking: called in worker threads) ------------------------------
    @property
    def _record(self) -> Path:
        return self.state_dir / JOB_FILE

    def _entries(self) -> list[dict[str, Any]]:
        """The record's jobs, oldest first (a record from before per-job entries is one job)."""
        record = read_json(self._record)
        if not isinstance(record, dict):
            return []
        if "jobs" in record:
            return [e for e in record["jobs"] if isinstance(e, dict)]
        return [record]

    def _save(self, entries: list[dict[str, Any]]) -> None:
        if entries:
            write_json(self._record, {"jobs": entries})
        else:
            self._record.unlink(missing_ok=True)

    def note(self, request: Request, progress: Progress, *, only_if_recorded: bool = False) -> None:
        """Record ``request``'s progress beside the other jobs not yet settled.
        ``only_if_recorded``: update an entry still there, never add one (the end of a
        replaced job, whose delivery may already have removed it)."""
        entry = {"job": request.job, "file_name": request.file_name, "kind": request.kind.value,
                 "request_id": request.request_id, "location": locations.masked_url(request.location),
                 "status": progress.value, "at": clock.current().now().isoformat()}
        with self._record_lock:
            entries = self._entries()
            known = [_job_of(e) for e in entries]
            if request.job in known:
                entries[known.index(request.job)] = entry
            elif not only_if_recorded:
                entries.append(entry)
            else:
                return
            self._save(entries)

    def unfinished(self) -> list[Unfinished]:
        """After a start: the jobs whose final status the backend has not received, each
        with its final progress, oldest first. One a restart cut short has failed."""
        with self._record_lock:
            entries = self._entries()
        return [_unfinished(e) for e in entries]

    def delivered(self, job: str) -> None:
        """The backend received the final status of ``job``: forget it (the others stay)."""
        with self._record_lock:
            entries = self._entries()
            kept = [e for e in entries if _job_of(e) != job]
            if len(kept) != len(entries):
                self._save(kept)

    async def build(self, request: Request) -> Path:
        """Write the archive into the work directory; return its path. Cancelled, the
        build thread is told to stop and waited for before the cancellation goes on."""
        if request.kind is LogKind.SECURITY:
            members = {"version.json": _json(version_info(self.started))}
            return await _stoppable(self._write, request, members, "security.jsonl",
                                    functools.partial(security_log_files, self.state_dir))
        summary = await self.db.run(database_summary, self.db, clock.current().now())
        members = {
            # Secret keys are masked by the rendering; a secret the agent learnt at run time
            # (an AuthorizationKey set by the backend) is masked should any value carry it.
            "config.toml": _without_known_secrets(render_settings(self.settings)).encode(),
            "database.json": _json(summary),
            "version.json": _json(version_info(self.started)),
        }
        return await _stoppable(self._write, request, members, "logs.jsonl",
                                functools.partial(kept_log_files, self.state_dir))

    def _write(self, request: Request, members: dict[str, bytes], lines_member: str,
               log_files: Callable[[], list[Path]], stop: threading.Event) -> Path:
        import tarfile  # loaded when an archive is built, not by every charger at start
        import tempfile

        self.workdir.mkdir(parents=True, exist_ok=True)
        for leftover in self.workdir.iterdir():  # a crash cut an earlier upload short
            leftover.unlink(missing_ok=True)
        path = self.workdir / request.file_name
        now = time.time()
        try:
            with tarfile.open(path, "w:gz") as tar:
                with tempfile.TemporaryFile(dir=self.workdir) as logs:
                    lines = write_logs(log_files(), request.window, logs, stop)
                    size = logs.tell()
                    logs.seek(0)
                    _add(tar, lines_member, logs, size, now)
                for name, data in members.items():
                    _add(tar, name, io.BytesIO(data), len(data), now)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        log.info(f"{request.kind.label} archive built", file_name=request.file_name, log_lines=lines,
                 bytes=path.stat().st_size)
        return path

    async def upload(self, request: Request, report: Callable[[Progress], None]) -> Progress:
        """Build and upload, reporting UPLOADING, then UPLOADED or FAILED after 1 + retries
        attempts ``retry_interval`` apart. Never raises (but for cancellation): a failure
        is reported and logged, and the archive is removed whatever happened. The job is
        on record from the start; a cancellation (a shutdown) leaves it there, so that the
        next start reports it failed."""
        await asyncio.to_thread(self.note, request, Progress.UPLOADING)
        report(Progress.UPLOADING)
        outcome = Progress.FAILED
        path: Path | None = None
        try:
            path = await self.build(request)
            outcome = await self._attempts(request, path)
        except Exception as exc:  # noqa: BLE001 - a failed upload must not take the charger down
            log.error(f"{request.kind.label} failed", location=locations.masked_url(request.location),
                      error=f"{type(exc).__name__}: {exc}")
        finally:
            if path is not None:
                path.unlink(missing_ok=True)
        await asyncio.to_thread(self.note, request, outcome)
        report(outcome)
        return outcome

    async def _attempts(self, request: Request, path: Path) -> Progress:
        """Up to 1 + retries attempts; a failure is logged when it first happens and when
        it changes, not at every attempt (the SD card and the reader's patience are finite)."""
        # The location is a directory, with or without a trailing "/": the file goes in it
        # under the name the backend was given.
        from . import transfer  # the FTP and HTTP clients, loaded when an upload runs

        url = locations.in_directory(request.location, request.file_name)
        attempts = request.retries + 1
        said: str | None = None
        for attempt in range(1, attempts + 1):
            try:
                async with asyncio.timeout(ATTEMPT_LIMIT_S):
                    where = await transfer.upload(url, path, UPLOAD_TIMEOUT_S)
            except (transfer.TransferError, TimeoutError) as exc:
                error = str(exc) if isinstance(exc, transfer.TransferError) else \
                    f"upload to {transfer.masked_url(url)} took longer than {ATTEMPT_LIMIT_S:g} s"
                last = attempt == attempts or not getattr(exc, "retry", True)
                if last:
                    log.warning(f"{request.kind.label} upload failed", attempt=attempt, attempts=attempts, error=error)
                    return FAILURES.get(getattr(exc, "kind", TransferFailure.FAILED), Progress.FAILED)
                if error != said:
                    log.warning(f"{request.kind.label} upload failed; trying again", attempt=attempt, attempts=attempts,
                                error=error, retry_interval_s=request.retry_interval)
                    said = error
                await asyncio.sleep(request.retry_interval)
            else:
                log.info(f"{request.kind.label} uploaded", to=where, attempt=attempt)
                return Progress.UPLOADED
        return Progress.FAILED


def _job_of(entry: dict[str, Any]) -> str:
    """A record entry's job (a record from a release before GetLog names it by its file)."""
    return str(entry.get("job") or entry.get("file_name", ""))


def _unfinished(entry: dict[str, Any]) -> Unfinished:
    """A record entry as found at start: a job still uploading was cut short, so failed."""
    name = str(entry.get("file_name", ""))
    try:
        progress = Progress(entry.get("status"))
    except ValueError:
        progress = Progress.UPLOADING
    try:
        kind = LogKind(entry.get("kind", LogKind.DIAGNOSTICS.value))
    except ValueError:
        kind = LogKind.DIAGNOSTICS
    request_id = entry.get("request_id")
    if progress is Progress.UPLOADING:
        log.warning(f"{kind.label} upload interrupted by a restart: reported failed", file_name=name,
                    location=entry.get("location"), request_id=request_id)
        progress = Progress.FAILED
    return Unfinished(_job_of(entry), name, kind, request_id if isinstance(request_id, int) else None, progress)


async def _stoppable(work: Callable[..., Path], *args: Any) -> Path:
    """Run ``work(*args, stop)`` in a worker thread. A cancellation sets ``stop`` and waits
    for the thread to end before it goes on: a cancelled job's build is over when its
    task is, so the next job's never runs beside it."""
    stop = threading.Event()
    future = asyncio.get_running_loop().run_in_executor(None, functools.partial(work, *args, stop))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        stop.set()
        await asyncio.wait([future])
        if not future.cancelled():
            future.exception()  # BuildStopped, or whatever ended it: consumed, the cancellation wins
        raise


def _without_known_secrets(text: str) -> str:
    """``text`` with each registered secret masked, and nothing else touched (the full
    redaction would also unquote TOML's masked values, making the file unreadable)."""
    for secret in known_secrets():
        text = text.replace(secret, MASK)
    return text
