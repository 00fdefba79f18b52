"""OCPP 1.6 security whitepaper: the backend raises the security profile with
ChangeConfiguration SecurityProfile (TC_083_CS), never lowers it (TC_084_CS), and is
refused an upgrade whose prerequisites the charger lacks; a new profile that cannot
connect is rolled back to the one before, with a security event.

Real agent, real test CSMS processes: a plain ws:// backend, and the same address
restarted with TLS (a throwaway PKI), as the compliance tool does.
"""

from __future__ import annotations

import asyncio
from typing import Any

from simulators.harness import Csms, Stack

from ..profile_fixtures import (PASSWORD, backends, chargers, connections, free_port, log_lines,  # noqa: F401
                                new_cp_id, password_file, pkis, url_of, workdir)
from .helpers import call_checked, get_configuration, last_seq, messages, wait_security_event


async def schema_clean(stack: Stack) -> None:
    reply = await stack.csms.request("schema_violations", cp=stack.cp_id)
    assert reply["schema_violations"] == []


async def security_profile(stack: Stack) -> str:
    known, _ = await get_configuration(stack, ["SecurityProfile"])
    return str(known["SecurityProfile"]["value"])


async def change_security_profile(stack: Stack, value: str) -> str:
    answer = await call_checked(stack, "ChangeConfiguration", {"key": "SecurityProfile", "value": value})
    return str(answer["status"])


async def profile_1_charger(backends: Any, chargers: Any, workdir: Any, port: int,
                            ca_file: Any = None) -> tuple[Stack, Csms]:
    cp_id = new_cp_id()
    plain = await backends(port=port, passwords={cp_id: PASSWORD})
    backend: dict[str, Any] = {"security_profile": 1, "authorization_key_file": str(password_file(workdir))}
    if ca_file is not None:
        backend["ca_file"] = str(ca_file)
    return await chargers(plain, url_of(plain), backend, cp_id), plain


async def test_tc_083_upgrade_security_profile(backends, chargers, pkis, workdir):
    pki = pkis()
    port = free_port()
    stack, plain = await profile_1_charger(backends, chargers, workdir, port, ca_file=pki.ca)
    known, _ = await get_configuration(stack, ["SecurityProfile"])
    assert known == {"SecurityProfile": {"readonly": False, "value": "1"}}

    assert await change_security_profile(stack, "2") == "Accepted"
    assert await security_profile(stack) == "1"  # used from the reset on
    # The plain backend stops taking this charger first: a restart quicker than its stop
    # would otherwise fall back to profile 1 there (as it should), and the test would race.
    await plain.request("set_password", cp=stack.cp_id, password="not-the-chargers-password")
    assert (await call_checked(stack, "Reset", {"type": "Hard"}))["status"] == "Accepted"
    await plain.stop()
    tls = await backends(pki=pki, port=port, passwords={stack.cp_id: PASSWORD})
    stack.csms = tls
    await stack.wait_booted(timeout=30)
    (connected,) = await connections(tls, stack.cp_id)
    assert connected["payload"]["basic_auth_user"] == stack.cp_id  # profile 2: TLS and the password
    assert await security_profile(stack) == "2"
    event = await wait_security_event(stack, "ReconfigurationOfSecurityParameters")
    assert "is in use from now on" in event["techInfo"]
    await schema_clean(stack)

    # Steps 15-18: the backend comes back with profile 1: the charger does not reconnect
    # with it; back with profile 2, it does.
    await tls.stop()
    plain_again = await backends(port=port, passwords={stack.cp_id: PASSWORD})
    await asyncio.sleep(6.0)  # several attempts at reconnect_max 2 s
    assert (await plain_again.request("messages", cp=stack.cp_id))["messages"] == []
    await plain_again.stop()
    tls_again = await backends(pki=pki, port=port, passwords={stack.cp_id: PASSWORD})
    await tls_again.request("wait_for", cp=stack.cp_id, action="StatusNotification", timeout=20)
    assert len(await connections(tls_again, stack.cp_id)) == 1


async def test_an_upgrade_that_cannot_connect_is_rolled_back_with_a_security_event(backends, chargers, pkis,
                                                                                   workdir):
    pki = pkis()
    port = free_port()
    stack, plain = await profile_1_charger(backends, chargers, workdir, port, ca_file=pki.ca)
    assert await change_security_profile(stack, "2") == "Accepted"
    since = await last_seq(stack)
    assert (await call_checked(stack, "Reset", {"type": "Hard"}))["status"] == "Accepted"
    # Nobody serves TLS at the address: three attempts at profile 2, then profile 1 again.
    await stack.wait_booted(since_seq=since, timeout=40)
    event = await wait_security_event(stack, "ReconfigurationOfSecurityParameters", since)
    assert "did not connect after 3 attempt(s)" in event["techInfo"]
    assert await security_profile(stack) == "1"
    assert log_lines(stack, '"connection profile failed; trying the next"')
    await schema_clean(stack)


async def test_tc_084_downgrade_security_profile_rejected(backends, chargers, pkis, workdir):
    pki = pkis()
    cp_id = new_cp_id()
    tls = await backends(pki=pki, passwords={cp_id: PASSWORD})
    stack = await chargers(tls, url_of(tls), {"security_profile": 2, "ca_file": str(pki.ca),
                                              "authorization_key_file": str(password_file(workdir))}, cp_id)
    assert await change_security_profile(stack, "1") == "Rejected"
    assert await change_security_profile(stack, "0") == "Rejected"
    assert await security_profile(stack) == "2"
    # Nor an upgrade the charger has no certificate for (profile 3 needs its own).
    assert await change_security_profile(stack, "3") == "Rejected"
    assert await change_security_profile(stack, "not-a-number") == "Rejected"
    line = log_lines(stack, '"security profile change rejected"')[0]
    assert "lower than the current 2" in line["reason"]
    await schema_clean(stack)


async def test_an_upgrade_to_tls_without_a_csms_root_is_rejected(backends, chargers, workdir):
    stack, _ = await profile_1_charger(backends, chargers, workdir, free_port())  # no ca_file
    assert await change_security_profile(stack, "2") == "Rejected"
    (line,) = log_lines(stack, '"security profile change rejected"')
    assert "needs a CSMS root certificate" in line["reason"]
    await schema_clean(stack)
