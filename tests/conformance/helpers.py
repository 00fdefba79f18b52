"""What the backend saw: small readers over the test CSMS's message log and ledger."""

from __future__ import annotations

import asyncio
import time
from typing import Any

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


async def statuses(stack: Stack, connector: int, since: int = 0) -> list[str]:
    return [
        m["payload"]["status"]
        for m in await messages(stack, "StatusNotification", since)
        if m["payload"]["connectorId"] == connector
    ]


async def actions(stack: Stack, since: int = 0, ignore: tuple[str, ...] = ("Heartbeat",)) -> list[str]:
    """The sequence of actions the charge point sent, as a compact list."""
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
