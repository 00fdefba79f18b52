"""OCPP 2.0.1 block L (FirmwareManagement) up to the root installer, and TC_F_19_CS.

What a 2.0.1 backend sees of UpdateFirmware before the release is switched to: the
answer (Accepted, AcceptedCanceled, InvalidCertificate, Rejected), the security events,
and FirmwareStatusNotification with the request's id through Downloading, Downloaded,
DownloadScheduled, DownloadFailed, InvalidSignature, SignatureVerified and Installing,
the firmware served by a real HTTP server. A job that reaches Installing has handed its
bundle to the root installer (``request.json``); the switch to the new release, its
restart and its verdict (TC_L_01, 02, 08, 14, 15) are in
``tests/firmware/test_firmware201.py``, where the agent runs from an installed layout.

Written from the case list (``shared/OCPP201-TESTCASES.md``), OCPP 2.0.1 Part 2 L01/L02
and the OCTT steps. Each test ends with no schema violation in what the charger sent."""

from __future__ import annotations

import asyncio
import base64
import os
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from agent.firmware.layout import REQUEST
from simulators.harness import Stack
from tests.conformance201.helpers import V201, call, last_seq, messages, schema_violations, wait_for
from tests.file_servers import HttpStore, closed_port
from tests.firmware.signing import certificate, pem

#: The firmware: any bytes (the root installer, which would unpack them, is not run here).
DATA = os.urandom(4096)


def _stamp(offset_s: float = 0.0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=offset_s)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Signer:
    """A manufacturer root (written for ``[firmware] signing_ca``) and a signing certificate it issued."""

    def __init__(self, directory: Path) -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = certificate("Ladda manufacturer root", self.root_key, "Ladda manufacturer root", self.root_key)
        self.ca_file = directory / "manufacturer-root.pem"
        self.ca_file.write_text(pem(self.root))
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = pem(certificate("Ladda firmware signing", self.key, "Ladda manufacturer root",
                                           self.root_key))

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self.key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return Signer(tmp_path)


async def _secure_charger(charger: Any, signer: Signer) -> Stack:
    return await charger(backend=V201, sections={"firmware": {"signing_ca": str(signer.ca_file)}})


def _firmware(location: str, signer: Signer | None, data: bytes = DATA, **more: str) -> dict[str, str]:
    firmware = {"location": location, "retrieveDateTime": _stamp(-7200), **more}
    if signer is not None:
        firmware |= {"signingCertificate": signer.certificate, "signature": signer.sign(data)}
    return firmware


async def _update(stack: Stack, request_id: int, firmware: dict[str, str], **more: int) -> dict[str, Any]:
    answer = await call(stack, "UpdateFirmware", {"requestId": request_id, "firmware": firmware, **more})
    assert "error" not in answer, answer
    return answer


async def _statuses(stack: Stack, since: int) -> list[tuple[str, int | None]]:
    return [(m["payload"]["status"], m["payload"].get("requestId"))
            for m in await messages(stack, "FirmwareStatusNotification", since)]


async def _wait_status(stack: Stack, since: int, final: set[str], timeout: float = 20.0) -> list[tuple[str, int | None]]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        seen = await _statuses(stack, since)
        if final & {status for status, _ in seen}:
            return seen
        assert asyncio.get_running_loop().time() < deadline, f"no {final}; saw {seen}\n{stack.agent_log()}"
        await asyncio.sleep(0.1)


async def _clean(stack: Stack) -> None:
    assert await schema_violations(stack) == []


# -- L01: the request's answer ---------------------------------------------------------------

async def test_tc_l_05_cs_invalid_certificate(charger, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    """A signing certificate no manufacturer root issued: InvalidCertificate, the security
    event InvalidFirmwareSigningCertificate, and nothing downloaded (L01.FR.02, L01.FR.03)."""
    stack = await _secure_charger(charger, signer)
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = pem(certificate("Ladda firmware signing", signer.key, "Ladda manufacturer root", stranger))
    with HttpStore() as web:
        web.files["/fw.bin"] = DATA
        since = await last_seq(stack)
        firmware = {**_firmware(web.url("/fw.bin"), signer), "signingCertificate": forged}
        assert (await _update(stack, 5, firmware))["status"] == "InvalidCertificate"
        [event] = await wait_for(stack, "SecurityEventNotification", since=since)
        assert event["type"] == "InvalidFirmwareSigningCertificate"
        await asyncio.sleep(0.5)
        assert await _statuses(stack, since) == []
        assert web.requests == []
    await _clean(stack)


async def test_tc_l_18_cs_missing_signing_certificate_and_signature(charger, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    """A charger with a manufacturer root installs only signed firmware: a request without
    certificate and signature is Rejected (the OCTT takes Rejected or InvalidCertificate),
    with a reason, and nothing is fetched. So is one with only half of the pair."""
    stack = await _secure_charger(charger, signer)
    with HttpStore() as web:
        web.files["/fw.bin"] = DATA
        since = await last_seq(stack)
        answer = await _update(stack, 18, _firmware(web.url("/fw.bin"), None, installDateTime=_stamp(-7200)))
        assert answer["status"] == "Rejected"
        assert answer["statusInfo"]["reasonCode"] == "UnsignedFirmware"
        signed = _firmware(web.url("/fw.bin"), signer)
        del signed["signature"]
        assert (await _update(stack, 19, signed))["status"] == "Rejected"
        await asyncio.sleep(0.5)
        assert await _statuses(stack, since) == []
        assert web.requests == []
    await _clean(stack)


async def test_l02_non_secure_update_without_a_manufacturer_root(charger) -> None:  # type: ignore[no-untyped-def]
    """L02: a charger without any manufacturer root takes unsigned firmware (no
    SignatureVerified), and refuses a signing certificate it cannot check (InvalidCertificate)."""
    stack = await charger(backend=V201)
    with HttpStore() as web:
        web.files["/fw.bin"] = DATA
        since = await last_seq(stack)
        assert (await _update(stack, 21, _firmware(web.url("/fw.bin"), None)))["status"] == "Accepted"
        seen = await _wait_status(stack, since, {"Installing"})
        assert seen == [("Downloading", 21), ("Downloaded", 21), ("Installing", 21)]
        request = stack.state_dir / "firmware" / REQUEST
        assert request.exists()  # handed to the root installer
        stranger = Signer(stack.workdir)
        assert (await _update(stack, 22, _firmware(web.url("/fw.bin"), stranger)))["status"] == "InvalidCertificate"
    await _clean(stack)


# -- L01: the statuses ------------------------------------------------------------------------

async def test_tc_l_06_cs_invalid_signature(charger, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    stack = await _secure_charger(charger, signer)
    with HttpStore() as web:
        web.files["/fw.bin"] = DATA
        since = await last_seq(stack)
        firmware = {**_firmware(web.url("/fw.bin"), signer), "signature": signer.sign(DATA + b"tampered")}
        assert (await _update(stack, 6, firmware))["status"] == "Accepted"
        seen = await _wait_status(stack, since, {"InvalidSignature"})
        assert seen == [("Downloading", 6), ("Downloaded", 6), ("InvalidSignature", 6)]
        [event] = await wait_for(stack, "SecurityEventNotification", since=since)
        assert event["type"] == "InvalidFirmwareSignature"
        await asyncio.sleep(0.5)
        assert not (stack.state_dir / "firmware" / REQUEST).exists()  # never handed to the installer
        assert await _statuses(stack, since) == seen
    await _clean(stack)


async def test_tc_l_07_cs_download_failed(charger, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    """A location that does not exist, no retries: Downloading then DownloadFailed."""
    stack = await _secure_charger(charger, signer)
    with HttpStore() as web:
        since = await last_seq(stack)
        firmware = _firmware(web.url("/fw.bin_does_not_exist"), signer, installDateTime=_stamp(-7200))
        assert (await _update(stack, 7, firmware, retries=0))["status"] == "Accepted"
        seen = await _wait_status(stack, since, {"DownloadFailed"})
        assert seen == [("Downloading", 7), ("DownloadFailed", 7)]
        # The update is over, not installed: a trigger tells the last status sent, with its
        # request id (L01.FR.26); Idle is only for after Installed (L01.FR.25).
        trigger = await last_seq(stack)
        assert (await call(stack, "TriggerMessage", {"requestedMessage": "FirmwareStatusNotification"}))[
            "status"] == "Accepted"
        [last] = await wait_for(stack, "FirmwareStatusNotification", since=trigger)
        assert last == {"status": "DownloadFailed", "requestId": 7}
    await _clean(stack)


async def test_tc_l_03_cs_download_scheduled(charger, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    """A retrieveDateTime ahead: DownloadScheduled at once, the download at that time."""
    stack = await _secure_charger(charger, signer)
    with HttpStore() as web:
        web.files["/fw.bin"] = DATA
        since = await last_seq(stack)
        firmware = {**_firmware(web.url("/fw.bin"), signer), "retrieveDateTime": _stamp(4)}
        assert (await _update(stack, 3, firmware))["status"] == "Accepted"
        assert await _wait_status(stack, since, {"DownloadScheduled"}) == [("DownloadScheduled", 3)]
        assert web.requests == []  # not before its time
        seen = await _wait_status(stack, since, {"Installing"})
        assert seen == [("DownloadScheduled", 3), ("Downloading", 3), ("Downloaded", 3), ("SignatureVerified", 3),
                        ("Installing", 3)]
        assert (stack.state_dir / "firmware" / REQUEST).exists()
    await _clean(stack)


# -- a second request while one runs ------------------------------------------------------------

async def test_tc_l_10_cs_accepted_canceled_and_f_19_cs_trigger_while_downloading(  # type: ignore[no-untyped-def]
        charger, signer: Signer) -> None:
    """TC_L_10_CS: a new request while one downloads cancels it (AcceptedCanceled, L01.FR.24)
    and the new one runs to the installer; the cancelled one says nothing more.
    TC_F_19_CS: a trigger while downloading tells Downloading with the request's id."""
    stack = await _secure_charger(charger, signer)
    with HttpStore() as web:
        web.files["/fw.bin"] = DATA
        web.gate = threading.Event()  # the first download hangs until the gate opens
        since = await last_seq(stack)
        assert (await _update(stack, 101, _firmware(web.url("/fw.bin"), signer)))["status"] == "Accepted"
        assert await _wait_status(stack, since, {"Downloading"}) == [("Downloading", 101)]

        trigger = await last_seq(stack)
        assert (await call(stack, "TriggerMessage", {"requestedMessage": "FirmwareStatusNotification"}))[
            "status"] == "Accepted"
        [told] = await wait_for(stack, "FirmwareStatusNotification", since=trigger)
        assert told == {"status": "Downloading", "requestId": 101}  # TC_F_19_CS

        second = await last_seq(stack)
        assert (await _update(stack, 102, _firmware(web.url("/fw.bin"), signer)))["status"] == "AcceptedCanceled"
        web.gate.set()
        seen = await _wait_status(stack, second, {"Installing"})
        assert seen == [("Downloading", 102), ("Downloaded", 102), ("SignatureVerified", 102), ("Installing", 102)]
        await asyncio.sleep(0.5)
        assert [r for _, r in await _statuses(stack, second)] == [102] * 4  # nothing more of 101
    await _clean(stack)


async def test_tc_l_11_cs_unable_to_cancel_while_the_installer_builds(charger, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    """Once the root installer has the bundle (Installing: it builds the release), the job
    cannot be stopped: a new request is Rejected (L01.FR.27) and the job goes on. (Before,
    while downloading or waiting for its install time, it is cancelled: TC_L_10.)"""
    stack = await _secure_charger(charger, signer)
    with HttpStore() as web:
        web.files["/fw.bin"] = DATA
        since = await last_seq(stack)
        assert (await _update(stack, 111, _firmware(web.url("/fw.bin"), signer)))["status"] == "Accepted"
        await _wait_status(stack, since, {"Installing"})
        answer = await _update(stack, 112, _firmware(web.url("/fw.bin"), signer))
        assert answer["status"] == "Rejected"
        assert answer["statusInfo"]["reasonCode"] == "InstallInProgress"
        await asyncio.sleep(0.5)
        assert {r for _, r in await _statuses(stack, since)} == {111}
        assert (stack.state_dir / "firmware" / REQUEST).exists()
    await _clean(stack)


async def test_a_download_the_location_of_which_is_unusable_is_rejected(charger, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    stack = await _secure_charger(charger, signer)
    since = await last_seq(stack)
    answer = await _update(stack, 9, _firmware(f"gopher://127.0.0.1:{closed_port()}/fw.bin", signer))
    assert answer["status"] == "Rejected" and answer["statusInfo"]["reasonCode"] == "InvalidURL"
    await asyncio.sleep(0.3)
    assert await _statuses(stack, since) == []
    await _clean(stack)


async def test_allow_new_sessions_pending_firmware_update_is_a_station_variable(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    variable = {"component": {"name": "ChargingStation"}, "variable": {"name": "AllowNewSessionsPendingFirmwareUpdate"}}
    got = await call(stack, "GetVariables", {"getVariableData": [variable]})
    assert got["getVariableResult"][0]["attributeValue"] == "false"
    sets = await call(stack, "SetVariables", {"setVariableData": [{**variable, "attributeValue": "true"}]})
    assert sets["setVariableResult"][0]["attributeStatus"] == "Accepted"
    got = await call(stack, "GetVariables", {"getVariableData": [variable]})
    assert got["getVariableResult"][0]["attributeValue"] == "true"
    await _clean(stack)


async def test_a_charger_that_offers_no_firmware_management_rejects_updates(charger, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201, ocpp={"SupportedFeatureProfiles": "Core,RemoteTrigger"})
    since = await last_seq(stack)
    answer = await _update(stack, 31, _firmware("http://127.0.0.1:1/fw.bin", signer))
    assert answer["status"] == "Rejected" and answer["statusInfo"]["reasonCode"] == "NotOffered"
    await asyncio.sleep(0.3)
    assert await _statuses(stack, since) == []
    await _clean(stack)


async def test_a_manufacturer_root_installed_over_ocpp_vouches_for_firmware(charger, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    """M05 then L01: with no `[firmware] signing_ca`, a signing certificate is InvalidCertificate
    until the backend installs its manufacturer root (InstallCertificate); then the same
    request is Accepted and downloaded, its signature verified."""
    stack = await charger(backend=V201)
    with HttpStore() as web:
        web.files["/fw.bin"] = DATA
        assert (await _update(stack, 40, _firmware(web.url("/fw.bin"), signer)))["status"] == "InvalidCertificate"
        installed = await call(stack, "InstallCertificate", {"certificateType": "ManufacturerRootCertificate",
                                                             "certificate": signer.ca_file.read_text()})
        assert installed["status"] == "Accepted"
        since = await last_seq(stack)
        assert (await _update(stack, 41, _firmware(web.url("/fw.bin"), signer)))["status"] == "Accepted"
        seen = await _wait_status(stack, since, {"SignatureVerified", "InvalidSignature", "DownloadFailed"})
        assert ("SignatureVerified", 41) in seen, seen
    await _clean(stack)
