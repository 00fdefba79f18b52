"""The running agent's current limits, for ``ladda limits`` to show.

The site's share and the cable's rating live only in the running agent; it writes each
connector's decision to a small file in its runtime directory (a tmpfs: each change is
a write to memory, never to the SD card) whenever one changes. The file names the
process, so a file left by an agent that has stopped is not taken for the live state.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

from .limits import Decision

log = structlog.get_logger(__name__)


def live_path(database: Path, directory: Path | None) -> Path | None:
    """The live-limits file of the agent using ``database``; None without a runtime directory."""
    if directory is None:
        return None
    key = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:16]
    return directory / f"ladda-{key}.limits"


def write(path: Path, decisions: Mapping[int, Decision], offers: Mapping[int, float]) -> None:
    """Replace the file at once (a reader never sees half of it); a failure is logged once
    per kind by the caller's throttle and never stops the agent."""
    body = {
        "pid": os.getpid(),
        "connectors": {str(n): {"amps": d.amps, "source": d.source, "offered_a": offers.get(n, 0.0)}
                       for n, d in sorted(decisions.items())},
    }
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(body, handle)
    os.replace(temporary, path)


def read(path: Path | None) -> dict[str, Any] | None:
    """What a running agent last wrote, or None (no file, or its agent is gone)."""
    if path is None:
        return None
    try:
        body = json.loads(path.read_text())
        pid = int(body["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not Path(f"/proc/{pid}").exists():
        return None
    return dict(body)
