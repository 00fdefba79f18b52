"""The agent's firmware job across restarts and overlapping requests, on its files.

The end-to-end paths with the real agent, CSMS and installer are in
test_firmware_update.py; these are the corners a restart can leave behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from cryptography.hazmat.primitives.asymmetric import ec

from agent import jobs

from agent.firmware import updater as updater_module
from agent.firmware.layout import ATTEMPT, OUTCOME, SWITCH, Layout, write_json
from agent.firmware.updater import JOB, FirmwareUpdater, Job, on_trial
from agent.transfer import TransferError
from tests.firmware.signing import certificate, pem


class Backend:
    def __init__(self) -> None:
        self.statuses: list[tuple[str, int | None]] = []
        self.events: list[str] = []
        self.holds: list[bool] = []  # True: held (and idle), False: released

    async def report(self, status: str, request_id: int | None) -> None:
        self.statuses.append((status, request_id))

    async def event(self, kind: str, info: str) -> None:
        self.events.append(kind)


def updater(tmp_path: Path, backend: Backend, downloads: list[str] | None = None,
            signing_ca: Path | None = None, idle: asyncio.Event | None = None,
            failure: Exception | None = None) -> FirmwareUpdater:
    """``idle``: the hold returns once it is set (no transaction runs any more);
    ``failure``: what every download attempt raises."""
    async def download(url: str, dest: Path) -> None:
        (downloads if downloads is not None else []).append(url)
        raise failure or OSError("nothing listens there")

    async def hold() -> None:
        backend.holds.append(True)
        if idle is not None:
            await idle.wait()

    return FirmwareUpdater(Layout(tmp_path / "opt", tmp_path / "state"), "0.1.0", download=download,
                           report=backend.report, security_event=backend.event, hold=hold,
                           release=lambda: backend.holds.append(False), install_timeout=60, signing_ca=signing_ca)


async def test_an_outcome_left_by_the_installer_is_reported_once_booted_even_without_the_job_file(
    tmp_path: Path,
) -> None:
    backend = Backend()
    job = updater(tmp_path, backend)
    write_json(job.layout.file(OUTCOME), {"status": "InstallationFailed", "reason": "pip failed",
                                          "request": {"request_id": 42}})
    async with running(job):
        await asyncio.sleep(0.05)
        assert backend.statuses == []  # nothing goes out before the backend accepted the boot
        job.booted()
        for _ in range(100):
            if backend.statuses:
                break
            await asyncio.sleep(0.01)
    assert backend.statuses == [("InstallationFailed", 42)]  # as a SignedFirmwareStatusNotification
    assert not job.layout.file(OUTCOME).exists()


async def test_a_request_while_a_release_is_being_installed_is_refused(tmp_path: Path) -> None:
    backend = Backend()
    downloads: list[str] = []
    job = updater(tmp_path, backend, downloads)
    write_json(job.layout.file(JOB), {**Job("http://old/f.tar.gz", "2026-01-01T00:00:00Z", 0, 0).__dict__,
                                      "stage": "build"})
    ca_key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "ca.pem").write_text(pem(certificate("CA", ca_key, "CA", ca_key)))
    job = updater(tmp_path, backend, downloads, tmp_path / "ca.pem")  # as after a restart
    job.update("http://new/f.tar.gz", "2026-01-01T00:00:00Z", 0, 0)
    assert job.job is not None and job.job.location == "http://old/f.tar.gz"
    key = ec.generate_private_key(ec.SECP256R1())
    signer = pem(certificate("signer", key, "CA", ca_key))
    answer = await job.signed_update(7, "http://new/f.tar.gz", "2026-01-01T00:00:00Z", signer, "sig", 0, 0, None)
    assert answer == "Rejected"  # a good certificate, but too late: one is being installed
    assert job.job.location == "http://old/f.tar.gz" and backend.events == [] and downloads == []


@contextlib.asynccontextmanager
async def running(job: FirmwareUpdater) -> AsyncIterator[None]:
    """The updater's task for the body of the ``async with``, cancelled after it."""
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(job.run())
        yield
        task.cancel()


async def _until(condition, seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def test_the_switch_is_asked_for_only_once_held_and_idle_and_a_failed_switch_releases(tmp_path: Path) -> None:
    backend = Backend()
    idle = asyncio.Event()  # a transaction runs until this is set
    layout = Layout(tmp_path / "opt", tmp_path / "state")
    write_json(layout.file(JOB), {**Job("http://x/f.tar.gz", "2026-01-01T00:00:00Z", 0, 0, id="j1").__dict__,
                                  "stage": "switch"})
    job = updater(tmp_path, backend, idle=idle)  # as after a restart in this stage
    async with running(job):
        await _until(lambda: backend.holds == [True])
        await asyncio.sleep(0.1)
        assert not job.layout.file(SWITCH).exists()  # held, but the session goes on
        idle.set()
        await _until(lambda: job.layout.file(SWITCH).exists())
        assert backend.holds == [True]
        write_json(job.layout.file(OUTCOME), {"status": "InstallationFailed", "reason": "no release", "job": "j1"})
        await _until(lambda: backend.holds == [True, False])
    assert backend.statuses[-1] == ("InstallationFailed", None)


async def test_a_release_on_trial_holds_until_the_verdict(tmp_path: Path) -> None:
    backend = Backend()
    job = updater(tmp_path, backend)
    write_json(job.layout.file(ATTEMPT), {"version": "0.1.0", "job": "j1", "deadline": time.time() + 60})
    assert on_trial(job.layout, "0.1.0")
    assert not on_trial(job.layout, "0.0.9")  # a rolled-back release is not on trial
    async with running(job):
        job.booted()
        await _until(lambda: job.layout.healthy_marker("0.1.0").exists())
        await asyncio.sleep(0.1)
        assert backend.holds == []  # still held: the installer has not concluded
        write_json(job.layout.file(OUTCOME), {"status": "Installed", "version": "0.1.0", "job": "j1"})
        await _until(lambda: backend.holds == [False])
    assert backend.statuses == [("Installed", None)]


async def test_a_release_on_trial_stops_holding_if_no_verdict_comes(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An installer that died must not leave the charger out of service: past the trial's
    deadline (and a grace) the connectors are released, even with no backend."""
    monkeypatch.setattr(updater_module, "TRIAL_GRACE_S", 0.2)
    backend = Backend()
    job = updater(tmp_path, backend)
    write_json(job.layout.file(ATTEMPT), {"version": "0.1.0", "job": "j1", "deadline": time.time() + 0.3})
    async with running(job):
        await asyncio.sleep(0.3)
        assert backend.holds == []
        await _until(lambda: backend.holds == [False])


async def test_a_download_refused_for_its_size_is_not_retried(tmp_path: Path) -> None:
    backend = Backend()
    attempts: list[str] = []
    refused = TransferError("download refused: the file is 900.0 MiB, more than the 256.0 MiB allowed", retry=False)
    job = updater(tmp_path, backend, attempts, failure=refused)
    job.update("http://x/huge.tar.gz", "2026-01-01T00:00:00Z", 3, 0)
    async with running(job):
        await _until(lambda: ("DownloadFailed", None) in backend.statuses)
    assert attempts == ["http://x/huge.tar.gz"]  # 1 + 3 retries allowed, but trying again cannot help
    assert backend.statuses == [("Downloading", None), ("DownloadFailed", None)]
    assert job.job is None and backend.holds == []  # nothing to hold for: the download failed


async def test_a_verdict_that_came_before_the_updater_looked_ends_the_hold(tmp_path: Path) -> None:
    """The runtime started held (the trial was on when it looked), then the installer
    concluded before the updater ran: this release runs on, so it must not stay held."""
    backend = Backend()
    job = updater(tmp_path, backend)
    write_json(job.layout.file(ATTEMPT), {"version": "0.1.0", "job": "j1", "deadline": time.time() + 60})
    assert on_trial(job.layout, "0.1.0")  # what the runtime was built with
    write_json(job.layout.file(OUTCOME), {"status": "Installed", "version": "0.1.0", "job": "j1"})
    job.layout.file(ATTEMPT).unlink()
    async with running(job):
        job.booted()
        await _until(lambda: backend.statuses == [("Installed", None)])
    assert backend.holds == [False]


async def test_a_rollback_verdict_keeps_the_hold_until_the_restart(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """InstallationFailed on trial: the installer restarts the service into the old release
    right after writing it, so this release must not take a session in between. Only the
    guard releases (should the restart never come)."""
    monkeypatch.setattr(updater_module, "TRIAL_GRACE_S", 0.5)
    backend = Backend()
    job = updater(tmp_path, backend)
    write_json(job.layout.file(ATTEMPT), {"version": "0.1.0", "job": "j1", "deadline": time.time() + 2.5})
    async with running(job):
        job.booted()
        await _until(lambda: job.layout.healthy_marker("0.1.0").exists())  # too late, say
        write_json(job.layout.file(OUTCOME), {"status": "InstallationFailed", "reason": "too late", "job": "j1"})
        await _until(lambda: backend.statuses == [("InstallationFailed", None)])
        assert backend.holds == []
        await _until(lambda: backend.holds == [False])


async def test_an_attempt_without_a_deadline_is_held_for_the_installers_default_trial(tmp_path: Path) -> None:
    backend = Backend()
    job = updater(tmp_path, backend)
    started = time.time() - updater_module.TRIAL_DEFAULT_S - updater_module.TRIAL_GRACE_S - 1
    write_json(job.layout.file(ATTEMPT), {"version": "0.1.0", "job": "j1",
                                          "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))})
    async with running(job):
        await _until(lambda: backend.holds == [False])  # long past: released at once


async def test_retries_asked_beyond_the_caps_are_bounded(tmp_path: Path) -> None:
    job = updater(tmp_path, Backend())
    job.update("http://x/f.tar.gz", "2026-01-01T00:00:00Z", 99_999_999, 1)
    assert job.job is not None
    assert (job.job.retries, job.job.retry_interval) == (jobs.MAX_RETRIES, jobs.MIN_RETRY_INTERVAL_S)


async def test_a_retrieve_date_it_cannot_act_on_ends_the_job_at_once(tmp_path: Path) -> None:
    """UpdateFirmware.conf has no status: the job ends with DownloadFailed and a warning
    saying why, never an error, and nothing is fetched."""
    for retrieve_date in ("HARD", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"):
        backend = Backend()
        downloads: list[str] = []
        job = updater(tmp_path, backend, downloads)
        with structlog.testing.capture_logs() as logs:
            job.update("http://x/f.tar.gz", retrieve_date, 3, 60)
            async with running(job):
                await _until(lambda: backend.statuses == [("DownloadFailed", None)])
        assert downloads == [] and job.job is None and not job.layout.file(JOB).exists()
        [refused] = [entry for entry in logs if entry["event"] == "firmware update refused"]
        assert refused["log_level"] == "warning" and "retrieveDate" in refused["reason"]
        assert not [entry for entry in logs if entry["log_level"] == "error"]


async def test_a_restart_during_the_download_goes_on_with_the_attempts_left_and_ends_with_a_status(
    tmp_path: Path, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setattr(jobs, "MIN_RETRY_INTERVAL_S", 0)
    backend = Backend()
    started = asyncio.Event()

    async def stuck(url: str, dest: Path) -> None:
        started.set()
        await asyncio.Event().wait()

    first = updater(tmp_path, backend)
    first._download = stuck  # the first attempt hangs until the restart
    first.update("http://user:pw-secret@x/f.tar.gz", "2026-01-01T00:00:00Z", 2, 0)
    async with running(first):
        await started.wait()
    assert backend.statuses == [("Downloading", None)]

    downloads: list[str] = []
    with structlog.testing.capture_logs() as logs:
        second = updater(tmp_path, backend, downloads)  # as after the restart
        async with running(second):
            await _until(lambda: backend.statuses[-1] == ("DownloadFailed", None))
    assert len(downloads) == 2  # 1 + 2 retries in all: one was made before the restart
    assert backend.statuses == [("Downloading", None)] * 3 + [("DownloadFailed", None)]
    assert second.job is None
    # Two failures alike: said once when retrying and once at the end, password masked.
    assert [entry["event"] for entry in logs if entry["event"].startswith("firmware download failed")] == [
        "firmware download failed; trying again", "firmware download failed"]
    assert "pw-secret" not in repr(logs)


async def test_a_download_attempt_that_drags_on_is_cut_at_its_limit(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A server sending a byte a minute never trips the per-step timeout: the attempt as a
    whole is bounded, and the job ends with DownloadFailed."""
    monkeypatch.setattr(updater_module, "ATTEMPT_LIMIT_S", 0.2)
    backend = Backend()
    job = updater(tmp_path, backend)

    async def trickle(url: str, dest: Path) -> None:
        await asyncio.Event().wait()

    job._download = trickle
    job.update("http://x/f.tar.gz", "2026-01-01T00:00:00Z", 0, None)
    with structlog.testing.capture_logs() as logs:
        async with running(job):
            await _until(lambda: backend.statuses[-1:] == [("DownloadFailed", None)])
    [failed] = [entry for entry in logs if entry["event"] == "firmware download failed"]
    assert "took longer than 0.2 s" in failed["error"]
