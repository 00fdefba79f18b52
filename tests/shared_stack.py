"""One started charger (OCPP 2.0.1 unless told otherwise) shared by the tests of a module: each agent start costs
seconds, and cases that only talk to a running charger need no fresh one.

A module opts in with a module-scoped fixture on the module's event loop::

    shared = pytest.mark.asyncio(loop_scope="module")

    @pytest_asyncio.fixture(scope="module", loop_scope="module")
    async def stack(csms_server):
        async with shared_stack(csms_server, "TCO", connectors=2) as started:
            yield started

and marks its tests ``@shared``. Tests sharing a charger must not rely on each other's
order: each uses its own ids and tokens.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from simulators.control import ControlClient
from simulators.harness import Csms, Stack
from tests import secret_scan
from tests.conftest import TEST_OCPP
from tests.conformance201.helpers import V201


@contextlib.asynccontextmanager
async def shared_stack(csms_server: tuple[int, Path], prefix: str, ocpp: dict[str, Any] | None = None,
                       backend: dict[str, Any] | None = None, **kwargs: Any) -> AsyncIterator[Stack]:
    """A booted charger against the session's test CSMS, stopped (and its working
    directory searched for secrets, then deleted) at the end. ``backend``: its
    ``[backend]`` keys (default: OCPP 2.0.1; ``{}`` for 1.6)."""
    backend = V201 if backend is None else backend
    port, sock = csms_server
    csms = Csms(workdir=sock.parent, port=port, control=ControlClient(sock))
    cp_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    secret_scan.stack_secrets(cp_id, backend, key_too=False)
    stack = Stack(Path(tempfile.mkdtemp(prefix="ld-")), csms, cp_id=cp_id, ocpp={**TEST_OCPP, **(ocpp or {})},
                  backend=backend, **kwargs)
    try:
        await stack.start()
        await stack.wait_booted()
        yield stack
    finally:
        await stack.stop()
        secret_scan.discard(stack.workdir, keep=bool(os.environ.get("LADDA_KEEP_TEST_DIRS")))
        await csms.request("reset_policy")  # what a test told the shared CSMS ends with the module
        await csms.stop()
