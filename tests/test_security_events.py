"""OCPP 1.6 Security whitepaper: security events (SecurityEventNotification) and the
security log, end to end with the real agent against the test CSMS.

An event is journaled where it happens, so one raised while the backend is out of reach
(or while the link itself is what fails) reaches the backend after the reconnect; and
it is written to ``<state_dir>/logs/security.log``, which outlives a kill.
"""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

from simulators.harness import Stack

from .conformance.helpers import call, last_seq, security_events, wait_rebooted, wait_security_event
from .conformance201.helpers import schema_violations
from .tls_backends import (  # noqa: F401 - workdir, pki, stacks and tls_csms are fixtures
    PASSWORD,
    link_attempts,
    link_down_lines,
    new_cp_id,
    password_file,
    pki,
    stacks,
    tls_csms,
    workdir,
)


def security_log(stack: Stack) -> list[dict[str, Any]]:
    path = stack.state_dir / "logs" / "security.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def until(check: Any, what: str, stack: Stack, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, f"{what}\n{stack.agent_log()}"
        await asyncio.sleep(0.2)


async def test_tc_078_cs_invalid_central_system_certificate_security_event(tls_csms, stacks, workdir, pki):
    cp_id = new_cp_id()
    csms = await tls_csms(passwords={cp_id: PASSWORD})
    stack = await stacks(csms, {"security_profile": 2, "ca_file": str(pki.ca),
                                "authorization_key_file": str(password_file(workdir))}, cp_id=cp_id)
    await stack.wait_booted()
    since = await last_seq(stack)
    attempts = await link_attempts(stack)
    # The backend drops the connection and answers the next handshakes with a certificate
    # no CA of the charger's signed: the charger refuses it (at every attempt) ...
    await csms.request("set_tls", cert=str(pki.rogue_server_cert), key=str(pki.rogue_server_key))
    await csms.request("disconnect", cp=cp_id, abrupt=True)

    async def refused_twice() -> bool:
        return await link_attempts(stack) >= attempts + 3

    await until(refused_twice, "the charger did not try again", stack)
    assert link_down_lines(stack)[-1].startswith("TLS: the backend's certificate is not signed by a CA")
    # ... and once the valid certificate is back, tells the backend, in the whitepaper's words, once.
    await csms.request("set_tls", cert=str(pki.server_cert), key=str(pki.server_key))
    event = await wait_security_event(stack, "InvalidCentralSystemCertificate", since=since, timeout=20)
    assert event["techInfo"].startswith("TLS: ")
    await asyncio.sleep(1.0)
    assert [e["type"] for e in await security_events(stack, since=since)] == ["InvalidCentralSystemCertificate"]
    assert [e["type"] for e in security_log(stack)].count("InvalidCsmsCertificate") == 1
    assert await schema_violations(stack) == []


async def test_security_log_outlives_a_kill_and_an_event_raised_offline_is_sent_after_the_reconnect(csms, charger):
    stack = await charger()
    first = await wait_security_event(stack, "StartupOfTheDevice")
    assert first["techInfo"].endswith("power up, or a restart of the service")
    await csms.request("refuse", cp=stack.cp_id, status=403)  # the backend is out of reach from now on
    await stack.stop_agent(signal.SIGKILL)
    since = await last_seq(stack)
    await stack.start_agent()

    async def logged_twice() -> bool:
        return [e["type"] for e in security_log(stack)].count("StartupOfTheDevice") == 2

    await until(logged_twice, "the restarted agent did not log its start", stack)
    before, after = [e for e in security_log(stack) if e["type"] == "StartupOfTheDevice"]
    assert before["techInfo"] == first["techInfo"]  # the killed run's lines are kept
    assert after["techInfo"].endswith("after the previous run ended abruptly")
    assert await security_events(stack, since=since) == []  # offline: waiting in the journal
    await csms.request("refuse", cp=stack.cp_id, status=None)

    async def sent() -> bool:
        # At least once: the killed run's own event may come again (its answer was not yet on disk).
        return after["techInfo"] in [e["techInfo"] for e in await security_events(stack, "StartupOfTheDevice", since)]

    await until(sent, "the start raised offline never reached the backend", stack)
    (event,) = [e for e in await security_events(stack, "StartupOfTheDevice", since)
                if e["techInfo"] == after["techInfo"]]
    assert event["timestamp"] == after["occurred"]
    assert await schema_violations(stack) == []


async def test_a_reset_is_reported_before_the_restart_and_the_start_after_it(csms, charger):
    stack = await charger()
    since = await last_seq(stack)
    assert await call(stack, "Reset", {"type": "Soft"}) == {"status": "Accepted"}
    await wait_rebooted(stack, since)
    await wait_security_event(stack, "StartupOfTheDevice", since=since)
    reset, start = await security_events(stack, since=since)
    assert (reset["type"], reset["techInfo"]) == ("ResetOrReboot", "soft reset requested by the backend")
    assert start["type"] == "StartupOfTheDevice"
    assert await schema_violations(stack) == []
