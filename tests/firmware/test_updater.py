"""The agent's firmware job across restarts and overlapping requests, on its files.

The end-to-end paths with the real agent, CSMS and installer are in
test_firmware_update.py; these are the corners a restart can leave behind.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from agent.firmware.layout import OUTCOME, Layout, write_json
from agent.firmware.updater import JOB, FirmwareUpdater, Job
from tests.firmware.signing import certificate, pem


class Backend:
    def __init__(self) -> None:
        self.statuses: list[tuple[str, int | None]] = []
        self.events: list[str] = []

    async def report(self, status: str, request_id: int | None) -> None:
        self.statuses.append((status, request_id))

    async def event(self, kind: str, info: str) -> None:
        self.events.append(kind)


def updater(tmp_path: Path, backend: Backend, downloads: list[str] | None = None,
            signing_ca: Path | None = None) -> FirmwareUpdater:
    async def download(url: str, dest: Path) -> None:
        (downloads if downloads is not None else []).append(url)
        raise OSError("nothing listens there")

    async def idle() -> None:
        return None

    return FirmwareUpdater(Layout(tmp_path / "opt", tmp_path / "state"), "0.1.0", download=download,
                           report=backend.report, security_event=backend.event, idle=idle, install_timeout=60,
                           signing_ca=signing_ca)


async def test_an_outcome_left_by_the_installer_is_reported_once_booted_even_without_the_job_file(
    tmp_path: Path,
) -> None:
    backend = Backend()
    job = updater(tmp_path, backend)
    write_json(job.layout.file(OUTCOME), {"status": "InstallationFailed", "reason": "pip failed",
                                          "request": {"request_id": 42}})
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(job.run())
        await asyncio.sleep(0.05)
        assert backend.statuses == []  # nothing goes out before the backend accepted the boot
        job.booted()
        for _ in range(100):
            if backend.statuses:
                break
            await asyncio.sleep(0.01)
        task.cancel()
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
