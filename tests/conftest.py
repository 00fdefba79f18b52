"""Fixtures shared by the end-to-end tests: one test CSMS process, and a charger stack per test.

The CSMS is a real process serving real websockets; it accepts any charge point id,
so each test uses its own id and reads only its own messages and ledger. Every test
gets its own bench and agent processes in a short temporary directory (Unix socket
paths must stay under 108 bytes).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.control import ControlClient
from simulators.harness import Csms, Stack

from . import secret_scan
from .secret_scan import discard

# Test defaults: no periodic samples unless a test asks, so message sequences are exact.
TEST_OCPP: dict[str, Any] = {"MeterValueSampleInterval": 0, "ConnectionTimeOut": 30}


@pytest.fixture(scope="session")
def csms_server() -> Iterator[tuple[int, Path]]:
    """The test CSMS as a process for the whole session: (port, control socket)."""
    workdir = Path(tempfile.mkdtemp(prefix="ladda-csms-"))
    ready = workdir / "ready.json"
    sock = workdir / "csms.sock"
    log = open(workdir / "csms.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators", "csms", "--listen", "127.0.0.1:0", "--control", str(sock),
         "--ready-file", str(ready)],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"test CSMS did not start: {(workdir / 'csms.log').read_text()}")
        time.sleep(0.05)
    port = json.loads(ready.read_text())["port"]
    try:
        yield port, sock
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
async def csms(csms_server: tuple[int, Path]) -> AsyncIterator[Csms]:
    port, sock = csms_server
    client = Csms(workdir=sock.parent, port=port, control=ControlClient(sock))
    try:
        yield client
    finally:
        # The CSMS is shared: whatever a test told it (boot status, intervals, id tags) ends with it.
        await client.request("reset_policy")
        await client.stop()


def _cp_id(request: pytest.FixtureRequest) -> str:
    match = re.search(r"tc_(\d+(?:_\d+)?)", request.node.name)
    stem = f"TC{match.group(1)}" if match else "T"
    return f"{stem}-{uuid.uuid4().hex[:8]}"


StackFactory = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def charger(csms: Csms, request: pytest.FixtureRequest) -> AsyncIterator[StackFactory]:
    """A factory: ``await charger(connectors=2, ocpp={...})`` starts a booted charger."""
    stacks: list[Stack] = []

    async def make(connectors: int = 1, ocpp: dict[str, Any] | None = None, boot: bool = True, **kwargs: Any) -> Stack:
        workdir = Path(tempfile.mkdtemp(prefix="ld-"))
        cp_id = kwargs.pop("cp_id", None) or _cp_id(request)  # a test may prepare the CSMS for its id
        secret_scan.stack_secrets(cp_id, kwargs.get("backend"), key_too=False)  # some plant theirs: see there
        stack = Stack(workdir, csms, cp_id=cp_id, connectors=connectors,
                      ocpp={**TEST_OCPP, **(ocpp or {})}, **kwargs)
        stacks.append(stack)
        await stack.start()
        if boot:
            await stack.wait_booted()
        return stack

    try:
        yield make
    finally:
        for stack in stacks:
            await stack.stop()
            if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
                print(f"--- agent log of {stack.cp_id} ---\n{stack.agent_log()}")
            discard(stack.workdir, keep=bool(os.environ.get("LADDA_KEEP_TEST_DIRS")))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def _no_secret_in_tmp_path(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that made files in ``tmp_path`` (logs, diagnostics archives) is failed if one
    holds a secret the suite uses (tests/secret_scan.py); working directories of charger
    stacks are searched where they are deleted."""
    made = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if made is not None:
        secret_scan.check(made)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(secret_scan.summary())
