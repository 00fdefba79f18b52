"""What the backend saw: small readers over the test CSMS's message log and ledger."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import Any

from simulators.control import ControlError
from simulators.harness import Stack


async def messages(stack: Stack, action: str | None = None, since: int = 0) -> list[dict[str, Any]]:
    """CALLs the charge point sent (direction in), oldest first."""
    args: dict[str, Any] = {"cp": stack.cp_id, "since_seq": since}
    if action:
        args["action"] = action
    reply = await stack.csms.request("messages", **args)
    return [m for m in reply["messages"] if m["direction"] == "in" and m["type"] == "CALL"]


async def last_seq(stack: Stack) -> int:
    reply = await stack.csms.request("messages", cp=stack.cp_id)
    return max((m["seq"] for m in reply["messages"]), default=0)


async def wait_for(stack: Stack, action: str, count: int = 1, since: int = 0, timeout: float = 15.0) -> list[dict[str, Any]]:
    reply = await stack.csms.request("wait_for", cp=stack.cp_id, action=action, count=count, since_seq=since, timeout=timeout)
    return [m["payload"] for m in reply["messages"]]


async def wait_status(stack: Stack, connector: int, status: str, since: int = 0, timeout: float = 15.0) -> int:
    """Wait for a StatusNotification; return its seq (to look for what came after it)."""
    deadline = time.monotonic() + timeout
    while True:
        for m in await messages(stack, "StatusNotification", since):
            if m["payload"]["connectorId"] == connector and m["payload"]["status"] == status:
                return int(m["seq"])
        if time.monotonic() > deadline:
            seen = [(m["payload"]["connectorId"], m["payload"]["status"]) for m in await messages(stack, "StatusNotification", since)]
            raise AssertionError(f"connector {connector} never reported {status}; reported {seen}\n{stack.agent_log()}")
        await asyncio.sleep(0.1)


async def security_events(stack: Stack, kind: str | None = None, since: int = 0) -> list[dict[str, Any]]:
    """The SecurityEventNotification payloads sent after ``since`` (of type ``kind``), oldest first."""
    return [m["payload"] for m in await messages(stack, "SecurityEventNotification", since)
            if kind is None or m["payload"]["type"] == kind]


async def wait_security_event(stack: Stack, kind: str, since: int = 0, timeout: float = 15.0) -> dict[str, Any]:
    """Wait for a SecurityEventNotification of type ``kind`` (others come and go: every
    start sends StartupOfTheDevice); return the first one's payload."""
    deadline = time.monotonic() + timeout
    while True:
        found = await security_events(stack, kind, since)
        if found:
            return found[0]
        if time.monotonic() > deadline:
            seen = [e["type"] for e in await security_events(stack, None, since)]
            raise AssertionError(f"no {kind} security event; saw {seen}\n{stack.agent_log()}")
        await asyncio.sleep(0.1)


async def statuses(stack: Stack, connector: int, since: int = 0) -> list[str]:
    return [
        m["payload"]["status"]
        for m in await messages(stack, "StatusNotification", since)
        if m["payload"]["connectorId"] == connector
    ]


async def actions(stack: Stack, since: int = 0,
                  ignore: tuple[str, ...] = ("Heartbeat", "SecurityEventNotification")) -> list[str]:
    """The sequence of actions the charge point sent, as a compact list (by default
    without heartbeats and the security events of starts and resets)."""
    out = []
    for m in await messages(stack, since=since):
        if m["action"] in ignore:
            continue
        if m["action"] == "StatusNotification":
            out.append(f"StatusNotification:{m['payload']['connectorId']}:{m['payload']['status']}")
        else:
            out.append(m["action"])
    return out


async def call(stack: Stack, action: str, payload: dict[str, Any], timeout: float = 15.0) -> dict[str, Any]:
    """Send a CALL from the backend; return the charge point's result payload (or error)."""
    reply = await stack.csms.request("call", cp=stack.cp_id, action=action, payload=payload, timeout=timeout)
    if "error" in reply:
        return {"error": reply["error"]}
    return dict(reply["result"])


async def ledger(stack: Stack) -> list[dict[str, Any]]:
    reply = await stack.csms.request("ledger", cp=stack.cp_id)
    return list(reply["transactions"])


async def plug_and_charge(stack: Stack, connector: int = 1, id_tag: str = "04A1B2C3", max_current: float = 32.0) -> int:
    """Plug in, tap, and wait for Charging; return the seq of the Charging status."""
    since = await last_seq(stack)
    await stack.bench_request("plug", connector=connector, max_current=max_current)
    await wait_status(stack, connector, "Preparing", since)
    await stack.bench_request("tap", uid=id_tag)
    return await wait_status(stack, connector, "Charging", since)


# ---------------------------------------------------------------- session helpers


def new_id_tag() -> str:
    """A card UID (hex, as the reader delivers it) no other test uses, so backend tag
    entries set by one test never leak into another."""
    return uuid.uuid4().hex[:8].upper()


def parse_time(stamp: str) -> datetime:
    """An OCPP timestamp (ISO 8601 with ``Z`` or an offset) as an aware datetime."""
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, f"timestamp without a time zone: {stamp}"
    return parsed


async def expect_none(stack: Stack, action: str, since: int, within: float) -> None:
    """Assert that the charge point sends no ``action`` after ``since`` for ``within`` seconds."""
    try:
        reply = await stack.csms.request("wait_for", cp=stack.cp_id, action=action, since_seq=since, timeout=within)
    except ControlError as exc:
        if "timed out" in str(exc):
            return  # nothing came: as expected
        raise
    raise AssertionError(f"unexpected {action}: {[m['payload'] for m in reply['messages']]}\n{stack.agent_log()}")


async def payload_of(stack: Stack, action: str, since: int = 0) -> dict[str, Any]:
    """The payload of the only ``action`` CALL after ``since`` (fails if there is not exactly one)."""
    found = await messages(stack, action, since)
    assert len(found) == 1, f"expected one {action} after seq {since}, got {[m['payload'] for m in found]}"
    return dict(found[0]["payload"])


async def transaction(stack: Stack, transaction_id: int | None = None) -> dict[str, Any]:
    """The ledger record of a transaction (the only one of this charge point when no id is given)."""
    records = await ledger(stack)
    if transaction_id is None:
        assert len(records) == 1, f"expected one transaction in the ledger, got {records}"
        return records[0]
    matching = [r for r in records if r["transaction_id"] == transaction_id]
    assert matching, f"transaction {transaction_id} not in the ledger: {records}"
    return matching[0]


async def anomalies(stack: Stack) -> list[dict[str, Any]]:
    reply = await stack.csms.request("ledger", cp=stack.cp_id)
    return list(reply["anomalies"])


async def wait_energy(stack: Stack, connector: int, at_least_wh: float, timeout: float = 10.0) -> float:
    """Wait until the bench's meter on ``connector`` reads at least ``at_least_wh``."""
    reply = await stack.bench_request(
        "wait_for", connector=connector, field="energy_wh", value=at_least_wh, op="ge", timeout=timeout
    )
    return float(reply["value"])


# --- Used by test_core_configuration.py, test_core_reset_availability.py, test_core_misc.py ---

import signal  # noqa: E402 - kept with the helpers that use it


async def all_frames(stack: Stack, since: int = 0) -> list[dict[str, Any]]:
    """Every log entry for this charge point (both directions, connection events), oldest first."""
    reply = await stack.csms.request("messages", cp=stack.cp_id, since_seq=since)
    return list(reply["messages"])


async def call_checked(stack: Stack, action: str, payload: dict[str, Any], timeout: float = 15.0) -> dict[str, Any]:
    """Like :func:`call`, but the answer must also match the OCPP 1.6 schema of ``action``."""
    reply = await stack.csms.request("call", cp=stack.cp_id, action=action, payload=payload, timeout=timeout)
    assert "schema_error" not in reply, f"{action} answer violates the OCPP 1.6 schema: {reply['schema_error']}"
    if "error" in reply:
        return {"error": reply["error"]}
    return dict(reply["result"])


async def get_configuration(stack: Stack, keys: list[str] | None = None) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """GetConfiguration as ``({key: {"readonly": bool, "value": str | None}}, unknownKey)``."""
    result = await call_checked(stack, "GetConfiguration", {"key": keys} if keys is not None else {})
    assert "error" not in result, f"GetConfiguration failed: {result}"
    entries = result.get("configurationKey", [])
    names = [e["key"] for e in entries]
    assert len(names) == len(set(names)), f"GetConfiguration repeats keys: {names}"
    known = {e["key"]: {"readonly": e["readonly"], "value": e.get("value")} for e in entries}
    return known, list(result.get("unknownKey", []))


async def send_raw_frame(stack: Stack, frame: str, timeout: float = 5.0) -> Any:
    """Send one text frame byte for byte; return the charge point's answer (parsed JSON or raw text)."""
    reply = await stack.csms.request("send_raw", cp=stack.cp_id, frame=frame, timeout=timeout)
    return reply["reply"]


async def wait_rebooted(stack: Stack, since: int, timeout: float = 20.0) -> int:
    """Wait for a BootNotification after ``since`` and the status of connector 0..N after it;
    return the BootNotification's seq."""
    booted = await stack.csms.request(
        "wait_for", cp=stack.cp_id, action="BootNotification", since_seq=since, timeout=timeout
    )
    boot_seq = int(booted["messages"][0]["seq"])
    await stack.csms.request(
        "wait_for", cp=stack.cp_id, action="StatusNotification", count=stack.connectors + stack.station_statuses,
        since_seq=boot_seq, timeout=timeout,
    )
    await wait_security_event(stack, "StartupOfTheDevice", since=boot_seq, timeout=timeout)
    return boot_seq


async def restart_agent_and_wait(stack: Stack, sig: int = signal.SIGTERM) -> int:
    """Stop the agent process with ``sig`` (SIGKILL plays a power cut), start it again and
    wait until it has booted; return the new BootNotification's seq."""
    since = await last_seq(stack)
    await stack.stop_agent(sig)
    await stack.start_agent()
    return await wait_rebooted(stack, since)
