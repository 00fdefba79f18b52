"""What a 2.0.1 backend saw: readers over the test CSMS's message log and ledger."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from simulators.harness import Stack
from tests.conformance.helpers import call, last_seq, ledger, messages, wait_for  # noqa: F401 - re-exported

#: The [backend] keys of a 2.0.1 charger.
V201 = {"ocpp": "2.0.1"}


async def schema_violations(stack: Stack) -> list[dict[str, Any]]:
    """Every message of this charger the CSMS found against the official 2.0.1 schemas."""
    reply = await stack.csms.request("schema_violations", cp=stack.cp_id)
    return list(reply["schema_violations"])


async def wait_connector(stack: Stack, evse: int, status: str, since: int = 0, timeout: float = 15.0) -> int:
    """Wait for a StatusNotification of ``evse`` saying ``status``; return its seq."""
    deadline = time.monotonic() + timeout
    while True:
        for m in await messages(stack, "StatusNotification", since):
            if m["payload"]["evseId"] == evse and m["payload"]["connectorStatus"] == status:
                return int(m["seq"])
        if time.monotonic() > deadline:
            seen = [(m["payload"]["evseId"], m["payload"]["connectorStatus"])
                    for m in await messages(stack, "StatusNotification", since)]
            raise AssertionError(f"EVSE {evse} never reported {status}; reported {seen}\n{stack.agent_log()}")
        await asyncio.sleep(0.1)


async def events(stack: Stack, since: int = 0) -> list[dict[str, Any]]:
    """The TransactionEvent payloads the charger sent after ``since``, oldest first."""
    return [m["payload"] for m in await messages(stack, "TransactionEvent", since)]


async def wait_event(stack: Stack, event_type: str, since: int = 0, timeout: float = 15.0,
                     trigger: str | None = None) -> dict[str, Any]:
    """Wait for a TransactionEvent of ``event_type`` (and ``trigger``); return its payload."""
    deadline = time.monotonic() + timeout
    while True:
        for e in await events(stack, since):
            if e["eventType"] == event_type and (trigger is None or e["triggerReason"] == trigger):
                return e
        if time.monotonic() > deadline:
            seen = [(e["eventType"], e["triggerReason"]) for e in await events(stack, since)]
            raise AssertionError(f"no {event_type} {trigger or ''} event; saw {seen}\n{stack.agent_log()}")
        await asyncio.sleep(0.1)
