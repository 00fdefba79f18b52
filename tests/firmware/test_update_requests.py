"""The updater's answer to a request with a request id (1.6 SignedUpdateFirmware, 2.0.1
UpdateFirmware), on its files: the manufacturer roots the backend installed count beside
``[firmware] signing_ca``, unsigned firmware is refused while any root is configured, and
a job waiting for its switch is cancelled by a newer request without leaving the hold on.
The end-to-end paths are in tests/conformance201/test_firmware.py and test_firmware201.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from agent.firmware.layout import OUTCOME, SWITCH, Layout, write_json
from agent.firmware.updater import JOB, FirmwareUpdater, Job
from tests.firmware.signing import certificate, pem
from tests.firmware.test_updater import Backend, _until, running

NOW = "2026-01-01T00:00:00Z"


def _root() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    return certificate("Installed manufacturer root", key, "Installed manufacturer root", key), key


def _updater(tmp_path: Path, backend: Backend, roots: list[x509.Certificate],
             idle: asyncio.Event | None = None, signing_ca: Path | None = None) -> FirmwareUpdater:
    async def download(url: str, dest: Path) -> None:
        raise OSError("nothing listens there")

    async def hold() -> None:
        backend.holds.append(True)
        if idle is not None:
            await idle.wait()

    return FirmwareUpdater(Layout(tmp_path / "opt", tmp_path / "state"), "0.1.0", download=download,
                           report=backend.report, security_event=backend.event, hold=hold,
                           release=lambda: backend.holds.append(False), install_timeout=60,
                           extra_roots=lambda: roots, signing_ca=signing_ca)


async def test_a_signing_certificate_of_an_installed_manufacturer_root_is_trusted(tmp_path: Path) -> None:
    backend = Backend()
    root, root_key = _root()
    signer = pem(certificate("signer", ec.generate_private_key(ec.SECP256R1()), "Installed manufacturer root",
                             root_key))
    job = _updater(tmp_path, backend, [root])
    answer = await job.request(1, "http://x/f.tar.gz", NOW, signer, "c2ln", 0, 0, None)
    assert answer.status == "Accepted" and backend.events == []
    # Without that root nothing vouches for it: InvalidCertificate and a security event.
    stranger = _updater(tmp_path / "other", Backend(), [])
    refused = await stranger.request(2, "http://x/f.tar.gz", NOW, signer, "c2ln", 0, 0, None)
    assert refused.status == "InvalidCertificate"


async def test_with_a_signing_ca_in_the_file_installed_roots_vouch_for_nothing(tmp_path: Path) -> None:
    """The root installer trusts `[firmware] signing_ca` alone: so does the agent, and a
    certificate of a root the backend installed is InvalidCertificate at once, not refused
    by the installer after the whole download."""
    backend = Backend()
    installed, installed_key = _root()
    signer = pem(certificate("signer", ec.generate_private_key(ec.SECP256R1()), "Installed manufacturer root",
                             installed_key))
    (tmp_path / "ca").mkdir()
    file_root, _ = _root()
    (tmp_path / "ca" / "signing-ca.pem").write_text(pem(file_root))
    job = _updater(tmp_path, backend, [installed], signing_ca=tmp_path / "ca" / "signing-ca.pem")
    answer = await job.request(5, "http://x/f.tar.gz", NOW, signer, "c2ln", 0, 0, None)
    assert answer.status == "InvalidCertificate"


async def test_unsigned_firmware_is_refused_while_a_manufacturer_root_is_installed(tmp_path: Path) -> None:
    backend = Backend()
    job = _updater(tmp_path, backend, [_root()[0]])
    answer = await job.request(3, "http://x/f.tar.gz", NOW, None, None, 0, 0, None)
    assert (answer.status, answer.reason) == ("Rejected", "UnsignedFirmware")
    assert job.job is None
    plain = _updater(tmp_path / "plain", Backend(), [])  # no root at all: L02, the non-secure update
    assert (await plain.request(4, "http://x/f.tar.gz", NOW, None, None, 0, 0, None)).status == "Accepted"


async def test_a_job_waiting_for_its_switch_is_cancelled_and_its_hold_released(tmp_path: Path) -> None:
    """L01.FR.24: a release built and waiting for the running sessions to end can still be
    given up for a newer request (AcceptedCanceled); the connectors are not left held."""
    backend = Backend()
    idle = asyncio.Event()  # a transaction runs throughout
    layout = Layout(tmp_path / "opt", tmp_path / "state")
    write_json(layout.file(JOB), {**Job("http://x/old.tar.gz", NOW, 0, 0, request_id=1, id="j1").__dict__,
                                  "stage": "switch"})
    job = _updater(tmp_path, backend, [], idle=idle)
    async with running(job):
        await _until(lambda: backend.holds == [True])
        answer = await job.request(2, "http://x/new.tar.gz", NOW, None, None, 0, 0, None)
        assert answer.status == "AcceptedCanceled"
        await _until(lambda: backend.holds == [True, False])
        assert not layout.file(SWITCH).exists()
        await _until(lambda: ("DownloadFailed", 2) in backend.statuses)
    assert backend.statuses == [("Downloading", 2), ("DownloadFailed", 2)]  # nothing more of the first


async def test_install_verification_failed_is_told_to_jobs_with_the_whole_status_set(tmp_path: Path) -> None:
    """The installer's verdict on a bundle that failed its checks: InstallVerificationFailed
    for a job with a request id, InstallationFailed for a 1.6 UpdateFirmware (which has no such status)."""
    for request_id, told in ((5, "InstallVerificationFailed"), (None, "InstallationFailed")):
        backend = Backend()
        job = _updater(tmp_path / str(request_id), backend, [])
        write_json(job.layout.file(OUTCOME), {"status": "InstallVerificationFailed", "reason": "no bundle",
                                              "request": {"request_id": request_id}})
        async with running(job):
            job.booted()
            await _until(lambda: backend.statuses != [])
        assert backend.statuses == [(told, request_id)]
