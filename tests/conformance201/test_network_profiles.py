"""OCPP 2.0.1 B09 (SetNetworkProfile), B10 (migrate to a new connection profile) and A05
(upgrade the security profile), against the real agent and real test CSMS processes:
plain ws://, and wss:// with throwaway PKIs; a migration goes to another CSMS process at
another address, an upgrade to a backend restarted at the same address with TLS (as the
official tools do).

Not here: TC_B_47_CS and TC_B_49_CS (fallback with a *new CSMS root* signed by the old one)
need AdditionalRootCertificateCheck (AS-2), which this charger does not implement; the
fallback itself is TC_B_46_CS's and the upgrade's below.
"""

from __future__ import annotations

import asyncio
from typing import Any

from simulators.harness import Csms, Stack

from ..profile_fixtures import (  # noqa: F401 - fixtures are used by name
    PASSWORD, backends, ca_bundle, chargers, connections, free_port, log_lines, new_cp_id, password_file, pkis, url_of,
    wait_log, workdir)
from ..conformance.helpers import security_events, wait_security_event
from .helpers import V201, call, last_seq, messages, schema_violations


def connection_data(url: str, security_profile: int, **more: Any) -> dict[str, Any]:
    return {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": url, "messageTimeout": 10,
            "securityProfile": security_profile, "ocppInterface": "Wired0", **more}


async def set_network_profile(stack: Stack, slot: int, data: dict[str, Any]) -> dict[str, Any]:
    return await call(stack, "SetNetworkProfile", {"configurationSlot": slot, "connectionData": data})


async def set_variable(stack: Stack, component: str, variable: str, value: str) -> dict[str, Any]:
    answer = await call(stack, "SetVariables", {"setVariableData": [{
        "component": {"name": component}, "variable": {"name": variable}, "attributeValue": value}]})
    return dict(answer["setVariableResult"][0])


async def get_variable(stack: Stack, component: str, variable: str) -> str:
    answer = await call(stack, "GetVariables", {"getVariableData": [{
        "component": {"name": component}, "variable": {"name": variable}}]})
    return str(answer["getVariableResult"][0]["attributeValue"])


async def reset_and_wait_at(stack: Stack, csms: Csms, timeout: float = 30.0) -> None:
    """Reset (Immediate); the charger's next boot is awaited at ``csms`` (from now on the stack's)."""
    assert (await call(stack, "Reset", {"type": "Immediate"}))["status"] == "Accepted"
    since = await last_seq(stack) if csms is stack.csms else 0
    old = stack.csms
    stack.csms = csms
    try:
        await stack.wait_booted(since_seq=since, timeout=timeout)
    except Exception:
        stack.csms = old
        raise


async def clean(stack: Stack, *backends_seen: Csms) -> None:
    for csms in backends_seen or (stack.csms,):
        stack_csms, stack.csms = stack.csms, csms
        try:
            assert await schema_violations(stack) == []
        finally:
            stack.csms = stack_csms


# ---------------------------------------------------------------- B09: what may be stored
async def test_tc_b_43_cs_set_new_network_connection_profile_rejected(charger):
    stack = await charger(backend=V201)
    answer = await set_network_profile(stack, 999, connection_data("ws://127.0.0.1:1/ocpp", 0))
    assert answer["status"] == "Rejected"
    assert "slot 999 does not exist" in answer["statusInfo"]["additionalInfo"]
    await clean(stack)


async def test_set_network_profile_rejects_what_the_charger_cannot_use(charger, workdir):
    """The slot in use, another OCPP version or transport, a URL that does not fit the
    security profile, a VPN; then one it can take (Accepted) and the priority naming only
    set slots."""
    stack = await charger(backend=V201)
    url = "ws://127.0.0.1:1/ocpp"
    cases = [
        (1, connection_data(url, 0), "holds the profile of the active connection"),
        (2, connection_data(url, 0, ocppVersion="OCPP16"), "speaks OCPP 2.0.1 only"),
        (2, connection_data(url, 0, ocppTransport="SOAP"), "transport SOAP is not supported"),
        (2, connection_data("wss://127.0.0.1:1/ocpp", 0), "needs a ws:// URL"),
        (2, connection_data("http://127.0.0.1:1/ocpp", 0), "is not a ws:// or wss:// URL"),
        (2, connection_data(url, 1), "needs a basic authentication password"),
        (2, connection_data(url, 0, vpn={"server": "vpn.example", "user": "u", "password": "vpn-password-1",
                                         "key": "k", "type": "IPSec"}), "cannot set up a VPN"),
    ]
    for slot, data, why in cases:
        answer = await set_network_profile(stack, slot, data)
        assert answer["status"] == "Rejected" and why in answer["statusInfo"]["additionalInfo"], (data, answer)
    unset = await set_variable(stack, "OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1")
    assert unset["attributeStatus"] == "Rejected" and "slot 2 holds no connection profile" in \
        unset["attributeStatusInfo"]["additionalInfo"]
    assert (await set_network_profile(stack, 2, connection_data(url, 0)))["status"] == "Accepted"
    assert (await set_variable(stack, "OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1"))["attributeStatus"] \
        == "Accepted"
    assert await get_variable(stack, "OCPPCommCtrlr", "NetworkConfigurationPriority") == "2,1"
    await clean(stack)


# ---------------------------------------------------------------- B10: migrate
async def test_tc_b_45_cs_migrate_success_same_csms_root(charger, backends):
    stack = await charger(backend=V201)
    first = stack.csms
    second = await backends()
    answer = await set_network_profile(stack, 2, connection_data(url_of(second), 0, messageTimeout=12))
    assert answer == {"status": "Accepted"}
    assert (await set_variable(stack, "OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1"))["attributeStatus"] \
        == "Accepted"
    since = await last_seq(stack)
    assert await messages(stack, "BootNotification", since) == []  # nothing changes before the reset (B10)
    await reset_and_wait_at(stack, second)
    (boot,) = await messages(stack, "BootNotification")
    assert boot["payload"]["reason"] == "RemoteReset"
    assert await get_variable(stack, "OCPPCommCtrlr", "NetworkConfigurationPriority") == "2,1"
    timeout = await call(stack, "GetVariables", {"getVariableData": [{
        "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "MessageTimeout", "instance": "Default"}}]})
    assert timeout["getVariableResult"][0]["attributeValue"] == "12"  # the new profile's messageTimeout
    (line,) = log_lines(stack, '"using connection profile"')[-1:]
    assert line["slot"] == 2 and line["source"] == "backend"
    await clean(stack, first, second)


async def test_tc_b_46_cs_fallback_same_csms_root(charger):
    """Slot 2 names a backend nobody serves: after NetworkProfileConnectionAttempts failed
    attempts the charger falls back to slot 1 and boots there again."""
    stack = await charger(backend=V201)
    assert (await set_variable(stack, "OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "2"))["attributeStatus"] \
        == "Accepted"
    dead = f"ws://127.0.0.1:{free_port()}/ocpp"
    assert (await set_network_profile(stack, 2, connection_data(dead, 0)))["status"] == "Accepted"
    assert (await set_variable(stack, "OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1"))["attributeStatus"] \
        == "Accepted"
    since = await last_seq(stack)
    assert (await call(stack, "Reset", {"type": "Immediate"}))["status"] == "Accepted"
    await stack.wait_booted(since_seq=since, timeout=30)
    (moved,) = await wait_log(stack, '"connection profile failed; trying the next"')
    assert moved["attempts"] == 2 and dead in moved["left"] and "configuration file's profile" in moved["next"]
    down = [line for line in log_lines(stack, '"backend link down"') if dead in line.get("url", "")]
    assert down, "the dead slot was never tried"
    # A fallback to a profile of the same security level is no security event.
    assert await security_events(stack, "ReconfigurationOfSecurityParameters", since) == []
    await clean(stack)


async def test_tc_b_50_cs_migrate_success_new_csms_root_new_csms(backends, chargers, pkis, workdir):
    """From a wss:// backend of one operator CA to a new CSMS at another address whose
    certificate chains to another root (both roots in the charger's CA file)."""
    old_pki, new_pki = pkis(), pkis()
    cp_id = new_cp_id()
    first = await backends(pki=old_pki, passwords={cp_id: PASSWORD})
    second = await backends(pki=new_pki, passwords={cp_id: PASSWORD})
    stack = await chargers(first, url_of(first), {
        **V201, "security_profile": 2, "ca_file": str(ca_bundle(workdir, old_pki, new_pki)),
        "authorization_key_file": str(password_file(workdir))}, cp_id)
    assert (await set_network_profile(stack, 2, connection_data(url_of(second), 2)))["status"] == "Accepted"
    assert (await set_variable(stack, "OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1"))["attributeStatus"] \
        == "Accepted"
    await reset_and_wait_at(stack, second)
    (connected,) = await connections(second, cp_id)
    assert connected["payload"]["basic_auth_user"] == cp_id
    assert await get_variable(stack, "SecurityCtrlr", "SecurityProfile") == "2"
    await clean(stack, first, second)


# ---------------------------------------------------------------- A05: upgrade the security profile
async def _profile_1_charger(backends: Any, chargers: Any, workdir: Any, port: int,
                             ca_file: Any = None) -> tuple[Stack, Csms]:
    cp_id = new_cp_id()
    plain = await backends(port=port, passwords={cp_id: PASSWORD})
    backend = {**V201, "security_profile": 1, "authorization_key_file": str(password_file(workdir))}
    if ca_file is not None:
        backend["ca_file"] = str(ca_file)
    stack = await chargers(plain, url_of(plain), backend, cp_id)
    return stack, plain


async def test_tc_a_19_cs_upgrade_security_profile_accepted(backends, chargers, pkis, workdir):
    """Profile 1 to 2 at the same address: SetNetworkProfile, NetworkConfigurationPriority,
    Reset; the backend comes back with TLS and the charger connects with profile 2. Once it
    did, the upgrade is final: with the plain backend back instead, the charger stays away."""
    pki = pkis()
    port = free_port()
    stack, plain = await _profile_1_charger(backends, chargers, workdir, port, ca_file=pki.ca)
    assert await get_variable(stack, "SecurityCtrlr", "SecurityProfile") == "1"
    wss = f"wss://127.0.0.1:{port}/ocpp"
    assert (await set_network_profile(stack, 2, connection_data(wss, 2)))["status"] == "Accepted"
    assert (await set_variable(stack, "OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1"))["attributeStatus"] \
        == "Accepted"
    # The plain backend stops taking this charger first: a restart quicker than its stop
    # would otherwise fall back to profile 1 there (as it should), and the test would race.
    await plain.request("set_password", cp=stack.cp_id, password="not-the-chargers-password")
    assert (await call(stack, "Reset", {"type": "Immediate"}))["status"] == "Accepted"
    await plain.stop()
    tls = await backends(pki=pki, port=port, passwords={stack.cp_id: PASSWORD})
    stack.csms = tls
    await stack.wait_booted(timeout=30)
    assert await get_variable(stack, "SecurityCtrlr", "SecurityProfile") == "2"
    # Slot 1 (profile 1) is no longer tried, and no longer listed.
    assert await get_variable(stack, "OCPPCommCtrlr", "NetworkConfigurationPriority") == "2"
    event = await wait_security_event(stack, "ReconfigurationOfSecurityParameters")
    assert "is in use from now on" in event["techInfo"]
    await clean(stack)

    # Final: the TLS backend goes, a plain one takes its address; profile 1 is never tried again.
    await tls.stop()
    plain_again = await backends(port=port, passwords={stack.cp_id: PASSWORD})
    await asyncio.sleep(6.0)  # several attempts (reconnect_max 2 s), NetworkProfileConnectionAttempts 3
    assert await connections(plain_again, stack.cp_id) == []
    assert (await plain_again.request("messages", cp=stack.cp_id))["messages"] == []


async def test_tc_a_19_cs_upgrade_with_a_csms_root_installed_over_ocpp(backends, chargers, pkis, workdir):
    """A05 with nothing prepared on site: no `ca_file`, so SetNetworkProfile to profile 2 is
    Rejected until the backend installs its CSMS root (M05); then the upgrade is Accepted
    and the charger connects over TLS, trusting that installed root alone."""
    pki = pkis()
    port = free_port()
    stack, plain = await _profile_1_charger(backends, chargers, workdir, port)
    wss = f"wss://127.0.0.1:{port}/ocpp"
    assert (await set_network_profile(stack, 2, connection_data(wss, 2)))["status"] == "Rejected"
    installed = await call(stack, "InstallCertificate", {"certificateType": "CSMSRootCertificate",
                                                         "certificate": pki.ca.read_text()})
    assert installed["status"] == "Accepted"
    assert (await set_network_profile(stack, 2, connection_data(wss, 2)))["status"] == "Accepted"
    assert (await set_variable(stack, "OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1"))["attributeStatus"] \
        == "Accepted"
    await plain.request("set_password", cp=stack.cp_id, password="not-the-chargers-password")
    assert (await call(stack, "Reset", {"type": "Immediate"}))["status"] == "Accepted"
    await plain.stop()
    tls = await backends(pki=pki, port=port, passwords={stack.cp_id: PASSWORD})
    stack.csms = tls
    await stack.wait_booted(timeout=30)
    assert await get_variable(stack, "SecurityCtrlr", "SecurityProfile") == "2"
    await clean(stack)


async def test_an_upgrade_that_never_connects_falls_back_and_raises_a_security_event(backends, chargers, pkis,
                                                                                      workdir):
    """B10 fallback for an upgrade: nobody serves TLS at the new profile's address, so after
    NetworkProfileConnectionAttempts the charger is back at profile 1, and says so."""
    pki = pkis()
    port = free_port()
    stack, plain = await _profile_1_charger(backends, chargers, workdir, port, ca_file=pki.ca)
    assert (await set_network_profile(stack, 2, connection_data(f"wss://127.0.0.1:{port}/ocpp", 2)))["status"] \
        == "Accepted"
    assert (await set_variable(stack, "OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1"))["attributeStatus"] \
        == "Accepted"
    since = await last_seq(stack)
    assert (await call(stack, "Reset", {"type": "Immediate"}))["status"] == "Accepted"
    await stack.wait_booted(since_seq=since, timeout=40)
    event = await wait_security_event(stack, "ReconfigurationOfSecurityParameters", since)
    assert "security profile 2" in event["techInfo"] and "did not connect after 3 attempt(s)" in event["techInfo"]
    assert await get_variable(stack, "SecurityCtrlr", "SecurityProfile") == "1"
    await clean(stack)


async def test_tc_a_20_cs_upgrade_rejected_without_csms_root(backends, chargers, workdir):
    stack, _ = await _profile_1_charger(backends, chargers, workdir, free_port())  # no ca_file
    answer = await set_network_profile(stack, 2, connection_data("wss://127.0.0.1:1/ocpp", 2))
    assert answer["status"] == "Rejected"
    assert "needs a CSMS root certificate" in answer["statusInfo"]["additionalInfo"]
    await clean(stack)


async def test_tc_a_21_cs_upgrade_rejected_without_charging_station_certificate(backends, chargers, pkis,
                                                                                workdir):
    pki = pkis()
    cp_id = new_cp_id()
    tls = await backends(pki=pki, passwords={cp_id: PASSWORD})
    stack = await chargers(tls, url_of(tls), {**V201, "security_profile": 2, "ca_file": str(pki.ca),
                                              "authorization_key_file": str(password_file(workdir))}, cp_id)
    answer = await set_network_profile(stack, 2, connection_data(url_of(tls), 3))
    assert answer["status"] == "Rejected"
    assert "needs a client certificate" in answer["statusInfo"]["additionalInfo"]
    await clean(stack)


async def test_tc_a_22_cs_downgrade_security_profile_rejected(backends, chargers, workdir):
    stack, plain = await _profile_1_charger(backends, chargers, workdir, free_port())
    other = await backends()
    answer = await set_network_profile(stack, 2, connection_data(url_of(other), 0))
    assert answer["status"] == "Rejected"
    assert "lower than the current 1" in answer["statusInfo"]["additionalInfo"]
    await clean(stack)


async def test_a_stored_profile_survives_a_power_cut_and_a_changed_file_puts_it_aside(charger, backends):
    """Each profile is one durable commit: a SIGKILL right after the answers loses nothing.
    A technician who edits the file's [backend] url has the last word: the backend's
    profiles and priority are put aside at the next start."""
    import signal

    stack = await charger(backend=V201)
    first = stack.csms
    second = await backends()
    assert (await set_network_profile(stack, 3, connection_data(url_of(second), 0)))["status"] == "Accepted"
    assert (await set_variable(stack, "OCPPCommCtrlr", "NetworkConfigurationPriority", "3"))["attributeStatus"] \
        == "Accepted"
    await stack.stop_agent(signal.SIGKILL)
    await stack.start_agent()
    stack.csms = second
    await stack.wait_booted(timeout=30)
    assert await get_variable(stack, "OCPPCommCtrlr", "NetworkConfigurationPriority") == "3"

    await stack.stop_agent()
    stack.backend_url = url_of(first)  # the technician points the file straight at the first backend
    stack.write_config()
    stack.csms = first
    since = await last_seq(stack)
    await stack.start_agent()
    await stack.wait_booted(since_seq=since, timeout=30)
    assert await get_variable(stack, "OCPPCommCtrlr", "NetworkConfigurationPriority") == "1"
    assert log_lines(stack, "profiles the backend set are put aside")
    await clean(stack, first, second)
