"""OCPP 1.6 security whitepaper (edition 3), "Update Charge Point Certificate by request of
Central System": ExtendedTriggerMessage SignChargePointCertificate, SignCertificate with
the CSR, CertificateSigned checked and, Accepted, presented on the next connection
(security profile 3, a wss:// Central System that verifies client certificates); an
invalid one Rejected with InvalidChargePointCertificate. Over the real agent and the
test CSMS; each test ends with no schema violation in what the charge point sent.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.cert_factory import make_certificate
from tests.conformance.helpers import call_checked, last_seq, messages, wait_for
from tests.own_certificate_steps import (
    common_name, connections, organization, register_charger_keys, signed_chain, signer_ca, trust_file,
)
from tests.test_security_profiles import pki, stacks, tls_csms, workdir  # noqa: F401 - fixtures


async def no_schema_violation(stack: Any) -> None:
    reply = await stack.csms.request("schema_violations", cp=stack.cp_id)
    assert reply["schema_violations"] == []


async def trigger_csr(stack: Any) -> dict[str, Any]:
    since = await last_seq(stack)
    answer = await call_checked(stack, "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    assert answer == {"status": "Accepted"}, answer
    [request] = await wait_for(stack, "SignCertificate", since=since)
    register_charger_keys(stack)
    return request


async def test_tc_074_update_charge_point_certificate_by_request_of_central_system(  # type: ignore[no-untyped-def]
        tls_csms, stacks, pki, workdir) -> None:
    ca = signer_ca()
    trust = trust_file(workdir, pki.ca, ca)
    csms = await tls_csms(client_ca=trust)
    stack = await stacks(csms, {"security_profile": 3, "ca_file": str(trust),
                                "client_certificate": str(pki.client_cert), "client_key": str(pki.client_key)})
    await stack.wait_booted()
    assert [c["client_certificate"] for c in await connections(stack)] == ["LADDA-TEST"]
    assert await call_checked(stack, "ChangeConfiguration", {"key": "CpoName", "value": "Ladda Test CPO"}) == {
        "status": "Accepted"}
    request = await trigger_csr(stack)
    assert set(request) == {"csr"} and common_name(request["csr"]) == stack.cp_id
    assert organization(request["csr"]) == "Ladda Test CPO"  # CpoName
    answer = await call_checked(stack, "CertificateSigned", {"certificateChain": signed_chain(request["csr"], ca)})
    assert answer == {"status": "Accepted"}
    since = await last_seq(stack)
    await csms.request("disconnect", cp=stack.cp_id)
    for _ in range(150):
        if await connections(stack, since):
            break
        await asyncio.sleep(0.1)
    assert [c["client_certificate"] for c in await connections(stack, since)][:1] == [stack.cp_id]
    assert await messages(stack, "BootNotification", since) == []
    register_charger_keys(stack)
    await no_schema_violation(stack)


async def test_tc_077_update_charge_point_certificate_invalid_certificate(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger()
    request = await trigger_csr(stack)
    rogue = make_certificate("Not the operator's CA")
    since = await last_seq(stack)
    chain = signed_chain(request["csr"], rogue)
    answer = await call_checked(stack, "CertificateSigned", {"certificateChain": chain})
    assert answer == {"status": "Rejected"}
    [event] = await wait_for(stack, "SecurityEventNotification", since=since)
    assert event["type"] == "InvalidChargePointCertificate"
    await no_schema_violation(stack)
