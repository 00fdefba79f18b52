"""Where the security log lives, for those who read it (GetLog SecurityLog).

The security log is ``<state_dir>/logs/security.log``, rotated to ``security.log.1``,
``.2``, ...: JSON lines with a ``timestamp`` in the same form as ``ladda.log``, so that
one window filter reads both. This module only says which of its files exist; writing
them belongs to the security event catalogue.
"""

from __future__ import annotations

from pathlib import Path

LOG_DIR = "logs"
SECURITY_LOG = "security.log"


def security_log_files(state_dir: Path) -> list[Path]:
    """The security log's files that exist, oldest first (``security.log.N`` ... ``security.log``)."""
    current = state_dir / LOG_DIR / SECURITY_LOG
    rotated: list[tuple[int, Path]] = []
    if current.parent.is_dir():
        for path in current.parent.glob(f"{SECURITY_LOG}.*"):
            suffix = path.name[len(SECURITY_LOG) + 1:]
            if suffix.isdigit() and path.is_file():
                rotated.append((int(suffix), path))
    files = [path for _, path in sorted(rotated, reverse=True)]
    return files + [current] if current.is_file() else files
