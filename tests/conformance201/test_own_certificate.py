"""OCPP 2.0.1 A02 Update Charging Station Certificate by request of CSMS, over the real
agent and the test CSMS: TriggerMessage SignChargingStationCertificate, the CSR in
SignCertificate, CertificateSigned checked, the new certificate presented on the next
connection (security profile 3, a wss:// CSMS that verifies client certificates), and
the retries of a request that got no certificate (CertSigningWaitMinimum, doubled,
CertSigningRepeatTimes). Each test ends with no schema violation in what the charger sent.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.cert_factory import make_certificate
from tests.conformance.helpers import last_seq, messages, parse_time, wait_for
from tests.conformance201.helpers import V201, call, schema_violations
from tests.own_certificate_steps import (
    common_name, connections, organization, register_charger_keys, signed_chain, signer_ca, trust_file,
)
from tests.test_security_profiles import pki, stacks, tls_csms, workdir  # noqa: F401 - fixtures

CS_CERTIFICATE = "ChargingStationCertificate"


async def trigger_csr(stack: Any) -> list[dict[str, Any]]:
    """TriggerMessage SignChargingStationCertificate (Accepted) and the SignCertificate that follows."""
    since = await last_seq(stack)
    answer = await call(stack, "TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
    assert answer == {"status": "Accepted"}, answer
    await wait_for(stack, "SignCertificate", since=since)
    register_charger_keys(stack)
    return await messages(stack, "SignCertificate", since)


async def set_retries(stack: Any, wait_minimum: int, repeat_times: int) -> None:
    answer = await call(stack, "SetVariables", {"setVariableData": [
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "CertSigningWaitMinimum"},
         "attributeValue": str(wait_minimum)},
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "CertSigningRepeatTimes"},
         "attributeValue": str(repeat_times)}]})
    assert [r["attributeStatus"] for r in answer["setVariableResult"]] == ["Accepted", "Accepted"], answer


async def test_tc_a_07_cs_tls_client_side_certificate_valid(tls_csms, stacks, pki) -> None:  # type: ignore[no-untyped-def]
    """A00, security profile 3: over wss:// the charger presents its client certificate
    (the configuration's pair), which a CSMS verifying client certificates accepts, and
    sends no password; it boots."""
    csms = await tls_csms(client_ca=pki.ca)
    stack = await stacks(csms, {**V201, "security_profile": 3, "ca_file": str(pki.ca),
                                "client_certificate": str(pki.client_cert), "client_key": str(pki.client_key)})
    await stack.wait_booted()
    [connected] = await connections(stack)
    assert connected["client_certificate"] == "LADDA-TEST"  # the certificate's commonName
    assert connected["basic_auth_user"] is None
    assert await get_security_profile(stack) == "3"
    assert await schema_violations(stack) == []


async def get_security_profile(stack: Any) -> str:
    answer = await call(stack, "GetVariables", {"getVariableData": [
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"}}]})
    return str(answer["getVariableResult"][0]["attributeValue"])


async def test_tc_a_11_cs_update_charging_station_certificate_success(  # type: ignore[no-untyped-def]
        tls_csms, stacks, pki, workdir) -> None:
    ca = signer_ca()
    trust = trust_file(workdir, pki.ca, ca)
    csms = await tls_csms(client_ca=trust)
    stack = await stacks(csms, {**V201, "security_profile": 3, "ca_file": str(trust),
                                "client_certificate": str(pki.client_cert), "client_key": str(pki.client_key)})
    await stack.wait_booted()
    assert [c["client_certificate"] for c in await connections(stack)] == ["LADDA-TEST"]  # the TOML's pair
    answer = await call(stack, "SetVariables", {"setVariableData": [
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "OrganizationName"},
         "attributeValue": "Ladda Test CPO"}]})
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted", answer

    [request] = await trigger_csr(stack)
    assert request["payload"]["certificateType"] == CS_CERTIFICATE
    assert common_name(request["payload"]["csr"]) == stack.cp_id  # the Identity
    assert organization(request["payload"]["csr"]) == "Ladda Test CPO"  # SecurityCtrlr.OrganizationName
    answer = await call(stack, "CertificateSigned", {"certificateChain": signed_chain(request["payload"]["csr"], ca),
                                                     "certificateType": CS_CERTIFICATE})
    assert answer == {"status": "Accepted"}, answer

    # Used from the next connection: the backend hangs up, the charger comes back with it.
    since = await last_seq(stack)
    await csms.request("disconnect", cp=stack.cp_id)
    for _ in range(150):
        if len(await connections(stack, since)) >= 1:
            break
        await asyncio.sleep(0.1)
    assert [c["client_certificate"] for c in await connections(stack, since)][:1] == [stack.cp_id]
    assert await messages(stack, "BootNotification", since) == []  # a reconnect, not a reboot
    register_charger_keys(stack)
    assert await schema_violations(stack) == []


async def test_tc_a_14_cs_update_charging_station_certificate_invalid(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    [request] = await trigger_csr(stack)
    rogue = make_certificate("Not the operator's CA")
    since = await last_seq(stack)
    answer = await call(stack, "CertificateSigned", {"certificateChain": signed_chain(request["payload"]["csr"], rogue),
                                                     "certificateType": CS_CERTIFICATE})
    assert answer["status"] == "Rejected" and answer["statusInfo"]["reasonCode"] == "InvalidCertificate", answer
    [event] = await wait_for(stack, "SecurityEventNotification", since=since)
    assert event["type"] == "InvalidChargingStationCertificate"
    # Nothing pending was lost: the same request still waits for a good certificate.
    assert not list((stack.state_dir / "certificates" / "own").glob("*/certificate.pem"))
    assert await schema_violations(stack) == []


async def test_tc_a_15_cs_sign_certificate_request_rejected_is_retried(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    await set_retries(stack, wait_minimum=2, repeat_times=1)
    await stack.csms.request("answer_raw", cp=stack.cp_id, action="SignCertificate",
                             frames=['[3,"$ID",{"status":"Rejected"}]'])
    since = await last_seq(stack)
    [first] = await trigger_csr(stack)
    await wait_for(stack, "SignCertificate", count=2, since=since, timeout=15)
    second = (await messages(stack, "SignCertificate", since))[1]
    assert second["payload"]["csr"] == first["payload"]["csr"]  # the same key, asked again
    gap = (parse_time(second["time"]) - parse_time(first["time"])).total_seconds()
    assert 1.5 <= gap < 5.0, gap  # after CertSigningWaitMinimum
    assert await schema_violations(stack) == []


async def test_tc_a_23_cs_certificate_signed_request_timeout(charger) -> None:  # type: ignore[no-untyped-def]
    stack = await charger(backend=V201)
    await set_retries(stack, wait_minimum=1, repeat_times=2)
    since = await last_seq(stack)
    await trigger_csr(stack)
    await wait_for(stack, "SignCertificate", count=3, since=since, timeout=20)
    sent = await messages(stack, "SignCertificate", since)
    times = [parse_time(m["time"]) for m in sent]
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    assert 0.8 <= gaps[0] < 2.5 and 1.8 <= gaps[1] < 4.0, gaps  # CertSigningWaitMinimum, then doubled
    assert len({m["payload"]["csr"] for m in sent}) == 1
    await asyncio.sleep(5.0)  # CertSigningRepeatTimes reached: no fourth
    assert len(await messages(stack, "SignCertificate", since)) == 3
    assert await schema_violations(stack) == []


async def test_a_renewed_certificate_the_backend_refuses_gives_way_to_the_old_one(  # type: ignore[no-untyped-def]
        tls_csms, stacks, pki, workdir) -> None:
    """The charger takes a chain from a CA it trusts, but the backend's TLS does not accept
    that CA for clients: the first connection with it fails, the charger goes back to the
    pair that worked (the TOML's) and connects again."""
    ca = signer_ca()
    trust = trust_file(workdir, pki.ca, ca)
    csms = await tls_csms(client_ca=pki.ca)  # client certificates of the first CA only
    stack = await stacks(csms, {**V201, "security_profile": 3, "ca_file": str(trust),
                                "client_certificate": str(pki.client_cert), "client_key": str(pki.client_key)})
    await stack.wait_booted()
    [request] = await trigger_csr(stack)
    answer = await call(stack, "CertificateSigned", {"certificateChain": signed_chain(request["payload"]["csr"], ca),
                                                     "certificateType": CS_CERTIFICATE})
    assert answer == {"status": "Accepted"}, answer
    register_charger_keys(stack)
    since = await last_seq(stack)
    await csms.request("disconnect", cp=stack.cp_id)
    for _ in range(200):
        if await connections(stack, since):
            break
        await asyncio.sleep(0.1)
    assert [c["client_certificate"] for c in await connections(stack, since)][:1] == ["LADDA-TEST"]
    assert not list((stack.state_dir / "certificates" / "own").glob("*/certificate.pem"))  # the refused pair is gone
    assert await schema_violations(stack) == []


async def test_a_certificate_near_its_expiry_is_renewed_without_a_trigger(  # type: ignore[no-untyped-def]
        tls_csms, stacks, workdir) -> None:
    """A03: the TOML's client certificate expires in 10 days, inside the 30-day
    certificate_renew_days: the station sends SignCertificate on its own at start, and the
    certificate the backend signs is presented on the next connection."""
    import datetime

    import trustme

    from tests.certs import BACKEND_NAMES
    from tests.secret_scan import secret_key_pem

    operator = trustme.CA(organization_name="Ladda test operator")
    (workdir / "tls").mkdir()
    tls = workdir / "tls"
    ca_pem, server_pem, server_key = tls / "ca.pem", tls / "server.pem", tls / "server.key"
    operator.cert_pem.write_to_path(str(ca_pem))
    server = operator.issue_cert(*BACKEND_NAMES)
    server.cert_chain_pems[0].write_to_path(str(server_pem))
    server.private_key_pem.write_to_path(str(server_key))
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    expiring = operator.issue_cert("expiring", common_name="EXPIRING", not_before=now - datetime.timedelta(days=355),
                                   not_after=now + datetime.timedelta(days=10))
    client_pem, client_key = tls / "client.pem", tls / "client.key"
    expiring.cert_chain_pems[0].write_to_path(str(client_pem))
    expiring.private_key_pem.write_to_path(str(client_key))
    client_key.chmod(0o600)
    for pem in (server.private_key_pem, expiring.private_key_pem):
        secret_key_pem(pem.bytes(), "a test TLS key")
    ca = signer_ca()
    trust = trust_file(workdir, ca_pem, ca)
    csms = await tls_csms(cert=server_pem, key=server_key, client_ca=trust)
    stack = await stacks(csms, {**V201, "security_profile": 3, "ca_file": str(trust),
                                "client_certificate": str(client_pem), "client_key": str(client_key),
                                "certificate_renew_days": 30})
    await stack.wait_booted()
    assert [c["client_certificate"] for c in await connections(stack)] == ["EXPIRING"]
    [sent] = await wait_for(stack, "SignCertificate")
    register_charger_keys(stack)
    assert common_name(sent["csr"]) == stack.cp_id
    answer = await call(stack, "CertificateSigned", {"certificateChain": signed_chain(sent["csr"], ca),
                                                     "certificateType": CS_CERTIFICATE})
    assert answer == {"status": "Accepted"}, answer
    since = await last_seq(stack)
    await csms.request("disconnect", cp=stack.cp_id)
    for _ in range(150):
        if await connections(stack, since):
            break
        await asyncio.sleep(0.1)
    assert [c["client_certificate"] for c in await connections(stack, since)][:1] == [stack.cp_id]
    assert await schema_violations(stack) == []
