"""OCPP 1.6 security whitepaper, signed firmware (TC_080, TC_081) the whole way: the
SignedUpdateFirmware request, the real root installer, its restart into the new release.

The charger runs from an installed layout with a manufacturer root in `[firmware]
signing_ca` (the fixture of ``test_firmware201.py``, here over OCPP 1.6); the backend sees
SignedFirmwareStatusNotification with the request's id from Downloading to Installed, and
the new release's BootNotification.
"""

from __future__ import annotations

import asyncio
import base64

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conformance.helpers import call_checked, last_seq, messages, wait_for
from tests.firmware.test_firmware201 import installed  # noqa: F401 (the fixture)
from tests.firmware.test_firmware_update import bundles  # noqa: F401 (the fixture)

V16 = {"ocpp": "1.6"}


async def _signed_statuses(stack, since: int) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    return [(m["payload"]["status"], m["payload"]["requestId"])
            for m in await messages(stack, "SignedFirmwareStatusNotification", since)]


async def _wait_signed(stack, since: int, final: set[str], timeout: float) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        seen = await _signed_statuses(stack, since)
        if final & {status for status, _ in seen}:
            return seen
        assert asyncio.get_running_loop().time() < deadline, f"no {final}; saw {seen}\n{stack.agent_log()}"
        await asyncio.sleep(0.2)


@pytest.mark.timeout(240)
async def test_tc_080_secure_firmware_update(installed, bundles) -> None:  # type: ignore[no-untyped-def]
    installation, manufacturer = await installed(backend=V16)
    stack, layout = installation.stack, installation.layout
    bundle = bundles("0.1.0.post1")
    location = installation.serve(bundle)
    since = await last_seq(stack)
    answer = await call_checked(stack, "SignedUpdateFirmware", {
        "requestId": 80, "firmware": manufacturer.firmware(location, bundle.read_bytes())})
    assert answer == {"status": "Accepted"}
    seen = await _wait_signed(stack, since, {"Installed", "InstallationFailed", "InstallVerificationFailed"}, 150)
    assert seen == [("Downloading", 80), ("Downloaded", 80), ("SignatureVerified", 80), ("Installing", 80),
                    ("InstallRebooting", 80), ("Installed", 80)], stack.agent_log()
    [boot] = [m["payload"] for m in await messages(stack, "BootNotification", since)]
    assert boot["firmwareVersion"] == "ladda 0.1.0.post1"
    assert layout.current.resolve().name.startswith("0.1.0.post1-")
    assert installation.systemd.restarts == 1


@pytest.mark.timeout(120)
async def test_tc_081_secure_firmware_update_invalid_signature(installed, bundles) -> None:  # type: ignore[no-untyped-def]
    installation, manufacturer = await installed(backend=V16)
    stack, layout = installation.stack, installation.layout
    bundle = bundles("0.1.0.post1")
    location = installation.serve(bundle)
    firmware = manufacturer.firmware(location, bundle.read_bytes())
    tampered = manufacturer.key.sign(bundle.read_bytes() + b"x", ec.ECDSA(hashes.SHA256()))
    firmware["signature"] = base64.b64encode(tampered).decode()
    since = await last_seq(stack)
    answer = await call_checked(stack, "SignedUpdateFirmware", {"requestId": 81, "firmware": firmware})
    assert answer == {"status": "Accepted"}
    seen = await _wait_signed(stack, since, {"InvalidSignature"}, 60)
    assert seen == [("Downloading", 81), ("Downloaded", 81), ("InvalidSignature", 81)]
    [event] = await wait_for(stack, "SecurityEventNotification", since=since)
    assert event["type"] == "InvalidFirmwareSignature"
    assert installation.systemd.restarts == 0 and layout.current.resolve().name == "0.1.0-checkout"
