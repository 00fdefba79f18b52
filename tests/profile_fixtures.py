"""Backends and chargers for the connection profile tests (2.0.1 B09/B10/A05 and 1.6's
security profile upgrade): test CSMS processes of a test's own, plain or TLS, on a port
the test may choose (a backend restarted at the same address with another security
profile, as the official tools do), throwaway PKIs, and chargers whose backend.url goes
straight to one of them.

Import the fixtures into a test module: ``from tests.profile_fixtures import backends, chargers, pkis, workdir``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.harness import Csms, Stack

from .certs import Pki, make_pki
from .conftest import TEST_OCPP
from .secret_scan import discard, secret

PASSWORD = secret("net-profile-Passw0rd")

BackendFactory = Callable[..., Awaitable[Csms]]
ChargerFactory = Callable[..., Awaitable[Stack]]


def free_port() -> int:
    """A TCP port nothing listens on now (for a backend started later, or never)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_cp_id() -> str:
    return f"NP-{uuid.uuid4().hex[:8]}"


def url_of(csms: Csms, port: int | None = None) -> str:
    return f"{csms.scheme}://127.0.0.1:{port or csms.port}/ocpp"


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ld-np-"))  # short: Unix socket paths stay under 108 bytes
    yield path
    discard(path, keep=bool(os.environ.get("LADDA_KEEP_TEST_DIRS")))


@pytest.fixture
def pkis(workdir: Path) -> Callable[[], Pki]:
    """``pkis()``: one more throwaway PKI (its own CA) per call."""
    made: list[Pki] = []

    def make() -> Pki:
        made.append(make_pki(workdir / f"pki{len(made)}"))
        return made[-1]

    return make


def ca_bundle(directory: Path, *pkis: Pki) -> Path:
    """One PEM file trusting the CAs of ``pkis`` (an old and a new CSMS root side by side)."""
    path = directory / "csms-roots.pem"
    path.write_text("".join(p.ca.read_text() for p in pkis))
    return path


def password_file(directory: Path, password: str = PASSWORD) -> Path:
    path = directory / "authorization-key"
    path.write_text(password + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
async def backends(workdir: Path) -> AsyncIterator[BackendFactory]:
    """``await backends(pki=None, port=0, passwords={})``: a test CSMS process, TLS when a PKI is given."""
    started: list[Csms] = []

    async def start(pki: Pki | None = None, port: int = 0, passwords: dict[str, str] | None = None) -> Csms:
        csms = Csms(workdir / f"csms{len(started)}", tls_cert=pki.server_cert if pki else None,
                    tls_key=pki.server_key if pki else None, passwords=passwords or {}, listen_port=port)
        started.append(csms)
        await csms.start()
        return csms

    try:
        yield start
    finally:
        for csms in started:
            await csms.stop()


@pytest.fixture
async def chargers(workdir: Path, request: pytest.FixtureRequest) -> AsyncIterator[ChargerFactory]:
    """``await chargers(csms, url, backend={...}, ocpp={...})``: an agent whose backend.url is ``url``."""
    made: list[Stack] = []

    async def make(csms: Csms, url: str, backend: dict[str, Any], cp_id: str, ocpp: dict[str, Any] | None = None,
                   boot: bool = True) -> Stack:
        stack = Stack(workdir / f"cp{len(made)}", csms, cp_id=cp_id, ocpp={**TEST_OCPP, **(ocpp or {})},
                      backend=backend, backend_url=url)
        made.append(stack)
        await stack.start()
        if boot:
            await stack.wait_booted()
        return stack

    try:
        yield make
    finally:
        for stack in made:
            await stack.stop()
            if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
                print(f"--- agent log of {stack.cp_id} ---\n{stack.agent_log()}")


def log_lines(stack: Stack, contains: str) -> list[dict[str, Any]]:
    """The agent's JSON log lines holding ``contains``."""
    path = stack.workdir / "agent.log"
    text = path.read_text(errors="replace") if path.exists() else ""
    return [json.loads(line) for line in text.splitlines() if contains in line and line.startswith("{")]


async def wait_log(stack: Stack, contains: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = log_lines(stack, contains)
        if found or loop.time() > deadline:
            return found
        await asyncio.sleep(0.2)


async def connections(csms: Csms, cp_id: str, kind: str = "connected") -> list[dict[str, Any]]:
    """Connection events (connected, disconnected, rejected) a CSMS logged for ``cp_id``."""
    reply = await csms.request("messages", cp=cp_id)
    return [m for m in reply["messages"] if m["direction"] == "event" and m["type"] == kind]
