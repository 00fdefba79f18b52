"""Security profiles 0-3 end to end: a real agent process against a real test CSMS process.

Profile 1 runs against the shared plain-ws CSMS (which demands a password per charge
point on request); profiles 2 and 3 each get a CSMS process of their own serving wss://
with a throwaway PKI made for the test. Whatever the failure, the charger keeps to its
profile: it retries the same, never a lower one, and its log says why in one line.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from .conformance.helpers import call_checked, get_configuration, last_seq, messages, parse_time, wait_rebooted
from .tls_backends import (  # noqa: F401 - workdir, pki, stacks and tls_csms are fixtures
    CLOSED_IN_HANDSHAKE,
    OCTT_PASSWORD,
    PASSWORD,
    agent_log_lines,
    events,
    attempts_reach,
    link_down_lines,
    new_cp_id,
    password_file,
    pki,
    stacks,
    tls_csms,
    workdir,
)

# --- profile 1: HTTP Basic over ws:// ------------------------------------------------------


async def test_tc_085_basic_authentication_valid_username_password_combination(csms, stacks, workdir):
    cp_id = new_cp_id()
    await csms.request("set_password", cp=cp_id, password=PASSWORD)
    stack = await stacks(csms, {"security_profile": 1, "authorization_key_file": str(password_file(workdir))},
                         cp_id=cp_id)
    await stack.wait_booted()
    (connected,) = await events(stack, "connected")
    assert connected["payload"]["basic_auth_user"] == cp_id
    assert await events(stack, "rejected") == []
    assert PASSWORD not in (stack.workdir / "agent.log").read_text()
    assert await agent_log_lines(stack, "configuration warning", timeout=0) == []  # mode 600: nothing to say


async def test_profile_1_with_a_wrong_password_is_refused_and_keeps_asking_slowly(csms, stacks, workdir):
    cp_id = new_cp_id()
    await csms.request("set_password", cp=cp_id, password="the-backend-expects-this-one")
    stack = await stacks(csms, {"security_profile": 1, "authorization_key_file": str(password_file(workdir))},
                         cp_id=cp_id)
    # reconnect_max is 2 s in the harness: two refused attempts within a few seconds of the
    # first (waited for, not slept for: on a loaded machine the agent takes longer to start).
    deadline = asyncio.get_running_loop().time() + 15.0
    rejected = await events(stack, "rejected")
    while len(rejected) < 2 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.2)
        rejected = await events(stack, "rejected")
    assert len(rejected) >= 2 and all(e["payload"] == {"reason": "wrong password", "status": 401} for e in rejected)
    times = [parse_time(e["time"]) for e in rejected]
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    assert all(gap >= 1.9 for gap in gaps), f"refused attempts {gaps} s apart; reconnect_max is 2 s"
    assert await events(stack, "connected") == [] and await messages(stack) == []
    assert link_down_lines(stack) == ["HTTP 401"]  # said once, not once per attempt
    assert stack.agent_process is not None and stack.agent_process.running


async def test_tc_073_update_charge_point_password_for_http_basic_authentication(csms, stacks, workdir):
    cp_id = new_cp_id()
    await csms.request("set_password", cp=cp_id, password=PASSWORD)
    stack = await stacks(csms, {"security_profile": 1, "authorization_key_file": str(password_file(workdir))},
                         cp_id=cp_id)
    await stack.wait_booted()
    known, _ = await get_configuration(stack, ["SecurityProfile"])
    assert known == {"SecurityProfile": {"readonly": False, "value": "1"}}  # RW: the backend may raise it

    # The whitepaper's hexadecimal form twice, then a password as many backends send it.
    for new_password, value in ((OCTT_PASSWORD, OCTT_PASSWORD.encode().hex().upper()),
                                ("second-password-of20", "second-password-of20".encode().hex()),
                                ("plain-password-17", "plain-password-17")):
        since = await last_seq(stack)
        await csms.request("set_password", cp=cp_id, password=new_password)  # the backend expects it from now on
        answer = await call_checked(stack, "ChangeConfiguration", {"key": "AuthorizationKey", "value": value})
        assert answer == {"status": "Accepted"}
        # The charger hangs up and comes back with the new password: the CSMS lets it in.
        await csms.request("wait_for", cp=cp_id, action="StatusNotification", since_seq=since + 2, timeout=15)
        assert [e["type"] for e in (await csms.request("messages", cp=cp_id, since_seq=since))["messages"]
                if e["direction"] == "event"][:2] == ["disconnected", "connected"]
        assert await events(stack, "rejected", since) == []
        assert await messages(stack, "BootNotification", since) == []  # a reconnect, not a reboot

    # Write-only: never read back, whether asked for by name or not.
    known, unknown = await get_configuration(stack)
    assert "AuthorizationKey" not in known
    known, unknown = await get_configuration(stack, ["AuthorizationKey"])
    assert known == {} and unknown == ["AuthorizationKey"]
    log = (stack.workdir / "agent.log").read_text()
    assert OCTT_PASSWORD.encode().hex().upper() not in log and "second-password-of20".encode().hex() not in log.lower()
    assert "plain-password-17" not in log

    # Kept in the state database: a restarted agent uses it.
    since = await last_seq(stack)
    await stack.stop_agent()
    await stack.start_agent()
    await wait_rebooted(stack, since)
    assert await events(stack, "rejected", since) == []


async def test_a_password_file_others_can_read_is_warned_about_and_still_used(csms, stacks, workdir):
    cp_id = new_cp_id()
    await csms.request("set_password", cp=cp_id, password=PASSWORD)
    keyfile = password_file(workdir, mode=0o644)
    stack = await stacks(csms, {"security_profile": 1, "authorization_key_file": str(keyfile)}, cp_id=cp_id)
    await stack.wait_booted()
    (line,) = await agent_log_lines(stack, "configuration warning")
    assert line["detail"] == (f"{keyfile}: mode 0644 lets other users reach the HTTP Basic password; "
                              f"make it readable by the service user only: chmod 600 {keyfile}")
    assert line["level"] == "warning"

    checked = subprocess.run([sys.executable, "-m", "agent", "check-config", str(stack.config_path)],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0
    assert f"warning: {keyfile}: mode 0644" in checked.stderr and "chmod 600" in checked.stderr
    assert PASSWORD not in checked.stdout + checked.stderr


def test_check_config_refuses_profile_2_with_a_ws_url_and_lists_every_error(workdir):
    config = workdir / "ladda.toml"
    config.write_text('[charge_point]\nid = "CP-1"\n[backend]\nurl = "ws://127.0.0.1:9000/ocpp"\nsecurity_profile = 2\n'
                      '[connectors]\ncount = 9\n')
    checked = subprocess.run([sys.executable, "-m", "agent", "check-config", str(config)],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 78
    assert checked.stderr.splitlines()[1:] == [
        f"{config}:3: backend.ca_file: required with security profile 2: the PEM file of the CA that signed the "
        "backend's certificate (it is always verified)",
        f"{config}:5: backend.security_profile = 2: profile 2 needs TLS: backend.url must start with wss://, not ws:// "
        "(the agent never falls back to a lower profile)",
        f"{config}:5: backend.security_profile = 2: profile 2 sends an HTTP Basic password: "
        "set backend.authorization_key_file (or backend.authorization_key)",
        f"{config}:7: connectors.count = 9: must be between 1 and 8",
    ]


# --- profile 2: TLS and HTTP Basic ------------------------------------------------------


async def test_tc_086_tls_server_side_certificate_valid_certificate(tls_csms, stacks, workdir, pki):
    cp_id = new_cp_id()
    csms = await tls_csms(passwords={cp_id: PASSWORD})
    stack = await stacks(csms, {"security_profile": 2, "ca_file": str(pki.ca),
                                "authorization_key_file": str(password_file(workdir))}, cp_id=cp_id)
    await stack.wait_booted()
    (connected,) = await events(stack, "connected")
    assert connected["payload"]["basic_auth_user"] == cp_id
    (line,) = await agent_log_lines(stack, '"connected to backend"')
    assert line["security_profile"] == 2 and line["url"].startswith("wss://")


@pytest.mark.parametrize(("served", "problem"), [
    ("rogue", "TLS: the backend's certificate is not signed by a CA in backend.ca_file ({ca})"),
    ("expired", "TLS: the backend's certificate has expired"),
    ("misnamed", "TLS: the backend's certificate is not valid for the host name '127.0.0.1' in backend.url"),
])
async def test_profile_2_never_connects_to_a_backend_whose_certificate_fails_and_says_why(
        tls_csms, stacks, workdir, pki, served, problem):
    cp_id = new_cp_id()
    cert, key = {"rogue": (pki.rogue_server_cert, pki.rogue_server_key),
                 "expired": (pki.expired_server_cert, pki.expired_server_key),
                 "misnamed": (pki.misnamed_server_cert, pki.misnamed_server_key)}[served]
    csms = await tls_csms(cert=cert, key=key, passwords={cp_id: PASSWORD})
    stack = await stacks(csms, {"security_profile": 2, "ca_file": str(pki.ca),
                                "authorization_key_file": str(password_file(workdir))}, cp_id=cp_id)
    assert await attempts_reach(stack, 2)  # it keeps trying, with the backoff
    assert (await csms.request("messages", cp=cp_id))["messages"] == []  # not even a handshake
    assert link_down_lines(stack) == [problem.format(ca=pki.ca)]  # once, however many attempts


async def test_profile_2_never_falls_back_to_plain_ws(csms, stacks, workdir, pki):
    """The shared CSMS speaks plain ws://: a profile 2 charger sent there must never get in."""
    cp_id = new_cp_id()
    stack = await stacks(csms, {"security_profile": 2, "ca_file": str(pki.ca),
                                "authorization_key_file": str(password_file(workdir))}, cp_id=cp_id, scheme="wss")
    assert await attempts_reach(stack, 2)
    assert (await csms.request("messages", cp=cp_id))["messages"] == []  # no handshake ever reached it
    assert link_down_lines(stack) == [CLOSED_IN_HANDSHAKE]


# --- profile 3: mutual TLS --------------------------------------------------------------


async def test_tc_087_tls_client_side_certificate_valid_certificate(tls_csms, stacks, pki):
    csms = await tls_csms(client_ca=pki.ca)
    stack = await stacks(csms, {"security_profile": 3, "ca_file": str(pki.ca),
                                "client_certificate": str(pki.client_cert), "client_key": str(pki.client_key)})
    await stack.wait_booted()
    (connected,) = await events(stack, "connected")
    assert connected["payload"]["client_certificate"] == "LADDA-TEST"  # the certificate's commonName
    assert connected["payload"]["basic_auth_user"] is None  # profile 3 sends no password


@pytest.mark.parametrize("client", ["foreign certificate", "no certificate"])
async def test_profile_3_backend_refuses_a_charger_without_an_accepted_certificate(tls_csms, stacks, workdir, pki,
                                                                                   client):
    cp_id = new_cp_id()
    csms = await tls_csms(client_ca=pki.ca, passwords={cp_id: PASSWORD})
    if client == "foreign certificate":
        backend = {"security_profile": 3, "ca_file": str(pki.ca), "client_certificate": str(pki.rogue_client_cert),
                   "client_key": str(pki.rogue_client_key)}
        expected = ("TLS: the backend closed the connection during the handshake; "
                    "it probably did not accept this charger's client certificate")
    else:  # a profile 2 charger: right password, no certificate
        backend = {"security_profile": 2, "ca_file": str(pki.ca), "authorization_key_file": str(password_file(workdir))}
        expected = CLOSED_IN_HANDSHAKE
    stack = await stacks(csms, backend, cp_id=cp_id)
    assert await attempts_reach(stack, 2)
    assert (await csms.request("messages", cp=cp_id))["messages"] == []
    assert link_down_lines(stack) == [expected]


# --- the test CSMS's side -----------------------------------------------------------------


@pytest.mark.parametrize(("user", "password", "reason"), [
    (None, None, "no Authorization header"),
    ("someone-else", PASSWORD, "the Basic user name is not the charge point id"),
    ("{cp}", "not-the-password-at-all", "wrong password"),
])
async def test_the_csms_refuses_wrong_basic_credentials_with_401_and_logs_why(csms, user, password, reason):
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    from agent.link.security import basic_auth_header

    cp_id = new_cp_id()
    await csms.request("set_password", cp=cp_id, password=PASSWORD)
    headers = basic_auth_header(user.format(cp=cp_id), password.encode()) if user else {}
    url = f"ws://127.0.0.1:{csms.port}/ocpp/{cp_id}"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                           additional_headers=headers, proxy=None):
            pass
    assert refused.value.response.status_code == 401
    assert refused.value.response.headers["WWW-Authenticate"].startswith("Basic")
    (event,) = [m for m in (await csms.request("messages", cp=cp_id))["messages"] if m["type"] == "rejected"]
    assert event["payload"] == {"reason": reason, "status": 401}
    async with connect(url, subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                       additional_headers=basic_auth_header(cp_id, PASSWORD.encode()), proxy=None) as ws:
        assert ws.subprotocol == "ocpp1.6"


def test_the_csms_wants_a_certificate_and_its_key_together(workdir, pki):
    for args in (["--tls-cert", str(pki.server_cert)], ["--client-ca", str(pki.ca)]):
        argv = [sys.executable, "-m", "simulators", "csms", "--control", str(workdir / "c.sock"), *args]
        started = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert started.returncode == 2 and "--tls-key" in started.stderr
