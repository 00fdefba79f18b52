"""OCPP 2.0.1 UpdateFirmware end to end: TC_L_01_CS, TC_L_02_CS, TC_L_08_CS (InstallationFailed and
InstallVerificationFailed), TC_L_14_CS, TC_L_15_CS.

The agent runs from an installation laid out as `make install` makes it, the firmware is a
real bundle of this source tree with another version number, served over HTTP and signed
under a manufacturer root the charger trusts, and the root installer is the real one
(see ``test_firmware_update.py``, whose harness this reuses: :class:`Systemd` plays
``ladda-update.path`` and ``systemctl restart``).

Why here and not in ``tests/conformance201``: the installer's subprocesses (the new
release's ``ladda --version``) and the restarted agent inherit the environment, so a
``PYTHONPATH`` naming a source tree would make the new release run that tree's code; these
tests run without one (``env -u PYTHONPATH`` in a worktree), like the 1.6 ones. The first
release is a virtualenv of its own whose path holds this checkout (not whatever checkout
the test runner's virtualenv was installed from), so it runs the code under test.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import sysconfig
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from agent.firmware.layout import OUTCOME, PREPARED, SWITCH, Layout
from simulators.harness import Csms, Stack
from tests.conformance.helpers import new_id_tag
from tests.conformance201.helpers import V201, call, last_seq, messages, schema_violations, wait_connector, wait_event
from tests.file_servers import HttpStore
from tests.secret_scan import discard
from tests.firmware.signing import certificate, pem
from tests.firmware.test_firmware_update import INSTALL_TIMEOUT_S, Installation, Systemd, bundles  # noqa: F401

REPO = Path(__file__).resolve().parents[2]


def _checkout_release(release: Path) -> None:
    """A virtualenv that runs this checkout: the base interpreter, and a path file naming
    the checkout first and then the test runner's site-packages (for the dependencies;
    its own path files, e.g. an editable install of another checkout, are not read)."""
    (release / "bin").mkdir(parents=True)
    base = Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    (release / "bin" / "python").symlink_to(base)
    (release / "pyvenv.cfg").write_text(f"home = {base.parent}\ninclude-system-site-packages = false\n")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = release / "lib" / version / "site-packages"
    site.mkdir(parents=True)
    (site / "checkout.pth").write_text(f"{REPO}\n{sysconfig.get_paths()['purelib']}\n")


class Manufacturer:
    """The manufacturer root (``[firmware] signing_ca``) and a signing certificate it issued."""

    def __init__(self, directory: Path) -> None:
        root_key = ec.generate_private_key(ec.SECP256R1())
        (directory / "manufacturer-root.pem").write_text(
            pem(certificate("Ladda manufacturer root", root_key, "Ladda manufacturer root", root_key)))
        self.ca_file = directory / "manufacturer-root.pem"
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = pem(certificate("Ladda firmware signing", self.key, "Ladda manufacturer root", root_key))

    def firmware(self, location: str, data: bytes, **more: str) -> dict[str, str]:
        signature = base64.b64encode(self.key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()
        return {"location": location, "retrieveDateTime": _stamp(-7200), "signingCertificate": self.certificate,
                "signature": signature, **more}


def _stamp(offset_s: float = 0.0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=offset_s)).strftime("%Y-%m-%dT%H:%M:%SZ")


Factory = Callable[..., Any]


@pytest.fixture
async def installed(csms: Csms) -> AsyncIterator[Factory]:
    """A factory: ``await installed(connectors=2)`` starts a 2.0.1 charger (``backend=`` another
    version) from an installed layout, with a manufacturer root; it returns (installation,
    manufacturer)."""
    made: list[tuple[Stack, Path]] = []
    watchers: list[asyncio.Task[None]] = []
    async with asyncio.TaskGroup() as tg:
        with HttpStore() as web:
            async def make(connectors: int = 1, backend: dict[str, str] = V201) -> tuple[Installation, Manufacturer]:
                workdir = Path(tempfile.mkdtemp(prefix="ld-fw201-"))
                manufacturer = Manufacturer(workdir)
                layout = Layout(workdir / "opt", workdir / "charger" / "state")
                first = layout.releases / "0.1.0-checkout"
                _checkout_release(first)
                layout.current.symlink_to(os.path.relpath(first, layout.opt))
                stack = Stack(workdir / "charger", csms, cp_id=f"FW201-{uuid.uuid4().hex[:8]}", connectors=connectors,
                              agent_python=str(layout.current / "bin" / "python"), backend=backend,
                              ocpp={"MeterValueSampleInterval": 0, "ConnectionTimeOut": 30},
                              sections={"firmware": {"install_timeout": INSTALL_TIMEOUT_S,
                                                     "signing_ca": str(manufacturer.ca_file)}})
                made.append((stack, workdir))
                await stack.start()
                await stack.wait_booted()
                systemd = Systemd(layout, stack)
                watchers.append(tg.create_task(systemd.run(), name="systemd"))
                return Installation(stack, layout, systemd, web), manufacturer

            try:
                yield make
            finally:
                for stack, workdir in made:
                    await stack.stop()
                    discard(workdir)
                for task in watchers:  # the systemd watchers end with the test
                    task.cancel()


async def _statuses(stack: Stack, since: int) -> list[tuple[str, int | None]]:
    return [(m["payload"]["status"], m["payload"].get("requestId"))
            for m in await messages(stack, "FirmwareStatusNotification", since)]


async def _wait_status(stack: Stack, since: int, final: set[str], timeout: float) -> list[tuple[str, int | None]]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        seen = await _statuses(stack, since)
        if final & {status for status, _ in seen}:
            return seen
        assert asyncio.get_running_loop().time() < deadline, f"no {final}; saw {seen}\n{stack.agent_log()}"
        await asyncio.sleep(0.2)


async def _update(installation: Installation, manufacturer: Manufacturer, request_id: int, bundle: Path,
                  **more: str) -> None:
    location = installation.serve(bundle)
    answer = await call(installation.stack, "UpdateFirmware", {
        "requestId": request_id, "firmware": manufacturer.firmware(location, bundle.read_bytes(), **more)})
    assert answer == {"status": "Accepted"}, answer


async def _boots(stack: Stack, since: int) -> list[dict[str, Any]]:
    return [m["payload"] for m in await messages(stack, "BootNotification", since)]


async def _charging(stack: Stack, connector: int) -> str:
    """Plug in, present a new card, wait for the energy to flow; return the card."""
    since = await last_seq(stack)
    tag = new_id_tag()
    await stack.bench_request("plug", connector=connector, max_current=16)
    await wait_connector(stack, connector, "Occupied", since)
    await stack.bench_request("tap", uid=tag)
    await wait_event(stack, "Started", since)
    await stack.bench_request("wait_for", connector=connector, field="contactor_closed", value=True, timeout=15)
    return tag


async def _clean(stack: Stack) -> None:
    assert await schema_violations(stack) == []


@pytest.mark.timeout(240)
async def test_tc_l_01_cs_secure_firmware_update_installation_successful(installed, bundles) -> None:  # type: ignore[no-untyped-def]
    installation, manufacturer = await installed()
    stack, layout = installation.stack, installation.layout
    since = await last_seq(stack)
    await _update(installation, manufacturer, 1, bundles("0.1.0.post1"))
    seen = await _wait_status(stack, since, {"Installed", "InstallationFailed"}, 150)
    assert seen == [("Downloading", 1), ("Downloaded", 1), ("SignatureVerified", 1), ("Installing", 1),
                    ("InstallRebooting", 1), ("Installed", 1)], stack.agent_log()
    # The new release runs and says why it started (the reboot came after InstallRebooting).
    [boot] = await _boots(stack, since)
    assert boot["chargingStation"]["firmwareVersion"] == "ladda 0.1.0.post1"
    assert boot["reason"] == "FirmwareUpdate"
    assert layout.current.resolve().name.startswith("0.1.0.post1-")
    assert installation.systemd.restarts == 1
    # L01.FR.25: after Installed a trigger tells Idle, without a request id.
    trigger = await last_seq(stack)
    answer = await call(stack, "TriggerMessage", {"requestedMessage": "FirmwareStatusNotification"})
    assert answer["status"] == "Accepted"
    assert await _wait_status(stack, trigger, {"Idle"}, 10) == [("Idle", None)]
    await _clean(stack)


@pytest.mark.timeout(240)
async def test_tc_l_02_cs_install_scheduled(installed, bundles) -> None:  # type: ignore[no-untyped-def]
    """installDateTime ahead: InstallScheduled after the signature is verified (the release
    is built meanwhile), Installing at that time, never the switch before it."""
    installation, manufacturer = await installed()
    stack, layout = installation.stack, installation.layout
    bundle = bundles("0.1.0.post1")  # built before the clock starts
    since = await last_seq(stack)
    install_at = datetime.now(timezone.utc) + timedelta(seconds=25)
    await _update(installation, manufacturer, 2, bundle, installDateTime=install_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    seen = await _wait_status(stack, since, {"InstallScheduled"}, 30)
    assert seen == [("Downloading", 2), ("Downloaded", 2), ("SignatureVerified", 2), ("InstallScheduled", 2)]
    while datetime.now(timezone.utc) < install_at - timedelta(seconds=2):
        assert not layout.file(SWITCH).exists() and installation.systemd.restarts == 0
        assert "Installing" not in {s for s, _ in await _statuses(stack, since)}
        await asyncio.sleep(0.5)
    seen = await _wait_status(stack, since, {"Installed", "InstallationFailed"}, 150)
    assert seen[3:] == [("InstallScheduled", 2), ("Installing", 2), ("InstallRebooting", 2), ("Installed", 2)], seen
    assert layout.current.resolve().name.startswith("0.1.0.post1-")
    await _clean(stack)


@pytest.mark.timeout(240)
async def test_tc_l_08_cs_installation_failed(installed, bundles) -> None:  # type: ignore[no-untyped-def]
    """A release that cannot run the charger: it never reaches the backend, the installer
    rolls back, and the old release reports InstallationFailed with the request's id."""
    installation, manufacturer = await installed()
    stack, layout = installation.stack, installation.layout
    first = layout.current.resolve()
    since = await last_seq(stack)
    await _update(installation, manufacturer, 8, bundles("0.1.0.post2", broken=True))
    seen = await _wait_status(stack, since, {"Installed", "InstallationFailed"}, 150)
    assert seen == [("Downloading", 8), ("Downloaded", 8), ("SignatureVerified", 8), ("Installing", 8),
                    ("InstallRebooting", 8), ("InstallationFailed", 8)], stack.agent_log()
    assert layout.current.resolve() == first
    assert [b["chargingStation"]["firmwareVersion"] for b in await _boots(stack, since)] == ["ladda 0.1.0"]
    assert installation.systemd.restarts == 2  # into the new release, and back
    assert not layout.file(OUTCOME).exists()
    await _clean(stack)


@pytest.mark.timeout(120)
async def test_tc_l_08_cs_install_verification_failed(installed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A signed file that is no firmware bundle (its manifest is what the installer checks
    it against): the installer refuses it before building anything, InstallVerificationFailed."""
    installation, manufacturer = await installed()
    stack, layout = installation.stack, installation.layout
    first = layout.current.resolve()
    fake = tmp_path / "ladda-firmware-9.9.9.tar.gz"
    fake.write_bytes(b"<html>Service Unavailable</html>")
    since = await last_seq(stack)
    await _update(installation, manufacturer, 81, fake)
    seen = await _wait_status(stack, since, {"Installed", "InstallationFailed", "InstallVerificationFailed"}, 60)
    assert seen == [("Downloading", 81), ("Downloaded", 81), ("SignatureVerified", 81), ("Installing", 81),
                    ("InstallVerificationFailed", 81)], stack.agent_log()
    assert layout.current.resolve() == first and installation.systemd.restarts == 0
    await _clean(stack)


async def _held_for_a_transaction(installed: Factory, bundles: Any, allow_new_sessions: bool) -> None:  # type: ignore[no-untyped-def]
    """The firmware comes while EVSE 1 charges: downloaded and built meanwhile, then
    InstallScheduled until the transaction ends. EVSE 2 is Unavailable meanwhile, or
    (AllowNewSessionsPendingFirmwareUpdate) stays in service and may start a session
    that is waited for too. Then the install goes on to Installed."""
    installation, manufacturer = await installed(connectors=2)
    stack, layout = installation.stack, installation.layout
    variable = {"component": {"name": "ChargingStation"}, "variable": {"name": "AllowNewSessionsPendingFirmwareUpdate"}}
    answer = await call(stack, "SetVariables", {"setVariableData": [
        {**variable, "attributeValue": str(allow_new_sessions).lower()}]})
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
    bundle = bundles("0.1.0.post1")
    first_tag = await _charging(stack, 1)
    since = await last_seq(stack)
    await _update(installation, manufacturer, 14 if allow_new_sessions else 15, bundle)
    seen = await _wait_status(stack, since, {"InstallScheduled"}, 60)
    # Installing waits for the end of the transactions (the release is built meanwhile).
    assert [s for s, _ in seen] == ["Downloading", "Downloaded", "SignatureVerified", "InstallScheduled"]
    for _ in range(300):  # the root installer builds the release meanwhile
        if layout.file(PREPARED).exists():
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(2.0)
    assert installation.systemd.restarts == 0 and not layout.file(SWITCH).exists()  # not under a charging car
    second_tag = None
    if allow_new_sessions:
        states = [(m["payload"]["evseId"], m["payload"]["connectorStatus"])
                  for m in await messages(stack, "StatusNotification", since)]
        assert (2, "Unavailable") not in states, states
        second_tag = await _charging(stack, 2)  # a new session while the install waits
    else:
        await wait_connector(stack, 2, "Unavailable", since)
        started = await last_seq(stack)
        await stack.bench_request("plug", connector=2, max_current=16)
        await stack.bench_request("tap", uid=new_id_tag())
        await asyncio.sleep(2.0)
        assert [m for m in await messages(stack, "TransactionEvent", started) if m["payload"]["eventType"] == "Started"] \
            == []  # no session on a held EVSE
    for connector, tag in ((1, first_tag), (2, second_tag)):
        if tag is None:
            continue
        ended = await last_seq(stack)
        await stack.bench_request("tap", uid=tag)
        await wait_event(stack, "Ended", ended)
        if connector == 1 and second_tag is not None:
            await asyncio.sleep(2.0)
            assert not layout.file(SWITCH).exists()  # the session begun meanwhile is waited for too
    seen = await _wait_status(stack, since, {"Installed", "InstallationFailed"}, 150)
    assert [s for s, _ in seen][3:] == ["InstallScheduled", "Installing", "InstallRebooting", "Installed"], seen
    assert layout.current.resolve().name.startswith("0.1.0.post1-")
    await _clean(stack)


@pytest.mark.timeout(300)
async def test_tc_l_14_cs_install_waits_for_transactions_new_sessions_allowed(installed, bundles) -> None:  # type: ignore[no-untyped-def]
    await _held_for_a_transaction(installed, bundles, allow_new_sessions=True)


@pytest.mark.timeout(300)
async def test_tc_l_15_cs_install_waits_for_transactions_new_sessions_not_allowed(installed, bundles) -> None:  # type: ignore[no-untyped-def]
    await _held_for_a_transaction(installed, bundles, allow_new_sessions=False)
