"""Firmware Management end to end (TC_044_1, TC_044_2, TC_044_3) and SignedUpdateFirmware.

The agent runs from an installation laid out as `make install` makes it:
``<opt>/current -> releases/<release>``, started as ``<opt>/current/bin/python -m agent``,
so a switch really starts the other release's code. The first release is this checkout's
virtualenv. The firmware is a real bundle built from a copy of this source tree with
another version number, served over HTTP; the root installer is the real one
(:mod:`agent.firmware.install`, building a virtualenv from the bundle's wheels).

What systemd does on a charger is played by :class:`Systemd`: ``ladda-update.path``
starting the installer when the agent drops a request, and ``systemctl restart``
(the harness stops the agent and starts it again from ``current``).
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import sys
import tempfile
import textwrap
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from agent.firmware.bundle import build
from agent.firmware.install import Spool, prepare, resume, switch, wait_for_marker
from agent.firmware.layout import OUTCOME, PREPARED, REQUEST, SWITCH, Layout
from agent.jobs import MIN_RETRY_INTERVAL_S
from agent.logs import log_path
from simulators.harness import Csms, Stack
from tests.conformance.helpers import (
    call_checked,
    last_seq,
    messages,
    plug_and_charge,
    security_events,
    wait_for,
    wait_security_event,
    wait_status,
)
from tests.file_servers import HttpStore, closed_port
from tests.secret_scan import discard
from tests.firmware.signing import certificate, pem

REPO = Path(__file__).resolve().parents[2]
#: The new release must prove itself within this (the unit's installer waits 180 s).
HEALTH_TIMEOUT_S = 12.0
INSTALL_TIMEOUT_S = 120.0


# -- bundles of other versions ---------------------------------------------------------------

def _source_copy(target: Path, version: str, broken: bool) -> Path:
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "dist", "tests", "docs", "__pycache__", "*.egg-info",
                                    ".pytest_cache", "state")
    shutil.copytree(REPO, target, ignore=ignore)
    pyproject = target / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', f'version = "{version}"', 1))
    if broken:  # installs and answers --version, but cannot run the charger
        app = target / "agent" / "app.py"
        app.write_text(app.read_text() + "\n\nasync def run_agent(*args, **kwargs):  # noqa\n"
                       "    raise RuntimeError('this release is broken')\n")
    return target


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, bool], Path]:
    made: dict[tuple[str, bool], Path] = {}

    def bundle(version: str, broken: bool = False) -> Path:
        if (version, broken) not in made:
            work = tmp_path_factory.mktemp(f"src-{version}")
            made[(version, broken)] = build(_source_copy(work / "ladda", version, broken), work / "out")
        return made[(version, broken)]

    return bundle


# -- the installation and the systemd around it ------------------------------------------------

class Systemd:
    """ladda-update.path (run the installer on a request) and systemctl restart."""

    def __init__(self, layout: Layout, stack: Stack) -> None:
        self.layout = layout
        self.stack = stack
        self.restarts = 0
        self._loop = asyncio.get_running_loop()

    def restart(self) -> None:
        asyncio.run_coroutine_threadsafe(self._restart(), self._loop).result(60)

    async def _restart(self) -> None:
        await self.stack.stop_agent()
        await self.stack.start_agent()
        self.restarts += 1

    async def run(self) -> None:
        while True:
            if self.layout.file(REQUEST).exists() or self.layout.file(SWITCH).exists():
                await asyncio.to_thread(self.install_once)
            await asyncio.sleep(0.1)

    def install_once(self) -> None:
        """One run of ladda-update.service, as agent/firmware/install.py's main() does it."""
        spool = Spool.open(self.layout.state)
        assert spool is not None
        try:
            healthy = wait_for_marker(spool, poll=0.1)
            resume(self.layout, spool, self.restart, healthy)
            prepare(self.layout, spool)
            switch(self.layout, spool, self.restart, healthy, HEALTH_TIMEOUT_S)
        finally:
            spool.close()


class Installation:
    def __init__(self, stack: Stack, layout: Layout, systemd: Systemd, web: HttpStore) -> None:
        self.stack, self.layout, self.systemd, self.web = stack, layout, systemd, web

    def serve(self, bundle: Path) -> str:
        self.web.files[f"/{bundle.name}"] = bundle.read_bytes()
        return self.web.url(f"/{bundle.name}")


@pytest.fixture
async def installation(csms: Csms) -> AsyncIterator[Installation]:
    workdir = Path(tempfile.mkdtemp(prefix="ld-fw-"))
    layout = Layout(workdir / "opt", workdir / "charger" / "state")
    first = layout.releases / "0.1.0-checkout"
    first.parent.mkdir(parents=True)
    first.symlink_to(sys.prefix)  # this checkout's virtualenv plays the installed release
    layout.current.symlink_to(os.path.relpath(first, layout.opt))
    cp_id = f"FW-{uuid.uuid4().hex[:8]}"
    stack = Stack(workdir / "charger", csms, cp_id=cp_id, agent_python=str(layout.current / "bin" / "python"),
                  ocpp={"MeterValueSampleInterval": 0},
                  sections={"firmware": {"install_timeout": INSTALL_TIMEOUT_S}})
    with HttpStore() as web:
        try:
            await stack.start()
            await stack.wait_booted()
            systemd = Systemd(layout, stack)
            async with asyncio.TaskGroup() as tg:
                watcher = tg.create_task(systemd.run())
                yield Installation(stack, layout, systemd, web)
                watcher.cancel()
        finally:
            await stack.stop()
            discard(workdir)


async def firmware_statuses(stack: Stack, since: int, action: str = "FirmwareStatusNotification") -> list[str]:
    return [m["payload"]["status"] for m in await messages(stack, action, since)]


async def wait_firmware(stack: Stack, since: int, final: set[str], timeout: float,
                        action: str = "FirmwareStatusNotification") -> list[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not final & set(statuses := await firmware_statuses(stack, since, action)):
        assert loop.time() < deadline, f"no {final} within {timeout:g} s; statuses {statuses}\n{stack.agent_log()}"
        await asyncio.sleep(0.2)
    return statuses


async def statuses_of(stack: Stack, connector: int, since: int) -> list[str]:
    return [m["payload"]["status"] for m in await messages(stack, "StatusNotification", since)
            if m["payload"]["connectorId"] == connector]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- TC_044 ---------------------------------------------------------------------------------------

@pytest.mark.timeout(240)
async def test_tc_044_1_firmware_update_download_and_install(installation: Installation, bundles) -> None:  # type: ignore[no-untyped-def]
    stack, layout = installation.stack, installation.layout
    location = installation.serve(bundles("0.1.0.post1"))
    await plug_and_charge(stack)  # a car is charging: the switch must wait for it
    since = await last_seq(stack)
    assert await call_checked(stack, "UpdateFirmware", {"location": location, "retrieveDate": _now()}) == {}

    await wait_firmware(stack, since, {"Installing"}, 30)
    for _ in range(300):  # the installer builds the release meanwhile; charging goes on
        if layout.file(PREPARED).exists():
            break
        await asyncio.sleep(0.1)
    assert layout.file(PREPARED).exists(), stack.agent_log()
    # Held for the switch: the charger takes no new session (connector 0 Unavailable) while
    # the running one goes on.
    await wait_status(stack, 0, "Unavailable", since)
    await asyncio.sleep(2.0)
    assert installation.systemd.restarts == 0 and not layout.file(SWITCH).exists()  # not under a charging car
    status = (await stack.bench_request("status"))["connectors"][0]
    assert status["contactor_closed"] is True
    assert await statuses_of(stack, 0, since) == ["Unavailable"]
    assert await statuses_of(stack, 1, since) == []  # still Charging

    stopped = await last_seq(stack)
    await stack.bench_request("tap", uid="04A1B2C3")  # the driver ends the session
    await wait_for(stack, "StopTransaction", since=stopped)
    statuses = await wait_firmware(stack, since, {"Installed", "InstallationFailed"}, 90)
    assert statuses == ["Downloading", "Downloaded", "Installing", "Installed"], stack.agent_log()
    # From the end of the session to the new release's verdict the connector is Unavailable
    # (not Finishing, not free for a session the restart or a rollback would cut) ...
    installed = max(m["seq"] for m in await messages(stack, "FirmwareStatusNotification", since))
    held = [(m["payload"]["status"], m["seq"]) for m in await messages(stack, "StatusNotification", stopped)
            if m["payload"]["connectorId"] == 1 and m["seq"] < installed]
    assert held and {s for s, _ in held} == {"Unavailable"}, held
    # ... and then given back: the EV is still plugged in.
    await wait_status(stack, 1, "Preparing", installed)

    # The new release runs: it says so in its BootNotification, and the old one is kept.
    boots = [m["payload"] for m in await messages(stack, "BootNotification", since)]
    assert [b["firmwareVersion"] for b in boots] == ["ladda 0.1.0.post1"]
    assert layout.current.resolve().name.startswith("0.1.0.post1-")
    assert layout.previous.resolve() == Path(sys.prefix).resolve()
    assert installation.systemd.restarts == 1
    assert not any(layout.firmware.glob("*.json"))  # job, request, attempt and outcome all done


@pytest.mark.timeout(120)
async def test_tc_044_2_firmware_update_download_failed(installation: Installation) -> None:
    stack, layout = installation.stack, installation.layout
    since = await last_seq(stack)
    location = f"http://127.0.0.1:{closed_port()}/ladda-firmware-9.9.9.tar.gz"
    # One retry a second later, asked: the charger waits its least interval instead.
    assert await call_checked(stack, "UpdateFirmware", {"location": location, "retrieveDate": _now(),
                                                        "retries": 1, "retryInterval": 1}) == {}
    statuses = await wait_firmware(stack, since, {"DownloadFailed"}, MIN_RETRY_INTERVAL_S + 30)
    assert statuses == ["Downloading", "Downloading", "DownloadFailed"]  # 1 + retries attempts
    assert installation.systemd.restarts == 0 and not layout.file(REQUEST).exists()
    trigger = await last_seq(stack)
    assert await call_checked(stack, "TriggerMessage", {"requestedMessage": "FirmwareStatusNotification"}) == {
        "status": "Accepted"}
    await wait_for(stack, "FirmwareStatusNotification", since=trigger)
    assert await firmware_statuses(stack, trigger) == ["Idle"]


@pytest.mark.timeout(240)
async def test_tc_044_3_firmware_update_installation_failed(installation: Installation, bundles) -> None:  # type: ignore[no-untyped-def]
    stack, layout = installation.stack, installation.layout
    location = installation.serve(bundles("0.1.0.post2", broken=True))
    since = await last_seq(stack)
    assert await call_checked(stack, "UpdateFirmware", {"location": location, "retrieveDate": _now()}) == {}
    statuses = await wait_firmware(stack, since, {"Installed", "InstallationFailed"}, 120)
    assert statuses == ["Downloading", "Downloaded", "Installing", "InstallationFailed"], stack.agent_log()

    # Rolled back: the old release runs again, the broken one is gone, and "previous" is
    # what it was before the switch (none here), not the release now current again.
    assert layout.current.resolve() == Path(sys.prefix).resolve()
    assert not layout.previous.is_symlink()
    assert not any(p.name.startswith("0.1.0.post2-") for p in layout.releases.iterdir())
    assert installation.systemd.restarts == 2  # into the new release, and back
    boots = [m["payload"]["firmwareVersion"] for m in await messages(stack, "BootNotification", since)]
    assert boots == ["ladda 0.1.0"]  # the broken release never reached the backend
    assert "did not become ready and accepted by the backend" in stack.agent_log()
    assert not layout.file(OUTCOME).exists()


# -- SignedUpdateFirmware --------------------------------------------------------------------------

@pytest.fixture
async def signed_charger(charger, tmp_path: Path) -> tuple[Stack, Any, x509.Certificate]:  # type: ignore[no-untyped-def]
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("Ladda firmware CA", ca_key, "Ladda firmware CA", ca_key)
    (tmp_path / "firmware-ca.pem").write_text(pem(ca))
    stack = await charger(sections={"firmware": {"signing_ca": str(tmp_path / "firmware-ca.pem")}})
    return stack, ca_key, ca


async def test_signed_update_with_a_certificate_from_another_ca_is_refused_before_downloading(
    signed_charger, bundle: Path  # type: ignore[no-untyped-def]
) -> None:
    stack, _ca_key, _ca = signed_charger
    stranger = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    forged = certificate("signer", key, "Ladda firmware CA", stranger)  # the right name, the wrong key
    since = await last_seq(stack)
    answer = await call_checked(stack, "SignedUpdateFirmware", {
        "requestId": 11, "firmware": {"location": "http://127.0.0.1:1/f.tar.gz", "retrieveDateTime": _now(),
                                      "signingCertificate": pem(forged), "signature": "AAAA"}})
    assert answer == {"status": "InvalidCertificate"}
    event = await wait_security_event(stack, "InvalidFirmwareSigningCertificate", since=since)
    assert len(await security_events(stack, "InvalidFirmwareSigningCertificate", since)) == 1
    assert "not issued by a configured firmware signing CA" in event["techInfo"]
    assert await messages(stack, "SignedFirmwareStatusNotification", since) == []


async def test_signed_update_with_a_bad_signature_is_not_installed_and_a_good_one_is(
    signed_charger, bundle: Path  # type: ignore[no-untyped-def]
) -> None:
    stack, ca_key, _ca = signed_charger
    key = ec.generate_private_key(ec.SECP256R1())
    signer = pem(certificate("Ladda release signing", key, "Ladda firmware CA", ca_key))
    data = bundle.read_bytes()
    with HttpStore() as web:
        web.files["/f.tar.gz"] = data
        firmware = {"location": web.url("/f.tar.gz"), "retrieveDateTime": _now(), "signingCertificate": signer}

        since = await last_seq(stack)
        bad = base64.b64encode(key.sign(data + b"tampered", ec.ECDSA(hashes.SHA256()))).decode()
        assert await call_checked(stack, "SignedUpdateFirmware", {
            "requestId": 21, "firmware": {**firmware, "signature": bad}}) == {"status": "Accepted"}
        statuses = await wait_firmware(stack, since, {"InvalidSignature"}, 20, "SignedFirmwareStatusNotification")
        assert statuses == ["Downloading", "Downloaded", "InvalidSignature"]
        assert {m["payload"]["requestId"] for m in await messages(stack, "SignedFirmwareStatusNotification", since)} \
            == {21}
        await wait_security_event(stack, "InvalidFirmwareSignature", since=since)
        assert len(await security_events(stack, "InvalidFirmwareSignature", since)) == 1
        # The job is over, not installed: a triggered status still names it (not Idle).
        trigger = await last_seq(stack)
        assert await call_checked(stack, "ExtendedTriggerMessage", {"requestedMessage": "FirmwareStatusNotification"}) \
            == {"status": "Accepted"}
        [last] = await wait_for(stack, "SignedFirmwareStatusNotification", since=trigger)
        assert last == {"status": "InvalidSignature", "requestId": 21}
        firmware_dir = stack.state_dir / "firmware"
        assert not (firmware_dir / REQUEST).exists() and not (firmware_dir / "bundle.tar.gz").exists()

        since = await last_seq(stack)
        good = base64.b64encode(key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()
        good = "\n".join(textwrap.wrap(good, 64)) + "\n"  # as PEM tools write it: 64 columns
        assert "\n" in good.strip()
        assert await call_checked(stack, "SignedUpdateFirmware", {
            "requestId": 22, "firmware": {**firmware, "signature": good}}) == {"status": "Accepted"}
        statuses = await wait_firmware(stack, since, {"Installing"}, 20, "SignedFirmwareStatusNotification")
        assert statuses == ["Downloading", "Downloaded", "SignatureVerified", "Installing"]
        # Handed to the root installer (TC_044_1 follows the rest of the way).
        assert (firmware_dir / REQUEST).exists()


async def test_update_firmware_with_an_unreadable_or_absurd_retrieve_date_fails_at_once(charger) -> None:  # type: ignore[no-untyped-def]
    """Item 7: UpdateFirmware.conf has no status, so a retrieveDate the charger cannot act
    on ends the job at once with DownloadFailed, a warning saying why, nothing fetched."""
    stack = await charger()
    with HttpStore() as web:
        # No RFC 3339 time at all breaks the schema's date-time format: the framing refuses it.
        answer = await stack.csms.request("call", cp=stack.cp_id, action="UpdateFirmware",
                                          payload={"location": web.url("/f.tar.gz"), "retrieveDate": "HARD"})
        assert answer["error"]["code"] == "PropertyConstraintViolation"
        for retrieve_date in ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"):
            since = await last_seq(stack)
            assert await call_checked(stack, "UpdateFirmware", {"location": web.url("/f.tar.gz"),
                                                                "retrieveDate": retrieve_date}) == {}
            assert await wait_firmware(stack, since, {"DownloadFailed"}, 10) == ["DownloadFailed"], retrieve_date
        assert web.requests == []
    log = (stack.workdir / "agent.log").read_text()
    assert log.count('"event": "firmware update refused"') == 2
    assert "failed unexpectedly" not in log and "Traceback" not in log and '"level": "error"' not in log


async def test_signed_update_with_an_unreadable_date_is_rejected(signed_charger) -> None:  # type: ignore[no-untyped-def]
    stack, ca_key, _ca = signed_charger
    key = ec.generate_private_key(ec.SECP256R1())
    signer = pem(certificate("Ladda release signing", key, "Ladda firmware CA", ca_key))
    since = await last_seq(stack)
    firmware = {"location": "http://127.0.0.1:1/f.tar.gz", "signingCertificate": signer, "signature": "AAAA"}
    answer = await stack.csms.request("call", cp=stack.cp_id, action="SignedUpdateFirmware", payload={
        "requestId": 31, "firmware": {**firmware, "retrieveDateTime": "HARD"}})
    assert answer["error"]["code"] == "PropertyConstraintViolation"  # no RFC 3339 time: the framing refuses it
    answer = await call_checked(stack, "SignedUpdateFirmware", {"requestId": 31, "firmware": {
        **firmware, "retrieveDateTime": _now(), "installDateTime": "9999-01-01T00:00:00Z"}})
    assert answer == {"status": "Rejected"}
    await asyncio.sleep(0.5)
    assert await messages(stack, "SignedFirmwareStatusNotification", since) == []


async def test_a_password_in_a_firmware_location_never_reaches_the_log(signed_charger) -> None:  # type: ignore[no-untyped-def]
    """Item 11: the "unsigned firmware refused" line (and every other one naming the
    location) shows the URL with its password masked."""
    stack, _ca_key, _ca = signed_charger
    secret = "Fw-S3cret-Pa55"
    since = await last_seq(stack)
    location = f"ftp://firmware:{secret}@127.0.0.1:{closed_port()}/ladda-firmware-9.9.9.tar.gz"
    assert await call_checked(stack, "UpdateFirmware", {"location": location, "retrieveDate": _now()}) == {}
    assert await wait_firmware(stack, since, {"InstallationFailed"}, 10) == ["InstallationFailed"]
    log = (stack.workdir / "agent.log").read_text()
    assert "unsigned firmware refused" in log and "firmware:****@127.0.0.1" in log
    assert secret not in log
    assert secret not in log_path(stack.state_dir).read_text()


async def test_a_power_cut_during_the_download_still_ends_the_job_with_a_final_status(charger) -> None:  # type: ignore[no-untyped-def]
    """The job file outlives the process: after the restart the download goes on with the
    attempts left (the one cut short counts), and the backend hears how it ended."""
    stack = await charger()
    with HttpStore() as web:
        web.gate = threading.Event()  # the download hangs until the power is back
        since = await last_seq(stack)
        assert await call_checked(stack, "UpdateFirmware", {"location": web.url("/ladda-firmware-9.9.9.tar.gz"),
                                                            "retrieveDate": _now(), "retries": 1}) == {}
        assert await wait_firmware(stack, since, {"Downloading"}, 10) == ["Downloading"]
        await asyncio.sleep(0.5)  # the GET is held open by the server
        await stack.stop_agent(signal.SIGKILL)
        web.gate.set()  # the server answers from now on: 404, the file is not there
        await stack.start_agent()
        statuses = await wait_firmware(stack, since, {"DownloadFailed"}, 30)
    assert statuses == ["Downloading", "Downloading", "DownloadFailed"]  # 1 + 1 retry in all
    assert not (stack.state_dir / "firmware" / "job.json").exists()
