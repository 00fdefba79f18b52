"""Chargers against TLS backends of their own: the fixtures and readers the security
tests of both protocols share (tests/test_security_profiles.py for 1.6,
tests/conformance201/test_security.py for 2.0.1).

``stacks`` starts an agent with the [backend] keys a test gives (add ``"ocpp": "2.0.1"``
for a 2.0.1 charger); ``tls_csms`` starts a wss:// test CSMS process with a throwaway PKI
made for the test (tests/certs.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from simulators.harness import Csms, Stack

from .certs import Pki, make_pki
from .conftest import TEST_OCPP
from .secret_scan import discard, secret, stack_secrets

PASSWORD = secret("s3cr3t-Passw0rd-4-b")
OCTT_PASSWORD = secret("OCA_OCTT_admin_test")  # TC_073 sets it hex encoded
CLOSED_IN_HANDSHAKE = ("TLS: the backend closed the connection during the handshake "
                       "(no wss:// there, or it wants a client certificate: profile 3)")

StackFactory = Callable[..., Awaitable[Stack]]


@pytest.fixture
def workdir() -> Any:
    path = Path(tempfile.mkdtemp(prefix="ld-sec-"))  # short: Unix socket paths stay under 108 bytes
    yield path
    discard(path, keep=bool(os.environ.get("LADDA_KEEP_TEST_DIRS")))


@pytest.fixture
def pki(workdir: Path) -> Pki:
    return make_pki(workdir / "pki")


def password_file(directory: Path, password: str = PASSWORD, mode: int = 0o600) -> Path:
    path = directory / "authorization-key"
    path.write_text(password + "\n")
    path.chmod(mode)
    return path


@pytest.fixture
async def stacks(workdir: Path, request: pytest.FixtureRequest) -> AsyncIterator[StackFactory]:
    """``await stacks(csms, backend={...})``: an agent with these [backend] keys and its bench."""
    made: list[Stack] = []

    async def make(csms: Csms, backend: dict[str, Any], cp_id: str | None = None, scheme: str = "") -> Stack:
        cp_id = cp_id or new_cp_id()
        stack_secrets(cp_id, backend, every_password=True)
        stack = Stack(workdir / f"cp{len(made)}", csms, cp_id=cp_id, ocpp=dict(TEST_OCPP),
                      backend=backend, scheme=scheme)
        made.append(stack)
        await stack.start()
        return stack

    try:
        yield make
    finally:
        for stack in made:
            await stack.stop()
            if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
                print(f"--- agent log of {stack.cp_id} ---\n{stack.agent_log()}")


@pytest.fixture
async def tls_csms(workdir: Path, pki: Pki) -> AsyncIterator[Callable[..., Awaitable[Csms]]]:
    """``await tls_csms(cert=..., key=..., client_ca=...)``: a wss:// CSMS process of this test's own."""
    started: list[Csms] = []

    async def start(cert: Path | None = None, key: Path | None = None, client_ca: Path | None = None,
                    passwords: dict[str, str] | None = None) -> Csms:
        csms = Csms(workdir / f"csms{len(started)}", tls_cert=cert or pki.server_cert, tls_key=key or pki.server_key,
                    client_ca=client_ca, passwords=passwords or {})
        started.append(csms)
        await csms.start()
        return csms

    try:
        yield start
    finally:
        for csms in started:
            await csms.stop()


def new_cp_id() -> str:
    return f"SEC-{uuid.uuid4().hex[:8]}"


async def events(stack: Stack, kind: str, since: int = 0) -> list[dict[str, Any]]:
    """Connection events (connected, disconnected, rejected) the CSMS logged for this charger."""
    reply = await stack.csms.request("messages", cp=stack.cp_id, since_seq=since)
    return [m for m in reply["messages"] if m["direction"] == "event" and m["type"] == kind]


async def agent_log_lines(stack: Stack, contains: str, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The agent's JSON log lines holding ``contains``, once there is at least one."""
    path = stack.workdir / "agent.log"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        text = path.read_text(errors="replace") if path.exists() else ""
        found = [json.loads(line) for line in text.splitlines() if contains in line and line.startswith("{")]
        if found or loop.time() > deadline:
            return found
        await asyncio.sleep(0.2)


def link_down_lines(stack: Stack) -> list[str]:
    text = (stack.workdir / "agent.log").read_text(errors="replace")
    return [json.loads(line)["problem"] for line in text.splitlines() if '"backend link down"' in line]


async def link_attempts(stack: Stack) -> int:
    """Connections the agent opened towards the backend (the bench's link proxy counts them)."""
    return int((await stack.bench_request("status"))["link_accepted"])


async def attempts_reach(stack: Stack, count: int, timeout: float = 30.0) -> bool:
    """Whether the agent opens ``count`` connections within ``timeout`` (it keeps trying,
    with the backoff; a loaded machine may take a while to start it)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while await link_attempts(stack) < count:
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True
