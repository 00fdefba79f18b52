"""OCPP 2.0.1 certificate management (block M, the Core cases: M03 GetInstalledCertificateIds,
M04 DeleteCertificate, M05 InstallCertificate) over the real agent and the test CSMS.

The certificates are made by each test (agent/certificates checks dates, constraints and
the store's limit); the hash data the backend expects is computed by the test from the
certificate it sent. Each test ends with no schema violation in what the charger sent.
"""

from __future__ import annotations

import datetime
from typing import Any

from cryptography import x509

from tests.cert_factory import NOW, Made, hash_data_of, make_certificate
from tests.conformance201.helpers import V201, call, schema_violations
from tests.test_security_profiles import agent_log_lines, pki, stacks, tls_csms, workdir  # noqa: F401 - fixtures


async def install(stack: Any, kind: str, pem: str) -> dict[str, Any]:
    answer = await call(stack, "InstallCertificate", {"certificateType": kind, "certificate": pem})
    assert "error" not in answer, answer
    return answer


async def installed(stack: Any, *kinds: str) -> dict[str, Any]:
    payload = {"certificateType": list(kinds)} if kinds else {}
    answer = await call(stack, "GetInstalledCertificateIds", payload)
    assert "error" not in answer, answer
    return answer


async def delete(stack: Any, hash_data: dict[str, str]) -> str:
    answer = await call(stack, "DeleteCertificate", {"certificateHashData": hash_data})
    assert "error" not in answer, answer
    return str(answer["status"])


def chain_of(answer: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    return [(c["certificateType"], c["certificateHashData"]) for c in answer.get("certificateHashDataChain", [])]


async def _clean(stack: Any) -> None:
    assert await schema_violations(stack) == []


# ---------------------------------------------------------------- M05 InstallCertificate
async def test_tc_m_01_cs_install_csms_root(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    root = make_certificate("TC_M_01 CSMS root")
    assert (await install(stack, "CSMSRootCertificate", root.pem))["status"] == "Accepted"
    answer = await installed(stack, "CSMSRootCertificate")
    assert answer["status"] == "Accepted"
    assert chain_of(answer) == [("CSMSRootCertificate", hash_data_of(root))]
    lines = await agent_log_lines(stack, '"install certificate"')
    assert lines and lines[0]["answer"] == "Accepted" and "TC_M_01 CSMS root" in lines[0]["subject"]
    await _clean(stack)


async def test_tc_m_02_cs_install_manufacturer_root(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    root = make_certificate("TC_M_02 manufacturer root")
    assert (await install(stack, "ManufacturerRootCertificate", root.pem))["status"] == "Accepted"
    # the same certificate again: Accepted, and still one entry
    assert (await install(stack, "ManufacturerRootCertificate", root.pem))["status"] == "Accepted"
    answer = await installed(stack, "ManufacturerRootCertificate")
    assert chain_of(answer) == [("ManufacturerRootCertificate", hash_data_of(root))]
    entries = await call(stack, "GetVariables", {"getVariableData": [
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "CertificateEntries"}},
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "AdditionalRootCertificateCheck"}}]})
    assert [r["attributeValue"] for r in entries["getVariableResult"]] == ["1", "false"]
    await _clean(stack)


async def test_tc_m_07_cs_install_rejected_certificate_invalid(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    expired = make_certificate("expired root", not_before=NOW - datetime.timedelta(days=400),
                               not_after=NOW - datetime.timedelta(days=35))
    leaf = make_certificate("not a CA", ca=False)
    for kind, pem, reason in (
            ("CSMSRootCertificate", expired.pem, "InvalidCertificate"),
            ("ManufacturerRootCertificate", leaf.pem, "InvalidCertificate"),
            ("CSMSRootCertificate", "-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----",
             "InvalidCertificate"),
            ("V2GRootCertificate", make_certificate("V2G root").pem, "NotSupported")):  # no ISO 15118 here
        answer = await install(stack, kind, pem)
        assert answer["status"] == "Rejected", (kind, answer)
        assert answer["statusInfo"]["reasonCode"] == reason
    assert (await installed(stack))["status"] == "NotFound"
    await _clean(stack)


# ---------------------------------------------------------------- M03 GetInstalledCertificateIds
async def _both_installed(stack: Any) -> tuple[Any, Any]:
    csms_root, maker_root = make_certificate("CSMS root"), make_certificate("maker root")
    assert (await install(stack, "CSMSRootCertificate", csms_root.pem))["status"] == "Accepted"
    assert (await install(stack, "ManufacturerRootCertificate", maker_root.pem))["status"] == "Accepted"
    return csms_root, maker_root


async def test_tc_m_12_cs_get_installed_csms_root(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    csms_root, _ = await _both_installed(stack)
    answer = await installed(stack, "CSMSRootCertificate")
    assert answer["status"] == "Accepted"
    assert chain_of(answer) == [("CSMSRootCertificate", hash_data_of(csms_root))]
    await _clean(stack)


async def test_tc_m_13_cs_get_installed_manufacturer_root(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    _, maker_root = await _both_installed(stack)
    answer = await installed(stack, "ManufacturerRootCertificate")
    assert chain_of(answer) == [("ManufacturerRootCertificate", hash_data_of(maker_root))]
    await _clean(stack)


async def test_tc_m_17_cs_get_installed_csms_and_manufacturer_roots(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    csms_root, maker_root = await _both_installed(stack)
    answer = await installed(stack, "CSMSRootCertificate", "ManufacturerRootCertificate")
    assert sorted(chain_of(answer), key=lambda c: c[0]) == [
        ("CSMSRootCertificate", hash_data_of(csms_root)), ("ManufacturerRootCertificate", hash_data_of(maker_root))]
    await _clean(stack)


async def test_tc_m_18_cs_get_installed_all_certificate_types(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    csms_root, maker_root = await _both_installed(stack)
    answer = await installed(stack)
    assert answer["status"] == "Accepted"
    assert sorted(chain_of(answer), key=lambda c: c[0]) == [
        ("CSMSRootCertificate", hash_data_of(csms_root)), ("ManufacturerRootCertificate", hash_data_of(maker_root))]
    for entry in answer["certificateHashDataChain"]:
        assert entry["certificateHashData"]["hashAlgorithm"] == "SHA256" and "childCertificateHashData" not in entry
    await _clean(stack)


async def test_tc_m_19_cs_get_installed_no_matching_certificate(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    await _both_installed(stack)
    answer = await installed(stack, "MORootCertificate")
    assert answer == {"status": "NotFound"}
    await _clean(stack)


# ---------------------------------------------------------------- M04 DeleteCertificate
async def test_tc_m_20_cs_delete_certificate_success(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    first, second = make_certificate("first CSMS root"), make_certificate("second CSMS root")
    for root in (first, second):
        assert (await install(stack, "CSMSRootCertificate", root.pem))["status"] == "Accepted"
    listed = chain_of(await installed(stack, "CSMSRootCertificate"))
    assert ("CSMSRootCertificate", hash_data_of(first)) in listed
    assert await delete(stack, hash_data_of(first)) == "Accepted"
    assert chain_of(await installed(stack, "CSMSRootCertificate")) == [("CSMSRootCertificate", hash_data_of(second))]
    lines = await agent_log_lines(stack, '"delete certificate"')
    assert lines[-1]["answer"] == "Accepted" and "first CSMS root" in lines[-1]["subject"]
    await _clean(stack)


async def test_tc_m_22_cs_delete_no_matching_certificate(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    kept = make_certificate("kept root")
    assert (await install(stack, "CSMSRootCertificate", kept.pem))["status"] == "Accepted"
    assert await delete(stack, hash_data_of(make_certificate("never installed"))) == "NotFound"
    assert chain_of(await installed(stack, "CSMSRootCertificate")) == [("CSMSRootCertificate", hash_data_of(kept))]
    await _clean(stack)


async def test_tc_m_23_cs_delete_charging_station_certificate_refused(tls_csms, stacks, pki) -> None:  # type: ignore[no-untyped-def]
    """The charger's own certificate ([backend] client_certificate, presented under security
    profile 3) is never deleted, and the charger keeps using it."""
    csms = await tls_csms(client_ca=pki.ca)
    stack = await stacks(csms, {**V201, "security_profile": 3, "ca_file": str(pki.ca),
                                "client_certificate": str(pki.client_cert), "client_key": str(pki.client_key)})
    await stack.wait_booted()
    own = x509.load_pem_x509_certificates(pki.client_cert.read_bytes())[0]
    operator = x509.load_pem_x509_certificate(pki.ca.read_bytes())
    before = pki.client_cert.read_bytes()
    assert await delete(stack, hash_data_of(Made(own, None), Made(operator, None))) == "Failed"  # type: ignore[arg-type]
    assert pki.client_cert.read_bytes() == before
    lines = await agent_log_lines(stack, '"delete certificate"')
    assert lines[-1]["answer"] == "Failed" and "own certificate" in lines[-1]["reason"]
    await _clean(stack)
