"""backend.authorization_key in its two forms, end to end against the test CSMS (profile 1):
16 to 20 characters are the HTTP Basic password as written; 32 to 40 hexadecimal digits
are decoded to the bytes they spell, as the OCPP security whitepaper carries the key and
its test tool checks it. Neither form may appear in the agent's log."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from simulators.harness import Csms, Stack

from .conftest import TEST_OCPP
from . import secret_scan
from .secret_scan import discard, secret

OCTT_PASSWORD = secret("OCA_OCTT_admin_test")  # the conformance tool's password, 19 characters


@pytest.fixture
async def booted(csms: Csms) -> AsyncIterator[Callable[[str, str], Awaitable[Stack]]]:
    """``await booted(key, expected)``: an agent with authorization_key = key, against a CSMS
    that lets it in only with the Basic password ``expected``."""
    made: list[Stack] = []

    async def make(key: str, expected: str) -> Stack:
        cp_id = f"KEY-{uuid.uuid4().hex[:8]}"
        await csms.request("set_password", cp=cp_id, password=expected)
        secret_scan.stack_secrets(cp_id, {"authorization_key": key}, every_password=True)
        stack = Stack(Path(tempfile.mkdtemp(prefix="ld-key-")), csms, cp_id=cp_id, ocpp=dict(TEST_OCPP),
                      backend={"security_profile": 1, "authorization_key": key})
        made.append(stack)
        await stack.start()
        await stack.wait_booted()
        return stack

    try:
        yield make
    finally:
        for stack in made:
            await stack.stop()
            discard(stack.workdir)


async def rejected(stack: Stack) -> list[object]:
    reply = await stack.csms.request("messages", cp=stack.cp_id)
    return [m for m in reply["messages"] if m["direction"] == "event" and m["type"] == "rejected"]


@pytest.mark.parametrize(("key", "password"), [
    ("plain-password-17", "plain-password-17"),  # a password, sent as written
    ("0123456789abcdef", "0123456789abcdef"),  # 16 hex digits are too few to be the hex form: as written
    (OCTT_PASSWORD.encode().hex(), OCTT_PASSWORD),  # 38 hex digits: the 19 bytes they spell
    (OCTT_PASSWORD.encode().hex().upper(), OCTT_PASSWORD),
], ids=["password", "short-hex-is-a-password", "hex", "hex-upper-case"])
async def test_the_backend_receives_the_right_basic_password(booted, key: str, password: str) -> None:
    stack = await booted(key, password)
    assert await rejected(stack) == []
    log = (stack.workdir / "agent.log").read_text()
    assert key not in log and password not in log
