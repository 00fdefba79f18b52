"""The Hard Reset's reboot command, run for real: tried again once when it fails (logind
may refuse a reboot while a login session changes), without systemd's notify socket."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agent.app import _reboot

SCRIPT = """
import os, sys
from pathlib import Path
log = Path(sys.argv[1])
runs = log.read_text().splitlines() if log.exists() else []
runs.append(os.environ.get("NOTIFY_SOCKET", "-"))
log.write_text("\\n".join(runs) + "\\n")
sys.exit(0 if len(runs) >= int(sys.argv[2]) else 1)
"""


@pytest.fixture
def command(tmp_path: Path) -> tuple[Path, Path]:
    script = tmp_path / "reboot.py"
    script.write_text(SCRIPT)
    return script, tmp_path / "runs.log"


def test_a_refused_reboot_is_tried_once_more(command: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    script, runs = command
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/systemd/notify")
    assert _reboot([sys.executable, str(script), str(runs), "2"], pause=0.01) is True
    assert runs.read_text().splitlines() == ["-", "-"]  # twice, never with the agent's notify socket


def test_a_reboot_that_keeps_failing_falls_back_to_a_restart(command: tuple[Path, Path]) -> None:
    script, runs = command
    assert _reboot([sys.executable, str(script), str(runs), "3"], pause=0.01) is False
    assert len(runs.read_text().splitlines()) == 2
    assert _reboot(["/nonexistent/reboot"], pause=0.01) is False  # no such command: no exception
