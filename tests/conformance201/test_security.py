"""Block A, A00/A01 (OCPP 2.0.1 Part 6): basic authentication, the CSMS's TLS certificate,
a backend offering TLS older than 1.2, and BasicAuthPassword set by the backend.

The 2.0.1 agent runs against test CSMS processes of each test's own (wss:// with a
throwaway PKI from tests/certs.py, or the shared ws:// one with a password), as
tests/test_security_profiles.py does for 1.6. A refused backend is refused at every
attempt, but the security event is raised once, and reaches the backend once a good
connection is made (it waits in the journal).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from simulators.harness import Stack
from tests.conformance.helpers import call, last_seq, messages, parse_time, security_events, wait_security_event
from tests.tls_backends import (  # noqa: F401 - workdir, pki, stacks and tls_csms are fixtures
    PASSWORD,
    agent_log_lines,
    events,
    link_attempts,
    link_down_lines,
    new_cp_id,
    password_file,
    pki,
    stacks,
    tls_csms,
    workdir,
)

from .helpers import V201, schema_violations

OLD_TLS = "TLS: the backend offers only TLS older than 1.2, which this charger refuses"


def security_log(stack: Stack) -> list[dict[str, Any]]:
    path = stack.state_dir / "logs" / "security.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def refused_twice(stack: Stack) -> None:
    """Until the charger has tried (and been refused) at least twice: the backoff's pace."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20.0
    while await link_attempts(stack) < 2:
        assert loop.time() < deadline, f"the charger did not try twice\n{stack.agent_log()}"
        await asyncio.sleep(0.2)


async def reconnected(stack: Stack, since: int, timeout: float = 15.0) -> None:
    """Until the CSMS saw the charger connect again after ``since``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await events(stack, "connected", since):
        assert loop.time() < deadline, f"the charger did not reconnect\n{stack.agent_log()}"
        await asyncio.sleep(0.2)


async def set_password(stack: Stack, value: str) -> dict[str, Any]:
    answer = await call(stack, "SetVariables", {"setVariableData": [{
        "component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}, "attributeValue": value}]})
    return dict(answer["setVariableResult"][0])


async def test_tc_a_01_cs_basic_authentication_valid_username_password(csms, stacks, workdir):
    cp_id = new_cp_id()
    await csms.request("set_password", cp=cp_id, password=PASSWORD)
    stack = await stacks(csms, {**V201, "security_profile": 1,
                                "authorization_key_file": str(password_file(workdir))}, cp_id=cp_id)
    await stack.wait_booted()
    (connected,) = await events(stack, "connected")
    assert connected["payload"]["basic_auth_user"] == cp_id and connected["payload"]["subprotocol"] == "ocpp2.0.1"
    assert await events(stack, "rejected") == []
    assert PASSWORD not in stack.agent_log()
    assert await schema_violations(stack) == []


async def test_a_refused_password_is_one_failed_to_authenticate_event_in_the_security_log(csms, stacks, workdir):
    cp_id = new_cp_id()
    await csms.request("set_password", cp=cp_id, password="the-backend-expects-this-one")
    stack = await stacks(csms, {**V201, "security_profile": 1,
                                "authorization_key_file": str(password_file(workdir))}, cp_id=cp_id)
    await refused_twice(stack)
    assert link_down_lines(stack) == ["HTTP 401"]
    # Not critical (2.0.1 appendix): logged on the charger, never sent; once, not per attempt.
    logged = [e for e in security_log(stack) if e["type"] == "FailedToAuthenticateAtCsms"]
    assert len(logged) == 1 and "401" in logged[0]["techInfo"]
    await csms.request("set_password", cp=cp_id, password=PASSWORD)
    await stack.wait_booted()
    assert await security_events(stack, "FailedToAuthenticateAtCsms") == []
    assert await schema_violations(stack) == []


async def test_tc_a_04_cs_tls_server_side_certificate_valid(tls_csms, stacks, workdir, pki):
    cp_id = new_cp_id()
    csms = await tls_csms(passwords={cp_id: PASSWORD})
    stack = await stacks(csms, {**V201, "security_profile": 2, "ca_file": str(pki.ca),
                                "authorization_key_file": str(password_file(workdir))}, cp_id=cp_id)
    await stack.wait_booted()
    (connected,) = await events(stack, "connected")
    assert connected["payload"]["basic_auth_user"] == cp_id
    (line,) = await agent_log_lines(stack, '"connected to backend"')
    assert line["security_profile"] == 2 and line["url"].startswith("wss://")
    await wait_security_event(stack, "StartupOfTheDevice")  # critical: every start is told
    assert [e["type"] for e in await security_events(stack)] == ["StartupOfTheDevice"]
    assert await schema_violations(stack) == []


async def _invalid_certificate(tls_csms: Any, stacks: Any, workdir: Any, pki: Any, cert: Any, key: Any,
                               problem: str) -> None:
    cp_id = new_cp_id()
    csms = await tls_csms(cert=cert, key=key, passwords={cp_id: PASSWORD})
    stack = await stacks(csms, {**V201, "security_profile": 2, "ca_file": str(pki.ca),
                                "authorization_key_file": str(password_file(workdir))}, cp_id=cp_id)
    await refused_twice(stack)
    assert (await csms.request("messages", cp=cp_id))["messages"] == []  # the handshake never got through
    assert link_down_lines(stack) == [problem.format(ca=pki.ca)]
    # The backend presents its right certificate again: the charger gets in and reports
    # the refused one, once however many attempts it refused.
    await csms.request("set_tls", cert=str(pki.server_cert), key=str(pki.server_key))
    await stack.wait_booted()
    event = await wait_security_event(stack, "InvalidCsmsCertificate")
    (boot,) = await messages(stack, "BootNotification")
    # Stamped when it happened, before the connection that carried it.
    assert parse_time(event["timestamp"]) <= parse_time(boot["time"]) + timedelta(seconds=1)
    assert event["techInfo"].startswith("TLS: ")
    await asyncio.sleep(1.0)
    assert len(await security_events(stack, "InvalidCsmsCertificate")) == 1
    assert [e["type"] for e in security_log(stack)].count("InvalidCsmsCertificate") == 1
    assert await schema_violations(stack) == []


async def test_tc_a_05_cs_tls_server_side_certificate_invalid_unknown_ca(tls_csms, stacks, workdir, pki):
    await _invalid_certificate(tls_csms, stacks, workdir, pki, pki.rogue_server_cert, pki.rogue_server_key,
                               "TLS: the backend's certificate is not signed by a CA in backend.ca_file ({ca})")


async def test_tc_a_05_cs_tls_server_side_certificate_invalid_expired(tls_csms, stacks, workdir, pki):
    await _invalid_certificate(tls_csms, stacks, workdir, pki, pki.expired_server_cert, pki.expired_server_key,
                               "TLS: the backend's certificate has expired")


async def test_tc_a_05_cs_tls_server_side_certificate_invalid_host_name(tls_csms, stacks, workdir, pki):
    await _invalid_certificate(
        tls_csms, stacks, workdir, pki, pki.misnamed_server_cert, pki.misnamed_server_key,
        "TLS: the backend's certificate is not valid for the host name '127.0.0.1' in backend.url")


async def test_tc_a_06_cs_tls_version_too_low(tls_csms, stacks, workdir, pki):
    """The backend offers TLS 1.0 and 1.1 only (OpenSSL at security level 0 still can);
    the charger, which needs 1.2, refuses it, and says so once."""
    cp_id = new_cp_id()
    csms = await tls_csms(passwords={cp_id: PASSWORD})
    await csms.request("set_tls", max_version="TLSv1_1")
    stack = await stacks(csms, {**V201, "security_profile": 2, "ca_file": str(pki.ca),
                                "authorization_key_file": str(password_file(workdir))}, cp_id=cp_id)
    await refused_twice(stack)
    assert (await csms.request("messages", cp=cp_id))["messages"] == []
    assert link_down_lines(stack) == [OLD_TLS]
    await csms.request("set_tls", max_version="")
    await stack.wait_booted()
    event = await wait_security_event(stack, "InvalidTLSVersion")
    assert "older than 1.2" in event["techInfo"]
    await asyncio.sleep(1.0)
    assert len(await security_events(stack, "InvalidTLSVersion")) == 1
    assert await security_events(stack, "InvalidCsmsCertificate") == []
    assert await schema_violations(stack) == []


async def test_tc_a_09_cs_update_basic_auth_password_accepted(csms, stacks, workdir):
    cp_id = new_cp_id()
    await csms.request("set_password", cp=cp_id, password=PASSWORD)
    stack = await stacks(csms, {**V201, "security_profile": 1,
                                "authorization_key_file": str(password_file(workdir))}, cp_id=cp_id)
    await stack.wait_booted()
    new_password = "A09-new-Passw0rd:of-24ch"
    since = await last_seq(stack)
    await csms.request("set_password", cp=cp_id, password=new_password)  # the backend expects it from now on
    assert (await set_password(stack, new_password))["attributeStatus"] == "Accepted"
    # The charger hangs up and comes back with the new password (no new boot: a reconnect).
    await reconnected(stack, since)
    connection = [e["type"] for e in (await csms.request("messages", cp=cp_id, since_seq=since))["messages"]
                  if e["direction"] == "event"]
    assert connection[:2] == ["disconnected", "connected"]
    assert await events(stack, "rejected", since) == []
    assert await messages(stack, "BootNotification", since) == []
    # Logged in the security log (A01, TC_A_09_CS), without the password; not critical: not sent.
    (logged,) = [e for e in security_log(stack) if e["type"] == "ReconfigurationOfSecurityParameters"]
    assert "password" in logged["techInfo"]
    state_files = b"".join(p.read_bytes() for p in (stack.state_dir / "logs").iterdir())
    assert new_password.encode() not in state_files and new_password not in stack.agent_log()
    assert await security_events(stack, "ReconfigurationOfSecurityParameters") == []
    assert await schema_violations(stack) == []


async def test_tc_a_10_cs_update_basic_auth_password_rejected(csms, stacks, workdir):
    cp_id = new_cp_id()
    await csms.request("set_password", cp=cp_id, password=PASSWORD)
    stack = await stacks(csms, {**V201, "security_profile": 1,
                                "authorization_key_file": str(password_file(workdir))}, cp_id=cp_id)
    await stack.wait_booted()
    # A01: 16 to 40 characters.
    for refused in ("fifteen-chars-1", "x" * 41):
        result = await set_password(stack, refused)
        assert result["attributeStatus"] == "Rejected" and refused not in json.dumps(result)
    # The next connection still uses the old password, which the backend accepts.
    since = await last_seq(stack)
    await csms.request("disconnect", cp=cp_id)
    await reconnected(stack, since)
    assert await events(stack, "rejected") == []
    assert [e for e in security_log(stack) if e["type"] == "ReconfigurationOfSecurityParameters"] == []
    assert await schema_violations(stack) == []
