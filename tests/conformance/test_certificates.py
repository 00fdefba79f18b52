"""OCPP 1.6 certificate management (Security whitepaper, edition 3: InstallCertificate,
GetInstalledCertificateIds, DeleteCertificate) over the real agent and the test CSMS:
TC_075_1, TC_075_2, TC_076 and TC_078, and what the whitepaper asks beyond them.

Certificates are made by each test with the dates it chooses; the hash data the backend
expects is computed by the test from the certificate it sent. Every answer is checked
against the OCPP 1.6 schema (``call_checked``).
"""

from __future__ import annotations

import datetime
from typing import Any

from tests.cert_factory import NOW, hash_data_of, make_certificate
from tests.conformance.helpers import call_checked, expect_none, get_configuration, last_seq, wait_for

CSMS_ROOT = "CentralSystemRootCertificate"
MAKER_ROOT = "ManufacturerRootCertificate"


async def install(stack: Any, kind: str, pem: str) -> str:
    answer = await call_checked(stack, "InstallCertificate", {"certificateType": kind, "certificate": pem})
    assert "error" not in answer, answer
    return str(answer["status"])


async def installed(stack: Any, kind: str) -> tuple[str, list[dict[str, str]]]:
    answer = await call_checked(stack, "GetInstalledCertificateIds", {"certificateType": kind})
    assert "error" not in answer, answer
    return str(answer["status"]), list(answer.get("certificateHashData", []))


async def delete(stack: Any, hash_data: dict[str, str]) -> str:
    answer = await call_checked(stack, "DeleteCertificate", {"certificateHashData": hash_data})
    assert "error" not in answer, answer
    return str(answer["status"])


async def test_tc_075_1_install_manufacturer_root(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger()
    root = make_certificate("TC_075_1 manufacturer root")
    assert await install(stack, MAKER_ROOT, root.pem) == "Accepted"
    assert await installed(stack, MAKER_ROOT) == ("Accepted", [hash_data_of(root)])
    assert await installed(stack, CSMS_ROOT) == ("NotFound", [])


async def test_tc_075_2_install_central_system_root(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger()
    root = make_certificate("TC_075_2 central system root")
    assert await install(stack, CSMS_ROOT, root.pem) == "Accepted"
    assert await install(stack, CSMS_ROOT, root.pem) == "Accepted"  # again: no second entry
    assert await installed(stack, CSMS_ROOT) == ("Accepted", [hash_data_of(root)])
    assert await installed(stack, MAKER_ROOT) == ("NotFound", [])


async def test_tc_076_delete_a_specific_certificate(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger()
    first, second = make_certificate("first root"), make_certificate("second root")
    for root in (first, second):
        assert await install(stack, CSMS_ROOT, root.pem) == "Accepted"
    status, listed = await installed(stack, CSMS_ROOT)
    assert status == "Accepted" and hash_data_of(first) in listed and len(listed) == 2
    assert await delete(stack, hash_data_of(first)) == "Accepted"
    assert await installed(stack, CSMS_ROOT) == ("Accepted", [hash_data_of(second)])
    assert await delete(stack, hash_data_of(first)) == "NotFound"


async def test_tc_078_invalid_central_system_certificate_security_event(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger()
    since = await last_seq(stack)
    expired = make_certificate("expired root", not_before=NOW - datetime.timedelta(days=400),
                               not_after=NOW - datetime.timedelta(days=1))
    assert await install(stack, CSMS_ROOT, expired.pem) == "Rejected"
    (event,) = await wait_for(stack, "SecurityEventNotification", since=since)
    assert event["type"] == "InvalidCentralSystemCertificate" and event["techInfo"].startswith("expired on")
    assert await installed(stack, CSMS_ROOT) == ("NotFound", [])


async def test_install_rejects_what_is_no_root_and_a_full_store(charger) -> None:  # type: ignore[no-untyped-def]
    """Not a CA, not yet valid, not PEM: Rejected; CertificateStoreMaxLength roots at most
    (read-only to the backend, the charger maker's in the TOML file). Neither a refused
    manufacturer root nor a full store raises InvalidCentralSystemCertificate."""
    stack = await charger(ocpp={"CertificateStoreMaxLength": 2})
    keys, _ = await get_configuration(stack, ["CertificateStoreMaxLength", "AdditionalRootCertificateCheck"])
    assert keys == {"CertificateStoreMaxLength": {"readonly": True, "value": "2"},
                    "AdditionalRootCertificateCheck": {"readonly": True, "value": "false"}}
    assert (await call_checked(stack, "ChangeConfiguration", {"key": "CertificateStoreMaxLength", "value": "9"}
                               ))["status"] == "Rejected"
    since = await last_seq(stack)
    assert await install(stack, MAKER_ROOT, make_certificate("leaf", ca=False).pem) == "Rejected"
    assert await install(stack, MAKER_ROOT, make_certificate(
        "tomorrow", not_before=NOW + datetime.timedelta(days=1)).pem) == "Rejected"
    assert await install(stack, MAKER_ROOT, "not a certificate") == "Rejected"
    assert await install(stack, MAKER_ROOT, make_certificate("one").pem) == "Accepted"
    assert await install(stack, CSMS_ROOT, make_certificate("two").pem) == "Accepted"
    assert await install(stack, CSMS_ROOT, make_certificate("three").pem) == "Rejected"
    await expect_none(stack, "SecurityEventNotification", since, within=1.5)
