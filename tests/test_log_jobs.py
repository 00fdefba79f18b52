"""The log job (agent/log_jobs.py) without a link or a server: one upload at a time, a
new request cancelling the running one (however fast requests come), the latest status
of each job kept until delivered, a final one's record dropped only once delivered; and
which security log files a SecurityLog takes (agent/security_log.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from agent import jobs
from agent.diagnostics import LogKind, Progress, Request, Unfinished, Window
from agent.log_jobs import LogJobs, Status
from agent.security_log import security_log_files


class FakeDiagnostics:
    """Uploads that take ``hold`` seconds (forever when None), counting how many run at once."""

    def __init__(self, hold: float | None = None, unfinished: list[Unfinished] | None = None) -> None:
        self.hold = hold
        self.running = 0
        self.most_at_once = 0
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.delivered_jobs: list[str] = []
        self.noted: list[tuple[str, Progress]] = []
        self._unfinished = unfinished or []

    def unfinished(self) -> list[Unfinished]:
        return self._unfinished

    def note(self, request: Request, progress: Progress, *, only_if_recorded: bool = False) -> None:
        self.noted.append((request.file_name, progress))

    def delivered(self, job: str) -> None:
        self.delivered_jobs.append(job)

    async def upload(self, request: Request, report: Callable[[Progress], None]) -> Progress:
        self.started.append(request.file_name)
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        report(Progress.UPLOADING)
        try:
            if self.hold is None:
                await asyncio.Event().wait()
            await asyncio.sleep(self.hold or 0)
        except asyncio.CancelledError:
            self.cancelled.append(request.file_name)
            raise
        finally:
            self.running -= 1
        report(Progress.UPLOADED)
        return Progress.UPLOADED


def request(name: str, request_id: int | None = None) -> Request:
    return Request(location="ftp://127.0.0.1/", file_name=name, window=Window(), request_id=request_id)


async def drain(jobs_: LogJobs, count: int) -> list[tuple[str, Progress]]:
    seen = []
    for _ in range(count):
        status = await asyncio.wait_for(jobs_.next_status(), 2)
        seen.append((status.file_name, status.progress))
        await jobs_.sent(status)
    return seen


async def test_requests_in_quick_succession_leave_one_upload_running_and_end_the_others_cancelled():
    fake = FakeDiagnostics(hold=None)
    log_jobs = LogJobs(fake)  # type: ignore[arg-type]
    async with asyncio.TaskGroup() as group:
        assert log_jobs.start(request("a", 1), group) is None
        await asyncio.sleep(0.01)  # a is uploading
        assert log_jobs.start(request("b", 2), group).file_name == "a"  # type: ignore[union-attr]
        assert log_jobs.start(request("c", 3), group).file_name == "b"  # type: ignore[union-attr]  # b never ran
        await asyncio.sleep(0.05)
        assert fake.started == ["a", "c"] and fake.cancelled == ["a"]
        assert fake.most_at_once == 1
        assert log_jobs.running is not None and log_jobs.running.file_name == "c"
        # Not delivered meanwhile, a's Uploading gave way to its end.
        assert await drain(log_jobs, 3) == [("a", Progress.CANCELLED), ("b", Progress.CANCELLED),
                                            ("c", Progress.UPLOADING)]
        assert len(fake.delivered_jobs) == 2  # the ends of a and b, once sent
        log_jobs._task.cancel()  # type: ignore[union-attr]  # the agent stopping: c says nothing more
    assert log_jobs.running is None and fake.cancelled == ["a", "c"]
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(log_jobs.next_status(), 0.05)


async def test_only_the_latest_status_of_a_job_waits_and_a_final_one_is_forgotten_once_sent():
    fake = FakeDiagnostics(hold=0)
    log_jobs = LogJobs(fake)  # type: ignore[arg-type]
    async with asyncio.TaskGroup() as group:
        log_jobs.start(request("a", 5), group)
    assert log_jobs.running is None
    # Nobody delivered meanwhile (the link was down): Uploaded only, once.
    [(name, progress)] = await drain(log_jobs, 1)
    assert (name, progress) == ("a", Progress.UPLOADED)
    assert len(fake.delivered_jobs) == 1
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(log_jobs.next_status(), 0.05)


async def test_a_job_an_earlier_run_left_is_reported_at_start():
    left = Unfinished("job-1", "securitylog-X-20260101T000000Z.tar.gz", LogKind.SECURITY, 9, Progress.FAILED)
    fake = FakeDiagnostics(unfinished=[left])
    log_jobs = LogJobs(fake)  # type: ignore[arg-type]
    log_jobs.resume()
    status = await asyncio.wait_for(log_jobs.next_status(), 1)
    assert status == Status("job-1", left.file_name, LogKind.SECURITY, 9, Progress.FAILED)
    await log_jobs.sent(status)
    assert fake.delivered_jobs == ["job-1"]


def test_security_log_files_are_the_rotated_ones_oldest_first_then_the_current(tmp_path: Path):
    assert security_log_files(tmp_path) == []
    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("security.log", "security.log.1", "security.log.3", "security.log.2", "security.log.bak",
                 "security.log.10", "ladda.log"):
        (logs / name).write_text("{}\n")
    # The writer keeps three rotated files (agent/security_log.py): a ".10" is none of its own.
    assert [p.name for p in security_log_files(tmp_path)] == [
        "security.log.3", "security.log.2", "security.log.1", "security.log"]


def test_a_get_log_window_names_its_own_fields():
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    with pytest.raises(jobs.JobRefused, match="oldestTimestamp .* is after latestTimestamp"):
        Window.parse("2026-05-02T00:00:00Z", "2026-05-01T00:00:00Z", now, ("oldestTimestamp", "latestTimestamp"))
    with pytest.raises(jobs.JobRefused, match="latestTimestamp"):
        Window.parse(None, "9999-01-01T00:00:00Z", now, ("oldestTimestamp", "latestTimestamp"))


def _diagnostics(state_dir: Path):  # type: ignore[no-untyped-def]
    """The real job's files and archive, without a database (a security log needs none)."""
    from types import SimpleNamespace

    from agent.diagnostics import Diagnostics

    settings = SimpleNamespace(charge_point=SimpleNamespace(id="CP-1"))
    return Diagnostics(settings, state_dir, None, 0.0)  # type: ignore[arg-type]


async def test_a_cancelled_build_stops_and_its_job_ends_only_once_its_thread_has(tmp_path: Path):
    """The build runs in a thread, which a cancellation cannot stop by itself: the job's task
    must not end (letting the next job build beside it) while that thread still writes."""
    import threading
    import time

    logs = tmp_path / "logs"
    logs.mkdir()
    line = '{"event": "x", "timestamp": "2026-01-01T00:00:00Z", "detail": "%s"}\n' % ("y" * 60)
    (logs / "security.log").write_text(line * 300_000)
    diagnostics = _diagnostics(tmp_path)
    job = diagnostics.request("ftp://127.0.0.1/", 0, 0, Window(), kind=LogKind.SECURITY, request_id=1)
    before = threading.active_count()
    task = asyncio.create_task(diagnostics.build(job))
    while not (tmp_path / "diagnostics" / job.file_name).exists():
        await asyncio.sleep(0.01)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - cancelled_at < 2.0  # it stopped, it did not run to the end
    assert list((tmp_path / "diagnostics").iterdir()) == []  # and its archive went with it
    assert threading.active_count() <= before + 1  # (the executor keeps an idle worker)


def test_two_requests_in_one_second_get_two_file_names(tmp_path: Path):
    diagnostics = _diagnostics(tmp_path)
    names = {diagnostics.request("ftp://127.0.0.1/", 0, 0, Window(), kind=LogKind.SECURITY, request_id=n).file_name
             for n in range(3)}
    assert len(names) == 3


def test_each_undelivered_final_status_survives_a_restart(tmp_path: Path):
    """Job A ended (Uploaded) while its status waited; job B started: both are on record,
    and delivering one keeps the other."""
    diagnostics = _diagnostics(tmp_path)
    a = diagnostics.request("ftp://127.0.0.1/", 0, 0, Window(), kind=LogKind.SECURITY, request_id=7)
    b = diagnostics.request("ftp://127.0.0.1/", 0, 0, Window(), kind=LogKind.DIAGNOSTICS, request_id=8)
    diagnostics.note(a, Progress.UPLOADING)
    diagnostics.note(a, Progress.UPLOADED)
    diagnostics.note(b, Progress.UPLOADING)
    after_restart = _diagnostics(tmp_path)
    assert [(u.request_id, u.progress) for u in after_restart.unfinished()] == [
        (7, Progress.UPLOADED), (8, Progress.FAILED)]
    after_restart.delivered(a.job)
    assert [u.request_id for u in after_restart.unfinished()] == [8]
    after_restart.delivered(b.job)
    assert after_restart.unfinished() == [] and not (tmp_path / "diagnostics-job.json").exists()
    # The end of a replaced job already delivered is not written back.
    after_restart.note(a, Progress.CANCELLED, only_if_recorded=True)
    assert after_restart.unfinished() == []


async def test_get_log_is_checked_once_for_both_protocols():
    fake = FakeDiagnostics()
    fake.request = lambda location, retries, interval, window, kind, request_id: request("x", request_id)  # type: ignore[attr-defined]
    log_jobs = LogJobs(fake)  # type: ignore[arg-type]
    with pytest.raises(jobs.JobRefused, match="logType 'DataCollectorLog'"):
        log_jobs.accept("DataCollectorLog", "ftp://127.0.0.1/", None, None, None, None, 1)
    with pytest.raises(jobs.JobRefused):
        log_jobs.accept("SecurityLog", "file:///etc/passwd", None, None, None, None, 1)
    with pytest.raises(jobs.JobRefused, match="oldestTimestamp"):
        log_jobs.accept("SecurityLog", "ftp://127.0.0.1/", "2026-05-02T00:00:00Z", "2026-05-01T00:00:00Z",
                        None, None, 1)
    taken = log_jobs.accept("SecurityLog", "ftp://127.0.0.1/", None, None, None, None, 3)
    assert taken.request.request_id == 3 and not taken.cancels
