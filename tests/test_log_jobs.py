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

    def __init__(self, hold: float | None = None, unfinished: Unfinished | None = None) -> None:
        self.hold = hold
        self.running = 0
        self.most_at_once = 0
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.delivered_jobs: list[str] = []
        self._unfinished = unfinished

    def unfinished(self) -> Unfinished | None:
        return self._unfinished

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
        jobs_.sent(status)
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
    fake = FakeDiagnostics(unfinished=left)
    log_jobs = LogJobs(fake)  # type: ignore[arg-type]
    log_jobs.resume()
    status = await asyncio.wait_for(log_jobs.next_status(), 1)
    assert status == Status("job-1", left.file_name, LogKind.SECURITY, 9, Progress.FAILED)
    log_jobs.sent(status)
    assert fake.delivered_jobs == ["job-1"]


def test_security_log_files_are_the_rotated_ones_oldest_first_then_the_current(tmp_path: Path):
    assert security_log_files(tmp_path) == []
    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("security.log", "security.log.1", "security.log.10", "security.log.2", "security.log.bak",
                 "ladda.log"):
        (logs / name).write_text("{}\n")
    assert [p.name for p in security_log_files(tmp_path)] == [
        "security.log.10", "security.log.2", "security.log.1", "security.log"]


def test_a_get_log_window_names_its_own_fields():
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    with pytest.raises(jobs.JobRefused, match="oldestTimestamp .* is after latestTimestamp"):
        Window.parse("2026-05-02T00:00:00Z", "2026-05-01T00:00:00Z", now, ("oldestTimestamp", "latestTimestamp"))
    with pytest.raises(jobs.JobRefused, match="latestTimestamp"):
        Window.parse(None, "9999-01-01T00:00:00Z", now, ("oldestTimestamp", "latestTimestamp"))
